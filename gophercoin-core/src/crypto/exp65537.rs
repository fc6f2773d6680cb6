//! RSA's public operation for the one exponent a key may have here, 65537, on
//! fixed-size limbs, and PKCS#1 v1.5 signature verification with SHA-256 on top of it.
//!
//! The `rsa` crate raises to the public exponent with a generic window and sets the
//! modulus up again for every signature. Here the modulus's Montgomery parameters are
//! computed once, when the key is parsed, and kept with it in the verifier's key cache;
//! `s^65537 mod n` is then sixteen squarings and one multiplication on limbs whose count
//! is fixed at compile time (32, 48 or 64 of 64 bits: moduli up to 2048, 3072 and 4096
//! bits). The verdict is the `rsa` crate's, which stays the reference: RFC 8017 §8.2.2
//! (the signature is as long as the modulus and below it) and §9.2 (the encoded message is
//! `00 01 FF…FF 00 || DigestInfo(SHA-256) || digest`, compared whole). A property test
//! and a differential fuzz target hold the two to the same verdict on every input.

use crypto_bigint::{
    Odd, Uint, Word,
    modular::{FixedMontyForm, FixedMontyParams},
};

/// The DER of SHA-256's `DigestInfo` before the digest (RFC 8017 §9.2, note 1).
const SHA256_PREFIX: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

/// Bytes in a limb.
const WORD_BYTES: usize = core::mem::size_of::<Word>();

/// The largest modulus handled, in bytes (4096 bits).
const MAX_BYTES: usize = 512;

/// A public key with exponent 65537, set up for verifying.
#[derive(Debug)]
pub(super) struct PublicKey65537 {
    /// The modulus's length in bytes (`k` in RFC 8017).
    size: usize,
    modulus: Modulus,
}

/// The modulus on as many limbs as it needs.
#[derive(Debug)]
enum Modulus {
    Bits2048(Box<Fixed<{ 2048 / Word::BITS as usize }>>),
    Bits3072(Box<Fixed<{ 3072 / Word::BITS as usize }>>),
    Bits4096(Box<Fixed<{ 4096 / Word::BITS as usize }>>),
}

/// A modulus and its Montgomery parameters.
#[derive(Debug)]
struct Fixed<const LIMBS: usize> {
    n: Uint<LIMBS>,
    params: FixedMontyParams<LIMBS>,
}

impl PublicKey65537 {
    /// Sets up a modulus given big-endian (leading zeros allowed); `None` if it is even,
    /// zero or longer than 4096 bits (such a key is left to the `rsa` crate).
    pub(super) fn new(modulus: &[u8]) -> Option<Self> {
        let first = modulus.iter().position(|b| *b != 0)?;
        let modulus = modulus.get(first..)?;
        let size = modulus.len();
        let modulus = match size {
            0..=256 => Modulus::Bits2048(Box::new(Fixed::new(modulus)?)),
            257..=384 => Modulus::Bits3072(Box::new(Fixed::new(modulus)?)),
            385..=MAX_BYTES => Modulus::Bits4096(Box::new(Fixed::new(modulus)?)),
            _ => return None,
        };
        Some(PublicKey65537 { size, modulus })
    }

    /// Whether `signature` is a PKCS#1 v1.5 signature of the SHA-256 `digest` under this
    /// key.
    pub(super) fn verify_sha256(&self, digest: &[u8; 32], signature: &[u8]) -> bool {
        let k = self.size;
        let t_len = SHA256_PREFIX.len() + digest.len();
        if signature.len() != k || k < t_len + 11 {
            return false;
        }
        let mut em = [0_u8; MAX_BYTES];
        let Some(em) = em.get_mut(..k) else { return false };
        let computed = match &self.modulus {
            Modulus::Bits2048(fixed) => fixed.raise(signature, em),
            Modulus::Bits3072(fixed) => fixed.raise(signature, em),
            Modulus::Bits4096(fixed) => fixed.raise(signature, em),
        };
        // EM = 0x00 || 0x01 || PS (0xff, at least 8) || 0x00 || DigestInfo || digest
        let padding = core::iter::repeat_n(&0xff, k - t_len - 3);
        let expected = [0, 1].iter().chain(padding).chain(&[0]).chain(&SHA256_PREFIX).chain(digest);
        computed && em.iter().eq(expected)
    }
}

impl<const LIMBS: usize> Fixed<LIMBS> {
    fn new(modulus: &[u8]) -> Option<Self> {
        let n = from_be_bytes::<LIMBS>(modulus)?;
        let odd: Option<Odd<Uint<LIMBS>>> = Odd::new(n).into();
        Some(Fixed { n, params: FixedMontyParams::new_vartime(odd?) })
    }

    /// Writes `s^65537 mod n` big-endian into `out` (the modulus's length); false if `s`
    /// is not below the modulus.
    fn raise(&self, s: &[u8], out: &mut [u8]) -> bool {
        let Some(s) = from_be_bytes::<LIMBS>(s) else { return false };
        if s >= self.n {
            return false;
        }
        let base = FixedMontyForm::new(&s, &self.params);
        // 65537 = 2^16 + 1. The public exponent and the signature are public: variable
        // time is fine.
        let power = base.square_repeat_vartime(16).mul(&base).retrieve();
        to_be_bytes(&power, out);
        true
    }
}

/// A big-endian number of at most `LIMBS` limbs' bytes.
fn from_be_bytes<const LIMBS: usize>(bytes: &[u8]) -> Option<Uint<LIMBS>> {
    if bytes.len() > LIMBS * WORD_BYTES {
        return None;
    }
    let mut words = [0 as Word; LIMBS];
    for (word, chunk) in words.iter_mut().zip(bytes.rchunks(WORD_BYTES)) {
        // A word's bytes, the first chunk (the most significant) padded with zeros.
        *word = chunk.iter().fold(0, |word, byte| (word << 8) | Word::from(*byte));
    }
    Some(Uint::from_words(words))
}

/// The low `out.len()` bytes of `value`, big-endian (the rest are zero: `value` is below
/// a modulus of that length).
fn to_be_bytes<const LIMBS: usize>(value: &Uint<LIMBS>, out: &mut [u8]) {
    let words = value.as_words();
    for (i, byte) in out.iter_mut().rev().enumerate() {
        let word = words.get(i / WORD_BYTES).copied().unwrap_or(0);
        *byte = (word >> (8 * (i % WORD_BYTES))) as u8;
    }
}
