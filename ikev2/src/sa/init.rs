//! IKE_SA_INIT (RFC 7296 §1.2, §2.6, §2.13-§2.14):
//!
//! ```text
//! Initiator                                   Responder
//! HDR, [N(COOKIE)], SAi1, KEi, Ni,
//!      N(FRAG_SUP), N(HASH_ALGS), V(GSA)  -->
//!                                         <-- HDR, SAr1, KEr, Nr, N(FRAG_SUP), N(HASH_ALGS),
//!                                                  N(CHILDLESS), V(GSA), [CERTREQ]
//!                                     or  <-- HDR, N(COOKIE) | N(INVALID_KE_PAYLOAD)
//!                                                  | N(NO_PROPOSAL_CHOSEN)
//! ```
//! Message ID 0 throughout, also for the cookie and INVALID_KE retries, which resend the same
//! request with only the cookie / KE changed (nonce kept, as strongSwan does).

use std::net::SocketAddr;
use std::sync::Arc;

use super::events::{DownReason, LogLevel};
use super::keys::{self, DhKey, IkeKeys};
use super::proposal::{check_ike_reply, ike_sa_payload, select_ike};
use super::timer::{InitiatorWindow, ResponderWindow, Timer, TimerTable};
use super::views::{Announcements, IkeSaInitAccepted, IkeSaInitRequest, IkeSaInitResponse};
use super::{Ctx, IkeSa, State};
use crate::config::{ConnectionConfig, Credential, IkeProposal, PeerAuthMethod};
use crate::wire::{
    CertReq, DhGroup, ExchangeType, Flags, HashAlgorithm, IkeHeader, Ke, Message, Nonce, Notify,
    NotifyType, Payload, VendorId,
};

/// Our nonce size: 32 bytes, like strongSwan (RFC 7296 §2.10: at least half the PRF key).
pub const NONCE_LEN: usize = 32;
/// INVALID_KE / COOKIE restarts before giving up (strongSwan MAX_RETRIES = 5).
const MAX_INIT_RESTARTS: u8 = 5;
/// Hash algorithms we accept for RFC 7427 signatures: SHA2-256 (ECDSA) and Identity (Ed25519).
const OUR_HASHES: [HashAlgorithm; 2] = [HashAlgorithm::SHA2_256, HashAlgorithm::IDENTITY];

/// What IKE_SA_INIT established, needed by IKE_AUTH.
#[derive(Debug)]
pub(crate) struct Handshake {
    pub ni: Vec<u8>,
    pub nr: Vec<u8>,
    /// The IKE_SA_INIT request as last sent (RealMessage1, RFC 7296 §2.15).
    pub init_request: Vec<u8>,
    /// The IKE_SA_INIT response (RealMessage2).
    pub init_response: Vec<u8>,
    pub peer_gsa_vid: bool,
    pub peer_childless: bool,
    pub peer_fragmentation: bool,
    /// SIGNATURE_HASH_ALGORITHMS the peer sent (RFC 7427 §4).
    pub peer_hashes: Vec<HashAlgorithm>,
    pub peer_certreq: bool,
}

/// Initiator: IKE_SA_INIT request outstanding.
#[derive(Debug)]
pub(crate) struct InitSent {
    dh: DhKey,
    ni: Vec<u8>,
    cookie: Option<Vec<u8>>,
    restarts: u8,
    request: Vec<u8>,
}

/// Responder: IKE_SA_INIT answered, IKE_AUTH expected.
#[derive(Debug)]
pub(crate) struct HalfOpen {
    pub hs: Handshake,
}

/// The fields of an IKE_SA_INIT request the endpoint needs before creating state.
#[derive(Debug)]
pub struct InitPeek {
    pub nonce: Vec<u8>,
    pub cookie: Option<Vec<u8>>,
}

/// Parses an IKE_SA_INIT request for the cookie check. A request without exactly one SA, KE
/// and Nonce (RFC 7296 §1.2) is malformed here already, before any state.
pub fn peek_init_request(bytes: &[u8]) -> Result<InitPeek, crate::wire::Error> {
    let msg = Message::parse(bytes)?;
    let req = IkeSaInitRequest::try_from(&msg.payloads[..]).map_err(|_| {
        crate::wire::Error::InvalidValue {
            what: "IKE_SA_INIT request payloads",
        }
    })?;
    Ok(InitPeek {
        nonce: req.nonce.data.clone(),
        cookie: req.cookie.map(|n| n.data.clone()),
    })
}

/// An unprotected IKE_SA_INIT response carrying one notify (SPIr 0, RFC 7296 §2.6, §1.3).
pub(crate) fn stateless_response(req: &IkeHeader, notify: Notify) -> Vec<u8> {
    let hdr = IkeHeader {
        spi_i: req.spi_i,
        spi_r: 0,
        exchange: ExchangeType::IKE_SA_INIT,
        flags: Flags::RESPONSE,
        message_id: req.message_id,
    };
    Message::new(hdr, vec![Payload::Notify(notify)])
        .to_bytes()
        .unwrap_or_default()
}

/// `HDR(SPIr = 0), N(COOKIE)`.
pub fn cookie_response(req: &IkeHeader, cookie: &[u8]) -> Vec<u8> {
    stateless_response(req, Notify::new(NotifyType::COOKIE, cookie.to_vec()))
}

fn uses_certificates(conn: &ConnectionConfig) -> bool {
    matches!(conn.local.credential, Credential::Signature { .. })
        || matches!(conn.remote.method, PeerAuthMethod::Certificate(_))
}

/// The status notifies and VID both sides put in IKE_SA_INIT.
fn common_tail(announce_gsa: bool) -> Vec<Payload> {
    let mut v = vec![
        Payload::Notify(Notify::new(
            NotifyType::IKEV2_FRAGMENTATION_SUPPORTED,
            Vec::new(),
        )),
        Payload::Notify(Notify::signature_hash_algorithms(&OUR_HASHES)),
    ];
    if announce_gsa {
        v.push(Payload::VendorId(VendorId::nvesec_gsa()));
    }
    v
}

/// Reads the capability announcements of the peer's IKE_SA_INIT message.
fn peer_caps(a: &Announcements<'_>) -> (bool, bool, bool, Vec<HashAlgorithm>, bool) {
    (
        a.gsa_vid(),
        a.has(NotifyType::CHILDLESS_IKEV2_SUPPORTED),
        a.has(NotifyType::IKEV2_FRAGMENTATION_SUPPORTED),
        a.hashes(),
        !a.certreqs.is_empty(),
    )
}

fn suite_keys(
    p: &IkeProposal,
    g_ir: &super::keys::Secret,
    ni: &[u8],
    nr: &[u8],
    spi_i: u64,
    spi_r: u64,
) -> Result<IkeKeys, String> {
    keys::derive_ike(p.prf, p.encr_key_bits, g_ir, (ni, nr), (spi_i, spi_r))
        .map_err(|e| e.to_string())
}

impl IkeSa {
    fn blank(
        conn: Arc<ConnectionConfig>,
        uid: u32,
        local: SocketAddr,
        remote: SocketAddr,
        initiator: bool,
        now: std::time::Instant,
    ) -> Self {
        Self {
            uid,
            conn,
            local,
            remote,
            reply_to: None,
            spi_i: 0,
            spi_r: 0,
            initiator,
            state: State::Dead,
            keys: None,
            iwin: InitiatorWindow::starting_at(0),
            rwin: ResponderWindow::starting_at(0),
            timers: TimerTable::default(),
            iv_counter: 0,
            gsas: Vec::new(),
            last_rx: now,
            creation_ni: Vec::new(),
            via_rekey: false,
            frag_ok: false,
            reassembler: super::Reassembler::new(super::MAX_REASSEMBLY),
        }
    }

    /// Starts an IKE SA as initiator: sends IKE_SA_INIT.
    pub(crate) fn initiate(
        ctx: &mut Ctx<'_>,
        conn: Arc<ConnectionConfig>,
        uid: u32,
        spi: u64,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Self {
        let mut sa = Self::blank(conn, uid, local, remote, true, ctx.now);
        sa.spi_i = spi;
        let group = sa.preferred_group();
        let ni = ctx.random_vec(NONCE_LEN);
        let dh = match DhKey::new(group, ctx.random()) {
            Ok(d) => d,
            Err(e) => {
                sa.log(ctx, LogLevel::Error, format!("cannot initiate: {e}"));
                sa.go_down(ctx, DownReason::NegotiationFailed(e.to_string()));
                return sa;
            }
        };
        sa.log(
            ctx,
            LogLevel::Info,
            format!("initiating IKE_SA {} to {}", sa.conn.name, remote),
        );
        sa.creation_ni = ni.clone();
        let request = sa.build_init_request(ctx.cfg.announce_gsa, &dh, &ni, None);
        sa.send_request(ctx, vec![request.clone()]);
        sa.state = State::InitSent(Box::new(InitSent {
            dh,
            ni,
            cookie: None,
            restarts: 0,
            request,
        }));
        sa
    }

    fn build_init_request(
        &self,
        announce: bool,
        dh: &DhKey,
        ni: &[u8],
        cookie: Option<&[u8]>,
    ) -> Vec<u8> {
        let mut payloads = Vec::new();
        if let Some(c) = cookie {
            // The cookie must be the first payload (RFC 7296 §2.6).
            payloads.push(Payload::Notify(Notify::new(NotifyType::COOKIE, c.to_vec())));
        }
        // Our preferred group's proposals first: the KE must match the first group
        // (RFC 7296 §3.4), so reorder when retrying with another group.
        let mut props = self.conn.ike_proposals.clone();
        props.sort_by_key(|p| p.dh_group != dh.group());
        payloads.push(Payload::Sa(ike_sa_payload(&props, None)));
        payloads.push(Payload::Ke(Ke::new(DhGroup(dh.group()), dh.public())));
        payloads.push(Payload::Nonce(Nonce::new(ni.to_vec())));
        payloads.extend(common_tail(announce));
        let hdr = self.header(ExchangeType::IKE_SA_INIT, false, 0);
        Message::new(hdr, payloads).to_bytes().unwrap_or_default()
    }

    /// Responder: answers a new IKE_SA_INIT request. Returns the half-open SA, or `None`
    /// after a stateless error answer (no state kept, RFC 7296 §2.6).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn respond(
        ctx: &mut Ctx<'_>,
        conn: Arc<ConnectionConfig>,
        uid: u32,
        spi: u64,
        local: SocketAddr,
        remote: SocketAddr,
        hdr: &IkeHeader,
        bytes: &[u8],
    ) -> Option<Self> {
        let mut sa = Self::blank(conn, uid, local, remote, false, ctx.now);
        sa.spi_i = hdr.spi_i;
        sa.spi_r = spi;
        let msg = match Message::parse(bytes) {
            Ok(m) => m,
            Err(e) => {
                sa.log(ctx, LogLevel::Debug, format!("bad IKE_SA_INIT: {e}"));
                return None;
            }
        };
        let req = match IkeSaInitRequest::try_from(&msg.payloads[..]) {
            Ok(r) => r,
            Err(e) => {
                // Unauthenticated: dropped without an answer, as a message that does not parse.
                sa.log(ctx, LogLevel::Debug, format!("bad IKE_SA_INIT: {e}"));
                return None;
            }
        };
        let (offered, ke, ni) = (req.sa, req.ke, req.nonce);
        let reply = |ctx: &mut Ctx<'_>, n: Notify| {
            ctx.out.transmits.push_back(super::events::Transmit {
                src: local,
                dst: remote,
                bytes: stateless_response(hdr, n),
            });
        };
        let (chosen_prop, suite, _) = match select_ike(&sa.conn.ike_proposals, offered) {
            Ok(c) => c,
            Err(n) => {
                sa.log(ctx, LogLevel::Info, "no acceptable IKE proposal");
                reply(ctx, Notify::new(n, Vec::new()));
                return None;
            }
        };
        if ke.group.0 != suite.dh_group {
            // RFC 7296 §1.3: tell the initiator which group we want.
            sa.log(
                ctx,
                LogLevel::Info,
                format!(
                    "KE group {} refused, requesting {}",
                    ke.group.0, suite.dh_group
                ),
            );
            reply(ctx, Notify::invalid_ke_payload(DhGroup(suite.dh_group)));
            return None;
        }
        let dh = DhKey::new(suite.dh_group, ctx.random()).ok()?;
        let g_ir = match dh.shared(&ke.data) {
            Ok(g) => g,
            Err(e) => {
                sa.log(ctx, LogLevel::Info, format!("bad KE: {e}"));
                reply(ctx, Notify::new(NotifyType::INVALID_SYNTAX, Vec::new()));
                return None;
            }
        };
        let nr = ctx.random_vec(NONCE_LEN);
        let keys = match suite_keys(&suite, &g_ir, &ni.data, &nr, sa.spi_i, sa.spi_r) {
            Ok(k) => k,
            Err(e) => {
                sa.log(ctx, LogLevel::Error, format!("key derivation: {e}"));
                return None;
            }
        };
        let announce = ctx.cfg.announce_gsa;
        let mut payloads = vec![
            Payload::Sa(crate::wire::Sa::new(vec![chosen_prop])),
            Payload::Ke(Ke::new(DhGroup(suite.dh_group), dh.public())),
            Payload::Nonce(Nonce::new(nr.clone())),
        ];
        payloads.extend(common_tail(announce));
        payloads.insert(
            5,
            Payload::Notify(Notify::new(
                NotifyType::CHILDLESS_IKEV2_SUPPORTED,
                Vec::new(),
            )),
        );
        if sa.conn.send_certreq && uses_certificates(&sa.conn) {
            payloads.push(Payload::CertReq(CertReq::x509(&sa.conn.certreq_ca_hashes)));
        }
        let resp_hdr = sa.header(ExchangeType::IKE_SA_INIT, true, 0);
        let response = Message::new(resp_hdr, payloads).to_bytes().ok()?;
        let (vid, childless, frag, hashes, certreq) = peer_caps(&req.announced);
        // GSAs need the Vendor ID both ways (DESIGN.md).
        let vid = vid && announce;
        sa.keys = Some(keys);
        sa.creation_ni = ni.data.clone();
        sa.frag_ok = frag;
        sa.transmit(ctx, std::slice::from_ref(&response));
        sa.rwin.responded(0, vec![response.clone()]);
        sa.state = State::HalfOpen(Box::new(HalfOpen {
            hs: Handshake {
                ni: ni.data.clone(),
                nr,
                init_request: bytes.to_vec(),
                init_response: response,
                peer_gsa_vid: vid,
                peer_childless: childless,
                peer_fragmentation: frag,
                peer_hashes: hashes,
                peer_certreq: certreq,
            },
        }));
        sa.timers
            .set(Timer::Expire, ctx.now + ctx.cfg.half_open_timeout);
        sa.log(
            ctx,
            LogLevel::Info,
            format!("{remote} is initiating an IKE_SA"),
        );
        Some(sa)
    }

    /// Initiator: the IKE_SA_INIT response (or a COOKIE / INVALID_KE / error notify).
    pub(crate) fn on_init_response(&mut self, ctx: &mut Ctx<'_>, hdr: &IkeHeader, bytes: &[u8]) {
        let msg = match Message::parse(bytes) {
            Ok(m) => m,
            Err(e) => {
                self.log(
                    ctx,
                    LogLevel::Debug,
                    format!("bad IKE_SA_INIT response: {e}"),
                );
                return;
            }
        };
        let State::InitSent(st) = std::mem::replace(&mut self.state, State::Dead) else {
            return;
        };
        let mut st = *st;
        let accepted = match IkeSaInitResponse::try_from(&msg.payloads[..]) {
            Ok(IkeSaInitResponse::Accepted(a)) => a,
            Ok(IkeSaInitResponse::Cookie(c)) => {
                self.restart_init(ctx, st, Some(c.data.clone()), None);
                return;
            }
            Ok(IkeSaInitResponse::InvalidKe(n)) => {
                let group = n.accepted_group().map(|g| g.0);
                let ours = self
                    .conn
                    .ike_proposals
                    .iter()
                    .any(|p| Some(p.dh_group) == group);
                match group {
                    Some(g) if ours && g != st.dh.group() => {
                        self.log(
                            ctx,
                            LogLevel::Info,
                            format!("peer wants D-H group {g}, retrying"),
                        );
                        let cookie = st.cookie.take();
                        self.restart_init(ctx, st, cookie, Some(g));
                    }
                    _ => {
                        self.state = State::InitSent(Box::new(st));
                        self.fail_init(ctx, "INVALID_KE_PAYLOAD with an unusable group".into());
                    }
                }
                return;
            }
            Ok(IkeSaInitResponse::Refused(n)) => {
                self.state = State::InitSent(Box::new(st));
                self.fail_init(ctx, format!("peer refused IKE_SA_INIT: {n:?}"));
                return;
            }
            Err(e) => {
                self.state = State::InitSent(Box::new(st));
                self.fail_init(ctx, format!("malformed IKE_SA_INIT response: {e}"));
                return;
            }
        };
        if let Err(why) = self.complete_init(ctx, hdr, &accepted, bytes, &st) {
            self.state = State::InitSent(Box::new(st));
            self.fail_init(ctx, why);
        }
    }

    fn complete_init(
        &mut self,
        ctx: &mut Ctx<'_>,
        hdr: &IkeHeader,
        msg: &IkeSaInitAccepted<'_>,
        bytes: &[u8],
        st: &InitSent,
    ) -> Result<(), String> {
        let (sa, ke, nr) = (msg.sa, msg.ke, msg.nonce);
        let (suite, _) = check_ike_reply(&self.conn.ike_proposals, sa)
            .ok_or("responder chose a proposal we did not offer")?;
        if ke.group.0 != suite.dh_group || suite.dh_group != st.dh.group() {
            return Err("responder KE group differs from the chosen one".into());
        }
        if hdr.spi_r == 0 {
            return Err("responder SPI is zero".into());
        }
        let g_ir = st.dh.shared(&ke.data).map_err(|e| e.to_string())?;
        self.spi_r = hdr.spi_r;
        self.keys = Some(suite_keys(
            &suite, &g_ir, &st.ni, &nr.data, self.spi_i, self.spi_r,
        )?);
        self.iwin.accept_response(0);
        self.arm_retransmit();
        self.last_rx = ctx.now;
        let (vid, childless, frag, hashes, certreq) = peer_caps(&msg.announced);
        let vid = vid && ctx.cfg.announce_gsa;
        self.frag_ok = frag;
        let hs = Handshake {
            ni: st.ni.clone(),
            nr: nr.data.clone(),
            init_request: st.request.clone(),
            init_response: bytes.to_vec(),
            peer_gsa_vid: vid,
            peer_childless: childless,
            peer_fragmentation: frag,
            peer_hashes: hashes,
            peer_certreq: certreq,
        };
        self.start_auth(ctx, hs);
        Ok(())
    }

    /// Resends IKE_SA_INIT with a cookie and/or a new D-H group, same message ID.
    fn restart_init(
        &mut self,
        ctx: &mut Ctx<'_>,
        mut st: InitSent,
        cookie: Option<Vec<u8>>,
        group: Option<u16>,
    ) {
        if st.restarts >= MAX_INIT_RESTARTS {
            self.state = State::InitSent(Box::new(st));
            self.fail_init(ctx, "too many IKE_SA_INIT restarts".into());
            return;
        }
        st.restarts += 1;
        if let Some(g) = group {
            match DhKey::new(g, ctx.random()) {
                Ok(d) => st.dh = d,
                Err(e) => {
                    self.state = State::InitSent(Box::new(st));
                    self.fail_init(ctx, e.to_string());
                    return;
                }
            }
        }
        // RFC 7296 §2.6: same nonce and SPI; strongSwan keeps the cookie across KE retries.
        st.cookie = cookie.or(st.cookie.take());
        st.request =
            self.build_init_request(ctx.cfg.announce_gsa, &st.dh, &st.ni, st.cookie.as_deref());
        self.transmit(ctx, &[st.request.clone()]);
        self.iwin
            .restart_same_id(ctx.cfg.retransmit, vec![st.request.clone()], ctx.now);
        self.arm_retransmit();
        self.state = State::InitSent(Box::new(st));
    }

    fn fail_init(&mut self, ctx: &mut Ctx<'_>, why: String) {
        self.log(
            ctx,
            LogLevel::Error,
            format!("establishing IKE_SA failed: {why}"),
        );
        self.go_down(ctx, DownReason::NegotiationFailed(why));
    }
}
