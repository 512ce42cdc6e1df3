//! Following the auth-service's revocation stream (Server-Sent Events): from the last
//! revocation applied, reconnecting after any failure, applying each revocation as it
//! comes, noting every heartbeat, and refetching the keys at once when one is withdrawn.

use std::sync::{Arc, Weak};
use std::time::Duration;

use http_body_util::BodyExt;
use serde::Deserialize;

use super::{Kind, Revocation, Revocations};
use crate::auth::{JwksCache, KeysClient};

/// Silence after which the connection is taken for dead and made again (heartbeats come
/// every second).
const IDLE_TIMEOUT: Duration = Duration::from_secs(5);
/// Waits between reconnections: the first, and the longest.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Longest event; anything longer is a broken stream.
const MAX_EVENT_BYTES: usize = 64 * 1024;
/// How often expired entries are forgotten.
const PURGE_EVERY_SECONDS: u64 = 60;

/// A heartbeat's data.
#[derive(Debug, Deserialize)]
struct Heartbeat {
    /// The stream's latest revocation number.
    latest: i64,
    /// The auth-service's clock, seconds since the epoch.
    #[serde(default)]
    time: Option<u64>,
}

fn now() -> u64 {
    service_kit::clock::unix_seconds()
}

/// Follows the stream at `url` into `revocations` until they are dropped; a withdrawn key of
/// `jwks`'s issuer makes it refetch at once (and again a second later, in case the
/// instance it asked had not reloaded yet).
pub fn spawn_follower(
    revocations: &Arc<Revocations>,
    url: String,
    client: KeysClient,
    jwks: Option<(String, Arc<JwksCache>)>,
) -> tokio::task::JoinHandle<()> {
    let revocations = Arc::downgrade(revocations);
    tokio::spawn(async move {
        let mut backoff = FIRST_BACKOFF;
        let mut failing = false;
        loop {
            let Some(since) = revocations.upgrade().map(|r| r.applied()) else {
                return;
            };
            let separator = if url.contains('?') { '&' } else { '?' };
            let address = format!("{url}{separator}since={since}");
            let ended = follow(&revocations, &address, &client, jwks.as_ref()).await;
            // Whether this connection carried anything: then a failure starts a new outage.
            let was_up = revocations
                .upgrade()
                .and_then(|r| r.lag_seconds(now()))
                .is_some_and(|lag| lag <= IDLE_TIMEOUT.as_secs() + 1);
            if was_up {
                backoff = FIRST_BACKOFF;
                failing = false;
            }
            match ended {
                Ok(Ended::Owner) => return,
                Ok(Ended::Stream) => {}
                // Once per outage at warning level; the retries after it at debug.
                Err(e) if failing => {
                    tracing::debug!(error = %format!("{e:#}"), "revocation stream still unavailable");
                }
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "revocation stream unavailable; retrying");
                    failing = true;
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    })
}

/// Why a followed stream stopped without an error.
enum Ended {
    /// The revocations are gone: the gateway is shutting down.
    Owner,
    /// The auth-service ended it (a restart, or this gateway fell behind).
    Stream,
}

async fn follow(
    revocations: &Weak<Revocations>,
    url: &str,
    client: &KeysClient,
    jwks: Option<&(String, Arc<JwksCache>)>,
) -> anyhow::Result<Ended> {
    let mut body = client.open_stream(url).await?.into_body();
    let mut buffer: Vec<u8> = Vec::new();
    let mut purged_at = now();
    loop {
        let frame = match tokio::time::timeout(IDLE_TIMEOUT, body.frame()).await {
            Err(_) => anyhow::bail!("nothing from the revocation stream for {IDLE_TIMEOUT:?}"),
            Ok(None) => return Ok(Ended::Stream),
            Ok(Some(frame)) => frame?,
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        buffer.extend_from_slice(&data);
        while let Some(end) = buffer.windows(2).position(|w| w == b"\n\n") {
            let block: Vec<u8> = buffer.drain(..end + 2).collect();
            let Some(revocations) = revocations.upgrade() else {
                return Ok(Ended::Owner);
            };
            let now = now();
            revocations.heard(now);
            handle(&revocations, &block, jwks, now)?;
            if now >= purged_at + PURGE_EVERY_SECONDS {
                revocations.purge(now);
                purged_at = now;
            }
        }
        if buffer.len() > MAX_EVENT_BYTES {
            anyhow::bail!("a revocation stream event over {MAX_EVENT_BYTES} bytes");
        }
    }
}

/// Applies one event block (`event: ...` and `data: ...` lines).
fn handle(
    revocations: &Revocations,
    block: &[u8],
    jwks: Option<&(String, Arc<JwksCache>)>,
    now: u64,
) -> anyhow::Result<()> {
    let text = std::str::from_utf8(block)?;
    let field = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name))
            .map(str::trim_start)
    };
    let (Some(event), Some(data)) = (field("event:"), field("data:")) else {
        // A comment or an event without data: nothing to do.
        return Ok(());
    };
    match event {
        "revocation" => {
            let event: Revocation = serde_json::from_str(data)?;
            if revocations.apply(&event, now) && event.kind == Kind::Key {
                tracing::warn!(kid = %event.value, issuer = %event.issuer, "signing key withdrawn");
                if let Some((issuer, cache)) = jwks.filter(|(issuer, _)| *issuer == event.issuer) {
                    refetch(issuer.clone(), Arc::clone(cache));
                }
            }
        }
        "heartbeat" => {
            let beat: Heartbeat = serde_json::from_str(data)?;
            if let (Some(time), Some((_, cache))) = (beat.time, jwks) {
                // The auth-service's clock, every second, beside its JWKS answers' `Date`.
                let theirs = std::time::UNIX_EPOCH + Duration::from_secs(time);
                cache.stats().clock_reading(theirs);
            }
            if beat.latest < revocations.applied() {
                tracing::warn!(
                    latest = beat.latest,
                    applied = revocations.applied(),
                    "the revocation stream's numbering went back (its database was restored \
                     or replaced); reading it again from the start"
                );
                revocations.restart();
                anyhow::bail!("revocation numbering went back");
            }
        }
        _ => {}
    }
    Ok(())
}

/// Fetches `cache`'s keys now and a second later: the key set without the withdrawn key,
/// with its successor.
fn refetch(issuer: String, cache: Arc<JwksCache>) {
    tokio::spawn(async move {
        for wait in [Duration::ZERO, Duration::from_secs(1)] {
            tokio::time::sleep(wait).await;
            if let Err(e) = cache.refresh().await {
                tracing::warn!(%issuer, error = %format!("{e:#}"), "refetching keys after a withdrawal failed");
            }
        }
    });
}
