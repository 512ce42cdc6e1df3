//! Traces to an OpenTelemetry collector (OTLP over HTTP, JSON encoding), behind the `otlp`
//! cargo feature and the `telemetry.otlp_endpoint` setting, both off by default.
//!
//! One span per request and service: the request's hop of its W3C trace (the trace id it
//! was given or started, its own span id, the caller's span as parent), named by method and
//! path (never the query string), with its status. The request path only hands a finished
//! span to a bounded queue and never waits: when the queue is full the span is dropped and
//! counted. A thread of its own sends batches (at most [`BATCH`] spans, at least once a
//! second while there are any) with a plain HTTP/1.1 POST, and sends what is left when the
//! [`Exporter`] is dropped (at shutdown).
//!
//! Which traces are exported: those whose caller set the sampled flag, and a share of the
//! rest (`telemetry.otlp_sample_ratio`) chosen by the trace id, so every service of one
//! trace makes the same choice.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use serde_json::{Value, json};

use crate::trace::TraceContext;

/// Spans waiting for the sender thread.
pub const QUEUE: usize = 8192;
/// Spans per request to the collector.
pub const BATCH: usize = 512;
/// Longest a span waits for its batch.
const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// Deadline of one request to the collector, and of the last flush at shutdown.
const SEND_TIMEOUT: Duration = Duration::from_secs(2);

/// A finished request, as one span.
#[derive(Debug, Clone)]
pub struct Span {
    /// Its trace and place in it.
    pub trace: TraceContext,
    /// Method and path.
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The answer's status.
    pub status: u16,
    /// When it started and ended.
    pub start: SystemTime,
    /// When it ended.
    pub end: SystemTime,
}

enum Message {
    Span(Box<Span>),
    Flush(SyncSender<()>),
}

struct Installed {
    queue: SyncSender<Message>,
    /// Traces exported when not sampled by the caller: those whose id's low 64 bits fall
    /// under this.
    threshold: u64,
}

static INSTALLED: OnceLock<Installed> = OnceLock::new();
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// The collector's address, from an `http://host:port/path` URL.
#[derive(Debug, Clone)]
struct Endpoint {
    host: String,
    authority: String,
    path: String,
}

fn endpoint(url: &str) -> anyhow::Result<Endpoint> {
    let rest = url
        .strip_prefix("http://")
        .context("telemetry.otlp_endpoint must be an http:// URL (a collector nearby)")?;
    let (authority, path) = rest.split_once('/').unwrap_or((rest, "v1/traces"));
    if authority.is_empty() {
        anyhow::bail!("telemetry.otlp_endpoint names no host");
    }
    let host = if authority.contains(':') {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    Ok(Endpoint {
        host,
        authority: authority.to_owned(),
        path: format!("/{path}"),
    })
}

/// Hands `span` to the exporter, if one is installed and the trace is exported; never
/// waits.
pub fn record(span: Span) {
    let Some(installed) = INSTALLED.get() else {
        return;
    };
    if !span.trace.sampled() && span.trace.trace_id_low() >= installed.threshold {
        return;
    }
    if let Err(TrySendError::Full(_)) = installed.queue.try_send(Message::Span(Box::new(span))) {
        DROPPED.fetch_add(1, Ordering::Relaxed);
    }
}

/// The exporter of the process; dropping it sends what is queued (for at most 2 s).
#[derive(Debug)]
#[must_use = "dropping the exporter stops it"]
pub struct Exporter {
    flush: Option<SyncSender<Message>>,
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let Some(queue) = &self.flush else { return };
        let (done, flushed) = sync_channel(1);
        if queue.send(Message::Flush(done)).is_ok() {
            let _ = flushed.recv_timeout(SEND_TIMEOUT * 2);
        }
    }
}

/// Starts exporting spans of `service` to `url` (`http://host:port/v1/traces`), a share
/// `sample_ratio` (0 to 1) of the traces no caller sampled. A second call exports nothing
/// more (the first exporter stays).
pub fn install(url: &str, service: &str, sample_ratio: f64) -> anyhow::Result<Exporter> {
    let endpoint = endpoint(url)?;
    if !(0.0..=1.0).contains(&sample_ratio) {
        anyhow::bail!("telemetry.otlp_sample_ratio must be between 0 and 1");
    }
    let threshold = if sample_ratio >= 1.0 {
        u64::MAX
    } else {
        (sample_ratio * u64::MAX as f64) as u64
    };
    let (queue, spans) = sync_channel(QUEUE);
    if INSTALLED
        .set(Installed {
            queue: queue.clone(),
            threshold,
        })
        .is_err()
    {
        return Ok(Exporter { flush: None });
    }
    let service = service.to_owned();
    std::thread::Builder::new()
        .name("otlp-exporter".into())
        .spawn(move || send_loop(&endpoint, &service, &spans))
        .context("starting the OTLP exporter")?;
    Ok(Exporter { flush: Some(queue) })
}

fn send_loop(endpoint: &Endpoint, service: &str, spans: &Receiver<Message>) {
    let mut batch: Vec<Span> = Vec::with_capacity(BATCH);
    let mut reported_drops = 0;
    loop {
        let flushed = match spans.recv_timeout(FLUSH_EVERY) {
            Ok(Message::Span(span)) => {
                batch.push(*span);
                if batch.len() < BATCH {
                    continue;
                }
                None
            }
            Ok(Message::Flush(done)) => Some(done),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        if !batch.is_empty() {
            let body = encode(service, &batch).to_string();
            if let Err(e) = post(endpoint, body.as_bytes()) {
                tracing::warn!(error = %format!("{e:#}"), spans = batch.len(), "sending spans to the collector failed");
            }
            batch.clear();
        }
        let dropped = DROPPED.load(Ordering::Relaxed);
        if dropped > reported_drops {
            tracing::warn!(
                dropped = dropped - reported_drops,
                "spans dropped: the exporter's queue was full"
            );
            reported_drops = dropped;
        }
        if let Some(done) = flushed {
            let _ = done.send(());
        }
    }
}

fn unix_nanos(time: SystemTime) -> String {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
        .to_string()
}

fn attribute(key: &str, value: Value) -> Value {
    json!({"key": key, "value": value})
}

/// The OTLP/JSON request body for `spans` of `service`.
pub fn encode(service: &str, spans: &[Span]) -> Value {
    let spans: Vec<Value> = spans
        .iter()
        .map(|span| {
            let mut encoded = json!({
                "traceId": span.trace.trace_id().as_str(),
                "spanId": span.trace.span_id().as_str(),
                "name": format!("{} {}", span.method, span.path),
                // SPAN_KIND_SERVER.
                "kind": 2,
                "startTimeUnixNano": unix_nanos(span.start),
                "endTimeUnixNano": unix_nanos(span.end),
                "attributes": [
                    attribute("http.request.method", json!({"stringValue": span.method})),
                    attribute("url.path", json!({"stringValue": span.path})),
                    attribute("http.response.status_code", json!({"intValue": span.status.to_string()})),
                ],
                // STATUS_CODE_ERROR for server errors, otherwise unset.
                "status": {"code": if span.status >= 500 { 2 } else { 0 }},
            });
            if let Some(parent) = span.trace.parent_id() {
                encoded["parentSpanId"] = json!(parent.as_str());
            }
            encoded
        })
        .collect();
    json!({
        "resourceSpans": [{
            "resource": {"attributes": [attribute("service.name", json!({"stringValue": service}))]},
            "scopeSpans": [{"scope": {"name": "jwt-platform"}, "spans": spans}],
        }]
    })
}

/// One POST of `body` to the collector; an answer other than 2xx is an error.
fn post(endpoint: &Endpoint, body: &[u8]) -> anyhow::Result<()> {
    let address = endpoint
        .host
        .to_socket_addrs()
        .context("resolving the collector")?
        .next()
        .context("the collector's name resolves to nothing")?;
    let mut stream = TcpStream::connect_timeout(&address, SEND_TIMEOUT).context("connecting")?;
    stream.set_read_timeout(Some(SEND_TIMEOUT))?;
    stream.set_write_timeout(Some(SEND_TIMEOUT))?;
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        endpoint.path,
        endpoint.authority,
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut status = [0u8; 12];
    stream
        .read_exact(&mut status)
        .context("reading the answer")?;
    match &status[9..10] {
        b"2" => Ok(()),
        _ => anyhow::bail!(
            "the collector answered {}",
            String::from_utf8_lossy(&status[9..12])
        ),
    }
}

#[cfg(test)]
mod tests;
