//! The built `gophercoin` binary, run end to end on loopback.

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
    time::Duration,
};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_gophercoin");

/// Starts `gophercoin node` on a free loopback port; returns the process and its URL.
fn start_node(data_dir: &Path) -> (Child, String) {
    start_node_with(data_dir, &[])
}

/// [`start_node`] with more arguments.
fn start_node_with(data_dir: &Path, args: &[&str]) -> (Child, String) {
    spawn_node(data_dir, args, "warn", Stdio::null())
}

/// Starts `gophercoin node` with `RUST_LOG=rust_log` and its stderr to `stderr`; returns
/// the process and the URL from the first line it prints.
fn spawn_node(data_dir: &Path, args: &[&str], rust_log: &str, stderr: Stdio) -> (Child, String) {
    let mut child = Command::new(BIN)
        .args(["node", "-p", "0", "--data-dir"])
        .arg(data_dir)
        .args(args)
        .env("RUST_LOG", rust_log)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line
        .split_whitespace()
        .find(|word| word.starts_with("http://127.0.0.1:"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_owned();
    (child, url)
}

/// An HTTP client for the tests (https too: the process's TLS provider installed first,
/// as reqwest is built with `rustls-no-provider`).
fn http() -> reqwest::Client {
    gophercoin_http::tls::install_crypto_provider();
    reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap()
}

async fn wait_healthy(http: &reqwest::Client, url: &str) {
    // Up to 20 s: a restart after kill -9 on a machine busy with the other tests.
    for _ in 0..800 {
        let response = http.get(format!("{url}/health")).send().await;
        if response.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("node at {url} did not come up");
}

async fn get(http: &reqwest::Client, url: &str) -> Value {
    http.get(url).send().await.unwrap().json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_any_moment_loses_no_acknowledged_block() {
    let dir = tempfile::tempdir().unwrap();
    let http = http();
    let mut acknowledged: Vec<(u64, String)> = vec![];
    for round in 0u64..20 {
        let (mut child, url) = start_node(dir.path());
        wait_healthy(&http, &url).await;

        // Everything acknowledged before the last kill is still there, in place.
        let chain = get(&http, &format!("{url}/chain")).await;
        let blocks = chain["chain"].as_array().unwrap();
        assert!(blocks.len() as u64 > acknowledged.len() as u64, "round {round}: chain shrank");
        for (height, hash) in &acknowledged {
            assert_eq!(
                blocks[*height as usize]["hash"].as_str(),
                Some(hash.as_str()),
                "round {round}"
            );
        }
        // Adopt whatever an unacknowledged in-flight request also wrote.
        acknowledged = blocks
            .iter()
            .skip(1)
            .map(|b| (b["index"].as_u64().unwrap(), b["hash"].as_str().unwrap().to_owned()))
            .collect();

        for _ in 0..(1 + round % 3) {
            let mined = get(&http, &format!("{url}/mine")).await;
            acknowledged.push((
                mined["index"].as_u64().unwrap(),
                mined["hash"].as_str().unwrap().to_owned(),
            ));
        }
        // Kill while more mining is in flight, at a moment that varies by round.
        let in_flight = {
            let http = http.clone();
            let url = url.clone();
            tokio::spawn(async move {
                for _ in 0..20 {
                    let _ = http.get(format!("{url}/mine")).send().await;
                }
            })
        };
        tokio::time::sleep(Duration::from_millis(round * 7 % 40)).await;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        in_flight.abort();
    }
    assert!(acknowledged.len() >= 20);
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_stops_cleanly_within_five_seconds_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let http = http();
    for round in 0u64..3 {
        let (mut child, url) = start_node(dir.path());
        wait_healthy(&http, &url).await;
        let before = get(&http, &format!("{url}/chain")).await["length"].as_u64().unwrap();
        // Mining requests in flight, each acknowledged block noted.
        let load = {
            let (http, url) = (http.clone(), url.clone());
            tokio::spawn(async move {
                let mut acknowledged = vec![];
                for _ in 0..200 {
                    match http.get(format!("{url}/mine")).send().await {
                        Ok(response) if response.status().is_success() => {
                            let mined: Value = response.json().await.unwrap_or(Value::Null);
                            if let Some(hash) = mined["hash"].as_str() {
                                acknowledged.push(hash.to_owned());
                            }
                        }
                        _ => break,
                    }
                }
                acknowledged
            })
        };
        tokio::time::sleep(Duration::from_millis(150 + round * 50)).await;
        let sent = std::time::Instant::now();
        let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        assert!(status.unwrap().success());
        let code = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status.code();
            }
            assert!(sent.elapsed() < Duration::from_secs(5), "round {round}: still running");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_eq!(code, Some(0), "round {round}: a clean stop exits 0");
        let acknowledged = load.await.unwrap();
        assert!(!acknowledged.is_empty(), "round {round}: the load mined nothing");

        // Restarted on its data: every acknowledged block is there.
        let (mut child, url) = start_node(dir.path());
        wait_healthy(&http, &url).await;
        let chain = get(&http, &format!("{url}/chain")).await;
        let hashes: Vec<&str> =
            chain["chain"].as_array().unwrap().iter().filter_map(|b| b["hash"].as_str()).collect();
        assert!(hashes.len() as u64 >= before + acknowledged.len() as u64, "round {round}");
        for hash in &acknowledged {
            assert!(hashes.contains(&hash.as_str()), "round {round}: block {hash} lost");
        }
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_payments_and_mining_loses_no_acknowledged_payment() {
    use gophercoin_core::{Amount, RsaSigner, Signer, Transaction};
    /// Kills, each at another moment of the storm; a last start only checks.
    const ROUNDS: u64 = 20;

    let dir = tempfile::tempdir().unwrap();
    let http = http();
    let mut acknowledged: Vec<String> = vec![];
    for round in 0u64..=ROUNDS {
        let (mut child, url) = start_node(dir.path());
        wait_healthy(&http, &url).await;
        // Every payment acknowledged before a kill is pending or in exactly one block.
        let pending = get(&http, &format!("{url}/transactions/get")).await;
        let pending: Vec<String> = pending["transactions"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|t| t["id"].as_str().map(str::to_owned))
            .collect();
        let chain = get(&http, &format!("{url}/chain")).await;
        let mined: Vec<String> = chain["chain"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|b| b["transactions"].as_array().unwrap().iter())
            .filter_map(|t| t["id"].as_str().map(str::to_owned))
            .collect();
        for id in &acknowledged {
            let places = pending.iter().chain(&mined).filter(|seen| *seen == id).count();
            assert_eq!(places, 1, "round {round}: payment {id} is in {places} places");
        }
        if round == ROUNDS {
            child.kill().unwrap();
            child.wait().unwrap();
            break; // the last round only checks
        }
        if round == 0 {
            for _ in 0..3 {
                get(&http, &format!("{url}/mine")).await;
            }
        }
        let key: RsaSigner =
            std::fs::read_to_string(dir.path().join("wallet.key")).unwrap().trim().parse().unwrap();
        let chain_id = get(&http, &format!("{url}/health")).await["chain_id"].as_u64().unwrap();
        // A storm: payments and mining at once, killed at a moment that varies by round.
        let payments = {
            let (http, url) = (http.clone(), url.clone());
            tokio::spawn(async move {
                let mut accepted = vec![];
                for nonce in 0..200u64 {
                    let tx = Transaction {
                        chain_id: chain_id as u32,
                        sender: key.address(),
                        recipient: key.address(),
                        amount: Amount::positive(1).unwrap(),
                        fee: Amount::ZERO,
                        nonce: round * 1_000 + nonce,
                    }
                    .sign(&key)
                    .unwrap();
                    let sent = http.post(format!("{url}/transactions/new")).json(&tx).send().await;
                    match sent {
                        Ok(response) if response.status().as_u16() == 201 => {
                            accepted.push(tx.id().to_string());
                        }
                        Ok(_) => {}
                        Err(_) => break,
                    }
                }
                accepted
            })
        };
        let mining = {
            let (http, url) = (http.clone(), url.clone());
            tokio::spawn(async move {
                for _ in 0..50 {
                    if http.get(format!("{url}/mine")).send().await.is_err() {
                        break;
                    }
                }
            })
        };
        tokio::time::sleep(Duration::from_millis(100 + round * 37 % 120)).await;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        acknowledged.extend(payments.await.unwrap());
        mining.abort();
    }
    assert!(acknowledged.len() >= 10, "only {} payments acknowledged", acknowledged.len());
}

#[test]
fn bad_input_gives_one_line_and_a_failure_exit() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-directory");
    std::fs::write(&file, "x").unwrap();
    let output = Command::new(BIN)
        .args(["node", "-p", "0", "--data-dir"])
        .arg(&file)
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: cannot create data directory"), "{stderr}");
}

/// Runs the binary to completion.
fn gophercoin(args: &[&str]) -> (bool, String, String) {
    let output = Command::new(BIN).args(args).env("RUST_LOG", "off").output().unwrap();
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).unwrap();
    (output.status.success(), text(output.stdout), text(output.stderr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wallet_earns_by_mining_and_pays_another_wallet() {
    let dir = tempfile::tempdir().unwrap();
    let key = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let (ok, out, err) = gophercoin(&["wallet", "new", "--key", &key("a.key")]);
    assert!(ok, "{err}");
    assert!(out.contains("address: 3082"), "{out}");
    assert!(!out.contains("private key:"), "the private key is not printed unless asked");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(key("a.key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the key file is readable by others");
    }
    assert!(gophercoin(&["wallet", "new", "--key", &key("b.key")]).0);
    let (ok, _, err) = gophercoin(&["wallet", "new", "--key", &key("a.key")]);
    assert!(!ok && err.contains("cannot write"), "an existing key is never overwritten: {err}");
    let (_, b_address, _) = gophercoin(&["wallet", "address", "--key", &key("b.key")]);
    let b_address = b_address.trim().to_owned();

    let (mut node, url) = start_node(&dir.path().join("node"));
    let http = http();
    wait_healthy(&http, &url).await;
    let (ok, out, err) = gophercoin(&[
        "mine",
        "--node",
        &url,
        "--key",
        &key("a.key"),
        "--blocks",
        "2",
        "--threads",
        "2",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("mined 2 block(s)"), "{out}");
    let (ok, out, _) = gophercoin(&["wallet", "balance", "--key", &key("a.key"), "--node", &url]);
    assert!(ok);
    assert!(out.starts_with("40.00000000 coins (4000000000 units) at height 2"), "{out}");

    let (ok, out, err) = gophercoin(&[
        "send",
        "--key",
        &key("a.key"),
        "--to",
        &b_address,
        "--amount",
        "1.5",
        "--node",
        &url,
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("Transaction will be added to Block 3"), "{out}");
    let tx_id = out.lines().next().unwrap().trim_start_matches("transaction ").to_owned();
    // Overdraft: a one-line refusal and a failure exit.
    let (ok, _, err) = gophercoin(&[
        "send",
        "--key",
        &key("b.key"),
        "--to",
        &b_address,
        "--amount",
        "1",
        "--node",
        &url,
    ]);
    assert!(!ok);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("overdraft"), "{err}");

    let (ok, _, err) =
        gophercoin(&["mine", "--node", &url, "--address", &b_address, "--blocks", "1"]);
    assert!(ok, "{err}");
    let balance = |key_file: String| {
        let (_, out, _) =
            gophercoin(&["wallet", "balance", "--key", &key_file, "--node", &url, "--json"]);
        serde_json::from_str::<Value>(&out).unwrap()["balance"].as_u64().unwrap()
    };
    assert_eq!(balance(key("b.key")), 20 * 100_000_000 + 150_000_000);
    assert_eq!(balance(key("a.key")), 40 * 100_000_000 - 150_000_000);
    let (ok, out, _) = gophercoin(&["tx", &tx_id, "--node", &url]);
    assert!(ok && out.contains("confirmed"), "{out}");
    assert!(out.contains("(height 3, 1 confirmations)"), "{out}");
    assert!(out.contains("150000000 units (1.50000000 coins)"), "{out}");
    assert!(out.contains(&format!("recipient  {b_address}")), "{out}");
    let (ok, out, err) = gophercoin(&["tx", &tx_id, "--proof", "--node", &url]);
    assert!(ok, "{err}");
    assert!(out.contains("holds: 1 hashes lead from the id to the merkle root"), "{out}");
    let (ok, _, err) = gophercoin(&["tx", &"ab".repeat(32), "--proof", "--node", &url]);
    assert!(!ok && err.contains("no transaction"), "{err}");
    let (ok, out, _) = gophercoin(&["chain", "--node", &url]);
    assert!(ok && out.contains("4 blocks in the main chain"), "{out}");
    // A table: every row as wide as the head, times as UTC dates (genesis: 2026-01-01).
    let rows: Vec<&str> = out.lines().filter(|line| !line.ends_with("main chain")).collect();
    assert_eq!(rows.len(), 5, "{out}");
    assert!(rows.iter().all(|row| row.len() == rows[0].len()), "{out}");
    assert!(rows[1].contains(" 2026-01-01 00:00:00 "), "{out}");
    let (ok, out, err) = gophercoin(&["block", "3", "--node", &url]);
    assert!(ok, "{err}");
    assert!(out.contains("main chain  true"), "{out}");
    assert!(out.contains(&format!("transfer  {tx_id} 1.50000000 coins to 3082")), "{out}");
    assert!(out.contains("reward"), "{out}");
    let (ok, out, _) = gophercoin(&["block", "3", "--node", &url, "--json"]);
    assert!(ok);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["block"]["transactions"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    node.kill().unwrap();
    node.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_devnet_of_three_converges() {
    let dir = tempfile::tempdir().unwrap();
    let mut devnet = Command::new(BIN)
        .args(["devnet", "--nodes", "3", "--base-port", "0", "--data-dir"])
        .arg(dir.path())
        .env("RUST_LOG", "off")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(devnet.stdout.take().unwrap());
    let urls: Vec<String> = (0..3)
        .map(|_| {
            let mut line = String::new();
            stdout.read_line(&mut line).unwrap();
            line.trim().to_owned()
        })
        .collect();
    assert!(urls.iter().all(|u| u.starts_with("http://127.0.0.1:")), "{urls:?}");
    let http = http();
    // Blocks mined on different nodes reach every node by relay alone (each is awaited
    // before the next is mined, so no two miners race for the same height).
    let mut converged = true;
    let mut tips = vec![];
    for (height, url) in (1u64..).zip([&urls[0], &urls[2], &urls[1], &urls[0]]) {
        let mined = get(&http, &format!("{url}/mine")).await;
        assert_eq!(mined["index"].as_u64(), Some(height), "{mined}");
        converged = false;
        for _ in 0..200 {
            tips.clear();
            for url in &urls {
                let health = get(&http, &format!("{url}/health")).await;
                tips.push((health["height"].as_u64(), health["tip"].as_str().map(str::to_owned)));
            }
            if tips.iter().all(|t| *t == tips[0]) && tips[0].0 == Some(height) {
                converged = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if !converged {
            break;
        }
    }
    devnet.kill().unwrap();
    devnet.wait().unwrap();
    assert!(converged, "the devnet did not converge on height 4: {tips:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_and_resolve_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let (mut first, first_url) = start_node(&dir.path().join("a"));
    let (mut second, second_url) = start_node(&dir.path().join("b"));
    let http = http();
    wait_healthy(&http, &first_url).await;
    wait_healthy(&http, &second_url).await;
    for _ in 0..2 {
        assert_eq!(get(&http, &format!("{second_url}/mine")).await["message"], "New Block Forged!");
    }
    let (ok, out, err) = gophercoin(&["register", &second_url, "--node", &first_url]);
    assert!(ok, "{err}");
    assert!(out.starts_with("New nodes have been added"), "{out}");
    let (ok, out, err) = gophercoin(&["resolve", "--node", &first_url]);
    assert!(ok, "{err}");
    // Replaced by the resolve, or already by the connection the registration opened.
    assert!(out.starts_with("Our chain was replaced (3 blocks)"), "{out}");
    assert!(out.contains("adopted") || out.contains("in_sync"), "{out}");
    let (ok, out, _) = gophercoin(&["resolve", "--node", &first_url]);
    assert!(ok && out.starts_with("Our chain is authoritative"), "{out}");
    let (ok, _, err) = gophercoin(&["register", "ftp://nope", "--node", &first_url]);
    // Refused by the command's own check, the node's rule, before the node is asked.
    assert!(!ok && err.contains("scheme \"ftp\" is not http or https"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    for node in [&mut first, &mut second] {
        node.kill().unwrap();
        node.wait().unwrap();
    }
}

#[test]
fn sim_prints_its_summary_and_writes_the_report_page() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("run.html");
    let args = ["sim", "--nodes", "12", "--blocks", "3", "--report", page.to_str().unwrap()];
    let (ok, out, err) = gophercoin(&args);
    assert!(ok, "{err}");
    assert!(out.contains("blocks mined              3"), "{out}");
    assert!(out.contains("one tip at the end        yes"), "{out}");
    let html = std::fs::read_to_string(&page).expect("the report is written");
    assert_eq!(html.matches("<svg").count(), 3);
    // The same seed, the same run.
    let (_, again, _) = gophercoin(&args[..5]);
    let trace = |out: &str| out.lines().find(|l| l.starts_with("trace")).map(str::to_owned);
    assert_eq!(trace(&out), trace(&again));
    let (ok, _, err) = gophercoin(&["sim", "--hostile", "2"]);
    assert!(!ok);
    assert!(err.contains("--hostile is a share"), "{err}");
}

/// Every node's (height, tip), in order.
async fn tips(http: &reqwest::Client, urls: &[String]) -> Vec<(Option<u64>, Option<String>)> {
    let mut tips = vec![];
    for url in urls {
        let health = get(http, &format!("{url}/health")).await;
        tips.push((health["height"].as_u64(), health["tip"].as_str().map(str::to_owned)));
    }
    tips
}

/// Waits (bounded) until every node is at `height` on one tip; returns whether they are.
async fn converged(http: &reqwest::Client, urls: &[String], height: u64) -> bool {
    for _ in 0..400 {
        let tips = tips(http, urls).await;
        if tips.iter().all(|t| *t == tips[0]) && tips[0].0 == Some(height) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    false
}

/// The seed scenario: a seed and 8 nodes that know only the seed find each other and
/// relay blocks to all, and nodes killed with `kill -9` catch up on their own once
/// restarted; nobody calls `/nodes/resolve`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_nodes_that_know_only_a_seed_form_a_network_that_heals() {
    let dirs: Vec<_> = (0..9).map(|_| tempfile::tempdir().unwrap()).collect();
    let http = http();
    let (seed, seed_url) = start_node(dirs[0].path());
    wait_healthy(&http, &seed_url).await;
    let mut children = KillOnDrop(vec![seed]);
    let mut urls = vec![seed_url.clone()];
    for dir in &dirs[1..] {
        let (child, url) = start_node_with(dir.path(), &["--peer", &seed_url]);
        children.0.push(child);
        urls.push(url);
    }
    for url in &urls {
        wait_healthy(&http, url).await;
    }
    // The seed learns of every node that joined through it, by its peer address.
    let mut joined = vec![];
    for url in &urls[1..] {
        let health = get(&http, &format!("{url}/health")).await;
        joined.push(health["p2p"]["advertised"].as_str().unwrap().to_owned());
    }
    let mut listed = vec![];
    for _ in 0..400 {
        let peers = get(&http, &format!("{seed_url}/nodes/get")).await;
        listed = peers["nodes"].as_array().unwrap().clone();
        if joined.iter().all(|addr| listed.iter().any(|n| n.as_str() == Some(addr))) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        joined.iter().all(|addr| listed.iter().any(|n| n.as_str() == Some(addr))),
        "the seed lists {listed:?}, not all of {joined:?}"
    );
    // A block mined on any of three nodes reaches all nine by relay alone.
    for (height, miner) in (1u64..).zip([3, 0, 7]) {
        let mined = get(&http, &format!("{}/mine", urls[miner])).await;
        assert_eq!(mined["index"].as_u64(), Some(height), "{mined}");
        assert!(
            converged(&http, &urls, height).await,
            "a block mined on node {miner} did not reach all: {:?}",
            tips(&http, &urls).await
        );
    }
    // Three nodes killed; the others go on; restarted, the three catch up unasked.
    for i in [2, 5, 8] {
        children.0[i].kill().unwrap(); // SIGKILL
        children.0[i].wait().unwrap();
    }
    let alive: Vec<String> = urls
        .iter()
        .enumerate()
        .filter(|(i, _)| ![2, 5, 8].contains(i))
        .map(|(_, u)| u.clone())
        .collect();
    for height in 4..=5 {
        let mined = get(&http, &format!("{}/mine", urls[1])).await;
        assert_eq!(mined["index"].as_u64(), Some(height), "{mined}");
        assert!(converged(&http, &alive, height).await, "{:?}", tips(&http, &alive).await);
    }
    for i in [2, 5, 8] {
        let (child, url) = start_node_with(dirs[i].path(), &["--peer", &seed_url]);
        children.0[i] = child;
        urls[i] = url;
        wait_healthy(&http, &urls[i]).await;
    }
    let caught_up = converged(&http, &urls, 5).await;
    let last = tips(&http, &urls).await;
    drop(children);
    assert!(caught_up, "the restarted nodes did not catch up: {last:?}");
}

/// Node processes killed when dropped, so a failed assertion leaves none running.
struct KillOnDrop(Vec<Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn the_command_line_explains_itself() {
    // Bare: the help, with the commands, as a usage error.
    let output = Command::new(BIN).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("Usage: gophercoin") && stderr.contains("Commands:"), "{stderr}");

    // A missing argument is named, with the usage.
    let (ok, _, err) = gophercoin(&["send", "--amount", "1"]);
    assert!(!ok);
    assert!(err.contains("--to <HEX>") && err.contains("Usage: gophercoin send"), "{err}");

    // The version names the commit (or says it is unknown outside a checkout).
    let (ok, out, _) = gophercoin(&["--version"]);
    assert!(ok && out.starts_with(&format!("gophercoin {} (", env!("CARGO_PKG_VERSION"))), "{out}");
    assert!(out.ends_with(")\n"), "{out:?}");

    // Completion scripts name the commands and their options.
    for shell in ["bash", "zsh", "fish"] {
        let (ok, out, err) = gophercoin(&["completions", shell]);
        assert!(ok, "{err}");
        assert!(out.contains("watch") && out.contains("cacert"), "{shell}: {out}");
    }

    // A node URL that is not http(s) is refused with a sentence, before any request.
    let (ok, _, err) = gophercoin(&["chain", "--node", "ftp://127.0.0.1:1"]);
    assert!(!ok && err.contains("is not an http:// or https:// URL"), "{err}");

    // A peer URL the node would refuse is refused here, naming why.
    let (ok, _, err) =
        gophercoin(&["register", "http://127.0.0.1:1/path?q=1", "--node", "127.0.0.1:1"]);
    assert!(!ok && err.contains("not a peer the node would take"), "{err}");
}

#[test]
fn an_answer_that_is_not_json_is_reported_with_its_status() {
    // A web server that is not a node: an HTML 404 to every request.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("127.0.0.1:{}", listener.local_addr().unwrap().port());
    let server = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = [0; 4096];
        let _ = stream.read(&mut request).unwrap();
        let body = "<html><body>Not Found</body></html>";
        let head = format!(
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(body.as_bytes()).unwrap();
    });
    // The URL without a scheme is taken as http://, and comes from the environment.
    let output = Command::new(BIN)
        .args(["chain"])
        .env("GOPHERCOIN_NODE", &url)
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    server.join().unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(!output.status.success());
    assert!(
        stderr.contains(&format!("the node at http://{url} answered 404 Not Found")),
        "{stderr}"
    );
    assert!(stderr.contains("not JSON"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_one_object_a_line() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, url) =
        spawn_node(dir.path(), &["--log-format", "json"], "info", Stdio::piped());
    let (lines, logged) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let http = http();
    wait_healthy(&http, &url).await;
    assert!(http.get(format!("{url}/mine")).send().await.unwrap().status().is_success());
    // Every line is a JSON object; the new tip's has its level, message and fields.
    let mut found = None;
    while let Ok(line) = logged.recv_timeout(Duration::from_secs(10)) {
        let event: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        if event["fields"]["message"] == "new tip" {
            found = Some(event);
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let event = found.expect("a new tip logged within 10 s");
    assert_eq!(event["level"], "INFO");
    assert_eq!(event["fields"]["height"], 1);
    assert!(event["timestamp"].is_string(), "{event}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regtest_never_retargets_and_is_a_network_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let (mut node, url) = start_node_with(&dir.path().join("r"), &["--network", "regtest"]);
    let http = http();
    wait_healthy(&http, &url).await;
    let health = get(&http, &format!("{url}/health")).await;
    let regtest = gophercoin_core::Params::regtest();
    assert_eq!(health["chain_id"], regtest.chain_id);
    assert_eq!(health["halving_interval"], 150);
    // Past the heights where the devnet would have retargeted (every 20 blocks, each
    // block in the same second: four times harder each time), still the limit.
    for _ in 0..45 {
        assert_eq!(get(&http, &format!("{url}/mine")).await["message"], "New Block Forged!");
    }
    let chain = get(&http, &format!("{url}/chain?from=1&limit=500")).await;
    let blocks = chain["chain"].as_array().unwrap();
    assert_eq!(blocks.len(), 45);
    assert!(blocks.iter().all(|block| block["target"] == "207fffff"), "{chain}");
    node.kill().unwrap();
    node.wait().unwrap();

    // A devnet node's data is another network's: refused, not mixed.
    let output = Command::new(BIN)
        .args(["node", "-p", "0", "--data-dir"])
        .arg(dir.path().join("r"))
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("another network") || stderr.contains("genesis"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_prints_the_nodes_events_as_they_come() {
    let dir = tempfile::tempdir().unwrap();
    // Regtest: the blocks mined until the watcher has subscribed stay cheap.
    let (mut node, url) = start_node_with(&dir.path().join("n"), &["--network", "regtest"]);
    let http = http();
    wait_healthy(&http, &url).await;
    let watcher = |json: bool| {
        let mut args = vec!["watch", "--node", &url, "--count", "2"];
        args.extend(json.then_some("--json"));
        Command::new(BIN).args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
    };
    let (mut watch, mut plain) = (watcher(true), watcher(false));
    // Mine until the watchers, once subscribed, have seen their two events and stopped.
    let mut exited = (None, None);
    for _ in 0..100 {
        get(&http, &format!("{url}/mine")).await;
        exited.0 = exited.0.or(watch.try_wait().unwrap());
        exited.1 = exited.1.or(plain.try_wait().unwrap());
        if exited.0.is_some() && exited.1.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (Some(status), Some(plain_status)) = exited else {
        let _ = (watch.kill(), plain.kill());
        panic!("the watchers did not print two events while 100 blocks were mined");
    };
    // For people: each event decoded and told in a line.
    let plain = plain.wait_with_output().unwrap();
    assert!(plain_status.success(), "{}", String::from_utf8_lossy(&plain.stderr));
    let plain = String::from_utf8(plain.stdout).unwrap();
    let told: Vec<&str> = plain.lines().collect();
    assert_eq!(told.len(), 2, "{plain}");
    assert!(told[0].starts_with("connected  height "), "{plain}");
    assert!(told[1].starts_with("new tip    height "), "{plain}");
    let output = watch.wait_with_output().unwrap();
    assert!(status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let lines: Vec<Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["event"], "block_connected");
    assert_eq!(lines[1]["event"], "tip");
    assert_eq!(lines[0]["data"]["height"], lines[1]["data"]["height"]);
    node.kill().unwrap();
    node.wait().unwrap();
}

/// An https front for `node` (a host with its own certificate, as behind a TLS proxy):
/// returns its URL and the certificate's PEM.
async fn https_front(node: &str) -> (String, String) {
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let pem = certified.cert.pem();
    let key =
        rustls::pki_types::PrivateKeyDer::try_from(certified.signing_key.serialize_der()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![certified.cert.der().clone()], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    let backend = node.trim_start_matches("http://").to_owned();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (acceptor, backend) = (acceptor.clone(), backend.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else { return };
                let mut plain = tokio::net::TcpStream::connect(&backend).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    (url, pem)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_speaks_https() {
    let dir = tempfile::tempdir().unwrap();
    let (mut node, url) = start_node(&dir.path().join("n"));
    let http = http();
    wait_healthy(&http, &url).await;
    get(&http, &format!("{url}/mine")).await;
    let (https, pem) = https_front(&url).await;
    let cacert = dir.path().join("front.pem");
    std::fs::write(&cacert, pem).unwrap();

    // Its certificate is nobody's the system trusts: refused, and said so.
    let (ok, _, err) = gophercoin(&["chain", "--node", &https]);
    assert!(!ok && err.contains("TLS handshake") && err.contains("--cacert"), "{err}");
    // Trusted: the chain, over TLS.
    let cacert = cacert.to_str().unwrap();
    let (ok, out, err) = gophercoin(&["chain", "--node", &https, "--cacert", cacert]);
    assert!(ok, "{err}");
    assert!(out.contains("2 blocks in the main chain"), "{out}");
    // And from the environment, as every command takes it.
    let output = Command::new(BIN)
        .args(["tx", &"ab".repeat(32)])
        .env("GOPHERCOIN_NODE", &https)
        .env("GOPHERCOIN_CACERT", cacert)
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("no transaction"), "the node's own 404 over TLS: {stderr}");
    node.kill().unwrap();
    node.wait().unwrap();
}
