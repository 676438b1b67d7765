//! Key and certificate handling shared by `nvesec-pki` and `nvesecd`, so both
//! accept and reject exactly the same certificates.
//!
//! - [`key`]: Ed25519 / ECDSA P-256 / P-384 private keys that sign (IKEv2
//!   AUTH method 14, RFC 7427) and public keys that verify.
//! - [`cert`], [`csr`], [`crl`]: loading PEM/DER credentials.
//! - [`issue`]: self-signed CA certificates and issuing from a CSR.
//! - [`verify`]: [`verify::TrustStore`] and [`verify::verify_chain`].
//! - [`rdn`]: DNs compared as RDN sequences (`id = CN=...` in nvesec.conf).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cert;
pub mod crl;
pub mod csr;
pub mod der;
pub mod encoding;
pub mod files;
pub mod fuzz;
pub mod issue;
pub mod key;
pub mod names;
pub mod rdn;
pub mod verify;

pub use cert::{days_until, CertError, CertInfo, Certificate};
pub use crl::{sign_crl, Crl, CrlError, Revocation};
pub use csr::{Csr, CsrError};
pub use issue::{issue, self_sign, CertProfile, Flag, IssueError};
pub use key::{verify_signature, KeyError, KeyType, PrivateKey, PublicKey, SignatureError};
pub use names::{Dn, NameError, SubjectAltName};
pub use rdn::RdnSequence;
pub use verify::{verify_chain, IkeIdentity, TrustStore, VerifiedCert, VerifyError};
