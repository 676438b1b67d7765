//! RFC 7427 "Digital Signature" AUTH data (method 14):
//! `ASN.1 Length (1) | AlgorithmIdentifier DER | Signature`.
//!
//! Ed25519 is pure (hash "Identity", RFC 8420) and may only be used if the peer listed
//! Identity (5) in SIGNATURE_HASH_ALGORITHMS; ecdsa-with-SHA256 needs SHA2-256 (2), and its
//! signature is the DER `Ecdsa-Sig-Value` (strongSwan SIGN_ECDSA_WITH_SHA256_DER).
//! The AlgorithmIdentifier is compared as exact DER (spec-facts §3.8 table).

use crate::config::{AuthError, LocalSigner, PeerPublicKey, SignatureAlgorithm};
use crate::wire::HashAlgorithm;

/// `30 05 06 03 2B 65 70` (RFC 8420 App. A).
const ALG_ED25519: &[u8] = &[0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70];
/// ecdsa-with-SHA256 (RFC 7427 App. A.3.1).
const ALG_ECDSA_SHA256: &[u8] = &[
    0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02,
];

fn alg_id(a: SignatureAlgorithm) -> &'static [u8] {
    match a {
        SignatureAlgorithm::Ed25519 => ALG_ED25519,
        SignatureAlgorithm::EcdsaP256Sha256 => ALG_ECDSA_SHA256,
    }
}

fn needed_hash(a: SignatureAlgorithm) -> HashAlgorithm {
    match a {
        SignatureAlgorithm::Ed25519 => HashAlgorithm::IDENTITY,
        SignatureAlgorithm::EcdsaP256Sha256 => HashAlgorithm::SHA2_256,
    }
}

/// Signs `octets` and wraps the signature as RFC 7427 AUTH data.
pub fn auth_data(
    signer: &dyn LocalSigner,
    peer_hashes: &[HashAlgorithm],
    octets: &[u8],
) -> Result<Vec<u8>, AuthError> {
    let alg = signer.algorithm();
    // RFC 7427 §4: sign only with a hash the *peer* announced.
    if !peer_hashes.contains(&needed_hash(alg)) {
        return Err(AuthError::NoCommonHash);
    }
    let sig = signer.sign(octets)?;
    let id = alg_id(alg);
    let mut out = Vec::with_capacity(1 + id.len() + sig.len());
    out.push(id.len() as u8);
    out.extend_from_slice(id);
    out.extend_from_slice(&sig);
    Ok(out)
}

/// Checks RFC 7427 AUTH data against the validated peer key.
pub fn verify_auth_data(key: &PeerPublicKey, data: &[u8], octets: &[u8]) -> Result<(), AuthError> {
    let (&len, rest) = data.split_first().ok_or(AuthError::BadAuth)?;
    let len = usize::from(len);
    if rest.len() < len {
        return Err(AuthError::BadAuth);
    }
    let (id, sig) = rest.split_at(len);
    if id != alg_id(key.algorithm()) {
        return Err(AuthError::WrongMethod(
            "signature algorithm does not match the key",
        ));
    }
    match key {
        PeerPublicKey::Ed25519(pk) => {
            use ed25519_dalek::Verifier;
            let vk = ed25519_dalek::VerifyingKey::from_bytes(pk).map_err(|_| AuthError::BadAuth)?;
            let sig = ed25519_dalek::Signature::from_slice(sig).map_err(|_| AuthError::BadAuth)?;
            vk.verify(octets, &sig).map_err(|_| AuthError::BadAuth)
        }
        PeerPublicKey::EcdsaP256(sec1) => {
            use p256::ecdsa::signature::Verifier;
            let vk =
                p256::ecdsa::VerifyingKey::from_sec1_bytes(sec1).map_err(|_| AuthError::BadAuth)?;
            let sig = p256::ecdsa::Signature::from_der(sig).map_err(|_| AuthError::BadAuth)?;
            vk.verify(octets, &sig).map_err(|_| AuthError::BadAuth)
        }
    }
}

/// In-memory signers over the project's signature crates, for the daemon (keys loaded from
/// files) and tests.
pub mod signers {
    use std::fmt;

    use crate::config::{AuthError, LocalSigner, PeerPublicKey, SignatureAlgorithm};

    /// An Ed25519 private key.
    pub struct Ed25519Signer(ed25519_dalek::SigningKey);

    impl Ed25519Signer {
        pub fn from_seed(seed: [u8; 32]) -> Self {
            Self(ed25519_dalek::SigningKey::from_bytes(&seed))
        }
        pub fn public_key(&self) -> PeerPublicKey {
            PeerPublicKey::Ed25519(self.0.verifying_key().to_bytes())
        }
    }

    impl fmt::Debug for Ed25519Signer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("Ed25519Signer(<private>)")
        }
    }

    impl LocalSigner for Ed25519Signer {
        fn algorithm(&self) -> SignatureAlgorithm {
            SignatureAlgorithm::Ed25519
        }
        fn sign(&self, message: &[u8]) -> Result<Vec<u8>, AuthError> {
            use ed25519_dalek::Signer;
            Ok(self.0.sign(message).to_bytes().to_vec())
        }
    }

    /// An ECDSA P-256 private key; signatures are DER (RFC 7427 method 14).
    pub struct EcdsaP256Signer(p256::ecdsa::SigningKey);

    impl EcdsaP256Signer {
        /// From a 32-byte big-endian scalar.
        pub fn from_scalar(bytes: &[u8; 32]) -> Result<Self, AuthError> {
            p256::ecdsa::SigningKey::from_slice(bytes)
                .map(Self)
                .map_err(|e| AuthError::Signing(e.to_string()))
        }
        pub fn public_key(&self) -> PeerPublicKey {
            PeerPublicKey::EcdsaP256(
                self.0
                    .verifying_key()
                    .to_encoded_point(false)
                    .as_bytes()
                    .to_vec(),
            )
        }
    }

    impl fmt::Debug for EcdsaP256Signer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("EcdsaP256Signer(<private>)")
        }
    }

    impl LocalSigner for EcdsaP256Signer {
        fn algorithm(&self) -> SignatureAlgorithm {
            SignatureAlgorithm::EcdsaP256Sha256
        }
        fn sign(&self, message: &[u8]) -> Result<Vec<u8>, AuthError> {
            use p256::ecdsa::signature::Signer;
            let sig: p256::ecdsa::Signature = self.0.sign(message);
            Ok(sig.to_der().as_bytes().to_vec())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::signers::*;
    use super::*;

    #[test]
    fn ed25519_auth_data_layout_and_verify() {
        let s = Ed25519Signer::from_seed([3; 32]);
        let data = auth_data(&s, &[HashAlgorithm::IDENTITY], b"octets").unwrap();
        // spec-facts §3.8: 07 30 05 06 03 2B 65 70 + 64-byte signature.
        assert_eq!(&data[..8], &[7, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70]);
        assert_eq!(data.len(), 8 + 64);
        verify_auth_data(&s.public_key(), &data, b"octets").unwrap();
        assert_eq!(
            verify_auth_data(&s.public_key(), &data, b"octetz"),
            Err(AuthError::BadAuth)
        );
        assert_eq!(
            auth_data(&s, &[HashAlgorithm::SHA2_256], b"x"),
            Err(AuthError::NoCommonHash)
        );
    }

    #[test]
    fn ecdsa_auth_data_verify_and_key_mismatch() {
        let s = EcdsaP256Signer::from_scalar(&[5; 32]).unwrap();
        let data = auth_data(&s, &[HashAlgorithm::SHA2_256], b"msg").unwrap();
        assert_eq!(&data[..13], &[&[12u8][..], ALG_ECDSA_SHA256].concat()[..]);
        verify_auth_data(&s.public_key(), &data, b"msg").unwrap();
        let ed = Ed25519Signer::from_seed([1; 32]);
        assert!(matches!(
            verify_auth_data(&ed.public_key(), &data, b"msg"),
            Err(AuthError::WrongMethod(_))
        ));
        assert_eq!(
            verify_auth_data(&s.public_key(), &[], b"msg"),
            Err(AuthError::BadAuth)
        );
        assert_eq!(
            verify_auth_data(&s.public_key(), &[200, 1], b"msg"),
            Err(AuthError::BadAuth)
        );
    }
}
