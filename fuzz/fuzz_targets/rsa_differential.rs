//! The RSA verifier's engines against the `rsa` crate, on arbitrary signatures, changes
//! to honest ones and changes to crafted paddings: the fixed-limb path and the AWS-LC
//! engine give the `rsa` crate's verdict every time.
#![no_main]

#[allow(dead_code, unreachable_pub)]
#[path = "../../gophercoin-core/tests/support/forgeries.rs"]
mod forgeries;

#[allow(dead_code)]
#[path = "../../gophercoin-http/src/aws_lc.rs"]
mod aws_lc;

use std::sync::{Arc, OnceLock};

use gophercoin_core::RsaVerifier;

struct Setup {
    aws_lc: RsaVerifier,
    crafted: Vec<Vec<u8>>,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| Setup {
        aws_lc: RsaVerifier::default()
            .without_signature_cache()
            .with_engine(Arc::new(aws_lc::AwsLc)),
        crafted: forgeries::crafted(gophercoin_fuzz::DIFFERENTIAL_MESSAGE),
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let setup = setup();
    gophercoin_fuzz::rsa_paths_agree_with(data, &[("AWS-LC", &setup.aws_lc)], &setup.crafted);
});
