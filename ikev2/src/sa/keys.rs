//! Thin adapter between the state machines and the crypto suite: D-H, SKEYSEED and the SK_*
//! keys, KEYMAT, SK payload sealing, AUTH octets. The state machines only call this module,
//! so switching the implementation to `crate::crypto` touches nothing else.
//!
//! Everything here uses the project's chosen crates (x25519-dalek, hkdf/hmac/sha2, aes-gcm);
//! no primitive is written by hand. IKEv2's prf+ with an HMAC PRF is HKDF-Expand, and
//! SKEYSEED = prf(Ni | Nr, g^ir) is HKDF-Extract with salt Ni | Nr (DESIGN.md).

use std::fmt;

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes128Gcm, Aes256Gcm, Nonce, Tag};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::{Sha256, Sha384};
use zeroize::Zeroizing;

/// Secret bytes, zeroized on drop and redacted in Debug.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    pub fn new(b: Vec<u8>) -> Self {
        Self(Zeroizing::new(b))
    }
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} secret bytes>", self.0.len())
    }
}

/// Crypto failures the state machines react to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("unsupported PRF {0}")]
    UnsupportedPrf(u16),
    #[error("unsupported D-H group {0}")]
    UnsupportedGroup(u16),
    #[error("bad D-H public value")]
    BadPublicValue,
    #[error("all-zero D-H shared secret (RFC 7748 §6)")]
    ZeroSharedSecret,
    #[error("integrity check failed")]
    Integrity,
    #[error("key derivation length out of range")]
    Length,
}

/// An ephemeral X25519 key pair (group 31, RFC 8031).
pub struct DhKey {
    secret: x25519_dalek::StaticSecret,
    group: u16,
}

impl fmt::Debug for DhKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DhKey(group {}, <private>)", self.group)
    }
}

impl DhKey {
    /// From 32 random bytes (drawn from the engine RNG so tests are deterministic).
    pub fn new(group: u16, private: [u8; 32]) -> Result<Self, KeyError> {
        if group != 31 {
            return Err(KeyError::UnsupportedGroup(group));
        }
        Ok(Self {
            secret: x25519_dalek::StaticSecret::from(private),
            group,
        })
    }

    pub fn group(&self) -> u16 {
        self.group
    }

    /// The KE payload data: 32-byte little-endian public value.
    pub fn public(&self) -> Vec<u8> {
        x25519_dalek::PublicKey::from(&self.secret)
            .as_bytes()
            .to_vec()
    }

    /// g^ir; refuses an all-zero result (small-order peer value).
    pub fn shared(&self, peer: &[u8]) -> Result<Secret, KeyError> {
        let p: [u8; 32] = peer.try_into().map_err(|_| KeyError::BadPublicValue)?;
        let s = self
            .secret
            .diffie_hellman(&x25519_dalek::PublicKey::from(p));
        if !s.was_contributory() {
            return Err(KeyError::ZeroSharedSecret);
        }
        Ok(Secret::new(s.as_bytes().to_vec()))
    }
}

/// The PRF of an IKE SA (transform type 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prf {
    HmacSha256,
    HmacSha384,
}

impl Prf {
    pub fn from_id(id: u16) -> Result<Self, KeyError> {
        match id {
            5 => Ok(Prf::HmacSha256),
            6 => Ok(Prf::HmacSha384),
            other => Err(KeyError::UnsupportedPrf(other)),
        }
    }

    /// Preferred key length = output length for HMAC PRFs (RFC 7296 §2.13).
    pub fn key_len(self) -> usize {
        match self {
            Prf::HmacSha256 => 32,
            Prf::HmacSha384 => 48,
        }
    }

    /// prf(key, data).
    pub fn prf(self, key: &[u8], data: &[&[u8]]) -> Vec<u8> {
        match self {
            Prf::HmacSha256 => {
                let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("any key size");
                data.iter().for_each(|d| m.update(d));
                m.finalize().into_bytes().to_vec()
            }
            Prf::HmacSha384 => {
                let mut m = <Hmac<Sha384> as Mac>::new_from_slice(key).expect("any key size");
                data.iter().for_each(|d| m.update(d));
                m.finalize().into_bytes().to_vec()
            }
        }
    }

    /// prf+(key, seed) truncated to `len` (RFC 7296 §2.13) = HKDF-Expand(PRK = key).
    /// Keys shorter than the hash length go through HMAC directly (HKDF refuses them).
    pub fn prf_plus(self, key: &[u8], seed: &[u8], len: usize) -> Result<Secret, KeyError> {
        if len > 255 * self.key_len() {
            return Err(KeyError::Length);
        }
        let mut out = Zeroizing::new(vec![0u8; len]);
        let ok = match self {
            Prf::HmacSha256 => Hkdf::<Sha256>::from_prk(key)
                .ok()
                .map(|h| h.expand(seed, &mut out).is_ok()),
            Prf::HmacSha384 => Hkdf::<Sha384>::from_prk(key)
                .ok()
                .map(|h| h.expand(seed, &mut out).is_ok()),
        };
        match ok {
            Some(true) => Ok(Secret(out)),
            Some(false) => Err(KeyError::Length),
            None => Ok(Secret(self.prf_plus_short_key(key, seed, len))),
        }
    }

    /// The RFC 7296 §2.13 loop, for keys shorter than the hash output (PSK-derived keys).
    fn prf_plus_short_key(self, key: &[u8], seed: &[u8], len: usize) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(len + self.key_len()));
        let mut t: Vec<u8> = Vec::new();
        let mut n: u8 = 1;
        while out.len() < len {
            t = self.prf(key, &[&t, seed, &[n]]);
            out.extend_from_slice(&t);
            n = n.wrapping_add(1);
        }
        out.truncate(len);
        out
    }
}

/// The seven IKE SA keys (RFC 7296 §2.14) and the suite they belong to. AEAD, so SK_ai/SK_ar
/// are empty and not stored.
#[derive(Debug, Clone)]
pub struct IkeKeys {
    pub prf: Prf,
    /// AES key length in bytes (16 or 32); SK_e* carry 4 more salt bytes.
    pub encr_key_len: usize,
    pub sk_d: Secret,
    pub sk_ei: Secret,
    pub sk_er: Secret,
    pub sk_pi: Secret,
    pub sk_pr: Secret,
}

impl IkeKeys {
    /// `{SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} = prf+(SKEYSEED, Ni | Nr | SPIi |
    /// SPIr)` with `SKEYSEED` given (RFC 7296 §2.14).
    fn from_skeyseed(
        prf: Prf,
        encr_key_len: usize,
        skeyseed: &[u8],
        ni: &[u8],
        nr: &[u8],
        spi_i: u64,
        spi_r: u64,
    ) -> Result<Self, KeyError> {
        let pl = prf.key_len();
        let el = encr_key_len + 4;
        let seed = [ni, nr, &spi_i.to_be_bytes(), &spi_r.to_be_bytes()].concat();
        let km = prf.prf_plus(skeyseed, &seed, 3 * pl + 2 * el)?;
        let k = km.bytes();
        let cut = |a: usize, n: usize| Secret::new(k[a..a + n].to_vec());
        Ok(Self {
            prf,
            encr_key_len,
            sk_d: cut(0, pl),
            sk_ei: cut(pl, el),
            sk_er: cut(pl + el, el),
            sk_pi: cut(pl + 2 * el, pl),
            sk_pr: cut(2 * pl + 2 * el, pl),
        })
    }

    /// Keys of a new IKE SA: `SKEYSEED = prf(Ni | Nr, g^ir)`.
    pub fn derive(
        prf: Prf,
        encr_key_len: usize,
        g_ir: &Secret,
        ni: &[u8],
        nr: &[u8],
        spi_i: u64,
        spi_r: u64,
    ) -> Result<Self, KeyError> {
        let skeyseed = Secret::new(prf.prf(&[ni, nr].concat(), &[g_ir.bytes()]));
        Self::from_skeyseed(prf, encr_key_len, skeyseed.bytes(), ni, nr, spi_i, spi_r)
    }

    /// Keys of a rekeyed IKE SA: `SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr)` with the
    /// old PRF, then the new PRF and SPIs (RFC 7296 §2.18).
    #[allow(clippy::too_many_arguments)]
    pub fn derive_rekey(
        old: &IkeKeys,
        prf: Prf,
        encr_key_len: usize,
        g_ir: &Secret,
        ni: &[u8],
        nr: &[u8],
        spi_i: u64,
        spi_r: u64,
    ) -> Result<Self, KeyError> {
        let skeyseed = Secret::new(old.prf.prf(old.sk_d.bytes(), &[g_ir.bytes(), ni, nr]));
        Self::from_skeyseed(prf, encr_key_len, skeyseed.bytes(), ni, nr, spi_i, spi_r)
    }

    /// `KEYMAT = prf+(SK_d, [g^ir (new) |] Ni | Nr)` (RFC 7296 §2.17).
    pub fn child_keymat(
        &self,
        g_ir: Option<&Secret>,
        ni: &[u8],
        nr: &[u8],
        len: usize,
    ) -> Result<Secret, KeyError> {
        let seed = [g_ir.map_or(&[][..], Secret::bytes), ni, nr].concat();
        self.prf.prf_plus(self.sk_d.bytes(), &seed, len)
    }

    /// The SK_e key for messages sent by the original initiator (`from_initiator`) or not.
    fn sk_e(&self, from_initiator: bool) -> &Secret {
        if from_initiator {
            &self.sk_ei
        } else {
            &self.sk_er
        }
    }

    /// AES-GCM-16 seal (RFC 5282): nonce = salt(4) || iv(8); returns ciphertext || ICV(16).
    pub fn seal(&self, from_initiator: bool, iv: [u8; 8], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let k = self.sk_e(from_initiator).bytes();
        let (key, salt) = k.split_at(self.encr_key_len);
        let nonce_bytes = [salt, &iv[..]].concat();
        let nonce = Nonce::from_slice(&nonce_bytes);
        let mut buf = plaintext.to_vec();
        let tag = match key.len() {
            16 => Aes128Gcm::new_from_slice(key)
                .expect("16-byte key")
                .encrypt_in_place_detached(nonce, aad, &mut buf),
            _ => Aes256Gcm::new_from_slice(key)
                .expect("32-byte key")
                .encrypt_in_place_detached(nonce, aad, &mut buf),
        }
        .expect("GCM input within limits");
        buf.extend_from_slice(&tag);
        buf
    }

    /// AES-GCM-16 open of `ciphertext || ICV(16)`.
    pub fn open(
        &self,
        from_initiator: bool,
        iv: &[u8],
        aad: &[u8],
        ct_and_tag: &[u8],
    ) -> Result<Vec<u8>, KeyError> {
        if iv.len() != 8 || ct_and_tag.len() < 16 {
            return Err(KeyError::Integrity);
        }
        let k = self.sk_e(from_initiator).bytes();
        let (key, salt) = k.split_at(self.encr_key_len);
        let nonce_bytes = [salt, iv].concat();
        let nonce = Nonce::from_slice(&nonce_bytes);
        let (ct, tag) = ct_and_tag.split_at(ct_and_tag.len() - 16);
        let mut buf = ct.to_vec();
        let tag = Tag::from_slice(tag);
        let r = match key.len() {
            16 => Aes128Gcm::new_from_slice(key)
                .expect("16-byte key")
                .decrypt_in_place_detached(nonce, aad, &mut buf, tag),
            _ => Aes256Gcm::new_from_slice(key)
                .expect("32-byte key")
                .decrypt_in_place_detached(nonce, aad, &mut buf, tag),
        };
        r.map_err(|_| KeyError::Integrity)?;
        Ok(buf)
    }

    /// `prf(SK_px, IDx')` for the AUTH octets of the side that is (`initiator`) or is not the
    /// original initiator.
    pub fn id_mac(&self, initiator: bool, id_body: &[u8]) -> Vec<u8> {
        let k = if initiator { &self.sk_pi } else { &self.sk_pr };
        self.prf.prf(k.bytes(), &[id_body])
    }

    /// PSK AUTH data: `prf(prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets>)`
    /// (RFC 7296 §2.15).
    pub fn psk_auth(&self, psk: &[u8], signed_octets: &[u8]) -> Vec<u8> {
        let pad = Secret::new(self.prf.prf(psk, &[b"Key Pad for IKEv2"]));
        self.prf.prf(pad.bytes(), &[signed_octets])
    }
}

/// `RealMessage | Nonce(peer) | prf(SK_p, ID')` (RFC 7296 §2.15).
pub fn signed_octets(real_message: &[u8], peer_nonce: &[u8], id_mac: &[u8]) -> Vec<u8> {
    [real_message, peer_nonce, id_mac].concat()
}

/// Constant-time equality for MACs.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn x25519_rfc8031_appendix_a() {
        // RFC 8031 Appendix A / RFC 7748 §6.1 values.
        let a_priv: [u8; 32] =
            unhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
                .try_into()
                .unwrap();
        let b_pub = unhex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
        let a = DhKey::new(31, a_priv).unwrap();
        assert_eq!(
            a.public(),
            unhex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
        );
        assert_eq!(
            a.shared(&b_pub).unwrap().bytes(),
            unhex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")
        );
        assert_eq!(a.shared(&[0u8; 32]), Err(KeyError::ZeroSharedSecret));
        assert!(DhKey::new(14, a_priv).is_err());
    }

    #[test]
    fn prf_plus_equals_rfc7296_loop() {
        let key = [7u8; 32];
        let seed = b"seed bytes";
        let prf = Prf::HmacSha256;
        let hk = prf.prf_plus(&key, seed, 100).unwrap();
        assert_eq!(hk.bytes(), &prf.prf_plus_short_key(&key, seed, 100)[..]);
        // T1 = prf(K, S | 0x01)
        assert_eq!(&hk.bytes()[..32], &prf.prf(&key, &[seed, &[1]])[..]);
        // Short key path works too.
        assert_eq!(prf.prf_plus(b"short", seed, 40).unwrap().bytes().len(), 40);
    }

    #[test]
    fn key_sizes_and_seal_open() {
        let g = Secret::new(vec![9; 32]);
        let k = IkeKeys::derive(Prf::HmacSha256, 32, &g, &[1; 32], &[2; 32], 1, 2).unwrap();
        assert_eq!(k.sk_d.bytes().len(), 32);
        assert_eq!(k.sk_ei.bytes().len(), 36);
        assert_eq!(k.sk_pr.bytes().len(), 32);
        assert_ne!(k.sk_ei, k.sk_er);
        let ct = k.seal(true, [0, 0, 0, 0, 0, 0, 0, 1], b"aad", b"hello");
        assert_eq!(ct.len(), 5 + 16);
        assert_eq!(
            k.open(true, &[0, 0, 0, 0, 0, 0, 0, 1], b"aad", &ct)
                .unwrap(),
            b"hello"
        );
        assert_eq!(
            k.open(false, &[0, 0, 0, 0, 0, 0, 0, 1], b"aad", &ct),
            Err(KeyError::Integrity)
        );
        assert_eq!(
            k.open(true, &[0, 0, 0, 0, 0, 0, 0, 1], b"aaD", &ct),
            Err(KeyError::Integrity)
        );
    }
}
