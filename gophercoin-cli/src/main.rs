//! The `gophercoin` command: nodes, wallets, mining and a local network, once the HTTP
//! adapter exists. Today it only says where to start.

fn main() {
    println!(
        "gophercoin {}: the consensus library is ready; the node, wallet and miner commands \
         come with the HTTP adapter.\nTry: cargo run -p gophercoin-core --example embed",
        env!("CARGO_PKG_VERSION")
    );
}
