//! Token issuers the gateway accepts: our auth-service (the `[jwt]` section, the default
//! provider) and any standard OpenID Connect issuer listed under `[[providers]]`.

use std::path::PathBuf;

use anyhow::Context;
use serde::Deserialize;

use super::{JwtSettings, VerificationMode};

/// Algorithms a provider may use, as JWKs and tokens name them.
pub const KNOWN_ALGORITHMS: &[&str] = &["RS256", "PS256", "ES256", "EdDSA"];

/// Where a token's roles are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RolesClaim {
    /// A JSON pointer (RFC 6901) to an array of strings, e.g. `/realm_access/roles`.
    Pointer(String),
    /// The space-separated `scope` claim (RFC 8693 §4.2), each scope a role.
    Scope,
}

impl RolesClaim {
    /// Reads the setting: `scope`, or a JSON pointer starting with `/`.
    pub fn parse(key: &str, value: &str) -> anyhow::Result<Self> {
        match value {
            "scope" => Ok(Self::Scope),
            pointer if pointer.starts_with('/') => Ok(Self::Pointer(pointer.to_owned())),
            other => anyhow::bail!(
                "{key} must be \"scope\" or a JSON pointer such as \"/realm_access/roles\", \
                 not {other:?}"
            ),
        }
    }
}

/// One token issuer besides our auth-service, as configured under `[[providers]]`.
#[derive(Debug, Clone, Deserialize)]
pub struct ProviderSettings {
    /// A name for logs and metrics.
    pub name: String,
    /// The exact `iss` its tokens carry, e.g. `https://sso.example.com/realms/main`.
    pub issuer: String,
    /// Its JWKS; empty: read from `<issuer>/.well-known/openid-configuration`.
    #[serde(default)]
    pub jwks_url: String,
    /// Accepted `aud` values (a token's `aud` may be a string or a list; one match is
    /// enough); empty: `aud` is not checked.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// Algorithms its keys may verify; each key's own comes from its JWK.
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<String>,
    /// Claims the username is read from: the first one present wins.
    #[serde(default = "default_username_claims")]
    pub username_claims: Vec<String>,
    /// `scope`, or a JSON pointer to an array of role names.
    #[serde(default = "default_roles_claim")]
    pub roles_claim: String,
    /// PEM file of certificate authorities trusted for its HTTPS URLs, besides the
    /// system's (a private CA).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

fn default_algorithms() -> Vec<String> {
    vec!["RS256".into(), "PS256".into(), "ES256".into()]
}

fn default_username_claims() -> Vec<String> {
    vec!["user".into(), "preferred_username".into(), "sub".into()]
}

fn default_roles_claim() -> String {
    "/roles".into()
}

impl ProviderSettings {
    /// The default provider, our auth-service, as the `[jwt]` section describes it (JWKS
    /// mode; in HS256 mode its key is the shared secret instead).
    pub fn from_jwt(jwt: &JwtSettings) -> Self {
        Self {
            name: "auth-service".into(),
            issuer: jwt.issuer.clone(),
            jwks_url: jwt.jwks_url.clone(),
            audiences: vec![jwt.audience.clone()],
            algorithms: match jwt.mode {
                VerificationMode::Jwks => vec!["EdDSA".into(), "ES256".into(), "RS256".into()],
                VerificationMode::Hs256 => vec!["HS256".into()],
            },
            username_claims: jwt.username_claims.clone(),
            roles_claim: jwt.roles_claim.clone(),
            ca_file: None,
        }
    }

    /// Refuses a provider that could never verify a token, naming the key at fault.
    pub fn validate(&self, key: &str) -> anyhow::Result<()> {
        if self.name.is_empty() {
            anyhow::bail!("{key}.name must not be empty");
        }
        if self.issuer.is_empty() {
            anyhow::bail!("{key}.issuer must not be empty");
        }
        let keys_url = if self.jwks_url.is_empty() {
            &self.issuer
        } else {
            &self.jwks_url
        };
        let url = reqwest::Url::parse(keys_url)
            .with_context(|| format!("{key}: {keys_url:?} is not a URL"))?;
        if !matches!(url.scheme(), "http" | "https") {
            anyhow::bail!("{key}: {keys_url:?} must be an http:// or https:// URL");
        }
        if self.algorithms.is_empty() {
            anyhow::bail!("{key}.algorithms must list at least one algorithm");
        }
        if let Some(unknown) = self
            .algorithms
            .iter()
            .find(|a| !KNOWN_ALGORITHMS.contains(&a.as_str()))
        {
            anyhow::bail!(
                "{key}.algorithms: {unknown:?} is not one of {}",
                KNOWN_ALGORITHMS.join(", ")
            );
        }
        if self.username_claims.is_empty() {
            anyhow::bail!("{key}.username_claims must list at least one claim");
        }
        RolesClaim::parse(&format!("{key}.roles_claim"), &self.roles_claim)?;
        if let Some(file) = &self.ca_file {
            std::fs::metadata(file).with_context(|| format!("{key}.ca_file {}", file.display()))?;
        }
        Ok(())
    }
}

/// Refuses a provider list with an invalid entry, or two entries (the default provider
/// included) for one issuer: a token's `iss` picks its provider.
pub fn check_providers(default_issuer: &str, providers: &[ProviderSettings]) -> anyhow::Result<()> {
    for (index, provider) in providers.iter().enumerate() {
        let key = format!("providers[{index}] ({})", provider.name);
        provider.validate(&key)?;
        if provider.issuer == default_issuer
            || providers[..index]
                .iter()
                .any(|p| p.issuer == provider.issuer)
        {
            anyhow::bail!("{key}: issuer {:?} is configured twice", provider.issuer);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keycloak() -> ProviderSettings {
        ProviderSettings {
            name: "keycloak".into(),
            issuer: "https://sso.example.com/realms/main".into(),
            jwks_url: String::new(),
            audiences: vec!["api".into()],
            algorithms: default_algorithms(),
            username_claims: default_username_claims(),
            roles_claim: "/realm_access/roles".into(),
            ca_file: None,
        }
    }

    #[test]
    fn a_well_formed_provider_passes() {
        check_providers("http://localhost:8080", &[keycloak()]).unwrap();
    }

    /// Spoils one field of a well-formed provider.
    type Mistake = fn(&mut ProviderSettings);

    #[test]
    fn each_mistake_is_named() {
        let cases: [(&str, Mistake); 6] = [
            ("issuer", |p| p.issuer.clear()),
            ("is not a URL", |p| p.jwks_url = "not a url".into()),
            ("http:// or https://", |p| {
                p.jwks_url = "ftp://keys.example.com/jwks".into()
            }),
            ("is not one of", |p| p.algorithms = vec!["HS256".into()]),
            ("username_claims", |p| p.username_claims.clear()),
            ("roles_claim", |p| {
                p.roles_claim = "realm_access.roles".into()
            }),
        ];
        for (expected, break_it) in cases {
            let mut provider = keycloak();
            break_it(&mut provider);
            let err = check_providers("http://localhost:8080", &[provider]).unwrap_err();
            assert!(err.to_string().contains(expected), "{expected}: {err}");
        }
    }

    #[test]
    fn one_issuer_has_one_provider() {
        let twice = check_providers("http://localhost:8080", &[keycloak(), keycloak()]);
        assert!(twice.unwrap_err().to_string().contains("configured twice"));
        let ours = ProviderSettings {
            issuer: "http://localhost:8080".into(),
            ..keycloak()
        };
        assert!(check_providers("http://localhost:8080", &[ours]).is_err());
    }
}
