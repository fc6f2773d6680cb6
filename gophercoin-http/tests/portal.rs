//! The web portal in a real headless Chromium (Debian's `chromium` and `chromium-driver`)
//! driven over WebDriver, against a real node on loopback. Screenshots of every page go to
//! `target/tmp/portal-screenshots/` (cargo's `CARGO_TARGET_TMPDIR`).
//!
//! Chromium and chromedriver are found at `GOPHERCOIN_CHROMIUM` and
//! `GOPHERCOIN_CHROMEDRIVER`, or Debian's `/usr/bin/chromium` and `/usr/bin/chromedriver`.
//! Without them these tests are compiled as ignored (`build.rs`), so they show as skipped;
//! `GOPHERCOIN_REQUIRE_BROWSER` (CI sets it, after installing Chromium) makes them run,
//! and fail if there is no browser.

mod common;

use std::{
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use common::*;
use fantoccini::{Client, ClientBuilder, Locator};
use gophercoin_core::{Amount, Params, Signer, pow};
use gophercoin_http::dto::BlockDto;
use serde_json::{Value, json};

/// Where Chromium is.
fn chromium() -> String {
    std::env::var("GOPHERCOIN_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into())
}

/// Where its WebDriver is.
fn chromedriver() -> String {
    std::env::var("GOPHERCOIN_CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into())
}

/// Why a browser test is skipped where it is.
const NO_BROWSER: &str = "needs Chromium and chromedriver (apt-get install chromium chromium-driver, or set GOPHERCOIN_CHROMIUM and GOPHERCOIN_CHROMEDRIVER)";

struct Browser {
    client: Client,
    driver: Child,
    shots: PathBuf,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    /// Stops chromedriver and every Chromium process it started: they share its process
    /// group, and a browser outlives a driver killed on its own. `Browser::quit` ends the
    /// session first; this also covers a test that panicked before it.
    fn drop(&mut self) {
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.driver.kill(); // in case there was no `kill` to run
        let _ = self.driver.wait();
    }
}

async fn browser() -> Browser {
    let (chromium, chromedriver) = (chromium(), chromedriver());
    // Compiled to run only where the browser was found (or is required), so this holds
    // unless it was removed since the build.
    assert!(
        Path::new(&chromium).exists() && Path::new(&chromedriver).exists(),
        "{NO_BROWSER}: {chromium} or {chromedriver} is missing"
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let driver = Command::new(&chromedriver)
        .arg(format!("--port={port}"))
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let profile = tempfile::tempdir().unwrap();
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-breakpad",
                "--disable-crash-reporter", "--window-size=1100,900",
                format!("--user-data-dir={}", profile.path().display()),
            ],
        }),
    );
    let mut builder = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
    builder.capabilities(capabilities);
    let mut last = None;
    for _ in 0..100 {
        match builder.connect(&format!("http://127.0.0.1:{port}")).await {
            Ok(client) => {
                let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("portal-screenshots");
                std::fs::create_dir_all(&shots).unwrap();
                return Browser { client, driver, shots, _profile: profile };
            }
            Err(error) => last = Some(error),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not start: {last:?}");
}

impl Browser {
    /// Ends the WebDriver session, which closes Chromium, then stops the driver.
    async fn quit(self) {
        self.client.clone().close().await.unwrap();
    }

    async fn open(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    async fn hash(&self, hash: &str) {
        self.client.execute(&format!("location.hash = '{hash}'"), vec![]).await.unwrap();
    }

    async fn shot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(self.shots.join(format!("{name}.png")), png).unwrap();
    }

    async fn text(&self, css: &str) -> String {
        match self.client.find(Locator::Css(css)).await {
            Ok(element) => element.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Waits (bounded) until the element's text contains `needle`; returns the text.
    async fn wait_text(&self, css: &str, needle: &str) -> String {
        let mut text = String::new();
        for _ in 0..200 {
            text = self.text(css).await;
            if text.contains(needle) {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{css} never showed {needle:?}; it shows {text:?}");
    }

    async fn click(&self, css: &str) {
        self.client.find(Locator::Css(css)).await.unwrap().click().await.unwrap();
    }

    async fn type_into(&self, css: &str, text: &str) {
        let element = self.client.find(Locator::Css(css)).await.unwrap();
        element.clear().await.unwrap();
        element.send_keys(text).await.unwrap();
    }

    async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client.execute(script, args).await.unwrap()
    }
}

/// Mines a block paying `address` through the external-miner protocol.
async fn mine_to(node: &TestNode, address: &str) {
    let (_, template) = node.get(&format!("/mining/template?address={address}")).await;
    let dto: BlockDto = serde_json::from_value(template["block"].clone()).unwrap();
    let mut block = dto.into_block(Params::devnet().chain_id);
    assert!(pow::solve(&mut block.header, 100_000_000));
    let (status, body) = node
        .post("/mining/submit", &serde_json::to_value(BlockDto::from_block(&block)).unwrap())
        .await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(browser_available),
    ignore = "needs Chromium and chromedriver (see the module docs)"
)]
async fn the_portal_works_in_a_real_browser() {
    let browser = browser().await;
    let dir = tempfile::tempdir().unwrap();
    let node = TestNode::start(config(dir.path(), None)).await;
    let url = &node.url;

    // Explorer: the chain, newest first.
    browser.open(&format!("{url}/#/")).await;
    browser.wait_text("main", "Height 0").await;
    browser.shot("explorer-empty").await;

    // Miner page: mine a block and see the original's message, then the block in the explorer.
    browser.hash("#/miner").await;
    browser.wait_text("#mine", "Mine a block").await;
    browser.click("#mine").await;
    browser.wait_text("#miner-result", "New Block Forged! (block 1)").await;
    browser.shot("miner").await;
    browser.hash("#/").await;
    browser.wait_text("main", "Height 1").await;
    let rows = browser.js("return document.querySelectorAll('.block-row').length", vec![]).await;
    assert_eq!(rows, json!(2));
    // It updates on its own when a block arrives from elsewhere.
    node.mine().await;
    browser.wait_text("main", "Height 2").await;
    // The reward schedule and the fee floor, from /health.
    let schedule = browser.wait_text("#schedule", "Next block mints 20.00000000 coins").await;
    assert!(schedule.contains("halves at height 525000"), "{schedule}");
    assert!(schedule.contains("supply 40.00000000 coins"), "{schedule}");
    browser.shot("explorer").await;

    // Wallet: made in the page; receives a mined reward; pays bob.
    browser.hash("#/wallet").await;
    browser.wait_text("#generate", "Create a wallet").await;
    browser.click("#generate").await;
    let address = browser.wait_text("#wallet-address", "3082").await;
    mine_to(&node, &address).await;
    browser.hash("#/miner").await;
    browser.hash("#/wallet").await;
    browser.wait_text("#wallet-balance", "20.00000000 coins").await;
    let bob = key("bob").address().to_string();
    browser.type_into("#send-to", &bob).await;
    browser.type_into("#send-amount", "5").await;
    browser.type_into("#send-fee", "0.001").await;
    browser.click("#send").await;
    browser.wait_text("#send-result", "Transaction will be added to Block 4").await;
    browser.shot("wallet-sent").await;
    node.mine().await;
    browser.hash("#/miner").await;
    browser.hash("#/wallet").await;
    // The amount and the fee left the wallet; the fee went to the block's miner.
    browser.wait_text("#wallet-balance", "14.99900000 coins").await;
    assert_eq!(node.balance(&key("bob").address()).await, 5 * Amount::UNITS_PER_COIN);
    browser.hash(&format!("#/address/{bob}")).await;
    browser.wait_text(".balance", "Balance: 5.00000000 coins").await;
    browser.shot("address").await;

    // A bad amount shows the API's own error.
    browser.hash("#/wallet").await;
    browser.wait_text("#send", "Sign and send").await;
    browser.type_into("#send-to", &bob).await;
    browser.type_into("#send-amount", "1000").await;
    browser.click("#send").await;
    let error = browser.wait_text("#error", "overdraft").await;
    assert!(error.contains("is less than"), "{error}");
    browser.shot("wallet-error").await;

    // The transaction's and the block's pages.
    let (_, chain) = node.get("/chain").await;
    let paid = chain["chain"][4]["transactions"][1]["id"].as_str().unwrap().to_owned();
    browser.hash(&format!("#/tx/{paid}")).await;
    browser.wait_text("main", "confirmed: in block 4").await;
    browser.shot("transaction").await;
    browser.hash("#/block/4").await;
    browser.wait_text("main", "Block 4").await;
    browser.shot("block").await;
    browser.hash("#/charts").await;
    browser.wait_text("main", "Expected hashes per block").await;
    browser.shot("charts").await;

    // A phone's width: nothing spills sideways.
    browser.client.set_window_size(390, 844).await.unwrap();
    for (page, needle) in
        [("#/", "Height"), ("#/wallet", "Wallet"), ("#/block/4", "Block 4"), ("#/charts", "Supply")]
    {
        browser.hash(page).await;
        browser.wait_text("main", needle).await;
        let fits = browser
            .js("return document.documentElement.scrollWidth <= window.innerWidth", vec![])
            .await;
        assert_eq!(fits, json!(true), "{page} is wider than a phone");
        browser.shot(&format!("phone-{}", page.trim_start_matches("#/").replace('/', "-"))).await;
    }
    browser.client.set_window_size(1100, 900).await.unwrap();

    // Without a secure context the wallet says so instead of failing.
    browser.js("Object.defineProperty(window, 'isSecureContext', { value: false }); location.hash = '#/miner'", vec![]).await;
    browser.hash("#/wallet").await;
    browser.wait_text("#insecure", "secure context").await;
    browser.shot("wallet-insecure").await;
    browser.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(browser_available),
    ignore = "needs Chromium and chromedriver (see the module docs)"
)]
async fn browser_and_core_sign_the_same_bytes() {
    let browser = browser().await;
    let dir = tempfile::tempdir().unwrap();
    let node = TestNode::start(config(dir.path(), None)).await;
    browser.open(&format!("{}/#/wallet", node.url)).await;
    browser.wait_text("#generate", "Create a wallet").await;
    let alice = key("alice");
    let mut tx = pay(&alice, &key("bob"), 123_456_789, 9_007_199_254_740_991).transaction;
    tx.fee = Amount::from_units(300_000_001).unwrap(); // a fee whose varint takes 5 bytes
    let tx = tx.sign(&alice).unwrap();
    let signed = serde_json::to_value(&tx).unwrap();

    // The same canonical bytes.
    let bytes = browser
        .js(
            "return window.gophercoin.bytesToHex(window.gophercoin.signingBytes(arguments[0]))",
            vec![signed["transaction"].clone()],
        )
        .await;
    assert_eq!(bytes, json!(hex::encode(tx.transaction.signing_bytes())));
    // A signature made by the core verifies in the browser; a tampered one does not.
    let verify = "return window.gophercoin.verifyTransaction(arguments[0])";
    assert_eq!(browser.js(verify, vec![signed.clone()]).await, json!(true));
    let mut tampered = signed.clone();
    tampered["transaction"]["amount"] = json!(123_456_790);
    assert_eq!(browser.js(verify, vec![tampered]).await, json!(false));
    let mut tampered = signed.clone();
    tampered["transaction"]["fee"] = json!(0);
    assert_eq!(browser.js(verify, vec![tampered]).await, json!(false), "the fee is signed");
    // The CLI's key file imports with the same address.
    let imported = browser
        .js(
            "return window.gophercoin.Wallet.import(arguments[0]).then(w => w.address)",
            vec![json!(alice.to_pkcs8_hex())],
        )
        .await;
    assert_eq!(imported, json!(alice.address().to_string()));

    // A payment signed in the browser is accepted by the node.
    let (status, _) = node.get("/mine").await;
    assert_eq!(status, 200);
    let node_wallet = node.get("/chain").await.1["chain"][1]["transactions"][0]["recipient"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!node_wallet.is_empty());
    mine_to(&node, &alice.address().to_string()).await;
    let body = browser
        .js(
            "return window.gophercoin.Wallet.import(arguments[0]).then(w => w.pay({ chainId: arguments[1], recipient: arguments[2], units: 7n, fee: 2n }))",
            vec![json!(alice.to_pkcs8_hex()), json!(Params::devnet().chain_id), json!(key("carol").address().to_string())],
        )
        .await;
    let (status, answer) = node.post("/transactions/new", &body).await;
    assert_eq!(status, 201, "{answer}");
    let before = node.balance(&alice.address()).await;
    node.mine().await;
    assert_eq!(node.balance(&key("carol").address()).await, 7);
    assert_eq!(node.balance(&alice.address()).await, before - 9, "the amount and the fee");

    // Coins are shown and read at the scale the node gives (`units_per_coin` in /health).
    let gc = "const gc = window.gophercoin;";
    let shown = browser
        .js(
            &format!("{gc} return [gc.formatCoins(123456789n), gc.parseCoins('1.25').toString()]"),
            vec![],
        )
        .await;
    assert_eq!(shown, json!(["1.23456789", "125000000"]));
    let scaled = browser
        .js(
            &format!(
                "{gc} gc.setUnitsPerCoin(100); \
                 const r = [gc.formatCoins(12345n), gc.parseCoins('1.5').toString()]; \
                 gc.setUnitsPerCoin(arguments[0]); return r"
            ),
            vec![json!(Amount::UNITS_PER_COIN)],
        )
        .await;
    assert_eq!(scaled, json!(["123.45", "150"]));
    let odd = browser
        .js(&format!("{gc} try {{ gc.setUnitsPerCoin(300); return 'taken' }} catch {{ return 'refused' }}"), vec![])
        .await;
    assert_eq!(odd, json!("refused"), "a scale that is not a power of ten");
    browser.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(browser_available),
    ignore = "needs Chromium and chromedriver (see the module docs)"
)]
async fn a_three_node_devnet_shows_new_blocks_in_the_portal_without_polling() {
    let browser = browser().await;
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut nodes = vec![];
    for dir in &dirs {
        nodes.push(TestNode::start(config(dir.path(), None)).await);
    }
    nodes[0].register(&[&nodes[1], &nodes[2]]).await;
    nodes[1].register(&[&nodes[2]]).await;

    browser.open(&format!("{}/#/", nodes[0].url)).await;
    browser.wait_text("main", "Height 0").await;
    browser.wait_text("#status", "live").await;
    // Idle: the page asks the node nothing (one event stream, no polling).
    let requests = "return performance.getEntriesByType('resource').map((r) => r.name)";
    let before = browser.js(requests, vec![]).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(browser.js(requests, vec![]).await, before, "requests while idle");

    // Blocks mined on the other nodes reach node 0 over the peer network, and its page
    // shows them as they come.
    for (height, miner) in [(1, 2), (2, 1), (3, 2)] {
        let mined = nodes[miner].mine().await;
        let hash = mined["hash"].as_str().unwrap();
        browser.wait_text("#chain-head", &format!("Height {height}")).await;
        browser.wait_text("#blocks", &hash[..12]).await;
    }
    let rows = browser.js("return document.querySelectorAll('.block-row').length", vec![]).await;
    assert_eq!(rows, json!(4), "genesis and three blocks, each once");
    browser.wait_text("#status", "height 3 · live").await;
    // What the page fetched meanwhile: only what was new, never the whole chain.
    let after = browser.js(requests, vec![]).await;
    let fetched: Vec<String> = after.as_array().unwrap()[before.as_array().unwrap().len()..]
        .iter()
        .map(|name| name.as_str().unwrap().trim_start_matches(&nodes[0].url).to_owned())
        .collect();
    for path in &fetched {
        assert!(
            path.starts_with("/chain?from=") || path == "/health",
            "fetched {path} (all: {fetched:?})"
        );
    }
    assert!(fetched.iter().any(|path| path == "/chain?from=3&limit=1"), "{fetched:?}");

    // A payment appears in the mempool as it is accepted, and leaves it when mined.
    let alice = key("alice");
    mine_to(&nodes[0], &alice.address().to_string()).await;
    browser.wait_text("#chain-head", "Height 4").await;
    let payment = pay(&alice, &key("bob"), 1, 0);
    let body =
        serde_json::to_value(gophercoin_http::dto::TransactionDto::from_signed(&payment)).unwrap();
    let (status, answer) = nodes[0].post("/transactions/new", &body).await;
    assert_eq!(status, 201, "{answer}");
    let id = payment.id().to_string();
    browser.wait_text("#mempool", &id[..12]).await;
    browser.wait_text("#mempool", "Mempool (1)").await;
    let mined = nodes[0].mine().await;
    assert_eq!(mined["transactions"].as_array().unwrap().len(), 2, "{mined}");
    browser.wait_text("#chain-head", "Height 5").await;
    browser.wait_text("#mempool", "Nothing pending").await;
    browser.shot("devnet-live").await;
    browser.quit().await;
    for node in nodes {
        node.stop().await;
    }
}
