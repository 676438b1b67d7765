//! Geneve fixed header and option TLVs (RFC 8926 sections 3.4 and 3.5).
//!
//! ```
//! use nvesec_gsa_dp::wire::geneve::{Packet, Repr};
//! let repr = Repr { oam: false, critical: false, protocol_type: 0x0800, vni: 42, opt_len_words: 0 };
//! let mut buf = [0u8; 8];
//! repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
//! let pkt = Packet::new_checked(&buf[..]).unwrap();
//! assert_eq!(Repr::parse(&pkt).unwrap(), repr);
//! ```

use super::{be16, WireError};

/// Size of the fixed header.
pub const HEADER_LEN: usize = 8;
/// Largest option area: Opt Len is 6 bits of 4-byte words.
pub const MAX_OPT_LEN: usize = 63 * 4;
/// Ethernet payload (RFC 8926 section 3.4).
pub const PTYPE_ETHERNET: u16 = 0x6558;
/// IPv4 payload (EtherType).
pub const PTYPE_IPV4: u16 = 0x0800;
/// IPv6 payload (EtherType).
pub const PTYPE_IPV6: u16 = 0x86DD;

mod field {
    pub const VER_OPTLEN: usize = 0;
    pub const FLAGS: usize = 1;
    pub const PTYPE: usize = 2;
    pub const VNI: std::ops::Range<usize> = 4..7;
    pub const RESERVED: usize = 7;
}

/// A read (and, with `AsMut`, write) view of a Geneve header plus what follows it.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Wrap untrusted bytes: checks the fixed header and the option area fit.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let p = Packet { buffer };
        p.check_len()?;
        Ok(p)
    }

    /// The fixed header and the Opt Len option bytes must be present.
    pub fn check_len(&self) -> Result<(), WireError> {
        let b = self.buffer.as_ref();
        if b.len() < HEADER_LEN || b.len() < self.header_len() {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_OPTLEN] >> 6
    }

    /// Option area length in 4-byte words.
    pub fn opt_len_words(&self) -> u8 {
        self.buffer.as_ref()[field::VER_OPTLEN] & 0x3f
    }

    /// Fixed header plus options, in bytes (8..=260).
    pub fn header_len(&self) -> usize {
        HEADER_LEN + 4 * self.opt_len_words() as usize
    }

    pub fn oam(&self) -> bool {
        self.buffer.as_ref()[field::FLAGS] & 0x80 != 0
    }

    pub fn critical(&self) -> bool {
        self.buffer.as_ref()[field::FLAGS] & 0x40 != 0
    }

    /// The 6 Rsvd bits; ignored on receipt (RFC 8926 section 3.4), exposed for GSP selectors.
    pub fn rsvd(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS] & 0x3f
    }

    pub fn protocol_type(&self) -> u16 {
        be16(self.buffer.as_ref(), field::PTYPE)
    }

    pub fn vni(&self) -> u32 {
        let b = &self.buffer.as_ref()[field::VNI];
        u32::from_be_bytes([0, b[0], b[1], b[2]])
    }

    /// The trailing reserved byte; ignored on receipt.
    pub fn reserved(&self) -> u8 {
        self.buffer.as_ref()[field::RESERVED]
    }

    /// The option area (may be empty).
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.header_len()]
    }

    /// Bytes after the option area.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }

    /// Walk the option TLVs, checking that their lengths add up to Opt Len exactly.
    pub fn option_iter(&self) -> OptionIter<'_> {
        OptionIter::new(self.options(), HEADER_LEN)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_version_opt_len(&mut self, version: u8, opt_len_words: u8) {
        self.buffer.as_mut()[field::VER_OPTLEN] = (version << 6) | (opt_len_words & 0x3f);
    }

    /// Sets O and C; Rsvd is always written as zero (RFC 8926 section 3.4).
    pub fn set_flags(&mut self, oam: bool, critical: bool) {
        self.buffer.as_mut()[field::FLAGS] = (u8::from(oam) << 7) | (u8::from(critical) << 6);
    }

    pub fn set_protocol_type(&mut self, v: u16) {
        self.buffer.as_mut()[field::PTYPE..field::PTYPE + 2].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets the 24-bit VNI and zeroes the reserved byte.
    pub fn set_vni(&mut self, vni: u32) {
        let b = vni.to_be_bytes();
        self.buffer.as_mut()[4..8].copy_from_slice(&[b[1], b[2], b[3], 0]);
    }
}

/// One option TLV as found on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionRef<'a> {
    pub class: u16,
    /// Full type byte, critical bit included.
    pub type_: u8,
    /// Option data (4 * Length bytes), header excluded.
    pub data: &'a [u8],
    /// Offset of the option header from the start of the Geneve header.
    pub offset: usize,
}

impl OptionRef<'_> {
    /// The high bit of Type marks the option critical (RFC 8926 section 3.5).
    pub fn is_critical(&self) -> bool {
        self.type_ & 0x80 != 0
    }

    /// Whole TLV length, header included.
    pub fn total_len(&self) -> usize {
        4 + self.data.len()
    }
}

/// Iterator over option TLVs; yields `Err(OptionLength)` once if a TLV overruns the area.
#[derive(Debug, Clone)]
pub struct OptionIter<'a> {
    area: &'a [u8],
    pos: usize,
    base: usize,
    failed: bool,
}

impl<'a> OptionIter<'a> {
    /// `base` is the offset of `area` from the start of the Geneve header (for `OptionRef::offset`).
    pub fn new(area: &'a [u8], base: usize) -> Self {
        OptionIter {
            area,
            pos: 0,
            base,
            failed: false,
        }
    }
}

impl<'a> Iterator for OptionIter<'a> {
    type Item = Result<OptionRef<'a>, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.area.len() {
            return None;
        }
        let rest = &self.area[self.pos..];
        if rest.len() < 4 {
            self.failed = true;
            return Some(Err(WireError::OptionLength));
        }
        // R bits (top 3 of byte 3) are ignored on receipt (RFC 8926 section 3.5).
        let data_len = 4 * (rest[3] & 0x1f) as usize;
        if rest.len() < 4 + data_len {
            self.failed = true;
            return Some(Err(WireError::OptionLength));
        }
        let opt = OptionRef {
            class: be16(rest, 0),
            type_: rest[2],
            data: &rest[4..4 + data_len],
            offset: self.base + self.pos,
        };
        self.pos += 4 + data_len;
        Some(Ok(opt))
    }
}

/// Write one option TLV (R bits zero) into `out`; returns bytes written.
pub fn emit_option(out: &mut [u8], class: u16, type_: u8, data: &[u8]) -> Result<usize, WireError> {
    if !data.len().is_multiple_of(4) || data.len() > 124 {
        return Err(WireError::OutOfRange);
    }
    let total = 4 + data.len();
    if out.len() < total {
        return Err(WireError::BufferTooSmall);
    }
    out[0..2].copy_from_slice(&class.to_be_bytes());
    out[2] = type_;
    out[3] = (data.len() / 4) as u8;
    out[4..total].copy_from_slice(data);
    Ok(total)
}

/// The validated fixed header. Reserved fields are not part of it: ignored on receipt and
/// always zero on emission (RFC 8926 section 3.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub oam: bool,
    pub critical: bool,
    pub protocol_type: u16,
    pub vni: u32,
    pub opt_len_words: u8,
}

impl Repr {
    /// Endpoint parse: drops unknown versions and option areas whose TLVs do not sum to Opt Len.
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Repr, WireError> {
        p.check_len()?;
        if p.version() != 0 {
            return Err(WireError::BadVersion);
        }
        for opt in p.option_iter() {
            opt?;
        }
        Ok(Repr {
            oam: p.oam(),
            critical: p.critical(),
            protocol_type: p.protocol_type(),
            vni: p.vni(),
            opt_len_words: p.opt_len_words(),
        })
    }

    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + 4 * self.opt_len_words as usize
    }

    /// Write the fixed header (not the options) with version 0 and reserved bits zero.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Packet<T>) {
        p.set_version_opt_len(0, self.opt_len_words);
        p.set_flags(self.oam, self.critical);
        p.set_protocol_type(self.protocol_type);
        p.set_vni(self.vni);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Ver 0, Opt Len 2 (8 bytes), O=0, C=1, Rsvd 0, IPv4, VNI 0x123456, one critical option
    // class 0x0102 type 0x80 with 4 bytes of data, then a 4-byte payload.
    static PACKET_BYTES: [u8; 20] = [
        0x02, 0x40, 0x08, 0x00, 0x12, 0x34, 0x56, 0x00, // fixed header
        0x01, 0x02, 0x80, 0x01, 0xaa, 0xbb, 0xcc, 0xdd, // option TLV
        0xde, 0xad, 0xbe, 0xef, // payload
    ];

    #[test]
    fn test_deconstruct() {
        let p = Packet::new_checked(&PACKET_BYTES[..]).unwrap();
        assert_eq!(p.version(), 0);
        assert_eq!(p.opt_len_words(), 2);
        assert!(!p.oam());
        assert!(p.critical());
        assert_eq!(p.protocol_type(), 0x0800);
        assert_eq!(p.vni(), 0x123456);
        assert_eq!(p.payload(), &[0xde, 0xad, 0xbe, 0xef]);
        let opts: Vec<_> = p.option_iter().collect::<Result<_, _>>().unwrap();
        assert_eq!(opts.len(), 1);
        assert_eq!(
            (opts[0].class, opts[0].type_, opts[0].offset),
            (0x0102, 0x80, 8)
        );
        assert!(opts[0].is_critical());
        assert_eq!(opts[0].data, &[0xaa, 0xbb, 0xcc, 0xdd]);
    }

    #[test]
    fn test_construct() {
        let mut buf = [0u8; 20];
        let repr = Repr {
            oam: false,
            critical: true,
            protocol_type: 0x0800,
            vni: 0x123456,
            opt_len_words: 2,
        };
        repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
        emit_option(&mut buf[8..], 0x0102, 0x80, &[0xaa, 0xbb, 0xcc, 0xdd]).unwrap();
        buf[16..].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(buf, PACKET_BYTES);
    }

    #[test]
    fn test_check_len() {
        assert_eq!(
            Packet::new_checked(&PACKET_BYTES[..7]).unwrap_err(),
            WireError::Truncated
        );
        // Opt Len says 8 option bytes but only 4 are present.
        assert_eq!(
            Packet::new_checked(&PACKET_BYTES[..12]).unwrap_err(),
            WireError::Truncated
        );
        assert!(Packet::new_checked(&PACKET_BYTES[..16]).is_ok());
    }

    #[test]
    fn test_parse_rules() {
        let mut b = PACKET_BYTES;
        b[0] |= 0x40; // version 1
        assert_eq!(
            Repr::parse(&Packet::new_unchecked(&b[..])).unwrap_err(),
            WireError::BadVersion
        );
        let mut b = PACKET_BYTES;
        b[11] = 0x02; // option claims 8 data bytes, area has 4
        assert_eq!(
            Repr::parse(&Packet::new_unchecked(&b[..])).unwrap_err(),
            WireError::OptionLength
        );
        let mut b = PACKET_BYTES;
        b[0] = 0x03; // Opt Len 3: 12 bytes, option is 8 then 4 bytes of payload as a bad TLV
                     // bytes 16..20 read as a TLV header with Length 0xef & 0x1f = 15 words: overruns.
        assert_eq!(
            Repr::parse(&Packet::new_unchecked(&b[..])).unwrap_err(),
            WireError::OptionLength
        );
        // Reserved bits are ignored on receipt: Rsvd, R bits and the last header byte.
        let mut b = PACKET_BYTES;
        b[1] |= 0x3f;
        b[7] = 0xff;
        b[11] |= 0xe0;
        let p = Packet::new_unchecked(&b[..]);
        let r = Repr::parse(&p).unwrap();
        assert_eq!(r.vni, 0x123456);
        assert_eq!(p.rsvd(), 0x3f);
        assert_eq!(p.option_iter().next().unwrap().unwrap().data.len(), 4);
    }

    #[test]
    fn test_emit_zeroes_reserved() {
        let mut buf = [0xffu8; 8];
        let repr = Repr {
            oam: true,
            critical: false,
            protocol_type: 0x6558,
            vni: 0xffffffff,
            opt_len_words: 0,
        };
        repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
        assert_eq!(buf, [0x00, 0x80, 0x65, 0x58, 0xff, 0xff, 0xff, 0x00]);
    }

    #[test]
    fn test_buffer_len() {
        let repr = Repr {
            oam: false,
            critical: false,
            protocol_type: 0,
            vni: 0,
            opt_len_words: 63,
        };
        assert_eq!(repr.buffer_len(), 260);
    }
}
