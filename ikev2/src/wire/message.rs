//! Whole IKE messages (RFC 7296 §3.1) and decrypted SK contents (§3.14).

use super::enums::PayloadType;
use super::error::Error;
use super::header::{HeaderView, IkeHeader, HEADER_LEN};
use super::payload::PayloadIter;
use super::payloads::sk::check_length;
use super::payloads::Payload;

/// Upper bound on a message we build or accept (strongSwan's charon.max_packet is 10000; the
/// Length field itself allows more, but no IKE message needs it).
pub const MAX_MESSAGE_LEN: usize = 65_535;

/// A parsed or to-be-built IKE message: header fields plus typed payloads in wire order.
/// An encrypted message ends with [`Payload::Sk`] or [`Payload::Skf`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub header: IkeHeader,
    pub payloads: Vec<Payload>,
}

impl Message {
    pub fn new(header: IkeHeader, payloads: Vec<Payload>) -> Self {
        Self { header, payloads }
    }

    /// Parses a whole datagram (without the non-ESP marker, see [`crate::wire::natt`]).
    /// The header Length must equal the datagram size; unknown critical payloads fail with
    /// [`Error::UnsupportedCriticalPayload`]; SK/SKF must be last.
    pub fn parse(datagram: &[u8]) -> Result<Self, Error> {
        let header = IkeHeader::parse(datagram)?;
        let view = HeaderView::new_checked(datagram)?;
        check_length(view.length(), datagram.len())?;
        if datagram.len() > MAX_MESSAGE_LEN {
            return Err(Error::BadLength {
                what: "message",
                len: datagram.len(),
            });
        }
        let payloads = parse_chain(view.next_payload(), &datagram[HEADER_LEN..])?;
        Ok(Self { header, payloads })
    }

    /// Emits the exact bytes: header with computed Next Payload and Length, then the chain.
    pub fn to_bytes(&self) -> Result<Vec<u8>, Error> {
        let (first, chain) = encode_chain(&self.payloads, true)?;
        let total = HEADER_LEN + chain.len();
        if total > MAX_MESSAGE_LEN {
            return Err(Error::TooLarge { what: "message" });
        }
        let mut out = Vec::with_capacity(total);
        // total <= MAX_MESSAGE_LEN, so it fits in u32.
        self.header.emit(first, total as u32, &mut out);
        out.extend_from_slice(&chain);
        Ok(out)
    }

    /// Builds a message that ends with an SK/SKF placeholder (see [`super::payloads::Sk::placeholder`])
    /// and returns the bytes with the AEAD ranges to encrypt in place.
    pub fn to_bytes_with_sk_ranges(
        &self,
        iv_len: usize,
        icv_len: usize,
    ) -> Result<(Vec<u8>, super::payloads::SkRanges), Error> {
        let bytes = self.to_bytes()?;
        let ranges = super::payloads::sk_ranges(&bytes, iv_len, icv_len)?;
        Ok((bytes, ranges))
    }

    /// The trailing SK payload, if any.
    pub fn sk(&self) -> Option<&super::payloads::Sk> {
        match self.payloads.last() {
            Some(Payload::Sk(sk)) => Some(sk),
            _ => None,
        }
    }

    /// The trailing SKF payload, if any.
    pub fn skf(&self) -> Option<&super::payloads::Skf> {
        match self.payloads.last() {
            Some(Payload::Skf(f)) => Some(f),
            _ => None,
        }
    }

    /// The first notify of type `ty`.
    pub fn notify(&self, ty: super::enums::NotifyType) -> Option<&super::payloads::Notify> {
        self.notifies().find(|n| n.ty == ty)
    }

    /// The notifies of the message, in order.
    pub fn notifies(&self) -> impl Iterator<Item = &super::payloads::Notify> {
        self.payloads.iter().filter_map(|p| match p {
            Payload::Notify(n) => Some(n),
            _ => None,
        })
    }
}

fn parse_chain(first: PayloadType, chain: &[u8]) -> Result<Vec<Payload>, Error> {
    PayloadIter::new(first, chain)
        .map(|raw| Payload::from_raw(&raw?))
        .collect()
}

/// Parses decrypted, unpadded SK contents whose first payload type is the SK header's Next
/// Payload. SK/SKF inside are refused (RFC 7296 §3.14).
pub fn parse_inner(first: PayloadType, plaintext: &[u8]) -> Result<Vec<Payload>, Error> {
    if first == PayloadType::SK || first == PayloadType::SKF {
        return Err(Error::NestedEncrypted);
    }
    let payloads = parse_chain(first, plaintext)?;
    if payloads.iter().any(Payload::is_encrypted) {
        return Err(Error::NestedEncrypted);
    }
    Ok(payloads)
}

/// Encodes payloads to go inside an SK: returns the first payload type (for the SK header's
/// Next Payload, NONE if empty) and the chain bytes (to pad and encrypt).
pub fn encode_inner(payloads: &[Payload]) -> Result<(PayloadType, Vec<u8>), Error> {
    encode_chain(payloads, false)
}

/// Encodes a chain; SK/SKF allowed only as the last element and only when `outer`.
fn encode_chain(payloads: &[Payload], outer: bool) -> Result<(PayloadType, Vec<u8>), Error> {
    let mut out = Vec::new();
    for (i, p) in payloads.iter().enumerate() {
        let last = i + 1 == payloads.len();
        if p.is_encrypted() && !outer {
            return Err(Error::NestedEncrypted);
        }
        if p.is_encrypted() && !last {
            return Err(Error::EncryptedNotLast);
        }
        let next = payloads
            .get(i + 1)
            .map_or(PayloadType::NONE, Payload::payload_type);
        p.emit(next, &mut out)?;
    }
    let first = payloads
        .first()
        .map_or(PayloadType::NONE, Payload::payload_type);
    Ok((first, out))
}
