//! SA payload: proposals, transforms, attributes (RFC 7296 §3.3).
//!
//! ```text
//! Proposal:  | Last (0 last / 2 more) | RESERVED | Proposal Length (2) |
//!            | Proposal Num | Protocol ID | SPI Size | Num Transforms | SPI | transforms |
//! Transform: | Last (0 last / 3 more) | RESERVED | Transform Length (2) |
//!            | Transform Type | RESERVED | Transform ID (2) | attributes |
//! Attribute: | AF (1 bit) | Type (15) | Length or Value (2) | [Value] |
//! ```

use crate::wire::codec::{patch_u16, put_u16_len, u8_len, Reader};
use crate::wire::enums::{
    AttributeType, DhGroup, EncrId, EsnId, IntegId, PrfId, ProtocolId, TransformType,
};
use crate::wire::error::Error;

const MORE_PROPOSALS: u8 = 2;
const MORE_TRANSFORMS: u8 = 3;
/// Attribute Format bit: set = TV (2-byte value inline), clear = TLV.
const AF: u16 = 0x8000;

/// SA payload body: one or more proposals, numbered from 1 (RFC 7296 §3.3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sa {
    pub proposals: Vec<Proposal>,
}

/// One proposal: transforms of different types are ANDed, same type ORed (RFC 7296 §3.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    pub number: u8,
    pub protocol: ProtocolId,
    /// 0 bytes in the initial IKE_SA_INIT, 8 for IKE rekey, 4 for ESP/AH and GSA (GSA-ID).
    pub spi: Vec<u8>,
    pub transforms: Vec<Transform>,
}

/// One transform; `id` is interpreted per `ty` (see [`EncrId`], [`PrfId`], ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transform {
    pub ty: TransformType,
    pub id: u16,
    pub attributes: Vec<Attribute>,
}

/// A transform attribute (RFC 7296 §3.3.5). Type values are 15 bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attribute {
    /// AF = 1: fixed 2-byte value (Key Length is always TV).
    Tv { ty: AttributeType, value: u16 },
    /// AF = 0: variable-length value.
    Tlv { ty: AttributeType, value: Vec<u8> },
}

impl Sa {
    pub fn new(proposals: Vec<Proposal>) -> Self {
        Self { proposals }
    }

    pub fn parse(body: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(body);
        let mut proposals = Vec::new();
        while !r.is_empty() {
            let last = r.u8("proposal header")?;
            r.u8("proposal header")?;
            let len = usize::from(r.u16("proposal header")?);
            if len < 8 {
                return Err(Error::BadLength {
                    what: "proposal length",
                    len,
                });
            }
            let mut p = r.sub(len - 4, "proposal")?;
            check_last(last, MORE_PROPOSALS, r.is_empty(), "proposal Last Substruc")?;
            proposals.push(Proposal::parse(&mut p)?);
        }
        if proposals.is_empty() {
            return Err(Error::InvalidValue {
                what: "SA payload without proposals",
            });
        }
        Ok(Self { proposals })
    }

    pub fn emit_body(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        if self.proposals.is_empty() {
            return Err(Error::InvalidValue {
                what: "SA payload without proposals",
            });
        }
        for (i, p) in self.proposals.iter().enumerate() {
            let more = i + 1 < self.proposals.len();
            p.emit(more, out)?;
        }
        Ok(())
    }
}

/// The Last Substruc octet must say "more" exactly when more substructures follow.
fn check_last(last: u8, more: u8, is_last: bool, what: &'static str) -> Result<(), Error> {
    let want = if is_last { 0 } else { more };
    if last == want {
        Ok(())
    } else {
        Err(Error::InvalidValue { what })
    }
}

impl Proposal {
    /// A proposal with an SPI given as bytes (empty for the initial IKE_SA_INIT).
    pub fn new(number: u8, protocol: ProtocolId, spi: Vec<u8>, transforms: Vec<Transform>) -> Self {
        Self {
            number,
            protocol,
            spi,
            transforms,
        }
    }

    /// The SPI as a 32-bit value (ESP/AH SPI, or the GSA-ID for protocol 201).
    pub fn spi_u32(&self) -> Option<u32> {
        <[u8; 4]>::try_from(self.spi.as_slice())
            .ok()
            .map(u32::from_be_bytes)
    }

    /// The SPI as a 64-bit value (IKE SPI in an IKE SA rekey).
    pub fn spi_u64(&self) -> Option<u64> {
        <[u8; 8]>::try_from(self.spi.as_slice())
            .ok()
            .map(u64::from_be_bytes)
    }

    /// Transforms of one type, in proposal order.
    pub fn transforms_of(&self, ty: TransformType) -> impl Iterator<Item = &Transform> {
        self.transforms.iter().filter(move |t| t.ty == ty)
    }

    fn parse(r: &mut Reader<'_>) -> Result<Self, Error> {
        let number = r.u8("proposal")?;
        let protocol = ProtocolId(r.u8("proposal")?);
        let spi_size = usize::from(r.u8("proposal")?);
        let count = r.u8("proposal")?;
        let spi = r.take(spi_size, "proposal SPI")?.to_vec();
        let mut transforms = Vec::with_capacity(usize::from(count));
        for i in 0..count {
            let last = r.u8("transform header")?;
            r.u8("transform header")?;
            let len = usize::from(r.u16("transform header")?);
            if len < 8 {
                return Err(Error::BadLength {
                    what: "transform length",
                    len,
                });
            }
            let mut t = r.sub(len - 4, "transform")?;
            check_last(
                last,
                MORE_TRANSFORMS,
                i + 1 == count,
                "transform Last Substruc",
            )?;
            transforms.push(Transform::parse(&mut t)?);
        }
        r.finish("proposal")?;
        Ok(Self {
            number,
            protocol,
            spi,
            transforms,
        })
    }

    fn emit(&self, more: bool, out: &mut Vec<u8>) -> Result<(), Error> {
        let start = out.len();
        out.extend_from_slice(&[if more { MORE_PROPOSALS } else { 0 }, 0, 0, 0]);
        out.push(self.number);
        out.push(self.protocol.0);
        out.push(u8_len(self.spi.len(), "proposal SPI")?);
        out.push(u8_len(self.transforms.len(), "transform count")?);
        out.extend_from_slice(&self.spi);
        for (i, t) in self.transforms.iter().enumerate() {
            t.emit(i + 1 < self.transforms.len(), out)?;
        }
        let len = out.len() - start;
        patch_u16(out, start + 2, len, "proposal length")
    }
}

impl Transform {
    pub fn new(ty: TransformType, id: u16) -> Self {
        Self {
            ty,
            id,
            attributes: Vec::new(),
        }
    }

    /// An ENCR transform, with the Key Length attribute (bits) when given.
    pub fn encr(id: EncrId, key_bits: Option<u16>) -> Self {
        let mut t = Self::new(TransformType::ENCR, id.0);
        if let Some(bits) = key_bits {
            t.attributes.push(Attribute::Tv {
                ty: AttributeType::KEY_LENGTH,
                value: bits,
            });
        }
        t
    }
    pub fn prf(id: PrfId) -> Self {
        Self::new(TransformType::PRF, id.0)
    }
    pub fn integ(id: IntegId) -> Self {
        Self::new(TransformType::INTEG, id.0)
    }
    pub fn dh(group: DhGroup) -> Self {
        Self::new(TransformType::DH, group.0)
    }
    pub fn esn(id: EsnId) -> Self {
        Self::new(TransformType::ESN, id.0)
    }

    /// The Key Length attribute in bits, if present.
    pub fn key_length(&self) -> Option<u16> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Tv { ty, value } if *ty == AttributeType::KEY_LENGTH => Some(*value),
            _ => None,
        })
    }

    fn parse(r: &mut Reader<'_>) -> Result<Self, Error> {
        let ty = TransformType(r.u8("transform")?);
        r.u8("transform")?;
        let id = r.u16("transform")?;
        let mut attributes = Vec::new();
        while !r.is_empty() {
            attributes.push(Attribute::parse(r)?);
        }
        Ok(Self { ty, id, attributes })
    }

    fn emit(&self, more: bool, out: &mut Vec<u8>) -> Result<(), Error> {
        let start = out.len();
        out.extend_from_slice(&[if more { MORE_TRANSFORMS } else { 0 }, 0, 0, 0]);
        out.push(self.ty.0);
        out.push(0);
        out.extend_from_slice(&self.id.to_be_bytes());
        for a in &self.attributes {
            a.emit(out)?;
        }
        let len = out.len() - start;
        patch_u16(out, start + 2, len, "transform length")
    }
}

impl Attribute {
    fn parse(r: &mut Reader<'_>) -> Result<Self, Error> {
        let word = r.u16("attribute")?;
        let ty = AttributeType(word & !AF);
        let v = r.u16("attribute")?;
        if word & AF != 0 {
            return Ok(Attribute::Tv { ty, value: v });
        }
        let value = r.take(usize::from(v), "attribute value")?.to_vec();
        Ok(Attribute::Tlv { ty, value })
    }

    fn emit(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        let (ty, af) = match self {
            Attribute::Tv { ty, .. } => (*ty, AF),
            Attribute::Tlv { ty, .. } => (*ty, 0),
        };
        if ty.0 & AF != 0 {
            return Err(Error::TooLarge {
                what: "attribute type",
            });
        }
        out.extend_from_slice(&(ty.0 | af).to_be_bytes());
        match self {
            Attribute::Tv { value, .. } => out.extend_from_slice(&value.to_be_bytes()),
            Attribute::Tlv { value, .. } => {
                put_u16_len(out, value.len(), "attribute value")?;
                out.extend_from_slice(value);
            }
        }
        Ok(())
    }
}
