//! One module per payload type (RFC 7296 §3.3-§3.14, RFC 7383), and the [`Payload`] enum that
//! ties them to the generic payload header.

pub mod auth;
pub mod cert;
pub mod certreq;
pub mod delete;
pub mod id;
pub mod ke;
pub mod nonce;
pub mod notify;
pub mod sa;
pub mod sk;
pub mod skf;
pub mod ts;
pub mod vendor;

pub use auth::Auth;
pub use cert::Cert;
pub use certreq::CertReq;
pub use delete::Delete;
pub use id::Id;
pub use ke::Ke;
pub use nonce::Nonce;
pub use notify::Notify;
pub use sa::{Attribute, Proposal, Sa, Transform};
pub use sk::{sk_ranges, strip_padding, Sk, SkRanges};
pub use skf::{split_inner, FragmentParams, Reassembler, Reassembly, ReassemblyError, Skf};
pub use ts::{GeneveSelector, TrafficSelector, Ts};
pub use vendor::{VendorId, NVESEC_GSA_VID};

use super::enums::PayloadType;
use super::error::Error;
use super::payload::{emit_payload, RawPayload};

/// A typed payload. Unknown non-critical payloads are kept as [`Payload::Unknown`] (the engine
/// skips them; keeping them makes parse and build symmetric); unknown critical ones never get
/// here: parsing fails with [`Error::UnsupportedCriticalPayload`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    Sa(Sa),
    Ke(Ke),
    IdI(Id),
    IdR(Id),
    Cert(Cert),
    CertReq(CertReq),
    Auth(Auth),
    Nonce(Nonce),
    Notify(Notify),
    Delete(Delete),
    VendorId(VendorId),
    TsI(Ts),
    TsR(Ts),
    Sk(Sk),
    Skf(Skf),
    /// A payload type we do not interpret, received without the critical bit.
    Unknown {
        ty: PayloadType,
        body: Vec<u8>,
    },
}

impl Payload {
    pub fn payload_type(&self) -> PayloadType {
        match self {
            Payload::Sa(_) => PayloadType::SA,
            Payload::Ke(_) => PayloadType::KE,
            Payload::IdI(_) => PayloadType::IDI,
            Payload::IdR(_) => PayloadType::IDR,
            Payload::Cert(_) => PayloadType::CERT,
            Payload::CertReq(_) => PayloadType::CERTREQ,
            Payload::Auth(_) => PayloadType::AUTH,
            Payload::Nonce(_) => PayloadType::NONCE,
            Payload::Notify(_) => PayloadType::NOTIFY,
            Payload::Delete(_) => PayloadType::DELETE,
            Payload::VendorId(_) => PayloadType::VENDOR_ID,
            Payload::TsI(_) => PayloadType::TSI,
            Payload::TsR(_) => PayloadType::TSR,
            Payload::Sk(_) => PayloadType::SK,
            Payload::Skf(_) => PayloadType::SKF,
            Payload::Unknown { ty, .. } => *ty,
        }
    }

    /// True for SK and SKF.
    pub fn is_encrypted(&self) -> bool {
        matches!(self, Payload::Sk(_) | Payload::Skf(_))
    }

    /// Types this codec interprets; anything else is "unknown" for the critical-bit rule.
    pub fn is_supported_type(ty: PayloadType) -> bool {
        (PayloadType::SA.0..=PayloadType::SK.0).contains(&ty.0) || ty == PayloadType::SKF
    }

    /// Types a sender may not use for [`Payload::Unknown`] (NONE and the ones we interpret).
    fn check_unknown_type(ty: PayloadType) -> Result<(), Error> {
        if ty == PayloadType::NONE || Self::is_supported_type(ty) {
            return Err(Error::InvalidValue {
                what: "Unknown payload with a known type",
            });
        }
        Ok(())
    }

    /// Types one raw payload, applying the critical-bit rule (RFC 7296 §2.5).
    pub fn from_raw(raw: &RawPayload<'_>) -> Result<Self, Error> {
        let b = raw.body;
        Ok(match raw.ty {
            PayloadType::SA => Payload::Sa(Sa::parse(b)?),
            PayloadType::KE => Payload::Ke(Ke::parse(b)?),
            PayloadType::IDI => Payload::IdI(Id::parse(b)?),
            PayloadType::IDR => Payload::IdR(Id::parse(b)?),
            PayloadType::CERT => Payload::Cert(Cert::parse(b)?),
            PayloadType::CERTREQ => Payload::CertReq(CertReq::parse(b)?),
            PayloadType::AUTH => Payload::Auth(Auth::parse(b)?),
            PayloadType::NONCE => Payload::Nonce(Nonce::parse(b)?),
            PayloadType::NOTIFY => Payload::Notify(Notify::parse(b)?),
            PayloadType::DELETE => Payload::Delete(Delete::parse(b)?),
            PayloadType::VENDOR_ID => Payload::VendorId(VendorId::parse(b)?),
            PayloadType::TSI => Payload::TsI(Ts::parse(b)?),
            PayloadType::TSR => Payload::TsR(Ts::parse(b)?),
            PayloadType::SK => Payload::Sk(Sk::parse(raw.next, b)?),
            PayloadType::SKF => Payload::Skf(Skf::parse(raw.next, b)?),
            ty if raw.critical => return Err(Error::UnsupportedCriticalPayload(ty)),
            ty => Payload::Unknown {
                ty,
                body: b.to_vec(),
            },
        })
    }

    /// Appends this payload with its generic header; `next` is the following payload's type
    /// (ignored for SK/SKF, whose Next Payload names the first inner payload).
    pub fn emit(&self, next: PayloadType, out: &mut Vec<u8>) -> Result<(), Error> {
        let next = match self {
            Payload::Sk(sk) => sk.next_payload,
            Payload::Skf(f) => f.next_payload,
            _ => next,
        };
        emit_payload(out, next, |out| self.emit_body(out))
    }

    fn emit_body(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        match self {
            Payload::Sa(p) => p.emit_body(out),
            Payload::Ke(p) => p.emit_body(out),
            Payload::IdI(p) | Payload::IdR(p) => p.emit_body(out),
            Payload::Cert(p) => p.emit_body(out),
            Payload::CertReq(p) => p.emit_body(out),
            Payload::Auth(p) => p.emit_body(out),
            Payload::Nonce(p) => p.emit_body(out),
            Payload::Notify(p) => p.emit_body(out),
            Payload::Delete(p) => p.emit_body(out),
            Payload::VendorId(p) => p.emit_body(out),
            Payload::TsI(p) | Payload::TsR(p) => p.emit_body(out),
            Payload::Sk(p) => p.emit_body(out),
            Payload::Skf(p) => p.emit_body(out),
            Payload::Unknown { ty, body } => {
                Self::check_unknown_type(*ty)?;
                out.extend_from_slice(body);
                Ok(())
            }
        }
    }
}
