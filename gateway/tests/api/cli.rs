//! The gateway binary's command line and its settings layers, run as a process.

use std::process::{Command, Output};

fn gateway(vars: &[(&str, &str)], args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gateway"))
        .env_clear()
        .envs(vars.iter().copied())
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_and_version_answer_without_serving() {
    let help = gateway(&[], &["--help"]);
    assert!(help.status.success());
    let out = text(&help.stdout);
    for expected in [
        "Usage: gateway",
        "check-config",
        "healthcheck",
        "--config <PATH>",
    ] {
        assert!(out.contains(expected), "{expected}: {out}");
    }
    let version = gateway(&[], &["--version"]);
    assert_eq!(
        text(&version.stdout).trim(),
        concat!("gateway ", env!("CARGO_PKG_VERSION"))
    );
    let wrong = gateway(&[], &["serve", "--port", "1"]);
    assert!(!wrong.status.success());
    assert!(text(&wrong.stderr).contains("unexpected argument"));
}

#[test]
fn a_settings_file_and_list_variables_change_the_effective_settings() {
    let folder = std::env::temp_dir().join(format!("gateway-cli-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&folder).unwrap();
    let file = folder.join("gateway.toml");
    std::fs::write(
        &file,
        "welcome_message = \"From the file\"\n\
         [cors]\nallowed_origins = [\"https://file.example\"]\n\
         [[routes]]\npath = \"/reports\"\nupstream = \"resource\"\naccess = \"protected\"\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();

    let from_file = gateway(&[], &["--config", path, "check-config"]);
    let out = text(&from_file.stdout);
    assert!(from_file.status.success(), "{}", text(&from_file.stderr));
    for expected in ["From the file", "https://file.example", "/reports"] {
        assert!(out.contains(expected), "{expected}: {out}");
    }

    let origins = "https://a.example, https://b.example";
    let with_env = gateway(
        &[
            ("GATEWAY_CONFIG", path),
            ("GATEWAY__CORS__ALLOWED_ORIGINS", origins),
        ],
        &["check-config"],
    );
    let out = text(&with_env.stdout);
    assert!(
        out.contains("From the file"),
        "GATEWAY_CONFIG names the file: {out}"
    );
    assert!(
        out.contains("\"https://a.example\"") && out.contains("\"https://b.example\""),
        "the variable wins over the file, split on commas: {out}"
    );
    assert!(!out.contains("https://file.example"), "{out}");
    std::fs::remove_dir_all(folder).unwrap();
}

#[test]
fn check_config_names_the_key_that_is_wrong_and_never_prints_a_secret() {
    let cases = [
        (
            vec![("GATEWAY__PROXY__MAX_RETRIES", "many")],
            "proxy.max_retries",
        ),
        (
            vec![("GATEWAY_CONFIG", "/nonexistent/gateway.toml")],
            "/nonexistent/gateway.toml",
        ),
        (
            vec![("GATEWAY__JWT__SECRET_FILE", "/nonexistent/secret")],
            "GATEWAY__JWT__SECRET_FILE",
        ),
    ];
    for (vars, expected) in cases {
        let output = gateway(&vars, &["check-config"]);
        let err = text(&output.stderr);
        assert!(
            !output.status.success() && err.contains(expected),
            "{expected}: {err}"
        );
    }
    let secret = "Zx8q2LmN4vR7tY1wK9pB3sD6fH0jA5cUe";
    let output = gateway(&[("GATEWAY__IDENTITY__SECRET", secret)], &["check-config"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(!text(&output.stdout).contains(secret));
}
