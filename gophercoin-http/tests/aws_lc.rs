//! The AWS-LC engine (the `aws-lc` feature) against the `rsa` crate alone, on honest,
//! damaged and maliciously padded signatures of keys of every size class. Without the
//! feature they show as ignored; CI runs them with it (`.ci/run`).

#[cfg(not(feature = "aws-lc"))]
#[test]
#[ignore = "the AWS-LC engine is built with `--features aws-lc` (CI runs this test so)"]
fn the_aws_lc_engine_agrees_with_the_rsa_crate() {}

#[cfg(feature = "aws-lc")]
#[allow(dead_code, unreachable_pub)]
#[path = "support/forgeries.rs"]
mod forgeries;

#[cfg(feature = "aws-lc")]
mod with_the_feature {
    use std::sync::Arc;

    use super::forgeries::{self, agree, forgery};
    use gophercoin_core::{RsaVerifier, Signer as _};
    use gophercoin_http::aws_lc::AwsLc;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(96))]

        #[test]
        fn the_aws_lc_engine_agrees_with_the_rsa_crate(
            which in 0_usize..4,
            message in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
            noise in proptest::collection::vec(proptest::prelude::any::<u8>(), 1..64),
            how in forgery(),
        ) {
            let verifier = RsaVerifier::default().without_signature_cache();
            let engine = verifier.clone().with_engine(Arc::new(AwsLc));
            agree(&engine, &verifier.reference(), which, &message, &noise, how)?;
        }
    }

    #[test]
    fn the_engine_takes_the_keys_it_reads_as_the_core_does() {
        use gophercoin_core::crypto::RsaEngine as _;
        use rsa::traits::PublicKeyParts as _;
        for (signer, key) in forgeries::keys() {
            let (der, modulus) = (signer.address().as_der().to_vec(), key.n_bytes());
            assert!(AwsLc.prepare(&der, &modulus).is_some(), "{} bits", key.n().bit_width());
            // Sizes and moduli AWS-LC does not check as the rsa crate does are left to it.
            let mut even = modulus.to_vec();
            *even.last_mut().unwrap() &= 0xfe;
            assert!(AwsLc.prepare(&der, &even).is_none(), "an even modulus");
            assert!(AwsLc.prepare(&der, &modulus[..128]).is_none(), "1024 bits");
            assert!(AwsLc.prepare(&der, &[]).is_none(), "no modulus");
            // Bytes AWS-LC can't read as a key.
            assert!(AwsLc.prepare(&der[..der.len() - 1], &modulus).is_none(), "a cut encoding");
        }
    }
}
