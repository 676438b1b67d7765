//! Answers the control socket (`nvesecctl`) from the live state: the engine's IKE SAs, the
//! GSAs we installed with gsa-dp's counters (DUMP/STATS), the configuration and credentials
//! in force. `log` and `subscribe` are served by the control server itself.

use std::time::{Duration, Instant, SystemTime};

use nvesec_conf as conf;
use nvesec_gsa_dp::keying::Request as DpRequest;
use nvesec_ikev2::config::{Identity, IkeProposal, Protection as EngProt};
use nvesec_ikev2::endpoint::{CommandError, Endpoint, IkeSaId};
use nvesec_ikev2::sa::SaState;

use super::state::{DpCounters, State, Waiter};
use crate::ctl::proto::*;
use crate::ctl::server::{ClientId, ControlHandler};
use crate::log::time::Utc;

/// How long `initiate` waits by default (swanctl: 0 = until done; we cap it).
const DEFAULT_INITIATE_TIMEOUT: Duration = Duration::from_secs(30);

fn secs(d: Duration) -> u64 {
    d.as_secs()
}

fn proposal_text(p: &IkeProposal) -> String {
    format!(
        "AES_GCM_16-{}/PRF_HMAC_SHA2_{}/CURVE_25519",
        p.encr_key_bits,
        if p.prf == 6 { 384 } else { 256 }
    )
}

fn gsa_proposal_text(p: EngProt, bits: u16) -> String {
    match p {
        EngProt::Geo => format!("AES_GCM_16-{bits}"),
        EngProt::Gao => format!("AES_GMAC-{bits}"),
    }
}

fn prot(p: EngProt) -> Protection {
    match p {
        EngProt::Geo => Protection::Geo,
        EngProt::Gao => Protection::Gao,
    }
}

fn id_text(state: &State, id: &Identity) -> String {
    if let Identity::DerAsn1Dn(der) = id {
        let all = state
            .loaded
            .creds
            .certs
            .iter()
            .chain(&state.loaded.creds.cas);
        if let Some(c) = all.into_iter().find(|c| &c.info.subject_der == der) {
            return c.info.subject.clone();
        }
    }
    id.to_string()
}

fn ts(sel: &nvesec_ikev2::config::GsaSelectors, local: bool) -> Vec<Selector> {
    let mut v: Vec<Selector> = sel
        .geneve
        .iter()
        .map(|g| Selector::Geneve {
            vni_start: g.vni_start,
            vni_end: g.vni_end,
            proto_start: g.ptype_start,
            proto_end: g.ptype_end,
        })
        .collect();
    let inner = if local {
        &sel.local_inner
    } else {
        &sel.remote_inner
    };
    for r in inner {
        v.push(range_prefix(r.start, r.end));
    }
    v
}

/// The shortest prefix covering `start..=end` (ranges come from prefixes).
fn range_prefix(start: std::net::IpAddr, end: std::net::IpAddr) -> Selector {
    let (s, e, width) = match (start, end) {
        (std::net::IpAddr::V4(s), std::net::IpAddr::V4(e)) => {
            (u128::from(u32::from(s)), u128::from(u32::from(e)), 32u32)
        }
        (std::net::IpAddr::V6(s), std::net::IpAddr::V6(e)) => (u128::from(s), u128::from(e), 128),
        _ => (0, 0, 32),
    };
    let diff = s ^ e;
    let host_bits = 128 - diff.leading_zeros();
    let len = width.saturating_sub(host_bits);
    Selector::Prefix {
        addr: start,
        len: u8::try_from(len).unwrap_or(0),
    }
}

/// One GSA for listings; counters from `counters` when given.
pub fn gsa_info(state: &State, inbound: u32, counters: Option<&DpCounters>) -> Option<GsaInfo> {
    let r = state.gsas.records.get(&inbound)?;
    let now = Instant::now();
    let age = secs(now.saturating_duration_since(r.installed_at));
    let get = |dir_in: bool, id: u32| {
        counters
            .and_then(|c| c.get(&(dir_in, id)).copied())
            .unwrap_or((0, 0, None))
    };
    let (pi, bi, li) = get(true, r.inbound);
    let (po, bo, lo) = get(false, r.outbound);
    let rekeyed = state
        .engine
        .ike_sa(r.ike)
        .and_then(|sa| {
            sa.gsas()
                .iter()
                .find(|g| g.inbound_id == inbound)
                .map(|g| g.remove_at.is_some())
        })
        .unwrap_or(false);
    let gstate = if rekeyed {
        GsaState::Rekeyed
    } else if r.out_installed {
        GsaState::Installed
    } else {
        GsaState::Installing
    };
    Some(GsaInfo {
        name: r.child.clone(),
        uid: r.uid,
        reqid: r.reqid,
        state: gstate,
        protection: prot(r.protection),
        proposal: gsa_proposal_text(r.protection, r.key_bits),
        gsa_id_in: r.inbound,
        gsa_id_out: r.outbound,
        bytes_in: bi,
        packets_in: pi,
        last_in_secs: li.map(|ms| ms / 1000),
        bytes_out: bo,
        packets_out: po,
        last_out_secs: lo.map(|ms| ms / 1000),
        installed_secs: age,
        rekey_in_secs: (r.soft_secs > 0 && !rekeyed).then(|| r.soft_secs.saturating_sub(age)),
        expires_in_secs: (r.hard_secs > 0).then(|| r.hard_secs.saturating_sub(age)),
        local_ts: ts(&r.params.selectors, true),
        remote_ts: ts(&r.params.selectors, false),
    })
}

/// One IKE SA (without GSA counters) for listings and events.
pub fn ike_info(state: &State, id: IkeSaId) -> Option<IkeSaInfo> {
    ike_info_with(state, id, None)
}

fn ike_info_with(state: &State, id: IkeSaId, counters: Option<&DpCounters>) -> Option<IkeSaInfo> {
    let sa = state.engine.ike_sa(id)?;
    let conn = sa.connection();
    let meta = state.ikes.get(&id);
    let (spi_i, spi_r) = sa.spis();
    // The engine's address, the one our requests go to (issue 14 item 2: the listing showed
    // the address recorded at creation while the engine had moved).
    let remote = sa.remote();
    let local = meta
        .map(|m| m.local)
        .unwrap_or_else(|| state.local_for(Some(&conn.name), remote.is_ipv6()));
    let st = match sa.state() {
        SaState::Connecting | SaState::HalfOpen => IkeState::Connecting,
        SaState::Established if sa.is_active() => IkeState::Established,
        SaState::Established => IkeState::Rekeyed,
        SaState::Deleting => IkeState::Deleting,
        SaState::Dead => IkeState::Destroying,
    };
    let established = meta.and_then(|m| m.established);
    let est_secs = established.map(|t| secs(Instant::now().saturating_duration_since(t)));
    let children = state
        .gsas
        .of_ike(id)
        .filter_map(|r| gsa_info(state, r.inbound, counters))
        .collect();
    Some(IkeSaInfo {
        name: conn.name.clone(),
        uid: id.uid,
        state: st,
        version: 2,
        spi_i,
        spi_r,
        initiator: sa.is_initiator(),
        local_id: id_text(state, &conn.local.id),
        local_addr: local.ip(),
        local_port: local.port(),
        remote_id: sa
            .peer_id()
            .map(|p| id_text(state, p))
            .unwrap_or_else(|| "%any".into()),
        remote_addr: remote.ip(),
        remote_port: remote.port(),
        proposal: conn
            .ike_proposals
            .first()
            .map(proposal_text)
            .unwrap_or_default(),
        established_secs: est_secs,
        rekey_in_secs: match (conn.rekey_time, est_secs) {
            (Some(r), Some(e)) => Some(secs(r).saturating_sub(e)),
            _ => None,
        },
        children,
    })
}

fn conf_ts(ch: &conf::Child, local: bool) -> Vec<Selector> {
    let mut v = Vec::new();
    let ranges = |s: &conf::Selector, max: u32| match s {
        conf::Selector::Ranges(r) => r.iter().map(|r| (r.start, r.end)).collect(),
        _ => vec![(0, max)],
    };
    for (a, b) in ranges(&ch.selectors.vnis, 0xff_ffff) {
        for (p, q) in ranges(&ch.selectors.protocol_types, 0xffff) {
            v.push(Selector::Geneve {
                vni_start: a,
                vni_end: b,
                proto_start: u16::try_from(p).unwrap_or(u16::MAX),
                proto_end: u16::try_from(q).unwrap_or(u16::MAX),
            });
        }
    }
    let pre = if local {
        &ch.selectors.local_prefixes
    } else {
        &ch.selectors.remote_prefixes
    };
    v.extend(pre.iter().map(|p| Selector::Prefix {
        addr: p.addr(),
        len: p.len(),
    }));
    v
}

fn addr_text(a: &conf::AddrSpec) -> String {
    match a {
        conf::AddrSpec::Any => "%any".into(),
        conf::AddrSpec::Any4 => "%any4".into(),
        conf::AddrSpec::Any6 => "%any6".into(),
        conf::AddrSpec::Ip(ip) => ip.to_string(),
        conf::AddrSpec::Subnet(p) => format!("{}/{}", p.addr(), p.len()),
        conf::AddrSpec::Host(h) => h.clone(),
    }
}

fn conn_info(c: &conf::Connection) -> ConnInfo {
    let auth = |a: &conf::Auth| AuthInfo {
        method: a.auth.as_str().to_string(),
        id: a.id.clone(),
        certs: a
            .certs
            .iter()
            .chain(&a.cacerts)
            .map(|f| f.name.clone())
            .collect(),
    };
    ConnInfo {
        name: c.name.clone(),
        version: match c.version {
            conf::IkeVersion::Any => 0,
            conf::IkeVersion::V2 => 2,
        },
        local_addrs: c.local_addrs.iter().map(addr_text).collect(),
        remote_addrs: c.remote_addrs.iter().map(addr_text).collect(),
        reauth_secs: 0,
        rekey_secs: secs(c.rekey_time),
        local_auth: auth(&c.local),
        remote_auth: auth(&c.remote),
        children: c
            .children
            .iter()
            .map(|ch| ChildConnInfo {
                name: ch.name.clone(),
                protection: match ch.protection {
                    conf::Protection::Gao => Protection::Gao,
                    _ => Protection::Geo,
                },
                rekey_secs: secs(ch.rekey_time),
                start_action: ch.start_action.as_str().to_string(),
                local_ts: conf_ts(ch, true),
                remote_ts: conf_ts(ch, false),
            })
            .collect(),
    }
}

fn utc(unix: i64) -> String {
    Utc::from_unix(Duration::from_secs(u64::try_from(unix).unwrap_or(0))).human()
}

fn cert_infos(state: &State) -> Vec<CertInfo> {
    let now = SystemTime::now();
    let c = &state.loaded.creds;
    c.certs
        .iter()
        .chain(&c.cas)
        .map(|x| CertInfo {
            subject: x.info.subject.clone(),
            issuer: x.info.issuer.clone(),
            serial: x
                .info
                .serial
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":"),
            alt_names: x.alt_names.clone(),
            not_before: utc(x.info.not_before),
            not_after: utc(x.info.not_after),
            expires_in_days: nvesec_pki::days_until(x.info.not_after, now),
            ca: x.info.is_ca,
            has_private_key: x.signer.is_some(),
        })
        .collect()
}

fn policy_infos(state: &State) -> Vec<PolicyInfo> {
    let cfg = &state.loaded.conf;
    cfg.policies
        .iter()
        .map(|p| {
            let (action, protection) = match &p.action {
                conf::Action::Bypass => (PolicyAction::Bypass, None),
                conf::Action::Discard => (PolicyAction::Discard, None),
                conf::Action::Secure(refs) => {
                    let prot = refs.first().and_then(|r| {
                        cfg.connections
                            .iter()
                            .flat_map(|c| c.children.iter().map(move |ch| (c, ch)))
                            .find(|(c, ch)| r.names(&c.name, &ch.name))
                            .map(|(_, ch)| match ch.protection {
                                conf::Protection::Gao => Protection::Gao,
                                _ => Protection::Geo,
                            })
                    });
                    (PolicyAction::Secure, prot)
                }
            };
            let vnis = match &p.vnis {
                conf::Selector::Ranges(r) => r
                    .iter()
                    .map(|r| Selector::Geneve {
                        vni_start: r.start,
                        vni_end: r.end,
                        proto_start: 0,
                        proto_end: u16::MAX,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            let owner = match &p.action {
                conf::Action::Secure(refs) => refs
                    .iter()
                    .map(|r| r.to_string())
                    .collect::<Vec<_>>()
                    .join(","),
                _ => String::new(),
            };
            PolicyInfo {
                name: if owner.is_empty() {
                    p.name.clone()
                } else {
                    format!("{} ({owner})", p.name)
                },
                direction: match p.direction {
                    conf::Direction::In => Direction::In,
                    conf::Direction::Out => Direction::Out,
                },
                action,
                protection,
                local_ts: vnis.clone(),
                remote_ts: vnis,
            }
        })
        .collect()
}

fn not_found(id: u64, what: &str) -> Response {
    Response::error(Some(id), ErrorCode::NotFound, what.to_string())
}

impl State {
    /// The dataplane counters cost a DUMP round trip to gsa-dp (every GSA, as JSON): fetch
    /// them only when a selected IKE SA has GSAs, so a client polling `list-sas --ike X`
    /// until X is gone (scripts/bench-handshakes.sh) does not load the dataplane.
    fn list_sas(&mut self, filter: &SaFilter) -> Vec<IkeSaInfo> {
        let ids: Vec<IkeSaId> = self
            .engine
            .ike_sas()
            .into_iter()
            .filter(|id| ike_info_with(self, *id, None).is_some_and(|sa| filter.matches_ike(&sa)))
            .collect();
        let counters = ids
            .iter()
            .any(|id| self.gsas.of_ike(*id).next().is_some())
            .then(|| self.dp_counters());
        ids.into_iter()
            .filter_map(|id| ike_info_with(self, id, counters.as_ref()))
            .map(|mut sa| {
                sa.children.retain(|g| filter.matches_child(g));
                sa
            })
            .collect()
    }

    /// IKE SAs and GSAs a terminate/rekey filter selects: (ike, Some(inbound) for a GSA).
    fn select(&self, f: &SaFilter) -> Vec<(IkeSaId, Option<u32>)> {
        let mut out = Vec::new();
        let by_child = f.child.is_some() || f.child_id.is_some();
        for id in self.engine.ike_sas() {
            let Some(sa) = self.engine.ike_sa(id) else {
                continue;
            };
            let name_ok = f.ike.as_ref().is_none_or(|n| *n == sa.connection().name);
            let uid_ok = f.ike_id.is_none_or(|u| u == id.uid);
            if !(name_ok && uid_ok) {
                continue;
            }
            if by_child {
                for r in self.gsas.of_ike(id) {
                    let c_ok = f.child.as_ref().is_none_or(|n| *n == r.child);
                    let cu_ok = f.child_id.is_none_or(|u| u == r.uid);
                    if c_ok && cu_ok {
                        out.push((id, Some(r.inbound)));
                    }
                }
            } else {
                out.push((id, None));
            }
        }
        out
    }

    fn terminate(&mut self, id: u64, f: &SaFilter) -> Response {
        self.on_selected(id, f, "terminate", |engine, now, ike, gsa| match gsa {
            Some(inb) => engine
                .delete_gsa(now, ike, inb)
                .map(|_| format!("terminate GSA {inb:08x} of IKE_SA [{}] started", ike.uid)),
            None => engine
                .terminate(now, ike)
                .map(|_| format!("terminate IKE_SA [{}] completed", ike.uid)),
        })
    }

    fn rekey(&mut self, id: u64, f: &SaFilter) -> Response {
        self.on_selected(id, f, "rekey", |engine, now, ike, gsa| match gsa {
            Some(inb) => engine
                .rekey_gsa(now, ike, inb)
                .map(|_| format!("rekey of GSA {inb:08x} started")),
            None => engine
                .rekey_ike(now, ike)
                .map(|_| format!("rekey of IKE_SA [{}] started", ike.uid)),
        })
    }

    /// Runs `op` on every IKE SA (or GSA of one) the filter selects: one message each.
    fn on_selected(
        &mut self,
        id: u64,
        f: &SaFilter,
        verb: &str,
        op: impl Fn(&mut Endpoint, Instant, IkeSaId, Option<u32>) -> Result<String, CommandError>,
    ) -> Response {
        if f.is_empty() {
            return Response::error(
                Some(id),
                ErrorCode::InvalidArguments,
                format!("{verb} needs --ike, --ike-id, --child or --child-id"),
            );
        }
        let now = Instant::now();
        let messages: Vec<String> = self
            .select(f)
            .into_iter()
            .map(|(ike, gsa)| {
                op(&mut self.engine, now, ike, gsa)
                    .unwrap_or_else(|e| format!("{verb} [{}] failed: {e}", ike.uid))
            })
            .collect();
        if messages.is_empty() {
            return not_found(id, &format!("no matching SAs to {verb} found"));
        }
        Response::ok(id, Reply::Done { messages })
    }

    /// Start an initiate; `Err` is the immediate answer, `Ok` the SA to wait for.
    fn start_initiate(
        &mut self,
        id: u64,
        child: &Option<String>,
        ike: &Option<String>,
    ) -> Result<(IkeSaId, Option<String>), Box<Response>> {
        let now = Instant::now();
        let conn = match (ike, child) {
            (Some(c), _) => c.clone(),
            (None, Some(ch)) => match self
                .loaded
                .conf
                .connections
                .iter()
                .find(|c| c.children.iter().any(|x| &x.name == ch))
            {
                Some(c) => c.name.clone(),
                None => {
                    return Err(Box::new(not_found(
                        id,
                        &format!("no child '{ch}' configured"),
                    )))
                }
            },
            (None, None) => {
                return Err(Box::new(Response::error(
                    Some(id),
                    ErrorCode::InvalidArguments,
                    "initiate needs --child or --ike",
                )))
            }
        };
        if self.loaded.conf.connection(&conn).is_none() {
            return Err(Box::new(not_found(
                id,
                &format!("no connection '{conn}' configured"),
            )));
        }
        let sa = self
            .initiate(now, &conn)
            .map_err(|e| Box::new(Response::error(Some(id), ErrorCode::Failed, e.to_string())))?;
        let established = self
            .engine
            .ike_sa(sa)
            .is_some_and(|s| s.state() == SaState::Established);
        if let Some(ch) = child {
            let has = self.gsas.of_ike(sa).any(|r| &r.child == ch);
            if has {
                return Err(Box::new(Response::ok(
                    id,
                    Reply::Done {
                        messages: vec![format!("GSA '{ch}' is already established")],
                    },
                )));
            }
            if established {
                self.engine.create_gsa(now, sa, ch).map_err(|e| {
                    Box::new(Response::error(Some(id), ErrorCode::Failed, e.to_string()))
                })?;
            }
        } else if established {
            return Err(Box::new(Response::ok(
                id,
                Reply::Done {
                    messages: vec![format!("IKE_SA '{conn}' is already established")],
                },
            )));
        }
        Ok((sa, child.clone()))
    }

    fn counters(&mut self, id: u64) -> Response {
        let stats = match self.dp.request(&self.registry, DpRequest::Stats) {
            Ok(r) => r.stats.unwrap_or_default(),
            Err(e) => return Response::error(Some(id), ErrorCode::Failed, format!("gsa-dp: {e}")),
        };
        let dump = match self.dp.request(&self.registry, DpRequest::Dump) {
            Ok(r) => r.dump.unwrap_or_default(),
            Err(e) => return Response::error(Some(id), ErrorCode::Failed, format!("gsa-dp: {e}")),
        };
        let name_of = |dir_in: bool, gsa_id: u32| {
            self.gsas
                .records
                .values()
                .find(|r| {
                    if dir_in {
                        r.inbound == gsa_id
                    } else {
                        r.outbound == gsa_id
                    }
                })
                .map(|r| format!("{}/{}", r.conn, r.child))
        };
        let gsas = dump
            .gsas
            .iter()
            .map(|g| {
                let dir_in = g.dir == nvesec_gsa_dp::gsp::Direction::In;
                GsaCounters {
                    gsa_id: g.gsa_id,
                    direction: if dir_in {
                        Direction::In
                    } else {
                        Direction::Out
                    },
                    name: name_of(dir_in, g.gsa_id),
                    packets: g.packets,
                    bytes: g.bytes,
                    drops: 0,
                }
            })
            .collect();
        let mut drops: Vec<DropCounter> = stats
            .drops
            .iter()
            .map(|(reason, count)| DropCounter {
                reason: reason.clone(),
                count: *count,
            })
            .collect();
        let d = self.engine.drop_counters();
        for (reason, count) in [
            ("ike_malformed_header", d.malformed_header),
            ("ike_unknown_spi", d.unknown_spi),
            ("ike_no_connection", d.no_connection),
            ("ike_cookie_required", d.cookie_required),
            ("ike_rate_limited", d.rate_limited),
            ("ike_unexpected_response", d.unexpected_response),
            ("ike_answered_after_close", d.answered_after_close),
            ("ike_foreign_retransmit", d.foreign_retransmit),
            ("ike_half_open_limit", d.half_open_limit),
            ("ike_half_open_per_address", d.half_open_per_address),
            ("ike_auth_limit", d.auth_limit),
            ("ike_auth_weak_algorithm", d.auth_weak_algorithm),
            ("ike_send_queue_full", d.send_queue_full),
            ("ike_natt_no_marker", self.io.natt_no_marker()),
        ] {
            drops.push(DropCounter {
                reason: reason.into(),
                count,
            });
        }
        Response::ok(id, Reply::Counters(CountersInfo { gsas, drops }))
    }

    fn stats(&self, id: u64) -> Response {
        let certs = self.loaded.creds.certs.len() + self.loaded.creds.cas.len();
        Response::ok(
            id,
            Reply::Stats(StatsInfo {
                uptime_secs: secs(self.started.elapsed()),
                since: Utc::from_system(self.started_wall).human(),
                ike_sas_total: u32::try_from(self.engine.ike_sas().len()).unwrap_or(u32::MAX),
                ike_sas_half_open: u32::try_from(self.engine.half_open_count()).unwrap_or(u32::MAX),
                gsas_installed: u32::try_from(self.gsa_count()).unwrap_or(u32::MAX),
                conns_loaded: u32::try_from(self.loaded.conf.connections.len()).unwrap_or(u32::MAX),
                certs_loaded: u32::try_from(certs).unwrap_or(u32::MAX),
                dataplane_connected: self.dp.is_connected(),
                control_clients: u32::try_from(self.control_clients).unwrap_or(u32::MAX),
            }),
        )
    }
}

fn version() -> VersionInfo {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    VersionInfo {
        daemon: "nvesecd".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        sysname: read("/proc/sys/kernel/ostype"),
        release: read("/proc/sys/kernel/osrelease"),
        machine: std::env::consts::ARCH.into(),
    }
}

impl ControlHandler for State {
    fn handle(&mut self, req: Request) -> Response {
        let id = req.id;
        match req.command {
            Command::LoadAll | Command::LoadConns | Command::LoadCreds => {
                let report = self.reload(Instant::now());
                if report.errors.is_empty() {
                    Response::ok(id, Reply::Load(report))
                } else {
                    // The report carries every error; the status says the load was refused.
                    let mut r = Response::ok(id, Reply::Load(report.clone()));
                    r.status = Status::Error;
                    r.error = Some(ErrorBody {
                        code: ErrorCode::Failed,
                        message: format!(
                            "configuration refused, running state kept:\n{}",
                            report.errors.join("\n")
                        ),
                    });
                    r.reply = None;
                    r
                }
            }
            Command::ListSas(f) => Response::ok(
                id,
                Reply::ListSas {
                    sas: self.list_sas(&f),
                },
            ),
            Command::ListConns => Response::ok(
                id,
                Reply::ListConns {
                    conns: self.loaded.conf.connections.iter().map(conn_info).collect(),
                },
            ),
            Command::ListCerts => Response::ok(
                id,
                Reply::ListCerts {
                    certs: cert_infos(self),
                },
            ),
            Command::ListPols => Response::ok(
                id,
                Reply::ListPols {
                    policies: policy_infos(self),
                },
            ),
            Command::Initiate { child, ike, .. } => match self.start_initiate(id, &child, &ike) {
                Err(r) => *r,
                Ok((sa, _)) => Response::ok(
                    id,
                    Reply::Done {
                        messages: vec![format!("initiating IKE_SA [{}]", sa.uid)],
                    },
                ),
            },
            Command::Terminate { target, .. } => self.terminate(id, &target),
            Command::Rekey { target, .. } => self.rekey(id, &target),
            Command::Stats => self.stats(id),
            Command::Counters { reset } => {
                if reset {
                    Response::error(
                        Some(id),
                        ErrorCode::InvalidArguments,
                        "gsa-dp counters cannot be reset",
                    )
                } else {
                    self.counters(id)
                }
            }
            Command::Version => Response::ok(id, Reply::Version(version())),
            Command::Log { .. } | Command::Subscribe { .. } => {
                Response::error(Some(id), ErrorCode::Failed, "served by the control server")
            }
        }
    }

    fn handle_deferred(&mut self, req: Request, client: ClientId) -> Option<Response> {
        if let Command::Initiate {
            child,
            ike,
            timeout,
        } = &req.command
        {
            return match self.start_initiate(req.id, child, ike) {
                Err(r) => Some(*r),
                Ok((sa, child)) => {
                    let t = timeout
                        .filter(|t| *t > 0)
                        .map(|t| Duration::from_secs(u64::from(t)))
                        .unwrap_or(DEFAULT_INITIATE_TIMEOUT);
                    self.waiters.push(Waiter {
                        client,
                        req_id: req.id,
                        ike: sa,
                        child,
                        deadline: Instant::now() + t,
                    });
                    None
                }
            };
        }
        Some(self.handle(req))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_become_prefixes() {
        let r =
            nvesec_ikev2::config::IpRange::from_prefix("10.1.0.0".parse().unwrap(), 16).unwrap();
        assert_eq!(
            range_prefix(r.start, r.end),
            Selector::Prefix {
                addr: "10.1.0.0".parse().unwrap(),
                len: 16
            }
        );
        let h =
            nvesec_ikev2::config::IpRange::from_prefix("fd00::1".parse().unwrap(), 128).unwrap();
        assert_eq!(
            range_prefix(h.start, h.end),
            Selector::Prefix {
                addr: "fd00::1".parse().unwrap(),
                len: 128
            }
        );
    }

    #[test]
    fn proposal_names() {
        assert_eq!(
            proposal_text(&IkeProposal::default()),
            "AES_GCM_16-256/PRF_HMAC_SHA2_256/CURVE_25519"
        );
        assert_eq!(gsa_proposal_text(EngProt::Gao, 128), "AES_GMAC-128");
    }
}
