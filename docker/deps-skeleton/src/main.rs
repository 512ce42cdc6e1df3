//! Writes a workspace's dependency skeleton: the manifests and lock file of the packages an
//! image builds (and the workspace crates they depend on), with empty sources, reduced to
//! what decides how their dependencies are compiled.
//!
//! The image build compiles the dependencies from this skeleton in a layer of their own, so
//! that layer is rebuilt only when the dependencies change. cargo-chef is the usual tool for
//! this, but its recipe lists every target and every workspace member: adding a bench, a
//! test, an example or an unrelated crate changes it and recompiles every dependency. Here
//! those never reach the skeleton:
//! - only the named packages and the workspace crates they depend on (through
//!   `[dependencies]`, `[build-dependencies]` and their `target.*` forms) are kept;
//! - their manifests lose dev-dependencies, benches, tests, examples and descriptive keys,
//!   and their versions read 0.0.0 (which also makes the real build see new packages, so
//!   it never takes a stub's output for ours);
//! - `[workspace.dependencies]` keeps only what the kept packages inherit;
//! - the lock file keeps only registry and git packages; cargo adds the workspace's own
//!   back, and drops what no kept package needs, keeping every locked version.
//!
//! Usage: `deps-skeleton <workspace root> <output folder> <package>...`

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Component, Path, PathBuf};

use toml::{Table, Value};

type Error = Box<dyn std::error::Error>;

/// Tables of a manifest whose entries are built into a release binary or its build script.
const BUILD_DEPENDENCY_TABLES: [&str; 2] = ["dependencies", "build-dependencies"];
/// Keys of `[package]` that change how a package is built; the rest only describe it.
const PACKAGE_KEYS: [&str; 8] = [
    "name",
    "edition",
    "rust-version",
    "build",
    "links",
    "autobins",
    "autolib",
    "resolver",
];
/// The version every kept package (and the workspace's) is given in the skeleton.
const MASKED_VERSION: &str = "0.0.0";
/// Files copied as they are: they change how everything is compiled.
const VERBATIM_FILES: [&str; 4] = [
    ".cargo/config.toml",
    ".cargo/config",
    "rust-toolchain.toml",
    "rust-toolchain",
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        eprintln!("usage: deps-skeleton <workspace root> <output folder> <package>...");
        std::process::exit(2);
    }
    if let Err(error) = run(Path::new(&args[0]), Path::new(&args[1]), &args[2..]) {
        eprintln!("deps-skeleton: {error}");
        std::process::exit(1);
    }
}

struct Member {
    dir: PathBuf,
    manifest: Table,
}

fn run(root: &Path, out: &Path, packages: &[String]) -> Result<(), Error> {
    let mut workspace_manifest = read_toml(&root.join("Cargo.toml"))?;
    if workspace_manifest.contains_key("package") {
        return Err("a package at the workspace root is not supported".into());
    }
    let workspace = table_mut(&mut workspace_manifest, "workspace")?;
    let members = read_members(root, workspace)?;
    let inherited_paths = workspace_path_dependencies(workspace);

    let kept = keep_with_path_dependencies(root, &members, &inherited_paths, packages)?;
    let mut inherited = BTreeSet::new();
    for name in &kept {
        let member = &members[name];
        for (key, value) in build_dependencies(&member.manifest) {
            if value.get("workspace").and_then(Value::as_bool) == Some(true) {
                inherited.insert(key.clone());
            }
        }
        write_member(root, out, member)?;
    }

    let kept_dirs: Vec<Value> = members
        .values()
        .filter(|member| kept.contains(package_name(&member.manifest)))
        .map(|member| Value::String(slash_path(&member.dir)))
        .collect();
    workspace.insert("members".into(), Value::Array(kept_dirs));
    for key in ["default-members", "exclude", "metadata"] {
        workspace.remove(key);
    }
    if let Some(Value::Table(dependencies)) = workspace.get_mut("dependencies") {
        dependencies.retain(|name, _| inherited.contains(name));
    }
    if let Some(Value::Table(package)) = workspace.get_mut("package") {
        mask_version(package);
    }
    write(&out.join("Cargo.toml"), &workspace_manifest.to_string())?;

    let mut lock = read_toml(&root.join("Cargo.lock"))?;
    if let Some(Value::Array(locked)) = lock.get_mut("package") {
        locked.retain(|package| package.get("source").is_some());
    }
    write(&out.join("Cargo.lock"), &lock.to_string())?;

    for file in VERBATIM_FILES {
        if root.join(file).is_file() {
            write(&out.join(file), &fs::read_to_string(root.join(file))?)?;
        }
    }
    Ok(())
}

/// The workspace's members by package name, from `members` (literal folders or `folder/*`).
fn read_members(root: &Path, workspace: &Table) -> Result<BTreeMap<String, Member>, Error> {
    let mut dirs = Vec::new();
    for entry in workspace
        .get("members")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let pattern = entry
            .as_str()
            .ok_or("workspace.members holds a non-string")?;
        match pattern.strip_suffix("/*") {
            Some(parent) => {
                let mut found: Vec<PathBuf> = fs::read_dir(root.join(parent))?
                    .filter_map(Result::ok)
                    .filter(|entry| entry.path().join("Cargo.toml").is_file())
                    .map(|entry| Path::new(parent).join(entry.file_name()))
                    .collect();
                found.sort();
                dirs.extend(found);
            }
            None if pattern.contains(['*', '?', '[']) => {
                return Err(format!("member pattern {pattern:?} is not supported").into());
            }
            None => dirs.push(PathBuf::from(pattern)),
        }
    }
    let mut members = BTreeMap::new();
    for dir in dirs {
        let manifest = read_toml(&root.join(&dir).join("Cargo.toml"))?;
        let name = package_name(&manifest).to_owned();
        members.insert(
            name,
            Member {
                dir: normalize(&dir),
                manifest,
            },
        );
    }
    Ok(members)
}

/// `[workspace.dependencies]` entries that are paths, by key, relative to the root.
fn workspace_path_dependencies(workspace: &Table) -> BTreeMap<String, PathBuf> {
    let entries = workspace.get("dependencies").and_then(Value::as_table);
    entries
        .into_iter()
        .flatten()
        .filter_map(|(key, value)| {
            let path = value.get("path")?.as_str()?;
            Some((key.clone(), normalize(Path::new(path))))
        })
        .collect()
}

/// The named packages and every workspace crate they reach through path dependencies.
fn keep_with_path_dependencies(
    root: &Path,
    members: &BTreeMap<String, Member>,
    inherited_paths: &BTreeMap<String, PathBuf>,
    packages: &[String],
) -> Result<BTreeSet<String>, Error> {
    let by_dir: BTreeMap<&Path, &str> = members
        .iter()
        .map(|(name, member)| (member.dir.as_path(), name.as_str()))
        .collect();
    let mut kept = BTreeSet::new();
    let mut queue: Vec<String> = packages.to_vec();
    while let Some(name) = queue.pop() {
        let member = members.get(&name).ok_or_else(|| {
            format!(
                "{name} is not a member of the workspace at {}",
                root.display()
            )
        })?;
        if !kept.insert(name) {
            continue;
        }
        for (key, value) in build_dependencies(&member.manifest) {
            let path = match value.get("path").and_then(Value::as_str) {
                Some(path) => normalize(&member.dir.join(path)),
                None if value.get("workspace").and_then(Value::as_bool) == Some(true) => {
                    match inherited_paths.get(key) {
                        Some(path) => path.clone(),
                        None => continue,
                    }
                }
                None => continue,
            };
            let dependency = by_dir.get(path.as_path()).ok_or_else(|| {
                format!(
                    "path dependency {} is not a workspace member",
                    path.display()
                )
            })?;
            queue.push((*dependency).to_owned());
        }
    }
    Ok(kept)
}

/// Every entry of the tables that a release build compiles, `target.*` forms included.
fn build_dependencies(manifest: &Table) -> Vec<(&String, &Value)> {
    let targets = manifest
        .get("target")
        .and_then(Value::as_table)
        .into_iter()
        .flatten();
    let holders = std::iter::once(manifest).chain(targets.filter_map(|(_, t)| t.as_table()));
    holders
        .flat_map(|holder| BUILD_DEPENDENCY_TABLES.map(|name| holder.get(name)))
        .flatten()
        .filter_map(Value::as_table)
        .flatten()
        .collect()
}

/// The member's reduced manifest and an empty source for each library, binary and build
/// script it has.
fn write_member(root: &Path, out: &Path, member: &Member) -> Result<(), Error> {
    let mut manifest = member.manifest.clone();
    for key in [
        "dev-dependencies",
        "dev_dependencies",
        "bench",
        "test",
        "example",
        "badges",
    ] {
        manifest.remove(key);
    }
    if let Some(Value::Table(targets)) = manifest.get_mut("target") {
        for (_, target) in targets.iter_mut() {
            let Some(target) = target.as_table_mut() else {
                continue;
            };
            target.remove("dev-dependencies");
            target.remove("dev_dependencies");
        }
    }
    let package = table_mut(&mut manifest, "package")?;
    package.retain(|key, _| PACKAGE_KEYS.contains(&key));
    package.insert("version".into(), Value::String(MASKED_VERSION.into()));
    for key in ["autoexamples", "autotests", "autobenches"] {
        package.insert(key.into(), Value::Boolean(false));
    }
    let source = root.join(&member.dir);
    let target = out.join(&member.dir);
    write(&target.join("Cargo.toml"), &manifest.to_string())?;

    let mut stubs: Vec<(PathBuf, &str)> = Vec::new();
    let lib = manifest
        .get("lib")
        .and_then(|lib| lib.get("path"))
        .and_then(Value::as_str);
    stubs.push((PathBuf::from(lib.unwrap_or("src/lib.rs")), ""));
    for bin in manifest
        .get("bin")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(path) = bin.get("path").and_then(Value::as_str) {
            stubs.push((PathBuf::from(path), "fn main() {}\n"));
        }
    }
    stubs.push(("src/main.rs".into(), "fn main() {}\n"));
    if let Ok(entries) = fs::read_dir(source.join("src/bin")) {
        for entry in entries.filter_map(Result::ok) {
            let path = Path::new("src/bin").join(entry.file_name());
            let file = if entry.path().is_dir() {
                path.join("main.rs")
            } else {
                path
            };
            stubs.push((file, "fn main() {}\n"));
        }
    }
    match manifest["package"].get("build") {
        Some(Value::String(path)) => stubs.push((PathBuf::from(path), "fn main() {}\n")),
        Some(_) => {}
        None => stubs.push(("build.rs".into(), "fn main() {}\n")),
    }
    for (path, contents) in stubs {
        if source.join(&path).is_file() {
            write(&target.join(path), contents)?;
        }
    }
    Ok(())
}

/// Our own versions never change how dependencies compile.
fn mask_version(package: &mut Table) {
    if package.contains_key("version") {
        package.insert("version".into(), Value::String(MASKED_VERSION.into()));
    }
}

fn package_name(manifest: &Table) -> &str {
    manifest
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn table_mut<'a>(table: &'a mut Table, key: &str) -> Result<&'a mut Table, Error> {
    table
        .get_mut(key)
        .and_then(Value::as_table_mut)
        .ok_or_else(|| format!("no [{key}] table").into())
}

fn read_toml(path: &Path) -> Result<Table, Error> {
    let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.parse()
        .map_err(|e| format!("{}: {e}", path.display()).into())
}

fn write(path: &Path, contents: &str) -> Result<(), Error> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::write(path, contents).map_err(|e| format!("{}: {e}", path.display()).into())
}

/// A relative path without `.` and `..` components, so two spellings of a folder compare equal.
fn normalize(path: &Path) -> PathBuf {
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                parts.pop();
            }
            Component::Normal(part) => parts.push(part),
            _ => {}
        }
    }
    parts.iter().collect()
}

fn slash_path(path: &Path) -> String {
    path.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}
