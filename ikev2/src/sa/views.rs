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
