//! AUTH payload data (RFC 7296 §2.15, RFC 7427): the signed octets, PSK AUTH (method 2) and the
//! Digital Signature (method 14) data layout with its AlgorithmIdentifier.

use spki::der::{Decode, Tagged};
use spki::{AlgorithmIdentifierRef, ObjectIdentifier};

use super::{CryptoError, Prf, Secret};

/// Auth Method "Shared Key Message Integrity Code" (RFC 7296 §3.8).
pub const AUTH_METHOD_SHARED_KEY: u8 = 2;
/// Auth Method "Digital Signature" (RFC 7427 §3).
pub const AUTH_METHOD_DIGITAL_SIGNATURE: u8 = 14;

/// The PSK key pad: 17 ASCII octets, no NUL (RFC 7296 §2.15).
pub const KEY_PAD: &[u8; 17] = b"Key Pad for IKEv2";

/// `RealMessageX | NonceYData | prf(SK_px, IDx')` (RFC 7296 §2.15).
///
/// * `real_message`: our IKE_SA_INIT message exactly as sent (the last one, if it was repeated
///   for a cookie or INVALID_KE), from the first SPI octet, without a non-ESP marker;
/// * `peer_nonce`: the *peer's* Nonce Data (no payload header);
/// * `sk_p`: SK_pi for the original initiator's AUTH, SK_pr for the responder's;
/// * `id_body`: the ID payload body as sent, `ID Type | RESERVED (3) | data`.
pub fn signed_octets(
    prf: Prf,
    sk_p: &Secret,
    real_message: &[u8],
    peer_nonce: &[u8],
    id_body: &[u8],
) -> Vec<u8> {
    let mac = prf.prf(sk_p.expose(), &[id_body]);
    [real_message, peer_nonce, mac.expose()].concat()
}

/// PSK AUTH data: `prf(prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets>)`.
pub fn psk_auth(prf: Prf, psk: &[u8], signed_octets: &[u8]) -> Vec<u8> {
    let pad_key = prf.prf(psk, &[KEY_PAD]);
    prf.prf(pad_key.expose(), &[signed_octets])
        .expose()
        .to_vec()
}

/// Checks received PSK AUTH data in constant time.
pub fn verify_psk_auth(
    prf: Prf,
    psk: &[u8],
    signed_octets: &[u8],
    received: &[u8],
) -> Result<(), CryptoError> {
    // Fuzzing seam (test builds and `--features fuzzing` only; see `null_suite`).
    #[cfg(any(test, feature = "fuzzing"))]
    if super::null_suite::active() {
        return Ok(());
    }
    let pad_key = prf.prf(psk, &[KEY_PAD]);
    if prf.verify(pad_key.expose(), &[signed_octets], received) {
        Ok(())
    } else {
        Err(CryptoError::AuthMismatch)
    }
}

/// A hash algorithm ID of the SIGNATURE_HASH_ALGORITHMS notify (RFC 7427 §7, RFC 8420 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SignatureHash(pub u16);

impl SignatureHash {
    pub const SHA1: Self = Self(1);
    pub const SHA2_256: Self = Self(2);
    pub const SHA2_384: Self = Self(3);
    pub const SHA2_512: Self = Self(4);
    pub const IDENTITY: Self = Self(5);

    /// What we announce: the hashes of the schemes we can verify (ecdsa-with-SHA256 and pure
    /// Ed25519). Announcing only these keeps strongSwan from picking e.g. ecdsa-with-SHA384.
    pub const SUPPORTED: [Self; 2] = [Self::SHA2_256, Self::IDENTITY];

    /// Notify data: concatenated 16-bit IDs (RFC 7427 §4).
    pub fn encode_list(list: &[Self]) -> Vec<u8> {
        list.iter().flat_map(|h| h.0.to_be_bytes()).collect()
    }

    /// Parses notify data; a trailing odd octet is malformed.
    pub fn parse_list(data: &[u8]) -> Result<Vec<Self>, CryptoError> {
        if data.len() & 1 == 1 {
            return Err(CryptoError::MalformedAuthData);
        }
        Ok(data
            .chunks_exact(2)
            .map(|c| Self(u16::from_be_bytes([c[0], c[1]])))
            .collect())
    }
}

/// RFC 7427 signature schemes we implement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureScheme {
    /// Pure Ed25519 (RFC 8420): signs the whole octet string, hash "Identity".
    Ed25519,
    /// ecdsa-with-SHA256 on P-256; the signature is a DER `Ecdsa-Sig-Value` (RFC 7427 A.3.1),
    /// not the raw r||s of methods 9-11.
    EcdsaP256Sha256,
}

/// id-Ed25519 (RFC 8410).
const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
/// ecdsa-with-SHA256 (RFC 5758 §3.2).
const OID_ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");

/// `30 05 06 03 2B 65 70` (RFC 8420 Appendix A).
const ALG_ID_ED25519: &[u8] = &[0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70];
/// `30 0A 06 08 2A 86 48 CE 3D 04 03 02` (RFC 7427 Appendix A.3.1).
const ALG_ID_ECDSA_SHA256: &[u8] = &[
    0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02,
];

impl SignatureScheme {
    /// The DER AlgorithmIdentifier we send (parameters absent, RFC 8410 §3 / RFC 5758 §3.2).
    pub const fn algorithm_identifier(self) -> &'static [u8] {
        match self {
            Self::Ed25519 => ALG_ID_ED25519,
            Self::EcdsaP256Sha256 => ALG_ID_ECDSA_SHA256,
        }
    }

    /// The hash the peer must have announced for us to use this scheme (RFC 7427 §4,
    /// RFC 8420 §2: Ed25519 only with Identity).
    pub const fn required_hash(self) -> SignatureHash {
        match self {
            Self::Ed25519 => SignatureHash::IDENTITY,
            Self::EcdsaP256Sha256 => SignatureHash::SHA2_256,
        }
    }

    /// Refuses the scheme unless the peer listed its hash.
    pub fn check_peer_hashes(self, peer_hashes: &[SignatureHash]) -> Result<(), CryptoError> {
        let need = self.required_hash();
        if peer_hashes.contains(&need) {
            Ok(())
        } else {
            Err(CryptoError::NoCommonHash(need.0))
        }
    }

    /// Parses (not blob-compares, like strongSwan) a DER AlgorithmIdentifier. Parameters must
    /// be absent; an explicit NULL is tolerated. Trailing bytes are refused.
    pub fn from_algorithm_identifier(der: &[u8]) -> Result<Self, CryptoError> {
        let alg =
            AlgorithmIdentifierRef::from_der(der).map_err(|_| CryptoError::MalformedAuthData)?;
        let params_ok = match alg.parameters {
            None => true,
            Some(p) => p.tag() == spki::der::Tag::Null && p.value().is_empty(),
        };
        if !params_ok {
            return Err(CryptoError::UnsupportedSignatureAlgorithm);
        }
        match alg.oid {
            OID_ED25519 => Ok(Self::Ed25519),
            OID_ECDSA_SHA256 => Ok(Self::EcdsaP256Sha256),
            _ => Err(CryptoError::UnsupportedSignatureAlgorithm),
        }
    }
}

/// Method 14 Authentication Data: `ASN.1 Length (1) | AlgorithmIdentifier | Signature`.
pub fn encode_signature_auth(scheme: SignatureScheme, signature: &[u8]) -> Vec<u8> {
    let id = scheme.algorithm_identifier();
    let mut out = Vec::with_capacity(1 + id.len() + signature.len());
    out.push(id.len() as u8); // both identifiers are < 256 bytes
    out.extend_from_slice(id);
    out.extend_from_slice(signature);
    out
}

/// Splits method 14 Authentication Data into the scheme it names and the signature.
pub fn parse_signature_auth(data: &[u8]) -> Result<(SignatureScheme, &[u8]), CryptoError> {
    let (&len, rest) = data.split_first().ok_or(CryptoError::MalformedAuthData)?;
    let len = usize::from(len);
    if len == 0 || rest.len() < len {
        return Err(CryptoError::MalformedAuthData);
    }
    let (alg, sig) = rest.split_at(len);
    let scheme = SignatureScheme::from_algorithm_identifier(alg)?;
    if sig.is_empty() {
        return Err(CryptoError::MalformedAuthData);
    }
    Ok((scheme, sig))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_octets_layout() {
        let p = Prf::HmacSha256;
        let skp = Secret::from_slice(&[9; 32]);
        let id = [2u8, 0, 0, 0, b'a', b'.', b'b'];
        let o = signed_octets(p, &skp, b"MSG1", b"NONCE", &id);
        assert_eq!(&o[..9], b"MSG1NONCE");
        assert_eq!(&o[9..], p.prf(&[9; 32], &[&id]).expose());
        assert_eq!(o.len(), 9 + 32);
    }

    #[test]
    fn psk_auth_is_double_prf() {
        let p = Prf::HmacSha384;
        let a = psk_auth(p, b"secret", b"octets");
        let pad = p.prf(b"secret", &[b"Key Pad for IKEv2"]);
        assert_eq!(a, p.prf(pad.expose(), &[b"octets"]).expose());
        assert_eq!(a.len(), 48);
        assert_eq!(verify_psk_auth(p, b"secret", b"octets", &a), Ok(()));
        assert_eq!(
            verify_psk_auth(p, b"secreT", b"octets", &a),
            Err(CryptoError::AuthMismatch)
        );
        assert_eq!(
            verify_psk_auth(p, b"secret", b"octetz", &a),
            Err(CryptoError::AuthMismatch)
        );
    }

    #[test]
    fn algorithm_identifiers_round_trip() {
        for s in [SignatureScheme::Ed25519, SignatureScheme::EcdsaP256Sha256] {
            assert_eq!(
                SignatureScheme::from_algorithm_identifier(s.algorithm_identifier()),
                Ok(s)
            );
        }
        // ecdsa-with-SHA384 parses but is not ours.
        let sha384 = [
            0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03,
        ];
        assert_eq!(
            SignatureScheme::from_algorithm_identifier(&sha384),
            Err(CryptoError::UnsupportedSignatureAlgorithm)
        );
        // Explicit NULL parameters are tolerated; other parameters are not.
        let with_null = [0x30, 0x07, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x05, 0x00];
        assert_eq!(
            SignatureScheme::from_algorithm_identifier(&with_null),
            Ok(SignatureScheme::Ed25519)
        );
        let with_int = [0x30, 0x08, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x02, 0x01, 0x00];
        assert_eq!(
            SignatureScheme::from_algorithm_identifier(&with_int),
            Err(CryptoError::UnsupportedSignatureAlgorithm)
        );
        // Trailing garbage and truncation are malformed.
        assert_eq!(
            SignatureScheme::from_algorithm_identifier(&[ALG_ID_ED25519, &[0]].concat()),
            Err(CryptoError::MalformedAuthData)
        );
        assert_eq!(
            SignatureScheme::from_algorithm_identifier(&ALG_ID_ED25519[..6]),
            Err(CryptoError::MalformedAuthData)
        );
    }

    #[test]
    fn signature_auth_layout() {
        let d = encode_signature_auth(SignatureScheme::Ed25519, &[0xaa; 64]);
        // spec-facts §3.8: 07 30 05 06 03 2B 65 70 + 64-byte signature.
        assert_eq!(&d[..8], &[0x07, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70]);
        assert_eq!(d.len(), 72);
        assert_eq!(
            parse_signature_auth(&d),
            Ok((SignatureScheme::Ed25519, &[0xaa; 64][..]))
        );
        let e = encode_signature_auth(SignatureScheme::EcdsaP256Sha256, &[1, 2, 3]);
        assert_eq!(e[0], 12);
        assert_eq!(
            parse_signature_auth(&e),
            Ok((SignatureScheme::EcdsaP256Sha256, &[1, 2, 3][..]))
        );
        for bad in [&[][..], &[0][..], &[7, 0x30][..], &d[..8]] {
            assert_eq!(
                parse_signature_auth(bad),
                Err(CryptoError::MalformedAuthData),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn hash_negotiation() {
        use SignatureHash as H;
        assert_eq!(
            SignatureScheme::Ed25519.check_peer_hashes(&[H::SHA2_256, H::IDENTITY]),
            Ok(())
        );
        assert_eq!(
            SignatureScheme::Ed25519.check_peer_hashes(&[H::SHA2_256, H::SHA2_512]),
            Err(CryptoError::NoCommonHash(5))
        );
        assert_eq!(
            SignatureScheme::EcdsaP256Sha256.check_peer_hashes(&[H::IDENTITY]),
            Err(CryptoError::NoCommonHash(2))
        );
        assert_eq!(H::encode_list(&H::SUPPORTED), vec![0, 2, 0, 5]);
        assert_eq!(H::parse_list(&[0, 2, 0, 3, 0, 4, 0, 5]).unwrap().len(), 4);
        assert!(H::parse_list(&[0, 2, 0]).is_err());
    }
}
