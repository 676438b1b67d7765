//! Entry point shared by the crypto proptests and the cargo-fuzz target: every parser of this
//! module on arbitrary bytes. It must never panic.

use super::auth::{parse_signature_auth, SignatureHash, SignatureScheme};
use super::sk::{open_sk, SkKey, SkSuite};
use super::strongswan_log::parse_key_dumps;
use super::{Signer, Verifier};

/// Feeds `data` to every crypto-side parser: RFC 7427 AUTH data, AlgorithmIdentifier, hash
/// lists, SPKI/PKCS#8 keys, SK payload opening (fixed key; the first byte splits AAD from
/// body) and the strongSwan log reader. Returns how many parsers accepted the input.
pub fn parse_any(data: &[u8]) -> usize {
    let mut accepted = 0;
    accepted += usize::from(parse_signature_auth(data).is_ok());
    accepted += usize::from(SignatureScheme::from_algorithm_identifier(data).is_ok());
    accepted += usize::from(SignatureHash::parse_list(data).is_ok());
    accepted += usize::from(Verifier::from_spki_der(data).is_ok());
    accepted += usize::from(Signer::from_pkcs8_der(data).is_ok());
    if let Ok(key) = SkKey::new(SkSuite::AesGcm16_128, &[0x42; 20]) {
        let split = data.first().map_or(0, |&b| usize::from(b)).min(data.len());
        let (aad, body) = data.split_at(split);
        accepted += usize::from(open_sk(&key, aad, body).is_ok());
    }
    if let Ok(text) = std::str::from_utf8(data) {
        accepted += parse_key_dumps(text).len();
    }
    accepted
}
