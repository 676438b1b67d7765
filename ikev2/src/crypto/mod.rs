//! IKEv2 crypto suite: D-H, prf+, key derivation, SK payload protection, AUTH.
//!
//! Everything here is a thin layer over the project's chosen crates (x25519-dalek, hkdf, hmac,
//! sha2, aes-gcm, ed25519-dalek, ring); no primitive is written by hand. Nothing here depends
//! on the wire codec: the functions take and return byte buffers, so the codec and the state
//! machines decide *which* bytes (RFC 7296 §2.14, §2.15, §2.17, §2.18; RFC 5282; RFC 7427).
//!
//! Supported suite (DESIGN.md "IKE SA"): D-H 31 Curve25519 (RFC 8031), PRF_HMAC_SHA2_256 (5)
//! and PRF_HMAC_SHA2_384 (6), ENCR_AES_GCM_16 (20) with 128- and 256-bit keys, AUTH methods 2
//! (PSK) and 14 (RFC 7427 Digital Signature: Ed25519, ecdsa-with-SHA256).
//!
//! Secrets live in [`Secret`] (zeroized on drop, redacted in `Debug`).

pub mod auth;
pub mod dh;
mod error;
pub mod fuzz;
pub mod keymat;
#[cfg(any(test, feature = "fuzzing"))]
pub mod null_suite;
pub mod prf;
mod secret;
pub mod sign;
pub mod sk;
pub mod strongswan_log;

pub use auth::{SignatureHash, SignatureScheme};
pub use dh::{DhGroup, DhPrivate};
pub use error::CryptoError;
pub use keymat::{ChildKeySpec, ChildKeys, DirectionKeys, GsaSuite, IkeSaKeys, SkKeyMaterial};
pub use prf::Prf;
pub use secret::Secret;
pub use sign::{Signer, Verifier};
pub use sk::{open_sk, seal_sk, SkKey, SkSealer, SkSuite};

/// Runs the examples of docs/ikev2-crypto.md as doctests, so the documentation stays true.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/ikev2-crypto.md")]
pub struct CryptoDocExamples;
