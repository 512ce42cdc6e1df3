//! The verification endpoint other proxies call before they forward a request (nginx
//! `auth_request`, Traefik `forwardAuth`).

use serde::Deserialize;

/// Where the verification endpoint answers.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardAuthSettings {
    /// Its path on the public listener, e.g. `/auth/verify`; empty (the default): off.
    /// Off by default because its answers carry signed identities, which upstreams believe:
    /// turn it on only where a proxy in front of the services calls it.
    #[serde(default)]
    pub path: String,
}

impl ForwardAuthSettings {
    /// Refuses a path that is not absolute.
    pub fn validate(&self) -> anyhow::Result<()> {
        if !self.path.is_empty() && !self.path.starts_with('/') {
            anyhow::bail!("forward_auth.path must start with '/', not {:?}", self.path);
        }
        Ok(())
    }
}
