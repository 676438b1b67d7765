//! INFORMATIONAL exchanges with Delete payloads (RFC 7296 §1.4.1, §3.11):
//!
//! ```text
//! SK{D(GSA, our inbound GSA-IDs)} -->  <-- SK{D(GSA, the peer's inbound GSA-IDs)}
//! SK{D(IKE)}                      -->  <-- SK{}
//! SK{}  (liveness check, see dpd.rs)
//! SK{N(AUTHENTICATION_FAILED)}    -->  <-- SK{}   (IKE_AUTH initiator refused us, §2.21.2)
//! ```

use super::events::{DownReason, Event, LogLevel};
use super::rekey::Pending;
use super::views::InformationalRequest;
use super::{Ctx, Gsa, IkeSa, State};
use crate::wire::{Delete, ExchangeType, NotifyType, Payload, ProtocolId};

impl IkeSa {
    pub(crate) fn start_delete_gsa(&mut self, ctx: &mut Ctx<'_>, inbound: u32) -> Option<Pending> {
        if !self
            .gsas
            .iter()
            .any(|g| g.inbound_id == inbound && g.remove_at.is_none())
        {
            return None;
        }
        let d = Payload::Delete(Delete::spis_u32(ProtocolId::GSA, &[inbound]));
        self.log(ctx, LogLevel::Info, format!("deleting GSA {inbound:08x}_i"));
        self.send_protected_request(ctx, ExchangeType::INFORMATIONAL, &[d])
            .then_some(Pending::DeleteGsa(vec![inbound]))
    }

    pub(crate) fn start_delete_ike(&mut self, ctx: &mut Ctx<'_>) -> Option<Pending> {
        let d = Payload::Delete(Delete::ike());
        self.log(ctx, LogLevel::Info, "deleting IKE_SA");
        if !self.send_protected_request(ctx, ExchangeType::INFORMATIONAL, &[d]) {
            return None;
        }
        if let State::Established(e) = &mut self.state {
            e.deleting = true;
        }
        Some(Pending::DeleteIke)
    }

    /// Our Delete for GSAs was answered: the peer no longer sends on them, but packets may be
    /// in flight, so the inbound side goes after the grace period; a redundant GSA of a lost
    /// collision, on which the peer never sent, goes now.
    pub(crate) fn on_delete_gsa_response(&mut self, ctx: &mut Ctx<'_>, ids: &[u32]) {
        let grace = ctx.now + ctx.cfg.rekeyed_inbound_grace;
        for g in self.gsas.iter_mut().filter(|g| ids.contains(&g.inbound_id)) {
            g.remove_at = Some(if g.redundant { ctx.now } else { grace });
        }
        // Removes what is due now (the redundant ones) and arms the timer for the rest.
        self.on_housekeeping(ctx);
    }

    pub(crate) fn on_delete_ike_response(&mut self, ctx: &mut Ctx<'_>) {
        let reason = match &self.state {
            State::Established(e) => match (e.rekeyed_to, &e.delete_reason) {
                (Some(new), _) => DownReason::Rekeyed { new },
                (None, Some(r)) => r.clone(),
                (None, None) => DownReason::DeletedLocally,
            },
            _ => DownReason::DeletedLocally,
        };
        self.go_down(ctx, reason);
    }

    /// Peer's INFORMATIONAL request: Deletes, or an empty liveness check.
    pub(crate) fn on_informational_request(
        &mut self,
        ctx: &mut Ctx<'_>,
        msg_id: u32,
        req: &InformationalRequest<'_>,
    ) {
        if req.auth_failed() {
            self.on_peer_auth_failed(ctx, msg_id);
            return;
        }
        let mut delete_ike = false;
        let mut gone_out = Vec::new();
        for d in &req.deletes {
            if d.protocol == ProtocolId::IKE {
                delete_ike = true;
            } else if d.protocol == ProtocolId::GSA {
                gone_out.extend(d.u32_spis().unwrap_or_default());
            }
        }
        if delete_ike {
            self.send_protected_response(ctx, ExchangeType::INFORMATIONAL, msg_id, &[]);
            self.log(ctx, LogLevel::Info, "received DELETE for IKE_SA");
            // Collision (§2.8.2) where the peer's SA won and its Delete overtook our own
            // rekey response: the GSAs belong to the peer's new SA.
            let theirs = match &mut self.state {
                State::Established(e) => e.peer_rekey.take().map(|(t, _)| t),
                _ => None,
            };
            if let Some(theirs) = theirs {
                let gsas = std::mem::take(&mut self.gsas);
                ctx.out.gsa_transfers.push((theirs.local_spi, gsas));
                // Reported like every rekey (IkeSaRekeyed), so the daemon moves its GSA
                // bookkeeping to the new SA.
                self.handover(ctx, theirs, false);
            }
            let reason = match &self.state {
                State::Established(e) => match e.rekeyed_to {
                    Some(new) => DownReason::Rekeyed { new },
                    None => DownReason::DeletedByPeer,
                },
                _ => DownReason::DeletedByPeer,
            };
            self.go_down(ctx, reason);
            return;
        }
        // The peer's SPIs are its inbound GSA-IDs = our outbound ones. Answer with our inbound
        // IDs of the same GSAs (RFC 7296 §1.4.1).
        let id = self.id();
        let (gone, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.gsas)
            .into_iter()
            .partition(|g| gone_out.contains(&g.outbound_id));
        let mut ours = Vec::new();
        for g in &gone {
            ours.push(g.inbound_id);
            // Make-before-break, responder side: the GSA that replaced this one now carries
            // our outbound traffic; or the newest of its line, when we rekeyed that successor
            // again before the peer's Delete came (its outbound never went live: switching
            // to it would bring back a GSA we are deleting).
            if let Some(new) = newest_successor(&keep, g.inbound_id) {
                ctx.out.events.push_back(Event::GsaSwitchOutbound {
                    ike: id,
                    from: g.outbound_id,
                    to: new.outbound_id,
                });
            }
            ctx.out.events.push_back(Event::GsaRemove {
                ike: id,
                inbound: g.inbound_id,
                outbound: g.outbound_id,
            });
        }
        self.gsas = keep;
        let resp = if ours.is_empty() {
            Vec::new()
        } else {
            self.log(
                ctx,
                LogLevel::Info,
                format!("peer deleted GSAs {ours:08x?}_i"),
            );
            vec![Payload::Delete(Delete::spis_u32(ProtocolId::GSA, &ours))]
        };
        self.send_protected_response(ctx, ExchangeType::INFORMATIONAL, msg_id, &resp);
    }

    /// The IKE_AUTH initiator rejected our AUTH after we had established the SA and told us
    /// in a separate INFORMATIONAL (RFC 7296 §2.21.2; strongSwan's
    /// `send_auth_failed_informational`): the SA never was mutually authenticated, drop it.
    fn on_peer_auth_failed(&mut self, ctx: &mut Ctx<'_>, msg_id: u32) {
        self.send_protected_response(ctx, ExchangeType::INFORMATIONAL, msg_id, &[]);
        let reason = "peer refused our authentication (AUTHENTICATION_FAILED in INFORMATIONAL)";
        self.log(ctx, LogLevel::Error, reason);
        ctx.out.events.push_back(Event::AuthFailed {
            ike: self.id(),
            conn: self.conn.name.clone(),
            notify: NotifyType::AUTHENTICATION_FAILED,
            reason: reason.into(),
        });
        self.go_down(ctx, DownReason::AuthFailed);
    }
}

/// The last GSA in the line of rekeys that starts with the successor of `inbound`.
fn newest_successor(gsas: &[Gsa], inbound: u32) -> Option<&Gsa> {
    let mut newest = gsas.iter().find(|n| n.replaced == Some(inbound))?;
    // Bounded: a line is at most as long as the list (guards against a cycle).
    for _ in 0..gsas.len() {
        match gsas.iter().find(|n| n.replaced == Some(newest.inbound_id)) {
            Some(next) => newest = next,
            None => break,
        }
    }
    Some(newest)
}
