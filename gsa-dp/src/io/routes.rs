//! The overlay forwarding table: inner prefix -> remote NVE underlay address and VNI
//! (SET_ROUTES, or `--route` on the command line). Longest prefix wins within a VNI.

use crate::keying::{Prefix, Route};
use std::net::IpAddr;

/// Whether `addr` lies in `p` (address families must agree).
pub fn contains(p: &Prefix, addr: IpAddr) -> bool {
    match (p.addr, addr) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            masked(u32::from(n).into(), u32::from(a).into(), 32, p.len)
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => masked(u128::from(n), u128::from(a), 128, p.len),
        _ => false,
    }
}

fn masked(net: u128, addr: u128, bits: u8, len: u8) -> bool {
    if len == 0 {
        return true;
    }
    let shift = u32::from(bits - len.min(bits));
    (net >> shift) == (addr >> shift)
}

/// The route for an inner destination on `vni`: the longest matching prefix.
pub fn lookup(routes: &[Route], vni: u32, dst: IpAddr) -> Option<&Route> {
    routes
        .iter()
        .filter(|r| r.vni == vni && contains(&r.prefix, dst))
        .max_by_key(|r| r.prefix.len)
}

/// Inner destination of an IP packet from a tun (or the IP payload of an Ethernet frame).
pub fn inner_dst(packet: &[u8]) -> Option<IpAddr> {
    match packet.first()? >> 4 {
        4 => {
            let b: [u8; 4] = packet.get(16..20)?.try_into().ok()?;
            Some(IpAddr::from(b))
        }
        6 => {
            let b: [u8; 16] = packet.get(24..40)?.try_into().ok()?;
            Some(IpAddr::from(b))
        }
        _ => None,
    }
}

/// Destination of an Ethernet frame from a tap: the inner IP destination for IPv4/IPv6 frames,
/// `None` for the rest (ARP, neighbour discovery multicast...), which is flooded to every remote
/// of the VNI (there is no MAC learning).
pub fn ethernet_dst(frame: &[u8]) -> Option<IpAddr> {
    let ethertype = u16::from_be_bytes(frame.get(12..14)?.try_into().ok()?);
    match ethertype {
        0x0800 | 0x86DD => inner_dst(frame.get(14..)?),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(p: &str, remote: &str, vni: u32) -> Route {
        Route {
            prefix: p.parse().unwrap(),
            remote: remote.parse().unwrap(),
            vni,
            port: None,
        }
    }

    #[test]
    fn longest_prefix_within_the_vni_wins() {
        let t = [
            route("172.16.0.0/16", "10.0.0.1", 100),
            route("172.16.1.0/24", "10.0.0.2", 100),
            route("172.16.1.0/24", "10.0.0.3", 200),
            route("0.0.0.0/0", "10.0.0.9", 100),
            route("fd00::/64", "fd99::2", 100),
        ];
        let r = |d: &str, vni| lookup(&t, vni, d.parse().unwrap()).map(|r| r.remote.to_string());
        assert_eq!(r("172.16.1.7", 100).as_deref(), Some("10.0.0.2"));
        assert_eq!(r("172.16.2.7", 100).as_deref(), Some("10.0.0.1"));
        assert_eq!(r("172.16.1.7", 200).as_deref(), Some("10.0.0.3"));
        assert_eq!(r("8.8.8.8", 100).as_deref(), Some("10.0.0.9"));
        assert_eq!(r("8.8.8.8", 200), None);
        assert_eq!(r("fd00::5", 100).as_deref(), Some("fd99::2"));
        assert_eq!(r("fd01::5", 100), None);
    }

    #[test]
    fn destinations_are_read_from_ip_and_ethernet() {
        let mut v4 = [0u8; 20];
        v4[0] = 0x45;
        v4[16..20].copy_from_slice(&[172, 16, 0, 2]);
        assert_eq!(inner_dst(&v4), Some("172.16.0.2".parse().unwrap()));
        assert_eq!(inner_dst(&v4[..19]), None);
        let mut v6 = [0u8; 40];
        v6[0] = 0x60;
        v6[39] = 1;
        assert_eq!(inner_dst(&v6), Some("::1".parse().unwrap()));
        let mut eth = vec![0u8; 14];
        eth[12..14].copy_from_slice(&[0x08, 0x00]);
        eth.extend_from_slice(&v4);
        assert_eq!(ethernet_dst(&eth), Some("172.16.0.2".parse().unwrap()));
        eth[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(ethernet_dst(&eth), None);
        assert_eq!(inner_dst(&[]), None);
    }
}
