//! Interoperability with strongSwan's `pki` and OpenSSL (both required:
//! scripts/test.sh installs strongswan-pki, libstrongswan-standard-plugins
//! for ECDSA, and openssl). These tests never skip.

mod common;
use common::*;
use nvesec_pki::{verify_chain, Certificate, IkeIdentity, TrustStore};
use std::fs;
use std::time::SystemTime;

const KEY_TYPES: [(&str, &[&str], &[&str]); 2] = [
    ("ed25519", &[], &["--type", "ed25519"]),
    (
        "ecdsa-p256",
        &["--type", "ecdsa", "--size", "256"],
        &["--type", "ecdsa", "--size", "256"],
    ),
];

#[test]
fn nvesec_certificates_are_accepted_by_openssl_and_strongswan() {
    for (label, ours, _) in KEY_TYPES {
        let d = tempfile::tempdir().unwrap();
        make_ca(d.path(), "ca", ours);
        make_ee(d.path(), "nve1.example.net", "ca.pem", "ca.key", ours, &[]);
        let r = external(
            d.path(),
            "openssl",
            &["verify", "-CAfile", "ca.pem", "nve1.example.net.pem"],
        );
        assert_eq!(
            r.stdout, "nve1.example.net.pem: OK\n",
            "{label}: {}",
            r.stderr
        );
        assert_eq!(r.code, 0);
        let r = external(
            d.path(),
            "pki",
            &[
                "--verify",
                "--in",
                "nve1.example.net.pem",
                "--cacert",
                "ca.pem",
            ],
        );
        assert_eq!(
            r.code, 0,
            "{label}: strongSwan rejected: {}{}",
            r.stdout, r.stderr
        );
        assert!(
            r.stdout.contains("certificate trusted, lifetimes valid"),
            "{label}: {}",
            r.stdout
        );
        // DER output works for strongSwan too.
        ok(
            d.path(),
            &["--gen", "--outfile", "k2.der", "--outform", "der"],
        );
        ok(
            d.path(),
            &["--pub", "--in", "k2.der", "--outfile", "k2.pub"],
        );
        ok(
            d.path(),
            &[
                "--issue",
                "--in",
                "k2.pub",
                "--cacert",
                "ca.pem",
                "--cakey",
                "ca.key",
                "--dn",
                "CN=gw2",
                "--outform",
                "der",
                "--outfile",
                "gw2.der",
            ],
        );
        let r = external(
            d.path(),
            "pki",
            &["--verify", "--in", "gw2.der", "--cacert", "ca.pem"],
        );
        assert_eq!(r.code, 0, "{label}: {}{}", r.stdout, r.stderr);
    }
}

#[test]
fn nvesec_keys_are_loaded_by_strongswan_and_openssl() {
    for (label, ours, _) in KEY_TYPES {
        let d = tempfile::tempdir().unwrap();
        ok(
            d.path(),
            &["--gen", "--outfile", "k.pem"]
                .iter()
                .copied()
                .chain(ours.iter().copied())
                .collect::<Vec<_>>(),
        );
        let r = external(
            d.path(),
            "pki",
            &[
                "--self",
                "--in",
                "k.pem",
                "--dn",
                "CN=sw self",
                "--ca",
                "--outform",
                "pem",
            ],
        );
        assert_eq!(
            r.code, 0,
            "{label}: strongSwan could not use our key: {}",
            r.stderr
        );
        fs::write(d.path().join("sw.pem"), &r.raw_stdout).unwrap();
        let ours_keyid = ok(d.path(), &["--keyid", "--in", "k.pem"]).stdout;
        let theirs = external(
            d.path(),
            "pki",
            &["--keyid", "--in", "sw.pem", "--type", "x509"],
        )
        .stdout;
        assert_eq!(ours_keyid, theirs, "{label}: key identifiers differ");
        let r = external(d.path(), "openssl", &["pkey", "-in", "k.pem", "-pubout"]);
        assert_eq!(r.code, 0, "{label}: {}", r.stderr);
        assert_eq!(
            r.stdout,
            ok(d.path(), &["--pub", "--in", "k.pem"]).stdout,
            "{label}"
        );
    }
}

#[test]
fn strongswan_certificates_are_accepted_by_nvesec() {
    for (label, _, theirs) in KEY_TYPES {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        let sw = |args: &[&str], out: &str| {
            let r = external(p, "pki", args);
            assert_eq!(
                r.code, 0,
                "{label}: pki {args:?} failed (ECDSA needs libstrongswan-standard-plugins): {}",
                r.stderr
            );
            fs::write(p.join(out), &r.raw_stdout).unwrap();
        };
        // strongSwan's defaults: DER output.
        sw(&[&["--gen"], theirs].concat(), "swca.der");
        sw(
            &[
                "--self",
                "--in",
                "swca.der",
                "--dn",
                "C=CH, O=strongSwan, CN=strongSwan CA",
                "--ca",
            ],
            "swca.crt",
        );
        sw(&[&["--gen"], theirs].concat(), "moon.der");
        sw(
            &[
                "--req",
                "--in",
                "moon.der",
                "--dn",
                "C=CH, O=strongSwan, CN=moon.strongswan.org",
                "--san",
                "moon.strongswan.org",
                "--san",
                "192.0.2.1",
            ],
            "moon.csr",
        );
        sw(
            &[
                "--issue",
                "--in",
                "moon.csr",
                "--type",
                "pkcs10",
                "--cacert",
                "swca.crt",
                "--cakey",
                "swca.der",
                "--flag",
                "serverAuth",
            ],
            "moon.crt",
        );
        let r = ok(p, &["--verify", "--in", "moon.crt", "--cacert", "swca.crt"]);
        assert_eq!(r.stdout, "certificate trusted, lifetimes valid\n");

        let ca = Certificate::from_bytes(&fs::read(p.join("swca.crt")).unwrap())
            .unwrap()
            .remove(0);
        let ee = Certificate::from_bytes(&fs::read(p.join("moon.crt")).unwrap())
            .unwrap()
            .remove(0);
        let mut store = TrustStore::new();
        store.add_ca(ca).unwrap();
        let v = verify_chain(&ee, &[], &store, SystemTime::now()).unwrap();
        assert_eq!(v.subject, "C=CH, O=strongSwan, CN=moon.strongswan.org");
        assert_eq!(v.anchor, "C=CH, O=strongSwan, CN=strongSwan CA");
        assert!(v.matches_id(&IkeIdentity::Fqdn("moon.strongswan.org".into())));
        assert!(v.matches_id(&IkeIdentity::Ipv4("192.0.2.1".parse().unwrap())));
        assert!(!v.matches_id(&IkeIdentity::Fqdn("sun.strongswan.org".into())));
        // ID_KEY_ID as strongSwan's `pki --keyid` prints it.
        let hexid = external(
            p,
            "pki",
            &[
                "--keyid", "--in", "moon.crt", "--type", "x509", "--id", "spk", "--format", "hex",
            ],
        )
        .stdout;
        let kid: Vec<u8> = (0..40)
            .step_by(2)
            .map(|i| u8::from_str_radix(&hexid.trim()[i..i + 2], 16).unwrap())
            .collect();
        assert!(v.matches_id(&IkeIdentity::KeyId(kid)), "{label}");
        // Our tool issues with a strongSwan CA (SEC1 / PKCS#8 DER keys) and strongSwan accepts it.
        ok(
            p,
            &[
                "--issue",
                "--in",
                "moon.csr",
                "--cacert",
                "swca.crt",
                "--cakey",
                "swca.der",
                "--outfile",
                "moon2.crt",
            ],
        );
        let r = external(
            p,
            "pki",
            &["--verify", "--in", "moon2.crt", "--cacert", "swca.crt"],
        );
        assert_eq!(r.code, 0, "{label}: {}{}", r.stdout, r.stderr);
    }
}

#[test]
fn nvesec_crl_revokes_for_nvesec_openssl_and_strongswan() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    make_ca(p, "ca", &["--type", "ecdsa", "--size", "256"]);
    make_ee(p, "bad", "ca.pem", "ca.key", &[], &[]);
    make_ee(p, "good", "ca.pem", "ca.key", &[], &[]);
    ok(
        p,
        &[
            "--signcrl",
            "--cacert",
            "ca.pem",
            "--cakey",
            "ca.key",
            "--reason",
            "key-compromise",
            "--cert",
            "bad.pem",
            "--outfile",
            "ca.crl",
        ],
    );

    let r = pki(
        p,
        &[
            "--verify", "--in", "bad.pem", "--cacert", "ca.pem", "--crl", "ca.crl",
        ],
    );
    let line = one_line_error(&r);
    assert!(
        line.starts_with("nvesec-pki: error: bad.pem: certificate \"O=nvesec, CN=bad\" (serial "),
        "{line}"
    );
    assert!(line.ends_with(") is revoked"), "{line}");
    let r = ok(
        p,
        &[
            "--verify", "--in", "good.pem", "--cacert", "ca.pem", "--crl", "ca.crl",
        ],
    );
    assert_eq!(
        r.stdout,
        "certificate trusted, lifetimes valid, certificate not revoked\n"
    );

    let r = external(
        p,
        "openssl",
        &["crl", "-in", "ca.crl", "-CAfile", "ca.pem", "-noout"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("verify OK") || r.stdout.contains("verify OK"),
        "{}{}",
        r.stdout,
        r.stderr
    );
    let r = external(
        p,
        "openssl",
        &[
            "verify",
            "-crl_check",
            "-CAfile",
            "ca.pem",
            "-CRLfile",
            "ca.crl",
            "bad.pem",
        ],
    );
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("certificate revoked") || r.stdout.contains("certificate revoked"),
        "{}{}",
        r.stdout,
        r.stderr
    );
    let r = external(
        p,
        "openssl",
        &[
            "verify",
            "-crl_check",
            "-CAfile",
            "ca.pem",
            "-CRLfile",
            "ca.crl",
            "good.pem",
        ],
    );
    assert_eq!(r.stdout, "good.pem: OK\n", "{}", r.stderr);

    let r = external(
        p,
        "pki",
        &[
            "--verify", "--in", "bad.pem", "--cacert", "ca.pem", "--crl", "ca.crl",
        ],
    );
    assert_ne!(r.code, 0, "strongSwan accepted a revoked certificate");
    assert!(
        r.stdout.contains("reason: key compromise") || r.stderr.contains("reason: key compromise"),
        "{}{}",
        r.stdout,
        r.stderr
    );
}
