//! Identification payloads IDi/IDr (RFC 7296 §3.5): `ID Type (1) | RESERVED (3) | data`.
//!
//! The RESERVED octets are kept as received because AUTH signs IDx' = the body exactly as it
//! appeared (RFC 7296 §2.15; strongSwan keymat_v2.c); [`Id::body_bytes`] gives that IDx'.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::wire::codec::Reader;
use crate::wire::enums::IdType;
use crate::wire::error::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Id {
    pub id_type: IdType,
    /// Sent as zeros; kept as received for the AUTH computation.
    pub reserved: [u8; 3],
    pub data: Vec<u8>,
}

impl Id {
    pub fn new(id_type: IdType, data: Vec<u8>) -> Self {
        Self {
            id_type,
            reserved: [0; 3],
            data,
        }
    }
    pub fn fqdn(name: &str) -> Self {
        Self::new(IdType::ID_FQDN, name.as_bytes().to_vec())
    }
    pub fn rfc822(addr: &str) -> Self {
        Self::new(IdType::ID_RFC822_ADDR, addr.as_bytes().to_vec())
    }
    pub fn ipv4(addr: Ipv4Addr) -> Self {
        Self::new(IdType::ID_IPV4_ADDR, addr.octets().to_vec())
    }
    pub fn ipv6(addr: Ipv6Addr) -> Self {
        Self::new(IdType::ID_IPV6_ADDR, addr.octets().to_vec())
    }
    pub fn key_id(key_id: &[u8]) -> Self {
        Self::new(IdType::ID_KEY_ID, key_id.to_vec())
    }
    /// A DER-encoded X.501 Name.
    pub fn der_dn(der: &[u8]) -> Self {
        Self::new(IdType::ID_DER_ASN1_DN, der.to_vec())
    }

    /// IDx' for the AUTH octets: `ID Type | RESERVED (3) | data` (RFC 7296 §2.15).
    pub fn body_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + self.data.len());
        out.push(self.id_type.0);
        out.extend_from_slice(&self.reserved);
        out.extend_from_slice(&self.data);
        out
    }

    pub fn parse(body: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(body);
        let id_type = IdType(r.u8("ID payload")?);
        let reserved = r.array::<3>("ID payload")?;
        Ok(Self {
            id_type,
            reserved,
            data: r.rest().to_vec(),
        })
    }

    pub fn emit_body(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        out.extend_from_slice(&self.body_bytes());
        Ok(())
    }
}
