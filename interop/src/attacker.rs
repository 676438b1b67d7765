//! An attacker namespace on the underlay: sends crafted UDP datagrams with any source address
//! (a raw IPv4 socket with IP_HDRINCL, driven by a short Python script because Rust raw
//! sockets would need `unsafe` or a new dependency), and replays packets captured in a
//! victim's namespace (dumpcap writes classic pcap; [`parse_pcap`] reads it back).
//!
//! Datagrams are always rebuilt with fresh IPv4 and UDP checksums: a capture taken on a veth
//! holds checksums the sender left to offload (only the pseudo-header sum), which the
//! receiver would count as UDP checksum errors and never hand to the daemon.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::dataplane::GsaDp;
use crate::netns::{run, unique_name};
use crate::topology::{ping, python, tenant_addr, Netem, Node, Topology, UNDERLAY_DEV};
use crate::{HarnessError, Netns};

/// Link types we read (pcap LINKTYPE_* values).
pub const LINKTYPE_ETHERNET: u32 = 1;
pub const LINKTYPE_RAW: u32 = 101;
pub const LINKTYPE_IPV4: u32 = 228;

/// Why a capture file or a captured frame could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    #[error("not a classic pcap file (magic {0:#010x})")]
    Magic(u32),
    #[error("truncated at byte {0}")]
    Truncated(usize),
    #[error("link type {0} not supported")]
    LinkType(u32),
    #[error("not IPv4")]
    NotIpv4,
    #[error("not UDP (protocol {0})")]
    NotUdp(u8),
    #[error("IPv4 fragment")]
    Fragment,
    #[error("bad IPv4 header length {0}")]
    HeaderLength(usize),
}

/// One captured frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub linktype: u32,
    pub data: Vec<u8>,
}

impl Frame {
    /// The IPv4 packet inside (Ethernet II with EtherType 0x0800, or a raw IP link).
    pub fn ipv4(&self) -> Result<&[u8], PacketError> {
        let ip = match self.linktype {
            LINKTYPE_ETHERNET => {
                let et = self.data.get(12..14).ok_or(PacketError::Truncated(12))?;
                if et != [0x08, 0x00] {
                    return Err(PacketError::NotIpv4);
                }
                &self.data[14..]
            }
            LINKTYPE_RAW | LINKTYPE_IPV4 => &self.data[..],
            other => return Err(PacketError::LinkType(other)),
        };
        match ip.first() {
            Some(v) if v >> 4 == 4 => Ok(ip),
            Some(_) => Err(PacketError::NotIpv4),
            None => Err(PacketError::Truncated(0)),
        }
    }
}

/// Reads a classic pcap file (either byte order, micro- or nanosecond timestamps). Never
/// panics: anything unexpected is a [`PacketError`].
pub fn parse_pcap(bytes: &[u8]) -> Result<Vec<Frame>, PacketError> {
    let magic = bytes
        .get(..4)
        .map(|m| u32::from_le_bytes([m[0], m[1], m[2], m[3]]))
        .ok_or(PacketError::Truncated(0))?;
    let le = match magic {
        0xa1b2_c3d4 | 0xa1b2_3c4d => true,
        0xd4c3_b2a1 | 0x4d3c_b2a1 => false,
        m => return Err(PacketError::Magic(m)),
    };
    let u32_at = |off: usize| -> Result<u32, PacketError> {
        let b = bytes.get(off..off + 4).ok_or(PacketError::Truncated(off))?;
        let a = [b[0], b[1], b[2], b[3]];
        Ok(if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        })
    };
    let linktype = u32_at(20)? & 0x0fff_ffff;
    let mut frames = Vec::new();
    let mut off = 24;
    while off < bytes.len() {
        let incl = u32_at(off + 8)? as usize;
        let start = off + 16;
        let data = start
            .checked_add(incl)
            .and_then(|end| bytes.get(start..end))
            .ok_or(PacketError::Truncated(start))?;
        frames.push(Frame {
            linktype,
            data: data.to_vec(),
        });
        off = start + incl;
    }
    Ok(frames)
}

/// An IPv4 UDP datagram, to be sent with any source address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
    pub payload: Vec<u8>,
}

impl Datagram {
    pub fn new(src: SocketAddrV4, dst: SocketAddrV4, payload: Vec<u8>) -> Self {
        Datagram { src, dst, payload }
    }

    /// The UDP datagram inside a captured frame (unfragmented IPv4 only). The payload ends
    /// where the UDP length says (Ethernet padding is not payload).
    pub fn from_frame(f: &Frame) -> Result<Self, PacketError> {
        let ip = f.ipv4()?;
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        if ihl < 20 || ip.len() < ihl + 8 {
            return Err(PacketError::HeaderLength(ihl));
        }
        if ip[9] != 17 {
            return Err(PacketError::NotUdp(ip[9]));
        }
        let frag = u16::from_be_bytes([ip[6], ip[7]]);
        if frag & 0x3fff != 0 {
            return Err(PacketError::Fragment);
        }
        let addr = |o: usize| Ipv4Addr::new(ip[o], ip[o + 1], ip[o + 2], ip[o + 3]);
        let port = |o: usize| u16::from_be_bytes([ip[o], ip[o + 1]]);
        let udp_len = usize::from(port(ihl + 4));
        let payload = ip
            .get(ihl + 8..ihl + udp_len.max(8))
            .ok_or(PacketError::Truncated(ihl + udp_len))?;
        Ok(Datagram {
            src: SocketAddrV4::new(addr(12), port(ihl)),
            dst: SocketAddrV4::new(addr(16), port(ihl + 2)),
            payload: payload.to_vec(),
        })
    }

    /// Every UDP datagram in `frames` sent to `port` (others are skipped).
    pub fn all_to_port(frames: &[Frame], port: u16) -> Vec<Datagram> {
        frames
            .iter()
            .filter_map(|f| Datagram::from_frame(f).ok())
            .filter(|d| d.dst.port() == port)
            .collect()
    }

    /// The whole IPv4 packet (DF clear, TTL 64, both checksums computed).
    pub fn to_ipv4(&self, id: u16) -> Vec<u8> {
        let udp_len = 8 + self.payload.len();
        let total = 20 + udp_len;
        let mut p = Vec::with_capacity(total);
        p.extend_from_slice(&[0x45, 0]);
        // An oversized datagram keeps the 16-bit field truncated; fragments() is its path.
        p.extend_from_slice(&(total.min(0xffff) as u16).to_be_bytes());
        p.extend_from_slice(&id.to_be_bytes());
        p.extend_from_slice(&[0, 0, 64, 17, 0, 0]);
        p.extend_from_slice(&self.src.ip().octets());
        p.extend_from_slice(&self.dst.ip().octets());
        let c = checksum(&[&p[..20]]);
        p[10..12].copy_from_slice(&c.to_be_bytes());
        let mut udp = Vec::with_capacity(udp_len);
        udp.extend_from_slice(&self.src.port().to_be_bytes());
        udp.extend_from_slice(&self.dst.port().to_be_bytes());
        udp.extend_from_slice(&(udp_len.min(0xffff) as u16).to_be_bytes());
        udp.extend_from_slice(&[0, 0]);
        udp.extend_from_slice(&self.payload);
        let mut pseudo = Vec::with_capacity(12);
        pseudo.extend_from_slice(&self.src.ip().octets());
        pseudo.extend_from_slice(&self.dst.ip().octets());
        pseudo.extend_from_slice(&[0, 17]);
        pseudo.extend_from_slice(&(udp_len.min(0xffff) as u16).to_be_bytes());
        // RFC 768: a computed zero is sent as all ones (zero means "no checksum").
        let c = match checksum(&[&pseudo, &udp]) {
            0 => 0xffff,
            c => c,
        };
        udp[6..8].copy_from_slice(&c.to_be_bytes());
        p.extend_from_slice(&udp);
        p
    }

    /// The packet split into IPv4 fragments of at most `mtu` bytes (RFC 791: offsets in
    /// 8-byte units, MF on all but the last); one packet if it fits.
    pub fn fragments(&self, id: u16, mtu: usize) -> Vec<Vec<u8>> {
        let whole = self.to_ipv4(id);
        if whole.len() <= mtu {
            return vec![whole];
        }
        let data = &whole[20..];
        let step = (mtu - 20) / 8 * 8;
        data.chunks(step)
            .enumerate()
            .map(|(i, chunk)| {
                let last = (i + 1) * step >= data.len();
                let mut f = whole[..20].to_vec();
                f.extend_from_slice(chunk);
                let len = (20 + chunk.len()) as u16;
                f[2..4].copy_from_slice(&len.to_be_bytes());
                let units = ((i * step) / 8) as u16 | if last { 0 } else { 0x2000 };
                f[6..8].copy_from_slice(&units.to_be_bytes());
                f[10..12].copy_from_slice(&[0, 0]);
                let c = checksum(&[&f[..20]]);
                f[10..12].copy_from_slice(&c.to_be_bytes());
                f
            })
            .collect()
    }
}

/// The Internet checksum (RFC 1071) over the concatenation of `parts`.
pub fn checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    let mut odd: Option<u8> = None;
    for b in parts.iter().flat_map(|p| p.iter().copied()) {
        match odd.take() {
            Some(hi) => sum += u32::from(u16::from_be_bytes([hi, b])),
            None => odd = Some(b),
        }
    }
    if let Some(hi) = odd {
        sum += u32::from(hi) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Reads packets (4-byte big-endian length, then the IPv4 packet) from stdin and sends each
/// through a raw socket (IPPROTO_RAW implies IP_HDRINCL: our header, our source address);
/// prints how many went out.
const SENDER_PY: &str = r#"
import socket, struct, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
gap = float(sys.argv[1])
r = sys.stdin.buffer
n = 0
while True:
    h = r.read(4)
    if len(h) < 4:
        break
    p = r.read(struct.unpack("!I", h)[0])
    s.sendto(p, (socket.inet_ntoa(p[16:20]), 0))
    n += 1
    if gap > 0:
        time.sleep(gap)
print(n, flush=True)
"#;

/// The underlay MTU of the topology's links.
pub const UNDERLAY_MTU: usize = 1500;

/// The attacker of a [`Topology`] built with `attacker` in its description.
#[derive(Debug)]
pub struct Attacker<'t> {
    node: &'t Node,
    next_id: std::cell::Cell<u16>,
    /// Pause between two packets, so a burst never overflows the victim's socket buffer
    /// (a drop there would be silent and spoil exact counter checks).
    pub gap: Duration,
}

impl<'t> Attacker<'t> {
    pub fn of(t: &'t Topology) -> Result<Self, HarnessError> {
        let node = t.attacker_node().ok_or_else(|| HarnessError::Failed {
            cmd: "attacker".into(),
            status: None,
            stderr: format!("no attacker in\n{}", t.describe()),
        })?;
        Ok(Attacker {
            node,
            next_id: std::cell::Cell::new(0x4e00),
            gap: Duration::from_millis(5),
        })
    }

    pub fn ns(&self) -> &Netns {
        &self.node.ns
    }

    /// The attacker's own underlay address.
    pub fn addr(&self) -> Ipv4Addr {
        self.node.addr
    }

    /// Sends every datagram (fragmented above the underlay MTU), in order. Returns the number
    /// of IP packets that went out.
    pub fn send(&self, datagrams: &[Datagram]) -> Result<usize, HarnessError> {
        let mut packets = Vec::new();
        for d in datagrams {
            let id = self.next_id.get();
            self.next_id.set(id.wrapping_add(1).max(1));
            packets.extend(d.fragments(id, UNDERLAY_MTU));
        }
        self.send_ip(&packets)
    }

    /// Sends raw IPv4 packets as they are (the kernel fills in only a zero header checksum).
    pub fn send_ip(&self, packets: &[Vec<u8>]) -> Result<usize, HarnessError> {
        let gap = format!("{}", self.gap.as_secs_f64());
        let mut child = self
            .node
            .ns
            .command(python())
            .args(["-c", SENDER_PY, &gap])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| HarnessError::Spawn("python3 raw sender".into(), e))?;
        if let Some(mut stdin) = child.stdin.take() {
            for p in packets {
                stdin.write_all(&(p.len() as u32).to_be_bytes())?;
                stdin.write_all(p)?;
            }
        }
        let out = child.wait_with_output()?;
        let sent: usize = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(0);
        if !out.status.success() || sent != packets.len() {
            return Err(HarnessError::Failed {
                cmd: "python3 raw sender".into(),
                status: out.status.code(),
                stderr: format!(
                    "sent {sent} of {}: {}",
                    packets.len(),
                    String::from_utf8_lossy(&out.stderr)
                ),
            });
        }
        Ok(sent)
    }

    /// A datagram from the attacker's own address.
    pub fn from_self(&self, src_port: u16, dst: SocketAddrV4, payload: Vec<u8>) -> Datagram {
        Datagram::new(SocketAddrV4::new(self.addr(), src_port), dst, payload)
    }

    /// Sends captured datagrams again, unchanged (same source address, fresh checksums).
    pub fn replay(&self, captured: &[Datagram]) -> Result<usize, HarnessError> {
        self.send(captured)
    }
}

/// A capture with `dumpcap -P` (classic pcap) in a namespace, stopped with SIGINT so the file
/// is complete; the file is removed on drop.
#[derive(Debug)]
pub struct Sniffer {
    child: Child,
    file: PathBuf,
}

impl Sniffer {
    /// How long the file must stay unchanged before [`Sniffer::stop`] ends the capture.
    pub const SETTLE: Duration = Duration::from_millis(700);

    /// Captures on `dev` in `ns` what the capture `filter` (BPF syntax) selects.
    pub fn start(ns: &Netns, dev: &str, filter: &str) -> Result<Self, HarnessError> {
        let file = std::env::temp_dir().join(format!("{}.pcap", unique_name("snf")));
        let child = ns
            .command("dumpcap")
            .args(["-q", "-P", "-i", dev, "-f", filter, "-w"])
            .arg(&file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| HarnessError::Spawn("dumpcap".into(), e))?;
        let s = Sniffer { child, file };
        // The file header is written once the interface is open and the filter attached.
        let start = Instant::now();
        while fs::metadata(&s.file).map(|m| m.len()).unwrap_or(0) == 0 {
            if start.elapsed() > Duration::from_secs(5) {
                return Err(HarnessError::Timeout(format!("dumpcap on {dev}")));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(100));
        Ok(s)
    }

    /// Stops the capture and reads the file. libpcap hands packets to dumpcap in blocks (a
    /// few hundred ms late) and whatever is still in the ring at SIGINT is lost, so first wait
    /// until the file has not grown for [`Sniffer::SETTLE`] (at most 5 s).
    pub fn stop(mut self) -> Result<Pcap, HarnessError> {
        let size = || fs::metadata(&self.file).map(|m| m.len()).unwrap_or(0);
        let (start, mut last, mut since) = (Instant::now(), size(), Instant::now());
        while since.elapsed() < Self::SETTLE && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(50));
            if size() != last {
                (last, since) = (size(), Instant::now());
            }
        }
        run(Command::new("kill").args(["-INT", &self.child.id().to_string()]))?;
        let _ = self.child.wait();
        let bytes = fs::read(&self.file)?;
        let frames = parse_pcap(&bytes).map_err(|e| HarnessError::Failed {
            cmd: format!("parse {}", self.file.display()),
            status: None,
            stderr: e.to_string(),
        })?;
        let file = std::mem::take(&mut self.file);
        Ok(Pcap {
            file,
            bytes,
            frames,
        })
    }
}

impl Drop for Sniffer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !self.file.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.file);
        }
    }
}

/// A finished capture: the raw file bytes, the frames, and the file (kept for tshark until
/// drop).
#[derive(Debug)]
pub struct Pcap {
    pub file: PathBuf,
    pub bytes: Vec<u8>,
    pub frames: Vec<Frame>,
}

impl Pcap {
    /// `tshark -r FILE -Y FILTER -T fields -e F1 -e F2 ...`: one row per packet, one column per
    /// field (Geneve on UDP 6081 is decoded by default; `-d` makes it explicit).
    pub fn tshark_fields(
        &self,
        display_filter: &str,
        fields: &[&str],
    ) -> Result<Vec<Vec<String>>, HarnessError> {
        let mut cmd = Command::new("tshark");
        cmd.arg("-r")
            .arg(&self.file)
            .args(["-d", "udp.port==6081,geneve", "-Y", display_filter])
            .args(["-T", "fields", "-E", "separator=|"]);
        for f in fields {
            cmd.args(["-e", f]);
        }
        let out = run(&mut cmd)?;
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.split('|').map(str::to_string).collect())
            .collect())
    }

    /// Whether `needle` occurs anywhere in the capture file.
    pub fn contains(&self, needle: &[u8]) -> bool {
        !needle.is_empty() && self.bytes.windows(needle.len()).any(|w| w == needle)
    }
}

impl Drop for Pcap {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.file);
    }
}

/// gsa-dp's STATS totals and drops by reason, flattened (`drops.bad_icv` -> `bad_icv`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DpCounters(pub BTreeMap<String, u64>);

/// Drop reasons in gsa-dp's STATS (docs/dataplane.md, "Counters and drop reasons").
pub const DROP_REASONS: [&str; 12] = [
    "malformed",
    "unknown_critical",
    "no_gsa",
    "bad_icv",
    "replay",
    "policy_mismatch",
    "discard",
    "queue_full",
    "hold_timeout",
    "sn_exhausted",
    "buffer_too_small",
    "unreadable_selectors",
];

impl DpCounters {
    /// Asks the daemon (a new keying connection) for STATS.
    pub fn fetch(dp: &GsaDp) -> Result<Self, HarnessError> {
        let reply = dp.client()?.ok(r#"{"v":1,"seq":77,"op":"STATS"}"#)?;
        Self::from_reply(&reply).ok_or_else(|| HarnessError::Failed {
            cmd: "STATS".into(),
            status: None,
            stderr: reply,
        })
    }

    /// Parses a STATS reply line.
    pub fn from_reply(line: &str) -> Option<Self> {
        let v: serde_json::Value = serde_json::from_str(line).ok()?;
        let stats = v.get("stats")?.as_object()?;
        let mut m = BTreeMap::new();
        for (k, val) in stats {
            if let Some(n) = val.as_u64() {
                m.insert(k.clone(), n);
            }
        }
        for (k, val) in stats.get("drops")?.as_object()? {
            m.insert(k.clone(), val.as_u64()?);
        }
        Some(DpCounters(m))
    }

    pub fn get(&self, k: &str) -> u64 {
        self.0.get(k).copied().unwrap_or(0)
    }

    /// The sum of all drop reasons.
    pub fn drops(&self) -> u64 {
        DROP_REASONS.iter().map(|r| self.get(r)).sum()
    }

    /// What changed since `before`: name -> increase (only counters that moved).
    pub fn delta(&self, before: &DpCounters) -> BTreeMap<String, u64> {
        self.0
            .iter()
            .filter_map(|(k, v)| {
                let d = v.saturating_sub(before.get(k));
                (d > 0).then(|| (k.clone(), d))
            })
            .collect()
    }
}

impl DpCounters {
    /// The counters once `done` holds (polled for up to 3 s), read again after a short
    /// settle so a late extra count would still show.
    pub fn wait(dp: &GsaDp, done: impl Fn(&DpCounters) -> bool) -> Result<Self, HarnessError> {
        let end = Instant::now() + Duration::from_secs(3);
        while Instant::now() < end && !done(&DpCounters::fetch(dp)?) {
            std::thread::sleep(Duration::from_millis(30));
        }
        std::thread::sleep(Duration::from_millis(150));
        DpCounters::fetch(dp)
    }

    /// Only the drop reasons of a delta, as `bad_icv=1 replay=2` ("" when none moved).
    pub fn drop_delta(&self, before: &DpCounters) -> String {
        let d = self.delta(before);
        let drops: BTreeMap<String, u64> = d
            .into_iter()
            .filter(|(k, _)| DROP_REASONS.contains(&k.as_str()))
            .collect();
        show_delta(&drops)
    }
}

/// Geneve datagrams NVE `from` sends to NVE `to` that `to` never received: while `to`'s link
/// drops everything, `from` pings `to`'s tenant address `count` times (needs a [`DpNves`]
/// with a SECURE pair). Their sequence numbers are still fresh for `to`: ideal material for
/// tampering (a modified copy of an already received packet would only count as a replay).
pub fn unseen_packets(
    t: &mut Topology,
    from: usize,
    to: usize,
    count: u32,
    pattern: &[u8],
) -> Result<Vec<Datagram>, HarnessError> {
    t.set_impairment(to, Netem::loss(100.0))?;
    let cap = Sniffer::start(&t.nve(from).ns, UNDERLAY_DEV, "udp dst port 6081");
    let got = cap.map(|c| {
        let replies = ping(
            &t.nve(from).ns,
            &tenant_addr(to).to_string(),
            count,
            Some(pattern),
        );
        (c, replies)
    });
    t.set_impairment(to, Netem::default())?;
    let (cap, replies) = got?;
    let dst = t.nve(to).addr;
    let d: Vec<Datagram> = Datagram::all_to_port(&cap.stop()?.frames, 6081)
        .into_iter()
        .filter(|d| *d.dst.ip() == dst)
        .collect();
    if replies != 0 || d.len() != count as usize {
        return Err(HarnessError::Failed {
            cmd: format!("unseen_packets nve{from} -> nve{to}"),
            status: None,
            stderr: format!(
                "{replies} replies, {} datagrams captured\n{}",
                d.len(),
                t.describe()
            ),
        });
    }
    Ok(d)
}

/// Renders a delta as `bad_icv=3 replay=2` for logs and summary lines.
pub fn show_delta(d: &BTreeMap<String, u64>) -> String {
    d.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Deterministic pseudo-random bytes (xorshift64*): "random" attack input that reproduces.
pub fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
        })
        .collect()
}

/// Byte offsets in a Geneve packet whose first option is a GSO (docs/dataplane.md, "GSO wire
/// layout"), for tampering.
pub mod gso_offsets {
    /// Geneve fixed header: Ver/Opt Len, flags, Protocol Type (2), VNI (3), Reserved.
    pub const OPT_LEN: usize = 0;
    pub const FLAGS: usize = 1;
    pub const VNI: usize = 4;
    /// The first option: class (2), type, length.
    pub const CLASS: usize = 8;
    pub const TYPE: usize = 10;
    pub const SN: usize = 12;
    pub const GSA_ID: usize = 16;
    pub const COVERED_LEN: usize = 20;
    pub const ICV: usize = 24;
    /// The first byte after one 32-byte GSO: GEO ciphertext, or the GAO's covered payload.
    pub const AFTER: usize = 40;
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pcap_header(le: bool, linktype: u32) -> Vec<u8> {
        let mut h = Vec::new();
        let w32 = |h: &mut Vec<u8>, v: u32| {
            h.extend_from_slice(&if le { v.to_le_bytes() } else { v.to_be_bytes() })
        };
        w32(&mut h, 0xa1b2_c3d4);
        h.extend_from_slice(&if le { [2, 0, 4, 0] } else { [0, 2, 0, 4] });
        w32(&mut h, 0);
        w32(&mut h, 0);
        w32(&mut h, 65535);
        w32(&mut h, linktype);
        h
    }

    fn record(le: bool, data: &[u8]) -> Vec<u8> {
        let mut r = Vec::new();
        for v in [1u32, 2, data.len() as u32, data.len() as u32] {
            r.extend_from_slice(&if le { v.to_le_bytes() } else { v.to_be_bytes() });
        }
        r.extend_from_slice(data);
        r
    }

    fn sample() -> Datagram {
        Datagram::new(
            "192.0.2.10:40000".parse().unwrap(),
            "192.0.2.11:6081".parse().unwrap(),
            b"hello geneve".to_vec(),
        )
    }

    #[test]
    fn ipv4_udp_exact_bytes_and_checksums() {
        let p = sample().to_ipv4(0x1234);
        assert_eq!(p.len(), 20 + 8 + 12);
        assert_eq!(&p[..10], &[0x45, 0, 0, 40, 0x12, 0x34, 0, 0, 64, 17]);
        assert_eq!(&p[12..20], &[192, 0, 2, 10, 192, 0, 2, 11]);
        // A header with its checksum in place sums to zero (RFC 1071).
        assert_eq!(checksum(&[&p[..20]]), 0);
        // UDP: ports 40000 -> 6081, length 20, checksum over the pseudo-header (RFC 768).
        assert_eq!(&p[20..26], &[0x9c, 0x40, 0x17, 0xc1, 0, 20]);
        let pseudo = [192, 0, 2, 10, 192, 0, 2, 11, 0, 17, 0, 20];
        assert_eq!(checksum(&[&pseudo, &p[20..]]), 0);
        assert_eq!(&p[28..], b"hello geneve");
    }

    #[test]
    fn checksum_rfc1071_example() {
        // RFC 1071 §3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2, checksum 220d.
        assert_eq!(
            checksum(&[&[0x00, 0x01, 0xf2, 0x03], &[0xf4, 0xf5, 0xf6, 0xf7]]),
            0x220d
        );
    }

    #[test]
    fn pcap_round_trip_both_byte_orders() {
        let ip = sample().to_ipv4(7);
        let mut eth = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00];
        eth.extend_from_slice(&ip);
        eth.extend_from_slice(&[0; 6]); // Ethernet padding is not payload
        for le in [true, false] {
            let mut file = pcap_header(le, LINKTYPE_ETHERNET);
            file.extend(record(le, &eth));
            file.extend(record(le, &ip[..10]));
            let frames = parse_pcap(&file).unwrap();
            assert_eq!(frames.len(), 2);
            assert_eq!(Datagram::from_frame(&frames[0]).unwrap(), sample());
            assert!(Datagram::from_frame(&frames[1]).is_err());
            let mut cut = file.clone();
            cut.truncate(file.len() - 3);
            assert!(matches!(parse_pcap(&cut), Err(PacketError::Truncated(_))));
        }
        assert_eq!(
            parse_pcap(b"\x0a\x0d\x0d\x0a...."),
            Err(PacketError::Magic(0x0a0d0d0a))
        );
    }

    #[test]
    fn fragments_cover_the_datagram() {
        let d = Datagram {
            payload: random_bytes(1, 4000),
            ..sample()
        };
        let frags = d.fragments(9, 1500);
        assert_eq!(frags.len(), 3);
        let mut joined = Vec::new();
        for (i, f) in frags.iter().enumerate() {
            assert!(f.len() <= 1500);
            assert_eq!(checksum(&[&f[..20]]), 0);
            let fo = u16::from_be_bytes([f[6], f[7]]);
            assert_eq!(usize::from(fo & 0x1fff) * 8, joined.len());
            assert_eq!(fo & 0x2000 != 0, i < 2, "MF on all but the last");
            joined.extend_from_slice(&f[20..]);
        }
        assert_eq!(joined, d.to_ipv4(9)[20..]);
    }

    #[test]
    fn counters_parse_and_delta() {
        let a = DpCounters::from_reply(r#"{"v":1,"seq":1,"ok":true,"stats":{"drops":{"bad_icv":1,"replay":0},"sent_secured":4}}"#).unwrap();
        let b = DpCounters::from_reply(r#"{"v":1,"seq":2,"ok":true,"stats":{"drops":{"bad_icv":3,"replay":2},"sent_secured":4}}"#).unwrap();
        assert_eq!(show_delta(&b.delta(&a)), "bad_icv=2 replay=2");
        assert_eq!(b.drops(), 5);
        assert!(DpCounters::from_reply(r#"{"v":1,"ok":false}"#).is_none());
    }

    #[test]
    fn random_bytes_are_deterministic() {
        assert_eq!(random_bytes(5, 32), random_bytes(5, 32));
        assert_ne!(random_bytes(5, 32), random_bytes(6, 32));
    }

    proptest! {
        #[test]
        fn pcap_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Ok(frames) = parse_pcap(&bytes) {
                for f in &frames {
                    let _ = Datagram::from_frame(f);
                }
            }
        }

        #[test]
        fn frame_parser_never_panics(lt in prop_oneof![Just(1u32), Just(101), Just(228), any::<u32>()],
                                     data in proptest::collection::vec(any::<u8>(), 0..128)) {
            let _ = Datagram::from_frame(&Frame { linktype: lt, data });
        }

        #[test]
        fn datagram_round_trip(sp in any::<u16>(), dp in any::<u16>(),
                               payload in proptest::collection::vec(any::<u8>(), 0..300)) {
            let d = Datagram::new(SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), sp),
                                  SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 2), dp), payload);
            let f = Frame { linktype: LINKTYPE_RAW, data: d.to_ipv4(1) };
            prop_assert_eq!(Datagram::from_frame(&f).unwrap(), d);
        }
    }
}
