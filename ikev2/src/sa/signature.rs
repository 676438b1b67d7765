//! RFC 7427 "Digital Signature" AUTH data (method 14):
//! `ASN.1 Length (1) | AlgorithmIdentifier DER | Signature`.
//!
//! Ed25519 is pure (hash "Identity", RFC 8420) and may only be used if the peer listed
//! Identity (5) in SIGNATURE_HASH_ALGORITHMS; ecdsa-with-SHA256 needs SHA2-256 (2), and its
//! signature is the DER `Ecdsa-Sig-Value` (strongSwan SIGN_ECDSA_WITH_SHA256_DER).
//! Encoding, AlgorithmIdentifier parsing and verification are `crate::crypto`'s; this module
//! maps them onto the engine's abstract [`LocalSigner`] and [`PeerPublicKey`].

use std::time::SystemTime;

use crate::config::{
    AuthError, Identity, LocalSigner, PeerAuthenticator, PeerPublicKey, SignatureAlgorithm,
};
use crate::crypto::auth::encode_signature_auth;
use crate::crypto::{CryptoError, SignatureHash, SignatureScheme, Signer, Verifier};
use crate::wire::HashAlgorithm;

use super::Output;

/// Most CERT payloads of one IKE_AUTH handed to the [`PeerAuthenticator`]: the end entity and
/// up to 7 issuers, strongSwan's `MAX_TRUST_PATH_LEN` (credential_manager.c); the `pki`
/// crate's `MAX_PEER_CERTS` is the same bound. More are refused with AUTHENTICATION_FAILED
/// before any certificate is parsed, so one IKE_AUTH costs at most this many parses, the
/// authenticator's bounded signature checks (the chain length plus one) and one AUTH check.
pub const MAX_PEER_CERTS: usize = 8;

/// Validates the peer's certificates (end entity first) through `authenticator`, refusing
/// more than [`MAX_PEER_CERTS`] of them up front.
pub fn verify_peer_chain(
    authenticator: &dyn PeerAuthenticator,
    certs: &[Vec<u8>],
    id: &Identity,
    wall: SystemTime,
) -> Result<PeerPublicKey, AuthError> {
    if certs.len() > MAX_PEER_CERTS {
        return Err(AuthError::TooManyCertificates {
            got: certs.len(),
            max: MAX_PEER_CERTS,
        });
    }
    authenticator.verify_peer_cert(certs, id, wall)
}

/// Counts an authentication refusal due to a DoS bound or RFC 8247 (`--counters`).
pub(crate) fn count_refusal(out: &mut Output, e: &AuthError) {
    match e {
        AuthError::TooManyCertificates { .. } | AuthError::ChainLimit(_) => out.auth_limits += 1,
        AuthError::WeakAlgorithm(_) => out.auth_weak_algorithms += 1,
        _ => {}
    }
}

/// RFC 7427 AlgorithmIdentifiers that hash with SHA-1 (DER OID contents): RFC 8247 §3.2
/// says SHA-1 MUST NOT be used for new IKE authentication. They would be refused anyway as
/// unsupported; naming them makes the refusal a counted weak-algorithm one.
const SHA1_SIGNATURE_OIDS: &[(&[u8], &str)] = &[
    // 1.2.840.113549.1.1.5 sha1WithRSAEncryption
    (
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05],
        "sha1WithRSAEncryption",
    ),
    // 1.2.840.10045.4.1 ecdsa-with-SHA1
    (
        &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x01],
        "ecdsa-with-SHA1",
    ),
    // 1.2.840.10040.4.3 dsa-with-sha1
    (&[0x2a, 0x86, 0x48, 0xce, 0x38, 0x04, 0x03], "dsa-with-sha1"),
];

/// The SHA-1 algorithm RFC 7427 AUTH data names, if any: `len | 30 L 06 n OID ...`.
fn sha1_algorithm(data: &[u8]) -> Option<&'static str> {
    let len = usize::from(*data.first()?);
    let alg = data.get(1..1 + len)?;
    if alg.first() != Some(&0x30) || alg.get(2) != Some(&0x06) {
        return None;
    }
    let n = usize::from(*alg.get(3)?);
    let oid = alg.get(4..4 + n)?;
    SHA1_SIGNATURE_OIDS
        .iter()
        .find(|(o, _)| *o == oid)
        .map(|(_, name)| *name)
}

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

/// Checks RFC 7427 AUTH data against the validated peer key. SHA-1 based signatures are
/// refused as [`AuthError::WeakAlgorithm`] (RFC 8247 §3.2) without any verification.
pub fn verify_auth_data(key: &PeerPublicKey, data: &[u8], octets: &[u8]) -> Result<(), AuthError> {
    if let Some(name) = sha1_algorithm(data) {
        return Err(AuthError::WeakAlgorithm(format!("{name} AUTH signature")));
    }
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

    #[test]
    fn sha1_auth_data_is_a_weak_algorithm() {
        // A valid ECDSA signature relabelled ecdsa-with-SHA1 (RFC 7427 A.3 layout, hash 1).
        let s = ecdsa_signer([5; 32]);
        let good = auth_data(&s, &[HashAlgorithm::SHA2_256], b"msg").unwrap();
        let sig = &good[13..];
        let sha1_alg = [
            0x30, 0x09, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x01,
        ];
        let mut data = vec![sha1_alg.len() as u8];
        data.extend_from_slice(&sha1_alg);
        data.extend_from_slice(sig);
        assert!(matches!(
            verify_auth_data(&public_key(&s), &data, b"msg"),
            Err(AuthError::WeakAlgorithm(m)) if m.contains("ecdsa-with-SHA1")
        ));
        // sha1WithRSAEncryption with NULL parameters (RFC 7427 A.1.1).
        let rsa_sha1 = [
            0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05, 0x05,
            0x00,
        ];
        let mut data = vec![rsa_sha1.len() as u8];
        data.extend_from_slice(&rsa_sha1);
        data.extend_from_slice(&[0xab; 256]);
        assert!(matches!(
            verify_auth_data(&public_key(&s), &data, b"msg"),
            Err(AuthError::WeakAlgorithm(_))
        ));
        let mut out = Output::default();
        count_refusal(&mut out, &AuthError::WeakAlgorithm(String::new()));
        count_refusal(&mut out, &AuthError::BadAuth);
        assert_eq!((out.auth_limits, out.auth_weak_algorithms), (0, 1));
    }

    struct CountingAuthenticator(std::sync::atomic::AtomicUsize);

    impl PeerAuthenticator for CountingAuthenticator {
        fn verify_peer_cert(
            &self,
            _: &[Vec<u8>],
            _: &Identity,
            _: SystemTime,
        ) -> Result<PeerPublicKey, AuthError> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Err(AuthError::BadAuth)
        }
    }

    #[test]
    fn more_than_max_certs_never_reach_the_authenticator() {
        let a = CountingAuthenticator(Default::default());
        let id = Identity::Fqdn("nve1".into());
        let certs = vec![vec![0x30, 0]; MAX_PEER_CERTS + 1];
        let r = verify_peer_chain(&a, &certs, &id, SystemTime::UNIX_EPOCH);
        assert_eq!(
            r,
            Err(AuthError::TooManyCertificates {
                got: MAX_PEER_CERTS + 1,
                max: MAX_PEER_CERTS
            })
        );
        assert_eq!(a.0.load(std::sync::atomic::Ordering::Relaxed), 0);
        let r = verify_peer_chain(&a, &certs[1..], &id, SystemTime::UNIX_EPOCH);
        assert_eq!(r, Err(AuthError::BadAuth));
        assert_eq!(a.0.load(std::sync::atomic::Ordering::Relaxed), 1);
        let mut out = Output::default();
        count_refusal(&mut out, &r.unwrap_err());
        count_refusal(&mut out, &AuthError::TooManyCertificates { got: 9, max: 8 });
        assert_eq!((out.auth_limits, out.auth_weak_algorithms), (1, 0));
    }
}
