//! The `gsa-dp` event loops (mio): tun/tap devices, the Geneve UDP socket and the keying socket
//! feed the sans-IO [`Dataplane`]; its `next_deadline` is the poll timeout.
//! Like boringtun's device loop, per-packet errors are counted and dropped, never fatal.
//!
//! Worker 0 (the caller's thread) also serves the keying socket, timers and events. With
//! `workers > 1` every tun is opened multi-queue (IFF_MULTI_QUEUE: the kernel hands each flow to
//! one queue, so per-flow order holds), every worker has its own queue of every tun and its own
//! SO_REUSEPORT socket on the Geneve port, and workers 1.. send from their own source port
//! (RFC 8926 §3.3 asks for source-port entropy) so that the peer's SO_REUSEPORT spreads them.
//! The [`Dataplane`] is shared behind a mutex, never held across a tun read or a socket
//! receive, nor while the AEAD runs: taken once per super-packet read from a tun, whose
//! segments are then sealed with the lock released ([`Prepared`]), and twice per received
//! train, before and after it is opened ([`InboundStart`]).

use super::batch::{self, RxBatch, TxBatch};
use super::keying_server::KeyingServer;
use super::local_socket::Access;
use super::routes;
use super::tun::{Device, Kind, TunError};
use super::udp;
use crate::keying::{self, Reply, Route};
use crate::offload::{self, Coalescer, Offer, VnetHdr};
use crate::wire::inner;
use crate::{
    Dataplane, DataplaneConfig, InVerdict, InboundOpened, InboundStart, OutVerdict, Prepared,
};
use mio::unix::SourceFd;
use mio::Waker;
use mio::{Events, Interest, Poll, Token};
use std::io::{self, ErrorKind};
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::os::fd::{AsRawFd, RawFd};
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

const UDP: Token = Token(0);
const KEYING: Token = Token(1);
const WAKE: Token = Token(2);
/// Most workers: beyond the cores of any machine gsa-dp is meant for.
pub const MAX_WORKERS: usize = 16;
const TUN_BASE: usize = 16;
const CLIENT_BASE: usize = 1 << 16;
/// Largest frame we read: a tun never hands out more than 64 KiB (plus its virtio_net_hdr).
const BUF: usize = 65536 + 512;
/// GRO trains the receive buffer holds before coalesced payloads must be written out.
const RX_WINDOWS: usize = 4;

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
    /// Who may use the keying socket (root by default; `--keying-group`).
    pub keying_access: Access,
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
    /// Data workers (threads), each with its own tun queues and socket; 1 = single-queue tuns.
    pub workers: usize,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            socket: super::keying_server::DEFAULT_PATH.into(),
            keying_access: Access::root_only(),
            listen: IpAddr::from([0u16; 8]),
            port: udp::GENEVE_PORT,
            tuns: Vec::new(),
            routes: Vec::new(),
            underlay_mtu: 1500,
            dataplane: DataplaneConfig::default(),
            verbose: false,
            offload: true,
            workers: 1,
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
    #[error("workers must be 1..={MAX_WORKERS}, not {0}")]
    Workers(usize),
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

/// Where outbound packets go: the engine, then the send batch. Split from [`Worker`] so the
/// segmentation callback can borrow it while the receive buffer is borrowed too.
struct Egress<'a> {
    dp: &'a mut Dataplane,
    tx: &'a mut TxBatch,
    fd: RawFd,
}

impl Egress<'_> {
    /// Seal the frame `head || body` for every target; the sealed packets land directly in
    /// the send batch. Each target is the remote NVE whose GSA seals the packet (a full mesh
    /// has one per peer), so a target still waiting for its GSA does not hold back the others.
    fn send(
        &mut self,
        now: Instant,
        vni: u32,
        ptype: u16,
        frame: (&[u8], &[u8]),
        to: &[SocketAddr],
    ) {
        let (head, body) = frame;
        for &to in to {
            let slot = self.tx.slot(self.fd);
            match self
                .dp
                .outbound_to_parts(now, Some(to.ip()), vni, ptype, head, body, slot)
            {
                OutVerdict::Send { len } => self.tx.commit(len, to),
                OutVerdict::Queued => {}
                OutVerdict::Drop(_) => break,
            }
        }
    }
}

/// The engine's decision for the segments of super-packet `frame` to `to`, if it takes one
/// (see [`Dataplane::prepare_segments`]).
fn prepare(
    dp: &mut Dataplane,
    now: Instant,
    h: &VnetHdr,
    frame: &[u8],
    to: SocketAddr,
    (vni, ptype): (u32, u16),
) -> Option<Prepared> {
    // `None` for a single packet too: nothing to share between segments.
    let (n, bytes, headers_len) = offload::segment_count(h, frame)?;
    let info = inner::parse(ptype, frame);
    // The engine's selectors and coverage must see the headers the segments will have.
    (info.headers_len == Some(headers_len)).then_some(())?;
    dp.prepare_segments(now, Some(to.ip()), vni, ptype, info, n, bytes)
}

/// Where the segments of a prepared super-packet go: sealed into the send batch without the
/// engine, except one the preparation did not cover, which takes the lock.
struct Unlocked<'a> {
    dp: &'a Mutex<Dataplane>,
    tx: &'a mut TxBatch,
    aad: &'a mut Vec<u8>,
    fd: RawFd,
}

impl Unlocked<'_> {
    /// Segment and send `frame`; true if it could not be segmented.
    #[allow(clippy::too_many_arguments)]
    fn send(
        self,
        now: Instant,
        (vni, ptype): (u32, u16),
        mut p: Prepared,
        h: &VnetHdr,
        frame: &mut [u8],
        scratch: &mut [u8],
        to: SocketAddr,
    ) -> bool {
        let Unlocked { dp, tx, aad, fd } = self;
        let r = offload::segment(h, frame, scratch, &mut |head, body| {
            let slot = tx.slot(fd);
            match p.emit(head, body, slot, aad) {
                Some(len) => tx.commit(len, to),
                None => Egress {
                    dp: &mut lock(dp),
                    tx,
                    fd,
                }
                .send(now, vni, ptype, (head, body), &[to]),
            }
        });
        r.is_err()
    }
}

/// A packet opened by the engine, waiting (after the lock is released) for its tun write:
/// device index, the inner packet's range in the receive buffer, whether it was authenticated.
type Delivery = (usize, Range<usize>, bool);

/// The engine lock. A worker that panicked holding it may have left the engine half-updated (a
/// GSA half-replaced, counters behind its SNs): nothing goes on with it. The release build
/// aborts on panic (`panic = "abort"`) and [`Daemon::run`] makes any panic abort, so a poisoned
/// lock is only a last line: stop the whole process, never continue.
fn lock(dp: &Mutex<Dataplane>) -> MutexGuard<'_, Dataplane> {
    match dp.lock() {
        Ok(g) => g,
        Err(_) => poisoned(),
    }
}

#[cold]
fn poisoned() -> ! {
    eprintln!("gsa-dp: a worker panicked holding the engine lock; aborting");
    std::process::abort()
}

/// Make every panic abort the process (after the default hook has printed it), whatever the
/// build profile: a worker thread that dies would otherwise leave its tun queues unread while
/// the others go on. Sequence numbers do not depend on it: every sealing path takes its SN
/// under the engine lock before the AEAD runs, so no unwinding can lead to an SN used twice.
pub fn abort_on_panic() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            default(info);
            eprintln!("gsa-dp: panic: aborting");
            std::process::abort();
        }));
    });
}

/// One data worker: its queue of every tun, its socket(s), its buffers.
struct Worker {
    poll: Poll,
    /// Receives on the Geneve port (and sends, for worker 0).
    udp: mio::net::UdpSocket,
    /// Workers 1..: their own source port for sending.
    send: Option<std::net::UdpSocket>,
    local: IpAddr,
    port: u16,
    tuns: Vec<Tun>,
    rx: Vec<u8>,
    scratch: Vec<u8>,
    /// AAD scratch for what is sealed or opened outside the engine lock.
    aad: Vec<u8>,
    /// The datagrams of the batch being opened, what they deliver, the scratch to open them.
    opening: Opening,
    batch: TxBatch,
    rx_batch: RxBatch,
    gro: bool,
    gro_cmsg: Vec<u8>,
    targets: Vec<SocketAddr>,
    counters: IoCounters,
}

/// What a worker opens at start-up (devices, sockets), sendable to its thread; the buffers
/// (whose nix batch headers hold raw pointers) are made there, by [`Worker::new`].
struct WorkerSetup {
    poll: Poll,
    udp: mio::net::UdpSocket,
    send: Option<std::net::UdpSocket>,
    local: IpAddr,
    port: u16,
    tuns: Vec<Tun>,
    offloads: batch::Offloads,
}

impl Worker {
    fn new(s: WorkerSetup) -> Self {
        Worker {
            poll: s.poll,
            udp: s.udp,
            send: s.send,
            local: s.local,
            port: s.port,
            tuns: s.tuns,
            rx: vec![0; BUF * RX_WINDOWS],
            scratch: vec![0; offload::SEGMENT_SCRATCH],
            aad: Vec::with_capacity(512),
            opening: Opening::default(),
            batch: TxBatch::new(s.offloads.gso),
            rx_batch: RxBatch::new(),
            gro: s.offloads.gro,
            gro_cmsg: batch::gro_cmsg_space(),
            targets: Vec::with_capacity(16),
            counters: IoCounters::default(),
        }
    }
}

impl WorkerSetup {
    fn open(cfg: &DaemonConfig, id: usize) -> Result<Self, DaemonError> {
        let poll = Poll::new().map_err(DaemonError::Poll)?;
        let addr = SocketAddr::new(cfg.listen, cfg.port);
        let multi = cfg.workers > 1;
        let mut sock = if multi {
            udp::bind_reuseport(cfg.listen, cfg.port)
        } else {
            udp::bind(cfg.listen, cfg.port)
        }
        .map_err(|e| DaemonError::Udp(addr, e))?;
        let mut offloads = batch::configure(&sock, cfg.offload);
        let send = if id > 0 {
            let any = SocketAddr::new(cfg.listen, 0);
            let s = std::net::UdpSocket::bind(any).map_err(|e| DaemonError::Udp(any, e))?;
            s.set_nonblocking(true)
                .map_err(|e| DaemonError::Udp(any, e))?;
            offloads.gso = batch::configure(&s, cfg.offload).gso;
            Some(s)
        } else {
            None
        };
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
            let dev = Device::open_queue(&t.name, t.kind, mtu, cfg.offload, multi)
                .map_err(|e| DaemonError::Tun(t.name.clone(), e))?;
            poll.registry()
                .register(
                    &mut SourceFd(&dev.as_raw_fd()),
                    Token(TUN_BASE + i),
                    Interest::READABLE,
                )
                .map_err(DaemonError::Poll)?;
            if cfg.verbose && id == 0 {
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
        if cfg.verbose && id == 0 {
            eprintln!(
                "gsa-dp: offloads: tun {}, UDP GSO {}, UDP GRO {}; workers {}",
                cfg.offload, offloads.gso, offloads.gro, cfg.workers
            );
        }
        Ok(WorkerSetup {
            poll,
            udp: sock,
            send,
            local: cfg.listen,
            port: cfg.port,
            tuns,
            offloads,
        })
    }
}

impl Worker {
    fn send_fd(&self) -> RawFd {
        match &self.send {
            Some(s) => s.as_raw_fd(),
            None => self.udp.as_raw_fd(),
        }
    }

    /// Workers 1..: data only, until a poll error. Events the engine raised while this worker
    /// held it go to worker 0 through `events`.
    fn run_data(
        mut self,
        dp: &Mutex<Dataplane>,
        events: &Sender<crate::Event>,
        waker: &Waker,
    ) -> Result<(), DaemonError> {
        let mut evs = Events::with_capacity(64);
        loop {
            match self.poll.poll(&mut evs, None) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(DaemonError::Poll(e)),
            }
            let now = Instant::now();
            for ev in evs.iter() {
                match ev.token() {
                    UDP => self.udp_ready(dp, now),
                    Token(t) if t >= TUN_BASE => self.tun_ready(dp, now, t - TUN_BASE),
                    _ => {}
                }
            }
            let mut any = false;
            {
                let mut g = lock(dp);
                while let Some(e) = g.poll_event() {
                    any |= events.send(e).is_ok();
                }
            }
            if any {
                let _ = waker.wake();
            }
        }
    }

    /// tun/tap -> engine -> UDP, until the device is empty; one `sendmmsg` per batch.
    fn tun_ready(&mut self, dp: &Mutex<Dataplane>, now: Instant, i: usize) {
        let fd = self.send_fd();
        let Some(tun) = self.tuns.get_mut(i) else {
            return;
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
            let mut guard = lock(dp);
            self.targets.clear();
            fill_targets(
                &mut self.targets,
                guard.routes(),
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
            // A super-packet to one NVE: one engine decision for all its segments, which are
            // then sealed with the lock released, so other workers go on meanwhile.
            if let (Some(h), &[to]) = (hdr, targets) {
                if let Some(p) = prepare(&mut guard, now, &h, frame, to, (vni, ptype)) {
                    drop(guard);
                    let out = Unlocked {
                        dp,
                        tx: &mut self.batch,
                        aad: &mut self.aad,
                        fd,
                    };
                    if out.send(now, (vni, ptype), p, &h, frame, &mut self.scratch, to) {
                        self.counters.offload_errors += 1;
                    }
                    continue;
                }
            }
            let mut eg = Egress {
                dp: &mut guard,
                tx: &mut self.batch,
                fd,
            };
            match hdr {
                None => eg.send(now, vni, ptype, (frame, &[]), targets),
                Some(h) => {
                    let r = offload::segment(&h, frame, &mut self.scratch, &mut |head, body| {
                        eg.send(now, vni, ptype, (head, body), targets)
                    });
                    if r.is_err() {
                        self.counters.offload_errors += 1;
                    }
                }
            }
        }
        self.batch.flush(fd);
        self.counters.udp_send_errors = self.batch.errors;
    }

    /// UDP -> engine -> tun/tap, until the socket is empty: GRO trains split into datagrams,
    /// or `recvmmsg` batches; the engine opens a whole batch under one lock, then the packets
    /// go to the tuns (coalesced where the tun takes offloads).
    fn udp_ready(&mut self, dp: &Mutex<Dataplane>, now: Instant) {
        let fd = self.udp.as_raw_fd();
        // GRO trains land in successive windows of the receive buffer, so a super-packet can
        // be coalesced across trains (a 64 KiB TCP super-packet leaves as a train of 45
        // segments and one of 4); held payloads are written out before a window is reused.
        let mut window = 0;
        loop {
            self.opening.out.clear();
            if self.gro {
                if window == RX_WINDOWS {
                    flush_coalesced(&mut self.tuns, &mut self.counters, &self.rx);
                    window = 0;
                }
                let w = window * BUF;
                let got = batch::recv_gro(fd, &mut self.rx[w..w + BUF], &mut self.gro_cmsg);
                let (n, seg) = match got {
                    Ok(r) => r,
                    Err(nix::errno::Errno::EINTR) | Err(nix::errno::Errno::EMSGSIZE) => continue,
                    Err(_) => break,
                };
                window += 1;
                // A train is datagrams of `seg` bytes (the last may be shorter). An empty
                // datagram is malformed Geneve: the engine counts it.
                let step = seg.max(1);
                self.opening.ranges.clear();
                self.opening.ranges.extend(
                    (0..n.max(1))
                        .step_by(step)
                        .map(|k| w + k..w + n.min(k + step)),
                );
                let (tuns, counters) = (&self.tuns[..], &mut self.counters);
                let (rx, aad) = (&mut self.rx, &mut self.aad);
                self.opening.open_all(dp, tuns, counters, now, rx, aad);
                for (t, r, auth) in self.opening.out.drain(..) {
                    deliver(&mut self.tuns[t], &mut self.counters, &self.rx, r, auth);
                }
            } else {
                let n = match self.rx_batch.recv(fd) {
                    Ok(n) => n,
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(_) => break,
                };
                self.opening.ranges.clear();
                let rx = &mut self.rx_batch;
                self.opening.ranges.extend((0..n).map(|k| rx.range(k)));
                let (tuns, counters) = (&self.tuns[..], &mut self.counters);
                let (buf, aad) = (rx.bytes_mut(), &mut self.aad);
                self.opening.open_all(dp, tuns, counters, now, buf, aad);
                let src = self.rx_batch.bytes();
                for (t, r, auth) in self.opening.out.drain(..) {
                    deliver(&mut self.tuns[t], &mut self.counters, src, r, auth);
                }
                // Coalesced payloads point into this batch's buffer: out before it is reused.
                flush_coalesced(&mut self.tuns, &mut self.counters, src);
            }
        }
        flush_coalesced(&mut self.tuns, &mut self.counters, &self.rx);
    }
}

/// The running daemon: worker 0 plus the keying socket, timers and events; more workers in
/// their own threads once [`Daemon::run`] starts.
pub struct Daemon {
    dp: Arc<Mutex<Dataplane>>,
    w0: Worker,
    others: Vec<WorkerSetup>,
    keying: KeyingServer,
    tx: Vec<u8>,
    events_tx: Sender<crate::Event>,
    events_rx: Receiver<crate::Event>,
    waker: Arc<Waker>,
    verbose: bool,
}

impl Daemon {
    /// Open every device and socket; nothing runs until [`Daemon::run`].
    pub fn new(cfg: DaemonConfig) -> Result<Self, DaemonError> {
        if !(1..=MAX_WORKERS).contains(&cfg.workers) {
            return Err(DaemonError::Workers(cfg.workers));
        }
        let w0 = Worker::new(WorkerSetup::open(&cfg, 0)?);
        let others = (1..cfg.workers)
            .map(|id| WorkerSetup::open(&cfg, id))
            .collect::<Result<Vec<_>, _>>()?;
        let keying = KeyingServer::bind(
            &cfg.socket,
            cfg.keying_access.clone(),
            w0.poll.registry(),
            KEYING,
            CLIENT_BASE,
        )
        .map_err(|e| DaemonError::Keying(cfg.socket.clone(), e))?;
        let waker = Arc::new(Waker::new(w0.poll.registry(), WAKE).map_err(DaemonError::Poll)?);
        let mut dp = Dataplane::new(cfg.dataplane);
        dp.set_routes(cfg.routes.clone());
        let (events_tx, events_rx) = mpsc::channel();
        Ok(Daemon {
            dp: Arc::new(Mutex::new(dp)),
            w0,
            others,
            keying,
            tx: vec![0; BUF],
            events_tx,
            events_rx,
            waker,
            verbose: cfg.verbose,
        })
    }

    /// The bound UDP address (useful with port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.w0.udp.local_addr()
    }

    /// Worker 0's I/O counters.
    pub fn counters(&self) -> IoCounters {
        self.w0.counters
    }

    /// Run until an unrecoverable poll error (in any worker). A panic in any thread aborts the
    /// process ([`abort_on_panic`]).
    pub fn run(&mut self) -> Result<(), DaemonError> {
        abort_on_panic();
        for w in self.others.drain(..) {
            let (dp, ev, wk) = (self.dp.clone(), self.events_tx.clone(), self.waker.clone());
            std::thread::spawn(move || {
                if let Err(e) = Worker::new(w).run_data(&dp, &ev, &wk) {
                    eprintln!("gsa-dp: worker: {e}");
                    std::process::exit(1);
                }
            });
        }
        let mut events = Events::with_capacity(256);
        loop {
            let timeout = lock(&self.dp)
                .next_deadline()
                .map(|d| d.saturating_duration_since(Instant::now()));
            match self.w0.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(DaemonError::Poll(e)),
            }
            let now = Instant::now();
            for ev in events.iter() {
                match ev.token() {
                    UDP => self.w0.udp_ready(&self.dp, now),
                    WAKE => {}
                    KEYING => {
                        if let Err(e) = self.keying.accept(self.w0.poll.registry()) {
                            eprintln!("gsa-dp: keying accept: {e}");
                        }
                        for r in self.keying.take_refused() {
                            eprintln!(
                                "gsa-dp: keying socket: {r} ({} refused in all)",
                                self.keying.refused_total()
                            );
                        }
                    }
                    Token(t) if (TUN_BASE..CLIENT_BASE).contains(&t) => {
                        self.w0.tun_ready(&self.dp, now, t - TUN_BASE)
                    }
                    t => self.keying_ready(now, t),
                }
            }
            {
                let mut g = lock(&self.dp);
                if g.next_deadline().is_some_and(|d| d <= now) {
                    g.handle_timeout(now);
                }
            }
            self.drain(now);
        }
    }

    fn keying_ready(&mut self, now: Instant, t: Token) {
        let mut dp = lock(&self.dp);
        let verbose = self.verbose;
        self.keying
            .client_ready(self.w0.poll.registry(), t, &mut |line| {
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

    /// Released held packets, dummies, then events (this worker's and the others').
    fn drain(&mut self, now: Instant) {
        let w = &mut self.w0;
        let fd = w.udp.as_raw_fd();
        let mut dp = lock(&self.dp);
        while let Some(t) = dp.poll_transmit(now, &mut self.tx) {
            let to = match t.peer {
                Some(p) => Some(udp::target(w.local, p, w.port)),
                None => {
                    w.targets.clear();
                    fill_targets(
                        &mut w.targets,
                        dp.routes(),
                        w.local,
                        w.port,
                        t.vni,
                        t.inner_dst,
                    );
                    w.targets.first().copied()
                }
            };
            match to {
                Some(to) => {
                    w.batch.slot(fd)[..t.len].copy_from_slice(&self.tx[..t.len]);
                    w.batch.commit(t.len, to);
                }
                None => w.counters.no_route += 1,
            }
        }
        let mut pending: Vec<crate::Event> = Vec::new();
        while let Some(ev) = dp.poll_event() {
            pending.push(ev);
        }
        drop(dp);
        if !w.batch.is_empty() {
            w.batch.flush(fd);
            w.counters.udp_send_errors = w.batch.errors;
        }
        pending.extend(self.events_rx.try_iter());
        for ev in pending {
            let line = keying::encode_event(&ev);
            if self.verbose {
                eprintln!("gsa-dp: event {line}");
            }
            self.keying.broadcast(self.w0.poll.registry(), &line);
        }
    }
}

/// Open one received datagram (at `base` in the receive buffer) and note where its inner packet
/// goes.
/// A worker's received batch being opened: its datagrams, what they deliver, and scratch, all
/// reused so a batch allocates nothing.
#[derive(Debug, Default)]
struct Opening {
    /// Where each datagram of the batch lies in the receive buffer.
    ranges: Vec<Range<usize>>,
    started: Vec<Option<InboundStart>>,
    opened: Vec<Option<InboundOpened>>,
    /// What to deliver: device, the inner packet in the receive buffer, authenticated.
    out: Vec<Delivery>,
}

impl Opening {
    /// Open the datagrams `self.ranges` of `buf` in place and queue what is to be delivered:
    /// lookups and replay pre-checks for the whole batch under one engine lock, the AEAD with
    /// the lock released (other workers go on meanwhile), then the window updates, policy
    /// checks and counters under a second lock. `aad` is scratch.
    fn open_all(
        &mut self,
        dp: &Mutex<Dataplane>,
        tuns: &[Tun],
        counters: &mut IoCounters,
        now: Instant,
        buf: &mut [u8],
        aad: &mut Vec<u8>,
    ) {
        let mut g = lock(dp);
        let begun = self
            .ranges
            .iter()
            .map(|r| g.inbound_begin(&mut buf[r.clone()]).ok());
        self.started.extend(begun);
        drop(g);
        for (r, s) in self.ranges.iter().zip(self.started.drain(..)) {
            self.opened
                .push(s.map(|s| s.open(&mut buf[r.clone()], aad)));
        }
        let mut g = lock(dp);
        for (r, opened) in self.ranges.iter().zip(self.opened.drain(..)) {
            // `None`: dropped by `inbound_begin`, which counted it.
            let Some(opened) = opened else { continue };
            let InVerdict::Deliver {
                vni,
                protocol_type,
                inner,
                authenticated,
            } = g.inbound_finish(now, &mut buf[r.clone()], opened)
            else {
                continue;
            };
            match tuns
                .iter()
                .position(|t| t.vni == vni && t.dev.carries(protocol_type))
            {
                Some(t) => {
                    let at = r.start + inner.start..r.start + inner.end;
                    self.out.push((t, at, authenticated));
                }
                None => counters.no_device += 1,
            }
        }
    }
}

/// Hand the inner packet `src[pkt]` to its device (through the device's coalescer if it has
/// one; what it holds points into `src`, see [`flush_coalesced`]).
fn deliver(t: &mut Tun, counters: &mut IoCounters, src: &[u8], pkt: Range<usize>, auth: bool) {
    let Some(co) = t.co.as_mut() else {
        if t.dev.send(&src[pkt]).is_err() {
            counters.tun_write_errors += 1;
        }
        return;
    };
    let mut offer = co.offer(src, pkt.clone(), auth);
    if offer == Offer::Flush {
        write_held(&mut t.dev, co, counters, src);
        offer = co.offer(src, pkt.clone(), auth);
    }
    if offer == Offer::Held {
        return;
    }
    // Not coalescable: what is held goes first, to keep the order.
    write_held(&mut t.dev, co, counters, src);
    if t.dev.send_plain_vnet(&src[pkt]).is_err() {
        counters.tun_write_errors += 1;
    }
}

/// Write out what `co` holds (payloads in `src`), if anything.
fn write_held(dev: &mut Device, co: &mut Coalescer, counters: &mut IoCounters, src: &[u8]) {
    let was_held = !co.is_empty();
    let written = co.take(src).map(|iov| dev.send_vectored(iov.as_slices()));
    match written {
        Some(Ok(_)) => {}
        Some(Err(_)) => counters.tun_write_errors += 1,
        None if was_held => counters.offload_errors += 1,
        None => {}
    }
}

/// Write out every held super-packet. Must run before the receive buffer `src` the held
/// payloads point into is reused (end of every receive batch).
fn flush_coalesced(tuns: &mut [Tun], counters: &mut IoCounters, src: &[u8]) {
    for t in tuns.iter_mut() {
        if let Some(co) = t.co.as_mut() {
            write_held(&mut t.dev, co, counters, src);
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

    /// Issue 14: a poisoned engine lock stops the process instead of being used. The test
    /// re-runs itself in a child that poisons the lock and takes it again.
    #[test]
    fn poisoned_lock_aborts() {
        const CHILD: &str = "GSA_DP_TEST_POISON_CHILD";
        if std::env::var_os(CHILD).is_some() {
            let dp = Arc::new(Mutex::new(Dataplane::new(DataplaneConfig::default())));
            let d = dp.clone();
            let _ = std::thread::spawn(move || {
                let _g = d.lock().unwrap();
                panic!("worker dies holding the lock");
            })
            .join();
            assert!(dp.is_poisoned());
            drop(lock(&dp));
            // Not reached.
            std::process::exit(0);
        }
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "io::daemon::tests::poisoned_lock_aborts",
                "--nocapture",
            ])
            .env(CHILD, "1")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(out.status.signal(), Some(6), "SIGABRT; stderr: {stderr}");
        assert!(
            stderr.contains("panicked holding the engine lock"),
            "{stderr}"
        );
    }

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
