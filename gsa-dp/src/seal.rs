//! Building and opening GAO and GEO (DESIGN.md "GSO on the wire"), with the coverage choices of
//! seed 001 SEC-GEN-2/3/4/6/7/9/10/11.
//!
//! Outbound a GSO is applied from a source packet ([`Src`]) into a destination buffer; inbound it
//! is verified and removed in place ([`Work`]), so delivery needs no copy of the payload.
//!
//! Authenticated header: the fixed header with Opt Len, C, Rsvd and Reserved zeroed. Opt Len and
//! C may change when transit inserts options before a GSO (spec-facts §2.5 gap 4); Rsvd and
//! Reserved MUST be ignored on receipt (RFC 8926 §3.4), so they cannot be authenticated either.
//! O, Version, Protocol Type and VNI are authenticated.
//!
//! GEO plaintext: `covered options || payload part || padding || [Options Words (1)] ||
//! [hidden header: Protocol Type (2) | VNI (3) | 0 (1)] || Pad Length (1) || Flags (1)`.

use crate::aead::GcmCipher;
use crate::counters::DropReason;
use crate::gsa::{GsaCipher, GsaCrypto, Padding, PayloadCoverage};
use crate::limits::MAX_PAD;
use crate::wire::geneve::{OptionIter, HEADER_LEN, MAX_OPT_LEN};
use crate::wire::gso::{self, GsoKind, OPTION_LEN};
use hmac::Mac;
use std::ops::Range;

/// Trailer flag: dummy packet, dropped by the receiver after verification (SEC-GEN-7).
pub const FLAG_DUMMY: u8 = 0x01;
/// Trailer flag: hidden header present (SEC-GEN-4).
pub const FLAG_HIDDEN: u8 = 0x02;
/// Trailer flag: encrypted options present; one byte gives their length in words.
pub const FLAG_OPTIONS: u8 = 0x04;
/// Prefix of the HMAC input in the draft-literal GAO (GAO-00 §7.3.2.1), 28 bytes, no NUL.
pub const GAO_STRING: &[u8; 28] = b"geneve authentication option";

/// The fixed header as it enters the ICV/AAD.
pub fn auth_header(h: &[u8]) -> [u8; 8] {
    let mut a = [0u8; 8];
    a.copy_from_slice(&h[..8]);
    a[0] &= 0xc0; // Version kept, Opt Len zeroed
    a[1] &= 0x80; // O kept, C and Rsvd zeroed
    a[7] = 0; // Reserved
    a
}

/// `auth header || SN64 || GSA-ID || Covered Length` (22 bytes) into `out`.
fn gso_aad_prefix(out: &mut Vec<u8>, hdr: &[u8], sn: u64, gsa_id: u32, cov: u16) {
    out.extend_from_slice(&auth_header(hdr));
    out.extend_from_slice(&sn.to_be_bytes());
    out.extend_from_slice(&gsa_id.to_be_bytes());
    out.extend_from_slice(&cov.to_be_bytes());
}

/// An inner frame in at most two pieces. A TSO segment is its rebuilt L3/L4 headers followed by
/// its slice of the super-packet's payload: sealing copies both straight into the output
/// packet, so the segment is never assembled in a buffer of its own (one copy of every byte
/// less on the sending path).
#[derive(Debug, Clone, Copy, Default)]
pub struct Payload<'a> {
    pub head: &'a [u8],
    pub body: &'a [u8],
}

impl<'a> Payload<'a> {
    /// A frame in one piece.
    pub fn whole(frame: &'a [u8]) -> Self {
        Payload {
            head: frame,
            body: &[],
        }
    }

    pub fn len(&self) -> usize {
        self.head.len() + self.body.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Copy bytes `range` of the frame into `dst`, which is exactly `range.len()` long.
    pub fn copy_to(&self, range: Range<usize>, dst: &mut [u8]) {
        let h = self.head.len();
        let in_head = range.start.min(h)..range.end.min(h);
        let n = in_head.len();
        dst[..n].copy_from_slice(&self.head[in_head]);
        dst[n..].copy_from_slice(&self.body[range.start.max(h) - h..range.end.max(h) - h]);
    }

    pub fn to_vec(&self) -> Vec<u8> {
        [self.head, self.body].concat()
    }
}

/// A packet to apply a GSO to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Src<'a> {
    pub hdr: [u8; 8],
    pub options: &'a [u8],
    pub payload: Payload<'a>,
    /// Length of the inner L3+L4 headers while the payload is still the clear inner frame.
    pub inner_headers: Option<usize>,
}

impl<'a> Src<'a> {
    /// View a packet this module emitted (well-formed by construction; checked anyway).
    pub fn from_emitted(b: &'a [u8], inner_headers: Option<usize>) -> Result<Self, DropReason> {
        let opt_end = HEADER_LEN + 4 * (b.first().ok_or(DropReason::Malformed)? & 0x3f) as usize;
        if b.len() < opt_end {
            return Err(DropReason::Malformed);
        }
        let mut hdr = [0u8; 8];
        hdr.copy_from_slice(&b[..8]);
        Ok(Src {
            hdr,
            options: &b[HEADER_LEN..opt_end],
            payload: Payload::whole(&b[opt_end..]),
            inner_headers,
        })
    }
}

/// (uncovered, covered) byte lengths of the option TLVs, `covered` deciding per option.
fn option_lens(
    options: &[u8],
    covered: &impl Fn(u16, u8) -> bool,
) -> Result<(usize, usize), DropReason> {
    let (mut u, mut c) = (0, 0);
    for opt in OptionIter::new(options, HEADER_LEN) {
        let o = opt.map_err(|_| DropReason::Malformed)?;
        if covered(o.class, o.type_) {
            c += o.total_len();
        } else {
            u += o.total_len();
        }
    }
    Ok((u, c))
}

/// Copy option TLVs in order into the packet being built, `dst[u_at]` (uncovered) or
/// `dst[c_at]` (covered, after `u_at`), each exactly as long as [`option_lens`] says: no
/// staging buffer.
fn partition_options(
    options: &[u8],
    covered: &impl Fn(u16, u8) -> bool,
    dst: &mut [u8],
    u_at: Range<usize>,
    c_at: Range<usize>,
) -> Result<(), DropReason> {
    let (front, back) = dst.split_at_mut(c_at.start);
    let u_out = front.get_mut(u_at).ok_or(DropReason::BufferTooSmall)?;
    let c_out = back
        .get_mut(..c_at.len())
        .ok_or(DropReason::BufferTooSmall)?;
    let (mut u, mut c) = (0, 0);
    for opt in OptionIter::new(options, HEADER_LEN) {
        let o = opt.map_err(|_| DropReason::Malformed)?;
        let tlv = &options[o.offset - HEADER_LEN..o.offset - HEADER_LEN + o.total_len()];
        let (out, at) = if covered(o.class, o.type_) {
            (&mut *c_out, &mut c)
        } else {
            (&mut *u_out, &mut u)
        };
        out.get_mut(*at..*at + tlv.len())
            .ok_or(DropReason::BufferTooSmall)?
            .copy_from_slice(tlv);
        *at += tlv.len();
    }
    Ok(())
}

fn set_opt_len(hdr: &mut [u8], bytes: usize) -> Result<(), DropReason> {
    if bytes > MAX_OPT_LEN || !bytes.is_multiple_of(4) {
        return Err(DropReason::Malformed);
    }
    hdr[0] = (hdr[0] & 0xc0) | (bytes / 4) as u8;
    Ok(())
}

fn pad_len(padding: Padding, base: usize) -> usize {
    match padding {
        Padding::None => 0,
        Padding::Multiple(n) => {
            let n = usize::from(n.max(1));
            (n - base % n) % n
        }
        Padding::Fixed(n) => usize::from(n).saturating_sub(base).min(MAX_PAD),
    }
}

/// Apply a GEO for `gsa` with sequence number `sn`; returns the packet length written to `dst`.
/// `aad` is scratch space.
pub(crate) fn apply_geo(
    gsa: &GsaCrypto,
    sn: u64,
    src: &Src<'_>,
    dst: &mut [u8],
    class: u16,
    dummy: bool,
    aad: &mut Vec<u8>,
) -> Result<usize, DropReason> {
    let cov = &gsa.coverage;
    let p = src.payload;
    let (h_len, pcov_len) = match cov.payload {
        PayloadCoverage::All => (0, p.len()),
        PayloadCoverage::First(n) => (0, p.len().min(usize::from(n))),
        PayloadCoverage::InnerHeaders => (0, src.inner_headers.unwrap_or(p.len()).min(p.len())),
        PayloadCoverage::AfterInnerHeaders => {
            let h = src.inner_headers.unwrap_or(0).min(p.len());
            (h, p.len() - h)
        }
    };
    let hidden = cov.hidden_header || dummy;
    // Options: uncovered stay in the option area; covered ones go into the ciphertext.
    let covers = |c, t| cov.options.covers(c, t);
    let (u_len, c_len) = option_lens(src.options, &covers)?;
    let ext = 2 + if hidden { 6 } else { 0 } + usize::from(c_len > 0);
    let base = c_len + pcov_len + ext;
    let pad = pad_len(cov.padding, base);
    let ct_len = base + pad;
    let cov_len = u16::try_from(ct_len).map_err(|_| DropReason::BufferTooSmall)?;
    let rest = h_len + pcov_len..p.len();
    let g = HEADER_LEN + u_len;
    let cs = g + OPTION_LEN + h_len;
    let total = cs + ct_len + rest.len();
    if dst.len() < total {
        return Err(DropReason::BufferTooSmall);
    }
    // Fixed header: GEO is critical, so C is set (RFC 8926 §3.5).
    dst[..8].copy_from_slice(&src.hdr);
    set_opt_len(&mut dst[..8], u_len + OPTION_LEN)?;
    dst[1] |= 0x40;
    if hidden {
        dst[2..8].fill(0);
    }
    p.copy_to(0..h_len, &mut dst[g + OPTION_LEN..cs]);
    // Plaintext.
    partition_options(src.options, &covers, dst, HEADER_LEN..g, cs..cs + c_len)?;
    let mut w = cs + c_len;
    p.copy_to(h_len..h_len + pcov_len, &mut dst[w..w + pcov_len]);
    w += pcov_len;
    dst[w..w + pad].fill(0);
    w += pad;
    let mut flags = 0;
    if c_len > 0 {
        dst[w] = (c_len / 4) as u8;
        w += 1;
        flags |= FLAG_OPTIONS;
    }
    if hidden {
        dst[w..w + 2].copy_from_slice(&src.hdr[2..4]);
        dst[w + 2..w + 5].copy_from_slice(&src.hdr[4..7]);
        dst[w + 5] = 0;
        w += 6;
        flags |= FLAG_HIDDEN;
    }
    if dummy {
        flags |= FLAG_DUMMY;
    }
    dst[w] = pad as u8;
    dst[w + 1] = flags;
    w += 2;
    debug_assert_eq!(w, cs + ct_len);
    p.copy_to(rest, &mut dst[w..total]);
    // AEAD: nonce = salt || SN64; AAD = auth header || SN64 || GSA-ID || Covered Length || H.
    aad.clear();
    gso_aad_prefix(aad, &dst[..8], sn, gsa.gsa_id, cov_len);
    aad.extend_from_slice(&dst[g + OPTION_LEN..cs]);
    let GsaCipher::Gcm(gcm) = &gsa.cipher else {
        return Err(DropReason::PolicyMismatch);
    };
    let tag = gcm.seal(&gsa.nonce(sn), aad, &mut dst[cs..cs + ct_len]);
    let repr = gso::Repr {
        sn_low: sn as u32,
        gsa_id: gsa.gsa_id,
        covered_len: cov_len,
        icv: tag,
    };
    repr.emit_option(&mut dst[g..g + OPTION_LEN], class, GsoKind::Geo)
        .map_err(|_| DropReason::BufferTooSmall)?;
    Ok(total)
}

/// Compute a GAO ICV over `aad_prefix || covered`, the MAC input built in `mac_in`.
fn gao_icv(
    gsa: &GsaCrypto,
    sn: u64,
    hdr: &[u8],
    cov_len: u16,
    covered: &[u8],
    mac_in: &mut Vec<u8>,
) -> [u8; 16] {
    mac_in.clear();
    if matches!(gsa.cipher, GsaCipher::Hmac(_)) {
        mac_in.extend_from_slice(GAO_STRING);
    }
    gso_aad_prefix(mac_in, hdr, sn, gsa.gsa_id, cov_len);
    mac_in.extend_from_slice(covered);
    match &gsa.cipher {
        // AES-GMAC = GCM with everything as AAD and an empty plaintext (RFC 4543 §3).
        GsaCipher::Gcm(g) => g.seal(&gsa.nonce(sn), mac_in, &mut []),
        GsaCipher::Hmac(m) => {
            let full = (**m)
                .clone()
                .chain_update(&mac_in[..])
                .finalize()
                .into_bytes();
            let mut icv = [0u8; 16];
            icv.copy_from_slice(&full[..16]); // HMAC-SHA-256-128 (RFC 4868 §2.1.1)
            icv
        }
    }
}

/// Apply a GAO: `header | uncovered options | GAO | covered options | payload`. Earlier GSOs
/// are always covered so the receiver can verify in wire order.
pub(crate) fn apply_gao(
    gsa: &GsaCrypto,
    sn: u64,
    src: &Src<'_>,
    dst: &mut [u8],
    class: u16,
    mac_in: &mut Vec<u8>,
) -> Result<usize, DropReason> {
    let cov = &gsa.coverage;
    let p = src.payload;
    let pcov_len = match cov.payload {
        PayloadCoverage::First(n) => p.len().min(usize::from(n)),
        PayloadCoverage::InnerHeaders => src.inner_headers.unwrap_or(p.len()).min(p.len()),
        PayloadCoverage::All | PayloadCoverage::AfterInnerHeaders => p.len(),
    };
    let is_gso = |c: u16, t: u8| GsoKind::classify(c, t, class).is_some();
    let covers = |c, t| is_gso(c, t) || cov.options.covers(c, t);
    let (u_len, c_len) = option_lens(src.options, &covers)?;
    let cov_len = u16::try_from(c_len + pcov_len).map_err(|_| DropReason::BufferTooSmall)?;
    let g = HEADER_LEN + u_len;
    let cs = g + OPTION_LEN;
    let total = cs + c_len + p.len();
    if dst.len() < total {
        return Err(DropReason::BufferTooSmall);
    }
    dst[..8].copy_from_slice(&src.hdr);
    set_opt_len(&mut dst[..8], u_len + OPTION_LEN + c_len)?;
    partition_options(src.options, &covers, dst, HEADER_LEN..g, cs..cs + c_len)?;
    p.copy_to(0..p.len(), &mut dst[cs + c_len..total]);
    let hdr = [
        dst[0], dst[1], dst[2], dst[3], dst[4], dst[5], dst[6], dst[7],
    ];
    let icv = gao_icv(
        gsa,
        sn,
        &hdr,
        cov_len,
        &dst[cs..cs + usize::from(cov_len)],
        mac_in,
    );
    let repr = gso::Repr {
        sn_low: sn as u32,
        gsa_id: gsa.gsa_id,
        covered_len: cov_len,
        icv,
    };
    repr.emit_option(&mut dst[g..cs], class, GsoKind::Gao)
        .map_err(|_| DropReason::BufferTooSmall)?;
    Ok(total)
}

/// An inbound packet being opened in place: the Geneve packet is `buf[start..end]`.
pub(crate) struct Work<'a> {
    pub buf: &'a mut [u8],
    pub start: usize,
    pub end: usize,
}

/// What removing one GSO found out, for the coverage and policy checks.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Opened {
    /// Payload bytes (after the option area) the GSO covered.
    pub payload_covered: usize,
    /// Payload bytes at that point.
    pub payload_total: usize,
    /// Clear inner-header bytes kept before the ciphertext (GEO after_inner_headers).
    pub clear_headers: usize,
    /// Range, relative to `start`, of the options the GSO covered (after removal).
    pub covered_opts: (usize, usize),
    pub dummy: bool,
}

impl Work<'_> {
    pub fn hdr(&self) -> &[u8] {
        &self.buf[self.start..self.start + HEADER_LEN]
    }

    /// Absolute offset of the end of the option area.
    pub fn opt_end(&self) -> usize {
        self.start + HEADER_LEN + 4 * (self.buf[self.start] & 0x3f) as usize
    }

    /// Remove `n` bytes at absolute offset `at` inside the header/option area by moving the
    /// (short) front part right, so the payload never moves.
    fn remove_front(&mut self, at: usize, n: usize) {
        self.buf.copy_within(self.start..at, self.start + n);
        self.start += n;
    }

    fn set_opt_len(&mut self, bytes: usize) -> Result<(), DropReason> {
        let s = self.start;
        set_opt_len(&mut self.buf[s..s + HEADER_LEN], bytes)
    }

    /// Verify (GAO) or decrypt (GEO) the GSO of kind `kind` at absolute offset `off`, and
    /// remove it.
    pub fn open(
        &mut self,
        kind: GsoKind,
        gsa: &GsaCrypto,
        sn: u64,
        off: usize,
        r: &gso::Repr,
        aad: &mut Vec<u8>,
    ) -> Result<Opened, DropReason> {
        match kind {
            GsoKind::Gao => self.open_gao(gsa, sn, off, r, aad),
            GsoKind::Geo => self.open_geo(gsa, sn, off, r, aad),
        }
    }

    /// Verify a GAO at absolute offset `off` and remove it.
    fn open_gao(
        &mut self,
        gsa: &GsaCrypto,
        sn: u64,
        off: usize,
        r: &gso::Repr,
        mac_in: &mut Vec<u8>,
    ) -> Result<Opened, DropReason> {
        let cs = off + OPTION_LEN;
        let ce = cs + usize::from(r.covered_len);
        let opt_end = self.opt_end();
        if ce > self.end {
            return Err(DropReason::Malformed);
        }
        let hdr: [u8; 8] = self.hdr().try_into().map_err(|_| DropReason::Malformed)?;
        let ok = match &gsa.cipher {
            GsaCipher::Gcm(g) => {
                mac_in.clear();
                gso_aad_prefix(mac_in, &hdr, sn, gsa.gsa_id, r.covered_len);
                mac_in.extend_from_slice(&self.buf[cs..ce]);
                g.open(&gsa.nonce(sn), mac_in, &mut [], &r.icv).is_ok()
            }
            GsaCipher::Hmac(m) => {
                mac_in.clear();
                mac_in.extend_from_slice(GAO_STRING);
                gso_aad_prefix(mac_in, &hdr, sn, gsa.gsa_id, r.covered_len);
                mac_in.extend_from_slice(&self.buf[cs..ce]);
                // Constant-time comparison of the truncated tag (RFC 4868 §2.3).
                (**m)
                    .clone()
                    .chain_update(&mac_in[..])
                    .verify_truncated_left(&r.icv)
                    .is_ok()
            }
        };
        if !ok {
            return Err(DropReason::BadIcv);
        }
        // No uncovered option may follow the GAO (GAO-00 §7.3.2.3).
        let c_len = opt_end - cs;
        if usize::from(r.covered_len) < c_len {
            return Err(DropReason::PolicyMismatch);
        }
        let opened = Opened {
            payload_covered: usize::from(r.covered_len) - c_len,
            payload_total: self.end - opt_end,
            clear_headers: 0,
            covered_opts: (
                cs - self.start - OPTION_LEN,
                opt_end - self.start - OPTION_LEN,
            ),
            dummy: false,
        };
        let new_opt = opt_end - self.start - HEADER_LEN - OPTION_LEN;
        self.remove_front(off, OPTION_LEN);
        self.set_opt_len(new_opt)?;
        Ok(opened)
    }

    /// Decrypt a GEO at absolute offset `off`, restore its options and header, remove it.
    fn open_geo(
        &mut self,
        gsa: &GsaCrypto,
        sn: u64,
        off: usize,
        r: &gso::Repr,
        aad: &mut Vec<u8>,
    ) -> Result<Opened, DropReason> {
        let opt_end = self.opt_end();
        // GEO is the last option: the ciphertext starts where the payload would (gap 12).
        if off + OPTION_LEN != opt_end {
            return Err(DropReason::Malformed);
        }
        let ct_len = usize::from(r.covered_len);
        let suffix = gsa.coverage.payload == PayloadCoverage::AfterInnerHeaders;
        let avail = self.end - opt_end;
        if ct_len > avail || ct_len < 2 {
            return Err(DropReason::Malformed);
        }
        let (cs, h_len) = if suffix {
            (self.end - ct_len, avail - ct_len)
        } else {
            (opt_end, 0)
        };
        let ce = cs + ct_len;
        aad.clear();
        let hdr: [u8; 8] = self.hdr().try_into().map_err(|_| DropReason::Malformed)?;
        gso_aad_prefix(aad, &hdr, sn, gsa.gsa_id, r.covered_len);
        aad.extend_from_slice(&self.buf[opt_end..cs]);
        let GsaCipher::Gcm(gcm) = &gsa.cipher else {
            return Err(DropReason::PolicyMismatch);
        };
        gcm.open(&gsa.nonce(sn), aad, &mut self.buf[cs..ce], &r.icv)
            .map_err(|_| DropReason::BadIcv)?;
        // Trailer (authenticated now; inconsistencies are a broken sender: malformed).
        let flags = self.buf[ce - 1];
        let pad = usize::from(self.buf[ce - 2]);
        let hidden = flags & FLAG_HIDDEN != 0;
        let has_opts = flags & FLAG_OPTIONS != 0;
        let ext = 2 + if hidden { 6 } else { 0 } + usize::from(has_opts);
        if ext + pad > ct_len {
            return Err(DropReason::Malformed);
        }
        let mut hh = [0u8; 6];
        if hidden {
            hh.copy_from_slice(&self.buf[ce - 8..ce - 2]);
        }
        let c_len = if has_opts {
            4 * usize::from(self.buf[ce - 2 - if hidden { 6 } else { 0 } - 1])
        } else {
            0
        };
        let data_len = ct_len - ext - pad;
        if c_len > data_len {
            return Err(DropReason::Malformed);
        }
        // Check the restored options are well-formed TLVs.
        if OptionIter::new(&self.buf[cs..cs + c_len], 0).any(|o| o.is_err()) {
            return Err(DropReason::Malformed);
        }
        let u_len = off - self.start - HEADER_LEN;
        if u_len + c_len > MAX_OPT_LEN {
            return Err(DropReason::Malformed);
        }
        let tail = ext + pad;
        let payload_covered = data_len - c_len;
        let payload_total;
        if suffix {
            // header | U | GEO | H | C | P  ->  header | U | GEO | C | H | P
            self.end = cs + data_len;
            self.buf[opt_end..cs + c_len].rotate_left(h_len);
            payload_total = h_len + payload_covered;
        } else {
            // Close the gap left by padding and trailer; only the clear remainder moves.
            self.buf.copy_within(ce..self.end, ce - tail);
            self.end -= tail;
            payload_total = self.end - opt_end - c_len;
        }
        self.remove_front(off, OPTION_LEN);
        self.set_opt_len(u_len + c_len)?;
        let s = self.start;
        if hidden {
            self.buf[s + 2..s + 4].copy_from_slice(&hh[..2]);
            self.buf[s + 4..s + 7].copy_from_slice(&hh[2..5]);
        }
        Ok(Opened {
            payload_covered,
            payload_total,
            clear_headers: h_len,
            covered_opts: (HEADER_LEN + u_len, HEADER_LEN + u_len + c_len),
            dummy: flags & FLAG_DUMMY != 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Payload;
    use proptest::prelude::*;

    proptest! {
        /// Any range of a two-piece frame copies out exactly as from the assembled frame.
        #[test]
        fn payload_copies_like_the_assembled_frame(
            frame in proptest::collection::vec(any::<u8>(), 0..300),
            split in 0usize..300,
            a in 0usize..300,
            b in 0usize..300,
        ) {
            let split = split.min(frame.len());
            let (lo, hi) = (a.min(b).min(frame.len()), a.max(b).min(frame.len()));
            let p = Payload { head: &frame[..split], body: &frame[split..] };
            prop_assert_eq!(p.len(), frame.len());
            prop_assert_eq!(p.to_vec(), frame.clone());
            let mut out = vec![0u8; hi - lo];
            p.copy_to(lo..hi, &mut out);
            prop_assert_eq!(&out[..], &frame[lo..hi]);
        }
    }
}
