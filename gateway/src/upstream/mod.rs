//! Upstream services as sets of instances: names resolved periodically (so `docker compose
//! --scale` replicas all get traffic), picked round-robin, and skipped for a while after a
//! transport failure (passive health checking). Each instance holds its connections; what
//! happens to them is [`crate::pool`]'s business.

mod instance;

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use crate::pool;

pub use instance::Instance;
use instance::{Target, now_ms, parse_target};

/// Re-resolution pace while a name resolves to nothing (the service is starting or down).
pub const EMPTY_RESOLVE_INTERVAL: Duration = Duration::from_secs(1);

/// An upstream service: its configured URLs and the instances they resolve to.
#[derive(Debug)]
pub struct Upstream {
    /// Its name in the configuration, for logs.
    pub name: String,
    targets: Vec<Target>,
    instances: RwLock<Arc<Vec<Arc<Instance>>>>,
    next: AtomicUsize,
    eject_for: Duration,
}

impl Upstream {
    /// Parses `urls` (comma-separated `http://host:port[/prefix]`); resolves nothing yet.
    pub fn new(name: &str, urls: &str, eject_for: Duration) -> anyhow::Result<Self> {
        let targets = urls
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(parse_target)
            .collect::<anyhow::Result<Vec<_>>>()?;
        if targets.is_empty() {
            anyhow::bail!("no URL given");
        }
        Ok(Self {
            name: name.to_owned(),
            targets,
            instances: RwLock::new(Arc::new(Vec::new())),
            next: AtomicUsize::new(0),
            eject_for,
        })
    }

    fn snapshot(&self) -> Arc<Vec<Arc<Instance>>> {
        match self.instances.read() {
            Ok(i) => Arc::clone(&i),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Replaces the instance list with what the targets resolve to now, keeping the health
    /// state of instances that remain. A target that fails to resolve keeps its instances.
    fn install(&self, resolved: Vec<(usize, Option<Vec<SocketAddr>>)>) {
        let old = self.snapshot();
        let mut fresh: Vec<Arc<Instance>> = Vec::new();
        for (index, addresses) in resolved {
            let target = &self.targets[index];
            let Some(addresses) = addresses else {
                let kept = old.iter().filter(|i| i.authority == target.authority);
                fresh.extend(kept.cloned());
                continue;
            };
            for address in addresses {
                let base_url = format!("http://{address}{}", target.prefix);
                let existing = old
                    .iter()
                    .find(|i| i.base_url == base_url && i.authority == target.authority);
                let instance = match existing {
                    Some(existing) => Arc::clone(existing),
                    None => match Instance::new(base_url, address, target) {
                        Ok(instance) => Arc::new(instance),
                        Err(e) => {
                            tracing::warn!(%address, error = %e, "unusable instance address");
                            continue;
                        }
                    },
                };
                fresh.push(instance);
            }
        }
        fresh.dedup_by(|a, b| a.base_url == b.base_url);
        match self.instances.write() {
            Ok(mut slot) => *slot = Arc::new(fresh),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(fresh),
        }
    }

    /// Resolves the targets now, blocking (start-up only).
    pub fn resolve_blocking(&self) {
        let resolved = self
            .targets
            .iter()
            .enumerate()
            .map(|(i, t)| {
                (
                    i,
                    (t.host.as_str(), t.port)
                        .to_socket_addrs()
                        .ok()
                        .map(Iterator::collect),
                )
            })
            .collect();
        self.install(resolved);
    }

    /// Resolves the targets now.
    pub async fn resolve(&self) {
        let mut resolved = Vec::with_capacity(self.targets.len());
        for (i, t) in self.targets.iter().enumerate() {
            let addresses = tokio::net::lookup_host((t.host.as_str(), t.port)).await;
            resolved.push((i, addresses.ok().map(Iterator::collect)));
        }
        self.install(resolved);
    }

    /// Re-resolves every `interval` (every [`EMPTY_RESOLVE_INTERVAL`] while there is no
    /// instance). Ends once the upstream is dropped: the task holds it only weakly.
    pub fn spawn_resolver(self: &Arc<Self>, interval: Duration) -> tokio::task::JoinHandle<()> {
        let upstream: Weak<Self> = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let pause = match upstream.upgrade() {
                    Some(upstream) if upstream.snapshot().is_empty() => EMPTY_RESOLVE_INTERVAL,
                    Some(_) => interval,
                    None => return,
                };
                tokio::time::sleep(pause).await;
                let Some(upstream) = upstream.upgrade() else {
                    return;
                };
                upstream.resolve().await;
            }
        })
    }

    /// Starts the pool's sweeper over the connections of every instance; it ends once the
    /// upstream is dropped.
    pub fn spawn_sweeper(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        pool::spawn_sweeper(self, |upstream| {
            upstream
                .snapshot()
                .iter()
                .map(|instance| Arc::clone(&instance.connections))
                .collect()
        })
    }

    /// The next healthy instance round-robin, skipping `tried`; `None` when there is none.
    pub fn pick(&self, tried: &[Arc<Instance>]) -> Option<Arc<Instance>> {
        let instances = self.snapshot();
        let now = now_ms();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..instances.len())
            .map(|offset| &instances[(start + offset) % instances.len()])
            .find(|i| i.healthy(now) && !tried.iter().any(|t| Arc::ptr_eq(t, i)))
            .cloned()
    }

    /// Takes `instance` out of rotation for the ejection time.
    pub fn eject(&self, instance: &Instance) {
        let until = now_ms() + u64::try_from(self.eject_for.as_millis()).unwrap_or(u64::MAX / 2);
        instance.eject_until(until);
        tracing::warn!(upstream = %self.name, instance = %instance.base_url, "instance ejected after a failure");
    }

    /// How many instances are known (healthy or not).
    pub fn instance_count(&self) -> usize {
        self.snapshot().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream(urls: &str) -> Upstream {
        let u = Upstream::new("svc", urls, Duration::from_secs(60)).unwrap();
        u.resolve_blocking();
        u
    }

    #[test]
    fn instances_take_turns_and_ejected_ones_are_skipped() {
        let u = upstream("http://127.0.0.1:1, http://127.0.0.2:2/base/");
        let picks: Vec<_> = (0..4)
            .map(|_| u.pick(&[]).unwrap().base_url.clone())
            .collect();
        assert_eq!(
            picks.iter().filter(|p| p.ends_with(":1")).count(),
            2,
            "{picks:?}"
        );
        assert!(
            picks.contains(&"http://127.0.0.2:2/base".to_owned()),
            "{picks:?}"
        );

        let first = u.pick(&[]).unwrap();
        u.eject(&first);
        for _ in 0..4 {
            assert!(!Arc::ptr_eq(&u.pick(&[]).unwrap(), &first));
        }
        let other = u.pick(&[]).unwrap();
        u.eject(&other);
        assert!(u.pick(&[]).is_none(), "no healthy instance left");
    }

    #[test]
    fn a_retry_never_picks_an_instance_already_tried() {
        let u = upstream("http://127.0.0.1:1,http://127.0.0.1:2");
        let first = u.pick(&[]).unwrap();
        let second = u.pick(std::slice::from_ref(&first)).unwrap();
        assert!(!Arc::ptr_eq(&first, &second));
        assert!(u.pick(&[first, second]).is_none());
    }

    #[test]
    fn re_resolution_keeps_the_health_state_of_known_instances() {
        let u = upstream("http://127.0.0.1:1");
        let only = u.pick(&[]).unwrap();
        u.eject(&only);
        u.resolve_blocking();
        assert!(u.pick(&[]).is_none(), "still ejected after re-resolution");
        assert_eq!(u.instance_count(), 1);
    }

    #[tokio::test]
    async fn the_resolver_and_the_sweeper_end_when_their_upstream_is_dropped() {
        let u = Arc::new(upstream("http://127.0.0.1:1"));
        let tasks = [u.spawn_resolver(Duration::from_secs(2)), u.spawn_sweeper()];
        let weak = Arc::downgrade(&u);
        drop(u);
        assert!(weak.upgrade().is_none(), "a task keeps the upstream alive");
        // A bound, not a pause: each task ends at its next look at the upstream.
        for task in tasks {
            tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .expect("the task still runs")
                .unwrap();
        }
    }
}
