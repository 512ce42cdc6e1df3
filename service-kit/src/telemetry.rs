//! Logging setup: `tracing` events to stdout, filtered by `RUST_LOG` (default `info`),
//! human-readable or JSON lines.

use std::io::IsTerminal;

use serde::Deserialize;
use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One human-readable line per event (development).
    #[default]
    Pretty,
    /// One JSON object per line (production, log shippers).
    Json,
}

/// Telemetry settings of a service.
#[derive(Debug, Clone, Deserialize)]
pub struct TelemetrySettings {
    /// Line format of the logs.
    #[serde(default)]
    pub format: LogFormat,
}

/// Installs the global subscriber. Calling it twice is harmless (tests do).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only for a person at a terminal; files and log shippers get plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stdout().is_terminal());
    // An error only means a subscriber is already installed.
    let _ = match format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
    };
}
