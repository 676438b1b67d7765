//! The generic payload header and the payload chain walker (RFC 7296 §3.2):
//!
//! ```text
//! | Next Payload (1) | C (1 bit) | RESERVED (7 bits) | Payload Length (2, incl. header) |
//! ```
//!
//! Each header names the type of the *next* payload; the first type comes from the IKE header
//! (or, for decrypted contents, from the SK header). SK and SKF must be last and their Next
//! Payload names the first *inner* payload (RFC 7296 §3.14, RFC 7383 §2.5), so the walker stops
//! after them.

use super::codec::{patch_u16, Reader};
use super::enums::PayloadType;
use super::error::Error;

/// Size of the generic payload header.
pub const GENERIC_HEADER_LEN: usize = 4;
/// The critical bit in the second octet.
pub const CRITICAL: u8 = 0x80;

/// One payload as found on the wire, before typed parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawPayload<'a> {
    /// Type of this payload (from the previous header).
    pub ty: PayloadType,
    /// The Next Payload field of this payload's header (for SK/SKF: the first inner payload).
    pub next: PayloadType,
    /// The critical bit.
    pub critical: bool,
    /// Offset of this payload's generic header within the walked buffer.
    pub offset: usize,
    /// The payload body (after the 4-byte generic header).
    pub body: &'a [u8],
}

/// Walks a payload chain, yielding each payload or the first error (then stops).
#[derive(Debug, Clone)]
pub struct PayloadIter<'a> {
    buf: &'a [u8],
    pos: usize,
    next: PayloadType,
    done: bool,
}

impl<'a> PayloadIter<'a> {
    /// Walks `chain`, whose first payload has type `first` (NONE: the chain must be empty).
    pub fn new(first: PayloadType, chain: &'a [u8]) -> Self {
        Self {
            buf: chain,
            pos: 0,
            next: first,
            done: false,
        }
    }

    fn step(&mut self) -> Result<Option<RawPayload<'a>>, Error> {
        let rest = &self.buf[self.pos..];
        if self.next == PayloadType::NONE {
            if !rest.is_empty() {
                return Err(Error::TrailingBytes {
                    what: "payload chain",
                    count: rest.len(),
                });
            }
            return Ok(None);
        }
        let mut r = Reader::new(rest);
        let next = PayloadType(r.u8("generic payload header")?);
        let flags = r.u8("generic payload header")?;
        let len = usize::from(r.u16("generic payload header")?);
        if len < GENERIC_HEADER_LEN || len > rest.len() {
            return Err(Error::BadLength {
                what: "payload length",
                len,
            });
        }
        let ty = self.next;
        let encrypted = ty == PayloadType::SK || ty == PayloadType::SKF;
        if encrypted && len != rest.len() {
            return Err(Error::EncryptedNotLast);
        }
        let raw = RawPayload {
            ty,
            next,
            critical: flags & CRITICAL != 0,
            offset: self.pos,
            body: &rest[GENERIC_HEADER_LEN..len],
        };
        self.pos += len;
        // After SK/SKF the chain ends: their Next Payload belongs to the inner chain.
        self.next = if encrypted { PayloadType::NONE } else { next };
        Ok(Some(raw))
    }
}

impl<'a> Iterator for PayloadIter<'a> {
    type Item = Result<RawPayload<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.step() {
            Ok(Some(p)) => Some(Ok(p)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Appends one payload: generic header (critical bit clear, as RFC 7296 §2.5 wants for every
/// payload we send) then the body written by `body`, and patches the length.
pub fn emit_payload(
    out: &mut Vec<u8>,
    next: PayloadType,
    body: impl FnOnce(&mut Vec<u8>) -> Result<(), Error>,
) -> Result<(), Error> {
    let start = out.len();
    out.extend_from_slice(&[next.0, 0, 0, 0]);
    body(out)?;
    let len = out.len() - start;
    patch_u16(out, start + 2, len, "payload length")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_chain_and_flags() {
        // Nonce(4 bytes body, critical) -> Vendor ID (0 body) -> end.
        let chain = [0x2b, 0x80, 0, 8, 1, 2, 3, 4, 0, 0, 0, 4];
        let v: Vec<_> = PayloadIter::new(PayloadType::NONCE, &chain)
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].ty, PayloadType::NONCE);
        assert!(v[0].critical);
        assert_eq!(v[0].body, &[1, 2, 3, 4]);
        assert_eq!(v[1].ty, PayloadType::VENDOR_ID);
        assert_eq!(v[1].offset, 8);
        assert!(v[1].body.is_empty());
    }

    #[test]
    fn rejects_bad_lengths_and_trailing() {
        let short = [0, 0, 0, 3];
        let e = PayloadIter::new(PayloadType::NONCE, &short).next().unwrap();
        assert_eq!(
            e,
            Err(Error::BadLength {
                what: "payload length",
                len: 3
            })
        );
        let long = [0, 0, 0, 9, 1, 2, 3, 4];
        assert!(PayloadIter::new(PayloadType::NONCE, &long)
            .next()
            .unwrap()
            .is_err());
        let trailing = [0, 0, 0, 4, 9];
        let mut it = PayloadIter::new(PayloadType::NONCE, &trailing);
        assert!(it.next().unwrap().is_ok());
        assert_eq!(
            it.next(),
            Some(Err(Error::TrailingBytes {
                what: "payload chain",
                count: 1
            }))
        );
        assert_eq!(it.next(), None);
    }

    #[test]
    fn sk_must_be_last_and_ends_chain() {
        // SK whose next is IDi (inner), followed by an extra byte: not last.
        let bad = [0x23, 0, 0, 5, 0xaa, 0xbb];
        let e = PayloadIter::new(PayloadType::SK, &bad).next().unwrap();
        assert_eq!(e, Err(Error::EncryptedNotLast));
        let good = [0x23, 0, 0, 5, 0xaa];
        let v: Vec<_> = PayloadIter::new(PayloadType::SK, &good).collect();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].as_ref().unwrap().next, PayloadType::IDI);
    }
}
