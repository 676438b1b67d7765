//! Certificate revocation lists (RFC 5280 §5): signing (`--signcrl`) and
//! the parsed form the trust store checks serials against.

use crate::cert::{unix_seconds, CertError, Certificate};
use crate::encoding::{self, BlockKind};
use crate::issue::{issuer_for, to_offset, IssueError};
use crate::key::PrivateKey;
use std::collections::HashSet;
use std::time::{Duration, SystemTime};
use x509_parser::prelude::{CertificateRevocationList, FromDer};

/// Default CRL lifetime (strongSwan pki `--signcrl`: 15 days).
pub const DEFAULT_CRL_LIFETIME_DAYS: u32 = 15;

/// A CRL could not be made or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CrlError {
    /// PEM/DER framing problem.
    #[error(transparent)]
    Encoding(#[from] encoding::EncodingError),
    /// Not a CRL.
    #[error("not a valid X.509 CRL: {0}")]
    Malformed(String),
    /// Signing problem (CA pair).
    #[error(transparent)]
    Issue(#[from] IssueError),
    /// Certificate to revoke did not load.
    #[error(transparent)]
    Cert(#[from] CertError),
    /// Unknown `--reason`.
    #[error("unknown revocation reason '{0}'")]
    BadReason(String),
    /// rcgen refused.
    #[error("CRL generation failed: {0}")]
    Generate(String),
}

/// One entry to revoke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// Serial number octets of the revoked certificate.
    pub serial: Vec<u8>,
    /// RFC 5280 §5.3.1 reason, by strongSwan's name (`key-compromise`, ...).
    pub reason: Option<String>,
    /// When it was revoked (default: the CRL's thisUpdate).
    pub date: Option<SystemTime>,
}

/// Parse a strongSwan `--reason` name.
pub fn parse_reason(text: &str) -> Result<rcgen::RevocationReason, CrlError> {
    use rcgen::RevocationReason as R;
    Ok(match text {
        "key-compromise" => R::KeyCompromise,
        "ca-compromise" => R::CaCompromise,
        "affiliation-changed" => R::AffiliationChanged,
        "superseded" => R::Superseded,
        "cessation-of-operation" => R::CessationOfOperation,
        "certificate-hold" => R::CertificateHold,
        "unspecified" => R::Unspecified,
        other => return Err(CrlError::BadReason(other.to_string())),
    })
}

/// Sign a CRL with the CA's key (`--signcrl`).
pub fn sign_crl(
    ca_cert: &Certificate,
    ca_key: &PrivateKey,
    revoked: &[Revocation],
    lifetime_days: u32,
    crl_number: u64,
    now: SystemTime,
) -> Result<Crl, CrlError> {
    let issuer = issuer_for(ca_cert, ca_key)?;
    let revoked_certs = revoked
        .iter()
        .map(|r| {
            Ok(rcgen::RevokedCertParams {
                serial_number: rcgen::SerialNumber::from_slice(&r.serial),
                revocation_time: to_offset(r.date.unwrap_or(now))?,
                reason_code: r.reason.as_deref().map(parse_reason).transpose()?,
                invalidity_date: None,
            })
        })
        .collect::<Result<Vec<_>, CrlError>>()?;
    let params = rcgen::CertificateRevocationListParams {
        this_update: to_offset(now)?,
        next_update: to_offset(
            now + Duration::from_secs(u64::from(lifetime_days.max(1)) * 86_400),
        )?,
        crl_number: rcgen::SerialNumber::from_slice(&crl_number.to_be_bytes()),
        issuing_distribution_point: None,
        revoked_certs,
        key_identifier_method: rcgen::KeyIdMethod::PreSpecified(ca_key.public_key().subjkey_sha1()),
    };
    let crl = params
        .signed_by(&issuer)
        .map_err(|e| CrlError::Generate(e.to_string()))?;
    Crl::from_der(crl.der().to_vec())
}

/// A parsed CRL (its signature is checked by the trust store against the CA).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crl {
    der: Vec<u8>,
    issuer_der: Vec<u8>,
    issuer: String,
    this_update: i64,
    next_update: Option<i64>,
    revoked: HashSet<Vec<u8>>,
}

impl Crl {
    /// Parse the first CRL in PEM or DER input.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CrlError> {
        let blocks = encoding::decode(bytes)?;
        let block = blocks
            .into_iter()
            .find(|b| matches!(b.kind, BlockKind::Crl | BlockKind::Der))
            .ok_or_else(|| CrlError::Malformed("no X509 CRL in the input".into()))?;
        Self::from_der(block.der.to_vec())
    }

    /// Parse DER.
    pub fn from_der(der: Vec<u8>) -> Result<Self, CrlError> {
        let (rest, crl) = CertificateRevocationList::from_der(&der)
            .map_err(|e| CrlError::Malformed(e.to_string()))?;
        if !rest.is_empty() {
            return Err(CrlError::Malformed("trailing bytes after CRL".into()));
        }
        let issuer_der = crl.issuer().as_raw().to_vec();
        let issuer = crl.issuer().to_string();
        let this_update = crl.last_update().timestamp();
        let next_update = crl.next_update().map(|t| t.timestamp());
        let revoked = crl
            .iter_revoked_certificates()
            .map(|r| normalize_serial(r.raw_serial()))
            .collect();
        Ok(Self {
            der,
            issuer_der,
            issuer,
            this_update,
            next_update,
            revoked,
        })
    }

    /// DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// PEM `X509 CRL`.
    pub fn to_pem(&self) -> String {
        encoding::to_pem("X509 CRL", &self.der)
    }

    /// Issuer DN as text.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Issuer DN DER.
    pub fn issuer_der(&self) -> &[u8] {
        &self.issuer_der
    }

    /// thisUpdate (Unix seconds).
    pub fn this_update(&self) -> i64 {
        self.this_update
    }

    /// nextUpdate (Unix seconds).
    pub fn next_update(&self) -> Option<i64> {
        self.next_update
    }

    /// True when nextUpdate has passed.
    pub fn is_stale(&self, now: SystemTime) -> bool {
        self.next_update.is_some_and(|n| n < unix_seconds(now))
    }

    /// Number of revoked entries.
    pub fn revoked_count(&self) -> usize {
        self.revoked.len()
    }

    /// Whether a serial (as encoded in the certificate) is listed.
    pub fn is_revoked(&self, serial: &[u8]) -> bool {
        self.revoked.contains(&normalize_serial(serial))
    }

    /// Check the CRL signature with the issuer's certificate.
    pub fn verify_signature(&self, issuer: &Certificate) -> bool {
        let Ok((_, crl)) = CertificateRevocationList::from_der(&self.der) else {
            return false;
        };
        let Ok(ca) = issuer.x509() else { return false };
        crl.verify_signature(ca.public_key()).is_ok()
    }
}

/// Serials compare as integers: drop the sign-padding zero octets.
fn normalize_serial(serial: &[u8]) -> Vec<u8> {
    let skip = serial.iter().take_while(|&&b| b == 0).count();
    serial[skip.min(serial.len().saturating_sub(1))..].to_vec()
}
