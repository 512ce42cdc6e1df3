//! The request a log line belongs to, and its access line.
//!
//! A request's id, trace and path are kept in a thread-local slot while its future is
//! polled ([`in_request`]), instead of in a `tracing` span: every line logged on its behalf
//! still carries them (under `span`, named `request`, as a span's fields would be), but a
//! request that logs nothing but its access line costs no span, no span registry entry and
//! no fields formatted ahead of time.
//!
//! The access line itself ([`completed`]), when lines are JSON, is the same object a
//! `tracing` event would make, built straight into a batch the thread keeps, with the
//! timestamp's date and time of day formatted once per second. A batch goes to the log
//! writer when it holds [`BATCH_BYTES`], at least every [`BATCH_WAIT`], and when the
//! [`super::LogWriter`] is dropped at exit, as nginx's `access_log ... buffer= flush=`. With human-readable lines, or before [`super::init`] has run, it is an ordinary
//! `tracing` event. Either way it is written only when the filter lets `info` through for
//! the target `service_kit::middleware`, so `RUST_LOG=info,service_kit::middleware=warn`
//! turns the access log off and leaves the rest.

use std::cell::{OnceCell, RefCell};
use std::fmt::{self, Write as _};
use std::future::Future;
use std::io::Write as _;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::http::{Method, Uri};
use tracing_appender::non_blocking::NonBlocking;

use super::json::write_string;
use crate::trace::TraceContext;

/// What is known of a request when it arrives, for its log lines.
#[derive(Debug)]
pub struct RequestFields {
    /// The request id (`x-request-id`).
    pub id: String,
    /// Its hop of the W3C trace.
    pub trace: TraceContext,
    /// Its method.
    pub method: Method,
    /// Its target; only the path is logged (a query string may carry credentials).
    pub uri: Uri,
}

impl RequestFields {
    /// The fields as a JSON fragment: `"name":value,` for each, then `"name":"request"`.
    pub(crate) fn write_json(&self, out: &mut impl fmt::Write) -> fmt::Result {
        out.write_str("\"request_id\":")?;
        write_string(out, &self.id)?;
        out.write_str(",\"trace_id\":\"")?;
        out.write_str(self.trace.trace_id().as_str())?;
        out.write_str("\",\"span_id\":\"")?;
        out.write_str(self.trace.span_id().as_str())?;
        out.write_str("\",\"method\":")?;
        write_string(out, self.method.as_str())?;
        out.write_str(",\"path\":")?;
        write_string(out, self.uri.path())?;
        out.write_str(",\"name\":\"request\"")
    }

    /// The fields as a human-readable prefix: `request{request_id=… path=…}: `.
    pub(crate) fn write_text(&self, out: &mut impl fmt::Write) -> fmt::Result {
        write!(
            out,
            "request{{request_id={} trace_id={} span_id={} method={} path={}}}: ",
            self.id,
            self.trace.trace_id(),
            self.trace.span_id(),
            self.method,
            self.uri.path().escape_debug(),
        )
    }

    /// Runs `f` with these fields as the current request's, for a line logged outside the
    /// request's future (after it has finished); gives them back.
    pub fn scope<R>(self: Box<Self>, f: impl FnOnce() -> R) -> (R, Box<Self>) {
        let mut slot = Some(self);
        let result = Current::enter(&mut slot, f);
        match slot {
            Some(fields) => (result, fields),
            None => unreachable!("the fields return to their slot when the call ends"),
        }
    }
}

thread_local! {
    /// The request being polled on this thread, if any.
    static CURRENT: RefCell<Option<Box<RequestFields>>> = const { RefCell::new(None) };
}

/// The slot's handling: the fields move in for the duration of a call and back out after,
/// also when the call unwinds.
struct Current<'a> {
    owner: &'a mut Option<Box<RequestFields>>,
    previous: Option<Box<RequestFields>>,
}

impl Current<'_> {
    fn enter<R>(owner: &mut Option<Box<RequestFields>>, f: impl FnOnce() -> R) -> R {
        let previous = CURRENT.with(|slot| slot.replace(owner.take()));
        let _restore = Current { owner, previous };
        f()
    }
}

impl Drop for Current<'_> {
    fn drop(&mut self) {
        *self.owner = CURRENT.with(|slot| slot.replace(self.previous.take()));
    }
}

/// Calls `f` with the fields of the request being served on this thread, if any.
pub(crate) fn with_current<R>(f: impl FnOnce(Option<&RequestFields>) -> R) -> R {
    CURRENT.with(|slot| match slot.try_borrow() {
        Ok(current) => f(current.as_deref()),
        // Only a line logged while the slot is being swapped, which does not happen.
        Err(_) => f(None),
    })
}

pin_project_lite::pin_project! {
    /// A request's future with its fields current whenever it is polled; see [`in_request`].
    #[derive(Debug)]
    #[must_use = "futures do nothing unless polled"]
    pub struct InRequest<F> {
        fields: Option<Box<RequestFields>>,
        #[pin]
        inner: F,
    }
}

/// Runs `inner` with `fields` as the current request's: lines logged while it is polled
/// carry them. Gives the fields back beside the output, for the access line.
pub fn in_request<F: Future>(fields: Box<RequestFields>, inner: F) -> InRequest<F> {
    InRequest {
        fields: Some(fields),
        inner,
    }
}

impl<F: Future> Future for InRequest<F> {
    type Output = (F::Output, Box<RequestFields>);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let inner = this.inner;
        let output = std::task::ready!(Current::enter(this.fields, || inner.poll(cx)));
        match this.fields.take() {
            Some(fields) => Poll::Ready((output, fields)),
            // The fields are only ever out of the future during its poll.
            None => unreachable!("request fields polled after completion"),
        }
    }
}

/// Bytes of access lines a thread gathers before handing them to the log writer at once.
pub const BATCH_BYTES: usize = 16 * 1024;

/// Longest an access line waits in its thread's batch before it is handed over.
pub const BATCH_WAIT: Duration = Duration::from_secs(1);

/// Where JSON access lines go, once [`super::init`] has set up JSON lines.
static ACCESS: OnceLock<AccessLog> = OnceLock::new();

/// JSON access lines, gathered per thread and handed to the log writer a batch at a time:
/// one channel message and one `write` for dozens of lines, where a message per line cost
/// a wake-up of the writer thread and a system call for each request.
#[derive(Debug)]
pub(crate) struct AccessLog {
    writer: NonBlocking,
    /// Every thread's batch, for the timed and the final hand-over.
    batches: Mutex<Vec<Arc<Mutex<String>>>>,
}

thread_local! {
    /// This thread's batch of access lines, once it has logged one.
    static BATCH: OnceCell<Arc<Mutex<String>>> = const { OnceCell::new() };
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl AccessLog {
    pub(crate) fn new(writer: NonBlocking) -> Self {
        Self {
            writer,
            batches: Mutex::new(Vec::new()),
        }
    }

    /// A new batch, for a thread's first line.
    fn batch(&self) -> Arc<Mutex<String>> {
        let batch = Arc::new(Mutex::new(String::with_capacity(BATCH_BYTES + 1024)));
        lock(&self.batches).push(Arc::clone(&batch));
        batch
    }

    /// Adds the line `write` makes to `batch`, handing the batch over once it is full.
    fn append(&self, batch: &Mutex<String>, write: impl FnOnce(&mut String) -> fmt::Result) {
        let mut lines = lock(batch);
        let before = lines.len();
        if write(&mut lines).is_err() {
            lines.truncate(before);
        } else if lines.len() >= BATCH_BYTES {
            self.hand_over(&mut lines);
        }
    }

    fn hand_over(&self, lines: &mut String) {
        // Only fails once the writer thread has stopped, at exit.
        let _ = self.writer.clone().write_all(lines.as_bytes());
        lines.clear();
    }

    /// Hands every thread's waiting lines to the writer.
    pub(crate) fn flush(&self) {
        let batches = lock(&self.batches).clone();
        for batch in batches {
            let mut lines = lock(&batch);
            if !lines.is_empty() {
                self.hand_over(&mut lines);
            }
        }
    }
}

/// Sends JSON access lines to `writer`, every [`BATCH_WAIT`] at the latest.
pub(super) fn write_access_lines_to(writer: NonBlocking) {
    if ACCESS.set(AccessLog::new(writer)).is_ok() {
        let flushing = std::thread::Builder::new()
            .name("access-log".into())
            .spawn(|| {
                loop {
                    std::thread::sleep(BATCH_WAIT);
                    flush_access_lines();
                }
            });
        if let Err(error) = flushing {
            // Without the timer, lines still go out as batches fill and at exit.
            tracing::warn!(%error, "access log: no thread to hand over batches every second");
        }
    }
}

/// Hands every thread's waiting access lines to the log writer (the timer's and the
/// [`super::LogWriter`]'s last act).
pub(super) fn flush_access_lines() {
    if let Some(access) = ACCESS.get() {
        access.flush();
    }
}

/// Logs the access line of a request answered with `status` after `latency`.
pub fn completed(fields: Box<RequestFields>, status: u16, latency: Duration) {
    if !tracing::enabled!(target: "service_kit::middleware", tracing::Level::INFO) {
        return;
    }
    let Some(access) = ACCESS.get() else {
        let latency_ms = latency.as_secs_f64() * 1000.0;
        fields.scope(|| {
            tracing::info!(
                target: "service_kit::middleware",
                status,
                latency_ms,
                "request completed"
            )
        });
        return;
    };
    BATCH.with(|batch| {
        let batch = batch.get_or_init(|| access.batch());
        access.append(batch, |out| access_line(out, &fields, status, latency));
    });
}

/// The access line as JSON, as [`super::json::JsonLines`] writes an event.
fn access_line(
    out: &mut String,
    fields: &RequestFields,
    status: u16,
    latency: Duration,
) -> fmt::Result {
    out.push_str("{\"timestamp\":\"");
    write_timestamp(out, SystemTime::now())?;
    out.push_str("\",\"level\":\"INFO\",\"message\":\"request completed\",\"status\":");
    out.push_str(itoa::Buffer::new().format(status));
    // Milliseconds with microsecond digits, written as integers (no float formatting).
    let micros = latency.as_micros();
    out.push_str(",\"latency_ms\":");
    out.push_str(itoa::Buffer::new().format(micros / 1000));
    let fraction = (micros % 1000) as u16;
    out.push('.');
    push_digits(out, u32::from(fraction), 3)?;
    out.push_str(",\"target\":\"service_kit::middleware\",\"span\":{");
    fields.write_json(out)?;
    out.push_str("}}\n");
    Ok(())
}

/// `value` as exactly `width` decimal digits, zero-padded.
fn push_digits(out: &mut impl fmt::Write, value: u32, width: u32) -> fmt::Result {
    for place in (0..width).rev() {
        let digit = (value / 10u32.pow(place)) % 10;
        out.write_char(char::from(b'0' + digit as u8))?;
    }
    Ok(())
}

thread_local! {
    /// The last second a timestamp was written for, and its `YYYY-MM-DDTHH:MM:SS`.
    static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

/// `at` in RFC 3339, UTC, with microseconds (`2026-12-04T23:59:01.123456Z`), as
/// `tracing-subscriber` writes timestamps.
pub(crate) fn write_timestamp(out: &mut impl fmt::Write, at: SystemTime) -> fmt::Result {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since.as_secs();
    SECOND.with(|cached| {
        let Ok(mut cached) = cached.try_borrow_mut() else {
            return Err(fmt::Error);
        };
        if cached.0 != seconds {
            cached.1.clear();
            let (year, month, day) = civil_date(seconds / 86_400);
            let time = seconds % 86_400;
            let _ = write!(
                cached.1,
                "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
                time / 3600,
                time % 3600 / 60,
                time % 60
            );
            cached.0 = seconds;
        }
        out.write_str(&cached.1)
    })?;
    out.write_char('.')?;
    push_digits(out, since.subsec_micros(), 6)?;
    out.write_char('Z')
}

/// The proleptic Gregorian date of the day `days` after 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, for days on or after the epoch).
fn civil_date(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests;
