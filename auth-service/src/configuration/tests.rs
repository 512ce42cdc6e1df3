//! Unit tests of the auth-service's settings: profiles and the checks on them.

use super::*;
use std::collections::HashMap;

fn load(environment: Environment, vars: &[(&str, &str)]) -> anyhow::Result<Settings> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Settings::load_with(environment, EnvVars::Given(vars))
}

const STRONG: &str = "9f1c2e7a5b3d4f60a8e1c2d3b4a5f6e7d8c9b0a1";

#[test]
fn local_profile_serves_the_seeds_demo_user_on_8081_with_eddsa() {
    let settings = load(Environment::Local, &[]).unwrap();
    assert_eq!(settings.application.port, 8081);
    assert_eq!(settings.jwt.algorithm, SigningAlgorithm::EdDSA);
    assert!(settings.registration.enabled);
    assert_eq!(settings.users.demo.len(), 1);
    assert_eq!(settings.users.demo[0].username, "user1");
}

#[test]
fn production_with_eddsa_needs_no_secret_and_closes_registration() {
    let settings = load(Environment::Production, &[]).unwrap();
    assert_eq!(settings.application.host, "0.0.0.0");
    assert!(!settings.registration.enabled);
    assert!(settings.users.demo.is_empty());
}

#[test]
fn production_hs256_refuses_a_missing_or_default_secret() {
    let hs = ("AUTH__JWT__ALGORITHM", "HS256");
    let missing = load(Environment::Production, &[hs]).unwrap_err();
    assert!(missing.to_string().contains("not set"), "{missing}");
    let default = load(
        Environment::Production,
        &[
            hs,
            (
                "AUTH__JWT__SECRET",
                service_kit::secrets::LOCAL_DEVELOPMENT_SECRET,
            ),
        ],
    )
    .unwrap_err();
    assert!(default.to_string().contains("example"), "{default}");
    load(
        Environment::Production,
        &[hs, ("AUTH__JWT__SECRET", STRONG)],
    )
    .unwrap();
}

#[test]
fn a_demo_user_needs_exactly_one_of_password_and_hash() {
    let mut settings = load(Environment::Local, &[]).unwrap();
    assert!(
        settings.users.demo[0].password_hash.is_some(),
        "local ships a hash"
    );
    let refused = |settings: &Settings| {
        settings
            .validate()
            .unwrap_err()
            .to_string()
            .contains("exactly one")
    };
    settings.users.demo[0].password = Some("password123".to_owned().into());
    assert!(refused(&settings), "both");
    settings.users.demo[0].password = None;
    settings.users.demo[0].password_hash = None;
    assert!(refused(&settings), "neither");
}

#[test]
fn production_refuses_demo_users() {
    let mut settings = load(Environment::Production, &[]).unwrap();
    settings.users.demo = load(Environment::Local, &[]).unwrap().users.demo;
    let err = settings.validate().unwrap_err();
    assert!(err.to_string().contains("demo users"), "{err}");
}

#[test]
fn the_replaced_per_username_limit_is_refused_naming_its_successors() {
    let err = load(
        Environment::Local,
        &[("AUTH__LOGIN__MAX_FAILURES_PER_USERNAME", "10")],
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("AUTH__LOGIN__MAX_FAILURES_PER_USERNAME_AND_ADDRESS"),
        "{err}"
    );
    assert!(
        err.contains("login.max_failures_per_username_across_addresses"),
        "{err}"
    );
    let settings = load(
        Environment::Local,
        &[("AUTH__LOGIN__MAX_FAILURES_PER_USERNAME_AND_ADDRESS", "4")],
    )
    .unwrap();
    assert_eq!(settings.login.max_failures_per_username_and_address, 4);
    assert_eq!(
        settings.login.max_failures_per_address, 50,
        "kept, same meaning"
    );
}

#[test]
fn the_defences_have_positive_defaults() {
    let settings = load(Environment::Production, &[]).unwrap();
    assert_eq!(settings.login.max_failures_per_username_and_address, 10);
    assert_eq!(
        settings.login.max_failures_per_username_across_addresses,
        100
    );
    assert!(settings.hashing.threads() >= 1);
    assert_eq!(settings.hashing.max_waiting, 32);
    assert_eq!(settings.refresh.max_per_family, 10);
    assert_eq!(settings.refresh.purge_batch_size, 500);
}

#[test]
fn defences_that_would_refuse_everyone_or_overflow_a_clock_are_refused() {
    for (key, value, says) in [
        ("AUTH__LOGIN__MAX_FAILURES_PER_ADDRESS", "0", "positive"),
        (
            "AUTH__LOGIN__KNOWN_ADDRESS_SECONDS",
            "18446744073709551615",
            "ten years",
        ),
        ("AUTH__HASHING__BUSY_RETRY_AFTER_SECONDS", "0", "positive"),
        ("AUTH__HASHING__CONCURRENT_HASHES", "100000", "at most"),
        ("AUTH__REFRESH__PURGE_BATCH_SIZE", "0", "positive"),
        (
            "AUTH__REFRESH__PURGE_INTERVAL_SECONDS",
            "999999999999",
            "ten years",
        ),
    ] {
        let err = load(Environment::Local, &[(key, value)])
            .unwrap_err()
            .to_string();
        assert!(err.contains(says), "{key}={value}: {err}");
    }
}

#[test]
fn the_limits_count_in_the_database_on_postgresql_and_in_memory_on_sqlite() {
    let pg = ("AUTH__DATABASE__URL", "postgres://auth@db/auth");
    let settings = load(Environment::Local, &[pg]).unwrap();
    assert_eq!(settings.limits.store, LimitStore::Auto);
    assert!(settings.limits.in_database(true).unwrap());
    assert!(!settings.limits.in_database(false).unwrap());
    let memory = load(Environment::Local, &[pg, ("AUTH__LIMITS__STORE", "memory")]).unwrap();
    assert!(!memory.limits.in_database(true).unwrap());
    // Asked for on SQLite, where one file serves one instance: refused, saying why.
    let err = load(Environment::Local, &[("AUTH__LIMITS__STORE", "database")]).unwrap_err();
    assert!(format!("{err:#}").contains("needs a PostgreSQL"), "{err:#}");
    assert!(
        load(
            Environment::Local,
            &[pg, ("AUTH__LIMITS__STORE", "database")]
        )
        .is_ok()
    );
    assert!(load(Environment::Local, &[("AUTH__LIMITS__STORE", "redis")]).is_err());
}
