//! Header hashing: the original's string-per-nonce way against hashing the fixed header
//! prefix once and only the nonce per try.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gophercoin_core::{BlockHeader, Params, pow};
use sha2::{Digest, Sha256};

const TRIES: u64 = 10_000;

fn header() -> BlockHeader {
    let mut header = Params::devnet().genesis().header;
    header.height = 1;
    // A target no nonce meets, so every run hashes exactly TRIES headers.
    header.bits = gophercoin_core::CompactTarget::from_consensus(0x0300_0001);
    header
}

fn hashing(c: &mut Criterion) {
    let mut group = c.benchmark_group("header_hashes");
    group.throughput(Throughput::Elements(TRIES));
    group.bench_function("naive_string_per_nonce", |b| {
        // The original: sha256(f"{last_proof}{last_hash}{proof}") and a hex prefix test.
        let last_hash = hex::encode(header().prev.to_bytes());
        b.iter(|| {
            let mut found = 0;
            for proof in 0..TRIES {
                let guess = format!("{}{}{}", 100, last_hash, proof);
                let digest = hex::encode(Sha256::digest(guess.as_bytes()));
                found += u64::from(digest.starts_with("0000"));
            }
            found
        });
    });
    group.bench_function("full_header_per_nonce", |b| {
        let mut header = header();
        b.iter(|| {
            for nonce in 0..TRIES {
                header.nonce = nonce;
                std::hint::black_box(header.hash());
            }
        });
    });
    group.bench_function("prefix_reuse_solve", |b| {
        b.iter(|| {
            let mut header = header();
            assert!(!pow::solve(&mut header, TRIES));
            header.nonce
        });
    });
    group.finish();
}

criterion_group!(benches, hashing);
criterion_main!(benches);
