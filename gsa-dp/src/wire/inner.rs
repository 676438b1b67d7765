//! Just enough of the inner (tenant) frame to evaluate GSP selectors and to find where the
//! inner L4 header ends (payload coverage "inner headers" / "after inner headers").
//!
//! A field that does not exist for the frame (ports of ICMP, addresses of ARP) is absent; a field
//! that exists but cannot be read is absent too (OPAQUE, RFC 4301 §4.4.1.1, ARCH-00 §5.1), and
//! then [`InnerInfo::unreadable`] says why: a policy that names the field does not match, and a
//! BYPASS policy never matches such a frame at all (see `gsp`). Unreadable are: a frame shorter
//! than a header it announces, more than [`MAX_V6_EXT`] IPv6 extension headers, a non-initial
//! fragment of a protocol with ports (or of an unknown one), more than [`MAX_VLAN_TAGS`] VLAN
//! tags, and an inner EtherType or Geneve Protocol Type other than IPv4, IPv6, Ethernet and ARP.
//! This parser never fails and never panics, and its work is bounded by those two limits.

use super::geneve::{PTYPE_ETHERNET, PTYPE_IPV4, PTYPE_IPV6};
use super::{be16, be32};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IEEE 802.1Q C-tag, IEEE 802.1ad S-tag (QinQ), and the pre-standard QinQ TPID.
const TPIDS: [u16; 3] = [0x8100, 0x88a8, 0x9100];
/// Most VLAN tags walked: an S-tag and a C-tag (IEEE 802.1ad). One more is unreadable.
pub const MAX_VLAN_TAGS: usize = 2;
/// ARP (RFC 826): an Ethernet frame without IP selectors, read in full.
const ETHERTYPE_ARP: u16 = 0x0806;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
const PROTO_SCTP: u8 = 132;
/// IPv6 extension headers in the RFC 8200 §4 / RFC 6564 layout (Next Header, Hdr Ext Len in
/// 8-octet units not counting the first 8): Hop-by-Hop, Routing, Destination Options, Mobility
/// (RFC 6275), HIP (RFC 7401), Shim6 (RFC 5533), experimental (RFC 3692).
const V6_EXT: [u8; 8] = [0, 43, 60, 135, 139, 140, 253, 254];
/// Fragment header (RFC 8200 §4.5), 8 bytes.
const V6_FRAGMENT: u8 = 44;
/// Authentication Header (RFC 4302 §2.2): Payload Len in 4-octet units, minus 2.
const V6_AH: u8 = 51;
/// Most IPv6 extension headers walked. RFC 8200 §4.1 allows each once (Destination Options
/// twice), which a real packet stays within; a longer chain (a crafted one) is unreadable.
pub const MAX_V6_EXT: usize = 8;

/// Why some selector fields of a frame could not be read (those fields are `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unreadable {
    /// Shorter than a header it announces (IP, an extension header, the TCP/UDP/SCTP ports),
    /// or an IP header that is not one (version, IHL).
    Truncated,
    /// More than [`MAX_V6_EXT`] IPv6 extension headers: the upper layer was not reached.
    ExtensionHeaders,
    /// A non-initial fragment (IPv4 Fragment Offset or IPv6 Fragment header offset not 0) of
    /// TCP, UDP or SCTP, or of an upper layer behind further extension headers: no ports.
    Fragment,
    /// More than [`MAX_VLAN_TAGS`] VLAN tags.
    VlanTags,
    /// An inner EtherType, or a Geneve Protocol Type, we read no selectors from.
    Protocol,
}

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
    /// `Some`: a field the frame has could not be read; it never matches BYPASS.
    pub unreadable: Option<Unreadable>,
}

impl InnerInfo {
    fn unreadable(why: Unreadable) -> Self {
        InnerInfo {
            unreadable: Some(why),
            ..InnerInfo::default()
        }
    }

    fn mark(mut self, why: Unreadable) -> Self {
        self.unreadable = Some(why);
        self
    }
}

/// Parse an inner frame whose Geneve Protocol Type is `ptype`.
pub fn parse(ptype: u16, frame: &[u8]) -> InnerInfo {
    match ptype {
        PTYPE_IPV4 => parse_v4(frame, 0),
        PTYPE_IPV6 => parse_v6(frame, 0),
        PTYPE_ETHERNET => parse_ethernet(frame),
        _ => InnerInfo::unreadable(Unreadable::Protocol),
    }
}

/// Ethernet with up to [`MAX_VLAN_TAGS`] tags (IEEE 802.1Q, 802.1ad), then IP or ARP.
fn parse_ethernet(f: &[u8]) -> InnerInfo {
    let mut off = 12;
    let mut tags = 0;
    loop {
        let Some(et) = f.get(off..off + 2).map(|b| be16(b, 0)) else {
            return InnerInfo::unreadable(Unreadable::Truncated);
        };
        match et {
            PTYPE_IPV4 => return parse_v4(f, off + 2),
            PTYPE_IPV6 => return parse_v6(f, off + 2),
            ETHERTYPE_ARP => return InnerInfo::default(),
            t if TPIDS.contains(&t) && tags < MAX_VLAN_TAGS => {
                tags += 1;
                off += 4;
            }
            t if TPIDS.contains(&t) => return InnerInfo::unreadable(Unreadable::VlanTags),
            _ => return InnerInfo::unreadable(Unreadable::Protocol),
        }
    }
}

fn parse_v4(f: &[u8], off: usize) -> InnerInfo {
    let Some(h) = f.get(off..off + 20) else {
        return InnerInfo::unreadable(Unreadable::Truncated);
    };
    let ihl = 4 * (h[0] & 0x0f) as usize;
    if h[0] >> 4 != 4 || ihl < 20 || f.len() < off + ihl {
        return InnerInfo::unreadable(Unreadable::Truncated);
    }
    let info = InnerInfo {
        ip_proto: Some(h[9]),
        src: Some(IpAddr::V4(Ipv4Addr::from(be32(h, 12)))),
        dst: Some(IpAddr::V4(Ipv4Addr::from(be32(h, 16)))),
        headers_len: Some(off + ihl),
        ..InnerInfo::default()
    };
    if be16(h, 6) & 0x1fff != 0 {
        return later_fragment(info);
    }
    add_ports(info, f, off + ihl)
}

fn parse_v6(f: &[u8], off: usize) -> InnerInfo {
    let Some(h) = f.get(off..off + 40) else {
        return InnerInfo::unreadable(Unreadable::Truncated);
    };
    if h[0] >> 4 != 6 {
        return InnerInfo::unreadable(Unreadable::Truncated);
    }
    let mut a = [0u8; 16];
    a.copy_from_slice(&h[8..24]);
    let src = Ipv6Addr::from(a);
    a.copy_from_slice(&h[24..40]);
    let dst = Ipv6Addr::from(a);
    let mut info = InnerInfo {
        src: Some(IpAddr::V6(src)),
        dst: Some(IpAddr::V6(dst)),
        ..InnerInfo::default()
    };
    let mut next = h[6];
    let mut pos = off + 40;
    let mut walked = 0;
    while V6_EXT.contains(&next) || next == V6_FRAGMENT || next == V6_AH {
        if walked == MAX_V6_EXT {
            return info.mark(Unreadable::ExtensionHeaders);
        }
        walked += 1;
        let Some(e) = f.get(pos..pos + 8) else {
            return info.mark(Unreadable::Truncated);
        };
        let len = match next {
            V6_FRAGMENT if be16(e, 2) >> 3 != 0 => {
                // Not the first fragment: what follows is not a header (RFC 8200 §4.5).
                info.ip_proto = Some(e[0]);
                info.headers_len = Some(pos + 8);
                return later_fragment(info);
            }
            V6_FRAGMENT => 8,
            V6_AH => 4 * (usize::from(e[1]) + 2),
            _ => 8 + 8 * usize::from(e[1]),
        };
        next = e[0];
        pos += len;
    }
    if pos > f.len() {
        return info.mark(Unreadable::Truncated);
    }
    info.ip_proto = Some(next);
    info.headers_len = Some(pos);
    add_ports(info, f, pos)
}

fn has_ports(proto: u8) -> bool {
    matches!(proto, PROTO_TCP | PROTO_UDP | PROTO_SCTP)
}

/// A non-initial fragment has no L4 header, so its ports are unreadable (RFC 4301 §4.4.1.1:
/// OPAQUE; §7 on fragments); so is its upper layer if the offset-0 fragment holds more
/// extension headers first. An ICMP fragment has nothing more to read.
fn later_fragment(mut info: InnerInfo) -> InnerInfo {
    match info.ip_proto {
        Some(p) if V6_EXT.contains(&p) || p == V6_FRAGMENT || p == V6_AH => {
            info.ip_proto = None;
            info.mark(Unreadable::Fragment)
        }
        Some(p) if has_ports(p) => info.mark(Unreadable::Fragment),
        _ => info,
    }
}

/// The TCP/UDP/SCTP ports at `l4` (unreadable if they are cut off), and the end of its header
/// when it is whole.
fn add_ports(mut info: InnerInfo, f: &[u8], l4: usize) -> InnerInfo {
    let proto = info.ip_proto.unwrap_or(0);
    if !has_ports(proto) {
        return info;
    }
    let Some(h) = f.get(l4..l4 + 4) else {
        return info.mark(Unreadable::Truncated);
    };
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
    info
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
        // An ICMP fragment is read in full: ICMP has no ports.
        f[9] = 1;
        assert_eq!(parse(PTYPE_IPV4, &f).unreadable, None);
    }

    #[test]
    fn garbage_is_unreadable() {
        let u = |why| InnerInfo::unreadable(why);
        assert_eq!(parse(PTYPE_IPV4, &[0x45, 0, 0]), u(Unreadable::Truncated));
        assert_eq!(parse(PTYPE_IPV6, &[0x45; 40]), u(Unreadable::Truncated));
        assert_eq!(parse(0x1234, &[1, 2, 3]), u(Unreadable::Protocol));
        assert_eq!(parse(PTYPE_ETHERNET, &[0; 13]), u(Unreadable::Truncated));
    }

    /// `ipv6_tcp` behind `n` Destination Options headers (8 bytes each), the last of which is
    /// followed by `last` (normally TCP).
    pub fn ipv6_ext_tcp(n: usize) -> Vec<u8> {
        let plain = ipv6_tcp(b"data");
        let mut p = plain[..40].to_vec();
        if n > 0 {
            p[6] = 60;
        }
        for i in 0..n {
            let next = if i + 1 == n { 6 } else { 60 };
            p.extend_from_slice(&[next, 0, 1, 4, 0, 0, 0, 0]); // PadN over 6 bytes
        }
        p.extend_from_slice(&plain[40..]);
        let plen = (p.len() - 40) as u16;
        p[4..6].copy_from_slice(&plen.to_be_bytes());
        p
    }

    /// `ipv6_tcp` with a Fragment header: fragment `offset` (8-octet units), more fragments.
    pub fn ipv6_fragment(offset: u16) -> Vec<u8> {
        let plain = ipv6_tcp(b"data");
        let mut p = plain[..40].to_vec();
        p[6] = V6_FRAGMENT;
        p.extend_from_slice(&[6, 0]);
        p.extend_from_slice(&((offset << 3) | 1).to_be_bytes());
        p.extend_from_slice(&[0, 0, 0, 7]);
        p.extend_from_slice(&plain[40..]);
        p
    }

    /// `ipv4_udp` with fragment offset `offset` (8-octet units).
    pub fn ipv4_fragment(offset: u16) -> Vec<u8> {
        let mut p = ipv4_udp(b"later part of a datagram");
        p[6..8].copy_from_slice(&offset.to_be_bytes());
        p
    }

    /// An Ethernet frame with VLAN tags `tpids` carrying `ipv4_udp`.
    pub fn ethernet_tagged(tpids: &[u16]) -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
        for (i, t) in tpids.iter().enumerate() {
            f.extend_from_slice(&t.to_be_bytes());
            f.extend_from_slice(&(100 + i as u16).to_be_bytes());
        }
        f.extend_from_slice(&PTYPE_IPV4.to_be_bytes());
        f.extend_from_slice(&ipv4_udp(b"x"));
        f
    }

    #[test]
    fn qinq_is_read_and_a_third_tag_is_not() {
        for tags in [&[][..], &[0x8100], &[0x88a8, 0x8100], &[0x9100, 0x8100]] {
            let f = ethernet_tagged(tags);
            let i = parse(PTYPE_ETHERNET, &f);
            assert_eq!(i.unreadable, None, "{tags:x?}");
            assert_eq!(
                (i.src_port, i.dst_port),
                (Some(1234), Some(53)),
                "{tags:x?}"
            );
            assert_eq!(i.headers_len, Some(14 + 4 * tags.len() + 28));
        }
        let i = parse(PTYPE_ETHERNET, &ethernet_tagged(&[0x88a8, 0x8100, 0x8100]));
        assert_eq!(i, InnerInfo::unreadable(Unreadable::VlanTags));
    }

    #[test]
    fn non_ip_ethertypes() {
        let mut arp = vec![0xff; 12];
        arp.extend_from_slice(&[0x08, 0x06]);
        arp.extend_from_slice(&[0; 28]);
        assert_eq!(parse(PTYPE_ETHERNET, &arp), InnerInfo::default());
        // MPLS may carry IP: nothing is known of it.
        arp[12..14].copy_from_slice(&[0x88, 0x47]);
        let i = parse(PTYPE_ETHERNET, &arp);
        assert_eq!(i.unreadable, Some(Unreadable::Protocol));
    }

    #[test]
    fn extension_headers_up_to_the_bound() {
        for n in 0..=MAX_V6_EXT {
            let i = parse(PTYPE_IPV6, &ipv6_ext_tcp(n));
            assert_eq!(i.unreadable, None, "{n}");
            assert_eq!((i.ip_proto, i.dst_port), (Some(6), Some(443)), "{n}");
            assert_eq!(i.headers_len, Some(40 + 8 * n + 20));
        }
        let i = parse(PTYPE_IPV6, &ipv6_ext_tcp(MAX_V6_EXT + 1));
        assert_eq!(i.unreadable, Some(Unreadable::ExtensionHeaders));
        assert_eq!((i.ip_proto, i.src_port, i.dst_port), (None, None, None));
        assert_eq!(i.dst, Some("fd00::2".parse().unwrap()));
        // A chain cut short.
        let f = ipv6_ext_tcp(3);
        let i = parse(PTYPE_IPV6, &f[..40 + 8 * 2 + 4]);
        assert_eq!(
            (i.unreadable, i.ip_proto),
            (Some(Unreadable::Truncated), None)
        );
    }

    #[test]
    fn authentication_header_is_walked() {
        let plain = ipv6_tcp(b"data");
        let mut p = plain[..40].to_vec();
        p[6] = V6_AH;
        // Next Header TCP, Payload Len 4 (6 words: 24 bytes, a 12-byte ICV).
        p.extend_from_slice(&[6, 4, 0, 0, 0, 0, 0x10, 0x01, 0, 0, 0, 1]);
        p.extend_from_slice(&[0xaa; 12]);
        p.extend_from_slice(&plain[40..]);
        let i = parse(PTYPE_IPV6, &p);
        assert_eq!(
            (i.ip_proto, i.dst_port, i.unreadable),
            (Some(6), Some(443), None)
        );
    }

    #[test]
    fn fragments() {
        let i = parse(PTYPE_IPV4, &ipv4_fragment(0x20));
        assert_eq!(i.unreadable, Some(Unreadable::Fragment));
        assert_eq!((i.ip_proto, i.src_port, i.dst_port), (Some(17), None, None));
        assert_eq!(i.headers_len, Some(20));
        // The first fragment has its ports (and so does an atomic fragment).
        let i = parse(PTYPE_IPV6, &ipv6_fragment(0));
        assert_eq!((i.dst_port, i.unreadable), (Some(443), None));
        let i = parse(PTYPE_IPV6, &ipv6_fragment(3));
        assert_eq!(i.unreadable, Some(Unreadable::Fragment));
        assert_eq!(
            (i.ip_proto, i.src_port, i.headers_len),
            (Some(6), None, Some(48))
        );
        // A later fragment of a chain with more extension headers: the upper layer is unknown.
        let mut f = ipv6_fragment(3);
        f[40] = 60;
        let i = parse(PTYPE_IPV6, &f);
        assert_eq!(
            (i.unreadable, i.ip_proto),
            (Some(Unreadable::Fragment), None)
        );
        // ICMPv6 fragments have nothing more to read.
        f[40] = 58;
        let i = parse(PTYPE_IPV6, &f);
        assert_eq!((i.unreadable, i.ip_proto), (None, Some(58)));
    }

    #[test]
    fn ports_cut_off_are_unreadable() {
        let f = ipv4_udp(b"");
        let i = parse(PTYPE_IPV4, &f[..22]);
        assert_eq!(i.unreadable, Some(Unreadable::Truncated));
        assert_eq!((i.ip_proto, i.src_port), (Some(17), None));
        // Ports whole but the rest of the header cut: ports read, headers end at L3.
        let i = parse(PTYPE_IPV4, &f[..24]);
        assert_eq!(
            (i.unreadable, i.dst_port, i.headers_len),
            (None, Some(53), Some(20))
        );
    }

    /// Selector fields as a second, unbounded parser reads them: `None` where it cannot tell.
    type Fields = (
        Option<u8>,
        Option<IpAddr>,
        Option<IpAddr>,
        Option<u16>,
        Option<u16>,
    );

    fn fields(i: &InnerInfo) -> Fields {
        (i.ip_proto, i.src, i.dst, i.src_port, i.dst_port)
    }

    fn reference(ptype: u16, f: &[u8]) -> Option<Fields> {
        match ptype {
            PTYPE_IPV4 => reference_v4(f),
            PTYPE_IPV6 => reference_v6(f),
            PTYPE_ETHERNET => {
                let mut rest = f.get(12..)?;
                loop {
                    let et = u16::from_be_bytes([*rest.first()?, *rest.get(1)?]);
                    match et {
                        0x8100 | 0x88a8 | 0x9100 => rest = rest.get(4..)?,
                        PTYPE_IPV4 => return reference_v4(&rest[2..]),
                        PTYPE_IPV6 => return reference_v6(&rest[2..]),
                        0x0806 => return Some((None, None, None, None, None)),
                        _ => return None,
                    }
                }
            }
            _ => None,
        }
    }

    fn reference_v4(p: &[u8]) -> Option<Fields> {
        let h = p.get(..20)?;
        let ihl = usize::from(h[0] & 15) * 4;
        if h[0] >> 4 != 4 || ihl < 20 {
            return None;
        }
        let later = u16::from_be_bytes([h[6], h[7]]) & 0x1fff != 0;
        let a = |at: usize| Some(IpAddr::from(<[u8; 4]>::try_from(&h[at..at + 4]).unwrap()));
        reference_l4(h[9], later, p.get(ihl..)?, a(12), a(16))
    }

    fn reference_v6(p: &[u8]) -> Option<Fields> {
        let h = p.get(..40)?;
        if h[0] >> 4 != 6 {
            return None;
        }
        let a = |at: usize| Some(IpAddr::from(<[u8; 16]>::try_from(&h[at..at + 16]).unwrap()));
        let (mut nh, mut rest) = (h[6], &p[40..]);
        loop {
            let e = rest.get(..8);
            let len = match nh {
                44 => {
                    let e = e?;
                    if u16::from_be_bytes([e[2], e[3]]) >> 3 != 0 {
                        return reference_l4(e[0], true, &[], a(8), a(24));
                    }
                    8
                }
                51 => 4 * (usize::from(e?[1]) + 2),
                n if V6_EXT.contains(&n) => 8 + 8 * usize::from(e?[1]),
                _ => return reference_l4(nh, false, rest, a(8), a(24)),
            };
            nh = rest[0];
            rest = rest.get(len..)?;
        }
    }

    fn reference_l4(
        proto: u8,
        later: bool,
        l4: &[u8],
        src: Option<IpAddr>,
        dst: Option<IpAddr>,
    ) -> Option<Fields> {
        let ports = matches!(proto, 6 | 17 | 132);
        let ext = V6_EXT.contains(&proto) || proto == 44 || proto == 51;
        if later && (ports || ext) {
            return None;
        }
        if later || !ports {
            return Some((Some(proto), src, dst, None, None));
        }
        let h = l4.get(..4)?;
        let port = |at: usize| Some(u16::from_be_bytes([h[at], h[at + 1]]));
        Some((Some(proto), src, dst, port(0), port(2)))
    }

    fn arb_frame() -> impl Strategy<Value = (u16, Vec<u8>)> {
        let tpid = prop_oneof![Just(0x8100u16), Just(0x88a8), Just(0x9100), any::<u16>()];
        let ethertype = prop_oneof![Just(0x0800u16), Just(0x86dd), Just(0x0806), any::<u16>()];
        let ext = prop_oneof![
            Just(60u8),
            Just(0),
            Just(43),
            Just(44),
            Just(51),
            Just(135),
            any::<u8>()
        ];
        let proto = prop_oneof![
            Just(6u8),
            Just(17),
            Just(132),
            Just(1),
            Just(58),
            any::<u8>()
        ];
        let frag = prop_oneof![Just(0u16), 1u16..8192];
        (
            prop_oneof![
                Just(PTYPE_IPV4),
                Just(PTYPE_IPV6),
                Just(PTYPE_ETHERNET),
                any::<u16>()
            ],
            proptest::collection::vec(tpid, 0..4),
            ethertype,
            proptest::collection::vec((ext, frag.clone()), 0..12),
            (proto, frag, proptest::collection::vec(any::<u8>(), 0..24)),
            (any::<bool>(), any::<u16>(), any::<(usize, u8)>()),
        )
            .prop_map(
                |(ptype, tags, et, chain, (proto, frag, l4), (v6, cut, flip))| {
                    let mut ip = if v6 {
                        let mut p = ipv6_tcp(b"")[..40].to_vec();
                        let mut nh = proto;
                        let mut hdrs = Vec::new();
                        for (t, off) in chain.iter().rev() {
                            let mut e = vec![nh, 0, 0, 0, 0, 0, 0, 0];
                            if *t == 44 {
                                e[2..4].copy_from_slice(&(off << 3).to_be_bytes());
                            }
                            e.extend_from_slice(&hdrs);
                            hdrs = e;
                            nh = *t;
                        }
                        p[6] = nh;
                        p.extend_from_slice(&hdrs);
                        p
                    } else {
                        let mut p = ipv4_udp(b"")[..20].to_vec();
                        p[9] = proto;
                        p[6..8].copy_from_slice(&frag.to_be_bytes());
                        p
                    };
                    ip.extend_from_slice(&l4);
                    let mut f = match ptype {
                        PTYPE_ETHERNET => {
                            let mut f = vec![2; 12];
                            for t in tags {
                                f.extend_from_slice(&t.to_be_bytes());
                                f.extend_from_slice(&[0, 1]);
                            }
                            f.extend_from_slice(&et.to_be_bytes());
                            f.extend_from_slice(&ip);
                            f
                        }
                        _ => ip,
                    };
                    // Sometimes cut short, sometimes one byte changed.
                    if cut % 4 == 0 {
                        f.truncate(usize::from(cut) % (f.len() + 1));
                    }
                    if !f.is_empty() && flip.1 % 3 == 0 {
                        let at = flip.0 % f.len();
                        f[at] ^= flip.1;
                    }
                    (ptype, f)
                },
            )
    }

    use crate::gsp::{Action, Direction, GspTable, PacketFields, Policy, Sel, Selectors};
    use proptest::prelude::*;

    fn bypass_table() -> GspTable {
        let bypass = |id, selectors| Policy {
            id,
            dir: Direction::Out,
            selectors,
            action: Action::Bypass,
        };
        GspTable::new(vec![
            bypass(
                1,
                Selectors {
                    ip_proto: Sel::value(17),
                    dst_port: Sel::value(53),
                    ..Default::default()
                },
            ),
            bypass(
                2,
                Selectors {
                    ip_proto: Sel::value(6),
                    ..Default::default()
                },
            ),
            bypass(3, Selectors::default()),
        ])
    }

    proptest! {
        /// Issue 14: whatever the inner bytes, a BYPASS policy takes a frame only when every
        /// selector field was read, and read as an unbounded parser reads it.
        #[test]
        fn bypass_implies_selectors_read((ptype, f) in arb_frame()) {
            let info = parse(ptype, &f);
            let p = PacketFields { protocol_type: ptype, inner: info, ..Default::default() };
            if bypass_table().lookup(&p).is_some() {
                prop_assert_eq!(info.unreadable, None);
                prop_assert_eq!(reference(ptype, &f), Some(fields(&info)), "{:02x?}", f);
            }
            if info.unreadable.is_none() {
                prop_assert_eq!(reference(ptype, &f), Some(fields(&info)), "{:02x?}", f);
            }
        }

        #[test]
        fn arbitrary_bytes_never_bypass_unread(
            ptype in prop_oneof![Just(PTYPE_IPV4), Just(PTYPE_IPV6), Just(PTYPE_ETHERNET)],
            f in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let info = parse(ptype, &f);
            let p = PacketFields { protocol_type: ptype, inner: info, ..Default::default() };
            if bypass_table().lookup(&p).is_some() {
                prop_assert_eq!(reference(ptype, &f), Some(fields(&info)));
            }
        }
    }
}
