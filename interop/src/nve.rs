//! NVE processes in a namespace: gsa-dp and nvesecd started with a generated /etc/nvesec tree,
//! stopped on drop.
//!
//! [`Ca`] makes a CA with the `nvesec-pki` binary and enrolls NVEs (`nvesec-pki enroll`, the
//! swanctl-like `x509/`, `x509ca/`, `private/` layout, key 0600). [`Nve::start`] writes
//! `nvesec.conf` for one tenant network (a tun device, a trap policy pair for its VNI, the
//! peer's prefix routed over the overlay), starts `gsa-dp` with the devices `nvesecd
//! --dp-args` prints, then `nvesecd` ([`Nve::start_text`] does the same from any
//! configuration text); [`Nve::ctl`] runs `nvesecctl` against its control socket.
//! Both daemons are killed and the tree removed on drop (also after a failed assertion).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::dataplane::GsaDp;
use crate::netns::{run, scratch_dir};
use crate::{HarnessError, Netns};

/// Binaries of the root package and of nvesec-pki, built into this test's target directory
/// (or taken from `$NVESECD_BIN`, `$NVESECCTL_BIN`, `$NVESEC_PKI_BIN`).
#[derive(Debug, Clone)]
pub struct Bins {
    pub nvesecd: PathBuf,
    pub nvesecctl: PathBuf,
    pub pki: PathBuf,
}

/// Build (once per test process) and locate the binaries.
pub fn bins() -> Result<Bins, HarnessError> {
    static BINS: OnceLock<Result<Bins, String>> = OnceLock::new();
    BINS.get_or_init(build)
        .clone()
        .map_err(|e| HarnessError::Timeout(format!("building nvesecd: {e}")))
}

fn build() -> Result<Bins, String> {
    let env = |v: &str| std::env::var_os(v).map(PathBuf::from);
    if let (Some(d), Some(c), Some(p)) = (
        env("NVESECD_BIN"),
        env("NVESECCTL_BIN"),
        env("NVESEC_PKI_BIN"),
    ) {
        return Ok(Bins {
            nvesecd: d,
            nvesecctl: c,
            pki: p,
        });
    }
    // <target>/<profile>/deps/<test binary>
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let profile_dir = exe.parent().and_then(Path::parent).ok_or("no target dir")?;
    let target = profile_dir.parent().ok_or("no target dir")?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["build", "-q", "-p", "nvesec", "-p", "nvesec-pki", "--bins"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("CARGO_TARGET_DIR", target)
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let d = target.join("debug");
    Ok(Bins {
        nvesecd: d.join("nvesecd"),
        nvesecctl: d.join("nvesecctl"),
        pki: d.join("nvesec-pki"),
    })
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap_or_default()
}

/// A CA in a temporary directory, made with `nvesec-pki --gen/--self`.
#[derive(Debug)]
pub struct Ca {
    pub dir: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Ca {
    pub fn new() -> Result<Self, HarnessError> {
        let b = bins()?;
        let dir = scratch_dir("nveca");
        fs::create_dir_all(&dir)?;
        let (cert, key) = (dir.join("ca.pem"), dir.join("ca.key"));
        run(Command::new(&b.pki).args(["--gen", "--outfile", path_str(&key)]))?;
        run(Command::new(&b.pki).args([
            "--self",
            "--in",
            path_str(&key),
            "--dn",
            "O=nvesec test, CN=Test Overlay CA",
            "--ca",
            "--outfile",
            path_str(&cert),
        ]))?;
        Ok(Ca { dir, cert, key })
    }

    /// `nvesec-pki enroll --name NAME --dir DIR`: private/NAME.pem, x509/NAME.pem,
    /// x509ca/ca.pem; identity (SAN DNS) NAME.
    pub fn enroll(&self, name: &str, dir: &Path) -> Result<(), HarnessError> {
        let b = bins()?;
        run(Command::new(&b.pki).args([
            "enroll",
            "--name",
            name,
            "--dir",
            path_str(dir),
            "--cacert",
            path_str(&self.cert),
            "--cakey",
            path_str(&self.key),
        ]))?;
        Ok(())
    }
}

impl Drop for Ca {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// How the NVEs authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// Certificates from the CA; the identity is the NVE's name.
    Cert,
    /// A pre-shared key (any text) for both sides.
    Psk(String),
}

/// One NVE's view of a two-NVE overlay with one tenant network.
#[derive(Debug, Clone)]
pub struct NveConfig {
    /// Identity and connection-local name, e.g. `nve-a`.
    pub name: String,
    pub peer_name: String,
    pub underlay: String,
    pub peer_underlay: String,
    pub vni: u32,
    /// This NVE's tenant address with prefix length, e.g. `172.16.0.1/24`.
    pub inner: String,
    /// The peer's tenant address, routed over the overlay as a /32.
    pub peer_inner: String,
    pub auth: Auth,
    /// `trap`, `start` or `none`.
    pub start_action: String,
    /// tun device name.
    pub ifname: String,
}

impl NveConfig {
    /// The connection's name in nvesec.conf.
    pub const CONN: &'static str = "peer";
    /// The child's name.
    pub const CHILD: &'static str = "tenant";

    /// The nvesec.conf text.
    pub fn render(&self) -> String {
        let (local_auth, remote_auth, secrets) = match &self.auth {
            Auth::Cert => (
                format!(
                    "auth = pubkey\n      id = {}\n      certs = {}.pem",
                    self.name, self.name
                ),
                format!("auth = pubkey\n      id = {}", self.peer_name),
                String::new(),
            ),
            Auth::Psk(s) => (
                format!("auth = psk\n      id = {}", self.name),
                format!("auth = psk\n      id = {}", self.peer_name),
                format!(
                    "secrets {{\n  ike-peer {{\n    id = {}\n    secret = {s}\n  }}\n}}\n",
                    self.peer_name
                ),
            ),
        };
        let peer_host = self.peer_inner.split('/').next().unwrap_or_default();
        format!(
            r#"# generated by nvesec-interop (interop/src/nve.rs)
connections {{
  {conn} {{
    local_addrs = {underlay}
    remote_addrs = {peer_underlay}
    local {{
      {local_auth}
    }}
    remote {{
      {remote_auth}
    }}
    children {{
      {child} {{
        vnis = {vni}
        start_action = {start}
      }}
    }}
  }}
}}
{secrets}
overlay {{
  networks {{
    tenant {{
      vni = {vni}
      device = tun
      ifname = {ifname}
      address = {inner}
      peers {{
        {peer} {{
          underlay = {peer_underlay}
          prefixes = {peer_host}/32
        }}
      }}
    }}
  }}
}}
policies {{
  tenant-out {{
    direction = out
    vnis = {vni}
    action = secure
    gsas = {conn}.{child}
  }}
  tenant-in {{
    direction = in
    vnis = {vni}
    action = secure
    gsas = {conn}.{child}
  }}
}}
"#,
            conn = Self::CONN,
            child = Self::CHILD,
            underlay = self.underlay,
            peer_underlay = self.peer_underlay,
            vni = self.vni,
            start = self.start_action,
            ifname = self.ifname,
            inner = self.inner,
            peer = self.peer_name,
        )
    }
}

/// gsa-dp and nvesecd running in a namespace with their /etc/nvesec-like tree.
#[derive(Debug)]
pub struct Nve {
    // Field order: nvesecd is killed (Drop) before gsa-dp.
    daemon: Option<Child>,
    pub dp: GsaDp,
    pub dir: PathBuf,
    pub config: PathBuf,
    pub ctl_socket: PathBuf,
    pub cfg: NveConfig,
    ns_name: String,
}

impl Nve {
    /// Write the tree (enrolling with `ca` for certificate auth), start gsa-dp with the
    /// devices from `nvesecd --dp-args`, then nvesecd; wait until its control socket answers.
    pub fn start(ns: &Netns, cfg: &NveConfig, ca: &Ca) -> Result<Self, HarnessError> {
        let enroll = (cfg.auth == Auth::Cert).then_some(ca);
        Self::start_from(ns, cfg.clone(), &cfg.render(), enroll)
    }

    /// Like [`Nve::start`] with an arbitrary `nvesec.conf` text (several connections,
    /// networks, policies...). With `enroll`, the NVE gets `x509/NAME.pem` and
    /// `private/NAME.pem` for identity `name` (SAN DNS) and the CA in `x509ca/ca.pem`. Only
    /// `cfg.name` of the returned NVE is meaningful.
    pub fn start_text(
        ns: &Netns,
        name: &str,
        text: &str,
        enroll: Option<&Ca>,
    ) -> Result<Self, HarnessError> {
        let cfg = NveConfig {
            name: name.into(),
            peer_name: String::new(),
            underlay: String::new(),
            peer_underlay: String::new(),
            vni: 0,
            inner: String::new(),
            peer_inner: String::new(),
            auth: if enroll.is_some() {
                Auth::Cert
            } else {
                Auth::Psk(String::new())
            },
            start_action: String::new(),
            ifname: String::new(),
        };
        Self::start_from(ns, cfg, text, enroll)
    }

    fn start_from(
        ns: &Netns,
        cfg: NveConfig,
        text: &str,
        enroll: Option<&Ca>,
    ) -> Result<Self, HarnessError> {
        let dir = scratch_dir("nve");
        fs::create_dir_all(&dir)?;
        if let Some(ca) = enroll {
            ca.enroll(&cfg.name, &dir)?;
        }
        let config = dir.join("nvesec.conf");
        fs::write(&config, text)?;
        let dp = start_dp_for(ns, &config)?;
        let mut nve = Nve {
            daemon: None,
            dp,
            ctl_socket: dir.join("ctl.sock"),
            config,
            dir,
            cfg,
            ns_name: ns.name().to_string(),
        };
        nve.start_daemon(ns)?;
        Ok(nve)
    }

    /// (Re)start nvesecd (after [`Nve::kill_daemon`]); gsa-dp keeps running.
    pub fn start_daemon(&mut self, ns: &Netns) -> Result<(), HarnessError> {
        let b = bins()?;
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("nvesecd.log"))?;
        let child = ns
            .command(path_str(&b.nvesecd))
            .arg("--config")
            .arg(&self.config)
            .arg("--dp-socket")
            .arg(&self.dp.socket)
            .arg("--ctl-socket")
            .arg(&self.ctl_socket)
            .args(["--debug", "2"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| HarnessError::Spawn("nvesecd".into(), e))?;
        self.daemon = Some(child);
        let start = Instant::now();
        while std::os::unix::net::UnixStream::connect(&self.ctl_socket).is_err() {
            if let Some(st) = self
                .daemon
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                return Err(HarnessError::Failed {
                    cmd: "nvesecd".into(),
                    status: st.code(),
                    stderr: self.log(),
                });
            }
            if start.elapsed() > Duration::from_secs(10) {
                return Err(HarnessError::Timeout(format!(
                    "nvesecd socket: {}",
                    self.log()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// SIGKILL nvesecd (gsa-dp keeps forwarding with the installed GSAs).
    pub fn kill_daemon(&mut self) {
        if let Some(mut c) = self.daemon.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Send a signal (`HUP`, `TERM`, ...) to nvesecd. The daemon runs under `ip netns
    /// exec`, which execs it, so the child's pid is nvesecd's.
    pub fn signal(&self, sig: &str) -> Result<(), HarnessError> {
        let pid = self
            .daemon
            .as_ref()
            .map(|c| c.id().to_string())
            .ok_or_else(|| HarnessError::Timeout("nvesecd is not running".into()))?;
        run(Command::new("kill").args([&format!("-{sig}"), &pid]))?;
        Ok(())
    }

    /// Wait up to `timeout` for nvesecd to exit; its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if let Some(st) = self
                .daemon
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.daemon = None;
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// `nvesecctl --socket <ctl> ARGS`; stdout on success, the error (with stderr) otherwise.
    pub fn ctl(&self, args: &[&str]) -> Result<String, HarnessError> {
        let b = bins()?;
        let out = run(Command::new(&b.nvesecctl)
            .arg("--socket")
            .arg(&self.ctl_socket)
            .args(args))?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `ctl(ARGS + --json)` parsed.
    pub fn ctl_json(&self, args: &[&str]) -> Result<serde_json::Value, HarnessError> {
        let mut a = args.to_vec();
        a.push("--json");
        let text = self.ctl(&a)?;
        serde_json::from_str(&text).map_err(|e| HarnessError::Failed {
            cmd: format!("nvesecctl {args:?} --json"),
            status: None,
            stderr: format!("{e}: {text}"),
        })
    }

    /// What nvesecd logged so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("nvesecd.log")).unwrap_or_default()
    }

    /// Replace nvesec.conf (for reload tests).
    pub fn write_config(&self, text: &str) -> Result<(), HarnessError> {
        fs::write(&self.config, text)?;
        Ok(())
    }

    /// The namespace this NVE runs in.
    pub fn ns_name(&self) -> &str {
        &self.ns_name
    }

    /// Poll `list-sas --json` until `pred` holds on the `sas` array, up to `timeout`.
    pub fn wait_sas(
        &self,
        timeout: Duration,
        pred: impl Fn(&[serde_json::Value]) -> bool,
    ) -> Result<Vec<serde_json::Value>, HarnessError> {
        let end = Instant::now() + timeout;
        loop {
            let v = self.ctl_json(&["--list-sas"])?;
            let sas = v["sas"].as_array().cloned().unwrap_or_default();
            if pred(&sas) {
                return Ok(sas);
            }
            if Instant::now() > end {
                return Err(HarnessError::Timeout(format!(
                    "list-sas condition; last: {v}\nlog:\n{}",
                    self.log()
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Nve {
    fn drop(&mut self) {
        self.kill_daemon();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Two namespaces on a veth, an NVE in each (A `172.16.0.1`, B `172.16.0.2` on `vni`).
#[derive(Debug)]
pub struct NvePair {
    // Field order: NVEs stop before their namespaces go, the CA last.
    pub a: Nve,
    pub b: Nve,
    pub ns_a: Netns,
    pub ns_b: Netns,
    pub veth_a: String,
    pub veth_b: String,
    pub ca: Ca,
}

impl NvePair {
    pub fn new(vni: u32, auth: Auth, start_action: &str) -> Result<Self, HarnessError> {
        let ca = Ca::new()?;
        let (ns_a, ns_b) = (Netns::new("nvea")?, Netns::new("nveb")?);
        let n = std::process::id() % 200 + 20;
        let (ua, ub) = (format!("10.{n}.1.1"), format!("10.{n}.1.2"));
        let (veth_a, veth_b) = crate::link(&ns_a, &format!("{ua}/24"), &ns_b, &format!("{ub}/24"))?;
        let cfg = |me: &str, peer: &str, u: &str, pu: &str, inner: &str, pinner: &str| NveConfig {
            name: me.into(),
            peer_name: peer.into(),
            underlay: u.into(),
            peer_underlay: pu.into(),
            vni,
            inner: inner.into(),
            peer_inner: pinner.into(),
            auth: auth.clone(),
            start_action: start_action.into(),
            ifname: "nvt0".into(),
        };
        let a = Nve::start(
            &ns_a,
            &cfg("nve-a", "nve-b", &ua, &ub, "172.16.0.1/24", "172.16.0.2/24"),
            &ca,
        )?;
        let b = Nve::start(
            &ns_b,
            &cfg("nve-b", "nve-a", &ub, &ua, "172.16.0.2/24", "172.16.0.1/24"),
            &ca,
        )?;
        Ok(NvePair {
            a,
            b,
            ns_a,
            ns_b,
            veth_a,
            veth_b,
            ca,
        })
    }
}

/// Every NVE's daemon log, each under its name (failure messages).
pub fn logs(nves: &[Nve]) -> String {
    nves.iter()
        .map(|n| format!("--- {} ---\n{}", n.cfg.name, n.log()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Start in `ns` the gsa-dp that the nvesecd configuration `config` asks for (the flags
/// `nvesecd --dp-args` prints).
pub fn start_dp_for(ns: &Netns, config: &Path) -> Result<GsaDp, HarnessError> {
    let out = run(Command::new(&bins()?.nvesecd)
        .arg("--config")
        .arg(config)
        .arg("--dp-args"))?;
    let args: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    GsaDp::start(ns, &refs)
}
