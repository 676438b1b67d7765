//! The library's chain validation (the code path nvesecd uses), with a
//! fixed clock.

use nvesec_pki::*;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const DAY: u64 = 86_400;

fn t0() -> SystemTime {
    // 2030-01-01T00:00:00Z
    UNIX_EPOCH + Duration::from_secs(1_893_456_000)
}

fn ca(name: &str, kt: KeyType) -> (Certificate, PrivateKey) {
    let key = PrivateKey::generate(kt).unwrap();
    let cert = self_sign(
        &key,
        &CertProfile::ca(Dn::parse(&format!("O=test, CN={name}")).unwrap()),
        t0(),
    )
    .unwrap();
    (cert, key)
}

fn sub_ca(
    name: &str,
    parent: &(Certificate, PrivateKey),
    path_len: Option<u8>,
) -> (Certificate, PrivateKey) {
    let key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
    let mut p = CertProfile::ca(Dn::parse(&format!("O=test, CN={name}")).unwrap());
    p.path_len = path_len;
    (
        issue(&key.public_key(), &p, &parent.0, &parent.1, t0()).unwrap(),
        key,
    )
}

fn ee(host: &str, issuer: &(Certificate, PrivateKey), sans: &[&str]) -> (Certificate, PrivateKey) {
    let key = PrivateKey::generate(KeyType::Ed25519).unwrap();
    let mut p = CertProfile::end_entity(Dn::parse(&format!("O=test, CN={host}")).unwrap());
    p.sans = sans
        .iter()
        .map(|s| SubjectAltName::parse(s).unwrap())
        .collect();
    (
        issue(&key.public_key(), &p, &issuer.0, &issuer.1, t0()).unwrap(),
        key,
    )
}

fn store(cas: &[&Certificate]) -> TrustStore {
    let mut s = TrustStore::new();
    for c in cas {
        s.add_ca((*c).clone()).unwrap();
    }
    s
}

#[test]
fn direct_chain_and_identity_matching() {
    let root = ca("root", KeyType::Ed25519);
    let (cert, key) = ee(
        "nve1.example.net",
        &root,
        &["192.0.2.1", "2001:db8::1", "ops@example.net"],
    );
    let v = verify_chain(
        &cert,
        &[],
        &store(&[&root.0]),
        t0() + Duration::from_secs(DAY),
    )
    .unwrap();
    assert_eq!(v.subject, "O=test, CN=nve1.example.net");
    assert_eq!(v.anchor, "O=test, CN=root");
    assert_eq!(v.public_key, key.public_key());
    assert!(!v.revocation_checked);
    assert!(v.matches_id(&IkeIdentity::Fqdn("NVE1.example.net".into())));
    assert!(v.matches_id(&IkeIdentity::Ipv4("192.0.2.1".parse().unwrap())));
    assert!(v.matches_id(&IkeIdentity::Ipv6("2001:db8::1".parse().unwrap())));
    assert!(v.matches_id(&IkeIdentity::Rfc822("ops@example.net".into())));
    assert!(v.matches_id(&IkeIdentity::DerAsn1Dn(v.subject_der.clone())));
    assert!(v.matches_id(&IkeIdentity::KeyId(key.public_key().subjkey_sha1())));
    assert!(v.matches_id(&IkeIdentity::KeyId(key.public_key().keyid_sha1())));
    assert!(!v.matches_id(&IkeIdentity::Fqdn("nve2.example.net".into())));
    assert!(!v.matches_id(&IkeIdentity::Ipv4("192.0.2.2".parse().unwrap())));
    assert!(!v.matches_id(&IkeIdentity::DerAsn1Dn(root.0.info().unwrap().subject_der)));
    assert!(!v.matches_id(&IkeIdentity::KeyId(vec![0; 20])));
    // The IKE AUTH signature path: sign with the private key, verify with the certified SPKI.
    let sig = key.sign(b"InitiatorSignedOctets").unwrap();
    verify_signature(v.public_key.spki_der(), b"InitiatorSignedOctets", &sig).unwrap();
    assert_eq!(
        verify_signature(v.public_key.spki_der(), b"tampered", &sig),
        Err(SignatureError::Invalid)
    );
}

#[test]
fn validity_window_and_expiry_days() {
    let root = ca("root", KeyType::EcdsaP384);
    let (cert, _) = ee("nve", &root, &[]);
    let s = store(&[&root.0]);
    let v = verify_chain(&cert, &[], &s, t0()).unwrap();
    assert_eq!(v.days_until_expiry(t0()), 1095);
    assert_eq!(
        v.days_until_expiry(t0() + Duration::from_secs(1065 * DAY)),
        30
    );
    assert!(matches!(
        verify_chain(&cert, &[], &s, t0() - Duration::from_secs(1)),
        Err(VerifyError::NotYetValid { .. })
    ));
    let err = verify_chain(&cert, &[], &s, t0() + Duration::from_secs(1096 * DAY)).unwrap_err();
    assert!(
        matches!(err, VerifyError::Expired { days: 1, .. }),
        "{err:?}"
    );
}

#[test]
fn intermediates_and_path_length() {
    let root = ca("root", KeyType::Ed25519);
    let inter = sub_ca("inter", &root, Some(0));
    let (cert, _) = ee("nve", &inter, &[]);
    let s = store(&[&root.0]);
    let v = verify_chain(&cert, std::slice::from_ref(&inter.0), &s, t0()).unwrap();
    assert_eq!(v.anchor, "O=test, CN=root");
    assert!(matches!(
        verify_chain(&cert, &[], &s, t0()),
        Err(VerifyError::UnknownIssuer { .. })
    ));
    // root (pathlen 0) -> inter -> ee: one intermediate below a pathlen-0 root.
    let mut rp = CertProfile::ca(Dn::parse("CN=strict root").unwrap());
    rp.path_len = Some(0);
    let strict_key = PrivateKey::generate(KeyType::Ed25519).unwrap();
    let strict = (self_sign(&strict_key, &rp, t0()).unwrap(), strict_key);
    let inter2 = sub_ca("inter2", &strict, None);
    let (cert2, _) = ee("nve2", &inter2, &[]);
    assert_eq!(
        verify_chain(
            &cert2,
            std::slice::from_ref(&inter2.0),
            &store(&[&strict.0]),
            t0()
        ),
        Err(VerifyError::PathLen("CN=strict root".into()))
    );
}

#[test]
fn non_ca_issuer_is_rejected() {
    let root = ca("root", KeyType::Ed25519);
    let (leaf, leaf_key) = ee("leaf", &root, &[]);
    // rcgen signs with any key; build a certificate "issued" by the leaf
    // through a CA certificate with the same name and key but CA:FALSE.
    assert!(matches!(
        issue(
            &leaf_key.public_key(),
            &CertProfile::end_entity(Dn::parse("CN=x").unwrap()),
            &leaf,
            &leaf_key,
            t0()
        ),
        Err(IssueError::NotCa)
    ));
    let mut s = TrustStore::new();
    assert_eq!(
        s.add_ca(leaf.clone()),
        Err(VerifyError::TrustAnchorNotCa("O=test, CN=leaf".into()))
    );
}

#[test]
fn revocation_through_crl() {
    let root = ca("root", KeyType::EcdsaP256);
    let (bad, _) = ee("bad", &root, &[]);
    let (good, _) = ee("good", &root, &[]);
    let revoked = vec![Revocation {
        serial: bad.info().unwrap().serial,
        reason: Some("superseded".into()),
        date: None,
    }];
    let crl = sign_crl(&root.0, &root.1, &revoked, 15, 7, t0()).unwrap();
    let parsed = Crl::from_bytes(crl.to_pem().as_bytes()).unwrap();
    assert_eq!(parsed.revoked_count(), 1);
    let mut s = store(&[&root.0]);
    s.add_crl(parsed).unwrap();
    let err = verify_chain(&bad, &[], &s, t0()).unwrap_err();
    assert!(
        matches!(err, VerifyError::Revoked { ref subject, .. } if subject == "O=test, CN=bad"),
        "{err:?}"
    );
    assert!(
        verify_chain(&good, &[], &s, t0())
            .unwrap()
            .revocation_checked
    );
    // A CRL from another CA is refused.
    let other = ca("other", KeyType::Ed25519);
    let foreign = sign_crl(&other.0, &other.1, &[], 15, 1, t0()).unwrap();
    assert_eq!(
        s.add_crl(foreign),
        Err(VerifyError::CrlNotTrusted("O=test, CN=other".into()))
    );
}

#[test]
fn tampered_certificate_fails_signature() {
    let root = ca("root", KeyType::Ed25519);
    let (cert, _) = ee("nve9", &root, &[]);
    let mut der = cert.der().to_vec();
    let pos = der.windows(4).position(|w| w == b"nve9").unwrap();
    der[pos + 3] = b'8';
    let forged = Certificate::from_der(der).unwrap();
    assert!(matches!(
        verify_chain(&forged, &[], &store(&[&root.0]), t0()),
        Err(VerifyError::BadSignature { .. })
    ));
}

/// Certificates nvesec-pki would never make, built with rcgen directly.
fn rcgen_chain(
    ca_is: rcgen::IsCa,
    ca_ku: Vec<rcgen::KeyUsagePurpose>,
    ee_ku: Vec<rcgen::KeyUsagePurpose>,
) -> (Certificate, Certificate) {
    let ca_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.distinguished_name = rcgen::DistinguishedName::new();
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "odd ca");
    ca_params.is_ca = ca_is;
    ca_params.key_usages = ca_ku;
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let ee_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let mut ee_params = rcgen::CertificateParams::new(vec!["nve".to_string()]).unwrap();
    ee_params.key_usages = ee_ku;
    let issuer = rcgen::Issuer::new(ca_params, &ca_key);
    let ee_cert = ee_params.signed_by(&ee_key, &issuer).unwrap();
    (
        Certificate::from_der(ca_cert.der().to_vec()).unwrap(),
        Certificate::from_der(ee_cert.der().to_vec()).unwrap(),
    )
}

#[test]
fn key_usage_and_basic_constraints_of_foreign_certificates() {
    use rcgen::{BasicConstraints::Unconstrained, IsCa, KeyUsagePurpose as K};
    let now = SystemTime::now();
    // End entity whose key usage forbids signatures.
    let (odd, ee) = rcgen_chain(IsCa::Ca(Unconstrained), vec![], vec![K::KeyEncipherment]);
    assert_eq!(
        verify_chain(&ee, &[], &store(&[&odd]), now),
        Err(VerifyError::KeyUsage("CN=rcgen self signed cert".into()))
    );
    // No key usage at all is fine (RFC 5280 §4.2.1.3: the extension is optional).
    let (odd, ee) = rcgen_chain(IsCa::Ca(Unconstrained), vec![], vec![]);
    assert!(verify_chain(&ee, &[], &store(&[&odd]), now).is_ok());
    // Issuer CA whose key usage lacks keyCertSign.
    let (odd, ee) = rcgen_chain(
        IsCa::Ca(Unconstrained),
        vec![K::CrlSign],
        vec![K::DigitalSignature],
    );
    assert_eq!(
        verify_chain(&ee, &[], &store(&[&odd]), now),
        Err(VerifyError::IssuerKeyUsage("CN=odd ca".into()))
    );
    // Issuer without basicConstraints, offered as an intermediate under a real CA.
    let root = ca("root", KeyType::Ed25519);
    let (not_ca, ee) = rcgen_chain(IsCa::NoCa, vec![], vec![]);
    assert_eq!(
        verify_chain(&ee, std::slice::from_ref(&not_ca), &store(&[&root.0]), now),
        Err(VerifyError::NotCa("CN=odd ca".into()))
    );
}

/// A CA or end entity built with rcgen directly, for extensions nvesec-pki
/// never writes.
struct Rc {
    params: rcgen::CertificateParams,
    key: rcgen::KeyPair,
    cert: Certificate,
}

fn rc_params(cn: &str, extra: &[(rcgen::DnType, &str)]) -> rcgen::CertificateParams {
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name = rcgen::DistinguishedName::new();
    for (t, v) in extra {
        p.distinguished_name.push(t.clone(), *v);
    }
    p.distinguished_name.push(rcgen::DnType::CommonName, cn);
    p
}

fn rc_sign(params: rcgen::CertificateParams, issuer: Option<&Rc>) -> Rc {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let cert = match issuer {
        None => params.self_signed(&key).unwrap(),
        Some(i) => params
            .signed_by(&key, &rcgen::Issuer::new(i.params.clone(), &i.key))
            .unwrap(),
    };
    Rc {
        params,
        key,
        cert: Certificate::from_der(cert.der().to_vec()).unwrap(),
    }
}

fn rc_ca(cn: &str, path_len: Option<u8>) -> rcgen::CertificateParams {
    let mut p = rc_params(cn, &[]);
    p.is_ca = rcgen::IsCa::Ca(match path_len {
        Some(n) => rcgen::BasicConstraints::Constrained(n),
        None => rcgen::BasicConstraints::Unconstrained,
    });
    p
}

fn critical(oid: &[u64], content: Vec<u8>) -> rcgen::CustomExtension {
    let mut e = rcgen::CustomExtension::from_oid_content(oid, content);
    e.set_criticality(true);
    e
}

/// An arbitrary private extension (DER NULL content).
const PRIVATE_OID: &[u64] = &[1, 3, 6, 1, 4, 1, 55555, 1];

#[test]
fn unknown_critical_extensions_reject_the_certificate() {
    let now = SystemTime::now();
    // RFC 5280 §4.2: in the end entity, an intermediate or the anchor.
    for at in ["ee", "inter", "root"] {
        let mut rp = rc_ca("root", None);
        if at == "root" {
            rp.custom_extensions.push(critical(PRIVATE_OID, vec![5, 0]));
        }
        let root = rc_sign(rp, None);
        let mut ip = rc_ca("inter", None);
        if at == "inter" {
            ip.custom_extensions.push(critical(PRIVATE_OID, vec![5, 0]));
        }
        let inter = rc_sign(ip, Some(&root));
        let mut ep = rc_params("nve", &[]);
        if at == "ee" {
            ep.custom_extensions.push(critical(PRIVATE_OID, vec![5, 0]));
        }
        let ee = rc_sign(ep, Some(&inter));
        assert_eq!(
            verify_chain(
                &ee.cert,
                std::slice::from_ref(&inter.cert),
                &store(&[&root.cert]),
                now
            ),
            Err(VerifyError::UnknownCriticalExtension {
                subject: format!("CN={at}").replace("CN=ee", "CN=nve"),
                oid: "1.3.6.1.4.1.55555.1".into()
            }),
            "{at}"
        );
    }
    // The same extension, not critical, is ignored.
    let root = rc_sign(rc_ca("root", None), None);
    let mut ep = rc_params("nve", &[]);
    ep.custom_extensions
        .push(rcgen::CustomExtension::from_oid_content(
            PRIVATE_OID,
            vec![5, 0],
        ));
    let ee = rc_sign(ep, Some(&root));
    assert!(verify_chain(&ee.cert, &[], &store(&[&root.cert]), now).is_ok());
    // A critical extendedKeyUsage is not processed (RFC 4945 §5.1.3.12).
    let mut ep = rc_params("nve", &[]);
    // SEQUENCE { id-kp-serverAuth }
    let eku = vec![0x30, 0x0a, 6, 8, 0x2b, 6, 1, 5, 5, 7, 3, 1];
    ep.custom_extensions.push(critical(&[2, 5, 29, 37], eku));
    let ee = rc_sign(ep, Some(&root));
    assert!(matches!(
        verify_chain(&ee.cert, &[], &store(&[&root.cert]), now),
        Err(VerifyError::UnknownCriticalExtension { ref oid, .. }) if oid == "2.5.29.37"
    ));
}

fn constrained_ca(nc: rcgen::NameConstraints) -> (Rc, Rc) {
    let root = rc_sign(rc_ca("root", None), None);
    let mut ip = rc_ca("inter", None);
    ip.name_constraints = Some(nc);
    let inter = rc_sign(ip, Some(&root));
    (root, inter)
}

fn leaf_under(issuer: &Rc, dn: &[(rcgen::DnType, &str)], sans: Vec<rcgen::SanType>) -> Certificate {
    let mut ep = rc_params("nve", dn);
    ep.subject_alt_names = sans;
    rc_sign(ep, Some(issuer)).cert
}

#[test]
fn name_constraints_of_intermediates_bind_the_names_below() {
    use rcgen::{CidrSubnet, DnType, GeneralSubtree as G, SanType as S};
    let now = SystemTime::now();
    let mut corp = rcgen::DistinguishedName::new();
    corp.push(DnType::OrganizationName, "Corp");
    let (root, inter) = constrained_ca(rcgen::NameConstraints {
        permitted_subtrees: vec![
            G::DnsName("example.net".into()),
            G::Rfc822Name("example.net".into()),
            G::IpAddress(CidrSubnet::V4([192, 0, 2, 0], [255, 255, 255, 0])),
            G::DirectoryName(corp),
        ],
        excluded_subtrees: vec![G::DnsName("bad.example.net".into())],
    });
    let s = store(&[&root.cert]);
    let check = |dn: &[(DnType, &str)], sans: Vec<S>| {
        let leaf = leaf_under(&inter, dn, sans);
        verify_chain(&leaf, std::slice::from_ref(&inter.cert), &s, now).map(|_| ())
    };
    let dns = |d: &str| S::DnsName(d.try_into().unwrap());
    let mail = |m: &str| S::Rfc822Name(m.try_into().unwrap());
    let ip = |a: &str| S::IpAddress(a.parse().unwrap());
    let org = [(DnType::OrganizationName, "Corp")];
    check(
        &org,
        vec![
            dns("example.net"),
            dns("nve1.dc1.EXAMPLE.net"),
            mail("ops@example.net"),
            ip("192.0.2.7"),
        ],
    )
    .unwrap();
    let refused = |dn: &[(DnType, &str)], sans: Vec<S>, name: &str| {
        assert_eq!(
            check(dn, sans),
            Err(VerifyError::NameConstraint {
                subject: format!(
                    "{}CN=nve",
                    dn.first()
                        .map(|(_, v)| format!("O={v}, "))
                        .unwrap_or_default()
                ),
                name: name.into(),
                ca: "CN=inter".into()
            })
        )
    };
    refused(
        &org,
        vec![dns("nve1.example.org")],
        "DNS name nve1.example.org",
    );
    // Labels are added on the left only: "nveexample.net" is not in example.net.
    refused(&org, vec![dns("nveexample.net")], "DNS name nveexample.net");
    refused(
        &org,
        vec![dns("nve.bad.example.net")],
        "DNS name nve.bad.example.net",
    );
    refused(
        &org,
        vec![mail("ops@example.org")],
        "email address ops@example.org",
    );
    refused(&org, vec![ip("198.51.100.1")], "IP address 198.51.100.1");
    // Only IPv4 is permitted: an IPv6 address is outside.
    refused(&org, vec![ip("2001:db8::1")], "IP address 2001:db8::1");
    // The subject is a directoryName (RFC 5280 §4.2.1.10).
    refused(
        &[(DnType::OrganizationName, "Other")],
        vec![dns("nve.example.net")],
        "directory name",
    );
    refused(&[], vec![], "directory name");
    // Without a SAN email, the subject's emailAddress is checked.
    let e = leaf_under(
        &inter,
        &[
            (DnType::OrganizationName, "Corp"),
            (
                DnType::CustomDnType(vec![1, 2, 840, 113549, 1, 9, 1]),
                "ops@example.org",
            ),
        ],
        vec![],
    );
    assert!(matches!(
        verify_chain(&e, std::slice::from_ref(&inter.cert), &s, now),
        Err(VerifyError::NameConstraint { ref name, .. }) if name == "email address ops@example.org"
    ));
}

#[test]
fn name_constraints_of_the_anchor_apply() {
    use rcgen::{GeneralSubtree as G, SanType as S};
    let mut rp = rc_ca("root", None);
    rp.name_constraints = Some(rcgen::NameConstraints {
        permitted_subtrees: vec![],
        excluded_subtrees: vec![G::DnsName(".example.org".into())],
    });
    let root = rc_sign(rp, None);
    let s = store(&[&root.cert]);
    let leaf = |d: &str| leaf_under(&root, &[], vec![S::DnsName(d.try_into().unwrap())]);
    // A leading period excludes subdomains, not the domain itself.
    assert!(verify_chain(&leaf("example.org"), &[], &s, SystemTime::now()).is_ok());
    assert!(matches!(
        verify_chain(&leaf("nve.example.org"), &[], &s, SystemTime::now()),
        Err(VerifyError::NameConstraint { ref ca, .. }) if ca == "CN=root"
    ));
}

#[test]
fn critical_constraints_on_forms_nvesec_cannot_check_reject() {
    // NameConstraints { permittedSubtrees [0] { GeneralSubtree { base [6] URI "x.example" } } }
    let uri = b"x.example";
    let mut der = vec![0x30, 15, 0xa0, 13, 0x30, 11, 0x86, uri.len() as u8];
    der.extend_from_slice(uri);
    let root = rc_sign(rc_ca("root", None), None);
    let build = |crit: bool| {
        let mut ip = rc_ca("inter", None);
        let mut ext = rcgen::CustomExtension::from_oid_content(&[2, 5, 29, 30], der.clone());
        ext.set_criticality(crit);
        ip.custom_extensions.push(ext);
        let inter = rc_sign(ip, Some(&root));
        let ee = leaf_under(&inter, &[], vec![]);
        verify_chain(
            &ee,
            std::slice::from_ref(&inter.cert),
            &store(&[&root.cert]),
            SystemTime::now(),
        )
        .map(|_| ())
    };
    assert_eq!(
        build(true),
        Err(VerifyError::UnsupportedNameConstraint {
            ca: "CN=inter".into(),
            form: "URI"
        })
    );
    assert_eq!(build(false), Ok(()));
}

#[test]
fn path_length_counts_non_self_issued_intermediates_only() {
    let now = SystemTime::now();
    // RFC 5280 §6.1.4 (l): a self-issued intermediate (a key rollover
    // certificate, same name as the root) does not count.
    let root = rc_sign(rc_ca("root", Some(0)), None);
    let rollover = rc_sign(rc_ca("root", None), Some(&root));
    let ee = rc_sign(rc_params("nve", &[]), Some(&rollover));
    verify_chain(
        &ee.cert,
        std::slice::from_ref(&rollover.cert),
        &store(&[&root.cert]),
        now,
    )
    .unwrap();
    // An end entity that happens to carry its issuer's name does not hide
    // the intermediate from the root's pathLen 0.
    let inter = rc_sign(rc_ca("inter", None), Some(&root));
    let ee = rc_sign(rc_params("inter", &[]), Some(&inter));
    assert_eq!(
        verify_chain(
            &ee.cert,
            std::slice::from_ref(&inter.cert),
            &store(&[&root.cert]),
            now
        ),
        Err(VerifyError::PathLen("CN=root".into()))
    );
    // pathLen 1: one intermediate below is fine, two are not.
    let root1 = rc_sign(rc_ca("root1", Some(1)), None);
    let i1 = rc_sign(rc_ca("i1", None), Some(&root1));
    let i2 = rc_sign(rc_ca("i2", None), Some(&i1));
    let s1 = store(&[&root1.cert]);
    let ee1 = rc_sign(rc_params("nve", &[]), Some(&i1));
    verify_chain(&ee1.cert, std::slice::from_ref(&i1.cert), &s1, now).unwrap();
    let ee2 = rc_sign(rc_params("nve", &[]), Some(&i2));
    assert_eq!(
        verify_chain(&ee2.cert, &[i2.cert.clone(), i1.cert.clone()], &s1, now),
        Err(VerifyError::PathLen("CN=root1".into()))
    );
}
