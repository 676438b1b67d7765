//! The sans-IO endpoint: SPI dispatch of incoming datagrams, half-open accounting, cookies
//! (RFC 7296 §2.6), the per-peer rate limit, and the poll interface.
//!
//! Polling order after any input (`handle_datagram`, `handle_timeout`, a command): drain
//! [`Endpoint::poll_transmit`], then [`Endpoint::poll_event`], then arm a timer for
//! [`Endpoint::poll_timeout`] (quinn-proto's order). The endpoint never reads a clock: `now` is
//! always a parameter, and wall-clock time (for certificate validity) is derived from the
//! `(Instant, SystemTime)` anchor given to [`Endpoint::new`].

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use hmac::{Hmac, Mac};
use rand_chacha::rand_core::SeedableRng;
use sha2::Sha256;

use crate::config::{ConnectionConfig, EngineConfig};
pub use crate::sa::events::{Event, GsaKeys, GsaParams, LogLevel, LogRecord, Transmit};
use crate::sa::{Ctx, IkeSa, Output};
use crate::tombstone::{Tombstones, TOMBSTONE_TIME};
use crate::wire::enums::ExchangeType;
use crate::wire::header::IkeHeader;

/// The engine guide; its Rust examples run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../docs/ikev2-engine.md")]
pub struct EngineGuide;

/// Source of randomness for SPIs, nonces, D-H private keys, GSA-IDs, IVs and cookie secrets.
/// Injected so tests are deterministic; production uses the OS generator.
pub trait EngineRng: Send {
    fn fill(&mut self, dst: &mut [u8]);
}

impl<R: rand_core::RngCore + rand_core::CryptoRng + Send> EngineRng for R {
    fn fill(&mut self, dst: &mut [u8]) {
        self.fill_bytes(dst);
    }
}

/// A ChaCha20 CSPRNG from a 32-byte seed: deterministic for tests, or seeded from the OS
/// by the daemon.
pub fn seeded_rng(seed: [u8; 32]) -> Box<dyn EngineRng> {
    Box::new(rand_chacha::ChaCha20Rng::from_seed(seed))
}

/// Draws a non-zero u64 (IKE SPIs must not be 0, RFC 7296 §3.1).
pub(crate) fn random_nonzero_u64(rng: &mut dyn EngineRng) -> u64 {
    loop {
        let mut b = [0u8; 8];
        rng.fill(&mut b);
        let v = u64::from_be_bytes(b);
        if v != 0 {
            return v;
        }
    }
}

/// Draws a non-zero u32 (GSA-IDs; 0 is reserved like ESP SPI 0).
pub(crate) fn random_nonzero_u32(rng: &mut dyn EngineRng) -> u32 {
    loop {
        let mut b = [0u8; 4];
        rng.fill(&mut b);
        let v = u32::from_be_bytes(b);
        if v != 0 {
            return v;
        }
    }
}

/// Identifies one IKE SA for commands and events: our SPI of that SA plus a log uid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IkeSaId {
    pub local_spi: u64,
    /// Monotonic number shown in logs as `<conn|uid>` (strongSwan's unique id).
    pub uid: u32,
}

impl fmt::Display for IkeSaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.uid)
    }
}

/// Commands that fail synchronously.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    #[error("no connection named {0:?}")]
    UnknownConnection(String),
    #[error("connection {0:?} has no remote address")]
    NoRemoteAddress(String),
    #[error("no IKE SA {0:?}")]
    UnknownSa(IkeSaId),
    #[error("IKE SA is not established")]
    NotEstablished,
    #[error("no GSA with inbound GSA-ID {0:#010x}")]
    UnknownGsa(u32),
    #[error("no GSA named {0:?} in the connection")]
    UnknownChild(String),
    #[error("no connection has a GSA covering VNI {0}")]
    NoPolicyForVni(u32),
    #[error("the peer did not announce the GSA extension (plain IKEv2 peer)")]
    PeerNotGsaCapable,
}

/// What [`Endpoint::on_acquire`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcquireAction {
    /// Started a new IKE SA (the GSA follows in IKE_AUTH or CREATE_CHILD_SA).
    Initiated(IkeSaId),
    /// Sent CREATE_CHILD_SA on an established IKE SA.
    CreatingGsa(IkeSaId),
    /// An IKE SA for the connection is being set up; nothing new started.
    Pending(IkeSaId),
    /// The GSA exists already (the ACQUIRE raced an install).
    AlreadyInstalled(IkeSaId),
}

/// Datagrams dropped before reaching an SA, by reason (for `--counters`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DropCounters {
    pub malformed_header: u64,
    pub unknown_spi: u64,
    pub no_connection: u64,
    pub cookie_required: u64,
    pub rate_limited: u64,
    pub unexpected_response: u64,
    /// Retransmitted requests to an IKE SA we closed, answered from its tombstone (counted
    /// here because no SA handled them; not an error).
    pub answered_after_close: u64,
    /// Retransmitted requests from an address other than the IKE SA's peer: not answered,
    /// a replayed copy must not reflect our response at a third party.
    pub foreign_retransmit: u64,
    /// IKE_SA_INIT dropped (even with a valid COOKIE) because `init_limit_half_open`
    /// half-open SAs exist (strongSwan `charon.init_limit_half_open`).
    pub half_open_limit: u64,
    /// IKE_SA_INIT dropped because its source IP already has `block_threshold` half-open SAs
    /// (strongSwan `charon.block_threshold`).
    pub half_open_per_address: u64,
    /// IKE_AUTH refused with AUTHENTICATION_FAILED because the peer's certificates exceeded a
    /// work bound: too many CERT payloads or signature verifications (not a datagram drop).
    pub auth_limit: u64,
    /// IKE_AUTH refused with AUTHENTICATION_FAILED for a SHA-1 signature or an RSA key out of
    /// bounds (RFC 8247; not a datagram drop).
    pub auth_weak_algorithm: u64,
    /// Datagrams the engine produced while `max_queued_transmits` were already waiting.
    pub send_queue_full: u64,
}

/// Rotating secret for stateless cookies (RFC 7296 §2.6): `cookie = version(1) ||
/// HMAC-SHA256(secret_version, Ni | IPi | SPIi)`. The previous secret stays valid for one
/// period so cookies issued just before a rotation still verify.
struct CookieJar {
    version: u8,
    current: [u8; 32],
    previous: Option<[u8; 32]>,
    rotate_at: Instant,
}

impl CookieJar {
    fn new(rng: &mut dyn EngineRng, now: Instant, cfg: &EngineConfig) -> Self {
        let mut current = [0u8; 32];
        rng.fill(&mut current);
        Self {
            version: 0,
            current,
            previous: None,
            rotate_at: now + cfg.cookie_secret_lifetime,
        }
    }

    fn maybe_rotate(&mut self, rng: &mut dyn EngineRng, now: Instant, cfg: &EngineConfig) {
        if now < self.rotate_at {
            return;
        }
        self.previous = Some(self.current);
        rng.fill(&mut self.current);
        self.version = self.version.wrapping_add(1);
        self.rotate_at = now + cfg.cookie_secret_lifetime;
    }

    fn compute(secret: &[u8; 32], version: u8, ni: &[u8], ip: IpAddr, spi_i: u64) -> Vec<u8> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes any key");
        mac.update(ni);
        match ip {
            IpAddr::V4(a) => mac.update(&a.octets()),
            IpAddr::V6(a) => mac.update(&a.octets()),
        }
        mac.update(&spi_i.to_be_bytes());
        let mut out = vec![version];
        out.extend_from_slice(&mac.finalize().into_bytes());
        out
    }

    fn issue(&self, ni: &[u8], ip: IpAddr, spi_i: u64) -> Vec<u8> {
        Self::compute(&self.current, self.version, ni, ip, spi_i)
    }

    fn verify(&self, cookie: &[u8], ni: &[u8], ip: IpAddr, spi_i: u64) -> bool {
        let Some(&v) = cookie.first() else {
            return false;
        };
        let secret = if v == self.version {
            &self.current
        } else if v == self.version.wrapping_sub(1) {
            match &self.previous {
                Some(p) => p,
                None => return false,
            }
        } else {
            return false;
        };
        let want = Self::compute(secret, v, ni, ip, spi_i);
        // Constant-time compare: a cookie oracle must not leak prefix matches.
        want.len() == cookie.len()
            && want
                .iter()
                .zip(cookie)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

/// The IKEv2 endpoint: owns every IKE SA of this node.
pub struct Endpoint {
    cfg: Arc<EngineConfig>,
    rng: Box<dyn EngineRng>,
    sas: HashMap<u64, IkeSa>,
    /// Responder half-open SAs by (peer address, peer SPIi), to recognise IKE_SA_INIT
    /// retransmissions and to count half-open SAs for the cookie threshold.
    half_open: HashMap<(SocketAddr, u64), u64>,
    /// The same index by our SPI, so leaving it is O(1).
    half_open_by_spi: HashMap<u64, (SocketAddr, u64)>,
    /// Half-open SAs per peer IP (`block_threshold`), kept on insert and removal.
    half_open_per_ip: HashMap<IpAddr, usize>,
    cookies: CookieJar,
    last_new_exchange: HashMap<IpAddr, Instant>,
    /// `last_new_exchange` is pruned of entries older than the interval when it reaches this
    /// size (then twice the survivors): amortised O(1) per new IKE SA.
    rate_prune_at: usize,
    out: Output,
    next_uid: u32,
    wall_anchor: (Instant, SystemTime),
    drops: DropCounters,
    tombstones: Tombstones,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("sas", &self.sas.len())
            .field("half_open", &self.half_open.len())
            .field("drops", &self.drops)
            .finish()
    }
}

impl Endpoint {
    /// Creates an endpoint. `now`/`wall` anchor the monotonic clock to wall-clock time, used
    /// only for certificate validity.
    pub fn new(
        cfg: Arc<EngineConfig>,
        mut rng: Box<dyn EngineRng>,
        now: Instant,
        wall: SystemTime,
    ) -> Self {
        let cookies = CookieJar::new(rng.as_mut(), now, &cfg);
        Self {
            cfg,
            rng,
            sas: HashMap::new(),
            half_open: HashMap::new(),
            half_open_by_spi: HashMap::new(),
            half_open_per_ip: HashMap::new(),
            cookies,
            last_new_exchange: HashMap::new(),
            rate_prune_at: RATE_PRUNE_MIN,
            out: Output::default(),
            next_uid: 1,
            wall_anchor: (now, wall),
            drops: DropCounters::default(),
            tombstones: Tombstones::default(),
        }
    }

    /// Replaces the configuration; existing SAs keep the connection they were created with.
    pub fn set_config(&mut self, cfg: Arc<EngineConfig>) {
        self.cfg = cfg;
    }

    pub fn config(&self) -> &EngineConfig {
        &self.cfg
    }

    pub fn drop_counters(&self) -> DropCounters {
        self.drops
    }

    /// Number of responder SAs waiting for IKE_AUTH (the cookie threshold counts these).
    pub fn half_open_count(&self) -> usize {
        self.half_open.len()
    }

    /// IDs of all live IKE SAs, ordered by uid.
    pub fn ike_sas(&self) -> Vec<IkeSaId> {
        let mut v: Vec<IkeSaId> = self.sas.values().map(|s| s.id()).collect();
        v.sort();
        v
    }

    /// Read-only view of one IKE SA (state, keys for tests, GSAs).
    pub fn ike_sa(&self, id: IkeSaId) -> Option<&IkeSa> {
        self.sas.get(&id.local_spi)
    }

    fn wall_now(&self, now: Instant) -> SystemTime {
        let (at, wall) = self.wall_anchor;
        match now.checked_duration_since(at) {
            Some(d) => wall.checked_add(d).unwrap_or(wall),
            None => wall.checked_sub(at.duration_since(now)).unwrap_or(wall),
        }
    }

    fn alloc_uid(&mut self) -> u32 {
        let u = self.next_uid;
        self.next_uid = self.next_uid.wrapping_add(1).max(1);
        u
    }

    fn fresh_spi(&mut self) -> u64 {
        loop {
            let spi = random_nonzero_u64(self.rng.as_mut());
            if !self.sas.contains_key(&spi) {
                return spi;
            }
        }
    }

    /// Starts an IKE SA for connection `conn_name` towards its configured peer (or `remote`
    /// when given). Returns the new SA's id; progress is reported through events.
    pub fn initiate(
        &mut self,
        now: Instant,
        conn_name: &str,
        local: SocketAddr,
        remote: Option<SocketAddr>,
    ) -> Result<IkeSaId, CommandError> {
        let conn = self
            .cfg
            .connection(conn_name)
            .cloned()
            .ok_or_else(|| CommandError::UnknownConnection(conn_name.to_owned()))?;
        let remote = remote
            .or_else(|| crate::config::remote_endpoint(&conn))
            .ok_or_else(|| CommandError::NoRemoteAddress(conn_name.to_owned()))?;
        let uid = self.alloc_uid();
        let spi = self.fresh_spi();
        let wall = self.wall_now(now);
        let mut ctx = Ctx::new(
            now,
            wall,
            &self.cfg,
            self.rng.as_mut(),
            &mut self.out,
            &mut self.next_uid,
        );
        let sa = IkeSa::initiate(&mut ctx, conn, uid, spi, local, remote);
        let id = sa.id();
        self.sas.insert(spi, sa);
        self.post_process(now);
        Ok(id)
    }

    /// Handles one received IKE datagram (without the 4-byte non-ESP marker on port 4500).
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        bytes: &[u8],
    ) {
        self.handle_datagram_inner(now, local, remote, bytes);
        self.bound_transmits();
    }

    fn handle_datagram_inner(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        bytes: &[u8],
    ) {
        self.cookies.maybe_rotate(self.rng.as_mut(), now, &self.cfg);
        let hdr = match IkeHeader::parse(bytes) {
            Ok(h) => h,
            Err(_) => {
                self.drops.malformed_header += 1;
                return;
            }
        };
        let is_new_init = hdr.exchange == ExchangeType::IKE_SA_INIT
            && !hdr.flags.is_response()
            && hdr.flags.is_initiator()
            && hdr.spi_r == 0;
        if is_new_init {
            self.handle_init_request(now, local, remote, &hdr, bytes);
            return;
        }
        // The I flag names the original initiator: when the sender has it, we are the
        // responder and our SPI is SPIr (RFC 7296 §3.1).
        let our_spi = if hdr.flags.is_initiator() {
            hdr.spi_r
        } else {
            hdr.spi_i
        };
        let wall = self.wall_now(now);
        let parallel = self.has_parallel(our_spi);
        let Some(sa) = self.sas.get_mut(&our_spi) else {
            if !hdr.flags.is_response() {
                if let Some(p) = self.tombstones.answer(now, our_spi, hdr.message_id, remote) {
                    // §2.1: the retransmitted last request of an SA we closed (the peer's
                    // Delete whose answer was lost): the cached answer again.
                    for bytes in p.clone() {
                        self.out.transmits.push_back(Transmit {
                            src: local,
                            dst: remote,
                            bytes,
                        });
                    }
                    self.drops.answered_after_close += 1;
                    return;
                }
            }
            // RFC 7296 §2.21.4 allows an INVALID_IKE_SPI answer; we stay silent (no
            // reflection amplification), and count.
            self.drops.unknown_spi += 1;
            return;
        };
        let mut ctx = Ctx::new(
            now,
            wall,
            &self.cfg,
            self.rng.as_mut(),
            &mut self.out,
            &mut self.next_uid,
        );
        ctx.parallel_sa = parallel;
        sa.handle_datagram(&mut ctx, local, remote, &hdr, bytes);
        self.after_sa_activity(now, our_spi);
        self.post_process(now);
    }

    fn handle_init_request(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        hdr: &IkeHeader,
        bytes: &[u8],
    ) {
        let wall = self.wall_now(now);
        // 1. A retransmitted IKE_SA_INIT goes to the half-open SA, which repeats its response.
        if let Some(&spi) = self.half_open.get(&(remote, hdr.spi_i)) {
            if let Some(sa) = self.sas.get_mut(&spi) {
                let mut ctx = Ctx::new(
                    now,
                    wall,
                    &self.cfg,
                    self.rng.as_mut(),
                    &mut self.out,
                    &mut self.next_uid,
                );
                sa.handle_datagram(&mut ctx, local, remote, hdr, bytes);
                self.after_sa_activity(now, spi);
                return;
            }
        }
        // 2. Cheap checks before any state or D-H (boringtun's rate limiter idea).
        let Some(conn) = self.find_connection(remote.ip()) else {
            self.drops.no_connection += 1;
            return;
        };
        let init = match crate::sa::init::peek_init_request(bytes) {
            Ok(p) => p,
            Err(e) => {
                self.drops.malformed_header += 1;
                // RFC 7296 §2.5: an unknown critical payload or another major version is
                // answered (statelessly); other garbage is dropped.
                if matches!(
                    e,
                    crate::wire::Error::UnsupportedCriticalPayload(_)
                        | crate::wire::Error::UnsupportedMajorVersion(_)
                ) {
                    let n = crate::wire::Notify::new(e.notify_type(), e.notify_data());
                    self.out.transmits.push_back(Transmit {
                        src: local,
                        dst: remote,
                        bytes: crate::sa::init::stateless_response(hdr, n),
                    });
                }
                return;
            }
        };
        if self.half_open.len() >= self.cfg.cookie_threshold {
            let ok = init
                .cookie
                .as_deref()
                .is_some_and(|c| self.cookies.verify(c, &init.nonce, remote.ip(), hdr.spi_i));
            if !ok {
                // RFC 7296 §2.6: answer statelessly with N(COOKIE) only.
                let cookie = self.cookies.issue(&init.nonce, remote.ip(), hdr.spi_i);
                let bytes = crate::sa::init::cookie_response(hdr, &cookie);
                self.out.transmits.push_back(Transmit {
                    src: local,
                    dst: remote,
                    bytes,
                });
                self.drops.cookie_required += 1;
                return;
            }
        }
        // Cookies prove only that the sender sees our answers; these bound the state it can
        // make us keep (strongSwan receiver.c drops IKE_SA_INIT the same way, in this order).
        if let Some(max) = self.cfg.block_threshold {
            if self
                .half_open_per_ip
                .get(&remote.ip())
                .copied()
                .unwrap_or(0)
                >= max
            {
                self.drops.half_open_per_address += 1;
                return;
            }
        }
        if let Some(max) = self.cfg.init_limit_half_open {
            if self.half_open.len() >= max {
                self.drops.half_open_limit += 1;
                return;
            }
        }
        if let Some(min) = self.cfg.per_peer_min_interval {
            if let Some(last) = self.last_new_exchange.get(&remote.ip()) {
                if now.saturating_duration_since(*last) < min {
                    self.drops.rate_limited += 1;
                    return;
                }
            }
        }
        // 3. A new responder SA.
        let uid = self.alloc_uid();
        let spi = self.fresh_spi();
        let mut ctx = Ctx::new(
            now,
            wall,
            &self.cfg,
            self.rng.as_mut(),
            &mut self.out,
            &mut self.next_uid,
        );
        let sa = IkeSa::respond(&mut ctx, conn, uid, spi, local, remote, hdr, bytes);
        if let Some(sa) = sa {
            // Only an exchange that made state counts for the rate limit: a stateless answer
            // (INVALID_KE_PAYLOAD, NO_PROPOSAL_CHOSEN) lets the peer retry at once.
            self.note_new_exchange(now, remote.ip());
            self.add_half_open((remote, hdr.spi_i), spi);
            self.sas.insert(spi, sa);
            self.after_sa_activity(now, spi);
        }
    }

    /// Records a new IKE SA from `ip` for `per_peer_min_interval`; the map only holds
    /// addresses seen within the interval once it has grown past `rate_prune_at`.
    fn note_new_exchange(&mut self, now: Instant, ip: IpAddr) {
        let Some(min) = self.cfg.per_peer_min_interval else {
            return;
        };
        self.last_new_exchange.insert(ip, now);
        if self.last_new_exchange.len() >= self.rate_prune_at {
            self.last_new_exchange
                .retain(|_, t| now.saturating_duration_since(*t) < min);
            self.rate_prune_at = (2 * self.last_new_exchange.len()).max(RATE_PRUNE_MIN);
        }
    }

    /// Enters a responder SA into the half-open index and the per-address count.
    fn add_half_open(&mut self, key: (SocketAddr, u64), spi: u64) {
        if let Some(old) = self.half_open.insert(key, spi) {
            // Same peer address and SPIi again (cannot happen: a retransmission goes to the
            // SA); keep the counts exact anyway.
            self.half_open_by_spi.remove(&old);
            dec_count(&mut self.half_open_per_ip, key.0.ip());
        }
        self.half_open_by_spi.insert(spi, key);
        *self.half_open_per_ip.entry(key.0.ip()).or_insert(0) += 1;
    }

    /// Takes the SA with our `spi` out of the half-open index, if it is there.
    fn forget_half_open(&mut self, spi: u64) {
        if let Some(key) = self.half_open_by_spi.remove(&spi) {
            if self.half_open.get(&key) == Some(&spi) {
                self.half_open.remove(&key);
            }
            dec_count(&mut self.half_open_per_ip, key.0.ip());
        }
    }

    /// Does another IKE SA of the same connection exist besides `spi`?
    fn has_parallel(&self, spi: u64) -> bool {
        let Some(sa) = self.sas.get(&spi) else {
            return false;
        };
        let name = &sa.connection().name;
        self.sas
            .iter()
            .any(|(k, s)| *k != spi && &s.connection().name == name)
    }

    /// The first connection whose remote addresses include `ip` (or that accepts any).
    fn find_connection(&self, ip: IpAddr) -> Option<Arc<ConnectionConfig>> {
        let by_addr = self
            .cfg
            .connections
            .iter()
            .find(|c| c.remote_addrs.contains(&ip));
        by_addr
            .or_else(|| {
                self.cfg
                    .connections
                    .iter()
                    .find(|c| c.remote_addrs.is_empty())
            })
            .cloned()
    }

    /// Housekeeping after an SA ran: leave the half-open index once past IKE_AUTH, drop dead
    /// SAs.
    fn after_sa_activity(&mut self, now: Instant, spi: u64) {
        let Some(sa) = self.sas.get(&spi) else {
            return;
        };
        if !sa.is_half_open_responder() {
            // O(1): the per-address count and both indexes (no scan of the half-open SAs).
            let key = self.half_open_by_spi.remove(&spi);
            if let Some(key) = key {
                if self.half_open.get(&key) == Some(&spi) {
                    self.half_open.remove(&key);
                }
                dec_count(&mut self.half_open_per_ip, key.0.ip());
            }
        }
        if sa.is_dead() {
            if let Some(stone) = sa.tombstone(now + TOMBSTONE_TIME) {
                self.tombstones.bury(now, spi, stone);
            }
            self.sas.remove(&spi);
            self.forget_half_open(spi);
        }
    }

    /// After any input: insert IKE SAs created by rekeys, apply GSA hand-overs, INITIAL_CONTACT
    /// and the full-mesh duplicate rule.
    fn post_process(&mut self, now: Instant) {
        self.drops.foreign_retransmit += std::mem::take(&mut self.out.foreign_retransmits);
        self.drops.auth_limit += std::mem::take(&mut self.out.auth_limits);
        self.drops.auth_weak_algorithm += std::mem::take(&mut self.out.auth_weak_algorithms);
        for sa in self.out.spawned.drain(..) {
            self.sas.insert(sa.id().local_spi, sa);
        }
        for (spi, gsas) in self.out.gsa_transfers.drain(..) {
            if let Some(sa) = self.sas.get_mut(&spi) {
                sa.adopt_gsas(gsas);
            }
        }
        for (spi, at, task) in std::mem::take(&mut self.out.task_transfers) {
            if let Some(sa) = self.sas.get_mut(&spi) {
                sa.accept_deferred(at, task);
            }
        }
        for (conn, local, remote) in std::mem::take(&mut self.out.restart) {
            // dpd_action = restart: a fresh IKE SA right away (its own retransmissions pace
            // the attempts while the peer stays away).
            let _ = self.initiate(now, &conn, local, Some(remote));
        }
        let contacts = std::mem::take(&mut self.out.initial_contact);
        for spi in contacts {
            self.apply_initial_contact(now, spi);
        }
        self.resolve_duplicates(now);
    }

    /// RFC 7296 §2.4: an authenticated INITIAL_CONTACT says the peer has no other IKE SA with
    /// us; older SAs of that connection and identity are dropped without a Delete.
    fn apply_initial_contact(&mut self, now: Instant, spi: u64) {
        let Some(sa) = self.sas.get(&spi) else {
            return;
        };
        let conn = sa.connection().name.clone();
        let Some(peer) = sa.peer_id().cloned() else {
            return;
        };
        let stale: Vec<u64> = self
            .sas
            .iter()
            .filter(|(k, s)| {
                **k != spi && s.connection().name == conn && s.peer_id() == Some(&peer)
            })
            .map(|(k, _)| *k)
            .collect();
        let wall = self.wall_now(now);
        for k in stale {
            self.forget_half_open(k);
            if let Some(mut old) = self.sas.remove(&k) {
                let mut ctx = Ctx::new(
                    now,
                    wall,
                    &self.cfg,
                    self.rng.as_mut(),
                    &mut self.out,
                    &mut self.next_uid,
                );
                old.go_down(&mut ctx, crate::sa::events::DownReason::InitialContact);
            }
        }
    }

    /// Full mesh, both ends initiating at once: two IKE SAs for one (connection, peer).
    /// Tie-break (documented in docs/ikev2-engine.md): the SA whose IKE_SA_INIT nonce Ni is
    /// lowest (octet-wise, as RFC 7296 §2.8.1) survives; the initiator of each other SA deletes
    /// it. Both ends see the same nonces, so they agree without talking.
    fn resolve_duplicates(&mut self, now: Instant) {
        let mut groups: HashMap<(String, crate::config::Identity), Vec<u64>> = HashMap::new();
        for (spi, sa) in &self.sas {
            // SAs born from an IKE rekey follow the §2.8.2 collision rules instead. A loser
            // whose Delete is already asked for is settled: while our request on it is
            // outstanding its Delete waits in the queue and it stays active, and deleting it
            // again recursed through post_process without end (stack overflow, found by
            // fuzz_engine_null; tests/duplicate_ike_sa_busy_window.rs).
            let settled = sa.delete_requested();
            if let (true, false, false, Some(peer)) =
                (sa.is_active(), sa.via_rekey(), settled, sa.peer_id())
            {
                groups
                    .entry((sa.connection().name.clone(), peer.clone()))
                    .or_default()
                    .push(*spi);
            }
        }
        for spis in groups.into_values().filter(|g| g.len() > 1) {
            let winner = spis
                .iter()
                .copied()
                .min_by(|a, b| {
                    self.sas[a]
                        .creation_nonce()
                        .cmp(self.sas[b].creation_nonce())
                })
                .unwrap_or_default();
            for spi in spis.into_iter().filter(|s| *s != winner) {
                if self.sas[&spi].is_initiator() {
                    let id = self.sas[&spi].id();
                    let _ = self.delete_ike_with(now, id, crate::sa::events::DownReason::Duplicate);
                }
            }
        }
    }

    /// Runs every timer due at `now` (retransmissions, DPD, rekeys, expiries).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.cookies.maybe_rotate(self.rng.as_mut(), now, &self.cfg);
        let wall = self.wall_now(now);
        let due: Vec<u64> = self
            .sas
            .iter()
            .filter(|(_, sa)| sa.poll_timeout().is_some_and(|t| t <= now))
            .map(|(spi, _)| *spi)
            .collect();
        for spi in due {
            let parallel = self.has_parallel(spi);
            if let Some(sa) = self.sas.get_mut(&spi) {
                let mut ctx = Ctx::new(
                    now,
                    wall,
                    &self.cfg,
                    self.rng.as_mut(),
                    &mut self.out,
                    &mut self.next_uid,
                );
                ctx.parallel_sa = parallel;
                sa.handle_timeout(&mut ctx);
            }
            self.after_sa_activity(now, spi);
        }
        self.post_process(now);
        self.bound_transmits();
    }

    /// The earliest instant at which [`Endpoint::handle_timeout`] must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.sas.values().filter_map(IkeSa::poll_timeout).min()
    }

    /// Drops the newest datagrams beyond `max_queued_transmits` (counted).
    fn bound_transmits(&mut self) {
        let max = self.cfg.max_queued_transmits;
        while self.out.transmits.len() > max {
            self.out.transmits.pop_back();
            self.drops.send_queue_full += 1;
        }
    }

    /// Next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.transmits.pop_front()
    }

    /// Next event for the daemon.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.out.events.pop_front()
    }

    /// Runs `f` on an SA with a fresh context; used by the command methods.
    fn with_sa<R>(
        &mut self,
        now: Instant,
        id: IkeSaId,
        f: impl FnOnce(&mut IkeSa, &mut Ctx<'_>) -> Result<R, CommandError>,
    ) -> Result<R, CommandError> {
        let wall = self.wall_now(now);
        let sa = self
            .sas
            .get_mut(&id.local_spi)
            .ok_or(CommandError::UnknownSa(id))?;
        let mut ctx = Ctx::new(
            now,
            wall,
            &self.cfg,
            self.rng.as_mut(),
            &mut self.out,
            &mut self.next_uid,
        );
        let r = f(sa, &mut ctx);
        self.after_sa_activity(now, id.local_spi);
        self.post_process(now);
        r
    }

    /// Creates the GSA named `child` of the SA's connection with CREATE_CHILD_SA.
    pub fn create_gsa(
        &mut self,
        now: Instant,
        id: IkeSaId,
        child: &str,
    ) -> Result<(), CommandError> {
        self.with_sa(now, id, |sa, ctx| sa.create_gsa(ctx, child))
    }

    /// Rekeys the GSA whose inbound GSA-ID is `inbound_gsa_id` (make-before-break).
    pub fn rekey_gsa(
        &mut self,
        now: Instant,
        id: IkeSaId,
        inbound_gsa_id: u32,
    ) -> Result<(), CommandError> {
        self.with_sa(now, id, |sa, ctx| sa.rekey_gsa(ctx, inbound_gsa_id))
    }

    /// Rekeys the IKE SA itself (RFC 7296 §2.18).
    pub fn rekey_ike(&mut self, now: Instant, id: IkeSaId) -> Result<(), CommandError> {
        self.with_sa(now, id, |sa, ctx| sa.rekey_ike(ctx))
    }

    /// Deletes the GSA whose inbound GSA-ID is `inbound_gsa_id`.
    pub fn delete_gsa(
        &mut self,
        now: Instant,
        id: IkeSaId,
        inbound_gsa_id: u32,
    ) -> Result<(), CommandError> {
        self.with_sa(now, id, |sa, ctx| sa.delete_gsa(ctx, inbound_gsa_id))
    }

    /// Deletes the IKE SA and all its GSAs (INFORMATIONAL with Delete, RFC 7296 §1.4.1).
    fn delete_ike_with(
        &mut self,
        now: Instant,
        id: IkeSaId,
        reason: crate::sa::events::DownReason,
    ) -> Result<(), CommandError> {
        self.with_sa(now, id, |sa, ctx| sa.delete_ike_because(ctx, reason))
    }

    pub fn delete_ike(&mut self, now: Instant, id: IkeSaId) -> Result<(), CommandError> {
        self.with_sa(now, id, |sa, ctx| sa.delete_ike(ctx))
    }

    /// Ends an IKE SA whatever its state (`--terminate`): an established one is deleted with
    /// an INFORMATIONAL Delete, one still negotiating is dropped locally.
    pub fn terminate(&mut self, now: Instant, id: IkeSaId) -> Result<(), CommandError> {
        self.with_sa(now, id, |sa, ctx| match sa.delete_ike(ctx) {
            Err(CommandError::NotEstablished) => {
                sa.go_down(ctx, crate::sa::events::DownReason::DeletedLocally);
                Ok(())
            }
            other => other,
        })
    }

    /// Sends a liveness check now (DPD).
    pub fn send_dpd(&mut self, now: Instant, id: IkeSaId) -> Result<(), CommandError> {
        self.with_sa(now, id, |sa, ctx| sa.send_dpd(ctx))
    }

    /// The dataplane matched a SECURE policy for `vni` without an outbound GSA (ACQUIRE).
    /// Creates the GSA on an existing IKE SA of the connection whose child covers the VNI, or
    /// initiates that connection (the first GSA then rides in IKE_AUTH).
    pub fn on_acquire(
        &mut self,
        now: Instant,
        local: SocketAddr,
        vni: u32,
    ) -> Result<AcquireAction, CommandError> {
        let covers = |c: &crate::config::GsaConfig| {
            c.selectors
                .geneve
                .iter()
                .any(|g| (g.vni_start..=g.vni_end).contains(&vni))
        };
        let (conn, child) = self
            .cfg
            .connections
            .iter()
            .find_map(|c| {
                c.children
                    .iter()
                    .find(|ch| covers(ch))
                    .map(|ch| (c.name.clone(), ch.name.clone()))
            })
            .ok_or(CommandError::NoPolicyForVni(vni))?;
        let existing = self
            .sas
            .values()
            .filter(|s| s.connection().name == conn)
            .map(|s| {
                (
                    s.id(),
                    s.is_active(),
                    // A GSA we are deleting does not count: after a hard expiry gsa-dp no
                    // longer has it, while the Delete may wait for retransmissions.
                    s.gsas().iter().any(|g| {
                        g.params.name == child
                            && g.remove_at.is_none()
                            && !s.closing_gsa(g.inbound_id)
                    }),
                )
            })
            .collect::<Vec<_>>();
        if let Some((id, _, has)) = existing.iter().find(|(_, active, _)| *active) {
            if *has {
                return Ok(AcquireAction::AlreadyInstalled(*id));
            }
            self.create_gsa(now, *id, &child)?;
            return Ok(AcquireAction::CreatingGsa(*id));
        }
        if let Some((id, _, _)) = existing.first() {
            return Ok(AcquireAction::Pending(*id));
        }
        let id = self.initiate(now, &conn, local, None)?;
        Ok(AcquireAction::Initiated(id))
    }

    /// The dataplane reported a soft or hard expiry for the GSA with `inbound_gsa_id`.
    pub fn on_expire(
        &mut self,
        now: Instant,
        inbound_gsa_id: u32,
        hard: bool,
    ) -> Result<(), CommandError> {
        let owner = self
            .sas
            .values()
            .find(|sa| sa.has_gsa(inbound_gsa_id))
            .map(IkeSa::id)
            .ok_or(CommandError::UnknownGsa(inbound_gsa_id))?;
        if hard {
            self.delete_gsa(now, owner, inbound_gsa_id)
        } else {
            self.rekey_gsa(now, owner, inbound_gsa_id)
        }
    }
}

/// Smallest size at which the rate limiter's map is pruned.
const RATE_PRUNE_MIN: usize = 1024;

/// Decrements a per-address count, removing it at zero (the map holds only live addresses).
fn dec_count(counts: &mut HashMap<IpAddr, usize>, ip: IpAddr) {
    if let Some(n) = counts.get_mut(&ip) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            counts.remove(&ip);
        }
    }
}

/// Fuzzing entry point shared by the proptest and a cargo-fuzz target: drives a responder
/// and an initiator (PSK, one GSA) to an established IKE SA, then feeds `data` to both as
/// datagrams: each chunk either replaces a captured message, XORs bytes into one (so the
/// mutation reaches past the header and the SK decryption), or is sent raw. Must never panic.
/// Returns the number of datagrams the engines emitted.
pub fn fuzz_engine(data: &[u8]) -> usize {
    use crate::config::{ConnectionConfig, GsaConfig, Identity};
    let now = Instant::now();
    let wall = SystemTime::UNIX_EPOCH;
    let conn = |n: &str, me: &str, peer: &str, remote: SocketAddr| {
        let mut c = ConnectionConfig::psk(
            n,
            Identity::Fqdn(me.into()),
            Identity::Fqdn(peer.into()),
            b"fuzz",
        );
        c.remote_addrs = vec![remote.ip()];
        c.children.push(GsaConfig::geo_vnis("g", 1, 100));
        c.dpd_delay = Some(std::time::Duration::from_secs(10));
        Arc::new(EngineConfig {
            connections: vec![Arc::new(c)],
            cookie_threshold: 1,
            ..Default::default()
        })
    };
    let a_addr: SocketAddr = SocketAddr::from(([192, 0, 2, 1], 500));
    let b_addr: SocketAddr = SocketAddr::from(([192, 0, 2, 2], 500));
    let mut a = Endpoint::new(conn("b", "a", "b", b_addr), seeded_rng([1; 32]), now, wall);
    let mut b = Endpoint::new(conn("a", "b", "a", a_addr), seeded_rng([2; 32]), now, wall);
    let mut captured: Vec<Vec<u8>> = Vec::new();
    let mut emitted = 0;
    let _ = a.initiate(now, "b", a_addr, None);
    let shuttle = |a: &mut Endpoint, b: &mut Endpoint, captured: &mut Vec<Vec<u8>>| {
        for _ in 0..16 {
            let mut moved = false;
            while let Some(t) = a.poll_transmit() {
                captured.push(t.bytes.clone());
                b.handle_datagram(now, t.dst, t.src, &t.bytes);
                moved = true;
            }
            while let Some(t) = b.poll_transmit() {
                captured.push(t.bytes.clone());
                a.handle_datagram(now, t.dst, t.src, &t.bytes);
                moved = true;
            }
            while a.poll_event().is_some() || b.poll_event().is_some() {}
            if !moved {
                break;
            }
        }
    };
    shuttle(&mut a, &mut b, &mut captured);
    let mut rest = data;
    let mut t = now;
    while let Some((&op, tail)) = rest.split_first() {
        let len = usize::from(tail.first().copied().unwrap_or(0)).min(tail.len().saturating_sub(1));
        let chunk = tail.get(1..1 + len).unwrap_or(&[]);
        rest = tail.get(1 + len..).unwrap_or(&[]);
        let mut msg = match (op % 3, captured.len()) {
            (0, _) | (_, 0) => chunk.to_vec(),
            (1, n) => captured[usize::from(op) % n].clone(),
            (_, n) => {
                let mut m = captured[usize::from(op) % n].clone();
                for (i, x) in chunk.iter().enumerate() {
                    if let Some(pos) = m.len().checked_sub(1 + i * 7 % m.len().max(1)) {
                        m[pos] ^= x;
                    }
                }
                m
            }
        };
        if op & 0x80 != 0 {
            msg.truncate(usize::from(op & 0x3f) * 4);
        }
        let (to, from) = if op & 0x40 != 0 {
            (&mut a, b_addr)
        } else {
            (&mut b, a_addr)
        };
        let local = if op & 0x40 != 0 { a_addr } else { b_addr };
        to.handle_datagram(t, local, from, &msg);
        t += std::time::Duration::from_millis(u64::from(op) * 50);
        a.handle_timeout(t);
        b.handle_timeout(t);
        while let Some(x) = a.poll_transmit() {
            emitted += 1;
            b.handle_datagram(t, x.dst, x.src, &x.bytes);
        }
        while let Some(x) = b.poll_transmit() {
            emitted += 1;
            a.handle_datagram(t, x.dst, x.src, &x.bytes);
        }
        while a.poll_event().is_some() || b.poll_event().is_some() {}
    }
    emitted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_verifies_and_survives_one_rotation() {
        let cfg = EngineConfig::default();
        let t0 = Instant::now();
        let mut rng = seeded_rng([7; 32]);
        let mut jar = CookieJar::new(rng.as_mut(), t0, &cfg);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let c = jar.issue(b"nonce-i", ip, 42);
        assert_eq!(c.len(), 33, "version + HMAC-SHA256");
        assert!(jar.verify(&c, b"nonce-i", ip, 42));
        assert!(!jar.verify(&c, b"nonce-x", ip, 42));
        assert!(!jar.verify(&c, b"nonce-i", "192.0.2.2".parse().unwrap(), 42));
        assert!(!jar.verify(&c, b"nonce-i", ip, 43));
        let mut bad = c.clone();
        bad[5] ^= 1;
        assert!(!jar.verify(&bad, b"nonce-i", ip, 42));
        assert!(!jar.verify(&[], b"nonce-i", ip, 42));
        // One rotation: still valid. Two: expired.
        jar.maybe_rotate(rng.as_mut(), t0 + cfg.cookie_secret_lifetime, &cfg);
        assert!(jar.verify(&c, b"nonce-i", ip, 42));
        assert_ne!(jar.issue(b"nonce-i", ip, 42), c);
        jar.maybe_rotate(rng.as_mut(), t0 + 2 * cfg.cookie_secret_lifetime, &cfg);
        assert!(!jar.verify(&c, b"nonce-i", ip, 42));
    }

    #[test]
    fn seeded_rng_is_deterministic_and_spis_nonzero() {
        let mut a = seeded_rng([1; 32]);
        let mut b = seeded_rng([1; 32]);
        let x = random_nonzero_u64(a.as_mut());
        assert_eq!(x, random_nonzero_u64(b.as_mut()));
        assert_ne!(x, 0);
        assert_ne!(random_nonzero_u32(a.as_mut()), 0);
    }
}
