//! Network-namespace harness: NVEs, strongSwan peers, impairments.
//! Needs root; the scenarios live in `interop/tests/`.
#![forbid(unsafe_code)]
