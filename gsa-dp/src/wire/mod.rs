//! Typed views over packet bytes, in the smoltcp `wire` style.
//!
//! Contract (copied from smoltcp's `wire` module and kept for every view here):
//! - `Packet::new_unchecked(buf)` wraps bytes without looking at them;
//! - `Packet::new_checked(buf)` also runs `check_len()`, so every accessor after it is in bounds.
//!   When parsing untrusted input it is *necessary* to use `new_checked`.
//! - Getters read network byte order; setters exist only when `T: AsMut<[u8]>`.
//! - A `Repr` is the validated, owned value: `Repr::parse(&packet)`, `repr.buffer_len()`,
//!   `repr.emit(&mut packet)`.
//!
//! Parsing never panics on any input: malformed bytes are a [`WireError`] value.

pub mod geneve;
pub mod gso;
pub mod inner;

/// Why bytes were rejected by a parser. Callers count these as "malformed" drops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("buffer shorter than the header it must hold")]
    Truncated,
    #[error("Geneve version is not 0 (RFC 8926 section 3.4)")]
    BadVersion,
    #[error("option lengths do not add up to Opt Len (RFC 8926 section 3.5)")]
    OptionLength,
    #[error("security option has the wrong length")]
    GsoLength,
    #[error("buffer too small for the packet to emit")]
    BufferTooSmall,
    #[error("field value out of range")]
    OutOfRange,
}

pub(crate) fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

pub(crate) fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
