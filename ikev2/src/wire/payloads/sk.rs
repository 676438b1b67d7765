//! Encrypted payload SK (RFC 7296 §3.14) as an envelope: `generic header | IV | ciphertext |
//! ICV`. The cryptography lives in `crate::crypto`; this module only draws the boundaries.
//!
//! With AES-GCM (RFC 5282 §5.1) the AAD runs from the first octet of the IKE header to the last
//! octet of the SK generic header (for SKF: through Fragment Number / Total Fragments, RFC 7383
//! §2.5), so the header Length must be final first. To send: build the message with
//! [`Sk::placeholder`] sized `iv + plaintext + icv`, call [`sk_ranges`] on the bytes and encrypt
//! in place. To receive: [`sk_ranges`] on the datagram, decrypt, [`strip_padding`], then
//! [`crate::wire::parse_inner`] with [`SkRanges::first_inner`].

use core::ops::Range;

use crate::wire::enums::PayloadType;
use crate::wire::error::Error;
use crate::wire::header::{HeaderView, IkeHeader, HEADER_LEN};
use crate::wire::payload::{PayloadIter, GENERIC_HEADER_LEN};

/// SKF adds Fragment Number (2) and Total Fragments (2) after the generic header.
pub const SKF_EXTRA_LEN: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sk {
    /// Type of the first payload inside (the SK header's Next Payload), NONE if empty.
    pub next_payload: PayloadType,
    /// IV || ciphertext || ICV.
    pub data: Vec<u8>,
}

impl Sk {
    pub fn new(next_payload: PayloadType, data: Vec<u8>) -> Self {
        Self { next_payload, data }
    }

    /// Zero-filled envelope of `len` bytes (IV + padded plaintext + ICV) to encrypt in place.
    pub fn placeholder(next_payload: PayloadType, len: usize) -> Self {
        Self::new(next_payload, vec![0; len])
    }

    pub fn parse(next_payload: PayloadType, body: &[u8]) -> Result<Self, Error> {
        Ok(Self::new(next_payload, body.to_vec()))
    }

    pub fn emit_body(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        out.extend_from_slice(&self.data);
        Ok(())
    }
}

/// Where the pieces of the SK/SKF payload sit in a whole datagram (no non-ESP marker).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkRanges {
    /// IKE header through the end of the SK (or SKF) header: the AEAD associated data.
    pub aad: Range<usize>,
    pub iv: Range<usize>,
    /// Encrypted `inner payloads | padding | Pad Length`.
    pub ciphertext: Range<usize>,
    pub icv: Range<usize>,
    /// First inner payload type (SKF: only meaningful in fragment 1).
    pub first_inner: PayloadType,
    /// `(Fragment Number, Total Fragments)` for SKF.
    pub fragment: Option<(u16, u16)>,
}

/// Finds the SK or SKF payload of `datagram` (which must be a whole IKE message, header Length
/// equal to its size) and splits it into AAD, IV, ciphertext and ICV of the given sizes.
/// The ciphertext must hold at least the Pad Length octet.
pub fn sk_ranges(datagram: &[u8], iv_len: usize, icv_len: usize) -> Result<SkRanges, Error> {
    IkeHeader::parse(datagram)?;
    let view = HeaderView::new_checked(datagram)?;
    check_length(view.length(), datagram.len())?;
    let chain = &datagram[HEADER_LEN..];
    for raw in PayloadIter::new(view.next_payload(), chain) {
        let raw = raw?;
        let skf = raw.ty == PayloadType::SKF;
        if raw.ty != PayloadType::SK && !skf {
            continue;
        }
        let start = HEADER_LEN + raw.offset;
        let mut hdr_end = start + GENERIC_HEADER_LEN;
        let mut fragment = None;
        if skf {
            let f = super::skf::Skf::parse(raw.next, raw.body)?;
            fragment = Some((f.fragment_number, f.total_fragments));
            hdr_end += SKF_EXTRA_LEN;
        }
        let end = datagram.len();
        let body_len = end - hdr_end;
        if body_len < iv_len + icv_len + 1 {
            return Err(Error::Truncated {
                what: "encrypted payload",
                need: iv_len + icv_len + 1,
                have: body_len,
            });
        }
        return Ok(SkRanges {
            aad: 0..hdr_end,
            iv: hdr_end..hdr_end + iv_len,
            ciphertext: hdr_end + iv_len..end - icv_len,
            icv: end - icv_len..end,
            first_inner: raw.next,
            fragment,
        });
    }
    Err(Error::InvalidValue {
        what: "message without an encrypted payload",
    })
}

/// The IKE header Length must equal the datagram size (RFC 7296 §3.1).
pub(crate) fn check_length(header: u32, datagram: usize) -> Result<(), Error> {
    if usize::try_from(header).ok() == Some(datagram) {
        Ok(())
    } else {
        Err(Error::LengthMismatch { header, datagram })
    }
}

/// Removes `Padding | Pad Length` from decrypted SK contents (RFC 7296 §3.14; receivers accept
/// any padding up to 255 octets, RFC 5282 §3).
pub fn strip_padding(plaintext: &[u8]) -> Result<&[u8], Error> {
    let (&pad, rest) = plaintext.split_last().ok_or(Error::Truncated {
        what: "SK plaintext",
        need: 1,
        have: 0,
    })?;
    let pad = usize::from(pad);
    if pad > rest.len() {
        return Err(Error::BadLength {
            what: "SK pad length",
            len: pad,
        });
    }
    Ok(&rest[..rest.len() - pad])
}
