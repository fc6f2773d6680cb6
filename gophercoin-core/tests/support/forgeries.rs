//! Signatures made to test an RSA verification path against the `rsa` crate: honest
//! ones, damaged ones, and encodings no honest signer makes (raw-signed with the private
//! key), for keys of every size the rules allow. Compiled into the core's tests
//! (`tests/rsa_paths.rs`) and into the adapter's, for each faster path it offers.

use gophercoin_core::{RsaSigner, RsaVerifier, Signature, Signer as _, Verifier as _};
use rsa::{pkcs8::DecodePrivateKey as _, traits::PublicKeyParts as _};

fn sha256(message: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(message).into()
}

/// Keys of every size class of the fixed-limb path (2048 bits on 32 limbs, 2056 and 3072
/// on 48, 4096 on 64), each with its private key.
pub fn keys() -> Vec<(RsaSigner, rsa::PrivateKey)> {
    [
        include_str!("../data/alice.pkcs8.hex"),
        include_str!("../data/rsa2056.pkcs8.hex"),
        include_str!("../data/rsa3072.pkcs8.hex"),
        include_str!("../data/rsa4096.pkcs8.hex"),
    ]
    .iter()
    .map(|hex| {
        let der = hex::decode(hex.trim()).unwrap();
        (RsaSigner::from_der(&der).unwrap(), rsa::PrivateKey::from_pkcs8_der(&der).unwrap())
    })
    .collect()
}

/// The raw RSA signature of an encoded message of our choosing (`em` as long as the
/// modulus), to make paddings no honest signer produces.
fn raw_sign(key: &rsa::PrivateKey, em: &[u8]) -> Vec<u8> {
    let precision = key.n().as_ref().bits_precision();
    let m = rsa::BoxedUint::from_be_slice(em, precision).unwrap();
    let s = rsa::hazmat::rsa_decrypt::<rand_chacha::ChaCha8Rng>(None, key, &m).unwrap();
    let bytes = s.to_be_bytes();
    bytes[bytes.len() - key.size()..].to_vec()
}

/// `00 01 FF… 00 || prefix || digest`, `k` bytes, with `ff` bytes of padding.
fn encoded(k: usize, prefix: &[u8], digest: &[u8]) -> Vec<u8> {
    let mut em = vec![0x00, 0x01];
    em.resize(k - prefix.len() - digest.len() - 1, 0xff);
    em.push(0x00);
    em.extend_from_slice(prefix);
    em.extend_from_slice(digest);
    em
}

/// Ways to make a signature from an honest one, the key, and a byte of randomness.
#[derive(Clone, Copy, Debug)]
pub enum Forgery {
    Honest,
    FlipBit(usize),
    RandomBytes,
    DropFirstByte,
    LeadingZero,
    Modulus,
    ModulusMinusOne,
    AllOnes,
    Zero,
    OtherDigest,
    /// Raw-signed encodings with one thing wrong.
    BlockType2,
    PaddingByte(usize),
    ShortPadding,
    Sha1Prefix,
    LongFormLength,
    DigestMoved,
}

pub fn forgery() -> impl proptest::strategy::Strategy<Value = Forgery> {
    use proptest::prelude::*;
    prop_oneof![
        Just(Forgery::Honest),
        any::<usize>().prop_map(Forgery::FlipBit),
        Just(Forgery::RandomBytes),
        Just(Forgery::DropFirstByte),
        Just(Forgery::LeadingZero),
        Just(Forgery::Modulus),
        Just(Forgery::ModulusMinusOne),
        Just(Forgery::AllOnes),
        Just(Forgery::Zero),
        Just(Forgery::OtherDigest),
        Just(Forgery::BlockType2),
        any::<usize>().prop_map(Forgery::PaddingByte),
        Just(Forgery::ShortPadding),
        Just(Forgery::Sha1Prefix),
        Just(Forgery::LongFormLength),
        Just(Forgery::DigestMoved),
    ]
}

const SHA256_PREFIX: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

pub fn forge(
    how: Forgery,
    (signer, key): &(RsaSigner, rsa::PrivateKey),
    message: &[u8],
    noise: &[u8],
) -> Vec<u8> {
    let digest = &sha256(message);
    let k = key.size();
    let honest = || raw_sign(key, &encoded(k, &SHA256_PREFIX, digest));
    let n = key.n_bytes().to_vec();
    let n = n[n.len() - k..].to_vec();
    match how {
        Forgery::Honest => signer.sign(message).unwrap().as_bytes().to_vec(),
        Forgery::FlipBit(bit) => {
            let mut s = honest();
            s[(bit / 8) % k] ^= 1 << (bit % 8);
            s
        }
        Forgery::RandomBytes => noise.iter().cycle().take(k).copied().collect(),
        Forgery::DropFirstByte => honest()[1..].to_vec(),
        Forgery::LeadingZero => [&[0_u8][..], &honest()].concat(),
        Forgery::Modulus => n,
        Forgery::ModulusMinusOne => {
            let mut s = n;
            *s.last_mut().unwrap() -= 1; // odd: no borrow
            s
        }
        Forgery::AllOnes => vec![0xff; k],
        Forgery::Zero => vec![0; k],
        Forgery::OtherDigest => {
            let mut other = *digest;
            other[0] ^= 0x80;
            raw_sign(key, &encoded(k, &SHA256_PREFIX, &other))
        }
        Forgery::BlockType2 => {
            let mut em = encoded(k, &SHA256_PREFIX, digest);
            em[1] = 2;
            raw_sign(key, &em)
        }
        Forgery::PaddingByte(at) => {
            let mut em = encoded(k, &SHA256_PREFIX, digest);
            let padding = k - SHA256_PREFIX.len() - 32 - 3;
            em[2 + at % padding] = noise.first().copied().unwrap_or(0) & 0xfe;
            raw_sign(key, &em)
        }
        Forgery::ShortPadding => {
            // A zero too early: the padding ends, and a zero byte leads the rest.
            let mut em = encoded(k, &SHA256_PREFIX, digest);
            let at = k - SHA256_PREFIX.len() - 32 - 2;
            em[at] = 0;
            raw_sign(key, &em)
        }
        Forgery::Sha1Prefix => {
            let sha1 = [
                0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04,
                0x14,
            ];
            raw_sign(key, &encoded(k, &sha1, &digest[..20]))
        }
        Forgery::LongFormLength => {
            // The same DigestInfo with its digest's length in BER's long form.
            let mut prefix = SHA256_PREFIX.to_vec();
            prefix[1] += 1;
            let last = prefix.len() - 1;
            prefix[last] = 0x81;
            prefix.push(0x20);
            raw_sign(key, &encoded(k, &prefix, digest))
        }
        Forgery::DigestMoved => {
            let mut em = encoded(k, &SHA256_PREFIX, digest);
            em.rotate_right(1);
            em[0] = 0;
            raw_sign(key, &em)
        }
    }
}

/// Checks that `fast` (the path under test) and `reference` (the `rsa` crate alone) give
/// the same verdict on the signature `how` makes, and that an honest one verifies.
pub fn agree(
    fast: &RsaVerifier,
    reference: &RsaVerifier,
    which: usize,
    message: &[u8],
    noise: &[u8],
    how: Forgery,
) -> Result<(), proptest::test_runner::TestCaseError> {
    let keys = keys();
    let signer = &keys[which % keys.len()].0;
    let digest = sha256(message);
    let bytes = forge(how, &keys[which % keys.len()], message, noise);
    let address = signer.address();
    let verdict = |verifier: &RsaVerifier| match Signature::from_bytes(bytes.clone()) {
        Ok(signature) => verifier.verify_with_sha256(&address, message, &digest, &signature),
        Err(error) => Err(error),
    };
    let (fast, reference) = (verdict(fast), verdict(reference));
    proptest::prop_assert_eq!(&fast, &reference, "{:?}", how);
    if matches!(how, Forgery::Honest) {
        proptest::prop_assert_eq!(fast, Ok(()));
    }
    Ok(())
}

/// Every forgery that needs no randomness, of `message`, for each of [`keys`] in order (as
/// many per key): a fuzz target's starting points.
pub fn crafted(message: &[u8]) -> Vec<Vec<u8>> {
    let kinds = [
        Forgery::DropFirstByte,
        Forgery::LeadingZero,
        Forgery::Modulus,
        Forgery::ModulusMinusOne,
        Forgery::AllOnes,
        Forgery::Zero,
        Forgery::OtherDigest,
        Forgery::BlockType2,
        Forgery::PaddingByte(0),
        Forgery::PaddingByte(7),
        Forgery::ShortPadding,
        Forgery::Sha1Prefix,
        Forgery::LongFormLength,
        Forgery::DigestMoved,
    ];
    keys()
        .iter()
        .flat_map(|key| kinds.iter().map(move |how| forge(*how, key, message, &[0x5a])))
        .collect()
}
