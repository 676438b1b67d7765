//! Geneve Security Option (GSO) data: our layout for GAO and GEO (DESIGN.md, "GSO on the wire").
//!
//! ```text
//!  0                   1                   2                   3
//! +---------------------------------------------------------------+
//! |                Sequence Number, low 32 bits                   |
//! +---------------------------------------------------------------+
//! |                           GSA-ID                              |
//! +-------------------------------+-------------------------------+
//! |        Covered Length         |          Reserved (0)         |
//! +-------------------------------+-------------------------------+
//! |                    ICV / Tag (16 bytes)                       |
//! +---------------------------------------------------------------+
//! ```
//! Option Length = 7 words (28 data bytes), 32 bytes with the TLV header.

use super::{be16, be32, WireError};

/// Experimental option class (RFC 8926 section 7); configurable per dataplane.
pub const DEFAULT_CLASS: u16 = 0xFF00;
/// GAO type: not critical (an ignorant receiver only loses authentication; policy catches it).
pub const TYPE_GAO: u8 = 0x01;
/// GEO type: critical (0x02 | 0x80), because ignoring it would hand ciphertext up as payload.
pub const TYPE_GEO: u8 = 0x82;
/// Option data length.
pub const DATA_LEN: usize = 28;
/// Whole option with its TLV header.
pub const OPTION_LEN: usize = 32;
/// Length field value (4-byte words).
pub const LENGTH_WORDS: u8 = 7;
/// ICV/tag length.
pub const ICV_LEN: usize = 16;

mod field {
    pub const SN_LOW: usize = 0;
    pub const GSA_ID: usize = 4;
    pub const COVERED: usize = 8;
    pub const RESERVED: usize = 10;
    pub const ICV: std::ops::Range<usize> = 12..28;
}

/// Which security option an option TLV is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GsoKind {
    /// Geneve Authentication Option.
    Gao,
    /// Geneve Encryption Option.
    Geo,
}

impl GsoKind {
    /// The option type byte on the wire.
    pub fn type_byte(self) -> u8 {
        match self {
            GsoKind::Gao => TYPE_GAO,
            GsoKind::Geo => TYPE_GEO,
        }
    }

    /// Recognise a GSO by class and type; `None` for any other option.
    pub fn classify(class: u16, type_: u8, our_class: u16) -> Option<GsoKind> {
        if class != our_class {
            return None;
        }
        match type_ {
            TYPE_GAO => Some(GsoKind::Gao),
            TYPE_GEO => Some(GsoKind::Geo),
            _ => None,
        }
    }
}

/// View of the 28 data bytes of a GAO or GEO.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// The data must be exactly 28 bytes: the option type has a fixed length (RFC 8926 §3.5.1).
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        if buffer.as_ref().len() != DATA_LEN {
            return Err(WireError::GsoLength);
        }
        Ok(Packet { buffer })
    }

    pub fn sn_low(&self) -> u32 {
        be32(self.buffer.as_ref(), field::SN_LOW)
    }

    pub fn gsa_id(&self) -> u32 {
        be32(self.buffer.as_ref(), field::GSA_ID)
    }

    pub fn covered_len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::COVERED)
    }

    /// Reserved: zero on send, ignored on receipt.
    pub fn reserved(&self) -> u16 {
        be16(self.buffer.as_ref(), field::RESERVED)
    }

    pub fn icv(&self) -> [u8; ICV_LEN] {
        let mut t = [0u8; ICV_LEN];
        t.copy_from_slice(&self.buffer.as_ref()[field::ICV]);
        t
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_icv(&mut self, icv: &[u8; ICV_LEN]) {
        self.buffer.as_mut()[field::ICV].copy_from_slice(icv);
    }
}

/// The validated GSO fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub sn_low: u32,
    pub gsa_id: u32,
    pub covered_len: u16,
    pub icv: [u8; ICV_LEN],
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Repr, WireError> {
        if p.buffer.as_ref().len() != DATA_LEN {
            return Err(WireError::GsoLength);
        }
        Ok(Repr {
            sn_low: p.sn_low(),
            gsa_id: p.gsa_id(),
            covered_len: p.covered_len(),
            icv: p.icv(),
        })
    }

    pub fn buffer_len(&self) -> usize {
        DATA_LEN
    }

    /// Write the data bytes (Reserved = 0).
    pub fn emit(&self, out: &mut [u8]) -> Result<(), WireError> {
        if out.len() < DATA_LEN {
            return Err(WireError::BufferTooSmall);
        }
        out[0..4].copy_from_slice(&self.sn_low.to_be_bytes());
        out[4..8].copy_from_slice(&self.gsa_id.to_be_bytes());
        out[8..10].copy_from_slice(&self.covered_len.to_be_bytes());
        out[10..12].copy_from_slice(&[0, 0]);
        out[12..28].copy_from_slice(&self.icv);
        Ok(())
    }

    /// Write the whole TLV (header + data) into `out[..32]`.
    pub fn emit_option(&self, out: &mut [u8], class: u16, kind: GsoKind) -> Result<(), WireError> {
        if out.len() < OPTION_LEN {
            return Err(WireError::BufferTooSmall);
        }
        out[0..2].copy_from_slice(&class.to_be_bytes());
        out[2] = kind.type_byte();
        out[3] = LENGTH_WORDS;
        self.emit(&mut out[4..OPTION_LEN])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static OPTION_BYTES: [u8; 32] = [
        0xff, 0x00, 0x82, 0x07, // class 0xFF00, type GEO (critical), Length 7
        0x00, 0x00, 0x00, 0x05, // SN low 5
        0xca, 0xfe, 0x00, 0x01, // GSA-ID
        0x05, 0x78, 0x00, 0x00, // Covered Length 1400, Reserved
        0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e,
        0x0f,
    ];

    fn repr() -> Repr {
        let mut icv = [0u8; 16];
        for (i, b) in icv.iter_mut().enumerate() {
            *b = i as u8;
        }
        Repr {
            sn_low: 5,
            gsa_id: 0xcafe0001,
            covered_len: 1400,
            icv,
        }
    }

    #[test]
    fn test_deconstruct_and_parse() {
        let p = Packet::new_checked(&OPTION_BYTES[4..]).unwrap();
        assert_eq!(p.sn_low(), 5);
        assert_eq!(p.gsa_id(), 0xcafe0001);
        assert_eq!(p.covered_len(), 1400);
        assert_eq!(p.reserved(), 0);
        assert_eq!(Repr::parse(&p).unwrap(), repr());
        assert_eq!(
            GsoKind::classify(0xff00, OPTION_BYTES[2], DEFAULT_CLASS),
            Some(GsoKind::Geo)
        );
        assert_eq!(GsoKind::classify(0xff01, 0x82, DEFAULT_CLASS), None);
        assert_eq!(GsoKind::classify(0xff00, 0x03, DEFAULT_CLASS), None);
    }

    #[test]
    fn test_construct_and_emit() {
        let mut out = [0xeeu8; 32];
        repr()
            .emit_option(&mut out, DEFAULT_CLASS, GsoKind::Geo)
            .unwrap();
        assert_eq!(out, OPTION_BYTES);
        assert_eq!(repr().buffer_len(), 28);
        assert_eq!(
            repr().emit(&mut [0u8; 27]).unwrap_err(),
            WireError::BufferTooSmall
        );
    }

    #[test]
    fn test_check_len() {
        assert_eq!(
            Packet::new_checked(&OPTION_BYTES[4..31]).unwrap_err(),
            WireError::GsoLength
        );
        assert_eq!(
            Packet::new_checked(&OPTION_BYTES[..]).unwrap_err(),
            WireError::GsoLength
        );
    }
}
