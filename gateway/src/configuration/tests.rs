//! Unit tests of the gateway's settings: profiles, overrides and their checks.

use super::*;

fn load(environment: Environment, vars: &[(&str, &str)]) -> anyhow::Result<Settings> {
    let vars = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Settings::load_with(environment, EnvVars::Given(vars))
}

#[test]
fn local_profile_listens_on_8080_and_routes_the_seeds_paths() {
    let settings = load(Environment::Local, &[]).unwrap();
    assert_eq!(settings.application.port, 8080);
    let paths: Vec<_> = settings.routes.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/login",
            "/refresh",
            "/logout",
            "/register",
            "/.well-known",
            "/protected",
            "/api"
        ]
    );
    assert_eq!(settings.welcome_message, shared::messages::WELCOME);
}

#[test]
fn a_wildcard_origin_with_credentials_is_refused() {
    let err = load(
        Environment::Local,
        &[("GATEWAY__CORS__ALLOW_CREDENTIALS", "true")],
    )
    .unwrap_err();
    assert!(err.to_string().contains("credentials"), "{err}");
}

#[test]
fn upstream_urls_come_from_the_environment() {
    let settings = load(
        Environment::Local,
        &[("GATEWAY__UPSTREAMS__AUTH__URL", "http://auth-service:8081")],
    )
    .unwrap();
    assert_eq!(settings.upstreams["auth"].url, "http://auth-service:8081");
}

#[test]
fn production_hs256_refuses_the_development_secret() {
    let err = load(
        Environment::Production,
        &[
            ("GATEWAY__JWT__MODE", "hs256"),
            (
                "GATEWAY__JWT__SECRET",
                service_kit::secrets::LOCAL_DEVELOPMENT_SECRET,
            ),
        ],
    )
    .unwrap_err();
    assert!(err.to_string().contains("example"), "{err}");
}

#[test]
fn production_jwks_mode_needs_no_signing_secret_but_an_identity_secret() {
    let missing = load(Environment::Production, &[]).unwrap_err();
    assert!(
        missing.to_string().contains("GATEWAY__IDENTITY__SECRET"),
        "{missing}"
    );
    let identity = (
        "GATEWAY__IDENTITY__SECRET",
        "9f1c2e7a5b3d4f60a8e1c2d3b4a5f6e7d8c9b0a1",
    );
    let settings = load(Environment::Production, &[identity]).unwrap();
    assert_eq!(settings.jwt.mode, VerificationMode::Jwks);
}

#[test]
fn production_limits_the_auth_routes_and_local_limits_nothing() {
    let identity = (
        "GATEWAY__IDENTITY__SECRET",
        "9f1c2e7a5b3d4f60a8e1c2d3b4a5f6e7d8c9b0a1",
    );
    let production = load(Environment::Production, &[identity]).unwrap();
    let limited: Vec<_> = production
        .routes
        .iter()
        .filter(|r| !r.rate_limit.per_address.is_empty())
        .map(|r| r.path.as_str())
        .collect();
    assert_eq!(limited, ["/login", "/refresh", "/register"]);
    assert_eq!(production.routes.len(), 7, "the whole route table");
    let local = load(Environment::Local, &[]).unwrap();
    assert!(
        local
            .routes
            .iter()
            .all(|r| r.rate_limit.per_address.is_empty() && r.rate_limit.per_subject.is_empty())
    );
    assert!(local.client_address.trusted_proxies.is_empty());
}

#[test]
fn trusted_proxies_come_from_the_environment_as_a_list() {
    let settings = load(
        Environment::Local,
        &[(
            "GATEWAY__CLIENT_ADDRESS__TRUSTED_PROXIES",
            "10.0.0.0/8,192.168.1.1/32",
        )],
    )
    .unwrap();
    assert_eq!(settings.client_address.trusted_proxies.len(), 2);
    let bad = load(
        Environment::Local,
        &[("GATEWAY__CLIENT_ADDRESS__TRUSTED_PROXIES", "not-a-net")],
    );
    assert!(bad.is_err());
}

#[test]
fn bad_rate_limits_are_refused_at_start_up() {
    let mut settings = load(Environment::Local, &[]).unwrap();
    settings.routes[0].rate_limit.per_address = "ten per second".into();
    let err = settings.validate().unwrap_err();
    assert!(
        format!("{err:#}").contains("\"/login\" rate_limit"),
        "{err:#}"
    );
    let mut settings = load(Environment::Local, &[]).unwrap();
    settings.routes[0].rate_limit.per_subject = "1/s".into();
    let err = settings.validate().unwrap_err();
    assert!(format!("{err:#}").contains("is public"), "{err:#}");
}

#[test]
fn the_old_cache_capacity_setting_is_refused_with_its_new_name() {
    let err = load(
        Environment::Local,
        &[("GATEWAY__JWT__CACHE_CAPACITY", "10000")],
    )
    .unwrap_err();
    assert!(err.to_string().contains("jwt.cache_bytes"), "{err}");
    let settings = load(Environment::Local, &[]).unwrap();
    assert_eq!(settings.jwt.cache_bytes, 32 * 1024 * 1024);
}
