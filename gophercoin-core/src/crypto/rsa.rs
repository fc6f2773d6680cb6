//! The shipped signature scheme: RSA PKCS#1 v1.5 over SHA-256.
//!
//! Public keys travel as hex DER SubjectPublicKeyInfo (the original's wallet id),
//! private keys as hex DER PKCS#8 (what a browser's WebCrypto imports and exports), and
//! the original's PKCS#1 private keys are accepted on input. Keys must have a modulus of
//! 2048 to 4096 bits (by default) and the public exponent 65537.

use std::{
    collections::{BTreeMap, BTreeSet, VecDeque},
    sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard},
};

use rand_core::TryCryptoRng;
use rsa::{
    pkcs1::DecodeRsaPrivateKey,
    pkcs1v15::{SigningKey, VerifyingKey},
    pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey},
    signature::{SignatureEncoding, Signer as _, hazmat::PrehashVerifier as _},
    traits::PublicKeyParts,
};
use sha2::Sha256;

use super::{
    Address, CryptoError, Signature, Signer, Verifier, decode_hex, exp65537::PublicKey65537,
};
use crate::hash::sha256;

/// The key size [`RsaSigner::generate`] is usually called with.
pub const DEFAULT_KEY_BITS: usize = 2048;

/// The smallest key the shipped networks accept, in bits.
pub const MIN_KEY_BITS: usize = 2048;

/// The largest key the shipped networks accept, in bits.
pub const MAX_KEY_BITS: usize = 4096;

/// The only public exponent accepted, big-endian.
const EXPONENT_65537: [u8; 3] = [0x01, 0x00, 0x01];

/// The most bytes a DER private key may have (a 4096-bit PKCS#8 key has about 2,400).
const MAX_PRIVATE_KEY_LEN: usize = 4096;

/// An RSA private key that signs with PKCS#1 v1.5 over SHA-256.
///
/// # Examples
///
/// ```
/// use gophercoin_core::{RsaSigner, RsaVerifier, Signer, Verifier};
/// # let key_hex = include_str!("../../tests/data/alice.pkcs8.hex").trim();
/// let signer: RsaSigner = key_hex.parse()?;
/// let signature = signer.sign(b"hello")?;
/// RsaVerifier::default().verify(&signer.address(), b"hello", &signature)?;
/// # Ok::<(), gophercoin_core::Error>(())
/// ```
#[derive(Clone)]
pub struct RsaSigner {
    key: SigningKey<Sha256>,
    address: Address,
}

impl RsaSigner {
    /// Generates a new key of `bits` bits with exponent 65537.
    ///
    /// `rng` is any cryptographic RNG of [`rand_core`] 0.10 (re-exported by
    /// this crate): the operating system's through `getrandom` 0.4's `SysRng` (feature
    /// `sys_rng`) as below, or `rand` 0.10's generators. The core never reaches for one itself.
    ///
    /// ```
    /// use gophercoin_core::{RsaSigner, Signer};
    ///
    /// let signer = RsaSigner::generate(&mut getrandom::SysRng, 2048)?;
    /// let saved = signer.to_pkcs8_hex(); // what a wallet file keeps; keep it secret
    /// let loaded: RsaSigner = saved.parse()?;
    /// assert_eq!(loaded.address(), signer.address());
    /// # Ok::<(), gophercoin_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`CryptoError::KeyTooSmall`] / [`CryptoError::KeyTooLarge`] outside 2048–4096 bits,
    /// [`CryptoError::SigningFailed`] if generation fails.
    pub fn generate<R: TryCryptoRng + ?Sized>(
        rng: &mut R,
        bits: usize,
    ) -> Result<Self, CryptoError> {
        RsaVerifier::default().check_bits(bits)?;
        let key = rsa::PrivateKey::new(rng, bits)
            .map_err(|e| CryptoError::SigningFailed(e.to_string()))?;
        Self::from_private_key(key)
    }

    /// Reads a DER private key: PKCS#8, or the original's PKCS#1.
    ///
    /// # Errors
    ///
    /// [`CryptoError::BadKeyEncoding`] if it is neither, or the size/exponent errors.
    pub fn from_der(der: &[u8]) -> Result<Self, CryptoError> {
        if der.len() > MAX_PRIVATE_KEY_LEN {
            return Err(CryptoError::TooLong {
                what: "private key",
                len: der.len(),
                max: MAX_PRIVATE_KEY_LEN,
            });
        }
        let key = rsa::PrivateKey::from_pkcs8_der(der)
            .or_else(|pkcs8_err| {
                rsa::PrivateKey::from_pkcs1_der(der).map_err(|_| pkcs8_err.to_string())
            })
            .map_err(|reason| CryptoError::BadKeyEncoding { what: "private key", reason })?;
        Self::from_private_key(key)
    }

    /// Returns the private key as PKCS#8 DER in hex. Keep it secret.
    pub fn to_pkcs8_hex(&self) -> String {
        let der = self.key.to_pkcs8_der().expect("an RSA key always encodes as PKCS#8");
        hex::encode(der.as_bytes())
    }

    fn from_private_key(key: rsa::PrivateKey) -> Result<Self, CryptoError> {
        let public = key.to_public_key();
        RsaVerifier::default().check_key(&public)?;
        let der = public.to_public_key_der().map_err(|e| CryptoError::BadKeyEncoding {
            what: "public key",
            reason: e.to_string(),
        })?;
        let address = Address::from_der(der.into_vec())?;
        Ok(RsaSigner { key: SigningKey::new(key), address })
    }
}

impl core::str::FromStr for RsaSigner {
    type Err = CryptoError;

    /// Reads a hex DER private key (PKCS#8 or PKCS#1).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RsaSigner::from_der(&decode_hex("private key", s.trim(), MAX_PRIVATE_KEY_LEN)?)
    }
}

impl core::fmt::Debug for RsaSigner {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RsaSigner").field("address", &self.address).finish_non_exhaustive()
    }
}

impl Signer for RsaSigner {
    fn address(&self) -> Address {
        self.address.clone()
    }

    fn sign(&self, msg: &[u8]) -> Result<Signature, CryptoError> {
        let signature =
            self.key.try_sign(msg).map_err(|e| CryptoError::SigningFailed(e.to_string()))?;
        Signature::from_bytes(signature.to_vec())
    }
}

/// Verifies RSA PKCS#1 v1.5 / SHA-256 signatures, within a range of key sizes.
///
/// Parsed keys are kept in a small shared cache (only keys that passed the size and
/// exponent checks), so a wallet that pays or is paid often is parsed once; and every
/// signature that verified is remembered (a signature cache, as Bitcoin Core keeps), so a
/// transfer seen again (in the mempool, then in a block, or in many blocks of a peer's
/// side branches) costs a hash and a look-up, not an RSA operation. Clones share both.
///
/// ```
/// use gophercoin_core::{CryptoError, Params, RsaSigner, Signer, Verifier};
/// # let alice: RsaSigner = include_str!("../../tests/data/alice.pkcs8.hex").trim().parse()?;
/// let verifier = Params::devnet().verifier(); // 2048- to 4096-bit keys, exponent 65537
/// let signature = alice.sign(b"pay bob 5")?;
/// verifier.verify(&alice.address(), b"pay bob 5", &signature)?;
/// let forged = verifier.verify(&alice.address(), b"pay bob 500", &signature);
/// assert!(matches!(forged, Err(CryptoError::BadSignature)));
/// # Ok::<(), gophercoin_core::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct RsaVerifier {
    min_bits: usize,
    max_bits: usize,
    /// What checks signatures of keys it takes ([`RsaEngine`]); the `rsa` crate checks
    /// the others, and all of them if there is none ([`RsaVerifier::reference`]).
    engine: Option<Arc<dyn RsaEngine>>,
    keys: Arc<RwLock<KeyCache>>,
    signatures: Arc<RwLock<SignatureCache>>,
    signature_cache_size: usize,
}

/// The SHA-256 of (key, digest, signature) of each signature that verified, evicted
/// oldest first.
#[derive(Debug, Default)]
struct SignatureCache {
    verified: BTreeSet<[u8; 32]>,
    order: VecDeque<[u8; 32]>,
}

/// How many verified signatures a verifier remembers (about 4 MiB).
const SIGNATURE_CACHE_SIZE: usize = 50_000;

/// Parsed keys by address, evicted oldest first.
#[derive(Debug, Default)]
struct KeyCache {
    keys: BTreeMap<Address, Arc<ParsedKey>>,
    order: VecDeque<Address>,
}

/// A key that passed the checks: the `rsa` crate's, and the same set up by the
/// verifier's engine if it takes the key.
#[derive(Debug)]
struct ParsedKey {
    key: VerifyingKey<Sha256>,
    prepared: Option<Box<dyn PreparedRsaKey>>,
}

/// A faster way to check RSA PKCS#1 v1.5 / SHA-256 signatures than the `rsa` crate, for
/// the keys the verifier accepts. The verifier decides which keys are acceptable (their
/// encoding, size and exponent) and keeps what [`RsaEngine::prepare`] made with the key in
/// its key cache; the engine only checks signatures, and must give the `rsa` crate's
/// verdict on every input, which is consensus (a property test and a differential fuzz
/// target hold each engine to it).
///
/// The core's own is a pure-Rust fixed-limb path, used by default; an adapter may plug in
/// one backed by another library ([`RsaVerifier::with_engine`]).
pub trait RsaEngine: Send + Sync + core::fmt::Debug {
    /// Sets up a key the verifier accepted: `spki_der` is its SubjectPublicKeyInfo (the
    /// address's bytes), `modulus` its modulus big-endian without leading zeros, and its
    /// exponent is 65537. `None` if this engine does not take the key: the `rsa` crate
    /// then checks its signatures.
    fn prepare(&self, spki_der: &[u8], modulus: &[u8]) -> Option<Box<dyn PreparedRsaKey>>;
}

/// A key set up by an [`RsaEngine`].
pub trait PreparedRsaKey: Send + Sync + core::fmt::Debug {
    /// Whether `signature` is this key's PKCS#1 v1.5 signature of the SHA-256 `digest`
    /// (RFC 8017 §8.2.2: as long as the modulus and below it; the encoded message
    /// `00 01 FF…FF 00 || DigestInfo(SHA-256) || digest`, compared whole).
    fn verify_sha256(&self, digest: &[u8; 32], signature: &[u8]) -> bool;
}

/// The core's engine: the fixed-limb path of [`super::exp65537`], for moduli of up to
/// 4096 bits.
#[derive(Debug)]
struct FixedLimbs;

impl RsaEngine for FixedLimbs {
    fn prepare(&self, _spki_der: &[u8], modulus: &[u8]) -> Option<Box<dyn PreparedRsaKey>> {
        Some(Box::new(PublicKey65537::new(modulus)?))
    }
}

impl PreparedRsaKey for PublicKey65537 {
    fn verify_sha256(&self, digest: &[u8; 32], signature: &[u8]) -> bool {
        PublicKey65537::verify_sha256(self, digest, signature)
    }
}

/// How many parsed keys a verifier keeps.
const KEY_CACHE_SIZE: usize = 4096;

impl RsaVerifier {
    /// Accepts keys of `min_bits` to `max_bits` bits (a network's
    /// [`Params::min_rsa_bits`](crate::Params::min_rsa_bits) and
    /// [`max_rsa_bits`](crate::Params::max_rsa_bits): [`Params::verifier`](crate::Params::verifier)
    /// makes one from them).
    pub fn with_key_bits(min_bits: usize, max_bits: usize) -> Self {
        RsaVerifier {
            min_bits,
            max_bits,
            engine: Some(Arc::new(FixedLimbs)),
            keys: Arc::default(),
            signatures: Arc::default(),
            signature_cache_size: SIGNATURE_CACHE_SIZE,
        }
    }

    /// The same verifier with no signature cache: every signature costs an RSA operation
    /// (what a benchmark of the operation itself needs).
    #[must_use]
    pub fn without_signature_cache(self) -> Self {
        RsaVerifier { signatures: Arc::default(), signature_cache_size: 0, ..self }
    }

    /// The same verifier checking every signature with the `rsa` crate alone, the
    /// reference every engine is tested against (their verdicts are the same; it is
    /// slower). It has a key cache of its own.
    #[must_use]
    pub fn reference(self) -> Self {
        RsaVerifier { engine: None, keys: Arc::default(), ..self }
    }

    /// The same verifier checking signatures with `engine` for the keys it takes (and
    /// with the `rsa` crate for the others). It has a key cache of its own.
    #[must_use]
    pub fn with_engine(self, engine: Arc<dyn RsaEngine>) -> Self {
        RsaVerifier { engine: Some(engine), keys: Arc::default(), ..self }
    }

    /// The engine this verifier checks signatures with, if any (`None`: the `rsa` crate
    /// alone, as [`RsaVerifier::reference`]). An adapter can wrap it, to count or time
    /// its checks, and plug the wrapper in with [`RsaVerifier::with_engine`].
    pub fn engine(&self) -> Option<Arc<dyn RsaEngine>> {
        self.engine.clone()
    }

    fn check_bits(&self, bits: usize) -> Result<(), CryptoError> {
        if bits < self.min_bits {
            return Err(CryptoError::KeyTooSmall { bits, min: self.min_bits });
        }
        if bits > self.max_bits {
            return Err(CryptoError::KeyTooLarge { bits, max: self.max_bits });
        }
        Ok(())
    }

    fn check_key(&self, key: &rsa::PublicKey) -> Result<(), CryptoError> {
        self.check_bits(key.n().bit_width() as usize)?;
        if *key.e_bytes() != EXPONENT_65537 {
            return Err(CryptoError::BadExponent);
        }
        Ok(())
    }

    /// Parses and checks a key, or finds it in the cache.
    fn parse(&self, address: &Address) -> Result<Arc<ParsedKey>, CryptoError> {
        if let Some(key) = self.cache().keys.get(address) {
            return Ok(Arc::clone(key));
        }
        // Not cached: parse without holding the lock.
        let key = rsa::PublicKey::from_public_key_der(address.as_der()).map_err(|e| {
            CryptoError::BadKeyEncoding { what: "public key", reason: e.to_string() }
        })?;
        self.check_key(&key)?;
        let prepared = self.engine.as_ref().and_then(|engine| {
            let modulus = key.n_bytes();
            let first = modulus.iter().position(|b| *b != 0).unwrap_or(modulus.len());
            engine.prepare(address.as_der(), modulus.get(first..).unwrap_or_default())
        });
        let key = Arc::new(ParsedKey { key: VerifyingKey::<Sha256>::new(key), prepared });
        let mut cache = self.cache_mut();
        if cache.keys.insert(address.clone(), Arc::clone(&key)).is_none() {
            cache.order.push_back(address.clone());
        }
        while cache.order.len() > KEY_CACHE_SIZE {
            if let Some(oldest) = cache.order.pop_front() {
                cache.keys.remove(&oldest);
            }
        }
        Ok(key)
    }

    // The cache holds no invariant a panic elsewhere could break, so poisoning is ignored.
    fn cache(&self) -> RwLockReadGuard<'_, KeyCache> {
        self.keys.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn cache_mut(&self) -> RwLockWriteGuard<'_, KeyCache> {
        self.keys.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Default for RsaVerifier {
    /// Accepts 2048- to 4096-bit keys, as [`Params::devnet`](crate::Params::devnet) does.
    fn default() -> Self {
        RsaVerifier::with_key_bits(MIN_KEY_BITS, MAX_KEY_BITS)
    }
}

impl Verifier for RsaVerifier {
    /// Accepts the DER SubjectPublicKeyInfo of an RSA key whose modulus has from
    /// `min_bits` to `max_bits` bits (those given to [`RsaVerifier::with_key_bits`]) and
    /// whose public exponent is 65537.
    ///
    /// # Consensus
    ///
    /// Rules: [key-rsa](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#key-rsa)
    fn check_address(&self, address: &Address) -> Result<(), CryptoError> {
        self.parse(address).map(drop)
    }

    fn verify(
        &self,
        address: &Address,
        msg: &[u8],
        signature: &Signature,
    ) -> Result<(), CryptoError> {
        self.verify_with_sha256(address, msg, &sha256(&[msg]), signature)
    }

    /// Checks the signature against `digest`; `msg` is not read again.
    ///
    /// # Consensus
    ///
    /// Rules:
    /// - [key-rsa](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#key-rsa)
    /// - [key-signature-scheme](https://github.com/gophercoin/gophercoin/blob/main/docs/consensus.md#key-signature-scheme)
    fn verify_with_sha256(
        &self,
        address: &Address,
        _msg: &[u8],
        digest: &[u8; 32],
        signature: &Signature,
    ) -> Result<(), CryptoError> {
        // The cache's key, only when there is a cache.
        let entry = (self.signature_cache_size > 0)
            .then(|| sha256(&[address.as_der(), digest, signature.as_bytes()]));
        if let Some(entry) = &entry
            && self.signatures.read().unwrap_or_else(|e| e.into_inner()).verified.contains(entry)
        {
            return Ok(());
        }
        let key = self.parse(address)?;
        match &key.prepared {
            Some(prepared) => {
                if !prepared.verify_sha256(digest, signature.as_bytes()) {
                    return Err(CryptoError::BadSignature);
                }
            }
            _ => {
                let parsed = rsa::pkcs1v15::Signature::try_from(signature.as_bytes())
                    .map_err(|_| CryptoError::BadSignature)?;
                key.key.verify_prehash(digest, &parsed).map_err(|_| CryptoError::BadSignature)?;
            }
        }
        let Some(entry) = entry else { return Ok(()) };
        // The cache holds no invariant a panic elsewhere could break: poisoning is ignored.
        let mut cache = self.signatures.write().unwrap_or_else(|e| e.into_inner());
        if cache.verified.insert(entry) {
            cache.order.push_back(entry);
        }
        while cache.order.len() > self.signature_cache_size {
            if let Some(oldest) = cache.order.pop_front() {
                cache.verified.remove(&oldest);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> RsaSigner {
        include_str!("../../tests/data/alice.pkcs8.hex").trim().parse().unwrap()
    }

    /// Keys of every size class of the fixed-limb path: 2048 bits (32 limbs), 2056 and
    /// 3072 (48), 4096 (64).
    fn keys() -> Vec<RsaSigner> {
        [
            include_str!("../../tests/data/alice.pkcs8.hex"),
            include_str!("../../tests/data/rsa2056.pkcs8.hex"),
            include_str!("../../tests/data/rsa3072.pkcs8.hex"),
            include_str!("../../tests/data/rsa4096.pkcs8.hex"),
        ]
        .iter()
        .map(|hex| hex.trim().parse().unwrap())
        .collect()
    }

    #[test]
    fn an_honest_signature_verifies_on_both_paths_for_every_size() {
        for signer in keys() {
            let parsed = RsaVerifier::default().parse(&signer.address()).unwrap();
            assert!(parsed.prepared.is_some(), "every allowed size has a fixed-limb path");
            let signature = signer.sign(b"message").unwrap();
            let fast = RsaVerifier::default().without_signature_cache();
            assert_eq!(fast.verify(&signer.address(), b"message", &signature), Ok(()));
            assert_eq!(fast.reference().verify(&signer.address(), b"message", &signature), Ok(()));
        }
    }

    #[test]
    fn the_key_cache_changes_no_verdict() {
        let verifier = RsaVerifier::default();
        let signer = alice();
        let signature = signer.sign(b"message").unwrap();
        for _ in 0..3 {
            verifier.verify(&signer.address(), b"message", &signature).unwrap();
            assert_eq!(
                verifier.verify(&signer.address(), b"other", &signature),
                Err(CryptoError::BadSignature)
            );
        }
        assert_eq!(verifier.cache().keys.len(), 1, "a good key is parsed once");
        let small: Address =
            include_str!("../../tests/data/small1024.spki.hex").trim().parse().unwrap();
        for _ in 0..2 {
            assert_eq!(
                verifier.check_address(&small),
                Err(CryptoError::KeyTooSmall { bits: 1024, min: 2048 })
            );
        }
        assert_eq!(verifier.cache().keys.len(), 1, "a refused key is never cached");
        // Clones share the cache; a verifier with other size limits has its own.
        assert_eq!(verifier.clone().cache().keys.len(), 1);
        assert!(matches!(
            RsaVerifier::with_key_bits(3072, 4096).check_address(&signer.address()),
            Err(CryptoError::KeyTooSmall { .. })
        ));
    }

    #[test]
    fn a_signature_is_checked_against_the_digest_given() {
        let verifier = RsaVerifier::default();
        let signer = alice();
        let signature = signer.sign(b"message").unwrap();
        let address = signer.address();
        let digest = sha256(&[b"message"]);
        assert_eq!(verifier.verify_with_sha256(&address, b"message", &digest, &signature), Ok(()));
        // The digest is what is checked: another message's digest fails, whatever `msg` is.
        let other = sha256(&[b"other"]);
        assert_eq!(
            verifier.verify_with_sha256(&address, b"message", &other, &signature),
            Err(CryptoError::BadSignature)
        );
        let mut flipped = digest;
        flipped[31] ^= 1;
        assert_eq!(
            verifier.verify_with_sha256(&address, b"message", &flipped, &signature),
            Err(CryptoError::BadSignature)
        );
        let small: Address =
            include_str!("../../tests/data/small1024.spki.hex").trim().parse().unwrap();
        assert!(matches!(
            verifier.verify_with_sha256(&small, b"message", &digest, &signature),
            Err(CryptoError::KeyTooSmall { .. })
        ));
    }

    #[test]
    fn the_key_cache_is_bounded() {
        let verifier = RsaVerifier::default();
        let key = alice().address();
        let parsed = verifier.parse(&key).unwrap();
        {
            let mut cache = verifier.cache_mut();
            for i in 0..KEY_CACHE_SIZE + 10 {
                let address = Address::from_der(i.to_be_bytes().to_vec()).unwrap();
                cache.keys.insert(address.clone(), Arc::clone(&parsed));
                cache.order.push_back(address);
            }
        }
        // A new key's insertion evicts the oldest down to the bound.
        let bob: RsaSigner = include_str!("../../tests/data/bob.pkcs8.hex").trim().parse().unwrap();
        let _ = verifier.parse(&bob.address()).unwrap();
        assert_eq!(verifier.cache().keys.len(), KEY_CACHE_SIZE);
        assert!(!verifier.cache().keys.contains_key(&key), "the oldest went first");
        assert!(verifier.cache().keys.contains_key(&bob.address()));
        let cache = verifier.cache();
        assert_eq!(cache.order.len(), cache.keys.len());
    }
}
