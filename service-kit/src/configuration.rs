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

/// Builds settings of type `T` from every layer; `file` (from `--config`) wins over the
/// `<PREFIX>_CONFIG` variable.
pub fn load<T: DeserializeOwned>(
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
    /// Time a client has to send a request's headers, from its first byte (from the
    /// connection's opening for the first request) to the blank line ending them; for every
    /// request of a connection. Past it the connection is closed.
    #[serde(default = "defaults::header_timeout_ms")]
    pub header_timeout_ms: u64,
    /// Longest gap allowed between two chunks of a request body; past it the request gets
    /// 408 and the connection is closed.
    #[serde(default = "defaults::body_idle_timeout_ms")]
    pub body_idle_timeout_ms: u64,
    /// Time a whole request body may take, however steadily it trickles in; past it 408.
    #[serde(default = "defaults::body_timeout_ms")]
    pub body_timeout_ms: u64,
    /// Time an idle keep-alive connection is kept waiting for its next request.
    #[serde(default = "defaults::keep_alive_timeout_ms")]
    pub keep_alive_timeout_ms: u64,
    /// Connections open at once, across all workers; more are answered 503 and closed.
    #[serde(default = "defaults::max_connections")]
    pub max_connections: usize,
    /// Whether a request is still served once its client has closed its sending side. Off:
    /// the connection is dropped with the request's work (a departed client's queued login
    /// is never hashed), as nginx does by default.
    #[serde(default)]
    pub allow_half_closed: bool,
    /// TLS on this listener (`[application.tls]`); absent: plain HTTP.
    #[serde(default)]
    pub tls: Option<TlsSettings>,
}

/// TLS on a listener: a certificate and its key from PEM files, reloaded when they change.
#[derive(Debug, Clone, Deserialize)]
pub struct TlsSettings {
    /// The certificate chain, leaf first (PEM).
    pub certificate_file: PathBuf,
    /// The certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
    /// How often the two files are checked for a change, in seconds (SIGHUP reloads at
    /// once); 0: on SIGHUP only.
    #[serde(default = "defaults::tls_reload_interval_seconds")]
    pub reload_interval_seconds: u64,
    /// Whether HTTP/2 is offered (by ALPN) beside HTTP/1.1.
    #[serde(default = "defaults::http2")]
    pub http2: bool,
}

/// The defaults of [`ApplicationSettings`]' limits, for listeners whose section leaves them
/// out (the gateway's admin listener); the services' `base.toml` files say the same.
pub mod defaults {
    /// 10 s to send headers (nginx's `client_header_timeout`: 60 s).
    pub fn header_timeout_ms() -> u64 {
        10_000
    }
    /// 10 s between body chunks (nginx's `client_body_timeout`: 60 s).
    pub fn body_idle_timeout_ms() -> u64 {
        10_000
    }
    /// 60 s for a whole body.
    pub fn body_timeout_ms() -> u64 {
        60_000
    }
    /// 15 s of keep-alive idleness (nginx's `keepalive_timeout`: 75 s).
    pub fn keep_alive_timeout_ms() -> u64 {
        15_000
    }
    /// 10,000 connections at once.
    pub fn max_connections() -> usize {
        10_000
    }
    /// Certificate files checked for a change every 10 s.
    pub fn tls_reload_interval_seconds() -> u64 {
        10
    }
    /// HTTP/2 offered on TLS.
    pub fn http2() -> bool {
        true
    }
}

#[cfg(test)]
mod tests;
