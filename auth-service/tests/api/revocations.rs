//! Revocations: written with the change that causes them, numbered without gaps even when
//! two instances write at once, and served on the admin listener's stream.

use std::time::Duration;

use auth_service::revocation::{self, Kind, NewRevocation};
use serde_json::Value;

use crate::helpers::{Backend, TestApp, spawn_app, spawn_with, test_settings};
use crate::process::run_cli;

crate::on_both_backends!(
    a_logout_revokes_its_sessions_access_tokens_on_the_stream,
    user_changes_revoke_every_token_the_user_holds,
    a_withdrawn_key_is_unpublished_and_replaced_at_once,
    two_instances_appending_at_once_leave_no_gap,
    the_latest_revocation_survives_purges,
);

/// One open `GET /revocations` stream.
struct Stream {
    response: reqwest::Response,
    buffer: String,
}

impl Stream {
    async fn open(app: &TestApp, since: i64) -> Self {
        let response = app
            .client
            .get(format!("{}/revocations?since={since}", app.admin_address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let kind = response.headers()["content-type"].to_str().unwrap();
        assert_eq!(kind, "text/event-stream");
        Self {
            response,
            buffer: String::new(),
        }
    }

    /// The next event's name and data; fails after 10 s without one.
    async fn next(&mut self) -> (String, Value) {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let field = |name: &str| {
                    block
                        .lines()
                        .find_map(|line| line.strip_prefix(name))
                        .map(str::to_owned)
                };
                let event = field("event: ").unwrap();
                let data: Value = serde_json::from_str(&field("data: ").unwrap()).unwrap();
                if event == "revocation" {
                    assert_eq!(field("id: ").unwrap(), data["seq"].to_string());
                }
                return (event, data);
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.response.chunk())
                .await
                .expect("an event within 10 s")
                .unwrap()
                .expect("the stream stays open");
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// The next revocation, heartbeats skipped.
    async fn revocation(&mut self) -> Value {
        loop {
            let (event, data) = self.next().await;
            if event == "revocation" {
                return data;
            }
            assert_eq!(event, "heartbeat");
        }
    }

    /// Asserts that a heartbeat comes before any revocation; returns its `latest`.
    async fn heartbeat(&mut self) -> i64 {
        let (event, data) = self.next().await;
        assert_eq!(event, "heartbeat", "{data}");
        data["latest"].as_i64().unwrap()
    }
}

fn database_url(app: &TestApp) -> String {
    secrecy::ExposeSecret::expose_secret(&app.settings.database.url).to_owned()
}

async fn a_logout_revokes_its_sessions_access_tokens_on_the_stream(backend: Backend) {
    let mut settings = test_settings(&backend).await;
    // Every second use of a refresh token is reuse.
    settings.jwt.refresh_reuse_grace_seconds = 0;
    let app = spawn_with(settings).await;
    let mut live = Stream::open(&app, 0).await;
    assert_eq!(live.heartbeat().await, 0, "nothing revoked yet");

    let tokens = app.login_ok("user1", "password123").await;
    let claims = app.decode(tokens["token"].as_str().unwrap()).await;
    let sid = claims.sid.clone().expect("a session's tokens carry its id");
    let refresh = tokens["refresh_token"].as_str().unwrap();
    assert_eq!(
        app.post_json("/logout", format!(r#"{{"refresh_token":"{refresh}"}}"#))
            .await
            .status(),
        200
    );

    let revoked = live.revocation().await;
    assert_eq!(revoked["kind"], "session");
    assert_eq!(revoked["value"], sid.as_str());
    assert_eq!(revoked["subject"], claims.sub.as_str());
    assert_eq!(revoked["issuer"], claims.iss.as_str());
    let ttl = app.settings.jwt.access_token_ttl_seconds as i64;
    let lasts = revoked["expires_at"].as_i64().unwrap() - revoked["created_at"].as_i64().unwrap();
    assert_eq!(
        lasts,
        ttl + revocation::MARGIN_SECONDS,
        "kept while a token of it can live"
    );

    // Logging out again changes nothing: the session is revoked already.
    app.post_json("/logout", format!(r#"{{"refresh_token":"{refresh}"}}"#))
        .await;
    // A refresh token presented twice revokes its session too.
    let other = app.login_ok("user1", "password123").await;
    let other_sid = app
        .decode(other["token"].as_str().unwrap())
        .await
        .sid
        .unwrap();
    assert_ne!(other_sid, sid, "every login is a session of its own");
    let first = other["refresh_token"].as_str().unwrap();
    let refreshed: Value = app.refresh(first).await.json().await.unwrap();
    let same_session = app.decode(refreshed["token"].as_str().unwrap()).await.sid;
    assert_eq!(
        same_session.as_deref(),
        Some(other_sid.as_str()),
        "a refresh keeps the session"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(app.refresh(first).await.status().as_u16(), 401);
    let reuse = live.revocation().await;
    assert_eq!(
        (reuse["kind"].as_str(), reuse["value"].as_str()),
        (Some("session"), Some(other_sid.as_str()))
    );
    assert_eq!(
        reuse["seq"],
        revoked["seq"].as_i64().unwrap() + 1,
        "the second logout wrote nothing"
    );

    // A gateway that reconnects catches up from the last number it applied.
    let mut from_start = Stream::open(&app, 0).await;
    assert_eq!(from_start.revocation().await, revoked);
    assert_eq!(from_start.revocation().await, reuse);
    let mut caught_up = Stream::open(&app, reuse["seq"].as_i64().unwrap()).await;
    assert_eq!(caught_up.heartbeat().await, reuse["seq"].as_i64().unwrap());
    // A gateway ahead of this database (it was restored or replaced) is told the latest
    // number the database has, below its own.
    let mut ahead = Stream::open(&app, 1_000).await;
    assert_eq!(ahead.heartbeat().await, reuse["seq"].as_i64().unwrap());

    for bad in ["-1", "x", "1.5"] {
        let response = app
            .client
            .get(format!("{}/revocations?since={bad}", app.admin_address))
            .send()
            .await
            .unwrap();
        let message = "since must be a whole number, 0 or more: the last revocation applied.";
        crate::helpers::assert_json_error(response, 400, message).await;
    }
}

async fn user_changes_revoke_every_token_the_user_holds(backend: Backend) {
    let app = spawn_app(backend).await;
    let url = database_url(&app);
    let mut live = Stream::open(&app, 0).await;
    let (ok, out, err) = run_cli(
        &url,
        &["users", "add", "dora", "reader"],
        "s3cret-password\n",
    );
    assert!(ok, "{err}");
    let id = out.split(['(', ')']).nth(1).unwrap().to_owned();
    let tokens = app.login_ok("dora", "s3cret-password").await;
    let sid = app
        .decode(tokens["token"].as_str().unwrap())
        .await
        .sid
        .unwrap();

    let (ok, out, _) = run_cli(&url, &["sessions", "list", "dora"], "");
    assert!(ok && out.starts_with(&format!("{sid}\tstarted=")), "{out}");

    for (command, stdin) in [
        (&["users", "set-roles", "dora", "admin"][..], ""),
        (
            &["users", "set-password", "dora"][..],
            "n3w-s3cret-password\n",
        ),
        (&["sessions", "revoke", "dora"][..], ""),
    ] {
        let (ok, out, err) = run_cli(&url, command, stdin);
        assert!(ok, "{command:?}: {out}{err}");
        let revoked = live.revocation().await;
        assert_eq!(revoked["kind"], "subject", "{command:?}");
        assert_eq!(revoked["value"], id.as_str());
        let not_before = revoked["not_before"].as_i64().unwrap();
        // A login right after is dated after the revocation, so it is not covered by it.
        let password = if command[1] == "set-roles" {
            "s3cret-password"
        } else {
            "n3w-s3cret-password"
        };
        let fresh = app.login_ok("dora", password).await;
        let claims = app.decode(fresh["token"].as_str().unwrap()).await;
        assert!(
            claims.iat as i64 > not_before,
            "{command:?}: iat {} vs {not_before}",
            claims.iat
        );
        // And the sessions before it are over.
        let old = tokens["refresh_token"].as_str().unwrap();
        assert_eq!(app.refresh(old).await.status().as_u16(), 401, "{command:?}");
    }
    let (ok, out, _) = run_cli(&url, &["sessions", "list", "dora"], "");
    assert!(
        ok && out.lines().count() == 1,
        "the login after the last revocation: {out}"
    );
    let session = out.split('\t').next().unwrap();
    let (ok, _, _) = run_cli(
        &url,
        &["sessions", "revoke", "dora", "--session", session],
        "",
    );
    assert!(ok);
    assert_eq!(live.revocation().await["value"], session);
    let (ok, _, err) = run_cli(
        &url,
        &["sessions", "revoke", "dora", "--session", session],
        "",
    );
    assert!(!ok && err.contains("no live session"), "{err}");

    let (ok, _, _) = run_cli(&url, &["users", "remove", "dora"], "");
    assert!(ok);
    let removed = live.revocation().await;
    assert_eq!(
        (removed["kind"].as_str(), removed["value"].as_str()),
        (Some("subject"), Some(id.as_str()))
    );

    let foreign = [
        "sessions",
        "revoke-subject",
        "--issuer",
        "https://idp.example.com",
        "f81d4fae",
        "--for",
        "600",
    ];
    let (ok, _, err) = run_cli(&url, &foreign, "");
    assert!(ok, "{err}");
    let revoked = live.revocation().await;
    assert_eq!(revoked["issuer"], "https://idp.example.com");
    assert_eq!(revoked["value"], "f81d4fae");
    let lasts = revoked["expires_at"].as_i64().unwrap() - revoked["created_at"].as_i64().unwrap();
    assert_eq!(lasts, 600 + revocation::MARGIN_SECONDS);
    let ours = [
        "sessions",
        "revoke-subject",
        "--issuer",
        &app.settings.jwt.issuer,
        "x",
    ];
    let (ok, _, err) = run_cli(&url, &ours, "");
    assert!(!ok && err.contains("sessions revoke <username>"), "{err}");
}

async fn a_withdrawn_key_is_unpublished_and_replaced_at_once(backend: Backend) {
    let mut settings = test_settings(&backend).await;
    // Only the revocation can make the instance reload its keys in time.
    settings.keys.reload_interval_seconds = 3600;
    let app = spawn_with(settings).await;
    let url = database_url(&app);
    let mut live = Stream::open(&app, 0).await;
    let tokens = app.login_ok("user1", "password123").await;
    let old = jsonwebtoken::decode_header(tokens["token"].as_str().unwrap())
        .unwrap()
        .kid
        .unwrap();
    // A key published ahead stays unused: the replacement signs at once.
    let (ok, _, _) = run_cli(&url, &["keys", "rotate"], "");
    assert!(ok);

    let (ok, out, err) = run_cli(&url, &["keys", "revoke", &old], "");
    assert!(ok, "{err}");
    let new = out
        .lines()
        .nth(1)
        .and_then(|l| l.split(' ').nth(2))
        .unwrap()
        .to_owned();
    let revoked = live.revocation().await;
    assert_eq!(
        (revoked["kind"].as_str(), revoked["value"].as_str()),
        (Some("key"), Some(old.as_str()))
    );
    // The revocation reached this instance's poller, which reloaded the keys first.
    let published: Vec<String> = app
        .jwks()
        .await
        .keys
        .iter()
        .filter_map(|k| k.common.key_id.clone())
        .collect();
    assert!(!published.contains(&old), "{published:?}");
    assert!(published.contains(&new), "{published:?}");
    let fresh = app.login_ok("user1", "password123").await;
    let kid = jsonwebtoken::decode_header(fresh["token"].as_str().unwrap())
        .unwrap()
        .kid;
    assert_eq!(kid.as_deref(), Some(new.as_str()));

    let (ok, _, err) = run_cli(&url, &["keys", "revoke", &old], "");
    assert!(!ok && err.contains("withdrawn already"), "{err}");
}

async fn two_instances_appending_at_once_leave_no_gap(backend: Backend) {
    const EACH: i64 = 60;
    let settings = test_settings(&backend).await;
    let pools = [
        auth_service::db::connect(&settings.database).await.unwrap(),
        auth_service::db::connect(&settings.database).await.unwrap(),
    ];
    let writers: Vec<_> = pools
        .iter()
        .enumerate()
        .map(|(instance, pool)| {
            let pool = pool.clone();
            tokio::spawn(async move {
                for n in 0..EACH {
                    let mut tx = pool.begin().await.unwrap();
                    let event = NewRevocation {
                        kind: Kind::Token,
                        issuer: "iss".into(),
                        value: format!("{instance}-{n}"),
                        subject: None,
                        not_before: None,
                        expires_at: i64::MAX / 2,
                    };
                    revocation::append(&mut tx, &event, 1).await.unwrap();
                    // Commits arrive late and in any order, as under load: without the append
                    // lock a later number could commit first, and a reader would skip one.
                    tokio::time::sleep(Duration::from_millis(fastrand_ms(n))).await;
                    tx.commit().await.unwrap();
                }
            })
        })
        .collect();
    let reader = pools[0].clone();
    let mut seen = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while seen < 2 * EACH {
        assert!(
            tokio::time::Instant::now() < deadline,
            "read {seen} of {}",
            2 * EACH
        );
        for row in revocation::after(&reader, seen, 0, 500).await.unwrap() {
            assert_eq!(
                row.seq,
                seen + 1,
                "a reader at {seen} never sees a later number first"
            );
            seen = row.seq;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    for writer in writers {
        writer.await.unwrap();
    }
    assert_eq!(revocation::latest(&reader).await.unwrap(), 2 * EACH);
}

/// 0 to 4 ms, varying with `n`.
fn fastrand_ms(n: i64) -> u64 {
    (n.unsigned_abs() * 7 + 3) % 5
}

async fn the_latest_revocation_survives_purges(backend: Backend) {
    let settings = test_settings(&backend).await;
    let pool = auth_service::db::connect(&settings.database).await.unwrap();
    let revoker = revocation::Revoker::new("iss", 60);
    for n in 0..3 {
        revocation::append_alone(&pool, &revoker.session(&format!("s{n}"), "u", 1_000), 1_000)
            .await
            .unwrap();
    }
    // All three expired long ago; the last is kept, or the next would get its number again.
    assert_eq!(revocation::purge(&pool, 100_000, 500).await.unwrap(), 2);
    assert_eq!(revocation::latest(&pool).await.unwrap(), 3);
    assert!(
        revocation::after(&pool, 0, 100_000, 500)
            .await
            .unwrap()
            .is_empty()
    );
    let next = revoker.session("s3", "u", 100_000);
    assert_eq!(
        revocation::append_alone(&pool, &next, 100_000)
            .await
            .unwrap(),
        4
    );
}
