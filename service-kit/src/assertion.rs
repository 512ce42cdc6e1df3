//! Identity assertions: how the gateway proves to an upstream service that the identity
//! headers of a request are its own, and fresh.
//!
//! The gateway signs, with a secret only it and the services share, the request's method,
//! the path the service receives (the upstream URL's prefix included, the query left out),
//! the identity headers and the time; the service recomputes the signature and
//! refuses the request when it is missing, stale or wrong. A client that reaches a
//! service directly cannot make one, and one captured assertion is only good for the same
//! method and path, for [`MAX_AGE_SECONDS`].
//!
//! Header value: `v1,t=<unix seconds>,s=<base64url HMAC-SHA256>`; the exact bytes signed,
//! with a test vector, are in the README ("Identity and trust").

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use shared::headers::{
    IDENTITY_ROLES, IDENTITY_SIGNATURE, IDENTITY_SUBJECT, IDENTITY_TOKEN_ID, IDENTITY_USER,
};

/// How old an assertion may be, in seconds, either way (clocks of two hosts differ).
pub const MAX_AGE_SECONDS: u64 = 30;

/// The identity headers covered by the signature, in signing order.
const SIGNED_HEADERS: [&str; 4] = [
    IDENTITY_USER,
    IDENTITY_SUBJECT,
    IDENTITY_ROLES,
    IDENTITY_TOKEN_ID,
];

/// Why an assertion was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AssertionError {
    /// No signature header: the request did not come through the gateway.
    #[error("no identity assertion")]
    Missing,
    /// Not in the `v1,t=...,s=...` shape.
    #[error("malformed identity assertion")]
    Malformed,
    /// Older (or further in the future) than [`MAX_AGE_SECONDS`].
    #[error("stale identity assertion")]
    Stale,
    /// The signature does not match: forged or altered headers.
    #[error("identity assertion does not verify")]
    BadSignature,
}

/// Signs and verifies identity assertions with the shared secret.
#[derive(Clone)]
pub struct IdentitySigner {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for IdentitySigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentitySigner").finish_non_exhaustive()
    }
}

impl IdentitySigner {
    /// A signer keyed with `secret`.
    pub fn new(secret: &SecretString) -> anyhow::Result<Self> {
        let mac = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes())
            .ok()
            .context("identity secret is not a usable HMAC key")?;
        Ok(Self { mac })
    }

    fn tag<'a>(
        &self,
        time: u64,
        method: &str,
        path: &str,
        get: impl Fn(&str) -> Option<&'a str>,
    ) -> Hmac<Sha256> {
        // Fed piece by piece (this runs on every proxied request): no formatted copy.
        let mut mac = self.mac.clone();
        let mut digits = itoa::Buffer::new();
        mac.update(b"v1\n");
        mac.update(digits.format(time).as_bytes());
        for part in [b"\n", method.as_bytes(), b"\n", path.as_bytes(), b"\n"] {
            mac.update(part);
        }
        for name in SIGNED_HEADERS {
            mac.update(name.as_bytes());
            mac.update(b":");
            mac.update(get(name).unwrap_or("").as_bytes());
            mac.update(b"\n");
        }
        mac
    }

    /// The assertion for a request with these identity headers, made at `now`.
    pub fn sign<'a>(
        &self,
        now: u64,
        method: &str,
        path: &str,
        get: impl Fn(&str) -> Option<&'a str>,
    ) -> String {
        let tag = self.tag(now, method, path, get).finalize().into_bytes();
        let mut digits = itoa::Buffer::new();
        let time = digits.format(now);
        // "v1,t=" + time + ",s=" + 43 characters of base64.
        let mut assertion = String::with_capacity(8 + time.len() + 43);
        assertion.push_str("v1,t=");
        assertion.push_str(time);
        assertion.push_str(",s=");
        URL_SAFE_NO_PAD.encode_string(tag, &mut assertion);
        assertion
    }

    /// Checks the request's assertion (read with `get`, like the identity headers).
    pub fn verify<'a>(
        &self,
        now: u64,
        method: &str,
        path: &str,
        get: impl Fn(&str) -> Option<&'a str> + Copy,
    ) -> Result<(), AssertionError> {
        let value = get(IDENTITY_SIGNATURE).ok_or(AssertionError::Missing)?;
        let mut parts = value.split(',');
        let (Some("v1"), Some(time), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(AssertionError::Malformed);
        };
        let time: u64 = time
            .strip_prefix("t=")
            .and_then(|t| t.parse().ok())
            .ok_or(AssertionError::Malformed)?;
        let signature = signature
            .strip_prefix("s=")
            .and_then(|s| URL_SAFE_NO_PAD.decode(s).ok())
            .ok_or(AssertionError::Malformed)?;
        if now.abs_diff(time) > MAX_AGE_SECONDS {
            return Err(AssertionError::Stale);
        }
        // Constant-time comparison.
        self.tag(time, method, path, get)
            .verify_slice(&signature)
            .map_err(|_| AssertionError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const NOW: u64 = 1_800_000_000;

    fn signer(secret: &str) -> IdentitySigner {
        IdentitySigner::new(&SecretString::from(secret)).unwrap()
    }

    fn headers() -> HashMap<&'static str, String> {
        HashMap::from([
            (IDENTITY_USER, "user1".to_owned()),
            (IDENTITY_SUBJECT, "sub-1".to_owned()),
            (IDENTITY_ROLES, "reader".to_owned()),
            (IDENTITY_TOKEN_ID, "jti-1".to_owned()),
        ])
    }

    fn signed(signer: &IdentitySigner) -> HashMap<&'static str, String> {
        let mut h = headers();
        let value = signer.sign(NOW, "GET", "/protected", |n| h.get(n).map(String::as_str));
        h.insert(IDENTITY_SIGNATURE, value);
        h
    }

    fn verify(
        signer: &IdentitySigner,
        h: &HashMap<&'static str, String>,
        now: u64,
        path: &str,
    ) -> Result<(), AssertionError> {
        signer.verify(now, "GET", path, |n| h.get(n).map(String::as_str))
    }

    #[test]
    fn the_assertion_is_the_documented_hmac_of_the_request() {
        let secret = "a-secret-of-some-length-0123456789";
        let mut expected = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        expected.update(
            format!(
                "v1\n{NOW}\nGET\n/protected\n{IDENTITY_USER}:user1\n{IDENTITY_SUBJECT}:sub-1\n\
                 {IDENTITY_ROLES}:reader\n{IDENTITY_TOKEN_ID}:jti-1\n"
            )
            .as_bytes(),
        );
        let expected = format!(
            "v1,t={NOW},s={}",
            URL_SAFE_NO_PAD.encode(expected.finalize().into_bytes())
        );
        assert_eq!(signed(&signer(secret))[IDENTITY_SIGNATURE], expected);
    }

    /// The README's test vector, computed independently (Python's `hmac` module): a
    /// service in another language can check its implementation against it.
    #[test]
    fn the_readme_test_vector_verifies() {
        let s = signer("example-identity-secret-0123456789abcdef");
        let h = HashMap::from([
            (IDENTITY_USER, "zo%C3%AB"),
            (IDENTITY_SUBJECT, "sub-7"),
            (IDENTITY_ROLES, "admin,ops"),
            (IDENTITY_TOKEN_ID, "jti-9"),
        ]);
        let get = |n: &str| h.get(n).copied();
        let expected = "v1,t=1800000000,s=7ohb-_TY5_bL-S_5_a9rU--0Yfw-TmvK5GEvVyuq-AY";
        assert_eq!(s.sign(NOW, "POST", "/v1/items/42", get), expected);
        let mut signed = h.clone();
        signed.insert(IDENTITY_SIGNATURE, expected);
        let get = |n: &str| signed.get(n).copied();
        assert_eq!(s.verify(NOW, "POST", "/v1/items/42", get), Ok(()));
    }

    #[test]
    fn times_are_written_in_decimal() {
        let s = signer("shared-secret");
        let h = headers();
        for value in [0, 7, 10, 1_800_000_000, u64::MAX] {
            let assertion = s.sign(value, "GET", "/", |n| h.get(n).map(String::as_str));
            assert!(
                assertion.starts_with(&format!("v1,t={value},s=")),
                "{assertion}"
            );
        }
    }

    #[test]
    fn an_assertion_verifies_for_its_request_within_the_window() {
        let s = signer("shared-secret");
        let h = signed(&s);
        assert_eq!(verify(&s, &h, NOW, "/protected"), Ok(()));
        assert_eq!(verify(&s, &h, NOW + MAX_AGE_SECONDS, "/protected"), Ok(()));
    }

    #[test]
    fn forged_altered_stale_or_missing_assertions_are_refused() {
        let s = signer("shared-secret");
        let good = signed(&s);
        let mut altered = good.clone();
        altered.insert(IDENTITY_USER, "admin".into());
        let mut missing = good.clone();
        missing.remove(IDENTITY_SIGNATURE);
        let mut garbled = good.clone();
        garbled.insert(IDENTITY_SIGNATURE, "v1,t=abc,s=xyz".into());
        let cases = [
            (
                verify(&s, &altered, NOW, "/protected"),
                AssertionError::BadSignature,
                "user changed",
            ),
            (
                verify(&s, &good, NOW, "/admin"),
                AssertionError::BadSignature,
                "other path",
            ),
            (
                verify(&signer("other-secret"), &good, NOW, "/protected"),
                AssertionError::BadSignature,
                "other key",
            ),
            (
                verify(&s, &good, NOW + MAX_AGE_SECONDS + 1, "/protected"),
                AssertionError::Stale,
                "too old",
            ),
            (
                verify(&s, &good, NOW - MAX_AGE_SECONDS - 1, "/protected"),
                AssertionError::Stale,
                "from the future",
            ),
            (
                verify(&s, &missing, NOW, "/protected"),
                AssertionError::Missing,
                "no header",
            ),
            (
                verify(&s, &garbled, NOW, "/protected"),
                AssertionError::Malformed,
                "garbled",
            ),
        ];
        for (result, expected, why) in cases {
            assert_eq!(result, Err(expected), "{why}");
        }
    }
}
