//! The core's data paths: encoding and decoding, connecting a block to the ledger, and the
//! mempool at 5,000 pending transactions.

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use gophercoin_core::{
    Block, BlockTransaction, Mempool, Node, Params, Signer, UnixTime, VerifiedTransaction, block,
};

/// A devnet node where the test key has mined one block, and `n` verified payments from it.
fn funded(n: u64) -> (Node, Vec<VerifiedTransaction>) {
    let key = gophercoin_benches::test_key();
    let params = Params::devnet();
    let mut node = Node::devnet();
    let _ = node
        .mine_block(&key.address(), UnixTime::from_secs(params.genesis_timestamp + 5))
        .expect("mines");
    while node.poll_event().is_some() {}
    let checker = node.checker();
    let txs = (0..n)
        .map(|nonce| {
            let tx = gophercoin_benches::self_payment(&key, &params, nonce);
            checker.check_transaction(tx.identify()).expect("verifies")
        })
        .collect();
    (node, txs)
}

fn codec_benches(c: &mut Criterion) {
    let (mut node, txs) = funded(100);
    for tx in &txs {
        node.handle_transaction(tx.signed().clone()).expect("accepted");
    }
    let _ = node
        .mine_block(
            &gophercoin_benches::test_key().address(),
            UnixTime::from_secs(Params::devnet().genesis_timestamp + 10),
        )
        .expect("mines");
    let block: Block = node.chain().tip().to_block();
    let tx = txs[0].signed().clone();
    let tx_bytes = gophercoin_core::SignedTransaction::encode(&tx);
    let block_bytes = gophercoin_core::Block::encode(&block);
    let mut group = c.benchmark_group("codec");
    group.bench_function("encode_transaction", |b| {
        b.iter(|| gophercoin_core::SignedTransaction::encode(&tx))
    });
    group.bench_function("decode_transaction", |b| {
        b.iter(|| gophercoin_core::SignedTransaction::decode(&tx_bytes, 1 << 16))
    });
    group.bench_function("encode_block_101_txs", |b| {
        b.iter(|| gophercoin_core::Block::encode(&block))
    });
    group.bench_function("decode_block_101_txs", |b| {
        b.iter(|| gophercoin_core::Block::decode(&block_bytes, 1 << 24))
    });
    group.bench_function("transaction_id", |b| b.iter(|| tx.id()));
    group.finish();
}

fn ledger_benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("ledger_connect");
    for n in [10u64, 100, 999] {
        let (node, txs) = funded(n);
        let params = Params::devnet();
        let mut template = node
            .block_template(
                &gophercoin_benches::test_key().address(),
                UnixTime::from_secs(params.genesis_timestamp + 10),
            )
            .expect("template");
        template
            .transactions
            .extend(txs.iter().map(|t| BlockTransaction::Transfer(t.signed().clone())));
        template.header.merkle_root =
            block::merkle_root(template.transactions.iter().map(BlockTransaction::id));
        assert!(gophercoin_core::pow::solve(&mut template.header, u64::MAX));
        let checked = node.check_block(template).expect("valid");
        group.bench_with_input(BenchmarkId::from_parameter(n), &checked, |b, checked| {
            b.iter(|| node.ledger().connect(checked).expect("connects"));
        });
    }
    group.finish();
}

fn mempool_benches(c: &mut Criterion) {
    let (node, txs) = funded(5_000);
    let mut group = c.benchmark_group("mempool_5000");
    group.sample_size(20);
    group.bench_function("insert_5000", |b| {
        b.iter_batched(
            || (Mempool::new(&one_sender_policy()), txs.clone()),
            |(mut pool, txs)| {
                for tx in txs {
                    pool.insert(tx, node.ledger()).expect("fits");
                }
                pool
            },
            BatchSize::LargeInput,
        );
    });
    let mut full = Mempool::new(&one_sender_policy());
    for tx in &txs {
        full.insert(tx.clone(), node.ledger()).expect("fits");
    }
    group.bench_function("template_select_999_of_5000", |b| b.iter(|| full.select(999)));
    group.finish();
}

criterion_group!(benches, codec_benches, ledger_benches, mempool_benches);
criterion_main!(benches);

/// The default policy, but one sender may fill the pool (the payments here are all the
/// test key's).
fn one_sender_policy() -> gophercoin_core::Policy {
    let mut policy = gophercoin_core::Policy::default();
    policy.max_pending_per_sender = policy.max_mempool_txs;
    policy
}
