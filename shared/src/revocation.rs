//! A revocation as the auth-service stores it and streams to gateways
//! (`GET /revocations`, Server-Sent Events, one JSON revocation per event).

use serde::{Deserialize, Serialize};

/// What a revocation names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// One access token, by its `jti`.
    Token,
    /// Every access token of one session (one login's refresh-token family), by `sid`.
    Session,
    /// Every access token of a user (`sub`) issued at or before `not_before`.
    Subject,
    /// Every token signed by a key, by `kid`; the key is withdrawn.
    Key,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Self; 4] = [Self::Token, Self::Session, Self::Subject, Self::Key];

    /// The name stored, sent and used as a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Token => "token",
            Self::Session => "session",
            Self::Subject => "subject",
            Self::Key => "key",
        }
    }

    /// The kind named `text`.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

/// One revocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    /// Its place in the order; every smaller number was committed before it.
    pub seq: i64,
    /// What it names.
    pub kind: Kind,
    /// The `iss` of the tokens it applies to.
    pub issuer: String,
    /// The `jti`, `sid`, `sub` or `kid`.
    pub value: String,
    /// The user the tokens speak for, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// `subject` revocations: tokens issued at or before this time are revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<i64>,
    /// No token it names is valid from then on: it may be forgotten.
    pub expires_at: i64,
    /// When it was written, seconds since the epoch.
    pub created_at: i64,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn revocations_travel_as_snake_case_json_without_empty_fields() {
        let revocation = Revocation {
            seq: 3,
            kind: Kind::Session,
            issuer: "http://localhost:8080".into(),
            value: "s-1".into(),
            subject: Some("u-1".into()),
            not_before: None,
            expires_at: 2_000,
            created_at: 1_000,
        };
        let json = serde_json::to_value(&revocation).unwrap();
        assert_eq!(json["kind"], "session");
        assert!(json.get("not_before").is_none());
        let back: Revocation = serde_json::from_value(json).unwrap();
        assert_eq!(back, revocation);
        for kind in Kind::ALL {
            assert_eq!(Kind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(Kind::parse("user"), None);
    }
}
