//! Helpers for the integration tests: run the built nvesec-pki in a temp dir.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const TOOL: &str = env!("CARGO_BIN_EXE_nvesec-pki");

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub raw_stdout: Vec<u8>,
}

fn finish(out: Output) -> Run {
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        raw_stdout: out.stdout,
    }
}

/// Run nvesec-pki in `dir`.
pub fn pki(dir: &Path, args: &[&str]) -> Run {
    finish(
        Command::new(TOOL)
            .args(args)
            .current_dir(dir)
            .output()
            .expect("run nvesec-pki"),
    )
}

/// Run nvesec-pki and require success.
pub fn ok(dir: &Path, args: &[&str]) -> Run {
    let r = pki(dir, args);
    assert_eq!(r.code, 0, "nvesec-pki {args:?} failed: {}", r.stderr);
    r
}

/// Run an external program (strongSwan pki, openssl); fail with an install
/// hint when it is missing (scripts/test.sh installs both).
pub fn external(dir: &Path, prog: &str, args: &[&str]) -> Run {
    let out = Command::new(prog).args(args).current_dir(dir).output().unwrap_or_else(|e| {
        panic!("cannot run '{prog}' ({e}): install strongswan-pki, libstrongswan-standard-plugins and openssl (scripts/test.sh does)")
    });
    finish(out)
}

/// A CA (key + self-signed cert) made by nvesec-pki: returns (cert, key) paths.
pub fn make_ca(dir: &Path, name: &str, key_args: &[&str]) -> (PathBuf, PathBuf) {
    let key = format!("{name}.key");
    let cert = format!("{name}.pem");
    let mut gen = vec!["--gen", "--outfile", &key];
    gen.extend_from_slice(key_args);
    ok(dir, &gen);
    let dn = format!("O=nvesec, CN={name} CA");
    ok(
        dir,
        &[
            "--self",
            "--in",
            &key,
            "--dn",
            &dn,
            "--ca",
            "--outfile",
            &cert,
        ],
    );
    (dir.join(cert), dir.join(key))
}

/// An end-entity key + certificate issued by the CA via the two-step flow.
pub fn make_ee(dir: &Path, host: &str, ca: &str, ca_key: &str, key_args: &[&str], extra: &[&str]) {
    let key = format!("{host}.key");
    let csr = format!("{host}.csr");
    let cert = format!("{host}.pem");
    let mut gen = vec!["--gen", "--outfile", &key];
    gen.extend_from_slice(key_args);
    ok(dir, &gen);
    let dn = format!("O=nvesec, CN={host}");
    ok(
        dir,
        &["--req", "--in", &key, "--dn", &dn, "--outfile", &csr],
    );
    let mut issue = vec![
        "--issue",
        "--in",
        &csr,
        "--cacert",
        ca,
        "--cakey",
        ca_key,
        "--outfile",
        &cert,
    ];
    issue.extend_from_slice(extra);
    ok(dir, &issue);
}

/// The error output must be exactly one line.
pub fn one_line_error(r: &Run) -> &str {
    assert_eq!(r.code, 1, "expected exit 1, got {}: {}", r.code, r.stderr);
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "expected one error line, got: {:?}", lines);
    lines[0]
}
