//! AUTH payload (RFC 7296 §3.8): `Auth Method (1) | RESERVED (3) | Authentication Data`.
//! For method 14 (RFC 7427 §3) the data is `ASN.1 Length (1) | AlgorithmIdentifier | Signature`;
//! the AlgorithmIdentifier blobs live with the signing code.

use crate::wire::codec::Reader;
use crate::wire::enums::AuthMethod;
use crate::wire::error::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    pub method: AuthMethod,
    pub data: Vec<u8>,
}

impl Auth {
    pub fn new(method: AuthMethod, data: Vec<u8>) -> Self {
        Self { method, data }
    }

    pub fn parse(body: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(body);
        let method = AuthMethod(r.u8("AUTH payload")?);
        r.take(3, "AUTH payload")?; // RESERVED, ignored (RFC 7296 §2.5)
        Ok(Self {
            method,
            data: r.rest().to_vec(),
        })
    }

    pub fn emit_body(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        out.extend_from_slice(&[self.method.0, 0, 0, 0]);
        out.extend_from_slice(&self.data);
        Ok(())
    }
}
