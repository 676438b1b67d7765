//! The sans-IO dataplane engine: GSP DB + GSA DB + seal/open + anti-replay + lifetimes.
//!
//! The caller owns sockets, tun devices and the clock. Per packet it calls
//! [`Dataplane::outbound`] (tun -> Geneve) or [`Dataplane::inbound`] (Geneve -> tun). Then, in
//! this order: [`Dataplane::poll_transmit`] until `None` (released held packets and dummies),
//! [`Dataplane::poll_event`] until `None` (ACQUIRE/EXPIRE for the keying socket), and
//! [`Dataplane::next_deadline`] to arm its timer, calling [`Dataplane::handle_timeout`] when it
//! fires.

use crate::acquire::{Held, HoldConfig, HoldQueue};
use crate::aead::Backend;
use crate::counters::{DropReason, Stats};
use crate::gsa::{
    Gsa, GsaConfig, GsaCrypto, GsaDb, GsaError, GsaKey, GsaUpdate, OptionCoverage, PayloadCoverage,
};
use crate::gsp::{Action, Direction, Gsp, GspError, PacketFields, Policy, Template};
use crate::lifetime::{ExpireKind, Usage};
use crate::limits;
use crate::seal::{self, Payload, Src, Work};
use crate::wire::geneve::{self, OptionIter, HEADER_LEN, MAX_OPT_LEN};
use crate::wire::gso::{self, GsoKind};
use crate::wire::inner::{self, InnerInfo};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::net::IpAddr;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Most GSOs in one packet (bounds work on crafted input and the SECURE list length).
pub const MAX_GSOS: usize = limits::MAX_GSOS;

/// Engine settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataplaneConfig {
    /// Option class of our GSOs (DESIGN.md: 0xFF00, configurable).
    pub option_class: u16,
    pub backend: Backend,
    pub hold: HoldConfig,
}

impl Default for DataplaneConfig {
    fn default() -> Self {
        DataplaneConfig {
            option_class: gso::DEFAULT_CLASS,
            backend: Backend::Ring,
            hold: HoldConfig {
                per_reqid: limits::HOLD_PER_REQID,
                total: limits::HOLD_TOTAL,
                timeout: limits::HOLD_TIMEOUT,
                acquire_interval: limits::ACQUIRE_INTERVAL,
            },
        }
    }
}

/// Result of [`Dataplane::outbound`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutVerdict {
    /// Send `out_buf[..len]` as the UDP payload to the peer NVE.
    Send {
        len: usize,
    },
    /// Held until the GSA arrives (ACQUIRE raised); it may come back from `poll_transmit`.
    Queued,
    Drop(DropReason),
}

/// Result of [`Dataplane::inbound`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InVerdict {
    /// Write `packet[inner]` to the tun/tap matching `protocol_type`.
    Deliver {
        vni: u32,
        protocol_type: u16,
        inner: Range<usize>,
        /// Every byte of the inner frame was covered by a verified ICV (a GSO over the whole
        /// payload): its own checksums need no second check.
        authenticated: bool,
    },
    /// A verified dummy packet (SEC-GEN-7): nothing to deliver.
    Dummy,
    Drop(DropReason),
}

/// The engine's decision for every segment of one TSO/USO super-packet, taken once under the
/// engine lock by [`Dataplane::prepare_segments`]. [`Prepared::emit`] then encapsulates (and
/// seals) each segment without `&mut Dataplane`, so the worker that holds a `Prepared` seals
/// while other workers use the engine: the AEAD, the bulk of the per-packet work, runs outside
/// the lock.
#[derive(Debug)]
pub struct Prepared {
    /// The plain Geneve header every segment gets (no options).
    hdr: [u8; 8],
    /// The length of each segment's L3 + L4 headers, as parsed from the super-packet.
    headers_len: usize,
    how: Sealing,
}

#[derive(Debug)]
enum Sealing {
    /// BYPASS.
    Plain,
    /// One GEO. Sequence numbers `next..=last` are reserved for the segments, in order; their
    /// packets, bytes and lifetime were accounted when they were reserved.
    Geo {
        crypto: Arc<GsaCrypto>,
        next: u64,
        last: u64,
        class: u16,
    },
}

impl Prepared {
    /// Encapsulate (and seal) the next segment, `head` (exactly its L3 + L4 headers) followed by
    /// `body`, into `out`; returns its length. `None`: this segment must go through
    /// [`Dataplane::outbound_to_parts`] instead (its head is not what was prepared, more
    /// segments came than were reserved, or `out` is too small). An SN it took stays unused,
    /// which the receiver's window does not mind, and the preparation has counted it.
    pub fn emit(
        &mut self,
        head: &[u8],
        body: &[u8],
        out: &mut [u8],
        aad: &mut Vec<u8>,
    ) -> Option<usize> {
        if head.len() != self.headers_len {
            return None;
        }
        let src = Src {
            hdr: self.hdr,
            options: &[],
            payload: Payload { head, body },
            inner_headers: Some(self.headers_len),
        };
        match &mut self.how {
            Sealing::Plain => plain_packet(&src, out),
            Sealing::Geo {
                crypto,
                next,
                last,
                class,
            } => {
                if *next > *last {
                    return None;
                }
                let sn = *next;
                *next += 1;
                seal::apply_geo(crypto, sn, &src, out, *class, false, aad).ok()
            }
        }
    }
}

/// A received packet after [`Dataplane::inbound_begin`]: its first GSO (if it has one the
/// engine knows), looked up and replay-checked.
#[derive(Debug)]
pub struct InboundStart {
    first: Option<Opening>,
}

impl InboundStart {
    /// Steps 2.3 and 2.5 of [`Dataplane::inbound`] for the first GSO, without the engine:
    /// verify (GAO) or decrypt (GEO) `packet` in place and remove the GSO. `aad` is scratch.
    pub fn open(self, packet: &mut [u8], aad: &mut Vec<u8>) -> InboundOpened {
        InboundOpened {
            first: self.first.map(|o| o.open(packet, aad)),
        }
    }
}

/// A received packet after [`InboundStart::open`], for [`Dataplane::inbound_finish`].
#[derive(Debug)]
pub struct InboundOpened {
    first: Option<OpenedGso>,
}

#[derive(Debug)]
struct Opening {
    crypto: Arc<GsaCrypto>,
    sn: u64,
    off: usize,
    kind: GsoKind,
    repr: gso::Repr,
}

impl Opening {
    fn open(self, packet: &mut [u8], aad: &mut Vec<u8>) -> OpenedGso {
        let end = packet.len();
        let mut work = Work {
            buf: packet,
            start: 0,
            end,
        };
        let result = work.open(self.kind, &self.crypto, self.sn, self.off, &self.repr, aad);
        OpenedGso {
            start: work.start,
            end: work.end,
            opening: self,
            result,
        }
    }
}

/// What [`Opening::open`] did to the packet.
#[derive(Debug)]
struct OpenedGso {
    opening: Opening,
    result: Result<seal::Opened, DropReason>,
    start: usize,
    end: usize,
}

/// A packet produced outside `outbound` (released from the hold queue, or a dummy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    pub len: usize,
    /// The cleartext VNI the packet belongs to (0 for dummies).
    pub vni: u32,
    /// Inner destination, for the daemon's route lookup.
    pub inner_dst: Option<IpAddr>,
    /// The remote NVE: the one a released packet was held for (else its GSA's peer); for a
    /// dummy, its GSA's peer. `None`: route by `vni` and `inner_dst`.
    pub peer: Option<IpAddr>,
}

/// Events for the keying socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Event {
    /// SECURE policy matched but no outbound GSA fills template `reqid` for the remote NVE
    /// `peer` (the route's; absent when the caller did not name one, and then not encoded).
    Acquire {
        policy_id: u32,
        reqid: u32,
        kind: GsoKind,
        vni: u32,
        protocol_type: u16,
        src: Option<IpAddr>,
        dst: Option<IpAddr>,
        ip_proto: Option<u8>,
        src_port: Option<u16>,
        dst_port: Option<u16>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        peer: Option<IpAddr>,
    },
    /// A lifetime limit was reached; hard means the GSA is already removed. `peer`: an
    /// outbound GSA's peer NVE (its GSA-ID is unique only with it, see `GsaKey`).
    Expire {
        dir: Direction,
        gsa_id: u32,
        reqid: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        peer: Option<IpAddr>,
        kind: ExpireKind,
    },
}

/// One validated GSO during inbound processing.
#[derive(Debug, Clone, Copy)]
struct Validated {
    gsa_id: u32,
    opened: seal::Opened,
}

/// The dataplane core.
#[derive(Debug)]
pub struct Dataplane {
    cfg: DataplaneConfig,
    gsp: Gsp,
    gsas: GsaDb,
    hold: HoldQueue,
    events: VecDeque<Event>,
    stats: Stats,
    /// Ping-pong buffer for stacked GSOs, and MAC/AAD input; reused, so no per-packet allocation.
    scratch: Vec<u8>,
    /// A frame given in parts whose head does not end with its headers, assembled.
    joined: Vec<u8>,
    aad: Vec<u8>,
    validated: Vec<Validated>,
    options: Vec<(u16, u8)>,
    routes: Vec<crate::keying::Route>,
}

impl Dataplane {
    pub fn new(cfg: DataplaneConfig) -> Self {
        Dataplane {
            cfg,
            gsp: Gsp::default(),
            gsas: GsaDb::default(),
            hold: HoldQueue::new(cfg.hold),
            events: VecDeque::new(),
            stats: Stats::default(),
            scratch: Vec::new(),
            joined: Vec::new(),
            aad: Vec::with_capacity(2048),
            validated: Vec::with_capacity(MAX_GSOS),
            options: Vec::with_capacity(64),
            routes: Vec::new(),
        }
    }

    pub fn config(&self) -> &DataplaneConfig {
        &self.cfg
    }

    // ----- management (keying socket requests) -----

    /// ADD_GSA.
    pub fn add_gsa(&mut self, now: Instant, cfg: GsaConfig) -> Result<(), GsaError> {
        let g = Gsa::new(cfg, now, self.cfg.backend)?;
        self.gsas.add(g)
    }

    /// UPDATE_GSA: lifetimes and/or selectors.
    pub fn update_gsa(&mut self, key: GsaKey, u: GsaUpdate) -> Result<(), GsaError> {
        let g = self.gsas.get_mut(key).ok_or(GsaError::NotFound)?;
        if let Some(l) = u.lifetime {
            g.cfg.lifetime = l;
            g.lifetime.set_config(l);
        }
        if let Some(s) = u.selectors {
            g.cfg.selectors = s;
        }
        Ok(())
    }

    /// DEL_GSA.
    pub fn del_gsa(&mut self, key: GsaKey) -> Result<(), GsaError> {
        self.gsas.remove(key).map(|_| ()).ok_or(GsaError::NotFound)
    }

    /// SET_GSP: replace every policy (refused as a whole when invalid).
    pub fn set_gsp(&mut self, policies: Vec<Policy>) -> Result<(), GspError> {
        self.gsp = Gsp::new(policies)?;
        Ok(())
    }

    /// FLUSH: remove every GSA, every policy (so the default DISCARD applies) and held packets.
    pub fn flush(&mut self) {
        self.gsas.flush();
        self.gsp = Gsp::default();
        self.hold.clear();
    }

    /// SET_ROUTES: the overlay forwarding table (used by the I/O layer, kept here for DUMP).
    pub fn set_routes(&mut self, routes: Vec<crate::keying::Route>) {
        self.routes = routes;
    }

    pub fn routes(&self) -> &[crate::keying::Route] {
        &self.routes
    }

    pub fn gsas(&self) -> &GsaDb {
        &self.gsas
    }

    pub fn gsp(&self) -> &Gsp {
        &self.gsp
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Packets waiting for a GSA.
    pub fn held(&self) -> usize {
        self.hold.len()
    }

    /// Largest number of bytes the Geneve header and GSOs add to an inner frame under the
    /// installed outbound policies and GSAs (RFC 8926 §4.4.1: size the tunnel MTU for the
    /// maximum option length). Outer IP and UDP headers are the caller's to add. A template
    /// without a GSA yet is budgeted with the worst GEO padding.
    pub fn max_overhead(&self) -> usize {
        let per_template = |t: &Template| {
            let trailer = match t.kind {
                GsoKind::Gao => 0,
                // Pad Length + Flags + Options Words + hidden header + padding.
                GsoKind::Geo => {
                    2 + 1
                        + 6
                        + self.gsas.outbound(t.reqid).map_or(limits::MAX_PAD, |g| {
                            match g.cfg.coverage.padding {
                                crate::gsa::Padding::None => 0,
                                crate::gsa::Padding::Multiple(n) => {
                                    usize::from(n.saturating_sub(1))
                                }
                                crate::gsa::Padding::Fixed(_) => limits::MAX_PAD,
                            }
                        })
                }
            };
            gso::OPTION_LEN + trailer
        };
        let secured = self
            .gsp
            .outbound
            .policies()
            .iter()
            .map(|p| match &p.action {
                Action::Secure { gsos } => gsos.iter().map(per_template).sum(),
                _ => 0,
            });
        HEADER_LEN + secured.max().unwrap_or(0)
    }

    // ----- outbound -----

    /// Encapsulate (and secure, as the outbound GSP says) one inner frame into `out`, for a
    /// caller that does not know the remote NVE: see [`Self::outbound_to`].
    pub fn outbound(
        &mut self,
        now: Instant,
        vni: u32,
        protocol_type: u16,
        inner: &[u8],
        out: &mut [u8],
    ) -> OutVerdict {
        self.outbound_to_with_options(now, None, vni, protocol_type, &[], inner, out)
    }

    /// Encapsulate and secure one inner frame for the remote NVE `peer` (the route's underlay
    /// address). Each template takes the newest outbound GSA of its reqid whose peer is
    /// `peer`, else the newest one installed without a peer; if there is none, ACQUIRE names
    /// (reqid, peer) and the frame waits for that peer's GSA. `None` = peer unknown: peer-less
    /// GSAs first, then the newest of the reqid.
    pub fn outbound_to(
        &mut self,
        now: Instant,
        peer: Option<IpAddr>,
        vni: u32,
        protocol_type: u16,
        inner: &[u8],
        out: &mut [u8],
    ) -> OutVerdict {
        self.outbound_to_with_options(now, peer, vni, protocol_type, &[], inner, out)
    }

    /// Like [`Self::outbound`] with Geneve options (encoded TLVs) to carry.
    pub fn outbound_with_options(
        &mut self,
        now: Instant,
        vni: u32,
        protocol_type: u16,
        options: &[u8],
        inner: &[u8],
        out: &mut [u8],
    ) -> OutVerdict {
        self.outbound_to_with_options(now, None, vni, protocol_type, options, inner, out)
    }

    /// Like [`Self::outbound_to`] with Geneve options (encoded TLVs) to carry.
    #[allow(clippy::too_many_arguments)]
    pub fn outbound_to_with_options(
        &mut self,
        now: Instant,
        peer: Option<IpAddr>,
        vni: u32,
        protocol_type: u16,
        options: &[u8],
        inner: &[u8],
        out: &mut [u8],
    ) -> OutVerdict {
        let info = inner::parse(protocol_type, inner);
        let v = self.outbound_inner(
            now,
            peer,
            (vni, protocol_type),
            options,
            (Payload::whole(inner), info),
            out,
        );
        self.counted(v)
    }

    /// Like [`Self::outbound_to`] for a frame given as `head` followed by `body`: a TSO segment
    /// whose rebuilt headers are `head` and whose payload is a slice of the super-packet, so it
    /// is sealed without being assembled first. The selectors and coverage read the inner
    /// headers: unless `head` is exactly the L3 and TCP/UDP/SCTP headers, the frame is
    /// assembled first (same result, one copy more).
    #[allow(clippy::too_many_arguments)]
    pub fn outbound_to_parts(
        &mut self,
        now: Instant,
        peer: Option<IpAddr>,
        vni: u32,
        protocol_type: u16,
        head: &[u8],
        body: &[u8],
        out: &mut [u8],
    ) -> OutVerdict {
        // Complete L4 headers (ports read, header length known) ending where `head` ends: every
        // byte the parser reads is in `head`, so it sees what it would in the assembled frame.
        let info = inner::parse(protocol_type, head);
        if body.is_empty() || (info.src_port.is_some() && info.headers_len == Some(head.len())) {
            let inner = (Payload { head, body }, info);
            let v = self.outbound_inner(now, peer, (vni, protocol_type), &[], inner, out);
            return self.counted(v);
        }
        let mut joined = std::mem::take(&mut self.joined);
        joined.clear();
        joined.extend_from_slice(head);
        joined.extend_from_slice(body);
        let inner = (
            Payload::whole(&joined),
            inner::parse(protocol_type, &joined),
        );
        let v = self.outbound_inner(now, peer, (vni, protocol_type), &[], inner, out);
        self.joined = joined;
        self.counted(v)
    }

    /// Decide once for the `segments` segments of one super-packet to `peer` (`bytes`: their
    /// inner frames' total length; `info`: what [`inner::parse`] read of the super-packet,
    /// whose headers every segment repeats). BYPASS, or a SECURE policy with exactly one GEO
    /// whose GSA is installed and can take them all before a hard lifetime limit: the SNs are
    /// reserved and the counters and lifetime updated now (a soft EXPIRE is raised here), and
    /// the segments are sealed by [`Prepared::emit`]. `None` for everything else (DISCARD,
    /// GAO, several GSOs, no GSA yet: ACQUIRE and the hold queue; a hard limit within reach):
    /// each segment then goes through [`Self::outbound_to_parts`].
    #[allow(clippy::too_many_arguments)]
    pub fn prepare_segments(
        &mut self,
        now: Instant,
        peer: Option<IpAddr>,
        vni: u32,
        protocol_type: u16,
        info: InnerInfo,
        segments: usize,
        bytes: usize,
    ) -> Option<Prepared> {
        let peer = peer.map(|p| p.to_canonical());
        let headers_len = info.headers_len.filter(|_| info.src_port.is_some())?;
        if vni > 0x00ff_ffff || segments == 0 {
            return None;
        }
        let fields = PacketFields {
            protocol_type,
            vni,
            inner: info,
            ..PacketFields::default()
        };
        let hdr = plain_header(vni, protocol_type, false, 0);
        let how = match &self.gsp.outbound.lookup(&fields)?.action {
            Action::Bypass => {
                self.stats.sent_bypass += segments as u64;
                Sealing::Plain
            }
            Action::Secure { gsos } if gsos.len() == 1 && gsos[0].kind == GsoKind::Geo => {
                self.reserve_geo(now, peer, gsos[0].reqid, segments as u64, bytes as u64)?
            }
            _ => return None,
        };
        Some(Prepared {
            hdr,
            headers_len,
            how,
        })
    }

    /// SNs, counters and lifetime for `n` packets of `bytes` in all through the GEO of `reqid`
    /// for `peer`, or `None` if that GSA cannot take them all.
    fn reserve_geo(
        &mut self,
        now: Instant,
        peer: Option<IpAddr>,
        reqid: u32,
        n: u64,
        bytes: u64,
    ) -> Option<Sealing> {
        let g = self.gsas.outbound_to_mut(reqid, peer)?;
        let last = g.last_sn.checked_add(n)?;
        let after = Usage {
            bytes: g.counters.bytes.saturating_add(bytes),
            packets: g.counters.packets.saturating_add(n),
            sn: last,
        };
        if g.kind() != GsoKind::Geo || !g.lifetime.room(now, after) {
            return None;
        }
        let next = g.last_sn + 1;
        g.last_sn = last;
        g.counters.record_many(now, n, bytes);
        let crypto = Arc::clone(&g.crypto);
        let key = GsaKey::of(&g.cfg);
        if let Some(kind) = g.lifetime.poll(now, g.usage()) {
            self.expire(key, kind);
        }
        self.stats.sent_secured += n;
        Some(Sealing::Geo {
            crypto,
            next,
            last,
            class: self.cfg.option_class,
        })
    }

    /// Count a dropped outbound packet.
    fn counted(&mut self, v: OutVerdict) -> OutVerdict {
        if let OutVerdict::Drop(r) = v {
            self.stats.drops.inc(r);
        }
        v
    }

    /// `(vni, ptype)`: the Geneve header's; `inner`: the frame and what `inner::parse` read
    /// of it (each caller parses once, where it already has the bytes at hand).
    fn outbound_inner(
        &mut self,
        now: Instant,
        peer: Option<IpAddr>,
        (vni, ptype): (u32, u16),
        options: &[u8],
        (inner, info): (Payload<'_>, InnerInfo),
        out: &mut [u8],
    ) -> OutVerdict {
        // A dual-stack socket's view of an IPv4 peer is IPv4-mapped; GSAs and ACQUIRE use IPv4.
        let peer = peer.map(|p| p.to_canonical());
        if vni > 0x00ff_ffff || options.len() > MAX_OPT_LEN || !options.len().is_multiple_of(4) {
            return OutVerdict::Drop(DropReason::Malformed);
        }
        self.options.clear();
        let mut critical = false;
        for o in OptionIter::new(options, HEADER_LEN) {
            let Ok(o) = o else {
                return OutVerdict::Drop(DropReason::Malformed);
            };
            critical |= o.is_critical();
            self.options.push((o.class, o.type_));
        }
        let fields = PacketFields {
            protocol_type: ptype,
            vni,
            critical,
            options: &self.options,
            inner: info,
            ..PacketFields::default()
        };
        let hdr = plain_header(vni, ptype, critical, options.len());
        let src = Src {
            hdr,
            options,
            payload: inner,
            inner_headers: info.headers_len,
        };
        let (policy_id, tm, n) = match self.gsp.outbound.lookup(&fields) {
            None => return OutVerdict::Drop(no_policy(&info)),
            Some(p) => match &p.action {
                Action::Discard => return OutVerdict::Drop(DropReason::Discard),
                Action::Bypass => return self.emit_plain(&src, out),
                Action::Secure { gsos } => {
                    // Copy the (few, Copy) templates out of the policy: no allocation per packet.
                    let mut tm = [Template {
                        reqid: 0,
                        kind: GsoKind::Geo,
                    }; MAX_GSOS];
                    let n = gsos.len().min(MAX_GSOS);
                    tm[..n].copy_from_slice(&gsos[..n]);
                    (p.id, tm, n)
                }
            },
        };
        let templates = &tm[..n];
        if let Some(t) = templates.iter().find(|t| {
            self.gsas
                .outbound_to(t.reqid, peer)
                .is_none_or(|g| g.kind() != t.kind)
        }) {
            let h = Held {
                reqid: t.reqid,
                peer,
                vni,
                protocol_type: ptype,
                options: options.to_vec(),
                inner: inner.to_vec(),
                deadline: now,
            };
            return self.hold_and_acquire(now, policy_id, t.kind, h, info);
        }
        self.seal_chain(now, peer, templates, &src, out)
    }

    fn emit_plain(&mut self, src: &Src<'_>, out: &mut [u8]) -> OutVerdict {
        let Some(len) = plain_packet(src, out) else {
            return OutVerdict::Drop(DropReason::BufferTooSmall);
        };
        self.stats.sent_bypass += 1;
        OutVerdict::Send { len }
    }

    /// ACQUIRE (rate-limited per reqid and peer) and hold `h` until its GSA arrives.
    fn hold_and_acquire(
        &mut self,
        now: Instant,
        policy_id: u32,
        kind: GsoKind,
        h: Held,
        info: InnerInfo,
    ) -> OutVerdict {
        if self.hold.acquire_due((h.reqid, h.peer), now) {
            self.stats.acquires += 1;
            self.events.push_back(Event::Acquire {
                policy_id,
                reqid: h.reqid,
                kind,
                vni: h.vni,
                protocol_type: h.protocol_type,
                src: info.src,
                dst: info.dst,
                ip_proto: info.ip_proto,
                src_port: info.src_port,
                dst_port: info.dst_port,
                peer: h.peer,
            });
        }
        if self.hold.push(now, h) {
            OutVerdict::Queued
        } else {
            OutVerdict::Drop(DropReason::QueueFull)
        }
    }

    /// Apply every template's GSA in list order, ping-ponging between `out` and `scratch` so the
    /// last GSO lands in `out`.
    fn seal_chain(
        &mut self,
        now: Instant,
        peer: Option<IpAddr>,
        templates: &[Template],
        first: &Src<'_>,
        out: &mut [u8],
    ) -> OutVerdict {
        let k = templates.len();
        if self.scratch.len() < out.len() {
            self.scratch.resize(out.len(), 0);
        }
        let mut len = 0;
        let mut inner_headers = first.inner_headers;
        for (i, t) in templates.iter().enumerate() {
            let to_out = (k - 1 - i).is_multiple_of(2);
            let Some(gsa) = self.gsas.outbound_to_mut(t.reqid, peer) else {
                return OutVerdict::Drop(DropReason::NoGsa);
            };
            if gsa.last_sn == limits::SN_MAX {
                return OutVerdict::Drop(DropReason::SnExhausted);
            }
            // The SN is taken before sealing, as `reserve_geo` does for `Prepared::emit`: once
            // the AEAD has run with an SN (a nonce, RFC 8750 §7), no path can run it again, even
            // if sealing fails or panics half-way. A failed seal leaves a gap in the SNs, which
            // the receiver's window does not mind.
            let sn = gsa.last_sn + 1;
            gsa.last_sn = sn;
            let gsa = &*gsa;
            let class = self.cfg.option_class;
            let r = match (i, to_out) {
                (0, true) => apply(gsa, sn, first, out, class, &mut self.aad),
                (0, false) => apply(gsa, sn, first, &mut self.scratch, class, &mut self.aad),
                (_, true) => match Src::from_emitted(&self.scratch[..len], inner_headers) {
                    Ok(s) => apply(gsa, sn, &s, out, class, &mut self.aad),
                    Err(e) => Err(e),
                },
                (_, false) => match Src::from_emitted(&out[..len], inner_headers) {
                    Ok(s) => apply(gsa, sn, &s, &mut self.scratch, class, &mut self.aad),
                    Err(e) => Err(e),
                },
            };
            let is_geo = gsa.kind() == GsoKind::Geo;
            len = match r {
                Ok(l) => l,
                Err(e) => {
                    // The SN is spent: a hard `sn` limit it reached fires now.
                    self.account_out(now, t.reqid, peer, None);
                    return OutVerdict::Drop(e);
                }
            };
            if is_geo {
                inner_headers = None;
            }
            self.account_out(now, t.reqid, peer, Some(first.payload.len()));
        }
        self.stats.sent_secured += 1;
        OutVerdict::Send { len }
    }

    /// After sealing (the SN was taken before): counters for a packet of `bytes` (`None`: the
    /// seal failed, nothing to count), lifetime (EXPIRE events; hard removes the GSA).
    fn account_out(
        &mut self,
        now: Instant,
        reqid: u32,
        peer: Option<IpAddr>,
        bytes: Option<usize>,
    ) {
        let Some(g) = self.gsas.outbound_to_mut(reqid, peer) else {
            return;
        };
        if let Some(bytes) = bytes {
            g.counters.record(now, bytes);
        }
        let usage = g.usage();
        let key = GsaKey::of(&g.cfg);
        if let Some(kind) = g.lifetime.poll(now, usage) {
            self.expire(key, kind);
        }
    }

    fn expire(&mut self, key: GsaKey, kind: ExpireKind) {
        if kind == ExpireKind::Hard {
            self.gsas.remove(key);
        }
        self.events.push_back(Event::Expire {
            dir: key.dir,
            gsa_id: key.gsa_id,
            reqid: key.reqid,
            peer: key.peer,
            kind,
        });
    }

    // ----- inbound -----

    /// Verify, decrypt and policy-check one Geneve packet (the UDP payload), in place.
    pub fn inbound(&mut self, now: Instant, packet: &mut [u8]) -> InVerdict {
        let started = match self.inbound_begin(packet) {
            Ok(s) => s,
            Err(v) => return v,
        };
        let mut aad = std::mem::take(&mut self.aad);
        let opened = started.open(packet, &mut aad);
        self.aad = aad;
        self.inbound_finish(now, packet, opened)
    }

    /// [`Self::inbound`] in three steps, so that a worker runs the AEAD with the engine lock
    /// released. This one is steps 1 and 2.1-2.2 for the packet's first GSO: the Geneve checks,
    /// the GSA lookup and the replay pre-check. Then [`InboundStart::open`] (no `&mut
    /// Dataplane`), then [`Self::inbound_finish`] with the same packet. `Err`: the packet's
    /// verdict, already counted.
    pub fn inbound_begin(&mut self, packet: &mut [u8]) -> Result<InboundStart, InVerdict> {
        match self.first_gso(packet) {
            Ok(first) => Ok(InboundStart { first }),
            Err(r) => Err(self.counted_in(InVerdict::Drop(r))),
        }
    }

    /// The rest of [`Self::inbound`] after [`Self::inbound_begin`] and [`InboundStart::open`]:
    /// the window update for the first GSO (only now, after authentication: a copy opened
    /// meanwhile by another worker is a replay here), any further GSOs, the restored options,
    /// the selector, coverage and policy checks, the counters. The verdict is counted.
    pub fn inbound_finish(
        &mut self,
        now: Instant,
        packet: &mut [u8],
        opened: InboundOpened,
    ) -> InVerdict {
        let v = self.inbound_inner(now, packet, opened.first);
        self.counted_in(v)
    }

    fn counted_in(&mut self, v: InVerdict) -> InVerdict {
        match &v {
            InVerdict::Drop(r) => self.stats.drops.inc(*r),
            InVerdict::Dummy => self.stats.dummies_received += 1,
            InVerdict::Deliver { .. } => {
                if self.validated.is_empty() {
                    self.stats.delivered_bypass += 1;
                } else {
                    self.stats.delivered_secured += 1;
                }
            }
        }
        v
    }

    /// Step 1, and 2.1-2.2 for the first GSO.
    fn first_gso(&mut self, packet: &mut [u8]) -> Result<Option<Opening>, DropReason> {
        // 1. Length checks and the RFC 8926 endpoint rules.
        // Version != 0, truncation and option lengths not summing to Opt Len are all malformed.
        if geneve::Packet::new_checked(&packet[..])
            .and_then(|p| geneve::Repr::parse(&p))
            .is_err()
        {
            return Err(DropReason::Malformed);
        }
        // Cheap gate before any crypto: unknown critical options in the clear part.
        self.check_clear_options(packet)?;
        let end = packet.len();
        let work = Work {
            buf: packet,
            start: 0,
            end,
        };
        let Some((off, kind, repr)) = find_gso(&work, self.cfg.option_class, &[])? else {
            return Ok(None);
        };
        let Some(gsa) = self.gsas.inbound(repr.gsa_id) else {
            // An unknown GAO is skipped by the loop in `inbound_inner`.
            return match kind {
                GsoKind::Geo => Err(DropReason::NoGsa),
                GsoKind::Gao => Ok(None),
            };
        };
        let sn = pre_check(gsa, kind, &repr)?;
        Ok(Some(Opening {
            crypto: Arc::clone(&gsa.crypto),
            sn,
            off,
            kind,
            repr,
        }))
    }

    /// The first GSO's window update and checks (its AEAD ran in [`Opening::open`]).
    fn first_opened(&mut self, work: &mut Work<'_>, first: OpenedGso) -> Result<bool, DropReason> {
        let OpenedGso {
            opening,
            result,
            start,
            end,
        } = first;
        let opened = result?;
        (work.start, work.end) = (start, end);
        // The GSA may have been removed, or replaced under the same ID, while the AEAD ran.
        let gsa = self
            .gsas
            .inbound_mut(opening.repr.gsa_id)
            .filter(|g| Arc::ptr_eq(&g.crypto, &opening.crypto))
            .ok_or(DropReason::NoGsa)?;
        self.validated
            .push(validate(gsa, work, opening.sn, opened)?);
        Ok(opened.dummy)
    }

    fn inbound_inner(
        &mut self,
        now: Instant,
        packet: &mut [u8],
        first: Option<OpenedGso>,
    ) -> InVerdict {
        self.validated.clear();
        let class = self.cfg.option_class;
        let end = packet.len();
        let mut work = Work {
            buf: packet,
            start: 0,
            end,
        };
        if let Some(first) = first {
            match self.first_opened(&mut work, first) {
                Ok(false) => {}
                Ok(true) => return InVerdict::Dummy,
                Err(r) => return InVerdict::Drop(r),
            }
        }
        let mut skipped: Vec<usize> = Vec::new();
        // 2..6. Each (further) GSO in wire order: lookup, replay pre-check, verify/decrypt,
        // window update, restore.
        loop {
            let next = match find_gso(&work, class, &skipped) {
                Ok(n) => n,
                Err(r) => return InVerdict::Drop(r),
            };
            let Some((off, kind, repr)) = next else { break };
            if self.validated.len() >= MAX_GSOS {
                return InVerdict::Drop(DropReason::Malformed);
            }
            let Some(gsa) = self.gsas.inbound_mut(repr.gsa_id) else {
                if kind == GsoKind::Geo {
                    return InVerdict::Drop(DropReason::NoGsa);
                }
                // ARCH-00 §7.2: an unknown GSA-ID makes the GSO an unknown (non-critical)
                // option; the final policy check still demands what the policy requires.
                skipped.push(off - work.start);
                continue;
            };
            let sn = match pre_check(gsa, kind, &repr) {
                Ok(sn) => sn,
                Err(r) => return InVerdict::Drop(r),
            };
            let opened = work.open(kind, &gsa.crypto, sn, off, &repr, &mut self.aad);
            let v = match opened.and_then(|o| validate(gsa, &work, sn, o)) {
                Ok(v) => v,
                Err(r) => return InVerdict::Drop(r),
            };
            // Skipped options before the removed GSO keep their offsets relative to `start`.
            self.validated.push(v);
            if v.opened.dummy {
                return InVerdict::Dummy;
            }
        }
        let (start, end) = (work.start, work.end);
        let pkt = &work.buf[start..end];
        // 7. Options restored: any critical option we do not implement means drop.
        if let Err(r) = self.check_clear_options(pkt) {
            return InVerdict::Drop(r);
        }
        let hdr = geneve::Packet::new_unchecked(pkt);
        let opt_end = hdr.header_len();
        let info = inner::parse(hdr.protocol_type(), &pkt[opt_end..]);
        self.options.clear();
        for o in hdr.option_iter().flatten() {
            self.options.push((o.class, o.type_));
        }
        let fields = PacketFields {
            version: hdr.version(),
            oam: hdr.oam(),
            critical: self.options.iter().any(|(_, t)| t & 0x80 != 0),
            rsvd: hdr.rsvd(),
            protocol_type: hdr.protocol_type(),
            vni: hdr.vni(),
            reserved: hdr.reserved(),
            options: &self.options,
            inner: info,
        };
        // 8. GSA selector and coverage checks on the restored packet.
        for v in &self.validated {
            let Some(g) = self.gsas.inbound(v.gsa_id) else {
                return InVerdict::Drop(DropReason::NoGsa);
            };
            if !g.cfg.selectors.matches(&fields) || !coverage_ok(g, &v.opened, &info) {
                return InVerdict::Drop(DropReason::PolicyMismatch);
            }
        }
        // 9. Final GSP check: every GSO the policy demands was validated, in order.
        match self.gsp.inbound.lookup(&fields).map(|p| &p.action) {
            None => return InVerdict::Drop(no_policy(&info)),
            Some(Action::Discard) => return InVerdict::Drop(DropReason::Discard),
            Some(Action::Bypass) => {}
            Some(Action::Secure { gsos }) => {
                if !self.validated_matches(gsos) {
                    let r = if skipped.is_empty() {
                        DropReason::PolicyMismatch
                    } else {
                        DropReason::NoGsa
                    };
                    return InVerdict::Drop(r);
                }
            }
        }
        let (vni, protocol_type) = (fields.vni, fields.protocol_type);
        let inner_len = end - start - opt_end;
        self.account_in(now, inner_len);
        let authenticated = self
            .validated
            .iter()
            .any(|v| v.opened.payload_covered == v.opened.payload_total);
        InVerdict::Deliver {
            vni,
            protocol_type,
            inner: start + opt_end..end,
            authenticated,
        }
    }

    /// Validated GSOs in wire order are the templates in reverse application order.
    fn validated_matches(&self, gsos: &[Template]) -> bool {
        gsos.len() == self.validated.len()
            && gsos.iter().zip(self.validated.iter().rev()).all(|(t, v)| {
                self.gsas
                    .inbound(v.gsa_id)
                    .is_some_and(|g| g.cfg.reqid == t.reqid && g.kind() == t.kind)
            })
    }

    fn account_in(&mut self, now: Instant, bytes: usize) {
        for i in 0..self.validated.len() {
            let id = self.validated[i].gsa_id;
            let Some(g) = self.gsas.inbound_mut(id) else {
                continue;
            };
            g.counters.record(now, bytes);
            let usage = g.usage();
            let key = GsaKey::inbound(id, g.cfg.reqid);
            if let Some(kind) = g.lifetime.poll(now, usage) {
                self.expire(key, kind);
            }
        }
    }

    /// Unknown critical options (anything critical that is not our GEO) mean drop (RFC 8926 §3.5).
    fn check_clear_options(&self, pkt: &[u8]) -> Result<(), DropReason> {
        let p = geneve::Packet::new_unchecked(pkt);
        for o in p.option_iter() {
            let o = o.map_err(|_| DropReason::Malformed)?;
            if o.is_critical()
                && GsoKind::classify(o.class, o.type_, self.cfg.option_class).is_none()
            {
                return Err(DropReason::UnknownCritical);
            }
        }
        Ok(())
    }

    // ----- time, held packets, dummies, events -----

    /// Next packet that became sendable: a held packet whose GSA (for its reqid and peer)
    /// arrived, or a due dummy. A released packet goes to the peer it was held for.
    pub fn poll_transmit(&mut self, now: Instant, out: &mut [u8]) -> Option<Transmit> {
        while let Some(h) = {
            let gsas = &self.gsas;
            self.hold
                .take_ready(|(r, p)| gsas.outbound_to(r, p).is_some())
        } {
            let info = inner::parse(h.protocol_type, &h.inner);
            let v = self.outbound_to_with_options(
                now,
                h.peer,
                h.vni,
                h.protocol_type,
                &h.options,
                &h.inner,
                out,
            );
            if let OutVerdict::Send { len } = v {
                let peer = h.peer.or_else(|| {
                    self.gsas
                        .outbound_to(h.reqid, None)
                        .and_then(|g| g.cfg.peer)
                });
                return Some(Transmit {
                    len,
                    vni: h.vni,
                    inner_dst: info.dst,
                    peer,
                });
            }
        }
        self.poll_dummy(now, out)
    }

    fn poll_dummy(&mut self, now: Instant, out: &mut [u8]) -> Option<Transmit> {
        let class = self.cfg.option_class;
        let g = self
            .gsas
            .iter_mut()
            .find(|g| g.cfg.dir == Direction::Out && g.next_dummy.is_some_and(|t| t <= now))?;
        // At least 1 ms (ADD_GSA refuses 0), and counted from `now`, not from when it was due:
        // each GSA gives at most one dummy per `now`, so a `poll_transmit` loop ends, and a
        // late poll does not catch up with a burst.
        let ms = g.cfg.coverage.dummy_interval_ms.unwrap_or(1000).max(1);
        g.next_dummy = Some(now + Duration::from_millis(ms));
        if g.last_sn == limits::SN_MAX {
            return None;
        }
        // Taken before sealing, as in `seal_chain`.
        let sn = g.last_sn + 1;
        g.last_sn = sn;
        let src = Src {
            hdr: [0; 8],
            options: &[],
            payload: Payload::default(),
            inner_headers: None,
        };
        let len = seal::apply_geo(&g.crypto, sn, &src, out, class, true, &mut self.aad).ok()?;
        g.counters.dummies += 1;
        let peer = g.cfg.peer;
        self.stats.dummies_sent += 1;
        Some(Transmit {
            len,
            vni: 0,
            inner_dst: None,
            peer,
        })
    }

    /// Time-driven work: lifetimes by time, held-packet timeouts.
    pub fn handle_timeout(&mut self, now: Instant) {
        let dropped = self.hold.expire(now);
        for _ in 0..dropped {
            self.stats.drops.inc(DropReason::HoldTimeout);
        }
        let mut fired = Vec::new();
        for g in self.gsas.iter_mut() {
            let usage = g.usage();
            if let Some(kind) = g.lifetime.poll(now, usage) {
                fired.push((GsaKey::of(&g.cfg), kind));
            }
        }
        fired.sort_by_key(|(k, _)| (k.dir == Direction::Out, k.reqid, k.gsa_id));
        for (k, kind) in fired {
            self.expire(k, kind);
        }
    }

    /// When `handle_timeout` (or `poll_transmit`, for dummies) should next be called.
    pub fn next_deadline(&self) -> Option<Instant> {
        let gsa = self
            .gsas
            .values()
            .filter_map(|g| match (g.lifetime.deadline(), g.next_dummy) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            });
        gsa.chain(self.hold.next_deadline()).min()
    }

    /// Next ACQUIRE/EXPIRE for the keying socket.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }
}

/// The fixed Geneve header of a frame before any GSO: `options_len` bytes of options follow.
fn plain_header(vni: u32, protocol_type: u16, critical: bool, options_len: usize) -> [u8; 8] {
    let repr = geneve::Repr {
        oam: false,
        critical,
        protocol_type,
        vni,
        opt_len_words: (options_len / 4) as u8,
    };
    let mut hdr = [0u8; 8];
    repr.emit(&mut geneve::Packet::new_unchecked(&mut hdr[..]));
    hdr
}

/// BYPASS: the Geneve header, the options and the frame, as they are; `None` if `out` is too
/// small.
fn plain_packet(src: &Src<'_>, out: &mut [u8]) -> Option<usize> {
    let opt_end = HEADER_LEN + src.options.len();
    let total = opt_end + src.payload.len();
    let out = out.get_mut(..total)?;
    out[..HEADER_LEN].copy_from_slice(&src.hdr);
    out[HEADER_LEN..opt_end].copy_from_slice(src.options);
    src.payload
        .copy_to(0..src.payload.len(), &mut out[opt_end..]);
    Some(total)
}

/// The default DISCARD: counted apart when the frame's selectors could not all be read.
fn no_policy(info: &InnerInfo) -> DropReason {
    match info.unreadable {
        Some(_) => DropReason::Unreadable,
        None => DropReason::Discard,
    }
}

fn apply(
    gsa: &Gsa,
    sn: u64,
    src: &Src<'_>,
    dst: &mut [u8],
    class: u16,
    aad: &mut Vec<u8>,
) -> Result<usize, DropReason> {
    match gsa.kind() {
        GsoKind::Geo => seal::apply_geo(&gsa.crypto, sn, src, dst, class, false, aad),
        GsoKind::Gao => seal::apply_gao(&gsa.crypto, sn, src, dst, class, aad),
    }
}

/// Steps 2.1-2.2 once the GSA is found: its kind, the SN inferred (RFC 4303 Appendix A2) and
/// checked against the window.
fn pre_check(gsa: &Gsa, kind: GsoKind, repr: &gso::Repr) -> Result<u64, DropReason> {
    if gsa.kind() != kind {
        return Err(DropReason::PolicyMismatch);
    }
    let sn = gsa.replay.infer(repr.sn_low).ok_or(DropReason::Replay)?;
    gsa.replay.check(sn).map_err(|_| DropReason::Replay)?;
    Ok(sn)
}

/// Steps 2.4-2.5 after a GSO verified: the window update (only now, after authentication), the
/// options it covered, the dummy count.
fn validate(
    gsa: &mut Gsa,
    work: &Work<'_>,
    sn: u64,
    opened: seal::Opened,
) -> Result<Validated, DropReason> {
    gsa.replay.update(sn).map_err(|_| DropReason::Replay)?;
    if !options_covered(gsa, work, opened.covered_opts) {
        return Err(DropReason::PolicyMismatch);
    }
    if opened.dummy {
        gsa.counters.dummies += 1;
    }
    Ok(Validated {
        gsa_id: gsa.cfg.gsa_id,
        opened,
    })
}

/// First GSO (in wire order) not skipped: (absolute offset, kind, fields).
fn find_gso(
    w: &Work<'_>,
    class: u16,
    skipped: &[usize],
) -> Result<Option<(usize, GsoKind, gso::Repr)>, DropReason> {
    let p = geneve::Packet::new_unchecked(&w.buf[w.start..w.end]);
    for o in p.option_iter() {
        let o = o.map_err(|_| DropReason::Malformed)?;
        let Some(kind) = GsoKind::classify(o.class, o.type_, class) else {
            continue;
        };
        if skipped.contains(&o.offset) {
            continue;
        }
        let view = gso::Packet::new_checked(o.data).map_err(|_| DropReason::Malformed)?;
        let repr = gso::Repr::parse(&view).map_err(|_| DropReason::Malformed)?;
        return Ok(Some((w.start + o.offset, kind, repr)));
    }
    Ok(None)
}

/// The coverage the receiving GSA demands (GAO-00 §7.3.3.5: "the expected parts were covered").
fn coverage_ok(g: &Gsa, o: &seal::Opened, info: &InnerInfo) -> bool {
    let cov = &g.cfg.coverage;

    match cov.payload {
        PayloadCoverage::All => o.payload_covered == o.payload_total,
        PayloadCoverage::First(n) => o.payload_covered >= o.payload_total.min(usize::from(n)),
        PayloadCoverage::InnerHeaders => {
            let need = if g.kind() == GsoKind::Geo {
                info.headers_len.unwrap_or(o.payload_total)
            } else {
                0
            };
            o.payload_covered >= need.min(o.payload_total)
        }
        // Only real headers may stay clear.
        PayloadCoverage::AfterInnerHeaders => o.clear_headers <= info.headers_len.unwrap_or(0),
    }
}

/// Right after a GSO is removed: an option its GSA lists as covered must not sit outside the
/// range it covered (GAO-00 §7.3.2: uncovered immutable options are suspicious).
fn options_covered(g: &Gsa, w: &Work<'_>, (cs, ce): (usize, usize)) -> bool {
    let OptionCoverage::List(list) = &g.cfg.coverage.options else {
        return true;
    };
    let p = geneve::Packet::new_unchecked(&w.buf[w.start..w.end]);
    p.option_iter()
        .flatten()
        .all(|o| !list.contains(&(o.class, o.type_)) || (o.offset >= cs && o.offset < ce))
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "unlocked_tests.rs"]
mod unlocked_tests;
