//! KE payload (RFC 7296 §3.4): `D-H Group Num (2) | RESERVED (2) | Key Exchange Data`.
//! For Curve25519 (group 31) the data is the 32-byte RFC 7748 public value (RFC 8031 §3.1).

use crate::wire::codec::Reader;
use crate::wire::enums::DhGroup;
use crate::wire::error::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ke {
    pub group: DhGroup,
    pub data: Vec<u8>,
}

impl Ke {
    pub fn new(group: DhGroup, data: Vec<u8>) -> Self {
        Self { group, data }
    }

    pub fn parse(body: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(body);
        let group = DhGroup(r.u16("KE payload")?);
        r.u16("KE payload")?; // RESERVED: ignored on receipt (RFC 7296 §2.5)
        Ok(Self {
            group,
            data: r.rest().to_vec(),
        })
    }

    pub fn emit_body(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        out.extend_from_slice(&self.group.0.to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&self.data);
        Ok(())
    }
}
