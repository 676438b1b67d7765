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
