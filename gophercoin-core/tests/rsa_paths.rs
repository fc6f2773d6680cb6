//! The verifier's fixed-limb path (its default engine) against the `rsa` crate alone, on
//! honest, damaged and maliciously padded signatures of keys of every size class.

#[allow(dead_code, unreachable_pub)]
mod support {
    pub mod forgeries;
}

use gophercoin_core::RsaVerifier;
use support::forgeries::{agree, forgery};

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(96))]

    #[test]
    fn the_fixed_limb_path_agrees_with_the_rsa_crate(
        which in 0_usize..4,
        message in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
        noise in proptest::collection::vec(proptest::prelude::any::<u8>(), 1..64),
        how in forgery(),
    ) {
        let fast = RsaVerifier::default().without_signature_cache();
        let reference = fast.clone().reference();
        agree(&fast, &reference, which, &message, &noise, how)?;
    }
}
