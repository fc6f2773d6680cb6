//! Checks on the workspace as a whole, kept in the one member that is never published:
//! the published crates state a `rust-version` their locked dependencies allow, their
//! sources read nothing outside their own directory (a published package holds only that),
//! and the consensus rule book, `docs/consensus.md`, and the core's code link each other.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Component, Path, PathBuf},
};

use serde_json::Value;

/// The crates published to crates.io.
const PUBLISHED: &[&str] =
    &["gophercoin-core", "gophercoin-miner", "gophercoin-sim", "gophercoin-http", "gophercoin-cli"];

/// The workspace's metadata, every platform's dependencies included. Not `--offline`: a
/// build downloads only its own platform's packages, and on a fresh machine the others'
/// (such as Android's or Windows') are fetched from the registry here, as a build fetches
/// its own.
fn metadata() -> Value {
    let output = std::process::Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--locked"])
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
        for path in rust_files(&root) {
            files += 1;
            let text = read(&path);
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
    assert!(files > 50, "found the sources ({files})");
}

/// Where the `# Consensus` sections of the core link their rules: an anchor of the rule
/// book, `docs/consensus.md`, on GitHub (the published crate does not hold the file).
const RULE_BOOK: &str = "https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#";

/// A file's text.
fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `.rs` files under `dir` and its subdirectories, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = vec![];
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.unwrap_or_else(|e| panic!("{}: {e}", dir.display())).path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The ids of the `<a id="..."></a>` anchors of `docs/consensus.md`, each with its line.
fn anchors(text: &str) -> Vec<(String, usize)> {
    let opener = "<a id=\"";
    let mut out = vec![];
    for (index, line) in text.lines().enumerate() {
        let mut rest = line;
        while let Some(start) = rest.find(opener) {
            let after = &rest[start + opener.len()..];
            let Some(end) = after.find("\"></a>") else {
                panic!("docs/consensus.md:{}: an anchor is `<a id=\"id\"></a>`", index + 1);
            };
            out.push((after[..end].to_string(), index + 1));
            rest = &after[end..];
        }
    }
    out
}

/// The ids of the rules a line links to: what follows each `RULE_BOOK` in it.
fn rule_links(line: &str) -> Vec<String> {
    let is_id = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    let mut out = vec![];
    let mut rest = line;
    while let Some(start) = rest.find(RULE_BOOK) {
        let after = &rest[start + RULE_BOOK.len()..];
        let end = after.find(|c: char| !is_id(c)).unwrap_or(after.len());
        out.push(after[..end].to_string());
        rest = &after[end..];
    }
    out
}

/// The doc comments of a Rust file: runs of consecutive `///` or `//!` lines, each line as
/// its number and its text after the marker, trimmed.
fn doc_blocks(text: &str) -> Vec<Vec<(usize, String)>> {
    let mut blocks = vec![];
    let mut current = vec![];
    for (index, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if let Some(doc) = line.strip_prefix("///").or_else(|| line.strip_prefix("//!")) {
            current.push((index + 1, doc.trim().to_string()));
        } else if !current.is_empty() {
            blocks.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        blocks.push(current);
    }
    blocks
}

/// `docs/consensus.md` is the rule book: every `# Consensus` section of the core links the
/// rules it enforces there, `tests/rules.rs` names the rules its tests exercise, and every
/// rule of the book is linked or named somewhere, so the book and the code can't drift
/// apart.
#[test]
fn every_consensus_section_links_to_a_rule_in_docs_consensus_md() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let book = read(&workspace.join("docs/consensus.md"));
    let mut rules = BTreeMap::new();
    for (id, line) in anchors(&book) {
        if let Some(first) = rules.insert(id.clone(), line) {
            panic!("docs/consensus.md:{line}: anchor `{id}` is already at line {first}");
        }
    }
    assert!(!rules.is_empty(), "docs/consensus.md has no `<a id=\"...\"></a>` anchors");

    // Every link to the book in the core's docs names one of its rules, and every
    // `# Consensus` section has at least one.
    let mut referenced = BTreeSet::new();
    let mut sections = 0;
    for path in rust_files(&workspace.join("gophercoin-core/src")) {
        for block in doc_blocks(&read(&path)) {
            let mut links = 0;
            for (number, text) in &block {
                for id in rule_links(text) {
                    assert!(
                        rules.contains_key(&id),
                        "{}:{number}: links to rule `{id}`, which docs/consensus.md lacks",
                        path.display()
                    );
                    referenced.insert(id);
                    links += 1;
                }
            }
            if block.iter().any(|(_, text)| text.as_str() == "# Consensus") {
                sections += 1;
                assert!(
                    links > 0,
                    "{}:{}: a `# Consensus` section that links to no rule of docs/consensus.md",
                    path.display(),
                    block[0].0
                );
            }
        }
    }
    assert!(sections >= 8, "found only {sections} `# Consensus` sections in gophercoin-core/src");

    // The tests of the rules name rules of the book (`/// Rules: id, id`).
    let rules_rs = workspace.join("gophercoin-core/tests/rules.rs");
    let tests = read(&rules_rs);
    let mut named = 0;
    for (index, line) in tests.lines().enumerate() {
        let Some(ids) = line.trim_start().strip_prefix("/// Rules:") else { continue };
        for id in ids.split(',') {
            let id = id.trim();
            assert!(
                rules.contains_key(id),
                "{}:{}: names rule `{id}`, which docs/consensus.md lacks",
                rules_rs.display(),
                index + 1
            );
            referenced.insert(id.to_string());
            named += 1;
        }
    }
    assert!(named > 0, "{} names no rule in a `/// Rules: id, id` line", rules_rs.display());

    // Every rule of the book is enforced or exercised somewhere.
    let mut unreferenced = vec![];
    for (id, line) in &rules {
        if !referenced.contains(id) {
            unreferenced.push(format!("{id} (docs/consensus.md:{line})"));
        }
    }
    assert!(
        unreferenced.is_empty(),
        "rules that no `# Consensus` section of gophercoin-core/src links to and no test of \
         gophercoin-core/tests/rules.rs names: {}",
        unreferenced.join(", ")
    );
}

/// A crate's top-level modules and which of them each one uses: through `crate::module`,
/// `use crate::{module, ...}`, the names the crate root re-exports, or `super::module`
/// from a top-level file. Comments and `#[cfg(test)] mod tests` are left out.
fn module_graph(crate_dir: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let src = crate_dir.join("src");
    let top_of = |path: &Path| {
        let relative = path.strip_prefix(&src).unwrap();
        let first = relative.components().next().unwrap().as_os_str().to_string_lossy();
        first.trim_end_matches(".rs").to_owned()
    };
    let code_of = |path: &Path| {
        let text = read(path);
        let text = text.split("#[cfg(test)]\nmod tests").next().unwrap_or_default().to_owned();
        let lines = text.lines().filter(|line| !line.trim_start().starts_with("//"));
        lines.collect::<Vec<_>>().join("\n")
    };
    let files = rust_files(&src);
    let modules: BTreeSet<String> =
        files.iter().map(|path| top_of(path)).filter(|top| top != "lib" && top != "main").collect();
    // What the root re-exports: `pub use crate::{module::{A, B}, other::C}`.
    let mut exported: BTreeMap<String, String> = BTreeMap::new();
    for root in ["lib.rs", "main.rs"] {
        let path = src.join(root);
        if !path.exists() {
            continue;
        }
        let code = code_of(&path);
        for group in code.split("pub use crate::").skip(1) {
            let group = &group[..group.find(';').unwrap_or(group.len())];
            let mut module = String::new();
            for word in group.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
                if modules.contains(word) {
                    module = word.to_owned();
                } else if !matches!(word, "" | "as" | "self") && !module.is_empty() {
                    exported.insert(word.to_owned(), module.clone());
                }
            }
        }
    }
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for path in &files {
        let top = top_of(path);
        if top == "lib" || top == "main" {
            continue;
        }
        let code = code_of(path);
        let depth = path.strip_prefix(&src).unwrap().components().count();
        let mut used = BTreeSet::new();
        let mut name_used = |word: &str| {
            if modules.contains(word) {
                used.insert(word.to_owned());
            } else if let Some(module) = exported.get(word) {
                used.insert(module.clone());
            }
        };
        for (i, _) in code.match_indices("crate::") {
            let rest = &code[i + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                // `use crate::{a, b::{C, D}}`: every name in the group.
                let group = &group[..group.find(';').unwrap_or(group.len())];
                for word in group.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
                    name_used(word);
                }
            } else {
                let end = rest.find(|c: char| !(c.is_alphanumeric() || c == '_'));
                name_used(&rest[..end.unwrap_or(rest.len())]);
            }
        }
        if depth == 1 {
            for (i, _) in code.match_indices("super::") {
                let rest = &code[i + "super::".len()..];
                let end = rest.find(|c: char| !(c.is_alphanumeric() || c == '_'));
                name_used(&rest[..end.unwrap_or(rest.len())]);
            }
        }
        used.remove(&top);
        graph.entry(top).or_default().extend(used);
    }
    graph
}

/// The modules that sit on a cycle of `graph`, each group of them (a strongly connected
/// component of more than one module) sorted.
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    // Two modules are on one cycle when each reaches the other.
    let reach = |from: &String| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.clone()];
        while let Some(at) = todo.pop() {
            for next in graph.get(&at).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    todo.push(next.clone());
                }
            }
        }
        seen
    };
    let reaches: BTreeMap<&String, BTreeSet<String>> =
        graph.keys().map(|module| (module, reach(module))).collect();
    let mut groups: Vec<Vec<String>> = vec![];
    for (module, reached) in &reaches {
        if groups.iter().any(|group| group.contains(module)) {
            continue;
        }
        let group: Vec<String> = reaches
            .iter()
            .filter(|(other, back)| reached.contains(**other) && back.contains(*module))
            .map(|(other, _)| (*other).clone())
            .collect();
        if group.len() > 1 {
            groups.push(group);
        }
    }
    groups
}

#[test]
fn no_module_imports_a_module_that_imports_it_back() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    for crate_name in PUBLISHED {
        let graph = module_graph(&workspace.join(crate_name));
        // The reading sees the imports there are.
        if *crate_name == "gophercoin-core" {
            assert!(graph.len() >= 15, "{graph:?}");
            assert!(graph["block"].contains("transaction"), "{graph:?}");
            assert!(graph["node"].contains("ledger"), "{graph:?}");
        }
        if *crate_name == "gophercoin-http" {
            assert!(graph["relay"].contains("state"), "{graph:?}");
            assert!(graph["state"].contains("network"), "{graph:?}");
            assert!(graph["network"].contains("effects"), "{graph:?}");
        }
        let found = cycles(&graph);
        assert!(
            found.is_empty(),
            "{crate_name}: module cycles {found:?} (who uses whom: {graph:#?})"
        );
    }
    // The check sees a cycle when there is one.
    let made_up: BTreeMap<String, BTreeSet<String>> = [("a", "b"), ("b", "c"), ("c", "a")]
        .into_iter()
        .map(|(from, to)| (from.to_owned(), BTreeSet::from([to.to_owned()])))
        .collect();
    assert_eq!(cycles(&made_up), vec![vec!["a".to_owned(), "b".to_owned(), "c".to_owned()]]);
}
