//! Thin adapter between the state machines and [`crate::crypto`]: ephemeral D-H keys drawn
//! from the engine RNG, IKE SA key derivation from negotiated transform IDs, KEYMAT, SK
//! payload sealing with the per-SA IV counter, and the AUTH octets. The state machines call
//! only this module, so the crypto API can evolve behind it.

use std::fmt;

use crate::crypto::{self, CryptoError, DhGroup, DhPrivate, SkSuite};

pub use crate::crypto::{IkeSaKeys as IkeKeys, Prf, Secret};

/// ENCR_AES_GCM_16, the only SK cipher (DESIGN.md "IKE SA").
const ENCR_AES_GCM_16: u16 = 20;

/// An ephemeral D-H key pair (group 31, RFC 8031) made from engine-RNG bytes, so tests are
/// deterministic.
pub struct DhKey(DhPrivate);

impl fmt::Debug for DhKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DhKey(group {}, <private>)", self.group())
    }
}

impl DhKey {
    pub fn new(group: u16, private: [u8; 32]) -> Result<Self, CryptoError> {
        let g = DhGroup::from_id(group)?;
        DhPrivate::from_bytes(g, &private).map(Self)
    }

    pub fn group(&self) -> u16 {
        self.0.group().id()
    }

    /// The KE payload data.
    pub fn public(&self) -> Vec<u8> {
        self.0.public_value()
    }

    /// g^ir; an all-zero result (small-order peer value) is refused.
    pub fn shared(&self, peer: &[u8]) -> Result<Secret, CryptoError> {
        self.0.shared_secret(peer)
    }
}

/// Keys of a new IKE SA after IKE_SA_INIT (RFC 7296 §2.14).
pub fn derive_ike(
    prf_id: u16,
    encr_key_bits: u16,
    g_ir: &Secret,
    nonces: (&[u8], &[u8]),
    spis: (u64, u64),
) -> Result<IkeKeys, CryptoError> {
    let prf = Prf::from_id(prf_id)?;
    let suite = SkSuite::from_transform(ENCR_AES_GCM_16, encr_key_bits)?;
    IkeKeys::derive(prf, suite, g_ir, nonces.0, nonces.1, spis.0, spis.1)
}

/// Keys of the IKE SA replacing `old` (RFC 7296 §2.18: old PRF for SKEYSEED, new for the rest).
pub fn derive_rekey(
    old: &IkeKeys,
    prf_id: u16,
    encr_key_bits: u16,
    g_ir: &Secret,
    nonces: (&[u8], &[u8]),
    spis: (u64, u64),
) -> Result<IkeKeys, CryptoError> {
    let prf = Prf::from_id(prf_id)?;
    let suite = SkSuite::from_transform(ENCR_AES_GCM_16, encr_key_bits)?;
    old.derive_rekey(prf, suite, g_ir, nonces.0, nonces.1, spis.0, spis.1)
}

/// `KEYMAT = prf+(SK_d, [g^ir (new) |] Ni | Nr)` (RFC 7296 §2.17), `len` bytes.
pub fn child_keymat(
    keys: &IkeKeys,
    g_ir: Option<&Secret>,
    ni: &[u8],
    nr: &[u8],
    len: usize,
) -> Result<Secret, CryptoError> {
    let g = g_ir.map_or(&[][..], Secret::expose);
    keys.prf().prf_plus(keys.sk_d().expose(), &[g, ni, nr], len)
}

/// SK payload body length (`IV | ciphertext | Pad Length | ICV`) for `inner_len` bytes.
pub fn sealed_len(inner_len: usize) -> usize {
    crypto::sk::sealed_len(inner_len)
}

/// Seals the inner payloads of a message sent by the original initiator (`from_initiator`)
/// or responder, with explicit IV `iv` (never reused under one key: the SA counts).
pub fn seal(
    keys: &IkeKeys,
    from_initiator: bool,
    iv: u64,
    aad: &[u8],
    inner: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    crypto::seal_sk(keys.outbound(from_initiator), iv, aad, inner)
}

/// Opens an SK payload body sent by the original initiator (`from_initiator`) or responder;
/// returns the inner payloads without padding.
pub fn open(
    keys: &IkeKeys,
    from_initiator: bool,
    aad: &[u8],
    body: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    crypto::open_sk(keys.outbound(from_initiator), aad, body)
}

/// `RealMessage | Nonce(peer) | prf(SK_px, IDx')` for the side that is (`initiator`) or is
/// not the original initiator (RFC 7296 §2.15).
pub fn signed_octets(
    keys: &IkeKeys,
    initiator: bool,
    real_message: &[u8],
    peer_nonce: &[u8],
    id_body: &[u8],
) -> Vec<u8> {
    let sk_p = if initiator {
        keys.sk_pi()
    } else {
        keys.sk_pr()
    };
    crypto::auth::signed_octets(keys.prf(), sk_p, real_message, peer_nonce, id_body)
}

/// PSK AUTH data (RFC 7296 §2.15).
pub fn psk_auth(keys: &IkeKeys, psk: &[u8], octets: &[u8]) -> Vec<u8> {
    crypto::auth::psk_auth(keys.prf(), psk, octets)
}

/// Constant-time check of received PSK AUTH data.
pub fn verify_psk_auth(keys: &IkeKeys, psk: &[u8], octets: &[u8], received: &[u8]) -> bool {
    crypto::auth::verify_psk_auth(keys.prf(), psk, octets, received).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adapter_round_trip_and_direction() {
        let a = DhKey::new(31, [1; 32]).unwrap();
        let b = DhKey::new(31, [2; 32]).unwrap();
        let g = a.shared(&b.public()).unwrap();
        assert_eq!(g.expose(), b.shared(&a.public()).unwrap().expose());
        assert!(DhKey::new(14, [1; 32]).is_err());
        let k = derive_ike(5, 256, &g, (&[1; 32], &[2; 32]), (1, 2)).unwrap();
        assert_eq!(k.sk_d().expose().len(), 32);
        let body = seal(&k, true, 7, b"aad", b"inner").unwrap();
        assert_eq!(body.len(), sealed_len(5));
        assert_eq!(open(&k, true, b"aad", &body).unwrap(), b"inner");
        assert_eq!(open(&k, false, b"aad", &body), Err(CryptoError::Integrity));
        let km = child_keymat(&k, None, &[3; 32], &[4; 32], 72).unwrap();
        let pfs = child_keymat(&k, Some(&g), &[3; 32], &[4; 32], 72).unwrap();
        assert_ne!(km.expose(), pfs.expose());
        let octets = signed_octets(&k, true, b"msg", b"nonce", b"\x02\0\0\0id");
        let mac = psk_auth(&k, b"psk", &octets);
        assert!(verify_psk_auth(&k, b"psk", &octets, &mac));
        assert!(!verify_psk_auth(&k, b"psK", &octets, &mac));
    }
}
