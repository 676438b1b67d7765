//! X.509 certificates: loading (PEM/DER), the facts `--print` and the
//! daemon need, and days until expiry for the 30/7/1-day warnings.

use crate::encoding::{self, BlockKind};
use crate::key::{KeyError, PublicKey};
use crate::names::SubjectAltName;
use std::time::{SystemTime, UNIX_EPOCH};
use x509_parser::prelude::*;

/// A certificate could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    /// PEM/DER framing problem.
    #[error(transparent)]
    Encoding(#[from] encoding::EncodingError),
    /// Not an X.509 certificate.
    #[error("not a valid X.509 certificate: {0}")]
    Malformed(String),
    /// PEM without a CERTIFICATE block.
    #[error("no certificate in the input")]
    NoCertificate,
}

/// One DER certificate, checked to parse when it was built.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Certificate {
    der: Vec<u8>,
}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.x509() {
            Ok(c) => write!(f, "Certificate(\"{}\")", c.subject()),
            Err(_) => write!(f, "Certificate(<unparsable>)"),
        }
    }
}

impl Certificate {
    /// Wrap DER bytes after checking that they parse without trailing data.
    pub fn from_der(der: Vec<u8>) -> Result<Self, CertError> {
        match X509Certificate::from_der(&der) {
            Ok(([], _)) => Ok(Self { der }),
            Ok(_) => Err(CertError::Malformed(
                "trailing bytes after certificate".into(),
            )),
            Err(e) => Err(CertError::Malformed(e.to_string())),
        }
    }

    /// All certificates in a PEM file (a chain), or the one DER certificate.
    pub fn from_bytes(bytes: &[u8]) -> Result<Vec<Self>, CertError> {
        let certs: Vec<Self> = encoding::decode(bytes)?
            .into_iter()
            .filter(|b| matches!(b.kind, BlockKind::Certificate | BlockKind::Der))
            .map(|b| Self::from_der(b.der.to_vec()))
            .collect::<Result<_, _>>()?;
        if certs.is_empty() {
            return Err(CertError::NoCertificate);
        }
        Ok(certs)
    }

    /// DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// PEM `CERTIFICATE`.
    pub fn to_pem(&self) -> String {
        encoding::to_pem("CERTIFICATE", &self.der)
    }

    /// The parsed view (borrowing `self`).
    pub fn x509(&self) -> Result<X509Certificate<'_>, CertError> {
        X509Certificate::from_der(&self.der)
            .map(|(_, c)| c)
            .map_err(|e| CertError::Malformed(e.to_string()))
    }

    /// The subject public key, if it is a type nvesec supports.
    pub fn public_key(&self) -> Result<PublicKey, KeyError> {
        let c = self
            .x509()
            .map_err(|e| KeyError::BadPublicKey(e.to_string()))?;
        PublicKey::from_spki_der(c.public_key().raw)
    }

    /// Everything `--print` shows, as owned values.
    pub fn info(&self) -> Result<CertInfo, CertError> {
        let c = self.x509()?;
        let bad = |e: X509Error| CertError::Malformed(e.to_string());
        let bc = c.basic_constraints().map_err(bad)?.map(|e| e.value.clone());
        let key_usage = c
            .key_usage()
            .map_err(bad)?
            .map(|ku| key_usage_names(ku.value))
            .unwrap_or_default();
        let ext_key_usage = c
            .extended_key_usage()
            .map_err(bad)?
            .map(|e| eku_names(e.value))
            .unwrap_or_default();
        let sans = c
            .subject_alternative_name()
            .map_err(bad)?
            .map(|s| SubjectAltName::from_general_names(&s.value.general_names))
            .unwrap_or_default();
        let mut subject_key_id = None;
        let mut authority_key_id = None;
        for ext in c.extensions() {
            match ext.parsed_extension() {
                ParsedExtension::SubjectKeyIdentifier(k) => subject_key_id = Some(k.0.to_vec()),
                ParsedExtension::AuthorityKeyIdentifier(a) => {
                    authority_key_id = a.key_identifier.as_ref().map(|k| k.0.to_vec())
                }
                _ => {}
            }
        }
        Ok(CertInfo {
            subject: c.subject().to_string(),
            subject_der: c.subject().as_raw().to_vec(),
            issuer: c.issuer().to_string(),
            serial: c.raw_serial().to_vec(),
            not_before: c.validity().not_before.timestamp(),
            not_after: c.validity().not_after.timestamp(),
            is_ca: bc.as_ref().is_some_and(|b| b.ca),
            path_len: bc.and_then(|b| b.path_len_constraint),
            key_usage,
            ext_key_usage,
            sans,
            subject_key_id,
            authority_key_id,
            self_signed: c.subject().as_raw() == c.issuer().as_raw()
                && c.verify_signature(None).is_ok(),
            public_key: PublicKey::from_spki_der(c.public_key().raw),
        })
    }
}

/// Owned facts about a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// Subject DN, strongSwan/RFC 4514-like text ("C=CH, O=x, CN=y").
    pub subject: String,
    /// Subject DN DER.
    pub subject_der: Vec<u8>,
    /// Issuer DN text.
    pub issuer: String,
    /// Serial number octets as encoded.
    pub serial: Vec<u8>,
    /// notBefore, seconds since the Unix epoch.
    pub not_before: i64,
    /// notAfter, seconds since the Unix epoch.
    pub not_after: i64,
    /// basicConstraints cA.
    pub is_ca: bool,
    /// basicConstraints pathLenConstraint.
    pub path_len: Option<u32>,
    /// keyUsage bits by name (empty = extension absent).
    pub key_usage: Vec<&'static str>,
    /// extendedKeyUsage names/OIDs.
    pub ext_key_usage: Vec<String>,
    /// SANs of the kinds nvesec uses.
    pub sans: Vec<SubjectAltName>,
    /// subjectKeyIdentifier.
    pub subject_key_id: Option<Vec<u8>>,
    /// authorityKeyIdentifier keyIdentifier.
    pub authority_key_id: Option<Vec<u8>>,
    /// Subject == issuer and the signature verifies with its own key.
    pub self_signed: bool,
    /// The public key (or why it is not supported).
    pub public_key: Result<PublicKey, KeyError>,
}

impl CertInfo {
    /// Whole days from `now` until notAfter (negative once expired).
    pub fn days_until_expiry(&self, now: SystemTime) -> i64 {
        days_until(self.not_after, now)
    }
}

/// Whole days from `now` until `unix_secs` (floor; negative in the past).
/// The daemon warns at 30, 7 and 1 days with this.
pub fn days_until(unix_secs: i64, now: SystemTime) -> i64 {
    (unix_secs - unix_seconds(now)).div_euclid(86_400)
}

/// `now` as seconds since the Unix epoch (negative before it).
pub fn unix_seconds(now: SystemTime) -> i64 {
    match now.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

fn key_usage_names(ku: &KeyUsage) -> Vec<&'static str> {
    let pairs = [
        (ku.digital_signature(), "digitalSignature"),
        (ku.non_repudiation(), "nonRepudiation"),
        (ku.key_encipherment(), "keyEncipherment"),
        (ku.data_encipherment(), "dataEncipherment"),
        (ku.key_agreement(), "keyAgreement"),
        (ku.key_cert_sign(), "keyCertSign"),
        (ku.crl_sign(), "cRLSign"),
        (ku.encipher_only(), "encipherOnly"),
        (ku.decipher_only(), "decipherOnly"),
    ];
    pairs
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, n)| *n)
        .collect()
}

fn eku_names(eku: &ExtendedKeyUsage) -> Vec<String> {
    let mut out = Vec::new();
    let flags = [
        (eku.any, "any"),
        (eku.server_auth, "serverAuth"),
        (eku.client_auth, "clientAuth"),
        (eku.code_signing, "codeSigning"),
        (eku.email_protection, "emailProtection"),
        (eku.time_stamping, "timeStamping"),
        (eku.ocsp_signing, "ocspSigning"),
    ];
    out.extend(
        flags
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, n)| n.to_string()),
    );
    for oid in &eku.other {
        out.push(match oid.to_id_string().as_str() {
            "1.3.6.1.5.5.7.3.17" => "ipsecIKE".to_string(),
            "1.3.6.1.5.5.8.2.2" => "ikeIntermediate".to_string(),
            other => other.to_string(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn days_until_floors() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(days_until(1_000_000 + 86_400 * 30, now), 30);
        assert_eq!(days_until(1_000_000 + 86_400 * 30 - 1, now), 29);
        assert_eq!(days_until(1_000_000 - 1, now), -1);
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        assert!(matches!(
            Certificate::from_der(vec![0x30, 0x03, 0x02, 0x01, 0x01]),
            Err(CertError::Malformed(_))
        ));
        assert!(matches!(
            Certificate::from_bytes(
                b"-----BEGIN PUBLIC KEY-----\nMAA=\n-----END PUBLIC KEY-----\n"
            ),
            Err(CertError::NoCertificate)
        ));
    }
}
