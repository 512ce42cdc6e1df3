//! The environment layer of the settings: `PREFIX__SECTION__KEY` variables, plus the two
//! forms deployments need that plain variables cannot carry:
//! - a secret read from a file, `PREFIX__SECTION__KEY_FILE=/run/secrets/...`, as Docker and
//!   Kubernetes mount secrets (only for the keys a service declares secret, so that a
//!   setting whose own name ends in `_file` is never misread);
//! - a list as comma-separated values, `GATEWAY__CORS__ALLOWED_ORIGINS=https://a,https://b`,
//!   only for the keys a service declares lists (a global separator would also split values
//!   such as upstream URL lists, which the service splits itself).

use std::collections::HashMap;

use anyhow::Context;

/// Suffix of a variable that names a file holding the value of the variable without it.
pub const FILE_SUFFIX: &str = "_FILE";

/// The variables of one prefix, with file references read and lists split.
#[derive(Debug, Default)]
pub(crate) struct EnvLayer {
    /// Plain `PREFIX__SECTION__KEY` values.
    pub scalars: HashMap<String, String>,
    /// List-valued keys (dotted, lowercase) with their items.
    pub lists: Vec<(String, Vec<String>)>,
}

/// The variable that sets a dotted key: `jwt.secret` with prefix `GATEWAY` is
/// `GATEWAY__JWT__SECRET`.
pub fn variable_name(prefix: &str, key: &str) -> String {
    format!("{prefix}__{}", key.replace('.', "__")).to_ascii_uppercase()
}

/// Sorts the variables of `prefix` into the layer; an unreadable secret file, or a secret
/// set both directly and from a file, is an error naming the variable.
pub(crate) fn resolve(
    prefix: &str,
    secret_keys: &[&str],
    list_keys: &[&str],
    vars: impl IntoIterator<Item = (String, String)>,
) -> anyhow::Result<EnvLayer> {
    let own = format!("{prefix}__");
    let mut scalars: HashMap<String, String> = vars
        .into_iter()
        .filter(|(name, _)| name.starts_with(&own))
        .collect();
    for key in secret_keys {
        let name = variable_name(prefix, key);
        let file_name = format!("{name}{FILE_SUFFIX}");
        let Some(path) = scalars.remove(&file_name) else {
            continue;
        };
        if scalars.contains_key(&name) {
            anyhow::bail!("both {name} and {file_name} are set; set one of them");
        }
        let contents = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {file_name} ({path})"))?;
        // Files written by `echo` or an editor end with a newline that is no part of it.
        let value = contents.strip_suffix('\n').unwrap_or(&contents);
        let value = value.strip_suffix('\r').unwrap_or(value);
        scalars.insert(name, value.to_owned());
    }
    let mut lists = Vec::new();
    for key in list_keys {
        if let Some(value) = scalars.remove(&variable_name(prefix, key)) {
            let items = value
                .split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(str::to_owned)
                .collect();
            lists.push((key.to_string(), items));
        }
    }
    Ok(EnvLayer { scalars, lists })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_secret_is_read_from_its_file_without_the_final_newline() {
        let dir = std::env::temp_dir().join(format!("env-overrides-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("secret");
        std::fs::write(&file, "s3cret value\n").unwrap();
        let path = file.to_str().unwrap();
        let layer = resolve(
            "GW",
            &["jwt.secret"],
            &[],
            vars(&[("GW__JWT__SECRET_FILE", path)]),
        )
        .unwrap();
        assert_eq!(layer.scalars["GW__JWT__SECRET"], "s3cret value");
        assert!(!layer.scalars.contains_key("GW__JWT__SECRET_FILE"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn file_references_fail_clearly() {
        let cases = [
            (
                vars(&[("GW__JWT__SECRET_FILE", "/nonexistent/secret")]),
                "GW__JWT__SECRET_FILE",
                "a file that cannot be read names its variable",
            ),
            (
                vars(&[("GW__JWT__SECRET_FILE", "/x"), ("GW__JWT__SECRET", "y")]),
                "both GW__JWT__SECRET and GW__JWT__SECRET_FILE",
                "a secret set twice is refused",
            ),
        ];
        for (vars, expected, why) in cases {
            let error = resolve("GW", &["jwt.secret"], &[], vars).unwrap_err();
            assert!(format!("{error:#}").contains(expected), "{why}: {error:#}");
        }
    }

    #[test]
    fn only_declared_keys_are_split_into_lists_or_read_from_files() {
        let layer = resolve(
            "GW",
            &["jwt.secret"],
            &["cors.allowed_origins"],
            vars(&[
                (
                    "GW__CORS__ALLOWED_ORIGINS",
                    "https://a.example, https://b.example,",
                ),
                ("GW__UPSTREAMS__API__URL", "http://a:1,http://b:2"),
                ("GW__TLS__CERT_FILE", "/etc/cert.pem"),
                ("OTHER__CORS__ALLOWED_ORIGINS", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(
            layer.lists,
            [(
                "cors.allowed_origins".to_owned(),
                vec![
                    "https://a.example".to_owned(),
                    "https://b.example".to_owned()
                ]
            )]
        );
        assert_eq!(
            layer.scalars["GW__UPSTREAMS__API__URL"],
            "http://a:1,http://b:2"
        );
        assert_eq!(layer.scalars["GW__TLS__CERT_FILE"], "/etc/cert.pem");
        assert_eq!(layer.scalars.len(), 2, "other prefixes are left out");
    }
}
