//! The fuzz harness: what each fuzz target does with its input. `tests/fuzz_harness.rs`
//! compiles it, where proptest feeds it random inputs on every `cargo test`, and so does the
//! workspace's `fuzz/` crate, so the targets and the tests can't drift apart.
//!
//! [`AcceptAllVerifier`] accepts every key and signature so random inputs can reach the
//! rules behind signature checks. It provides NO SECURITY and exists only in this file.

use gophercoin_core::{
    Address, Amount, Block, BlockTransaction, CryptoError, MostWork, Node, Params, RsaSigner,
    RsaVerifier, Signature, SignedTransaction, Signer as _, Transaction, UnixTime, Verifier,
};

/// A verifier that accepts everything. Fuzzing only.
#[derive(Clone, Copy, Debug)]
pub struct AcceptAllVerifier;

impl Verifier for AcceptAllVerifier {
    fn check_address(&self, _: &Address) -> Result<(), CryptoError> {
        Ok(())
    }

    fn verify(&self, _: &Address, _: &[u8], _: &Signature) -> Result<(), CryptoError> {
        Ok(())
    }
}

/// A devnet node that accepts every signature.
pub fn fuzz_node() -> Node<AcceptAllVerifier, MostWork> {
    Node::new(Params::devnet(), AcceptAllVerifier, MostWork).expect("valid parameters")
}

/// Decodes arbitrary bytes as a signed transaction; what decodes must re-encode to the
/// same bytes and go through the isolation checks without panicking.
pub fn decode_transaction(data: &[u8]) {
    if let Ok(tx) = gophercoin_core::SignedTransaction::decode(data, 1 << 16) {
        assert_eq!(gophercoin_core::SignedTransaction::encode(&tx), data, "decoding is canonical");
        // One checker for every input: a node is made once.
        static CHECKER: std::sync::OnceLock<gophercoin_core::Checker<AcceptAllVerifier>> =
            std::sync::OnceLock::new();
        let _ = CHECKER.get_or_init(|| fuzz_node().checker()).check_transaction(tx.identify());
    }
}

/// Decodes arbitrary bytes as a block and hands what decodes to a node: no panic, and a
/// rejected block changes nothing.
pub fn decode_block(data: &[u8]) {
    if let Ok(block) = gophercoin_core::Block::decode(data, 1 << 20) {
        assert_eq!(gophercoin_core::Block::encode(&block), data, "decoding is canonical");
        let mut node = fuzz_node();
        let before = node.ledger().clone();
        let now = Params::devnet().genesis_timestamp + 60;
        if node.handle_block(block, UnixTime::from_secs(now)).is_err() {
            assert_eq!(node.ledger(), &before);
            assert!(node.poll_event().is_none());
        }
    }
}

/// Parses arbitrary text as hex keys with the real RSA verifier: errors, never panics.
pub fn parse_keys(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(address) = text.parse::<Address>() {
        let _ = RsaVerifier::default().check_address(&address);
        let _ = RsaVerifier::default().verify(
            &address,
            b"message",
            &Signature::from_bytes(data.iter().copied().take(512).collect())
                .unwrap_or_else(|_| Signature::from_bytes(vec![]).expect("empty fits")),
        );
    }
    let _ = text.parse::<RsaSigner>();
    // The bytes themselves as DER.
    if let Ok(address) = Address::from_der(data.to_vec()) {
        let _ = RsaVerifier::default().check_address(&address);
    }
    let _ = RsaSigner::from_der(data);
}

/// Interprets bytes as a sequence of node inputs (mine, pay, submit a tampered block,
/// offer a chain) and checks the invariants after each: supply is the reward times the
/// height, balances add up to the supply, no pending payment is already included.
pub fn node_inputs(data: &[u8]) {
    let params = Params::devnet();
    let wallets: Vec<Address> =
        (0u8..4).map(|i| Address::from_der(vec![0x30, i]).expect("short")).collect();
    let mut node = fuzz_node();
    let mut now = params.genesis_timestamp;
    let mut bytes = data.iter().copied();
    let mut next = move || bytes.next();
    while let Some(op) = next() {
        let arg = next().unwrap_or(0);
        match op % 5 {
            0 => {
                now += u64::from(arg % 16);
                let _ = node.mine_block(&wallets[usize::from(arg % 4)], UnixTime::from_secs(now));
            }
            1 => {
                let amount = u64::from(next().unwrap_or(1)) * 10_000_000;
                let tx = SignedTransaction {
                    transaction: Transaction {
                        chain_id: params.chain_id,
                        sender: wallets[usize::from(arg % 4)].clone(),
                        recipient: wallets[usize::from(arg / 4 % 4)].clone(),
                        amount: Amount::from_units(amount).expect("small"),
                        fee: Amount::ZERO,
                        nonce: u64::from(next().unwrap_or(0)),
                    },
                    signature: Signature::from_bytes(vec![]).expect("empty fits"),
                };
                let _ = node.handle_transaction(tx);
            }
            2 => {
                // A template with one field tampered with, solved anyway.
                if let Ok(mut block) = node.block_template(&wallets[0], UnixTime::from_secs(now)) {
                    tamper(&mut block, arg, next().unwrap_or(0));
                    let _ = gophercoin_core::pow::solve(&mut block.header, 1 << 16);
                    let before = node.ledger().clone();
                    if node.handle_block(block, UnixTime::from_secs(now)).is_err() {
                        assert_eq!(node.ledger(), &before);
                    }
                }
            }
            3 => {
                // Our own chain back, from some height: nothing new, nothing changes.
                let from = u64::from(arg) % (node.height() + 1);
                let chain: Vec<Block> =
                    node.chain().main_chain_from(from).map(|b| b.to_block()).collect();
                let tip = node.tip().hash();
                let _ = node.handle_chain(chain, UnixTime::from_secs(now));
                assert_eq!(node.tip().hash(), tip);
            }
            _ => now += u64::from(arg),
        }
        while node.poll_event().is_some() {}
        check_invariants(&node, &params);
    }
}

fn tamper(block: &mut Block, what: u8, value: u8) {
    match what % 6 {
        0 => block.header.timestamp = block.header.timestamp.wrapping_add(u64::from(value) << 8),
        1 => block.header.height = block.header.height.wrapping_add(u64::from(value)),
        2 => {
            if let Some(BlockTransaction::Reward(reward)) = block.transactions.first_mut() {
                reward.amount =
                    Amount::from_units(u64::from(value) * 1_000_000_000).expect("small");
            }
        }
        3 => block.transactions.truncate(usize::from(value % 2)),
        4 => {
            block.header.bits =
                gophercoin_core::CompactTarget::from_consensus(u32::from(value) << 24 | 0xffff)
        }
        _ => {
            let dup = block.transactions.last().cloned();
            block.transactions.extend(dup);
        }
    }
    block.header.merkle_root =
        gophercoin_core::block::merkle_root(block.transactions.iter().map(|t| t.id()));
}

fn check_invariants<V: Verifier>(node: &Node<V, MostWork>, params: &Params) {
    let supply = params.supply_at(node.height());
    assert_eq!(node.ledger().supply(), supply);
    let sum = node.ledger().balances().try_fold(Amount::ZERO, |sum, (_, b)| sum.checked_add(b));
    assert_eq!(sum, Some(supply));
    for tx in node.mempool().iter() {
        assert!(!node.ledger().is_included(&tx.id()));
        assert!(
            node.mempool().spending(&tx.transaction().sender)
                <= node.balance(&tx.transaction().sender)
        );
    }
}

/// A signer of each size class of the RSA verifier's fixed-limb path (2048, 2056, 3072 and
/// 4096 bits) with its signature of [`DIFFERENTIAL_MESSAGE`].
fn differential_signers() -> &'static [(RsaSigner, Signature)] {
    static SIGNERS: std::sync::OnceLock<Vec<(RsaSigner, Signature)>> = std::sync::OnceLock::new();
    SIGNERS.get_or_init(|| {
        [
            include_str!("../data/alice.pkcs8.hex"),
            include_str!("../data/rsa2056.pkcs8.hex"),
            include_str!("../data/rsa3072.pkcs8.hex"),
            include_str!("../data/rsa4096.pkcs8.hex"),
        ]
        .iter()
        .map(|hex| {
            let signer: RsaSigner = hex.trim().parse().expect("a test key");
            let signature = signer.sign(DIFFERENTIAL_MESSAGE).expect("signs");
            (signer, signature)
        })
        .collect()
    })
}

/// What the differential target's honest signatures sign.
pub const DIFFERENTIAL_MESSAGE: &[u8] = b"differential";

/// Arbitrary bytes as a signature (raw, or as a change to an honest one: bits flipped,
/// cut, lengthened), checked by the RSA verifier's fixed-limb path and by the `rsa` crate
/// alone: the verdicts must agree, and the honest signature must verify.
pub fn rsa_differential(data: &[u8]) {
    rsa_paths_agree_with(data, &[], &[]);
}

/// As [`rsa_differential`], and each of `engines` (a verifier with another engine, and
/// its name) gives the same verdict too. `forgeries` are signatures of
/// [`DIFFERENTIAL_MESSAGE`] by each signer with a padding no honest signer makes (as
/// many per signer as `forgeries.len() / 4`, in the signers' order), which the input may
/// pick and change; none if empty.
pub fn rsa_paths_agree_with(data: &[u8], engines: &[(&str, &RsaVerifier)], forgeries: &[Vec<u8>]) {
    static VERIFIERS: std::sync::OnceLock<(RsaVerifier, RsaVerifier)> = std::sync::OnceLock::new();
    let (fast, reference) = VERIFIERS.get_or_init(|| {
        let fast = RsaVerifier::default().without_signature_cache();
        (fast.clone(), fast.reference())
    });
    let Some((&first, rest)) = data.split_first() else { return };
    let signers = differential_signers();
    let which = usize::from(first) % signers.len();
    let (signer, honest) = &signers[which];
    let honest = honest.as_bytes();
    let per_signer = forgeries.len() / signers.len();
    let flip = |base: &[u8]| -> Vec<u8> {
        base.iter().zip(rest.iter().chain(std::iter::repeat(&0))).map(|(a, b)| a ^ b).collect()
    };
    let bytes: Vec<u8> = match (first / 4) % 5 {
        0 => rest.to_vec(),
        1 => flip(honest),
        2 => honest.iter().chain(rest).copied().collect(),
        3 => honest[..honest.len().saturating_sub(rest.len().max(1))].to_vec(),
        _ if per_signer > 0 => {
            let (pick, changes) = rest.split_first().map_or((0, &[][..]), |(p, c)| (*p, c));
            let forged = &forgeries[which * per_signer + usize::from(pick) % per_signer];
            let changes = changes.iter().chain(std::iter::repeat(&0));
            forged.iter().zip(changes).map(|(a, b)| a ^ b).collect()
        }
        _ => rest.to_vec(),
    };
    let Ok(signature) = Signature::from_bytes(bytes) else { return };
    let address = signer.address();
    let by_fast = fast.verify(&address, DIFFERENTIAL_MESSAGE, &signature);
    let by_reference = reference.verify(&address, DIFFERENTIAL_MESSAGE, &signature);
    assert_eq!(by_fast, by_reference, "the fixed-limb path and the rsa crate disagree");
    for (name, engine) in engines {
        let by_engine = engine.verify(&address, DIFFERENTIAL_MESSAGE, &signature);
        assert_eq!(by_engine, by_reference, "{name} and the rsa crate disagree");
    }
    if signature.as_bytes() == honest {
        assert_eq!(by_fast, Ok(()), "an honest signature verifies");
    }
}
