//! The **null suite**: a fixed, non-authenticating stand-in for SK protection and PSK AUTH,
//! for fuzzing the whole engine only. IT PROVIDES NO SECURITY.
//!
//! With real crypto a fuzzer's mutation of an established SA's message dies at the AES-GCM
//! ICV check, and a forged IKE_AUTH dies at the AUTH check, so the state machines behind them
//! (IKE_AUTH, CREATE_CHILD_SA, rekeys and their collisions, Deletes) only ever see the bytes
//! the engines produced themselves. strongSwan's `fuzz_ike.c` stops at the parser for that
//! reason; rustls fuzzes whole connections with `rustls-fuzzing-provider` ("provides NO
//! SECURITY and is for fuzzing only"). This module is our equivalent.
//!
//! While active on the current thread ([`activate`]):
//! - SK payloads are sealed as `IV | inner payloads | Pad Length 0 | ICV = 16 zero octets`
//!   (the same length as AES-GCM's, so [`super::sk::sealed_len`] and fragmentation hold) and
//!   opened by stripping the IV and ICV *without checking anything*: every byte a fuzzer
//!   writes into the SK body reaches the inner payload parser and the state machines;
//! - PSK AUTH data always verifies (RFC 7427 signatures are unchanged: the fuzzing
//!   configurations use PSKs);
//! - D-H stays X25519: it is deterministic already (the private values come from the
//!   endpoint's seeded [`crate::endpoint::EngineRng`]), and with pass-through SK a g^ir that
//!   differs between the two ends (a mutated KE payload) no longer matters.
//!
//! # Why a thread-local switch rather than a crypto-provider trait
//!
//! The engine calls `crypto::seal_sk`, `crypto::open_sk` and `crypto::auth::verify_psk_auth`
//! directly (through `sa/keys.rs`), with keys derived deep inside the state machines. A
//! provider trait would have to be threaded through `EngineConfig`, `IkeSa` and every
//! derivation, a wide change to code other people are editing, for the sake of a test tool.
//! Instead those three functions get one `#[cfg(any(test, feature = "fuzzing"))]` branch each
//! that asks [`active`]. Production builds (neither `cfg(test)` nor the `fuzzing` feature,
//! which no binary of this workspace enables) do not contain this module, the branch or the
//! switch: there is no runtime flag an attacker could flip. A build *with* the feature is
//! still inert until some code calls [`activate`], which only the fuzzing entry points do
//! (`crate::fuzz_null::fuzz_engine_null`); being thread-local, activation in one test never
//! leaks into the real-crypto tests running on other threads. Still: never ship a binary
//! built with `--features fuzzing`.

use std::cell::Cell;

use super::sk::{ICV_LEN, IV_LEN};
use super::CryptoError;

thread_local! {
    static ACTIVE: Cell<bool> = const { Cell::new(false) };
    static OPENED: Cell<u64> = const { Cell::new(0) };
}

/// Keeps the null suite active on this thread until dropped (also on unwinding), then
/// restores the previous setting.
#[must_use = "the null suite is active only while the guard lives"]
#[derive(Debug)]
pub struct NullSuiteGuard {
    previous: bool,
}

impl Drop for NullSuiteGuard {
    fn drop(&mut self) {
        ACTIVE.with(|a| a.set(self.previous));
    }
}

/// Activates the null suite on the current thread. INSECURE: for fuzzing only.
pub fn activate() -> NullSuiteGuard {
    NullSuiteGuard {
        previous: ACTIVE.with(|a| a.replace(true)),
    }
}

/// Whether the null suite replaces SK protection and PSK AUTH checks on this thread.
pub fn active() -> bool {
    ACTIVE.with(Cell::get)
}

/// How many SK bodies the null suite opened on this thread so far (a fuzz driver compares it
/// before and after a datagram to see whether the datagram got past SK "verification").
pub fn opened() -> u64 {
    OPENED.with(Cell::get)
}

/// `IV | plaintext | Pad Length 0 | 16 zero octets`, exactly `sealed_len(plaintext.len())`.
pub(crate) fn seal(iv_counter: u64, plaintext: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(super::sk::sealed_len(plaintext.len()));
    out.extend_from_slice(&iv_counter.to_be_bytes());
    out.extend_from_slice(plaintext);
    out.push(0);
    out.extend_from_slice(&[0; ICV_LEN]);
    out
}

/// Strips IV and ICV without checking them, then the padding (lengths still checked, so the
/// same truncation errors as AES-GCM's are reachable).
pub(crate) fn open(iv_ct_icv: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if iv_ct_icv.len() < IV_LEN + 1 + ICV_LEN {
        return Err(CryptoError::SkTruncated(iv_ct_icv.len()));
    }
    let body = &iv_ct_icv[IV_LEN..iv_ct_icv.len() - ICV_LEN];
    OPENED.with(|n| n.set(n.get().wrapping_add(1)));
    let pad = usize::from(body[body.len() - 1]);
    if pad + 1 > body.len() {
        return Err(CryptoError::BadPadding {
            pad,
            len: body.len(),
        });
    }
    Ok(body[..body.len() - pad - 1].to_vec())
}

#[cfg(test)]
mod tests {
    use super::super::sk::{open_sk, seal_sk, sealed_len, SkKey, SkSuite};
    use super::super::{auth, Prf};
    use super::*;

    fn key() -> SkKey {
        SkKey::new(SkSuite::AesGcm16_128, &[7; 20]).unwrap()
    }

    #[test]
    fn inactive_by_default_and_guard_restores() {
        assert!(!active());
        {
            let _g = activate();
            assert!(active());
            {
                let _h = activate();
                assert!(active());
            }
            assert!(active(), "inner guard restores the outer setting");
        }
        assert!(!active());
    }

    #[test]
    fn null_layout_passes_anything_real_suite_unchanged() {
        let real = seal_sk(&key(), 1, b"aad", b"inner").unwrap();
        let (null, forged) = {
            let _g = activate();
            let null = seal_sk(&key(), 1, b"aad", b"inner").unwrap();
            assert_eq!(null.len(), sealed_len(5));
            assert_eq!(&null[8..13], b"inner", "no encryption");
            // Any ICV, any AAD: accepted.
            let mut forged = null.clone();
            forged[8] = b'X';
            *forged.last_mut().unwrap() ^= 0xff;
            assert_eq!(open_sk(&key(), b"other aad", &forged).unwrap(), b"Xnner");
            assert_eq!(
                open_sk(&key(), b"", &[0; 24]).unwrap_err(),
                CryptoError::SkTruncated(24)
            );
            (null, forged)
        };
        // Outside the guard the real suite is back: the null body is refused, the real one
        // opens as before.
        assert_eq!(open_sk(&key(), b"aad", &null), Err(CryptoError::Integrity));
        assert_eq!(
            open_sk(&key(), b"aad", &forged),
            Err(CryptoError::Integrity)
        );
        assert_eq!(open_sk(&key(), b"aad", &real).unwrap(), b"inner");
    }

    #[test]
    fn psk_auth_always_verifies_only_while_active() {
        let prf = Prf::HmacSha256;
        assert!(auth::verify_psk_auth(prf, b"psk", b"octets", b"garbage").is_err());
        let _g = activate();
        assert!(auth::verify_psk_auth(prf, b"psk", b"octets", b"garbage").is_ok());
    }
}
