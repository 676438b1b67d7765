//! IKEv2 message codec: typed views over bytes and builders (RFC 7296 §3).
