//! Logging setup: `tracing` events to stdout, filtered by `RUST_LOG` (default `info`),
//! human-readable or JSON lines.
//!
//! Lines are formatted on the thread that logs them and handed to one writer thread over a
//! bounded channel; the writer batches them in a buffer and writes it whenever the channel
//! runs dry or the buffer fills, so under load one `write` carries many lines and a request
//! never waits on the system call. Nothing is dropped: when the channel is full the logging
//! thread waits. The [`LogWriter`] that [`init`] returns flushes what is left when dropped,
//! so `main` keeps it until the server has stopped (SIGTERM included).

use std::io::{BufWriter, IsTerminal};

use serde::Deserialize;
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

/// Bytes of log lines gathered before one write to stdout.
pub const WRITE_BUFFER_BYTES: usize = 32 * 1024;

/// Lines waiting for the writer thread before a logging thread has to wait for it. The
/// channel allocates every slot up front (about 32 bytes each), so this is also memory
/// every service holds from start-up.
pub const QUEUED_LINES: usize = 8 * 1024;

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

/// The log writer thread of the process. Dropping it writes out every line logged so far
/// and stops the thread; lines logged after that are lost.
#[derive(Debug)]
#[must_use = "dropping the writer stops logging; keep it until the server has stopped"]
pub struct LogWriter {
    _guard: Option<WorkerGuard>,
}

/// Installs the global subscriber writing through a [`LogWriter`]. Calling it again is
/// harmless: the first subscriber stays, and the returned writer has nothing to flush.
pub fn init(format: LogFormat) -> LogWriter {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only for a person at a terminal; files and log shippers get plain text.
    let ansi = std::io::stdout().is_terminal();
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(QUEUED_LINES)
        .thread_name("log-writer")
        .finish(BufWriter::with_capacity(
            WRITE_BUFFER_BYTES,
            std::io::stdout(),
        ));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(writer);
    let installed = match format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
    };
    // An error only means a subscriber is already installed (tests start several servers).
    LogWriter {
        _guard: installed.is_ok().then_some(guard),
    }
}
