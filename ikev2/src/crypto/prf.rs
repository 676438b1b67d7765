//! The IKE SA pseudo-random function and prf+ (RFC 7296 §2.13).
//!
//! prf+ is computed THROUGH the `hkdf` crate, because with an HMAC PRF the two are the same
//! construction (RFC 5869 §2.3 vs RFC 7296 §2.13):
//!
//! ```text
//! HKDF-Expand(PRK, info, L):  T(0) = "",  T(i) = HMAC(PRK, T(i-1) | info | i)
//! prf+(K, S):                 T1 = prf(K, S | 0x01),  Tn = prf(K, T(n-1) | S | n)
//! ```
//!
//! i.e. `prf+(K, S) = HKDF-Expand(PRK = K, info = S)`, with the same 255-block limit (the
//! counter is one octet in both). Likewise `SKEYSEED = prf(Ni | Nr, g^ir)` is
//! `HKDF-Extract(salt = Ni | Nr, IKM = g^ir)`, which is `HMAC(salt, IKM)`.
//!
//! One wrinkle: `Hkdf::from_prk` refuses a PRK shorter than the hash output, while prf+ takes
//! any key. That happens when an IKE SA rekey changes the PRF (SKEYSEED comes from the *old*
//! PRF, e.g. 32 bytes from SHA2-256, and keys the *new* one, e.g. SHA2-384). HMAC pads every
//! key shorter than the block size with zeros (RFC 2104 §2), so such a key is zero-extended to
//! the hash length first: the HMAC key block, and hence every output, is unchanged. The tests
//! compare against a direct HMAC implementation of the RFC 7296 loop ([`prf_plus_reference`]).

use hkdf::Hkdf;
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::{Sha256, Sha384};
use zeroize::{Zeroize, Zeroizing};

use super::{CryptoError, Secret};

/// A PRF transform (type 2) of the IKE SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Prf {
    /// PRF_HMAC_SHA2_256 (5), RFC 4868.
    HmacSha256,
    /// PRF_HMAC_SHA2_384 (6), RFC 4868.
    HmacSha384,
}

impl Prf {
    pub const HMAC_SHA2_256_ID: u16 = 5;
    pub const HMAC_SHA2_384_ID: u16 = 6;

    pub fn from_id(id: u16) -> Result<Self, CryptoError> {
        match id {
            Self::HMAC_SHA2_256_ID => Ok(Self::HmacSha256),
            Self::HMAC_SHA2_384_ID => Ok(Self::HmacSha384),
            other => Err(CryptoError::UnsupportedPrf(other)),
        }
    }

    pub const fn id(self) -> u16 {
        match self {
            Self::HmacSha256 => Self::HMAC_SHA2_256_ID,
            Self::HmacSha384 => Self::HMAC_SHA2_384_ID,
        }
    }

    /// Output length of the PRF.
    pub const fn output_len(self) -> usize {
        match self {
            Self::HmacSha256 => 32,
            Self::HmacSha384 => 48,
        }
    }

    /// The "preferred key length" that sizes SK_d, SK_pi and SK_pr: for HMAC PRFs the output
    /// length (RFC 4868 §2.2, RFC 7296 §2.14).
    pub const fn key_len(self) -> usize {
        self.output_len()
    }

    /// The most prf+ can produce: 255 blocks (RFC 7296 §2.13; RFC 5869 §2.3 has the same
    /// bound for HKDF-Expand).
    pub const fn max_prf_plus_len(self) -> usize {
        255 * self.output_len()
    }

    /// `prf(key, data[0] | data[1] | ...)`.
    pub fn prf(self, key: &[u8], data: &[&[u8]]) -> Secret {
        match self {
            Self::HmacSha256 => Secret::from_slice(&hmac_parts::<Hmac<Sha256>>(key, data)),
            Self::HmacSha384 => Secret::from_slice(&hmac_parts::<Hmac<Sha384>>(key, data)),
        }
    }

    /// Constant-time check that `prf(key, data) == expected` (AUTH verification).
    pub fn verify(self, key: &[u8], data: &[&[u8]], expected: &[u8]) -> bool {
        match self {
            Self::HmacSha256 => hmac_verify::<Hmac<Sha256>>(key, data, expected),
            Self::HmacSha384 => hmac_verify::<Hmac<Sha384>>(key, data, expected),
        }
    }

    /// `SKEYSEED = prf(Ni | Nr, g^ir)` (RFC 7296 §2.14) as HKDF-Extract(salt = Ni | Nr,
    /// IKM = g^ir). Nonces are the Nonce Data only; g^ir the raw X25519 output.
    pub fn skeyseed(self, ni: &[u8], nr: &[u8], g_ir: &Secret) -> Secret {
        let salt = [ni, nr].concat();
        match self {
            Self::HmacSha256 => {
                let (mut prk, _) = Hkdf::<Sha256>::extract(Some(&salt), g_ir.expose());
                let s = Secret::from_slice(&prk);
                prk.as_mut_slice().zeroize();
                s
            }
            Self::HmacSha384 => {
                let (mut prk, _) = Hkdf::<Sha384>::extract(Some(&salt), g_ir.expose());
                let s = Secret::from_slice(&prk);
                prk.as_mut_slice().zeroize();
                s
            }
        }
    }

    /// `prf+(key, seed[0] | seed[1] | ...)` truncated to `len` bytes, as HKDF-Expand with the key
    /// as PRK (see the module documentation). The seed is passed in parts so a secret part
    /// (g^ir for PFS) is never copied into a temporary buffer.
    pub fn prf_plus(self, key: &[u8], seed: &[&[u8]], len: usize) -> Result<Secret, CryptoError> {
        let max = self.max_prf_plus_len();
        if len > max {
            return Err(CryptoError::OutputTooLong {
                requested: len,
                max,
            });
        }
        // Zero-extend short keys: HMAC would pad them to the block size anyway (RFC 2104 §2).
        let mut prk = Zeroizing::new(key.to_vec());
        if prk.len() < self.output_len() {
            prk.resize(self.output_len(), 0);
        }
        let mut out = Zeroizing::new(vec![0u8; len]);
        let expanded =
            match self {
                Self::HmacSha256 => Hkdf::<Sha256>::from_prk(&prk)
                    .map(|h| h.expand_multi_info(seed, &mut out).is_ok()),
                Self::HmacSha384 => Hkdf::<Sha384>::from_prk(&prk)
                    .map(|h| h.expand_multi_info(seed, &mut out).is_ok()),
            };
        match expanded {
            Ok(true) => Ok(Secret::new(std::mem::take(&mut *out))),
            // Unreachable: the PRK is at least the hash length and `len` was checked above.
            _ => Err(CryptoError::OutputTooLong {
                requested: len,
                max,
            }),
        }
    }
}

/// prf+ computed literally as RFC 7296 §2.13 writes it, with HMAC and no HKDF. This is the
/// test oracle that shows [`Prf::prf_plus`] (HKDF-Expand) is the same function; the engine
/// never calls it.
#[doc(hidden)]
pub fn prf_plus_reference(prf: Prf, key: &[u8], seed: &[u8], len: usize) -> Option<Vec<u8>> {
    if len > prf.max_prf_plus_len() {
        return None;
    }
    let mut out = Vec::with_capacity(len + prf.output_len());
    let mut t = Secret::default();
    let mut n: u8 = 1;
    while out.len() < len {
        t = prf.prf(key, &[t.expose(), seed, &[n]]);
        out.extend_from_slice(t.expose());
        n = n.wrapping_add(1);
    }
    out.truncate(len);
    Some(out)
}

fn hmac_parts<M: Mac + KeyInit>(key: &[u8], data: &[&[u8]]) -> Zeroizing<Vec<u8>> {
    let mut m = <M as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length");
    for d in data {
        m.update(d);
    }
    Zeroizing::new(m.finalize().into_bytes().to_vec())
}

fn hmac_verify<M: Mac + KeyInit>(key: &[u8], data: &[&[u8]], expected: &[u8]) -> bool {
    let mut m = <M as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length");
    for d in data {
        m.update(d);
    }
    m.verify_slice(expected).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_lengths() {
        assert_eq!(Prf::from_id(5), Ok(Prf::HmacSha256));
        assert_eq!(Prf::from_id(6), Ok(Prf::HmacSha384));
        assert_eq!(Prf::from_id(2), Err(CryptoError::UnsupportedPrf(2)));
        assert_eq!(Prf::HmacSha384.key_len(), 48);
        assert_eq!(Prf::HmacSha256.max_prf_plus_len(), 8160);
    }

    #[test]
    fn prf_plus_equals_rfc7296_loop_for_various_keys_and_lengths() {
        for prf in [Prf::HmacSha256, Prf::HmacSha384] {
            // Short (rekey with a PRF change), exact, between hash and block size, and longer
            // than the block size (HMAC hashes it).
            for key_len in [1usize, 20, 32, 48, 64, 100, 200] {
                let key: Vec<u8> = (0..key_len).map(|i| i as u8 ^ 0x5a).collect();
                for len in [0usize, 1, 31, 32, 33, 168, 1000, prf.max_prf_plus_len()] {
                    let seed = b"Ni | Nr | SPIi | SPIr";
                    let via_hkdf = prf.prf_plus(&key, &[seed], len).unwrap();
                    let direct = prf_plus_reference(prf, &key, seed, len).unwrap();
                    assert_eq!(
                        via_hkdf.expose(),
                        &direct[..],
                        "{prf:?} key {key_len} len {len}"
                    );
                }
            }
        }
    }

    #[test]
    fn seed_parts_are_concatenated() {
        let p = Prf::HmacSha256;
        let a = p.prf_plus(&[1; 32], &[b"ab", b"", b"cd"], 70).unwrap();
        let b = p.prf_plus(&[1; 32], &[b"abcd"], 70).unwrap();
        assert_eq!(a.expose(), b.expose());
    }

    #[test]
    fn prf_plus_limit_is_255_blocks() {
        let p = Prf::HmacSha256;
        assert!(p.prf_plus(&[0; 32], &[b"s"], 255 * 32).is_ok());
        assert_eq!(
            p.prf_plus(&[0; 32], &[b"s"], 255 * 32 + 1).unwrap_err(),
            CryptoError::OutputTooLong {
                requested: 8161,
                max: 8160
            }
        );
        assert_eq!(prf_plus_reference(p, &[0; 32], b"s", 8161), None);
    }

    #[test]
    fn skeyseed_equals_prf_of_nonces() {
        let g = Secret::from_slice(&[7; 32]);
        for p in [Prf::HmacSha256, Prf::HmacSha384] {
            let via_extract = p.skeyseed(&[1; 32], &[2; 16], &g);
            let direct = p.prf(&[[1u8; 32].as_slice(), &[2; 16]].concat(), &[g.expose()]);
            assert_eq!(via_extract.expose(), direct.expose());
            assert_eq!(via_extract.len(), p.output_len());
        }
    }

    #[test]
    fn verify_is_exact() {
        let p = Prf::HmacSha256;
        let mac = p.prf(b"k", &[b"data"]);
        assert!(p.verify(b"k", &[b"da", b"ta"], mac.expose()));
        let mut bad = mac.expose().to_vec();
        bad[31] ^= 1;
        assert!(!p.verify(b"k", &[b"data"], &bad));
        assert!(!p.verify(b"k", &[b"data"], &mac.expose()[..31]));
    }
}
