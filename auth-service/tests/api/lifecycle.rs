//! The auth-service's background tasks run with it and end with it.

use std::time::{Duration, Instant};

use auth_service::startup::Application;

use crate::helpers::{Backend, test_settings};

#[tokio::test]
async fn a_dropped_service_leaves_no_background_task() {
    let app = Application::build(test_settings(&Backend::Sqlite).await)
        .await
        .unwrap();
    let tasks = app.background_tasks();
    // The key reloader, the revocation poller and the refresh-token purger.
    assert_eq!(tasks.len(), 3);
    tokio::task::yield_now().await;
    assert!(tasks.iter().all(|t| !t.is_finished()), "they run with it");
    drop(app);
    let started = Instant::now();
    while tasks.iter().any(|t| !t.is_finished()) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "a task outlived the service"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
