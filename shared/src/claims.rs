//! The JWT payload the auth-service signs and the gateway verifies.

use serde::{Deserialize, Serialize};

/// Claims of an access token.
///
/// `user` and `exp` are the seed tutorial's claims and must never change shape; the rest are
/// the registered claims a strict verifier needs (RFC 7519 §4.1) plus the user's roles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Username, exactly as the seed's PyJWT payload carries it.
    pub user: String,
    /// Stable subject identifier of the user.
    pub sub: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    /// Issued-at, seconds since the Unix epoch.
    pub iat: u64,
    /// Not-before, seconds since the Unix epoch.
    pub nbf: u64,
    /// Issuer: who signed the token.
    pub iss: String,
    /// Audience: who the token is meant for.
    pub aud: String,
    /// Unique token id, for revocation and audit trails.
    pub jti: String,
    /// Roles granted to the user; absent means none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// Session id: the login (refresh-token family) the token was issued in, so that a
    /// logout can revoke the session's access tokens. Absent on tokens issued outside a
    /// session (`tokens mint`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Claims {
        Claims {
            user: "user1".into(),
            sub: "user1".into(),
            exp: 2_000_000_000,
            iat: 1_999_996_400,
            nbf: 1_999_996_400,
            iss: "https://api.example.com".into(),
            aud: "api".into(),
            jti: "id-1".into(),
            roles: vec![],
            sid: None,
        }
    }

    #[test]
    fn claims_carry_the_seeds_user_and_exp_at_the_top_level() {
        let json = serde_json::to_value(sample()).unwrap();
        assert_eq!(json["user"], "user1");
        assert_eq!(json["exp"], 2_000_000_000u64);
        assert!(json.get("roles").is_none(), "empty roles are omitted");
    }

    #[test]
    fn claims_without_roles_deserialize_to_no_roles() {
        let mut json = serde_json::to_value(sample()).unwrap();
        json.as_object_mut().unwrap().remove("roles");
        let claims: Claims = serde_json::from_value(json).unwrap();
        assert!(claims.roles.is_empty());
    }

    #[test]
    fn claims_without_the_seeds_user_are_rejected() {
        let mut json = serde_json::to_value(sample()).unwrap();
        json.as_object_mut().unwrap().remove("user");
        assert!(serde_json::from_value::<Claims>(json).is_err());
    }
}
