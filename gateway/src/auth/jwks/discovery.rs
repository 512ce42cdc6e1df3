//! Where a provider's keys are: the configured JWKS URL, or the one its OpenID discovery
//! document names.

use anyhow::Context;
use serde::Deserialize;

use super::{JwksCache, MAX_JWKS_BYTES};

impl JwksCache {
    /// The configured JWKS URL, else the one the provider's discovery document names
    /// (fetched once, then remembered).
    pub(super) async fn jwks_url(&self) -> anyhow::Result<String> {
        if !self.configured_url.is_empty() {
            return Ok(self.configured_url.clone());
        }
        let known = match self.discovered_url.read() {
            Ok(url) => url.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        if let Some(url) = known {
            return Ok(url);
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        );
        let body = self.client.get(&url, MAX_JWKS_BYTES).await?;
        let document: Discovery =
            serde_json::from_slice(&body).context("parsing the discovery document")?;
        // OpenID Connect Discovery 1.0 §4.3: the document must name the issuer it was
        // fetched for, exactly.
        if document.issuer != self.issuer {
            anyhow::bail!(
                "the discovery document names issuer {:?}, not {:?}",
                document.issuer,
                self.issuer
            );
        }
        if !(document.jwks_uri.starts_with("https://") || document.jwks_uri.starts_with("http://"))
        {
            anyhow::bail!("jwks_uri {:?} is not an http(s) URL", document.jwks_uri);
        }
        tracing::info!(provider = %self.name, jwks_uri = %document.jwks_uri, "JWKS URL discovered");
        let slot = Some(document.jwks_uri.clone());
        match self.discovered_url.write() {
            Ok(mut url) => *url = slot,
            Err(poisoned) => *poisoned.into_inner() = slot,
        }
        Ok(document.jwks_uri)
    }
}

/// The fields of an OpenID discovery document the gateway reads.
#[derive(Debug, Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}
