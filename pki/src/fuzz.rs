//! Entry point for the fuzz target and the property tests: every loader
//! must return an error, never panic, on arbitrary input.

/// Feed `data` to every parser of this crate.
pub fn parse_any(data: &[u8]) {
    let _ = crate::encoding::decode(data);
    let _ = crate::der::read_tlv(data);
    let _ = crate::key::PrivateKey::from_bytes(data);
    let _ = crate::key::PublicKey::from_bytes(data);
    let _ = crate::key::PublicKey::from_spki_der(data);
    if let Ok(certs) = crate::cert::Certificate::from_bytes(data) {
        for c in certs {
            let _ = c.info();
            let _ = c.public_key();
        }
    }
    let _ = crate::csr::Csr::from_bytes(data);
    let _ = crate::crl::Crl::from_bytes(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = crate::names::Dn::parse(text);
        let _ = crate::names::SubjectAltName::parse(text);
    }
}
