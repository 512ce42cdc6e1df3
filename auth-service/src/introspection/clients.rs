//! The clients allowed to call `/revoke` and `/introspect`, and HTTP Basic authentication
//! against them (RFC 6749 §2.3.1: id and secret form-urlencoded, then base64).

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

use super::ClientSettings;

/// Shortest client secret accepted.
pub const MIN_SECRET_BYTES: usize = 32;

/// One client: its id and the SHA-256 of its secret (the secret itself is not kept).
#[derive(Clone)]
pub struct Client {
    /// Its id.
    pub id: String,
    digest: [u8; 32],
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Every configured client.
#[derive(Debug, Clone, Default)]
pub struct Clients(Vec<Client>);

fn digest(secret: &[u8]) -> [u8; 32] {
    Sha256::digest(secret).into()
}

/// Equal without an early exit: the time taken says nothing about where they differ.
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Clients {
    /// The clients of `settings`, each secret read from its file.
    pub fn load(settings: &[ClientSettings]) -> anyhow::Result<Self> {
        let mut clients: Vec<Client> = Vec::new();
        for client in settings {
            if client.id.is_empty() || client.id.contains(':') {
                anyhow::bail!(
                    "introspection client id {:?} must be non-empty, without ':'",
                    client.id
                );
            }
            if clients.iter().any(|c| c.id == client.id) {
                anyhow::bail!("introspection client {:?} is listed twice", client.id);
            }
            let secret = std::fs::read_to_string(&client.secret_file).with_context(|| {
                format!("reading the secret of introspection client {:?}", client.id)
            })?;
            let secret = secret.trim_end_matches(['\r', '\n']);
            if secret.len() < MIN_SECRET_BYTES {
                anyhow::bail!(
                    "the secret of introspection client {:?} must be at least {MIN_SECRET_BYTES} bytes",
                    client.id
                );
            }
            clients.push(Client {
                id: client.id.clone(),
                digest: digest(secret.as_bytes()),
            });
        }
        Ok(Self(clients))
    }

    /// The client an `Authorization: Basic ...` value names, if its secret is right. An
    /// unknown id costs the same comparison as a wrong secret.
    pub fn authenticate(&self, authorization: Option<&str>) -> Option<&Client> {
        let credentials = authorization?
            .strip_prefix("Basic ")
            .or_else(|| authorization?.strip_prefix("basic "))?;
        let decoded = STANDARD.decode(credentials.trim()).ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (id, secret) = decoded.split_once(':')?;
        let id = form_decoded(id)?;
        let secret = form_decoded(secret)?;
        let presented = digest(secret.as_bytes());
        let found = self.0.iter().find(|c| c.id == id);
        let expected = found.map_or([0u8; 32], |c| c.digest);
        (same(&presented, &expected) && found.is_some()).then_some(found?)
    }
}

/// `application/x-www-form-urlencoded` decoding of one name or value; `None` when it is not
/// UTF-8 once decoded.
pub fn form_decoded(value: &str) -> Option<String> {
    percent_encoding::percent_decode_str(&value.replace('+', " "))
        .decode_utf8()
        .ok()
        .map(|decoded| decoded.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clients() -> Clients {
        Clients(vec![Client {
            id: "billing api".into(),
            digest: digest(b"a-long-enough-secret-0123456789ab:+"),
        }])
    }

    fn basic(id: &str, secret: &str) -> String {
        format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
    }

    #[test]
    fn basic_credentials_are_form_decoded_and_checked() {
        let clients = clients();
        let right = basic("billing+api", "a-long-enough-secret-0123456789ab%3A%2B");
        assert_eq!(
            clients.authenticate(Some(&right)).map(|c| c.id.as_str()),
            Some("billing api")
        );
        for wrong in [
            basic("billing+api", "a-long-enough-secret-0123456789ab"),
            basic("other", "a-long-enough-secret-0123456789ab%3A%2B"),
            "Bearer abc".to_owned(),
            "Basic !!!".to_owned(),
            basic("billing+api", ""),
        ] {
            assert!(clients.authenticate(Some(&wrong)).is_none(), "{wrong}");
        }
        assert!(clients.authenticate(None).is_none());
    }
}
