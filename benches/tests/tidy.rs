//! Checks on the workspace as a whole, kept in the one member that is never published:
//! the published crates state a `rust-version` their locked dependencies allow, and their
//! sources read nothing outside their own directory (a published package holds only that).

use std::{
    collections::BTreeMap,
    path::{Component, Path, PathBuf},
};

use serde_json::Value;

/// The crates published to crates.io.
const PUBLISHED: &[&str] =
    &["gophercoin-core", "gophercoin-sim", "gophercoin-http", "gophercoin-cli"];

fn metadata() -> Value {
    let output = std::process::Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--locked", "--offline"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

/// `1.90` or `1.88.0` as numbers to compare.
fn version(text: &str) -> Vec<u64> {
    text.split('.').map(|part| part.parse().unwrap()).collect()
}

#[test]
fn rust_version_is_what_the_locked_dependencies_ask_for() {
    let metadata = metadata();
    let packages: BTreeMap<&str, &Value> = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p))
        .collect();
    let nodes: BTreeMap<&str, &Value> = metadata["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["id"].as_str().unwrap(), n))
        .collect();
    let mut checked = 0;
    for (id, package) in &packages {
        let name = package["name"].as_str().unwrap();
        if !PUBLISHED.contains(&name) {
            continue;
        }
        let stated = package["rust_version"].as_str().expect("a published crate states one");
        // Everything it builds with: normal and build dependencies, transitively.
        let (mut seen, mut todo) = (vec![*id], vec![*id]);
        let mut newest: Option<(Vec<u64>, String)> = None;
        while let Some(at) = todo.pop() {
            for dep in nodes[at]["deps"].as_array().unwrap() {
                let kinds = dep["dep_kinds"].as_array().unwrap();
                if !kinds.iter().any(|k| k["kind"].is_null() || k["kind"] == "build") {
                    continue;
                }
                let dep_id = dep["pkg"].as_str().unwrap();
                if seen.contains(&dep_id) {
                    continue;
                }
                seen.push(dep_id);
                todo.push(dep_id);
                let dep_package = packages[dep_id];
                if let Some(asked) = dep_package["rust_version"].as_str() {
                    let label = format!("{} {}", dep_package["name"], dep_package["version"]);
                    if newest.as_ref().is_none_or(|(v, _)| version(asked) > *v) {
                        newest = Some((version(asked), format!("{label} asks for {asked}")));
                    }
                }
            }
        }
        let (asked, why) = newest.expect("some dependency states a rust-version");
        assert!(version(stated) >= asked, "{name} states rust-version {stated}, but {why}");
        checked += 1;
    }
    assert_eq!(checked, PUBLISHED.len(), "every published crate was found");
}

/// `a/b/../c` as `a/c`, without following links: what a path names inside a package.
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[test]
fn published_sources_read_nothing_outside_their_crate() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut files = 0;
    for crate_name in PUBLISHED {
        let root = lexical(&workspace.join(crate_name));
        let mut dirs = vec![root.clone()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                    continue;
                }
                if path.extension().is_none_or(|e| e != "rs") {
                    continue;
                }
                files += 1;
                let text = std::fs::read_to_string(&path).unwrap();
                for (number, line) in text.lines().enumerate() {
                    let at = format!("{}:{}", path.display(), number + 1);
                    assert!(
                        !(line.contains("CARGO_MANIFEST_DIR") && line.contains("/..")),
                        "{at} reads outside its crate: {line}"
                    );
                    for opener in ["include_str!(\"", "include_bytes!(\"", "#[path = \""] {
                        let Some(start) = line.find(opener) else { continue };
                        let rest = &line[start + opener.len()..];
                        let relative = &rest[..rest.find('"').unwrap()];
                        // `#[path]` on a file's own module is relative to its directory,
                        // and so are the include macros.
                        let target = lexical(&path.parent().unwrap().join(relative));
                        assert!(
                            target.starts_with(&root),
                            "{at} reads {} outside {crate_name}",
                            target.display()
                        );
                    }
                }
            }
        }
    }
    assert!(files > 50, "found the sources ({files})");
}
