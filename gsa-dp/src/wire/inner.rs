//! Just enough of the inner (tenant) frame to evaluate GSP selectors and to find where the
//! inner L4 header ends (payload coverage "inner headers" / "after inner headers").
//!
//! Anything that cannot be read leaves the field absent (OPAQUE in ARCH-00 §5.1 terms); this
//! parser never fails and never panics.

use super::geneve::{PTYPE_ETHERNET, PTYPE_IPV4, PTYPE_IPV6};
use super::{be16, be32};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const ETHERTYPE_VLAN: u16 = 0x8100;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
const PROTO_SCTP: u8 = 132;
/// IPv6 extension headers we skip to find the upper layer (RFC 8200 §4).
const V6_EXT: [u8; 3] = [0, 43, 60];
const V6_FRAGMENT: u8 = 44;
/// Bound on extension headers walked, so a crafted chain costs little.
const MAX_V6_EXT: usize = 8;

/// Selector-relevant facts about an inner frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InnerInfo {
    /// IPv4 Protocol / IPv6 upper-layer Next Header.
    pub ip_proto: Option<u8>,
    pub src: Option<IpAddr>,
    pub dst: Option<IpAddr>,
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
    /// Offset just past the last header we understood (IP, plus TCP/UDP when present).
    pub headers_len: Option<usize>,
}

/// Parse an inner frame whose Geneve Protocol Type is `ptype`.
pub fn parse(ptype: u16, frame: &[u8]) -> InnerInfo {
    match ptype {
        PTYPE_IPV4 => parse_ip(frame, 0, false),
        PTYPE_IPV6 => parse_ip(frame, 0, true),
        PTYPE_ETHERNET => parse_ethernet(frame),
        _ => InnerInfo::default(),
    }
}

fn parse_ethernet(f: &[u8]) -> InnerInfo {
    if f.len() < 14 {
        return InnerInfo::default();
    }
    let mut off = 12;
    let mut et = be16(f, off);
    if et == ETHERTYPE_VLAN && f.len() >= 18 {
        off += 4;
        et = be16(f, off);
    }
    match et {
        PTYPE_IPV4 => parse_ip(f, off + 2, false),
        PTYPE_IPV6 => parse_ip(f, off + 2, true),
        _ => InnerInfo::default(),
    }
}

fn parse_ip(f: &[u8], off: usize, v6: bool) -> InnerInfo {
    let r = if v6 {
        parse_v6(f, off)
    } else {
        parse_v4(f, off)
    };
    let Some((mut info, l4, first_fragment)) = r else {
        return InnerInfo::default();
    };
    info.headers_len = Some(l4);
    if first_fragment {
        add_ports(&mut info, f, l4);
    }
    info
}

/// Returns (info, offset of the L4 header, whether L4 is readable i.e. not a later fragment).
fn parse_v4(f: &[u8], off: usize) -> Option<(InnerInfo, usize, bool)> {
    let h = f.get(off..off + 20)?;
    if h[0] >> 4 != 4 {
        return None;
    }
    let ihl = 4 * (h[0] & 0x0f) as usize;
    if ihl < 20 || f.len() < off + ihl {
        return None;
    }
    let frag_offset = be16(h, 6) & 0x1fff;
    let info = InnerInfo {
        ip_proto: Some(h[9]),
        src: Some(IpAddr::V4(Ipv4Addr::from(be32(h, 12)))),
        dst: Some(IpAddr::V4(Ipv4Addr::from(be32(h, 16)))),
        ..InnerInfo::default()
    };
    Some((info, off + ihl, frag_offset == 0))
}

fn parse_v6(f: &[u8], off: usize) -> Option<(InnerInfo, usize, bool)> {
    let h = f.get(off..off + 40)?;
    if h[0] >> 4 != 6 {
        return None;
    }
    let mut a = [0u8; 16];
    a.copy_from_slice(&h[8..24]);
    let src = Ipv6Addr::from(a);
    a.copy_from_slice(&h[24..40]);
    let dst = Ipv6Addr::from(a);
    let mut next = h[6];
    let mut pos = off + 40;
    let mut readable = true;
    for _ in 0..MAX_V6_EXT {
        if V6_EXT.contains(&next) {
            let e = f.get(pos..pos + 2)?;
            next = e[0];
            pos += 8 + 8 * e[1] as usize;
        } else if next == V6_FRAGMENT {
            let e = f.get(pos..pos + 8)?;
            next = e[0];
            readable = be16(e, 2) >> 3 == 0;
            pos += 8;
        } else {
            break;
        }
    }
    if pos > f.len() {
        return None;
    }
    let info = InnerInfo {
        ip_proto: Some(next),
        src: Some(IpAddr::V6(src)),
        dst: Some(IpAddr::V6(dst)),
        ..InnerInfo::default()
    };
    Some((info, pos, readable))
}

fn add_ports(info: &mut InnerInfo, f: &[u8], l4: usize) {
    let proto = info.ip_proto.unwrap_or(0);
    if !matches!(proto, PROTO_TCP | PROTO_UDP | PROTO_SCTP) {
        return;
    }
    let Some(h) = f.get(l4..l4 + 4) else { return };
    info.src_port = Some(be16(h, 0));
    info.dst_port = Some(be16(h, 2));
    let l4_len = match proto {
        PROTO_UDP => Some(8),
        PROTO_SCTP => Some(12),
        _ => f
            .get(l4 + 12)
            .map(|b| 4 * (b >> 4) as usize)
            .filter(|n| *n >= 20),
    };
    if let Some(n) = l4_len {
        if l4 + n <= f.len() {
            info.headers_len = Some(l4 + n);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// IPv4/UDP 10.0.0.1:1234 -> 10.0.0.2:53 with `payload`.
    pub fn ipv4_udp(payload: &[u8]) -> Vec<u8> {
        let total = 28 + payload.len();
        let mut p = vec![
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            0,
            0x40,
            0,
            64,
            17,
            0,
            0,
        ];
        p.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
        p.extend_from_slice(&[0x04, 0xd2, 0x00, 0x35]);
        p.extend_from_slice(&(payload.len() as u16 + 8).to_be_bytes());
        p.extend_from_slice(&[0, 0]);
        p.extend_from_slice(payload);
        p
    }

    /// IPv6/TCP [fd00::1]:40000 -> [fd00::2]:443, data offset 5.
    pub fn ipv6_tcp(payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x60, 0, 0, 0];
        p.extend_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
        p.extend_from_slice(&[6, 64]);
        let mut a = [0u8; 16];
        a[0] = 0xfd;
        a[15] = 1;
        p.extend_from_slice(&a);
        a[15] = 2;
        p.extend_from_slice(&a);
        p.extend_from_slice(&[
            0x9c, 0x40, 0x01, 0xbb, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0,
        ]);
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn ipv4_udp_fields() {
        let f = ipv4_udp(b"hello");
        let i = parse(PTYPE_IPV4, &f);
        assert_eq!(i.ip_proto, Some(17));
        assert_eq!(i.src, Some("10.0.0.1".parse().unwrap()));
        assert_eq!(i.dst, Some("10.0.0.2".parse().unwrap()));
        assert_eq!((i.src_port, i.dst_port), (Some(1234), Some(53)));
        assert_eq!(i.headers_len, Some(28));
    }

    #[test]
    fn ipv6_tcp_fields() {
        let f = ipv6_tcp(b"data");
        let i = parse(PTYPE_IPV6, &f);
        assert_eq!(i.ip_proto, Some(6));
        assert_eq!((i.src_port, i.dst_port), (Some(40000), Some(443)));
        assert_eq!(i.headers_len, Some(60));
    }

    #[test]
    fn ethernet_vlan_ipv4() {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x81, 0x00, 0x00, 0x05, 0x08, 0x00]);
        f.extend_from_slice(&ipv4_udp(b"x"));
        let i = parse(PTYPE_ETHERNET, &f);
        assert_eq!(i.dst_port, Some(53));
        assert_eq!(i.headers_len, Some(18 + 28));
    }

    #[test]
    fn icmp_has_no_ports_and_fragments_hide_them() {
        let mut f = ipv4_udp(b"x");
        f[9] = 1;
        let i = parse(PTYPE_IPV4, &f);
        assert_eq!(
            (i.ip_proto, i.src_port, i.headers_len),
            (Some(1), None, Some(20))
        );
        let mut f = ipv4_udp(b"x");
        f[7] = 0x10; // fragment offset 16: not the first fragment
        assert_eq!(parse(PTYPE_IPV4, &f).src_port, None);
    }

    #[test]
    fn garbage_is_opaque() {
        assert_eq!(parse(PTYPE_IPV4, &[0x45, 0, 0]), InnerInfo::default());
        assert_eq!(parse(PTYPE_IPV6, &[0x45; 40]), InnerInfo::default());
        assert_eq!(parse(0x1234, &[1, 2, 3]), InnerInfo::default());
    }
}
