//! Traffic Selector payloads TSi/TSr (RFC 7296 §3.13):
//! `Number of TSs (1) | RESERVED (3) | selectors`, each selector
//! `TS Type (1) | IP Protocol ID (1) | Selector Length (2) | type-specific fields`.
//!
//! - TS_IPV4_ADDR_RANGE (7), 16 bytes: `Start Port (2) | End Port (2) | Start (4) | End (4)`;
//! - TS_IPV6_ADDR_RANGE (8), 40 bytes: same with 16-byte addresses;
//! - TS_GENEVE (241, nvesec private, DESIGN.md "GSA negotiation"), 16 bytes: the second octet
//!   is RESERVED (sent 0, ignored), then `VNI start (4, top byte 0) | VNI end (4) |
//!   Protocol Type start (2) | Protocol Type end (2)`.
//!
//! Unknown types are kept as [`TrafficSelector::Unknown`]: narrowing ignores them (§2.9).

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::wire::codec::{patch_u16, u8_len, Reader};
use crate::wire::enums::TsType;
use crate::wire::error::Error;

/// Largest VNI (24 bits, RFC 8926 §3.4).
pub const MAX_VNI: u32 = 0x00ff_ffff;
const SELECTOR_HEADER_LEN: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ts {
    pub selectors: Vec<TrafficSelector>,
}

/// A TS_GENEVE selector: a VNI range and a Geneve Protocol Type range, both inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GeneveSelector {
    pub vni_start: u32,
    pub vni_end: u32,
    pub protocol_start: u16,
    pub protocol_end: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrafficSelector {
    Ipv4 {
        /// 0 = any protocol.
        ip_protocol: u8,
        start_port: u16,
        end_port: u16,
        start: Ipv4Addr,
        end: Ipv4Addr,
    },
    Ipv6 {
        ip_protocol: u8,
        start_port: u16,
        end_port: u16,
        start: Ipv6Addr,
        end: Ipv6Addr,
    },
    Geneve(GeneveSelector),
    /// A type we do not interpret: second octet and the bytes after the selector header.
    Unknown {
        ts_type: TsType,
        second: u8,
        data: Vec<u8>,
    },
}

impl GeneveSelector {
    /// Every VNI and every Protocol Type.
    pub const ANY: GeneveSelector = GeneveSelector {
        vni_start: 0,
        vni_end: MAX_VNI,
        protocol_start: 0,
        protocol_end: u16::MAX,
    };
}

impl TrafficSelector {
    pub fn ts_type(&self) -> TsType {
        match self {
            TrafficSelector::Ipv4 { .. } => TsType::TS_IPV4_ADDR_RANGE,
            TrafficSelector::Ipv6 { .. } => TsType::TS_IPV6_ADDR_RANGE,
            TrafficSelector::Geneve(_) => TsType::TS_GENEVE,
            TrafficSelector::Unknown { ts_type, .. } => *ts_type,
        }
    }

    fn parse(r: &mut Reader<'_>) -> Result<Self, Error> {
        let ts_type = TsType(r.u8("traffic selector")?);
        let second = r.u8("traffic selector")?;
        let len = usize::from(r.u16("traffic selector")?);
        let want = match ts_type {
            TsType::TS_IPV4_ADDR_RANGE | TsType::TS_GENEVE => Some(16),
            TsType::TS_IPV6_ADDR_RANGE => Some(40),
            _ => None,
        };
        if len < SELECTOR_HEADER_LEN || want.is_some_and(|w| w != len) {
            return Err(Error::BadLength {
                what: "traffic selector length",
                len,
            });
        }
        let mut s = r.sub(len - SELECTOR_HEADER_LEN, "traffic selector")?;
        Ok(match ts_type {
            TsType::TS_IPV4_ADDR_RANGE => TrafficSelector::Ipv4 {
                ip_protocol: second,
                start_port: s.u16("TS ports")?,
                end_port: s.u16("TS ports")?,
                start: Ipv4Addr::from(s.array::<4>("TS address")?),
                end: Ipv4Addr::from(s.array::<4>("TS address")?),
            },
            TsType::TS_IPV6_ADDR_RANGE => TrafficSelector::Ipv6 {
                ip_protocol: second,
                start_port: s.u16("TS ports")?,
                end_port: s.u16("TS ports")?,
                start: Ipv6Addr::from(s.array::<16>("TS address")?),
                end: Ipv6Addr::from(s.array::<16>("TS address")?),
            },
            TsType::TS_GENEVE => TrafficSelector::Geneve(GeneveSelector {
                vni_start: parse_vni(&mut s)?,
                vni_end: parse_vni(&mut s)?,
                protocol_start: s.u16("TS_GENEVE protocol type")?,
                protocol_end: s.u16("TS_GENEVE protocol type")?,
            }),
            _ => TrafficSelector::Unknown {
                ts_type,
                second,
                data: s.rest().to_vec(),
            },
        })
    }

    fn emit(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        let start = out.len();
        let second = match self {
            TrafficSelector::Ipv4 { ip_protocol, .. }
            | TrafficSelector::Ipv6 { ip_protocol, .. } => *ip_protocol,
            TrafficSelector::Geneve(_) => 0,
            TrafficSelector::Unknown { second, .. } => *second,
        };
        out.extend_from_slice(&[self.ts_type().0, second, 0, 0]);
        match self {
            TrafficSelector::Ipv4 {
                start_port,
                end_port,
                start,
                end,
                ..
            } => {
                put_ports(out, *start_port, *end_port);
                out.extend_from_slice(&start.octets());
                out.extend_from_slice(&end.octets());
            }
            TrafficSelector::Ipv6 {
                start_port,
                end_port,
                start,
                end,
                ..
            } => {
                put_ports(out, *start_port, *end_port);
                out.extend_from_slice(&start.octets());
                out.extend_from_slice(&end.octets());
            }
            TrafficSelector::Geneve(g) => g.emit(out)?,
            TrafficSelector::Unknown { data, .. } => out.extend_from_slice(data),
        }
        let len = out.len() - start;
        patch_u16(out, start + 2, len, "traffic selector length")
    }
}

fn put_ports(out: &mut Vec<u8>, start: u16, end: u16) {
    out.extend_from_slice(&start.to_be_bytes());
    out.extend_from_slice(&end.to_be_bytes());
}

/// A VNI is 24 bits carried in 4 octets whose top octet must be 0.
fn parse_vni(r: &mut Reader<'_>) -> Result<u32, Error> {
    let v = r.u32("TS_GENEVE VNI")?;
    if v > MAX_VNI {
        return Err(Error::InvalidValue {
            what: "TS_GENEVE VNI above 24 bits",
        });
    }
    Ok(v)
}

impl GeneveSelector {
    fn emit(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        if self.vni_start > MAX_VNI || self.vni_end > MAX_VNI {
            return Err(Error::TooLarge {
                what: "TS_GENEVE VNI",
            });
        }
        out.extend_from_slice(&self.vni_start.to_be_bytes());
        out.extend_from_slice(&self.vni_end.to_be_bytes());
        out.extend_from_slice(&self.protocol_start.to_be_bytes());
        out.extend_from_slice(&self.protocol_end.to_be_bytes());
        Ok(())
    }
}

impl Ts {
    pub fn new(selectors: Vec<TrafficSelector>) -> Self {
        Self { selectors }
    }

    pub fn parse(body: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(body);
        let count = r.u8("TS payload")?;
        r.take(3, "TS payload")?; // RESERVED
        let mut selectors = Vec::with_capacity(usize::from(count));
        for _ in 0..count {
            selectors.push(TrafficSelector::parse(&mut r)?);
        }
        r.finish("TS payload")?;
        Ok(Self { selectors })
    }

    pub fn emit_body(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        out.push(u8_len(self.selectors.len(), "TS count")?);
        out.extend_from_slice(&[0, 0, 0]);
        for s in &self.selectors {
            s.emit(out)?;
        }
        Ok(())
    }
}
