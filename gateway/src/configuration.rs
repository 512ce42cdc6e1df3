//! Typed settings of the gateway, loaded in layers (see `service_kit::configuration`).

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context;
use secrecy::SecretString;
use serde::Deserialize;
use service_kit::configuration::{self, ApplicationSettings, EnvVars, Environment, Sources};
use service_kit::telemetry::TelemetrySettings;

pub use forward_auth::ForwardAuthSettings;
pub use limits::{ClientAddressSettings, RateLimitSettings};
pub use revocations::{RevocationSettings, WhenStale};

/// The embedded configuration files and the `GATEWAY__` variable prefix.
pub const SOURCES: Sources = Sources {
    base: include_str!("../configuration/base.toml"),
    local: include_str!("../configuration/local.toml"),
    production: include_str!("../configuration/production.toml"),
    env_prefix: "GATEWAY",
    secret_keys: &["jwt.secret", "identity.secret"],
    list_keys: &[
        "cors.allowed_origins",
        "cors.allowed_methods",
        "cors.allowed_headers",
        "cors.expose_headers",
        "jwt.username_claims",
        "client_address.trusted_proxies",
    ],
};

/// Everything the gateway is configured with.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// Where to listen.
    pub application: ApplicationSettings,
    /// The address clients reach the gateway at: the default accepted issuer (the
    /// auth-service's tokens carry the same public URL).
    pub public_url: String,
    /// Log format.
    pub telemetry: TelemetrySettings,
    /// Body of `GET /`.
    pub welcome_message: String,
    /// Token verification.
    pub jwt: JwtSettings,
    /// The revocations the gateway applies, from the auth-service's stream.
    pub revocations: RevocationSettings,
    /// Limits and timeouts of proxying.
    pub proxy: ProxySettings,
    /// How upstreams can tell the identity headers came from the gateway.
    pub identity: IdentitySettings,
    /// Cross-origin requests from browsers.
    pub cors: CorsSettings,
    /// Which proxies in front of the gateway may say who the client is.
    pub client_address: ClientAddressSettings,
    /// The verification endpoint for proxies in front (off unless a path is set).
    #[serde(default)]
    pub forward_auth: ForwardAuthSettings,
    /// The admin listener (metrics), never published.
    pub admin: ApplicationSettings,
    /// Upstream services by name.
    pub upstreams: HashMap<String, UpstreamSettings>,
    /// The route table.
    pub routes: Vec<RouteSettings>,
    /// Token issuers accepted besides our auth-service (the `[jwt]` section).
    #[serde(default)]
    pub providers: Vec<ProviderSettings>,
    /// The overlay these settings were loaded with (not read from the files).
    #[serde(skip, default = "local")]
    pub environment: Environment,
}

fn local() -> Environment {
    Environment::Local
}

/// Where verification keys come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VerificationMode {
    /// The auth-service's published JWKS: the gateway holds no secret.
    Jwks,
    /// A shared HS256 secret (the seed's scheme).
    Hs256,
}

/// Token verification.
#[derive(Debug, Clone, Deserialize)]
pub struct JwtSettings {
    /// JWKS (default) or HS256.
    pub mode: VerificationMode,
    /// JWKS mode: where the auth-service publishes its keys.
    pub jwks_url: String,
    /// JWKS mode: seconds between scheduled refreshes.
    pub jwks_refresh_seconds: u64,
    /// JWKS mode: least seconds between refetches caused by unknown key ids.
    pub jwks_refetch_cooldown_seconds: u64,
    /// HS256 mode: the shared secret, the auth-service's.
    pub secret: SecretString,
    /// The only accepted `iss`; empty (the default) for `public_url`, which is what our
    /// auth-service signs with when both have the same public URL.
    pub issuer: String,
    /// The only accepted `aud`.
    pub audience: String,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    pub leeway_seconds: u64,
    /// Tokens longer than this are refused unparsed.
    pub max_token_bytes: usize,
    /// Status of a refusal for a missing or invalid token: 403, the seed's, or 401, what
    /// RFC 6750 names (clients that refresh on 401 want it). A missing role stays 403.
    pub refusal_status: u16,
    /// Bytes of verified tokens remembered until they expire (0: verify every time).
    pub cache_bytes: u64,
    /// The old entry-count setting, replaced by `cache_bytes`; refused when set.
    #[serde(default)]
    pub cache_capacity: Option<serde::de::IgnoredAny>,
    /// Claims the username is read from, the first one present winning (every provider
    /// has its own list; this is our auth-service's).
    pub username_claims: Vec<String>,
    /// Where roles are read from: `scope` or a JSON pointer (our auth-service's `/roles`).
    pub roles_claim: String,
    /// Whether readiness fails while the auth-service's clock is off from the gateway's by
    /// more than the leeway (it is always logged and exported).
    pub clock_offset_fails_readiness: bool,
}

/// Which browser origins may call the API (CORS).
#[derive(Debug, Clone, Deserialize)]
pub struct CorsSettings {
    /// Allowed origins, e.g. `https://app.example.com`; `*` allows any (as the seed's
    /// `CORS(app)` does); empty disables CORS.
    pub allowed_origins: Vec<String>,
    /// Allowed methods.
    pub allowed_methods: Vec<String>,
    /// Allowed request headers.
    pub allowed_headers: Vec<String>,
    /// Response headers the browser may read.
    pub expose_headers: Vec<String>,
    /// Seconds a preflight answer may be cached.
    pub max_age_seconds: usize,
    /// Whether cookies and credentials may be sent; never together with `*`.
    pub allow_credentials: bool,
}

/// Signing of the identity forwarded upstream.
#[derive(Debug, Clone, Deserialize)]
pub struct IdentitySettings {
    /// Secret shared with the upstream services, at least 32 bytes.
    pub secret: SecretString,
}

/// Limits and timeouts of proxying.
#[derive(Debug, Clone, Deserialize)]
pub struct ProxySettings {
    /// Milliseconds to connect to an upstream.
    pub connect_timeout_ms: u64,
    /// Milliseconds for a whole upstream exchange, body included.
    pub request_timeout_ms: u64,
    /// Largest request body forwarded, in bytes.
    pub max_body_bytes: usize,
    /// Further instances tried after a failed attempt, where retrying is safe.
    pub max_retries: usize,
    /// Seconds an instance is skipped after a connection failure or timeout.
    pub eject_seconds: u64,
    /// Seconds between re-resolutions of upstream host names.
    pub resolve_interval_seconds: u64,
    /// Seconds between sweeps of idle keys out of the rate limiters.
    pub rate_limit_sweep_seconds: u64,
}

/// One upstream service.
#[derive(Debug, Clone, Deserialize)]
pub struct UpstreamSettings {
    /// Base URL, e.g. `http://auth-service:8081`, or several separated by commas. Each host
    /// name is re-resolved periodically and every address it has is an instance.
    pub url: String,
}

/// Who may use a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// Anyone; forwarded as it is.
    Public,
    /// Only callers with a valid token.
    Protected,
}

/// One entry of the route table.
#[derive(Debug, Clone, Deserialize)]
pub struct RouteSettings {
    /// Path prefix, matched on whole segments.
    pub path: String,
    /// Name of an entry in `upstreams`.
    pub upstream: String,
    /// Public or protected.
    pub access: Access,
    /// Protected routes only: a token must carry at least one of these roles (none listed:
    /// any valid token will do).
    #[serde(default)]
    pub roles: Vec<String>,
    /// The route's rate limits (none by default).
    #[serde(default)]
    pub rate_limit: RateLimitSettings,
}

impl Settings {
    /// Loads the settings for `APP_ENVIRONMENT` from the embedded files, the settings file
    /// (`file`, else the one the `_CONFIG` variable names) and the process environment.
    pub fn load(file: Option<&std::path::Path>) -> anyhow::Result<Self> {
        Self::load_with_file(Environment::from_process_env()?, file, EnvVars::Process)
    }

    /// Loads and validates the settings for one environment with the given overrides.
    pub fn load_with(environment: Environment, env_vars: EnvVars) -> anyhow::Result<Self> {
        Self::load_with_file(environment, None, env_vars)
    }

    /// Loads and validates the settings for one environment, a settings file and overrides.
    pub fn load_with_file(
        environment: Environment,
        file: Option<&std::path::Path>,
        env_vars: EnvVars,
    ) -> anyhow::Result<Self> {
        let mut settings: Self = configuration::load(&SOURCES, environment, file, env_vars)?;
        settings.environment = environment;
        settings.public_url = configuration::check_public_url("public_url", &settings.public_url)?;
        if settings.jwt.issuer.is_empty() {
            settings.jwt.issuer = settings.public_url.clone();
        }
        settings.validate()?;
        Ok(settings)
    }

    /// Refuses settings that are unsafe or inconsistent. The route table itself is checked
    /// when it is built (see [`crate::routing::RouteTable::new`]).
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.jwt.cache_capacity.is_some() {
            anyhow::bail!(
                "jwt.cache_capacity (a number of tokens) was replaced by jwt.cache_bytes (a size \
                 in bytes; about 1 KiB per token): rename the setting"
            );
        }
        if ![401, 403].contains(&self.jwt.refusal_status) {
            anyhow::bail!("jwt.refusal_status must be 401 or 403");
        }
        self.revocations.validate()?;
        match self.jwt.mode {
            VerificationMode::Hs256 => service_kit::secrets::check_shared_secret(
                "GATEWAY__JWT__SECRET",
                &self.jwt.secret,
                self.environment,
            )?,
            VerificationMode::Jwks => {
                let url = reqwest::Url::parse(&self.jwt.jwks_url)
                    .map_err(|e| anyhow::anyhow!("jwt.jwks_url is not a URL: {e}"))?;
                if !matches!(url.scheme(), "http" | "https") {
                    anyhow::bail!("jwt.jwks_url must be an http:// or https:// URL");
                }
                if self.jwt.jwks_refresh_seconds == 0 {
                    anyhow::bail!("jwt.jwks_refresh_seconds must be positive");
                }
            }
        }
        service_kit::secrets::check_shared_secret(
            "GATEWAY__IDENTITY__SECRET",
            &self.identity.secret,
            self.environment,
        )?;
        if self.cors.allow_credentials && self.cors.allowed_origins.iter().any(|o| o == "*") {
            anyhow::bail!("cors: credentials cannot be allowed for every origin (\"*\")");
        }
        if self.proxy.rate_limit_sweep_seconds == 0 {
            anyhow::bail!("proxy.rate_limit_sweep_seconds must be positive");
        }
        if self.jwt.issuer.is_empty() || self.jwt.audience.is_empty() {
            anyhow::bail!("jwt.issuer and jwt.audience must not be empty");
        }
        if self.jwt.username_claims.is_empty() {
            anyhow::bail!("jwt.username_claims must list at least one claim");
        }
        RolesClaim::parse("jwt.roles_claim", &self.jwt.roles_claim)?;
        check_providers(&self.jwt.issuer, &self.providers)?;
        self.forward_auth.validate()?;
        if let Some(tls) = &self.application.tls {
            service_kit::server::check_tls(tls)?;
        }
        check_routes(&self.routes, &self.upstreams)
    }
}

/// Refuses route tables with unknown upstream names, duplicate or relative paths, roles on
/// public routes, and upstream URLs the gateway cannot call.
pub fn check_routes(
    routes: &[RouteSettings],
    upstreams: &HashMap<String, UpstreamSettings>,
) -> anyhow::Result<()> {
    for (name, settings) in upstreams {
        crate::upstream::Upstream::new(name, &settings.url, Duration::ZERO)
            .with_context(|| format!("upstream {name:?}"))?;
    }
    for (index, route) in routes.iter().enumerate() {
        if !route.path.starts_with('/') {
            anyhow::bail!("route path {:?} must start with '/'", route.path);
        }
        if routes[..index].iter().any(|r| r.path == route.path) {
            anyhow::bail!("route path {:?} is configured twice", route.path);
        }
        if !upstreams.contains_key(&route.upstream) {
            anyhow::bail!(
                "route {:?} names unknown upstream {:?}",
                route.path,
                route.upstream
            );
        }
        if route.access == Access::Public && !route.roles.is_empty() {
            anyhow::bail!("route {:?} is public but requires roles", route.path);
        }
        route.rate_limit.check(&route.path, route.access)?;
    }
    Ok(())
}

mod providers;
pub use providers::{KNOWN_ALGORITHMS, ProviderSettings, RolesClaim, check_providers};

mod forward_auth;
mod limits;
mod revocations;
#[cfg(test)]
mod tests;
