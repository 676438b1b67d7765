//! RFC 7427 "Digital Signature" AUTH data (method 14):
//! `ASN.1 Length (1) | AlgorithmIdentifier DER | Signature`.
//!
//! Ed25519 is pure (hash "Identity", RFC 8420) and may only be used if the peer listed
//! Identity (5) in SIGNATURE_HASH_ALGORITHMS; ecdsa-with-SHA256 needs SHA2-256 (2), and its
//! signature is the DER `Ecdsa-Sig-Value` (strongSwan SIGN_ECDSA_WITH_SHA256_DER).
//! Encoding, AlgorithmIdentifier parsing and verification are `crate::crypto`'s; this module
//! maps them onto the engine's abstract [`LocalSigner`] and [`PeerPublicKey`].

use crate::config::{AuthError, LocalSigner, PeerPublicKey, SignatureAlgorithm};
use crate::crypto::auth::encode_signature_auth;
use crate::crypto::{CryptoError, SignatureHash, SignatureScheme, Signer, Verifier};
use crate::wire::HashAlgorithm;

fn scheme(a: SignatureAlgorithm) -> SignatureScheme {
    match a {
        SignatureAlgorithm::Ed25519 => SignatureScheme::Ed25519,
        SignatureAlgorithm::EcdsaP256Sha256 => SignatureScheme::EcdsaP256Sha256,
    }
}

/// Signs `octets` and wraps the signature as RFC 7427 AUTH data, provided the peer announced
/// the hash our scheme needs (RFC 7427 §4; Ed25519 needs Identity, RFC 8420).
pub fn auth_data(
    signer: &dyn LocalSigner,
    peer_hashes: &[HashAlgorithm],
    octets: &[u8],
) -> Result<Vec<u8>, AuthError> {
    let s = scheme(signer.algorithm());
    let hashes: Vec<SignatureHash> = peer_hashes.iter().map(|h| SignatureHash(h.0)).collect();
    s.check_peer_hashes(&hashes)
        .map_err(|_| AuthError::NoCommonHash)?;
    Ok(encode_signature_auth(s, &signer.sign(octets)?))
}

/// Checks RFC 7427 AUTH data against the validated peer key.
pub fn verify_auth_data(key: &PeerPublicKey, data: &[u8], octets: &[u8]) -> Result<(), AuthError> {
    let (s, raw): (SignatureScheme, &[u8]) = match key {
        PeerPublicKey::Ed25519(k) => (SignatureScheme::Ed25519, k),
        PeerPublicKey::EcdsaP256(k) => (SignatureScheme::EcdsaP256Sha256, k),
    };
    let v = Verifier::from_raw(s, raw).map_err(|_| AuthError::BadAuth)?;
    v.verify_auth_data(data, octets).map_err(|e| match e {
        CryptoError::SchemeMismatch { .. } | CryptoError::UnsupportedSignatureAlgorithm => {
            AuthError::WrongMethod("signature algorithm does not match the key")
        }
        _ => AuthError::BadAuth,
    })
}

/// The crypto module's key type is a [`LocalSigner`] as is.
impl LocalSigner for Signer {
    fn algorithm(&self) -> SignatureAlgorithm {
        match self.scheme() {
            SignatureScheme::Ed25519 => SignatureAlgorithm::Ed25519,
            SignatureScheme::EcdsaP256Sha256 => SignatureAlgorithm::EcdsaP256Sha256,
        }
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, AuthError> {
        Signer::sign(self, message).map_err(|e| AuthError::Signing(e.to_string()))
    }
}

/// The public key of a signer, as the peer's [`crate::config::PeerAuthenticator`] would
/// return it (for tests and for raw-key setups).
pub fn public_key(signer: &Signer) -> PeerPublicKey {
    let raw = signer.verifier().raw();
    match signer.scheme() {
        SignatureScheme::Ed25519 => {
            let mut k = [0u8; 32];
            k.copy_from_slice(&raw[..32.min(raw.len())]);
            PeerPublicKey::Ed25519(k)
        }
        SignatureScheme::EcdsaP256Sha256 => PeerPublicKey::EcdsaP256(raw),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ecdsa_signer(scalar: [u8; 32]) -> Signer {
        use p256::pkcs8::EncodePrivateKey;
        let sk = p256::SecretKey::from_slice(&scalar).unwrap();
        Signer::from_pkcs8_der(sk.to_pkcs8_der().unwrap().as_bytes()).unwrap()
    }

    #[test]
    fn ed25519_auth_data_layout_and_verify() {
        let s = Signer::ed25519_from_seed(&[3; 32]);
        let data = auth_data(&s, &[HashAlgorithm::IDENTITY], b"octets").unwrap();
        // spec-facts §3.8: 07 30 05 06 03 2B 65 70 + 64-byte signature.
        assert_eq!(&data[..8], &[7, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70]);
        assert_eq!(data.len(), 8 + 64);
        verify_auth_data(&public_key(&s), &data, b"octets").unwrap();
        assert_eq!(
            verify_auth_data(&public_key(&s), &data, b"octetz"),
            Err(AuthError::BadAuth)
        );
        assert_eq!(
            auth_data(&s, &[HashAlgorithm::SHA2_256], b"x"),
            Err(AuthError::NoCommonHash)
        );
    }

    #[test]
    fn ecdsa_auth_data_verify_and_key_mismatch() {
        let s = ecdsa_signer([5; 32]);
        let data = auth_data(&s, &[HashAlgorithm::SHA2_256], b"msg").unwrap();
        assert_eq!(
            &data[..13],
            &[12, 0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]
        );
        verify_auth_data(&public_key(&s), &data, b"msg").unwrap();
        let ed = Signer::ed25519_from_seed(&[1; 32]);
        assert!(matches!(
            verify_auth_data(&public_key(&ed), &data, b"msg"),
            Err(AuthError::WrongMethod(_))
        ));
        assert_eq!(
            verify_auth_data(&public_key(&s), &[], b"msg"),
            Err(AuthError::BadAuth)
        );
        assert_eq!(
            verify_auth_data(&public_key(&s), &[200, 1], b"msg"),
            Err(AuthError::BadAuth)
        );
    }
}
