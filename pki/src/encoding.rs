//! PEM or DER input, detected by content (strongSwan's pki accepts either in
//! any file, so scripts that mix them keep working).

use zeroize::Zeroizing;

/// What a PEM label (or the caller, for DER) says a block holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    /// `CERTIFICATE`
    Certificate,
    /// `CERTIFICATE REQUEST` / `NEW CERTIFICATE REQUEST`
    Csr,
    /// `X509 CRL`
    Crl,
    /// `PRIVATE KEY` (PKCS#8, RFC 5958)
    Pkcs8Key,
    /// `EC PRIVATE KEY` (SEC1, RFC 5915)
    Sec1Key,
    /// `RSA PRIVATE KEY` (PKCS#1): recognised only to be rejected clearly
    Pkcs1Key,
    /// `PUBLIC KEY` (SubjectPublicKeyInfo)
    PublicKey,
    /// Raw DER: the kind is whatever the caller expects.
    Der,
}

/// One decoded object; the bytes may be secret, so they zeroize on drop.
pub struct Block {
    /// What the PEM label said (or [`BlockKind::Der`]).
    pub kind: BlockKind,
    /// DER bytes.
    pub der: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for Block {
    // Redacted: a block may be a private key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Block({:?}, {} bytes)", self.kind, self.der.len())
    }
}

/// Why input could not be decoded.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum EncodingError {
    /// The input is empty.
    #[error("file is empty")]
    Empty,
    /// Looks like PEM but a block is broken (bad base64, no END line).
    #[error("malformed PEM: {0}")]
    MalformedPem(String),
    /// PEM text without any block we understand.
    #[error("malformed PEM: no supported PEM block found")]
    NoPemBlock,
}

/// True when `bytes` look like PEM text rather than DER (DER always starts
/// with a constructed SEQUENCE tag 0x30).
pub fn is_pem(bytes: &[u8]) -> bool {
    let trimmed = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .map_or(&[][..], |i| &bytes[i..]);
    trimmed.first() != Some(&0x30) && bytes.windows(10).any(|w| w == b"-----BEGIN")
}

/// Decode every object in `bytes`: all PEM blocks, or the single DER blob.
pub fn decode(bytes: &[u8]) -> Result<Vec<Block>, EncodingError> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(EncodingError::Empty);
    }
    if !is_pem(bytes) {
        return Ok(vec![Block {
            kind: BlockKind::Der,
            der: Zeroizing::new(bytes.to_vec()),
        }]);
    }
    decode_pem(bytes)
}

fn decode_pem(bytes: &[u8]) -> Result<Vec<Block>, EncodingError> {
    use rustls_pemfile::Item;
    let mut rest = bytes;
    let mut blocks = Vec::new();
    loop {
        let item = rustls_pemfile::read_one_from_slice(rest)
            .map_err(|e| EncodingError::MalformedPem(pem_error_text(&e)))?;
        let Some((item, tail)) = item else { break };
        rest = tail;
        let (kind, der): (BlockKind, Vec<u8>) = match item {
            Item::X509Certificate(d) => (BlockKind::Certificate, d.to_vec()),
            Item::Csr(d) => (BlockKind::Csr, d.as_ref().to_vec()),
            Item::Crl(d) => (BlockKind::Crl, d.to_vec()),
            Item::Pkcs8Key(d) => (BlockKind::Pkcs8Key, d.secret_pkcs8_der().to_vec()),
            Item::Sec1Key(d) => (BlockKind::Sec1Key, d.secret_sec1_der().to_vec()),
            Item::Pkcs1Key(d) => (BlockKind::Pkcs1Key, d.secret_pkcs1_der().to_vec()),
            Item::SubjectPublicKeyInfo(d) => (BlockKind::PublicKey, d.to_vec()),
            _ => continue,
        };
        blocks.push(Block {
            kind,
            der: Zeroizing::new(der),
        });
    }
    if blocks.is_empty() {
        return Err(EncodingError::NoPemBlock);
    }
    Ok(blocks)
}

fn pem_error_text(e: &rustls_pemfile::Error) -> String {
    use rustls_pemfile::Error as E;
    match e {
        E::MissingSectionEnd { .. } => "missing -----END line".into(),
        E::IllegalSectionStart { .. } => "bad -----BEGIN line".into(),
        E::Base64Decode(_) => "invalid base64".into(),
    }
}

/// Encode DER as PEM with 64-column base64 lines and LF endings (RFC 7468).
pub fn to_pem(label: &str, der: &[u8]) -> String {
    let block = pem::Pem::new(label, der.to_vec());
    pem::encode_config(
        &block,
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_round_trip() {
        let der = vec![0x30, 0x03, 0x02, 0x01, 0x05];
        let pem = to_pem("CERTIFICATE", &der);
        assert_eq!(
            pem,
            "-----BEGIN CERTIFICATE-----\nMAMCAQU=\n-----END CERTIFICATE-----\n"
        );
        let blocks = decode(pem.as_bytes()).unwrap();
        assert_eq!(blocks.len(), 1);
        assert_eq!(blocks[0].kind, BlockKind::Certificate);
        assert_eq!(&blocks[0].der[..], &der[..]);
    }

    #[test]
    fn der_passes_through() {
        let blocks = decode(&[0x30, 0x00]).unwrap();
        assert_eq!(blocks[0].kind, BlockKind::Der);
    }

    #[test]
    fn broken_pem_is_an_error() {
        let text = b"-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n";
        assert!(matches!(decode(text), Err(EncodingError::MalformedPem(_))));
        let text = b"-----BEGIN PRIVATE KEY-----\nMAMCAQU=\n";
        assert!(matches!(decode(text), Err(EncodingError::MalformedPem(_))));
        assert!(matches!(decode(b"  \n"), Err(EncodingError::Empty)));
    }
}
