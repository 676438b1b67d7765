//! Bounds and algorithm policy of chain validation (issue 14 item 8): at most
//! `MAX_PEER_CERTS` certificates, one signature verification per certificate
//! of the path (plus one spare), no SHA-1 certificate signatures and RSA
//! issuer keys of 2048 to 4096 bits only (RFC 8247). The RSA chains are
//! fixtures made by `tests/rsa/gen.sh` (an Ed25519 root, RSA intermediates).

use nvesec_pki::verify::{MAX_PEER_CERTS, MAX_RSA_BITS, MIN_RSA_BITS};

const _: () = assert!(1024 < MIN_RSA_BITS && 8192 > MAX_RSA_BITS);
use nvesec_pki::*;
use std::time::SystemTime;

fn pem(name: &str) -> Certificate {
    let path = format!("{}/tests/rsa/{name}.pem", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    Certificate::from_bytes(&bytes).unwrap().remove(0)
}

fn root_store() -> TrustStore {
    let mut s = TrustStore::new();
    s.add_ca(pem("root")).unwrap();
    s
}

#[test]
fn rsa_2048_sha256_intermediate_is_accepted() {
    // The control: RSA itself is fine within the bounds.
    let v = verify_chain(
        &pem("ee-rsa2048-sha256"),
        &[pem("int2048")],
        &root_store(),
        SystemTime::now(),
    )
    .unwrap();
    assert!(v.matches_id(&IkeIdentity::Fqdn("nve1.example".into())));
}

#[test]
fn sha1_certificate_signature_is_refused() {
    let r = verify_chain(
        &pem("ee-rsa2048-sha1"),
        &[pem("int2048")],
        &root_store(),
        SystemTime::now(),
    );
    assert!(
        matches!(
            r,
            Err(VerifyError::WeakSignature {
                algorithm: "sha1WithRSAEncryption",
                ..
            })
        ),
        "{r:?}"
    );
}

#[test]
fn rsa_8192_issuer_is_refused() {
    let r = verify_chain(
        &pem("ee-rsa8192-sha256"),
        &[pem("int8192")],
        &root_store(),
        SystemTime::now(),
    );
    assert!(
        matches!(r, Err(VerifyError::RsaKeySize { bits: 8192, .. })),
        "{r:?}"
    );
}

#[test]
fn rsa_1024_issuer_is_refused() {
    // Signed with SHA-1 too: whichever check comes first, the chain is refused as weak
    // (ring alone would accept 1024-bit RSA with SHA-1 "for legacy use").
    let r = verify_chain(
        &pem("ee-rsa1024-sha1"),
        &[pem("int1024")],
        &root_store(),
        SystemTime::now(),
    );
    assert!(
        matches!(
            r,
            Err(VerifyError::WeakSignature { .. })
                | Err(VerifyError::RsaKeySize { bits: 1024, .. })
        ),
        "{r:?}"
    );
}

#[test]
fn rsa_trust_anchor_out_of_bounds_is_refused_at_load() {
    // A CA certificate with an 8192-bit key cannot become a trust anchor.
    let mut s = TrustStore::new();
    let r = s.add_ca(pem("int8192"));
    assert!(
        matches!(r, Err(VerifyError::RsaKeySize { bits: 8192, .. })),
        "{r:?}"
    );
    s.add_ca(pem("int2048")).unwrap();
}

#[test]
fn more_than_max_certificates_are_refused_before_verification() {
    let ints = vec![pem("int2048"); MAX_PEER_CERTS];
    let r = verify_chain(
        &pem("ee-rsa2048-sha256"),
        &ints,
        &root_store(),
        SystemTime::now(),
    );
    assert_eq!(
        r.unwrap_err(),
        VerifyError::TooManyCertificates {
            got: MAX_PEER_CERTS + 1,
            max: MAX_PEER_CERTS
        }
    );
    // MAX_PEER_CERTS in all still verifies (the duplicates are never needed).
    verify_chain(
        &pem("ee-rsa2048-sha256"),
        &ints[..MAX_PEER_CERTS - 1],
        &root_store(),
        SystemTime::now(),
    )
    .unwrap();
}

#[test]
fn issuer_name_collisions_exhaust_the_signature_budget() {
    // Six certificates named like the issuer but with other keys, then the real (self-signed,
    // untrusted) issuer: path building walks all seven at every level of the self-issued loop.
    // Without a budget that is 7 verifications per level until MAX_CHAIN_DEPTH (56); with it,
    // the certificates presented + 1 = 9.
    let now = SystemTime::now();
    let ca = |key: &PrivateKey| {
        self_sign(
            key,
            &CertProfile::ca(Dn::parse("O=test, CN=Loop").unwrap()),
            now,
        )
        .unwrap()
    };
    let mut ints: Vec<Certificate> = (0..MAX_PEER_CERTS - 2)
        .map(|_| ca(&PrivateKey::generate(KeyType::Ed25519).unwrap()))
        .collect();
    let loop_key = PrivateKey::generate(KeyType::Ed25519).unwrap();
    let loop_ca = ca(&loop_key);
    ints.push(loop_ca.clone());
    let ee_key = PrivateKey::generate(KeyType::Ed25519).unwrap();
    let ee = issue(
        &ee_key.public_key(),
        &CertProfile::end_entity(Dn::parse("O=test, CN=nve1").unwrap()),
        &loop_ca,
        &loop_key,
        now,
    )
    .unwrap();
    let r = verify_chain(&ee, &ints, &root_store(), now);
    assert_eq!(
        r.unwrap_err(),
        VerifyError::SignatureBudget(MAX_PEER_CERTS + 1)
    );
    // Only the real issuer: one verification per level; the loop ends at 1 + 1 + 1 checks
    // instead of MAX_CHAIN_DEPTH.
    let r = verify_chain(&ee, &[loop_ca], &root_store(), now);
    assert_eq!(r.unwrap_err(), VerifyError::SignatureBudget(3));
}
