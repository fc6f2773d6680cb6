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
    // The crypto crates' default features pull in getrandom (the OS RNG).
    let root = fs::read_to_string(Path::new(MANIFEST_DIR).join("../Cargo.toml")).unwrap();
    let root: toml::Table = root.parse().unwrap();
    let workspace_deps = root["workspace"]["dependencies"].as_table().unwrap();
    for name in ["rsa", "rand_core", "crypto-bigint", "sha2"] {
        assert!(deps.contains_key(name), "core uses {name}");
        let dep = workspace_deps[name].as_table().unwrap();
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
        for banned in BANNED {
            assert!(!text.contains(banned), "{} mentions {banned}", path.display());
        }
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
