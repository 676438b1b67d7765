//! A real strongSwan (Debian's charon-systemd) inside a namespace, with its
//! own strongswan.conf, VICI socket and log (reference/strongswan-in-netns.md).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use crate::netns::run;
use crate::{HarnessError, Netns};

/// Plugins that cover nvesec's suites; kernel-libipsec keeps CHILD_SAs in
/// userspace since this kernel has no ESP AEAD algorithms.
const PLUGINS: &str = "random nonce openssl aes gcm sha1 sha2 hmac kdf curve25519 x509 pem \
                       pkcs1 pkcs8 pubkey constraints revocation kernel-libipsec kernel-netlink \
                       socket-default vici";

/// A running charon; killed on drop. `dir` holds swanctl.conf and the
/// x509/, x509ca/, private/ credential folders that `swanctl --load-all` reads.
#[derive(Debug)]
pub struct Charon {
    ns: String,
    dir: PathBuf,
    child: Child,
}

impl Charon {
    /// Starts charon in `ns` with state under `dir`; `extra` goes verbatim
    /// into the `charon-systemd { }` section (e.g. `dos_protection = no`).
    pub fn start(ns: &Netns, dir: &Path, extra: &str) -> Result<Self, HarnessError> {
        for sub in ["x509", "x509ca", "private", "conf.d"] {
            fs::create_dir_all(dir.join(sub))?;
        }
        let d = dir.display();
        fs::write(
            dir.join("strongswan.conf"),
            format!(
                "charon-systemd {{\n  load = {PLUGINS}\n  install_routes = no\n  {extra}\n  \
                 plugins {{ vici {{ socket = unix://{d}/charon.vici }} }}\n  \
                 journal {{ default = -1 }}\n  \
                 filelog {{ main {{ path = {d}/charon.log\n default = 1\n ike = 2\n \
                 ike_name = yes\n flush_line = yes }} }}\n}}\n\
                 swanctl {{ load = random nonce openssl pem pkcs1 pkcs8 x509 curve25519 }}\n"
            ),
        )?;
        if !dir.join("swanctl.conf").exists() {
            fs::write(dir.join("swanctl.conf"), "")?;
        }
        let child = ns
            .command("/usr/sbin/charon-systemd")
            .env("STRONGSWAN_CONF", dir.join("strongswan.conf"))
            .spawn()
            .map_err(|e| HarnessError::Spawn("charon-systemd".into(), e))?;
        let charon = Charon {
            ns: ns.name().to_string(),
            dir: dir.to_path_buf(),
            child,
        };
        charon.wait_ready(Duration::from_secs(10))?;
        Ok(charon)
    }

    fn wait_ready(&self, limit: Duration) -> Result<(), HarnessError> {
        let start = Instant::now();
        loop {
            if self.dir.join("charon.vici").exists() && self.swanctl(&["--stats"]).is_ok() {
                return Ok(());
            }
            if start.elapsed() > limit {
                return Err(HarnessError::Timeout(format!(
                    "charon in {} did not open its VICI socket; log:\n{}",
                    self.ns,
                    self.log()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs swanctl against this instance.
    pub fn swanctl(&self, args: &[&str]) -> Result<Output, HarnessError> {
        let uri = format!("unix://{}/charon.vici", self.dir.display());
        run(Command::new("swanctl")
            .env("STRONGSWAN_CONF", self.dir.join("strongswan.conf"))
            .args(args)
            .args(["--uri", &uri]))
    }

    /// Loads the connections and credentials of `dir/swanctl.conf`.
    pub fn load_all(&self) -> Result<Output, HarnessError> {
        let file = self.dir.join("swanctl.conf");
        self.swanctl(&[
            "--load-all",
            "--noprompt",
            "--file",
            &file.to_string_lossy(),
        ])
    }

    /// Everything charon logged so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("charon.log")).unwrap_or_default()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Charon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
