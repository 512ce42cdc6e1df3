//! Unit tests of the verified-token cache.

use super::*;

fn identity(user: &str, subject: &str, token_id: &str) -> Arc<Verified> {
    Arc::new(Verified::new(shared::Identity {
        user: user.into(),
        subject: subject.into(),
        roles: vec![],
        token_id: token_id.into(),
    }))
}

fn cache_with(tokens: &[(&str, &str, &str, &str)]) -> TokenCache {
    let cache = TokenCache::new(1 << 20);
    for (token, subject, jti, kid) in tokens {
        cache.insert(token, identity("u", subject, jti), Some(kid), 1000, 0, 1);
    }
    cache
}

#[test]
fn a_cached_token_is_found_until_it_expires_and_only_for_its_key_set() {
    let cache = TokenCache::new(64 * 1024);
    cache.insert("a.b.c", identity("u", "s", "t"), None, 100, 50, 1);
    assert_eq!(cache.get("a.b.c", 99, 1).unwrap().identity.user, "u");
    assert!(cache.get("a.b.c", 60, 2).is_none(), "keys changed since");
    assert!(cache.get("a.b.d", 60, 1).is_none(), "another token");
    assert!(cache.get("a.b.c", 100, 1).is_none(), "expired");
    assert!(cache.is_empty(), "an expired entry is dropped when found");
    cache.insert("e.f.g", identity("u", "s", "t"), None, 100, 100, 1);
    assert!(cache.is_empty(), "already expired: not kept");
}

#[test]
fn a_full_cache_evicts_some_entries_never_all_and_stays_within_its_bytes() {
    let capacity = 64 * 1024;
    let cache = TokenCache::new(capacity);
    let token = |i: usize| format!("{i:08}.{}", "x".repeat(1000));
    // A working set asked for again and again, then a flood of one-off tokens.
    for i in 0..10 {
        cache.insert(&token(i), identity("u", "s", "t"), None, 1000, 0, 1);
    }
    for round in 0..3 {
        for i in 0..10 {
            assert!(cache.get(&token(i), 1, 1).is_some(), "round {round}: {i}");
        }
    }
    for i in 1000..1500 {
        cache.insert(&token(i), identity("u", "s", "t"), None, 1000, 0, 1);
        assert!(cache.weight() <= capacity, "{} bytes", cache.weight());
        assert!(!cache.is_empty());
    }
    let kept = (0..10)
        .filter(|&i| cache.get(&token(i), 1, 1).is_some())
        .count();
    assert!(
        kept >= 5,
        "the hot tokens mostly survive the flood: {kept} of 10"
    );
    assert!(cache.len() > 20, "evicted some, not all: {}", cache.len());
}

#[test]
fn an_eight_kib_token_weighs_its_digest_and_a_zero_capacity_disables_the_cache() {
    let cache = TokenCache::new(64 * 1024);
    let big = "x".repeat(8192);
    cache.insert(&big, identity("u", "s", "t"), Some("k"), 1000, 0, 1);
    assert!(cache.get(&big, 1, 1).is_some());
    assert!(cache.get(&big[1..], 1, 1).is_none());
    assert!(cache.weight() < 512, "{} bytes", cache.weight());
    let disabled = TokenCache::new(0);
    disabled.insert("t", identity("u", "s", "t"), None, 1000, 0, 1);
    assert!(disabled.is_empty());
    assert!(disabled.get("t", 1, 1).is_none());
    assert_eq!(disabled.remove_subject("s"), 0);
}

#[test]
fn entries_are_dropped_by_token_id() {
    let cache = cache_with(&[("t1", "alice", "j1", "k1"), ("t2", "alice", "j2", "k1")]);
    assert_eq!(cache.remove_token_id("j1"), 1);
    assert!(cache.get("t1", 1, 1).is_none());
    assert!(cache.get("t2", 1, 1).is_some());
    assert_eq!(cache.remove_token_id("j1"), 0);
}

#[test]
fn entries_are_dropped_by_subject() {
    let cache = cache_with(&[
        ("t1", "alice", "j1", "k1"),
        ("t2", "alice", "j2", "k2"),
        ("t3", "bob", "j3", "k1"),
    ]);
    assert_eq!(cache.remove_subject("alice"), 2);
    assert!(cache.get("t1", 1, 1).is_none() && cache.get("t2", 1, 1).is_none());
    assert!(cache.get("t3", 1, 1).is_some());
}

#[test]
fn entries_are_dropped_by_key_id() {
    let cache = cache_with(&[
        ("t1", "alice", "j1", "old"),
        ("t2", "bob", "j2", "new"),
        ("t3", "carol", "j3", "old"),
    ]);
    cache.insert("t4", identity("u", "dave", "j4"), None, 1000, 0, 1);
    assert_eq!(cache.remove_key_id("old"), 2);
    assert!(cache.get("t2", 1, 1).is_some());
    assert!(cache.get("t4", 1, 1).is_some(), "no key id: never matched");
    assert_eq!(cache.len(), 2);
}

#[test]
fn expired_entries_can_be_purged_at_once() {
    let cache = TokenCache::new(1 << 20);
    cache.insert("soon", identity("u", "s", "a"), None, 10, 0, 1);
    cache.insert("later", identity("u", "s", "b"), None, 1000, 0, 1);
    assert_eq!(cache.remove_expired(10), 1);
    assert_eq!(cache.len(), 1);
}

#[test]
fn the_default_size_holds_fifty_thousand_typical_tokens() {
    // jwt.cache_bytes in configuration/base.toml.
    const DEFAULT_BYTES: u64 = 32 * 1024 * 1024;
    let cache = TokenCache::new(1 << 20);
    let typical = Arc::new(Verified::new(shared::Identity {
        user: "user1".into(),
        subject: "4f1c2b8e-9d3a-4c7e-8b21-6a5f0e9d3c47".into(),
        roles: vec!["user".into()],
        token_id: "0b9e4d6a-2c1f-4e8b-9a37-5d2c8f1e6b90".into(),
    }));
    let kid = "qXG8mJ1u0vPz3Yk7bN5rT2wQeL9sA4dF6hC0jV8xU1o";
    cache.insert("header.claims.signature", typical, Some(kid), 1000, 0, 1);
    let weight = cache.weight();
    assert!(
        weight <= TYPICAL_ENTRY_BYTES && 50_000 * weight <= DEFAULT_BYTES,
        "a typical entry weighs {weight} bytes"
    );
}
