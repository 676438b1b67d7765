//! GSA negotiation (DESIGN.md "GSA negotiation"): a Child SA with Protocol ID 201, a 4-byte
//! SPI that is the GSA-ID its proposer receives on, TS_GENEVE (type 241) plus inner address
//! ranges as selectors, narrowed by the responder as RFC 7296 §2.9, and KEYMAT cut as
//! RFC 7296 §2.17 (initiator-to-responder slice first; each slice = AES key || 4-byte salt).
//!
//! Authorization (seed 000 REQ 4, REQ 14): the responder's child configs are the most a peer
//! may get. Selectors are narrowed to them; if nothing is left the request is refused with
//! TS_UNACCEPTABLE and logged.

use std::net::IpAddr;

use super::events::{GsaKeys, GsaParams};
use super::keys::{DhKey, IkeKeys, Secret};
use super::proposal::{check_gsa_reply, gsa_sa_payload, select_gsa, GsaSuite};
use crate::config::{GeneveRange, GsaConfig, GsaSelectors, IpRange};
use crate::wire::{GeneveSelector, NotifyType, Payload, Sa, TrafficSelector, Ts};

/// Our side of a GSA offer, kept until the response arrives.
#[derive(Debug)]
pub(crate) struct ChildOffer {
    pub cfg: GsaConfig,
    pub suite: GsaSuite,
    pub inbound_id: u32,
    /// CREATE_CHILD_SA only: our nonce and PFS key.
    pub ni: Option<Vec<u8>>,
    pub dh: Option<DhKey>,
    /// Inbound GSA-ID of the GSA this offer rekeys.
    pub rekey_of: Option<u32>,
    /// We answered the peer's rekey of the same GSA while this offer was outstanding (a
    /// §2.8.1 collision): the lowest nonce of that exchange. Kept here because the GSA it
    /// created may be gone (rekeyed, deleted) when our own exchange completes late.
    pub collision: Option<Vec<u8>>,
}

impl ChildOffer {
    /// `SA, TSi, TSr` (the nonce and KE are added by CREATE_CHILD_SA).
    pub fn payloads(&self) -> (Payload, Payload, Payload) {
        let (tsi, tsr) = ts_from_selectors(&self.cfg.selectors);
        (
            Payload::Sa(gsa_sa_payload(&self.suite, self.inbound_id)),
            Payload::TsI(tsi),
            Payload::TsR(tsr),
        )
    }
}

fn geneve_ts(g: &GeneveRange) -> TrafficSelector {
    TrafficSelector::Geneve(GeneveSelector {
        vni_start: g.vni_start,
        vni_end: g.vni_end,
        protocol_start: g.ptype_start,
        protocol_end: g.ptype_end,
    })
}

fn ip_ts(r: &IpRange) -> Option<TrafficSelector> {
    match (r.start, r.end) {
        (IpAddr::V4(start), IpAddr::V4(end)) => Some(TrafficSelector::Ipv4 {
            ip_protocol: 0,
            start_port: 0,
            end_port: u16::MAX,
            start,
            end,
        }),
        (IpAddr::V6(start), IpAddr::V6(end)) => Some(TrafficSelector::Ipv6 {
            ip_protocol: 0,
            start_port: 0,
            end_port: u16::MAX,
            start,
            end,
        }),
        _ => None,
    }
}

/// TSi = Geneve ranges + our inner ranges; TSr = Geneve ranges + the peer's inner ranges
/// (from the initiator's point of view).
pub(crate) fn ts_from_selectors(sel: &GsaSelectors) -> (Ts, Ts) {
    let g: Vec<TrafficSelector> = sel.geneve.iter().map(geneve_ts).collect();
    let mut tsi = g.clone();
    tsi.extend(sel.local_inner.iter().filter_map(ip_ts));
    let mut tsr = g;
    tsr.extend(sel.remote_inner.iter().filter_map(ip_ts));
    (Ts::new(tsi), Ts::new(tsr))
}

fn split_ts(ts: &Ts) -> (Vec<GeneveRange>, Vec<IpRange>) {
    let mut g = Vec::new();
    let mut ip = Vec::new();
    for s in &ts.selectors {
        match s {
            TrafficSelector::Geneve(x) => g.push(GeneveRange {
                vni_start: x.vni_start,
                vni_end: x.vni_end,
                ptype_start: x.protocol_start,
                ptype_end: x.protocol_end,
            }),
            TrafficSelector::Ipv4 { start, end, .. } => ip.push(IpRange {
                start: (*start).into(),
                end: (*end).into(),
            }),
            TrafficSelector::Ipv6 { start, end, .. } => ip.push(IpRange {
                start: (*start).into(),
                end: (*end).into(),
            }),
            // Unknown TS types are ignored (RFC 7296 §2.9).
            TrafficSelector::Unknown { .. } => {}
        }
    }
    (g, ip)
}

fn intersect_all<T: Copy>(offered: &[T], allowed: &[T], f: impl Fn(&T, &T) -> Option<T>) -> Vec<T> {
    offered
        .iter()
        .flat_map(|o| allowed.iter().filter_map(|a| f(o, a)).collect::<Vec<_>>())
        .collect()
}

/// Why a GSA request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub notify: NotifyType,
    pub reason: String,
}

/// Responder narrowing (RFC 7296 §2.9) against what the connection allows. Returns the
/// selectors from the responder's point of view.
pub(crate) fn narrow(allowed: &GsaSelectors, tsi: &Ts, tsr: &Ts) -> Result<GsaSelectors, Refusal> {
    let (gi, ipi) = split_ts(tsi);
    let (gr, ipr) = split_ts(tsr);
    let refuse = |reason: String| Refusal {
        notify: NotifyType::TS_UNACCEPTABLE,
        reason,
    };
    let geneve_i = intersect_all(&gi, &allowed.geneve, GeneveRange::intersect);
    let geneve_r = intersect_all(&gr, &allowed.geneve, GeneveRange::intersect);
    if geneve_i.is_empty() || geneve_r.is_empty() {
        return Err(refuse(format!(
            "requested VNIs {gi:?} not within the allowed {:?}",
            allowed.geneve
        )));
    }
    // A side the peer sent no IP selector for gets what is configured for it, never "any":
    // leaving a TS out must not widen the authorization (issue 14 item 3). An empty
    // configured list is itself "any inner address".
    let within_allowed = |asked: &[IpRange], allowed: &[IpRange]| {
        if asked.is_empty() {
            allowed.to_vec()
        } else if allowed.is_empty() {
            asked.to_vec()
        } else {
            intersect_all(asked, allowed, IpRange::intersect)
        }
    };
    let remote_inner = within_allowed(&ipi, &allowed.remote_inner);
    let local_inner = within_allowed(&ipr, &allowed.local_inner);
    if (!ipi.is_empty() && remote_inner.is_empty()) || (!ipr.is_empty() && local_inner.is_empty()) {
        return Err(refuse(format!(
            "requested inner prefixes {ipi:?} / {ipr:?} not allowed"
        )));
    }
    Ok(GsaSelectors {
        geneve: geneve_i,
        local_inner,
        remote_inner,
    })
}

/// Initiator check that the responder's selectors are within what we offered; returns them
/// from our point of view.
pub(crate) fn accept_narrowed(offered: &GsaSelectors, tsi: &Ts, tsr: &Ts) -> Option<GsaSelectors> {
    let (gi, ipi) = split_ts(tsi);
    let (_, ipr) = split_ts(tsr);
    let within_g = gi
        .iter()
        .all(|g| offered.geneve.iter().any(|o| o.intersect(g) == Some(*g)));
    // An empty offer is "any inner address": every answer narrows it.
    let within = |got: &[IpRange], off: &[IpRange]| {
        off.is_empty()
            || got
                .iter()
                .all(|g| off.iter().any(|o| o.intersect(g) == Some(*g)))
    };
    let ok = !gi.is_empty()
        && within_g
        && within(&ipi, &offered.local_inner)
        && within(&ipr, &offered.remote_inner);
    // A side the responder left out keeps what we offered (configured), never "any".
    let or_offered = |got: Vec<IpRange>, off: &[IpRange]| {
        if got.is_empty() {
            off.to_vec()
        } else {
            got
        }
    };
    ok.then(|| GsaSelectors {
        geneve: gi,
        local_inner: or_offered(ipi, &offered.local_inner),
        remote_inner: or_offered(ipr, &offered.remote_inner),
    })
}

/// Responder: pick the first child config the peer's selectors fit and whose suite is offered.
/// Returns the reply `SA, TSi, TSr`, the negotiated parameters and the peer's GSA-ID.
pub(crate) fn respond(
    children: &[GsaConfig],
    offered: &Sa,
    tsi: &Ts,
    tsr: &Ts,
    our_gsa_id: u32,
    with_pfs: bool,
) -> Result<(Vec<Payload>, GsaParams, GsaSuite, u32), Refusal> {
    let mut last = Refusal {
        notify: NotifyType::TS_UNACCEPTABLE,
        reason: "no GSA configured for this peer".into(),
    };
    for c in children {
        let sel = match narrow(&c.selectors, tsi, tsr) {
            Ok(s) => s,
            Err(r) => {
                last = r;
                continue;
            }
        };
        let suite = GsaSuite::from_config(c, with_pfs);
        let (reply, peer_id) = match select_gsa(&suite, offered, our_gsa_id) {
            Ok(x) => x,
            Err(n) => {
                last = Refusal {
                    notify: n,
                    reason: format!("no acceptable GSA proposal for {}", c.name),
                };
                continue;
            }
        };
        // Reply TSi/TSr: narrowed, from the initiator's point of view.
        let theirs = GsaSelectors {
            geneve: sel.geneve.clone(),
            local_inner: sel.remote_inner.clone(),
            remote_inner: sel.local_inner.clone(),
        };
        let (rtsi, rtsr) = ts_from_selectors(&theirs);
        let params = params_for(c, &suite, sel);
        let payloads = vec![
            Payload::Sa(Sa::new(vec![reply])),
            Payload::TsI(rtsi),
            Payload::TsR(rtsr),
        ];
        return Ok((payloads, params, suite, peer_id));
    }
    Err(last)
}

pub(crate) fn params_for(c: &GsaConfig, suite: &GsaSuite, sel: GsaSelectors) -> GsaParams {
    GsaParams {
        name: c.name.clone(),
        protection: suite.protection,
        key_bits: suite.key_bits,
        esn: true,
        selectors: sel,
        lifetimes: c.lifetimes,
    }
}

/// Initiator: validates the responder's `SA, TSi, TSr`; returns the responder's GSA-ID and
/// the narrowed selectors.
pub(crate) fn complete(
    offer: &ChildOffer,
    sa: Option<&Sa>,
    tsi: Option<&Ts>,
    tsr: Option<&Ts>,
) -> Result<(u32, GsaSelectors), String> {
    let (Some(sa), Some(tsi), Some(tsr)) = (sa, tsi, tsr) else {
        return Err("GSA response lacks SA, TSi or TSr".into());
    };
    let peer_id = check_gsa_reply(&offer.suite, sa)
        .ok_or("responder chose a GSA proposal we did not offer")?;
    let sel = accept_narrowed(&offer.cfg.selectors, tsi, tsr)
        .ok_or("responder selectors exceed our offer")?;
    Ok((peer_id, sel))
}

/// Cuts KEYMAT into (inbound, outbound) keys for our role (RFC 7296 §2.17: the
/// initiator-to-responder key comes first).
#[allow(clippy::too_many_arguments)]
pub(crate) fn derive_keys(
    keys: &IkeKeys,
    suite: &GsaSuite,
    g_ir: Option<&Secret>,
    ni: &[u8],
    nr: &[u8],
    we_initiated: bool,
    inbound_id: u32,
    outbound_id: u32,
) -> Result<(GsaKeys, GsaKeys), String> {
    let n = suite.key_len();
    let km = super::keys::child_keymat(keys, g_ir, ni, nr, 2 * n).map_err(|e| e.to_string())?;
    let (i2r, r2i) = km.expose().split_at(n);
    let (inb, outb) = if we_initiated { (r2i, i2r) } else { (i2r, r2i) };
    Ok((
        GsaKeys::new(inbound_id, inb.to_vec()),
        GsaKeys::new(outbound_id, outb.to_vec()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(a: u32, b: u32) -> GeneveRange {
        GeneveRange {
            vni_start: a,
            vni_end: b,
            ptype_start: 0,
            ptype_end: 0xffff,
        }
    }

    fn sel(gs: Vec<GeneveRange>, local: Vec<IpRange>, remote: Vec<IpRange>) -> GsaSelectors {
        GsaSelectors {
            geneve: gs,
            local_inner: local,
            remote_inner: remote,
        }
    }

    fn pfx(s: &str, l: u8) -> IpRange {
        IpRange::from_prefix(s.parse().unwrap(), l).unwrap()
    }

    #[test]
    fn narrowing_grants_only_allowed_vnis() {
        let allowed = sel(vec![g(100, 199)], vec![], vec![]);
        let (tsi, tsr) = ts_from_selectors(&sel(vec![g(150, 300)], vec![], vec![]));
        let got = narrow(&allowed, &tsi, &tsr).unwrap();
        assert_eq!(got.geneve, vec![g(150, 199)]);
        // Initiator accepts the narrowed answer (a subset of its offer).
        let (rtsi, rtsr) = ts_from_selectors(&got);
        let mine = accept_narrowed(&sel(vec![g(150, 300)], vec![], vec![]), &rtsi, &rtsr).unwrap();
        assert_eq!(mine.geneve, vec![g(150, 199)]);
        // Responder widening is refused by the initiator.
        let (wtsi, wtsr) = ts_from_selectors(&sel(vec![g(0, 1000)], vec![], vec![]));
        assert!(accept_narrowed(&sel(vec![g(150, 300)], vec![], vec![]), &wtsi, &wtsr).is_none());
    }

    /// Issue 14 item 3: a peer that sends no IP selectors (only Geneve ones) got a GSA with
    /// no inner-address restriction where the child names prefixes. Omitted means
    /// "configured", on both ends.
    #[test]
    fn omitted_ip_selectors_mean_the_configured_prefixes_not_any() {
        let allowed = sel(
            vec![g(1, 10)],
            vec![pfx("10.2.0.0", 16)],
            vec![pfx("10.1.0.0", 16)],
        );
        let (tsi, tsr) = ts_from_selectors(&sel(vec![g(1, 10)], vec![], vec![]));
        let got = narrow(&allowed, &tsi, &tsr).unwrap();
        assert_eq!(got.remote_inner, vec![pfx("10.1.0.0", 16)]);
        assert_eq!(got.local_inner, vec![pfx("10.2.0.0", 16)]);
        // The initiator's view when the responder answers with Geneve selectors only.
        let mine = accept_narrowed(&allowed, &tsi, &tsr).unwrap();
        assert_eq!(mine.local_inner, vec![pfx("10.2.0.0", 16)]);
        assert_eq!(mine.remote_inner, vec![pfx("10.1.0.0", 16)]);
        // Nothing configured stays "any inner address"...
        let open = sel(vec![g(1, 10)], vec![], vec![]);
        let got = narrow(&open, &tsi, &tsr).unwrap();
        assert!(got.remote_inner.is_empty() && got.local_inner.is_empty());
        // ...and accepts what the peer names (one end configured, the other not).
        let (tsi, tsr) = ts_from_selectors(&allowed);
        let got = narrow(&open, &tsi, &tsr).unwrap();
        assert_eq!(got.remote_inner, allowed.local_inner);
        let mine = accept_narrowed(&open, &tsi, &tsr).unwrap();
        assert_eq!(mine.local_inner, allowed.local_inner);
    }

    #[test]
    fn disjoint_vnis_are_ts_unacceptable() {
        let allowed = sel(vec![g(100, 199)], vec![], vec![]);
        let (tsi, tsr) = ts_from_selectors(&sel(vec![g(500, 600)], vec![], vec![]));
        let r = narrow(&allowed, &tsi, &tsr).unwrap_err();
        assert_eq!(r.notify, NotifyType::TS_UNACCEPTABLE);
    }

    #[test]
    fn inner_prefixes_are_authorized_per_side() {
        // Responder allows the peer 10.1.0.0/16 and itself 10.2.0.0/16.
        let allowed = sel(
            vec![g(1, 10)],
            vec![pfx("10.2.0.0", 16)],
            vec![pfx("10.1.0.0", 16)],
        );
        // Initiator asks for 10.1.5.0/24 (its side) and 10.2.0.0/16 (ours).
        let ask = sel(
            vec![g(1, 10)],
            vec![pfx("10.1.5.0", 24)],
            vec![pfx("10.2.0.0", 16)],
        );
        let (tsi, tsr) = ts_from_selectors(&ask);
        let got = narrow(&allowed, &tsi, &tsr).unwrap();
        assert_eq!(got.remote_inner, vec![pfx("10.1.5.0", 24)]);
        assert_eq!(got.local_inner, vec![pfx("10.2.0.0", 16)]);
        // Asking for someone else's prefix is refused.
        let bad = sel(vec![g(1, 10)], vec![pfx("10.9.0.0", 16)], vec![]);
        let (tsi, tsr) = ts_from_selectors(&bad);
        assert_eq!(
            narrow(&allowed, &tsi, &tsr).unwrap_err().notify,
            NotifyType::TS_UNACCEPTABLE
        );
    }
}
