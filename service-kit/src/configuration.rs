//! Layered settings: an embedded base file, an embedded `local` or `production` overlay chosen
//! by `APP_ENVIRONMENT`, then `PREFIX__SECTION__KEY` environment variables. The files are
//! compiled into the binary so it runs the same from any directory and in any image.

use std::collections::HashMap;
use std::fmt;

use anyhow::Context;
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// Environment variable that picks the overlay: `local` (the default) or `production`.
pub const ENVIRONMENT_VARIABLE: &str = "APP_ENVIRONMENT";

/// Which overlay is applied on top of the base settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// A developer's machine: demo users and development secrets allowed.
    Local,
    /// A real deployment: secrets must be strong, no demo data.
    Production,
}

impl Environment {
    /// Reads `APP_ENVIRONMENT`; `local` when unset.
    pub fn from_process_env() -> anyhow::Result<Self> {
        match std::env::var(ENVIRONMENT_VARIABLE) {
            Err(std::env::VarError::NotPresent) => Ok(Self::Local),
            Err(e) => Err(e).context("reading APP_ENVIRONMENT"),
            Ok(value) => value.parse(),
        }
    }

    /// The overlay's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Production => "production",
        }
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Environment {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "local" => Ok(Self::Local),
            "production" => Ok(Self::Production),
            other => anyhow::bail!(
                "{ENVIRONMENT_VARIABLE}={other:?} is not supported; use `local` or `production`"
            ),
        }
    }
}

/// The embedded files of one service and the prefix of its environment variables.
#[derive(Debug, Clone, Copy)]
pub struct Sources {
    /// TOML applied first.
    pub base: &'static str,
    /// TOML overlay for [`Environment::Local`].
    pub local: &'static str,
    /// TOML overlay for [`Environment::Production`].
    pub production: &'static str,
    /// `GATEWAY` reads `GATEWAY__APPLICATION__PORT` into `application.port`.
    pub env_prefix: &'static str,
}

/// Where environment overrides come from.
#[derive(Debug, Clone)]
pub enum EnvVars {
    /// The process environment (what the binaries use).
    Process,
    /// An explicit map (what tests use, so the developer's shell cannot change them).
    Given(HashMap<String, String>),
}

/// Builds settings of type `T` from the layers.
pub fn load<T: DeserializeOwned>(
    sources: &Sources,
    environment: Environment,
    env_vars: EnvVars,
) -> anyhow::Result<T> {
    let overlay = match environment {
        Environment::Local => sources.local,
        Environment::Production => sources.production,
    };
    let mut env = config::Environment::with_prefix(sources.env_prefix)
        .prefix_separator("__")
        .separator("__");
    if let EnvVars::Given(map) = env_vars {
        env = env.source(Some(map));
    }
    config::Config::builder()
        .add_source(config::File::from_str(
            sources.base,
            config::FileFormat::Toml,
        ))
        .add_source(config::File::from_str(overlay, config::FileFormat::Toml))
        .add_source(env)
        .build()
        .and_then(config::Config::try_deserialize)
        .with_context(|| format!("loading {} settings", environment))
}

/// Where a service listens.
#[derive(Debug, Clone, Deserialize)]
pub struct ApplicationSettings {
    /// Address to bind, e.g. `127.0.0.1` locally or `0.0.0.0` in a container.
    pub host: String,
    /// Port to bind; 0 picks a free one (tests).
    pub port: u16,
    /// Worker threads; one per core when unset.
    #[serde(default)]
    pub workers: Option<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Demo {
        application: ApplicationSettings,
        name: String,
    }

    const SOURCES: Sources = Sources {
        base: "name = \"base\"\n[application]\nhost = \"127.0.0.1\"\nport = 1",
        local: "[application]\nport = 2",
        production: "name = \"prod\"\n[application]\nhost = \"0.0.0.0\"",
        env_prefix: "DEMO",
    };

    fn vars(pairs: &[(&str, &str)]) -> EnvVars {
        EnvVars::Given(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn overlay_wins_over_base_and_environment_wins_over_overlay() {
        let local: Demo = load(&SOURCES, Environment::Local, vars(&[])).unwrap();
        assert_eq!((local.name.as_str(), local.application.port), ("base", 2));

        let prod: Demo = load(
            &SOURCES,
            Environment::Production,
            vars(&[("DEMO__APPLICATION__PORT", "9000"), ("DEMO__NAME", "env")]),
        )
        .unwrap();
        assert_eq!(prod.application.host, "0.0.0.0");
        assert_eq!(prod.application.port, 9000);
        assert_eq!(prod.name, "env");
    }

    #[test]
    fn a_non_numeric_port_is_a_clear_error() {
        let err = load::<Demo>(
            &SOURCES,
            Environment::Local,
            vars(&[("DEMO__APPLICATION__PORT", "http")]),
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("port"), "{err:#}");
    }

    #[test]
    fn environment_names_parse_case_insensitively_and_reject_others() {
        assert_eq!(
            "Production".parse::<Environment>().unwrap(),
            Environment::Production
        );
        assert_eq!("local".parse::<Environment>().unwrap(), Environment::Local);
        assert!("staging".parse::<Environment>().is_err());
    }
}
