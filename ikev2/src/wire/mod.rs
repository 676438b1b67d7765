//! IKEv2 message codec: typed views over bytes and builders (RFC 7296 §3).
//!
//! Parsing never panics: every malformed input is an [`Error`] value. Layers:
//! - [`header`]: the 28-byte IKE header ([`HeaderView`] checked view, [`IkeHeader`] value);
//! - [`payload`]: the generic payload header chain walker (critical bit handling);
//! - [`payloads`]: one module per payload type, each a typed value with `parse`/`emit_body`,
//!   tied together by [`Payload`];
//! - [`message`]: whole datagrams ([`Message`]) and decrypted SK contents ([`parse_inner`],
//!   [`encode_inner`]); [`sk_ranges`] gives the AEAD boundaries of SK/SKF;
//! - [`natt`]: the port-4500 non-ESP marker;
//! - [`rules`]: which payloads each exchange may carry, checked before any state code runs.
//!
//! ```
//! use nvesec_ikev2::wire::*;
//! let msg = Message::new(
//!     IkeHeader { spi_i: 1, spi_r: 0, exchange: ExchangeType::IKE_SA_INIT,
//!                 flags: Flags::INITIATOR, message_id: 0 },
//!     vec![Payload::Notify(Notify::new(NotifyType::IKEV2_FRAGMENTATION_SUPPORTED, vec![]))],
//! );
//! let bytes = msg.to_bytes().unwrap();
//! assert_eq!(bytes.len(), 28 + 8);
//! assert_eq!(Message::parse(&bytes).unwrap(), msg);
//! ```

pub mod codec;
pub mod enums;
pub mod error;
pub mod fuzz;
pub mod header;
pub mod message;
pub mod natt;
pub mod payload;
pub mod payloads;
pub mod rules;

pub use enums::*;
pub use error::Error;
pub use fuzz::{fuzz_parse, fuzz_reassemble};
pub use header::{Flags, HeaderView, IkeHeader, HEADER_LEN};
pub use message::{encode_inner, parse_inner, Message};
pub use payloads::*;

/// Runs the examples of docs/ikev2-wire.md as doctests, so the user documentation stays true.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/ikev2-wire.md")]
pub struct WireDocExamples;
