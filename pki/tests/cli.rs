//! The nvesec-pki verbs and defaults, run as a user would.

mod common;
use common::*;
use nvesec_pki::{Certificate, Csr, KeyType, PrivateKey};
use std::fs;
use std::os::unix::fs::PermissionsExt;

fn mode(p: &std::path::Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn gen_defaults_to_ed25519_pem_mode_0600() {
    let d = tempfile::tempdir().unwrap();
    ok(d.path(), &["--gen", "--outfile", "k.pem"]);
    let p = d.path().join("k.pem");
    assert_eq!(mode(&p), 0o600);
    let text = fs::read_to_string(&p).unwrap();
    assert!(text.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{text}");
    assert_eq!(
        PrivateKey::from_bytes(text.as_bytes()).unwrap().key_type(),
        KeyType::Ed25519
    );
}

#[test]
fn gen_ecdsa_sizes_and_der_to_stdout() {
    let d = tempfile::tempdir().unwrap();
    let r = ok(d.path(), &["--gen", "--type", "ecdsa", "--outform", "der"]);
    assert_eq!(r.raw_stdout[0], 0x30);
    assert_eq!(
        PrivateKey::from_bytes(&r.raw_stdout).unwrap().key_type(),
        KeyType::EcdsaP384
    );
    let r = ok(d.path(), &["--gen", "--type", "ecdsa", "--size", "256"]);
    assert_eq!(
        PrivateKey::from_bytes(&r.raw_stdout).unwrap().key_type(),
        KeyType::EcdsaP256
    );
    let r = pki(d.path(), &["--gen", "--type", "ecdsa", "--size", "521"]);
    assert_eq!(one_line_error(&r), "nvesec-pki: error: unsupported key type: ECDSA size 521 (use ed25519, ecdsa 256 or ecdsa 384)");
}

#[test]
fn self_signed_ca_profile() {
    let d = tempfile::tempdir().unwrap();
    ok(d.path(), &["--gen", "--outfile", "ca.key"]);
    ok(
        d.path(),
        &[
            "--self",
            "--in",
            "ca.key",
            "--dn",
            "C=CH, O=nvesec, CN=Root",
            "--ca",
            "--pathlen",
            "1",
            "--outfile",
            "ca.pem",
        ],
    );
    let c = Certificate::from_bytes(&fs::read(d.path().join("ca.pem")).unwrap()).unwrap();
    let i = c[0].info().unwrap();
    assert_eq!(i.subject, "C=CH, O=nvesec, CN=Root");
    assert!(i.is_ca && i.self_signed);
    assert_eq!(i.path_len, Some(1));
    assert_eq!(i.key_usage, vec!["keyCertSign", "cRLSign"]);
    assert_eq!(i.not_after - i.not_before, 1095 * 86_400);
    assert!(
        i.sans.is_empty(),
        "the OVN rule applies to end entities only"
    );
}

#[test]
fn req_prints_the_csr_fingerprint() {
    let d = tempfile::tempdir().unwrap();
    ok(d.path(), &["--gen", "--outfile", "k.pem"]);
    let r = ok(
        d.path(),
        &[
            "--req",
            "--in",
            "k.pem",
            "--dn",
            "CN=nve1",
            "--outform",
            "der",
        ],
    );
    let csr = Csr::from_bytes(&r.raw_stdout).unwrap();
    let fp: Vec<String> = csr
        .fingerprint_sha256()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        r.stderr.trim(),
        format!("fingerprint (SHA-256): {}", fp.join(":"))
    );
    // With --outfile the fingerprint goes to stdout, as ovs-pki prints it.
    let r = ok(
        d.path(),
        &[
            "--req",
            "--in",
            "k.pem",
            "--dn",
            "CN=nve1",
            "--outfile",
            "r.csr",
        ],
    );
    let csr = Csr::from_bytes(&fs::read(d.path().join("r.csr")).unwrap()).unwrap();
    assert!(r.stdout.starts_with("fingerprint (SHA-256): "));
    assert_eq!(
        r.stdout.trim().len(),
        "fingerprint (SHA-256): ".len() + 32 * 3 - 1
    );
    assert_eq!(
        csr.sans(),
        &[nvesec_pki::SubjectAltName::Dns("nve1".into())]
    );
}

#[test]
fn issue_applies_ike_defaults_and_ovn_identity_rule() {
    let d = tempfile::tempdir().unwrap();
    make_ca(d.path(), "ca", &[]);
    make_ee(
        d.path(),
        "nve1.dc1.example.net",
        "ca.pem",
        "ca.key",
        &["--type", "ecdsa", "--size", "256"],
        &[],
    );
    let c = Certificate::from_bytes(&fs::read(d.path().join("nve1.dc1.example.net.pem")).unwrap())
        .unwrap();
    let i = c[0].info().unwrap();
    assert_eq!(i.subject, "O=nvesec, CN=nve1.dc1.example.net");
    assert_eq!(i.issuer, "O=nvesec, CN=ca CA");
    assert_eq!(
        i.sans,
        vec![nvesec_pki::SubjectAltName::Dns(
            "nve1.dc1.example.net".into()
        )]
    );
    assert_eq!(
        i.ext_key_usage,
        vec!["serverAuth", "clientAuth", "ipsecIKE"]
    );
    assert_eq!(i.key_usage, vec!["digitalSignature"]);
    assert!(!i.is_ca);
    assert_eq!(i.not_after - i.not_before, 1095 * 86_400);
    // 128-bit positive serial: 16 octets, or 17 with the sign-padding zero.
    assert!(
        i.serial.len() == 16 || (i.serial.len() == 17 && i.serial[0] == 0),
        "{:?}",
        i.serial
    );
    assert!(i.serial[0] & 0x80 == 0);
    assert_eq!(i.public_key.unwrap().key_type(), KeyType::EcdsaP256);
}

#[test]
fn issue_from_public_key_with_flags_and_serial() {
    let d = tempfile::tempdir().unwrap();
    make_ca(d.path(), "ca", &[]);
    ok(d.path(), &["--gen", "--outfile", "k.pem"]);
    ok(d.path(), &["--pub", "--in", "k.pem", "--outfile", "k.pub"]);
    ok(
        d.path(),
        &[
            "--issue",
            "--in",
            "k.pub",
            "--type",
            "pub",
            "--cacert",
            "ca.pem",
            "--cakey",
            "ca.key",
            "--dn",
            "CN=gw",
            "--san",
            "192.0.2.9",
            "--flag",
            "clientAuth",
            "--serial",
            "0a:0b",
            "--lifetime",
            "30",
            "--outfile",
            "gw.pem",
        ],
    );
    let i = Certificate::from_bytes(&fs::read(d.path().join("gw.pem")).unwrap()).unwrap()[0]
        .info()
        .unwrap();
    assert_eq!(i.serial, vec![0x0a, 0x0b]);
    assert_eq!(i.ext_key_usage, vec!["clientAuth"]);
    assert_eq!(i.not_after - i.not_before, 30 * 86_400);
    assert_eq!(
        i.sans,
        vec![
            nvesec_pki::SubjectAltName::Dns("gw".into()),
            nvesec_pki::SubjectAltName::Ip("192.0.2.9".parse().unwrap())
        ]
    );
}

#[test]
fn print_pub_keyid_agree() {
    let d = tempfile::tempdir().unwrap();
    make_ca(d.path(), "ca", &[]);
    let key = PrivateKey::from_bytes(&fs::read(d.path().join("ca.key")).unwrap()).unwrap();
    let hexc = |b: &[u8]| {
        b.iter()
            .map(|x| format!("{x:02x}"))
            .collect::<Vec<_>>()
            .join(":")
    };
    let r = ok(d.path(), &["--keyid", "--in", "ca.key"]);
    assert_eq!(
        r.stdout,
        format!(
            "subjkey (SHA-1 of subjectPublicKey):\n             {}\nkeyid (SHA-1 of subjectPublicKeyInfo):\n             {}\n",
            hexc(&key.public_key().subjkey_sha1()),
            hexc(&key.public_key().keyid_sha1())
        )
    );
    let r2 = ok(d.path(), &["--keyid", "--in", "ca.pem"]);
    assert_eq!(r.stdout, r2.stdout);
    let r = ok(d.path(), &["--pub", "--in", "ca.pem"]);
    assert_eq!(r.stdout, key.public_key().to_pem());
    let r = ok(d.path(), &["--print", "--in", "ca.pem"]);
    assert!(
        r.stdout.contains("  subject:  \"O=nvesec, CN=ca CA\"\n"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("ok (expires in 1094 days)")
            || r.stdout.contains("ok (expires in 1095 days)"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("  flags:     CA CRLSign self-signed\n"),
        "{}",
        r.stdout
    );
}

#[test]
fn verify_and_enroll_layout() {
    let d = tempfile::tempdir().unwrap();
    make_ca(d.path(), "ca", &[]);
    let r = ok(
        d.path(),
        &[
            "enroll", "--name", "nve7", "--dir", "etc", "--cacert", "ca.pem", "--cakey", "ca.key",
            "--san", "10.0.0.7",
        ],
    );
    assert!(
        r.stdout.contains("identity     nve7 (subject \"CN=nve7\")"),
        "{}",
        r.stdout
    );
    let etc = d.path().join("etc");
    assert_eq!(mode(&etc.join("private/nve7.pem")), 0o600);
    assert_eq!(mode(&etc.join("private")), 0o700);
    assert_eq!(mode(&etc.join("x509/nve7.pem")), 0o644);
    assert_eq!(
        fs::read(etc.join("x509ca/ca.pem")).unwrap(),
        fs::read(d.path().join("ca.pem")).unwrap()
    );
    let r = ok(
        d.path(),
        &[
            "--verify",
            "--in",
            "etc/x509/nve7.pem",
            "--cacert",
            "etc/x509ca/ca.pem",
        ],
    );
    assert_eq!(r.stdout, "certificate trusted, lifetimes valid\n");
    let key = PrivateKey::from_bytes(&fs::read(etc.join("private/nve7.pem")).unwrap()).unwrap();
    let cert = &Certificate::from_bytes(&fs::read(etc.join("x509/nve7.pem")).unwrap()).unwrap()[0];
    assert_eq!(cert.public_key().unwrap(), key.public_key());
    let sans = cert.info().unwrap().sans;
    assert_eq!(sans.len(), 2);
    // A second enroll does not clobber the key without --force.
    let r = pki(
        d.path(),
        &[
            "enroll", "--name", "nve7", "--dir", "etc", "--cacert", "ca.pem", "--cakey", "ca.key",
        ],
    );
    assert_eq!(
        one_line_error(&r),
        "nvesec-pki: error: etc/private/nve7.pem: output file exists (use --force to overwrite)"
    );
    ok(
        d.path(),
        &[
            "enroll", "--name", "nve7", "--dir", "etc", "--cacert", "ca.pem", "--cakey", "ca.key",
            "--force",
        ],
    );
    let key2 = PrivateKey::from_bytes(&fs::read(etc.join("private/nve7.pem")).unwrap()).unwrap();
    assert_ne!(key2.public_key(), key.public_key());
}

#[test]
fn verify_chain_file_with_intermediate_and_self_signed_ca() {
    let d = tempfile::tempdir().unwrap();
    make_ca(d.path(), "root", &[]);
    ok(d.path(), &["--verify", "--in", "root.pem"]);
    ok(
        d.path(),
        &[
            "--gen",
            "--outfile",
            "inter.key",
            "--type",
            "ecdsa",
            "--size",
            "384",
        ],
    );
    ok(
        d.path(),
        &[
            "--req",
            "--in",
            "inter.key",
            "--dn",
            "O=nvesec, CN=Intermediate",
            "--outfile",
            "inter.csr",
        ],
    );
    ok(
        d.path(),
        &[
            "--issue",
            "--in",
            "inter.csr",
            "--cacert",
            "root.pem",
            "--cakey",
            "root.key",
            "--ca",
            "--pathlen",
            "0",
            "--outfile",
            "inter.pem",
        ],
    );
    make_ee(d.path(), "nve5", "inter.pem", "inter.key", &[], &[]);
    let chain = [
        fs::read(d.path().join("nve5.pem")).unwrap(),
        fs::read(d.path().join("inter.pem")).unwrap(),
    ]
    .concat();
    fs::write(d.path().join("chain.pem"), chain).unwrap();
    let r = ok(
        d.path(),
        &["--verify", "--in", "chain.pem", "--cacert", "root.pem"],
    );
    assert_eq!(r.stdout, "certificate trusted, lifetimes valid\n");
    let r = pki(
        d.path(),
        &["--verify", "--in", "nve5.pem", "--cacert", "root.pem"],
    );
    assert_eq!(
        one_line_error(&r),
        "nvesec-pki: error: nve5.pem: certificate \"O=nvesec, CN=nve5\" is not issued by a trusted CA (its issuer is \"O=nvesec, CN=Intermediate\")"
    );
    // An intermediate with pathlen 0 cannot issue another CA.
    ok(d.path(), &["--gen", "--outfile", "sub.key"]);
    ok(
        d.path(),
        &[
            "--req",
            "--in",
            "sub.key",
            "--dn",
            "CN=Sub",
            "--outfile",
            "sub.csr",
        ],
    );
    ok(
        d.path(),
        &[
            "--issue",
            "--in",
            "sub.csr",
            "--cacert",
            "inter.pem",
            "--cakey",
            "inter.key",
            "--ca",
            "--outfile",
            "sub.pem",
        ],
    );
    make_ee(d.path(), "nve6", "sub.pem", "sub.key", &[], &[]);
    let chain = [
        fs::read(d.path().join("nve6.pem")).unwrap(),
        fs::read(d.path().join("sub.pem")).unwrap(),
        fs::read(d.path().join("inter.pem")).unwrap(),
    ]
    .concat();
    fs::write(d.path().join("chain6.pem"), chain).unwrap();
    let r = pki(
        d.path(),
        &["--verify", "--in", "chain6.pem", "--cacert", "root.pem"],
    );
    assert_eq!(
        one_line_error(&r),
        "nvesec-pki: error: chain6.pem: path length constraint of \"O=nvesec, CN=Intermediate\" exceeded"
    );
}
