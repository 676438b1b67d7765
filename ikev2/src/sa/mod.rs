//! One IKE SA and its GSAs: the state machine, split by exchange.
//!
//! - [`init`]: IKE_SA_INIT (cookies, INVALID_KE retry), initiator and responder;
//! - [`auth`]: IKE_AUTH (PSK, RFC 7427 signatures), first GSA or childless (RFC 6023);
//! - [`child`]: GSA negotiation (Vendor ID, Protocol 201, TS_GENEVE narrowing, KEYMAT,
//!   authorization of the peer's selectors);
//! - [`rekey`]: CREATE_CHILD_SA for new GSAs, GSA rekeys and IKE SA rekeys, collisions;
//! - [`delete`], [`dpd`]: INFORMATIONAL exchanges;
//! - [`timer`]: retransmission, message-ID windows, deadlines.
//!
//! Every exchange is handled by one function per (role, message); the SA's [`State`] says
//! which message it expects, so a message wrong for the state is dropped before any work.

pub mod auth;
pub mod child;
pub mod delete;
pub mod dpd;
pub mod events;
pub mod init;
pub mod keys;
pub mod proposal;
pub mod rekey;
pub mod signature;
pub mod timer;
pub mod views;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use crate::config::{ConnectionConfig, EngineConfig, Identity};
use crate::endpoint::{EngineRng, IkeSaId};
use crate::wire::{
    encode_inner, parse_inner, sk_ranges, split_inner, ExchangeType, Flags, FragmentParams,
    IkeHeader, Message, Notify, Payload, PayloadType, Reassembler, Reassembly, Sk, Skf, HEADER_LEN,
};

use events::{DownReason, Event, LogLevel, LogRecord, Transmit};
use keys::IkeKeys;
use timer::{InitiatorWindow, Packets, ResponderWindow, RetransmitAction, Timer, TimerTable};

/// Cap on buffered fragments of one message (RFC 7383 §5 recommends at most 64 KB).
pub(crate) const MAX_REASSEMBLY: usize = 64 * 1024;

/// AES-GCM explicit IV and ICV sizes in the SK payload (RFC 5282 §3).
const SK_IV_LEN: usize = 8;
const SK_ICV_LEN: usize = 16;

/// What the SA hands back to the endpoint.
#[derive(Default)]
pub struct Output {
    pub transmits: VecDeque<Transmit>,
    pub events: VecDeque<Event>,
    /// IKE SAs created by an IKE SA rekey, to insert under their new SPI.
    pub spawned: Vec<IkeSa>,
    /// GSAs handed from one IKE SA to another (by local SPI) after an IKE rekey collision.
    pub gsa_transfers: Vec<(u64, Vec<Gsa>)>,
    /// An authenticated INITIAL_CONTACT arrived on the SA with this local SPI: other IKE SAs
    /// with the same connection and peer identity are stale (RFC 7296 §2.4).
    pub initial_contact: Vec<u64>,
    /// Connections to initiate again (dpd_action = restart): (name, local, remote).
    pub restart: Vec<(String, SocketAddr, SocketAddr)>,
    /// Deferred tasks handed to the IKE SA (by local SPI) that replaced the one they were
    /// queued on.
    pub(crate) task_transfers: Vec<(u64, Instant, rekey::Task)>,
    /// Retransmitted requests from another address than the SA's peer, not answered.
    pub(crate) foreign_retransmits: u64,
    /// IKE_AUTH refused by a certificate work bound / a weak algorithm (issue 14 item 8).
    pub(crate) auth_limits: u64,
    pub(crate) auth_weak_algorithms: u64,
}

impl Output {
    pub fn log(&mut self, level: LogLevel, context: String, message: String) {
        self.events.push_back(Event::Log(LogRecord {
            level,
            context,
            message,
        }));
    }
}

/// Everything an SA may use while handling one input.
pub struct Ctx<'a> {
    pub now: Instant,
    /// Wall-clock time for certificate validity only.
    pub wall: SystemTime,
    pub cfg: &'a EngineConfig,
    pub rng: &'a mut dyn EngineRng,
    pub out: &'a mut Output,
    /// Log uids for IKE SAs created by rekeys.
    pub uid_counter: &'a mut u32,
    /// Another IKE SA of the same connection exists: do not claim INITIAL_CONTACT
    /// (RFC 7296 §2.4; strongSwan pitfall §5.15).
    pub parallel_sa: bool,
}

impl<'a> Ctx<'a> {
    pub fn new(
        now: Instant,
        wall: SystemTime,
        cfg: &'a EngineConfig,
        rng: &'a mut dyn EngineRng,
        out: &'a mut Output,
        uid_counter: &'a mut u32,
    ) -> Self {
        Self {
            now,
            wall,
            cfg,
            rng,
            out,
            uid_counter,
            parallel_sa: false,
        }
    }

    pub fn random<const N: usize>(&mut self) -> [u8; N] {
        let mut b = [0u8; N];
        self.rng.fill(&mut b);
        b
    }

    pub fn random_vec(&mut self, n: usize) -> Vec<u8> {
        let mut b = vec![0u8; n];
        self.rng.fill(&mut b);
        b
    }
}

/// Why a protected message could not be used.
#[derive(Debug)]
pub(crate) enum OpenError {
    /// Not authentic (or a bad fragment): drop silently.
    Crypto(String),
    /// Authentic but malformed (unknown critical payload, bad syntax): answer requests.
    Syntax(crate::wire::Error),
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::Crypto(e) => f.write_str(e),
            OpenError::Syntax(e) => write!(f, "{e}"),
        }
    }
}

/// Coarse SA state for listings and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaState {
    /// Initiator, IKE_SA_INIT or IKE_AUTH outstanding.
    Connecting,
    /// Responder, waiting for IKE_AUTH.
    HalfOpen,
    Established,
    /// Our Delete for this IKE SA is outstanding.
    Deleting,
    Dead,
}

/// The per-state data (rustls' "each state is a type").
pub(crate) enum State {
    InitSent(Box<init::InitSent>),
    AuthSent(Box<auth::AuthSent>),
    HalfOpen(Box<init::HalfOpen>),
    Established(Box<Established>),
    Dead,
}

/// Data of an established IKE SA.
pub(crate) struct Established {
    pub local_id: Identity,
    pub peer_id: Identity,
    pub gsa_capable: bool,
    /// What our outstanding request is about (window size 1).
    pub pending: Option<rekey::Pending>,
    /// Work waiting for the window.
    pub queue: VecDeque<rekey::Task>,
    /// Set once our Delete for the IKE SA is sent.
    pub deleting: bool,
    /// This SA was replaced by a rekey; only the Delete exchange remains.
    pub rekeyed_to: Option<IkeSaId>,
    /// We answered the peer's IKE rekey while ours was outstanding (§2.8.2 collision): the
    /// peer's new SA and the lowest nonce of that exchange.
    pub peer_rekey: Option<(IkeSaId, Vec<u8>)>,
    /// Why we are deleting this SA (reported when the Delete completes).
    pub delete_reason: Option<DownReason>,
    /// Tasks to retry later (after TEMPORARY_FAILURE, RFC 7296 §2.25).
    pub deferred: Vec<(Instant, rekey::Task)>,
}

/// One negotiated GSA pair.
#[derive(Debug, Clone)]
pub struct Gsa {
    pub params: events::GsaParams,
    /// The GSA-ID we receive on (we chose it).
    pub inbound_id: u32,
    /// The GSA-ID the peer receives on (it chose it).
    pub outbound_id: u32,
    /// Nonces of the exchange that created it, for the §2.8.1 collision rule.
    pub nonces: (Vec<u8>, Vec<u8>),
    /// Set when this GSA was replaced: remove the inbound side at this instant.
    pub remove_at: Option<Instant>,
    /// We initiated the exchange that created it.
    pub created_by_us: bool,
    /// Inbound GSA-ID of the GSA this one replaced (rekey).
    pub replaced: Option<u32>,
    /// Our redundant GSA of a lost rekey collision (§2.8.1), being deleted. The peer never
    /// sends on it: as the responder of our rekey it moves its outbound traffic onto the new
    /// GSA only when we delete the one it replaced, which the loser never does. So its inbound
    /// half goes as soon as our Delete is answered, without the rekey grace period (which
    /// would outlast the next soft expiry at short lifetimes: issue 13).
    pub redundant: bool,
}

/// One IKE SA.
pub struct IkeSa {
    pub(crate) uid: u32,
    pub(crate) conn: Arc<ConnectionConfig>,
    pub(crate) local: SocketAddr,
    /// The peer's address: where our requests go. It never follows a request from elsewhere
    /// (no NAT traversal or MOBIKE here, RFC 7296 §2.23): an authenticated request whose
    /// source an on-path attacker rewrote must not redirect the SA.
    pub(crate) remote: SocketAddr,
    /// While a request is handled: the (local, remote) it came on, where its response goes
    /// (RFC 7296 §2.11), even when that is not `remote`.
    pub(crate) reply_to: Option<(SocketAddr, SocketAddr)>,
    pub(crate) spi_i: u64,
    pub(crate) spi_r: u64,
    /// We are the original initiator (the I flag, RFC 7296 §3.1).
    pub(crate) initiator: bool,
    pub(crate) state: State,
    pub(crate) keys: Option<IkeKeys>,
    pub(crate) iwin: InitiatorWindow,
    pub(crate) rwin: ResponderWindow,
    pub(crate) timers: TimerTable,
    pub(crate) iv_counter: u64,
    pub(crate) gsas: Vec<Gsa>,
    pub(crate) last_rx: Instant,
    /// Ni of IKE_SA_INIT (or of the CREATE_CHILD_SA that rekeyed it into existence).
    pub(crate) creation_ni: Vec<u8>,
    /// Created by an IKE SA rekey (CREATE_CHILD_SA) rather than IKE_SA_INIT.
    pub(crate) via_rekey: bool,
    /// Both ends announced IKEV2_FRAGMENTATION_SUPPORTED (RFC 7383 §2.3).
    pub(crate) frag_ok: bool,
    /// Fragments of the message being received (RFC 7383 §2.6).
    pub(crate) reassembler: Reassembler,
}

impl IkeSa {
    pub fn id(&self) -> IkeSaId {
        IkeSaId {
            local_spi: self.local_spi(),
            uid: self.uid,
        }
    }

    pub fn local_spi(&self) -> u64 {
        if self.initiator {
            self.spi_i
        } else {
            self.spi_r
        }
    }

    /// `(SPIi, SPIr)`.
    pub fn spis(&self) -> (u64, u64) {
        (self.spi_i, self.spi_r)
    }

    pub fn is_initiator(&self) -> bool {
        self.initiator
    }

    pub fn connection(&self) -> &ConnectionConfig {
        &self.conn
    }

    pub fn remote(&self) -> SocketAddr {
        self.remote
    }

    pub fn state(&self) -> SaState {
        match &self.state {
            State::InitSent(_) | State::AuthSent(_) => SaState::Connecting,
            State::HalfOpen(_) => SaState::HalfOpen,
            State::Established(e) if e.deleting => SaState::Deleting,
            State::Established(_) => SaState::Established,
            State::Dead => SaState::Dead,
        }
    }

    /// The IKE SA keys (for tests and key-log output; never logged by the engine).
    pub fn keys(&self) -> Option<&IkeKeys> {
        self.keys.as_ref()
    }

    /// Installed GSAs, oldest first.
    pub fn gsas(&self) -> &[Gsa] {
        &self.gsas
    }

    /// The authenticated peer identity, once established.
    pub fn peer_id(&self) -> Option<&Identity> {
        match &self.state {
            State::Established(e) => Some(&e.peer_id),
            _ => None,
        }
    }

    /// Established and neither deleting nor replaced by a rekey.
    pub fn is_active(&self) -> bool {
        matches!(&self.state, State::Established(e) if !e.deleting && e.rekeyed_to.is_none() && e.peer_rekey.is_none())
    }

    /// Our Delete of this IKE SA was asked for (queued behind an outstanding request, or
    /// sent). Such an SA is on its way out even while [`IkeSa::is_active`].
    pub(crate) fn delete_requested(&self) -> bool {
        matches!(&self.state, State::Established(e) if e.deleting || e.delete_reason.is_some())
    }

    /// Created by an IKE SA rekey; such SAs are left to the §2.8.2 collision rules.
    pub fn via_rekey(&self) -> bool {
        self.via_rekey
    }

    /// The initiator nonce of the exchange that created this SA (the full-mesh tie-break).
    pub fn creation_nonce(&self) -> &[u8] {
        &self.creation_ni
    }

    pub fn has_gsa(&self, inbound_id: u32) -> bool {
        self.gsas.iter().any(|g| g.inbound_id == inbound_id)
    }

    pub(crate) fn is_half_open_responder(&self) -> bool {
        matches!(self.state, State::HalfOpen(_))
    }

    pub(crate) fn is_dead(&self) -> bool {
        matches!(self.state, State::Dead)
    }

    /// What a dead SA leaves for the peer's retransmissions: its last response, when that
    /// answered an exchange after IKE_AUTH (message ID 2 on; in practice the peer's Delete).
    /// Half-open and failed SAs leave nothing (no state for unauthenticated peers).
    pub(crate) fn tombstone(
        &self,
        until: std::time::Instant,
    ) -> Option<crate::tombstone::Tombstone> {
        let (msg_id, packets) = self.rwin.cached()?;
        (msg_id >= 2).then(|| crate::tombstone::Tombstone {
            msg_id,
            packets: packets.to_vec(),
            peer: self.remote,
            until,
        })
    }

    /// `<conn|uid>` as strongSwan prints it.
    pub(crate) fn log_ctx(&self) -> String {
        format!("<{}|{}>", self.conn.name, self.uid)
    }

    pub(crate) fn log(&self, ctx: &mut Ctx<'_>, level: LogLevel, msg: impl Into<String>) {
        ctx.out.log(level, self.log_ctx(), msg.into());
    }

    pub(crate) fn header(&self, exchange: ExchangeType, response: bool, msg_id: u32) -> IkeHeader {
        let mut flags = Flags::default();
        if self.initiator {
            flags = flags | Flags::INITIATOR;
        }
        if response {
            flags = flags | Flags::RESPONSE;
        }
        IkeHeader {
            spi_i: self.spi_i,
            spi_r: self.spi_r,
            exchange,
            flags,
            message_id: msg_id,
        }
    }

    /// Builds an SK-protected message (RFC 7296 §3.14, RFC 5282): encode the inner payloads,
    /// size the SK envelope (header lengths must be final before the AAD is taken, RFC 5282
    /// §5.1), then seal into it. When both ends announced IKEV2_FRAGMENTATION_SUPPORTED and the
    /// datagram would exceed `fragment_mtu`, the inner chain is split into SKF fragments, each
    /// sealed on its own with the next IV (RFC 7383 §2.5).
    pub(crate) fn protect(
        &mut self,
        cfg: &EngineConfig,
        header: IkeHeader,
        inner: &[Payload],
    ) -> Result<Packets, crate::wire::Error> {
        let (first, plaintext) = encode_inner(inner)?;
        let ip_udp = if self.remote.is_ipv6() { 48 } else { 28 };
        let marker = if self.remote.port() == 4500 { 4 } else { 0 };
        let whole = ip_udp + marker + HEADER_LEN + 4 + keys::sealed_len(plaintext.len());
        if !self.frag_ok || whole <= cfg.fragment_mtu {
            let payload = Payload::Sk(Sk::placeholder(first, keys::sealed_len(plaintext.len())));
            return Ok(vec![self.seal_into(header, payload, &plaintext)?]);
        }
        let params =
            FragmentParams::aes_gcm_16(cfg.fragment_mtu, self.remote.is_ipv6(), marker > 0);
        let chunks = split_inner(&plaintext, &params)?;
        let total = u16::try_from(chunks.len())
            .map_err(|_| crate::wire::Error::TooLarge { what: "fragments" })?;
        let mut out = Vec::with_capacity(chunks.len());
        for (i, chunk) in chunks.iter().enumerate() {
            let number = u16::try_from(i + 1).unwrap_or(u16::MAX);
            // Only fragment 1 names the first inner payload (RFC 7383 §2.5).
            let next = if number == 1 {
                first
            } else {
                PayloadType::NONE
            };
            let payload = Payload::Skf(Skf::placeholder(
                number,
                total,
                next,
                keys::sealed_len(chunk.len()),
            ));
            out.push(self.seal_into(header, payload, chunk)?);
        }
        Ok(out)
    }

    /// Emits `header` + one zero-filled SK/SKF envelope and seals `plaintext` into it.
    fn seal_into(
        &mut self,
        header: IkeHeader,
        envelope: Payload,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, crate::wire::Error> {
        let keys = self.keys.as_ref().ok_or(crate::wire::Error::InvalidValue {
            what: "SK payload without keys",
        })?;
        let mut bytes = Message::new(header, vec![envelope]).to_bytes()?;
        let r = sk_ranges(&bytes, SK_IV_LEN, SK_ICV_LEN)?;
        // IV: a per-SA counter never repeats under this key (RFC 5282 §3.1).
        self.iv_counter += 1;
        let body = keys::seal(
            keys,
            self.initiator,
            self.iv_counter,
            &bytes[r.aad.clone()],
            plaintext,
        )
        .map_err(|_| crate::wire::Error::TooLarge {
            what: "SK plaintext",
        })?;
        bytes[r.iv.start..r.icv.end].copy_from_slice(&body);
        Ok(bytes)
    }

    /// Verifies and decrypts the SK payload of a datagram the peer sent on this SA (for
    /// diagnostics and tests; fragments are refused here, the engine reassembles them).
    pub fn decrypt_from_peer(&self, bytes: &[u8]) -> Result<Vec<Payload>, String> {
        let (plain, r) = self.open_one(bytes)?;
        if r.fragment.is_some() {
            return Err("fragment".into());
        }
        parse_inner(r.first_inner, &plain).map_err(|e| e.to_string())
    }

    /// Verifies and decrypts one SK or SKF payload.
    fn open_one(&self, bytes: &[u8]) -> Result<(Vec<u8>, crate::wire::SkRanges), String> {
        let keys = self.keys.as_ref().ok_or("no keys yet")?;
        let r = sk_ranges(bytes, SK_IV_LEN, SK_ICV_LEN).map_err(|e| e.to_string())?;
        let plain = keys::open(
            keys,
            !self.initiator,
            &bytes[r.aad.clone()],
            &bytes[r.iv.start..r.icv.end],
        )
        .map_err(|e| e.to_string())?;
        Ok((plain, r))
    }

    /// Verifies and decrypts a message from the peer; fragments go through the reassembler
    /// (each verified before it is stored, RFC 7383 §2.6). `Ok(None)`: more fragments needed.
    pub(crate) fn unprotect(
        &mut self,
        msg_id: u32,
        bytes: &[u8],
    ) -> Result<Option<Vec<Payload>>, OpenError> {
        let (plain, r) = self.open_one(bytes).map_err(OpenError::Crypto)?;
        let (first, inner) = match r.fragment {
            None => (r.first_inner, plain),
            Some((number, total)) => {
                match self
                    .reassembler
                    .insert(msg_id, number, total, r.first_inner, &plain)
                    .map_err(|e| OpenError::Crypto(e.to_string()))?
                {
                    Reassembly::Complete {
                        first_payload,
                        inner,
                    } => (first_payload, inner),
                    Reassembly::Incomplete | Reassembly::Duplicate => return Ok(None),
                }
            }
        };
        // Authenticated but malformed: the sender gets told (RFC 7296 §2.21).
        parse_inner(first, &inner)
            .map(Some)
            .map_err(OpenError::Syntax)
    }

    pub(crate) fn transmit(&self, ctx: &mut Ctx<'_>, packets: &[Vec<u8>]) {
        self.transmit_to(ctx, (self.local, self.remote), packets);
    }

    fn transmit_to(
        &self,
        ctx: &mut Ctx<'_>,
        (src, dst): (SocketAddr, SocketAddr),
        packets: &[Vec<u8>],
    ) {
        for p in packets {
            ctx.out.transmits.push_back(Transmit {
                src,
                dst,
                bytes: p.clone(),
            });
        }
    }

    /// Sends a new request and starts its retransmission schedule.
    pub(crate) fn send_request(&mut self, ctx: &mut Ctx<'_>, packets: Packets) {
        self.transmit(ctx, &packets);
        self.iwin.sent(ctx.cfg.retransmit, packets, ctx.now);
        self.arm_retransmit();
    }

    /// Builds, sends and remembers an encrypted request of `exchange`.
    pub(crate) fn send_protected_request(
        &mut self,
        ctx: &mut Ctx<'_>,
        exchange: ExchangeType,
        inner: &[Payload],
    ) -> bool {
        let hdr = self.header(exchange, false, self.iwin.next_id());
        match self.protect(ctx.cfg, hdr, inner) {
            Ok(packets) => {
                self.send_request(ctx, packets);
                true
            }
            Err(e) => {
                self.log(
                    ctx,
                    LogLevel::Error,
                    format!("cannot build {exchange:?}: {e}"),
                );
                false
            }
        }
    }

    /// Builds, sends and caches an encrypted response to request `msg_id`.
    pub(crate) fn send_protected_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        exchange: ExchangeType,
        msg_id: u32,
        inner: &[Payload],
    ) {
        let hdr = self.header(exchange, true, msg_id);
        match self.protect(ctx.cfg, hdr, inner) {
            Ok(packets) => {
                let to = self.reply_to.unwrap_or((self.local, self.remote));
                self.transmit_to(ctx, to, &packets);
                self.rwin.responded(msg_id, packets);
            }
            Err(e) => self.log(
                ctx,
                LogLevel::Error,
                format!("cannot build {exchange:?} response: {e}"),
            ),
        }
    }

    pub(crate) fn arm_retransmit(&mut self) {
        match self.iwin.outstanding() {
            Some(r) => self.timers.set(Timer::Retransmit, r.deadline()),
            None => self.timers.stop(Timer::Retransmit),
        }
    }

    /// Handles a datagram routed to this SA.
    pub fn handle_datagram(
        &mut self,
        ctx: &mut Ctx<'_>,
        local: SocketAddr,
        remote: SocketAddr,
        hdr: &IkeHeader,
        bytes: &[u8],
    ) {
        if self.is_dead() {
            return;
        }
        if hdr.flags.is_response() {
            self.handle_response(ctx, hdr, bytes);
        } else {
            self.handle_request(ctx, local, remote, hdr, bytes);
        }
    }

    fn handle_response(&mut self, ctx: &mut Ctx<'_>, hdr: &IkeHeader, bytes: &[u8]) {
        let Some(out) = self.iwin.outstanding() else {
            return;
        };
        if out.msg_id() != hdr.message_id {
            return; // stale or duplicate response (RFC 7296 §2.2)
        }
        if let State::InitSent(_) = self.state {
            if hdr.exchange == ExchangeType::IKE_SA_INIT {
                self.on_init_response(ctx, hdr, bytes);
            }
            return;
        }
        let payloads = match self.unprotect(hdr.message_id, bytes) {
            Ok(Some(p)) => p,
            Ok(None) => return, // more fragments to come
            Err(e) => {
                // Forged or corrupted: drop, keep retransmitting (RFC 7296 §2.21).
                self.log(ctx, LogLevel::Debug, format!("dropping response: {e}"));
                return;
            }
        };
        self.iwin.accept_response(hdr.message_id);
        self.arm_retransmit();
        self.last_rx = ctx.now;
        match hdr.exchange {
            ExchangeType::IKE_AUTH => self.on_auth_response(ctx, &payloads),
            ExchangeType::CREATE_CHILD_SA | ExchangeType::INFORMATIONAL => {
                self.on_established_response(ctx, hdr.exchange, &payloads)
            }
            _ => {}
        }
        self.run_queue(ctx);
    }

    fn handle_request(
        &mut self,
        ctx: &mut Ctx<'_>,
        local: SocketAddr,
        remote: SocketAddr,
        hdr: &IkeHeader,
        bytes: &[u8],
    ) {
        self.reply_to = Some((local, remote));
        self.handle_request_from(ctx, local, remote, hdr, bytes);
        self.reply_to = None;
    }

    fn handle_request_from(
        &mut self,
        ctx: &mut Ctx<'_>,
        local: SocketAddr,
        remote: SocketAddr,
        hdr: &IkeHeader,
        bytes: &[u8],
    ) {
        // Requests carry the I flag exactly when the sender is the original initiator.
        if hdr.flags.is_initiator() == self.initiator {
            return;
        }
        match self.rwin.classify(hdr.message_id) {
            timer::RequestClass::Retransmit(p) => {
                // RFC 7296 §2.1: answer a retransmitted request with the cached bytes; for a
                // fragmented request only its fragment 1 triggers that (RFC 7383 §2.6.1).
                let p = p.to_vec();
                let first_or_whole = sk_ranges(bytes, SK_IV_LEN, SK_ICV_LEN)
                    .map(|r| r.fragment.is_none_or(|(n, _)| n == 1))
                    // No SK at all: an unencrypted request (IKE_SA_INIT), answered as is.
                    .unwrap_or(true);
                if (local, remote) != (self.local, self.remote) {
                    // Anyone who saw the request can replay it from any source: answering
                    // would reflect our (possibly fragmented, larger) response at a victim.
                    // The peer retransmits from its own address, which is answered.
                    self.log(
                        ctx,
                        LogLevel::Debug,
                        format!(
                            "retransmitted request {} from {remote}, not the peer's {}: \
                             not answered",
                            hdr.message_id, self.remote
                        ),
                    );
                    ctx.out.foreign_retransmits += 1;
                    return;
                }
                if first_or_whole {
                    for bytes in p {
                        ctx.out.transmits.push_back(Transmit {
                            src: local,
                            dst: remote,
                            bytes,
                        });
                    }
                }
                return;
            }
            timer::RequestClass::Drop => return,
            timer::RequestClass::New => {}
        }
        if hdr.exchange == ExchangeType::IKE_SA_INIT {
            return; // only message 0, handled at creation
        }
        let payloads = match self.unprotect(hdr.message_id, bytes) {
            Ok(Some(p)) => {
                // An authenticated request from another address/port. Without NAT detection
                // or MOBIKE the SA does not follow it (RFC 7296 §2.23 updates addresses only
                // for a peer behind a NAT): the source may have been rewritten by an on-path
                // attacker, or be another NVE's address. Its response goes there (§2.11);
                // our own requests keep going to the peer's address.
                if (local, remote) != (self.local, self.remote) {
                    self.log(
                        ctx,
                        LogLevel::Warn,
                        format!(
                            "authenticated request {} from {remote}, not the peer's {}: \
                             answered there, the IKE_SA stays at {}",
                            hdr.message_id, self.remote, self.remote
                        ),
                    );
                }
                p
            }
            Ok(None) => return, // more fragments to come
            Err(OpenError::Syntax(e)) => {
                let n = Notify::new(e.notify_type(), e.notify_data());
                self.refuse_malformed_request(ctx, hdr, n, e.to_string());
                return;
            }
            Err(e) => {
                self.log(ctx, LogLevel::Debug, format!("dropping request: {e}"));
                return;
            }
        };
        self.last_rx = ctx.now;
        // Each handler gets the typed view of its request; a request that does not have the
        // RFC 7296 §1.2-§1.4 shape (a duplicated SA, Nonce, KE, TSi, ...; a missing one) is
        // malformed and never reaches it.
        let id = hdr.message_id;
        let checked = match (&self.state, hdr.exchange) {
            (State::HalfOpen(_), ExchangeType::IKE_AUTH) => {
                views::IkeAuthRequest::try_from(&payloads[..])
                    .map(|req| self.on_auth_request(ctx, id, &req))
            }
            (State::Established(_), ExchangeType::CREATE_CHILD_SA) => {
                views::CreateChildRequest::try_from(&payloads[..])
                    .map(|req| self.on_create_child_request(ctx, id, &req))
            }
            (State::Established(_), ExchangeType::INFORMATIONAL) => {
                views::InformationalRequest::try_from(&payloads[..])
                    .map(|req| self.on_informational_request(ctx, id, &req))
            }
            _ => {
                self.log(
                    ctx,
                    LogLevel::Debug,
                    format!("ignoring {:?} request in this state", hdr.exchange),
                );
                Ok(())
            }
        };
        if let Err(e) = checked {
            let n = Notify::new(e.notify_type(), Vec::new());
            self.refuse_malformed_request(ctx, hdr, n, e.to_string());
            return;
        }
        self.run_queue(ctx);
    }

    /// An authenticated request that is malformed (does not parse, or breaks the payload
    /// rules) is answered with the error notify `n` alone; UNSUPPORTED_CRITICAL_PAYLOAD and
    /// INVALID_SYNTAX end the IKE SA without a Delete (RFC 7296 §2.21.3), so nothing of the
    /// request is acted on.
    fn refuse_malformed_request(
        &mut self,
        ctx: &mut Ctx<'_>,
        hdr: &IkeHeader,
        n: Notify,
        why: String,
    ) {
        self.log(
            ctx,
            LogLevel::Warn,
            format!("malformed request ({why}): answering {:?}", n.ty),
        );
        self.send_protected_response(ctx, hdr.exchange, hdr.message_id, &[Payload::Notify(n)]);
        self.go_down(ctx, DownReason::NegotiationFailed(why));
    }

    /// Runs due timers.
    pub fn handle_timeout(&mut self, ctx: &mut Ctx<'_>) {
        if self.timers.take_expired(Timer::Retransmit, ctx.now) {
            self.on_retransmit_timer(ctx);
        }
        if self.timers.take_expired(Timer::Expire, ctx.now) {
            let reason = match &self.state {
                State::HalfOpen(_) => {
                    self.log(ctx, LogLevel::Info, "half-open IKE SA timed out");
                    DownReason::HalfOpenTimeout
                }
                // An SA the peer should have deleted (the old SA after the peer's rekey, or
                // the peer's redundant SA after a collision it lost) but did not: removed
                // locally, as strongSwan does, without a Delete the peer would not answer.
                State::Established(e) => {
                    self.log(
                        ctx,
                        LogLevel::Info,
                        "peer did not delete this replaced IKE SA: removing it",
                    );
                    match e.rekeyed_to {
                        Some(new) => DownReason::Rekeyed { new },
                        None => DownReason::DeletedLocally,
                    }
                }
                _ => {
                    self.log(ctx, LogLevel::Info, "IKE SA negotiation timed out");
                    DownReason::NegotiationFailed("timeout".into())
                }
            };
            self.go_down(ctx, reason);
            return;
        }
        if self.timers.take_expired(Timer::Dpd, ctx.now) {
            self.on_dpd_timer(ctx);
        }
        if self.timers.take_expired(Timer::IkeRekey, ctx.now) {
            self.on_ike_rekey_timer(ctx);
        }
        if self.timers.take_expired(Timer::Housekeeping, ctx.now) {
            self.on_housekeeping(ctx);
        }
        self.run_queue(ctx);
    }

    fn on_retransmit_timer(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now;
        let action = match self.iwin.outstanding_mut() {
            Some(r) => match r.on_timeout(now) {
                RetransmitAction::Resend(p) => Some(p.to_vec()),
                RetransmitAction::GiveUp => None,
                RetransmitAction::Wait(_) => {
                    self.arm_retransmit();
                    return;
                }
            },
            None => return,
        };
        match action {
            Some(p) => {
                let n = self.iwin.outstanding().map_or(0, |r| r.retransmits());
                self.log(ctx, LogLevel::Info, format!("retransmit {n} of request"));
                self.transmit(ctx, &p);
                self.arm_retransmit();
            }
            None => {
                self.log(
                    ctx,
                    LogLevel::Info,
                    "giving up after retransmissions: peer dead",
                );
                self.on_peer_dead(ctx);
            }
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Takes over the GSAs of an SA this one replaces (rekey, or a collision this SA won on
    /// the peer's side). Being chosen as the successor also cancels the removal deadline a
    /// provisional SA carries (see [`rekey`]).
    pub(crate) fn adopt_gsas(&mut self, gsas: Vec<Gsa>) {
        self.gsas.extend(gsas);
        if matches!(self.state, State::Established(_)) {
            self.timers.stop(Timer::Expire);
        }
    }

    /// Removes every GSA (events), reports the SA down and marks it dead.
    pub(crate) fn go_down(&mut self, ctx: &mut Ctx<'_>, reason: DownReason) {
        if self.is_dead() {
            return;
        }
        let keep_gsas = matches!(reason, DownReason::Rekeyed { .. });
        self.hand_over_pending(ctx);
        if !keep_gsas {
            for g in std::mem::take(&mut self.gsas) {
                ctx.out.events.push_back(Event::GsaRemove {
                    ike: self.id(),
                    inbound: g.inbound_id,
                    outbound: g.outbound_id,
                });
            }
        }
        let was_up = matches!(self.state, State::Established(_));
        self.state = State::Dead;
        self.timers = TimerTable::default();
        self.iwin.abandon();
        if was_up || !matches!(reason, DownReason::AuthFailed) {
            ctx.out.events.push_back(Event::IkeSaDown {
                ike: self.id(),
                reason,
            });
        }
    }

    /// A replaced SA going down with a GSA exchange outstanding (a lost Delete or rekey
    /// waiting for its retransmission): the SA that inherited the GSAs does it again.
    fn hand_over_pending(&mut self, ctx: &mut Ctx<'_>) {
        let State::Established(e) = &mut self.state else {
            return;
        };
        let Some(new) = e.rekeyed_to else {
            return;
        };
        let tasks = match e.pending.take() {
            Some(rekey::Pending::DeleteGsa(ids)) => {
                ids.into_iter().map(rekey::Task::DeleteGsa).collect()
            }
            Some(rekey::Pending::CreateGsa(offer)) => vec![match offer.rekey_of {
                Some(old) => rekey::Task::RekeyGsa(old),
                None => rekey::Task::CreateGsa(offer.cfg.name.clone()),
            }],
            other => {
                e.pending = other;
                Vec::new()
            }
        };
        for t in tasks {
            ctx.out.task_transfers.push((new.local_spi, ctx.now, t));
        }
    }

    /// The connection's D-H group preference (first proposal).
    pub(crate) fn preferred_group(&self) -> u16 {
        self.conn.ike_proposals.first().map_or(31, |p| p.dh_group)
    }
}
