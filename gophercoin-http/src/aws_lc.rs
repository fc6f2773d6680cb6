//! An [`RsaEngine`] backed by AWS-LC through `aws-lc-rs` (the `aws-lc` feature): RSA
//! verification at the speed of the fastest library measured (benches/README.md, "RSA
//! signatures"), in C and assembly, for a build that accepts compiling them.
//!
//! The core still decides which keys are acceptable and keeps the `rsa` crate as the
//! reference; this engine only checks signatures, for the keys it can read exactly as the
//! core does. Its verdicts are held to the `rsa` crate's by a property test
//! (`tests/aws_lc.rs`) and by the `rsa_differential` fuzz target.

use aws_lc_rs::{
    digest,
    encoding::AsDer as _,
    signature::{self, ParsedPublicKey},
};
use gophercoin_core::crypto::{PreparedRsaKey, RsaEngine};

/// The modulus sizes AWS-LC's PKCS#1 v1.5 / SHA-256 verification takes, in bits; keys of
/// other sizes are left to the `rsa` crate.
const BITS: core::ops::RangeInclusive<usize> = 2048..=8192;

/// Checks signatures with AWS-LC ([`gophercoin_core::RsaVerifier::with_engine`]).
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use gophercoin_core::{RsaSigner, RsaVerifier, Signer as _, Verifier as _};
/// use gophercoin_http::aws_lc::AwsLc;
///
/// # let key_hex = include_str!("../tests/data/alice.pkcs8.hex").trim();
/// let signer: RsaSigner = key_hex.parse()?;
/// let signature = signer.sign(b"hello")?;
/// let verifier = RsaVerifier::default().with_engine(Arc::new(AwsLc));
/// verifier.verify(&signer.address(), b"hello", &signature)?;
/// assert!(verifier.verify(&signer.address(), b"other", &signature).is_err());
/// # Ok::<(), gophercoin_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct AwsLc;

impl RsaEngine for AwsLc {
    fn prepare(&self, spki_der: &[u8], modulus: &[u8]) -> Option<Box<dyn PreparedRsaKey>> {
        let first = *modulus.first()?;
        let bits = modulus.len() * 8 - first.leading_zeros() as usize;
        // An even modulus has no Montgomery form: AWS-LC refuses it, and the `rsa` crate
        // gives the verdict.
        if !BITS.contains(&bits) || modulus.last()? & 1 == 0 {
            return None;
        }
        let key = ParsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, spki_der).ok()?;
        // Only a key AWS-LC reads as these very bytes (its DER written back is the same):
        // then it holds the modulus the core read, DER having one encoding of each value.
        if key.as_der().ok()?.as_ref() != spki_der {
            return None;
        }
        Some(Box::new(Prepared(key)))
    }
}

/// A key parsed by AWS-LC, kept in the verifier's key cache.
#[derive(Debug)]
struct Prepared(ParsedPublicKey);

impl PreparedRsaKey for Prepared {
    fn verify_sha256(&self, digest: &[u8; 32], signature: &[u8]) -> bool {
        let Ok(digest) = digest::Digest::import_less_safe(digest, &digest::SHA256) else {
            return false;
        };
        self.0.verify_digest_sig(&digest, signature).is_ok()
    }
}
