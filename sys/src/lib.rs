//! The only crate of nvesec with `unsafe` code: thin, documented wrappers
//! around the ioctls and socket options that nix exposes only as unsafe
//! functions. Every other crate is `#![forbid(unsafe_code)]`.
#![deny(unsafe_op_in_unsafe_fn)]

pub mod tun;
