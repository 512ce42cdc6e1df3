//! Unit tests of rates and keyed limiters.

use super::*;

#[test]
fn rates_parse_with_an_optional_burst_and_bad_ones_say_why() {
    assert_eq!(Rate::parse("10/s").unwrap().burst(), 10);
    assert_eq!(Rate::parse("600/m burst 20").unwrap().burst(), 20);
    assert_eq!(Rate::parse(" 100/h ").unwrap().burst(), 100);
    for bad in [
        "",
        "10",
        "0/s",
        "10/d",
        "10/s burst",
        "10/s burst 0",
        "10/s flood 2",
        "x/s",
    ] {
        let err = Rate::parse(bad).unwrap_err();
        assert!(err.contains("is not like"), "{bad}: {err}");
    }
}

#[test]
fn a_key_gets_its_burst_then_is_refused_while_others_are_not() {
    let limiter = KeyedLimiter::new(Rate::parse("1/m burst 3").unwrap());
    let remaining: Vec<u32> = (0..3)
        .map(|_| limiter.check(&"a".to_owned()).unwrap().remaining)
        .collect();
    assert_eq!(remaining, [2, 1, 0]);
    let refused = limiter.check(&"a".to_owned()).unwrap_err();
    assert_eq!(refused.limit, 3);
    assert!(
        (59..=60).contains(&refused.retry_after_seconds),
        "{refused:?}"
    );
    assert_eq!(limiter.check(&"b".to_owned()).unwrap().remaining, 2);
}

#[test]
fn the_reset_counts_the_time_until_the_bucket_is_full() {
    let limiter = KeyedLimiter::new(Rate::parse("1/s burst 5").unwrap());
    let first = limiter.check(&1u8).unwrap();
    assert_eq!(
        (first.limit, first.remaining, first.reset_seconds),
        (5, 4, 1)
    );
    let second = limiter.check(&1u8).unwrap();
    assert_eq!(second.reset_seconds, 2);
    assert_eq!(first.tighter(Some(second)), second);
    assert_eq!(second.tighter(None), second);
}

#[test]
fn a_sweep_drops_keys_whose_bucket_refilled() {
    let limiter = KeyedLimiter::new(Rate::parse("1000/s").unwrap());
    for key in 0..100u32 {
        limiter.check(&key).unwrap();
    }
    assert_eq!(limiter.len(), 100);
    std::thread::sleep(Duration::from_millis(20));
    limiter.sweep();
    assert!(limiter.is_empty(), "{} keys left", limiter.len());
}

#[test]
fn ipv6_clients_share_a_bucket_per_64_and_ipv4_ones_do_not() {
    let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
    let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
    let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
    assert_eq!(address_key(a), address_key(b));
    assert_ne!(address_key(a), address_key(other));
    let v4: IpAddr = "192.0.2.1".parse().unwrap();
    assert_eq!(address_key(v4), v4);
}

#[test]
fn empty_specs_mean_no_limiter() {
    let limits = RouteLimits::new("", " ").unwrap();
    assert!(limits.per_address.is_none() && limits.per_subject.is_none());
    let limits = RouteLimits::new("5/s", "1/m").unwrap();
    assert!(limits.per_address.is_some() && limits.per_subject.is_some());
    assert!(RouteLimits::new("5/x", "").is_err());
}
