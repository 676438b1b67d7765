//! The GSAs nvesecd installed in gsa-dp, and the keying requests that the engine's GSA
//! events turn into (make-before-break, docs/ikev2-engine.md "Events"):
//!
//! - `GsaInstall`: ADD_GSA inbound at once; outbound at once only if `outbound_active`,
//!   otherwise when `GsaSwitchOutbound` names it (the peer switched first).
//! - `GsaSwitchOutbound { from, to }`: ADD_GSA `to` (the newest outbound GSA of a reqid fills
//!   the policy template), then DEL_GSA `from`.
//! - `GsaRemove`: DEL_GSA both directions (the engine sends it for the old inbound only
//!   after the rekey grace period).
//!
//! GSAs found in gsa-dp at start-up (DUMP after an nvesecd restart) are *stale*: they keep
//! forwarding until a new GSA of the same reqid is installed, then the old outbound is
//! deleted at once and the old inbound after the grace period (stragglers still verify).
//! Pure bookkeeping, no I/O: every method returns the requests to send.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use nvesec_gsa_dp::gsa::{GsaConfig as DpGsa, GsaKey, SecretKey};
use nvesec_gsa_dp::gsp::{Direction, Sel, Selectors};
use nvesec_gsa_dp::keying::{GsaInfo as DpGsaInfo, Request};
use nvesec_ikev2::config::Protection;
use nvesec_ikev2::endpoint::{GsaKeys, GsaParams, IkeSaId};

use super::translate::{algorithm, lifetime, ChildDp};

/// How long a replaced stale inbound GSA keeps verifying (strongSwan `delete_rekeyed_delay`).
pub const STALE_GRACE: Duration = Duration::from_secs(5);
/// When a restarted peer replaced our IKE SA (INITIAL_CONTACT), we keep sending on the old
/// outbound GSA this long: the peer installs the new inbound GSA only when our response
/// reaches it, and it keeps the old inbound one for [`STALE_GRACE`].
pub const SWITCH_DELAY: Duration = Duration::from_secs(1);

/// One installed GSA pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GsaRecord {
    pub conn: String,
    pub child: String,
    pub ike: IkeSaId,
    pub uid: u32,
    pub reqid: u32,
    pub inbound: u32,
    pub outbound: u32,
    pub installed_at: Instant,
    /// Soft (rekey) and hard lifetime in seconds, as installed.
    pub soft_secs: u64,
    pub hard_secs: u64,
    pub protection: Protection,
    pub key_bits: u16,
    /// Whether the outbound half is in gsa-dp yet.
    pub out_installed: bool,
    pub params: GsaParams,
    /// The peer NVE: the outbound GSA-ID (the peer's choice) is unique only with it.
    pub peer: IpAddr,
}

/// What a GSA install needs besides the engine event.
#[derive(Debug, Clone)]
pub struct InstallCtx<'a> {
    pub conn: &'a str,
    pub child: &'a ChildDp,
    pub peer: IpAddr,
    /// 0..=rand_time, taken off the soft lifetime.
    pub jitter: Duration,
    pub now: Instant,
    /// Install the outbound half only then (a restarted peer replaced our IKE SA, see
    /// [`SWITCH_DELAY`]).
    pub defer_outbound_until: Option<Instant>,
}

#[derive(Debug, Default)]
pub struct GsaTable {
    /// By inbound GSA-ID.
    pub records: BTreeMap<u32, GsaRecord>,
    /// Outbound halves waiting for `GsaSwitchOutbound`, by IKE SA and outbound GSA-ID.
    pending_out: HashMap<(IkeSaId, u32), DpGsa>,
    /// Inbound GSA-ID of each record by its IKE SA and outbound GSA-ID: the peer chose the
    /// outbound one, and a hostile peer may choose the one another peer uses (issue 14
    /// item 4), so an outbound GSA-ID alone never names a record.
    by_outbound: HashMap<(IkeSaId, u32), u32>,
    /// The same by peer NVE (canonical address) and outbound GSA-ID, for gsa-dp's EXPIRE
    /// and DUMP, which know the peer but not the IKE SA. Two IKE SAs with one peer that
    /// chose one GSA-ID twice: the newer record.
    by_peer_outbound: HashMap<(IpAddr, u32), u32>,
    /// GSAs from before a restart, by reqid.
    /// With each its peer NVE: in a full mesh one reqid has GSAs towards several peers, and
    /// a new GSA replaces only the stale ones of its own peer.
    stale: BTreeMap<u32, Vec<(GsaKey, Option<IpAddr>)>>,
    /// Installs and deletions due later, in order.
    timed: Vec<(Instant, Request)>,
    next_uid: u32,
}

fn selectors(p: &GsaParams, dir: Direction) -> Selectors {
    let g = &p.selectors.geneve;
    let vni = Sel::Ranges(g.iter().map(|r| (r.vni_start, r.vni_end)).collect());
    let full_ptype = g
        .iter()
        .any(|r| r.ptype_start == 0 && r.ptype_end == 0xffff);
    let protocol_type = if full_ptype || g.is_empty() {
        Sel::Opaque
    } else {
        Sel::Ranges(g.iter().map(|r| (r.ptype_start, r.ptype_end)).collect())
    };
    let addrs = |v: &[nvesec_ikev2::config::IpRange]| {
        if v.is_empty() {
            Sel::Opaque
        } else {
            Sel::Ranges(v.iter().map(|r| (r.start, r.end)).collect())
        }
    };
    let (src, dst) = match dir {
        Direction::In => (&p.selectors.remote_inner, &p.selectors.local_inner),
        Direction::Out => (&p.selectors.local_inner, &p.selectors.remote_inner),
    };
    Selectors {
        vni: if g.is_empty() { Sel::Opaque } else { vni },
        protocol_type,
        src_addr: addrs(src),
        dst_addr: addrs(dst),
        ..Selectors::default()
    }
}

impl GsaTable {
    pub fn new() -> Self {
        GsaTable {
            next_uid: 1,
            ..Default::default()
        }
    }

    fn dp_gsa(ctx: &InstallCtx<'_>, params: &GsaParams, dir: Direction, keys: &GsaKeys) -> DpGsa {
        DpGsa {
            dir,
            gsa_id: keys.gsa_id,
            reqid: ctx.child.reqid,
            alg: algorithm(params.protection, params.key_bits),
            key: SecretKey::new(keys.key_material().to_vec()),
            coverage: ctx.child.coverage.clone(),
            selectors: selectors(params, dir),
            // Only the inbound half asks for a rekey: one soft EXPIRE per pair.
            lifetime: lifetime(
                &params.lifetimes,
                ctx.child,
                ctx.jitter,
                dir == Direction::In,
            ),
            replay_window: ctx.child.replay_window,
            peer: Some(ctx.peer),
        }
    }

    /// `Event::GsaInstall`.
    pub fn install(
        &mut self,
        ctx: &InstallCtx<'_>,
        ike: IkeSaId,
        params: &GsaParams,
        inbound: &GsaKeys,
        outbound: &GsaKeys,
        outbound_active: bool,
    ) -> Vec<Request> {
        let din = Self::dp_gsa(ctx, params, Direction::In, inbound);
        let dout = Self::dp_gsa(ctx, params, Direction::Out, outbound);
        let uid = self.next_uid;
        self.next_uid = self.next_uid.wrapping_add(1).max(1);
        self.records.insert(
            inbound.gsa_id,
            GsaRecord {
                conn: ctx.conn.to_string(),
                child: params.name.clone(),
                ike,
                uid,
                reqid: ctx.child.reqid,
                inbound: inbound.gsa_id,
                outbound: outbound.gsa_id,
                installed_at: ctx.now,
                soft_secs: din.lifetime.soft.time_secs.unwrap_or(0),
                hard_secs: din.lifetime.hard.time_secs.unwrap_or(0),
                protection: params.protection,
                key_bits: params.key_bits,
                out_installed: outbound_active,
                params: params.clone(),
                peer: ctx.peer,
            },
        );
        self.by_outbound
            .insert((ike, outbound.gsa_id), inbound.gsa_id);
        self.by_peer_outbound
            .insert((ctx.peer.to_canonical(), outbound.gsa_id), inbound.gsa_id);
        let mut reqs = vec![Request::AddGsa(Box::new(din))];
        if let (true, Some(t)) = (outbound_active, ctx.defer_outbound_until) {
            self.timed.push((t, Request::AddGsa(Box::new(dout))));
        } else if outbound_active {
            reqs.push(Request::AddGsa(Box::new(dout)));
            reqs.extend(self.retire_stale(ctx.child.reqid, Some(ctx.peer), ctx.now));
        } else {
            self.pending_out.insert((ike, outbound.gsa_id), dout);
        }
        reqs
    }

    /// The record of IKE SA `ike` whose outbound GSA-ID is `out`.
    fn by_out_mut(&mut self, ike: IkeSaId, out: u32) -> Option<&mut GsaRecord> {
        let inbound = self.by_outbound.get(&(ike, out))?;
        self.records.get_mut(inbound)
    }

    fn out_key(r: &GsaRecord) -> GsaKey {
        GsaKey::outbound(r.outbound, r.reqid, Some(r.peer))
    }

    /// `Event::GsaSwitchOutbound` of IKE SA `ike`.
    pub fn switch_outbound(
        &mut self,
        ike: IkeSaId,
        from: u32,
        to: u32,
        now: Instant,
    ) -> Vec<Request> {
        let mut reqs = Vec::new();
        if let Some(g) = self.pending_out.remove(&(ike, to)) {
            let (reqid, peer) = (g.reqid, g.peer);
            reqs.push(Request::AddGsa(Box::new(g)));
            if let Some(r) = self.by_out_mut(ike, to) {
                r.out_installed = true;
            }
            reqs.extend(self.retire_stale(reqid, peer, now));
        }
        if let Some(r) = self.by_out_mut(ike, from) {
            if r.out_installed {
                r.out_installed = false;
                let key = Self::out_key(r);
                reqs.push(Request::DelGsa(key));
            }
        }
        reqs
    }

    /// `Event::GsaRemove`. With `linger` (the peer replaced the IKE SA with INITIAL_CONTACT
    /// after a restart) the inbound half is deleted after [`STALE_GRACE`] (its packets on the
    /// old GSA may still be in flight) and the outbound half after [`SWITCH_DELAY`] (it
    /// cannot open the new GSA before our response reaches it).
    pub fn remove(&mut self, inbound: u32, outbound: u32, linger: Option<Instant>) -> Vec<Request> {
        let Some(r) = self.records.remove(&inbound) else {
            return Vec::new();
        };
        self.pending_out.remove(&(r.ike, outbound));
        self.by_outbound.remove(&(r.ike, r.outbound));
        let peer_key = (r.peer.to_canonical(), r.outbound);
        if self.by_peer_outbound.get(&peer_key) == Some(&inbound) {
            self.by_peer_outbound.remove(&peer_key);
        }
        let key = GsaKey::inbound(inbound, r.reqid);
        let out_key = Self::out_key(&r);
        let mut reqs = Vec::new();
        match linger {
            Some(now) => {
                if r.out_installed {
                    // After the new outbound GSA's delayed install (same deadline, later).
                    self.timed
                        .push((now + SWITCH_DELAY, Request::DelGsa(out_key)));
                }
                self.timed.push((now + STALE_GRACE, Request::DelGsa(key)));
            }
            None => {
                reqs.push(Request::DelGsa(key));
                if r.out_installed {
                    reqs.push(Request::DelGsa(out_key));
                }
            }
        }
        reqs
    }

    /// GSAs gsa-dp had before we started. Those of reqids in `known` are kept until
    /// replaced; the rest are deleted now.
    pub fn adopt_stale(&mut self, gsas: &[DpGsaInfo], known: &dyn Fn(u32) -> bool) -> Vec<Request> {
        let mut reqs = Vec::new();
        for g in gsas {
            // An outbound GSA is ours only with its peer: another peer may use its GSA-ID.
            let ours = match (g.dir, g.peer) {
                (Direction::In, _) => self.records.contains_key(&g.gsa_id),
                (Direction::Out, Some(p)) => self
                    .by_peer_outbound
                    .contains_key(&(p.to_canonical(), g.gsa_id)),
                (Direction::Out, None) => false,
            };
            if ours {
                continue;
            }
            let key = match g.dir {
                Direction::In => GsaKey::inbound(g.gsa_id, g.reqid),
                Direction::Out => GsaKey::outbound(g.gsa_id, g.reqid, g.peer),
            };
            if known(g.reqid) {
                let v = self.stale.entry(g.reqid).or_default();
                if !v.iter().any(|(k, _)| *k == key) {
                    v.push((key, g.peer));
                }
            } else {
                reqs.push(Request::DelGsa(key));
            }
        }
        reqs
    }

    /// Reqids with stale GSAs still forwarding.
    pub fn stale_reqids(&self) -> Vec<u32> {
        self.stale.keys().copied().collect()
    }

    /// The stale GSAs (for listings).
    pub fn stale(&self) -> impl Iterator<Item = &GsaKey> {
        self.stale.values().flatten().map(|(k, _)| k)
    }

    /// A new GSA of `reqid` towards `peer` is in: the stale GSAs it replaces go (those of the
    /// same peer, or without one; another peer's stale GSAs keep forwarding to that peer).
    fn retire_stale(&mut self, reqid: u32, peer: Option<IpAddr>, now: Instant) -> Vec<Request> {
        let mut reqs = Vec::new();
        let Some(all) = self.stale.remove(&reqid) else {
            return reqs;
        };
        let same = |p: Option<IpAddr>| match (p, peer) {
            (Some(a), Some(b)) => a.to_canonical() == b.to_canonical(),
            _ => true,
        };
        let (gone, kept): (Vec<_>, Vec<_>) = all.into_iter().partition(|(_, p)| same(*p));
        if !kept.is_empty() {
            self.stale.insert(reqid, kept);
        }
        for (k, _) in gone {
            match k.dir {
                Direction::Out => reqs.push(Request::DelGsa(k)),
                Direction::In => self.timed.push((now + STALE_GRACE, Request::DelGsa(k))),
            }
        }
        reqs
    }

    /// Delayed installs and deletions that are due, in the order they were scheduled.
    pub fn due(&mut self, now: Instant) -> Vec<Request> {
        let (due, later): (Vec<_>, Vec<_>) = self.timed.drain(..).partition(|(t, _)| *t <= now);
        self.timed = later;
        due.into_iter().map(|(_, r)| r).collect()
    }

    /// Reqids of the GSAs of one IKE SA.
    pub fn reqids_of(&self, ike: IkeSaId) -> Vec<u32> {
        self.of_ike(ike).map(|r| r.reqid).collect()
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.timed.iter().map(|(t, _)| *t).min()
    }

    /// The inbound GSA-ID of the pair an EXPIRE names (an outbound one by its peer).
    pub fn inbound_of(&self, dir: Direction, gsa_id: u32, peer: Option<IpAddr>) -> Option<u32> {
        match dir {
            Direction::In => self.records.contains_key(&gsa_id).then_some(gsa_id),
            Direction::Out => self
                .by_peer_outbound
                .get(&(peer?.to_canonical(), gsa_id))
                .copied(),
        }
    }

    /// A hard EXPIRE removed this GSA already (`peer`: an outbound one's).
    pub fn forget(&mut self, dir: Direction, gsa_id: u32, peer: Option<IpAddr>) {
        if dir == Direction::Out {
            if let Some(r) = self
                .inbound_of(dir, gsa_id, peer)
                .and_then(|i| self.records.get_mut(&i))
            {
                // The engine's GsaRemove will delete the inbound half.
                r.out_installed = false;
            }
        }
        let gone = match dir {
            Direction::In => GsaKey::inbound(gsa_id, 0),
            Direction::Out => GsaKey::outbound(gsa_id, 0, peer),
        };
        let same = |k: &GsaKey| {
            k.dir == gone.dir
                && k.gsa_id == gone.gsa_id
                && (k.dir == Direction::In
                    || k.peer.map(|p| p.to_canonical()) == gone.peer.map(|p| p.to_canonical()))
        };
        // Bounded by the stale GSAs (those left from before a restart, until replaced).
        for v in self.stale.values_mut() {
            v.retain(|(k, _)| !same(k));
        }
        self.stale.retain(|_, v| !v.is_empty());
    }

    /// GSAs of one IKE SA.
    pub fn of_ike(&self, ike: IkeSaId) -> impl Iterator<Item = &GsaRecord> {
        self.records.values().filter(move |r| r.ike == ike)
    }

    /// After an IKE rekey the new SA owns the GSAs.
    pub fn move_ike(&mut self, old: IkeSaId, new: IkeSaId) {
        for r in self.records.values_mut().filter(|r| r.ike == old) {
            r.ike = new;
            self.by_outbound.remove(&(old, r.outbound));
            self.by_outbound.insert((new, r.outbound), r.inbound);
            if let Some(g) = self.pending_out.remove(&(old, r.outbound)) {
                self.pending_out.insert((new, r.outbound), g);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nvesec_gsa_dp::gsa::Coverage;
    use nvesec_gsa_dp::wire::gso::GsoKind;
    use nvesec_ikev2::config::{GeneveRange, GsaSelectors, Lifetimes};

    fn child() -> ChildDp {
        ChildDp {
            reqid: 42,
            kind: GsoKind::Geo,
            coverage: Coverage::default(),
            replay_window: 1024,
            rekey_bytes: 0,
            life_bytes: 0,
            rekey_packets: 0,
            life_packets: 0,
            rand_time: Duration::ZERO,
            start_action: nvesec_conf::StartAction::Trap,
        }
    }

    fn params() -> GsaParams {
        GsaParams {
            name: "red".into(),
            protection: Protection::Geo,
            key_bits: 128,
            esn: true,
            selectors: GsaSelectors {
                geneve: vec![GeneveRange {
                    vni_start: 100,
                    vni_end: 100,
                    ptype_start: 0,
                    ptype_end: 0xffff,
                }],
                ..Default::default()
            },
            lifetimes: Lifetimes::default(),
        }
    }

    fn ike() -> IkeSaId {
        IkeSaId {
            local_spi: 1,
            uid: 1,
        }
    }

    fn keys(id: u32) -> GsaKeys {
        GsaKeys::new(id, vec![7; 20])
    }

    fn describe(r: &[Request]) -> Vec<String> {
        r.iter()
            .map(|r| match r {
                Request::AddGsa(g) => format!("add {:?} {:x}", g.dir, g.gsa_id),
                Request::DelGsa(k) => format!("del {:?} {:x}", k.dir, k.gsa_id),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn make_before_break_responder_side() {
        let now = Instant::now();
        let c = child();
        let ctx = InstallCtx {
            conn: "nve2",
            child: &c,
            peer: "192.0.2.2".parse().unwrap(),
            jitter: Duration::ZERO,
            now,
            defer_outbound_until: None,
        };
        let mut t = GsaTable::new();
        let r = t.install(&ctx, ike(), &params(), &keys(0xa1), &keys(0xb1), true);
        assert_eq!(describe(&r), ["add In a1", "add Out b1"]);
        match &r[0] {
            Request::AddGsa(g) => {
                assert_eq!(g.reqid, 42);
                assert_eq!(g.lifetime.soft.time_secs, Some(3600));
                assert_eq!(g.selectors.vni, Sel::Ranges(vec![(100, 100)]));
                assert_eq!(g.selectors.protocol_type, Sel::Opaque);
            }
            _ => unreachable!(),
        }
        // Rekey as responder: new inbound now, outbound only on the switch.
        let r = t.install(&ctx, ike(), &params(), &keys(0xa2), &keys(0xb2), false);
        assert_eq!(describe(&r), ["add In a2"]);
        let r = t.switch_outbound(ike(), 0xb1, 0xb2, now);
        assert_eq!(describe(&r), ["add Out b2", "del Out b1"]);
        let peer = Some(ctx.peer);
        assert_eq!(t.inbound_of(Direction::Out, 0xb2, peer), Some(0xa2));
        let r = t.remove(0xa1, 0xb1, None);
        assert_eq!(describe(&r), ["del In a1"]);
        assert_eq!(t.inbound_of(Direction::Out, 0xb1, peer), None);
        // The peer restarted: its new IKE SA replaces ours (INITIAL_CONTACT). The new
        // outbound GSA and the old one's deletion wait SWITCH_DELAY, the old inbound lingers.
        let later = InstallCtx {
            defer_outbound_until: Some(now + SWITCH_DELAY),
            ..ctx.clone()
        };
        let r = t.install(&later, ike(), &params(), &keys(0xa3), &keys(0xb3), true);
        assert_eq!(describe(&r), ["add In a3"]);
        let r = t.remove(0xa2, 0xb2, Some(now));
        assert!(r.is_empty());
        assert!(t.due(now).is_empty());
        assert_eq!(
            describe(&t.due(now + SWITCH_DELAY)),
            ["add Out b3", "del Out b2"]
        );
        assert_eq!(describe(&t.due(now + STALE_GRACE)), ["del In a2"]);
    }

    /// Issue 14 item 4: the outbound GSA-ID is the peer's choice. A hostile peer whose GSA
    /// uses the outbound GSA-ID of another peer's GSA must not make nvesecd switch, delete or
    /// expire the victim's: before the fix its removal deleted the victim's outbound GSA
    /// (records and gsa-dp keys named it by GSA-ID and reqid only).
    #[test]
    fn a_peer_reusing_anothers_outbound_gsa_id_touches_only_its_own() {
        let now = Instant::now();
        let c = child();
        let ctx = |peer: &str| InstallCtx {
            conn: "nve",
            child: &c,
            peer: peer.parse().unwrap(),
            jitter: Duration::ZERO,
            now,
            defer_outbound_until: None,
        };
        let (victim, attacker) = (ctx("192.0.2.2"), ctx("192.0.2.66"));
        let ike2 = IkeSaId {
            local_spi: 2,
            uid: 2,
        };
        let mut t = GsaTable::new();
        t.install(&victim, ike(), &params(), &keys(0xa1), &keys(0xb1), true);
        // The attacker rekeys as initiator: our new outbound half waits for the switch.
        t.install(&attacker, ike2, &params(), &keys(0xa2), &keys(0xc1), true);
        t.install(&attacker, ike2, &params(), &keys(0xa3), &keys(0xb1), false);
        let r = t.switch_outbound(ike2, 0xc1, 0xb1, now);
        let keys_of = |r: &[Request]| -> Vec<(String, Option<IpAddr>)> {
            r.iter()
                .map(|r| match r {
                    Request::AddGsa(g) => (format!("add {:?} {:x}", g.dir, g.gsa_id), g.peer),
                    Request::DelGsa(k) => (format!("del {:?} {:x}", k.dir, k.gsa_id), k.peer),
                    other => (format!("{other:?}"), None),
                })
                .collect()
        };
        let atk = Some(attacker.peer);
        assert_eq!(
            keys_of(&r),
            [("add Out b1".into(), atk), ("del Out c1".into(), atk)]
        );
        // The victim's record still names its own pair.
        assert_eq!(t.records[&0xa1].outbound, 0xb1);
        assert!(t.records[&0xa1].out_installed);
        // gsa-dp's EXPIRE of each outbound GSA names its peer.
        assert_eq!(
            t.inbound_of(Direction::Out, 0xb1, Some(victim.peer)),
            Some(0xa1)
        );
        assert_eq!(t.inbound_of(Direction::Out, 0xb1, atk), Some(0xa3));
        // The attacker's GSA goes: only the attacker's keys are deleted.
        let r = t.remove(0xa3, 0xb1, None);
        assert_eq!(
            keys_of(&r),
            [("del In a3".into(), None), ("del Out b1".into(), atk)]
        );
        assert_eq!(
            t.inbound_of(Direction::Out, 0xb1, Some(victim.peer)),
            Some(0xa1)
        );
        // The victim's own switch still finds its record.
        t.install(&victim, ike(), &params(), &keys(0xa4), &keys(0xb4), false);
        let r = t.switch_outbound(ike(), 0xb1, 0xb4, now);
        let vic = Some(victim.peer);
        assert_eq!(
            keys_of(&r),
            [("add Out b4".into(), vic), ("del Out b1".into(), vic)]
        );
    }

    #[test]
    fn stale_gsas_forward_until_replaced() {
        let now = Instant::now();
        let c = child();
        let info = |dir, gsa_id, reqid| DpGsaInfo {
            dir,
            gsa_id,
            reqid,
            alg: nvesec_gsa_dp::gsa::Algorithm::AesGcm128,
            coverage: Coverage::default(),
            selectors: Selectors::default(),
            lifetime: Default::default(),
            replay_window: 1024,
            peer: None,
            packets: 0,
            bytes: 0,
            idle_ms: None,
            sn: 0,
        };
        let mut t = GsaTable::new();
        let r = t.adopt_stale(
            &[
                info(Direction::In, 0x11, 42),
                info(Direction::Out, 0x22, 42),
                info(Direction::Out, 0x33, 7),
            ],
            &|reqid| reqid == 42,
        );
        assert_eq!(describe(&r), ["del Out 33"]);
        assert_eq!(t.stale_reqids(), [42]);
        let ctx = InstallCtx {
            conn: "nve2",
            child: &c,
            peer: "192.0.2.2".parse().unwrap(),
            jitter: Duration::ZERO,
            now,
            defer_outbound_until: None,
        };
        let r = t.install(&ctx, ike(), &params(), &keys(0xa1), &keys(0xb1), true);
        assert_eq!(describe(&r), ["add In a1", "add Out b1", "del Out 22"]);
        assert!(t.due(now).is_empty());
        assert_eq!(t.next_deadline(), Some(now + STALE_GRACE));
        assert_eq!(describe(&t.due(now + STALE_GRACE)), ["del In 11"]);
        assert!(t.stale_reqids().is_empty());
    }

    #[test]
    fn a_new_gsa_retires_only_its_own_peers_stale_gsas() {
        let now = Instant::now();
        let c = child();
        let info = |dir, gsa_id, peer: &str| DpGsaInfo {
            dir,
            gsa_id,
            reqid: 42,
            alg: nvesec_gsa_dp::gsa::Algorithm::AesGcm128,
            coverage: Coverage::default(),
            selectors: Selectors::default(),
            lifetime: Default::default(),
            replay_window: 1024,
            peer: Some(peer.parse().unwrap()),
            packets: 0,
            bytes: 0,
            idle_ms: None,
            sn: 0,
        };
        let mut t = GsaTable::new();
        // A full mesh before the restart: reqid 42 towards two peers.
        let r = t.adopt_stale(
            &[
                info(Direction::In, 0x12, "192.0.2.2"),
                info(Direction::Out, 0x22, "192.0.2.2"),
                info(Direction::In, 0x13, "192.0.2.3"),
                info(Direction::Out, 0x33, "192.0.2.3"),
            ],
            &|reqid| reqid == 42,
        );
        assert!(r.is_empty());
        let ctx = |peer: &'static str| InstallCtx {
            conn: "nve2",
            child: &c,
            peer: peer.parse().unwrap(),
            jitter: Duration::ZERO,
            now,
            defer_outbound_until: None,
        };
        let r = t.install(
            &ctx("192.0.2.2"),
            ike(),
            &params(),
            &keys(0xa1),
            &keys(0xb1),
            true,
        );
        assert_eq!(describe(&r), ["add In a1", "add Out b1", "del Out 22"]);
        assert_eq!(
            t.stale().map(|k| k.gsa_id).collect::<Vec<_>>(),
            [0x13, 0x33]
        );
        assert_eq!(describe(&t.due(now + STALE_GRACE)), ["del In 12"]);
        let r = t.install(
            &ctx("192.0.2.3"),
            ike(),
            &params(),
            &keys(0xa2),
            &keys(0xb2),
            true,
        );
        assert_eq!(describe(&r), ["add In a2", "add Out b2", "del Out 33"]);
        assert!(t.stale_reqids().is_empty());
    }
}
