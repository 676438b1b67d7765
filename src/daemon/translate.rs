//! The validated `nvesec.conf` model -> what the two engines need: the IKE engine's
//! [`EngineConfig`] and gsa-dp's policies (SET_GSP), overlay routes (SET_ROUTES) and devices
//! (its `--tun`/`--tap` flags, see [`dp_args`]).
//!
//! GSAs are tied to policies by `reqid` (as XFRM templates): every child name gets one,
//! derived from the name (FNV-1a), so it is the same across reloads and restarts and a
//! restarted nvesecd recognises the GSAs gsa-dp kept forwarding with. Children of the same
//! name in several connections (a full mesh, `gsas = <child>` in a policy) share the reqid:
//! gsa-dp picks the outbound GSA of a reqid by the packet's remote NVE.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use nvesec_conf as conf;
use nvesec_gsa_dp::gsa::{Algorithm, Coverage, OptionCoverage, Padding, PayloadCoverage};
use nvesec_gsa_dp::gsp::{self, Sel, Selectors, Template};
use nvesec_gsa_dp::keying::{Prefix as DpPrefix, Route};
use nvesec_gsa_dp::wire::gso::GsoKind;
use nvesec_ikev2::config::{
    ChildlessPolicy, ConnectionConfig, Credential, DpdAction, EngineConfig, GeneveRange, GsaConfig,
    GsaSelectors, Identity, IdentityMatcher, IkeProposal, IpRange, Lifetimes, LocalAuth,
    PeerAuthMethod, Protection, Psk, RemoteAuth, RetransmitConfig,
};

use nvesec_pki::RdnSequence;

use super::creds::{Creds, PkiAuthenticator};

/// Everything derived from one configuration.
#[derive(Debug, Clone)]
pub struct Translated {
    pub engine: EngineConfig,
    /// The GSP DB for SET_GSP (ids are the 1-based position in `policies`).
    pub policies: Vec<gsp::Policy>,
    /// Policy id -> name (for ACQUIRE logs and `--list-pols`).
    pub policy_names: BTreeMap<u32, String>,
    pub routes: Vec<Route>,
    /// Per `connection.child`: reqid and dataplane settings.
    pub children: BTreeMap<(String, String), ChildDp>,
    /// Connections with a `start_action` containing `start`.
    pub start: Vec<String>,
}

impl Translated {
    /// The children with `reqid` (one per connection that has a child of that name).
    pub fn children_by_reqid(&self, reqid: u32) -> impl Iterator<Item = &(String, String)> {
        self.children
            .iter()
            .filter(move |(_, c)| c.reqid == reqid)
            .map(|(k, _)| k)
    }
}

/// Dataplane side of a child: how its GSAs are installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildDp {
    pub reqid: u32,
    pub kind: GsoKind,
    pub coverage: Coverage,
    pub replay_window: u32,
    pub rekey_bytes: u64,
    pub life_bytes: u64,
    pub rekey_packets: u64,
    pub life_packets: u64,
    /// Soft expiry is moved earlier by a random part of this (strongSwan `rand_time`).
    pub rand_time: Duration,
    pub start_action: conf::StartAction,
}

/// Why a configuration cannot be used (in addition to what `conf` already validates).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{context}: {message}")]
pub struct TranslateError {
    pub context: String,
    pub message: String,
}

fn err(context: impl Into<String>, message: impl Into<String>) -> TranslateError {
    TranslateError {
        context: context.into(),
        message: message.into(),
    }
}

/// Stable reqid of a child name: FNV-1a 32 of the name, never 0.
pub fn reqid(child: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in child.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    (h & 0x7fff_ffff).max(1)
}

/// Translate the whole configuration. All errors are collected, so a reload reports them all.
pub fn translate(cfg: &conf::Config, creds: &Creds) -> Result<Translated, Vec<TranslateError>> {
    let mut errors = Vec::new();
    let mut connections = Vec::new();
    let mut children = BTreeMap::new();
    let mut start = Vec::new();
    for c in &cfg.connections {
        match connection(c, cfg, creds) {
            Ok(cc) => connections.push(Arc::new(cc)),
            Err(e) => errors.push(e),
        }
        for ch in &c.children {
            let dp = child_dp(ch);
            if let Some(((oc, och), _)) =
                children
                    .iter()
                    .find(|((_, n), d): &(&(String, String), &ChildDp)| {
                        d.reqid == dp.reqid && *n != ch.name
                    })
            {
                errors.push(err(
                    format!("connections.{}.children.{}", c.name, ch.name),
                    format!("reqid collides with {oc}.{och}; rename one of them"),
                ));
            }
            if matches!(
                ch.start_action,
                conf::StartAction::Start | conf::StartAction::TrapStart
            ) && !start.contains(&c.name)
            {
                start.push(c.name.clone());
            }
            children.insert((c.name.clone(), ch.name.clone()), dp);
        }
    }
    let mut policies = Vec::new();
    let mut policy_names = BTreeMap::new();
    for (i, p) in cfg.policies.iter().enumerate() {
        let id = u32::try_from(i + 1).unwrap_or(u32::MAX);
        match policy(id, p, &children) {
            Ok(pol) => {
                policies.push(pol);
                policy_names.insert(id, p.name.clone());
            }
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Translated {
        engine: EngineConfig {
            connections,
            retransmit: retransmit(&cfg.daemon),
            cookie_threshold: cfg.daemon.cookie_threshold as usize,
            init_limit_half_open: limit(cfg.daemon.init_limit_half_open),
            block_threshold: limit(cfg.daemon.block_threshold),
            per_peer_min_interval: cfg.daemon.ike_rate_limit,
            max_queued_transmits: cfg.daemon.ike_send_queue as usize,
            ..EngineConfig::default()
        },
        policies,
        policy_names,
        routes: routes(&cfg.overlay),
        children,
        start,
    })
}

/// charon's convention: a limit of 0 means unlimited.
fn limit(n: u32) -> Option<usize> {
    (n > 0).then_some(n as usize)
}

/// `nvesecd.retransmit_*` -> the engine's schedule.
fn retransmit(d: &nvesec_conf::Daemon) -> RetransmitConfig {
    RetransmitConfig {
        timeout: d.retransmit_timeout,
        base: f64::from(d.retransmit_base_milli) / 1000.0,
        tries: d.retransmit_tries,
        limit: d.retransmit_limit,
    }
}

/// `aes256gcm16-prfsha384-x25519` -> an IKE proposal (`default` = ours).
pub fn ike_proposal(p: &str) -> Result<IkeProposal, String> {
    let mut prop = IkeProposal::default();
    if p == "default" {
        return Ok(prop);
    }
    for tok in p.split('-') {
        match tok {
            "aes128gcm16" | "aes128gcm" => prop.encr_key_bits = 128,
            "aes256gcm16" | "aes256gcm" => prop.encr_key_bits = 256,
            "prfsha256" => prop.prf = 5,
            "prfsha384" => prop.prf = 6,
            "x25519" | "curve25519" => prop.dh_group = 31,
            other => return Err(format!("unsupported IKE algorithm '{other}'")),
        }
    }
    Ok(prop)
}

/// The first GSA proposal decides protection and key size; `x25519` adds PFS.
fn gsa_proposal(p: &str, protection: conf::Protection) -> (Protection, u16, Option<u16>) {
    let mut prot = match protection {
        conf::Protection::Gao => Protection::Gao,
        // geo+gao: the engine negotiates one GSA per child; GEO is the part that protects
        // confidentiality, so it is what geo+gao gets today (docs/daemon.md).
        conf::Protection::Geo | conf::Protection::GeoGao => Protection::Geo,
    };
    let mut bits = 256;
    let mut pfs = None;
    if p != "default" {
        for tok in p.split('-') {
            match tok {
                "aes128gcm16" | "aes128gcm" => bits = 128,
                "aes256gcm16" | "aes256gcm" => bits = 256,
                "aes128gmac" => (bits, prot) = (128, Protection::Gao),
                "aes256gmac" => (bits, prot) = (256, Protection::Gao),
                "x25519" | "curve25519" => pfs = Some(31),
                _ => {}
            }
        }
        if protection != conf::Protection::Gao && prot == Protection::Gao {
            // A geo child whose first proposal is GMAC still encrypts.
            prot = Protection::Geo;
        }
    }
    (prot, bits, pfs)
}

/// The dataplane algorithm of a negotiated GSA.
pub fn algorithm(protection: Protection, key_bits: u16) -> Algorithm {
    match (protection, key_bits) {
        (Protection::Geo, 128) => Algorithm::AesGcm128,
        (Protection::Geo, _) => Algorithm::AesGcm256,
        (Protection::Gao, 128) => Algorithm::AesGmac128,
        (Protection::Gao, _) => Algorithm::AesGmac256,
    }
}

/// An identity as written in `id = ...` (strongSwan's rules: IP literal, DN with `=`,
/// `@name` or a name = FQDN, `user@host` = RFC 822). A DN needs its DER form, which only a
/// certificate gives: `dn_der` is the local certificate's subject, used when its RDN sequence
/// is the DN's (RFC 5280 §7.1; docs/pki.md).
pub fn identity(text: &str, dn_der: Option<&[u8]>) -> Result<Identity, String> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(match ip {
            IpAddr::V4(a) => Identity::Ipv4(a),
            IpAddr::V6(a) => Identity::Ipv6(a),
        });
    }
    if text.contains('=') {
        let dn = RdnSequence::parse(text).map_err(|e| e.to_string())?;
        return match dn_der {
            Some(der) if dn.matches_der(der) => Ok(Identity::DerAsn1Dn(der.to_vec())),
            _ => Err(format!(
                "'{text}': a DN identity must equal the subject of the local certificate"
            )),
        };
    }
    if let Some(fqdn) = text.strip_prefix('@') {
        return Ok(Identity::Fqdn(fqdn.to_string()));
    }
    if text.contains('@') {
        return Ok(Identity::Rfc822(text.to_string()));
    }
    Ok(Identity::Fqdn(text.to_string()))
}

fn connection(
    c: &conf::Connection,
    cfg: &conf::Config,
    creds: &Creds,
) -> Result<ConnectionConfig, TranslateError> {
    let ctx = format!("connections.{}", c.name);
    let mut remote_addrs = Vec::new();
    for a in &c.remote_addrs {
        match a {
            conf::AddrSpec::Ip(ip) => remote_addrs.push(*ip),
            conf::AddrSpec::Any | conf::AddrSpec::Any4 | conf::AddrSpec::Any6 => {}
            conf::AddrSpec::Subnet(_) => {}
            conf::AddrSpec::Host(h) => {
                return Err(err(
                    &ctx,
                    format!(
                        "remote_addrs: host name '{h}' is not resolved by nvesecd; use an address"
                    ),
                ))
            }
        }
    }
    let local = local_auth(c, cfg, creds).map_err(|m| err(format!("{ctx}.local"), m))?;
    let remote = remote_auth(c, cfg, creds).map_err(|m| err(format!("{ctx}.remote"), m))?;
    let ike_proposals = c
        .proposals
        .iter()
        .map(|p| ike_proposal(p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|m| err(format!("{ctx}.proposals"), m))?;
    let children = c
        .children
        .iter()
        .map(|ch| gsa_config(ch, &peer_prefixes(&cfg.overlay, &remote_addrs, ch)))
        .collect();
    let dpd_action = match c.children.first().map(|ch| ch.dpd_action) {
        Some(conf::DpdAction::Restart) => DpdAction::Restart,
        Some(conf::DpdAction::Trap) => DpdAction::Trap,
        _ => DpdAction::Clear,
    };
    let certreq_ca_hashes = Vec::new();
    Ok(ConnectionConfig {
        name: c.name.clone(),
        remote_addrs,
        remote_port: c.remote_port,
        local,
        remote,
        ike_proposals,
        children,
        childless: match c.childless {
            conf::Childless::Allow | conf::Childless::Prefer => ChildlessPolicy::Allow,
            conf::Childless::Force => ChildlessPolicy::Force,
            conf::Childless::Never => ChildlessPolicy::Never,
        },
        dpd_delay: nonzero(c.dpd_delay),
        dpd_action,
        rekey_time: nonzero(c.rekey_time),
        send_initial_contact: c.unique != conf::Unique::Never,
        send_certreq: c.send_certreq && c.remote.auth == conf::AuthMethod::Pubkey,
        certreq_ca_hashes,
    })
}

fn nonzero(d: Duration) -> Option<Duration> {
    (!d.is_zero()).then_some(d)
}

fn local_auth(
    c: &conf::Connection,
    cfg: &conf::Config,
    creds: &Creds,
) -> Result<LocalAuth, String> {
    match c.local.auth {
        conf::AuthMethod::Pubkey => {
            let file = c
                .local
                .certs
                .first()
                .ok_or("auth = pubkey needs certs = <file in x509/>")?;
            let cert = creds
                .local_cert(&file.path)
                .ok_or_else(|| format!("certificate {} was not loaded", file.path.display()))?;
            let signer = cert.signer.clone().ok_or_else(|| {
                format!(
                    "no private key in private/ matches the certificate {}",
                    file.path.display()
                )
            })?;
            let id = match &c.local.id {
                Some(t) => identity(t, Some(&cert.info.subject_der))?,
                None => Identity::DerAsn1Dn(cert.info.subject_der.clone()),
            };
            Ok(LocalAuth {
                id,
                credential: Credential::Signature {
                    signer,
                    chain: vec![cert.der.clone()],
                },
            })
        }
        conf::AuthMethod::Psk => {
            let id = match &c.local.id {
                Some(t) => identity(t, None)?,
                None => match c.local_addrs.iter().find_map(|a| match a {
                    conf::AddrSpec::Ip(ip) => Some(*ip),
                    _ => None,
                }) {
                    Some(ip) => identity(&ip.to_string(), None)?,
                    None => return Err("auth = psk needs id = ... or a local_addrs address".into()),
                },
            };
            let psk = psk_for(cfg, c)?;
            Ok(LocalAuth {
                id,
                credential: Credential::Psk(psk),
            })
        }
    }
}

/// The connection's PSK, used for our AUTH and to verify the peer's: the unique best match
/// among the secrets (`nvesec_conf::psk`: names both identities > names one > no ids; a key
/// naming another peer is never used). conf already refused a configuration where that does
/// not exist, so this fails only for a model that did not come from `nvesec_conf::load`.
///
/// One key per connection is what makes the responder safe: the engine accepts the peer's
/// IDi only if it is the connection's remote identity (auth.rs `verify_peer`) and then
/// checks AUTH with this key alone, so a peer holding another pair's key cannot claim this
/// peer's identity (issue 14).
fn psk_for(cfg: &conf::Config, c: &conf::Connection) -> Result<Psk, String> {
    let i = conf::psk::select(&cfg.secrets, c).map_err(|e| e.to_string())?;
    Ok(Psk::new(cfg.secrets[i].secret.expose()))
}

fn remote_auth(
    c: &conf::Connection,
    cfg: &conf::Config,
    creds: &Creds,
) -> Result<RemoteAuth, String> {
    let text = c.remote.id.as_deref().filter(|t| *t != "%any");
    match c.remote.auth {
        conf::AuthMethod::Psk => {
            let id = match text {
                Some(t) => matcher(t)?,
                None => IdentityMatcher::Any,
            };
            Ok(RemoteAuth {
                id,
                method: PeerAuthMethod::Psk(psk_for(cfg, c)?),
            })
        }
        conf::AuthMethod::Pubkey => {
            // A DN is checked by the authenticator against the certificate subject (the
            // engine's matcher cannot build its DER).
            let (id, subject) = match text {
                Some(t) if t.contains('=') => (
                    IdentityMatcher::Any,
                    Some(RdnSequence::parse(t).map_err(|e| e.to_string())?),
                ),
                Some(t) => (matcher(t)?, None),
                None => (IdentityMatcher::Any, None),
            };
            let cas: Vec<&std::path::Path> =
                c.remote.cacerts.iter().map(|f| f.path.as_path()).collect();
            let store = creds.trust_store(&cas)?;
            Ok(RemoteAuth {
                id,
                method: PeerAuthMethod::Certificate(Arc::new(PkiAuthenticator::new(
                    store, subject,
                ))),
            })
        }
    }
}

/// `*.example.net` / `.example.net` accept a domain; anything else one identity.
fn matcher(text: &str) -> Result<IdentityMatcher, String> {
    if let Some(sfx) = text.strip_prefix('*') {
        return Ok(IdentityMatcher::DomainSuffix(sfx.to_string()));
    }
    if text.starts_with('.') {
        return Ok(IdentityMatcher::DomainSuffix(text.to_string()));
    }
    identity(text, None).map(IdentityMatcher::Exact)
}

fn ranges(sel: &conf::Selector, max: u32) -> Vec<(u32, u32)> {
    match sel {
        conf::Selector::Any | conf::Selector::Opaque => vec![(0, max)],
        conf::Selector::Ranges(r) => r.iter().map(|r| (r.start, r.end)).collect(),
    }
}

/// The inner prefixes `overlay.networks.*.peers` route to the connection's peer on the
/// child's VNIs: what that NVE may source (seed 000 REQ 14) when the child names no
/// `remote_prefixes`. Empty when the connection names no peer address (a wildcard
/// connection) or the overlay lists no such peer: then any inner source, as configured.
fn peer_prefixes(o: &conf::Overlay, remote: &[IpAddr], ch: &conf::Child) -> Vec<conf::Prefix> {
    let vni_ok = |vni: u32| match &ch.selectors.vnis {
        conf::Selector::Any | conf::Selector::Opaque => true,
        conf::Selector::Ranges(r) => r.iter().any(|r| (r.start..=r.end).contains(&vni)),
    };
    let same = |a: &IpAddr, b: &IpAddr| a.to_canonical() == b.to_canonical();
    o.networks
        .iter()
        .filter(|n| vni_ok(n.vni))
        .flat_map(|n| &n.peers)
        .filter(|p| remote.iter().any(|r| same(r, &p.underlay)))
        .flat_map(|p| p.prefixes.iter().copied())
        .collect()
}

/// One child's GSA configuration; `peer_prefixes` stand in where it names no remote_prefixes.
fn gsa_config(ch: &conf::Child, peer_prefixes: &[conf::Prefix]) -> GsaConfig {
    let first = ch
        .gsa_proposals
        .first()
        .map(String::as_str)
        .unwrap_or("default");
    let (protection, key_bits, pfs_group) = gsa_proposal(first, ch.protection);
    let mut geneve = Vec::new();
    for (vs, ve) in ranges(&ch.selectors.vnis, 0x00ff_ffff) {
        for (ps, pe) in ranges(&ch.selectors.protocol_types, 0xffff) {
            geneve.push(GeneveRange {
                vni_start: vs,
                vni_end: ve,
                ptype_start: u16::try_from(ps).unwrap_or(u16::MAX),
                ptype_end: u16::try_from(pe).unwrap_or(u16::MAX),
            });
        }
    }
    let inner = |v: &[conf::Prefix]| -> Vec<IpRange> {
        v.iter()
            .filter_map(|p| IpRange::from_prefix(p.addr(), p.len()))
            .collect()
    };
    GsaConfig {
        name: ch.name.clone(),
        protection,
        key_bits,
        selectors: GsaSelectors {
            geneve,
            local_inner: inner(&ch.selectors.local_prefixes),
            remote_inner: if ch.selectors.remote_prefixes.is_empty() {
                inner(peer_prefixes)
            } else {
                inner(&ch.selectors.remote_prefixes)
            },
        },
        lifetimes: Lifetimes {
            rekey_time: ch.rekey_time,
            life_time: ch.life_time.max(ch.rekey_time),
        },
        pfs_group,
    }
}

fn child_dp(ch: &conf::Child) -> ChildDp {
    let kind = match ch.protection {
        conf::Protection::Gao => GsoKind::Gao,
        conf::Protection::Geo | conf::Protection::GeoGao => GsoKind::Geo,
    };
    let options = match &ch.encrypted_options {
        conf::OptionSet::All => OptionCoverage::All,
        conf::OptionSet::None => OptionCoverage::None,
        conf::OptionSet::List(l) => {
            OptionCoverage::List(l.iter().map(|o| (o.class, o.kind)).collect())
        }
    };
    let geo = kind == GsoKind::Geo;
    let coverage = Coverage {
        options,
        payload: match ch.covered_length {
            conf::CoveredLength::All => PayloadCoverage::All,
            conf::CoveredLength::Bytes(n) => PayloadCoverage::First(n),
            conf::CoveredLength::InnerL4 => PayloadCoverage::InnerHeaders,
        },
        padding: if geo && ch.padding > 0 {
            Padding::Multiple(u16::from(ch.padding))
        } else {
            Padding::None
        },
        hidden_header: geo && ch.hide_header,
        dummy_interval_ms: match ch.dummy_rate {
            conf::DummyRate::PerSecond(n) if geo && n > 0 => Some(1000 / u64::from(n)),
            _ => None,
        },
    };
    ChildDp {
        reqid: reqid(&ch.name),
        kind,
        coverage,
        replay_window: ch.replay_window,
        rekey_bytes: ch.rekey_bytes,
        life_bytes: ch.life_bytes,
        rekey_packets: ch.rekey_packets,
        life_packets: ch.life_packets,
        rand_time: ch.rand_time,
        start_action: ch.start_action,
    }
}

fn sel<T: TryFrom<u32> + Copy>(s: &conf::Selector) -> Sel<T> {
    match s {
        conf::Selector::Any => Sel::Any,
        conf::Selector::Opaque => Sel::Opaque,
        conf::Selector::Ranges(r) => Sel::Ranges(
            r.iter()
                .filter_map(|r| Some((T::try_from(r.start).ok()?, T::try_from(r.end).ok()?)))
                .collect(),
        ),
    }
}

fn policy(
    id: u32,
    p: &conf::Policy,
    children: &BTreeMap<(String, String), ChildDp>,
) -> Result<gsp::Policy, TranslateError> {
    let action = match &p.action {
        conf::Action::Bypass => gsp::Action::Bypass,
        conf::Action::Discard => gsp::Action::Discard,
        conf::Action::Secure(refs) => {
            let mut gsos = Vec::new();
            for r in refs {
                // `conn.child`, or a bare child name: every connection's child of that name
                // (they share the reqid).
                let ch = children
                    .iter()
                    .find(|((c, n), _)| r.names(c, n))
                    .map(|(_, d)| d)
                    .ok_or_else(|| {
                        err(
                            format!("policies.{}", p.name),
                            format!("gsas: no child {r}"),
                        )
                    })?;
                gsos.push(Template {
                    reqid: ch.reqid,
                    kind: ch.kind,
                });
            }
            // GEO first, GAOs after it (docs/dataplane.md: a GAO authenticates the GEO).
            gsos.sort_by_key(|t| t.kind != GsoKind::Geo);
            gsp::Action::Secure { gsos }
        }
    };
    Ok(gsp::Policy {
        id,
        dir: match p.direction {
            conf::Direction::In => gsp::Direction::In,
            conf::Direction::Out => gsp::Direction::Out,
        },
        selectors: Selectors {
            version: sel(&p.version),
            oam: sel(&p.oam),
            critical: sel(&p.critical),
            rsvd: sel(&p.rsv),
            protocol_type: sel(&p.protocol_types),
            vni: sel(&p.vnis),
            required_options: p
                .required_options
                .iter()
                .map(|o| (o.class, o.kind))
                .collect(),
            ip_proto: sel(&p.ip_proto),
            src_port: sel(&p.src_ports),
            dst_port: sel(&p.dst_ports),
            ..Selectors::default()
        },
        action,
    })
}

/// Overlay routes: every peer prefix of every network.
pub fn routes(o: &conf::Overlay) -> Vec<Route> {
    let port = (o.port != 6081).then_some(o.port);
    let mut out = Vec::new();
    for n in &o.networks {
        for p in &n.peers {
            for pre in &p.prefixes {
                out.push(Route {
                    prefix: DpPrefix {
                        addr: pre.addr(),
                        len: pre.len(),
                    },
                    remote: p.underlay,
                    vni: n.vni,
                    port,
                });
            }
        }
    }
    out
}

/// gsa-dp owns its tun/tap devices (they are opened when it starts, before nvesecd): the
/// flags that create the devices of `overlay.networks`, for `gsa-dp $(nvesecd --dp-args)`.
pub fn dp_args(o: &conf::Overlay) -> Vec<String> {
    let mut a = Vec::new();
    if o.port != 6081 {
        a.extend(["--port".to_string(), o.port.to_string()]);
    }
    if let [only] = o.local_addrs.as_slice() {
        a.extend(["--listen".to_string(), only.to_string()]);
    }
    for n in &o.networks {
        let flag = match n.device {
            conf::DeviceKind::Tun => "--tun",
            conf::DeviceKind::Tap => "--tap",
        };
        a.extend([
            flag.to_string(),
            format!("{}:{}:{}", n.ifname, n.vni, n.mtu),
        ]);
    }
    a
}

/// SA soft/hard lifetimes for gsa-dp from the negotiated lifetimes and the child's byte and
/// packet limits. `jitter` (0..=rand_time) moves the soft expiry earlier.
pub fn lifetime(
    l: &Lifetimes,
    dp: &ChildDp,
    jitter: Duration,
    soft: bool,
) -> nvesec_gsa_dp::lifetime::LifetimeConfig {
    use nvesec_gsa_dp::lifetime::{LifetimeConfig, Limits};
    let nz = |v: u64| (v > 0).then_some(v);
    // gsa-dp counts whole seconds: round to the nearest (truncating made a 2 s rekey_time
    // with 0.7 s of jitter fire after 1 s), at least 1.
    let soft_ms = l.rekey_time.saturating_sub(jitter).as_millis();
    let soft_time = u64::try_from((soft_ms + 500) / 1000)
        .unwrap_or(u64::MAX)
        .max(1);
    LifetimeConfig {
        soft: if soft {
            Limits {
                time_secs: Some(soft_time),
                bytes: nz(dp.rekey_bytes),
                packets: nz(dp.rekey_packets),
                sn: None,
            }
        } else {
            Limits::default()
        },
        hard: Limits {
            time_secs: Some(l.life_time.as_secs().max(soft_time + 1)),
            bytes: nz(dp.life_bytes),
            packets: nz(dp.life_packets),
            sn: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// nve`me`'s nvesec.conf in a three-NVE PSK mesh (swanctl's usual layout: one secret
    /// per pair, naming both identities), its secrets in the order `order` gives.
    pub(crate) fn mesh_conf(me: usize, secrets: &[(usize, usize)]) -> String {
        let mut t = String::from("connections {\n");
        for p in (1..=3).filter(|p| *p != me) {
            t += &format!(
                "  nve{p} {{\n    remote_addrs = 192.0.2.{p}\n    local {{\n      auth = psk\n      id = nve{me}.mesh\n    }}\n    remote {{\n      auth = psk\n      id = nve{p}.mesh\n    }}\n  }}\n"
            );
        }
        t += "}\nsecrets {\n";
        for (a, b) in secrets {
            t += &format!(
                "  ike-{a}{b} {{\n    id-a = nve{a}.mesh\n    id-b = nve{b}.mesh\n    secret = K{a}{b}\n  }}\n"
            );
        }
        t + "}\n"
    }

    fn load(text: &str) -> Result<conf::Config, Vec<String>> {
        conf::parse_str(&conf::MemFs::new(), Path::new("/etc/nvesec.conf"), text)
            .map(|l| l.config)
            .map_err(|e| e.errors.iter().map(ToString::to_string).collect())
    }

    /// The PSK both directions of connection `name` use.
    fn psk_of(t: &Translated, name: &str) -> Vec<u8> {
        let c = t.engine.connection(name).unwrap();
        let Credential::Psk(ours) = &c.local.credential else {
            panic!("{name}: not PSK")
        };
        let PeerAuthMethod::Psk(theirs) = &c.remote.method else {
            panic!("{name}: not PSK")
        };
        assert_eq!(
            ours.as_bytes(),
            theirs.as_bytes(),
            "{name}: one key per pair"
        );
        ours.as_bytes().to_vec()
    }

    #[test]
    fn dos_bounds_reach_the_engine_with_safe_defaults() {
        // Issue 14 item 8 / REQ 7.a: the per-peer rate limit was never turned on.
        let base = mesh_conf(1, &[(1, 2), (1, 3)]);
        let t = translate(&load(&base).unwrap(), &Creds::default()).unwrap();
        assert_eq!(t.engine.per_peer_min_interval, Some(Duration::from_secs(1)));
        assert_eq!(t.engine.block_threshold, Some(5));
        assert_eq!(t.engine.init_limit_half_open, Some(1000));
        assert_eq!(t.engine.cookie_threshold, 30);
        assert_eq!(t.engine.max_queued_transmits, 4096);
        let text = format!(
            "{base}nvesecd {{\n  ike_rate_limit = 250ms\n  block_threshold = 0\n  init_limit_half_open = 7\n  cookie_threshold = 2\n  ike_send_queue = 9\n}}\n"
        );
        let t = translate(&load(&text).unwrap(), &Creds::default()).unwrap();
        assert_eq!(
            t.engine.per_peer_min_interval,
            Some(Duration::from_millis(250))
        );
        assert_eq!(t.engine.block_threshold, None, "0 = unlimited, as charon");
        assert_eq!(t.engine.init_limit_half_open, Some(7));
        assert_eq!(t.engine.cookie_threshold, 2);
        assert_eq!(t.engine.max_queued_transmits, 9);
        let off = format!("{base}nvesecd {{\n  ike_rate_limit = 0s\n}}\n");
        let t = translate(&load(&off).unwrap(), &Creds::default()).unwrap();
        assert_eq!(t.engine.per_peer_min_interval, None);
    }

    #[test]
    fn each_mesh_connection_gets_its_pairs_secret_in_any_order() {
        // Issue 14: the first secret naming nve1 served both of nve1's connections, so
        // which pair came up depended on the order of the secrets.
        let pairs = [(1, 2), (1, 3), (2, 3)];
        let orders: [[usize; 3]; 6] = [
            [0, 1, 2],
            [0, 2, 1],
            [1, 0, 2],
            [1, 2, 0],
            [2, 0, 1],
            [2, 1, 0],
        ];
        for order in orders {
            let secrets: Vec<(usize, usize)> = order.iter().map(|i| pairs[*i]).collect();
            for me in 1..=3 {
                let cfg = load(&mesh_conf(me, &secrets)).unwrap();
                let t = translate(&cfg, &Creds::default()).unwrap();
                for p in (1..=3).filter(|p| *p != me) {
                    let (a, b) = (me.min(p), me.max(p));
                    assert_eq!(
                        psk_of(&t, &format!("nve{p}")),
                        format!("K{a}{b}").into_bytes(),
                        "nve{me} -> nve{p}, secrets {secrets:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn secret_ranking_identities_addresses_catch_all() {
        let conn = "connections {\n  lab {\n    remote_addrs = 198.51.100.7\n    local {\n      auth = psk\n      id = nve1\n    }\n    remote {\n      auth = psk\n      id = lab\n    }\n  }\n}\n";
        let key = |secrets: &str| {
            let cfg = load(&format!("{conn}secrets {{\n{secrets}}}\n")).unwrap();
            psk_of(&translate(&cfg, &Creds::default()).unwrap(), "lab")
        };
        let sec = |name: &str, ids: &[&str], k: &str| {
            let mut s = format!("  {name} {{\n");
            for (i, id) in ids.iter().enumerate() {
                s += &format!("    id-{i} = {id}\n");
            }
            s + &format!("    secret = {k}\n  }}\n")
        };
        let all = sec("ike-any", &[], "ANY");
        let addr = sec("ike-addr", &["198.51.100.7"], "ADDR");
        let peer = sec("ike-peer", &["lab"], "PEER");
        let pair_addr = sec("ike-pa", &["nve1", "198.51.100.7"], "PAIRADDR");
        let pair = sec("ike-pair", &["@NVE1", "lab"], "PAIR");
        let other = sec("ike-other", &["nve1", "nve9"], "OTHER");
        // Each line adds a better match, first and last in the file.
        assert_eq!(key(&all), b"ANY");
        assert_eq!(key(&format!("{all}{addr}")), b"ADDR");
        assert_eq!(key(&format!("{addr}{all}")), b"ADDR");
        assert_eq!(
            key(&format!("{addr}{peer}{all}")),
            b"PEER",
            "identity above address"
        );
        assert_eq!(
            key(&format!("{peer}{pair_addr}")),
            b"PAIRADDR",
            "two ends above one"
        );
        assert_eq!(key(&format!("{pair_addr}{pair}{peer}")), b"PAIR");
        assert_eq!(key(&format!("{peer}{all}{pair}{addr}")), b"PAIR");
        // Another pair's key (it names nve1 too) never serves this connection.
        assert_eq!(key(&format!("{other}{all}")), b"ANY");
        let only_other = load(&format!("{conn}secrets {{\n{other}}}\n")).unwrap_err();
        assert_eq!(only_other.len(), 1, "{only_other:?}");
        assert!(
            only_other[0].starts_with(
                "/etc/nvesec.conf:5:14: connection 'lab' uses auth = psk but no secret matches"
            ),
            "{only_other:?}"
        );
    }

    #[test]
    fn equally_good_secrets_with_different_keys_are_refused_with_both_positions() {
        // nve1's secrets name only the peer of their pair, plus one naming nve1 alone: for
        // nve2 that is one identity each, and the keys differ.
        let mut text = mesh_conf(1, &[]);
        text = text.trim_end_matches("}\n").to_string();
        text += "  ike-2 {\n    id = nve2.mesh\n    secret = K12\n  }\n  ike-3 {\n    id = nve3.mesh\n    secret = K13\n  }\n  ike-me {\n    id = nve1.mesh\n    secret = KME\n  }\n}\n";
        let errors = load(&text).unwrap_err();
        assert_eq!(
            errors,
            [
                "/etc/nvesec.conf:26:3: ambiguous PSK for connection 'nve2' (auth = psk at /etc/nvesec.conf:5:14): secrets.ike-2 and secrets.ike-me (at /etc/nvesec.conf:34:3) both name one of nve1.mesh and nve2.mesh but hold different keys; expected one secret that names both nve1.mesh and nve2.mesh, or only one of them left",
                "/etc/nvesec.conf:30:3: ambiguous PSK for connection 'nve3' (auth = psk at /etc/nvesec.conf:16:14): secrets.ike-3 and secrets.ike-me (at /etc/nvesec.conf:34:3) both name one of nve1.mesh and nve3.mesh but hold different keys; expected one secret that names both nve1.mesh and nve3.mesh, or only one of them left",
            ]
        );
        // translate refuses the same model (a reload builds it from the file only through
        // conf, which stops first; this is the daemon's own guard).
        let mut cfg = load(&mesh_conf(1, &[(1, 2), (1, 3)])).unwrap();
        cfg.secrets.push(conf::IkeSecret {
            name: "ike-12b".into(),
            ids: vec!["nve2.mesh".into(), "nve1.mesh".into()],
            secret: conf::Secret::new(b"other".to_vec()),
        });
        let e = translate(&cfg, &Creds::default()).unwrap_err();
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].to_string().starts_with("connections.nve2.local: secrets.ike-12 and secrets.ike-12b both name nve1.mesh and nve2.mesh but hold different keys"),
            "{e:?}"
        );
    }

    #[test]
    fn reqids_are_stable_and_distinct() {
        assert_eq!(reqid("red"), reqid("red"));
        assert_ne!(reqid("red"), reqid("blue"));
        assert_ne!(reqid(""), 0);
    }

    #[test]
    fn proposals() {
        assert_eq!(
            ike_proposal("aes128gcm16-prfsha384-x25519").unwrap(),
            IkeProposal {
                encr_key_bits: 128,
                prf: 6,
                dh_group: 31
            }
        );
        assert_eq!(ike_proposal("default").unwrap(), IkeProposal::default());
        assert!(ike_proposal("aes128cbc-sha1-modp2048").is_err());
        assert_eq!(
            gsa_proposal("aes128gcm16-esn", conf::Protection::Geo),
            (Protection::Geo, 128, None)
        );
        assert_eq!(
            gsa_proposal("aes256gmac-x25519-esn", conf::Protection::Gao),
            (Protection::Gao, 256, Some(31))
        );
        assert_eq!(algorithm(Protection::Gao, 128), Algorithm::AesGmac128);
        assert_eq!(algorithm(Protection::Geo, 256), Algorithm::AesGcm256);
    }

    #[test]
    fn identities() {
        assert_eq!(
            identity("192.0.2.1", None).unwrap(),
            Identity::Ipv4("192.0.2.1".parse().unwrap())
        );
        assert_eq!(
            identity("nve1.example.net", None).unwrap(),
            Identity::Fqdn("nve1.example.net".into())
        );
        assert_eq!(
            identity("@nve1", None).unwrap(),
            Identity::Fqdn("nve1".into())
        );
        assert_eq!(
            identity("ops@example.net", None).unwrap(),
            Identity::Rfc822("ops@example.net".into())
        );
        assert!(identity("CN=nve1", None).is_err());
        // SEQUENCE { SET { CN "nve1" } SET { O "x" } }
        let der = [
            0x30, 0x1b, 0x31, 0x0d, 0x30, 0x0b, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x04, b'n',
            b'v', b'e', b'1', 0x31, 0x0a, 0x30, 0x08, 0x06, 0x03, 0x55, 0x04, 0x0a, 0x0c, 0x01,
            b'x',
        ];
        assert_eq!(
            identity("CN = nve1, O=x", Some(&der)).unwrap(),
            Identity::DerAsn1Dn(der.to_vec())
        );
        assert!(identity("CN=nve1\\, O=x", Some(&der)).is_err());
        assert!(identity("O=x, CN=nve1", Some(&der)).is_err());
        assert!(identity("CN=nve1, XX=x", Some(&der))
            .unwrap_err()
            .contains("unknown attribute name"));
        assert_eq!(
            matcher("*.nve.example").unwrap(),
            IdentityMatcher::DomainSuffix(".nve.example".into())
        );
    }

    #[test]
    fn lifetimes_jitter_and_limits() {
        let dp = ChildDp {
            reqid: 1,
            kind: GsoKind::Geo,
            coverage: Coverage::default(),
            replay_window: 1024,
            rekey_bytes: 1000,
            life_bytes: 0,
            rekey_packets: 0,
            life_packets: 0,
            rand_time: Duration::from_secs(60),
            start_action: conf::StartAction::Trap,
        };
        let l = Lifetimes {
            rekey_time: Duration::from_secs(3600),
            life_time: Duration::from_secs(3960),
        };
        let short = Lifetimes {
            rekey_time: Duration::from_secs(2),
            life_time: Duration::from_secs(3),
        };
        let rounded = |j_ms| {
            lifetime(&short, &dp, Duration::from_millis(j_ms), true)
                .soft
                .time_secs
        };
        assert_eq!(rounded(700), Some(1), "1.3 s rounds to 1 s");
        assert_eq!(
            rounded(400),
            Some(2),
            "1.6 s rounds to 2 s, not down to 1 s"
        );
        assert_eq!(rounded(1999), Some(1), "never 0");
        let lt = lifetime(&l, &dp, Duration::from_secs(30), true);
        assert_eq!(lt.soft.time_secs, Some(3570));
        assert_eq!(lt.soft.bytes, Some(1000));
        assert_eq!(lt.hard.time_secs, Some(3960));
        assert_eq!(lt.hard.bytes, None);
        let out = lifetime(&l, &dp, Duration::ZERO, false);
        assert_eq!(out.soft.time_secs, None);
    }
}

#[cfg(test)]
mod peer_prefix_tests {
    use super::*;

    fn config(child_extra: &str) -> conf::Config {
        let text = format!(
            "connections {{
                nve2 {{
                    remote_addrs = 192.0.2.2
                    local {{ auth = psk
                        id = nve1 }}
                    remote {{ auth = psk
                        id = nve2 }}
                    children {{
                        red {{
                            vnis = 100
                            {child_extra}
                        }}
                    }}
                }}
            }}
            secrets {{ ike-1 {{ id-1 = nve1
                id-2 = nve2
                secret = k }} }}
            overlay {{
                networks {{
                    red {{
                        vni = 100
                        device = tun
                        peers {{
                            nve2 {{ underlay = 192.0.2.2
                                prefixes = 10.100.0.2/32 }}
                            nve3 {{ underlay = 192.0.2.3
                                prefixes = 10.100.0.3/32 }}
                        }}
                    }}
                    blue {{
                        vni = 200
                        device = tun
                        peers {{
                            nve2 {{ underlay = 192.0.2.2
                                prefixes = 10.200.0.2/32 }}
                        }}
                    }}
                }}
            }}"
        );
        let fs = conf::MemFs::new();
        conf::parse_str(&fs, std::path::Path::new("/etc/nvesec/nvesec.conf"), &text)
            .unwrap_or_else(|e| panic!("{e:?}"))
            .config
    }

    fn remote_inner(cfg: &conf::Config) -> Vec<IpRange> {
        let translated = translate(cfg, &Creds::default()).unwrap_or_else(|e| panic!("{e:?}"));
        let conn = translated
            .engine
            .connections
            .iter()
            .find(|c| c.name == "nve2")
            .unwrap();
        conn.children[0].selectors.remote_inner.clone()
    }

    /// Issue 14 item 3 (seed 000 REQ 14): a child that names no remote_prefixes authorized
    /// any inner source from its peer. It now takes the prefixes the overlay routes to that
    /// peer on the child's VNIs (not another peer's, not another VNI's).
    #[test]
    fn a_child_without_prefixes_authorizes_the_peers_overlay_prefixes() {
        let got = remote_inner(&config(""));
        let want = IpRange::from_prefix("10.100.0.2".parse().unwrap(), 32).unwrap();
        assert_eq!(got, vec![want]);
        // Named prefixes win.
        let got = remote_inner(&config("remote_prefixes = 10.9.0.0/16"));
        let want = IpRange::from_prefix("10.9.0.0".parse().unwrap(), 16).unwrap();
        assert_eq!(got, vec![want]);
    }
}
