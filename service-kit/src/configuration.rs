//! Layered settings, each layer over the one before:
//! 1. an embedded base file, then an embedded `local` or `production` overlay chosen by
//!    `APP_ENVIRONMENT` (the defaults, compiled in so the binary runs from any directory);
//! 2. an optional settings file read at start-up (`--config PATH`, or `<PREFIX>_CONFIG`),
//!    so a deployment changes routes, origins or limits without a rebuild;
//! 3. `PREFIX__SECTION__KEY` environment variables, with secrets also from files and lists
//!    comma-separated (see [`crate::env_overrides`]).

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

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
    /// `GATEWAY` reads `GATEWAY__APPLICATION__PORT` into `application.port`, and the
    /// settings file from `GATEWAY_CONFIG`.
    pub env_prefix: &'static str,
    /// Dotted keys that hold secrets: each can also be read from the file its
    /// `..._FILE` variable names.
    pub secret_keys: &'static [&'static str],
    /// Dotted keys that hold lists of strings, settable as comma-separated variables.
    pub list_keys: &'static [&'static str],
}

impl Sources {
    /// The variable that names the settings file when `--config` is not given.
    pub fn config_variable(&self) -> String {
        format!("{}_CONFIG", self.env_prefix)
    }
}

/// Where environment overrides come from.
#[derive(Debug, Clone)]
pub enum EnvVars {
    /// The process environment (what the binaries use).
    Process,
    /// An explicit map (what tests use, so the developer's shell cannot change them).
    Given(HashMap<String, String>),
}

/// Builds settings of type `T` from the embedded files and the environment, with the
/// settings file the environment names, if any.
pub fn load<T: DeserializeOwned>(
    sources: &Sources,
    environment: Environment,
    env_vars: EnvVars,
) -> anyhow::Result<T> {
    load_layered(sources, environment, None, env_vars)
}

/// Builds settings of type `T` from every layer; `file` (from `--config`) wins over the
/// `<PREFIX>_CONFIG` variable.
pub fn load_layered<T: DeserializeOwned>(
    sources: &Sources,
    environment: Environment,
    file: Option<&Path>,
    env_vars: EnvVars,
) -> anyhow::Result<T> {
    let vars: HashMap<String, String> = match env_vars {
        EnvVars::Process => std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect(),
        EnvVars::Given(map) => map,
    };
    let file: Option<PathBuf> = file
        .map(Path::to_path_buf)
        .or_else(|| vars.get(&sources.config_variable()).map(PathBuf::from));
    let layer = crate::env_overrides::resolve(
        sources.env_prefix,
        sources.secret_keys,
        sources.list_keys,
        vars,
    )?;
    let overlay = match environment {
        Environment::Local => sources.local,
        Environment::Production => sources.production,
    };
    let mut builder = config::Config::builder()
        .add_source(config::File::from_str(
            sources.base,
            config::FileFormat::Toml,
        ))
        .add_source(config::File::from_str(overlay, config::FileFormat::Toml));
    if let Some(path) = &file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the settings file {}", path.display()))?;
        let table: config::Config = config::Config::builder()
            .add_source(config::File::from_str(&text, config::FileFormat::Toml))
            .build()
            .with_context(|| format!("the settings file {} is not valid TOML", path.display()))?;
        builder = builder.add_source(table);
    }
    builder = builder.add_source(
        config::Environment::with_prefix(sources.env_prefix)
            .prefix_separator("__")
            .separator("__")
            .source(Some(layer.scalars)),
    );
    for (key, items) in layer.lists {
        builder = builder
            .set_override(key.as_str(), items)
            .with_context(|| format!("setting {key}"))?;
    }
    let origin = match &file {
        Some(path) => format!("{environment} settings with {}", path.display()),
        None => format!("{environment} settings"),
    };
    builder
        .build()
        .and_then(config::Config::try_deserialize)
        .with_context(|| format!("loading {origin}"))
}

/// Checks a public URL setting (`key` names it in the error): an absolute `http` or
/// `https` URL with no query or fragment. Returned without a trailing slash, so paths can
/// be appended to it.
pub fn check_public_url(key: &str, value: &str) -> anyhow::Result<String> {
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"))
        .with_context(|| format!("{key} must be an http:// or https:// URL, not {value:?}"))?;
    let host = rest.split('/').next().unwrap_or("");
    if host.is_empty()
        || value.contains(['?', '#'])
        || value.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        anyhow::bail!("{key} must be an absolute URL without query or fragment, not {value:?}");
    }
    Ok(value.trim_end_matches('/').to_owned())
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
        #[serde(default)]
        tags: Vec<String>,
    }

    const SOURCES: Sources = Sources {
        base: "name = \"base\"\n[application]\nhost = \"127.0.0.1\"\nport = 1",
        local: "[application]\nport = 2",
        production: "name = \"prod\"\n[application]\nhost = \"0.0.0.0\"",
        env_prefix: "DEMO",
        secret_keys: &["name"],
        list_keys: &["tags"],
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
    fn a_settings_file_sits_between_the_overlay_and_the_environment() {
        let dir = std::env::temp_dir().join(format!("settings-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("demo.toml");
        std::fs::write(
            &file,
            "name = \"file\"\ntags = [\"a\"]\n[application]\nport = 3\n",
        )
        .unwrap();
        let path = file.to_str().unwrap();

        let from_variable: Demo =
            load(&SOURCES, Environment::Local, vars(&[("DEMO_CONFIG", path)])).unwrap();
        assert_eq!(from_variable.name, "file");
        assert_eq!(
            from_variable.application.port, 3,
            "the file wins over the overlay"
        );
        assert_eq!(from_variable.tags, ["a"]);

        let with_env: Demo = load_layered(
            &SOURCES,
            Environment::Local,
            Some(&file),
            vars(&[("DEMO__APPLICATION__PORT", "4"), ("DEMO__TAGS", "x, y")]),
        )
        .unwrap();
        assert_eq!(
            with_env.application.port, 4,
            "the environment wins over the file"
        );
        assert_eq!(with_env.tags, ["x", "y"], "a list key is split on commas");
        assert_eq!(with_env.name, "file");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_missing_or_broken_settings_file_is_named() {
        let dir = std::env::temp_dir().join(format!("settings-broken-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let broken = dir.join("broken.toml");
        std::fs::write(&broken, "[application\nport = ").unwrap();
        let missing = dir.join("missing.toml");
        for (path, why) in [(&missing, "missing"), (&broken, "not TOML")] {
            let err = load_layered::<Demo>(&SOURCES, Environment::Local, Some(path), vars(&[]))
                .unwrap_err();
            let text = format!("{err:#}");
            assert!(text.contains(path.to_str().unwrap()), "{why}: {text}");
        }
        std::fs::remove_dir_all(dir).unwrap();
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
    fn public_urls_are_absolute_and_lose_their_trailing_slash() {
        let ok = check_public_url("public_url", "https://api.example.com/").unwrap();
        assert_eq!(ok, "https://api.example.com");
        let bad = [
            "auth-service",
            "ftp://x",
            "https://",
            "http://a/?q",
            "http://a b",
            "",
        ];
        for value in bad {
            let err = check_public_url("public_url", value).unwrap_err();
            assert!(format!("{err}").contains("public_url"), "{value:?}: {err}");
        }
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
