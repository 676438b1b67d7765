//! Shared by the IKE scenarios (`scenario_strongswan`, `scenario_ike_hostile`,
//! `scenario_credentials`): an NVE (gsa-dp + nvesecd) started from a complete nvesec.conf text,
//! so one NVE can hold several connections, a `%any` responder or deliberately wrong
//! credentials (interop/src/nve.rs renders one fixed two-NVE layout); credentials made with the
//! `nvesec-pki` binary; counters and listings read through `nvesecctl`.

#![allow(dead_code)] // each test binary uses a different part

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nvesec_interop::dataplane::GsaDp;
use nvesec_interop::netns::{run, scratch_dir, unique_name};
use nvesec_interop::nve::{bins, start_dp_for};
use nvesec_interop::{HarnessError, Netns};
use serde_json::Value;

fn s(p: &Path) -> &str {
    p.to_str().unwrap_or_default()
}

/// Key types the tests use (`nvesec-pki --gen` flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Ed25519,
    EcdsaP256,
}

impl KeyKind {
    fn args(self) -> &'static [&'static str] {
        match self {
            KeyKind::Ed25519 => &[],
            KeyKind::EcdsaP256 => &["--type", "ecdsa", "--size", "256"],
        }
    }
}

/// A CA made with `nvesec-pki --gen` / `--self` in its own temporary directory.
#[derive(Debug)]
pub struct TestCa {
    pub dir: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub kind: KeyKind,
}

impl TestCa {
    pub fn new(cn: &str, kind: KeyKind) -> Result<Self, HarnessError> {
        let pki = bins()?.pki;
        let dir = scratch_dir("ikeca");
        fs::create_dir_all(&dir)?;
        let (cert, key) = (dir.join("ca.pem"), dir.join("ca.key"));
        run(Command::new(&pki)
            .args(["--gen", "--outfile", s(&key)])
            .args(kind.args()))?;
        run(Command::new(&pki).args([
            "--self",
            "--in",
            s(&key),
            "--dn",
            &format!("C=CH, O=nvesec, CN={cn}"),
            "--ca",
            "--outfile",
            s(&cert),
        ]))?;
        Ok(TestCa {
            dir,
            cert,
            key,
            kind,
        })
    }

    /// `nvesec-pki enroll --name NAME --dir DIR`: private/NAME.pem, x509/NAME.pem (subject
    /// `CN=NAME`, SAN DNS NAME), x509ca/ca.pem: the layout of both nvesecd and swanctl.
    pub fn enroll(&self, name: &str, dir: &Path) -> Result<(), HarnessError> {
        run(Command::new(bins()?.pki)
            .args(["enroll", "--name", name, "--dir", s(dir)])
            .args(["--cacert", s(&self.cert), "--cakey", s(&self.key)])
            .args(self.kind.args()))?;
        Ok(())
    }

    /// Like [`TestCa::enroll`], but the certificate was valid only in 2020 (`--gen`, `--req`,
    /// `--issue --not-before --not-after`); the CA goes to x509ca/ca.pem.
    pub fn enroll_expired(&self, name: &str, dir: &Path) -> Result<(), HarnessError> {
        let pki = bins()?.pki;
        for sub in ["private", "x509", "x509ca"] {
            fs::create_dir_all(dir.join(sub))?;
        }
        let key = dir.join("private").join(format!("{name}.pem"));
        let csr = self.dir.join(format!("{name}.csr"));
        run(Command::new(&pki)
            .args(["--gen", "--outfile", s(&key)])
            .args(self.kind.args()))?;
        run(Command::new(&pki).args([
            "--req",
            "--in",
            s(&key),
            "--dn",
            &format!("CN={name}"),
            "--outfile",
            s(&csr),
        ]))?;
        run(Command::new(&pki).args([
            "--issue",
            "--in",
            s(&csr),
            "--cacert",
            s(&self.cert),
            "--cakey",
            s(&self.key),
            "--not-before",
            "01.01.20 00:00:00",
            "--not-after",
            "31.12.20 00:00:00",
            "--outfile",
            s(&dir.join("x509").join(format!("{name}.pem"))),
        ]))?;
        fs::copy(&self.cert, dir.join("x509ca/ca.pem"))?;
        Ok(())
    }
}

impl Drop for TestCa {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A fresh temporary directory for one NVE's tree (removed by [`IkeNve`]'s drop, or by the
/// caller when no NVE is started in it).
pub fn nve_dir() -> PathBuf {
    let d = std::env::temp_dir().join(unique_name("ikenve"));
    fs::create_dir_all(&d).expect("create NVE dir");
    d
}

/// How one side of a connection authenticates.
#[derive(Debug, Clone)]
pub enum ConnAuth {
    Psk,
    /// Our certificate file in x509/ (the remote side of a pubkey connection names nothing:
    /// every CA in x509ca/ is trusted).
    Pubkey(String),
}

/// One `connections.<name>` section.
#[derive(Debug, Clone)]
pub struct Conn {
    pub name: String,
    pub local_addr: String,
    /// `None` = `%any` (responder only).
    pub remote_addr: Option<String>,
    pub local_id: String,
    pub remote_id: String,
    pub auth: ConnAuth,
    /// Extra lines inside the connection (children { }, rekey_time, ...).
    pub extra: String,
}

impl Conn {
    pub fn new(name: &str, local: &str, remote: Option<&str>, ids: (&str, &str)) -> Self {
        Conn {
            name: name.into(),
            local_addr: local.into(),
            remote_addr: remote.map(str::to_string),
            local_id: ids.0.into(),
            remote_id: ids.1.into(),
            auth: ConnAuth::Psk,
            extra: String::new(),
        }
    }

    pub fn pubkey(mut self, cert: &str) -> Self {
        self.auth = ConnAuth::Pubkey(cert.into());
        self
    }

    pub fn extra(mut self, text: &str) -> Self {
        self.extra = text.into();
        self
    }

    fn render(&self) -> String {
        let (method, certs) = match &self.auth {
            ConnAuth::Psk => ("psk", String::new()),
            ConnAuth::Pubkey(c) => ("pubkey", format!("\n      certs = {c}")),
        };
        format!(
            "  {name} {{\n    local_addrs = {la}\n    remote_addrs = {ra}\n    \
             local {{\n      auth = {method}\n      id = {lid}{certs}\n    }}\n    \
             remote {{\n      auth = {method}\n      id = {rid}\n    }}\n{extra}\n  }}\n",
            name = self.name,
            la = self.local_addr,
            ra = self.remote_addr.as_deref().unwrap_or("%any"),
            lid = self.local_id,
            rid = self.remote_id,
            extra = self.extra,
        )
    }
}

/// A complete nvesec.conf: connections, PSKs (`(id, secret)`: the secret belongs to that
/// identity), then `tail` verbatim (overlay, policies).
pub fn render_conf(conns: &[Conn], psks: &[(&str, &str)], tail: &str) -> String {
    let mut out = String::from("# generated by interop/tests/support_ike\nconnections {\n");
    for c in conns {
        out.push_str(&c.render());
    }
    out.push_str("}\n");
    if !psks.is_empty() {
        out.push_str("secrets {\n");
        for (i, (id, secret)) in psks.iter().enumerate() {
            out.push_str(&format!(
                "  ike-{i} {{\n    id = {id}\n    secret = \"{secret}\"\n  }}\n"
            ));
        }
        out.push_str("}\n");
    }
    out.push_str(tail);
    out
}

/// gsa-dp and nvesecd in a namespace, started from `dir/nvesec.conf` (credentials under
/// `dir`). Killed (nvesecd first) and `dir` removed on drop.
#[derive(Debug)]
pub struct IkeNve {
    daemon: Option<Child>,
    pub dp: GsaDp,
    pub dir: PathBuf,
    pub ctl_socket: PathBuf,
    pub name: String,
}

impl IkeNve {
    /// Write `conf` to `dir/nvesec.conf`, start gsa-dp with `nvesecd --dp-args`, then nvesecd
    /// (debug level 2); wait until the control socket answers.
    pub fn start(ns: &Netns, name: &str, dir: PathBuf, conf: &str) -> Result<Self, HarnessError> {
        let b = bins()?;
        let config = dir.join("nvesec.conf");
        fs::write(&config, conf)?;
        let dp = start_dp_for(ns, &config)?;
        let log = fs::File::create(dir.join("nvesecd.log"))?;
        let ctl_socket = dir.join("ctl.sock");
        let child = ns
            .command(s(&b.nvesecd))
            .arg("--config")
            .arg(&config)
            .arg("--dp-socket")
            .arg(&dp.socket)
            .arg("--ctl-socket")
            .arg(&ctl_socket)
            .args(["--debug", "2"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| HarnessError::Spawn("nvesecd".into(), e))?;
        let mut nve = IkeNve {
            daemon: Some(child),
            dp,
            dir,
            ctl_socket,
            name: name.into(),
        };
        let start = Instant::now();
        while std::os::unix::net::UnixStream::connect(&nve.ctl_socket).is_err() {
            if let Some(st) = nve
                .daemon
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                return Err(HarnessError::Failed {
                    cmd: format!("nvesecd ({name})"),
                    status: st.code(),
                    stderr: nve.log(),
                });
            }
            if start.elapsed() > Duration::from_secs(10) {
                return Err(HarnessError::Timeout(format!(
                    "nvesecd socket: {}",
                    nve.log()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(nve)
    }

    /// `nvesecctl --socket <ctl> ARGS`: stdout, or the error with stderr.
    pub fn ctl(&self, args: &[&str]) -> Result<String, HarnessError> {
        let out = run(Command::new(bins()?.nvesecctl)
            .arg("--socket")
            .arg(&self.ctl_socket)
            .args(args))?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `ctl(ARGS --json)` parsed.
    pub fn ctl_json(&self, args: &[&str]) -> Result<Value, HarnessError> {
        let mut a = args.to_vec();
        a.push("--json");
        let text = self.ctl(&a)?;
        serde_json::from_str(&text).map_err(|e| HarnessError::Failed {
            cmd: format!("nvesecctl {args:?} --json"),
            status: None,
            stderr: format!("{e}: {text}"),
        })
    }

    /// The `sas` array of `--list-sas --json`.
    pub fn sas(&self) -> Vec<Value> {
        let v = self
            .ctl_json(&["--list-sas"])
            .expect("nvesecctl --list-sas");
        v["sas"].as_array().cloned().unwrap_or_default()
    }

    /// Polls `--list-sas --json` until `pred` holds; panics with the log after `timeout`.
    pub fn wait_sas(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let end = Instant::now() + timeout;
        loop {
            let sas = self.sas();
            if pred(&sas) {
                return sas;
            }
            assert!(
                Instant::now() < end,
                "{}: {what}: last list-sas {sas:?}\nnvesecd log:\n{}",
                self.name,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `--counters --json` drop reasons as a map (gsa-dp's and the IKE engine's `ike_*`).
    pub fn drops(&self) -> BTreeMap<String, u64> {
        let v = self
            .ctl_json(&["--counters"])
            .expect("nvesecctl --counters");
        v["drops"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| Some((d["reason"].as_str()?.to_string(), d["count"].as_u64()?)))
            .collect()
    }

    /// `--stats --json`.
    pub fn stats(&self) -> Value {
        self.ctl_json(&["--stats"]).expect("nvesecctl --stats")
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("nvesecd.log")).unwrap_or_default()
    }

    /// Waits until nvesecd's log contains `needle`; panics with the log after `timeout`.
    pub fn wait_log(&self, needle: &str, timeout: Duration) {
        let end = Instant::now() + timeout;
        while !self.log().contains(needle) {
            assert!(
                Instant::now() < end,
                "{}: nvesecd never logged {needle:?}; log:\n{}",
                self.name,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Replace nvesec.conf and `nvesecctl --load-all`.
    pub fn reload(&self, conf: &str) -> Result<String, HarnessError> {
        fs::write(self.dir.join("nvesec.conf"), conf)?;
        self.ctl(&["--load-all"])
    }
}

impl Drop for IkeNve {
    fn drop(&mut self) {
        if let Some(mut c) = self.daemon.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Differences `after - before` of the keys that changed.
pub fn delta(
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
) -> BTreeMap<String, u64> {
    after
        .iter()
        .filter_map(|(k, v)| {
            let d = v.saturating_sub(before.get(k).copied().unwrap_or(0));
            (d > 0).then(|| (k.clone(), d))
        })
        .collect()
}

/// Renders a delta as `ike_unknown_spi=3 ike_malformed_header=2`.
pub fn show(d: &BTreeMap<String, u64>) -> String {
    d.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The one ESTABLISHED IKE SA of connection `conn` in `sas`, if exactly one exists.
pub fn established<'a>(sas: &'a [Value], conn: &str) -> Option<&'a Value> {
    let mut it = sas
        .iter()
        .filter(|sa| sa["name"] == conn && sa["state"] == "ESTABLISHED");
    let first = it.next()?;
    it.next().is_none().then_some(first)
}

/// `(spi_i, spi_r)` of a listed SA.
pub fn spis(sa: &Value) -> (String, String) {
    (
        sa["spi_i"].as_str().unwrap_or_default().to_string(),
        sa["spi_r"].as_str().unwrap_or_default().to_string(),
    )
}
