//! Two auth-service instances on one PostgreSQL database, as replicas behind a load
//! balancer: the login and `/refresh` limits hold across them (`limits.store = "auto"`
//! keeps the counts in the database), where counts in each one's memory would let N
//! instances grant N times the limit. PostgreSQL only (skipped without a server, failed
//! under `REQUIRE_POSTGRES`).

use std::time::Duration;

use auth_service::configuration::{LimitStore, Settings};
use futures_util::future::join_all;

use crate::helpers::{Backend, TestApp, spawn_with, test_settings};

/// Two instances on one fresh database, with `configure`d settings; `None` without a server.
async fn two_instances(configure: impl Fn(&mut Settings)) -> Option<[TestApp; 2]> {
    let backend = Backend::postgres()?;
    let mut settings = test_settings(&backend).await;
    configure(&mut settings);
    // Each binds its own port 0; the first has migrated the database before the second
    // starts, as a rolling deployment would.
    let first = spawn_with(settings.clone()).await;
    let second = spawn_with(settings).await;
    assert_eq!(
        first.register("bystander", "password-1234").await.status(),
        201
    );
    Some([first, second])
}

async fn login_from(app: &TestApp, address: &str, username: &str, password: &str) -> u16 {
    crate::limits::login_from(app, address, username, password)
        .await
        .status()
        .as_u16()
}

/// Sends `count` wrong guesses for user1 from one address at once, alternating between the
/// instances, beside a bystander's login on each; the number of guesses that were checked
/// (401, not 429).
async fn guesses_checked(apps: &[TestApp; 2], count: usize) -> usize {
    let guesses =
        join_all((0..count).map(|i| login_from(&apps[i % 2], "203.0.113.9", "user1", "guess")));
    let bystanders = join_all(
        apps.iter()
            .map(|app| login_from(app, "192.0.2.44", "bystander", "password-1234")),
    );
    let (answers, bystanders) = tokio::join!(guesses, bystanders);
    assert_eq!(bystanders, [200, 200], "the bystander on each instance");
    assert!(
        answers.iter().all(|s| *s == 401 || *s == 429),
        "{answers:?}"
    );
    answers.iter().filter(|s| **s == 401).count()
}

#[tokio::test]
async fn simultaneous_guesses_over_two_instances_are_checked_up_to_the_limit_once() {
    let Some(apps) = two_instances(|s| s.login.max_failures_per_username_and_address = 4).await
    else {
        return;
    };
    assert_eq!(guesses_checked(&apps, 16).await, 4);
    // The right password from that address is refused by either instance now.
    for app in &apps {
        assert_eq!(
            login_from(app, "203.0.113.9", "user1", "password123").await,
            429
        );
    }
    // And the owner's own address is served by either.
    for app in &apps {
        assert_eq!(
            login_from(app, "198.51.100.7", "user1", "password123").await,
            200
        );
    }
}

#[tokio::test]
async fn counted_in_each_instance_s_memory_the_limit_would_double() {
    // The contrast that shows what the shared counts are for (and that the test above can
    // fail): the same attack on two instances counting in memory is checked twice as often.
    let Some(apps) = two_instances(|s| {
        s.login.max_failures_per_username_and_address = 4;
        s.limits.store = LimitStore::Memory;
    })
    .await
    else {
        return;
    };
    assert_eq!(guesses_checked(&apps, 16).await, 8);
}

#[tokio::test]
async fn a_login_on_one_instance_makes_the_address_known_to_the_other() {
    let Some([first, second]) = two_instances(|s| {
        s.login.max_failures_per_username_across_addresses = 3;
    })
    .await
    else {
        return;
    };
    let home = "198.51.100.7";
    assert_eq!(login_from(&first, home, "user1", "password123").await, 200);
    // Six addresses guess once each over the second instance: three are checked.
    let mut checked = 0;
    for i in 0..6 {
        let status = login_from(&second, &format!("203.0.113.{i}"), "user1", "guess").await;
        checked += usize::from(status == 401);
    }
    assert_eq!(checked, 3);
    // A new address is refused by the first instance; home is served by the second.
    assert_eq!(
        login_from(&first, "203.0.113.200", "user1", "password123").await,
        429
    );
    assert_eq!(login_from(&second, home, "user1", "password123").await, 200);
}

#[tokio::test]
async fn refresh_rotations_over_two_instances_share_the_family_limit() {
    let Some(apps) = two_instances(|s| s.refresh.max_per_family = 3).await else {
        return;
    };
    let mut token = apps[0].login_ok("user1", "password123").await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    for i in 0..3 {
        let response = apps[i % 2].refresh(&token).await;
        assert_eq!(response.status().as_u16(), 200, "rotation {i}");
        let body: serde_json::Value = response.json().await.unwrap();
        token = body["refresh_token"].as_str().unwrap().to_owned();
    }
    // The fourth, on the instance that did one of the three, and on the other.
    for app in &apps {
        let response = app.refresh(&token).await;
        assert_eq!(response.status().as_u16(), 429);
    }
}

#[tokio::test]
async fn ended_windows_are_purged() {
    let Some(apps) = two_instances(|s| s.login.failure_window_seconds = 1).await else {
        return;
    };
    assert_eq!(
        login_from(&apps[0], "203.0.113.9", "user1", "guess").await,
        401
    );
    let pool = auth_service::db::connect(&apps[0].settings.database)
        .await
        .unwrap();
    let rows = || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM limit_windows")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    assert_eq!(rows().await, 3, "the pair, the username and the address");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let now = auth_service::limiter::shared::now_ms();
    let deleted = auth_service::limiter::shared::purge(&pool, now, 2, 10)
        .await
        .unwrap();
    assert_eq!(deleted, 3);
    assert_eq!(rows().await, 0);
}
