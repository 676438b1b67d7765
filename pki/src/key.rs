//! Private and public keys: Ed25519 (default), ECDSA P-256 and P-384.
//!
//! Private keys are kept as PKCS#8 (RFC 5958) DER in a zeroizing buffer and
//! signed with through rcgen's ring-backed `KeyPair`. Signatures follow what
//! IKEv2 Digital Signature authentication (RFC 7427, AUTH method 14) carries:
//! Ed25519 pure (RFC 8032) and ECDSA with SHA-256/SHA-384 as a DER
//! `Ecdsa-Sig-Value` (RFC 7427 §3 refers to the X.509 encodings).

use crate::der::{self, tag};
use crate::encoding::{self, BlockKind};
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

// DER-encoded OBJECT IDENTIFIER contents (RFC 8410, RFC 5480, RFC 8017).
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];
const OID_ED448: &[u8] = &[0x2b, 0x65, 0x71];
const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
const OID_P521: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];
const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

/// The key types nvesec signs and verifies with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// Ed25519 (RFC 8032), the default.
    Ed25519,
    /// ECDSA on NIST P-256, signatures with SHA-256.
    EcdsaP256,
    /// ECDSA on NIST P-384, signatures with SHA-384.
    EcdsaP384,
}

impl KeyType {
    /// strongSwan's `--type`/`--size` pair: `ed25519`, `ecdsa` + 256|384.
    pub fn from_type_and_size(kind: &str, size: Option<u32>) -> Result<Self, KeyError> {
        match (kind, size) {
            ("ed25519", None | Some(256)) => Ok(Self::Ed25519),
            ("ecdsa", Some(256)) => Ok(Self::EcdsaP256),
            // strongSwan's default ECDSA size is 384.
            ("ecdsa", None | Some(384)) => Ok(Self::EcdsaP384),
            ("ecdsa", Some(s)) => Err(KeyError::Unsupported(format!("ECDSA size {s}"))),
            (other, _) => Err(KeyError::Unsupported(format!("key type '{other}'"))),
        }
    }

    /// Human name as strongSwan prints it ("ED25519", "ECDSA 256 bits").
    pub fn describe(self) -> &'static str {
        match self {
            Self::Ed25519 => "ED25519 256 bits",
            Self::EcdsaP256 => "ECDSA 256 bits",
            Self::EcdsaP384 => "ECDSA 384 bits",
        }
    }

    fn rcgen_alg(self) -> &'static rcgen::SignatureAlgorithm {
        match self {
            Self::Ed25519 => &rcgen::PKCS_ED25519,
            Self::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            Self::EcdsaP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
        }
    }

    fn verification_alg(self) -> &'static dyn ring::signature::VerificationAlgorithm {
        match self {
            Self::Ed25519 => &ring::signature::ED25519,
            Self::EcdsaP256 => &ring::signature::ECDSA_P256_SHA256_ASN1,
            Self::EcdsaP384 => &ring::signature::ECDSA_P384_SHA384_ASN1,
        }
    }

    /// The SubjectPublicKeyInfo AlgorithmIdentifier (RFC 8410 §3, RFC 5480 §2.1.1).
    fn algorithm_identifier(self) -> Vec<u8> {
        let content = match self {
            Self::Ed25519 => der::write_tlv(tag::OID, OID_ED25519),
            Self::EcdsaP256 => [
                der::write_tlv(tag::OID, OID_EC_PUBLIC_KEY),
                der::write_tlv(tag::OID, OID_P256),
            ]
            .concat(),
            Self::EcdsaP384 => [
                der::write_tlv(tag::OID, OID_EC_PUBLIC_KEY),
                der::write_tlv(tag::OID, OID_P384),
            ]
            .concat(),
        };
        der::write_tlv(tag::SEQUENCE, &content)
    }
}

/// Key loading, generation or signing failed.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    /// PEM/DER framing problem.
    #[error(transparent)]
    Encoding(#[from] encoding::EncodingError),
    /// A key type nvesec does not use (RSA, Ed448, P-521, ...).
    #[error("unsupported key type: {0} (use ed25519, ecdsa 256 or ecdsa 384)")]
    Unsupported(String),
    /// The bytes are not a private key we can parse.
    #[error("not a valid private key: {0}")]
    Malformed(String),
    /// Not a valid public key / SubjectPublicKeyInfo.
    #[error("not a valid public key: {0}")]
    BadPublicKey(String),
    /// Signing failed inside ring.
    #[error("signing failed")]
    SignFailed,
    /// The system random number generator failed.
    #[error("system random number generator failed")]
    Random,
}

/// A public key: its type, the raw key (Ed25519 32 bytes, or the
/// uncompressed EC point) and the SubjectPublicKeyInfo DER.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PublicKey {
    key_type: KeyType,
    raw: Vec<u8>,
    spki_der: Vec<u8>,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PublicKey({:?}, keyid {})",
            self.key_type,
            hex(&self.keyid_sha1())
        )
    }
}

impl PublicKey {
    /// Build from a DER SubjectPublicKeyInfo (RFC 5280 §4.1.2.7).
    pub fn from_spki_der(spki: &[u8]) -> Result<Self, KeyError> {
        let bad = |what: &str| KeyError::BadPublicKey(what.to_string());
        let (body, rest) = der::expect(spki, tag::SEQUENCE).map_err(|_| bad("bad SPKI"))?;
        if !rest.is_empty() {
            return Err(bad("trailing bytes after SPKI"));
        }
        let (alg_id, body) = der::expect(body, tag::SEQUENCE).map_err(|_| bad("bad SPKI"))?;
        let key_type = key_type_from_alg_id(alg_id)?;
        let (bits, _) = der::expect(body, tag::BIT_STRING).map_err(|_| bad("bad SPKI"))?;
        let raw = match bits.split_first() {
            Some((0, raw)) => raw.to_vec(),
            _ => return Err(bad("bad public key BIT STRING")),
        };
        let expected_len = match key_type {
            KeyType::Ed25519 => 32,
            KeyType::EcdsaP256 => 65,
            KeyType::EcdsaP384 => 97,
        };
        if raw.len() != expected_len {
            return Err(bad("public key has the wrong length for its type"));
        }
        Ok(Self::from_raw(key_type, raw))
    }

    /// Build from the raw key bytes of a known type.
    pub fn from_raw(key_type: KeyType, raw: Vec<u8>) -> Self {
        let mut bits = vec![0u8];
        bits.extend_from_slice(&raw);
        let content = [
            key_type.algorithm_identifier(),
            der::write_tlv(tag::BIT_STRING, &bits),
        ]
        .concat();
        Self {
            key_type,
            spki_der: der::write_tlv(tag::SEQUENCE, &content),
            raw,
        }
    }

    /// Load a public key from PEM/DER: `PUBLIC KEY`, or extract it from a
    /// private key, certificate or CSR.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        let blocks = encoding::decode(bytes)?;
        let block = &blocks[0];
        match block.kind {
            BlockKind::PublicKey => Self::from_spki_der(&block.der),
            BlockKind::Certificate | BlockKind::Csr | BlockKind::Der => {
                if let Ok(pk) = Self::from_spki_der(&block.der) {
                    return Ok(pk);
                }
                if let Ok(c) = crate::cert::Certificate::from_der(block.der.to_vec()) {
                    return c.public_key();
                }
                if let Ok(c) = crate::csr::Csr::from_der(&block.der) {
                    return Ok(c.public_key().clone());
                }
                Ok(PrivateKey::from_der_any(&block.der, block.kind)?.public_key())
            }
            _ => Ok(PrivateKey::from_der_any(&block.der, block.kind)?.public_key()),
        }
    }

    /// The key type.
    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// Raw key bytes: Ed25519 32 bytes, ECDSA uncompressed point (0x04 || X || Y).
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// PEM `PUBLIC KEY`.
    pub fn to_pem(&self) -> String {
        encoding::to_pem("PUBLIC KEY", &self.spki_der)
    }

    /// SHA-1 of the subjectPublicKey BIT STRING contents: RFC 5280 §4.2.1.2
    /// method 1, strongSwan's "subjkey" and the subjectKeyIdentifier we write.
    pub fn subjkey_sha1(&self) -> Vec<u8> {
        ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &self.raw)
            .as_ref()
            .to_vec()
    }

    /// SHA-1 of the whole SubjectPublicKeyInfo: strongSwan's "keyid".
    pub fn keyid_sha1(&self) -> Vec<u8> {
        ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &self.spki_der)
            .as_ref()
            .to_vec()
    }

    /// Verify `signature` over `data` (Ed25519 pure; ECDSA with SHA-256 for
    /// P-256 and SHA-384 for P-384, DER signature).
    pub fn verify(&self, data: &[u8], signature: &[u8]) -> Result<(), SignatureError> {
        ring::signature::UnparsedPublicKey::new(self.key_type.verification_alg(), &self.raw)
            .verify(data, signature)
            .map_err(|_| SignatureError::Invalid)
    }
}

/// A signature did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The public key is not one we support.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Wrong signature.
    #[error("signature verification failed")]
    Invalid,
}

/// Verify an IKEv2 AUTH (RFC 7427) or other signature given the signer's
/// SubjectPublicKeyInfo DER: Ed25519 pure; ECDSA P-256/SHA-256 and
/// P-384/SHA-384 with DER `Ecdsa-Sig-Value`.
pub fn verify_signature(
    spki_der: &[u8],
    data: &[u8],
    signature: &[u8],
) -> Result<(), SignatureError> {
    PublicKey::from_spki_der(spki_der)?.verify(data, signature)
}

fn key_type_from_alg_id(alg_id: &[u8]) -> Result<KeyType, KeyError> {
    let bad = || KeyError::Malformed("bad AlgorithmIdentifier".into());
    let (oid, rest) = der::expect(alg_id, tag::OID).map_err(|_| bad())?;
    match oid {
        OID_ED25519 => Ok(KeyType::Ed25519),
        OID_EC_PUBLIC_KEY => {
            let (curve, _) = der::expect(rest, tag::OID).map_err(|_| bad())?;
            curve_from_oid(curve)
        }
        OID_RSA => Err(KeyError::Unsupported("RSA".into())),
        OID_ED448 => Err(KeyError::Unsupported("Ed448".into())),
        _ => Err(KeyError::Unsupported("unknown key algorithm".into())),
    }
}

fn curve_from_oid(curve: &[u8]) -> Result<KeyType, KeyError> {
    match curve {
        OID_P256 => Ok(KeyType::EcdsaP256),
        OID_P384 => Ok(KeyType::EcdsaP384),
        OID_P521 => Err(KeyError::Unsupported("ECDSA P-521".into())),
        _ => Err(KeyError::Unsupported("unknown elliptic curve".into())),
    }
}

/// A private key that can sign. Key material zeroizes on drop (our PKCS#8
/// copy, and rcgen's with its `zeroize` feature) and never shows in Debug.
pub struct PrivateKey {
    key_type: KeyType,
    pkcs8: Zeroizing<Vec<u8>>,
    pair: rcgen::KeyPair,
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PrivateKey({:?}, <redacted>)", self.key_type)
    }
}

impl Drop for PrivateKey {
    fn drop(&mut self) {
        // rcgen keeps its own PKCS#8 copy; wipe it too (ring's expanded
        // key state inside the pair offers no zeroize hook).
        use zeroize::Zeroize;
        self.pair.zeroize();
    }
}

impl PrivateKey {
    /// Generate a fresh key with the system CSPRNG.
    pub fn generate(key_type: KeyType) -> Result<Self, KeyError> {
        let rng = SystemRandom::new();
        let pkcs8 = match key_type {
            KeyType::Ed25519 => {
                // RFC 8032 §5.1.5: the private key is 32 random octets.
                let mut seed = Zeroizing::new([0u8; 32]);
                rng.fill(&mut seed[..]).map_err(|_| KeyError::Random)?;
                ed25519_pkcs8_v1(&seed[..])
            }
            KeyType::EcdsaP256 | KeyType::EcdsaP384 => {
                let alg = match key_type {
                    KeyType::EcdsaP256 => &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
                    _ => &ring::signature::ECDSA_P384_SHA384_ASN1_SIGNING,
                };
                let doc = ring::signature::EcdsaKeyPair::generate_pkcs8(alg, &rng)
                    .map_err(|_| KeyError::Random)?;
                Zeroizing::new(doc.as_ref().to_vec())
            }
        };
        Self::from_pkcs8(key_type, pkcs8)
    }

    /// Load from PEM or DER: PKCS#8 `PRIVATE KEY`, SEC1 `EC PRIVATE KEY`
    /// (what strongSwan's `pki --gen --type ecdsa` writes). RSA and other
    /// types are rejected with [`KeyError::Unsupported`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        let blocks = encoding::decode(bytes)?;
        let block = blocks
            .iter()
            .find(|b| {
                matches!(
                    b.kind,
                    BlockKind::Pkcs8Key | BlockKind::Sec1Key | BlockKind::Pkcs1Key | BlockKind::Der
                )
            })
            .ok_or_else(|| KeyError::Malformed("no private key in the input".into()))?;
        Self::from_der_any(&block.der, block.kind)
    }

    fn from_der_any(der: &[u8], kind: BlockKind) -> Result<Self, KeyError> {
        match kind {
            BlockKind::Pkcs8Key => Self::from_pkcs8_der(der),
            BlockKind::Sec1Key => Self::from_sec1_der(der),
            BlockKind::Pkcs1Key => Err(KeyError::Unsupported("RSA".into())),
            // DER without a label: try PKCS#8, then SEC1, then PKCS#1 to
            // name the type in the error.
            _ => Self::from_pkcs8_der(der).or_else(|e8| {
                if is_sec1(der) {
                    Self::from_sec1_der(der)
                } else if is_pkcs1_rsa(der) {
                    Err(KeyError::Unsupported("RSA".into()))
                } else {
                    Err(e8)
                }
            }),
        }
    }

    fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        let bad = || KeyError::Malformed("bad PKCS#8 structure".into());
        let (body, _) = der::expect(der, tag::SEQUENCE).map_err(|_| bad())?;
        let (_version, body) = der::expect(body, tag::INTEGER).map_err(|_| bad())?;
        let (alg_id, body) = der::expect(body, tag::SEQUENCE).map_err(|_| bad())?;
        let key_type = key_type_from_alg_id(alg_id)?;
        if key_type == KeyType::Ed25519 {
            // Normalise to the v1 form (RFC 8410 §7) that openssl and
            // strongSwan write, whatever version we were given.
            let (outer, _) = der::expect(body, tag::OCTET_STRING).map_err(|_| bad())?;
            let (seed, _) = der::expect(outer, tag::OCTET_STRING).map_err(|_| bad())?;
            if seed.len() != 32 {
                return Err(bad());
            }
            return Self::from_pkcs8(key_type, ed25519_pkcs8_v1(seed));
        }
        Self::from_pkcs8(key_type, Zeroizing::new(der.to_vec()))
    }

    /// SEC1 ECPrivateKey (RFC 5915) -> PKCS#8 wrapping (RFC 5958 §2), which
    /// is what ring parses.
    fn from_sec1_der(der: &[u8]) -> Result<Self, KeyError> {
        let bad = || KeyError::Malformed("bad EC PRIVATE KEY structure".into());
        let (body, _) = der::expect(der, tag::SEQUENCE).map_err(|_| bad())?;
        let (_version, body) = der::expect(body, tag::INTEGER).map_err(|_| bad())?;
        let (_key, body) = der::expect(body, tag::OCTET_STRING).map_err(|_| bad())?;
        let (params, _) = der::expect(body, tag::CONTEXT_0)
            .map_err(|_| KeyError::Malformed("EC PRIVATE KEY without curve parameters".into()))?;
        let (curve, _) = der::expect(params, tag::OID).map_err(|_| bad())?;
        let key_type = curve_from_oid(curve)?;
        // Sized up front so no reallocation leaves key bytes behind.
        let mut content = Zeroizing::new(Vec::with_capacity(der.len() + 64));
        content.extend(der::write_tlv(tag::INTEGER, &[0]));
        content.extend(key_type.algorithm_identifier());
        content.extend_from_slice(&Zeroizing::new(der::write_tlv(tag::OCTET_STRING, der)));
        let pkcs8 = Zeroizing::new(der::write_tlv(tag::SEQUENCE, &content));
        Self::from_pkcs8(key_type, pkcs8)
    }

    fn from_pkcs8(key_type: KeyType, pkcs8: Zeroizing<Vec<u8>>) -> Result<Self, KeyError> {
        let der = rustls_pki_types::PrivatePkcs8KeyDer::from(&pkcs8[..]);
        let pair = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&der, key_type.rcgen_alg())
            .map_err(|e| KeyError::Malformed(e.to_string()))?;
        Ok(Self {
            key_type,
            pkcs8,
            pair,
        })
    }

    /// The key type.
    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// PKCS#8 DER (secret).
    pub fn to_pkcs8_der(&self) -> Zeroizing<Vec<u8>> {
        self.pkcs8.clone()
    }

    /// PKCS#8 PEM `PRIVATE KEY` (secret).
    pub fn to_pem(&self) -> Zeroizing<String> {
        Zeroizing::new(encoding::to_pem("PRIVATE KEY", &self.pkcs8))
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        use rcgen::PublicKeyData;
        PublicKey::from_raw(self.key_type, self.pair.der_bytes().to_vec())
    }

    /// Sign `data`: Ed25519 pure, or ECDSA with SHA-256 (P-256) / SHA-384
    /// (P-384) and a DER signature, as RFC 7427 AUTH data needs.
    pub fn sign(&self, data: &[u8]) -> Result<Vec<u8>, KeyError> {
        use rcgen::SigningKey;
        self.pair.sign(data).map_err(|_| KeyError::SignFailed)
    }

    /// The rcgen key pair, for certificate and CRL signing.
    pub(crate) fn rcgen(&self) -> &rcgen::KeyPair {
        &self.pair
    }
}

/// RFC 8410 §7 OneAsymmetricKey v1 for an Ed25519 seed.
fn ed25519_pkcs8_v1(seed: &[u8]) -> Zeroizing<Vec<u8>> {
    let inner = Zeroizing::new(der::write_tlv(tag::OCTET_STRING, seed));
    let mut content = Zeroizing::new(der::write_tlv(tag::INTEGER, &[0]));
    content.extend(KeyType::Ed25519.algorithm_identifier());
    content.extend_from_slice(&Zeroizing::new(der::write_tlv(tag::OCTET_STRING, &inner)));
    Zeroizing::new(der::write_tlv(tag::SEQUENCE, &content))
}

fn is_sec1(der: &[u8]) -> bool {
    let Ok((body, _)) = der::expect(der, tag::SEQUENCE) else {
        return false;
    };
    matches!(der::expect(body, tag::INTEGER), Ok(([1], rest)) if der::expect(rest, tag::OCTET_STRING).is_ok())
}

fn is_pkcs1_rsa(der: &[u8]) -> bool {
    // RSAPrivateKey: version 0 followed by at least modulus and exponent INTEGERs.
    let Ok((body, _)) = der::expect(der, tag::SEQUENCE) else {
        return false;
    };
    let mut rest = body;
    let mut ints = 0;
    while let Ok((_, r)) = der::expect(rest, tag::INTEGER) {
        ints += 1;
        rest = r;
    }
    ints >= 9
}

/// Lower-case hex, colon separated (as strongSwan prints key ids).
pub fn hex_colon(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Lower-case hex without separators.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [KeyType; 3] = [KeyType::Ed25519, KeyType::EcdsaP256, KeyType::EcdsaP384];

    #[test]
    fn generate_sign_verify_all_types() {
        for kt in ALL {
            let key = PrivateKey::generate(kt).unwrap();
            let sig = key.sign(b"ike auth octets").unwrap();
            let pk = key.public_key();
            assert_eq!(pk.key_type(), kt);
            pk.verify(b"ike auth octets", &sig).unwrap();
            assert_eq!(
                pk.verify(b"other octets", &sig),
                Err(SignatureError::Invalid)
            );
            verify_signature(pk.spki_der(), b"ike auth octets", &sig).unwrap();
        }
    }

    #[test]
    fn pem_and_der_round_trip_keep_the_key() {
        for kt in ALL {
            let key = PrivateKey::generate(kt).unwrap();
            let from_pem = PrivateKey::from_bytes(key.to_pem().as_bytes()).unwrap();
            let from_der = PrivateKey::from_bytes(&key.to_pkcs8_der()).unwrap();
            assert_eq!(from_pem.public_key(), key.public_key());
            assert_eq!(from_der.public_key(), key.public_key());
            let spki = PublicKey::from_spki_der(key.public_key().spki_der()).unwrap();
            assert_eq!(spki, key.public_key());
        }
    }

    #[test]
    fn ed25519_is_written_as_rfc8410_v1() {
        let key = PrivateKey::generate(KeyType::Ed25519).unwrap();
        let der = key.to_pkcs8_der();
        assert_eq!(der.len(), 48);
        assert_eq!(
            der[..16],
            [
                0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22,
                0x04, 0x20
            ]
        );
    }

    #[test]
    fn ed25519_rfc8032_test_vector_1() {
        // RFC 8032 §7.1 TEST 1: empty message.
        let seed = unhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
        let key = PrivateKey::from_bytes(&ed25519_pkcs8_v1(&seed)).unwrap();
        assert_eq!(
            hex(key.public_key().raw()),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
        assert_eq!(
            hex(&key.sign(b"").unwrap()),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        );
    }

    #[test]
    fn rsa_is_unsupported() {
        let spki_rsa = der::write_tlv(
            tag::SEQUENCE,
            &[
                der::write_tlv(
                    tag::SEQUENCE,
                    &[der::write_tlv(tag::OID, OID_RSA), vec![5, 0]].concat(),
                ),
                der::write_tlv(tag::BIT_STRING, &[0, 1, 2]),
            ]
            .concat(),
        );
        assert_eq!(
            PublicKey::from_spki_der(&spki_rsa),
            Err(KeyError::Unsupported("RSA".into()))
        );
    }

    #[test]
    fn debug_is_redacted() {
        let key = PrivateKey::generate(KeyType::Ed25519).unwrap();
        let text = format!("{key:?}");
        assert_eq!(text, "PrivateKey(Ed25519, <redacted>)");
    }

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }
}
