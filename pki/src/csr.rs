//! PKCS#10 certificate requests (RFC 2986): created on the NVE, whose key
//! never leaves it (seed 003 §6.1), and checked on the CA host.

use crate::encoding::{self, BlockKind};
use crate::key::{KeyError, PrivateKey, PublicKey};
use crate::names::{Dn, NameError, SubjectAltName};
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::prelude::{FromDer, ParsedExtension};

/// A CSR could not be made or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsrError {
    /// PEM/DER framing problem.
    #[error(transparent)]
    Encoding(#[from] encoding::EncodingError),
    /// Not a PKCS#10 request.
    #[error("not a valid PKCS#10 certificate request: {0}")]
    Malformed(String),
    /// The request's self-signature does not verify: altered in transit,
    /// or not made with the key it carries.
    #[error("CSR signature invalid")]
    BadSignature,
    /// Key type problem.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Names problem.
    #[error(transparent)]
    Name(#[from] NameError),
    /// rcgen refused.
    #[error("CSR generation failed: {0}")]
    Generate(String),
}

/// A parsed request whose signature has been verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Csr {
    der: Vec<u8>,
    subject: Dn,
    subject_text: String,
    sans: Vec<SubjectAltName>,
    public_key: PublicKey,
}

impl Csr {
    /// Make and sign a request for `key` (`--req`).
    pub fn create(
        key: &PrivateKey,
        subject: &Dn,
        sans: &[SubjectAltName],
    ) -> Result<Self, CsrError> {
        let mut params = rcgen::CertificateParams::default();
        params.distinguished_name = subject.to_rcgen();
        params.subject_alt_names = sans
            .iter()
            .map(SubjectAltName::to_rcgen)
            .collect::<Result<_, _>>()?;
        let req = params
            .serialize_request(key.rcgen())
            .map_err(|e| CsrError::Generate(e.to_string()))?;
        Self::from_der(req.der())
    }

    /// Parse the first request in PEM or DER input and verify its signature.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CsrError> {
        let blocks = encoding::decode(bytes)?;
        let block = blocks
            .iter()
            .find(|b| matches!(b.kind, BlockKind::Csr | BlockKind::Der))
            .ok_or_else(|| CsrError::Malformed("no CERTIFICATE REQUEST in the input".into()))?;
        Self::from_der(&block.der)
    }

    /// Parse DER and verify the self-signature (RFC 2986 §3).
    pub fn from_der(der: &[u8]) -> Result<Self, CsrError> {
        let (rest, req) = X509CertificationRequest::from_der(der)
            .map_err(|e| CsrError::Malformed(e.to_string()))?;
        if !rest.is_empty() {
            return Err(CsrError::Malformed("trailing bytes after request".into()));
        }
        let info = &req.certification_request_info;
        let public_key = PublicKey::from_spki_der(info.subject_pki.raw)?;
        req.verify_signature().map_err(|_| CsrError::BadSignature)?;
        let mut sans = Vec::new();
        if let Some(exts) = req.requested_extensions() {
            for ext in exts {
                if let ParsedExtension::SubjectAlternativeName(san) = ext {
                    sans.extend(SubjectAltName::from_general_names(&san.general_names));
                }
            }
        }
        Ok(Self {
            der: der.to_vec(),
            subject: Dn::from_x509_name(&info.subject)?,
            subject_text: info.subject.to_string(),
            sans,
            public_key,
        })
    }

    /// DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// PEM `CERTIFICATE REQUEST`.
    pub fn to_pem(&self) -> String {
        encoding::to_pem("CERTIFICATE REQUEST", &self.der)
    }

    /// Requested subject.
    pub fn subject(&self) -> &Dn {
        &self.subject
    }

    /// Requested subject as text.
    pub fn subject_text(&self) -> &str {
        &self.subject_text
    }

    /// Requested SANs.
    pub fn sans(&self) -> &[SubjectAltName] {
        &self.sans
    }

    /// The key to certify.
    pub fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    /// SHA-256 over the DER request: the out-of-band check value that
    /// `ovs-pki req` prints, compared on the CA host before signing.
    pub fn fingerprint_sha256(&self) -> Vec<u8> {
        ring::digest::digest(&ring::digest::SHA256, &self.der)
            .as_ref()
            .to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::KeyType;

    #[test]
    fn create_parse_and_detect_tampering() {
        let key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
        let dn = Dn::parse("O=nvesec, CN=nve1").unwrap();
        let sans = vec![
            SubjectAltName::Dns("nve1".into()),
            SubjectAltName::Ip("192.0.2.7".parse().unwrap()),
        ];
        let csr = Csr::create(&key, &dn, &sans).unwrap();
        let back = Csr::from_bytes(csr.to_pem().as_bytes()).unwrap();
        assert_eq!(back.subject().to_string(), "O=nvesec, CN=nve1");
        assert_eq!(back.sans(), &sans[..]);
        assert_eq!(back.public_key(), &key.public_key());
        assert_eq!(back.fingerprint_sha256().len(), 32);
        let mut bad = csr.der().to_vec();
        let last = bad.len() - 1;
        bad[last] ^= 0x01;
        assert_eq!(Csr::from_der(&bad), Err(CsrError::BadSignature));
    }
}
