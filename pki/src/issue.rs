//! Making certificates with rcgen: self-signed CA certificates (`--self`)
//! and certificates issued from a CSR or public key (`--issue`), with the
//! profile nvesec wants (RFC 5280 §4.2; RFC 4945 §5.1.3 for IKE).

use crate::cert::{CertError, Certificate};
use crate::key::{KeyError, PrivateKey, PublicKey};
use crate::names::{looks_like_hostname, Dn, NameError, SubjectAltName};
use ring::rand::SecureRandom;
use std::time::{Duration, SystemTime};

/// The id-kp-ipsecIKE extended key usage (RFC 4945 §5.1.3.12).
pub const OID_IPSEC_IKE: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 3, 17];
/// strongSwan's ikeIntermediate (1.3.6.1.5.5.8.2.2).
pub const OID_IKE_INTERMEDIATE: &[u64] = &[1, 3, 6, 1, 5, 5, 8, 2, 2];

/// Default certificate lifetime, as strongSwan's pki (days).
pub const DEFAULT_LIFETIME_DAYS: u32 = 1095;

/// An extended key usage selectable with `--flag`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flag {
    /// id-kp-serverAuth
    ServerAuth,
    /// id-kp-clientAuth
    ClientAuth,
    /// id-kp-ipsecIKE
    IpsecIke,
    /// strongSwan's ikeIntermediate
    IkeIntermediate,
    /// id-kp-OCSPSigning
    OcspSigning,
    /// strongSwan's crlSign flag: adds the cRLSign key usage.
    CrlSign,
}

impl Flag {
    /// Parse a strongSwan `--flag` value.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "serverAuth" => Self::ServerAuth,
            "clientAuth" => Self::ClientAuth,
            "ipsecIKE" => Self::IpsecIke,
            "ikeIntermediate" => Self::IkeIntermediate,
            "ocspSigning" => Self::OcspSigning,
            "crlSign" => Self::CrlSign,
            _ => return None,
        })
    }
}

/// What to put in a certificate.
#[derive(Debug, Clone)]
pub struct CertProfile {
    /// Subject DN.
    pub subject: Dn,
    /// subjectAltNames (the OVN rule may add one, see `ovn_identity_rule`).
    pub sans: Vec<SubjectAltName>,
    /// Validity in days from `not_before` (strongSwan `--lifetime`).
    pub lifetime_days: u32,
    /// Explicit notBefore (default: now).
    pub not_before: Option<SystemTime>,
    /// Explicit notAfter (default: notBefore + lifetime).
    pub not_after: Option<SystemTime>,
    /// basicConstraints cA (and keyCertSign + cRLSign key usage).
    pub ca: bool,
    /// pathLenConstraint for a CA.
    pub path_len: Option<u8>,
    /// Extended key usages; empty on an end-entity certificate means the
    /// IKE default serverAuth + clientAuth + ipsecIKE.
    pub flags: Vec<Flag>,
    /// Serial number octets (default: 128 random bits).
    pub serial: Option<Vec<u8>>,
    /// Host name = CN = SAN DNS (ecosystem §2.1): add the CN as a SAN DNS
    /// name when it looks like a host name.
    pub ovn_identity_rule: bool,
}

impl CertProfile {
    /// An end-entity profile with nvesec's defaults.
    pub fn end_entity(subject: Dn) -> Self {
        Self {
            subject,
            sans: Vec::new(),
            lifetime_days: DEFAULT_LIFETIME_DAYS,
            not_before: None,
            not_after: None,
            ca: false,
            path_len: None,
            flags: Vec::new(),
            serial: None,
            ovn_identity_rule: true,
        }
    }

    /// A CA profile with nvesec's defaults.
    pub fn ca(subject: Dn) -> Self {
        Self {
            ca: true,
            ovn_identity_rule: false,
            ..Self::end_entity(subject)
        }
    }
}

/// Issuing failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IssueError {
    /// The CA key is not the key of the CA certificate.
    #[error("CA private key does not match the CA certificate")]
    KeyMismatch,
    /// The CA certificate lacks basicConstraints CA:TRUE.
    #[error("CA certificate has no CA basic constraint (CA:TRUE): it cannot issue certificates")]
    NotCa,
    /// The CA certificate has a keyUsage without keyCertSign.
    #[error("CA certificate key usage does not allow certificate signing")]
    NoCertSign,
    /// Bad names.
    #[error(transparent)]
    Name(#[from] NameError),
    /// Key problem.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The CA certificate does not parse.
    #[error(transparent)]
    Cert(#[from] CertError),
    /// Validity window is empty or out of range.
    #[error("invalid validity period: {0}")]
    Validity(&'static str),
    /// rcgen refused.
    #[error("certificate generation failed: {0}")]
    Generate(String),
}

/// A self-signed certificate (normally a CA: `profile.ca`).
pub fn self_sign(
    key: &PrivateKey,
    profile: &CertProfile,
    now: SystemTime,
) -> Result<Certificate, IssueError> {
    let params = build_params(profile, &key.public_key(), now)?;
    let cert = params
        .self_signed(key.rcgen())
        .map_err(|e| IssueError::Generate(e.to_string()))?;
    Ok(Certificate::from_der(cert.der().to_vec())?)
}

/// Issue a certificate for `subject_key`, signed by the CA.
pub fn issue(
    subject_key: &PublicKey,
    profile: &CertProfile,
    ca_cert: &Certificate,
    ca_key: &PrivateKey,
    now: SystemTime,
) -> Result<Certificate, IssueError> {
    let issuer = issuer_for(ca_cert, ca_key)?;
    let params = build_params(profile, subject_key, now)?;
    let spki = rcgen::SubjectPublicKeyInfo::from_der(subject_key.spki_der())
        .map_err(|e| IssueError::Generate(e.to_string()))?;
    let cert = params
        .signed_by(&spki, &issuer)
        .map_err(|e| IssueError::Generate(e.to_string()))?;
    Ok(Certificate::from_der(cert.der().to_vec())?)
}

/// Check the CA pair and build an rcgen issuer (subject, SKI and key usage
/// from the CA certificate so the AKI matches its SKI).
pub(crate) fn issuer_for<'a>(
    ca_cert: &Certificate,
    ca_key: &'a PrivateKey,
) -> Result<rcgen::Issuer<'static, &'a rcgen::KeyPair>, IssueError> {
    if ca_cert.public_key()? != ca_key.public_key() {
        return Err(IssueError::KeyMismatch);
    }
    let info = ca_cert.info()?;
    if !info.is_ca {
        return Err(IssueError::NotCa);
    }
    if !info.key_usage.is_empty() && !info.key_usage.contains(&"keyCertSign") {
        return Err(IssueError::NoCertSign);
    }
    let der = rustls_pki_types::CertificateDer::from(ca_cert.der());
    rcgen::Issuer::from_ca_cert_der(&der, ca_key.rcgen())
        .map_err(|e| IssueError::Generate(e.to_string()))
}

fn build_params(
    profile: &CertProfile,
    key: &PublicKey,
    now: SystemTime,
) -> Result<rcgen::CertificateParams, IssueError> {
    let mut p = rcgen::CertificateParams::default();
    p.distinguished_name = profile.subject.to_rcgen();
    let not_before = profile.not_before.unwrap_or(now);
    let not_after = match profile.not_after {
        Some(t) => t,
        None => not_before + Duration::from_secs(u64::from(profile.lifetime_days) * 86_400),
    };
    if not_after <= not_before {
        return Err(IssueError::Validity("notAfter is not after notBefore"));
    }
    p.not_before = to_offset(not_before)?;
    p.not_after = to_offset(not_after)?;
    p.serial_number = Some(match &profile.serial {
        Some(s) => rcgen::SerialNumber::from_slice(s),
        None => rcgen::SerialNumber::from_slice(&random_serial()?),
    });
    p.subject_alt_names = effective_sans(profile)
        .iter()
        .map(SubjectAltName::to_rcgen)
        .collect::<Result<_, _>>()?;
    // RFC 5280 §4.2.1.2 method 1 (SHA-1 of the key), as strongSwan writes it.
    p.key_identifier_method = rcgen::KeyIdMethod::PreSpecified(key.subjkey_sha1());
    p.use_authority_key_identifier_extension = true;
    if profile.ca {
        p.is_ca = rcgen::IsCa::Ca(match profile.path_len {
            Some(n) => rcgen::BasicConstraints::Constrained(n),
            None => rcgen::BasicConstraints::Unconstrained,
        });
        p.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
    } else {
        p.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
        if profile.flags.contains(&Flag::CrlSign) {
            p.key_usages.push(rcgen::KeyUsagePurpose::CrlSign);
        }
    }
    p.extended_key_usages = extended_key_usages(profile);
    Ok(p)
}

/// The SANs after the OVN identity rule.
pub fn effective_sans(profile: &CertProfile) -> Vec<SubjectAltName> {
    let mut sans = profile.sans.clone();
    if profile.ovn_identity_rule && !profile.ca {
        if let Some(cn) = profile.subject.cn().filter(|cn| looks_like_hostname(cn)) {
            let san = SubjectAltName::Dns(cn.to_string());
            if !sans.contains(&san) {
                sans.insert(0, san);
            }
        }
    }
    sans
}

fn extended_key_usages(profile: &CertProfile) -> Vec<rcgen::ExtendedKeyUsagePurpose> {
    use rcgen::ExtendedKeyUsagePurpose as E;
    let flags: Vec<Flag> = if profile.flags.iter().all(|f| *f == Flag::CrlSign) && !profile.ca {
        vec![Flag::ServerAuth, Flag::ClientAuth, Flag::IpsecIke]
    } else {
        profile.flags.clone()
    };
    flags
        .iter()
        .filter_map(|f| match f {
            Flag::ServerAuth => Some(E::ServerAuth),
            Flag::ClientAuth => Some(E::ClientAuth),
            Flag::IpsecIke => Some(E::Other(OID_IPSEC_IKE.to_vec())),
            Flag::IkeIntermediate => Some(E::Other(OID_IKE_INTERMEDIATE.to_vec())),
            Flag::OcspSigning => Some(E::OcspSigning),
            Flag::CrlSign => None,
        })
        .collect()
}

/// 128 random bits; the leading octet is non-zero so the encoded serial is
/// always 16 or 17 octets (RFC 5280 §4.1.2.2 allows up to 20).
pub fn random_serial() -> Result<Vec<u8>, KeyError> {
    let mut s = vec![0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut s)
        .map_err(|_| KeyError::Random)?;
    if s[0] == 0 {
        s[0] = 1;
    }
    Ok(s)
}

pub(crate) fn to_offset(t: SystemTime) -> Result<time::OffsetDateTime, IssueError> {
    let secs = crate::cert::unix_seconds(t);
    time::OffsetDateTime::from_unix_timestamp(secs)
        .map_err(|_| IssueError::Validity("date out of range"))
}
