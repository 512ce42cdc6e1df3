use crate::helpers::{Backend, spawn_with, test_settings};
use crate::process::{run_cli, run_cli_with};

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
    assert!(
        !ok && err.to_lowercase().contains("usage: auth-service"),
        "{err}"
    );
    let (ok, out, _) = run_cli(&url, &["--help"], "");
    assert!(ok && out.contains("keys rotate"), "{out}");
}

/// A SQLite URL for a file in a fresh folder that does not exist yet.
fn missing_database() -> (std::path::PathBuf, String) {
    let folder = std::env::temp_dir().join(format!("auth-cli-{}", uuid::Uuid::new_v4()));
    let file = folder.join("auth.db");
    let url = format!("sqlite://{}?mode=rwc", file.display());
    (folder, url)
}

#[tokio::test]
async fn argument_errors_come_before_any_side_effect() {
    let (folder, url) = missing_database();
    let cases: [(&[&str], &str); 3] = [
        (&["frobnicate"], "unrecognized subcommand"),
        (&["users", "add"], "<NAME>"),
        (&["keys", "rotate", "now"], "unexpected argument"),
    ];
    for (args, expected) in cases {
        let (ok, _, err) = run_cli(&url, args, "");
        assert!(!ok && err.contains(expected), "{args:?}: {err}");
    }
    assert!(!folder.exists(), "no database was created or migrated");
}

#[tokio::test]
async fn admin_commands_name_their_database_and_never_create_an_empty_one() {
    let (folder, url) = missing_database();
    let (ok, _, err) = run_cli(&url, &["users", "list"], "");
    let expected = format!("no database at {}", folder.join("auth.db").display());
    assert!(!ok && err.contains(&expected), "{err}");
    assert!(!folder.join("auth.db").exists(), "the file was not created");

    let settings = test_settings(&Backend::Sqlite).await;
    let url = secrecy::ExposeSecret::expose_secret(&settings.database.url).to_owned();
    let _app = spawn_with(settings).await;
    let (ok, out, err) = run_cli(&url, &["users", "list"], "");
    assert!(ok, "{err}");
    assert!(out.starts_with("user1\t"), "{out}");
    assert!(err.starts_with("database: SQLite file /"), "{err}");
}

#[tokio::test]
async fn the_database_url_can_come_from_a_secret_file() {
    let settings = test_settings(&Backend::Sqlite).await;
    let url = secrecy::ExposeSecret::expose_secret(&settings.database.url).to_owned();
    let _app = spawn_with(settings).await;
    let file = std::env::temp_dir().join(format!("auth-url-{}", uuid::Uuid::new_v4()));
    std::fs::write(&file, format!("{url}\n")).unwrap();
    let path = file.to_str().unwrap();
    let (ok, out, err) = run_cli_with(
        &[("AUTH__DATABASE__URL_FILE", path)],
        &["users", "list"],
        "",
    );
    assert!(ok && out.starts_with("user1\t"), "{out} {err}");
    std::fs::remove_file(file).unwrap();
}

#[tokio::test]
async fn check_config_prints_the_settings_without_secrets_or_names_the_bad_key() {
    let secret_url = "postgres://app:hunter2-not-shown@db.internal/auth";
    let (ok, out, err) = run_cli_with(
        &[
            ("AUTH__DATABASE__URL", secret_url),
            ("AUTH__LOGIN__TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.1/32"),
        ],
        &["check-config"],
        "",
    );
    assert!(ok, "{err}");
    assert!(
        out.contains("REDACTED") && !out.contains("hunter2"),
        "{out}"
    );
    assert!(
        out.contains("10.0.0.0/8") && out.contains("192.168.1.1/32"),
        "{out}"
    );

    let (ok, _, err) = run_cli_with(
        &[("AUTH__APPLICATION__PORT", "http")],
        &["check-config"],
        "",
    );
    assert!(!ok && err.contains("application.port"), "{err}");
    let (ok, out, _) = run_cli_with(&[], &["--version"], "");
    assert!(ok && out.starts_with("auth-service "), "{out}");
}

#[tokio::test]
async fn minted_tokens_are_distinct_and_verify_against_the_served_keys() {
    let settings = test_settings(&Backend::Sqlite).await;
    let url = secrecy::ExposeSecret::expose_secret(&settings.database.url).to_owned();
    let app = spawn_with(settings).await;
    let (ok, out, err) = run_cli(
        &url,
        &[
            "tokens", "mint", "--user", "user1", "--count", "3", "--ttl", "120",
        ],
        "",
    );
    assert!(ok, "{err}");
    let tokens: Vec<&str> = out.lines().collect();
    assert_eq!(tokens.len(), 3, "{out}");
    let mut ids = Vec::new();
    for token in &tokens {
        let claims = app.decode(token).await;
        assert_eq!(claims.user, "user1");
        assert_eq!(claims.exp - claims.iat, 120);
        ids.push(claims.jti);
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "every token has its own id");

    let (ok, _, err) = run_cli(
        &url,
        &["tokens", "mint", "--user", "nobody", "--count", "1"],
        "",
    );
    assert!(!ok && err.contains("no user \"nobody\""), "{err}");
    let (ok, _, err) = run_cli(
        &url,
        &["tokens", "mint", "--user", "user1", "--count", "0"],
        "",
    );
    assert!(!ok && err.contains("--count"), "{err}");
    let (ok, _, err) = run_cli(
        &url,
        &[
            "tokens", "mint", "--user", "user1", "--count", "1", "--ttl", "999999",
        ],
        "",
    );
    assert!(!ok && err.contains("--ttl"), "{err}");
}
