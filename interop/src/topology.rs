//! Topologies from a short description: N NVE namespaces on an underlay bridge (the bridge in
//! a namespace of its own, one veth per NVE) or two NVEs on one point-to-point link; netem-style
//! impairments per link; an optional attacker namespace on the bridge. Everything is removed
//! on drop, also when a test panics (the namespaces are owned guards; deleting a namespace
//! deletes the veths and the bridge inside it).
//!
//! Impairments: this project's machines run a kernel without `sch_netem` (and without tc
//! classifiers or actions), so `tc qdisc ... netem` is not available. A link is impaired by
//! the [`relay`](crate::topology::Relay) instead: a small userspace forwarder in the hub
//! namespace between the NVE's veth and the bridge, with netem's semantics (loss, delay +
//! uniform jitter, duplicate, reorder = "this share goes out without the delay"), applied to
//! both directions. It forwards frames with their virtio-net header (PACKET_VNET_HDR), so
//! offloaded checksums and GSO super-frames pass unchanged.
//!
//! The description is one line of `;`-separated clauses, the netem words are tc's own:
//!
//! ```text
//! bridge 3; attacker; nve2 loss 100%
//! p2p; nve0 delay 50ms 10ms reorder 25% duplicate 1%
//! ```
//!
//! Addresses: NVE `k` is `192.0.2.(10+k)/24` and `fd00:99::(10+k)/64` on its device `under0`,
//! the attacker `192.0.2.250` / `fd00:99::fa`; MACs are fixed (`02:4e:56:00:00:<10+k>`) and every
//! node has permanent neighbour entries for all others, so a lossy link never turns into ARP
//! failures and captures contain only the traffic a test sends.

use std::fmt;
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::str::FromStr;

use crate::netns::{run, unique_name};
use crate::{HarnessError, Netns};

/// The underlay device name inside every NVE and attacker namespace.
pub const UNDERLAY_DEV: &str = "under0";
/// The bridge inside the hub namespace.
pub const BRIDGE_DEV: &str = "br0";
/// Last octet of the attacker's underlay addresses.
const ATTACKER_HOST: u8 = 250;

/// One netem-style impairment (tc netem's words and meaning), applied to both directions of a link (so a 50 ms
/// delay adds 100 ms to a round trip).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Netem {
    pub loss_pct: f64,
    pub delay_ms: u32,
    pub jitter_ms: u32,
    pub duplicate_pct: f64,
    /// netem reorders only packets that would otherwise be delayed: needs `delay_ms > 0`.
    pub reorder_pct: f64,
}

impl Netem {
    pub fn loss(pct: f64) -> Self {
        Netem {
            loss_pct: pct,
            ..Netem::default()
        }
    }

    /// Whether this is "no impairment" (the qdisc is removed).
    pub fn is_none(&self) -> bool {
        *self == Netem::default()
    }

    /// The arguments after `netem`, in tc's syntax.
    pub fn args(&self) -> Vec<String> {
        let mut a = Vec::new();
        if self.delay_ms > 0 {
            a.extend(["delay".into(), format!("{}ms", self.delay_ms)]);
            if self.jitter_ms > 0 {
                a.push(format!("{}ms", self.jitter_ms));
            }
        }
        for (word, pct) in [
            ("loss", self.loss_pct),
            ("duplicate", self.duplicate_pct),
            ("reorder", self.reorder_pct),
        ] {
            if pct > 0.0 {
                a.extend([word.to_string(), format!("{pct}%")]);
            }
        }
        a
    }

    /// Parses tc's netem words (`loss 20%`, `delay 50ms [10ms]`, `duplicate 1%`, `reorder 25%`).
    pub fn parse(words: &[&str]) -> Result<Self, SpecError> {
        let mut n = Netem::default();
        let mut i = 0;
        while i < words.len() {
            let arg = |k: usize| {
                words
                    .get(i + k)
                    .copied()
                    .ok_or_else(|| SpecError::Missing(words[i].into()))
            };
            match words[i] {
                "loss" => n.loss_pct = pct(arg(1)?)?,
                "duplicate" => n.duplicate_pct = pct(arg(1)?)?,
                "reorder" => n.reorder_pct = pct(arg(1)?)?,
                "delay" => {
                    n.delay_ms = ms(arg(1)?)?;
                    if let Some(j) = words.get(i + 2).filter(|w| w.ends_with("ms")) {
                        n.jitter_ms = ms(j)?;
                        i += 1;
                    }
                }
                other => return Err(SpecError::Unknown(other.into())),
            }
            i += 2;
        }
        if n.reorder_pct > 0.0 && n.delay_ms == 0 {
            return Err(SpecError::Unknown("reorder without delay".into()));
        }
        Ok(n)
    }
}

impl fmt::Display for Netem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_none() {
            return f.write_str("clean");
        }
        f.write_str(&self.args().join(" "))
    }
}

fn pct(s: &str) -> Result<f64, SpecError> {
    let v: f64 = s
        .strip_suffix('%')
        .unwrap_or(s)
        .parse()
        .map_err(|_| SpecError::Bad(s.into()))?;
    if (0.0..=100.0).contains(&v) {
        Ok(v)
    } else {
        Err(SpecError::Bad(s.into()))
    }
}

fn ms(s: &str) -> Result<u32, SpecError> {
    s.strip_suffix("ms")
        .unwrap_or(s)
        .parse()
        .map_err(|_| SpecError::Bad(s.into()))
}

/// How the NVEs are joined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// N NVEs, each on a veth to a bridge in the hub namespace.
    Bridge(usize),
    /// Two NVEs on one veth.
    PointToPoint,
}

/// A parsed description.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub layout: Layout,
    pub attacker: bool,
    /// Impairment per NVE link, by NVE index.
    pub impair: Vec<(usize, Netem)>,
}

impl Spec {
    pub fn nves(&self) -> usize {
        match self.layout {
            Layout::Bridge(n) => n,
            Layout::PointToPoint => 2,
        }
    }
}

/// A description that does not parse.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpecError {
    #[error("unknown word {0:?}")]
    Unknown(String),
    #[error("{0:?} needs a value")]
    Missing(String),
    #[error("bad value {0:?}")]
    Bad(String),
    #[error("the description must start with `bridge N` (1..=200) or `p2p`")]
    Layout,
    #[error("nve{0} does not exist")]
    NoSuchNve(usize),
    #[error("the attacker needs a bridge layout")]
    AttackerNeedsBridge,
}

impl FromStr for Spec {
    type Err = SpecError;

    fn from_str(s: &str) -> Result<Self, SpecError> {
        let mut clauses = s.split(';').map(str::trim).filter(|c| !c.is_empty());
        let first: Vec<&str> = clauses.next().unwrap_or("").split_whitespace().collect();
        let layout = match first.as_slice() {
            ["p2p"] => Layout::PointToPoint,
            ["bridge", n] => match n.parse() {
                Ok(n @ 1..=200) => Layout::Bridge(n),
                _ => return Err(SpecError::Layout),
            },
            _ => return Err(SpecError::Layout),
        };
        let mut spec = Spec {
            layout,
            attacker: false,
            impair: Vec::new(),
        };
        for c in clauses {
            let words: Vec<&str> = c.split_whitespace().collect();
            match words.as_slice() {
                ["attacker"] => spec.attacker = true,
                [nve, rest @ ..] if nve.starts_with("nve") => {
                    let k: usize = nve[3..].parse().map_err(|_| SpecError::Bad(c.into()))?;
                    if k >= spec.nves() {
                        return Err(SpecError::NoSuchNve(k));
                    }
                    spec.impair.push((k, Netem::parse(rest)?));
                }
                _ => return Err(SpecError::Unknown(c.into())),
            }
        }
        if spec.attacker && spec.layout == Layout::PointToPoint {
            return Err(SpecError::AttackerNeedsBridge);
        }
        Ok(spec)
    }
}

/// One NVE (or the attacker): a namespace with `under0` on the underlay.
#[derive(Debug)]
pub struct Node {
    pub ns: Netns,
    pub addr: Ipv4Addr,
    pub addr6: Ipv6Addr,
    pub mac: String,
}

impl Node {
    pub fn dev(&self) -> &str {
        UNDERLAY_DEV
    }
}

/// The impairing forwarder (Python 3, standard library only): two AF_PACKET sockets with
/// virtio-net headers, a heap of delayed frames, parameters on stdin (`loss% delay_ms
/// jitter_ms duplicate% reorder%`, answered with `ok`), exits when stdin closes.
const RELAY_PY: &str = r#"
import heapq, os, random, select, socket, sys, time
ETH_P_ALL, SOL_PACKET, PACKET_VNET_HDR, PACKET_OUTGOING = 3, 263, 15, 4
def open_dev(name):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(SOL_PACKET, PACKET_VNET_HDR, 1)
    s.bind((name, ETH_P_ALL))
    s.setblocking(False)
    return s
a, b = open_dev(sys.argv[1]), open_dev(sys.argv[2])
peer = {a.fileno(): b, b.fileno(): a}
rng = random.Random(int(sys.argv[3]))
p = {}
def setp(line):
    v = [float(x) for x in line.split()]
    p.update(loss=v[0] / 100, delay=v[1] / 1000, jitter=v[2] / 1000, dup=v[3] / 100, reorder=v[4] / 100)
setp(sys.argv[4])
q, seq, pending = [], 0, b""
print("ready", flush=True)
def send(out, data):
    try:
        out.send(data)
    except OSError:
        pass
while True:
    now = time.monotonic()
    while q and q[0][0] <= now:
        _, _, out, data = heapq.heappop(q)
        send(out, data)
    timeout = max(0.0, q[0][0] - now) if q else None
    ready, _, _ = select.select([a, b, 0], [], [], timeout)
    for s in ready:
        if s == 0:
            chunk = os.read(0, 4096)
            if not chunk:
                sys.exit(0)
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                setp(line.decode())
                print("ok", flush=True)
            continue
        out = peer[s.fileno()]
        for _ in range(64):
            try:
                data, addr = s.recvfrom(65600)
            except BlockingIOError:
                break
            if addr[2] == PACKET_OUTGOING or rng.random() < p["loss"]:
                continue
            for _ in range(2 if rng.random() < p["dup"] else 1):
                if p["delay"] > 0 and rng.random() >= p["reorder"]:
                    d = max(0.0, p["delay"] + rng.uniform(-p["jitter"], p["jitter"]))
                    seq += 1
                    heapq.heappush(q, (time.monotonic() + d, seq, out, data))
                else:
                    send(out, data)
"#;

/// The Python interpreter: Debian's, else the first `python3` on PATH.
pub fn python() -> &'static str {
    if std::path::Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

/// One impairing forwarder between two devices of a namespace, killed on drop.
#[derive(Debug)]
pub struct Relay {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Relay {
    fn start(ns: &Netns, dev_a: &str, dev_b: &str, n: &Netem) -> Result<Self, HarnessError> {
        let mut child = ns
            .command(python())
            .args(["-c", RELAY_PY, dev_a, dev_b, "7", &relay_params(n)])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| HarnessError::Spawn("python3 relay".into(), e))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            return Err(setup_error("relay", "no pipes".into()));
        };
        let mut r = Relay {
            child,
            stdin,
            stdout: BufReader::new(stdout),
        };
        r.expect("ready")?;
        Ok(r)
    }

    fn set(&mut self, n: &Netem) -> Result<(), HarnessError> {
        writeln!(self.stdin, "{}", relay_params(n))?;
        self.expect("ok")
    }

    fn expect(&mut self, word: &str) -> Result<(), HarnessError> {
        let mut line = String::new();
        self.stdout.read_line(&mut line)?;
        if line.trim() == word {
            Ok(())
        } else {
            Err(setup_error(
                "relay",
                format!("expected {word}, got {line:?}"),
            ))
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn relay_params(n: &Netem) -> String {
    format!(
        "{} {} {} {} {}",
        n.loss_pct, n.delay_ms, n.jitter_ms, n.duplicate_pct, n.reorder_pct
    )
}

/// A built topology. Field order is drop order: relays, nodes, then the hub.
#[derive(Debug)]
pub struct Topology {
    relays: Vec<Relay>,
    /// Per NVE link: the relay impairing it, once there is one.
    link_relay: Vec<Option<usize>>,
    nodes: Vec<Node>,
    attacker: Option<Node>,
    hub: Netns,
    layout: Layout,
    impair: Vec<Netem>,
    spec_text: String,
}

fn host_addr(k: u8) -> (Ipv4Addr, Ipv6Addr, String) {
    (
        Ipv4Addr::new(192, 0, 2, k),
        Ipv6Addr::new(0xfd00, 0x99, 0, 0, 0, 0, 0, u16::from(k)),
        format!("02:4e:56:00:00:{k:02x}"),
    )
}

/// The hub port of NVE `k`.
fn port(k: usize) -> String {
    format!("p{k}")
}

impl Topology {
    /// Builds the topology a description names (see the module docs).
    pub fn build(description: &str) -> Result<Self, HarnessError> {
        let spec: Spec = description
            .parse()
            .map_err(|e: SpecError| setup_error(description, e.to_string()))?;
        Self::from_spec(&spec, description)
    }

    pub fn from_spec(spec: &Spec, text: &str) -> Result<Self, HarnessError> {
        let hub = Netns::new("hub")?;
        // The hub only forwards frames: no IPv6 autoconfiguration noise on its ports.
        hub.exec(
            "sysctl",
            &[
                "-qw",
                "net.ipv6.conf.all.disable_ipv6=1",
                "net.ipv6.conf.default.disable_ipv6=1",
            ],
        )?;
        let mut t = Topology {
            relays: Vec::new(),
            link_relay: vec![None; spec.nves()],
            nodes: Vec::new(),
            attacker: None,
            hub,
            layout: spec.layout,
            impair: vec![Netem::default(); spec.nves()],
            spec_text: text.to_string(),
        };
        if let Layout::Bridge(_) = spec.layout {
            t.hub.ip(&["link", "add", BRIDGE_DEV, "type", "bridge"])?;
            t.hub.ip(&["link", "set", BRIDGE_DEV, "up"])?;
        }
        for k in 0..spec.nves() {
            let node = t.attach("nve", 10 + k as u8, &port(k))?;
            t.nodes.push(node);
        }
        if spec.attacker {
            let a = t.attach("atk", ATTACKER_HOST, "patk")?;
            t.attacker = Some(a);
        }
        if spec.layout == Layout::PointToPoint {
            // The point-to-point "wire" is the relay between the two hub ports.
            let r = Relay::start(&t.hub, &port(0), &port(1), &Netem::default())?;
            t.relays.push(r);
            t.link_relay = vec![Some(0), Some(0)];
        }
        t.static_neighbours()?;
        for (k, n) in &spec.impair {
            t.set_impairment(*k, n.clone())?;
        }
        Ok(t)
    }

    /// A namespace with `under0` whose peer is `port` in the hub (on the bridge, if any).
    fn attach(&mut self, prefix: &str, host: u8, port: &str) -> Result<Node, HarnessError> {
        let (addr, addr6, mac) = host_addr(host);
        let node = Node {
            ns: Netns::new(prefix)?,
            addr,
            addr6,
            mac,
        };
        veth(&node.ns, &self.hub, UNDERLAY_DEV, port)?;
        if let Layout::Bridge(_) = self.layout {
            self.hub.ip(&["link", "set", port, "master", BRIDGE_DEV])?;
        }
        self.hub.ip(&["link", "set", port, "promisc", "on", "up"])?;
        configure(&node)?;
        Ok(node)
    }

    /// Permanent neighbour entries between every pair of nodes.
    fn static_neighbours(&self) -> Result<(), HarnessError> {
        let all: Vec<&Node> = self.nodes.iter().chain(self.attacker.as_ref()).collect();
        for n in &all {
            for m in all.iter().filter(|m| m.addr != n.addr) {
                for a in [m.addr.to_string(), m.addr6.to_string()] {
                    n.ns.ip(&[
                        "neigh",
                        "replace",
                        &a,
                        "lladdr",
                        &m.mac,
                        "dev",
                        UNDERLAY_DEV,
                        "nud",
                        "permanent",
                    ])?;
                }
            }
        }
        Ok(())
    }

    /// Replaces NVE `k`'s link impairment (both directions); [`Netem::default`] makes the
    /// link clean again. On a bridge, the first impairment of a link moves its hub port off
    /// the bridge and puts a relay between it and a new bridge port.
    pub fn set_impairment(&mut self, k: usize, n: Netem) -> Result<(), HarnessError> {
        if k >= self.nodes.len() {
            return Err(setup_error(&self.spec_text, format!("no nve{k}")));
        }
        match self.link_relay[k] {
            Some(r) => self.relays[r].set(&n)?,
            None if n.is_none() => {}
            None => {
                let (p, pr, pb) = (port(k), format!("p{k}r"), format!("p{k}b"));
                let h = &self.hub;
                h.ip(&["link", "set", &p, "nomaster"])?;
                h.ip(&["link", "add", &pr, "type", "veth", "peer", "name", &pb])?;
                h.ip(&["link", "set", &pb, "master", BRIDGE_DEV])?;
                for d in [&pr, &pb] {
                    h.ip(&["link", "set", d, "promisc", "on", "up"])?;
                }
                let relay = Relay::start(h, &p, &pr, &n)?;
                self.relays.push(relay);
                self.link_relay[k] = Some(self.relays.len() - 1);
            }
        }
        if self.layout == Layout::PointToPoint {
            // One wire: both names mean the same link.
            self.impair = vec![n; 2];
        } else {
            self.impair[k] = n;
        }
        Ok(())
    }

    /// The NVEs, in order (`nve0` first).
    pub fn nves(&self) -> &[Node] {
        &self.nodes
    }

    pub fn nve(&self, k: usize) -> &Node {
        &self.nodes[k]
    }

    pub fn attacker_node(&self) -> Option<&Node> {
        self.attacker.as_ref()
    }

    /// The hub namespace (holds the bridge, the hub ports and the relays).
    pub fn hub(&self) -> &Netns {
        &self.hub
    }

    /// Every namespace name this topology owns.
    pub fn namespaces(&self) -> Vec<String> {
        self.nodes
            .iter()
            .chain(self.attacker.as_ref())
            .map(|n| n.ns.name().to_string())
            .chain([self.hub.name().to_string()])
            .collect()
    }

    /// A multi-line summary for logs: nodes, addresses, links and impairments.
    pub fn describe(&self) -> String {
        let mut s = format!("topology {:?}\n", self.spec_text);
        let what = match self.layout {
            Layout::Bridge(_) => format!("{BRIDGE_DEV} (bridge)"),
            Layout::PointToPoint => "a relay p0 <-> p1 (point-to-point)".into(),
        };
        s += &format!("  hub {} with {what}\n", self.hub.name());
        for (k, n) in self.nodes.iter().enumerate() {
            let via = if self.link_relay[k].is_some() {
                " via relay"
            } else {
                ""
            };
            s += &format!(
                "  nve{k} ns {} {UNDERLAY_DEV} {} {} {} <-> hub:{}{via} [{}]\n",
                n.ns.name(),
                n.addr,
                n.addr6,
                n.mac,
                port(k),
                self.impair[k]
            );
        }
        if let Some(a) = &self.attacker {
            s += &format!(
                "  attacker ns {} {UNDERLAY_DEV} {} {} {} <-> hub:patk\n",
                a.ns.name(),
                a.addr,
                a.addr6,
                a.mac
            );
        }
        s
    }
}

fn setup_error(what: &str, why: String) -> HarnessError {
    HarnessError::Failed {
        cmd: format!("topology {what:?}"),
        status: None,
        stderr: why,
    }
}

/// A veth with `a_dev` in `a` and `b_dev` in `b`: created under unique names (the root
/// namespace sees them for an instant), then renamed inside each namespace.
fn veth(a: &Netns, b: &Netns, a_dev: &str, b_dev: &str) -> Result<(), HarnessError> {
    let (ta, tb) = (unique_name("ta"), unique_name("tb"));
    run(Command::new("ip").args([
        "link",
        "add",
        &ta,
        "netns",
        a.name(),
        "type",
        "veth",
        "peer",
        "name",
        &tb,
        "netns",
        b.name(),
    ]))?;
    a.ip(&["link", "set", "dev", &ta, "name", a_dev])?;
    b.ip(&["link", "set", "dev", &tb, "name", b_dev])?;
    Ok(())
}

/// Addresses, MAC and link state of a node's `under0`.
fn configure(n: &Node) -> Result<(), HarnessError> {
    n.ns.ip(&["link", "set", "dev", UNDERLAY_DEV, "address", &n.mac])?;
    n.ns.ip(&[
        "addr",
        "add",
        &format!("{}/24", n.addr),
        "dev",
        UNDERLAY_DEV,
    ])?;
    n.ns.ip(&[
        "addr",
        "add",
        &format!("{}/64", n.addr6),
        "dev",
        UNDERLAY_DEV,
        "nodad",
    ])?;
    n.ns.ip(&["link", "set", "dev", UNDERLAY_DEV, "up"])?;
    Ok(())
}

/// One line of the suite's summary table, printed when the guard is dropped:
/// `SCENARIO | <name> | PASS | <figure>` after [`Scenario::pass`], `FAIL` otherwise (a failed
/// assertion unwinds through the guard). Also appended to `$NVESEC_SCENARIO_LOG` when set, so
/// a script can collect the table even when cargo captures test output.
#[derive(Debug)]
pub struct Scenario {
    name: String,
    figure: String,
    passed: bool,
}

impl Scenario {
    pub fn start(name: &str) -> Self {
        Scenario {
            name: name.into(),
            figure: String::new(),
            passed: false,
        }
    }

    /// Records the key figure so far (shown on failure too).
    pub fn figure(&mut self, f: impl Into<String>) {
        self.figure = f.into();
    }

    pub fn pass(mut self, figure: impl Into<String>) {
        self.figure = figure.into();
        self.passed = true;
    }
}

/// The summary line for one scenario.
pub fn summary_line(name: &str, result: &str, figure: &str) -> String {
    format!("SCENARIO | {name} | {result} | {figure}")
}

impl Drop for Scenario {
    fn drop(&mut self) {
        let result = if self.passed { "PASS" } else { "FAIL" };
        let line = summary_line(&self.name, result, &self.figure);
        println!("{line}");
        if let Some(path) = std::env::var_os("NVESEC_SCENARIO_LOG") {
            use std::io::Write;
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
            {
                let _ = writeln!(f, "{line}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bridge_with_attacker_and_netem() {
        let s: Spec =
            "bridge 3; attacker; nve2 loss 100%; nve0 delay 50ms 10ms reorder 25% duplicate 1%"
                .parse()
                .unwrap();
        assert_eq!(s.layout, Layout::Bridge(3));
        assert!(s.attacker);
        assert_eq!(s.impair[0], (2, Netem::loss(100.0)));
        let n = &s.impair[1].1;
        assert_eq!(
            (n.delay_ms, n.jitter_ms, n.reorder_pct, n.duplicate_pct),
            (50, 10, 25.0, 1.0)
        );
        assert_eq!(
            n.args().join(" "),
            "delay 50ms 10ms duplicate 1% reorder 25%"
        );
    }

    #[test]
    fn rejects_bad_descriptions() {
        for (text, err) in [
            ("", SpecError::Layout),
            ("ring 3", SpecError::Layout),
            ("bridge 0", SpecError::Layout),
            ("bridge 2; nve2 loss 1%", SpecError::NoSuchNve(2)),
            ("bridge 2; nve0 loss 101%", SpecError::Bad("101%".into())),
            ("bridge 2; nve0 loss", SpecError::Missing("loss".into())),
            (
                "bridge 2; nve0 corrupt 1%",
                SpecError::Unknown("corrupt".into()),
            ),
            ("p2p; attacker", SpecError::AttackerNeedsBridge),
            (
                "p2p; nve0 reorder 5%",
                SpecError::Unknown("reorder without delay".into()),
            ),
        ] {
            assert_eq!(text.parse::<Spec>(), Err(err), "{text}");
        }
    }

    #[test]
    fn summary_line_format() {
        assert_eq!(
            summary_line("wire-geo", "PASS", "12 packets"),
            "SCENARIO | wire-geo | PASS | 12 packets"
        );
    }

    #[test]
    fn clean_netem_has_no_args() {
        assert!(Netem::default().args().is_empty());
        assert_eq!(Netem::default().to_string(), "clean");
        assert_eq!(Netem::loss(20.0).to_string(), "loss 20%");
    }
}

/// The tenant VNI of [`DpNves`].
pub const TENANT_VNI: u32 = 100;
/// The tun device gsa-dp opens in every NVE of [`DpNves`].
pub const TENANT_DEV: &str = "nvtun0";

/// The tenant address of NVE `k` on [`TENANT_DEV`] (`172.16.0.(k+1)/24`).
pub fn tenant_addr(k: usize) -> Ipv4Addr {
    Ipv4Addr::new(172, 16, 0, k as u8 + 1)
}

/// Which GSO a hand-keyed pair uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suite {
    /// GEO with AES-128-GCM: payload encrypted.
    Geo,
    /// GAO with AES-GMAC-128 only: payload in clear, authenticated.
    Gao,
}

impl Suite {
    fn kind(self) -> &'static str {
        match self {
            Suite::Geo => "geo",
            Suite::Gao => "gao",
        }
    }

    fn alg(self) -> &'static str {
        match self {
            Suite::Geo => "aes-gcm128",
            Suite::Gao => "aes-gmac128",
        }
    }
}

/// The GSA-ID NVE `from` sends to NVE `to` with in [`DpNves::secure_pair`].
pub fn gsa_id(from: usize, to: usize) -> u32 {
    ((from as u32 + 1) << 12) | (to as u32 + 1)
}

/// A `gsa-dp` in every NVE of a topology: [`TENANT_DEV`] on [`TENANT_VNI`] with
/// [`tenant_addr`], a host route to every other NVE over the underlay. Declare it after the
/// topology so it is dropped (daemons killed) first.
#[derive(Debug)]
pub struct DpNves {
    pub dps: Vec<crate::dataplane::GsaDp>,
}

impl DpNves {
    pub fn start(t: &Topology) -> Result<Self, HarnessError> {
        let mut dps = Vec::new();
        let spec = format!("{TENANT_DEV}:{TENANT_VNI}");
        for (k, n) in t.nves().iter().enumerate() {
            let mut args = vec!["--tun".to_string(), spec.clone()];
            for (j, m) in t.nves().iter().enumerate().filter(|(j, _)| *j != k) {
                args.push("--route".into());
                args.push(format!("{}/32,{},{TENANT_VNI}", tenant_addr(j), m.addr));
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            dps.push(crate::dataplane::GsaDp::start(&n.ns, &args)?);
            n.ns.ip(&[
                "addr",
                "add",
                &format!("{}/24", tenant_addr(k)),
                "dev",
                TENANT_DEV,
            ])?;
        }
        Ok(DpNves { dps })
    }

    /// SECURE policies on [`TENANT_VNI`] (both directions, replacing all policies) and GSAs
    /// between NVEs `a` and `b` (keys `dataplane::KEY_AB` for a -> b, `KEY_BA` back).
    pub fn secure_pair(&self, a: usize, b: usize, suite: Suite) -> Result<(), HarnessError> {
        use crate::dataplane::{KEY_AB, KEY_BA};
        let action = format!(
            r#"{{"type":"secure","gsos":[{{"reqid":1,"kind":"{}"}}]}}"#,
            suite.kind()
        );
        for (me, peer, out_key, in_key) in [(a, b, KEY_AB, KEY_BA), (b, a, KEY_BA, KEY_AB)] {
            let mut c = self.dps[me].client()?;
            c.ok(&crate::dataplane::set_gsp(1, TENANT_VNI, &action))?;
            c.ok(&add_gsa_line(
                2,
                "out",
                gsa_id(me, peer),
                suite.alg(),
                out_key,
            ))?;
            c.ok(&add_gsa_line(
                3,
                "in",
                gsa_id(peer, me),
                suite.alg(),
                in_key,
            ))?;
        }
        Ok(())
    }
}

/// ADD_GSA with reqid 1 and the given algorithm.
pub fn add_gsa_line(seq: u64, dir: &str, gsa_id: u32, alg: &str, key: &str) -> String {
    format!(
        r#"{{"v":1,"seq":{seq},"op":"ADD_GSA","gsa":{{"dir":"{dir}","gsa_id":{gsa_id},"reqid":1,"alg":"{alg}","key":"{key}"}}}}"#
    )
}

/// `ping -c COUNT -i 0.2 -W 1 [-p PATTERN] DST` in `ns`: how many replies came back.
pub fn ping(ns: &Netns, dst: &str, count: u32, pattern: Option<&[u8]>) -> u32 {
    let mut c = ns.command("ping");
    c.args(["-c", &count.to_string(), "-i", "0.2", "-W", "1", "-q"]);
    if let Some(p) = pattern {
        let hex: String = p.iter().map(|b| format!("{b:02x}")).collect();
        c.args(["-p", &hex]);
    }
    match c.arg(dst).output() {
        Ok(o) => ping_replies(&String::from_utf8_lossy(&o.stdout)),
        Err(_) => 0,
    }
}

/// `ping -c COUNT -i 0.2 -W WAIT -q DST` in `ns`: replies received, and ping's output (for
/// failure messages).
pub fn ping_output(ns: &Netns, dst: &str, count: u32, wait: u32) -> (u32, String) {
    let out = ns
        .command("ping")
        .args([
            "-c",
            &count.to_string(),
            "-i",
            "0.2",
            "-W",
            &wait.to_string(),
        ])
        .args(["-q", dst])
        .output()
        .expect("run ping");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (ping_replies(&text), text)
}

/// "N packets transmitted, M received": M (0 if ping printed no summary).
fn ping_replies(text: &str) -> u32 {
    text.lines()
        .find_map(|l| {
            let (_, rest) = l.split_once(" packets transmitted, ")?;
            rest.split_whitespace().next()?.parse().ok()
        })
        .unwrap_or(0)
}
