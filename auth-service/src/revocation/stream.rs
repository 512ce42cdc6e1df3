//! The revocation stream gateways follow: `GET /revocations?since=<seq>` on the admin
//! listener, as Server-Sent Events.
//!
//! One task per instance polls the database for rows after the last one it saw and hands
//! each new row to every open stream (and reloads the signing keys when a key is
//! withdrawn, so no instance signs with it past the next poll). A stream first subscribes
//! to those hand-outs, then reads the rows after `since` from the database, then forwards
//! the hand-outs numbered after the last row it sent: a row committed while it caught up is
//! either in what it read or among the hand-outs, and never skipped.
//!
//! Events: `id: <seq>` / `event: revocation` / `data: <JSON revocation>`, and every
//! heartbeat interval `event: heartbeat` / `data: {"latest": <seq>, "time": <unix>}`, which
//! tells a gateway that it is current (its lag) and lets it notice a database whose
//! numbering went backwards (restored or replaced), after which it starts again from 0.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use actix_web::web::Bytes;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use shared::ErrorBody;
use tokio::sync::{broadcast, mpsc};

use super::{Kind, Revocation};
use crate::db::{Pool, now};
use crate::keys::KeyRing;
use crate::metrics::FeedMetrics;

/// The path of the stream on the admin listener.
pub const PATH: &str = "/revocations";

/// Rows read per statement while polling or catching up.
const PAGE: u32 = 500;

/// New rows waiting for a slow stream before it is closed (its gateway reconnects from the
/// last row it got).
const BACKLOG: usize = 1024;

/// New revocations, from the database to every open stream of this instance.
#[derive(Debug)]
pub struct Feed {
    pool: Pool,
    sender: broadcast::Sender<Arc<Revocation>>,
    latest: AtomicI64,
    heartbeat: Duration,
    metrics: FeedMetrics,
}

impl Feed {
    /// A feed starting after the latest stored row; [`Self::spawn_poller`] makes it move.
    pub async fn new(
        pool: Pool,
        heartbeat: Duration,
        metrics: FeedMetrics,
    ) -> anyhow::Result<Arc<Self>> {
        let latest = super::latest(&pool).await?;
        metrics.sequence.set(latest);
        Ok(Arc::new(Self {
            pool,
            sender: broadcast::channel(BACKLOG).0,
            latest: AtomicI64::new(latest),
            heartbeat,
            metrics,
        }))
    }

    /// The number of the latest row handed out.
    pub fn latest(&self) -> i64 {
        self.latest.load(Ordering::Acquire)
    }

    /// Polls every `interval` until the returned task is aborted; a withdrawn key makes
    /// `keys` reload at once.
    pub fn spawn_poller(
        self: &Arc<Self>,
        interval: Duration,
        keys: Option<Arc<KeyRing>>,
    ) -> tokio::task::JoinHandle<()> {
        let feed = Arc::clone(self);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                if let Err(e) = feed.poll(keys.as_deref()).await {
                    tracing::warn!(error = %e, "reading new revocations failed");
                }
            }
        })
    }

    /// Hands out every row after the latest one handed out.
    pub async fn poll(&self, keys: Option<&KeyRing>) -> anyhow::Result<()> {
        loop {
            let asked = std::time::Instant::now();
            let batch = super::after(&self.pool, self.latest(), now(), PAGE).await?;
            self.metrics
                .database_latency
                .observe(asked.elapsed().as_secs_f64());
            let full = batch.len() == PAGE as usize;
            let key_withdrawn = batch.iter().any(|r| r.kind == Kind::Key);
            if key_withdrawn && let Some(keys) = keys {
                // Before the rows go out: a gateway told of the withdrawal may fetch the
                // key set from this instance at once.
                keys.reload().await?;
                tracing::warn!("a signing key was withdrawn; keys reloaded");
            }
            for revocation in batch {
                self.latest.store(revocation.seq, Ordering::Release);
                self.metrics.sequence.set(revocation.seq);
                // No stream open is not an error.
                let _ = self.sender.send(Arc::new(revocation));
            }
            if !full {
                return Ok(());
            }
        }
    }

    /// Sends every row after `since`, then each new one, then heartbeats, on `out`, until
    /// `out` closes (the gateway went away) or the stream falls [`BACKLOG`] rows behind.
    async fn relay(&self, since: i64, out: mpsc::Sender<Bytes>) -> anyhow::Result<()> {
        let mut new_rows = self.sender.subscribe();
        // `last`: where reading goes on from; `sent`: the highest number actually sent. A
        // heartbeat names the latest number the database has (the poller's, or a row sent
        // from a newer read), never the gateway's own `since`: a database restored to fewer
        // revocations must show as such.
        let mut last = since;
        let mut sent = 0;
        loop {
            let batch = super::after(&self.pool, last, now(), PAGE).await?;
            let full = batch.len() == PAGE as usize;
            for revocation in batch {
                last = revocation.seq;
                sent = last;
                out.send(event(&revocation)?).await?;
            }
            if !full {
                break;
            }
        }
        let mut ticker = tokio::time::interval(self.heartbeat);
        loop {
            tokio::select! {
                received = new_rows.recv() => match received {
                    Ok(revocation) if revocation.seq > last => {
                        last = revocation.seq;
                        sent = last;
                        out.send(event(&revocation)?).await?;
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        anyhow::bail!("stream fell {missed} revocations behind; closed");
                    }
                    Err(broadcast::error::RecvError::Closed) => return Ok(()),
                },
                _ = ticker.tick() => {
                    let latest = self.latest().max(sent);
                    let beat = format!(
                        "event: heartbeat\ndata: {{\"latest\":{latest},\"time\":{}}}\n\n",
                        now()
                    );
                    out.send(Bytes::from(beat)).await?;
                }
            }
        }
    }
}

fn event(revocation: &Revocation) -> anyhow::Result<Bytes> {
    let data = serde_json::to_string(revocation)?;
    Ok(Bytes::from(format!(
        "id: {}\nevent: revocation\ndata: {data}\n\n",
        revocation.seq
    )))
}

/// The query of the stream.
#[derive(Debug, Deserialize)]
struct Since {
    /// The last number the gateway applied (0: from the start).
    #[serde(default)]
    since: i64,
}

/// Registers the stream on the admin listener.
pub fn configure(feed: Arc<Feed>) -> impl Fn(&mut web::ServiceConfig) + Clone + Send + 'static {
    move |cfg| {
        cfg.app_data(web::Data::from(Arc::clone(&feed)))
            .route(PATH, web::get().to(serve));
    }
}

async fn serve(
    query: Result<web::Query<Since>, actix_web::Error>,
    feed: web::Data<Feed>,
) -> HttpResponse {
    let since = match query {
        Ok(query) if query.since >= 0 => query.since,
        _ => {
            return HttpResponse::BadRequest().json(ErrorBody::new(
                "since must be a whole number, 0 or more: the last revocation applied.",
            ));
        }
    };
    let (out, pending) = mpsc::channel::<Bytes>(16);
    let feed = feed.into_inner();
    tokio::spawn(async move {
        feed.metrics.streams.inc();
        if let Err(e) = feed.relay(since, out).await {
            tracing::debug!(error = %e, "revocation stream ended");
        }
        feed.metrics.streams.dec();
    });
    let body = futures_util::stream::unfold(pending, |mut pending| async move {
        let chunk = pending.recv().await?;
        Some((Ok::<_, std::convert::Infallible>(chunk), pending))
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-store"))
        .streaming(body)
}
