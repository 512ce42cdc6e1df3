//! Logging setup: `tracing` events to stdout, filtered by `RUST_LOG` (default `info`),
//! human-readable or JSON lines.
//!
//! Lines are formatted on the thread that logs them and handed to one writer thread over a
//! bounded channel; the writer batches them in a buffer and writes it whenever the channel
//! runs dry or the buffer fills, so under load one `write` carries many lines and a request
//! never waits on the system call. Nothing is dropped: when the channel is full the logging
//! thread waits. The [`LogWriter`] that [`init`] returns flushes what is left when dropped,
//! so `main` keeps it until the server has stopped (SIGTERM included).
//!
//! A request's own fields and its access line are kept apart from `tracing`'s spans, for
//! speed, and access lines reach the writer thread in batches per thread, at least once a
//! second and when the [`LogWriter`] is dropped: see [`request`](self::request)
//! (`RequestFields`, `in_request`, `completed`).

mod json;
mod request;

use std::io::{BufWriter, IsTerminal};

use serde::Deserialize;
use tracing::{Event, Subscriber};
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

pub use request::{InRequest, RequestFields, completed, in_request};

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
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TelemetrySettings {
    /// Line format of the logs.
    #[serde(default)]
    pub format: LogFormat,
    /// Where spans go (OTLP over HTTP, `http://collector:4318/v1/traces`); empty: nowhere.
    /// Needs a build with the `otlp` feature.
    #[serde(default)]
    pub otlp_endpoint: String,
    /// Share of the traces no caller marked sampled that are exported (0 to 1).
    #[serde(default = "all")]
    pub otlp_sample_ratio: f64,
}

fn all() -> f64 {
    1.0
}

/// The log writer thread of the process (and the span exporter, where there is one).
/// Dropping it sends the spans still queued, writes out every line logged so far and stops
/// the thread; lines logged after that are lost.
#[derive(Debug)]
#[must_use = "dropping the writer stops logging; keep it until the server has stopped"]
pub struct LogWriter {
    #[cfg(feature = "otlp")]
    _spans: Option<crate::otlp::Exporter>,
    /// Dropped before the guard: hands the access lines still batched to the writer.
    _access: AccessLines,
    _guard: Option<WorkerGuard>,
}

/// Hands the batched access lines over when dropped.
#[derive(Debug)]
struct AccessLines;

impl Drop for AccessLines {
    fn drop(&mut self) {
        request::flush_access_lines();
    }
}

/// [`init`] with every telemetry setting: the log format, and the span exporter when
/// `otlp_endpoint` is set (an error in a build without the `otlp` feature, rather than
/// silently exporting nothing). `service` names the spans' source.
pub fn init_with(settings: &TelemetrySettings, service: &str) -> anyhow::Result<LogWriter> {
    #[cfg(not(feature = "otlp"))]
    if !settings.otlp_endpoint.is_empty() {
        let _ = service;
        anyhow::bail!(
            "telemetry.otlp_endpoint is set, but this build has no OTLP exporter (build with \
             --features otlp)"
        );
    }
    #[cfg(feature = "otlp")]
    let spans = if settings.otlp_endpoint.is_empty() {
        None
    } else {
        Some(crate::otlp::install(
            &settings.otlp_endpoint,
            service,
            settings.otlp_sample_ratio,
        )?)
    };
    let writer = init(settings.format);
    #[cfg(feature = "otlp")]
    let writer = LogWriter {
        _spans: spans,
        ..writer
    };
    Ok(writer)
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
        .with_writer(writer.clone());
    let installed = match format {
        LogFormat::Pretty => builder
            .event_format(TextLines(
                tracing_subscriber::fmt::format()
                    .without_time()
                    .with_level(false),
            ))
            .try_init(),
        LogFormat::Json => builder
            .event_format(json::JsonLines)
            .fmt_fields(json::JsonFields)
            .try_init(),
    };
    if installed.is_ok() && format == LogFormat::Json {
        request::write_access_lines_to(writer);
    }
    // An error only means a subscriber is already installed (tests start several servers).
    LogWriter {
        #[cfg(feature = "otlp")]
        _spans: None,
        _access: AccessLines,
        _guard: installed.is_ok().then_some(guard),
    }
}

/// Human-readable lines: timestamp and level, then the request's fields when the line is
/// logged for a request outside any span, then what `tracing-subscriber` writes (spans,
/// target, fields).
#[derive(Debug)]
struct TextLines<F>(F);

impl<S, N, F> FormatEvent<S, N> for TextLines<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        request::write_timestamp(&mut writer, std::time::SystemTime::now())?;
        write!(writer, " {:>5} ", event.metadata().level())?;
        if ctx.lookup_current().is_none() {
            request::with_current(|fields| match fields {
                Some(fields) => fields.write_text(&mut writer),
                None => Ok(()),
            })?;
        }
        self.0.format_event(ctx, writer, event)
    }
}

#[cfg(all(test, not(feature = "otlp")))]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn an_otlp_endpoint_without_the_exporter_built_in_is_refused() {
        let settings = TelemetrySettings {
            otlp_endpoint: "http://collector:4318/v1/traces".into(),
            ..TelemetrySettings::default()
        };
        let refused = init_with(&settings, "gateway").unwrap_err().to_string();
        assert!(refused.contains("--features otlp"), "{refused}");
    }
}
