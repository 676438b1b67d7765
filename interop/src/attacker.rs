//! An attacker namespace on the underlay that sends crafted and replayed packets from a raw or UDP socket.
