//! From a verified token's claims to the identity forwarded upstream, the way each
//! provider names things: the username from the first present of a list of claims, the
//! roles from a JSON pointer or from `scope`.

use serde_json::Value;
use shared::Identity;

use super::Rejection;
use crate::configuration::RolesClaim;

/// How one provider's claims map onto an identity.
#[derive(Debug, Clone)]
pub struct ClaimMapping {
    /// Claims tried for the username, in order.
    pub username_claims: Vec<String>,
    /// Where the roles are.
    pub roles: RolesClaim,
}

impl ClaimMapping {
    /// The identity `claims` (a JSON object) carry, or why they carry none: no username
    /// claim (a string, not empty) or no `sub`. Roles that are absent, or not strings, are
    /// no roles.
    pub fn identity(&self, claims: &Value) -> Result<Identity, Rejection> {
        let text = |name: &str| {
            claims
                .get(name)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        let user = self
            .username_claims
            .iter()
            .find_map(|name| text(name))
            .ok_or(Rejection::NoUsername)?;
        let subject = text("sub").ok_or(Rejection::MissingClaim)?;
        let roles = match &self.roles {
            RolesClaim::Scope => text("scope")
                .map(|scope| scope.split_ascii_whitespace().map(str::to_owned).collect())
                .unwrap_or_default(),
            RolesClaim::Pointer(pointer) => claims
                .pointer(pointer)
                .and_then(Value::as_array)
                .map(|items| {
                    items
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
        };
        Ok(Identity {
            user: user.to_owned(),
            subject: subject.to_owned(),
            roles,
            token_id: text("jti").unwrap_or_default().to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mapping(usernames: &[&str], roles: &str) -> ClaimMapping {
        ClaimMapping {
            username_claims: usernames.iter().map(|s| (*s).to_owned()).collect(),
            roles: RolesClaim::parse("roles_claim", roles).unwrap(),
        }
    }

    #[test]
    fn our_tokens_map_as_before() {
        let ours = json!({
            "user": "user1", "sub": "u-1", "jti": "t-1", "roles": ["admin", 7, "ops"],
        });
        let identity = mapping(&["user", "preferred_username", "sub"], "/roles")
            .identity(&ours)
            .unwrap();
        assert_eq!(identity.user, "user1");
        assert_eq!(identity.subject, "u-1");
        assert_eq!(identity.token_id, "t-1");
        assert_eq!(
            identity.roles,
            ["admin", "ops"],
            "non-strings are not roles"
        );
    }

    #[test]
    fn keycloak_shaped_claims_map_through_the_configured_pointer() {
        let keycloak = json!({
            "sub": "f81d4fae", "preferred_username": "alice",
            "realm_access": {"roles": ["offline_access", "admin"]},
        });
        let identity = mapping(
            &["user", "preferred_username", "sub"],
            "/realm_access/roles",
        )
        .identity(&keycloak)
        .unwrap();
        assert_eq!(identity.user, "alice");
        assert_eq!(identity.roles, ["offline_access", "admin"]);
        assert_eq!(identity.token_id, "", "no jti: an empty token id");
    }

    #[test]
    fn namespaced_claims_with_slashes_are_reached_by_escaped_pointers() {
        let auth0 = json!({
            "sub": "auth0|42", "https://api.example.com/roles": ["reader"],
        });
        let identity = mapping(&["sub"], "/https:~1~1api.example.com~1roles")
            .identity(&auth0)
            .unwrap();
        assert_eq!(identity.user, "auth0|42", "the subject as username");
        assert_eq!(identity.roles, ["reader"]);
    }

    #[test]
    fn scope_gives_one_role_per_scope() {
        let minimal = json!({"sub": "svc", "scope": "read:a  write:b"});
        let identity = mapping(&["sub"], "scope").identity(&minimal).unwrap();
        assert_eq!(identity.roles, ["read:a", "write:b"]);
    }

    #[test]
    fn no_username_or_no_subject_is_refused() {
        let m = mapping(&["user", "preferred_username"], "/roles");
        assert_eq!(
            m.identity(&json!({"sub": "s", "user": ""})),
            Err(Rejection::NoUsername)
        );
        assert_eq!(
            m.identity(&json!({"user": "u"})),
            Err(Rejection::MissingClaim)
        );
        assert_eq!(
            m.identity(&json!({"user": 5, "preferred_username": "p", "sub": "s"}))
                .unwrap()
                .user,
            "p",
            "a claim that is not a string is skipped"
        );
    }
}
