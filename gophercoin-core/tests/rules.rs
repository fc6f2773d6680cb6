//! One test per rule of DESIGN §3: the bad input is rejected with its typed error, and
//! the node's state (tip, balances, mempool, known blocks) is exactly as before. Each
//! test's doc names, by anchor, the rules of `docs/consensus.md` it exercises.

mod common;

use common::*;
use gophercoin_core::{
    Address, Amount, Block, BlockError, BlockOutcome, BlockTransaction, ChainError, ChainOutcome,
    CompactTarget, CryptoError, Error, FeeRate, LedgerError, MempoolError, Node, Policy, PowError,
    Reward, RsaSigner, Signature, SignedTransaction, Signer, Transaction, TxError, UnixTime,
    Verifier,
};

/// A node where alice has mined 3 blocks (60 coins).
fn funded() -> Node {
    let mut node = Node::devnet();
    mine(&mut node, alice(), 3);
    node
}

/// A node with a policy of its own where alice has mined 3 blocks (60 coins).
fn funded_with_policy(change: impl FnOnce(&mut Policy)) -> Node {
    let mut policy = Policy::default();
    change(&mut policy);
    let mut node = Node::devnet().with_policy(policy);
    mine(&mut node, alice(), 3);
    node
}

// --- signatures ------------------------------------------------------------------------

/// Rules: tx-signature
#[test]
fn corrupted_signature_is_rejected() {
    let mut node = funded();
    let mut tx = transfer(alice(), bob(), coins(1), 1);
    let mut bytes = tx.signature.as_bytes().to_vec();
    bytes[10] ^= 1;
    tx.signature = Signature::from_bytes(bytes).unwrap();
    rejects(&mut node, TxError::BadSignature(CryptoError::BadSignature), |n| {
        n.handle_transaction(tx)
    });
}

/// Rules: tx-signature
#[test]
fn signature_by_another_key_is_rejected() {
    let mut node = funded();
    let mut tx = transfer(alice(), bob(), coins(1), 1);
    tx.signature = bob().sign(&tx.transaction.signing_bytes()).unwrap();
    rejects(&mut node, TxError::BadSignature(CryptoError::BadSignature), |n| {
        n.handle_transaction(tx)
    });
}

/// Rules: tx-signature, key-signature-scheme
#[test]
fn empty_signature_is_rejected() {
    let mut node = funded();
    let mut tx = transfer(alice(), bob(), coins(1), 1);
    tx.signature = Signature::from_bytes(vec![]).unwrap();
    rejects(&mut node, TxError::BadSignature(CryptoError::BadSignature), |n| {
        n.handle_transaction(tx)
    });
}

/// Rules: tx-signature, enc-signing-bytes
#[test]
fn changing_a_signed_field_breaks_the_signature() {
    let mut node = funded();
    let mut tx = transfer(alice(), bob(), coins(1), 1);
    tx.transaction.amount = coins(2);
    rejects(&mut node, TxError::BadSignature(CryptoError::BadSignature), |n| {
        n.handle_transaction(tx)
    });
}

/// Rules: tx-chain-id
#[test]
fn transaction_for_another_chain_is_rejected() {
    let mut node = funded();
    let tx = Transaction {
        chain_id: params().chain_id + 1,
        sender: alice().address(),
        recipient: bob().address(),
        amount: coins(1),
        fee: Amount::ZERO,
        nonce: 1,
    }
    .sign(alice())
    .unwrap();
    let expected =
        TxError::WrongChain { expected: params().chain_id, actual: params().chain_id + 1 };
    rejects(&mut node, expected, |n| n.handle_transaction(tx));
}

/// Rules: key-rsa
#[test]
fn weak_and_odd_keys_are_rejected() {
    let small = include_str!("data/small1024.pkcs8.hex").trim();
    let odd = include_str!("data/exponent3.pkcs8.hex").trim();
    let large = include_str!("data/large4608.pkcs8.hex").trim();
    assert_eq!(
        small.parse::<RsaSigner>().unwrap_err(),
        CryptoError::KeyTooSmall { bits: 1024, min: 2048 }
    );
    assert_eq!(odd.parse::<RsaSigner>().unwrap_err(), CryptoError::BadExponent);
    assert_eq!(
        large.parse::<RsaSigner>().unwrap_err(),
        CryptoError::KeyTooLarge { bits: 4608, max: 4096 }
    );
    assert!(matches!("zz".parse::<RsaSigner>(), Err(CryptoError::BadHex(_))));
    assert!(matches!("3000".parse::<RsaSigner>(), Err(CryptoError::BadKeyEncoding { .. })));
    // The original wallet's PKCS#1 private keys are accepted on input.
    let original: RsaSigner = include_str!("data/original.pkcs1.hex").trim().parse().unwrap();
    assert_ne!(original.address(), alice().address());
}

/// Rules: key-rsa
#[test]
fn an_address_is_a_key_only_in_the_encodings_the_rule_names() {
    let verifier = gophercoin_core::RsaVerifier::default();
    let check = |der: Vec<u8>| verifier.check_address(&Address::from_der(der).unwrap());
    let refused = |der: Vec<u8>| matches!(check(der), Err(CryptoError::BadKeyEncoding { .. }));
    // A 2048-bit key's SubjectPublicKeyInfo: SEQUENCE (0x122 bytes) { SEQUENCE { OID
    // rsaEncryption, NULL }, BIT STRING (0x10f bytes, no unused bits) { RSAPublicKey } }.
    let der = alice().address().as_der().to_vec();
    let rsa_encryption = [0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    let null = [0x05, 0x00];
    assert_eq!(der[..6], [0x30, 0x82, 0x01, 0x22, 0x30, 0x0d]);
    assert_eq!((&der[6..17], &der[17..19]), (&rsa_encryption[..], &null[..]));
    let bit_string = &der[19..];
    let spki = |oid: &[u8], parameters: &[u8]| {
        let mut algorithm = vec![0x30, (oid.len() + parameters.len()) as u8];
        algorithm.extend_from_slice(oid);
        algorithm.extend_from_slice(parameters);
        let len = (algorithm.len() + bit_string.len()) as u16;
        let mut out = vec![0x30, 0x82];
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&algorithm);
        out.extend_from_slice(bit_string);
        out
    };
    assert_eq!(spki(&rsa_encryption, &null), der, "the test builds the key's own encoding");
    check(der.clone()).expect("the canonical encoding");

    // Anything after the end.
    let mut trailing = der.clone();
    trailing.push(0);
    assert!(refused(trailing));
    // A length in more bytes than it needs.
    let mut long_length = vec![0x30, 0x83, 0x00];
    long_length.extend_from_slice(&der[2..]);
    assert!(refused(long_length));
    // rsaEncryption without its NULL parameters.
    assert!(refused(spki(&rsa_encryption, &[])));
    // id-RSASSA-PSS with no parameters is accepted: another address of the same key.
    let mut pss = rsa_encryption;
    pss[10] = 0x0a;
    let other = spki(&pss, &[]);
    assert_ne!(other, der);
    check(other).expect("id-RSASSA-PSS without parameters");
    // ... but not with parameters.
    assert!(refused(spki(&pss, &null)));
    // Another algorithm (rsaEncryption's OID with its last arc changed to sha256WithRSA).
    let mut other_oid = rsa_encryption;
    other_oid[10] = 0x0b;
    assert!(refused(spki(&other_oid, &null)));
    // A bit string with unused bits.
    let mut unused = der.clone();
    unused[23] = 1;
    assert!(refused(unused));
}

/// Rules: tx-recipient, key-rsa
#[test]
fn transfer_to_a_key_that_is_not_a_key_is_rejected() {
    let mut node = funded();
    let recipient = "300d06092a864886f70d0101010500".parse().unwrap();
    let tx = Transaction {
        chain_id: params().chain_id,
        sender: alice().address(),
        recipient,
        amount: coins(1),
        fee: Amount::ZERO,
        nonce: 1,
    }
    .sign(alice())
    .unwrap();
    let result = node.handle_transaction(tx);
    assert!(matches!(result, Err(Error::Tx(TxError::BadRecipient(_)))), "{result:?}");
    assert!(node.mempool().is_empty());
}

// --- amounts ---------------------------------------------------------------------------

/// Rules: tx-amount
#[test]
fn zero_amount_is_rejected() {
    let mut node = funded();
    let tx = transfer(alice(), bob(), Amount::ZERO, 1);
    rejects(&mut node, TxError::ZeroAmount, |n| n.handle_transaction(tx));
}

/// Rules: amount-integer, amount-max, tx-amount
#[test]
fn malformed_amounts_fail_to_deserialize() {
    let tx = transfer(alice(), bob(), coins(1), 1);
    let json = serde_json::to_value(&tx).unwrap();
    for bad in [
        serde_json::json!(-5),
        serde_json::json!(1.5),
        serde_json::json!("10"),
        serde_json::json!(0),
        serde_json::json!(null),
        serde_json::json!(u64::MAX),
        serde_json::json!(Amount::MAX.to_units() + 1),
    ] {
        let mut value = json.clone();
        value["transaction"]["amount"] = bad.clone();
        let parsed = serde_json::from_value::<SignedTransaction>(value);
        assert!(parsed.is_err(), "amount {bad} was accepted");
    }
    let mut unknown = json.clone();
    unknown["transaction"]["tip"] = serde_json::json!(1);
    assert!(serde_json::from_value::<SignedTransaction>(unknown).is_err());
    assert_eq!(serde_json::from_value::<SignedTransaction>(json).unwrap(), tx);
}

// --- balances --------------------------------------------------------------------------

/// Rules: ledger-overdraft
#[test]
fn overdraft_is_rejected() {
    let mut node = funded();
    let tx = transfer(alice(), bob(), coins(61), 1);
    let expected = LedgerError::Overdraft { available: coins(60), required: coins(61) };
    rejects(&mut node, MempoolError::Ledger(expected), |n| n.handle_transaction(tx));
}

/// Rules: ledger-overdraft, ledger-accounts
#[test]
fn wallet_with_nothing_cannot_pay() {
    let mut node = funded();
    let tx = transfer(bob(), alice(), units(1), 1);
    let expected = LedgerError::Overdraft { available: Amount::ZERO, required: units(1) };
    rejects(&mut node, MempoolError::Ledger(expected), |n| n.handle_transaction(tx));
}

/// Rules: ledger-overdraft
#[test]
fn two_transactions_that_together_overdraw_cannot_both_get_in() {
    let mut node = funded();
    node.handle_transaction(transfer(alice(), bob(), coins(40), 1)).unwrap();
    drain(&mut node);
    let second = transfer(alice(), carol(), coins(30), 2);
    let expected = LedgerError::Overdraft { available: coins(20), required: coins(30) };
    rejects(&mut node, MempoolError::Ledger(expected), |n| n.handle_transaction(second));
}

/// Rules: ledger-overdraft, ledger-transfer, ledger-atomic
#[test]
fn block_whose_transfers_together_overdraw_is_rejected() {
    let mut node = funded();
    let mut block = template(&node, carol());
    for (nonce, to) in [(1, bob()), (2, carol())] {
        let tx = transfer(alice(), to, coins(40), nonce);
        block.transactions.push(BlockTransaction::Transfer(tx));
    }
    let block = seal(block);
    let expected = ChainError::Transfer {
        hash: block.hash(),
        index: 1,
        source: LedgerError::Overdraft { available: coins(20), required: coins(40) },
    };
    rejects(&mut node, expected, |n| submit_block(n, block));
}

#[test]
fn pending_transactions_hold_one_copy_of_each_address() {
    let mut node = funded();
    // Decoded from the network, each transaction carries its own copies of the keys.
    let copy = |address: &Address| Address::from_der(address.as_der().to_vec()).unwrap();
    for nonce in 1..=3 {
        let mut tx = transfer(alice(), bob(), units(1), nonce);
        tx.transaction.sender = copy(&tx.transaction.sender);
        tx.transaction.recipient = copy(&tx.transaction.recipient);
        node.handle_transaction(tx).unwrap();
    }
    let ledgers = node.ledger().known_address(&alice().address()).unwrap().as_der().as_ptr();
    assert_eq!(node.ledger().known_address(&bob().address()), None);
    let pending: Vec<_> = node.mempool().iter().map(|tx| tx.transaction()).collect();
    assert_eq!(pending.len(), 3);
    for tx in &pending {
        assert_eq!((&tx.sender, &tx.recipient), (&alice().address(), &bob().address()));
        assert_eq!(tx.sender.as_der().as_ptr(), ledgers, "the sender is the ledger's copy");
        assert_eq!(tx.recipient.as_der().as_ptr(), pending[0].recipient.as_der().as_ptr());
    }
}

#[test]
fn blocks_from_a_peer_hold_one_copy_of_each_address() {
    let mut peer = funded();
    for nonce in 1..=2 {
        peer.handle_transaction(transfer(alice(), bob(), units(1), nonce)).unwrap();
        mine(&mut peer, alice(), 1);
    }
    // Decoded from the network, each block carries its own copies of the keys.
    let copy =
        |address: &mut Address| *address = Address::from_der(address.as_der().to_vec()).unwrap();
    let blocks: Vec<Block> = main_chain(&peer)
        .into_iter()
        .map(|mut block| {
            for entry in &mut block.transactions {
                match entry {
                    BlockTransaction::Reward(reward) => copy(&mut reward.recipient),
                    BlockTransaction::Transfer(tx) => {
                        copy(&mut tx.transaction.sender);
                        copy(&mut tx.transaction.recipient);
                    }
                }
            }
            block
        })
        .collect();
    let (last, chain) = blocks.split_last().unwrap();
    let mut node = Node::devnet();
    let adopted = node.handle_chain(chain.to_vec(), clock(5)).unwrap();
    assert!(matches!(adopted, ChainOutcome::Adopted { height: 4, .. }), "{adopted:?}");
    let extended = submit_block(&mut node, last.clone()).unwrap();
    assert!(matches!(extended, BlockOutcome::Extended { height: 5, .. }), "{extended:?}");
    let held = |address: &Address| node.ledger().known_address(address).unwrap().as_der().as_ptr();
    let (alices, bobs) = (held(&alice().address()), held(&bob().address()));
    let mut transfers = 0;
    for block in node.chain().main_chain_from(1) {
        assert_eq!(block.reward().unwrap().recipient.as_der().as_ptr(), alices);
        for tx in block.transfers() {
            assert_eq!(tx.transaction().sender.as_der().as_ptr(), alices);
            assert_eq!(tx.transaction().recipient.as_der().as_ptr(), bobs);
            transfers += 1;
        }
    }
    assert_eq!((node.height(), transfers), (5, 2));
}

// --- replay ----------------------------------------------------------------------------

#[test]
fn pending_transaction_submitted_again_is_already_known() {
    let mut node = funded();
    let tx = transfer(alice(), bob(), coins(1), 1);
    node.handle_transaction(tx.clone()).unwrap();
    drain(&mut node);
    rejects(&mut node, MempoolError::AlreadyPending { id: tx.id() }, |n| n.handle_transaction(tx));
}

/// Rules: ledger-replay
#[test]
fn mined_transaction_cannot_be_replayed() {
    let mut node = funded();
    let tx = transfer(alice(), bob(), coins(1), 1);
    node.handle_transaction(tx.clone()).unwrap();
    mine(&mut node, carol(), 1);
    assert_eq!(node.balance(&bob().address()), coins(1));
    rejects(&mut node, LedgerError::Replay { id: tx.id() }, |n| n.handle_transaction(tx.clone()));

    // Nor inside a block.
    let mut block = template(&node, carol());
    block.transactions.push(BlockTransaction::Transfer(tx.clone()));
    let block = seal(block);
    let expected = ChainError::Transfer {
        hash: block.hash(),
        index: 0,
        source: LedgerError::Replay { id: tx.id() },
    };
    rejects(&mut node, expected, |n| submit_block(n, block));
}

/// Rules: block-no-duplicates
#[test]
fn same_transaction_twice_in_a_block_is_rejected() {
    let mut node = funded();
    let tx = transfer(alice(), bob(), coins(1), 1);
    let mut block = template(&node, carol());
    block.transactions.push(BlockTransaction::Transfer(tx.clone()));
    block.transactions.push(BlockTransaction::Transfer(tx.clone()));
    let block = seal(block);
    rejects(&mut node, BlockError::DuplicateTransaction { id: tx.id() }, |n| {
        submit_block(n, block)
    });
}

// --- the context rules, through both doors ---------------------------------------------

/// A context rule's case, on a node where alice has mined 3 blocks (60 coins).
struct ContextCase {
    rule: &'static str,
    /// What happens on the chain first.
    chain: fn(&mut Node),
    /// The transactions before the one refused: pending, or earlier in the same block.
    earlier: fn() -> Vec<SignedTransaction>,
    /// The transaction refused.
    tx: fn() -> SignedTransaction,
    /// Why.
    expected: fn() -> LedgerError,
}

fn paid_once() -> SignedTransaction {
    transfer(alice(), bob(), coins(1), 1)
}

/// The refusal a transaction met, if a context rule refused it.
fn ledger_error(error: &Error) -> Option<&LedgerError> {
    match error {
        Error::Ledger(error) | Error::Mempool(MempoolError::Ledger(error)) => Some(error),
        _ => None,
    }
}

/// A block on `node`'s tip holding `transfers`, its reward paying their fees.
fn block_with(node: &Node, transfers: Vec<SignedTransaction>) -> Block {
    let mut block = template(node, carol());
    let fees = transfers.iter().map(|tx| tx.transaction.fee.to_units()).sum::<u64>();
    let BlockTransaction::Reward(reward) = &mut block.transactions[0] else { unreachable!() };
    reward.amount = node.params().reward_at(block.header.height).checked_add(units(fees)).unwrap();
    block.transactions.extend(transfers.into_iter().map(BlockTransaction::Transfer));
    seal(block)
}

/// One table for every context rule (`ledger::check_in_context`): each case is refused
/// with the same typed error whether it comes to the mempool or in a block from a peer, and
/// either way nothing changes.
///
/// Rules: ledger-overdraft, ledger-replay, ledger-atomic
#[test]
fn every_context_rule_refuses_alike_at_the_mempool_and_in_a_block() {
    let cases = [
        ContextCase {
            rule: "overdraft",
            chain: |_| {},
            earlier: Vec::new,
            tx: || transfer(alice(), bob(), coins(61), 1),
            expected: || LedgerError::Overdraft { available: coins(60), required: coins(61) },
        },
        ContextCase {
            rule: "overdraft by the fee",
            chain: |_| {},
            earlier: Vec::new,
            tx: || transfer_with_fee(alice(), bob(), coins(60), units(1), 1),
            expected: || LedgerError::Overdraft {
                available: coins(60),
                required: coins(60).checked_add(units(1)).unwrap(),
            },
        },
        ContextCase {
            rule: "overdraft of a wallet never paid",
            chain: |_| {},
            earlier: Vec::new,
            tx: || transfer(bob(), alice(), units(1), 1),
            expected: || LedgerError::Overdraft { available: Amount::ZERO, required: units(1) },
        },
        ContextCase {
            rule: "overdraft after what is spent before it",
            chain: |_| {},
            earlier: || vec![transfer(alice(), bob(), coins(40), 1)],
            tx: || transfer(alice(), carol(), coins(30), 2),
            expected: || LedgerError::Overdraft { available: coins(20), required: coins(30) },
        },
        ContextCase {
            rule: "replay of a mined transaction",
            chain: |node| {
                node.handle_transaction(paid_once()).unwrap();
                mine(node, carol(), 1);
            },
            earlier: Vec::new,
            tx: paid_once,
            expected: || LedgerError::Replay { id: paid_once().id() },
        },
    ];
    for case in cases {
        let rule = case.rule;
        // Submitted to the mempool, after the earlier ones.
        let mut node = funded();
        (case.chain)(&mut node);
        for tx in (case.earlier)() {
            node.handle_transaction(tx).unwrap();
        }
        drain(&mut node);
        let before = snapshot(&node);
        let error = node.handle_transaction((case.tx)()).unwrap_err();
        assert_eq!(ledger_error(&error), Some(&(case.expected)()), "{rule}, mempool: {error:?}");
        assert_eq!(snapshot(&node), before, "{rule}, mempool: state changed");

        // In a block from a peer, after the earlier ones.
        let mut node = funded();
        (case.chain)(&mut node);
        let earlier = (case.earlier)();
        let index = earlier.len();
        let block = block_with(&node, earlier.into_iter().chain([(case.tx)()]).collect());
        let hash = block.hash();
        let before = snapshot(&node);
        let error = submit_block(&mut node, block).unwrap_err();
        let Error::Chain(ChainError::Transfer { hash: refused, index: at, source }) = &error else {
            panic!("{rule}, block: {error:?}");
        };
        assert_eq!((*refused, *at), (hash, index), "{rule}, block");
        assert_eq!(source, &(case.expected)(), "{rule}, block");
        assert_eq!(snapshot(&node), before, "{rule}, block: state changed");
    }
}

// --- rewards ---------------------------------------------------------------------------

/// Rules: reward-schedule, reward-amount, ledger-reward, reward-supply
#[test]
fn reward_goes_to_the_miners_wallet_exactly_once_per_block() {
    let mut node = Node::devnet();
    mine(&mut node, bob(), 2);
    assert_eq!(node.balance(&bob().address()), coins(40));
    assert_eq!(node.ledger().supply(), coins(40));
    let block = node.chain().tip().to_block();
    assert_eq!(
        block.transactions,
        vec![BlockTransaction::Reward(Reward {
            height: 2,
            recipient: bob().address(),
            amount: params().block_reward,
        })]
    );
}

/// Rules: enc-txid, enc-reward-id, block-merkle-root
#[test]
fn a_checked_blocks_ids_are_its_transactions_ids_in_block_order() {
    let mut node = Node::devnet();
    mine(&mut node, alice(), 1);
    let tx = transfer(alice(), bob(), coins(5), 1);
    node.handle_transaction(tx.clone()).unwrap();
    mine(&mut node, carol(), 1);
    let tip = node.chain().tip();
    let ids: Vec<_> = tip.transaction_ids().collect();
    let rebuilt: Vec<_> = tip.to_block().transactions.iter().map(BlockTransaction::id).collect();
    assert_eq!(ids, rebuilt);
    assert_eq!(ids.len(), 2);
    assert_eq!(ids[1], tx.id());
}

fn with_reward(node: &Node, edit: impl FnOnce(&mut Block)) -> Block {
    let mut block = template(node, carol());
    edit(&mut block);
    seal(block)
}

/// Rules: reward-amount
#[test]
fn reward_of_the_wrong_amount_is_rejected() {
    let mut node = funded();
    let block = with_reward(&node, |b| {
        let BlockTransaction::Reward(reward) = &mut b.transactions[0] else { unreachable!() };
        reward.amount = coins(21);
    });
    let expected = BlockError::WrongRewardAmount { expected: coins(20), actual: coins(21) };
    rejects(&mut node, expected, |n| submit_block(n, block));
}

/// Rules: block-reward-first
#[test]
fn second_reward_is_rejected() {
    let mut node = funded();
    let block = with_reward(&node, |b| {
        let extra = BlockTransaction::Reward(Reward {
            height: b.header.height,
            recipient: bob().address(),
            amount: params().block_reward,
        });
        b.transactions.push(extra);
    });
    rejects(&mut node, BlockError::ExtraReward { index: 1 }, |n| submit_block(n, block));
}

/// Rules: block-reward-first, block-count
#[test]
fn block_without_reward_is_rejected() {
    let mut node = funded();
    node.handle_transaction(transfer(alice(), bob(), coins(1), 1)).unwrap();
    drain(&mut node);
    let empty = with_reward(&node, |b| b.transactions.clear());
    rejects(&mut node, BlockError::MissingReward, |n| submit_block(n, empty));
    let transfer_first = with_reward(&node, |b| {
        b.transactions.remove(0);
    });
    rejects(&mut node, BlockError::MissingReward, |n| submit_block(n, transfer_first));
}

/// Rules: reward-height
#[test]
fn reward_for_another_height_is_rejected() {
    let mut node = funded();
    let block = with_reward(&node, |b| {
        let BlockTransaction::Reward(reward) = &mut b.transactions[0] else { unreachable!() };
        reward.height = 1;
    });
    let expected = BlockError::WrongRewardHeight { expected: 4, actual: 1 };
    rejects(&mut node, expected, |n| submit_block(n, block));
}

/// Rules: reward-recipient, key-rsa
#[test]
fn reward_to_something_that_is_not_a_wallet_is_rejected() {
    let mut node = funded();
    let block = with_reward(&node, |b| {
        let BlockTransaction::Reward(reward) = &mut b.transactions[0] else { unreachable!() };
        reward.recipient = "00".parse().unwrap();
    });
    let result = submit_block(&mut node, block);
    assert!(matches!(result, Err(Error::Block(BlockError::BadRewardRecipient(_)))));
    assert!(node.block_template(&"00".parse().unwrap(), clock(4)).is_err());
}

// --- block headers ---------------------------------------------------------------------

/// Rules: block-merkle-root, enc-merkle-root
#[test]
fn bad_merkle_root_is_rejected() {
    let mut node = funded();
    let mut block = template(&node, carol());
    block.transactions.push(BlockTransaction::Transfer(transfer(alice(), bob(), coins(1), 1)));
    let block = solve(block); // header still commits to the reward alone
    let expected = BlockError::BadMerkleRoot {
        expected: block.compute_merkle_root(),
        actual: block.header.merkle_root,
    };
    rejects(&mut node, expected, |n| submit_block(n, block));
}

/// Rules: pow-hash
#[test]
fn hash_above_target_is_rejected() {
    let mut node = funded();
    let mut block = template(&node, carol());
    let target = gophercoin_core::Target::from_compact(block.header.bits).unwrap();
    while target.is_met_by(&block.hash()) {
        block.header.nonce += 1;
    }
    let expected = PowError::HashAboveTarget { hash: block.hash(), bits: block.header.bits };
    rejects(&mut node, BlockError::Pow(expected), |n| submit_block(n, block));
}

/// Rules: pow-limit
#[test]
fn target_easier_than_the_limit_is_rejected() {
    let mut node = funded();
    let mut block = template(&node, carol());
    block.header.bits = CompactTarget::from_consensus(0x2100_ffff);
    let expected = PowError::AboveLimit { bits: block.header.bits, limit: params().pow_limit };
    rejects(&mut node, BlockError::Pow(expected), |n| submit_block(n, block));
}

/// Rules: chain-target
#[test]
fn target_other_than_the_required_one_is_rejected() {
    let mut node = funded();
    let mut block = template(&node, carol());
    let required = block.header.bits;
    block.header.bits = CompactTarget::from_consensus(0x1f00_ffff); // harder: still rejected
    let block = solve(block);
    let expected = ChainError::WrongTarget { expected: required, actual: block.header.bits };
    rejects(&mut node, expected, |n| submit_block(n, block));
}

/// Rules: chain-future-drift
#[test]
fn timestamp_too_far_ahead_is_rejected() {
    let mut node = funded();
    let mut block = template(&node, carol());
    let now = time(4);
    block.header.timestamp = now + params().max_future_drift_secs + 1;
    let block = solve(block);
    let expected = ChainError::TimestampTooFarAhead {
        timestamp: block.header.timestamp,
        max: now + params().max_future_drift_secs,
    };
    rejects(&mut node, expected, |n| n.handle_block(block, UnixTime::from_secs(now)));
}

/// Rules: chain-median-time
#[test]
fn timestamp_not_after_the_median_is_rejected() {
    let mut node = funded();
    let mut block = template(&node, carol());
    let median = time(2); // blocks 0..=3 on schedule: median of {t0, t1, t2, t3} is t2
    block.header.timestamp = median;
    let block = solve(block);
    let expected = ChainError::TimestampNotAfterMedian { timestamp: median, median };
    rejects(&mut node, expected, |n| submit_block(n, block));
}

/// Rules: chain-parent
#[test]
fn block_on_an_unknown_parent_is_rejected() {
    let mut node = funded();
    let mut block = template(&node, carol());
    block.header.prev = gophercoin_core::BlockHash::from_bytes([7; 32]);
    let block = solve(block);
    let expected = ChainError::UnknownParent { prev: block.header.prev };
    rejects(&mut node, expected, |n| submit_block(n, block));
}

/// Rules: chain-height
#[test]
fn block_at_the_wrong_height_is_rejected() {
    let mut node = funded();
    let block = with_reward(&node, |b| {
        b.header.height = 7;
        let BlockTransaction::Reward(reward) = &mut b.transactions[0] else { unreachable!() };
        reward.height = 7;
    });
    let expected = ChainError::WrongHeight { expected: 4, actual: 7 };
    rejects(&mut node, expected, |n| submit_block(n, block));
}

#[test]
fn known_block_is_already_known() {
    let mut node = funded();
    let tip = node.chain().tip().to_block();
    rejects(&mut node, ChainError::AlreadyKnown { hash: tip.hash() }, |n| submit_block(n, tip));
}

/// Rules: block-transfers, tx-signature
#[test]
fn block_with_an_invalid_transfer_is_rejected() {
    let mut node = funded();
    let mut tx = transfer(alice(), bob(), coins(1), 1);
    tx.transaction.nonce = 2; // signature no longer matches
    let block = with_reward(&node, |b| b.transactions.push(BlockTransaction::Transfer(tx)));
    let expected = BlockError::Transaction {
        index: 1,
        source: TxError::BadSignature(CryptoError::BadSignature),
    };
    rejects(&mut node, expected, |n| submit_block(n, block));
}

// --- candidate chains ------------------------------------------------------------------

/// Rules: chain-candidate-whole, reward-amount
#[test]
fn chain_with_an_invalid_block_in_the_middle_is_rejected_whole() {
    let mut ours = funded();
    let mut theirs = Node::devnet();
    mine(&mut theirs, bob(), 3);
    // Their block 4 pays a double reward; blocks 5.. are built on it and otherwise fine.
    let mut forged = template(&theirs, bob());
    let BlockTransaction::Reward(reward) = &mut forged.transactions[0] else { unreachable!() };
    reward.amount = coins(40);
    let forged = seal(forged);
    let mut chain = main_chain(&theirs);
    chain.push(forged.clone());
    let mut parent = forged;
    for height in 5..9 {
        let mut next = parent.clone();
        next.header.prev = parent.hash();
        next.header.height = height;
        next.header.timestamp = time(height);
        next.transactions = vec![BlockTransaction::Reward(Reward {
            height,
            recipient: bob().address(),
            amount: params().block_reward,
        })];
        let next = seal(next);
        chain.push(next.clone());
        parent = next;
    }
    let expected = BlockError::WrongRewardAmount { expected: coins(20), actual: coins(40) };
    rejects(&mut ours, expected, |n| n.handle_chain(chain, clock(9)));
}

/// Rules: chain-candidate, genesis-commitment
#[test]
fn chain_from_another_genesis_is_rejected() {
    let mut ours = funded();
    let mut other_params = params();
    other_params.chain_id += 1;
    let mut foreign =
        Node::new(other_params.clone(), other_params.verifier(), gophercoin_core::MostWork)
            .expect("valid parameters");
    for h in 1..=5 {
        let outcome = foreign.mine_block(&bob().address(), clock(h)).unwrap();
        assert!(matches!(outcome, BlockOutcome::Extended { height, .. } if height == h));
    }
    let chain: Vec<Block> = foreign.chain().main_chain_from(0).map(|b| b.to_block()).collect();
    let expected = ChainError::ForeignGenesis {
        expected: params().genesis().hash(),
        actual: other_params.genesis().hash(),
    };
    rejects(&mut ours, expected, |n| n.handle_chain(chain, clock(6)));
}

/// Rules: chain-candidate
#[test]
fn chain_that_is_not_linked_is_rejected() {
    let mut ours = Node::devnet();
    let mut theirs = Node::devnet();
    mine(&mut theirs, bob(), 4);
    let mut chain = main_chain(&theirs);
    chain.remove(2);
    rejects(&mut ours, ChainError::NotLinked { index: 2 }, |n| n.handle_chain(chain, clock(5)));
    rejects(&mut ours, ChainError::EmptyChain, |n| n.handle_chain(vec![], clock(5)));
}

// --- limits ----------------------------------------------------------------------------

fn funded_with(edit: impl FnOnce(&mut gophercoin_core::Params)) -> Node {
    let mut params = params();
    edit(&mut params);
    let verifier = params.verifier();
    let mut node =
        Node::new(params, verifier, gophercoin_core::MostWork).expect("valid parameters");
    mine(&mut node, alice(), 3);
    node
}

/// Rules: tx-size
#[test]
fn oversized_transaction_is_rejected() {
    let mut node = funded_with(|p| p.max_tx_bytes = 600);
    let tx = transfer(alice(), bob(), coins(1), 1);
    let size = tx.transaction.signing_bytes().len() + tx.signature.as_bytes().len();
    rejects(&mut node, TxError::TooLarge { size, max: 600 }, |n| n.handle_transaction(tx));
}

/// Rules: block-count
#[test]
fn block_with_too_many_transactions_is_rejected() {
    let mut node = funded_with(|p| p.max_block_txs = 2);
    for nonce in 0..3 {
        node.handle_transaction(transfer(alice(), bob(), coins(1), nonce)).unwrap();
    }
    drain(&mut node);
    let template = template(&node, carol());
    assert_eq!(template.transactions.len(), 2, "templates respect the limit");
    let block = with_reward(&node, |b| {
        b.transactions.push(BlockTransaction::Transfer(transfer(alice(), bob(), coins(1), 1)));
    });
    rejects(&mut node, BlockError::TooManyTransactions { count: 3, max: 2 }, |n| {
        submit_block(n, block)
    });
}

#[test]
fn full_mempool_refuses_what_does_not_pay_more() {
    let mut node = funded_with_policy(|p| p.max_mempool_txs = 2);
    for nonce in 0..2 {
        node.handle_transaction(transfer(alice(), bob(), coins(1), nonce)).unwrap();
    }
    drain(&mut node);
    let third = transfer(alice(), bob(), coins(1), 2);
    let full = MempoolError::Full { max: 2, lowest: FeeRate::ZERO };
    rejects(&mut node, full, |n| n.handle_transaction(third));
}

#[test]
fn errors_have_stable_kinds() {
    let cases: Vec<(Error, &str)> = vec![
        (LedgerError::Overdraft { available: coins(1), required: coins(2) }.into(), "overdraft"),
        (MempoolError::Ledger(LedgerError::Replay { id: Default::default() }).into(), "replay"),
        (TxError::BadSignature(CryptoError::BadSignature).into(), "bad_signature"),
        (MempoolError::AlreadyPending { id: Default::default() }.into(), "already_known"),
        (ChainError::UnknownParent { prev: Default::default() }.into(), "unknown_parent"),
        (BlockError::ExtraReward { index: 1 }.into(), "extra_reward"),
    ];
    for (error, kind) in cases {
        assert_eq!(error.kind().as_str(), kind, "{error}");
    }
    assert!(Error::from(BlockError::MissingReward).is_peer_fault());
    assert!(!Error::from(ChainError::UnknownParent { prev: Default::default() }).is_peer_fault());
}

/// Rules: key-rsa
#[test]
fn generated_keys_are_valid_and_seeded_generation_is_reproducible() {
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;
    let bits = gophercoin_core::crypto::rsa::DEFAULT_KEY_BITS;
    let one = RsaSigner::generate(&mut ChaCha20Rng::seed_from_u64(7), bits).unwrap();
    let again = RsaSigner::generate(&mut ChaCha20Rng::seed_from_u64(7), bits).unwrap();
    assert_eq!(one.address(), again.address());
    gophercoin_core::RsaVerifier::default().check_address(&one.address()).unwrap();
    // A private key survives its PKCS#8 hex form.
    let back: RsaSigner = one.to_pkcs8_hex().parse().unwrap();
    assert_eq!(back.address(), one.address());
    let mut rng = ChaCha20Rng::seed_from_u64(8);
    assert_eq!(
        RsaSigner::generate(&mut rng, 1024).unwrap_err(),
        CryptoError::KeyTooSmall { bits: 1024, min: 2048 }
    );
}

#[test]
fn each_signature_is_checked_once() {
    use std::cell::Cell;
    struct Counting(gophercoin_core::RsaVerifier, Cell<u32>);
    impl Verifier for Counting {
        fn check_address(&self, address: &gophercoin_core::Address) -> Result<(), CryptoError> {
            self.0.check_address(address)
        }
        fn verify(
            &self,
            a: &gophercoin_core::Address,
            m: &[u8],
            s: &Signature,
        ) -> Result<(), CryptoError> {
            self.1.set(self.1.get() + 1);
            self.0.verify(a, m, s)
        }
    }
    let params = params();
    let mut node = Node::new(
        params.clone(),
        Counting(params.verifier(), Cell::new(0)),
        gophercoin_core::MostWork,
    )
    .expect("valid parameters");
    let _ = node.mine_block(&alice().address(), clock(1)).unwrap();
    for nonce in 0..3 {
        node.handle_transaction(transfer(alice(), bob(), coins(1), nonce)).unwrap();
    }
    assert_eq!(node.verifier().1.get(), 3);
    // Mined into a block: no signature checked again.
    let _ = node.mine_block(&alice().address(), clock(2)).unwrap();
    assert_eq!(node.verifier().1.get(), 3);
    assert_eq!(node.balance(&bob().address()), coins(3));
    // A block from elsewhere with a transfer we never saw is checked.
    let mut other = Node::devnet();
    let _ = other
        .handle_chain(node.chain().main_chain_from(0).map(|b| b.to_block()).collect(), clock(3))
        .unwrap();
    other.handle_transaction(transfer(alice(), carol(), coins(1), 9)).unwrap();
    let _ = other.mine_block(&bob().address(), clock(3)).unwrap();
    let _ = node.handle_block(other.chain().tip().to_block(), clock(3)).unwrap();
    assert_eq!(node.verifier().1.get(), 4);
}

#[test]
fn a_node_takes_only_what_its_own_checker_made() {
    use std::panic::{AssertUnwindSafe, catch_unwind};
    let mut node = Node::devnet();
    mine(&mut node, alice(), 1);
    // Another node of the very same parameters: its checks are not this node's.
    let mut other = Node::devnet();
    mine(&mut other, alice(), 1);
    let tx = transfer(alice(), bob(), coins(1), 1).identify();
    let foreign = other.checker().check_transaction(tx.clone()).unwrap();
    let refused = catch_unwind(AssertUnwindSafe(|| node.handle_verified_transaction(foreign)));
    assert!(refused.is_err(), "a transaction checked by another node's checker");
    assert_eq!(node.mempool().len(), 0, "nothing changed");
    // Its own checker's is taken; a clone of the node shares its rules.
    let own = node.checker().check_transaction(tx).unwrap();
    let mut clone = node.clone();
    assert!(clone.handle_verified_transaction(own.clone()).is_ok());
    assert!(node.handle_verified_transaction(own).is_ok());
    drain(&mut node);

    let block = template(&node, alice());
    let block = solve(block);
    let foreign = other.checker().check_block(block.clone(), None, |_| None);
    // (The other node's chain differs, but the block stands on its own.)
    let foreign = foreign.unwrap();
    let refused = catch_unwind(AssertUnwindSafe(|| node.handle_checked_block(foreign, clock(2))));
    assert!(refused.is_err(), "a block checked by another node's checker");
    assert_eq!(node.height(), 1, "nothing changed");
    let own = node.checker().check_block(block, None, |_| None).unwrap();
    assert!(node.handle_checked_block(own, clock(2)).is_ok());
    assert_eq!(node.height(), 2);
}
