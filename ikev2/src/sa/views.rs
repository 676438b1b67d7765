//! Typed, borrowed views of the messages the engine acts on, one per (exchange, direction),
//! as rustls has one type per handshake message. Each is built by `TryFrom<&[Payload]>` from
//! the IKE_SA_INIT payloads or the decrypted (reassembled) SK contents, and the handlers read
//! only the view's fields, never the payload list.
//!
//! Building a view enforces RFC 7296 §3 / §1.2-§1.4 presence and multiplicity:
//! 1. the per-exchange table of [`rules`] (maximum counts always: a duplicated singleton such
//!    as two SA, Nonce, KE, TSi, IDi or AUTH is an error, never first- or last-wins);
//! 2. the shape of the message kind (required payloads, e.g. TSi and TSr for a new GSA,
//!    KE for an IKE SA rekey).
//!
//! Payloads the exchange does not use (an AUTH in CREATE_CHILD_SA, a CERTREQ in an IKE_AUTH
//! response) are ignored, not refused: the codec understands every type in [`Payload`], and
//! the critical bit only obliges a receiver to refuse payloads it does not understand
//! (RFC 7296 §2.5); unknown critical payloads are already refused by the codec with
//! UNSUPPORTED_CRITICAL_PAYLOAD. Being ignored, they cannot influence any handler.
//!
//! A failed view of a request is answered with [`ViewError::notify_type`] (INVALID_SYNTAX,
//! RFC 7296 §2.21.3, §3.10.1); a failed view of a response fails the exchange.

use crate::wire::rules::{self, RuleViolation};
use crate::wire::{
    Auth, Cert, CertReq, Delete, ExchangeType, HashAlgorithm, Id, Ke, Nonce, Notify, NotifyType,
    Payload, PayloadType, Sa, Ts, VendorId,
};

/// Why a message does not have the shape of its kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ViewError {
    /// The exchange's table: too many of a payload type (or too few, or encrypted contents
    /// where there should be none).
    #[error(transparent)]
    Rule(#[from] RuleViolation),
    /// A payload this message kind requires is absent.
    #[error("{kind}: {ty} payload missing")]
    Missing { kind: &'static str, ty: PayloadType },
    /// A notify that may appear once appears more than once.
    #[error("{kind}: {ty:?} notify more than once")]
    DuplicateNotify { kind: &'static str, ty: NotifyType },
}

impl ViewError {
    /// The notify answering a request whose view failed: INVALID_SYNTAX for every
    /// shape error (RFC 7296 §2.21.3: a malformed request after authentication is answered,
    /// and INVALID_SYNTAX is the catch-all of §3.10.1).
    pub fn notify_type(&self) -> NotifyType {
        NotifyType::INVALID_SYNTAX
    }
}

impl From<&ViewError> for NotifyType {
    fn from(e: &ViewError) -> Self {
        e.notify_type()
    }
}

/// At most one payload of a kind, the table having checked the count.
fn one<'a, T>(
    payloads: &'a [Payload],
    pick: impl Fn(&'a Payload) -> Option<&'a T>,
) -> Option<&'a T> {
    payloads.iter().find_map(pick)
}

fn all<'a, T>(payloads: &'a [Payload], pick: impl Fn(&'a Payload) -> Option<&'a T>) -> Vec<&'a T> {
    payloads.iter().filter_map(pick).collect()
}

fn required<T>(v: Option<T>, kind: &'static str, ty: PayloadType) -> Result<T, ViewError> {
    v.ok_or(ViewError::Missing { kind, ty })
}

fn notifies(payloads: &[Payload]) -> Vec<&Notify> {
    all(payloads, |p| match p {
        Payload::Notify(n) => Some(n),
        _ => None,
    })
}

/// The one notify of type `ty`, if any; twice is an error (a singleton notify such as
/// COOKIE or REKEY_SA, RFC 7296 §2.6, §1.3.3).
fn single_notify<'a>(
    list: &[&'a Notify],
    ty: NotifyType,
    kind: &'static str,
) -> Result<Option<&'a Notify>, ViewError> {
    let mut it = list.iter().filter(|n| n.ty == ty);
    let first = it.next().copied();
    if it.next().is_some() {
        return Err(ViewError::DuplicateNotify { kind, ty });
    }
    Ok(first)
}

/// The first error notify (types below 16384, RFC 7296 §3.10.1).
fn first_error(list: &[&Notify]) -> Option<NotifyType> {
    list.iter().map(|n| n.ty).find(|t| t.is_error())
}

fn sa(p: &Payload) -> Option<&Sa> {
    match p {
        Payload::Sa(s) => Some(s),
        _ => None,
    }
}
fn ke(p: &Payload) -> Option<&Ke> {
    match p {
        Payload::Ke(k) => Some(k),
        _ => None,
    }
}
fn nonce(p: &Payload) -> Option<&Nonce> {
    match p {
        Payload::Nonce(n) => Some(n),
        _ => None,
    }
}
fn tsi(p: &Payload) -> Option<&Ts> {
    match p {
        Payload::TsI(t) => Some(t),
        _ => None,
    }
}
fn tsr(p: &Payload) -> Option<&Ts> {
    match p {
        Payload::TsR(t) => Some(t),
        _ => None,
    }
}
fn auth(p: &Payload) -> Option<&Auth> {
    match p {
        Payload::Auth(a) => Some(a),
        _ => None,
    }
}
fn idi(p: &Payload) -> Option<&Id> {
    match p {
        Payload::IdI(i) => Some(i),
        _ => None,
    }
}
fn idr(p: &Payload) -> Option<&Id> {
    match p {
        Payload::IdR(i) => Some(i),
        _ => None,
    }
}
fn cert(p: &Payload) -> Option<&Cert> {
    match p {
        Payload::Cert(c) => Some(c),
        _ => None,
    }
}
fn certreq(p: &Payload) -> Option<&CertReq> {
    match p {
        Payload::CertReq(c) => Some(c),
        _ => None,
    }
}
fn vendor_id(p: &Payload) -> Option<&VendorId> {
    match p {
        Payload::VendorId(v) => Some(v),
        _ => None,
    }
}
fn delete(p: &Payload) -> Option<&Delete> {
    match p {
        Payload::Delete(d) => Some(d),
        _ => None,
    }
}

/// What a peer announces in its IKE_SA_INIT message (status notifies, Vendor IDs, CERTREQ).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcements<'a> {
    pub notifies: Vec<&'a Notify>,
    pub vendor_ids: Vec<&'a VendorId>,
    pub certreqs: Vec<&'a CertReq>,
}

impl<'a> Announcements<'a> {
    fn of(payloads: &'a [Payload]) -> Self {
        Self {
            notifies: notifies(payloads),
            vendor_ids: all(payloads, vendor_id),
            certreqs: all(payloads, certreq),
        }
    }

    pub fn has(&self, ty: NotifyType) -> bool {
        self.notifies.iter().any(|n| n.ty == ty)
    }

    /// The nvesec Vendor ID (DESIGN.md "GSA negotiation").
    pub fn gsa_vid(&self) -> bool {
        self.vendor_ids.iter().any(|v| v.is_nvesec_gsa())
    }

    /// SIGNATURE_HASH_ALGORITHMS (RFC 7427 §4); empty when absent or unreadable.
    pub fn hashes(&self) -> Vec<HashAlgorithm> {
        self.notifies
            .iter()
            .find(|n| n.ty == NotifyType::SIGNATURE_HASH_ALGORITHMS)
            .and_then(|n| n.hash_algorithms().ok())
            .unwrap_or_default()
    }
}

/// `HDR, [N(COOKIE)], SAi1, KEi, Ni, [N+], [V+]` (RFC 7296 §1.2, §2.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IkeSaInitRequest<'a> {
    pub sa: &'a Sa,
    pub ke: &'a Ke,
    pub nonce: &'a Nonce,
    pub cookie: Option<&'a Notify>,
    pub announced: Announcements<'a>,
}

impl<'a> TryFrom<&'a [Payload]> for IkeSaInitRequest<'a> {
    type Error = ViewError;

    fn try_from(payloads: &'a [Payload]) -> Result<Self, ViewError> {
        const KIND: &str = "IKE_SA_INIT request";
        rules::check_payloads(ExchangeType::IKE_SA_INIT, false, payloads)?;
        let announced = Announcements::of(payloads);
        Ok(Self {
            sa: required(one(payloads, sa), KIND, PayloadType::SA)?,
            ke: required(one(payloads, ke), KIND, PayloadType::KE)?,
            nonce: required(one(payloads, nonce), KIND, PayloadType::NONCE)?,
            cookie: single_notify(&announced.notifies, NotifyType::COOKIE, KIND)?,
            announced,
        })
    }
}

/// `HDR, SAr1, KEr, Nr, [CERTREQ], [N+], [V+]`, or one of the answers that end or restart the
/// exchange (RFC 7296 §1.2, §2.6, §1.3 INVALID_KE_PAYLOAD, §2.21.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IkeSaInitResponse<'a> {
    /// `N(COOKIE)`: send the request again with it (§2.6).
    Cookie(&'a Notify),
    /// `N(INVALID_KE_PAYLOAD)`: retry with the group it names (§1.3).
    InvalidKe(&'a Notify),
    /// Another error notify (NO_PROPOSAL_CHOSEN, ...): the exchange failed.
    Refused(NotifyType),
    Accepted(IkeSaInitAccepted<'a>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IkeSaInitAccepted<'a> {
    pub sa: &'a Sa,
    pub ke: &'a Ke,
    pub nonce: &'a Nonce,
    pub announced: Announcements<'a>,
}

impl<'a> TryFrom<&'a [Payload]> for IkeSaInitResponse<'a> {
    type Error = ViewError;

    fn try_from(payloads: &'a [Payload]) -> Result<Self, ViewError> {
        const KIND: &str = "IKE_SA_INIT response";
        // Counts first: a duplicated SA is malformed even next to an error notify.
        rules::check_payloads(ExchangeType::IKE_SA_INIT, true, payloads)?;
        let announced = Announcements::of(payloads);
        if let Some(c) = single_notify(&announced.notifies, NotifyType::COOKIE, KIND)? {
            return Ok(Self::Cookie(c));
        }
        if let Some(n) = single_notify(&announced.notifies, NotifyType::INVALID_KE_PAYLOAD, KIND)? {
            return Ok(Self::InvalidKe(n));
        }
        if let Some(n) = first_error(&announced.notifies) {
            return Ok(Self::Refused(n));
        }
        Ok(Self::Accepted(IkeSaInitAccepted {
            sa: required(one(payloads, sa), KIND, PayloadType::SA)?,
            ke: required(one(payloads, ke), KIND, PayloadType::KE)?,
            nonce: required(one(payloads, nonce), KIND, PayloadType::NONCE)?,
            announced,
        }))
    }
}

/// SA, TSi and TSr of a GSA riding in IKE_AUTH or CREATE_CHILD_SA; each at most once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChildPayloads<'a> {
    pub sa: Option<&'a Sa>,
    pub tsi: Option<&'a Ts>,
    pub tsr: Option<&'a Ts>,
}

impl<'a> ChildPayloads<'a> {
    fn of(payloads: &'a [Payload]) -> Self {
        Self {
            sa: one(payloads, sa),
            tsi: one(payloads, tsi),
            tsr: one(payloads, tsr),
        }
    }
}

/// `HDR, SK{IDi, [CERT+], [N(INITIAL_CONTACT)], [CERTREQ+], [IDr], AUTH, [SA, TSi, TSr],
/// [N+]}` (RFC 7296 §1.2; SA/TSi/TSr optional for childless IKE_AUTH, RFC 6023).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IkeAuthRequest<'a> {
    pub idi: &'a Id,
    /// The responder identity the initiator wants to talk to (§3.5); not used by nvesec.
    pub idr: Option<&'a Id>,
    pub auth: &'a Auth,
    /// The initiator's chain, end-entity first (§3.6).
    pub certs: Vec<&'a Cert>,
    pub certreqs: Vec<&'a CertReq>,
    pub child: ChildPayloads<'a>,
    pub notifies: Vec<&'a Notify>,
}

impl IkeAuthRequest<'_> {
    /// INITIAL_CONTACT (§2.4).
    pub fn initial_contact(&self) -> bool {
        self.notifies
            .iter()
            .any(|n| n.ty == NotifyType::INITIAL_CONTACT)
    }
}

impl<'a> TryFrom<&'a [Payload]> for IkeAuthRequest<'a> {
    type Error = ViewError;

    fn try_from(payloads: &'a [Payload]) -> Result<Self, ViewError> {
        const KIND: &str = "IKE_AUTH request";
        rules::check_payloads(ExchangeType::IKE_AUTH, false, payloads)?;
        Ok(Self {
            idi: required(one(payloads, idi), KIND, PayloadType::IDI)?,
            idr: one(payloads, idr),
            auth: required(one(payloads, auth), KIND, PayloadType::AUTH)?,
            certs: all(payloads, cert),
            certreqs: all(payloads, certreq),
            child: ChildPayloads::of(payloads),
            notifies: notifies(payloads),
        })
    }
}

/// `HDR, SK{IDr, [CERT+], AUTH, [SA, TSi, TSr | N(error)], [N+]}`, or `SK{N(error)}` alone
/// (RFC 7296 §1.2, §2.21.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IkeAuthResponse<'a> {
    /// No AUTH, an error notify (AUTHENTICATION_FAILED, ...): the IKE SA failed.
    Refused(NotifyType),
    Accepted(IkeAuthAccepted<'a>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IkeAuthAccepted<'a> {
    pub idr: &'a Id,
    pub auth: &'a Auth,
    pub certs: Vec<&'a Cert>,
    pub child: ChildPayloads<'a>,
    /// The first error notify: the GSA was refused, the IKE SA stands (§2.21.2).
    pub child_error: Option<NotifyType>,
    pub notifies: Vec<&'a Notify>,
}

impl<'a> TryFrom<&'a [Payload]> for IkeAuthResponse<'a> {
    type Error = ViewError;

    fn try_from(payloads: &'a [Payload]) -> Result<Self, ViewError> {
        const KIND: &str = "IKE_AUTH response";
        rules::check_payloads(ExchangeType::IKE_AUTH, true, payloads)?;
        let notifies = notifies(payloads);
        let child_error = first_error(&notifies);
        let Some(auth) = one(payloads, auth) else {
            return match child_error {
                Some(n) => Ok(Self::Refused(n)),
                None => Err(ViewError::Missing {
                    kind: KIND,
                    ty: PayloadType::AUTH,
                }),
            };
        };
        Ok(Self::Accepted(IkeAuthAccepted {
            idr: required(one(payloads, idr), KIND, PayloadType::IDR)?,
            auth,
            certs: all(payloads, cert),
            child: ChildPayloads::of(payloads),
            child_error,
            notifies,
        }))
    }
}

/// A CREATE_CHILD_SA request (RFC 7296 §1.3): a new GSA, a GSA rekey, or an IKE SA rekey,
/// told apart by the protocol of the SA payload's proposals (§1.3.2) and REKEY_SA (§1.3.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateChildRequest<'a> {
    /// `SK{[N(REKEY_SA)], SA, Ni, [KEi], TSi, TSr}`.
    Gsa(GsaRequest<'a>),
    /// `SK{SA(IKE), Ni, KEi}`; TSi/TSr and REKEY_SA have no meaning here and are ignored.
    RekeyIke(RekeyIkeRequest<'a>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GsaRequest<'a> {
    pub sa: &'a Sa,
    pub nonce: &'a Nonce,
    /// PFS (§1.3.1).
    pub ke: Option<&'a Ke>,
    pub tsi: &'a Ts,
    pub tsr: &'a Ts,
    /// The GSA being rekeyed, by the initiator's inbound SPI (§1.3.3).
    pub rekey: Option<&'a Notify>,
    pub notifies: Vec<&'a Notify>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RekeyIkeRequest<'a> {
    pub sa: &'a Sa,
    pub nonce: &'a Nonce,
    pub ke: &'a Ke,
    pub notifies: Vec<&'a Notify>,
}

impl<'a> TryFrom<&'a [Payload]> for CreateChildRequest<'a> {
    type Error = ViewError;

    fn try_from(payloads: &'a [Payload]) -> Result<Self, ViewError> {
        const KIND: &str = "CREATE_CHILD_SA request";
        rules::check_payloads(ExchangeType::CREATE_CHILD_SA, false, payloads)?;
        let sa = required(one(payloads, sa), KIND, PayloadType::SA)?;
        let nonce = required(one(payloads, nonce), KIND, PayloadType::NONCE)?;
        let notifies = notifies(payloads);
        let is_ike = sa
            .proposals
            .iter()
            .any(|p| p.protocol == crate::wire::ProtocolId::IKE);
        if is_ike {
            return Ok(Self::RekeyIke(RekeyIkeRequest {
                sa,
                nonce,
                ke: required(one(payloads, ke), KIND, PayloadType::KE)?,
                notifies,
            }));
        }
        Ok(Self::Gsa(GsaRequest {
            sa,
            nonce,
            ke: one(payloads, ke),
            tsi: required(one(payloads, tsi), KIND, PayloadType::TSI)?,
            tsr: required(one(payloads, tsr), KIND, PayloadType::TSR)?,
            rekey: single_notify(&notifies, NotifyType::REKEY_SA, KIND)?,
            notifies,
        }))
    }
}

/// `SK{SA, Nr, [KEr], [TSi, TSr], [N+]}`, or `SK{N(error)}` (RFC 7296 §1.3). Whether KE and
/// TSi/TSr are needed depends on our request; the handler checks that.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateChildResponse<'a> {
    /// The first error notify (NO_PROPOSAL_CHOSEN, TEMPORARY_FAILURE, ...), which wins over
    /// anything else in the message.
    Refused(NotifyType),
    Accepted(CreateChildAccepted<'a>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateChildAccepted<'a> {
    pub sa: &'a Sa,
    pub nonce: &'a Nonce,
    pub ke: Option<&'a Ke>,
    pub child: ChildPayloads<'a>,
    pub notifies: Vec<&'a Notify>,
}

impl<'a> TryFrom<&'a [Payload]> for CreateChildResponse<'a> {
    type Error = ViewError;

    fn try_from(payloads: &'a [Payload]) -> Result<Self, ViewError> {
        const KIND: &str = "CREATE_CHILD_SA response";
        rules::check_payloads(ExchangeType::CREATE_CHILD_SA, true, payloads)?;
        let notifies = notifies(payloads);
        if let Some(n) = first_error(&notifies) {
            return Ok(Self::Refused(n));
        }
        Ok(Self::Accepted(CreateChildAccepted {
            sa: required(one(payloads, sa), KIND, PayloadType::SA)?,
            nonce: required(one(payloads, nonce), KIND, PayloadType::NONCE)?,
            ke: one(payloads, ke),
            child: ChildPayloads::of(payloads),
            notifies,
        }))
    }
}

/// `SK{[N+], [D+]}`; empty is a liveness check (RFC 7296 §1.4, §2.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InformationalRequest<'a> {
    pub deletes: Vec<&'a Delete>,
    pub notifies: Vec<&'a Notify>,
}

impl InformationalRequest<'_> {
    /// Nothing to act on: a liveness check (§2.4), answered empty.
    pub fn is_liveness(&self) -> bool {
        self.deletes.is_empty() && self.notifies.is_empty()
    }

    /// The IKE_AUTH initiator refused our AUTH after all (§2.21.2).
    pub fn auth_failed(&self) -> bool {
        self.notifies
            .iter()
            .any(|n| n.ty == NotifyType::AUTHENTICATION_FAILED)
    }
}

impl<'a> TryFrom<&'a [Payload]> for InformationalRequest<'a> {
    type Error = ViewError;

    fn try_from(payloads: &'a [Payload]) -> Result<Self, ViewError> {
        rules::check_payloads(ExchangeType::INFORMATIONAL, false, payloads)?;
        Ok(Self {
            deletes: all(payloads, delete),
            notifies: notifies(payloads),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{AuthMethod, DhGroup, IdType, Proposal, ProtocolId, TrafficSelector};

    fn sa_of(protocol: ProtocolId) -> Payload {
        Payload::Sa(Sa::new(vec![Proposal::new(1, protocol, vec![], vec![])]))
    }
    fn ke() -> Payload {
        Payload::Ke(Ke::new(DhGroup::CURVE25519, vec![1; 32]))
    }
    fn nonce(b: u8) -> Payload {
        Payload::Nonce(Nonce::new(vec![b; 32]))
    }
    fn n(ty: NotifyType) -> Payload {
        Payload::Notify(Notify::new(ty, vec![]))
    }
    fn ts() -> Ts {
        Ts {
            selectors: vec![TrafficSelector::Geneve(crate::wire::GeneveSelector {
                vni_start: 1,
                vni_end: 9,
                protocol_start: 0,
                protocol_end: 0xffff,
            })],
        }
    }
    fn id() -> Id {
        Id::new(IdType(2), b"a.nve".to_vec())
    }
    fn auth() -> Payload {
        Payload::Auth(Auth::new(AuthMethod::SHARED_KEY_MIC, vec![3; 32]))
    }

    /// `base` is accepted; with any one of `singletons` doubled it is refused; without any one
    /// of `required` it is refused.
    fn check<'a, V>(base: &[Payload], singletons: &[Payload], required: &[PayloadType])
    where
        V: TryFrom<&'a [Payload], Error = ViewError> + 'a,
    {
        let leak = |v: Vec<Payload>| -> &'a [Payload] { Box::leak(v.into_boxed_slice()) };
        assert!(V::try_from(leak(base.to_vec())).is_ok(), "valid {base:?}");
        for p in singletons {
            let mut twice = base.to_vec();
            twice.push(p.clone());
            match V::try_from(leak(twice)) {
                Err(ViewError::Rule(RuleViolation::TooMany { ty, max: 1, got: 2 })) => {
                    assert_eq!(ty, p.payload_type())
                }
                Err(ViewError::DuplicateNotify { .. }) => {}
                Err(e) => panic!("two {:?}: {e}", p.payload_type()),
                Ok(_) => panic!("two {:?} accepted", p.payload_type()),
            }
        }
        for ty in required {
            let without: Vec<_> = base
                .iter()
                .filter(|p| p.payload_type() != *ty)
                .cloned()
                .collect();
            let e = V::try_from(leak(without)).err();
            assert!(e.is_some(), "accepted without {ty:?}");
            assert_eq!(e.unwrap().notify_type(), NotifyType::INVALID_SYNTAX);
        }
    }

    #[test]
    fn ike_sa_init_request() {
        let base = [
            sa_of(ProtocolId::IKE),
            ke(),
            nonce(1),
            n(NotifyType::COOKIE),
        ];
        let singletons = [
            sa_of(ProtocolId::IKE),
            ke(),
            nonce(2),
            n(NotifyType::COOKIE),
        ];
        let req = [PayloadType::SA, PayloadType::KE, PayloadType::NONCE];
        check::<IkeSaInitRequest<'_>>(&base, &singletons, &req);
        let v = IkeSaInitRequest::try_from(&base[..]).unwrap();
        assert_eq!(v.nonce.data, [1; 32]);
        assert!(v.cookie.is_some());
        // An SK payload has no place in IKE_SA_INIT (RFC 7296 §3.14).
        let sk = Payload::Sk(crate::wire::Sk::placeholder(PayloadType::NONE, 25));
        let with_sk = [sa_of(ProtocolId::IKE), ke(), nonce(1), sk];
        assert!(IkeSaInitRequest::try_from(&with_sk[..]).is_err());
    }

    #[test]
    fn ike_sa_init_response_shapes() {
        let base = [sa_of(ProtocolId::IKE), ke(), nonce(1)];
        let req = [PayloadType::SA, PayloadType::KE, PayloadType::NONCE];
        check::<IkeSaInitResponse<'_>>(&base, &base, &req);
        let shape = |p: &[Payload]| match IkeSaInitResponse::try_from(p) {
            Ok(IkeSaInitResponse::Cookie(_)) => "cookie",
            Ok(IkeSaInitResponse::InvalidKe(_)) => "invalid-ke",
            Ok(IkeSaInitResponse::Refused(_)) => "refused",
            Ok(IkeSaInitResponse::Accepted(_)) => "accepted",
            Err(_) => "error",
        };
        assert_eq!(shape(&base), "accepted");
        assert_eq!(shape(&[n(NotifyType::COOKIE)]), "cookie");
        assert_eq!(shape(&[n(NotifyType::INVALID_KE_PAYLOAD)]), "invalid-ke");
        assert_eq!(shape(&[n(NotifyType::NO_PROPOSAL_CHOSEN)]), "refused");
        // A status notify alone is no answer; an error notify does not excuse two SA.
        assert_eq!(shape(&[n(NotifyType::CHILDLESS_IKEV2_SUPPORTED)]), "error");
        let two_sa = [
            n(NotifyType::NO_PROPOSAL_CHOSEN),
            sa_of(ProtocolId::IKE),
            sa_of(ProtocolId::IKE),
        ];
        assert_eq!(shape(&two_sa), "error");
    }

    #[test]
    fn ike_auth_request() {
        let base = [
            Payload::IdI(id()),
            Payload::Cert(Cert::x509(vec![1])),
            Payload::Cert(Cert::x509(vec![2])),
            n(NotifyType::INITIAL_CONTACT),
            auth(),
            sa_of(ProtocolId::GSA),
            Payload::TsI(ts()),
            Payload::TsR(ts()),
        ];
        let singletons = [
            Payload::IdI(id()),
            Payload::IdR(id()),
            auth(),
            sa_of(ProtocolId::GSA),
            Payload::TsI(ts()),
            Payload::TsR(ts()),
        ];
        // IDr at most once: once is fine, twice (IDr is added by `check` on top) is not.
        let mut with_idr = base.to_vec();
        with_idr.push(Payload::IdR(id()));
        check::<IkeAuthRequest<'_>>(
            &with_idr,
            &singletons,
            &[PayloadType::IDI, PayloadType::AUTH],
        );
        let v = IkeAuthRequest::try_from(&base[..]).unwrap();
        assert_eq!(v.certs.len(), 2, "CERT payloads are a list, in order");
        assert_eq!(v.certs[0].data, [1]);
        assert!(v.initial_contact());
        assert!(v.child.sa.is_some() && v.child.tsi.is_some() && v.child.tsr.is_some());
        // Childless (RFC 6023).
        let childless = [Payload::IdI(id()), auth()];
        assert_eq!(
            IkeAuthRequest::try_from(&childless[..]).unwrap().child,
            ChildPayloads::default()
        );
    }

    #[test]
    fn ike_auth_response() {
        let base = [
            Payload::IdR(id()),
            auth(),
            sa_of(ProtocolId::GSA),
            Payload::TsI(ts()),
            Payload::TsR(ts()),
        ];
        let singletons = [
            Payload::IdR(id()),
            auth(),
            sa_of(ProtocolId::GSA),
            Payload::TsI(ts()),
        ];
        check::<IkeAuthResponse<'_>>(&base, &singletons, &[PayloadType::IDR, PayloadType::AUTH]);
        let failed = [n(NotifyType::AUTHENTICATION_FAILED)];
        assert_eq!(
            IkeAuthResponse::try_from(&failed[..]),
            Ok(IkeAuthResponse::Refused(NotifyType::AUTHENTICATION_FAILED))
        );
        // AUTH with a refused GSA: the IKE SA stands (RFC 7296 §2.21.2).
        let gsa_refused = [Payload::IdR(id()), auth(), n(NotifyType::TS_UNACCEPTABLE)];
        match IkeAuthResponse::try_from(&gsa_refused[..]) {
            Ok(IkeAuthResponse::Accepted(a)) => {
                assert_eq!(a.child_error, Some(NotifyType::TS_UNACCEPTABLE))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn create_child_request_kinds() {
        let rekey = Payload::Notify(Notify::rekey_sa(ProtocolId::GSA, vec![0, 0, 0, 7]));
        let gsa = [
            rekey.clone(),
            sa_of(ProtocolId::GSA),
            nonce(1),
            ke(),
            Payload::TsI(ts()),
            Payload::TsR(ts()),
        ];
        let singletons = [
            rekey,
            sa_of(ProtocolId::GSA),
            nonce(2),
            ke(),
            Payload::TsI(ts()),
            Payload::TsR(ts()),
        ];
        let req = [
            PayloadType::SA,
            PayloadType::NONCE,
            PayloadType::TSI,
            PayloadType::TSR,
        ];
        check::<CreateChildRequest<'_>>(&gsa, &singletons, &req);
        match CreateChildRequest::try_from(&gsa[..]).unwrap() {
            CreateChildRequest::Gsa(g) => {
                assert_eq!(g.rekey.unwrap().spi, [0, 0, 0, 7]);
                assert_eq!(g.nonce.data, [1; 32]);
                assert!(g.ke.is_some());
            }
            other => panic!("{other:?}"),
        }
        // IKE SA rekey: KE required, TS not needed (RFC 7296 §1.3.2).
        let ike = [sa_of(ProtocolId::IKE), nonce(1), ke()];
        let req = [PayloadType::SA, PayloadType::NONCE, PayloadType::KE];
        check::<CreateChildRequest<'_>>(&ike, &[sa_of(ProtocolId::IKE), nonce(2), ke()], &req);
        assert!(matches!(
            CreateChildRequest::try_from(&ike[..]),
            Ok(CreateChildRequest::RekeyIke(_))
        ));
        // A payload CREATE_CHILD_SA has no use for is ignored (RFC 7296 §2.5).
        let mut odd = ike.to_vec();
        odd.push(auth());
        assert!(CreateChildRequest::try_from(&odd[..]).is_ok());
    }

    #[test]
    fn create_child_response() {
        let base = [
            sa_of(ProtocolId::GSA),
            nonce(1),
            ke(),
            Payload::TsI(ts()),
            Payload::TsR(ts()),
        ];
        let singletons = [
            sa_of(ProtocolId::GSA),
            nonce(2),
            ke(),
            Payload::TsI(ts()),
            Payload::TsR(ts()),
        ];
        check::<CreateChildResponse<'_>>(
            &base,
            &singletons,
            &[PayloadType::SA, PayloadType::NONCE],
        );
        let busy = [n(NotifyType::TEMPORARY_FAILURE)];
        assert_eq!(
            CreateChildResponse::try_from(&busy[..]),
            Ok(CreateChildResponse::Refused(NotifyType::TEMPORARY_FAILURE))
        );
        // Two Nonce next to an error notify is still malformed.
        let bad = [n(NotifyType::NO_PROPOSAL_CHOSEN), nonce(1), nonce(2)];
        assert!(CreateChildResponse::try_from(&bad[..]).is_err());
    }

    #[test]
    fn informational_request() {
        let empty: [Payload; 0] = [];
        assert!(InformationalRequest::try_from(&empty[..])
            .unwrap()
            .is_liveness());
        let dels = [
            Payload::Delete(Delete::spis_u32(ProtocolId::GSA, &[1])),
            Payload::Delete(Delete::spis_u32(ProtocolId::GSA, &[2])),
        ];
        let v = InformationalRequest::try_from(&dels[..]).unwrap();
        assert_eq!(v.deletes.len(), 2);
        assert!(!v.is_liveness() && !v.auth_failed());
        let af = [n(NotifyType::AUTHENTICATION_FAILED)];
        assert!(InformationalRequest::try_from(&af[..])
            .unwrap()
            .auth_failed());
    }
}
