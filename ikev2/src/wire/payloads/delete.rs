//! Delete payload (RFC 7296 §3.11): `Protocol ID (1) | SPI Size (1) | Num of SPIs (2) | SPIs`.
//! IKE SA: protocol 1, SPI size 0, no SPIs. Child/GSA: the sender's inbound SPIs (GSA: the
//! 4-byte GSA-IDs it receives on); one protocol per payload.

use crate::wire::codec::{u8_len, Reader};
use crate::wire::enums::ProtocolId;
use crate::wire::error::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delete {
    pub protocol: ProtocolId,
    pub spi_size: u8,
    /// Each exactly `spi_size` bytes.
    pub spis: Vec<Vec<u8>>,
}

/// SPIs of size 0 only make sense in the IKE SA form, which lists none; refusing a count there
/// also keeps an 8-byte payload from expanding into 65535 empty entries.
fn check_count(spi_size: u8, count: usize) -> Result<(), Error> {
    if spi_size == 0 && count != 0 {
        return Err(Error::InvalidValue {
            what: "Delete with SPIs of size 0",
        });
    }
    Ok(())
}

impl Delete {
    /// Delete the IKE SA the message travels on.
    pub fn ike() -> Self {
        Self {
            protocol: ProtocolId::IKE,
            spi_size: 0,
            spis: Vec::new(),
        }
    }

    /// Delete Child SAs / GSAs by 32-bit SPI (GSA-ID for protocol 201).
    pub fn spis_u32(protocol: ProtocolId, spis: &[u32]) -> Self {
        Self {
            protocol,
            spi_size: 4,
            spis: spis.iter().map(|s| s.to_be_bytes().to_vec()).collect(),
        }
    }

    /// The SPIs as 32-bit values when the SPI size is 4.
    pub fn u32_spis(&self) -> Option<Vec<u32>> {
        self.spis
            .iter()
            .map(|s| {
                <[u8; 4]>::try_from(s.as_slice())
                    .ok()
                    .map(u32::from_be_bytes)
            })
            .collect()
    }

    pub fn parse(body: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(body);
        let protocol = ProtocolId(r.u8("Delete payload")?);
        let spi_size = r.u8("Delete payload")?;
        let count = r.u16("Delete payload")?;
        check_count(spi_size, usize::from(count))?;
        let mut spis = Vec::new();
        for _ in 0..count {
            spis.push(r.take(usize::from(spi_size), "Delete SPI")?.to_vec());
        }
        r.finish("Delete payload")?;
        Ok(Self {
            protocol,
            spi_size,
            spis,
        })
    }

    pub fn emit_body(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        let count = u16::try_from(self.spis.len()).map_err(|_| Error::TooLarge {
            what: "Delete SPI count",
        })?;
        check_count(self.spi_size, self.spis.len())?;
        out.push(self.protocol.0);
        out.push(self.spi_size);
        out.extend_from_slice(&count.to_be_bytes());
        for spi in &self.spis {
            if u8_len(spi.len(), "Delete SPI")? != self.spi_size {
                return Err(Error::InvalidValue {
                    what: "Delete SPI of the wrong size",
                });
            }
            out.extend_from_slice(spi);
        }
        Ok(())
    }
}
