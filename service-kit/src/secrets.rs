//! Checks on shared signing secrets (HS256), applied by every service that holds one.

use secrecy::{ExposeSecret, SecretString};

use crate::configuration::Environment;

/// Shortest HS256 secret accepted: the HMAC key must be at least as long as its output
/// (RFC 7518 §3.2), 256 bits.
pub const MIN_SECRET_BYTES: usize = 32;

/// The secret the `local` profiles ship with. Public by definition, so refused in production.
pub const LOCAL_DEVELOPMENT_SECRET: &str = "local-development-secret-never-use-in-production";

/// Secrets that appear in tutorials and examples; any of them means "not configured".
const KNOWN_WEAK: &[&str] = &[
    LOCAL_DEVELOPMENT_SECRET,
    "your_secret_key",
    "your-256-bit-secret",
    "secret",
    "changeme",
    "change-me",
    "password",
    "supersecret",
    "jwt_secret",
    "mysecretkey",
];

/// Refuses a secret that is short, all one character, or known from examples. In `local` the
/// shipped development secret is allowed; in production nothing known is.
pub fn check_shared_secret(
    name: &str,
    secret: &SecretString,
    environment: Environment,
) -> anyhow::Result<()> {
    let value = secret.expose_secret();
    if value.is_empty() {
        anyhow::bail!("{name} is not set");
    }
    if value.len() < MIN_SECRET_BYTES {
        anyhow::bail!("{name} must be at least {MIN_SECRET_BYTES} bytes long");
    }
    let first = value.as_bytes()[0];
    if value.bytes().all(|b| b == first) {
        anyhow::bail!("{name} must not repeat a single character");
    }
    let lowered = value.to_ascii_lowercase();
    let allowed_here = environment == Environment::Local && value == LOCAL_DEVELOPMENT_SECRET;
    if !allowed_here && KNOWN_WEAK.iter().any(|weak| lowered.contains(weak)) {
        anyhow::bail!("{name} is a published example value; generate a random one");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(value: &str, environment: Environment) -> anyhow::Result<()> {
        check_shared_secret("TEST_SECRET", &SecretString::from(value), environment)
    }

    #[test]
    fn weak_secrets_are_refused_with_a_reason() {
        let cases = [
            ("", "not set"),
            ("short", "at least 32 bytes"),
            (&"a".repeat(40), "single character"),
            (
                "your_secret_key-padded-out-to-be-long-enough",
                "example value",
            ),
            (LOCAL_DEVELOPMENT_SECRET, "example value"),
        ];
        for (secret, reason) in cases {
            let err = check(secret, Environment::Production)
                .unwrap_err()
                .to_string();
            assert!(err.contains(reason), "{secret:?}: {err}");
            assert!(
                !err.contains(secret) || secret.is_empty(),
                "error echoes the secret"
            );
        }
    }

    #[test]
    fn the_development_secret_is_fine_locally_and_random_ones_everywhere() {
        check(LOCAL_DEVELOPMENT_SECRET, Environment::Local).unwrap();
        check(
            "Qm9vdHN0cmFwIHRoaXMgd2l0aCBvcGVuc3NsIHJhbmQ",
            Environment::Production,
        )
        .unwrap();
    }
}
