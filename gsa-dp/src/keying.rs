//! Keying-socket message codec (nvesecd <-> gsa-dp), PF_KEY/XFRM-like. Pure codec plus
//! [`Dataplane::handle_request`]; the socket itself lives in the daemon.
//!
//! Format: JSON lines, one object per line, every object carries `"v": 1`.
//! Requests have `"seq"` (echoed in the reply) and `"op"`, one of ADD_GSA, UPDATE_GSA, DEL_GSA,
//! SET_GSP, SET_ROUTES, FLUSH, DUMP, STATS. Replies carry `"ok"` and, on failure, `"error"`.
//! Events carry `"event"`: ACQUIRE or EXPIRE. See docs/dataplane.md for examples.
//!
//! A malformed request decodes to a [`KeyingError`]; the daemon replies with the error and
//! changes nothing. Keys travel as hex, are zeroized after decoding and never appear in Debug
//! output, replies or events (DUMP reports GSAs without keys).

use crate::counters::Stats;
use crate::engine::{Dataplane, Event};
use crate::gsa::{Algorithm, Coverage, GsaConfig, GsaKey, GsaUpdate};
use crate::gsp::{Direction, Policy, Selectors};
use crate::lifetime::LifetimeConfig;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::Instant;
use zeroize::Zeroizing;

/// The protocol version this codec speaks.
pub const VERSION: u32 = 1;
/// Longest accepted line (a SET_GSP with thousands of policies fits).
pub const MAX_LINE: usize = 16 << 20;

/// Why a line was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{msg}")]
pub struct KeyingError {
    /// The request's seq when it could be read, so the error reply can echo it.
    pub seq: Option<u64>,
    pub msg: String,
}

impl KeyingError {
    fn new(seq: Option<u64>, msg: impl Into<String>) -> Self {
        KeyingError {
            seq,
            msg: msg.into(),
        }
    }
}

/// An inner prefix, `addr/len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix {
    pub addr: IpAddr,
    pub len: u8,
}

impl FromStr for Prefix {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, l) = s.split_once('/').ok_or("prefix needs /len")?;
        let addr: IpAddr = a.parse().map_err(|e| format!("{a:?}: {e}"))?;
        let len: u8 = l.parse().map_err(|e| format!("{l:?}: {e}"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if len > max {
            return Err(format!("prefix length {len} > {max}"));
        }
        Ok(Prefix { addr, len })
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl Serialize for Prefix {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Prefix {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Overlay forwarding entry: inner prefix -> remote NVE underlay address and VNI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    pub prefix: Prefix,
    pub remote: IpAddr,
    pub vni: u32,
    /// UDP port of the remote (default 6081).
    #[serde(default)]
    pub port: Option<u16>,
}

/// A decoded request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    AddGsa(Box<GsaConfig>),
    UpdateGsa { key: GsaKey, update: Box<GsaUpdate> },
    DelGsa(GsaKey),
    SetGsp(Vec<Policy>),
    SetRoutes(Vec<Route>),
    Flush,
    Dump,
    Stats,
}

/// A request with its sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestMsg {
    pub seq: u64,
    pub req: Request,
}

/// Wire shape of a request: a flat object, so serde streams it (no buffering of key strings)
/// and unknown fields are refused.
#[derive(Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct WireRequest {
    v: u32,
    seq: u64,
    op: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsa: Option<Box<GsaConfig>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key: Option<GsaKey>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lifetime: Option<LifetimeConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    selectors: Option<Selectors>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    policies: Option<Vec<Policy>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    routes: Option<Vec<Route>>,
}

/// Lenient first pass: only to echo `seq` in the error reply of a malformed request.
#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    seq: Option<u64>,
}

/// Decode one request line (without the newline). The caller should keep `line` in a
/// zeroizing buffer: it holds key hex.
pub fn decode_request(line: &str) -> Result<RequestMsg, KeyingError> {
    if line.len() > MAX_LINE {
        return Err(KeyingError::new(None, "line too long"));
    }
    let seq = serde_json::from_str::<Envelope>(line)
        .ok()
        .and_then(|e| e.seq);
    let w: WireRequest = serde_json::from_str(line)
        .map_err(|e| KeyingError::new(seq, format!("bad request: {e}")))?;
    if w.v != VERSION {
        return Err(KeyingError::new(
            seq,
            format!("unsupported version {}", w.v),
        ));
    }
    let seq = Some(w.seq);
    let only = |allowed: &[&str]| -> Result<(), KeyingError> {
        let present = [
            ("gsa", w.gsa.is_some()),
            ("key", w.key.is_some()),
            ("lifetime", w.lifetime.is_some()),
            ("selectors", w.selectors.is_some()),
            ("policies", w.policies.is_some()),
            ("routes", w.routes.is_some()),
        ];
        match present.iter().find(|(n, p)| *p && !allowed.contains(n)) {
            Some((n, _)) => Err(KeyingError::new(
                seq,
                format!("field {n:?} not valid for {}", w.op),
            )),
            None => Ok(()),
        }
    };
    let missing = |n: &str| KeyingError::new(seq, format!("{} needs {n:?}", w.op));
    let req = match w.op.as_str() {
        "ADD_GSA" => {
            only(&["gsa"])?;
            Request::AddGsa(w.gsa.clone().ok_or_else(|| missing("gsa"))?)
        }
        "UPDATE_GSA" => {
            only(&["key", "lifetime", "selectors"])?;
            let key = w.key.ok_or_else(|| missing("key"))?;
            Request::UpdateGsa {
                key,
                update: Box::new(GsaUpdate {
                    lifetime: w.lifetime,
                    selectors: w.selectors.clone(),
                }),
            }
        }
        "DEL_GSA" => {
            only(&["key"])?;
            Request::DelGsa(w.key.ok_or_else(|| missing("key"))?)
        }
        "SET_GSP" => {
            only(&["policies"])?;
            Request::SetGsp(w.policies.clone().ok_or_else(|| missing("policies"))?)
        }
        "SET_ROUTES" => {
            only(&["routes"])?;
            Request::SetRoutes(w.routes.clone().ok_or_else(|| missing("routes"))?)
        }
        "FLUSH" => only(&[]).map(|_| Request::Flush)?,
        "DUMP" => only(&[]).map(|_| Request::Dump)?,
        "STATS" => only(&[]).map(|_| Request::Stats)?,
        op => return Err(KeyingError::new(seq, format!("unknown op {op:?}"))),
    };
    Ok(RequestMsg { seq: w.seq, req })
}

/// Encode a request (nvesecd side). The result holds key hex: it is zeroized on drop.
pub fn encode_request(m: &RequestMsg) -> Zeroizing<String> {
    let mut w = WireRequest {
        v: VERSION,
        seq: m.seq,
        ..Default::default()
    };
    let op = match &m.req {
        Request::AddGsa(g) => {
            w.gsa = Some(g.clone());
            "ADD_GSA"
        }
        Request::UpdateGsa { key, update } => {
            w.key = Some(*key);
            w.lifetime = update.lifetime;
            w.selectors = update.selectors.clone();
            "UPDATE_GSA"
        }
        Request::DelGsa(k) => {
            w.key = Some(*k);
            "DEL_GSA"
        }
        Request::SetGsp(p) => {
            w.policies = Some(p.clone());
            "SET_GSP"
        }
        Request::SetRoutes(r) => {
            w.routes = Some(r.clone());
            "SET_ROUTES"
        }
        Request::Flush => "FLUSH",
        Request::Dump => "DUMP",
        Request::Stats => "STATS",
    };
    w.op = op.into();
    // Serializing plain data structures cannot fail.
    Zeroizing::new(serde_json::to_string(&w).unwrap_or_default())
}

/// A GSA as DUMP reports it: everything but the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GsaInfo {
    pub dir: Direction,
    pub gsa_id: u32,
    pub reqid: u32,
    pub alg: Algorithm,
    pub coverage: Coverage,
    pub selectors: Selectors,
    pub lifetime: LifetimeConfig,
    pub replay_window: u32,
    pub peer: Option<IpAddr>,
    pub packets: u64,
    pub bytes: u64,
    /// Milliseconds since last use, `None` if never used.
    pub idle_ms: Option<u64>,
    /// Highest SN sent or authenticated.
    pub sn: u64,
}

/// DUMP payload: enough for a reconnecting nvesecd to resynchronise.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Dump {
    pub gsas: Vec<GsaInfo>,
    pub policies: Vec<Policy>,
    pub routes: Vec<Route>,
}

/// STATS payload.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StatsReport {
    /// Drop counters by reason name (every reason present, zeros included).
    pub drops: BTreeMap<String, u64>,
    pub sent_secured: u64,
    pub sent_bypass: u64,
    pub delivered_secured: u64,
    pub delivered_bypass: u64,
    pub dummies_sent: u64,
    pub dummies_received: u64,
    pub acquires: u64,
    pub held: usize,
}

impl StatsReport {
    pub fn new(s: &Stats, held: usize) -> Self {
        StatsReport {
            drops: s.drops.iter().map(|(n, c)| (n.to_string(), c)).collect(),
            sent_secured: s.sent_secured,
            sent_bypass: s.sent_bypass,
            delivered_secured: s.delivered_secured,
            delivered_bypass: s.delivered_bypass,
            dummies_sent: s.dummies_sent,
            dummies_received: s.dummies_received,
            acquires: s.acquires,
            held,
        }
    }
}

/// A reply line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reply {
    pub v: u32,
    pub seq: u64,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dump: Option<Dump>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<StatsReport>,
}

impl Reply {
    pub fn ok(seq: u64) -> Self {
        Reply {
            v: VERSION,
            seq,
            ok: true,
            error: None,
            dump: None,
            stats: None,
        }
    }

    pub fn error(seq: u64, msg: impl Into<String>) -> Self {
        Reply {
            v: VERSION,
            seq,
            ok: false,
            error: Some(msg.into()),
            dump: None,
            stats: None,
        }
    }

    /// The error reply for a line that did not decode.
    pub fn from_decode_error(e: &KeyingError) -> Self {
        Reply::error(e.seq.unwrap_or(0), e.msg.clone())
    }
}

pub fn encode_reply(r: &Reply) -> String {
    serde_json::to_string(r).unwrap_or_default()
}

pub fn decode_reply(line: &str) -> Result<Reply, KeyingError> {
    let r: Reply = serde_json::from_str(line)
        .map_err(|e| KeyingError::new(None, format!("bad reply: {e}")))?;
    if r.v != VERSION {
        return Err(KeyingError::new(
            Some(r.seq),
            format!("unsupported version {}", r.v),
        ));
    }
    Ok(r)
}

#[derive(Serialize, Deserialize)]
struct WireEvent {
    v: u32,
    #[serde(flatten)]
    event: Event,
}

/// `{"v":1,"event":"ACQUIRE",...}` or `{"v":1,"event":"EXPIRE",...}`.
pub fn encode_event(e: &Event) -> String {
    serde_json::to_string(&WireEvent {
        v: VERSION,
        event: e.clone(),
    })
    .unwrap_or_default()
}

pub fn decode_event(line: &str) -> Result<Event, KeyingError> {
    let w: WireEvent = serde_json::from_str(line)
        .map_err(|e| KeyingError::new(None, format!("bad event: {e}")))?;
    if w.v != VERSION {
        return Err(KeyingError::new(
            None,
            format!("unsupported version {}", w.v),
        ));
    }
    Ok(w.event)
}

impl Dataplane {
    /// Apply one keying request. A refused request changes nothing.
    pub fn handle_request(&mut self, now: Instant, m: RequestMsg) -> Reply {
        let seq = m.seq;
        let res = match m.req {
            Request::AddGsa(g) => self.add_gsa(now, *g).map_err(|e| e.to_string()),
            Request::UpdateGsa { key, update } => {
                self.update_gsa(key, *update).map_err(|e| e.to_string())
            }
            Request::DelGsa(k) => self.del_gsa(k).map_err(|e| e.to_string()),
            Request::SetGsp(p) => self.set_gsp(p).map_err(|e| e.to_string()),
            Request::SetRoutes(r) => {
                self.set_routes(r);
                Ok(())
            }
            Request::Flush => {
                self.flush();
                Ok(())
            }
            Request::Dump => {
                return Reply {
                    dump: Some(self.dump(now)),
                    ..Reply::ok(seq)
                }
            }
            Request::Stats => {
                return Reply {
                    stats: Some(StatsReport::new(self.stats(), self.held())),
                    ..Reply::ok(seq)
                }
            }
        };
        match res {
            Ok(()) => Reply::ok(seq),
            Err(e) => Reply::error(seq, e),
        }
    }

    /// Everything installed, keys excluded.
    pub fn dump(&self, now: Instant) -> Dump {
        let gsas = self
            .gsas()
            .iter()
            .map(|g| {
                let c = g.config();
                GsaInfo {
                    dir: c.dir,
                    gsa_id: c.gsa_id,
                    reqid: c.reqid,
                    alg: c.alg,
                    coverage: c.coverage.clone(),
                    selectors: c.selectors.clone(),
                    lifetime: c.lifetime,
                    replay_window: c.replay_window,
                    peer: c.peer,
                    packets: g.counters.packets,
                    bytes: g.counters.bytes,
                    idle_ms: g
                        .counters
                        .last_use
                        .map(|t| now.saturating_duration_since(t).as_millis() as u64),
                    sn: g.sn_high_water(),
                }
            })
            .collect();
        let policies = self
            .gsp()
            .inbound
            .policies()
            .iter()
            .chain(self.gsp().outbound.policies())
            .cloned()
            .collect();
        Dump {
            gsas,
            policies,
            routes: self.routes().to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gsa::SecretKey;
    use crate::gsp::{Action, Template};
    use crate::lifetime::ExpireKind;
    use crate::wire::gso::GsoKind;

    const ADD: &str = r#"{"v":1,"seq":1,"op":"ADD_GSA","gsa":{"dir":"in","gsa_id":4097,"reqid":1,"alg":"aes-gcm128","key":"000102030405060708090a0b0c0d0e0f10111213","coverage":{"payload":{"first":64},"padding":{"multiple":16},"hidden_header":true},"lifetime":{"soft":{"time_secs":3000},"hard":{"time_secs":3600,"sn":4294967295}},"replay_window":2048,"peer":"192.0.2.2"}}"#;

    #[test]
    fn add_gsa_decodes_exactly() {
        let m = decode_request(ADD).unwrap();
        assert_eq!(m.seq, 1);
        let Request::AddGsa(g) = &m.req else { panic!() };
        assert_eq!(
            (g.dir, g.gsa_id, g.reqid, g.alg),
            (Direction::In, 4097, 1, Algorithm::AesGcm128)
        );
        assert_eq!(g.key.expose(), &(0u8..20).collect::<Vec<_>>()[..]);
        assert_eq!(g.coverage.payload, crate::gsa::PayloadCoverage::First(64));
        assert_eq!(g.coverage.padding, crate::gsa::Padding::Multiple(16));
        assert!(g.coverage.hidden_header);
        assert_eq!(g.lifetime.hard.sn, Some(u32::MAX as u64));
        assert_eq!(g.replay_window, 2048);
        assert_eq!(g.peer, Some("192.0.2.2".parse().unwrap()));
        // Debug never shows the key.
        let dbg = format!("{m:?}");
        assert!(!dbg.contains("0a0b0c") && dbg.contains("redacted"), "{dbg}");
        // Round trip through the encoder.
        let line = encode_request(&m);
        assert_eq!(decode_request(&line).unwrap(), m);
    }

    #[test]
    fn every_request_round_trips() {
        let key = GsaKey::outbound(9, 2, None);
        let pol = Policy {
            id: 1,
            dir: Direction::Out,
            selectors: Selectors::default(),
            action: Action::Secure {
                gsos: vec![Template {
                    reqid: 2,
                    kind: GsoKind::Gao,
                }],
            },
        };
        let route = Route {
            prefix: "10.1.0.0/16".parse().unwrap(),
            remote: "2001:db8::2".parse().unwrap(),
            vni: 42,
            port: None,
        };
        for req in [
            Request::UpdateGsa {
                key,
                update: Box::new(GsaUpdate {
                    lifetime: Some(LifetimeConfig::default()),
                    selectors: None,
                }),
            },
            Request::DelGsa(key),
            Request::SetGsp(vec![pol]),
            Request::SetRoutes(vec![route]),
            Request::Flush,
            Request::Dump,
            Request::Stats,
        ] {
            let m = RequestMsg { seq: 77, req };
            assert_eq!(decode_request(&encode_request(&m)).unwrap(), m);
        }
        assert_eq!(
            &*encode_request(&RequestMsg {
                seq: 3,
                req: Request::Flush
            }),
            r#"{"v":1,"seq":3,"op":"FLUSH"}"#
        );
    }

    #[test]
    fn malformed_requests_are_errors_with_seq() {
        for (line, seq, needle) in [
            (r#"{"v":2,"seq":5,"op":"FLUSH"}"#, Some(5), "version"),
            (r#"{"v":1,"seq":6,"op":"NOPE"}"#, Some(6), "unknown op"),
            (r#"{"v":1,"seq":7,"op":"ADD_GSA"}"#, Some(7), "needs"),
            (
                r#"{"v":1,"seq":8,"op":"FLUSH","routes":[]}"#,
                Some(8),
                "not valid",
            ),
            (
                r#"{"v":1,"seq":9,"op":"FLUSH","bogus":1}"#,
                Some(9),
                "unknown field",
            ),
            (
                r#"{"v":1,"seq":10,"op":"ADD_GSA","gsa":{"dir":"in","gsa_id":1,"reqid":1,"alg":"aes-gcm128","key":"zz"}}"#,
                Some(10),
                "hex",
            ),
            (
                r#"{"v":1,"seq":11,"op":"SET_ROUTES","routes":[{"prefix":"10.0.0.0/33","remote":"1.2.3.4","vni":1}]}"#,
                Some(11),
                "prefix length",
            ),
            (
                r#"{"v":1,"seq":12,"op":"SET_GSP","policies":[{"id":1,"dir":"in","selectors":{"vni":"5-1"},"action":{"type":"bypass"}}]}"#,
                Some(12),
                "reversed",
            ),
            ("not json", None, "bad request"),
        ] {
            let e = decode_request(line).unwrap_err();
            assert_eq!(e.seq, seq, "{line}");
            assert!(e.msg.contains(needle), "{line}: {}", e.msg);
            let r = Reply::from_decode_error(&e);
            assert!(!r.ok && r.seq == seq.unwrap_or(0));
        }
    }

    #[test]
    fn handle_request_changes_nothing_on_error() {
        let now = Instant::now();
        let mut dp = Dataplane::new(Default::default());
        let r = dp.handle_request(now, decode_request(ADD).unwrap());
        assert_eq!(r, Reply::ok(1));
        assert_eq!(encode_reply(&r), r#"{"v":1,"seq":1,"ok":true}"#);
        // Same inbound GSA-ID again: refused, still one GSA.
        let r = dp.handle_request(now, decode_request(ADD).unwrap());
        assert!(!r.ok && r.error.as_deref().unwrap().contains("already installed"));
        assert_eq!(dp.gsas().len(), 1);
        // Invalid policy set: refused as a whole.
        let bad = RequestMsg {
            seq: 2,
            req: Request::SetGsp(vec![Policy {
                id: 3,
                dir: Direction::Out,
                selectors: Selectors::default(),
                action: Action::Secure { gsos: vec![] },
            }]),
        };
        assert!(!dp.handle_request(now, bad).ok);
        assert!(dp.gsp().outbound.policies().is_empty());
        // DUMP has the GSA without its key.
        let r = dp.handle_request(
            now,
            RequestMsg {
                seq: 4,
                req: Request::Dump,
            },
        );
        let line = encode_reply(&r);
        assert!(!line.contains("0a0b0c0d"), "{line}");
        let back = decode_reply(&line).unwrap();
        let d = back.dump.unwrap();
        assert_eq!(
            (d.gsas.len(), d.gsas[0].gsa_id, d.gsas[0].replay_window),
            (1, 4097, 2048)
        );
        // STATS lists every drop reason.
        let r = dp.handle_request(
            now,
            RequestMsg {
                seq: 5,
                req: Request::Stats,
            },
        );
        let s = r.stats.unwrap();
        assert_eq!(s.drops.len(), crate::counters::DropReason::ALL.len());
        assert_eq!(s.drops["bad_icv"], 0);
        // DEL and FLUSH.
        let del = RequestMsg {
            seq: 6,
            req: Request::DelGsa(GsaKey::inbound(4097, 1)),
        };
        assert!(dp.handle_request(now, del.clone()).ok);
        assert!(!dp.handle_request(now, del).ok);
        assert!(
            dp.handle_request(
                now,
                RequestMsg {
                    seq: 7,
                    req: Request::Flush
                }
            )
            .ok
        );
    }

    #[test]
    fn events_encode_exactly() {
        let e = Event::Expire {
            dir: Direction::Out,
            gsa_id: 5,
            reqid: 2,
            peer: None,
            kind: ExpireKind::Soft,
        };
        let line = encode_event(&e);
        assert_eq!(
            line,
            r#"{"v":1,"event":"EXPIRE","dir":"out","gsa_id":5,"reqid":2,"kind":"soft"}"#
        );
        assert_eq!(decode_event(&line).unwrap(), e);
        let a = Event::Acquire {
            policy_id: 1,
            reqid: 2,
            kind: GsoKind::Geo,
            vni: 42,
            protocol_type: 0x800,
            src: None,
            dst: Some("10.0.0.2".parse().unwrap()),
            ip_proto: Some(17),
            src_port: Some(1),
            dst_port: Some(53),
            peer: None,
        };
        let line = encode_event(&a);
        assert_eq!(
            line,
            r#"{"v":1,"event":"ACQUIRE","policy_id":1,"reqid":2,"kind":"geo","vni":42,"protocol_type":2048,"src":null,"dst":"10.0.0.2","ip_proto":17,"src_port":1,"dst_port":53}"#,
            "no peer: the version-1 line of before"
        );
        assert_eq!(decode_event(&line).unwrap(), a);
        // With the route's peer: one more field at the end, which old readers ignore.
        let mut b = a.clone();
        if let Event::Acquire { peer, .. } = &mut b {
            *peer = Some("192.0.2.3".parse().unwrap());
        }
        let line = encode_event(&b);
        assert_eq!(
            line,
            r#"{"v":1,"event":"ACQUIRE","policy_id":1,"reqid":2,"kind":"geo","vni":42,"protocol_type":2048,"src":null,"dst":"10.0.0.2","ip_proto":17,"src_port":1,"dst_port":53,"peer":"192.0.2.3"}"#
        );
        assert_eq!(decode_event(&line).unwrap(), b);
        assert!(decode_event(
            r#"{"v":9,"event":"EXPIRE","dir":"out","gsa_id":5,"reqid":2,"kind":"soft"}"#
        )
        .is_err());
    }

    #[test]
    fn secret_key_never_in_debug_of_config() {
        let k = SecretKey::from_hex("deadbeef").unwrap();
        assert!(!format!("{k:?}").contains("de"));
    }
}
