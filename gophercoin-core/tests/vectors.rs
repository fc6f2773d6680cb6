//! Golden vectors that pin the canonical encoding: a signed transaction and a block, with
//! their bytes and hashes, computed from the committed keys and compared with
//! `tests/data/vectors.json`. Any change to what is signed or hashed breaks this test.
//!
//! After an intended change of encoding (a new version tag), regenerate the file with
//! `GOPHERCOIN_BLESS=1 cargo test -p gophercoin-core --test vectors`.

mod common;

use common::*;
use gophercoin_core::{Node, Signer};
use serde_json::{Value, json};

fn vectors() -> Value {
    let params = params();
    let tx = transfer(alice(), bob(), coins(5), 42);
    let mut node = Node::devnet();
    mine(&mut node, alice(), 1);
    node.handle_transaction(tx.clone()).unwrap();
    mine(&mut node, carol(), 1);
    let block = node.chain().tip().to_block();
    json!({
        "genesis": {
            "header": hex::encode(params.genesis().header.to_bytes()),
            "hash": params.genesis().hash().to_string(),
        },
        "transaction": {
            "sender": alice().address().to_string(),
            "recipient": bob().address().to_string(),
            "signing_bytes": hex::encode(tx.transaction.signing_bytes()),
            "id": tx.id().to_string(),
            "signature": tx.signature.to_string(),
            "encoded": hex::encode(gophercoin_core::SignedTransaction::encode(&tx)),
            "json": serde_json::to_value(&tx).unwrap(),
        },
        "block": {
            "header": hex::encode(block.header.to_bytes()),
            "hash": block.hash().to_string(),
            "merkle_root": block.header.merkle_root.to_string(),
            "encoded": hex::encode(gophercoin_core::Block::encode(&block)),
        },
    })
}

#[test]
fn encodings_match_the_golden_vectors() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/vectors.json");
    let actual = vectors();
    if std::env::var_os("GOPHERCOIN_BLESS").is_some() {
        std::fs::write(path, serde_json::to_string_pretty(&actual).unwrap() + "\n").unwrap();
    }
    let expected: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(actual, expected);
}

#[test]
fn golden_transaction_decodes_and_verifies() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/vectors.json");
    let expected: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let bytes = hex::decode(expected["transaction"]["encoded"].as_str().unwrap()).unwrap();
    let tx = gophercoin_core::SignedTransaction::decode(&bytes, 4096).unwrap();
    assert_eq!(tx.id().to_string(), expected["transaction"]["id"].as_str().unwrap());
    let node = gophercoin_core::Node::new(params(), params().verifier(), gophercoin_core::MostWork);
    let verified = node.unwrap().checker().check_transaction(tx.identify()).unwrap();
    assert_eq!(verified.transaction().amount, coins(5));
    let block = hex::decode(expected["block"]["encoded"].as_str().unwrap()).unwrap();
    let block = gophercoin_core::Block::decode(&block, 1 << 20).unwrap();
    assert_eq!(block.hash().to_string(), expected["block"]["hash"].as_str().unwrap());
    assert_eq!(block.header.merkle_root, block.compute_merkle_root());
}
