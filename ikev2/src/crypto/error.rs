//! Crypto failures. Callers map them to notifies (INVALID_KE_PAYLOAD, AUTHENTICATION_FAILED,
//! NO_PROPOSAL_CHOSEN) or count and drop the message (ICV failure, RFC 7296 §2.21).

/// Every failure of the crypto module; none of them carries secret material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("unsupported D-H group {0}")]
    UnsupportedGroup(u16),
    #[error("unsupported PRF {0}")]
    UnsupportedPrf(u16),
    #[error("unsupported encryption transform {id} with key length {key_bits}")]
    UnsupportedEncr { id: u16, key_bits: u16 },
    #[error("D-H public value of {got} bytes, group needs {expected}")]
    BadPublicValue { expected: usize, got: usize },
    #[error("D-H private value of {got} bytes, group needs {expected}")]
    BadPrivateValue { expected: usize, got: usize },
    #[error("all-zero D-H shared secret (small-order peer value, RFC 7748 §6.1)")]
    ZeroSharedSecret,
    #[error("prf+ output of {requested} bytes exceeds the limit of {max} (RFC 7296 §2.13)")]
    OutputTooLong { requested: usize, max: usize },
    #[error("key material of {got} bytes where {expected} are needed")]
    KeyLength { expected: usize, got: usize },
    #[error("SK payload too short: {0} bytes")]
    SkTruncated(usize),
    #[error("SK payload integrity check failed")]
    Integrity,
    #[error("SK payload pad length {pad} exceeds decrypted length {len}")]
    BadPadding { pad: usize, len: usize },
    #[error("SK IV counter exhausted; the IKE SA must be rekeyed")]
    IvExhausted,
    #[error("plaintext too long for AES-GCM")]
    TooLong,
    #[error("authentication data mismatch")]
    AuthMismatch,
    #[error("malformed RFC 7427 signature AUTH data")]
    MalformedAuthData,
    #[error("unsupported signature AlgorithmIdentifier")]
    UnsupportedSignatureAlgorithm,
    #[error("signature algorithm {got:?} does not match the peer key ({key:?})")]
    SchemeMismatch {
        got: crate::crypto::SignatureScheme,
        key: crate::crypto::SignatureScheme,
    },
    #[error("peer did not announce hash {0} in SIGNATURE_HASH_ALGORITHMS (RFC 7427 §4)")]
    NoCommonHash(u16),
    #[error("signature verification failed")]
    BadSignature,
    #[error("unusable private key: {0}")]
    BadPrivateKey(&'static str),
    #[error("unusable public key: {0}")]
    BadPublicKey(&'static str),
    #[error("signing failed")]
    Signing,
}
