//! Chain validation shared by `nvesec-pki --verify` and nvesecd, so both
//! accept and reject exactly the same certificates.
//!
//! A simplified RFC 5280 §6 path validation for IKE (RFC 4945 §5): the
//! end-entity certificate chains through optional intermediates to a CA
//! certificate in the [`TrustStore`]; every signature must verify, every
//! certificate (trust anchor included, as strongSwan does) must be inside
//! its validity window at `now`, every issuer must carry basicConstraints
//! CA:TRUE (and keyCertSign if it has a keyUsage), path lengths are honoured,
//! an end entity with a keyUsage must allow digitalSignature, and no
//! certificate may be listed on a CRL from its issuer.

use crate::cert::{unix_seconds, CertError, Certificate};
use crate::crl::Crl;
use crate::key::{KeyError, PublicKey};
use crate::names::SubjectAltName;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::SystemTime;
use x509_parser::prelude::X509Certificate;

/// Longest chain accepted (end entity + intermediates + anchor).
pub const MAX_CHAIN_DEPTH: usize = 8;

/// Why a certificate was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// A certificate does not parse.
    #[error(transparent)]
    Cert(#[from] CertError),
    /// A key type nvesec does not support.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// `now` is after notAfter.
    #[error("certificate \"{subject}\" expired {days} days ago (not after {not_after})")]
    Expired {
        /// Subject DN.
        subject: String,
        /// notAfter as text.
        not_after: String,
        /// Whole days since expiry.
        days: i64,
    },
    /// `now` is before notBefore.
    #[error("certificate \"{subject}\" is not yet valid (not before {not_before})")]
    NotYetValid {
        /// Subject DN.
        subject: String,
        /// notBefore as text.
        not_before: String,
    },
    /// No trusted CA (or intermediate) issued it.
    #[error(
        "certificate \"{subject}\" is not issued by a trusted CA (its issuer is \"{issuer}\")"
    )]
    UnknownIssuer {
        /// Subject DN.
        subject: String,
        /// Issuer DN.
        issuer: String,
    },
    /// The issuer name matches but the signature does not verify.
    #[error("signature on certificate \"{subject}\" does not verify with the key of \"{issuer}\"")]
    BadSignature {
        /// Subject DN.
        subject: String,
        /// Issuer DN.
        issuer: String,
    },
    /// An issuer lacks basicConstraints CA:TRUE.
    #[error("issuer \"{0}\" has no CA basic constraint (CA:TRUE)")]
    NotCa(String),
    /// An issuer's keyUsage lacks keyCertSign.
    #[error("issuer \"{0}\" key usage does not allow certificate signing")]
    IssuerKeyUsage(String),
    /// pathLenConstraint exceeded.
    #[error("path length constraint of \"{0}\" exceeded")]
    PathLen(String),
    /// End entity keyUsage lacks digitalSignature.
    #[error("certificate \"{0}\" key usage does not allow digitalSignature")]
    KeyUsage(String),
    /// Listed on a CRL.
    #[error("certificate \"{subject}\" (serial {serial}) is revoked")]
    Revoked {
        /// Subject DN.
        subject: String,
        /// Serial, colon hex.
        serial: String,
    },
    /// Chain longer than [`MAX_CHAIN_DEPTH`] or looping.
    #[error("certificate chain too long")]
    ChainTooLong,
    /// A CA added to the trust store is not a CA certificate.
    #[error("\"{0}\" is not a CA certificate (no basicConstraints CA:TRUE)")]
    TrustAnchorNotCa(String),
    /// A CRL whose issuer is not in the store or whose signature is bad.
    #[error("CRL of \"{0}\" is not signed by a trusted CA")]
    CrlNotTrusted(String),
}

/// Trusted CA certificates plus the CRLs they signed.
#[derive(Debug, Clone, Default)]
pub struct TrustStore {
    cas: Vec<Certificate>,
    crls: Vec<(usize, Crl)>,
}

impl TrustStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a trusted CA certificate; it must carry CA:TRUE.
    pub fn add_ca(&mut self, ca: Certificate) -> Result<(), VerifyError> {
        let info = ca.info()?;
        if !info.is_ca {
            return Err(VerifyError::TrustAnchorNotCa(info.subject));
        }
        if !self.cas.contains(&ca) {
            self.cas.push(ca);
        }
        Ok(())
    }

    /// Add a CRL; it must be signed by one of the CAs already added.
    pub fn add_crl(&mut self, crl: Crl) -> Result<(), VerifyError> {
        let idx = self
            .cas
            .iter()
            .position(|ca| {
                ca.x509()
                    .is_ok_and(|c| c.subject().as_raw() == crl.issuer_der())
                    && crl.verify_signature(ca)
            })
            .ok_or_else(|| VerifyError::CrlNotTrusted(crl.issuer().to_string()))?;
        self.crls.push((idx, crl));
        Ok(())
    }

    /// The trusted CA certificates.
    pub fn cas(&self) -> &[Certificate] {
        &self.cas
    }

    /// Whether any CRL was loaded.
    pub fn has_crls(&self) -> bool {
        !self.crls.is_empty()
    }

    fn crl_signed_by(&self, issuer: &X509Certificate<'_>) -> impl Iterator<Item = &Crl> {
        let issuer_der = issuer.subject().as_raw().to_vec();
        let issuer_key = issuer.public_key().raw.to_vec();
        self.crls.iter().filter_map(move |(idx, crl)| {
            let ca = self.cas.get(*idx)?.x509().ok()?;
            (ca.subject().as_raw() == issuer_der && ca.public_key().raw == issuer_key)
                .then_some(crl)
        })
    }
}

/// A certificate that passed [`verify_chain`], with the facts IKE needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCert {
    /// The end-entity certificate.
    pub cert: Certificate,
    /// Subject DN, DER (for ID_DER_ASN1_DN).
    pub subject_der: Vec<u8>,
    /// Subject DN text.
    pub subject: String,
    /// subjectAltNames (DNS, IP, email).
    pub sans: Vec<SubjectAltName>,
    /// subjectKeyIdentifier, if present.
    pub subject_key_id: Option<Vec<u8>>,
    /// The subject public key (type, raw bytes, SPKI DER).
    pub public_key: PublicKey,
    /// notAfter (Unix seconds).
    pub not_after: i64,
    /// The trust anchor's subject DN text.
    pub anchor: String,
    /// Whether a CRL from the end entity's issuer was consulted.
    pub revocation_checked: bool,
}

/// An IKEv2 identity (RFC 7296 §3.5) to match against a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IkeIdentity {
    /// ID_IPV4_ADDR
    Ipv4(Ipv4Addr),
    /// ID_FQDN
    Fqdn(String),
    /// ID_RFC822_ADDR
    Rfc822(String),
    /// ID_IPV6_ADDR
    Ipv6(Ipv6Addr),
    /// ID_DER_ASN1_DN
    DerAsn1Dn(Vec<u8>),
    /// ID_KEY_ID
    KeyId(Vec<u8>),
}

impl VerifiedCert {
    /// Whether the certificate vouches for `id`, with strongSwan's rules:
    /// FQDN, RFC822 and IP identities match a subjectAltName of that kind
    /// (names case-insensitively); a DN matches the subject DN byte for byte;
    /// a KEY_ID matches the subjectKeyIdentifier, SHA-1 of the
    /// subjectPublicKey or SHA-1 of the SubjectPublicKeyInfo (strongSwan's
    /// `pki --keyid` "subjkey" and "keyid").
    pub fn matches_id(&self, id: &IkeIdentity) -> bool {
        match id {
            IkeIdentity::Fqdn(name) => self
                .sans
                .iter()
                .any(|s| matches!(s, SubjectAltName::Dns(d) if d.eq_ignore_ascii_case(name))),
            IkeIdentity::Rfc822(mail) => self
                .sans
                .iter()
                .any(|s| matches!(s, SubjectAltName::Email(e) if e.eq_ignore_ascii_case(mail))),
            IkeIdentity::Ipv4(ip) => self.sans.contains(&SubjectAltName::Ip((*ip).into())),
            IkeIdentity::Ipv6(ip) => self.sans.contains(&SubjectAltName::Ip((*ip).into())),
            IkeIdentity::DerAsn1Dn(dn) => *dn == self.subject_der,
            IkeIdentity::KeyId(kid) => {
                self.subject_key_id.as_deref() == Some(kid.as_slice())
                    || *kid == self.public_key.subjkey_sha1()
                    || *kid == self.public_key.keyid_sha1()
            }
        }
    }

    /// Whole days until notAfter (for the 30/7/1-day warnings).
    pub fn days_until_expiry(&self, now: SystemTime) -> i64 {
        crate::cert::days_until(self.not_after, now)
    }
}

/// Validate `end_entity` (with optional `intermediates`) against the store.
pub fn verify_chain(
    end_entity: &Certificate,
    intermediates: &[Certificate],
    store: &TrustStore,
    now: SystemTime,
) -> Result<VerifiedCert, VerifyError> {
    let ee = end_entity.x509()?;
    let public_key = PublicKey::from_spki_der(ee.public_key().raw)?;
    let info = end_entity.info()?;
    // RFC 4945 §5.1.3.2: an end entity that signs IKE AUTH needs
    // digitalSignature when it restricts its key usage. A CA certificate
    // checked on its own (`--verify --in ca.pem`) is not an end entity.
    if !info.is_ca && !info.key_usage.is_empty() && !info.key_usage.contains(&"digitalSignature") {
        return Err(VerifyError::KeyUsage(info.subject));
    }
    let now_secs = unix_seconds(now);
    let mut current = end_entity.clone();
    let mut revocation_checked = false;
    // Number of intermediates below the issuer being examined (RFC 5280
    // §4.2.1.9: pathLen counts non-self-issued intermediates that follow).
    let mut below = 0u32;
    for depth in 0..MAX_CHAIN_DEPTH {
        let cur = current.x509()?;
        check_validity(&cur, now_secs)?;
        let (issuer, is_anchor) = find_issuer(&cur, intermediates, store)?;
        let iss = issuer.x509()?;
        check_issuer(&iss, below)?;
        if depth == 0 {
            revocation_checked = store.crl_signed_by(&iss).next().is_some();
        }
        if store
            .crl_signed_by(&iss)
            .any(|c| c.is_revoked(cur.raw_serial()))
        {
            return Err(VerifyError::Revoked {
                subject: cur.subject().to_string(),
                serial: crate::key::hex_colon(cur.raw_serial()),
            });
        }
        if is_anchor {
            check_validity(&iss, now_secs)?;
            return Ok(VerifiedCert {
                cert: end_entity.clone(),
                subject_der: info.subject_der,
                subject: info.subject,
                sans: info.sans,
                subject_key_id: info.subject_key_id,
                public_key,
                not_after: info.not_after,
                anchor: iss.subject().to_string(),
                revocation_checked,
            });
        }
        if depth > 0 || cur.subject().as_raw() != cur.issuer().as_raw() {
            below += 1;
        }
        drop(cur);
        current = issuer;
    }
    Err(VerifyError::ChainTooLong)
}

fn check_validity(c: &X509Certificate<'_>, now: i64) -> Result<(), VerifyError> {
    let v = c.validity();
    if now < v.not_before.timestamp() {
        return Err(VerifyError::NotYetValid {
            subject: c.subject().to_string(),
            not_before: v.not_before.to_string(),
        });
    }
    if now > v.not_after.timestamp() {
        return Err(VerifyError::Expired {
            subject: c.subject().to_string(),
            not_after: v.not_after.to_string(),
            days: (now - v.not_after.timestamp()).div_euclid(86_400),
        });
    }
    Ok(())
}

/// Find the issuer: trust anchors first, then the supplied intermediates.
/// A name match whose signature fails is remembered to give the better error.
fn find_issuer(
    cur: &X509Certificate<'_>,
    intermediates: &[Certificate],
    store: &TrustStore,
) -> Result<(Certificate, bool), VerifyError> {
    let mut name_matched = false;
    let candidates = store
        .cas
        .iter()
        .map(|c| (c, true))
        .chain(intermediates.iter().map(|c| (c, false)));
    for (cand, is_anchor) in candidates {
        let Ok(c) = cand.x509() else { continue };
        if c.subject().as_raw() != cur.issuer().as_raw() {
            continue;
        }
        name_matched = true;
        if cur.verify_signature(Some(c.public_key())).is_ok() {
            return Ok((cand.clone(), is_anchor));
        }
    }
    let subject = cur.subject().to_string();
    let issuer = cur.issuer().to_string();
    Err(if name_matched {
        VerifyError::BadSignature { subject, issuer }
    } else {
        VerifyError::UnknownIssuer { subject, issuer }
    })
}

fn check_issuer(iss: &X509Certificate<'_>, below: u32) -> Result<(), VerifyError> {
    let name = || iss.subject().to_string();
    let bc = iss
        .basic_constraints()
        .map_err(|e| CertError::Malformed(e.to_string()))?
        .map(|b| b.value.clone());
    let Some(bc) = bc.filter(|b| b.ca) else {
        return Err(VerifyError::NotCa(name()));
    };
    if bc.path_len_constraint.is_some_and(|n| below > n) {
        return Err(VerifyError::PathLen(name()));
    }
    if let Some(ku) = iss
        .key_usage()
        .map_err(|e| CertError::Malformed(e.to_string()))?
    {
        if !ku.value.key_cert_sign() {
            return Err(VerifyError::IssuerKeyUsage(name()));
        }
    }
    Ok(())
}
