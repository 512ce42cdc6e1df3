//! Typed settings of the resource-service, loaded in layers (see `service_kit::configuration`).

use secrecy::SecretString;
use serde::Deserialize;
use service_kit::configuration::{self, ApplicationSettings, EnvVars, Environment, Sources};
use service_kit::telemetry::TelemetrySettings;

/// The embedded configuration files and the `RESOURCE__` variable prefix.
pub const SOURCES: Sources = Sources {
    base: include_str!("../configuration/base.toml"),
    local: include_str!("../configuration/local.toml"),
    production: include_str!("../configuration/production.toml"),
    env_prefix: "RESOURCE",
    secret_keys: &["identity.secret"],
    list_keys: &[],
};

/// Everything the resource-service is configured with.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// Where to listen.
    pub application: ApplicationSettings,
    /// Log format.
    pub telemetry: TelemetrySettings,
    /// How requests from the gateway are recognised.
    pub identity: IdentitySettings,
}

/// Checking the gateway's identity assertions.
#[derive(Debug, Clone, Deserialize)]
pub struct IdentitySettings {
    /// Secret shared with the gateway, at least 32 bytes.
    pub secret: SecretString,
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
        let settings: Self = configuration::load(&SOURCES, environment, file, env_vars)?;
        service_kit::secrets::check_shared_secret(
            "RESOURCE__IDENTITY__SECRET",
            &settings.identity.secret,
            environment,
        )?;
        Ok(settings)
    }
}
