//! Header hashing: the original's string-per-nonce way against hashing the fixed header
//! prefix once and only the nonce per try.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gophercoin_core::{BlockHeader, Params};
use gophercoin_miner::{FastSearch, Kernel};
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
    group.bench_function("digest_prefix_clone", |b| {
        // The usual way with a hasher: hash the 88-byte prefix once, clone it per nonce.
        let mut header = header();
        let bytes = header.to_bytes();
        let midstate = Sha256::new_with_prefix(&bytes[..BlockHeader::SIZE - 8]);
        b.iter(|| {
            for nonce in 0..TRIES {
                header.nonce = nonce;
                let hash: [u8; 32] =
                    midstate.clone().chain_update(nonce.to_be_bytes()).finalize().into();
                std::hint::black_box(hash);
            }
        });
    });
    group.bench_function("reference_compress256", |b| {
        // The reference R: sha2's compression function on a reused final block, the prefix
        // compressed once, the nonce row written in one store per try.
        let bytes = header().to_bytes();
        let mut midstate = [
            0x6a09_e667u32,
            0xbb67_ae85,
            0x3c6e_f372,
            0xa54f_f53a,
            0x510e_527f,
            0x9b05_688c,
            0x1f83_d9ab,
            0x5be0_cd19,
        ];
        sha2::block_api::compress256(&mut midstate, &[bytes[..64].try_into().unwrap()]);
        let mut block = [0u8; 64];
        block[..32].copy_from_slice(&bytes[64..]);
        block[32] = 0x80;
        block[56..].copy_from_slice(&768u64.to_be_bytes());
        b.iter(|| {
            for nonce in 0..TRIES {
                let mut row = [0u8; 16];
                row[..8].copy_from_slice(&block[16..24]);
                row[8..].copy_from_slice(&nonce.to_be_bytes());
                block[16..32].copy_from_slice(&row);
                let mut state = midstate;
                sha2::block_api::compress256(&mut state, &[block]);
                std::hint::black_box(state);
            }
        });
    });
    group.bench_function("prefix_reuse_solve", |b| {
        // What the miners call: the fastest kernel this CPU has.
        b.iter(|| {
            let mut header = header();
            assert!(!gophercoin_miner::solve(&mut header, TRIES));
            header.nonce
        });
    });
    for kernel in [Kernel::Avx512, Kernel::ShaNi, Kernel::Portable] {
        // Each kernel on its own, where this CPU has it.
        let Some(search) = FastSearch::new(&header()).and_then(|s| s.with_kernel(kernel)) else {
            continue;
        };
        group.bench_function(format!("kernel_{kernel:?}"), |b| {
            b.iter(|| {
                assert!(search.search(0, TRIES).is_err());
            });
        });
    }
    group.finish();
}

criterion_group!(benches, hashing);
criterion_main!(benches);
