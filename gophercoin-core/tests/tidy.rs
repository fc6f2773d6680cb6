//! Tidy checks that keep the core sans-IO and documented, run with `cargo test`.

use std::{fs, path::Path};

const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

/// Crates that do IO, run an event loop or read the clock or the OS RNG for you.
const IO_CRATES: &[&str] = &[
    "tokio",
    "async-std",
    "smol",
    "mio",
    "axum",
    "hyper",
    "reqwest",
    "ureq",
    "tower",
    "tower-http",
    "redb",
    "sled",
    "rusqlite",
    "rocksdb",
    "getrandom",
    "rand",
    "chrono",
    "time",
    "tracing-subscriber",
    "clap",
];

#[test]
fn core_depends_on_no_io_crate() {
    let manifest = fs::read_to_string(Path::new(MANIFEST_DIR).join("Cargo.toml")).unwrap();
    let manifest: toml::Table = manifest.parse().unwrap();
    let deps = manifest["dependencies"].as_table().unwrap();
    for name in deps.keys() {
        assert!(!IO_CRATES.contains(&name.as_str()), "gophercoin-core must not depend on {name}");
    }
    // The crypto crates' default features pull in getrandom (the OS RNG). In the workspace
    // their settings are in the root manifest; in the published package they are inline.
    let workspace_deps = fs::read_to_string(Path::new(MANIFEST_DIR).join("../Cargo.toml"))
        .ok()
        .and_then(|root| root.parse::<toml::Table>().ok())
        .filter(|root| root.get("workspace").is_some())
        .map(|root| root["workspace"]["dependencies"].as_table().unwrap().clone());
    for name in ["rsa", "rand_core", "crypto-bigint", "sha2"] {
        let dep = deps.get(name).unwrap_or_else(|| panic!("core uses {name}"));
        let dep = match (dep.get("workspace"), &workspace_deps) {
            (Some(_), Some(workspace)) => &workspace[name],
            (Some(_), None) => panic!("{name} is inherited from a workspace that isn't there"),
            (None, _) => dep,
        };
        let dep = dep.as_table().unwrap();
        assert_eq!(dep["default-features"].as_bool(), Some(false), "{name} must not use defaults");
        let features = dep.get("features").and_then(|f| f.as_array()).cloned().unwrap_or_default();
        assert!(
            features.iter().all(|f| f.as_str() != Some("getrandom")),
            "{name} must not enable getrandom"
        );
    }
}

#[test]
fn core_sources_call_no_clock_rng_fs_or_net() {
    const BANNED: &[&str] = &[
        "SystemTime",
        "Instant::now",
        "thread_rng",
        "OsRng",
        "getrandom",
        "std::fs",
        "std::net",
        "HashMap",
        "HashSet",
        "std::thread",
        "println!",
        "eprintln!",
    ];
    for (path, text) in sources() {
        // Comments may name them: a doc example is the embedder's code, which owns the OS RNG.
        let code = text.lines().filter(|line| !line.trim_start().starts_with("//"));
        for (line, banned) in code.flat_map(|line| BANNED.iter().map(move |b| (line, b))) {
            assert!(!line.contains(banned), "{} uses {banned}: {line}", path.display());
        }
    }
}

#[test]
fn core_forbids_unsafe_code() {
    let lib = fs::read_to_string(Path::new(MANIFEST_DIR).join("src/lib.rs")).unwrap();
    assert!(lib.lines().any(|line| line == "#![forbid(unsafe_code)]"), "lib.rs forbids unsafe");
    for (path, text) in sources() {
        assert!(!text.contains("allow(unsafe_code"), "{} allows unsafe code", path.display());
    }
}

#[test]
fn every_source_file_says_what_it_holds() {
    for (path, text) in sources() {
        assert!(text.starts_with("//!"), "{} does not start with a `//!` doc", path.display());
    }
}

fn sources() -> Vec<(std::path::PathBuf, String)> {
    let mut out = vec![];
    let mut dirs = vec![Path::new(MANIFEST_DIR).join("src")];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = fs::read_to_string(&path).unwrap();
                out.push((path, text));
            }
        }
    }
    assert!(out.len() >= 10, "found the sources");
    out
}
