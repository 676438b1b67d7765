//! Codec errors. Every malformed input maps to one of these values, never to a panic.

use super::enums::{NotifyType, PayloadType};

/// Why a datagram, payload or substructure was refused, or why a message could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Fewer bytes than the structure needs.
    #[error("truncated {what}: need {need} bytes, have {have}")]
    Truncated {
        what: &'static str,
        need: usize,
        have: usize,
    },
    /// A length field that is impossible (too small, or past its container).
    #[error("bad length in {what}: {len}")]
    BadLength { what: &'static str, len: usize },
    /// The IKE header Length differs from the datagram size (RFC 7296 §3.1).
    #[error("IKE header length {header} but datagram has {datagram} bytes")]
    LengthMismatch { header: u32, datagram: usize },
    /// Bytes left after a structure that must end its container.
    #[error("{count} trailing bytes after {what}")]
    TrailingBytes { what: &'static str, count: usize },
    /// Major version other than 2: answer INVALID_MAJOR_VERSION (RFC 7296 §2.5).
    #[error("unsupported IKE major version {0}")]
    UnsupportedMajorVersion(u8),
    /// An unknown payload with the critical bit: answer UNSUPPORTED_CRITICAL_PAYLOAD with this
    /// type as the notify data (RFC 7296 §2.5, §3.2).
    #[error("unsupported critical payload {0}")]
    UnsupportedCriticalPayload(PayloadType),
    /// SK or SKF is not the last payload of the message (RFC 7296 §3.14).
    #[error("encrypted payload is not the last payload")]
    EncryptedNotLast,
    /// SK or SKF inside decrypted contents (RFC 7296 §3.14).
    #[error("encrypted payload inside an encrypted payload")]
    NestedEncrypted,
    /// A field holds a value the format forbids.
    #[error("invalid {what}")]
    InvalidValue { what: &'static str },
    /// A typed value does not fit its wire field when building.
    #[error("{what} too large to encode")]
    TooLarge { what: &'static str },
}

impl Error {
    /// The notify an engine answers a request with when this error hits it
    /// (RFC 7296 §2.21): UNSUPPORTED_CRITICAL_PAYLOAD (data: [`Error::notify_data`]),
    /// INVALID_MAJOR_VERSION, otherwise INVALID_SYNTAX.
    pub fn notify_type(&self) -> NotifyType {
        match self {
            Error::UnsupportedCriticalPayload(_) => NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD,
            Error::UnsupportedMajorVersion(_) => NotifyType::INVALID_MAJOR_VERSION,
            _ => NotifyType::INVALID_SYNTAX,
        }
    }

    /// Notify data for [`Error::notify_type`]: the 1-octet payload type for
    /// UNSUPPORTED_CRITICAL_PAYLOAD, our highest version (2) for INVALID_MAJOR_VERSION.
    pub fn notify_data(&self) -> Vec<u8> {
        match self {
            Error::UnsupportedCriticalPayload(t) => vec![t.0],
            Error::UnsupportedMajorVersion(_) => vec![2],
            _ => Vec::new(),
        }
    }
}
