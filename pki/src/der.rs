//! The few DER (X.690) helpers the key formats need: reading a TLV with
//! checked lengths and writing one. Everything else goes through x509-parser.

/// A DER structure did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed DER")]
pub struct DerError;

/// Universal tags used by PKCS#8 / SEC1 / SPKI.
pub mod tag {
    /// INTEGER
    pub const INTEGER: u8 = 0x02;
    /// BIT STRING
    pub const BIT_STRING: u8 = 0x03;
    /// OCTET STRING
    pub const OCTET_STRING: u8 = 0x04;
    /// OBJECT IDENTIFIER
    pub const OID: u8 = 0x06;
    /// SEQUENCE
    pub const SEQUENCE: u8 = 0x30;
    /// [0] constructed
    pub const CONTEXT_0: u8 = 0xa0;
    /// [1] constructed
    pub const CONTEXT_1: u8 = 0xa1;
}

/// Read one TLV: returns (tag, value, rest). Only definite lengths up to
/// 4 length octets are accepted (X.690 §10.1: DER uses the definite form).
pub fn read_tlv(input: &[u8]) -> Result<(u8, &[u8], &[u8]), DerError> {
    let (&t, rest) = input.split_first().ok_or(DerError)?;
    let (&first, mut rest) = rest.split_first().ok_or(DerError)?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return Err(DerError);
        }
        let mut len = 0usize;
        for &b in &rest[..n] {
            len = (len << 8) | usize::from(b);
        }
        rest = &rest[n..];
        len
    };
    if rest.len() < len {
        return Err(DerError);
    }
    Ok((t, &rest[..len], &rest[len..]))
}

/// Read a TLV that must carry `expected` as tag.
pub fn expect(input: &[u8], expected: u8) -> Result<(&[u8], &[u8]), DerError> {
    let (t, value, rest) = read_tlv(input)?;
    if t != expected {
        return Err(DerError);
    }
    Ok((value, rest))
}

/// Encode one TLV.
pub fn write_tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 6);
    out.push(tag);
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = (len as u32).to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (4 - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(value);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lengths_round_trip() {
        for len in [0usize, 1, 127, 128, 255, 256, 70000] {
            let v = vec![7u8; len];
            let enc = write_tlv(tag::OCTET_STRING, &v);
            let (t, val, rest) = read_tlv(&enc).unwrap();
            assert_eq!((t, val.len(), rest.len()), (tag::OCTET_STRING, len, 0));
        }
        assert_eq!(write_tlv(0x04, &[0; 200])[..3], [0x04, 0x81, 200]);
    }

    #[test]
    fn truncated_is_error() {
        assert_eq!(read_tlv(&[0x30]), Err(DerError));
        assert_eq!(read_tlv(&[0x30, 0x05, 1]), Err(DerError));
        assert_eq!(read_tlv(&[0x30, 0x85, 1, 1, 1, 1, 1]), Err(DerError));
    }
}
