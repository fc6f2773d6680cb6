//! RSA-2048 PKCS#1 v1.5 / SHA-256 verification, one signature at a time on one thread,
//! in each library through its own API, and in GopherCoin's verifier with each of its
//! engines: the mean time per verification over 3 s each, as `openssl speed -seconds 3`
//! measures. Prints `name<TAB>µs` lines; `benches/compare/verify.sh` runs it by turns
//! with `openssl speed` and compares.

#[allow(dead_code)]
#[path = "../../../../gophercoin-http/src/aws_lc.rs"]
mod aws_lc;

use std::{
    hint::black_box,
    sync::Arc,
    time::{Duration, Instant},
};

use gophercoin_core::{RsaSigner, RsaVerifier, Signer as _, Verifier as _};
use rsa::{pkcs8::DecodePublicKey as _, signature::Verifier as _, traits::PublicKeyParts as _};

/// What each verification checks: about as long as a transfer's signing bytes.
const MESSAGE: &[u8] = &[0x42; 300];

fn main() {
    let key_hex = include_str!("../../../../gophercoin-core/tests/data/alice.pkcs8.hex");
    let signer: RsaSigner = key_hex.trim().parse().expect("the test key");
    let signature = signer.sign(MESSAGE).expect("signs");
    let sig = signature.as_bytes().to_vec();
    let address = signer.address();
    let spki = address.as_der().to_vec();
    let public = rsa::PublicKey::from_public_key_der(&spki).expect("an RSA public key");
    let (n, e) = (public.n_bytes().to_vec(), public.e_bytes().to_vec());

    let mut rows: Vec<(&str, f64)> = vec![];
    let aws_parsed = aws_lc_rs::signature::ParsedPublicKey::new(
        &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
        &spki,
    )
    .expect("AWS-LC reads the key");
    rows.push((
        "aws-lc-rs, key parsed once",
        time(|| aws_parsed.verify_sig(MESSAGE, &sig).is_ok()),
    ));
    rows.push((
        "aws-lc-rs, key parsed each time",
        time(|| {
            aws_lc_rs::signature::UnparsedPublicKey::new(
                &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
                &spki,
            )
            .verify(MESSAGE, &sig)
            .is_ok()
        }),
    ));
    rows.push((
        "ring, key parsed each time (its only way)",
        time(|| {
            ring::signature::RsaPublicKeyComponents { n: &n, e: &e }
                .verify(&ring::signature::RSA_PKCS1_2048_8192_SHA256, MESSAGE, &sig)
                .is_ok()
        }),
    ));
    let rsa_key = rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(public.clone());
    let rsa_sig = rsa::pkcs1v15::Signature::try_from(sig.as_slice()).expect("a signature");
    rows.push(("rsa 0.10, key parsed once", time(|| rsa_key.verify(MESSAGE, &rsa_sig).is_ok())));
    let fixed = RsaVerifier::default().without_signature_cache();
    rows.push((
        "GopherCoin, fixed-limb engine (default)",
        time(|| fixed.verify(&address, MESSAGE, &signature).is_ok()),
    ));
    let with_aws =
        RsaVerifier::default().without_signature_cache().with_engine(Arc::new(aws_lc::AwsLc));
    rows.push((
        "GopherCoin, AWS-LC engine (feature aws-lc)",
        time(|| with_aws.verify(&address, MESSAGE, &signature).is_ok()),
    ));
    let reference = RsaVerifier::default().without_signature_cache().reference();
    rows.push((
        "GopherCoin, reference (rsa crate alone)",
        time(|| reference.verify(&address, MESSAGE, &signature).is_ok()),
    ));
    for (name, micros) in rows {
        println!("{name}\t{micros:.2}");
    }
}

/// The mean time one call of `verify` takes over 3 s, in microseconds; every call must
/// succeed.
fn time(mut verify: impl FnMut() -> bool) -> f64 {
    for _ in 0..200 {
        assert!(black_box(verify()), "an honest signature verifies");
    }
    let started = Instant::now();
    let mut count = 0_u64;
    while started.elapsed() < Duration::from_secs(3) {
        for _ in 0..100 {
            assert!(black_box(verify()));
        }
        count += 100;
    }
    started.elapsed().as_secs_f64() * 1e6 / count as f64
}
