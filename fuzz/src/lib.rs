//! Helpers shared by the fuzz targets.
//!
//! [`AcceptAllVerifier`] accepts every key and signature so the fuzzer can reach the rules
//! behind signature checks. It provides NO SECURITY and exists only here, never in the
//! shipped crates.

use gophercoin_core::{Address, CryptoError, Signature, Verifier};

/// A verifier that accepts everything. Fuzzing only.
pub struct AcceptAllVerifier;

impl Verifier for AcceptAllVerifier {
    fn check_address(&self, _: &Address) -> Result<(), CryptoError> {
        Ok(())
    }

    fn verify(&self, _: &Address, _: &[u8], _: &Signature) -> Result<(), CryptoError> {
        Ok(())
    }
}
