//! Unit tests of the settings layers: files, overlays, the environment and its forms.

use super::*;

#[derive(Debug, Deserialize)]
struct Demo {
    application: ApplicationSettings,
    name: String,
    #[serde(default)]
    tags: Vec<String>,
}

const SOURCES: Sources = Sources {
    base: "name = \"base\"\n[application]\nhost = \"127.0.0.1\"\nport = 1",
    local: "[application]\nport = 2",
    production: "name = \"prod\"\n[application]\nhost = \"0.0.0.0\"",
    env_prefix: "DEMO",
    secret_keys: &["name"],
    list_keys: &["tags"],
};

fn vars(pairs: &[(&str, &str)]) -> EnvVars {
    EnvVars::Given(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

#[test]
fn overlay_wins_over_base_and_environment_wins_over_overlay() {
    let local: Demo = load(&SOURCES, Environment::Local, None, vars(&[])).unwrap();
    assert_eq!((local.name.as_str(), local.application.port), ("base", 2));

    let prod: Demo = load(
        &SOURCES,
        Environment::Production,
        None,
        vars(&[("DEMO__APPLICATION__PORT", "9000"), ("DEMO__NAME", "env")]),
    )
    .unwrap();
    assert_eq!(prod.application.host, "0.0.0.0");
    assert_eq!(prod.application.port, 9000);
    assert_eq!(prod.name, "env");
}

#[test]
fn a_settings_file_sits_between_the_overlay_and_the_environment() {
    let dir = std::env::temp_dir().join(format!("settings-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("demo.toml");
    std::fs::write(
        &file,
        "name = \"file\"\ntags = [\"a\"]\n[application]\nport = 3\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();

    let from_variable: Demo = load(
        &SOURCES,
        Environment::Local,
        None,
        vars(&[("DEMO_CONFIG", path)]),
    )
    .unwrap();
    assert_eq!(from_variable.name, "file");
    assert_eq!(
        from_variable.application.port, 3,
        "the file wins over the overlay"
    );
    assert_eq!(from_variable.tags, ["a"]);

    let with_env: Demo = load(
        &SOURCES,
        Environment::Local,
        Some(&file),
        vars(&[("DEMO__APPLICATION__PORT", "4"), ("DEMO__TAGS", "x, y")]),
    )
    .unwrap();
    assert_eq!(
        with_env.application.port, 4,
        "the environment wins over the file"
    );
    assert_eq!(with_env.tags, ["x", "y"], "a list key is split on commas");
    assert_eq!(with_env.name, "file");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_missing_or_broken_settings_file_is_named() {
    let dir = std::env::temp_dir().join(format!("settings-broken-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let broken = dir.join("broken.toml");
    std::fs::write(&broken, "[application\nport = ").unwrap();
    let missing = dir.join("missing.toml");
    for (path, why) in [(&missing, "missing"), (&broken, "not TOML")] {
        let err = load::<Demo>(&SOURCES, Environment::Local, Some(path), vars(&[])).unwrap_err();
        let text = format!("{err:#}");
        assert!(text.contains(path.to_str().unwrap()), "{why}: {text}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_non_numeric_port_is_a_clear_error() {
    let err = load::<Demo>(
        &SOURCES,
        Environment::Local,
        None,
        vars(&[("DEMO__APPLICATION__PORT", "http")]),
    )
    .unwrap_err();
    assert!(format!("{err:#}").contains("port"), "{err:#}");
}

#[test]
fn public_urls_are_absolute_and_lose_their_trailing_slash() {
    let ok = check_public_url("public_url", "https://api.example.com/").unwrap();
    assert_eq!(ok, "https://api.example.com");
    let bad = [
        "auth-service",
        "ftp://x",
        "https://",
        "http://a/?q",
        "http://a b",
        "",
    ];
    for value in bad {
        let err = check_public_url("public_url", value).unwrap_err();
        assert!(format!("{err}").contains("public_url"), "{value:?}: {err}");
    }
}

#[test]
fn environment_names_parse_case_insensitively_and_reject_others() {
    assert_eq!(
        "Production".parse::<Environment>().unwrap(),
        Environment::Production
    );
    assert_eq!("local".parse::<Environment>().unwrap(), Environment::Local);
    assert!("staging".parse::<Environment>().is_err());
}
