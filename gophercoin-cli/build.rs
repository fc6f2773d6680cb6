//! Names the commit the binary is built from, for `gophercoin --version`: `git describe`
//! of the checkout, or `unknown` outside one (a packaged crate, a source tarball).

use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["describe", "--always", "--abbrev=12"])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .map(|text| text.trim().to_owned())
        .filter(|text| !text.is_empty())
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=GOPHERCOIN_COMMIT={commit}");
    // Run again when the checkout moves to another commit: HEAD, and the branch it names.
    let head = std::fs::read_to_string("../.git/HEAD").unwrap_or_default();
    let branch = head.strip_prefix("ref: ").map(|name| format!("../.git/{}", name.trim()));
    for path in ["../.git/HEAD".to_owned()].into_iter().chain(branch) {
        if std::path::Path::new(&path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
}
