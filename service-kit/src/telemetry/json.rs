//! JSON lines written straight from the event's and the span's fields: one object per line,
//! the event's fields at the top level beside `timestamp`, `level` and `target`, and the
//! current span's fields (the request's id, trace and path) under `span`, as log shippers
//! expect them. Outside any span, a line logged for a request (see [`super::request`]) has
//! the request's fields there instead, named `request`.
//!
//! `tracing-subscriber`'s own JSON formatter keeps each span's fields as a JSON string,
//! parses it back into a map for every line and serialises it again; with the access log on,
//! that and its per-field maps were a third of the gateway's instructions per request. Here
//! a span's fields are kept as a ready JSON fragment, copied into each line as they are.

use std::fmt::{self, Write};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

use super::request::{with_current, write_timestamp};

/// The line format (see the module).
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonLines;

/// How span fields are kept: `"name":value,` for each, ready to be copied into a line.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonFields;

impl<'writer> FormatFields<'writer> for JsonFields {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        let mut visitor = JsonVisitor {
            out: &mut writer,
            leading_comma: false,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let metadata = event.metadata();
        writer.write_str("{\"timestamp\":\"")?;
        write_timestamp(&mut writer, std::time::SystemTime::now())?;
        write!(writer, "\",\"level\":\"{}\"", metadata.level())?;
        let mut visitor = JsonVisitor {
            out: &mut writer,
            leading_comma: true,
            result: Ok(()),
        };
        event.record(&mut visitor);
        visitor.result?;
        writer.write_str(",\"target\":")?;
        write_string(&mut writer, metadata.target())?;
        if let Some(span) = ctx.lookup_current() {
            writer.write_str(",\"span\":{")?;
            if let Some(fields) = span.extensions().get::<FormattedFields<N>>() {
                writer.write_str(&fields.fields)?;
            }
            writer.write_str("\"name\":")?;
            write_string(&mut writer, span.name())?;
            writer.write_char('}')?;
        } else {
            with_current(|request| match request {
                Some(fields) => {
                    writer.write_str(",\"span\":{")?;
                    fields.write_json(&mut writer)?;
                    writer.write_char('}')
                }
                None => Ok(()),
            })?;
        }
        writer.write_str("}\n")
    }
}

/// Writes each field as `"name":value`, separated by commas: before each field for an
/// event (after `level`), after each for a span's fragment.
struct JsonVisitor<'a, W: Write> {
    out: &'a mut W,
    leading_comma: bool,
    result: fmt::Result,
}

impl<W: Write> JsonVisitor<'_, W> {
    fn field(&mut self, field: &Field, value: impl FnOnce(&mut W) -> fmt::Result) {
        if self.result.is_err() {
            return;
        }
        self.result = (|| {
            if self.leading_comma {
                self.out.write_char(',')?;
            }
            write_string(self.out, field.name())?;
            self.out.write_char(':')?;
            value(self.out)?;
            if !self.leading_comma {
                self.out.write_char(',')?;
            }
            Ok(())
        })();
    }
}

impl<W: Write> Visit for JsonVisitor<'_, W> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.field(field, |out| write_string(out, value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.field(field, |out| write!(out, "{value}"));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.field(field, |out| write!(out, "{value}"));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.field(field, |out| write!(out, "{value}"));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        // JSON has no NaN or infinity: those are written as strings.
        if value.is_finite() {
            self.field(field, |out| write!(out, "{value}"));
        } else {
            self.field(field, |out| write!(out, "\"{value}\""));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // Display fields (`%value`) and messages arrive here too; escaped as they are written.
        self.field(field, |out| {
            out.write_char('"')?;
            write!(Escaped(out), "{value:?}")?;
            out.write_char('"')
        });
    }
}

/// `value` as a JSON string.
pub(super) fn write_string(out: &mut impl Write, value: &str) -> fmt::Result {
    out.write_char('"')?;
    Escaped(&mut *out).write_str(value)?;
    out.write_char('"')
}

/// Escapes what passes through it for the inside of a JSON string.
struct Escaped<'a, W: Write>(&'a mut W);

impl<W: Write> Write for Escaped<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut plain = 0;
        for (i, byte) in s.bytes().enumerate() {
            let escape = match byte {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                b'\n' => "\\n",
                b'\r' => "\\r",
                b'\t' => "\\t",
                0..=0x1f | 0x7f => "",
                _ => continue,
            };
            self.0.write_str(&s[plain..i])?;
            if escape.is_empty() {
                write!(self.0, "\\u{byte:04x}")?;
            } else {
                self.0.write_str(escape)?;
            }
            plain = i + 1;
        }
        self.0.write_str(&s[plain..])
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::{Arc, Mutex};

    use serde_json::{Value, json};
    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Self;
        fn make_writer(&'a self) -> Self {
            self.clone()
        }
    }

    fn lines(emit: impl FnOnce()) -> Vec<Value> {
        let captured = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(captured.clone())
            .event_format(JsonLines)
            .fmt_fields(JsonFields)
            .finish();
        tracing::subscriber::with_default(subscriber, emit);
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    #[test]
    fn an_event_in_a_span_is_one_object_with_the_span_s_fields_under_span() {
        let got = lines(|| {
            let span = tracing::info_span!("request", request_id = %"r-1", path = "/a\"b");
            span.in_scope(|| {
                tracing::info!(status = 200u16, latency_ms = 0.5, "request completed")
            });
        });
        assert_eq!(got.len(), 1);
        let line = &got[0];
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["message"], "request completed");
        assert_eq!(line["status"], 200);
        assert_eq!(line["latency_ms"], 0.5);
        assert_eq!(line["target"], module_path!());
        assert_eq!(
            line["span"],
            json!({ "request_id": "r-1", "path": "/a\"b", "name": "request" })
        );
        let timestamp = line["timestamp"].as_str().unwrap();
        assert!(
            timestamp.ends_with('Z') && timestamp.len() >= 20,
            "{timestamp}"
        );
    }

    #[test]
    fn fields_recorded_later_and_awkward_values_stay_valid_json() {
        let got = lines(|| {
            let span = tracing::info_span!("work", user = tracing::field::Empty);
            span.record("user", "alice");
            span.in_scope(|| {
                tracing::warn!(
                    error = %"line one\nline\ttwo \u{1} \\ \"quoted\" é",
                    ratio = f64::NAN,
                    ok = true,
                    count = -3i64,
                    "it failed"
                );
            });
            tracing::info!("outside any span");
        });
        assert_eq!(got.len(), 2);
        assert_eq!(got[0]["span"]["user"], "alice");
        assert_eq!(got[0]["span"]["name"], "work");
        assert_eq!(got[0]["error"], "line one\nline\ttwo \u{1} \\ \"quoted\" é");
        assert_eq!(got[0]["ratio"], "NaN");
        assert_eq!(got[0]["ok"], true);
        assert_eq!(got[0]["count"], -3);
        assert_eq!(got[0]["level"], "WARN");
        assert!(got[1].get("span").is_none());
        assert_eq!(got[1]["message"], "outside any span");
    }

    #[test]
    fn a_line_logged_for_a_request_outside_any_span_carries_the_request_s_fields() {
        let request = Box::new(crate::telemetry::RequestFields {
            id: "r-9".into(),
            trace: crate::trace::TraceContext::continue_or_start(None),
            method: actix_web::http::Method::GET,
            uri: "/p?q=1".parse().unwrap(),
        });
        let got = lines(|| {
            let (_, request) = request.scope(|| tracing::warn!("upstream slow"));
            tracing::info!("after the request");
            let span = tracing::info_span!("login", username = "alice");
            request.scope(|| span.in_scope(|| tracing::info!("inside a span of its own")));
        });
        assert_eq!(got.len(), 3);
        assert_eq!(got[0]["span"]["name"], "request");
        assert_eq!(got[0]["span"]["request_id"], "r-9");
        assert_eq!(got[0]["span"]["path"], "/p");
        assert_eq!(got[0]["span"]["method"], "GET");
        assert!(got[1].get("span").is_none());
        assert_eq!(got[2]["span"]["name"], "login");
    }
}
