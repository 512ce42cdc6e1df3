//! The revocation list's readings, encoded on every scrape: revocations applied by kind,
//! the last one's number, the stream's lag, entries held and folds for lack of room.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use super::Revocations;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

/// Reads a [`Revocations`] at scrape time.
#[derive(Debug)]
pub struct RevocationCollector(pub Arc<Revocations>);

impl Collector for RevocationCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let revocations = &self.0;
        let counter = ConstCounter::new(0u64);
        let gauge = ConstGauge::new(0i64);
        let mut applied = encoder.encode_descriptor(
            "revocations",
            "Revocations applied from the stream, by kind",
            None,
            counter.metric_type(),
        )?;
        for (kind, count) in revocations.counts() {
            ConstCounter::new(count).encode(applied.encode_family(&KindLabels {
                kind: kind.as_str(),
            })?)?;
        }
        let (entries, folds) = revocations.occupancy();
        ConstGauge::new(i64::try_from(entries).unwrap_or(i64::MAX)).encode(
            encoder.encode_descriptor(
                "revocation_entries",
                "Entries of the revocation list",
                None,
                gauge.metric_type(),
            )?,
        )?;
        ConstCounter::new(folds).encode(encoder.encode_descriptor(
            "revocation_folds",
            "Times the revocation list was full and folded entries into user-wide or \
             issuer-wide ones",
            None,
            counter.metric_type(),
        )?)?;
        ConstGauge::new(revocations.applied()).encode(encoder.encode_descriptor(
            "revocation_sequence",
            "Number of the last revocation applied",
            None,
            gauge.metric_type(),
        )?)?;
        if let Some(lag) = revocations.lag_seconds(service_kit::clock::unix_seconds()) {
            ConstGauge::new(i64::try_from(lag).unwrap_or(i64::MAX)).encode(
                encoder.encode_descriptor(
                    "revocation_lag_seconds",
                    "Seconds since the revocation stream was last heard from (it sends a \
                     heartbeat every second)",
                    None,
                    gauge.metric_type(),
                )?,
            )?;
        }
        Ok(())
    }
}
