//! Typed settings of the auth-service, loaded in layers (see `service_kit::configuration`).

use secrecy::SecretString;
use serde::Deserialize;
use service_kit::configuration::{self, ApplicationSettings, EnvVars, Environment, Sources};
use service_kit::telemetry::TelemetrySettings;

mod limits;
pub use limits::{HashingSettings, LimitStore, LimitsSettings, LoginSettings, RefreshSettings};

/// The embedded configuration files and the `AUTH__` variable prefix.
pub const SOURCES: Sources = Sources {
    base: include_str!("../configuration/base.toml"),
    local: include_str!("../configuration/local.toml"),
    production: include_str!("../configuration/production.toml"),
    env_prefix: "AUTH",
    secret_keys: &["jwt.secret", "database.url"],
    list_keys: &["login.trusted_proxies"],
};

/// Longest accepted access-token lifetime: a day. Longer sessions are what refresh tokens
/// are for.
pub const MAX_ACCESS_TOKEN_TTL_SECONDS: u64 = 24 * 60 * 60;

/// Everything the auth-service is configured with.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// Where to listen.
    pub application: ApplicationSettings,
    /// The admin listener (`GET /metrics`), never published.
    pub admin: ApplicationSettings,
    /// The address clients reach the system at (the gateway's): the default issuer, and
    /// the base of every absolute URL the service publishes. Never taken from a request's
    /// `Host`.
    pub public_url: String,
    /// Log format.
    pub telemetry: TelemetrySettings,
    /// Where users, refresh tokens and keys live.
    pub database: DatabaseSettings,
    /// How tokens are signed and how long they live.
    pub jwt: JwtSettings,
    /// Signing-key rotation.
    pub keys: KeySettings,
    /// Self-service sign-up.
    pub registration: RegistrationSettings,
    /// Brute-force protection of `/login`.
    pub login: LoginSettings,
    /// The bounded queue in front of password hashing.
    pub hashing: HashingSettings,
    /// Rate limits of `/refresh` and the purge of dead refresh tokens.
    pub refresh: RefreshSettings,
    /// Where the login and `/refresh` limits keep their counts.
    pub limits: LimitsSettings,
    /// Users created at start.
    pub users: UserSettings,
    /// The revocation stream gateways follow.
    pub revocations: RevocationSettings,
    /// RFC 7009 revocation and RFC 7662 introspection for configured clients.
    pub introspection: crate::introspection::IntrospectionSettings,
    /// The overlay these settings were loaded with (not read from the files).
    #[serde(skip, default = "local")]
    pub environment: Environment,
}

fn local() -> Environment {
    Environment::Local
}

/// The database.
#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    /// `sqlite://...` or `postgres://...`; may hold a password, so it is never logged.
    pub url: SecretString,
    /// Pool size.
    pub max_connections: u32,
}

impl DatabaseSettings {
    /// Whether the URL names a PostgreSQL database (several instances may share it).
    pub fn is_postgres(&self) -> bool {
        use secrecy::ExposeSecret;
        let url = self.url.expose_secret();
        url.starts_with("postgres:") || url.starts_with("postgresql:")
    }
}

/// Signing algorithm of access tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum SigningAlgorithm {
    /// Ed25519 keys kept in the database and published as a JWKS.
    EdDSA,
    /// One shared secret (the seed's scheme).
    HS256,
}

/// Token signing and lifetimes.
#[derive(Debug, Clone, Deserialize)]
pub struct JwtSettings {
    /// EdDSA (default) or HS256.
    pub algorithm: SigningAlgorithm,
    /// HS256 shared secret, also configured on the gateway. Unused with EdDSA.
    pub secret: SecretString,
    /// The `iss` claim; empty (the default) for `public_url`, as OIDC discovery requires.
    pub issuer: String,
    /// The `aud` claim.
    pub audience: String,
    /// Seconds an access token is valid.
    pub access_token_ttl_seconds: u64,
    /// Seconds a refresh token is valid.
    pub refresh_token_ttl_seconds: u64,
    /// Seconds within which presenting a used refresh token counts as a retry.
    pub refresh_reuse_grace_seconds: u64,
}

/// Signing-key rotation.
#[derive(Debug, Clone, Deserialize)]
pub struct KeySettings {
    /// Seconds a new key is published before it signs.
    pub publish_ahead_seconds: u64,
    /// Seconds between re-reads of the keys from the database.
    pub reload_interval_seconds: u64,
}

/// The revocation stream (`GET /revocations` on the admin listener).
#[derive(Debug, Clone, Deserialize)]
pub struct RevocationSettings {
    /// Milliseconds between two reads of new revocations from the database: most of the
    /// delay before gateways refuse a revoked token.
    pub poll_interval_ms: u64,
    /// Milliseconds between heartbeats on an idle stream, by which gateways know they are
    /// current.
    pub heartbeat_interval_ms: u64,
}

/// Self-service sign-up.
#[derive(Debug, Clone, Deserialize)]
pub struct RegistrationSettings {
    /// Whether `POST /register` creates users (otherwise it answers 403).
    pub enabled: bool,
}

/// Users known at start.
#[derive(Debug, Clone, Deserialize)]
pub struct UserSettings {
    /// Demo users with clear-text passwords. Local profile only.
    #[serde(default)]
    pub demo: Vec<DemoUser>,
    /// Users with password hashes, created if missing.
    #[serde(default)]
    pub bootstrap: Vec<BootstrapUser>,
}

/// A demo user: a clear-text password, or its argon2id hash (which spares the hashing at
/// start-up and its 19 MiB working memory).
#[derive(Debug, Clone, Deserialize)]
pub struct DemoUser {
    /// Username.
    pub username: String,
    /// Clear-text password (hashed with argon2id before it is stored).
    #[serde(default)]
    pub password: Option<SecretString>,
    /// argon2id PHC string of the password, instead of `password`.
    #[serde(default)]
    pub password_hash: Option<SecretString>,
    /// Roles.
    #[serde(default)]
    pub roles: Vec<String>,
}

/// A user created from configuration in any environment.
#[derive(Debug, Clone, Deserialize)]
pub struct BootstrapUser {
    /// Username.
    pub username: String,
    /// argon2id PHC string.
    pub password_hash: SecretString,
    /// Roles.
    #[serde(default)]
    pub roles: Vec<String>,
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

    /// Refuses settings that are unsafe for their environment.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.jwt.algorithm == SigningAlgorithm::HS256 {
            service_kit::secrets::check_shared_secret(
                "AUTH__JWT__SECRET",
                &self.jwt.secret,
                self.environment,
            )?;
        }
        if let Some(user) = self
            .users
            .demo
            .iter()
            .find(|u| u.password.is_some() == u.password_hash.is_some())
        {
            anyhow::bail!(
                "demo user {:?} needs exactly one of password and password_hash",
                user.username
            );
        }
        if self.environment == Environment::Production && !self.users.demo.is_empty() {
            anyhow::bail!("demo users are not allowed in production (users.demo)");
        }
        if self.jwt.issuer.is_empty() || self.jwt.audience.is_empty() {
            anyhow::bail!("jwt.issuer and jwt.audience must not be empty");
        }
        let ttl = self.jwt.access_token_ttl_seconds;
        if ttl == 0 || ttl > MAX_ACCESS_TOKEN_TTL_SECONDS {
            anyhow::bail!(
                "jwt.access_token_ttl_seconds must be between 1 and {MAX_ACCESS_TOKEN_TTL_SECONDS}"
            );
        }
        if self.jwt.refresh_token_ttl_seconds < ttl {
            anyhow::bail!(
                "jwt.refresh_token_ttl_seconds must not be shorter than the access token's"
            );
        }
        if self.keys.reload_interval_seconds == 0 {
            anyhow::bail!("keys.reload_interval_seconds must be positive");
        }
        let streamed = &self.revocations;
        if !(10..=10_000).contains(&streamed.poll_interval_ms)
            || !(100..=2_000).contains(&streamed.heartbeat_interval_ms)
        {
            anyhow::bail!(
                "revocations.poll_interval_ms must be 10 to 10000 and \
                 revocations.heartbeat_interval_ms 100 to 2000 (gateways reconnect after 5 s \
                 without a word)"
            );
        }
        self.login.validate()?;
        self.hashing.validate()?;
        self.refresh.validate()?;
        self.limits.in_database(self.database.is_postgres())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
