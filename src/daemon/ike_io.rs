//! UDP 500 and 4500 for IKE (RFC 7296 §2.23, RFC 3948 §2.2). On 4500 every IKE message is
//! preceded by the 4-byte non-ESP marker (zero); datagrams without it are ESP, which nvesec
//! does not use, and are dropped and counted ([`IkeIo::natt_no_marker`]; a NAT-keepalive, one
//! 0xFF byte, RFC 3948 §2.3, is ignored without counting). Everything else, an empty datagram
//! included, goes to the engine, which counts what it cannot parse. Sockets are dual-stack (`[::]`), IPv4 peers are handled as
//! plain IPv4 addresses (v4-mapped addresses are converted both ways).

use std::io::{self, ErrorKind};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};

use mio::net::UdpSocket;
use mio::{Interest, Registry, Token};
use nvesec_ikev2::endpoint::Transmit;

/// The non-ESP marker (RFC 3948 §2.2).
pub const NON_ESP_MARKER: [u8; 4] = [0; 4];

/// The two IKE sockets.
#[derive(Debug)]
pub struct IkeIo {
    main: UdpSocket,
    natt: UdpSocket,
    pub port: u16,
    pub natt_port: u16,
    /// Datagrams on the NAT-T port without the non-ESP marker (ESP or garbage), dropped.
    natt_no_marker: AtomicU64,
}

/// One received IKE message.
#[derive(Debug, PartialEq, Eq)]
pub struct Received {
    pub from: SocketAddr,
    /// The local port it arrived on (the address is filled in by the caller).
    pub local_port: u16,
    /// Where the IKE message starts in the buffer (4 after a non-ESP marker).
    pub start: usize,
    pub len: usize,
    /// False for what is not for the engine (ESP or a NAT-keepalive on the NAT-T port,
    /// already accounted for); true for everything else, empty datagrams included.
    pub ike: bool,
}

fn bind(port: u16) -> io::Result<UdpSocket> {
    let v6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port);
    match UdpSocket::bind(v6) {
        Ok(s) => Ok(s),
        // No IPv6 in this namespace/kernel: IPv4 only.
        Err(e) if e.kind() != ErrorKind::AddrInUse => {
            UdpSocket::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port))
        }
        Err(e) => Err(e),
    }
}

/// IPv4 peers reach a dual-stack socket as `::ffff:a.b.c.d`; the engine and the
/// configuration speak plain IPv4.
pub fn canonical(a: SocketAddr) -> SocketAddr {
    SocketAddr::new(a.ip().to_canonical(), a.port())
}

/// The address to send to on `sock`: v4-mapped if the socket is IPv6.
fn target(sock: &UdpSocket, dst: SocketAddr) -> SocketAddr {
    match (sock.local_addr().map(|a| a.is_ipv6()), dst.ip()) {
        (Ok(true), IpAddr::V4(v4)) => SocketAddr::new(IpAddr::V6(v4.to_ipv6_mapped()), dst.port()),
        _ => dst,
    }
}

/// A NAT-keepalive (RFC 3948 §2.3): one 0xFF byte on the NAT-T port.
pub fn is_keepalive(datagram: &[u8]) -> bool {
    datagram == [0xff]
}

/// Strip the non-ESP marker of a datagram received on the NAT-T port; `None` for ESP.
pub fn strip_marker(datagram: &[u8]) -> Option<&[u8]> {
    match datagram.split_first_chunk::<4>() {
        Some((m, rest)) if *m == NON_ESP_MARKER => Some(rest),
        _ => None,
    }
}

impl IkeIo {
    /// Bind `port` (500) and `natt_port` (4500) on every address.
    pub fn bind(port: u16, natt_port: u16) -> io::Result<IkeIo> {
        let main = bind(port)?;
        let natt = bind(natt_port)?;
        Ok(IkeIo {
            port: main.local_addr()?.port(),
            natt_port: natt.local_addr()?.port(),
            main,
            natt,
            natt_no_marker: AtomicU64::new(0),
        })
    }

    pub fn register(&mut self, reg: &Registry, main: Token, natt: Token) -> io::Result<()> {
        reg.register(&mut self.main, main, Interest::READABLE)?;
        reg.register(&mut self.natt, natt, Interest::READABLE)
    }

    /// Receive one datagram from the main (`natt = false`) or NAT-T socket. `Ok(None)` when
    /// nothing is waiting; ESP on the NAT-T port is skipped (reported as `len = 0`).
    pub fn recv(&self, natt: bool, buf: &mut [u8]) -> io::Result<Option<Received>> {
        let sock = if natt { &self.natt } else { &self.main };
        match sock.recv_from(buf) {
            Ok((n, from)) => {
                let local_port = if natt { self.natt_port } else { self.port };
                let (start, len, ike) = if natt {
                    match strip_marker(&buf[..n]) {
                        Some(rest) => (4, rest.len(), true),
                        None if is_keepalive(&buf[..n]) => (0, 0, false),
                        None => {
                            self.natt_no_marker.fetch_add(1, Ordering::Relaxed);
                            (0, 0, false)
                        }
                    }
                } else {
                    (0, n, true)
                };
                Ok(Some(Received {
                    from: canonical(from),
                    local_port,
                    start,
                    len,
                    ike,
                }))
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Receives at most `budget` datagrams from one socket, handing each IKE one to `f`
    /// (bytes without the NAT-T marker). Returns whether the budget ran out: the socket may
    /// hold more, and since mio is edge-triggered the caller must come back without waiting
    /// for a new readiness event. Bounds the time one loop turn spends on a flood, so timers,
    /// the keying socket and the control socket get their turn (docs/daemon.md "Limits").
    pub fn recv_batch(
        &self,
        natt: bool,
        buf: &mut [u8],
        budget: usize,
        mut f: impl FnMut(&Received, &[u8]),
    ) -> io::Result<bool> {
        for _ in 0..budget {
            match self.recv(natt, buf)? {
                Some(r) if r.ike => f(&r, &buf[r.start..r.start + r.len]),
                Some(_) => {}
                None => return Ok(false),
            }
        }
        Ok(true)
    }

    /// Datagrams dropped on the NAT-T port for lack of the non-ESP marker.
    pub fn natt_no_marker(&self) -> u64 {
        self.natt_no_marker.load(Ordering::Relaxed)
    }

    /// Send one engine datagram; from the NAT-T socket (with the marker) when either end
    /// uses the NAT-T port.
    pub fn send(&self, t: &Transmit) -> io::Result<()> {
        let natt = t.src.port() == self.natt_port || t.dst.port() == self.natt_port;
        if natt {
            let mut b = Vec::with_capacity(t.bytes.len() + 4);
            b.extend_from_slice(&NON_ESP_MARKER);
            b.extend_from_slice(&t.bytes);
            self.natt.send_to(&b, target(&self.natt, t.dst)).map(|_| ())
        } else {
            self.main
                .send_to(&t.bytes, target(&self.main, t.dst))
                .map(|_| ())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_is_stripped_and_esp_refused() {
        assert_eq!(strip_marker(&[0, 0, 0, 0, 1, 2]), Some(&[1u8, 2][..]));
        assert_eq!(strip_marker(&[0, 0, 0, 1, 1, 2]), None);
        assert_eq!(strip_marker(&[0, 0]), None);
    }

    #[test]
    fn mapped_addresses_become_ipv4() {
        let m: SocketAddr = "[::ffff:192.0.2.1]:500".parse().unwrap();
        assert_eq!(canonical(m), "192.0.2.1:500".parse().unwrap());
    }

    #[test]
    fn loopback_round_trip_on_both_ports() {
        let a = IkeIo::bind(0, 0).unwrap();
        let b = IkeIo::bind(0, 0).unwrap();
        let lo = |p| SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), p);
        a.send(&Transmit {
            src: lo(a.port),
            dst: lo(b.port),
            bytes: vec![1, 2, 3],
        })
        .unwrap();
        let mut buf = [0u8; 64];
        let r = wait(&b, false, &mut buf);
        assert_eq!((r.from, r.start, r.len), (lo(a.port), 0, 3));
        // On the NAT-T port the marker is added and stripped again.
        a.send(&Transmit {
            src: lo(a.natt_port),
            dst: lo(b.natt_port),
            bytes: vec![9, 8],
        })
        .unwrap();
        let r = wait(&b, true, &mut buf);
        assert_eq!(
            (r.start, r.len, r.ike, &buf[4..6]),
            (4, 2, true, &[9u8, 8][..])
        );
        assert_eq!(b.natt_no_marker(), 0);
    }

    /// Found by interop/tests/scenario_ike_hostile.rs: empty datagrams and ESP on the NAT-T
    /// port were dropped without any counter.
    #[test]
    fn empty_datagrams_reach_the_engine_and_esp_is_counted() {
        let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = IkeIo::bind(0, 0).unwrap();
        let lo = |p| SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), p);
        let mut buf = [0u8; 64];
        a.send_to(&[], lo(b.port)).unwrap();
        let r = wait(&b, false, &mut buf);
        assert_eq!((r.start, r.len, r.ike), (0, 0, true));
        // After the marker an empty IKE message is still for the engine.
        a.send_to(&[0, 0, 0, 0], lo(b.natt_port)).unwrap();
        let r = wait(&b, true, &mut buf);
        assert_eq!((r.start, r.len, r.ike), (4, 0, true));
        for (i, esp) in [&[][..], &[0, 0][..], &[1, 2, 3, 4, 0, 0, 0, 1][..]]
            .into_iter()
            .enumerate()
        {
            a.send_to(esp, lo(b.natt_port)).unwrap();
            let r = wait(&b, true, &mut buf);
            assert!(!r.ike);
            assert_eq!(b.natt_no_marker(), i as u64 + 1);
        }
        // A NAT-keepalive is not an attack: ignored, not counted.
        a.send_to(&[0xff], lo(b.natt_port)).unwrap();
        assert!(!wait(&b, true, &mut buf).ike);
        assert_eq!(b.natt_no_marker(), 3);
    }

    #[test]
    fn a_flood_is_read_in_budgeted_batches() {
        let lo = |p| SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), p);
        let s = IkeIo::bind(0, 0).unwrap();
        let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        for i in 0..100u8 {
            a.send_to(&[i; 28], lo(s.port)).unwrap();
        }
        // Wait until all 100 are queued on the socket (loopback delivery is immediate, but
        // be patient on a loaded machine).
        std::thread::sleep(std::time::Duration::from_millis(50));
        let mut buf = vec![0u8; 65536];
        let mut seen = Vec::new();
        let more = s
            .recv_batch(false, &mut buf, 64, |_, b| seen.push(b[0]))
            .unwrap();
        assert!(more, "budget used up: the caller must come back");
        assert_eq!(seen, (0..64).collect::<Vec<u8>>());
        let more = s
            .recv_batch(false, &mut buf, 64, |_, b| seen.push(b[0]))
            .unwrap();
        assert!(!more, "socket drained within the budget");
        assert_eq!(seen.len(), 100);
    }

    fn wait(s: &IkeIo, natt: bool, buf: &mut [u8]) -> Received {
        for _ in 0..200 {
            if let Some(r) = s.recv(natt, buf).unwrap() {
                return r;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        panic!("nothing received");
    }
}
