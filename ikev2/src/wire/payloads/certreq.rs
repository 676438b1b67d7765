//! CERTREQ payload (RFC 7296 §3.7): `Cert Encoding (1) | Certification Authority`. For X.509
//! the authority field is a concatenation of 20-byte SHA-1 hashes of CA public keys (SPKI).

use crate::wire::codec::Reader;
use crate::wire::enums::CertEncoding;
use crate::wire::error::Error;

/// Size of one CA key hash in an X.509 CERTREQ.
pub const CA_HASH_LEN: usize = 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertReq {
    pub encoding: CertEncoding,
    pub authorities: Vec<u8>,
}

impl CertReq {
    /// An X.509 CERTREQ naming the given CA key hashes.
    pub fn x509(ca_hashes: &[[u8; CA_HASH_LEN]]) -> Self {
        Self {
            encoding: CertEncoding::X509_SIGNATURE,
            authorities: ca_hashes.concat(),
        }
    }

    /// The CA key hashes (a trailing partial hash is ignored).
    pub fn ca_hashes(&self) -> impl Iterator<Item = &[u8]> {
        self.authorities.chunks_exact(CA_HASH_LEN)
    }

    pub fn parse(body: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(body);
        let encoding = CertEncoding(r.u8("CERTREQ payload")?);
        Ok(Self {
            encoding,
            authorities: r.rest().to_vec(),
        })
    }

    pub fn emit_body(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        out.push(self.encoding.0);
        out.extend_from_slice(&self.authorities);
        Ok(())
    }
}
