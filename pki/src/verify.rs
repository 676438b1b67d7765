//! Chain validation shared by `nvesec-pki --verify` and nvesecd, so both
//! accept and reject exactly the same certificates.
//!
//! A simplified RFC 5280 §6 path validation for IKE (RFC 4945 §5): the
//! end-entity certificate chains through optional intermediates to a CA
//! certificate in the [`TrustStore`]; every signature must verify, every
//! certificate (trust anchor included, as strongSwan does) must be inside
//! its validity window at `now`, every issuer must carry basicConstraints
//! CA:TRUE (and keyCertSign if it has a keyUsage), path lengths are honoured
//! (RFC 5280 §6.1.4 (l),(m)), an end entity with a keyUsage must allow
//! digitalSignature, and no certificate may be listed on a CRL from its
//! issuer. No certificate of the path, the anchor included, may carry a
//! critical extension not in [`PROCESSED_EXTENSIONS`] (RFC 5280 §4.2), and
//! the nameConstraints of every CA of the path, the anchor included, hold for
//! the certificates below it (RFC 5280 §4.2.1.10, §6.1.3 (b),(c); see
//! [`check_name_constraints`]).

use crate::cert::{unix_seconds, CertError, Certificate};
use crate::crl::Crl;
use crate::key::{KeyError, PublicKey};
use crate::names::SubjectAltName;
use crate::rdn::{RdnSequence, EMAIL_ADDRESS};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::SystemTime;
use x509_parser::prelude::{GeneralName, X509Certificate};

/// Longest chain accepted (end entity + intermediates + anchor).
pub const MAX_CHAIN_DEPTH: usize = 8;

/// Most certificates a peer may present for one chain (end entity + intermediates; the CERT
/// payloads of one IKE_AUTH). strongSwan's credential manager follows at most
/// `MAX_TRUST_PATH_LEN` (7) issuer steps, so end entity + 7 is the longest chain it builds;
/// more certificates cannot shorten a path, they only cost parsing and signature checks.
pub const MAX_PEER_CERTS: usize = 8;

/// RSA issuer keys must have between this many bits and [`MAX_RSA_BITS`]: RFC 8247 §3.1
/// (and NIST SP 800-131A) treat smaller RSA keys as weak.
pub const MIN_RSA_BITS: usize = 2048;

/// Largest RSA issuer key accepted. Verification cost grows with the modulus: an 8192-bit key
/// costs about 4 times a 4096-bit one, with nothing gained against a forger. RFC 8247 needs
/// nothing above 4096 bits.
pub const MAX_RSA_BITS: usize = 4096;

/// Signature algorithms (certificate signatures) refused because they hash with SHA-1 or
/// worse: RFC 8247 §3.2 ("SHA-1 MUST NOT be used"), RFC 9155. DER OID contents.
const WEAK_SIGNATURE_OIDS: &[(&[u8], &str)] = &[
    // 1.2.840.113549.1.1.5 sha1WithRSAEncryption
    (
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05],
        "sha1WithRSAEncryption",
    ),
    // 1.3.14.3.2.29 sha1WithRSASignature (OIW)
    (&[0x2b, 0x0e, 0x03, 0x02, 0x1d], "sha1WithRSASignature"),
    // 1.2.840.10045.4.1 ecdsa-with-SHA1
    (
        &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x01],
        "ecdsa-with-SHA1",
    ),
    // 1.2.840.10040.4.3 dsa-with-sha1
    (&[0x2a, 0x86, 0x48, 0xce, 0x38, 0x04, 0x03], "dsa-with-sha1"),
    // 1.2.840.113549.1.1.4 md5WithRSAEncryption
    (
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x04],
        "md5WithRSAEncryption",
    ),
];

/// 1.2.840.113549.1.1.1 rsaEncryption
const OID_RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

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
    /// More certificates presented than [`MAX_PEER_CERTS`].
    #[error("{got} certificates presented, at most {max} are considered")]
    TooManyCertificates {
        /// Certificates presented (end entity included).
        got: usize,
        /// The limit.
        max: usize,
    },
    /// Path building needed more signature verifications than the chain's length allows
    /// (issuer-name collisions presented to make us verify many signatures).
    #[error("more than {0} signature verifications needed for the chain")]
    SignatureBudget(usize),
    /// A certificate is signed with SHA-1 (or MD5): RFC 8247 §3.2.
    #[error("certificate \"{subject}\" is signed with {algorithm}, refused (RFC 8247)")]
    WeakSignature {
        /// Subject DN.
        subject: String,
        /// The signature algorithm's name.
        algorithm: &'static str,
    },
    /// An RSA key outside [`MIN_RSA_BITS`]..=[`MAX_RSA_BITS`].
    #[error("RSA key of \"{subject}\" has {bits} bits, only {MIN_RSA_BITS} to {MAX_RSA_BITS} are accepted")]
    RsaKeySize {
        /// Subject DN of the certificate holding the key.
        subject: String,
        /// Modulus length.
        bits: usize,
    },
    /// A CA added to the trust store is not a CA certificate.
    #[error("\"{0}\" is not a CA certificate (no basicConstraints CA:TRUE)")]
    TrustAnchorNotCa(String),
    /// A CRL whose issuer is not in the store or whose signature is bad.
    #[error("CRL of \"{0}\" is not signed by a trusted CA")]
    CrlNotTrusted(String),
    /// A certificate of the path has a critical extension nvesec does not
    /// process (RFC 5280 §4.2).
    #[error("certificate \"{subject}\" has a critical extension nvesec does not process ({oid})")]
    UnknownCriticalExtension {
        /// Subject DN.
        subject: String,
        /// The extension's OID, dotted.
        oid: String,
    },
    /// A name of a certificate is outside the permitted or inside the
    /// excluded subtrees of a CA above it (RFC 5280 §4.2.1.10).
    #[error("{name} of certificate \"{subject}\" violates the name constraints of \"{ca}\"")]
    NameConstraint {
        /// Subject DN.
        subject: String,
        /// The offending name, e.g. `DNS name nve1.example.org`.
        name: String,
        /// The constraining CA's subject DN.
        ca: String,
    },
    /// Critical nameConstraints restrict a name form nvesec cannot check
    /// (RFC 5280 §4.2.1.10: process the constraint or reject).
    #[error(
        "critical name constraints of \"{ca}\" restrict {form} names, which nvesec cannot check"
    )]
    UnsupportedNameConstraint {
        /// The constraining CA's subject DN.
        ca: String,
        /// The name form (URI, otherName, ...).
        form: &'static str,
    },
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
        check_rsa_key_size(&ca.x509()?)?;
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
    // Bound the work a peer can cause before any parsing of the intermediates.
    let presented = intermediates.len() + 1;
    if presented > MAX_PEER_CERTS {
        return Err(VerifyError::TooManyCertificates {
            got: presented,
            max: MAX_PEER_CERTS,
        });
    }
    // One verification per certificate of the path (each is signed by the next), plus one
    // spare for a trust-store name collision (an old and a new CA during a key rollover).
    let mut sig_budget = SignatureBudget::new(presented + 1);
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
    // The path from the end entity up to the trust anchor.
    let mut path = vec![end_entity.clone()];
    // Number of non-self-issued intermediates between the issuer being
    // examined and the end entity (RFC 5280 §4.2.1.9, §6.1.4 (l),(m): the end
    // entity and self-issued CA certificates do not count).
    let mut below = 0u32;
    for depth in 0..MAX_CHAIN_DEPTH {
        let cur = current.x509()?;
        check_validity(&cur, now_secs)?;
        let (issuer, is_anchor) = find_issuer(&cur, intermediates, store, &mut sig_budget)?;
        let iss = issuer.x509()?;
        if depth > 0 && !self_issued(&cur) {
            below += 1;
        }
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
        path.push(issuer.clone());
        if is_anchor {
            check_validity(&iss, now_secs)?;
            let parsed = path
                .iter()
                .map(Certificate::x509)
                .collect::<Result<Vec<_>, _>>()?;
            for c in &parsed {
                check_critical_extensions(c)?;
            }
            check_name_constraints(&parsed)?;
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

/// Signature verifications left for one [`verify_chain`] call.
struct SignatureBudget {
    max: usize,
    used: usize,
}

impl SignatureBudget {
    fn new(max: usize) -> Self {
        Self { max, used: 0 }
    }

    fn take(&mut self) -> Result<(), VerifyError> {
        if self.used >= self.max {
            return Err(VerifyError::SignatureBudget(self.max));
        }
        self.used += 1;
        Ok(())
    }
}

/// RFC 8247 §3.2: no SHA-1 (or MD5) signature on any certificate of the path.
fn check_signature_algorithm(c: &X509Certificate<'_>) -> Result<(), VerifyError> {
    let oid = c.signature_algorithm.algorithm.as_bytes();
    match WEAK_SIGNATURE_OIDS.iter().find(|(weak, _)| *weak == oid) {
        Some((_, name)) => Err(VerifyError::WeakSignature {
            subject: c.subject().to_string(),
            algorithm: name,
        }),
        None => Ok(()),
    }
}

/// An RSA key must have [`MIN_RSA_BITS`]..=[`MAX_RSA_BITS`] bits; other key types pass
/// (their sizes are fixed by the curve).
fn check_rsa_key_size(c: &X509Certificate<'_>) -> Result<(), VerifyError> {
    let spki = c.public_key();
    if spki.algorithm.algorithm.as_bytes() != OID_RSA_ENCRYPTION {
        return Ok(());
    }
    let bits = match spki.parsed() {
        Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => rsa_modulus_bits(rsa.modulus),
        _ => 0,
    };
    if (MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
        Ok(())
    } else {
        Err(VerifyError::RsaKeySize {
            subject: c.subject().to_string(),
            bits,
        })
    }
}

/// Bit length of a big-endian modulus (leading zero octets, such as DER's sign octet, skipped).
fn rsa_modulus_bits(modulus: &[u8]) -> usize {
    let m = match modulus.iter().position(|b| *b != 0) {
        Some(i) => &modulus[i..],
        None => return 0,
    };
    m.len() * 8 - m[0].leading_zeros() as usize
}

/// Find the issuer: trust anchors first, then the supplied intermediates.
/// A name match whose signature fails is remembered to give the better error.
/// Every signature verification is taken from `budget`; a certificate signed with SHA-1 or a
/// candidate issuer with an RSA key out of bounds is refused before any verification.
fn find_issuer(
    cur: &X509Certificate<'_>,
    intermediates: &[Certificate],
    store: &TrustStore,
    budget: &mut SignatureBudget,
) -> Result<(Certificate, bool), VerifyError> {
    check_signature_algorithm(cur)?;
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
        check_rsa_key_size(&c)?;
        budget.take()?;
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

/// RFC 5280 §4.1.2.4/§6.1: a certificate whose subject and issuer are the
/// same name is self-issued.
fn self_issued(c: &X509Certificate<'_>) -> bool {
    c.subject().as_raw() == c.issuer().as_raw()
}

/// The extensions path validation processes; any other extension marked
/// critical rejects the certificate (RFC 5280 §4.2). Certificate policies,
/// policy mappings, policyConstraints and inhibitAnyPolicy (§4.2.1.4,
/// .5, .11, .14) are not processed, nor extendedKeyUsage (§4.2.1.12; RFC
/// 4945 §5.1.3.12: a critical EKU an implementation does not support
/// rejects the certificate).
pub const PROCESSED_EXTENSIONS: &[(&str, &str)] = &[
    ("2.5.29.14", "subjectKeyIdentifier"),
    ("2.5.29.15", "keyUsage"),
    ("2.5.29.17", "subjectAltName"),
    ("2.5.29.19", "basicConstraints"),
    ("2.5.29.30", "nameConstraints"),
    ("2.5.29.35", "authorityKeyIdentifier"),
];

/// RFC 5280 §4.2: "A certificate-using system MUST reject the certificate
/// if it encounters a critical extension it does not recognize".
fn check_critical_extensions(c: &X509Certificate<'_>) -> Result<(), VerifyError> {
    for ext in c.extensions().iter().filter(|e| e.critical) {
        let oid = ext.oid.to_id_string();
        if !PROCESSED_EXTENSIONS.iter().any(|(o, _)| *o == oid) {
            return Err(VerifyError::UnknownCriticalExtension {
                subject: c.subject().to_string(),
                oid,
            });
        }
    }
    Ok(())
}

/// A name of a certificate, or a subtree base of a name constraint, in the
/// forms nvesec checks (RFC 5280 §4.2.1.10).
#[derive(Debug)]
enum Name {
    Dns(String),
    Email(String),
    /// An address (SAN: 4 or 16 bytes) or, as a subtree base, address and
    /// mask (8 or 32 bytes).
    Ip(Vec<u8>),
    Dir(RdnSequence),
}

impl Name {
    fn describe(&self) -> String {
        match self {
            Name::Dns(d) => format!("DNS name {d}"),
            Name::Email(e) => format!("email address {e}"),
            Name::Ip(b) => match <[u8; 4]>::try_from(b.as_slice()) {
                Ok(v4) => format!("IP address {}", Ipv4Addr::from(v4)),
                Err(_) => match <[u8; 16]>::try_from(b.as_slice()) {
                    Ok(v6) => format!("IP address {}", Ipv6Addr::from(v6)),
                    Err(_) => format!("IP address of {} bytes", b.len()),
                },
            },
            Name::Dir(_) => "directory name".to_string(),
        }
    }

    /// Whether this name is within the subtree `base` of the same form.
    fn within(&self, base: &Name) -> bool {
        match (self, base) {
            (Name::Dns(n), Name::Dns(b)) => dns_within(n, b),
            (Name::Email(n), Name::Email(b)) => email_within(n, b),
            (Name::Ip(n), Name::Ip(b)) => ip_within(n, b),
            (Name::Dir(n), Name::Dir(b)) => n.within(b),
            _ => false,
        }
    }

    fn same_form(&self, other: &Name) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }
}

/// RFC 5280 §4.2.1.10 dNSName: a name that adds zero or more labels on the
/// left of the base is within it; a base with a leading period (a common
/// extension, as OpenSSL and strongSwan read it) admits subdomains only.
fn dns_within(name: &str, base: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let base = base.trim_end_matches('.').to_ascii_lowercase();
    if base.is_empty() {
        return true;
    }
    if base.starts_with('.') {
        return name.ends_with(&base);
    }
    name == base || name.ends_with(&format!(".{base}"))
}

/// RFC 5280 §4.2.1.10 rfc822Name: a base with '@' is one mailbox, a base
/// with a leading period a domain's subdomains, otherwise one host.
/// Compared case-insensitively throughout.
fn email_within(addr: &str, base: &str) -> bool {
    let addr = addr.to_lowercase();
    let base = base.to_lowercase();
    if base.contains('@') {
        return addr == base;
    }
    let Some((_, host)) = addr.rsplit_once('@') else {
        return false;
    };
    if base.starts_with('.') {
        host.ends_with(&base)
    } else {
        host == base
    }
}

/// RFC 5280 §4.2.1.10 iPAddress: the base is address then mask (8 bytes
/// for IPv4, 32 for IPv6); an address of the other family is outside.
fn ip_within(addr: &[u8], base: &[u8]) -> bool {
    let (net, mask) = base.split_at(base.len() / 2);
    addr.len() == net.len()
        && addr
            .iter()
            .zip(net)
            .zip(mask)
            .all(|((a, n), m)| a & m == n & m)
}

/// The names of `c` that name constraints apply to: its subject (if not
/// empty) and the emailAddress attributes in it (RFC 5280 §4.2.1.10), and
/// its subjectAltNames of the forms nvesec checks (a critical constraint
/// on another form has rejected the path already).
fn names_of(c: &X509Certificate<'_>) -> Result<Vec<Name>, VerifyError> {
    let mut names = Vec::new();
    let subject = RdnSequence::from_x509_name(c.subject());
    names.extend(
        subject
            .texts(EMAIL_ADDRESS)
            .map(|e| Name::Email(e.to_string())),
    );
    if !subject.is_empty() {
        names.push(Name::Dir(subject));
    }
    let san = c
        .subject_alternative_name()
        .map_err(|e| CertError::Malformed(e.to_string()))?;
    for gn in san.iter().flat_map(|s| s.value.general_names.iter()) {
        names.extend(general_name(gn).ok());
    }
    Ok(names)
}

/// A GeneralName in a checked form, or the name of its form.
fn general_name(gn: &GeneralName<'_>) -> Result<Name, &'static str> {
    Ok(match gn {
        GeneralName::DNSName(d) => Name::Dns((*d).to_string()),
        GeneralName::RFC822Name(e) => Name::Email((*e).to_string()),
        GeneralName::IPAddress(b) => Name::Ip(b.to_vec()),
        GeneralName::DirectoryName(n) => Name::Dir(RdnSequence::from_x509_name(n)),
        GeneralName::URI(_) => return Err("URI"),
        GeneralName::OtherName(..) => return Err("otherName"),
        GeneralName::X400Address(_) => return Err("x400Address"),
        GeneralName::EDIPartyName(_) => return Err("ediPartyName"),
        GeneralName::RegisteredID(_) => return Err("registeredID"),
        GeneralName::Invalid(..) => return Err("invalid"),
    })
}

/// RFC 5280 §4.2.1.10, §6.1.3 (b),(c): every name of each certificate
/// below a CA with nameConstraints (the anchor's included, as OpenSSL and
/// strongSwan apply them; self-issued intermediates excepted) must be within
/// one permitted subtree of its form, when the CA permits any of that form,
/// and within no excluded subtree. dNSName, rfc822Name (also against the
/// subject's emailAddress), iPAddress and directoryName are checked; a
/// critical extension with a subtree of another form rejects the path. A
/// subtree's minimum and maximum (which RFC 5280 profiles away) are not read.
/// `path` runs from the end entity to the anchor.
pub fn check_name_constraints(path: &[X509Certificate<'_>]) -> Result<(), VerifyError> {
    for (j, ca) in path.iter().enumerate().skip(1) {
        let Some(nc) = ca
            .name_constraints()
            .map_err(|e| CertError::Malformed(e.to_string()))?
        else {
            continue;
        };
        let ca_name = || ca.subject().to_string();
        let subtrees = |s: &Option<Vec<x509_parser::extensions::GeneralSubtree<'_>>>| {
            let mut out = Vec::new();
            for st in s.iter().flatten() {
                match general_name(&st.base) {
                    Ok(Name::Ip(b)) if b.len() != 8 && b.len() != 32 => {
                        return Err(VerifyError::Cert(CertError::Malformed(format!(
                            "name constraint of \"{}\": iPAddress of {} bytes",
                            ca_name(),
                            b.len()
                        ))))
                    }
                    Ok(n) => out.push(n),
                    Err(form) if nc.critical => {
                        return Err(VerifyError::UnsupportedNameConstraint {
                            ca: ca_name(),
                            form,
                        })
                    }
                    Err(_) => {}
                }
            }
            Ok(out)
        };
        let permitted = subtrees(&nc.value.permitted_subtrees)?;
        let excluded = subtrees(&nc.value.excluded_subtrees)?;
        for (i, cert) in path[..j].iter().enumerate() {
            if i > 0 && self_issued(cert) {
                continue;
            }
            for name in &names_of(cert)? {
                let mut allowed = permitted.iter().filter(|b| b.same_form(name)).peekable();
                let ok = allowed.peek().is_none() || allowed.any(|b| name.within(b));
                if !ok || excluded.iter().any(|b| name.within(b)) {
                    return Err(VerifyError::NameConstraint {
                        subject: cert.subject().to_string(),
                        name: name.describe(),
                        ca: ca_name(),
                    });
                }
            }
        }
    }
    Ok(())
}
