//! What a JWKS cache's fetches came to, kept as plain atomics on the fetch path and read at
//! scrape time by [`JwksCollector`]: fetches by outcome, the age of the keys in use, and
//! the provider's clock as its `Date` header told it, against ours.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use super::JwksCache;

/// Counters and readings of one cache's fetches.
#[derive(Debug, Default)]
pub struct FetchStats {
    succeeded: AtomicU64,
    failed: AtomicU64,
    /// When the keys in use were fetched, in ms since the epoch; 0: never.
    fetched_at_ms: AtomicU64,
    /// The provider's clock minus ours, in ms, from the last answer with a `Date`.
    offset_ms: AtomicI64,
    offset_known: AtomicBool,
}

fn unix_ms(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl FetchStats {
    /// A fetch that installed keys; `date` is the answer's `Date` header, if any. Returns
    /// the clock offset it shows, in seconds.
    pub fn succeeded(&self, date: Option<SystemTime>) -> Option<f64> {
        let now = SystemTime::now();
        self.succeeded.fetch_add(1, Ordering::Relaxed);
        self.fetched_at_ms.store(unix_ms(now), Ordering::Relaxed);
        let date = date?;
        // Both as signed milliseconds; the header has whole seconds, so ±1 s is noise.
        let offset = i64::try_from(unix_ms(date)).unwrap_or(i64::MAX)
            - i64::try_from(unix_ms(now)).unwrap_or(i64::MAX);
        self.offset_ms.store(offset, Ordering::Relaxed);
        self.offset_known.store(true, Ordering::Relaxed);
        Some(offset as f64 / 1000.0)
    }

    /// The provider's clock read `theirs` just now (the revocation stream's heartbeats
    /// carry it); returns the offset in seconds.
    pub fn clock_reading(&self, theirs: SystemTime) -> f64 {
        let offset = i64::try_from(unix_ms(theirs)).unwrap_or(i64::MAX)
            - i64::try_from(unix_ms(SystemTime::now())).unwrap_or(i64::MAX);
        self.offset_ms.store(offset, Ordering::Relaxed);
        self.offset_known.store(true, Ordering::Relaxed);
        offset as f64 / 1000.0
    }

    /// A fetch that failed (the keys in use stay).
    pub fn failed(&self) {
        self.failed.fetch_add(1, Ordering::Relaxed);
    }

    fn age(&self) -> Option<Duration> {
        let at = self.fetched_at_ms.load(Ordering::Relaxed);
        (at > 0).then(|| Duration::from_millis(unix_ms(SystemTime::now()).saturating_sub(at)))
    }

    /// The provider's clock minus ours, in seconds, once read.
    pub fn offset_seconds(&self) -> Option<f64> {
        self.offset_known
            .load(Ordering::Relaxed)
            .then(|| self.offset_ms.load(Ordering::Relaxed) as f64 / 1000.0)
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FetchLabels {
    provider: String,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderLabels {
    provider: String,
}

/// The JWKS caches' readings, encoded on every scrape.
#[derive(Debug)]
pub struct JwksCollector(pub Vec<Arc<JwksCache>>);

impl Collector for JwksCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let counter = ConstCounter::new(0u64);
        let mut fetches = encoder.encode_descriptor(
            "jwks_fetches",
            "JWKS fetches, by provider and outcome",
            None,
            counter.metric_type(),
        )?;
        for cache in &self.0 {
            let stats = cache.stats();
            for (outcome, count) in [("success", &stats.succeeded), ("failure", &stats.failed)] {
                let labels = FetchLabels {
                    provider: cache.name().to_owned(),
                    outcome,
                };
                ConstCounter::new(count.load(Ordering::Relaxed))
                    .encode(fetches.encode_family(&labels)?)?;
            }
        }
        let gauge = ConstGauge::new(0.0f64);
        let mut ages = encoder.encode_descriptor(
            "jwks_age_seconds",
            "Time since the keys in use were fetched, by provider",
            None,
            gauge.metric_type(),
        )?;
        for cache in &self.0 {
            if let Some(age) = cache.stats().age() {
                let labels = ProviderLabels {
                    provider: cache.name().to_owned(),
                };
                ConstGauge::new(age.as_secs_f64()).encode(ages.encode_family(&labels)?)?;
            }
        }
        let mut offsets = encoder.encode_descriptor(
            "clock_offset_seconds",
            "The provider's clock minus the gateway's, from the Date of its last JWKS answer \
             (whole seconds: within 1 s is agreement)",
            None,
            gauge.metric_type(),
        )?;
        for cache in &self.0 {
            if let Some(offset) = cache.stats().offset_seconds() {
                let labels = ProviderLabels {
                    provider: cache.name().to_owned(),
                };
                ConstGauge::new(offset).encode(offsets.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}
