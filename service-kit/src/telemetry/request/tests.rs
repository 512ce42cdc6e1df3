#![allow(clippy::unwrap_used)]

use std::time::{Duration, UNIX_EPOCH};

use serde_json::Value;

use super::*;

fn fields(path: &str) -> Box<RequestFields> {
    Box::new(RequestFields {
        id: "r-1".into(),
        trace: TraceContext::continue_or_start(None),
        method: Method::PATCH,
        uri: path.parse().unwrap(),
    })
}

#[test]
fn timestamps_are_rfc3339_utc_with_microseconds_across_leap_days_and_centuries() {
    for (seconds, micros, expected) in [
        (0, 0, "1970-01-01T00:00:00.000000Z"),
        (951_786_061, 7, "2000-02-29T01:01:01.000007Z"),
        (1_709_164_800, 999_999, "2024-02-29T00:00:00.999999Z"),
        (1_796_428_799, 120_000, "2026-12-04T23:59:59.120000Z"),
        (4_102_531_199, 1, "2100-01-01T23:59:59.000001Z"),
    ] {
        let at = UNIX_EPOCH + Duration::from_secs(seconds) + Duration::from_micros(micros);
        // Twice: once formatting the second, once from the thread's cached copy.
        for _ in 0..2 {
            let mut out = String::new();
            write_timestamp(&mut out, at).unwrap();
            assert_eq!(out, expected);
        }
    }
}

#[test]
fn the_access_line_is_one_json_object_with_the_request_s_fields_under_span() {
    let request = fields("/a%20b/\"quoted\"/caf%C3%A9?token=secret");
    let mut line = String::new();
    access_line(&mut line, &request, 404, Duration::from_micros(12_345)).unwrap();
    assert!(
        line.ends_with("}\n") && line.matches('\n').count() == 1,
        "{line}"
    );
    assert!(
        !line.contains("secret"),
        "the query string is not logged: {line}"
    );
    let parsed: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(parsed["level"], "INFO");
    assert_eq!(parsed["message"], "request completed");
    assert_eq!(parsed["status"], 404);
    assert_eq!(parsed["latency_ms"], 12.345);
    assert_eq!(parsed["target"], "service_kit::middleware");
    let span = &parsed["span"];
    assert_eq!(span["name"], "request");
    assert_eq!(span["request_id"], "r-1");
    assert_eq!(span["method"], "PATCH");
    assert_eq!(span["path"], "/a%20b/\"quoted\"/caf%C3%A9");
    assert_eq!(span["trace_id"], request.trace.trace_id().as_str());
    assert_eq!(span["span_id"].as_str().unwrap().len(), 16);
    assert!(parsed["timestamp"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn latencies_under_a_millisecond_keep_their_leading_zeros() {
    let mut line = String::new();
    access_line(&mut line, &fields("/"), 200, Duration::from_micros(42)).unwrap();
    assert!(line.contains(r#""latency_ms":0.042,"#), "{line}");
}

/// Pending on its first poll, ready on the second.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

fn current_id() -> Option<String> {
    with_current(|fields| fields.map(|f| f.id.clone()))
}

#[test]
fn the_fields_are_current_only_while_the_request_s_future_is_polled() {
    let future = in_request(fields("/x"), async {
        let before = current_id();
        YieldOnce(false).await;
        (before, current_id())
    });
    let mut future = std::pin::pin!(future);
    let waker = futures_util::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    assert!(future.as_mut().poll(&mut cx).is_pending());
    assert_eq!(current_id(), None, "not current between polls");
    let Poll::Ready(((before, after), fields)) = future.as_mut().poll(&mut cx) else {
        panic!("the future should be done");
    };
    assert_eq!(before.as_deref(), Some("r-1"));
    assert_eq!(after.as_deref(), Some("r-1"));
    assert_eq!(fields.id, "r-1", "the fields come back with the output");
    assert_eq!(current_id(), None);

    let (inside, fields) = fields.scope(current_id);
    assert_eq!(inside.as_deref(), Some("r-1"));
    assert_eq!(fields.uri.path(), "/x");
    assert_eq!(current_id(), None);
}

#[test]
fn requests_polled_inside_one_another_each_see_their_own_fields() {
    let mut inner = fields("/inner");
    inner.id = "r-2".into();
    let outer = in_request(fields("/outer"), async move {
        let (seen, _) = in_request(inner, async { current_id() }).await;
        (seen, current_id())
    });
    let ((inner_saw, outer_saw), _) = futures_util::FutureExt::now_or_never(outer).unwrap();
    assert_eq!(inner_saw.as_deref(), Some("r-2"));
    assert_eq!(outer_saw.as_deref(), Some("r-1"));
    assert_eq!(current_id(), None);
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        lock(&self.0).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn access_lines_wait_in_their_thread_s_batch_until_it_fills_or_is_flushed() {
    let captured = Captured::default();
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .finish(captured.clone());
    let access = AccessLog::new(writer);
    let batch = access.batch();
    let request = fields("/batched");
    let line = |out: &mut String| access_line(out, &request, 200, Duration::from_micros(5));
    let mut one = String::new();
    line(&mut one).unwrap();
    let per_batch = BATCH_BYTES.div_ceil(one.len());

    for _ in 0..per_batch - 1 {
        access.append(&batch, line);
    }
    assert_eq!(
        lock(&batch).len(),
        (per_batch - 1) * one.len(),
        "all still batched"
    );
    access.append(&batch, line);
    assert!(
        lock(&batch).is_empty(),
        "a full batch is handed over at once"
    );
    // A line that fails to format leaves nothing half-written behind.
    access.append(&batch, |out| {
        out.push_str("{\"half");
        Err(fmt::Error)
    });
    assert!(lock(&batch).is_empty());
    access.append(&batch, line);
    access.append(&access.batch(), line);
    access.flush();
    assert!(lock(&batch).is_empty(), "flushed");

    drop(guard);
    let text = String::from_utf8(lock(&captured.0).clone()).unwrap();
    assert_eq!(text.lines().count(), per_batch + 2);
    for written in text.lines() {
        let parsed: Value = serde_json::from_str(written).unwrap();
        assert_eq!(parsed["span"]["path"], "/batched");
    }
}
