//! The `gsa-dp` event loop (one thread, mio): tun/tap devices, the Geneve UDP socket and the
//! keying socket feed the sans-IO [`Dataplane`]; its `next_deadline` is the poll timeout.
//! Like boringtun's device loop, per-packet errors are counted and dropped, never fatal.

use super::batch::{self, RxBatch, TxBatch};
use super::keying_server::KeyingServer;
use super::routes;
use super::tun::{Device, Kind, TunError};
use super::udp;
use crate::keying::{self, Reply, Route};
use crate::offload::{self, Coalescer, Offer, VnetHdr};
use crate::{Dataplane, DataplaneConfig, InVerdict, OutVerdict};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use std::io::{self, ErrorKind};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, RawFd};
use std::path::PathBuf;
use std::time::Instant;

const UDP: Token = Token(0);
const KEYING: Token = Token(1);
const TUN_BASE: usize = 16;
const CLIENT_BASE: usize = 1 << 16;
/// Largest frame we read: a tun never hands out more than 64 KiB (plus its virtio_net_hdr).
const BUF: usize = 65536 + 512;

/// Outer IPv4/IPv6 header, UDP header, Geneve fixed header, one GSO (RFC 8926 §3.4; DESIGN.md).
const IPV4_HDR: u32 = 20;
const IPV6_HDR: u32 = 40;
const UDP_HDR: u32 = 8;
const GENEVE_HDR: u32 = 8;
const GSO: u32 = 32;
/// GEO trailer at most: Options Words (1) + hidden header (6) + Pad Length (1) + Flags (1).
const GEO_TRAILER: u32 = 9;
/// Padding headroom: a `multiple` of up to 16 adds at most 15 bytes.
const PAD_HEADROOM: u32 = 15;
const ETHERNET_HDR: u32 = 14;

/// The largest inner MTU that never makes an outer packet exceed `underlay_mtu`, for one GEO
/// with the trailer, 16-byte padding and the hidden header.
pub fn derived_mtu(underlay_mtu: u32, ipv6_underlay: bool, kind: Kind) -> u32 {
    let outer = if ipv6_underlay { IPV6_HDR } else { IPV4_HDR };
    let l2 = match kind {
        Kind::Tun => 0,
        Kind::Tap => ETHERNET_HDR,
    };
    underlay_mtu
        .saturating_sub(outer + UDP_HDR + GENEVE_HDR + GSO + GEO_TRAILER + PAD_HEADROOM + l2)
}

/// One `--tun`/`--tap`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunSpec {
    pub name: String,
    pub vni: u32,
    pub kind: Kind,
    /// `None`: [`derived_mtu`].
    pub mtu: Option<u32>,
}

/// Everything the daemon needs.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    pub socket: PathBuf,
    pub listen: IpAddr,
    pub port: u16,
    pub tuns: Vec<TunSpec>,
    pub routes: Vec<Route>,
    pub underlay_mtu: u32,
    pub dataplane: DataplaneConfig,
    pub verbose: bool,
    /// tun TSO/checksum offloads with userspace segmentation and coalescing, UDP GSO and GRO
    /// (each only if the kernel accepts it). `false`: one packet per tun read/write, batches of
    /// single datagrams on the socket (`--no-offload`).
    pub offload: bool,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            socket: super::keying_server::DEFAULT_PATH.into(),
            listen: IpAddr::from([0u16; 8]),
            port: udp::GENEVE_PORT,
            tuns: Vec::new(),
            routes: Vec::new(),
            underlay_mtu: 1500,
            dataplane: DataplaneConfig::default(),
            verbose: false,
            offload: true,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("tun/tap {0}: {1}")]
    Tun(String, TunError),
    #[error("UDP socket {0}: {1}")]
    Udp(SocketAddr, io::Error),
    #[error("keying socket {0}: {1}")]
    Keying(PathBuf, io::Error),
    #[error("poll: {0}")]
    Poll(io::Error),
    #[error("VNI {0} is more than 24 bits")]
    Vni(u32),
}

/// Counters of the I/O layer (the engine counts the rest, see STATS).
#[derive(Debug, Default, Clone, Copy)]
pub struct IoCounters {
    pub no_route: u64,
    pub no_device: u64,
    pub not_ip: u64,
    pub udp_send_errors: u64,
    pub tun_write_errors: u64,
    /// tun frames with a virtio_net_hdr we could not segment or finish.
    pub offload_errors: u64,
}

struct Tun {
    dev: Device,
    vni: u32,
    /// Receive-side coalescing into super-packets (tun with offloads only).
    co: Option<Coalescer>,
}

/// Where outbound packets go: the engine, then the send batch. Split from [`Daemon`] so the
/// segmentation callback can borrow it while the receive buffer is borrowed too.
struct Egress<'a> {
    dp: &'a mut Dataplane,
    tx: &'a mut TxBatch,
    fd: RawFd,
}

impl Egress<'_> {
    /// Seal `frame` for every target; the sealed packets land directly in the send batch.
    fn send(&mut self, now: Instant, vni: u32, ptype: u16, frame: &[u8], targets: &[SocketAddr]) {
        for &to in targets {
            let slot = self.tx.slot(self.fd);
            match self.dp.outbound(now, vni, ptype, frame, slot) {
                OutVerdict::Send { len } => self.tx.commit(len, to),
                OutVerdict::Queued | OutVerdict::Drop(_) => break,
            }
        }
    }
}

/// The running daemon.
pub struct Daemon {
    poll: Poll,
    dp: Dataplane,
    udp: mio::net::UdpSocket,
    local: IpAddr,
    port: u16,
    tuns: Vec<Tun>,
    keying: KeyingServer,
    rx: Vec<u8>,
    tx: Vec<u8>,
    scratch: Vec<u8>,
    batch: TxBatch,
    rx_batch: RxBatch,
    gro: bool,
    gro_cmsg: Vec<u8>,
    targets: Vec<SocketAddr>,
    pub counters: IoCounters,
    verbose: bool,
}

impl Daemon {
    /// Open every device and socket; nothing runs until [`Daemon::run`].
    pub fn new(cfg: DaemonConfig) -> Result<Self, DaemonError> {
        let poll = Poll::new().map_err(DaemonError::Poll)?;
        let addr = SocketAddr::new(cfg.listen, cfg.port);
        let mut sock = udp::bind(cfg.listen, cfg.port).map_err(|e| DaemonError::Udp(addr, e))?;
        let offloads = batch::configure(&sock, cfg.offload);
        poll.registry()
            .register(&mut sock, UDP, Interest::READABLE)
            .map_err(|e| DaemonError::Udp(addr, e))?;
        let mut tuns = Vec::new();
        for (i, t) in cfg.tuns.iter().enumerate() {
            if t.vni > 0x00ff_ffff {
                return Err(DaemonError::Vni(t.vni));
            }
            let mtu = t
                .mtu
                .unwrap_or_else(|| derived_mtu(cfg.underlay_mtu, cfg.listen.is_ipv6(), t.kind));
            let dev = Device::open_with(&t.name, t.kind, mtu, cfg.offload)
                .map_err(|e| DaemonError::Tun(t.name.clone(), e))?;
            poll.registry()
                .register(
                    &mut SourceFd(&dev.as_raw_fd()),
                    Token(TUN_BASE + i),
                    Interest::READABLE,
                )
                .map_err(DaemonError::Poll)?;
            if cfg.verbose {
                eprintln!(
                    "gsa-dp: {} VNI {} MTU {mtu} vnet {} uso {}",
                    dev.name(),
                    t.vni,
                    dev.vnet(),
                    dev.uso()
                );
            }
            let co = dev.vnet().then(|| Coalescer::with_udp(dev.uso()));
            tuns.push(Tun {
                dev,
                vni: t.vni,
                co,
            });
        }
        if cfg.verbose {
            eprintln!(
                "gsa-dp: offloads: tun {}, UDP GSO {}, UDP GRO {}",
                cfg.offload, offloads.gso, offloads.gro
            );
        }
        let keying = KeyingServer::bind(&cfg.socket, poll.registry(), KEYING, CLIENT_BASE)
            .map_err(|e| DaemonError::Keying(cfg.socket.clone(), e))?;
        let mut dp = Dataplane::new(cfg.dataplane);
        dp.set_routes(cfg.routes.clone());
        Ok(Daemon {
            poll,
            dp,
            local: cfg.listen,
            port: cfg.port,
            udp: sock,
            tuns,
            keying,
            rx: vec![0; BUF],
            tx: vec![0; BUF],
            scratch: vec![0; BUF],
            batch: TxBatch::new(offloads.gso),
            rx_batch: RxBatch::new(),
            gro: offloads.gro,
            gro_cmsg: batch::gro_cmsg_space(),
            targets: Vec::with_capacity(16),
            counters: IoCounters::default(),
            verbose: cfg.verbose,
        })
    }

    /// The bound UDP address (useful with port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.udp.local_addr()
    }

    /// Run until an unrecoverable poll error.
    pub fn run(&mut self) -> Result<(), DaemonError> {
        let mut events = Events::with_capacity(256);
        loop {
            let timeout = self
                .dp
                .next_deadline()
                .map(|d| d.saturating_duration_since(Instant::now()));
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(DaemonError::Poll(e)),
            }
            let now = Instant::now();
            for ev in events.iter() {
                match ev.token() {
                    UDP => self.udp_ready(now),
                    KEYING => {
                        if let Err(e) = self.keying.accept(self.poll.registry()) {
                            eprintln!("gsa-dp: keying accept: {e}");
                        }
                    }
                    Token(t) if (TUN_BASE..CLIENT_BASE).contains(&t) => {
                        self.tun_ready(now, t - TUN_BASE)
                    }
                    t => self.keying_ready(now, t),
                }
            }
            if self.dp.next_deadline().is_some_and(|d| d <= now) {
                self.dp.handle_timeout(now);
            }
            self.drain(now);
        }
    }

    fn keying_ready(&mut self, now: Instant, t: Token) {
        let dp = &mut self.dp;
        let verbose = self.verbose;
        self.keying
            .client_ready(self.poll.registry(), t, &mut |line| {
                let reply = match keying::decode_request(line) {
                    Ok(m) => dp.handle_request(now, m),
                    Err(e) => Reply::from_decode_error(&e),
                };
                if verbose || !reply.ok {
                    eprintln!(
                        "gsa-dp: keying seq {} ok={} {}",
                        reply.seq,
                        reply.ok,
                        reply.error.as_deref().unwrap_or("")
                    );
                }
                keying::encode_reply(&reply)
            });
    }

    /// tun/tap -> engine -> UDP, until the device is empty; one `sendmmsg` per batch.
    fn tun_ready(&mut self, now: Instant, i: usize) {
        let fd = self.udp.as_raw_fd();
        let Some(tun) = self.tuns.get_mut(i) else {
            return;
        };
        let mut eg = Egress {
            dp: &mut self.dp,
            tx: &mut self.batch,
            fd,
        };
        loop {
            let n = match tun.dev.recv(&mut self.rx) {
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            let (hdr, frame) = if tun.dev.vnet() {
                match VnetHdr::parse(&self.rx[..n]) {
                    Ok((h, _)) => (Some(h), &mut self.rx[offload::VNET_HDR_LEN..n]),
                    Err(_) => {
                        self.counters.offload_errors += 1;
                        continue;
                    }
                }
            } else {
                (None, &mut self.rx[..n])
            };
            let (vni, kind) = (tun.vni, tun.dev.kind());
            let Some(ptype) = tun.dev.protocol_type(frame) else {
                self.counters.not_ip += 1;
                continue;
            };
            // Every segment of a super-packet has the same destination: route once.
            let dst = match kind {
                Kind::Tun => routes::inner_dst(frame),
                Kind::Tap => routes::ethernet_dst(frame),
            };
            self.targets.clear();
            fill_targets(
                &mut self.targets,
                eg.dp.routes(),
                self.local,
                self.port,
                vni,
                dst,
            );
            if self.targets.is_empty() {
                self.counters.no_route += 1;
                continue;
            }
            let targets = &self.targets[..];
            match hdr {
                None => eg.send(now, vni, ptype, frame, targets),
                Some(h) => {
                    let r = offload::segment(&h, frame, &mut self.scratch, &mut |seg| {
                        eg.send(now, vni, ptype, seg, targets)
                    });
                    if r.is_err() {
                        self.counters.offload_errors += 1;
                    }
                }
            }
        }
        eg.tx.flush(fd);
        self.sync_tx_counters();
    }

    fn sync_tx_counters(&mut self) {
        self.counters.udp_send_errors = self.batch.errors;
    }

    /// UDP -> engine -> tun/tap, until the socket is empty: GRO trains split into datagrams,
    /// or `recvmmsg` batches; TCP segments coalesced per batch for tuns with offloads.
    fn udp_ready(&mut self, now: Instant) {
        let fd = self.udp.as_raw_fd();
        loop {
            if self.gro {
                let (n, seg) = match batch::recv_gro(fd, &mut self.rx, &mut self.gro_cmsg) {
                    Ok(r) => r,
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(nix::errno::Errno::EMSGSIZE) => continue,
                    Err(_) => break,
                };
                for d in self.rx[..n].chunks_mut(seg) {
                    deliver(&mut self.dp, &mut self.tuns, &mut self.counters, now, d);
                }
            } else {
                let n = match self.rx_batch.recv(fd) {
                    Ok(n) => n,
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(_) => break,
                };
                for k in 0..n {
                    let d = self.rx_batch.get_mut(k);
                    deliver(&mut self.dp, &mut self.tuns, &mut self.counters, now, d);
                }
            }
            flush_coalesced(&mut self.tuns, &mut self.counters);
        }
        flush_coalesced(&mut self.tuns, &mut self.counters);
    }

    /// Released held packets, dummies, then events.
    fn drain(&mut self, now: Instant) {
        while let Some(t) = self.dp.poll_transmit(now, &mut self.tx) {
            let to = match t.peer {
                Some(p) => Some(udp::target(self.local, p, self.port)),
                None => {
                    self.targets.clear();
                    fill_targets(
                        &mut self.targets,
                        self.dp.routes(),
                        self.local,
                        self.port,
                        t.vni,
                        t.inner_dst,
                    );
                    self.targets.first().copied()
                }
            };
            match to {
                Some(to) => {
                    let fd = self.udp.as_raw_fd();
                    self.batch.slot(fd)[..t.len].copy_from_slice(&self.tx[..t.len]);
                    self.batch.commit(t.len, to);
                }
                None => self.counters.no_route += 1,
            }
        }
        if !self.batch.is_empty() {
            self.batch.flush(self.udp.as_raw_fd());
            self.sync_tx_counters();
        }
        while let Some(ev) = self.dp.poll_event() {
            let line = keying::encode_event(&ev);
            if self.verbose {
                eprintln!("gsa-dp: event {line}");
            }
            self.keying.broadcast(self.poll.registry(), &line);
        }
    }
}

/// One received datagram: open it and hand the inner packet to its device (through the
/// device's coalescer if it has one).
fn deliver(
    dp: &mut Dataplane,
    tuns: &mut [Tun],
    counters: &mut IoCounters,
    now: Instant,
    datagram: &mut [u8],
) {
    let InVerdict::Deliver {
        vni,
        protocol_type,
        inner,
    } = dp.inbound(now, datagram)
    else {
        return;
    };
    let Some(t) = tuns
        .iter_mut()
        .find(|t| t.vni == vni && t.dev.carries(protocol_type))
    else {
        counters.no_device += 1;
        return;
    };
    let pkt = &datagram[inner];
    let Some(co) = t.co.as_mut() else {
        if t.dev.send(pkt).is_err() {
            counters.tun_write_errors += 1;
        }
        return;
    };
    let mut offer = co.offer(pkt);
    if offer == Offer::Flush {
        if let Some(sp) = co.take() {
            if t.dev.send(sp).is_err() {
                counters.tun_write_errors += 1;
            }
        }
        offer = co.offer(pkt);
    }
    if offer == Offer::Held {
        return;
    }
    // Not coalescable: what is held goes first, to keep the order.
    if let Some(sp) = co.take() {
        if t.dev.send(sp).is_err() {
            counters.tun_write_errors += 1;
        }
    }
    if t.dev.send_plain_vnet(pkt).is_err() {
        counters.tun_write_errors += 1;
    }
}

/// Write out every held super-packet (end of a receive batch).
fn flush_coalesced(tuns: &mut [Tun], counters: &mut IoCounters) {
    for t in tuns.iter_mut() {
        if let Some(sp) = t.co.as_mut().and_then(Coalescer::take) {
            if t.dev.send(sp).is_err() {
                counters.tun_write_errors += 1;
            }
        }
    }
}

/// Where a frame on `vni` goes: the longest-prefix route for `dst`, or, for frames without an
/// IP destination (ARP on a tap), every distinct remote of the VNI.
fn fill_targets(
    out: &mut Vec<SocketAddr>,
    table: &[Route],
    local: IpAddr,
    port: u16,
    vni: u32,
    dst: Option<IpAddr>,
) {
    let to = |r: &Route| udp::target(local, r.remote, r.port.unwrap_or(port));
    match dst.and_then(|d| routes::lookup(table, vni, d)) {
        Some(r) => out.push(to(r)),
        None if dst.is_none() => {
            for r in table.iter().filter(|r| r.vni == vni) {
                let a = to(r);
                if !out.contains(&a) {
                    out.push(a);
                }
            }
        }
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mtu_is_underlay_minus_real_overhead() {
        // 20 + 8 + 8 + 32 + 9 + 15 = 92 over IPv4; 112 over IPv6; tap adds 14.
        assert_eq!(derived_mtu(1500, false, Kind::Tun), 1408);
        assert_eq!(derived_mtu(1500, true, Kind::Tun), 1388);
        assert_eq!(derived_mtu(1500, true, Kind::Tap), 1374);
        assert_eq!(derived_mtu(50, true, Kind::Tun), 0);
    }

    #[test]
    fn targets_route_ip_and_flood_the_rest() {
        let r = |p: &str, remote: &str, vni| Route {
            prefix: p.parse().unwrap(),
            remote: remote.parse().unwrap(),
            vni,
            port: None,
        };
        let table = [
            r("172.16.0.2/32", "10.0.0.2", 100),
            r("172.16.0.3/32", "10.0.0.3", 100),
            r("172.16.0.4/32", "10.0.0.3", 100),
            r("172.16.0.2/32", "10.0.0.9", 200),
        ];
        let v4: IpAddr = "0.0.0.0".parse().unwrap();
        let mut out = Vec::new();
        fill_targets(
            &mut out,
            &table,
            v4,
            6081,
            100,
            Some("172.16.0.3".parse().unwrap()),
        );
        assert_eq!(out, ["10.0.0.3:6081".parse().unwrap()]);
        out.clear();
        fill_targets(&mut out, &table, v4, 6081, 100, None);
        assert_eq!(
            out,
            [
                "10.0.0.2:6081".parse().unwrap(),
                "10.0.0.3:6081".parse().unwrap()
            ]
        );
        out.clear();
        fill_targets(
            &mut out,
            &table,
            v4,
            6081,
            100,
            Some("172.16.9.9".parse().unwrap()),
        );
        assert!(out.is_empty());
    }
}
