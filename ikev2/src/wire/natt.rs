//! UDP port 4500 framing (RFC 7296 §2.23, RFC 3948 §2.2): IKE messages are preceded by a
//! 4-byte all-zero non-ESP marker (excluded from the IKE Length and from AUTH); a single 0xFF
//! octet is a NAT keepalive; anything else is ESP.

/// The non-ESP marker.
pub const NON_ESP_MARKER: [u8; 4] = [0; 4];

/// What a datagram received on port 4500 carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Port4500<'a> {
    /// An IKE message, marker removed.
    Ike(&'a [u8]),
    /// A NAT-keepalive (one 0xFF octet).
    Keepalive,
    /// An ESP packet (non-zero SPI where the marker would be); not ours.
    Esp(&'a [u8]),
    /// Too short to be any of these.
    Malformed,
}

/// Classifies a port-4500 datagram.
pub fn classify_4500(datagram: &[u8]) -> Port4500<'_> {
    match datagram {
        [0xff] => Port4500::Keepalive,
        [0, 0, 0, 0, rest @ ..] => Port4500::Ike(rest),
        d if d.len() >= 8 => Port4500::Esp(d),
        _ => Port4500::Malformed,
    }
}

/// Prefixes an IKE message with the non-ESP marker for sending on port 4500.
pub fn add_non_esp_marker(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + message.len());
    out.extend_from_slice(&NON_ESP_MARKER);
    out.extend_from_slice(message);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies() {
        assert_eq!(classify_4500(&[0xff]), Port4500::Keepalive);
        assert_eq!(classify_4500(&[0, 0, 0, 0, 7, 8]), Port4500::Ike(&[7, 8]));
        let esp = [0, 0, 1, 0, 0, 0, 0, 1];
        assert_eq!(classify_4500(&esp), Port4500::Esp(&esp));
        assert_eq!(classify_4500(&[0, 0, 1]), Port4500::Malformed);
        assert_eq!(add_non_esp_marker(&[9]), vec![0, 0, 0, 0, 9]);
    }
}
