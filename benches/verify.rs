//! RSA-2048 PKCS#1 v1.5 / SHA-256: signing, verifying (with each engine the build has),
//! and checking a whole transaction.

use criterion::{Criterion, criterion_group, criterion_main};
use gophercoin_core::{Amount, MostWork, Node, Params, RsaVerifier, Signer, Transaction, Verifier};

fn rsa(c: &mut Criterion) {
    let key = gophercoin_benches::test_key();
    // No signature cache: each iteration is an RSA operation, not a look-up.
    let verifier = RsaVerifier::default().without_signature_cache();
    let params = Params::devnet();
    let tx = Transaction {
        chain_id: params.chain_id,
        sender: key.address(),
        recipient: key.address(),
        amount: Amount::positive(1).expect("1 is positive"),
        fee: Amount::ZERO,
        nonce: 1,
    };
    let msg = tx.signing_bytes();
    let signature = key.sign(&msg).expect("signing works");
    let signed = tx.clone().sign(&key).expect("signing works");

    let mut group = c.benchmark_group("rsa2048");
    group.bench_function("sign", |b| b.iter(|| key.sign(&msg)));
    group
        .bench_function("verify", |b| b.iter(|| verifier.verify(&key.address(), &msg, &signature)));
    // The `rsa` crate alone (the reference the fixed-limb path is tested against).
    let reference = verifier.clone().reference();
    group.bench_function("verify_reference", |b| {
        b.iter(|| reference.verify(&key.address(), &msg, &signature))
    });
    // The AWS-LC engine, in a build with `--features aws-lc`.
    #[cfg(feature = "aws-lc")]
    {
        let engine = std::sync::Arc::new(gophercoin_http::aws_lc::AwsLc);
        let aws_lc = verifier.clone().with_engine(engine);
        group.bench_function("verify_aws_lc", |b| {
            b.iter(|| aws_lc.verify(&key.address(), &msg, &signature))
        });
    }
    let checker = Node::new(params, verifier, MostWork).expect("valid parameters").checker();
    group.bench_function("check_transaction", |b| {
        b.iter(|| checker.check_transaction(signed.clone().identify()).is_ok())
    });
    group.finish();
}

criterion_group!(benches, rsa);
criterion_main!(benches);
