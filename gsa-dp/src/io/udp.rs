//! The one Geneve UDP socket (RFC 8926 §3.3: destination port 6081). Bound to `[::]` by
//! default, it serves IPv4 and IPv6 underlays at once (IPv4 peers appear as v4-mapped).

use mio::net::UdpSocket;
use std::io;
use std::net::{IpAddr, SocketAddr};

/// IANA port for Geneve (RFC 8926 §3.3).
pub const GENEVE_PORT: u16 = 6081;

/// Bind the underlay socket, non-blocking.
pub fn bind(listen: IpAddr, port: u16) -> io::Result<UdpSocket> {
    let s = std::net::UdpSocket::bind(SocketAddr::new(listen, port))?;
    s.set_nonblocking(true)?;
    Ok(UdpSocket::from_std(s))
}

/// Like [`bind`], with SO_REUSEPORT set before binding: several workers each bind one socket
/// to the same port and the kernel spreads incoming datagrams over them by a hash of the
/// addresses and ports (socket(7)).
pub fn bind_reuseport(listen: IpAddr, port: u16) -> io::Result<UdpSocket> {
    use nix::sys::socket::{
        bind, setsockopt, socket, sockopt, AddressFamily, SockFlag, SockType, SockaddrStorage,
    };
    let family = if listen.is_ipv6() {
        AddressFamily::Inet6
    } else {
        AddressFamily::Inet
    };
    let flags = SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC;
    let fd = socket(family, SockType::Datagram, flags, None)?;
    setsockopt(&fd, sockopt::ReusePort, &true)?;
    if listen.is_ipv6() {
        // Serve IPv4 peers too (v4-mapped), like std's bind on `[::]` does by default.
        setsockopt(&fd, sockopt::Ipv6V6Only, &false)?;
    }
    bind(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
        &SockaddrStorage::from(SocketAddr::new(listen, port)),
    )?;
    Ok(UdpSocket::from_std(std::net::UdpSocket::from(fd)))
}

/// The address to `send_to` for `remote:port` from a socket bound to `local`: an IPv6 socket
/// reaches an IPv4 peer through its v4-mapped address (an AF_INET sockaddr would be refused).
pub fn target(local: IpAddr, remote: IpAddr, port: u16) -> SocketAddr {
    match (local, remote) {
        (IpAddr::V6(_), IpAddr::V4(v4)) => SocketAddr::new(IpAddr::V6(v4.to_ipv6_mapped()), port),
        _ => SocketAddr::new(remote, port),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v4_peers_are_mapped_on_a_v6_socket() {
        let v6: IpAddr = "::".parse().unwrap();
        let v4: IpAddr = "0.0.0.0".parse().unwrap();
        let peer: IpAddr = "10.0.0.2".parse().unwrap();
        assert_eq!(
            target(v6, peer, 6081),
            "[::ffff:10.0.0.2]:6081".parse().unwrap()
        );
        assert_eq!(target(v4, peer, 7000), "10.0.0.2:7000".parse().unwrap());
        let p6: IpAddr = "fd00::2".parse().unwrap();
        assert_eq!(target(v6, p6, 6081), "[fd00::2]:6081".parse().unwrap());
    }

    #[test]
    fn reuseport_sockets_share_a_port() {
        let a = bind_reuseport("127.0.0.1".parse().unwrap(), 0).unwrap();
        let port = a.local_addr().unwrap().port();
        let b = bind_reuseport("127.0.0.1".parse().unwrap(), port).unwrap();
        assert_eq!(b.local_addr().unwrap().port(), port);
        // Without SO_REUSEPORT the same port is refused.
        assert!(bind("127.0.0.1".parse().unwrap(), port).is_err());
    }

    #[test]
    fn loopback_round_trip() {
        let a = bind("127.0.0.1".parse().unwrap(), 0).unwrap();
        let b = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        b.send_to(b"geneve", a.local_addr().unwrap()).unwrap();
        let mut buf = [0u8; 16];
        let mut n = None;
        for _ in 0..100 {
            match a.recv_from(&mut buf) {
                Ok((len, _)) => {
                    n = Some(len);
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(std::time::Duration::from_millis(10))
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(n, Some(6));
        assert_eq!(&buf[..6], b"geneve");
    }
}
