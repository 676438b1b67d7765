//! Encrypted Fragment payload SKF (RFC 7383 §2.5):
//! `generic header | Fragment Number (2) | Total Fragments (2) | IV | ciphertext | ICV`.
//!
//! Fragment 1 carries the first inner payload type in Next Payload, the others 0. Each
//! fragment is encrypted on its own with the SK rules ([`super::sk::sk_ranges`] handles SKF).
//! [`split_inner`] cuts an inner payload chain into per-fragment plaintexts by MTU;
//! [`Reassembler`] puts decrypted fragments back together with bounded memory.

use std::collections::BTreeMap;

use crate::wire::codec::Reader;
use crate::wire::enums::PayloadType;
use crate::wire::error::Error;
use crate::wire::header::HEADER_LEN;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skf {
    pub fragment_number: u16,
    pub total_fragments: u16,
    /// First inner payload type in fragment 1, NONE in the others.
    pub next_payload: PayloadType,
    /// IV || ciphertext || ICV.
    pub data: Vec<u8>,
}

impl Skf {
    /// Zero-filled fragment envelope of `len` bytes to encrypt in place.
    pub fn placeholder(number: u16, total: u16, next_payload: PayloadType, len: usize) -> Self {
        Self {
            fragment_number: number,
            total_fragments: total,
            next_payload,
            data: vec![0; len],
        }
    }

    fn check(number: u16, total: u16) -> Result<(), Error> {
        // Numbers start at 1 and never exceed the total (RFC 7383 §2.5, §2.6).
        if number == 0 || number > total {
            return Err(Error::InvalidValue {
                what: "SKF fragment number",
            });
        }
        Ok(())
    }

    pub fn parse(next_payload: PayloadType, body: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(body);
        let fragment_number = r.u16("SKF header")?;
        let total_fragments = r.u16("SKF header")?;
        Self::check(fragment_number, total_fragments)?;
        Ok(Self {
            fragment_number,
            total_fragments,
            next_payload,
            data: r.rest().to_vec(),
        })
    }

    pub fn emit_body(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        Self::check(self.fragment_number, self.total_fragments)?;
        out.extend_from_slice(&self.fragment_number.to_be_bytes());
        out.extend_from_slice(&self.total_fragments.to_be_bytes());
        out.extend_from_slice(&self.data);
        Ok(())
    }
}

/// What limits the plaintext of one fragment (RFC 7383 §2.5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragmentParams {
    /// Largest IP datagram to send (strongSwan's default fragment_size is 1280).
    pub max_datagram: usize,
    /// 20 for IPv4, 40 for IPv6.
    pub ip_header_len: usize,
    /// Port 4500: 4-byte non-ESP marker before the IKE header.
    pub non_esp_marker: bool,
    pub iv_len: usize,
    pub icv_len: usize,
    /// Cipher block size for padding (1 for AES-GCM).
    pub block_len: usize,
}

const UDP_HEADER_LEN: usize = 8;
const SKF_HEADER_LEN: usize = 8;

impl FragmentParams {
    /// AES-GCM-16 over IPv4 on port 4500 with strongSwan's 1280-byte fragment size.
    pub fn aes_gcm_16(max_datagram: usize, ipv6: bool, non_esp_marker: bool) -> Self {
        Self {
            max_datagram,
            ip_header_len: if ipv6 { 40 } else { 20 },
            non_esp_marker,
            iv_len: 8,
            icv_len: 16,
            block_len: 1,
        }
    }

    /// Largest inner-chain chunk per fragment: what is left after IP, UDP, marker, IKE header,
    /// SKF header, IV and ICV, rounded down to the block size, minus the Pad Length octet.
    pub fn max_chunk(&self) -> Option<usize> {
        let overhead = self.ip_header_len
            + UDP_HEADER_LEN
            + if self.non_esp_marker { 4 } else { 0 }
            + HEADER_LEN
            + SKF_HEADER_LEN
            + self.iv_len
            + self.icv_len;
        let avail = self.max_datagram.checked_sub(overhead)?;
        let block = self.block_len.max(1);
        (avail / block * block).checked_sub(1).filter(|&n| n > 0)
    }
}

/// Splits an already-encoded inner payload chain into per-fragment plaintext chunks (each to be
/// padded, encrypted and sent as SKF `i + 1` of `len`). Fails when the parameters leave no room
/// or more than 65535 fragments would be needed.
pub fn split_inner<'a>(inner: &'a [u8], params: &FragmentParams) -> Result<Vec<&'a [u8]>, Error> {
    let chunk = params.max_chunk().ok_or(Error::InvalidValue {
        what: "fragment size leaves no room for data",
    })?;
    if inner.is_empty() {
        return Ok(vec![inner]);
    }
    let chunks: Vec<&[u8]> = inner.chunks(chunk).collect();
    if chunks.len() > usize::from(u16::MAX) {
        return Err(Error::TooLarge {
            what: "number of fragments",
        });
    }
    Ok(chunks)
}

/// Why a fragment was dropped by the [`Reassembler`] (RFC 7383 §2.6: silently, by the engine).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReassemblyError {
    #[error("invalid fragment number {number} of {total}")]
    InvalidNumber { number: u16, total: u16 },
    #[error("fragment with a smaller total than the reassembly in progress")]
    StaleTotal,
    #[error("reassembly would exceed {max} bytes; discarded")]
    TooLarge { max: usize },
}

/// Outcome of feeding one fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reassembly {
    /// Stored; more fragments needed.
    Incomplete,
    /// Same Message ID, number and total as a stored fragment: a replay, dropped.
    Duplicate,
    /// All fragments present: the inner chain and its first payload type.
    Complete {
        first_payload: PayloadType,
        inner: Vec<u8>,
    },
}

/// Bookkeeping cost charged per stored fragment besides its bytes, so a flood of empty
/// fragments is bounded too.
const PER_FRAGMENT_COST: usize = 64;

/// Reassembles the decrypted, ICV-verified, unpadded fragments of one message at a time
/// (RFC 7383 §2.6). Memory is capped at `max_bytes` (RFC 7383 §5 recommends <= 64 KB).
#[derive(Debug, Clone)]
pub struct Reassembler {
    max_bytes: usize,
    message_id: u32,
    total: u16,
    first_payload: PayloadType,
    fragments: BTreeMap<u16, Vec<u8>>,
    bytes: usize,
}

impl Reassembler {
    pub fn new(max_bytes: usize) -> Self {
        Self {
            max_bytes,
            message_id: 0,
            total: 0,
            first_payload: PayloadType::NONE,
            fragments: BTreeMap::new(),
            bytes: 0,
        }
    }

    /// Bytes currently buffered (including per-fragment cost).
    pub fn buffered(&self) -> usize {
        self.bytes
    }

    /// Drops the reassembly in progress.
    pub fn reset(&mut self) {
        self.fragments.clear();
        self.bytes = 0;
        self.total = 0;
        self.first_payload = PayloadType::NONE;
    }

    /// Feeds the plaintext of fragment `number` of `total` of message `message_id`.
    /// `next_payload` is the SKF header's Next Payload (used from fragment 1).
    pub fn insert(
        &mut self,
        message_id: u32,
        number: u16,
        total: u16,
        next_payload: PayloadType,
        plaintext: &[u8],
    ) -> Result<Reassembly, ReassemblyError> {
        if number == 0 || number > total {
            return Err(ReassemblyError::InvalidNumber { number, total });
        }
        let started = !self.fragments.is_empty();
        if started && message_id == self.message_id && total < self.total {
            return Err(ReassemblyError::StaleTotal);
        }
        // A new message, or a larger total (the sender probing a smaller PMTU), restarts.
        if !started || message_id != self.message_id || total > self.total {
            self.reset();
            self.message_id = message_id;
            self.total = total;
        }
        if self.fragments.contains_key(&number) {
            return Ok(Reassembly::Duplicate);
        }
        let cost = plaintext.len() + PER_FRAGMENT_COST;
        if self.bytes + cost > self.max_bytes {
            self.reset();
            return Err(ReassemblyError::TooLarge {
                max: self.max_bytes,
            });
        }
        if number == 1 {
            self.first_payload = next_payload;
        }
        self.fragments.insert(number, plaintext.to_vec());
        self.bytes += cost;
        if self.fragments.len() < usize::from(self.total) {
            return Ok(Reassembly::Incomplete);
        }
        let inner = self.fragments.values().flatten().copied().collect();
        let first_payload = self.first_payload;
        self.reset();
        Ok(Reassembly::Complete {
            first_payload,
            inner,
        })
    }
}
