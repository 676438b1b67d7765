//! SK payload protection with ENCR_AES_GCM_16 (RFC 5282, RFC 7296 §3.14).
//!
//! Layout of the SK payload body this module produces and consumes:
//!
//! ```text
//! IV (8) | AES-GCM ciphertext of (inner payloads | Padding | Pad Length (1)) | ICV (16)
//! ```
//!
//! * Nonce = salt (4, the last bytes of SK_e*) || IV (8) (RFC 5282 §4). The IV is an explicit
//!   64-bit counter that never repeats under one key: a per-direction [`SkSealer`] keeps it, or
//!   callers pass their own with [`seal_sk`]. Retransmissions resend stored bytes (RFC 7296
//!   §2.1) and never re-encrypt.
//! * AAD = every byte from the first octet of the IKE header through the last octet of the SK
//!   (or SKF) generic payload header, with the final Length fields (RFC 5282 §5.1). The codec
//!   hands that range in; [`sealed_len`] tells it the SK body length to write beforehand.
//! * GCM has a block size of 1, so we send no padding (Pad Length 0, as strongSwan does) and
//!   accept up to 255 padding octets of any value on receipt (RFC 5282 §3).

use std::fmt;

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes128Gcm, Aes256Gcm, Nonce, Tag};
use zeroize::Zeroizing;

use super::{CryptoError, Secret};

/// Explicit IV length in the SK payload (RFC 5282 §3.1).
pub const IV_LEN: usize = 8;
/// ICV length of ENCR_AES_GCM_16 (RFC 5282 §3.2).
pub const ICV_LEN: usize = 16;
/// Salt octets at the end of SK_e* (RFC 5282 §7.1).
pub const SALT_LEN: usize = 4;
/// Transform ID of ENCR_AES_GCM_16.
pub const ENCR_AES_GCM_16: u16 = 20;

/// The encryption transform protecting SK payloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SkSuite {
    /// ENCR_AES_GCM_16 with Key Length 128.
    AesGcm16_128,
    /// ENCR_AES_GCM_16 with Key Length 256.
    AesGcm16_256,
}

impl SkSuite {
    /// From the transform ID and its (mandatory, RFC 5282 §7.3) Key Length attribute in bits.
    pub fn from_transform(id: u16, key_bits: u16) -> Result<Self, CryptoError> {
        match (id, key_bits) {
            (ENCR_AES_GCM_16, 128) => Ok(Self::AesGcm16_128),
            (ENCR_AES_GCM_16, 256) => Ok(Self::AesGcm16_256),
            _ => Err(CryptoError::UnsupportedEncr { id, key_bits }),
        }
    }

    pub const fn transform_id(self) -> u16 {
        ENCR_AES_GCM_16
    }

    pub const fn key_bits(self) -> u16 {
        match self {
            Self::AesGcm16_128 => 128,
            Self::AesGcm16_256 => 256,
        }
    }

    /// AES key length in bytes.
    pub const fn key_len(self) -> usize {
        self.key_bits() as usize / 8
    }

    /// Length of SK_ei / SK_er: AES key plus the 4-byte salt (RFC 5282 §7.1).
    pub const fn keymat_len(self) -> usize {
        self.key_len() + SALT_LEN
    }
}

#[derive(Clone)]
enum Cipher {
    // Boxed: the expanded key schedules are large. Both zeroize on drop (crate features).
    Aes128(Box<Aes128Gcm>),
    Aes256(Box<Aes256Gcm>),
}

/// One direction's SK_e key, ready to use. Zeroized on drop, redacted in `Debug`.
#[derive(Clone)]
pub struct SkKey {
    suite: SkSuite,
    cipher: Cipher,
    salt: Zeroizing<[u8; SALT_LEN]>,
    keymat: Secret,
}

impl fmt::Debug for SkKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SkKey({:?}, <redacted>)", self.suite)
    }
}

impl SkKey {
    /// From SK_ei or SK_er = AES key || salt.
    pub fn new(suite: SkSuite, keymat: &[u8]) -> Result<Self, CryptoError> {
        if keymat.len() != suite.keymat_len() {
            return Err(CryptoError::KeyLength {
                expected: suite.keymat_len(),
                got: keymat.len(),
            });
        }
        let (key, salt) = keymat.split_at(suite.key_len());
        let cipher = match suite {
            SkSuite::AesGcm16_128 => Cipher::Aes128(Box::new(
                Aes128Gcm::new_from_slice(key).map_err(|_| key_len_err(suite, key))?,
            )),
            SkSuite::AesGcm16_256 => Cipher::Aes256(Box::new(
                Aes256Gcm::new_from_slice(key).map_err(|_| key_len_err(suite, key))?,
            )),
        };
        let mut s = Zeroizing::new([0u8; SALT_LEN]);
        s.copy_from_slice(salt);
        Ok(Self {
            suite,
            cipher,
            salt: s,
            keymat: Secret::from_slice(keymat),
        })
    }

    pub fn suite(&self) -> SkSuite {
        self.suite
    }

    /// SK_e* as derived (key || salt), e.g. to compare with strongSwan's `Sk_ei secret` log.
    pub fn keymat(&self) -> &Secret {
        &self.keymat
    }

    fn nonce(&self, iv: &[u8]) -> [u8; 12] {
        let mut n = [0u8; 12];
        n[..SALT_LEN].copy_from_slice(&self.salt[..]);
        n[SALT_LEN..].copy_from_slice(iv);
        n
    }
}

fn key_len_err(suite: SkSuite, key: &[u8]) -> CryptoError {
    CryptoError::KeyLength {
        expected: suite.key_len(),
        got: key.len(),
    }
}

/// Length of the SK payload body (IV | ciphertext | ICV) for `plaintext_len` bytes of inner
/// payloads, with our zero-length padding. The codec writes `4 + sealed_len(..)` as the SK
/// payload length (and adds it to the IKE header length) before computing the AAD.
pub const fn sealed_len(plaintext_len: usize) -> usize {
    IV_LEN + plaintext_len + 1 + ICV_LEN
}

/// Encrypts `plaintext` (the inner payloads) with IV = `iv_counter` big-endian; returns the SK
/// payload body `IV | ciphertext | ICV`, exactly [`sealed_len`] bytes.
///
/// The caller guarantees `iv_counter` is never reused with `key` ([`SkSealer`] does that).
pub fn seal_sk(
    key: &SkKey,
    iv_counter: u64,
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    // Fuzzing seam (test builds and `--features fuzzing` only; see `null_suite`).
    #[cfg(any(test, feature = "fuzzing"))]
    if super::null_suite::active() {
        return Ok(super::null_suite::seal(iv_counter, plaintext));
    }
    let iv = iv_counter.to_be_bytes();
    let mut out = Vec::with_capacity(sealed_len(plaintext.len()));
    out.extend_from_slice(&iv);
    out.extend_from_slice(plaintext);
    out.push(0); // Pad Length: no padding needed with a block size of 1.
    let nonce_bytes = key.nonce(&iv);
    let nonce = Nonce::from_slice(&nonce_bytes);
    let body = &mut out[IV_LEN..];
    let tag = match &key.cipher {
        Cipher::Aes128(c) => c.encrypt_in_place_detached(nonce, aad, body),
        Cipher::Aes256(c) => c.encrypt_in_place_detached(nonce, aad, body),
    }
    .map_err(|_| CryptoError::TooLong)?;
    out.extend_from_slice(&tag);
    Ok(out)
}

/// Verifies and decrypts an SK payload body `IV | ciphertext | ICV`; returns the inner
/// payloads with the padding and Pad Length removed.
///
/// Any modification of the AAD, IV, ciphertext or ICV gives [`CryptoError::Integrity`]; the
/// caller drops the message silently (RFC 7296 §2.21.2 – no response to unauthenticated
/// input).
pub fn open_sk(key: &SkKey, aad: &[u8], iv_ct_icv: &[u8]) -> Result<Vec<u8>, CryptoError> {
    // Fuzzing seam (test builds and `--features fuzzing` only; see `null_suite`).
    #[cfg(any(test, feature = "fuzzing"))]
    if super::null_suite::active() {
        return super::null_suite::open(iv_ct_icv);
    }
    // The ciphertext holds at least the Pad Length octet.
    if iv_ct_icv.len() < IV_LEN + 1 + ICV_LEN {
        return Err(CryptoError::SkTruncated(iv_ct_icv.len()));
    }
    let (iv, rest) = iv_ct_icv.split_at(IV_LEN);
    let (ct, icv) = rest.split_at(rest.len() - ICV_LEN);
    let nonce_bytes = key.nonce(iv);
    let nonce = Nonce::from_slice(&nonce_bytes);
    let tag = Tag::from_slice(icv);
    let mut buf = ct.to_vec();
    match &key.cipher {
        Cipher::Aes128(c) => c.decrypt_in_place_detached(nonce, aad, &mut buf, tag),
        Cipher::Aes256(c) => c.decrypt_in_place_detached(nonce, aad, &mut buf, tag),
    }
    .map_err(|_| CryptoError::Integrity)?;
    strip_padding(buf)
}

/// Removes `Padding | Pad Length` (RFC 7296 §3.14); the padding content is not checked.
fn strip_padding(mut buf: Vec<u8>) -> Result<Vec<u8>, CryptoError> {
    let pad = usize::from(*buf.last().ok_or(CryptoError::SkTruncated(0))?);
    let len = buf.len();
    if pad + 1 > len {
        return Err(CryptoError::BadPadding { pad, len });
    }
    buf.truncate(len - pad - 1);
    Ok(buf)
}

/// The outbound SK key of one IKE SA direction and its IV counter, so an IV can never be
/// reused by mistake. IVs start at 0 and increase by one per sealed message or fragment.
#[derive(Debug, Clone)]
pub struct SkSealer {
    key: SkKey,
    next_iv: u64,
}

impl SkSealer {
    pub fn new(key: SkKey) -> Self {
        Self { key, next_iv: 0 }
    }

    /// The IV the next [`SkSealer::seal`] will use.
    pub fn next_iv(&self) -> u64 {
        self.next_iv
    }

    pub fn key(&self) -> &SkKey {
        &self.key
    }

    /// [`seal_sk`] with the next IV. After 2^64 - 1 messages it refuses
    /// ([`CryptoError::IvExhausted`]): the IKE SA must be rekeyed long before.
    pub fn seal(&mut self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let iv = self.next_iv;
        let next = iv.checked_add(1).ok_or(CryptoError::IvExhausted)?;
        let out = seal_sk(&self.key, iv, aad, plaintext)?;
        self.next_iv = next;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(suite: SkSuite) -> SkKey {
        let km: Vec<u8> = (0..suite.keymat_len() as u8).collect();
        SkKey::new(suite, &km).unwrap()
    }

    #[test]
    fn suite_from_transform() {
        assert_eq!(SkSuite::from_transform(20, 128), Ok(SkSuite::AesGcm16_128));
        assert_eq!(SkSuite::from_transform(20, 256), Ok(SkSuite::AesGcm16_256));
        assert!(SkSuite::from_transform(20, 192).is_err());
        assert!(SkSuite::from_transform(12, 256).is_err());
        assert_eq!(SkSuite::AesGcm16_128.keymat_len(), 20);
        assert_eq!(SkSuite::AesGcm16_256.keymat_len(), 36);
    }

    #[test]
    fn wrong_keymat_length_refused() {
        assert_eq!(
            SkKey::new(SkSuite::AesGcm16_256, &[0; 32]).unwrap_err(),
            CryptoError::KeyLength {
                expected: 36,
                got: 32
            }
        );
    }

    #[test]
    fn layout_iv_pad_icv() {
        let k = key(SkSuite::AesGcm16_128);
        let out = seal_sk(&k, 0x0102_0304_0506_0708, b"hdr", b"payloads").unwrap();
        assert_eq!(out.len(), sealed_len(8));
        assert_eq!(out.len(), 8 + 8 + 1 + 16);
        assert_eq!(&out[..8], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(open_sk(&k, b"hdr", &out).unwrap(), b"payloads");
    }

    #[test]
    fn sealer_counts_ivs() {
        let mut s = SkSealer::new(key(SkSuite::AesGcm16_256));
        let a = s.seal(b"a", b"x").unwrap();
        let b = s.seal(b"a", b"x").unwrap();
        assert_eq!(&a[..8], &0u64.to_be_bytes());
        assert_eq!(&b[..8], &1u64.to_be_bytes());
        assert_ne!(a[8..], b[8..]);
        assert_eq!(s.next_iv(), 2);
        s.next_iv = u64::MAX;
        assert_eq!(s.seal(b"a", b"x").unwrap_err(), CryptoError::IvExhausted);
        assert_eq!(s.next_iv(), u64::MAX);
    }

    #[test]
    fn padding_is_stripped_and_checked() {
        assert_eq!(
            strip_padding(vec![9, 9, 0xee, 0xee, 2]).unwrap(),
            vec![9, 9]
        );
        assert_eq!(strip_padding(vec![0]).unwrap(), Vec::<u8>::new());
        assert_eq!(
            strip_padding(vec![1, 2, 3]).unwrap_err(),
            CryptoError::BadPadding { pad: 3, len: 3 }
        );
    }

    #[test]
    fn too_short_input() {
        let k = key(SkSuite::AesGcm16_128);
        assert_eq!(
            open_sk(&k, b"", &[0; 24]).unwrap_err(),
            CryptoError::SkTruncated(24)
        );
    }

    #[test]
    fn debug_redacted() {
        assert_eq!(
            format!("{:?}", key(SkSuite::AesGcm16_128)),
            "SkKey(AesGcm16_128, <redacted>)"
        );
    }
}
