//! `gsa-dp` in namespaces: build and start the daemon, talk to its keying socket, capture the
//! underlay. Used by `interop/tests/dataplane.rs` and mirrored by gsa-dp/bench/netns-throughput.sh.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::netns::{run, scratch_dir, unique_name};
use crate::{HarnessError, Netns};

/// AES-128-GCM key material (16-byte key || 4-byte salt) for the two directions.
pub const KEY_AB: &str = "000102030405060708090a0b0c0d0e0f10111213";
pub const KEY_BA: &str = "202122232425262728292a2b2c2d2e2f30313233";

/// The `gsa-dp` binary: `$GSA_DP_BIN`, or built with cargo into this test's target directory.
pub fn binary() -> Result<PathBuf, HarnessError> {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(build)
        .clone()
        .map_err(|e| HarnessError::Timeout(format!("building gsa-dp: {e}")))
}

fn build() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("GSA_DP_BIN") {
        return Ok(p.into());
    }
    // <target>/<profile>/deps/<test binary>
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let profile_dir = exe.parent().and_then(Path::parent).ok_or("no target dir")?;
    let target = profile_dir.parent().ok_or("no target dir")?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["build", "-q", "-p", "nvesec-gsa-dp", "--bin", "gsa-dp"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("CARGO_TARGET_DIR", target)
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(target.join("debug").join("gsa-dp"))
}

/// A `gsa-dp --foreground` inside a namespace, killed on drop.
#[derive(Debug)]
pub struct GsaDp {
    child: Child,
    dir: PathBuf,
    pub socket: PathBuf,
}

impl GsaDp {
    /// Start with `args` (devices, routes, ...) and wait until the keying socket answers.
    pub fn start(ns: &Netns, args: &[&str]) -> Result<Self, HarnessError> {
        let dir = scratch_dir("gsadp");
        fs::create_dir_all(&dir)?;
        let socket = dir.join("dp.sock");
        let log = fs::File::create(dir.join("gsa-dp.log"))?;
        let child = ns
            .command(binary()?.to_str().unwrap_or("gsa-dp"))
            .arg("--foreground")
            .arg("--socket")
            .arg(&socket)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| HarnessError::Spawn("gsa-dp".into(), e))?;
        let mut d = GsaDp { child, dir, socket };
        let start = Instant::now();
        while UnixStream::connect(&d.socket).is_err() {
            if let Ok(Some(st)) = d.child.try_wait() {
                return Err(HarnessError::Failed {
                    cmd: format!("gsa-dp {args:?}"),
                    status: st.code(),
                    stderr: d.log(),
                });
            }
            if start.elapsed() > Duration::from_secs(10) {
                return Err(HarnessError::Timeout(format!("gsa-dp socket: {}", d.log())));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(d)
    }

    /// What the daemon wrote to stderr so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("gsa-dp.log")).unwrap_or_default()
    }

    pub fn client(&self) -> Result<KeyingClient, HarnessError> {
        KeyingClient::connect(&self.socket)
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for GsaDp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// One keying-socket connection: request lines in, reply lines out; events seen while waiting
/// for a reply are kept for [`KeyingClient::event`].
#[derive(Debug)]
pub struct KeyingClient {
    writer: UnixStream,
    reader: BufReader<UnixStream>,
    events: Vec<String>,
}

impl KeyingClient {
    pub fn connect(path: &Path) -> Result<Self, HarnessError> {
        let s = UnixStream::connect(path)?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        Ok(KeyingClient {
            writer: s.try_clone()?,
            reader: BufReader::new(s),
            events: Vec::new(),
        })
    }

    /// Send one line, return the reply line (the one with `"ok"`).
    pub fn request(&mut self, line: &str) -> Result<String, HarnessError> {
        writeln!(self.writer, "{line}")?;
        loop {
            let got = self.read_line()?;
            if got.contains("\"ok\":") {
                return Ok(got);
            }
            self.events.push(got);
        }
    }

    /// Like [`Self::request`], failing unless the reply is `"ok":true`.
    pub fn ok(&mut self, line: &str) -> Result<String, HarnessError> {
        let r = self.request(line)?;
        if r.contains("\"ok\":true") {
            Ok(r)
        } else {
            Err(HarnessError::Failed {
                cmd: line.chars().take(80).collect(),
                status: None,
                stderr: r,
            })
        }
    }

    /// The next event line containing `needle`, waiting up to `timeout`.
    pub fn event(&mut self, needle: &str, timeout: Duration) -> Result<String, HarnessError> {
        if let Some(i) = self.events.iter().position(|e| e.contains(needle)) {
            return Ok(self.events.remove(i));
        }
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            match self.read_line() {
                Ok(l) if l.contains(needle) => return Ok(l),
                Ok(l) => self.events.push(l),
                Err(_) => {}
            }
        }
        Err(HarnessError::Timeout(format!("event {needle}")))
    }

    fn read_line(&mut self) -> Result<String, HarnessError> {
        let mut l = String::new();
        if self.reader.read_line(&mut l)? == 0 {
            return Err(HarnessError::Timeout("keying socket closed".into()));
        }
        Ok(l.trim_end().to_string())
    }
}

/// The first unsigned number that follows `"key":` in a JSON line (occurrences with a
/// non-numeric value, such as `"packets":null` in a lifetime, are skipped).
pub fn json_u64(line: &str, key: &str) -> Option<u64> {
    let pat = format!("\"{key}\":");
    line.match_indices(&pat).find_map(|(i, _)| {
        let rest = &line[i + pat.len()..];
        let end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        rest[..end].parse().ok()
    })
}

/// SET_GSP: outbound and inbound `action` for `vni` (e.g. `{"type":"bypass"}`).
pub fn set_gsp(seq: u64, vni: u32, action: &str) -> String {
    format!(
        r#"{{"v":1,"seq":{seq},"op":"SET_GSP","policies":[{{"id":1,"dir":"out","selectors":{{"vni":"{vni}"}},"action":{action}}},{{"id":2,"dir":"in","selectors":{{"vni":"{vni}"}},"action":{action}}}]}}"#
    )
}

/// The SECURE action with one GEO filled by reqid 1.
pub const SECURE_GEO: &str = r#"{"type":"secure","gsos":[{"reqid":1,"kind":"geo"}]}"#;
pub const BYPASS: &str = r#"{"type":"bypass"}"#;

/// ADD_GSA with AES-128-GCM, reqid 1.
pub fn add_gsa(seq: u64, dir: &str, gsa_id: u32, key: &str) -> String {
    format!(
        r#"{{"v":1,"seq":{seq},"op":"ADD_GSA","gsa":{{"dir":"{dir}","gsa_id":{gsa_id},"reqid":1,"alg":"aes-gcm128","key":"{key}"}}}}"#
    )
}

/// A packet capture on `dev` in `ns` (dumpcap, UDP 6081 only), stopped with SIGINT so the
/// file is complete.
#[derive(Debug)]
pub struct Capture {
    child: Child,
    pub file: PathBuf,
}

impl Capture {
    pub fn start(ns: &Netns, dev: &str, port: u16) -> Result<Self, HarnessError> {
        let file = std::env::temp_dir().join(format!("{}.pcapng", unique_name("cap")));
        let child = ns
            .command("dumpcap")
            .args(["-q", "-i", dev, "-f", &format!("udp port {port}"), "-w"])
            .arg(&file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| HarnessError::Spawn("dumpcap".into(), e))?;
        // dumpcap needs a moment before it captures; wait for the file header.
        let start = Instant::now();
        while fs::metadata(&file).map(|m| m.len()).unwrap_or(0) == 0
            && start.elapsed() < Duration::from_secs(5)
        {
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(300));
        Ok(Capture { child, file })
    }

    /// Stop and return the captured file's bytes and the number of UDP packets in it.
    pub fn stop(mut self) -> Result<(Vec<u8>, usize), HarnessError> {
        std::thread::sleep(Duration::from_millis(300));
        run(Command::new("kill").args(["-INT", &self.child.id().to_string()]))?;
        let _ = self.child.wait();
        let bytes = fs::read(&self.file)?;
        let out = run(Command::new("tshark").args(["-r"]).arg(&self.file).args([
            "-T",
            "fields",
            "-e",
            "udp.dstport",
        ]))?;
        let n = String::from_utf8_lossy(&out.stdout).lines().count();
        Ok((bytes, n))
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_file(&self.file);
    }
}

/// Whether `needle` occurs in `hay`.
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Two namespaces joined by a veth (`10.x` underlay, optional IPv6 `fd00:99::1/2`), each
/// running a gsa-dp with one device on `vni` addressed `inner_a` / `inner_b`.
#[derive(Debug)]
pub struct Pair {
    // Field order: daemons die before their namespaces go.
    pub dp_a: GsaDp,
    pub dp_b: GsaDp,
    pub a: Netns,
    pub b: Netns,
    pub veth_a: String,
    pub veth_b: String,
    pub under_a: String,
    pub under_b: String,
}

/// How to build a [`Pair`].
#[derive(Debug, Clone)]
pub struct PairConfig {
    /// "tun" or "tap".
    pub device: &'static str,
    pub vni: u32,
    pub ipv6_underlay: bool,
    /// Inner CIDRs on the two devices.
    pub inner_a: &'static str,
    pub inner_b: &'static str,
    /// Route prefix each side sends over the overlay.
    pub route_prefix: &'static str,
    /// More gsa-dp flags for both daemons (e.g. `--no-offload`, `-v`).
    pub extra_args: &'static [&'static str],
}

impl Default for PairConfig {
    fn default() -> Self {
        PairConfig {
            device: "tun",
            vni: 100,
            ipv6_underlay: false,
            inner_a: "172.16.0.1/24",
            inner_b: "172.16.0.2/24",
            route_prefix: "172.16.0.0/24",
            extra_args: &[],
        }
    }
}

impl Pair {
    pub fn new(c: &PairConfig) -> Result<Self, HarnessError> {
        let (a, b) = (Netns::new("dpa")?, Netns::new("dpb")?);
        let n = std::process::id() % 200 + 20;
        let (va, vb) = crate::link(&a, &format!("10.{n}.0.1/24"), &b, &format!("10.{n}.0.2/24"))?;
        let (under_a, under_b) = if c.ipv6_underlay {
            for (ns, dev, addr) in [(&a, &va, "fd00:99::1/64"), (&b, &vb, "fd00:99::2/64")] {
                ns.ip(&["addr", "add", addr, "dev", dev, "nodad"])?;
            }
            ("fd00:99::1".to_string(), "fd00:99::2".to_string())
        } else {
            (format!("10.{n}.0.1"), format!("10.{n}.0.2"))
        };
        let dev = format!("nv{}0", c.device);
        let spec = format!("{dev}:{}", c.vni);
        let flag = format!("--{}", c.device);
        let start = |ns: &Netns, remote: &str| {
            let route = format!("{},{remote},{}", c.route_prefix, c.vni);
            let mut args = vec![flag.as_str(), spec.as_str(), "--route", route.as_str()];
            args.extend_from_slice(c.extra_args);
            GsaDp::start(ns, &args)
        };
        let dp_a = start(&a, &under_b)?;
        let dp_b = start(&b, &under_a)?;
        for (ns, cidr) in [(&a, c.inner_a), (&b, c.inner_b)] {
            if cidr.contains(':') {
                ns.ip(&["addr", "add", cidr, "dev", &dev, "nodad"])?;
            } else {
                ns.ip(&["addr", "add", cidr, "dev", &dev])?;
            }
        }
        Ok(Pair {
            dp_a,
            dp_b,
            a,
            b,
            veth_a: va,
            veth_b: vb,
            under_a,
            under_b,
        })
    }

    /// SECURE GEO policy on `vni` and matching GSAs on both sides (A sends with GSA-ID 0x1001,
    /// B with 0x2002). `key_b_in` is the key B uses to open A's packets (normally [`KEY_AB`]).
    pub fn secure(&self, vni: u32, key_b_in: &str) -> Result<(), HarnessError> {
        let mut ca = self.dp_a.client()?;
        ca.ok(&set_gsp(1, vni, SECURE_GEO))?;
        ca.ok(&add_gsa(2, "out", 0x1001, KEY_AB))?;
        ca.ok(&add_gsa(3, "in", 0x2002, KEY_BA))?;
        let mut cb = self.dp_b.client()?;
        cb.ok(&set_gsp(1, vni, SECURE_GEO))?;
        cb.ok(&add_gsa(2, "out", 0x2002, KEY_BA))?;
        cb.ok(&add_gsa(3, "in", 0x1001, key_b_in))?;
        Ok(())
    }
}
