//! CREATE_CHILD_SA (RFC 7296 §1.3, §2.8, §2.17, §2.18):
//!
//! ```text
//! new GSA:    SK{SA, Ni, [KEi], TSi, TSr}              --> <-- SK{SA, Nr, [KEr], TSi, TSr}
//! GSA rekey:  SK{N(REKEY_SA), SA, Ni, [KEi], TSi, TSr} --> <-- SK{SA, Nr, [KEr], TSi, TSr}
//! IKE rekey:  SK{SA(IKE, new SPIi), Ni, KEi}           --> <-- SK{SA(IKE, new SPIr), Nr, KEr}
//! ```
//! Make-before-break: the new inbound GSA is installed before the old one goes; the rekey
//! initiator moves outbound traffic when the exchange completes, the responder when the
//! Delete of the old GSA arrives; the old inbound GSA stays for `rekeyed_inbound_grace`.
//!
//! Collisions (§2.8.1, §2.8.2): both ends may rekey the same SA at once. Each answers the
//! other normally; when its own exchange completes, the side whose exchange produced the
//! lowest of the four nonces deletes the SA it created (the redundant one), and the side whose
//! SA survives deletes the replaced one.

use std::collections::VecDeque;
use std::time::Instant;

use super::child::{self, ChildOffer};
use super::events::{DownReason, Event, LogLevel};
use super::keys::{self, DhKey, IkeKeys};
use super::proposal::{check_ike_reply, ike_sa_payload, select_ike, GsaSuite};
use super::timer::{InitiatorWindow, ResponderWindow, Timer, TimerTable};
use super::views::{CreateChildRequest, CreateChildResponse, GsaRequest, RekeyIkeRequest};
use super::{Ctx, Established, IkeSa, State};
use crate::endpoint::{random_nonzero_u64, CommandError, IkeSaId};
use crate::wire::{DhGroup, ExchangeType, Ke, Nonce, Notify, NotifyType, Payload, ProtocolId, Sa};

/// Our outstanding request on an established SA.
#[derive(Debug)]
pub(crate) enum Pending {
    CreateGsa(ChildOffer),
    RekeyIke {
        new_spi: u64,
        ni: Vec<u8>,
        dh: DhKey,
    },
    DeleteGsa(Vec<u32>),
    DeleteIke,
    Dpd,
}

/// Work queued until the window (size 1) is free.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Task {
    CreateGsa(String),
    RekeyGsa(u32),
    RekeyIke,
    DeleteGsa(u32),
    DeleteIke,
    Dpd,
}

/// How long an SA replaced by the peer's IKE rekey waits for the peer's Delete before it is
/// removed locally (strongSwan's value for the same fallback).
pub const REPLACED_SA_DELETE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(90);

/// Lower of two nonces compared octet by octet, a shorter prefix being lower (§2.8.1).
pub fn nonce_lt(a: &[u8], b: &[u8]) -> bool {
    a < b
}

/// The lowest of a pair of nonces.
fn min_nonce<'a>(a: &'a [u8], b: &'a [u8]) -> &'a [u8] {
    if nonce_lt(a, b) {
        a
    } else {
        b
    }
}

impl IkeSa {
    fn established_mut(&mut self) -> Option<&mut Established> {
        match &mut self.state {
            State::Established(e) => Some(e),
            _ => None,
        }
    }

    pub(crate) fn established_ref(&self) -> Option<&Established> {
        match &self.state {
            State::Established(e) => Some(e),
            _ => None,
        }
    }

    fn enqueue(&mut self, ctx: &mut Ctx<'_>, t: Task) -> Result<(), CommandError> {
        let e = self.established_mut().ok_or(CommandError::NotEstablished)?;
        if e.deleting || e.rekeyed_to.is_some() {
            return Err(CommandError::NotEstablished);
        }
        if !e.queue.contains(&t) {
            e.queue.push_back(t);
        }
        self.run_queue(ctx);
        Ok(())
    }

    pub(crate) fn create_gsa(
        &mut self,
        ctx: &mut Ctx<'_>,
        child: &str,
    ) -> Result<(), CommandError> {
        if !self.conn.children.iter().any(|c| c.name == child) {
            return Err(CommandError::UnknownChild(child.to_owned()));
        }
        if !self.established_ref().is_some_and(|e| e.gsa_capable) {
            return Err(CommandError::PeerNotGsaCapable);
        }
        self.enqueue(ctx, Task::CreateGsa(child.to_owned()))
    }

    pub(crate) fn rekey_gsa(
        &mut self,
        ctx: &mut Ctx<'_>,
        inbound: u32,
    ) -> Result<(), CommandError> {
        if !self.has_gsa(inbound) {
            return Err(CommandError::UnknownGsa(inbound));
        }
        self.enqueue(ctx, Task::RekeyGsa(inbound))
    }

    pub(crate) fn rekey_ike(&mut self, ctx: &mut Ctx<'_>) -> Result<(), CommandError> {
        self.enqueue(ctx, Task::RekeyIke)
    }

    pub(crate) fn delete_gsa(
        &mut self,
        ctx: &mut Ctx<'_>,
        inbound: u32,
    ) -> Result<(), CommandError> {
        if !self.has_gsa(inbound) {
            return Err(CommandError::UnknownGsa(inbound));
        }
        self.enqueue(ctx, Task::DeleteGsa(inbound))
    }

    pub(crate) fn delete_ike(&mut self, ctx: &mut Ctx<'_>) -> Result<(), CommandError> {
        let e = self.established_mut().ok_or(CommandError::NotEstablished)?;
        // The Delete goes first: drop queued work (RFC 7296 §1.4.1).
        e.queue.clear();
        e.queue.push_back(Task::DeleteIke);
        self.run_queue(ctx);
        Ok(())
    }

    /// Deletes the IKE SA, reporting `reason` once the peer confirmed.
    pub(crate) fn delete_ike_because(
        &mut self,
        ctx: &mut Ctx<'_>,
        reason: DownReason,
    ) -> Result<(), CommandError> {
        let e = self.established_mut().ok_or(CommandError::NotEstablished)?;
        if e.deleting {
            return Ok(());
        }
        e.delete_reason = Some(reason.clone());
        self.log(ctx, LogLevel::Info, format!("deleting IKE_SA: {reason:?}"));
        self.delete_ike(ctx)
    }

    pub(crate) fn send_dpd(&mut self, ctx: &mut Ctx<'_>) -> Result<(), CommandError> {
        self.enqueue(ctx, Task::Dpd)
    }

    /// Starts the next queued exchange if the window is free.
    pub(crate) fn run_queue(&mut self, ctx: &mut Ctx<'_>) {
        loop {
            if !self.iwin.can_send() {
                return;
            }
            let Some(e) = self.established_mut() else {
                return;
            };
            if e.pending.is_some() {
                return;
            }
            let Some(task) = e.queue.pop_front() else {
                return;
            };
            if self.start_task(ctx, task) {
                return;
            }
        }
    }

    /// Sends the request for `task`; false if it turned out to be moot.
    fn start_task(&mut self, ctx: &mut Ctx<'_>, task: Task) -> bool {
        let pending = match task {
            Task::CreateGsa(name) => {
                let Some(cfg) = self.conn.children.iter().find(|c| c.name == name).cloned() else {
                    return false;
                };
                if let Some(g) = self.live_gsa_of(&name) {
                    // A child has one GSA pair per IKE SA. A create queued before the GSA
                    // came (both ends initiating at once, the task handed over from a
                    // duplicate IKE SA or retried after TEMPORARY_FAILURE) is moot; sending
                    // it would make a second pair that nothing ever removes.
                    self.log(
                        ctx,
                        LogLevel::Info,
                        format!(
                            "GSA {name} is already installed ({:08x}_i): not creating another",
                            g
                        ),
                    );
                    return false;
                }
                self.start_create_gsa(ctx, cfg, None)
            }
            Task::RekeyGsa(inbound) => {
                let Some(g) = self
                    .gsas
                    .iter()
                    .find(|g| g.inbound_id == inbound && g.remove_at.is_none())
                else {
                    return false;
                };
                if self.gsas.iter().any(|n| n.replaced == Some(inbound)) {
                    // Already rekeyed (by us, or by the peer and we answered): the old GSA
                    // only waits for its Delete. A second rekey would leave two live GSAs
                    // for the same child (strongSwan skips CHILD_REKEYED SAs likewise).
                    self.log(
                        ctx,
                        LogLevel::Debug,
                        format!("GSA {inbound:08x}_i already rekeyed: not rekeying it again"),
                    );
                    return false;
                }
                if self.closing_gsa(inbound) {
                    // We are deleting it (e.g. our redundant GSA of a lost collision).
                    return false;
                }
                let name = g.params.name.clone();
                let Some(cfg) = self.conn.children.iter().find(|c| c.name == name).cloned() else {
                    return false;
                };
                self.start_create_gsa(ctx, cfg, Some(inbound))
            }
            Task::RekeyIke => self.start_rekey_ike(ctx),
            Task::DeleteGsa(inbound) => self.start_delete_gsa(ctx, inbound),
            Task::DeleteIke => self.start_delete_ike(ctx),
            Task::Dpd => self.start_dpd(ctx),
        };
        match pending {
            Some(p) => {
                if let Some(e) = self.established_mut() {
                    e.pending = Some(p);
                }
                true
            }
            None => false,
        }
    }

    fn start_create_gsa(
        &mut self,
        ctx: &mut Ctx<'_>,
        cfg: crate::config::GsaConfig,
        rekey_of: Option<u32>,
    ) -> Option<Pending> {
        if !self.established_ref()?.gsa_capable {
            self.log(
                ctx,
                LogLevel::Warn,
                "peer did not announce GSA support; not creating GSA",
            );
            return None;
        }
        let suite = GsaSuite::from_config(&cfg, true);
        let dh = match suite.dh {
            Some(g) => Some(DhKey::new(g, ctx.random()).ok()?),
            None => None,
        };
        let ni = ctx.random_vec(super::init::NONCE_LEN);
        let offer = ChildOffer {
            suite,
            inbound_id: self.fresh_gsa_id(ctx),
            ni: Some(ni.clone()),
            dh,
            rekey_of,
            cfg,
            collision: None,
        };
        let mut inner = Vec::new();
        if let Some(old) = rekey_of {
            // REKEY_SA carries the SPI we receive on (RFC 7296 §1.3.3).
            inner.push(Payload::Notify(Notify::rekey_sa(
                ProtocolId::GSA,
                old.to_be_bytes().to_vec(),
            )));
        }
        let (sa, tsi, tsr) = offer.payloads();
        inner.push(sa);
        inner.push(Payload::Nonce(Nonce::new(ni)));
        if let Some(dh) = &offer.dh {
            inner.push(Payload::Ke(Ke::new(DhGroup(dh.group()), dh.public())));
        }
        inner.extend([tsi, tsr]);
        self.log(
            ctx,
            LogLevel::Info,
            match rekey_of {
                Some(o) => format!("rekeying GSA {} ({o:08x}_i)", offer.cfg.name),
                None => format!("creating GSA {}", offer.cfg.name),
            },
        );
        self.send_protected_request(ctx, ExchangeType::CREATE_CHILD_SA, &inner)
            .then_some(Pending::CreateGsa(offer))
    }

    fn start_rekey_ike(&mut self, ctx: &mut Ctx<'_>) -> Option<Pending> {
        let new_spi = random_nonzero_u64(ctx.rng);
        let dh = DhKey::new(self.preferred_group(), ctx.random()).ok()?;
        let ni = ctx.random_vec(super::init::NONCE_LEN);
        let mut props = self.conn.ike_proposals.clone();
        props.sort_by_key(|p| p.dh_group != dh.group());
        let inner = vec![
            Payload::Sa(ike_sa_payload(&props, Some(new_spi))),
            Payload::Nonce(Nonce::new(ni.clone())),
            Payload::Ke(Ke::new(DhGroup(dh.group()), dh.public())),
        ];
        self.log(ctx, LogLevel::Info, "rekeying IKE_SA");
        self.send_protected_request(ctx, ExchangeType::CREATE_CHILD_SA, &inner)
            .then_some(Pending::RekeyIke { new_spi, ni, dh })
    }

    /// Responses to our CREATE_CHILD_SA and INFORMATIONAL requests.
    pub(crate) fn on_established_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        exchange: ExchangeType,
        payloads: &[Payload],
    ) {
        let Some(pending) = self.established_mut().and_then(|e| e.pending.take()) else {
            return;
        };
        match (pending, exchange) {
            (Pending::CreateGsa(offer), ExchangeType::CREATE_CHILD_SA) => {
                self.on_create_gsa_response(ctx, offer, payloads)
            }
            (Pending::RekeyIke { new_spi, ni, dh }, ExchangeType::CREATE_CHILD_SA) => {
                self.on_rekey_ike_response(ctx, new_spi, &ni, &dh, payloads)
            }
            (Pending::DeleteGsa(ids), ExchangeType::INFORMATIONAL) => {
                self.on_delete_gsa_response(ctx, &ids)
            }
            (Pending::DeleteIke, ExchangeType::INFORMATIONAL) => self.on_delete_ike_response(ctx),
            (Pending::Dpd, ExchangeType::INFORMATIONAL) => {}
            (p, x) => self.log(
                ctx,
                LogLevel::Debug,
                format!("unexpected {x:?} response for {p:?}"),
            ),
        }
    }

    fn on_create_gsa_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        offer: ChildOffer,
        payloads: &[Payload],
    ) {
        let name = offer.cfg.name.clone();
        let accepted = match CreateChildResponse::try_from(payloads) {
            Ok(CreateChildResponse::Accepted(a)) => a,
            Ok(CreateChildResponse::Refused(n)) => {
                self.on_create_gsa_refused(ctx, &offer, n);
                return;
            }
            Err(e) => {
                // A malformed response fails the exchange, as an unusable one does.
                self.refuse_gsa(
                    ctx,
                    &name,
                    child::Refusal {
                        notify: NotifyType::NO_PROPOSAL_CHOSEN,
                        reason: format!("malformed CREATE_CHILD_SA response: {e}"),
                    },
                );
                return;
            }
        };
        let result = (|| {
            let nr = accepted.nonce.data.clone();
            let c = accepted.child;
            let (peer_id, sel) = child::complete(&offer, Some(accepted.sa), c.tsi, c.tsr)?;
            let g_ir = match (&offer.dh, accepted.ke) {
                (Some(dh), Some(k)) if k.group.0 == dh.group() => {
                    Some(dh.shared(&k.data).map_err(|e| e.to_string())?)
                }
                (None, None) => None,
                _ => return Err("KE does not match the PFS group".to_string()),
            };
            Ok::<_, String>((nr, peer_id, sel, g_ir))
        })();
        self.complete_create_gsa(ctx, offer, result);
    }

    /// The peer answered our GSA request with error notify `n` (the first one).
    fn on_create_gsa_refused(&mut self, ctx: &mut Ctx<'_>, offer: &ChildOffer, n: NotifyType) {
        let name = offer.cfg.name.clone();
        if n == NotifyType::TEMPORARY_FAILURE {
            // §2.25: the peer is busy (IKE rekey, delete): retry after a short random delay.
            let task = match offer.rekey_of {
                Some(old) => Task::RekeyGsa(old),
                None => Task::CreateGsa(name.clone()),
            };
            self.log(
                ctx,
                LogLevel::Info,
                format!("TEMPORARY_FAILURE for GSA {name}: retrying later"),
            );
            self.defer(ctx, task);
            return;
        }
        // CHILD_SA_NOT_FOUND and others are not fatal to the IKE SA (spec-facts §5 #7).
        self.refuse_gsa(
            ctx,
            &name,
            child::Refusal {
                notify: n,
                reason: "peer refused CREATE_CHILD_SA".into(),
            },
        );
    }

    /// Installs the GSA of our completed CREATE_CHILD_SA exchange, or reports why not.
    #[allow(clippy::type_complexity)]
    fn complete_create_gsa(
        &mut self,
        ctx: &mut Ctx<'_>,
        offer: ChildOffer,
        result: Result<
            (
                Vec<u8>,
                u32,
                crate::config::GsaSelectors,
                Option<super::keys::Secret>,
            ),
            String,
        >,
    ) {
        let name = offer.cfg.name.clone();
        let (nr, peer_id, sel, g_ir) = match result {
            Ok(x) => x,
            Err(why) => {
                self.refuse_gsa(
                    ctx,
                    &name,
                    child::Refusal {
                        notify: NotifyType::NO_PROPOSAL_CHOSEN,
                        reason: why,
                    },
                );
                return;
            }
        };
        let ni = offer.ni.clone().unwrap_or_default();
        let params = child::params_for(&offer.cfg, &offer.suite, sel);
        self.install_gsa(
            ctx,
            &ni,
            &nr,
            g_ir.as_ref(),
            params,
            &offer.suite,
            offer.inbound_id,
            peer_id,
            true,
            offer.rekey_of,
        );
        if let Some(old) = offer.rekey_of {
            let answered = offer.collision.as_deref();
            self.finish_gsa_rekey(ctx, old, offer.inbound_id, &ni, &nr, answered);
        }
        // The IKE SA was rekeyed while this exchange ran: the GSA belongs to the new one.
        if let Some(new) = self.established_ref().and_then(|e| e.rekeyed_to) {
            let moved: Vec<_> = std::mem::take(&mut self.gsas);
            ctx.out.gsa_transfers.push((new.local_spi, moved));
        }
    }

    /// After our GSA rekey completed: switch outbound, resolve a collision (§2.8.1), and
    /// delete what must go. `answered`: the lowest nonce of the peer's rekey of the same GSA
    /// that we answered meanwhile, if any.
    fn finish_gsa_rekey(
        &mut self,
        ctx: &mut Ctx<'_>,
        old: u32,
        new: u32,
        ni: &[u8],
        nr: &[u8],
        answered: Option<&[u8]>,
    ) {
        let old_gsa = self.gsas.iter().find(|g| g.inbound_id == old).cloned();
        // Did the peer rekey the same GSA meanwhile? Its new GSA replaced `old` too.
        let peer_new = self
            .gsas
            .iter()
            .find(|g| !g.created_by_us && g.replaced == Some(old))
            .cloned();
        let new_out = self
            .gsas
            .iter()
            .find(|g| g.inbound_id == new)
            .map(|g| g.outbound_id);
        // The peer's GSA may be gone already when our exchange needed retransmissions: the
        // winner deleted the old GSA, then rekeyed and deleted its own new one. The nonce we
        // recorded when answering still decides.
        let theirs_min = peer_new
            .as_ref()
            .map(|t| min_nonce(&t.nonces.0, &t.nonces.1).to_vec())
            .or_else(|| answered.map(<[u8]>::to_vec));
        match theirs_min {
            Some(theirs_min) => {
                if nonce_lt(min_nonce(ni, nr), &theirs_min) {
                    // Our SA holds the lowest nonce: it is redundant, we delete it; the peer
                    // deletes the old one.
                    self.log(
                        ctx,
                        LogLevel::Info,
                        "GSA rekey collision lost: deleting our redundant GSA",
                    );
                    if let Some(e) = self.established_mut() {
                        e.queue.push_back(Task::DeleteGsa(new));
                    }
                    if let Some(g) = self.gsas.iter_mut().find(|g| g.inbound_id == new) {
                        g.redundant = true;
                    }
                    let to = peer_new
                        .map(|t| t.outbound_id)
                        .or_else(|| self.current_outbound_besides(new));
                    if let (Some(from), Some(to)) = (new_out, to) {
                        ctx.out.events.push_back(Event::GsaSwitchOutbound {
                            ike: self.id(),
                            from,
                            to,
                        });
                    }
                } else {
                    self.log(
                        ctx,
                        LogLevel::Info,
                        "GSA rekey collision won: deleting the old GSA",
                    );
                    if let Some(e) = self.established_mut() {
                        e.queue.push_back(Task::DeleteGsa(old));
                    }
                }
            }
            None => {
                let Some(old_gsa) = old_gsa else {
                    // The peer deleted the GSA without rekeying it: ours simply replaces it.
                    return;
                };
                if let Some(o) = new_out {
                    ctx.out.events.push_back(Event::GsaSwitchOutbound {
                        ike: self.id(),
                        from: old_gsa.outbound_id,
                        to: o,
                    });
                }
                if let Some(e) = self.established_mut() {
                    e.queue.push_back(Task::DeleteGsa(old));
                }
            }
        }
    }

    /// Inbound GSA-ID of a GSA of child `name` that is neither replaced nor being closed.
    fn live_gsa_of(&self, name: &str) -> Option<u32> {
        self.gsas
            .iter()
            .find(|g| {
                g.params.name == name
                    && g.remove_at.is_none()
                    && !self.closing_gsa(g.inbound_id)
                    && !self.gsas.iter().any(|n| n.replaced == Some(g.inbound_id))
            })
            .map(|g| g.inbound_id)
    }

    /// Whether our Delete of the GSA with this inbound GSA-ID is queued or in flight.
    pub(crate) fn closing_gsa(&self, inbound: u32) -> bool {
        self.established_ref().is_some_and(|e| {
            e.queue.contains(&Task::DeleteGsa(inbound))
                || matches!(&e.pending, Some(Pending::DeleteGsa(ids)) if ids.contains(&inbound))
        })
    }

    /// The outbound GSA-ID of the newest live GSA of the same child as `gsa` (other than it)
    /// that nothing replaced yet: where outbound traffic goes when `gsa` is dropped.
    fn current_outbound_besides(&self, gsa: u32) -> Option<u32> {
        let name = &self.gsas.iter().find(|g| g.inbound_id == gsa)?.params.name;
        self.gsas
            .iter()
            .rev()
            .find(|g| {
                g.inbound_id != gsa
                    && &g.params.name == name
                    && g.remove_at.is_none()
                    && !self.gsas.iter().any(|n| n.replaced == Some(g.inbound_id))
            })
            .map(|g| g.outbound_id)
    }

    /// Peer's CREATE_CHILD_SA request.
    pub(crate) fn on_create_child_request(
        &mut self,
        ctx: &mut Ctx<'_>,
        msg_id: u32,
        req: &CreateChildRequest<'_>,
    ) {
        let is_ike = matches!(req, CreateChildRequest::RekeyIke(_));
        let busy_deleting = self
            .established_ref()
            .is_none_or(|e| e.deleting || e.rekeyed_to.is_some());
        let ike_rekey_pending = matches!(
            self.established_ref().and_then(|e| e.pending.as_ref()),
            Some(Pending::RekeyIke { .. })
        );
        let gsa_exchange_pending = matches!(
            self.established_ref().and_then(|e| e.pending.as_ref()),
            Some(Pending::CreateGsa(_) | Pending::DeleteGsa(_))
        );
        if busy_deleting || (ike_rekey_pending && !is_ike) {
            // §2.25: creating or rekeying while the IKE SA is being rekeyed or deleted.
            self.respond_notify(ctx, msg_id, NotifyType::TEMPORARY_FAILURE);
            return;
        }
        if is_ike && gsa_exchange_pending {
            // Our GSA exchange would die with this IKE SA while the peer may have answered
            // it already (a GSA only the peer knows). Finish it first, as strongSwan does for
            // half-open children; the peer retries its IKE rekey.
            self.log(
                ctx,
                LogLevel::Info,
                "peer rekeys the IKE_SA while our GSA exchange is outstanding: TEMPORARY_FAILURE",
            );
            self.respond_notify(ctx, msg_id, NotifyType::TEMPORARY_FAILURE);
            return;
        }
        match req {
            CreateChildRequest::RekeyIke(r) => self.on_rekey_ike_request(ctx, msg_id, r),
            CreateChildRequest::Gsa(r) => self.on_gsa_request(ctx, msg_id, r),
        }
    }

    pub(crate) fn respond_notify(&mut self, ctx: &mut Ctx<'_>, msg_id: u32, n: NotifyType) {
        let p = Payload::Notify(Notify::new(n, Vec::new()));
        self.send_protected_response(ctx, ExchangeType::CREATE_CHILD_SA, msg_id, &[p]);
    }

    /// A new GSA or a GSA rekey; the view guarantees one SA, Ni, TSi, TSr, at most one KE
    /// and REKEY_SA (RFC 7296 §1.3.1, §1.3.3).
    fn on_gsa_request(&mut self, ctx: &mut Ctx<'_>, msg_id: u32, req: &GsaRequest<'_>) {
        let (sa, tsi, tsr, ke) = (req.sa, req.tsi, req.tsr, req.ke);
        let ni = req.nonce.data.clone();
        let rekey = req.rekey.map(|n| n.spi.clone());
        let gsa_capable = self.established_ref().is_some_and(|e| e.gsa_capable);
        if !gsa_capable {
            self.respond_notify(ctx, msg_id, NotifyType::NO_PROPOSAL_CHOSEN);
            return;
        }
        // REKEY_SA names the SA by the initiator's inbound SPI = our outbound GSA-ID.
        let mut replaces = None;
        let mut children = self.conn.children.clone();
        if let Some(spi) = rekey {
            let spi = <[u8; 4]>::try_from(spi.as_slice())
                .ok()
                .map(u32::from_be_bytes);
            let Some(old) = self
                .gsas
                .iter()
                .find(|g| Some(g.outbound_id) == spi && g.remove_at.is_none())
            else {
                self.respond_notify(ctx, msg_id, NotifyType::CHILD_SA_NOT_FOUND);
                return;
            };
            let (old_in, name) = (old.inbound_id, old.params.name.clone());
            let rekeyed_by_us = self
                .gsas
                .iter()
                .any(|n| n.created_by_us && n.replaced == Some(old_in));
            if rekeyed_by_us || self.closing_gsa(old_in) {
                // §2.25: we are closing this GSA. Either our own rekey of it completed before
                // the peer's request arrived (sent before ours reached the peer, and
                // overtaken), or we delete it (our redundant GSA of a lost collision, which
                // the winner's soft expiry wants to rekey). Answering would create a second
                // live GSA that neither side's §2.8.1 check sees. The peer retries later and
                // finds the GSA gone.
                let why = if rekeyed_by_us {
                    "which we rekeyed already"
                } else {
                    "which we are deleting"
                };
                self.log(
                    ctx,
                    LogLevel::Info,
                    format!("peer rekeys GSA {old_in:08x}_i, {why}: TEMPORARY_FAILURE"),
                );
                self.respond_notify(ctx, msg_id, NotifyType::TEMPORARY_FAILURE);
                return;
            }
            replaces = Some(old_in);
            children.retain(|c| c.name == name);
        }
        let our_id = self.fresh_gsa_id(ctx);
        let with_pfs = ke.is_some();
        let (reply, params, suite, peer_id) =
            match child::respond(&children, sa, tsi, tsr, our_id, with_pfs) {
                Ok(x) => x,
                Err(r) => {
                    self.respond_notify(ctx, msg_id, r.notify);
                    let name = children.first().map_or("?".to_string(), |c| c.name.clone());
                    self.refuse_gsa(ctx, &name, r);
                    return;
                }
            };
        let mut g_ir = None;
        let mut ker = None;
        if let (Some(group), Some(ke)) = (suite.dh, ke) {
            if ke.group.0 != group {
                // strongSwan answers NO_PROPOSAL_CHOSEN here; INVALID_KE_PAYLOAD is the RFC's.
                let n = Payload::Notify(Notify::invalid_ke_payload(DhGroup(group)));
                self.send_protected_response(ctx, ExchangeType::CREATE_CHILD_SA, msg_id, &[n]);
                return;
            }
            let Ok(dh) = DhKey::new(group, ctx.random()) else {
                self.respond_notify(ctx, msg_id, NotifyType::NO_PROPOSAL_CHOSEN);
                return;
            };
            match dh.shared(&ke.data) {
                Ok(s) => g_ir = Some(s),
                Err(_) => {
                    self.respond_notify(ctx, msg_id, NotifyType::INVALID_SYNTAX);
                    return;
                }
            }
            ker = Some(Payload::Ke(Ke::new(DhGroup(group), dh.public())));
        }
        let nr = ctx.random_vec(super::init::NONCE_LEN);
        if let Some(old) = replaces {
            // Our own rekey of the same GSA is outstanding: remember this exchange's lowest
            // nonce for the §2.8.1 decision when ours completes.
            if let Some(Pending::CreateGsa(offer)) =
                self.established_mut().and_then(|e| e.pending.as_mut())
            {
                if offer.rekey_of == Some(old) {
                    offer.collision = Some(min_nonce(&ni, &nr).to_vec());
                }
            }
        }
        let mut inner = vec![reply[0].clone(), Payload::Nonce(Nonce::new(nr.clone()))];
        inner.extend(ker);
        inner.extend(reply[1..].iter().cloned());
        // Inbound first (the dataplane can receive on it before the peer sends), then answer.
        self.install_gsa(
            ctx,
            &ni,
            &nr,
            g_ir.as_ref(),
            params,
            &suite,
            our_id,
            peer_id,
            false,
            replaces,
        );
        self.send_protected_response(ctx, ExchangeType::CREATE_CHILD_SA, msg_id, &inner);
    }

    /// Peer rekeys the IKE SA (§2.18): answer, then spawn the new SA which inherits the GSAs.
    fn on_rekey_ike_request(&mut self, ctx: &mut Ctx<'_>, msg_id: u32, req: &RekeyIkeRequest<'_>) {
        let (sa, ke) = (req.sa, req.ke);
        let ni = req.nonce.data.clone();
        // §2.8.2: if our own IKE rekey is outstanding, answer but decide who wins only when
        // our response arrives.
        let collision = matches!(
            self.established_ref().and_then(|e| e.pending.as_ref()),
            Some(Pending::RekeyIke { .. })
        );
        let (mut reply, suite, peer_spi) = match select_ike(&self.conn.ike_proposals, sa) {
            Ok(x) => x,
            Err(n) => {
                self.respond_notify(ctx, msg_id, n);
                return;
            }
        };
        let Some(peer_spi) = <[u8; 8]>::try_from(peer_spi.as_slice())
            .ok()
            .map(u64::from_be_bytes)
        else {
            self.respond_notify(ctx, msg_id, NotifyType::INVALID_SYNTAX);
            return;
        };
        if ke.group.0 != suite.dh_group {
            let n = Payload::Notify(Notify::invalid_ke_payload(DhGroup(suite.dh_group)));
            self.send_protected_response(ctx, ExchangeType::CREATE_CHILD_SA, msg_id, &[n]);
            return;
        }
        let Ok(dh) = DhKey::new(suite.dh_group, ctx.random()) else {
            self.respond_notify(ctx, msg_id, NotifyType::NO_PROPOSAL_CHOSEN);
            return;
        };
        let Ok(g_ir) = dh.shared(&ke.data) else {
            self.respond_notify(ctx, msg_id, NotifyType::INVALID_SYNTAX);
            return;
        };
        let our_spi = random_nonzero_u64(ctx.rng);
        let nr = ctx.random_vec(super::init::NONCE_LEN);
        let Some(old_keys) = self.keys.as_ref() else {
            return;
        };
        // The rekey initiator becomes the new SA's original initiator (RFC 7296 §2.18).
        let Ok(keys) = keys::derive_rekey(
            old_keys,
            suite.prf,
            suite.encr_key_bits,
            &g_ir,
            (&ni, &nr),
            (peer_spi, our_spi),
        ) else {
            self.respond_notify(ctx, msg_id, NotifyType::NO_PROPOSAL_CHOSEN);
            return;
        };
        reply.spi = our_spi.to_be_bytes().to_vec();
        let inner = vec![
            Payload::Sa(Sa::new(vec![reply])),
            Payload::Nonce(Nonce::new(nr.clone())),
            Payload::Ke(Ke::new(DhGroup(suite.dh_group), dh.public())),
        ];
        self.send_protected_response(ctx, ExchangeType::CREATE_CHILD_SA, msg_id, &inner);
        if collision {
            let lowest = min_nonce(&ni, &nr).to_vec();
            let new_id = self.spawn_rekeyed(ctx, keys, peer_spi, our_spi, false, false, &ni);
            if let (Some(e), Some(id)) = (self.established_mut(), new_id) {
                e.peer_rekey = Some((id, lowest));
            }
            // Provisional until the collision is resolved: if the peer's exchange loses, the
            // peer must delete this SA, but it may never learn that it created one (when our
            // Delete of the old SA overtakes this response, strongSwan aborts its rekey and
            // drops the SA silently). It is removed after the half-open timeout unless it
            // becomes the successor (adopt_gsas) or the peer deletes it first.
            let deadline = ctx.now + ctx.cfg.half_open_timeout;
            if let Some(new) = ctx.out.spawned.iter_mut().find(|s| Some(s.id()) == new_id) {
                new.timers.set(Timer::Expire, deadline);
            }
        } else {
            self.spawn_rekeyed(ctx, keys, peer_spi, our_spi, false, true, &ni);
        }
    }

    fn on_rekey_ike_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        new_spi: u64,
        ni: &[u8],
        dh: &DhKey,
        payloads: &[Payload],
    ) {
        let (sa, nr, ke) = match CreateChildResponse::try_from(payloads) {
            Ok(CreateChildResponse::Accepted(a)) => (a.sa, a.nonce.data.clone(), a.ke),
            Ok(CreateChildResponse::Refused(n)) => {
                self.on_rekey_ike_refused(ctx, n);
                return;
            }
            Err(e) => {
                // Malformed: the exchange fails as an unusable answer does.
                self.log(
                    ctx,
                    LogLevel::Error,
                    format!("IKE_SA rekey failed: malformed response: {e}"),
                );
                self.peer_rekey_succeeds_alone(ctx);
                return;
            }
        };
        self.complete_rekey_ike(ctx, new_spi, ni, dh, sa, nr, ke);
    }

    /// The peer answered our IKE rekey with error notify `n` (the first one).
    fn on_rekey_ike_refused(&mut self, ctx: &mut Ctx<'_>, n: NotifyType) {
        self.log(ctx, LogLevel::Warn, format!("IKE_SA rekey refused: {n:?}"));
        let collided = self
            .established_ref()
            .is_some_and(|e| e.peer_rekey.is_some());
        self.peer_rekey_succeeds_alone(ctx);
        if n == NotifyType::TEMPORARY_FAILURE && !collided {
            // §2.25: the peer is busy; the rekey timer fired once, so retry here.
            self.defer(ctx, Task::RekeyIke);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn complete_rekey_ike(
        &mut self,
        ctx: &mut Ctx<'_>,
        new_spi: u64,
        ni: &[u8],
        dh: &DhKey,
        sa: &Sa,
        nr: Vec<u8>,
        ke: Option<&crate::wire::Ke>,
    ) {
        let result = (|| {
            let (suite, spi) =
                check_ike_reply(&self.conn.ike_proposals, sa).ok_or("bad IKE rekey proposal")?;
            let peer_spi = <[u8; 8]>::try_from(spi.as_slice())
                .map(u64::from_be_bytes)
                .map_err(|_| "bad SPI")?;
            let ke = ke.ok_or("no KE")?;
            if ke.group.0 != dh.group() {
                return Err("KE group mismatch".to_string());
            }
            let g_ir = dh.shared(&ke.data).map_err(|e| e.to_string())?;
            let old = self.keys.as_ref().ok_or("no keys")?;
            let keys = keys::derive_rekey(
                old,
                suite.prf,
                suite.encr_key_bits,
                &g_ir,
                (ni, &nr),
                (new_spi, peer_spi),
            )
            .map_err(|e| e.to_string())?;
            Ok::<_, String>((keys, peer_spi, nr))
        })();
        match result {
            Ok((keys, peer_spi, nr)) => {
                let peer_rekey = self.established_mut().and_then(|e| e.peer_rekey.take());
                match peer_rekey {
                    None => {
                        self.spawn_rekeyed(ctx, keys, new_spi, peer_spi, true, true, ni);
                    }
                    Some((theirs, their_lowest)) => self.resolve_ike_collision(
                        ctx,
                        keys,
                        new_spi,
                        peer_spi,
                        ni,
                        &nr,
                        theirs,
                        &their_lowest,
                    ),
                }
            }
            Err(why) => {
                self.log(ctx, LogLevel::Error, format!("IKE_SA rekey failed: {why}"));
                self.peer_rekey_succeeds_alone(ctx);
            }
        }
    }

    /// Our IKE rekey failed while we had answered the peer's (a collision with only one
    /// result): the peer's new SA is the successor.
    fn peer_rekey_succeeds_alone(&mut self, ctx: &mut Ctx<'_>) {
        let Some((theirs, _)) = self.established_mut().and_then(|e| e.peer_rekey.take()) else {
            return;
        };
        let gsas = std::mem::take(&mut self.gsas);
        ctx.out.gsa_transfers.push((theirs.local_spi, gsas));
        self.handover(ctx, theirs, false);
    }

    /// Creates the new IKE SA of a rekey; with `inherit` it takes over the GSAs and this SA
    /// only waits for (or sends, as rekey initiator) the Delete of the old SA (RFC 7296
    /// §2.18). Returns the new SA's id.
    #[allow(clippy::too_many_arguments)]
    fn spawn_rekeyed(
        &mut self,
        ctx: &mut Ctx<'_>,
        keys: IkeKeys,
        spi_i: u64,
        spi_r: u64,
        we_initiated: bool,
        inherit: bool,
        ni: &[u8],
    ) -> Option<IkeSaId> {
        let e = self.established_ref()?;
        let uid = *ctx.uid_counter;
        *ctx.uid_counter = ctx.uid_counter.wrapping_add(1).max(1);
        let mut new = IkeSa {
            uid,
            conn: self.conn.clone(),
            local: self.local,
            remote: self.remote,
            reply_to: None,
            spi_i,
            spi_r,
            initiator: we_initiated,
            state: State::Established(Box::new(Established {
                local_id: e.local_id.clone(),
                peer_id: e.peer_id.clone(),
                gsa_capable: e.gsa_capable,
                pending: None,
                queue: VecDeque::new(),
                deleting: false,
                rekeyed_to: None,
                peer_rekey: None,
                delete_reason: None,
                deferred: Vec::new(),
            })),
            keys: Some(keys),
            iwin: InitiatorWindow::starting_at(0),
            rwin: ResponderWindow::starting_at(0),
            timers: TimerTable::default(),
            iv_counter: 0,
            gsas: Vec::new(),
            last_rx: ctx.now,
            creation_ni: ni.to_vec(),
            via_rekey: true,
            frag_ok: self.frag_ok,
            reassembler: super::Reassembler::new(super::MAX_REASSEMBLY),
        };
        new.arm_established_timers(ctx);
        let new_id = new.id();
        if inherit {
            new.gsas = std::mem::take(&mut self.gsas);
            // Work waiting on the old SA continues on the new one.
            if let (Some(old), Some(n)) = (self.established_mut(), new.established_mut()) {
                n.deferred = std::mem::take(&mut old.deferred);
                // Due at once: the housekeeping timer starts them (nothing else would run
                // the new SA's queue until a message or a far timer arrives).
                let queued = std::mem::take(&mut old.queue);
                n.deferred.extend(
                    queued
                        .into_iter()
                        .filter(|t| *t != Task::DeleteIke)
                        .map(|t| (ctx.now, t)),
                );
            }
            new.arm_housekeeping();
            self.handover(ctx, new_id, we_initiated);
        }
        ctx.out.spawned.push(new);
        Some(new_id)
    }

    /// This SA is replaced by `new_id`: stop its timers, report, and (as rekey initiator)
    /// queue the Delete of this SA.
    pub(crate) fn handover(&mut self, ctx: &mut Ctx<'_>, new_id: IkeSaId, delete_old: bool) {
        self.log(
            ctx,
            LogLevel::Info,
            format!("IKE_SA rekeyed to uid {}", new_id.uid),
        );
        ctx.out.events.push_back(Event::IkeSaRekeyed {
            old: self.id(),
            new: new_id,
        });
        self.timers.stop(Timer::Dpd);
        self.timers.stop(Timer::IkeRekey);
        if let Some(e) = self.established_mut() {
            e.rekeyed_to = Some(new_id);
            // GSA work goes on on the new SA, which inherits the GSAs (§2.18): a dropped
            // Delete would leave a GSA alive on both ends, a dropped rekey would run into the
            // hard lifetime (the soft expiry fires once).
            for t in e.queue.drain(..) {
                if matches!(
                    t,
                    Task::CreateGsa(_) | Task::RekeyGsa(_) | Task::DeleteGsa(_)
                ) {
                    ctx.out.task_transfers.push((new_id.local_spi, ctx.now, t));
                }
            }
            if delete_old {
                e.queue.push_back(Task::DeleteIke);
            }
        }
        if !delete_old {
            // The rekey initiator deletes this SA; should its Delete never come, the SA goes
            // anyway (strongSwan waits 90 s too).
            self.timers
                .set(Timer::Expire, ctx.now + REPLACED_SA_DELETE_TIMEOUT);
        }
    }

    /// Both ends rekeyed the IKE SA at once (§2.8.2). The new SA created by the exchange
    /// with the lowest of the four nonces is redundant and is deleted by its initiator; the
    /// initiator of the surviving exchange deletes the old SA.
    #[allow(clippy::too_many_arguments)]
    fn resolve_ike_collision(
        &mut self,
        ctx: &mut Ctx<'_>,
        keys: IkeKeys,
        spi_i: u64,
        spi_r: u64,
        ni: &[u8],
        nr: &[u8],
        theirs: IkeSaId,
        their_lowest: &[u8],
    ) {
        let ours_lowest = min_nonce(ni, nr);
        if nonce_lt(ours_lowest, their_lowest) {
            self.log(
                ctx,
                LogLevel::Info,
                "IKE_SA rekey collision lost: deleting our new SA",
            );
            if let Some(id) = self.spawn_rekeyed(ctx, keys, spi_i, spi_r, true, false, ni) {
                if let Some(mut redundant) = ctx.out.spawned.pop() {
                    debug_assert_eq!(redundant.id(), id);
                    if let Some(e) = redundant.established_mut() {
                        e.queue.push_back(Task::DeleteIke);
                    }
                    redundant.run_queue(ctx);
                    ctx.out.spawned.push(redundant);
                }
            }
            let gsas = std::mem::take(&mut self.gsas);
            ctx.out.gsa_transfers.push((theirs.local_spi, gsas));
            self.handover(ctx, theirs, false);
        } else {
            self.log(
                ctx,
                LogLevel::Info,
                "IKE_SA rekey collision won: deleting the old SA",
            );
            self.spawn_rekeyed(ctx, keys, spi_i, spi_r, true, true, ni);
        }
    }

    /// Retries `task` later (§2.25), on this SA or on the one that replaced it: GSA work
    /// after 0.5-2 s, an IKE rekey after 2-10 s. Our IKE rekey and the peer's GSA exchange
    /// refuse each other when they cross (§2.25 for the GSA; strongSwan's half-open rule for
    /// the IKE rekey, see `on_create_child_request`). With equal delays they cross again as often as
    /// not on a slow or lossy link; this way the GSA exchange goes first and the IKE rekey
    /// finds the peer idle. The wide IKE window is strongSwan's idea (5-15 s).
    pub(crate) fn defer(&mut self, ctx: &mut Ctx<'_>, task: Task) {
        let jitter: [u8; 2] = ctx.random();
        let jitter = u64::from(u16::from_be_bytes(jitter));
        let delay_ms = match task {
            Task::RekeyIke => 2000 + jitter % 8000,
            _ => 500 + jitter % 1500,
        };
        let at = ctx.now + std::time::Duration::from_millis(delay_ms);
        let Some(e) = self.established_mut() else {
            return;
        };
        match e.rekeyed_to {
            Some(new) => ctx.out.task_transfers.push((new.local_spi, at, task)),
            None => {
                e.deferred.push((at, task));
                self.arm_housekeeping();
            }
        }
    }

    /// Takes a task deferred on the SA this one replaced.
    pub(crate) fn accept_deferred(&mut self, at: Instant, task: Task) {
        if let Some(e) = self.established_mut() {
            e.deferred.push((at, task));
        }
        self.arm_housekeeping();
    }

    /// Moves due deferred tasks to the queue.
    fn release_deferred(&mut self, now: Instant) {
        if let Some(e) = self.established_mut() {
            let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut e.deferred)
                .into_iter()
                .partition(|(t, _)| *t <= now);
            e.deferred = later;
            for (_, task) in due {
                if !e.queue.contains(&task) {
                    e.queue.push_back(task);
                }
            }
        }
    }

    pub(crate) fn arm_established_timers(&mut self, ctx: &mut Ctx<'_>) {
        if let Some(d) = self.conn.dpd_delay {
            self.timers.set(Timer::Dpd, ctx.now + d);
        }
        if let Some(r) = self.conn.rekey_time {
            // Jitter (up to 10 % earlier) so both ends rarely rekey at once (RFC 7296 §2.8.1).
            let j: [u8; 2] = ctx.random();
            let cut = r.mul_f64(f64::from(u16::from_be_bytes(j)) / f64::from(u16::MAX) * 0.1);
            self.timers.set(Timer::IkeRekey, ctx.now + r - cut);
        }
    }

    pub(crate) fn on_ike_rekey_timer(&mut self, ctx: &mut Ctx<'_>) {
        let _ = self.rekey_ike(ctx);
    }

    /// Removes old inbound GSAs whose grace period is over.
    pub(crate) fn on_housekeeping(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now;
        self.release_deferred(now);
        let id = self.id();
        let (gone, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.gsas)
            .into_iter()
            .partition(|g| g.remove_at.is_some_and(|t| t <= now));
        self.gsas = keep;
        for g in gone {
            ctx.out.events.push_back(Event::GsaRemove {
                ike: id,
                inbound: g.inbound_id,
                outbound: g.outbound_id,
            });
        }
        self.arm_housekeeping();
    }

    pub(crate) fn arm_housekeeping(&mut self) {
        let deferred = self
            .established_ref()
            .and_then(|e| e.deferred.iter().map(|(t, _)| *t).min());
        let removals = self.gsas.iter().filter_map(|g| g.remove_at).min();
        let next = match (deferred, removals) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        match next {
            Some(t) => self.timers.set(Timer::Housekeeping, t),
            None => self.timers.stop(Timer::Housekeeping),
        }
    }

    pub(crate) fn on_peer_dead(&mut self, ctx: &mut Ctx<'_>) {
        self.log(
            ctx,
            LogLevel::Warn,
            format!(
                "peer {} did not answer: closing (dpd_action {:?})",
                self.remote, self.conn.dpd_action
            ),
        );
        self.go_down(ctx, DownReason::PeerDead);
        if self.conn.dpd_action == crate::config::DpdAction::Restart {
            ctx.out
                .restart
                .push((self.conn.name.clone(), self.local, self.remote));
        }
    }
}
