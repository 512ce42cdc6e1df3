//! W3C Trace Context (`traceparent`): the trace a request belongs to, taken from the caller
//! when its header is valid and started here otherwise, so that one trace id ties together
//! a request's log lines across the gateway and the services behind it.
//!
//! `traceparent: 00-<trace id, 32 hex>-<parent id, 16 hex>-<flags, 2 hex>`. Each service is
//! one hop: it keeps the trace id and flags, and names itself with a span id of its own,
//! which becomes the parent id of what it calls.

use actix_web::http::header::HeaderValue;

/// The header's name.
pub const TRACEPARENT: &str = "traceparent";

/// One hop of a trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceContext {
    trace_id: u128,
    span_id: u64,
    /// The caller's span, when the trace was continued.
    parent_id: Option<u64>,
    flags: u8,
}

/// Random ids, never zero (an all-zero id is invalid).
fn nonzero_u128() -> u128 {
    fastrand::u128(1..)
}

fn nonzero_u64() -> u64 {
    fastrand::u64(1..)
}

impl TraceContext {
    /// This hop of the caller's trace when `header` is a valid `traceparent`, else of a new
    /// trace (sampled flag off: nothing here samples).
    pub fn continue_or_start(header: Option<&HeaderValue>) -> Self {
        let parent = header.and_then(|h| parse(h.as_bytes()));
        match parent {
            Some((trace_id, parent_id, flags)) => Self {
                trace_id,
                span_id: nonzero_u64(),
                parent_id: Some(parent_id),
                flags,
            },
            None => Self {
                trace_id: nonzero_u128(),
                span_id: nonzero_u64(),
                parent_id: None,
                flags: 0,
            },
        }
    }

    /// The caller's span id, when the trace was continued.
    pub fn parent_id(&self) -> Option<Hex<16>> {
        self.parent_id.map(|id| Hex::of(u128::from(id)))
    }

    /// Whether the caller asked for this trace to be recorded (the sampled flag).
    pub fn sampled(&self) -> bool {
        self.flags & 1 == 1
    }

    /// The low 64 bits of the trace id (random in every trace id), for sampling decisions
    /// every service of a trace makes alike.
    pub fn trace_id_low(&self) -> u64 {
        self.trace_id as u64
    }

    /// The trace id as 32 lowercase hex digits (what log lines carry).
    pub fn trace_id(&self) -> Hex<32> {
        Hex::of(self.trace_id)
    }

    /// This hop's span id as 16 lowercase hex digits.
    pub fn span_id(&self) -> Hex<16> {
        Hex::of(u128::from(self.span_id))
    }

    /// The `traceparent` to send with calls made from this hop: this trace, this hop as
    /// their parent (hex digits and dashes only, a valid header value).
    pub fn header_text(&self) -> String {
        let mut text = String::with_capacity(55);
        text.push_str("00-");
        text.push_str(self.trace_id().as_str());
        text.push('-');
        text.push_str(self.span_id().as_str());
        text.push('-');
        text.push_str(Hex::<2>::of(u128::from(self.flags)).as_str());
        text
    }
}

/// The last `N` hex digits of a number, lowercase, made without the formatting machinery
/// (this runs on every request).
#[derive(Debug, Clone, Copy)]
pub struct Hex<const N: usize>([u8; N]);

impl<const N: usize> Hex<N> {
    fn of(mut value: u128) -> Self {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut digits = [b'0'; N];
        for digit in digits.iter_mut().rev() {
            *digit = DIGITS[(value & 0xf) as usize];
            value >>= 4;
        }
        Self(digits)
    }

    /// The digits as text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl<const N: usize> std::fmt::Display for Hex<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `s` when it is `len` lowercase hex digits.
fn hex(s: &str, len: usize) -> Option<&str> {
    (s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))).then_some(s)
}

/// The trace id, parent id and flags of a valid `traceparent` (version 00, or a later
/// version read as 00 as the specification asks), lowercase hex, ids not all zero.
fn parse(value: &[u8]) -> Option<(u128, u64, u8)> {
    let text = std::str::from_utf8(value)
        .ok()?
        .trim_matches(|c| c == ' ' || c == '\t');
    let mut parts = text.split('-');
    let version = hex(parts.next()?, 2)?;
    let trace_id = u128::from_str_radix(hex(parts.next()?, 32)?, 16).ok()?;
    let parent_id = u64::from_str_radix(hex(parts.next()?, 16)?, 16).ok()?;
    let flags = u8::from_str_radix(hex(parts.next()?, 2)?, 16).ok()?;
    let rest_ok = match version {
        "ff" => false,
        // Version 00 has exactly four fields; later versions may add fields after a dash.
        "00" => parts.next().is_none(),
        _ => true,
    };
    (rest_ok && trace_id != 0 && parent_id != 0).then_some((trace_id, parent_id, flags))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_valid_traceparent_is_continued_with_a_span_of_our_own() {
        let parent = HeaderValue::from_static(VALID);
        let hop = TraceContext::continue_or_start(Some(&parent));
        assert_eq!(hop.trace_id().as_str(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_ne!(hop.span_id().as_str(), "00f067aa0ba902b7");
        assert_eq!(hop.parent_id().unwrap().as_str(), "00f067aa0ba902b7");
        assert!(hop.sampled());
        let sent = hop.header_text();
        assert!(sent.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
        assert!(sent.ends_with("-01"), "the sampled flag is kept: {sent}");
        assert_eq!(parse(sent.as_bytes()).unwrap().0, hop.trace_id);
    }

    #[test]
    fn an_invalid_traceparent_starts_a_new_trace() {
        let cases = [
            ("", "empty"),
            (
                "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                "version ff",
            ),
            (
                "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                "zero trace id",
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
                "zero parent id",
            ),
            (
                "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                "uppercase",
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
                "short trace id",
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
                "00 with more",
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
                "no flags",
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
                "bad flags",
            ),
        ];
        for (value, why) in cases {
            let header = HeaderValue::from_str(value).unwrap();
            let hop = TraceContext::continue_or_start(Some(&header));
            assert_ne!(
                hop.trace_id().as_str(),
                "4bf92f3577b34da6a3ce929d0e0e4736",
                "{why}"
            );
            assert_ne!(hop.trace_id, 0, "{why}");
            assert_eq!(hop.flags, 0, "{why}");
        }
        // A later version may carry more fields.
        let later = format!("cc{}-extra", &VALID[2..]);
        let header = HeaderValue::from_str(&later).unwrap();
        let hop = TraceContext::continue_or_start(Some(&header));
        assert_eq!(hop.trace_id().as_str(), "4bf92f3577b34da6a3ce929d0e0e4736");
    }

    #[test]
    fn a_new_trace_has_nonzero_ids_of_the_right_length() {
        let hop = TraceContext::continue_or_start(None);
        let (trace_id, parent_id, flags) = parse(hop.header_text().as_bytes()).unwrap();
        assert_eq!((trace_id, parent_id, flags), (hop.trace_id, hop.span_id, 0));
        assert!(
            hop.parent_id().is_none(),
            "a trace of its own has no parent"
        );
        assert_eq!(hop.trace_id().as_str().len(), 32);
        assert_eq!(hop.span_id().as_str().len(), 16);
        assert_eq!(Hex::<4>::of(0xab).as_str(), "00ab");
    }
}
