//! Unit tests of the in-memory login limiter: each counter, the owner's exemption, memory, races.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::limiter::MAX_TRACKED_KEYS;

fn limiter(per_pair: u32, per_user: u32, per_addr: u32) -> MemoryLimiter {
    MemoryLimiter::new(&LoginSettings {
        max_failures_per_username_and_address: per_pair,
        max_failures_per_username_across_addresses: per_user,
        max_failures_per_address: per_addr,
        failure_window_seconds: 60,
        known_address_seconds: 3600,
        trusted_proxies: vec![],
        replaced_max_failures_per_username: None,
    })
}

fn addr(i: u8) -> IpAddr {
    IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, i))
}

const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

fn fail(l: &MemoryLimiter, username: &str, address: IpAddr) {
    drop(l.reserve(username, address).expect("not blocked yet"));
}

#[test]
fn one_address_is_refused_for_one_username_and_only_for_it() {
    let l = limiter(3, 100, 100);
    for _ in 0..3 {
        fail(&l, "alice", A);
    }
    let wait = l.reserve("alice", A).unwrap_err();
    assert!(
        wait <= Duration::from_secs(60) && wait > Duration::from_secs(58),
        "{wait:?}"
    );
    assert!(l.reserve("alice", B).is_ok(), "the owner's address is not");
    assert!(l.reserve("bob", A).is_ok(), "other users are not");
}

#[test]
fn the_cross_address_limit_refuses_new_addresses_but_not_known_ones() {
    let l = limiter(3, 5, 100);
    l.reserve("alice", B).unwrap().succeeded();
    for i in 0..5 {
        fail(&l, "alice", addr(i));
    }
    assert!(l.reserve("alice", addr(100)).is_err(), "a new address");
    assert!(l.reserve("alice", B).is_ok(), "the owner's known address");
}

#[test]
fn an_address_is_blocked_after_its_limit_across_usernames() {
    let l = limiter(100, 100, 5);
    for i in 0..5 {
        fail(&l, &format!("user{i}"), A);
    }
    assert!(l.reserve("someone", A).is_err());
    assert!(l.reserve("someone", B).is_ok(), "other addresses are not");
}

#[test]
fn success_clears_the_pair_and_gives_back_only_its_own_attempt() {
    let l = limiter(3, 100, 3);
    fail(&l, "alice", A);
    fail(&l, "alice", A);
    l.reserve("alice", A).unwrap().succeeded();
    let pair = ("alice".to_owned(), A);
    assert!(!l.by_pair.lock().contains_key(&pair));
    assert_eq!(l.by_username.lock()["alice"].count, 2, "kept");
    assert_eq!(l.by_address.lock()[&A].count, 2, "kept");
    fail(&l, "carol", A);
    assert!(
        l.reserve("dave", A).is_err(),
        "A's earlier failures are kept"
    );
}

#[test]
fn an_unchecked_attempt_gives_every_count_back() {
    let l = limiter(1, 1, 1);
    l.reserve("alice", A).unwrap().not_checked();
    assert!(l.reserve("alice", A).is_ok());
}

#[test]
fn memory_stays_bounded_under_username_cycling() {
    let l = limiter(5, 5, u32::MAX);
    for i in 0..(MAX_TRACKED_KEYS + 10) {
        l.reserve(&i.to_string(), A).unwrap().succeeded();
    }
    assert!(l.by_pair.lock().len() <= MAX_TRACKED_KEYS);
    assert!(l.by_username.lock().len() <= MAX_TRACKED_KEYS);
    assert!(l.known.tracked() <= MAX_TRACKED_KEYS);
}

#[test]
fn racing_attempts_never_get_past_the_limit() {
    let l = limiter(1000, 10, 1000);
    let admitted = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for i in 0..120u8 {
            let (l, admitted) = (&l, &admitted);
            scope.spawn(move || {
                if let Ok(attempt) = l.reserve("alice", addr(i)) {
                    admitted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    // Held while the (slow) password check would run.
                    std::thread::sleep(Duration::from_millis(20));
                    drop(attempt);
                }
            });
        }
    });
    assert_eq!(admitted.into_inner(), 10);
}
