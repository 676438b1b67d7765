//! Vendor ID payload (RFC 7296 §3.12): opaque bytes. A recognised VID is what allows private
//! code points with that peer; unknown VIDs are ignored.

use crate::wire::error::Error;

/// nvesec's GSA extension VID ("geneve-gsa-v1"): the first 16 bytes of
/// SHA-256("nvesec geneve-gsa-v1"), fixed here so both ends compare bytes. A peer that sends it
/// understands Protocol ID 201 (GSA, 4-byte GSA-ID SPI) and TS type 241 (TS_GENEVE).
pub const NVESEC_GSA_VID: [u8; 16] = [
    0x11, 0x1a, 0x45, 0x9a, 0x8e, 0x0a, 0xa7, 0x70, 0x87, 0xf6, 0x83, 0xee, 0x98, 0xba, 0xc6, 0xbd,
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VendorId {
    pub data: Vec<u8>,
}

impl VendorId {
    pub fn new(data: Vec<u8>) -> Self {
        Self { data }
    }

    /// The VID announcing nvesec's GSA extension.
    pub fn nvesec_gsa() -> Self {
        Self::new(NVESEC_GSA_VID.to_vec())
    }

    pub fn is_nvesec_gsa(&self) -> bool {
        self.data == NVESEC_GSA_VID
    }

    pub fn parse(body: &[u8]) -> Result<Self, Error> {
        Ok(Self {
            data: body.to_vec(),
        })
    }

    pub fn emit_body(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        out.extend_from_slice(&self.data);
        Ok(())
    }
}
