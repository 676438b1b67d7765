//! Nonce payload (RFC 7296 §3.9): the nonce value only, 16..=256 octets (§2.10; strongSwan
//! refuses anything outside that range too).

use crate::wire::error::Error;

pub const MIN_NONCE_LEN: usize = 16;
pub const MAX_NONCE_LEN: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nonce {
    pub data: Vec<u8>,
}

impl Nonce {
    pub fn new(data: Vec<u8>) -> Self {
        Self { data }
    }

    fn check(len: usize) -> Result<(), Error> {
        if (MIN_NONCE_LEN..=MAX_NONCE_LEN).contains(&len) {
            Ok(())
        } else {
            Err(Error::BadLength { what: "nonce", len })
        }
    }

    pub fn parse(body: &[u8]) -> Result<Self, Error> {
        Self::check(body.len())?;
        Ok(Self {
            data: body.to_vec(),
        })
    }

    pub fn emit_body(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        Self::check(self.data.len())?;
        out.extend_from_slice(&self.data);
        Ok(())
    }
}
