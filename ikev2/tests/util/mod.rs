//! A deterministic simulated network for driving several engines (quinn-proto's `Pair`
//! idea): virtual time, latency, and fault injection (drop every Nth datagram, duplicate,
//! reorder). Nothing here reads a clock: time starts at one `Instant` and only moves by
//! arithmetic.
#![allow(dead_code)] // each test binary uses a different part

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use nvesec_ikev2::config::{ConnectionConfig, EngineConfig, GsaConfig, Identity};
use nvesec_ikev2::endpoint::{seeded_rng, Endpoint, Event, IkeSaId, Transmit};
use nvesec_ikev2::sa::IkeSa;
use nvesec_ikev2::wire::{Message, Payload, PayloadType};

/// Fault injection, applied to datagrams in the order they are sent.
#[derive(Debug, Clone, Copy, Default)]
pub struct Faults {
    /// Drop datagram number k (1-based) when k % n == 0.
    pub drop_every: Option<usize>,
    /// Deliver datagram k twice when k % n == 0.
    pub duplicate_every: Option<usize>,
    /// Delay datagram k by an extra `reorder_delay` when k % n == 0, so later ones overtake it.
    pub reorder_every: Option<usize>,
    pub reorder_delay: Duration,
    /// Drop each datagram with this probability (percent), from a seeded xorshift sequence.
    pub loss_percent: u8,
}

/// Edits datagram number k (1-based) in transit.
pub type Tamper = Box<dyn FnMut(usize, &mut Vec<u8>)>;

pub struct Node {
    pub name: &'static str,
    pub addr: SocketAddr,
    pub ep: Endpoint,
    pub events: Vec<Event>,
}

/// One datagram seen on the wire.
#[derive(Clone)]
pub struct Captured {
    pub from: usize,
    pub to: usize,
    pub at: Instant,
    pub bytes: Vec<u8>,
    pub delivered: bool,
}

pub struct Net {
    pub start: Instant,
    pub now: Instant,
    pub nodes: Vec<Node>,
    pub latency: Duration,
    pub faults: Faults,
    /// (deliver at, sequence for stable order, to, from, datagram)
    in_flight: Vec<(Instant, u64, usize, usize, Transmit)>,
    seq: u64,
    sent_count: usize,
    pub captured: Vec<Captured>,
    /// Called on every datagram (1-based send number, bytes) before faults; may edit it.
    pub tamper: Option<Tamper>,
    /// Nodes whose inbound datagrams are all lost (a dead peer).
    pub unreachable: Vec<usize>,
    /// State of the loss generator (splitmix64, fixed seed: runs are reproducible).
    pub loss_state: u64,
}

pub fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

impl Net {
    pub fn new() -> Self {
        let start = Instant::now();
        Self {
            start,
            now: start,
            nodes: Vec::new(),
            latency: Duration::from_millis(5),
            faults: Faults::default(),
            in_flight: Vec::new(),
            seq: 0,
            sent_count: 0,
            captured: Vec::new(),
            tamper: None,
            unreachable: Vec::new(),
            loss_state: 0x9e37_79b9_7f4a_7c15,
        }
    }

    fn lossy_draw(&mut self) -> bool {
        // splitmix64: well mixed from the first draw, whatever the seed.
        self.loss_state = self.loss_state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut x = self.loss_state;
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^= x >> 31;
        (x % 100) < u64::from(self.faults.loss_percent)
    }

    /// Adds an engine with a fixed RNG seed (deterministic SPIs, nonces, keys).
    pub fn add(&mut self, name: &'static str, a: &str, cfg: EngineConfig, seed: u8) -> usize {
        let ep = Endpoint::new(
            Arc::new(cfg),
            seeded_rng([seed; 32]),
            self.now,
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        );
        self.nodes.push(Node {
            name,
            addr: addr(a),
            ep,
            events: Vec::new(),
        });
        self.nodes.len() - 1
    }

    fn node_by_addr(&self, a: SocketAddr) -> Option<usize> {
        self.nodes.iter().position(|n| n.addr == a)
    }

    /// Moves every queued datagram onto the wire (with faults) and every event into the log.
    pub fn pump(&mut self) {
        for i in 0..self.nodes.len() {
            while let Some(mut t) = self.nodes[i].ep.poll_transmit() {
                self.sent_count += 1;
                let k = self.sent_count;
                if let Some(f) = self.tamper.as_mut() {
                    f(k, &mut t.bytes);
                }
                let to = self.node_by_addr(t.dst);
                let f = self.faults;
                let random_loss = f.loss_percent > 0 && self.lossy_draw();
                let dropped = f.drop_every.is_some_and(|n| k.is_multiple_of(n))
                    || random_loss
                    || to.is_some_and(|n| self.unreachable.contains(&n));
                self.captured.push(Captured {
                    from: i,
                    to: to.unwrap_or(usize::MAX),
                    at: self.now,
                    bytes: t.bytes.clone(),
                    delivered: !dropped && to.is_some(),
                });
                let Some(to) = to else { continue };
                if dropped {
                    continue;
                }
                let mut at = self.now + self.latency;
                if f.reorder_every.is_some_and(|n| k.is_multiple_of(n)) {
                    at += f.reorder_delay;
                }
                let copies = if f.duplicate_every.is_some_and(|n| k.is_multiple_of(n)) {
                    2
                } else {
                    1
                };
                for _ in 0..copies {
                    self.seq += 1;
                    self.in_flight.push((at, self.seq, to, i, t.clone()));
                }
            }
            while let Some(e) = self.nodes[i].ep.poll_event() {
                self.nodes[i].events.push(e);
            }
        }
    }

    fn next_wakeup(&self) -> Option<Instant> {
        let d = self.in_flight.iter().map(|f| f.0).min();
        let t = self.nodes.iter().filter_map(|n| n.ep.poll_timeout()).min();
        match (d, t) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Advances to the next delivery or timer and runs it. False when idle.
    pub fn step(&mut self) -> bool {
        self.pump();
        let Some(at) = self.next_wakeup() else {
            return false;
        };
        self.now = self.now.max(at);
        // Deliver everything due, in (time, sequence) order.
        self.in_flight.sort_by_key(|f| (f.0, f.1));
        while self.in_flight.first().is_some_and(|f| f.0 <= self.now) {
            let (_, _, to, _, t) = self.in_flight.remove(0);
            let now = self.now;
            self.nodes[to]
                .ep
                .handle_datagram(now, t.dst, t.src, &t.bytes);
            self.pump();
        }
        for i in 0..self.nodes.len() {
            if self.nodes[i]
                .ep
                .poll_timeout()
                .is_some_and(|t| t <= self.now)
            {
                let now = self.now;
                self.nodes[i].ep.handle_timeout(now);
            }
        }
        self.pump();
        true
    }

    /// Runs until nothing is in flight and no timer is due within `horizon`, or `max` steps.
    /// Returns the number of steps taken.
    pub fn drive_for(&mut self, horizon: Duration, max: usize) -> usize {
        let end = self.now + horizon;
        for n in 0..max {
            self.pump();
            match self.next_wakeup() {
                Some(t) if t <= end => {
                    self.step();
                }
                _ => return n,
            }
        }
        panic!("livelock: still busy after {max} steps");
    }

    /// Runs until `pred` holds (checked after each step) or `max` steps.
    pub fn drive_until(&mut self, max: usize, mut pred: impl FnMut(&Net) -> bool) -> bool {
        for _ in 0..max {
            self.pump();
            if pred(self) {
                return true;
            }
            if !self.step() {
                self.pump();
                return pred(self);
            }
        }
        pred(self)
    }

    /// Advances time with no network activity beyond what timers cause.
    pub fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        while let Some(t) = self.next_wakeup() {
            if t > end {
                break;
            }
            self.step();
        }
        self.now = end;
        for i in 0..self.nodes.len() {
            let now = self.now;
            self.nodes[i].ep.handle_timeout(now);
        }
        self.pump();
    }

    pub fn sa(&self, node: usize) -> &IkeSa {
        let ids = self.nodes[node].ep.ike_sas();
        assert_eq!(
            ids.len(),
            1,
            "{} has {} IKE SAs",
            self.nodes[node].name,
            ids.len()
        );
        self.nodes[node].ep.ike_sa(ids[0]).unwrap()
    }

    pub fn sa_id(&self, node: usize) -> IkeSaId {
        self.sa(node).id()
    }

    pub fn count_up(&self, node: usize) -> usize {
        self.nodes[node]
            .events
            .iter()
            .filter(|e| matches!(e, Event::IkeSaUp { .. }))
            .count()
    }
}

/// Payload types of a message, decrypting SK with `reader` (the receiving SA) if given.
pub fn payload_types(bytes: &[u8], reader: Option<&IkeSa>) -> Vec<PayloadType> {
    let msg = Message::parse(bytes).expect("parse");
    let mut out = Vec::new();
    for p in &msg.payloads {
        if let (Payload::Sk(_), Some(sa)) = (p, reader) {
            out.push(PayloadType::SK);
            for inner in sa.decrypt_from_peer(bytes).expect("decrypt") {
                out.push(inner.payload_type());
            }
        } else {
            out.push(p.payload_type());
        }
    }
    out
}

/// Names of the events, for sequence assertions.
pub fn event_kinds(events: &[Event]) -> Vec<&'static str> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::IkeSaUp { .. } => Some("IkeSaUp"),
            Event::IkeSaDown { .. } => Some("IkeSaDown"),
            Event::IkeSaRekeyed { .. } => Some("IkeSaRekeyed"),
            Event::GsaInstall { .. } => Some("GsaInstall"),
            Event::GsaSwitchOutbound { .. } => Some("GsaSwitchOutbound"),
            Event::GsaRemove { .. } => Some("GsaRemove"),
            Event::GsaRefused { .. } => Some("GsaRefused"),
            Event::AuthFailed { .. } => Some("AuthFailed"),
            Event::Log(_) => None,
            _ => Some("other"),
        })
        .collect()
}

pub const A_ADDR: &str = "192.0.2.1:500";
pub const B_ADDR: &str = "192.0.2.2:500";

/// A PSK connection from `local` to `remote` (by FQDN) with one GEO GSA over `vnis`.
pub fn psk_conn(
    name: &str,
    local: &str,
    remote: &str,
    remote_addr: &str,
    psk: &[u8],
    vnis: Option<(u32, u32)>,
) -> ConnectionConfig {
    let mut c = ConnectionConfig::psk(
        name,
        Identity::Fqdn(local.into()),
        Identity::Fqdn(remote.into()),
        psk,
    );
    c.remote_addrs = vec![addr(remote_addr).ip()];
    if let Some((a, b)) = vnis {
        c.children.push(GsaConfig::geo_vnis("geneve", a, b));
    }
    c
}

/// Two engines, `a` (A_ADDR, connection `to-b`) and `b`, with a PSK connection and one GEO
/// GSA on VNIs 1-100; `a` initiates: the IKE SA and its GSA are up.
pub fn established_psk_pair(seed_a: u8, seed_b: u8) -> Net {
    let ac = psk_conn("to-b", "a.nve", "b.nve", B_ADDR, b"k", Some((1, 100)));
    let bc = psk_conn("to-a", "b.nve", "a.nve", A_ADDR, b"k", Some((1, 100)));
    let mut net = Net::new();
    net.add("a", A_ADDR, engine(vec![ac]), seed_a);
    net.add("b", B_ADDR, engine(vec![bc]), seed_b);
    let now = net.now;
    net.nodes[0]
        .ep
        .initiate(now, "to-b", addr(A_ADDR), None)
        .unwrap();
    net.drive_for(Duration::from_secs(1), 100);
    assert_eq!(net.sa(0).state(), nvesec_ikev2::sa::SaState::Established);
    assert_eq!(net.sa(0).gsas().len(), 1);
    net
}

pub fn engine(conns: Vec<ConnectionConfig>) -> EngineConfig {
    EngineConfig {
        connections: conns.into_iter().map(Arc::new).collect(),
        ..Default::default()
    }
}
