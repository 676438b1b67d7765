//! Batched UDP I/O for the Geneve socket, with no allocation per packet or per syscall:
//!
//! - send: sealed packets are written straight into one buffer ([`TxBatch::slot`]) and grouped
//!   into *trains*: consecutive packets to the same peer with the same size (the last may be
//!   shorter). With UDP GSO a train leaves as one datagram with a `UDP_SEGMENT` control message
//!   (the kernel cuts it into equal segments, Linux udp(7)); trains leave in `sendmmsg` batches.
//!   Without GSO every packet is its own message in the `sendmmsg` batch.
//! - receive: with UDP GRO one `recvmsg` returns up to 64 KiB of same-size datagrams from one
//!   peer and a `UDP_GRO` control message with their size ([`recv_gro`]); without it
//!   [`RxBatch`] reads up to [`RX_BATCH`] datagrams per `recvmmsg`.

use nix::errno::Errno;
use nix::sys::socket::{
    recvmmsg, recvmsg, sendmmsg, setsockopt, sockopt, ControlMessage, ControlMessageOwned,
    MsgFlags, MultiHeaders, SockaddrStorage,
};
use std::io::{IoSlice, IoSliceMut};
use std::net::SocketAddr;
use std::ops::Range;
use std::os::fd::{AsFd, RawFd};

/// Room for one packet: the largest UDP payload plus slack.
pub const SLOT: usize = 65536 + 512;
/// Datagrams per `recvmmsg` without GRO.
pub const RX_BATCH: usize = 32;
/// Messages per `sendmmsg`.
pub const MAX_TRAINS: usize = 64;
/// Segments per UDP GSO send (UDP_MAX_SEGMENTS is 64 on older kernels, 128 on newer).
pub const MAX_SEGMENTS: usize = 64;
/// Bytes per GSO train: the whole train must fit one IP datagram (64 KiB minus headers).
pub const TRAIN_BYTES: usize = 65000;
/// Send buffer: trains are flushed when less than one [`SLOT`] is left.
const TX_BYTES: usize = 8 * SLOT;

/// What the kernel supports on this socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Offloads {
    pub gso: bool,
    pub gro: bool,
}

/// Larger socket buffers (bursts of 64 KiB super-packets) and, if `want`, UDP GSO and GRO.
pub fn configure<F: AsFd>(sock: &F, want: bool) -> Offloads {
    const BUF: usize = 4 << 20;
    // The *Force variants ignore net.core.{r,w}mem_max (we run as root); fall back otherwise.
    if setsockopt(sock, sockopt::RcvBufForce, &BUF).is_err() {
        let _ = setsockopt(sock, sockopt::RcvBuf, &BUF);
    }
    if setsockopt(sock, sockopt::SndBufForce, &BUF).is_err() {
        let _ = setsockopt(sock, sockopt::SndBuf, &BUF);
    }
    if !want {
        return Offloads::default();
    }
    // UDP_SEGMENT 0 as a socket option changes nothing (per-send cmsgs decide) but fails on
    // kernels without UDP GSO (< 4.18).
    let gso = setsockopt(sock, sockopt::UdpGsoSegment, &0).is_ok();
    let gro = setsockopt(sock, sockopt::UdpGroSegment, &true).is_ok();
    Offloads { gso, gro }
}

#[derive(Debug, Clone, Copy)]
struct Train {
    to: SocketAddr,
    start: usize,
    len: usize,
    seg: usize,
    count: usize,
    /// A shorter packet ended it.
    closed: bool,
}

/// Outgoing packets waiting for one `sendmmsg`.
pub struct TxBatch {
    buf: Box<[u8]>,
    used: usize,
    trains: Vec<Train>,
    addrs: Vec<Option<SockaddrStorage>>,
    plain: MultiHeaders<SockaddrStorage>,
    with_gso: MultiHeaders<SockaddrStorage>,
    gso: bool,
    /// Packets the kernel refused (counted, dropped: UDP is lossy anyway).
    pub errors: u64,
    /// Syscalls made and packets sent (for the counters).
    pub syscalls: u64,
    pub packets: u64,
}

impl std::fmt::Debug for TxBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "TxBatch(used {} trains {} gso {})",
            self.used,
            self.trains.len(),
            self.gso
        )
    }
}

impl TxBatch {
    pub fn new(gso: bool) -> Self {
        TxBatch {
            buf: vec![0u8; TX_BYTES].into_boxed_slice(),
            used: 0,
            trains: Vec::with_capacity(MAX_TRAINS),
            addrs: Vec::with_capacity(MAX_TRAINS),
            plain: MultiHeaders::preallocate(MAX_TRAINS, None),
            with_gso: MultiHeaders::preallocate(MAX_TRAINS, Some(nix::cmsg_space!(u16))),
            gso,
            errors: 0,
            syscalls: 0,
            packets: 0,
        }
    }

    pub fn gso(&self) -> bool {
        self.gso
    }

    /// Whether anything waits to be sent.
    pub fn is_empty(&self) -> bool {
        self.trains.is_empty()
    }

    /// Where to write the next packet (at least [`SLOT`] bytes); flushes first when full.
    pub fn slot(&mut self, fd: RawFd) -> &mut [u8] {
        if self.buf.len() - self.used < SLOT || self.trains.len() == MAX_TRAINS {
            self.flush(fd);
        }
        &mut self.buf[self.used..self.used + SLOT]
    }

    /// The packet written at the start of [`Self::slot`] is `len` bytes, for `to`.
    pub fn commit(&mut self, len: usize, to: SocketAddr) {
        let start = self.used;
        self.used += len;
        if self.gso {
            if let Some(t) = self.trains.last_mut() {
                if t.to == to
                    && !t.closed
                    && len <= t.seg
                    && t.count < MAX_SEGMENTS
                    && t.len + len <= TRAIN_BYTES
                    && t.start + t.len == start
                {
                    t.len += len;
                    t.count += 1;
                    t.closed = len < t.seg;
                    return;
                }
            }
        }
        self.trains.push(Train {
            to,
            start,
            len,
            seg: len,
            count: 1,
            closed: false,
        });
    }

    /// Send everything: runs of single packets as one plain `sendmmsg`, runs of trains with the
    /// same segment size as one `sendmmsg` sharing a `UDP_SEGMENT` control message.
    pub fn flush(&mut self, fd: RawFd) {
        let mut i = 0;
        while i < self.trains.len() {
            let gso = self.trains[i].count > 1;
            let seg = self.trains[i].seg;
            let mut j = i + 1;
            while j < self.trains.len()
                && (self.trains[j].count > 1) == gso
                && (!gso || self.trains[j].seg == seg)
            {
                j += 1;
            }
            self.send(fd, i, j, gso.then_some(seg as u16));
            i = j;
        }
        self.trains.clear();
        self.used = 0;
    }

    fn send(&mut self, fd: RawFd, from: usize, to: usize, seg: Option<u16>) {
        let mut next = from;
        while next < to {
            let n = to - next;
            let mut iovs = [[IoSlice::new(&[])]; MAX_TRAINS];
            self.addrs.clear();
            for (k, t) in self.trains[next..to].iter().enumerate() {
                iovs[k] = [IoSlice::new(&self.buf[t.start..t.start + t.len])];
                self.addrs.push(Some(SockaddrStorage::from(t.to)));
            }
            let seg_val = seg.unwrap_or(0);
            let cmsg = [ControlMessage::UdpGsoSegments(&seg_val)];
            let (hdrs, cmsgs): (_, &[ControlMessage]) = match seg {
                Some(_) => (&mut self.with_gso, &cmsg),
                None => (&mut self.plain, &[]),
            };
            self.syscalls += 1;
            let sent = sendmmsg(
                fd,
                hdrs,
                &iovs[..n],
                &self.addrs[..],
                cmsgs,
                MsgFlags::MSG_DONTWAIT,
            )
            .map(|r| r.count());
            match sent {
                Ok(k) if k > 0 => {
                    self.packets += self.trains[next..next + k]
                        .iter()
                        .map(|t| t.count as u64)
                        .sum::<u64>();
                    next += k;
                }
                Ok(_) | Err(Errno::EAGAIN) | Err(_) => {
                    let lost: u64 = self.trains[next..to].iter().map(|t| t.count as u64).sum();
                    self.errors += lost;
                    if seg.is_some() && !matches!(sent, Err(Errno::EAGAIN)) {
                        // EIO/EINVAL: the route's device cannot do UDP GSO; go on without.
                        self.gso = false;
                    }
                    return;
                }
            }
        }
    }
}

/// One `recvmsg` on a socket with UDP GRO: `(bytes, segment size)`; `bytes` is a train of
/// datagrams of `segment size` bytes (the last may be shorter), all from one peer.
pub fn recv_gro(fd: RawFd, buf: &mut [u8], cmsg: &mut [u8]) -> nix::Result<(usize, usize)> {
    let mut iov = [IoSliceMut::new(buf)];
    let msg = recvmsg::<SockaddrStorage>(fd, &mut iov, Some(cmsg), MsgFlags::MSG_DONTWAIT)?;
    let bytes = msg.bytes;
    // Never 0, even for an empty datagram: callers split the buffer into `seg`-byte chunks.
    let mut seg = bytes.max(1);
    if let Ok(cmsgs) = msg.cmsgs() {
        for c in cmsgs {
            if let ControlMessageOwned::UdpGroSegments(s) = c {
                seg = usize::try_from(s).unwrap_or(bytes).max(1);
            }
        }
    } else {
        // MSG_CTRUNC: the segment size is unknown, so the train cannot be split safely.
        return Err(Errno::EMSGSIZE);
    }
    Ok((bytes, seg))
}

/// Space for [`recv_gro`]'s control message.
pub fn gro_cmsg_space() -> Vec<u8> {
    let v = nix::cmsg_space!(i32);
    vec![0u8; v.capacity()]
}

/// Buffers for `recvmmsg` without GRO (no control messages, so the preallocated headers stay
/// valid across calls).
pub struct RxBatch {
    bufs: Box<[u8]>,
    lens: [usize; RX_BATCH],
    count: usize,
    hdrs: MultiHeaders<SockaddrStorage>,
}

impl std::fmt::Debug for RxBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RxBatch(count {})", self.count)
    }
}

impl Default for RxBatch {
    fn default() -> Self {
        Self::new()
    }
}

impl RxBatch {
    pub fn new() -> Self {
        RxBatch {
            bufs: vec![0u8; RX_BATCH * SLOT].into_boxed_slice(),
            lens: [0; RX_BATCH],
            count: 0,
            hdrs: MultiHeaders::preallocate(RX_BATCH, None),
        }
    }

    /// Read up to [`RX_BATCH`] datagrams; returns how many.
    pub fn recv(&mut self, fd: RawFd) -> nix::Result<usize> {
        let mut chunks = self.bufs.chunks_mut(SLOT);
        let mut iovs: [[IoSliceMut<'_>; 1]; RX_BATCH] =
            std::array::from_fn(|_| [IoSliceMut::new(chunks.next().unwrap_or_default())]);
        let res = recvmmsg(
            fd,
            &mut self.hdrs,
            iovs.iter_mut(),
            MsgFlags::MSG_DONTWAIT,
            None,
        )?;
        let mut n = 0;
        for (k, m) in res.enumerate() {
            // MSG_TRUNC: bigger than a slot, cannot be ours (we never send more than 64 KiB).
            self.lens[k] = if m.flags.contains(MsgFlags::MSG_TRUNC) {
                0
            } else {
                m.bytes
            };
            n = k + 1;
        }
        self.count = n;
        Ok(n)
    }

    /// Where datagram `k` starts in [`Self::bytes`].
    pub fn offset(&self, k: usize) -> usize {
        k * SLOT
    }

    /// All slots (datagram `k` is at [`Self::offset`]`(k)`, opened in place).
    pub fn bytes(&self) -> &[u8] {
        &self.bufs
    }

    /// Where datagram `k` of the last [`Self::recv`] lies in [`Self::bytes`].
    pub fn range(&self, k: usize) -> Range<usize> {
        let len = if k < self.count { self.lens[k] } else { 0 };
        k * SLOT..k * SLOT + len
    }

    /// All slots, to open datagrams in place.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.bufs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    fn pair() -> (std::net::UdpSocket, std::net::UdpSocket) {
        let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        b.set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        (a, b)
    }

    #[test]
    fn an_empty_datagram_gives_a_nonzero_segment_size() {
        // A zero segment size once made the receive loop panic in `chunks_mut(0)` (found by the
        // interop hostile-input scenario: an empty datagram to UDP 6081).
        let (a, b) = pair();
        configure(&b, true);
        a.send_to(&[], b.local_addr().unwrap()).unwrap();
        let mut buf = vec![0u8; SLOT];
        let mut cmsg = gro_cmsg_space();
        b.set_nonblocking(false).unwrap();
        let (n, seg) = recv_gro(b.as_raw_fd(), &mut buf, &mut cmsg).unwrap();
        assert_eq!((n, seg), (0, 1));
    }

    #[test]
    fn trains_group_equal_sizes_per_peer() {
        let (a, b) = pair();
        let to = b.local_addr().unwrap();
        let other: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let mut tx = TxBatch::new(true);
        let fd = a.as_raw_fd();
        for (len, dst) in [(100, to), (100, to), (60, to), (100, to), (100, other)] {
            let s = tx.slot(fd);
            s[..len].fill(len as u8);
            tx.commit(len, dst);
        }
        // [100,100,60] one train (closed by the short one), [100] a new one, [100] other peer.
        let shape: Vec<(usize, usize)> = tx.trains.iter().map(|t| (t.count, t.len)).collect();
        assert_eq!(shape, [(3, 260), (1, 100), (1, 100)]);
        let mut plain = TxBatch::new(false);
        for _ in 0..3 {
            plain.slot(fd);
            plain.commit(100, to);
        }
        assert_eq!(plain.trains.len(), 3);
    }

    #[test]
    fn gso_send_and_gro_or_batch_receive_give_back_every_datagram() {
        let (a, b) = pair();
        let off_a = configure(&a, true);
        let off_b = configure(&b, true);
        let to = b.local_addr().unwrap();
        let mut tx = TxBatch::new(off_a.gso);
        let fd = a.as_raw_fd();
        let sizes = [1200usize, 1200, 1200, 700, 64, 64, 1200];
        for (i, &len) in sizes.iter().enumerate() {
            let s = tx.slot(fd);
            s[..len].fill(i as u8);
            tx.commit(len, to);
        }
        tx.flush(fd);
        assert_eq!(tx.errors, 0);
        assert_eq!(tx.packets, sizes.len() as u64);
        let mut got: Vec<(usize, u8)> = Vec::new();
        let mut buf = vec![0u8; SLOT];
        let mut cmsg = gro_cmsg_space();
        b.set_nonblocking(false).unwrap();
        while got.len() < sizes.len() {
            if off_b.gro {
                let (n, seg) = recv_gro(b.as_raw_fd(), &mut buf, &mut cmsg).unwrap();
                for d in buf[..n].chunks(seg) {
                    got.push((d.len(), d[0]));
                }
            } else {
                let n = b.recv(&mut buf).unwrap();
                got.push((n, buf[0]));
            }
        }
        let want: Vec<(usize, u8)> = sizes
            .iter()
            .enumerate()
            .map(|(i, &l)| (l, i as u8))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn recvmmsg_batch_reads_several() {
        let (a, b) = pair();
        let to = b.local_addr().unwrap();
        for i in 0..5u8 {
            a.send_to(&[i; 10], to).unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        let mut rx = RxBatch::new();
        let n = rx.recv(b.as_raw_fd()).unwrap();
        assert_eq!(n, 5);
        for k in 0..5 {
            assert_eq!(&rx.bytes()[rx.range(k)], &[k as u8; 10]);
        }
        assert!(rx.range(5).is_empty());
        assert_eq!(rx.recv(b.as_raw_fd()), Err(Errno::EAGAIN));
    }
}
