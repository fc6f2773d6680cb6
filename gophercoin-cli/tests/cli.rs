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
    let mut child = Command::new(BIN)
        .args(["node", "-p", "0", "--data-dir"])
        .arg(data_dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
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

async fn wait_healthy(http: &reqwest::Client, url: &str) {
    for _ in 0..400 {
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
    let http = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
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
