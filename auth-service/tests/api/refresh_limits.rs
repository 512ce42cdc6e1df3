//! `/refresh` rate limits and the purge of dead refresh tokens, on both databases.

use std::time::{Duration, Instant};

use auth_service::refresh::{PurgeReport, RefreshStore};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, assert_json_error, spawn_with, test_settings};

crate::on_both_backends!(
    refreshing_past_the_family_and_user_limits_gets_429_and_writes_nothing,
    a_purge_deletes_dead_families_in_batches_and_keeps_what_reuse_detection_needs,
    the_background_purge_runs_on_its_interval,
);

const TOO_MANY: &str = "Too many token refreshes; try again later.";
const REUSED: &str = "Refresh token was already used; the session has been revoked.";

fn refresh_token(body: &Value) -> String {
    body["refresh_token"].as_str().unwrap().to_owned()
}

async fn rows(app: &TestApp) -> i64 {
    let pool = auth_service::db::connect(&app.settings.database)
        .await
        .unwrap();
    sqlx::query_scalar("SELECT COUNT(*) FROM refresh_tokens")
        .fetch_one(&pool)
        .await
        .unwrap()
}

async fn assert_limited(response: reqwest::Response) {
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_json_error(response, 429, TOO_MANY).await;
}

async fn logout(app: &TestApp, token: &str) {
    let body = json!({ "refresh_token": token }).to_string();
    assert_eq!(app.post_json("/logout", body).await.status().as_u16(), 200);
}

async fn refreshing_past_the_family_and_user_limits_gets_429_and_writes_nothing(backend: Backend) {
    let mut settings = test_settings(&backend).await;
    settings.refresh.max_per_family = 3;
    settings.refresh.max_per_user = 5;
    settings.refresh.window_seconds = 60;
    let app = spawn_with(settings).await;
    assert_eq!(
        app.register("bystander", "password-1234").await.status(),
        201
    );

    let mut token = refresh_token(&app.login_ok("user1", "password123").await);
    for _ in 0..3 {
        let response = app.refresh(&token).await;
        assert_eq!(response.status().as_u16(), 200);
        token = refresh_token(&response.json().await.unwrap());
    }
    assert_eq!(rows(&app).await, 4);
    assert_limited(app.refresh(&token).await).await;
    assert_eq!(rows(&app).await, 4, "a refused refresh writes nothing");

    // Another of user1's families has what is left of the user's limit: two.
    let mut other = refresh_token(&app.login_ok("user1", "password123").await);
    for _ in 0..2 {
        let response = app.refresh(&other).await;
        assert_eq!(response.status().as_u16(), 200);
        other = refresh_token(&response.json().await.unwrap());
    }
    assert_limited(app.refresh(&other).await).await;

    // Someone else is served meanwhile.
    let theirs = refresh_token(&app.login_ok("bystander", "password-1234").await);
    let response = app.refresh(&theirs).await;
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        app.decode(body["token"].as_str().unwrap()).await.user,
        "bystander"
    );
}

async fn a_purge_deletes_dead_families_in_batches_and_keeps_what_reuse_detection_needs(
    backend: Backend,
) {
    let mut settings = test_settings(&backend).await;
    settings.jwt.refresh_reuse_grace_seconds = 0;
    let app = spawn_with(settings).await;
    let ttl = app.settings.jwt.refresh_token_ttl_seconds;
    let pool = auth_service::db::connect(&app.settings.database)
        .await
        .unwrap();
    let store = RefreshStore::new(
        pool,
        ttl,
        0,
        auth_service::revocation::Revoker::new("iss", 60),
    );

    // Dead: a refreshed family logged out (2 rows) and three logged-out logins (3 rows).
    let first = refresh_token(&app.login_ok("user1", "password123").await);
    let second = refresh_token(&app.refresh(&first).await.json().await.unwrap());
    logout(&app, &second).await;
    for _ in 0..3 {
        logout(
            &app,
            &refresh_token(&app.login_ok("user1", "password123").await),
        )
        .await;
    }
    // Live: a used token and its live successor.
    let used = refresh_token(&app.login_ok("user1", "password123").await);
    let live = refresh_token(&app.refresh(&used).await.json().await.unwrap());

    let report = store.purge(auth_service::db::now(), 2).await.unwrap();
    assert_eq!(
        report,
        PurgeReport {
            deleted: 5,
            batches: 3
        }
    );
    assert_eq!(rows(&app).await, 2);

    // Both kept rows still do their work: the live token rotates, and the used one is
    // still recognised as reuse, which revokes the family.
    assert_eq!(app.refresh(&live).await.status().as_u16(), 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_json_error(app.refresh(&used).await, 401, REUSED).await;

    // The revoked family goes; a fresh login stays until it expires.
    let fresh = refresh_token(&app.login_ok("user1", "password123").await);
    let report = store.purge(auth_service::db::now(), 100).await.unwrap();
    assert_eq!(
        report,
        PurgeReport {
            deleted: 3,
            batches: 1
        }
    );
    assert_eq!(rows(&app).await, 1);
    let expired_at = auth_service::db::now() + i64::try_from(ttl).unwrap() + 1;
    let report = store.purge(expired_at, 100).await.unwrap();
    assert_eq!(report.deleted, 1);
    assert_eq!(rows(&app).await, 0);
    drop(fresh);
}

async fn the_background_purge_runs_on_its_interval(backend: Backend) {
    let mut settings = test_settings(&backend).await;
    settings.refresh.purge_interval_seconds = 1;
    let app = spawn_with(settings).await;
    let kept = refresh_token(&app.login_ok("user1", "password123").await);
    logout(
        &app,
        &refresh_token(&app.login_ok("user1", "password123").await),
    )
    .await;
    let started = Instant::now();
    while rows(&app).await > 1 {
        assert!(started.elapsed() < Duration::from_secs(15), "never purged");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(app.refresh(&kept).await.status().as_u16(), 200);
}

/// Of several instances on one PostgreSQL database, one purges at a time: while another
/// holds the purge lock, a scheduled purge skips its round.
#[tokio::test]
async fn one_instance_purges_at_a_time() {
    use sqlx::Connection;
    let Some(backend) = Backend::postgres() else {
        return;
    };
    let settings = test_settings(&backend).await;
    let pool = auth_service::db::connect(&settings.database).await.unwrap();
    let store = RefreshStore::new(
        pool,
        60,
        0,
        auth_service::revocation::Revoker::new("iss", 60),
    );
    let url = secrecy::ExposeSecret::expose_secret(&settings.database.url).to_owned();
    let mut other = sqlx::AnyConnection::connect(&url).await.unwrap();
    let lock = auth_service::refresh::PURGE_LOCK;
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(lock)
        .execute(&mut other)
        .await
        .unwrap();
    let now = auth_service::db::now();
    assert_eq!(store.purge_alone(now, 100).await.unwrap(), None, "skipped");
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(lock)
        .execute(&mut other)
        .await
        .unwrap();
    assert_eq!(
        store.purge_alone(now, 100).await.unwrap(),
        Some(0),
        "its turn"
    );
    // And it let go of the lock when done.
    let free: bool = sqlx::Row::try_get(
        &sqlx::query("SELECT pg_try_advisory_lock($1) AS got")
            .bind(lock)
            .fetch_one(&mut other)
            .await
            .unwrap(),
        "got",
    )
    .unwrap();
    assert!(free);
}
