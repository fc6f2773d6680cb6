//! `gophercoin watch`: a node's live events in the terminal.

use std::time::Duration;

use eventsource_stream::Eventsource as _;
use futures_util::StreamExt as _;
use serde_json::Value;

use gophercoin_http::dto::{LiveEvent, PeerDirection};

use crate::client::{DEFAULT_NODE, NodeClient};

/// `gophercoin watch`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  gophercoin watch\n  gophercoin watch --json --count 10")]
pub(crate) struct WatchArgs {
    /// The node to follow.
    #[arg(long, env = "GOPHERCOIN_NODE", default_value = DEFAULT_NODE)]
    node: String,
    /// Print each event as one line of JSON (`{"id", "event", "data"}`).
    #[arg(long)]
    json: bool,
    /// Stop after this many events (default: until Ctrl-C).
    #[arg(long, value_name = "N")]
    count: Option<usize>,
}

/// Prints the node's events as they come; when the connection drops, reconnects with
/// the last event's id, so nothing in between is lost (or is said to be, by a `reset`).
pub(crate) async fn run(args: WatchArgs) -> Result<(), String> {
    let client = NodeClient::new(&args.node)?;
    let mut last_id: Option<String> = None;
    let mut printed = 0;
    let mut failures = 0;
    loop {
        let response = match client.events(last_id.as_deref()).await {
            Ok(response) => response,
            Err(error) if last_id.is_some() && failures < 30 => {
                failures += 1;
                eprintln!("{error}; reconnecting");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            Err(error) => return Err(error),
        };
        failures = 0;
        let mut events = response.bytes_stream().eventsource();
        while let Some(event) = events.next().await {
            let Ok(event) = event else { break };
            last_id = Some(event.id.clone()).filter(|id| !id.is_empty()).or(last_id);
            if args.json {
                // The node's JSON as it came.
                let data: Value = serde_json::from_str(&event.data).unwrap_or(Value::Null);
                println!(
                    "{}",
                    serde_json::json!({ "id": event.id, "event": event.event, "data": data })
                );
            } else {
                match LiveEvent::from_sse(&event.event, &event.data) {
                    Ok(live) => println!("{}", describe(&live)),
                    // A type this build does not know (a newer node's): shown as it came.
                    Err(_) => println!("{} {}", event.event, event.data),
                }
            }
            printed += 1;
            if args.count.is_some_and(|count| printed >= count) {
                return Ok(());
            }
        }
        if last_id.is_none() {
            return Err(format!("the node at {} closed its event stream", client.url()));
        }
    }
}

/// One line for a person.
fn describe(event: &LiveEvent) -> String {
    match event {
        LiveEvent::Tip { hash, height } => format!("new tip    height {height} {hash}"),
        LiveEvent::BlockConnected { hash, height } => {
            format!("connected  height {height} {hash}")
        }
        LiveEvent::BlockDisconnected { hash, height } => {
            format!("disconnected height {height} {hash}")
        }
        LiveEvent::Transaction { id } => format!("pending    {id}"),
        LiveEvent::TransactionDropped { id } => format!("dropped    {id}"),
        LiveEvent::PeerConnected { peer, direction, address } => {
            let direction = match direction {
                PeerDirection::Inbound => "inbound",
                PeerDirection::Outbound => "outbound",
            };
            format!("peer up    #{peer} {direction} {}", address.as_deref().unwrap_or("-"))
        }
        LiveEvent::PeerGone { peer } => format!("peer down  #{peer}"),
        LiveEvent::Reset { reason } => format!("reset      {reason} (fetch the state again)"),
        other => format!("{} {}", other.kind(), other.data()),
    }
}
