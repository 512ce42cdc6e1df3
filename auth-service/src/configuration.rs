//! Typed settings of the auth-service, loaded in layers (see `service_kit::configuration`).

use secrecy::SecretString;
use serde::Deserialize;
use service_kit::configuration::{self, ApplicationSettings, EnvVars, Environment, Sources};
use service_kit::telemetry::TelemetrySettings;

/// The embedded configuration files and the `AUTH__` variable prefix.
pub const SOURCES: Sources = Sources {
    base: include_str!("../configuration/base.toml"),
    local: include_str!("../configuration/local.toml"),
    production: include_str!("../configuration/production.toml"),
    env_prefix: "AUTH",
};

/// Everything the auth-service is configured with.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// Where to listen.
    pub application: ApplicationSettings,
    /// Log format.
    pub telemetry: TelemetrySettings,
    /// How tokens are signed.
    pub jwt: JwtSettings,
    /// Users created at start.
    pub users: UserSettings,
    /// The overlay these settings were loaded with (not read from the files).
    #[serde(skip, default = "local")]
    pub environment: Environment,
}

fn local() -> Environment {
    Environment::Local
}

/// Token signing.
#[derive(Debug, Clone, Deserialize)]
pub struct JwtSettings {
    /// HS256 shared secret, also configured on the gateway.
    pub secret: SecretString,
    /// The `iss` claim.
    pub issuer: String,
    /// The `aud` claim.
    pub audience: String,
    /// Seconds an access token is valid.
    pub access_token_ttl_seconds: u64,
}

/// Users known at start.
#[derive(Debug, Clone, Deserialize)]
pub struct UserSettings {
    /// Demo users with clear-text passwords, hashed at start. Local profile only.
    #[serde(default)]
    pub demo: Vec<DemoUser>,
}

/// A demo user.
#[derive(Debug, Clone, Deserialize)]
pub struct DemoUser {
    /// Username.
    pub username: String,
    /// Clear-text password (hashed with argon2id before use).
    pub password: SecretString,
}

/// Longest accepted token lifetime: a day. Longer-lived access is what refresh tokens are for.
pub const MAX_ACCESS_TOKEN_TTL_SECONDS: u64 = 24 * 60 * 60;

impl Settings {
    /// Loads the settings for `APP_ENVIRONMENT` from the files and the process environment.
    pub fn load() -> anyhow::Result<Self> {
        Self::load_with(Environment::from_process_env()?, EnvVars::Process)
    }

    /// Loads and validates the settings for one environment with the given overrides.
    pub fn load_with(environment: Environment, env_vars: EnvVars) -> anyhow::Result<Self> {
        let mut settings: Self = configuration::load(&SOURCES, environment, env_vars)?;
        settings.environment = environment;
        settings.validate()?;
        Ok(settings)
    }

    /// Refuses settings that are unsafe for their environment.
    pub fn validate(&self) -> anyhow::Result<()> {
        service_kit::secrets::check_shared_secret(
            "AUTH__JWT__SECRET",
            &self.jwt.secret,
            self.environment,
        )?;
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
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(environment: Environment, vars: &[(&str, &str)]) -> anyhow::Result<Settings> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::load_with(environment, EnvVars::Given(vars))
    }

    const STRONG: &str = "9f1c2e7a5b3d4f60a8e1c2d3b4a5f6e7d8c9b0a1";

    #[test]
    fn local_profile_serves_the_seeds_demo_user_on_8081() {
        let settings = load(Environment::Local, &[]).unwrap();
        assert_eq!(settings.application.port, 8081);
        assert_eq!(settings.users.demo.len(), 1);
        assert_eq!(settings.users.demo[0].username, "user1");
    }

    #[test]
    fn production_refuses_a_missing_or_default_secret() {
        let missing = load(Environment::Production, &[]).unwrap_err();
        assert!(missing.to_string().contains("not set"), "{missing}");
        let default = load(
            Environment::Production,
            &[(
                "AUTH__JWT__SECRET",
                service_kit::secrets::LOCAL_DEVELOPMENT_SECRET,
            )],
        )
        .unwrap_err();
        assert!(default.to_string().contains("example"), "{default}");
    }

    #[test]
    fn production_starts_with_a_strong_secret_and_listens_on_all_interfaces() {
        let settings = load(Environment::Production, &[("AUTH__JWT__SECRET", STRONG)]).unwrap();
        assert_eq!(settings.application.host, "0.0.0.0");
        assert!(settings.users.demo.is_empty());
    }

    #[test]
    fn production_refuses_demo_users() {
        let mut settings = load(Environment::Production, &[("AUTH__JWT__SECRET", STRONG)]).unwrap();
        settings.users.demo = load(Environment::Local, &[]).unwrap().users.demo;
        let err = settings.validate().unwrap_err();
        assert!(err.to_string().contains("demo users"), "{err}");
    }
}
