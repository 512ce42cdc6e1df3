use crate::helpers::{Backend, spawn_with, test_settings};
use crate::process::run_cli;

crate::on_both_backends!(the_admin_command_line_manages_users_in_the_services_store);

async fn the_admin_command_line_manages_users_in_the_services_store(backend: Backend) {
    let settings = test_settings(&backend).await;
    let url = secrecy::ExposeSecret::expose_secret(&settings.database.url).to_owned();
    let app = spawn_with(settings).await;

    let (ok, out, err) = run_cli(
        &url,
        &["users", "add", "bob", "reader", "admin"],
        "s3cret-password\n",
    );
    assert!(ok, "{err}");
    assert!(out.starts_with("created bob ("), "{out}");
    let tokens = app.login_ok("bob", "s3cret-password").await;
    let claims = app.decode(tokens["token"].as_str().unwrap()).await;
    assert_eq!(claims.roles, ["admin", "reader"]);

    let (ok, _, err) = run_cli(&url, &["users", "add", "bob"], "another-password\n");
    assert!(!ok && err.contains("already exists"), "{err}");
    let (ok, _, err) = run_cli(&url, &["users", "add", "carol"], "");
    assert!(!ok && err.contains("no password"), "{err}");
    let (ok, _, err) = run_cli(
        &url,
        &["users", "add", "carol", "Bad Role"],
        "s3cret-password\n",
    );
    assert!(!ok && err.contains("Role"), "{err}");

    let (ok, out, _) = run_cli(&url, &["users", "set-roles", "bob", "auditor"], "");
    assert!(ok, "{out}");
    let tokens = app.login_ok("bob", "s3cret-password").await;
    assert_eq!(
        app.decode(tokens["token"].as_str().unwrap()).await.roles,
        ["auditor"]
    );

    let (ok, out, _) = run_cli(&url, &["users", "list"], "");
    assert!(ok);
    let names: Vec<_> = out.lines().map(|l| l.split('\t').next().unwrap()).collect();
    assert_eq!(names, ["bob", "user1"]);
    assert!(!out.contains("argon2"), "hashes are never listed: {out}");

    let (ok, _, _) = run_cli(&url, &["users", "remove", "bob"], "");
    assert!(ok);
    assert_eq!(
        app.login("bob", "s3cret-password").await.status().as_u16(),
        401
    );
    let (ok, _, err) = run_cli(&url, &["users", "remove", "bob"], "");
    assert!(!ok && err.contains("no user"), "{err}");

    let (ok, out, _) = run_cli(&url, &["keys", "rotate"], "");
    assert!(ok && out.starts_with("new key "), "{out}");
    let (ok, out, _) = run_cli(&url, &["keys", "list"], "");
    assert!(ok);
    let states: Vec<_> = out
        .lines()
        .map(|l| l.rsplit('\t').next().unwrap())
        .collect();
    assert_eq!(states, ["signing", "published, signs later"], "{out}");
}

#[tokio::test]
async fn hash_password_makes_a_hash_that_bootstraps_a_user() {
    let mut settings = test_settings(&Backend::Sqlite).await;
    let url = secrecy::ExposeSecret::expose_secret(&settings.database.url).to_owned();
    let (ok, out, err) = run_cli(&url, &["hash-password"], "ops-password-42\n");
    assert!(ok, "{err}");
    let hash = out.trim();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );

    settings.users.bootstrap = vec![auth_service::configuration::BootstrapUser {
        username: "ops".into(),
        password_hash: hash.to_owned().into(),
        roles: vec!["admin".into()],
    }];
    let app = spawn_with(settings).await;
    let tokens = app.login_ok("ops", "ops-password-42").await;
    assert_eq!(
        app.decode(tokens["token"].as_str().unwrap()).await.roles,
        ["admin"]
    );
}

#[tokio::test]
async fn unknown_commands_fail_with_the_usage() {
    let url = Backend::Sqlite.fresh_database_url().await;
    let (ok, _, err) = run_cli(&url, &["users", "frobnicate"], "");
    assert!(!ok && err.contains("usage: auth-service"), "{err}");
    let (ok, out, _) = run_cli(&url, &["--help"], "");
    assert!(ok && out.contains("keys rotate"), "{out}");
}
