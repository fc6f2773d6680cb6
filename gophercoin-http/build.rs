//! Tells the browser tests (`tests/portal.rs`) whether they can run here: with Chromium
//! and its WebDriver (`GOPHERCOIN_CHROMIUM`, `GOPHERCOIN_CHROMEDRIVER`, or Debian's
//! `/usr/bin/chromium` and `/usr/bin/chromedriver`), or when `GOPHERCOIN_REQUIRE_BROWSER`
//! asks for them to run (and fail without a browser), they are compiled to run; otherwise
//! they are compiled as ignored, so `cargo test` reports them skipped, not passed.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(browser_available)");
    for var in ["GOPHERCOIN_CHROMIUM", "GOPHERCOIN_CHROMEDRIVER", "GOPHERCOIN_REQUIRE_BROWSER"] {
        println!("cargo::rerun-if-env-changed={var}");
    }
    let path = |var: &str, default: &str| std::env::var(var).unwrap_or_else(|_| default.into());
    let chromium = path("GOPHERCOIN_CHROMIUM", "/usr/bin/chromium");
    let driver = path("GOPHERCOIN_CHROMEDRIVER", "/usr/bin/chromedriver");
    // Only paths that exist (cargo runs a script again on every build while a path it
    // watches is missing): the file, or while it is missing the directory it would appear
    // in, so installing a browser later turns the tests on.
    for file in [&chromium, &driver] {
        let path = std::path::Path::new(file);
        if path.exists() {
            println!("cargo::rerun-if-changed={file}");
        } else if let Some(dir) = path.parent().filter(|dir| dir.is_dir()) {
            println!("cargo::rerun-if-changed={}", dir.display());
        }
    }
    let found = std::path::Path::new(&chromium).exists() && std::path::Path::new(&driver).exists();
    if found || std::env::var_os("GOPHERCOIN_REQUIRE_BROWSER").is_some() {
        println!("cargo::rustc-cfg=browser_available");
    }
}
