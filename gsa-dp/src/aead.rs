//! AES-GCM behind one small trait, with two backends: `ring` (hot path, default) and RustCrypto
//! `aes-gcm` (reference). Tests prove both produce identical ciphertext and tags.
//!
//! Used by GEO (AES-GCM, RFC 4106 nonce layout) and GAO (AES-GMAC = GCM over an empty
//! plaintext, RFC 4543).

use aes_gcm::aead::{AeadInPlace, KeyInit};
use zeroize::Zeroizing;

/// GCM nonce: salt (4) || SN64 (8), as RFC 4106 §4 with an implicit IV (RFC 8750 §4).
pub const NONCE_LEN: usize = 12;
/// GCM tag.
pub const TAG_LEN: usize = 16;

/// Authentication failed (bad tag), or a key of the wrong size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("authentication tag mismatch")]
    BadTag,
    #[error("key length must be 16 or 32 bytes")]
    KeyLength,
}

/// Which implementation does AES-GCM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// `ring` (AES-NI/CLMUL assembly): the fast path.
    #[default]
    Ring,
    /// RustCrypto `aes-gcm`: the reference implementation.
    RustCrypto,
}

/// The small trait the dataplane seals and opens through.
pub trait GcmCipher {
    /// Encrypt `buf` in place; returns the tag.
    fn seal(&self, nonce: &[u8; NONCE_LEN], aad: &[u8], buf: &mut [u8]) -> [u8; TAG_LEN];
    /// Verify `tag` and decrypt `buf` in place. On error `buf` content is unspecified.
    fn open(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), CryptoError>;
}

/// `ring` AES-GCM. ring keeps its own key schedule and offers no zeroize; the raw key bytes we
/// hold are zeroized by the owning [`Gcm`].
pub struct RingGcm(ring::aead::LessSafeKey);

impl RingGcm {
    pub fn new(key: &[u8]) -> Result<Self, CryptoError> {
        let alg = match key.len() {
            16 => &ring::aead::AES_128_GCM,
            32 => &ring::aead::AES_256_GCM,
            _ => return Err(CryptoError::KeyLength),
        };
        let k = ring::aead::UnboundKey::new(alg, key).map_err(|_| CryptoError::KeyLength)?;
        Ok(RingGcm(ring::aead::LessSafeKey::new(k)))
    }
}

impl GcmCipher for RingGcm {
    fn seal(&self, nonce: &[u8; NONCE_LEN], aad: &[u8], buf: &mut [u8]) -> [u8; TAG_LEN] {
        let n = ring::aead::Nonce::assume_unique_for_key(*nonce);
        // ring only fails for inputs longer than GCM's 2^36 byte limit, impossible for packets.
        let tag = self
            .0
            .seal_in_place_separate_tag(n, ring::aead::Aad::from(aad), buf);
        let mut out = [0u8; TAG_LEN];
        if let Ok(t) = tag {
            out.copy_from_slice(t.as_ref());
        }
        out
    }

    fn open(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), CryptoError> {
        let n = ring::aead::Nonce::assume_unique_for_key(*nonce);
        let t = ring::aead::Tag::from(*tag);
        self.0
            .open_in_place_separate_tag(n, ring::aead::Aad::from(aad), t, buf, 0..)
            .map(|_| ())
            .map_err(|_| CryptoError::BadTag)
    }
}

/// RustCrypto AES-GCM (zeroizes its key schedule on drop via the `zeroize` feature).
pub enum RustCryptoGcm {
    Aes128(Box<aes_gcm::Aes128Gcm>),
    Aes256(Box<aes_gcm::Aes256Gcm>),
}

impl RustCryptoGcm {
    pub fn new(key: &[u8]) -> Result<Self, CryptoError> {
        match key.len() {
            16 => Ok(Self::Aes128(Box::new(
                aes_gcm::Aes128Gcm::new_from_slice(key).map_err(|_| CryptoError::KeyLength)?,
            ))),
            32 => Ok(Self::Aes256(Box::new(
                aes_gcm::Aes256Gcm::new_from_slice(key).map_err(|_| CryptoError::KeyLength)?,
            ))),
            _ => Err(CryptoError::KeyLength),
        }
    }
}

impl GcmCipher for RustCryptoGcm {
    fn seal(&self, nonce: &[u8; NONCE_LEN], aad: &[u8], buf: &mut [u8]) -> [u8; TAG_LEN] {
        let n = aes_gcm::Nonce::from_slice(nonce);
        let tag = match self {
            Self::Aes128(c) => c.encrypt_in_place_detached(n, aad, buf),
            Self::Aes256(c) => c.encrypt_in_place_detached(n, aad, buf),
        };
        let mut out = [0u8; TAG_LEN];
        if let Ok(t) = tag {
            out.copy_from_slice(&t);
        }
        out
    }

    fn open(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), CryptoError> {
        let n = aes_gcm::Nonce::from_slice(nonce);
        let t = aes_gcm::Tag::from_slice(tag);
        match self {
            Self::Aes128(c) => c.decrypt_in_place_detached(n, aad, buf, t),
            Self::Aes256(c) => c.decrypt_in_place_detached(n, aad, buf, t),
        }
        .map_err(|_| CryptoError::BadTag)
    }
}

/// An AES-GCM key for one GSA with the chosen backend (static dispatch, no `dyn`).
#[expect(
    clippy::large_enum_variant,
    reason = "ring's key schedule stays inline on the hot path"
)]
pub enum Gcm {
    Ring(RingGcm),
    RustCrypto(RustCryptoGcm),
}

impl Gcm {
    /// `key` is the AES key only (16 or 32 bytes), salt excluded.
    pub fn new(backend: Backend, key: &Zeroizing<Vec<u8>>) -> Result<Self, CryptoError> {
        Ok(match backend {
            Backend::Ring => Gcm::Ring(RingGcm::new(key)?),
            Backend::RustCrypto => Gcm::RustCrypto(RustCryptoGcm::new(key)?),
        })
    }
}

impl std::fmt::Debug for Gcm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Gcm::Ring(_) => f.write_str("Gcm::Ring(<redacted>)"),
            Gcm::RustCrypto(_) => f.write_str("Gcm::RustCrypto(<redacted>)"),
        }
    }
}

impl GcmCipher for Gcm {
    #[inline]
    fn seal(&self, nonce: &[u8; NONCE_LEN], aad: &[u8], buf: &mut [u8]) -> [u8; TAG_LEN] {
        match self {
            Gcm::Ring(c) => c.seal(nonce, aad, buf),
            Gcm::RustCrypto(c) => c.seal(nonce, aad, buf),
        }
    }

    #[inline]
    fn open(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), CryptoError> {
        match self {
            Gcm::Ring(c) => c.open(nonce, aad, buf, tag),
            Gcm::RustCrypto(c) => c.open(nonce, aad, buf, tag),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// McGrew/Viega GCM spec test case 4 (AES-128, 60-byte plaintext, 20-byte AAD).
    #[test]
    fn known_vector_both_backends() {
        let key = hex("feffe9928665731c6d6a8f9467308308");
        let nonce: [u8; 12] = hex("cafebabefacedbaddecaf888").try_into().unwrap();
        let aad = hex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
        let pt = hex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39");
        let ct = hex("42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091");
        let tag = hex("5bc94fbc3221a5db94fae95ae7121a47");
        for c in [
            Gcm::Ring(RingGcm::new(&key).unwrap()),
            Gcm::RustCrypto(RustCryptoGcm::new(&key).unwrap()),
        ] {
            let mut buf = pt.clone();
            let t = c.seal(&nonce, &aad, &mut buf);
            assert_eq!(buf, ct);
            assert_eq!(t.to_vec(), tag);
            c.open(&nonce, &aad, &mut buf, &t).unwrap();
            assert_eq!(buf, pt);
            let mut bad = t;
            bad[0] ^= 1;
            assert_eq!(
                c.open(&nonce, &aad, &mut ct.clone(), &bad),
                Err(CryptoError::BadTag)
            );
        }
    }

    #[test]
    fn rejects_bad_key_len() {
        assert!(RingGcm::new(&[0u8; 24]).is_err());
        assert!(RustCryptoGcm::new(&[0u8; 15]).is_err());
    }

    proptest! {
        /// Same key, nonce, AAD -> byte-identical ciphertext and tag; seal with one, open with the other.
        #[test]
        fn backends_identical_and_interoperate(
            big in any::<bool>(), key in proptest::collection::vec(any::<u8>(), 32),
            nonce in any::<[u8; 12]>(), aad in proptest::collection::vec(any::<u8>(), 0..64),
            pt in proptest::collection::vec(any::<u8>(), 0..1500),
        ) {
            let key = if big { &key[..] } else { &key[..16] };
            let r = RingGcm::new(key).unwrap();
            let c = RustCryptoGcm::new(key).unwrap();
            let (mut a, mut b) = (pt.clone(), pt.clone());
            let ta = r.seal(&nonce, &aad, &mut a);
            let tb = c.seal(&nonce, &aad, &mut b);
            prop_assert_eq!(&a, &b);
            prop_assert_eq!(ta, tb);
            c.open(&nonce, &aad, &mut a, &ta).unwrap();
            prop_assert_eq!(&a, &pt);
            r.open(&nonce, &aad, &mut b, &tb).unwrap();
            prop_assert_eq!(&b, &pt);
        }
    }
}
