//! CERT payload (RFC 7296 §3.6): `Cert Encoding (1) | Certificate Data`. nvesec sends
//! encoding 4 (X.509 Certificate - Signature, DER).

use crate::wire::codec::Reader;
use crate::wire::enums::CertEncoding;
use crate::wire::error::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cert {
    pub encoding: CertEncoding,
    pub data: Vec<u8>,
}

impl Cert {
    /// A DER X.509 certificate (encoding 4).
    pub fn x509(der: Vec<u8>) -> Self {
        Self {
            encoding: CertEncoding::X509_SIGNATURE,
            data: der,
        }
    }

    pub fn parse(body: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(body);
        let encoding = CertEncoding(r.u8("CERT payload")?);
        Ok(Self {
            encoding,
            data: r.rest().to_vec(),
        })
    }

    pub fn emit_body(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        out.push(self.encoding.0);
        out.extend_from_slice(&self.data);
        Ok(())
    }
}
