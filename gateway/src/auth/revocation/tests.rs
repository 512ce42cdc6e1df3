//! The list's checks and bounds.

use std::sync::Arc;

use super::*;

fn verified(jti: &str, sid: Option<&str>, sub: &str, iat: u64, kid: Option<&str>) -> Arc<Verified> {
    let identity = shared::Identity {
        user: "u".into(),
        subject: sub.into(),
        roles: vec![],
        token_id: jti.into(),
    };
    let claims = serde_json::json!({"sid": sid, "iat": iat});
    Arc::new(Verified::from_token(identity, "iss", &claims, kid))
}

fn event(seq: i64, kind: Kind, value: &str, subject: Option<&str>) -> Revocation {
    Revocation {
        seq,
        kind,
        issuer: "iss".into(),
        value: value.into(),
        subject: subject.map(str::to_owned),
        not_before: (kind == Kind::Subject).then_some(1_000),
        expires_at: 5_000,
        created_at: 1_000,
    }
}

fn settings(capacity: usize) -> RevocationSettings {
    RevocationSettings {
        url: "http://127.0.0.1:1/revocations".into(),
        max_lag_seconds: 10,
        when_stale: WhenStale::Open,
        capacity,
    }
}

#[test]
fn each_kind_refuses_the_tokens_it_names_and_no_other() {
    // Fresh tokens for each list: a token remembers the epoch it was checked at.
    let token = || verified("j1", Some("s1"), "u1", 900, Some("k1"));
    let other = verified("j2", Some("s2"), "u2", 900, Some("k2"));
    let later = || verified("j3", Some("s3"), "u1", 1_001, Some("k1"));
    for (seq, kind, value) in [
        (1, Kind::Token, "j1"),
        (2, Kind::Session, "s1"),
        (3, Kind::Subject, "u1"),
        (4, Kind::Key, "k1"),
    ] {
        let list = Revocations::new(&settings(100));
        assert_eq!(list.admit(&token(), list.epoch(), 2_000), Ok(()));
        assert!(list.apply(&event(seq, kind, value, Some("u1")), 2_000));
        assert_eq!(
            list.admit(&token(), list.epoch(), 2_000),
            Err(Rejection::Revoked),
            "{kind:?}"
        );
        assert_eq!(list.admit(&other, list.epoch(), 2_000), Ok(()), "{kind:?}");
        // A user-wide revocation spares what was issued after it; a key's spares nothing.
        let spared = list.admit(&later(), list.epoch(), 2_000).is_ok();
        assert_eq!(
            spared,
            kind == Kind::Subject || kind == Kind::Token || kind == Kind::Session,
            "{kind:?}"
        );
    }
    // Another issuer's revocation names other tokens.
    let list = Revocations::new(&settings(100));
    let mut foreign = event(1, Kind::Subject, "u1", None);
    foreign.issuer = "other".into();
    list.apply(&foreign, 2_000);
    assert_eq!(list.admit(&token(), list.epoch(), 2_000), Ok(()));
}

#[test]
fn a_token_checked_before_a_revocation_is_checked_again_after_it() {
    let list = Revocations::new(&settings(100));
    let token = verified("j1", Some("s1"), "u1", 900, None);
    let epoch = list.epoch();
    assert_eq!(list.admit(&token, epoch, 2_000), Ok(()));
    // The same epoch: the check is skipped (nothing changed).
    assert_eq!(list.admit(&token, epoch, 2_000), Ok(()));
    // A revocation between the epoch's reading and the check is seen by the next use.
    let stale_epoch = list.epoch();
    list.apply(&event(1, Kind::Session, "s1", Some("u1")), 2_000);
    assert_eq!(
        list.admit(&token, list.epoch(), 2_000),
        Err(Rejection::Revoked)
    );
    assert_ne!(stale_epoch, list.epoch());
    // Old or repeated numbers are not applied twice.
    assert!(!list.apply(&event(1, Kind::Session, "s9", Some("u1")), 2_000));
    assert_eq!(list.applied(), 1);
}

#[test]
fn entries_are_kept_until_their_tokens_expire() {
    let list = Revocations::new(&settings(100));
    list.apply(&event(1, Kind::Session, "s1", Some("u1")), 2_000);
    list.purge(4_999);
    assert_eq!(list.occupancy().0, 1);
    list.purge(5_000);
    assert_eq!(list.occupancy().0, 0);
    // Already expired when it arrives: nothing to hold.
    list.apply(&event(2, Kind::Session, "s2", Some("u1")), 6_000);
    assert_eq!(list.occupancy().0, 0);
}

#[test]
fn a_full_list_folds_but_never_forgets() {
    let list = Revocations::new(&settings(100));
    for n in 0..100 {
        list.apply(
            &event(
                n + 1,
                Kind::Session,
                &format!("s{n}"),
                Some(&format!("u{}", n % 50)),
            ),
            2_000,
        );
    }
    assert_eq!(list.occupancy(), (100, 0));
    // One more of user u7: u7's two sessions become one user-wide entry.
    list.apply(&event(101, Kind::Session, "s100", Some("u7")), 2_000);
    assert_eq!(list.occupancy(), (99, 1));
    for sid in ["s7", "s57", "s100"] {
        let theirs = verified("j", Some(sid), "u7", 900, None);
        assert_eq!(
            list.admit(&theirs, list.epoch(), 2_000),
            Err(Rejection::Revoked),
            "{sid}"
        );
    }
    // Every other revocation is still held.
    let other = verified("j", Some("s8"), "u8", 900, None);
    assert_eq!(
        list.admit(&other, list.epoch(), 2_000),
        Err(Rejection::Revoked)
    );
    // Full with a revocation that names nobody to fold: every token issued so far.
    for n in 0..3 {
        list.apply(&event(102 + n, Kind::Token, &format!("j{n}"), None), 2_000);
    }
    let (entries, folds) = list.occupancy();
    assert!(
        entries < 10 && folds >= 2,
        "{entries} entries, {folds} folds"
    );
    let bystander = verified("jx", Some("sx"), "ux", 1_000, None);
    assert_eq!(
        list.admit(&bystander, list.epoch(), 2_000),
        Err(Rejection::Revoked)
    );
    let newcomer = verified("jy", Some("sy"), "uy", 1_001, None);
    assert_eq!(
        list.admit(&newcomer, list.epoch(), 2_000),
        Ok(()),
        "issued after it"
    );
}

#[test]
fn a_stale_list_closes_the_door_only_where_configured() {
    let token = verified("j1", None, "u1", 900, None);
    let open = Revocations::new(&settings(100));
    assert_eq!(open.lag_seconds(2_000), Some(2_000), "never heard from");
    assert_eq!(open.admit(&token, open.epoch(), 2_000), Ok(()));
    assert!(!open.blocks_readiness(2_000));
    let closed = Revocations::new(&RevocationSettings {
        when_stale: WhenStale::Closed,
        ..settings(100)
    });
    assert_eq!(
        closed.admit(&token, closed.epoch(), 2_000),
        Err(Rejection::RevocationsStale)
    );
    assert!(closed.blocks_readiness(2_000));
    closed.heard(1_995);
    assert_eq!(closed.admit(&token, closed.epoch(), 2_000), Ok(()));
    assert!(!closed.blocks_readiness(2_000));
    assert_eq!(
        closed.admit(&token, closed.epoch(), 2_011),
        Err(Rejection::RevocationsStale)
    );
    assert_eq!(Revocations::disabled().lag_seconds(2_000), None);
}
