//! Notify payload (RFC 7296 §3.10):
//! `Protocol ID (1) | SPI Size (1) | Notify Message Type (2) | SPI | Notification Data`.
//! IKE-SA-level notifies carry Protocol ID 0 and no SPI; Child/GSA ones name the protocol and
//! carry the SPI (INVALID_SELECTORS, REKEY_SA, CHILD_SA_NOT_FOUND).

use crate::wire::codec::{u8_len, Reader};
use crate::wire::enums::{DhGroup, HashAlgorithm, NotifyType, PayloadType, ProtocolId};
use crate::wire::error::Error;

/// NAT detection data is a SHA-1 digest (RFC 7296 §2.23).
pub const NAT_DETECTION_LEN: usize = 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notify {
    pub protocol: ProtocolId,
    pub spi: Vec<u8>,
    pub ty: NotifyType,
    pub data: Vec<u8>,
}

impl Notify {
    /// An IKE-SA-level notify: Protocol ID 0, no SPI.
    pub fn new(ty: NotifyType, data: Vec<u8>) -> Self {
        Self {
            protocol: ProtocolId::NONE,
            spi: Vec::new(),
            ty,
            data,
        }
    }

    /// A notify about a Child SA / GSA, carrying its SPI.
    pub fn with_spi(protocol: ProtocolId, spi: Vec<u8>, ty: NotifyType, data: Vec<u8>) -> Self {
        Self {
            protocol,
            spi,
            ty,
            data,
        }
    }

    /// UNSUPPORTED_CRITICAL_PAYLOAD with the 1-octet payload type (RFC 7296 §3.10.1).
    pub fn unsupported_critical_payload(ty: PayloadType) -> Self {
        Self::new(NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD, vec![ty.0])
    }

    /// INVALID_KE_PAYLOAD with the accepted group, 2 octets big endian (RFC 7296 §1.3).
    pub fn invalid_ke_payload(group: DhGroup) -> Self {
        Self::new(
            NotifyType::INVALID_KE_PAYLOAD,
            group.0.to_be_bytes().to_vec(),
        )
    }

    /// The group of an INVALID_KE_PAYLOAD notify.
    pub fn accepted_group(&self) -> Option<DhGroup> {
        let b = <[u8; 2]>::try_from(self.data.as_slice()).ok()?;
        (self.ty == NotifyType::INVALID_KE_PAYLOAD).then(|| DhGroup(u16::from_be_bytes(b)))
    }

    /// SIGNATURE_HASH_ALGORITHMS: concatenated 16-bit hash IDs (RFC 7427 §4).
    pub fn signature_hash_algorithms(algs: &[HashAlgorithm]) -> Self {
        let data = algs.iter().flat_map(|a| a.0.to_be_bytes()).collect();
        Self::new(NotifyType::SIGNATURE_HASH_ALGORITHMS, data)
    }

    /// Hash IDs of a SIGNATURE_HASH_ALGORITHMS notify; an odd length is malformed.
    pub fn hash_algorithms(&self) -> Result<Vec<HashAlgorithm>, Error> {
        if self.data.len() % 2 == 1 {
            return Err(Error::BadLength {
                what: "SIGNATURE_HASH_ALGORITHMS data",
                len: self.data.len(),
            });
        }
        Ok(self
            .data
            .chunks_exact(2)
            .map(|c| HashAlgorithm(u16::from_be_bytes([c[0], c[1]])))
            .collect())
    }

    /// COOKIE with the responder's opaque 1..=64 octets (RFC 7296 §2.6).
    pub fn cookie(data: Vec<u8>) -> Self {
        Self::new(NotifyType::COOKIE, data)
    }

    /// NAT_DETECTION_SOURCE_IP with `SHA-1(SPIi | SPIr | IP | port)` (RFC 7296 §2.23).
    pub fn nat_detection_source_ip(hash: [u8; NAT_DETECTION_LEN]) -> Self {
        Self::new(NotifyType::NAT_DETECTION_SOURCE_IP, hash.to_vec())
    }

    /// NAT_DETECTION_DESTINATION_IP, same hash over the destination (RFC 7296 §2.23).
    pub fn nat_detection_destination_ip(hash: [u8; NAT_DETECTION_LEN]) -> Self {
        Self::new(NotifyType::NAT_DETECTION_DESTINATION_IP, hash.to_vec())
    }

    /// REKEY_SA naming the SA being replaced (RFC 7296 §1.3.1).
    pub fn rekey_sa(protocol: ProtocolId, spi: Vec<u8>) -> Self {
        Self::with_spi(protocol, spi, NotifyType::REKEY_SA, Vec::new())
    }

    pub fn parse(body: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(body);
        let protocol = ProtocolId(r.u8("Notify payload")?);
        let spi_size = usize::from(r.u8("Notify payload")?);
        let ty = NotifyType(r.u16("Notify payload")?);
        let spi = r.take(spi_size, "Notify SPI")?.to_vec();
        Ok(Self {
            protocol,
            spi,
            ty,
            data: r.rest().to_vec(),
        })
    }

    pub fn emit_body(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        out.push(self.protocol.0);
        out.push(u8_len(self.spi.len(), "Notify SPI")?);
        out.extend_from_slice(&self.ty.0.to_be_bytes());
        out.extend_from_slice(&self.spi);
        out.extend_from_slice(&self.data);
        Ok(())
    }
}
