//! The daemon's live state and how inputs change it: the IKE engine, the configuration and
//! credentials in force, the keying connection to gsa-dp and the GSAs installed there.
//! [`State::pump`] drains the engine (datagrams, events) and the dataplane's events until both
//! are quiet; the event loop ([`super::run`]) calls it after every batch of readiness events.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use mio::Registry;
use nvesec_conf as conf;
use nvesec_gsa_dp::keying::{Dump, Request};
use nvesec_gsa_dp::lifetime::ExpireKind;
use nvesec_gsa_dp::Event as DpEvent;
use nvesec_ikev2::config::DpdAction;
use nvesec_ikev2::endpoint::{seeded_rng, CommandError, Endpoint, Event, IkeSaId, LogLevel};
use nvesec_ikev2::sa::events::DownReason;
use slog::{debug, error, info, warn, Logger};

use super::creds::Creds;
use super::dp_client::{DpClient, DpError};
use super::gsa_table::{GsaTable, InstallCtx};
use super::ike_io::IkeIo;
use super::translate::{self, Translated};
use super::Options;
use crate::ctl::proto::{self, EventBody, LoadReport, Response};
use crate::ctl::server::ClientId;
use crate::log::{ike_sa, subsys, Subsystem};

/// How often to retry connecting to gsa-dp.
pub const DP_RETRY: Duration = Duration::from_secs(1);
/// How often certificate expiry is checked.
pub const EXPIRY_CHECK: Duration = Duration::from_secs(3600);

/// What we know about an IKE SA beyond the engine's view.
#[derive(Debug, Clone)]
pub struct IkeMeta {
    pub conn: String,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub established: Option<Instant>,
}

/// A control client waiting for an `initiate` to finish.
#[derive(Debug, Clone)]
pub struct Waiter {
    pub client: ClientId,
    pub req_id: u64,
    pub ike: IkeSaId,
    pub child: Option<String>,
    pub deadline: Instant,
}

/// gsa-dp's per-GSA counters by (inbound?, GSA-ID): packets, bytes, idle milliseconds.
pub type DpCounters = BTreeMap<(bool, u32), (u64, u64, Option<u64>)>;

/// Loggers per subsystem.
#[derive(Clone)]
pub struct Logs {
    pub root: Logger,
    pub dmn: Logger,
    pub ike: Logger,
    pub gsa: Logger,
    pub cfg: Logger,
    pub net: Logger,
    pub dp: Logger,
    pub enc: Logger,
}

impl Logs {
    pub fn new(root: Logger) -> Self {
        Logs {
            dmn: subsys(&root, Subsystem::Dmn),
            ike: subsys(&root, Subsystem::Ike),
            gsa: subsys(&root, Subsystem::Gsa),
            cfg: subsys(&root, Subsystem::Cfg),
            net: subsys(&root, Subsystem::Net),
            dp: subsys(&root, Subsystem::Dp),
            enc: subsys(&root, Subsystem::Enc),
            root,
        }
    }
}

/// A configuration with everything derived from it.
pub struct Loaded {
    pub conf: conf::Config,
    pub creds: Creds,
    pub tr: Translated,
}

/// Load configuration, credentials and translate; every error as one line.
pub fn load_all(path: &Path) -> Result<(Loaded, Vec<String>), Vec<String>> {
    let loaded = conf::load(path).map_err(|e| {
        e.errors
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<String>>()
    })?;
    let mut warnings: Vec<String> = loaded.warnings.iter().map(|w| w.to_string()).collect();
    let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let creds = Creds::load(&dir, &loaded.config)
        .map_err(|errs| errs.iter().map(|e| e.to_string()).collect::<Vec<_>>())?;
    warnings.extend(creds.warnings.iter().cloned());
    let tr = translate::translate(&loaded.config, &creds)
        .map_err(|errs| errs.iter().map(|e| e.to_string()).collect::<Vec<_>>())?;
    Ok((
        Loaded {
            conf: loaded.config,
            creds,
            tr,
        },
        warnings,
    ))
}

/// Everything the event loop mutates.
pub struct State {
    pub opts: Options,
    pub log: Logs,
    pub loaded: Loaded,
    pub engine: Endpoint,
    pub io: IkeIo,
    pub dp: DpClient,
    pub registry: Registry,
    pub gsas: GsaTable,
    pub ikes: HashMap<IkeSaId, IkeMeta>,
    pub started: Instant,
    pub started_wall: SystemTime,
    pub dp_retry_at: Option<Instant>,
    dp_was_up: bool,
    pub expiry_check_at: Instant,
    warned: HashSet<(PathBuf, i64)>,
    jitter_state: u64,
    /// Events for control subscribers, drained by the loop.
    pub broadcasts: Vec<EventBody>,
    /// Deferred control responses, drained by the loop.
    pub responses: Vec<(ClientId, Response)>,
    pub waiters: Vec<Waiter>,
    pub control_clients: usize,
    /// DUMP at the first connection: GSAs from before our start are stale.
    first_dp_sync: bool,
    /// IKE SAs going down by the peer's INITIAL_CONTACT in the event batch being handled.
    replaced: HashSet<IkeSaId>,
    replaced_reqids: HashSet<u32>,
}

/// The seed of the engine's ChaCha20 RNG (SPIs, nonces, DH keys): 32 bytes from the kernel's
/// CSPRNG (getrandom(2), which blocks until it is initialized). An error when it cannot give
/// them: the daemon then refuses to start rather than run on a predictable seed.
pub fn os_seed() -> Result<[u8; 32], getrandom::Error> {
    let mut seed = [0u8; 32];
    getrandom::getrandom(&mut seed)?;
    Ok(seed)
}

impl State {
    pub fn new(
        opts: Options,
        log: Logs,
        loaded: Loaded,
        io: IkeIo,
        dp: DpClient,
        registry: Registry,
        seed: [u8; 32],
    ) -> Self {
        let now = Instant::now();
        let engine = Endpoint::new(
            Arc::new(loaded.tr.engine.clone()),
            seeded_rng(seed),
            now,
            SystemTime::now(),
        );
        let jitter_state = u64::from_le_bytes(seed[..8].try_into().unwrap_or([1; 8])) | 1;
        State {
            opts,
            log,
            loaded,
            engine,
            io,
            dp,
            registry,
            gsas: GsaTable::new(),
            ikes: HashMap::new(),
            started: now,
            started_wall: SystemTime::now(),
            dp_retry_at: Some(now),
            dp_was_up: false,
            expiry_check_at: now,
            warned: HashSet::new(),
            jitter_state,
            broadcasts: Vec::new(),
            responses: Vec::new(),
            waiters: Vec::new(),
            control_clients: 0,
            first_dp_sync: true,
            replaced: HashSet::new(),
            replaced_reqids: HashSet::new(),
        }
    }

    /// xorshift64*: jitter only, not security relevant.
    fn jitter(&mut self, max: Duration) -> Duration {
        let mut x = self.jitter_state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.jitter_state = x;
        let ms = u64::try_from(max.as_millis()).unwrap_or(u64::MAX);
        if ms == 0 {
            return Duration::ZERO;
        }
        Duration::from_millis(x.wrapping_mul(0x2545_f491_4f6c_dd1d) % (ms + 1))
    }

    /// Our address towards `remote` for a connection (its first configured local address of
    /// that family, else the wildcard) on the IKE port.
    pub fn local_for(&self, conn: Option<&str>, remote_v6: bool) -> SocketAddr {
        let from_conn = |c: &conf::Connection| {
            c.local_addrs.iter().find_map(|a| match a {
                conf::AddrSpec::Ip(ip) if ip.is_ipv6() == remote_v6 => Some(*ip),
                _ => None,
            })
        };
        let ip = conn
            .and_then(|n| self.loaded.conf.connection(n))
            .and_then(from_conn)
            .or_else(|| self.loaded.conf.connections.iter().find_map(from_conn))
            .unwrap_or(if remote_v6 {
                IpAddr::V6(Ipv6Addr::UNSPECIFIED)
            } else {
                IpAddr::V4(Ipv4Addr::UNSPECIFIED)
            });
        SocketAddr::new(ip, self.io.port)
    }

    fn remote_is_v6(&self, conn: &str) -> bool {
        self.engine
            .config()
            .connection(conn)
            .and_then(|c| c.remote_addrs.first())
            .is_some_and(IpAddr::is_ipv6)
    }

    /// Start an IKE SA for `conn` unless one is up or coming up.
    pub fn initiate(&mut self, now: Instant, conn: &str) -> Result<IkeSaId, CommandError> {
        let existing = self.engine.ike_sas().into_iter().find(|id| {
            self.engine
                .ike_sa(*id)
                .is_some_and(|sa| sa.connection().name == conn)
        });
        if let Some(id) = existing {
            return Ok(id);
        }
        let local = self.local_for(Some(conn), self.remote_is_v6(conn));
        let id = self.engine.initiate(now, conn, local, None)?;
        info!(self.log.ike, "initiating IKE_SA {conn}[{}]", id.uid);
        Ok(id)
    }

    /// Only the first child rides in IKE_AUTH (DESIGN.md "GSA negotiation"): the initiator
    /// of a fresh IKE SA creates the connection's other `start_action = start` children with
    /// CREATE_CHILD_SA (strongSwan initiates each start child). Only the initiator, so two
    /// NVEs never create the same child at once; when both ends initiated (a full mesh
    /// starting together) the surviving IKE SA's initiator does it.
    fn start_more_children(&mut self, now: Instant, ike: IkeSaId) {
        let Some(sa) = self.engine.ike_sa(ike) else {
            return;
        };
        if sa.via_rekey() {
            return;
        }
        let conn = sa.connection().name.clone();
        let have: Vec<String> = sa.gsas().iter().map(|g| g.params.name.clone()).collect();
        let more: Vec<String> = sa
            .connection()
            .children
            .iter()
            .skip(1)
            .map(|c| c.name.clone())
            .filter(|name| !have.contains(name))
            .filter(|name| {
                self.loaded
                    .tr
                    .children
                    .get(&(conn.clone(), name.clone()))
                    .is_some_and(|c| {
                        matches!(
                            c.start_action,
                            conf::StartAction::Start | conf::StartAction::TrapStart
                        )
                    })
            })
            .collect();
        let l = ike_sa(&self.log.ike, &conn, ike.uid);
        for child in more {
            match self.engine.create_gsa(now, ike, &child) {
                Ok(_) => info!(l, "creating GSA {child} (start_action = start)"),
                Err(e) => warn!(l, "cannot create GSA {child}: {e}"),
            }
        }
    }

    /// `start_action = start` connections.
    pub fn start_connections(&mut self, now: Instant) {
        for c in self.loaded.tr.start.clone() {
            if let Err(e) = self.initiate(now, &c) {
                warn!(self.log.cfg, "cannot start connection '{c}': {e}");
            }
        }
    }

    /// One received IKE datagram.
    pub fn on_datagram(&mut self, now: Instant, from: SocketAddr, local_port: u16, bytes: &[u8]) {
        let mut local = self.local_for(None, from.is_ipv6());
        local.set_port(local_port);
        debug!(
            self.log.net,
            "received packet: from {from} to {local} ({} bytes)",
            bytes.len()
        );
        self.engine.handle_datagram(now, local, from, bytes);
    }

    /// Drain engine output and dataplane events until nothing moves.
    pub fn pump(&mut self, now: Instant) {
        for _ in 0..64 {
            let mut moved = false;
            // Events before datagrams: a responder installs its inbound GSA in gsa-dp
            // before its IKE_AUTH/CREATE_CHILD_SA response leaves, so the initiator's first
            // sealed packet (often the one gsa-dp held) never beats the install.
            let events: Vec<Event> = std::iter::from_fn(|| self.engine.poll_event()).collect();
            // IKE SAs that a peer's INITIAL_CONTACT replaced in this batch (it restarted).
            self.replaced = events
                .iter()
                .filter_map(|e| match e {
                    Event::IkeSaDown {
                        ike,
                        reason: DownReason::InitialContact,
                    } => Some(*ike),
                    _ => None,
                })
                .collect();
            // Their children, before this batch's GsaRemove events forget them.
            self.replaced_reqids = self
                .replaced
                .iter()
                .flat_map(|ike| self.gsas.reqids_of(*ike))
                .collect();
            for e in events {
                moved = true;
                self.on_engine_event(now, e);
            }
            while let Some(t) = self.engine.poll_transmit() {
                moved = true;
                debug!(
                    self.log.net,
                    "sending packet: from {} to {} ({} bytes)",
                    t.src,
                    t.dst,
                    t.bytes.len()
                );
                if let Err(e) = self.io.send(&t) {
                    warn!(self.log.net, "sending to {} failed: {e}", t.dst);
                }
            }
            while let Some(e) = self.dp.poll_event() {
                moved = true;
                self.on_dp_event(now, e);
            }
            let due = self.gsas.due(now);
            if !due.is_empty() {
                moved = true;
                self.dp_send(due);
            }
            if !moved {
                break;
            }
        }
        self.expire_waiters(now);
    }

    /// Send keying requests; a refused DEL_GSA of a GSA already gone is normal.
    pub fn dp_send(&mut self, reqs: Vec<Request>) {
        for r in reqs {
            let is_del = matches!(r, Request::DelGsa(_));
            match self.dp.request(&self.registry, r) {
                Ok(_) => {}
                Err(DpError::Refused { op, msg }) if is_del => {
                    debug!(self.log.dp, "{op}: {msg}")
                }
                Err(e) => {
                    warn!(self.log.dp, "{e}");
                    self.note_dp_down();
                }
            }
        }
    }

    fn note_dp_down(&mut self) {
        if !self.dp.is_connected() && self.dp_retry_at.is_none() {
            warn!(
                self.log.dp,
                "lost the keying socket to gsa-dp; reconnecting"
            );
            self.dp_retry_at = Some(Instant::now() + DP_RETRY);
        }
    }

    /// Readable keying socket.
    pub fn on_dp_readable(&mut self) {
        if let Err(e) = self.dp.on_readable(&self.registry) {
            warn!(self.log.dp, "{e}");
            self.note_dp_down();
        }
    }

    /// (Re)connect to gsa-dp and resynchronise: DUMP, adopt or delete GSAs we did not
    /// install, rekey ours that gsa-dp lost, push policies and routes.
    pub fn dp_connect(&mut self, now: Instant) {
        self.dp_retry_at = None;
        if let Err(e) = self.dp.connect(&self.registry) {
            if self.dp_was_up || self.first_dp_sync {
                warn!(
                    self.log.dp,
                    "cannot connect to gsa-dp: {e}; retrying every {}s",
                    DP_RETRY.as_secs()
                );
                self.dp_was_up = false;
                self.first_dp_sync = false;
            }
            self.dp_retry_at = Some(now + DP_RETRY);
            return;
        }
        info!(
            self.log.dp,
            "connected to gsa-dp at {}",
            self.dp.path().display()
        );
        self.dp_was_up = true;
        let dump = match self.dp.request(&self.registry, Request::Dump) {
            Ok(r) => r.dump.unwrap_or_default(),
            Err(e) => {
                warn!(self.log.dp, "DUMP: {e}");
                self.dp_retry_at = Some(now + DP_RETRY);
                return;
            }
        };
        self.push_policies();
        self.push_routes();
        self.resync(now, &dump);
        self.first_dp_sync = false;
    }

    fn resync(&mut self, now: Instant, dump: &Dump) {
        let known: HashSet<u32> = self.loaded.tr.children.values().map(|c| c.reqid).collect();
        let dels = self.gsas.adopt_stale(&dump.gsas, &|r| known.contains(&r));
        if !dels.is_empty() {
            info!(
                self.log.dp,
                "deleting {} GSAs of unknown children left in gsa-dp",
                dels.len()
            );
        }
        self.dp_send(dels);
        // Ours that gsa-dp no longer has (it restarted): rekey them, which installs new ones.
        let present: HashSet<(bool, u32)> = dump
            .gsas
            .iter()
            .map(|g| (g.dir == nvesec_gsa_dp::gsp::Direction::In, g.gsa_id))
            .collect();
        let lost: Vec<(IkeSaId, u32)> = self
            .gsas
            .records
            .values()
            .filter(|r| !present.contains(&(true, r.inbound)))
            .map(|r| (r.ike, r.inbound))
            .collect();
        for (ike, inbound) in lost {
            warn!(self.log.gsa, "gsa-dp lost GSA {inbound:08x}; rekeying it");
            let _ = self.engine.rekey_gsa(now, ike, inbound);
        }
        let stale = self.gsas.stale_reqids();
        if !stale.is_empty() {
            info!(
                self.log.dp,
                "{} GSAs from before the restart keep forwarding until replaced",
                self.gsas.stale().count()
            );
        }
        // The connections to re-establish: those with a child of a stale reqid towards the
        // stale GSA's peer (all of them when gsa-dp does not know the peer).
        let mut conns: Vec<String> = Vec::new();
        for g in dump.gsas.iter().filter(|g| stale.contains(&g.reqid)) {
            for c in self.conns_for(g.reqid, g.peer) {
                if !conns.contains(&c) {
                    conns.push(c);
                }
            }
        }
        for c in conns {
            if let Err(e) = self.initiate(now, &c) {
                warn!(self.log.ike, "cannot re-establish '{c}': {e}");
            }
        }
    }

    pub fn push_policies(&mut self) {
        let n = self.loaded.tr.policies.len();
        self.dp_send(vec![Request::SetGsp(self.loaded.tr.policies.clone())]);
        info!(self.log.dp, "installed {n} policies in gsa-dp");
    }

    pub fn push_routes(&mut self) {
        let n = self.loaded.tr.routes.len();
        self.dp_send(vec![Request::SetRoutes(self.loaded.tr.routes.clone())]);
        info!(self.log.dp, "installed {n} overlay routes in gsa-dp");
    }

    fn conn_of(&self, ike: IkeSaId) -> Option<String> {
        self.ikes
            .get(&ike)
            .map(|m| m.conn.clone())
            .or_else(|| self.engine.ike_sa(ike).map(|s| s.connection().name.clone()))
    }

    fn on_engine_event(&mut self, now: Instant, e: Event) {
        match e {
            Event::Log(rec) => self.engine_log(rec),
            Event::IkeSaUp {
                ike,
                conn,
                local_id,
                peer_id,
                local,
                remote,
                initiator,
                ..
            } => {
                let l = ike_sa(&self.log.ike, &conn, ike.uid);
                debug!(l, "IKE_SA {conn}[{}] established between {local}[{local_id}]...{remote}[{peer_id}]{}", ike.uid, if initiator { "" } else { " (responder)" });
                self.ikes.insert(
                    ike,
                    IkeMeta {
                        conn,
                        local,
                        remote,
                        established: Some(now),
                    },
                );
                if initiator {
                    self.start_more_children(now, ike);
                }
                if let Some(info) = super::ctl_handler::ike_info(self, ike) {
                    self.broadcasts.push(EventBody::IkeUpdown {
                        up: true,
                        sa: Box::new(info),
                    });
                }
                self.finish_waiters(ike, false, None);
            }
            Event::IkeSaDown { ike, reason } => {
                let conn = self.conn_of(ike).unwrap_or_default();
                let l = ike_sa(&self.log.ike, &conn, ike.uid);
                info!(l, "IKE_SA {conn}[{}] down: {reason:?}", ike.uid);
                self.ikes.remove(&ike);
                if matches!(reason, DownReason::PeerDead) {
                    let trap = self
                        .engine
                        .config()
                        .connection(&conn)
                        .is_some_and(|c| c.dpd_action == DpdAction::Trap);
                    if trap {
                        info!(
                            l,
                            "dpd_action=trap: the next packet for {conn} brings it up again"
                        );
                    }
                }
                self.finish_waiters(ike, true, Some(format!("IKE_SA down: {reason:?}")));
            }
            Event::IkeSaRekeyed { old, new } => {
                if let Some(m) = self.ikes.get(&old).cloned() {
                    self.ikes.insert(new, m);
                }
                self.gsas.move_ike(old, new);
                let conn = self.conn_of(new).unwrap_or_default();
                info!(
                    ike_sa(&self.log.ike, &conn, new.uid),
                    "IKE_SA {conn}[{}] rekeyed, was [{}]", new.uid, old.uid
                );
            }
            Event::GsaInstall {
                ike,
                params,
                inbound,
                outbound,
                outbound_active,
                replaces,
            } => {
                let conn = self.conn_of(ike).unwrap_or_default();
                let l = ike_sa(&self.log.gsa, &conn, ike.uid);
                let Some(child) = self
                    .loaded
                    .tr
                    .children
                    .get(&(conn.clone(), params.name.clone()))
                    .cloned()
                else {
                    error!(l, "GSA {} of unknown child; deleting it", params.name);
                    let _ = self.engine.delete_gsa(now, ike, inbound.gsa_id);
                    return;
                };
                let peer = self
                    .ikes
                    .get(&ike)
                    .map(|m| m.remote.ip())
                    .or_else(|| self.engine.ike_sa(ike).map(|s| s.remote().ip()))
                    .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
                let jitter = self.jitter(child.rand_time);
                // A restarted peer replaced our IKE SA for this child in this batch: keep
                // sending on the old GSA until it can open the new one.
                let defer = self
                    .replaced_reqids
                    .contains(&child.reqid)
                    .then_some(now + super::gsa_table::SWITCH_DELAY);
                let ctx = InstallCtx {
                    conn: &conn,
                    child: &child,
                    peer,
                    jitter,
                    now,
                    defer_outbound_until: defer,
                };
                let reqs =
                    self.gsas
                        .install(&ctx, ike, &params, &inbound, &outbound, outbound_active);
                self.dp_send(reqs);
                info!(
                    l,
                    "GSA {}{{{}}} installed, GSA-IDs {:08x}_i {:08x}_o{}{}",
                    params.name,
                    child.reqid,
                    inbound.gsa_id,
                    outbound.gsa_id,
                    replaces
                        .map(|r| format!(", replaces {r:08x}"))
                        .unwrap_or_default(),
                    if outbound_active {
                        ""
                    } else {
                        " (outbound after the peer switches)"
                    }
                );
                if let Some(g) = super::ctl_handler::gsa_info(self, inbound.gsa_id, None) {
                    self.broadcasts.push(EventBody::ChildUpdown {
                        up: true,
                        ike: conn.clone(),
                        ike_uid: ike.uid,
                        child: Box::new(g),
                    });
                }
                self.finish_waiters(ike, false, Some(params.name.clone()));
            }
            Event::GsaSwitchOutbound { ike, from, to } => {
                let conn = self.conn_of(ike).unwrap_or_default();
                debug!(
                    ike_sa(&self.log.gsa, &conn, ike.uid),
                    "outbound GSA {from:08x} -> {to:08x}"
                );
                let reqs = self.gsas.switch_outbound(ike, from, to, now);
                self.dp_send(reqs);
            }
            Event::GsaRemove {
                ike,
                inbound,
                outbound,
            } => {
                let conn = self.conn_of(ike).unwrap_or_default();
                let gone = super::ctl_handler::gsa_info(self, inbound, None);
                info!(
                    ike_sa(&self.log.gsa, &conn, ike.uid),
                    "GSA with GSA-IDs {inbound:08x}_i {outbound:08x}_o removed"
                );
                let linger = self.replaced.contains(&ike).then_some(now);
                let reqs = self.gsas.remove(inbound, outbound, linger);
                self.dp_send(reqs);
                if let Some(g) = gone {
                    self.broadcasts.push(EventBody::ChildUpdown {
                        up: false,
                        ike: conn,
                        ike_uid: ike.uid,
                        child: Box::new(g),
                    });
                }
            }
            Event::GsaRefused {
                ike,
                child,
                notify,
                reason,
            } => {
                let conn = self.conn_of(ike).unwrap_or_default();
                warn!(
                    ike_sa(&self.log.gsa, &conn, ike.uid),
                    "GSA {child} refused ({notify:?}): {reason}"
                );
                self.finish_waiters(ike, true, Some(format!("GSA {child} refused: {reason}")));
            }
            Event::AuthFailed {
                ike,
                conn,
                notify,
                reason,
            } => {
                warn!(
                    ike_sa(&self.log.ike, &conn, ike.uid),
                    "authentication failed ({notify:?}): {reason}"
                );
                self.finish_waiters(ike, true, Some(format!("authentication failed: {reason}")));
            }
            other => debug!(self.log.ike, "engine event {other:?}"),
        }
    }

    fn engine_log(&self, rec: nvesec_ikev2::endpoint::LogRecord) {
        // context is "<conn|uid>".
        let inner = rec.context.trim_start_matches('<').trim_end_matches('>');
        let l = match inner.split_once('|') {
            Some((c, u)) => ike_sa(&self.log.ike, c, u.parse().unwrap_or(0)),
            None => self.log.ike.clone(),
        };
        match rec.level {
            LogLevel::Error => error!(l, "{}", rec.message),
            LogLevel::Warn => warn!(l, "{}", rec.message),
            LogLevel::Info => info!(l, "{}", rec.message),
            LogLevel::Debug => debug!(l, "{}", rec.message),
        }
    }

    /// Connections with a child of `reqid`, towards `peer` when it is known (see
    /// [`pick_conns`]).
    fn conns_for(&self, reqid: u32, peer: Option<IpAddr>) -> Vec<String> {
        let all: Vec<String> = self
            .loaded
            .tr
            .children_by_reqid(reqid)
            .map(|(c, _)| c.clone())
            .collect();
        let cfg = self.engine.config();
        pick_conns(
            all,
            peer,
            |c| {
                cfg.connection(c)
                    .map(|cc| cc.remote_addrs.clone())
                    .unwrap_or_default()
            },
            cfg.connections.iter().map(|c| c.remote_addrs.as_slice()),
        )
    }

    /// ACQUIRE (start_action = trap): create the child on the connection's live IKE SA, or
    /// initiate the connection (the GSA then rides in IKE_AUTH). The connection is chosen by
    /// the policy template's reqid and the packet's remote NVE (a full mesh has one
    /// connection per peer with the same child).
    fn acquire(
        &mut self,
        now: Instant,
        reqid: u32,
        vni: u32,
        peer: Option<IpAddr>,
    ) -> Result<String, String> {
        let covers = |c: &nvesec_ikev2::config::GsaConfig| {
            c.selectors
                .geneve
                .iter()
                .any(|g| (g.vni_start..=g.vni_end).contains(&vni))
        };
        let target = self.conns_for(reqid, peer).into_iter().find_map(|conn| {
            let cfg = self.engine.config().connection(&conn)?;
            let child = self
                .loaded
                .tr
                .children
                .iter()
                .find(|((c, _), d)| *c == conn && d.reqid == reqid)
                .map(|((_, n), _)| n.clone())?;
            cfg.children
                .iter()
                .any(|g| g.name == child && covers(g))
                .then_some((conn, child))
        });
        let Some((conn, child)) = target else {
            return Err(format!(
                "no connection has a child with reqid {reqid} covering VNI {vni}"
            ));
        };
        let sas: Vec<IkeSaId> = self
            .engine
            .ike_sas()
            .into_iter()
            .filter(|id| {
                self.engine
                    .ike_sa(*id)
                    .is_some_and(|s| s.connection().name == conn)
            })
            .collect();
        let active = sas
            .iter()
            .copied()
            .find(|id| self.engine.ike_sa(*id).is_some_and(|s| s.is_active()));
        if let Some(id) = active {
            let has = self.engine.ike_sa(id).is_some_and(|s| {
                s.gsas()
                    .iter()
                    .any(|g| g.params.name == child && g.remove_at.is_none())
            });
            if has {
                return Ok(format!(
                    "GSA {child} already installed on IKE_SA {conn}[{}]",
                    id.uid
                ));
            }
            self.engine
                .create_gsa(now, id, &child)
                .map_err(|e| e.to_string())?;
            return Ok(format!("creating GSA {child} on IKE_SA {conn}[{}]", id.uid));
        }
        if let Some(id) = sas.first() {
            return Ok(format!("IKE_SA {conn}[{}] is being set up", id.uid));
        }
        let id = self.initiate(now, &conn).map_err(|e| e.to_string())?;
        Ok(format!("initiating IKE_SA {conn}[{}]", id.uid))
    }

    fn on_dp_event(&mut self, now: Instant, e: DpEvent) {
        match e {
            DpEvent::Acquire {
                policy_id,
                reqid,
                vni,
                dst,
                peer,
                ..
            } => {
                let policy = self
                    .loaded
                    .tr
                    .policy_names
                    .get(&policy_id)
                    .cloned()
                    .unwrap_or_else(|| policy_id.to_string());
                match self.acquire(now, reqid, vni, peer) {
                    Ok(m) => info!(self.log.dp, "acquire for policy '{policy}' VNI {vni}: {m}"),
                    Err(m) => warn!(self.log.dp, "acquire for policy '{policy}' VNI {vni}: {m}"),
                }
                self.broadcasts.push(EventBody::Acquire {
                    policy,
                    vni,
                    peer: peer.or(dst),
                });
            }
            DpEvent::Expire {
                dir,
                gsa_id,
                kind,
                peer,
                ..
            } => {
                let hard = kind == ExpireKind::Hard;
                self.broadcasts.push(EventBody::Expire {
                    gsa_id,
                    hard,
                    reason: "lifetime".into(),
                });
                let Some(inbound) = self.gsas.inbound_of(dir, gsa_id, peer) else {
                    debug!(self.log.dp, "expire of GSA {gsa_id:08x} we do not own");
                    if hard {
                        self.gsas.forget(dir, gsa_id, peer);
                    }
                    return;
                };
                if hard {
                    self.gsas.forget(dir, gsa_id, peer);
                }
                info!(
                    self.log.gsa,
                    "GSA {gsa_id:08x} reached its {} lifetime: {}",
                    if hard { "hard" } else { "soft" },
                    if hard { "deleting" } else { "rekeying" }
                );
                if let Err(e) = self.engine.on_expire(now, inbound, hard) {
                    warn!(self.log.gsa, "expire of {gsa_id:08x}: {e}");
                }
            }
        }
    }

    /// Answer `initiate` waiters for `ike` (success when the awaited GSA, or for `--ike` the
    /// IKE SA, is up).
    fn finish_waiters(&mut self, ike: IkeSaId, failed: bool, what: Option<String>) {
        let mut keep = Vec::new();
        for w in std::mem::take(&mut self.waiters) {
            if w.ike != ike {
                keep.push(w);
                continue;
            }
            let done = failed || w.child.is_none() || w.child == what;
            if !done {
                keep.push(w);
                continue;
            }
            let resp = if failed {
                Response::error(
                    Some(w.req_id),
                    proto::ErrorCode::Failed,
                    what.clone().unwrap_or_else(|| "initiate failed".into()),
                )
            } else {
                let msg = match &w.child {
                    Some(c) => format!("GSA '{c}' established successfully"),
                    None => "IKE_SA established successfully".to_string(),
                };
                Response::ok(
                    w.req_id,
                    proto::Reply::Done {
                        messages: vec![msg],
                    },
                )
            };
            self.responses.push((w.client, resp));
        }
        self.waiters = keep;
    }

    fn expire_waiters(&mut self, now: Instant) {
        let (late, keep): (Vec<Waiter>, Vec<Waiter>) = std::mem::take(&mut self.waiters)
            .into_iter()
            .partition(|w| w.deadline <= now);
        self.waiters = keep;
        for w in late {
            self.responses.push((
                w.client,
                Response::error(
                    Some(w.req_id),
                    proto::ErrorCode::Timeout,
                    "initiate timed out",
                ),
            ));
        }
    }

    /// Reload from the configuration file; refused as a whole on any error.
    pub fn reload(&mut self, now: Instant) -> LoadReport {
        let mut report = LoadReport::default();
        let (new, warnings) = match load_all(&self.opts.config) {
            Ok(v) => v,
            Err(errors) => {
                for e in &errors {
                    error!(self.log.cfg, "{e}");
                }
                error!(
                    self.log.cfg,
                    "reload refused: {} errors; the running configuration is kept",
                    errors.len()
                );
                report.errors = errors;
                return report;
            }
        };
        for w in &warnings {
            warn!(self.log.cfg, "{w}");
        }
        let d = conf::diff(&self.loaded.conf, &new.conf);
        let old = std::mem::replace(&mut self.loaded, new);
        self.engine
            .set_config(Arc::new(self.loaded.tr.engine.clone()));
        // Connections that left or changed: their IKE SAs run on the old settings.
        let gone: Vec<&String> = d
            .connections
            .removed
            .iter()
            .chain(&d.connections.changed)
            .collect();
        for id in self.engine.ike_sas() {
            let Some(name) = self.engine.ike_sa(id).map(|s| s.connection().name.clone()) else {
                continue;
            };
            if gone.contains(&&name) {
                info!(
                    self.log.cfg,
                    "connection '{name}' changed or was removed: closing IKE_SA [{}]", id.uid
                );
                let _ = self.engine.terminate(now, id);
            }
        }
        if d.policies_changed || old.tr.policies != self.loaded.tr.policies {
            self.push_policies();
        }
        if old.tr.routes != self.loaded.tr.routes {
            self.push_routes();
        }
        if !d.networks.added.is_empty() || !d.networks.changed.is_empty() {
            warn!(
                self.log.cfg,
                "overlay networks changed: restart gsa-dp with the new devices (nvesecd --dp-args)"
            );
        }
        let start: Vec<String> = self
            .loaded
            .tr
            .start
            .iter()
            .filter(|c| d.connections.added.contains(c) || d.connections.changed.contains(c))
            .cloned()
            .collect();
        for c in start {
            if let Err(e) = self.initiate(now, &c) {
                warn!(self.log.cfg, "cannot start connection '{c}': {e}");
            }
        }
        for c in d.connections.added.iter().chain(&d.connections.changed) {
            info!(self.log.cfg, "loaded connection '{c}'");
        }
        for c in &d.connections.removed {
            info!(self.log.cfg, "unloaded connection '{c}'");
        }
        report.conns_loaded = d
            .connections
            .added
            .iter()
            .chain(&d.connections.changed)
            .cloned()
            .collect();
        report.conns_unloaded = d.connections.removed.clone();
        report.creds_loaded = self.loaded.creds.loaded.clone();
        self.check_expiry(SystemTime::now());
        report
    }

    /// Warn once per certificate and threshold (30, 7, 1 days, expired).
    pub fn check_expiry(&mut self, wall: SystemTime) {
        for (path, threshold, msg) in self.loaded.creds.expiry_warnings(wall) {
            if self.warned.insert((path, threshold)) {
                warn!(self.log.cfg, "{msg}");
            }
        }
    }

    /// Delete every IKE SA with its peer (SIGTERM).
    pub fn terminate_all(&mut self, now: Instant) {
        for id in self.engine.ike_sas() {
            let _ = self.engine.terminate(now, id);
        }
    }

    /// GSAs per connection, for `stats`.
    pub fn gsa_count(&self) -> usize {
        self.gsas.records.len()
    }

    /// Installed-GSA counters from gsa-dp by (inbound?, gsa_id).
    pub fn dp_counters(&mut self) -> DpCounters {
        let mut m = BTreeMap::new();
        if let Ok(r) = self.dp.request(&self.registry, Request::Dump) {
            for g in r.dump.unwrap_or_default().gsas {
                m.insert(
                    (g.dir == nvesec_gsa_dp::gsp::Direction::In, g.gsa_id),
                    (g.packets, g.bytes, g.idle_ms),
                );
            }
        } else {
            self.note_dp_down();
        }
        m
    }
}

/// Which of the connections `all` (those with the child) may carry a packet for `peer`: the
/// ones naming `peer` in `remote_addrs`. Only when no connection at all names `peer` (or the
/// peer is unknown: `%any` responders, gsa-dp without a route peer) is every connection with
/// the child a candidate. A peer that has connections, none with this child, is not
/// authorized for it (seed 000 REQ 14): negotiating the child with another NVE would not
/// carry the packet and would bring up GSAs nobody asked for.
fn pick_conns<'a>(
    all: Vec<String>,
    peer: Option<IpAddr>,
    remote_addrs: impl Fn(&str) -> Vec<IpAddr>,
    mut every_conn: impl Iterator<Item = &'a [IpAddr]>,
) -> Vec<String> {
    let Some(p) = peer else {
        return all;
    };
    if !every_conn.any(|addrs| addrs.contains(&p)) {
        return all;
    }
    all.into_iter()
        .filter(|c| remote_addrs(c).contains(&p))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{os_seed, pick_conns};
    use std::net::IpAddr;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// nve1 of a mesh: `nve2` (192.0.2.11) has only `red`, `nve3` (.12) has `red` and `blue`.
    fn pick(child_conns: &[&str], peer: Option<&str>) -> Vec<String> {
        let conns = [("nve2", ip("192.0.2.11")), ("nve3", ip("192.0.2.12"))];
        let addrs: Vec<Vec<IpAddr>> = conns.iter().map(|(_, a)| vec![*a]).collect();
        pick_conns(
            child_conns.iter().map(|c| c.to_string()).collect(),
            peer.map(ip),
            |c| {
                conns
                    .iter()
                    .filter(|(n, _)| *n == c)
                    .map(|(_, a)| *a)
                    .collect()
            },
            addrs.iter().map(Vec::as_slice),
        )
    }

    #[test]
    fn the_peers_connection_only() {
        assert_eq!(pick(&["nve2", "nve3"], Some("192.0.2.11")), ["nve2"]);
        assert_eq!(pick(&["nve2", "nve3"], Some("192.0.2.12")), ["nve3"]);
    }

    #[test]
    fn a_peer_without_the_child_gets_no_connection() {
        // `blue` exists only towards nve3: a blue packet for nve2 must not start (or be
        // answered by) the nve3 connection.
        assert!(pick(&["nve3"], Some("192.0.2.11")).is_empty());
    }

    #[test]
    fn unknown_or_unnamed_peer_falls_back_to_every_connection() {
        assert_eq!(pick(&["nve2", "nve3"], None), ["nve2", "nve3"]);
        assert_eq!(pick(&["nve3"], Some("192.0.2.99")), ["nve3"]);
    }

    #[test]
    fn os_seeds_are_random() {
        // The old reader returned 32 zero bytes when /dev/urandom could not be read; two draws
        // from the kernel are neither zero nor equal (probability 2^-256).
        let (a, b) = (os_seed().unwrap(), os_seed().unwrap());
        assert_ne!(a, [0; 32]);
        assert_ne!(b, [0; 32]);
        assert_ne!(a, b);
    }
}
