//! IKE_AUTH (RFC 7296 §1.2, §2.15; RFC 6023 childless; RFC 7427 signatures):
//!
//! ```text
//! HDR, SK{IDi, [CERT+], [N(INITIAL_CONTACT)], [CERTREQ], AUTH, [SA(GSA), TSi, TSr]}  -->
//!            <--  HDR, SK{IDr, [CERT+], AUTH, [SA(GSA), TSi, TSr | N(TS_UNACCEPTABLE) | ...]}
//!            <--  HDR, SK{N(AUTHENTICATION_FAILED)}
//! ```
//! The first GSA rides in IKE_AUTH only when both sides sent the nvesec Vendor ID; otherwise
//! (strongSwan) the IKE SA is childless and GSAs follow with CREATE_CHILD_SA. A GSA failure
//! does not fail the IKE SA (RFC 7296 §2.21.2).

use super::child::{self, ChildOffer};
use super::events::{DownReason, Event, LogLevel};
use super::init::Handshake;
use super::keys;
use super::proposal::GsaSuite;
use super::signature;
use super::timer::Timer;
use super::views::{IkeAuthRequest, IkeAuthResponse};
use super::{Ctx, Established, Gsa, IkeSa, State};
use crate::config::AuthError;
use crate::config::{ChildlessPolicy, Credential, Identity, PeerAuthMethod};
use crate::endpoint::random_nonzero_u32;
use crate::wire::{
    Auth, AuthMethod, Cert, CertReq, ExchangeType, Id, IdType, Notify, NotifyType, Payload,
};

/// Initiator: IKE_AUTH request outstanding.
#[derive(Debug)]
pub(crate) struct AuthSent {
    hs: Handshake,
    local_id: Identity,
    child: Option<ChildOffer>,
}

fn id_payload(id: &Identity) -> Id {
    Id::new(IdType(id.id_type()), id.data())
}

impl IkeSa {
    /// Our AUTH payload. `real_message` is our IKE_SA_INIT message, `peer_nonce` the peer's.
    fn build_auth(
        &self,
        hs: &Handshake,
        real_message: &[u8],
        peer_nonce: &[u8],
        id: &Id,
    ) -> Result<Auth, AuthError> {
        let keys = self.keys.as_ref().ok_or(AuthError::BadAuth)?;
        let octets = keys::signed_octets(
            keys,
            self.initiator,
            real_message,
            peer_nonce,
            &id.body_bytes(),
        );
        match &self.conn.local.credential {
            Credential::Psk(psk) => Ok(Auth::new(
                AuthMethod::SHARED_KEY_MIC,
                keys::psk_auth(keys, psk.as_bytes(), &octets),
            )),
            Credential::Signature { signer, .. } => {
                let data = signature::auth_data(signer.as_ref(), &hs.peer_hashes, &octets)?;
                Ok(Auth::new(AuthMethod::DIGITAL_SIGNATURE, data))
            }
        }
    }

    /// Verifies the peer's AUTH and identity; returns the authenticated identity.
    fn verify_peer(
        &self,
        ctx: &Ctx<'_>,
        hs: &Handshake,
        id: &Id,
        auth: &Auth,
        certs: &[&Cert],
    ) -> Result<Identity, AuthError> {
        let peer_id =
            Identity::from_wire(id.id_type.0, &id.data).ok_or(AuthError::IdentityNotAllowed)?;
        if !self.conn.remote.id.matches(&peer_id) {
            return Err(AuthError::IdentityNotAllowed);
        }
        let keys = self.keys.as_ref().ok_or(AuthError::BadAuth)?;
        // The peer signed its own IKE_SA_INIT message and our nonce.
        let (real, our_nonce) = if self.initiator {
            (&hs.init_response, &hs.ni)
        } else {
            (&hs.init_request, &hs.nr)
        };
        let octets = keys::signed_octets(keys, !self.initiator, real, our_nonce, &id.body_bytes());
        match &self.conn.remote.method {
            PeerAuthMethod::Psk(psk) => {
                if auth.method != AuthMethod::SHARED_KEY_MIC {
                    return Err(AuthError::WrongMethod("expected PSK"));
                }
                if !keys::verify_psk_auth(keys, psk.as_bytes(), &octets, &auth.data) {
                    return Err(AuthError::BadAuth);
                }
            }
            PeerAuthMethod::Certificate(authenticator) => {
                if auth.method != AuthMethod::DIGITAL_SIGNATURE {
                    return Err(AuthError::WrongMethod("expected digital signature (14)"));
                }
                if certs.is_empty() {
                    return Err(AuthError::NoCertificate);
                }
                let chain: Vec<Vec<u8>> = certs.iter().map(|c| c.data.clone()).collect();
                let key = signature::verify_peer_chain(
                    authenticator.as_ref(),
                    &chain,
                    &peer_id,
                    ctx.wall,
                )?;
                signature::verify_auth_data(&key, &auth.data, &octets)?;
            }
        }
        Ok(peer_id)
    }

    fn cert_payloads(&self) -> Vec<Payload> {
        match &self.conn.local.credential {
            Credential::Signature { chain, .. } => chain
                .iter()
                .map(|der| Payload::Cert(Cert::x509(der.clone())))
                .collect(),
            Credential::Psk(_) => Vec::new(),
        }
    }

    /// Initiator, after IKE_SA_INIT: sends IKE_AUTH (message ID 1).
    pub(crate) fn start_auth(&mut self, ctx: &mut Ctx<'_>, hs: Handshake) {
        self.log(
            ctx,
            LogLevel::Debug,
            format!(
                "peer capabilities: gsa-vid {} childless {} fragmentation {} certreq {} hashes {:?}",
                hs.peer_gsa_vid, hs.peer_childless, hs.peer_fragmentation, hs.peer_certreq, hs.peer_hashes
            ),
        );
        let local_id = self.conn.local.id.clone();
        let idi = id_payload(&local_id);
        let auth = match self.build_auth(&hs, &hs.init_request, &hs.nr, &idi) {
            Ok(a) => a,
            Err(e) => {
                self.log(ctx, LogLevel::Error, format!("cannot build AUTH: {e}"));
                self.go_down(ctx, DownReason::AuthFailed);
                return;
            }
        };
        let child = self.first_child_offer(ctx, &hs);
        let mut inner = vec![Payload::IdI(idi)];
        inner.extend(self.cert_payloads());
        if self.conn.send_initial_contact && !ctx.parallel_sa {
            inner.push(Payload::Notify(Notify::new(
                NotifyType::INITIAL_CONTACT,
                Vec::new(),
            )));
        }
        if self.conn.send_certreq
            && matches!(self.conn.remote.method, PeerAuthMethod::Certificate(_))
        {
            inner.push(Payload::CertReq(CertReq::x509(
                &self.conn.certreq_ca_hashes,
            )));
        }
        inner.push(Payload::Auth(auth));
        if let Some(offer) = &child {
            let (sa, tsi, tsr) = offer.payloads();
            inner.extend([sa, tsi, tsr]);
        }
        if !self.send_protected_request(ctx, ExchangeType::IKE_AUTH, &inner) {
            self.go_down(
                ctx,
                DownReason::NegotiationFailed("cannot build IKE_AUTH".into()),
            );
            return;
        }
        self.log(
            ctx,
            LogLevel::Info,
            format!(
                "sending IKE_AUTH ({})",
                if child.is_some() {
                    "with GSA"
                } else {
                    "childless"
                }
            ),
        );
        self.state = State::AuthSent(Box::new(AuthSent {
            hs,
            local_id,
            child,
        }));
    }

    /// RFC 6023 and DESIGN.md: the first GSA rides in IKE_AUTH only with a peer that sent our
    /// Vendor ID (it knows Protocol 201), unless the connection forces childless.
    fn first_child_offer(&self, ctx: &mut Ctx<'_>, hs: &Handshake) -> Option<ChildOffer> {
        let cfg = self.conn.children.first()?;
        let childless_ok = hs.peer_childless;
        let want =
            hs.peer_gsa_vid && (self.conn.childless != ChildlessPolicy::Force || !childless_ok);
        if !want {
            return None;
        }
        Some(ChildOffer {
            cfg: cfg.clone(),
            // IKE_AUTH SAs carry no D-H transform (RFC 7296 §1.2).
            suite: GsaSuite::from_config(cfg, false),
            inbound_id: self.fresh_gsa_id(ctx),
            ni: None,
            dh: None,
            rekey_of: None,
            collision: None,
        })
    }

    pub(crate) fn fresh_gsa_id(&self, ctx: &mut Ctx<'_>) -> u32 {
        // Test-only hostile-peer knob (EngineConfig::test_force_inbound_gsa_id).
        if let Some(id) = ctx.cfg.test_force_inbound_gsa_id {
            return id;
        }
        loop {
            let id = random_nonzero_u32(ctx.rng);
            if !self.has_gsa(id) {
                return id;
            }
        }
    }

    /// Responder: the IKE_AUTH request, its payloads checked (RFC 7296 §1.2).
    pub(crate) fn on_auth_request(
        &mut self,
        ctx: &mut Ctx<'_>,
        msg_id: u32,
        req: &IkeAuthRequest<'_>,
    ) {
        let State::HalfOpen(ho) = std::mem::replace(&mut self.state, State::Dead) else {
            return;
        };
        let hs = ho.hs;
        let peer_id = match self.verify_peer(ctx, &hs, req.idi, req.auth, &req.certs) {
            Ok(id) => id,
            Err(e) => {
                self.state = State::HalfOpen(Box::new(super::init::HalfOpen { hs }));
                self.auth_failed(ctx, Some(msg_id), e);
                return;
            }
        };
        let local_id = self.conn.local.id.clone();
        let idr = id_payload(&local_id);
        let auth = match self.build_auth(&hs, &hs.init_response, &hs.ni, &idr) {
            Ok(a) => a,
            Err(e) => {
                self.state = State::HalfOpen(Box::new(super::init::HalfOpen { hs }));
                self.auth_failed(ctx, Some(msg_id), e);
                return;
            }
        };
        let mut inner = vec![Payload::IdR(idr)];
        inner.extend(self.cert_payloads());
        inner.push(Payload::Auth(auth));
        let gsa_capable = hs.peer_gsa_vid;
        let mut new_gsa = None;
        let mut refusal = None;
        if let Some(sa) = req.child.sa {
            let our_id = self.fresh_gsa_id(ctx);
            let result = if !gsa_capable {
                Err(child::Refusal {
                    notify: NotifyType::NO_PROPOSAL_CHOSEN,
                    reason: "peer did not announce GSA support".into(),
                })
            } else {
                match (req.child.tsi, req.child.tsr) {
                    (Some(tsi), Some(tsr)) => {
                        child::respond(&self.conn.children, sa, tsi, tsr, our_id, false)
                    }
                    _ => Err(child::Refusal {
                        notify: NotifyType::TS_UNACCEPTABLE,
                        reason: "SA without TSi/TSr".into(),
                    }),
                }
            };
            match result {
                Ok((reply, params, suite, peer_gsa)) => {
                    inner.extend(reply);
                    new_gsa = Some((params, suite, our_id, peer_gsa));
                }
                Err(r) => {
                    inner.push(Payload::Notify(Notify::new(r.notify, Vec::new())));
                    refusal = Some(r);
                }
            }
        }
        self.send_protected_response(ctx, ExchangeType::IKE_AUTH, msg_id, &inner);
        self.timers.stop(Timer::Expire);
        if req.initial_contact() {
            self.log(ctx, LogLevel::Info, "peer sent INITIAL_CONTACT");
            ctx.out.initial_contact.push(self.local_spi());
        }
        self.established(ctx, local_id, peer_id, gsa_capable);
        if let Some(r) = refusal {
            let name = self
                .conn
                .children
                .first()
                .map_or("?".into(), |c| c.name.clone());
            self.refuse_gsa(ctx, &name, r);
        }
        if let Some((params, suite, our_id, peer_gsa)) = new_gsa {
            self.install_gsa(
                ctx, &hs.ni, &hs.nr, None, params, &suite, our_id, peer_gsa, false, None,
            );
        }
    }

    /// Initiator: the IKE_AUTH response.
    pub(crate) fn on_auth_response(&mut self, ctx: &mut Ctx<'_>, payloads: &[Payload]) {
        let State::AuthSent(st) = std::mem::replace(&mut self.state, State::Dead) else {
            return;
        };
        let st = *st;
        let refused = match IkeAuthResponse::try_from(payloads) {
            Ok(IkeAuthResponse::Accepted(a)) => Ok(a),
            Ok(IkeAuthResponse::Refused(n)) => {
                Err((n, format!("peer refused IKE_AUTH with {n:?}")))
            }
            // Malformed (a duplicated IDr or AUTH, no AUTH and no error notify): the exchange
            // fails as a refusal does; nothing in it is used.
            Err(e) => Err((
                NotifyType::AUTHENTICATION_FAILED,
                format!("malformed IKE_AUTH response: {e}"),
            )),
        };
        let p = match refused {
            Ok(p) => p,
            Err((n, reason)) => {
                self.state = State::AuthSent(Box::new(st));
                self.log(ctx, LogLevel::Error, reason.clone());
                ctx.out.events.push_back(Event::AuthFailed {
                    ike: self.id(),
                    conn: self.conn.name.clone(),
                    notify: n,
                    reason,
                });
                self.go_down(ctx, DownReason::AuthFailed);
                return;
            }
        };
        let peer_id = match self.verify_peer(ctx, &st.hs, p.idr, p.auth, &p.certs) {
            Ok(id) => id,
            Err(e) => {
                self.state = State::AuthSent(Box::new(st));
                self.auth_failed(ctx, None, e);
                return;
            }
        };
        self.established(ctx, st.local_id.clone(), peer_id, st.hs.peer_gsa_vid);
        let Some(offer) = st.child else {
            return;
        };
        if let Some(n) = p.child_error {
            self.refuse_gsa(
                ctx,
                &offer.cfg.name,
                child::Refusal {
                    notify: n,
                    reason: "peer refused the GSA".into(),
                },
            );
            return;
        }
        match child::complete(&offer, p.child.sa, p.child.tsi, p.child.tsr) {
            Ok((peer_gsa, sel)) => {
                let params = child::params_for(&offer.cfg, &offer.suite, sel);
                self.install_gsa(
                    ctx,
                    &st.hs.ni,
                    &st.hs.nr,
                    None,
                    params,
                    &offer.suite,
                    offer.inbound_id,
                    peer_gsa,
                    true,
                    None,
                );
            }
            Err(why) => self.refuse_gsa(
                ctx,
                &offer.cfg.name,
                child::Refusal {
                    notify: NotifyType::NO_PROPOSAL_CHOSEN,
                    reason: why,
                },
            ),
        }
    }

    fn auth_failed(&mut self, ctx: &mut Ctx<'_>, respond_to: Option<u32>, e: AuthError) {
        signature::count_refusal(ctx.out, &e);
        let reason = e.to_string();
        self.log(
            ctx,
            LogLevel::Error,
            format!("authentication failed: {reason}"),
        );
        let n = Payload::Notify(Notify::new(NotifyType::AUTHENTICATION_FAILED, Vec::new()));
        match respond_to {
            // RFC 7296 §2.21.2: the responder answers with AUTHENTICATION_FAILED alone.
            Some(msg_id) => self.send_protected_response(ctx, ExchangeType::IKE_AUTH, msg_id, &[n]),
            // The initiator rejects the responder's AUTH (or certificate) after the responder
            // already considers the SA established: §2.21.2 lets it say so "in a separate
            // INFORMATIONAL exchange". strongSwan does and relies on it (otherwise it keeps a
            // dangling ESTABLISHED SA until DPD); like strongSwan we send it once, without
            // waiting for the answer (go_down below abandons the request).
            None => {
                self.send_protected_request(ctx, ExchangeType::INFORMATIONAL, &[n]);
            }
        }
        ctx.out.events.push_back(Event::AuthFailed {
            ike: self.id(),
            conn: self.conn.name.clone(),
            notify: NotifyType::AUTHENTICATION_FAILED,
            reason,
        });
        self.go_down(ctx, DownReason::AuthFailed);
    }

    pub(crate) fn refuse_gsa(&mut self, ctx: &mut Ctx<'_>, child: &str, r: child::Refusal) {
        self.log(
            ctx,
            LogLevel::Warn,
            format!("GSA {child} refused ({:?}): {}", r.notify, r.reason),
        );
        ctx.out.events.push_back(Event::GsaRefused {
            ike: self.id(),
            child: child.to_owned(),
            notify: r.notify,
            reason: r.reason,
        });
    }

    fn established(&mut self, ctx: &mut Ctx<'_>, local_id: Identity, peer_id: Identity, gsa: bool) {
        self.log(
            ctx,
            LogLevel::Info,
            format!(
                "IKE_SA {}[{}] established between {}[{}]...{}[{}]",
                self.conn.name, self.uid, self.local, local_id, self.remote, peer_id
            ),
        );
        ctx.out.events.push_back(Event::IkeSaUp {
            ike: self.id(),
            conn: self.conn.name.clone(),
            local_id: local_id.clone(),
            peer_id: peer_id.clone(),
            local: self.local,
            remote: self.remote,
            initiator: self.initiator,
            gsa_capable: gsa,
        });
        self.state = State::Established(Box::new(Established {
            local_id,
            peer_id,
            gsa_capable: gsa,
            pending: None,
            queue: Default::default(),
            deleting: false,
            rekeyed_to: None,
            peer_rekey: None,
            delete_reason: None,
            deferred: Vec::new(),
        }));
        self.arm_established_timers(ctx);
    }

    /// Derives and announces a GSA pair (inbound first, make-before-break).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn install_gsa(
        &mut self,
        ctx: &mut Ctx<'_>,
        ni: &[u8],
        nr: &[u8],
        g_ir: Option<&super::keys::Secret>,
        params: super::events::GsaParams,
        suite: &GsaSuite,
        inbound_id: u32,
        outbound_id: u32,
        we_initiated: bool,
        replaces: Option<u32>,
    ) {
        let Some(keys) = self.keys.as_ref() else {
            return;
        };
        let (inbound, outbound) = match child::derive_keys(
            keys,
            suite,
            g_ir,
            ni,
            nr,
            we_initiated,
            inbound_id,
            outbound_id,
        ) {
            Ok(k) => k,
            Err(e) => {
                self.log(
                    ctx,
                    LogLevel::Error,
                    format!("GSA key derivation failed: {e}"),
                );
                return;
            }
        };
        // The rekey initiator switches outbound at once; the responder waits for the Delete
        // of the old GSA (RFC 7296 §2.8).
        let outbound_active = replaces.is_none() || we_initiated;
        self.log(
            ctx,
            LogLevel::Info,
            format!(
                "GSA {} established with GSA-IDs {:08x}_i {:08x}_o",
                params.name, inbound_id, outbound_id
            ),
        );
        ctx.out.events.push_back(Event::GsaInstall {
            ike: self.id(),
            params: params.clone(),
            inbound,
            outbound,
            outbound_active,
            replaces,
        });
        self.gsas.push(Gsa {
            params,
            inbound_id,
            outbound_id,
            nonces: (ni.to_vec(), nr.to_vec()),
            remove_at: None,
            created_by_us: we_initiated,
            replaced: replaces,
            redundant: false,
        });
    }
}
