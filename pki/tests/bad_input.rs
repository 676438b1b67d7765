//! Issue 3 "Bad input": each case gives one error line naming the file and
//! the reason, and exit status 1 (the key-permission case is a warning).

mod common;
use common::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;

#[test]
fn key_does_not_match_certificate() {
    let d = tempfile::tempdir().unwrap();
    make_ca(d.path(), "ca", &[]);
    ok(d.path(), &["--gen", "--outfile", "other.key"]);
    ok(d.path(), &["--gen", "--outfile", "nve.key"]);
    ok(
        d.path(),
        &[
            "--req",
            "--in",
            "nve.key",
            "--dn",
            "CN=nve",
            "--outfile",
            "nve.csr",
        ],
    );
    let r = pki(
        d.path(),
        &[
            "--issue",
            "--in",
            "nve.csr",
            "--cacert",
            "ca.pem",
            "--cakey",
            "other.key",
        ],
    );
    assert_eq!(
        one_line_error(&r),
        "nvesec-pki: error: other.key: private key does not match CA certificate ca.pem"
    );
    let r = pki(
        d.path(),
        &["--signcrl", "--cacert", "ca.pem", "--cakey", "other.key"],
    );
    assert_eq!(
        one_line_error(&r),
        "nvesec-pki: error: other.key: private key does not match CA certificate ca.pem"
    );
}

#[test]
fn expired_certificate() {
    let d = tempfile::tempdir().unwrap();
    make_ca(d.path(), "ca", &[]);
    make_ee(
        d.path(),
        "old",
        "ca.pem",
        "ca.key",
        &[],
        &[
            "--not-before",
            "01.01.20 00:00:00",
            "--not-after",
            "01.01.21 00:00:00",
        ],
    );
    let r = pki(
        d.path(),
        &["--verify", "--in", "old.pem", "--cacert", "ca.pem"],
    );
    let line = one_line_error(&r);
    assert!(
        line.starts_with("nvesec-pki: error: old.pem: certificate \"O=nvesec, CN=old\" expired ")
            && line.ends_with(" days ago (not after Jan  1 00:00:00 2021 +00:00)"),
        "{line}"
    );
}

#[test]
fn not_yet_valid_certificate() {
    let d = tempfile::tempdir().unwrap();
    make_ca(d.path(), "ca", &[]);
    make_ee(
        d.path(),
        "new",
        "ca.pem",
        "ca.key",
        &[],
        &[
            "--not-before",
            "01.01.60 00:00:00",
            "--not-after",
            "01.01.61 00:00:00",
        ],
    );
    let r = pki(
        d.path(),
        &["--verify", "--in", "new.pem", "--cacert", "ca.pem"],
    );
    assert_eq!(
        one_line_error(&r),
        "nvesec-pki: error: new.pem: certificate \"O=nvesec, CN=new\" is not yet valid (not before Jan  1 00:00:00 2060 +00:00)"
    );
}

#[test]
fn wrong_ca() {
    let d = tempfile::tempdir().unwrap();
    make_ca(d.path(), "ca", &[]);
    make_ca(d.path(), "other", &[]);
    make_ee(d.path(), "nve", "ca.pem", "ca.key", &[], &[]);
    let r = pki(
        d.path(),
        &["--verify", "--in", "nve.pem", "--cacert", "other.pem"],
    );
    assert_eq!(
        one_line_error(&r),
        "nvesec-pki: error: nve.pem: certificate \"O=nvesec, CN=nve\" is not issued by a trusted CA (its issuer is \"O=nvesec, CN=ca CA\")"
    );
}

#[test]
fn same_name_different_ca_key() {
    // A CA with the same DN but another key: the name matches, the signature does not.
    let d = tempfile::tempdir().unwrap();
    make_ca(d.path(), "ca", &[]);
    make_ee(d.path(), "nve", "ca.pem", "ca.key", &[], &[]);
    ok(d.path(), &["--gen", "--outfile", "impostor.key"]);
    ok(
        d.path(),
        &[
            "--self",
            "--in",
            "impostor.key",
            "--dn",
            "O=nvesec, CN=ca CA",
            "--ca",
            "--outfile",
            "impostor.pem",
        ],
    );
    let r = pki(
        d.path(),
        &["--verify", "--in", "nve.pem", "--cacert", "impostor.pem"],
    );
    assert_eq!(
        one_line_error(&r),
        "nvesec-pki: error: nve.pem: signature on certificate \"O=nvesec, CN=nve\" does not verify with the key of \"O=nvesec, CN=ca CA\""
    );
}

#[test]
fn missing_ca_constraint_on_issuer() {
    let d = tempfile::tempdir().unwrap();
    make_ca(d.path(), "ca", &[]);
    make_ee(d.path(), "ee", "ca.pem", "ca.key", &[], &[]);
    ok(d.path(), &["--gen", "--outfile", "x.key"]);
    ok(
        d.path(),
        &[
            "--req",
            "--in",
            "x.key",
            "--dn",
            "CN=x",
            "--outfile",
            "x.csr",
        ],
    );
    let r = pki(
        d.path(),
        &[
            "--issue", "--in", "x.csr", "--cacert", "ee.pem", "--cakey", "ee.key",
        ],
    );
    assert_eq!(
        one_line_error(&r),
        "nvesec-pki: error: ee.pem: CA certificate has no CA basic constraint (CA:TRUE): it cannot issue certificates"
    );
    let r = pki(
        d.path(),
        &["--verify", "--in", "ca.pem", "--cacert", "ee.pem"],
    );
    assert_eq!(
        one_line_error(&r),
        "nvesec-pki: error: ee.pem: \"O=nvesec, CN=ee\" is not a CA certificate (no basicConstraints CA:TRUE)"
    );
}

#[test]
fn unsupported_key_type() {
    let d = tempfile::tempdir().unwrap();
    fs::write(d.path().join("rsa.pem"), include_str!("rsa-1024.pem")).unwrap();
    fs::set_permissions(d.path().join("rsa.pem"), fs::Permissions::from_mode(0o600)).unwrap();
    let r = pki(
        d.path(),
        &["--self", "--in", "rsa.pem", "--dn", "CN=x", "--ca"],
    );
    assert_eq!(
        one_line_error(&r),
        "nvesec-pki: error: rsa.pem: unsupported key type: RSA (use ed25519, ecdsa 256 or ecdsa 384)"
    );
}

#[test]
fn malformed_pem() {
    let d = tempfile::tempdir().unwrap();
    fs::write(
        d.path().join("bad.pem"),
        "-----BEGIN PRIVATE KEY-----\nnot*base64!\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let r = pki(d.path(), &["--pub", "--in", "bad.pem"]);
    assert_eq!(
        one_line_error(&r),
        "nvesec-pki: error: bad.pem: malformed PEM: invalid base64"
    );
    fs::write(
        d.path().join("cut.pem"),
        "-----BEGIN CERTIFICATE-----\nMAMCAQU=\n",
    )
    .unwrap();
    let r = pki(d.path(), &["--verify", "--in", "cut.pem"]);
    assert_eq!(
        one_line_error(&r),
        "nvesec-pki: error: cut.pem: malformed PEM: missing -----END line"
    );
}

#[test]
fn csr_signature_invalid() {
    let d = tempfile::tempdir().unwrap();
    make_ca(d.path(), "ca", &[]);
    ok(
        d.path(),
        &[
            "--gen",
            "--type",
            "ecdsa",
            "--size",
            "256",
            "--outfile",
            "k.pem",
        ],
    );
    let r = ok(
        d.path(),
        &[
            "--req",
            "--in",
            "k.pem",
            "--dn",
            "CN=nve",
            "--outform",
            "der",
        ],
    );
    let mut der = r.raw_stdout.clone();
    // Change the requested CN ("nve" -> "nvf"): the self-signature no longer covers it.
    let pos = der.windows(3).position(|w| w == b"nve").unwrap();
    der[pos + 2] = b'f';
    fs::write(d.path().join("forged.csr"), &der).unwrap();
    let r = pki(
        d.path(),
        &[
            "--issue",
            "--in",
            "forged.csr",
            "--type",
            "pkcs10",
            "--cacert",
            "ca.pem",
            "--cakey",
            "ca.key",
        ],
    );
    assert_eq!(
        one_line_error(&r),
        "nvesec-pki: error: forged.csr: CSR signature invalid"
    );
}

#[test]
fn output_file_exists() {
    let d = tempfile::tempdir().unwrap();
    fs::write(d.path().join("k.pem"), "keep me").unwrap();
    let r = pki(d.path(), &["--gen", "--outfile", "k.pem"]);
    assert_eq!(
        one_line_error(&r),
        "nvesec-pki: error: k.pem: output file exists (use --force to overwrite)"
    );
    assert_eq!(
        fs::read_to_string(d.path().join("k.pem")).unwrap(),
        "keep me"
    );
    ok(d.path(), &["--gen", "--outfile", "k.pem", "--force"]);
    let meta = fs::metadata(d.path().join("k.pem")).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
}

#[test]
fn private_key_readable_by_others_is_a_warning() {
    let d = tempfile::tempdir().unwrap();
    ok(d.path(), &["--gen", "--outfile", "k.pem"]);
    fs::set_permissions(d.path().join("k.pem"), fs::Permissions::from_mode(0o644)).unwrap();
    let r = pki(
        d.path(),
        &[
            "--self",
            "--in",
            "k.pem",
            "--dn",
            "CN=ca",
            "--ca",
            "--outfile",
            "ca.pem",
        ],
    );
    assert_eq!(r.code, 0);
    assert_eq!(
        r.stderr,
        "nvesec-pki: warning: k.pem: private key file is readable by group/others (mode 0644); run chmod 600 k.pem\n"
    );
    assert!(d.path().join("ca.pem").exists());
}
