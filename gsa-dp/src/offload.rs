//! tun offloads as pure functions over byte buffers: the `virtio_net_hdr` that prefixes every
//! frame of a tun opened with `IFF_VNET_HDR`, TCP segmentation of the super-packets the kernel
//! hands us (TSO done in userspace, as wireguard-go's `tun/offload_linux.go` does), and the
//! reverse, coalescing consecutive TCP segments of one flow into one super-packet for the tun
//! (GRO done in userspace).
//!
//! Why: with TUNSETOFFLOAD (TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) one tun read or write moves up
//! to 64 KiB instead of one MTU-sized packet, so the per-syscall cost is paid ~45 times less.
//! Every segment is still sealed into its own Geneve packet (the GSO rules need the inner
//! packets to stay within the underlay MTU), and sent as UDP GSO trains.
//!
//! References: include/uapi/linux/virtio_net.h (header layout), include/linux/virtio_net.h
//! (`virtio_net_hdr_to_skb`: what the kernel accepts), net/ipv4/tcp_offload.c (what TSO does to
//! each segment: IPv4 ID + 1, sequence numbers, FIN/PSH only on the last segment, CWR only on the
//! first), RFC 1071 (Internet checksum), RFC 793 §3.1 / RFC 8200 §8.1 (TCP pseudo-header).
//!
//! Nothing here allocates per packet or copies a payload: segmentation builds each segment's
//! headers in a small caller buffer ([`SEGMENT_SCRATCH`]) and hands out its payload as a slice of
//! the super-packet; coalescing keeps the first headers and points into the receive buffer.

use std::fmt;
use std::io::IoSlice;
use std::ops::Range;

/// `sizeof(struct virtio_net_hdr)`: what a tun with `IFF_VNET_HDR` prepends by default.
pub const VNET_HDR_LEN: usize = 10;
/// `VIRTIO_NET_HDR_F_NEEDS_CSUM`: the checksum at `csum_start + csum_offset` is only the
/// pseudo-header sum; whoever finishes the packet sums from `csum_start` to the end.
pub const F_NEEDS_CSUM: u8 = 1;
/// `VIRTIO_NET_HDR_GSO_*`.
pub const GSO_NONE: u8 = 0;
pub const GSO_TCPV4: u8 = 1;
pub const GSO_UDP: u8 = 3;
pub const GSO_TCPV6: u8 = 4;
/// `VIRTIO_NET_HDR_GSO_UDP_L4`: UDP super-packet, one datagram per `gso_size` payload bytes
/// (tun with TUN_F_USO4/6, Linux 6.2+).
pub const GSO_UDP_L4: u8 = 5;
pub const GSO_ECN: u8 = 0x80;

/// The largest IP packet a tun reads or writes (IPv4 total length, IPv6 payload length + 40 are
/// both bounded by 16 bits without jumbograms).
pub const MAX_SUPER: usize = 65535 + 40;
/// Scratch [`segment`] needs: the longest IPv4 header (60) plus the longest TCP header (60).
pub const SEGMENT_SCRATCH: usize = 120;
/// At most this many segments are coalesced into one super-packet (Linux GRO: MAX_GRO_SKBS).
pub const MAX_COALESCE: u16 = 64;

const TCP_FIN: u8 = 0x01;
const TCP_SYN: u8 = 0x02;
const TCP_RST: u8 = 0x04;
const TCP_PSH: u8 = 0x08;
const TCP_ACK: u8 = 0x10;
const TCP_CWR: u8 = 0x80;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;

/// Why a frame could not be parsed, segmented or finished. Callers count and drop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OffloadError {
    #[error("frame shorter than its virtio_net_hdr")]
    Truncated,
    #[error("unsupported GSO type {0:#x}")]
    UnsupportedGso(u8),
    #[error("GSO frame without a valid IPv4/IPv6 header")]
    BadIp,
    #[error("GSO frame is not TCP or its TCP header is invalid")]
    BadTcp,
    #[error("GSO frame is not UDP or its UDP header is invalid")]
    BadUdp,
    #[error("GSO size 0")]
    ZeroGsoSize,
    #[error("checksum start/offset outside the packet")]
    BadChecksumOffsets,
    #[error("output buffer too small")]
    BufferTooSmall,
}

/// `struct virtio_net_hdr` (no `num_buffers`). Multi-byte fields are in the host's byte order
/// (legacy virtio endianness, which tun uses unless TUNSETVNETBE/LE says otherwise).
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct VnetHdr {
    pub flags: u8,
    pub gso_type: u8,
    pub hdr_len: u16,
    pub gso_size: u16,
    pub csum_start: u16,
    pub csum_offset: u16,
}

impl fmt::Debug for VnetHdr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "VnetHdr(flags {:#x} gso {:#x} hdr_len {} gso_size {} csum {}+{})",
            self.flags,
            self.gso_type,
            self.hdr_len,
            self.gso_size,
            self.csum_start,
            self.csum_offset
        )
    }
}

impl VnetHdr {
    /// Split a frame read from the tun into its header and the IP packet.
    pub fn parse(frame: &[u8]) -> Result<(VnetHdr, &[u8]), OffloadError> {
        let h = frame.get(..VNET_HDR_LEN).ok_or(OffloadError::Truncated)?;
        let u = |i: usize| u16::from_ne_bytes([h[i], h[i + 1]]);
        let hdr = VnetHdr {
            flags: h[0],
            gso_type: h[1],
            hdr_len: u(2),
            gso_size: u(4),
            csum_start: u(6),
            csum_offset: u(8),
        };
        Ok((hdr, &frame[VNET_HDR_LEN..]))
    }

    /// The 10 bytes to write before a packet.
    pub fn to_bytes(&self) -> [u8; VNET_HDR_LEN] {
        let mut b = [0u8; VNET_HDR_LEN];
        b[0] = self.flags;
        b[1] = self.gso_type;
        b[2..4].copy_from_slice(&self.hdr_len.to_ne_bytes());
        b[4..6].copy_from_slice(&self.gso_size.to_ne_bytes());
        b[6..8].copy_from_slice(&self.csum_start.to_ne_bytes());
        b[8..10].copy_from_slice(&self.csum_offset.to_ne_bytes());
        b
    }
}

/// RFC 1071 ones-complement sum of `data` as big-endian 16-bit words, added to `acc` and not
/// yet folded. `data` must start at an even offset of the checksummed byte string.
pub fn sum(data: &[u8], acc: u64) -> u64 {
    // Native-order 32-bit words into four 64-bit accumulators: 2^16 = 1 (mod 2^16 - 1), so
    // folding a sum of 32-bit words gives the sum of their 16-bit halves, and the sum of
    // byte-swapped words is the byte-swapped sum (RFC 1071 §2 (A) and (B)). Independent
    // accumulators let the compiler vectorise; 64 KiB is 16 Ki words below 2^32: no overflow.
    let mut lanes = [0u64; 4];
    let mut blocks = data.chunks_exact(16);
    for b in &mut blocks {
        for (lane, w) in lanes.iter_mut().zip(b.chunks_exact(4)) {
            *lane += u64::from(u32::from_ne_bytes([w[0], w[1], w[2], w[3]]));
        }
    }
    let native = fold(lanes.iter().sum::<u64>());
    let be = if cfg!(target_endian = "little") {
        native.swap_bytes()
    } else {
        native
    };
    let mut total = acc + u64::from(be);
    let rest = blocks.remainder();
    let mut pairs = rest.chunks_exact(2);
    for p in &mut pairs {
        total += u64::from(u16::from_be_bytes([p[0], p[1]]));
    }
    if let [last] = pairs.remainder() {
        total += u64::from(*last) << 8;
    }
    total
}

/// Fold a [`sum`] to 16 bits (not complemented).
pub fn fold(mut acc: u64) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// The checksum field value for data summing to `acc`: the complement of the folded sum.
pub fn checksum(acc: u64) -> u16 {
    !fold(acc)
}

/// IP version and header length of `pkt`, if it is a well-formed IPv4 (no fragment) or IPv6
/// header (no extension headers) carrying `proto`.
fn ip_header(pkt: &[u8], proto: u8) -> Option<(bool, usize)> {
    match pkt.first()? >> 4 {
        4 => {
            let ihl = usize::from(pkt[0] & 0x0f) * 4;
            let frag = u16::from_be_bytes([*pkt.get(6)?, *pkt.get(7)?]);
            // MF or a fragment offset: not a whole TCP segment.
            (ihl >= 20 && pkt.len() >= ihl && pkt[9] == proto && frag & 0x3fff == 0)
                .then_some((false, ihl))
        }
        6 => (pkt.len() >= 40 && pkt[6] == proto).then_some((true, 40)),
        _ => None,
    }
}

/// Pseudo-header sum (RFC 793 §3.1, RFC 8200 §8.1) for an L4 length of `l4_len`.
fn pseudo_sum(pkt: &[u8], v6: bool, proto: u8, l4_len: usize) -> u64 {
    let addrs = if v6 { &pkt[8..40] } else { &pkt[12..20] };
    sum(addrs, u64::from(proto) + l4_len as u64)
}

fn set_u16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

fn get_u16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn get_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Rewrite the IPv4 header checksum of `pkt[..ihl]` (RFC 791).
fn fix_ipv4_checksum(pkt: &mut [u8], ihl: usize) {
    set_u16(pkt, 10, 0);
    let c = checksum(sum(&pkt[..ihl], 0));
    set_u16(pkt, 10, c);
}

/// Set the IP length fields for a packet of `total` bytes with header length `iphl`.
fn set_ip_len(pkt: &mut [u8], v6: bool, iphl: usize, total: usize) {
    if v6 {
        set_u16(pkt, 4, (total - 40) as u16);
    } else {
        set_u16(pkt, 2, total as u16);
        fix_ipv4_checksum(pkt, iphl);
    }
}

/// Finish a `VIRTIO_NET_HDR_F_NEEDS_CSUM` packet in place: sum from `csum_start` to the end
/// (the field already holds the pseudo-header sum) and store the complement.
pub fn finish_checksum(hdr: &VnetHdr, pkt: &mut [u8]) -> Result<(), OffloadError> {
    if hdr.flags & F_NEEDS_CSUM == 0 {
        return Ok(());
    }
    let start = usize::from(hdr.csum_start);
    let at = start + usize::from(hdr.csum_offset);
    if at + 2 > pkt.len() || start % 2 != 0 {
        return Err(OffloadError::BadChecksumOffsets);
    }
    let mut c = checksum(sum(&pkt[start..], 0));
    // RFC 768: a computed UDP checksum of 0 is sent as all ones (0 means "none").
    if c == 0 && hdr.csum_offset == 6 && ip_header(pkt, PROTO_UDP).is_some() {
        c = 0xffff;
    }
    set_u16(pkt, at, c);
    Ok(())
}

/// What [`segment`] will make of super-packet `pkt`: how many packets, their total length
/// (each repeats the headers) and the length of those L3 + L4 headers; what an engine reserves
/// before they are made. `None` if `hdr` asks for no segmentation or [`segment`] would refuse
/// the packet.
pub fn segment_count(hdr: &VnetHdr, pkt: &[u8]) -> Option<(usize, usize, usize)> {
    let (_, _, hl, size) = layout(hdr, pkt).ok()?;
    let payload = pkt.len() - hl;
    let n = payload.div_ceil(size).max(1);
    Some((n, payload + n * hl, hl))
}

/// The layout of a TCP or UDP super-packet as [`segment`] cuts it: IPv6 or not, the IP header
/// length, the L3 + L4 headers length, the segment payload size.
fn layout(hdr: &VnetHdr, pkt: &[u8]) -> Result<(bool, usize, usize, usize), OffloadError> {
    let gso = hdr.gso_type & !GSO_ECN;
    let (v6, iphl, hl) = match gso {
        GSO_UDP_L4 => {
            let (v6, iphl) = ip_header(pkt, PROTO_UDP).ok_or(OffloadError::BadIp)?;
            let hl = iphl + 8;
            if hl > pkt.len() {
                return Err(OffloadError::BadUdp);
            }
            (v6, iphl, hl)
        }
        GSO_TCPV4 | GSO_TCPV6 => {
            let (v6, iphl) = ip_header(pkt, PROTO_TCP).ok_or(OffloadError::BadIp)?;
            if v6 != (gso == GSO_TCPV6) {
                return Err(OffloadError::BadIp);
            }
            let thl = pkt
                .get(iphl + 12)
                .map(|b| usize::from(b >> 4) * 4)
                .filter(|&t| t >= 20 && iphl + t <= pkt.len())
                .ok_or(OffloadError::BadTcp)?;
            (v6, iphl, iphl + thl)
        }
        _ => return Err(OffloadError::UnsupportedGso(hdr.gso_type)),
    };
    if hdr.gso_size == 0 {
        return Err(OffloadError::ZeroGsoSize);
    }
    Ok((v6, iphl, hl, usize::from(hdr.gso_size)))
}

/// Turn one frame read from the tun (after its [`VnetHdr`]) into finished IP packets, each
/// passed to `emit` as `(head, body)`, the packet being `head` followed by `body`: a packet
/// without GSO is checksummed in place if needed and emitted as is (empty body); a TCP
/// super-packet is cut into `gso_size`-byte payload segments, each emitted as its own headers
/// (built in `scratch`, with its own IP length, IPv4 ID and header checksum, TCP sequence
/// number, flags and checksum, exactly as the kernel's TSO would have sent them:
/// net/ipv4/tcp_offload.c) and its slice of the super-packet's payload, never copied here.
/// Returns the number of packets emitted.
pub fn segment(
    hdr: &VnetHdr,
    pkt: &mut [u8],
    scratch: &mut [u8],
    emit: &mut dyn FnMut(&[u8], &[u8]),
) -> Result<usize, OffloadError> {
    let gso = hdr.gso_type & !GSO_ECN;
    if gso == GSO_NONE {
        finish_checksum(hdr, pkt)?;
        emit(pkt, &[]);
        return Ok(1);
    }
    if gso == GSO_UDP_L4 {
        return segment_udp(hdr, pkt, scratch, emit);
    }
    let (v6, iphl, hl, mss) = layout(hdr, pkt)?;
    if scratch.len() < hl {
        return Err(OffloadError::BufferTooSmall);
    }
    let (head, payload) = pkt.split_at(hl);
    let seq0 = get_u32(head, iphl + 4);
    let id0 = get_u16(head, 4);
    let flags0 = head[iphl + 13];
    let n = payload.len().div_ceil(mss).max(1);
    let out = &mut scratch[..hl];
    out.copy_from_slice(head);
    for i in 0..n {
        let chunk = &payload[(i * mss).min(payload.len())..((i + 1) * mss).min(payload.len())];
        let total = hl + chunk.len();
        if !v6 {
            set_u16(out, 4, id0.wrapping_add(i as u16));
        }
        set_ip_len(out, v6, iphl, total);
        let seq = seq0.wrapping_add((i * mss) as u32);
        out[iphl + 4..iphl + 8].copy_from_slice(&seq.to_be_bytes());
        let mut flags = flags0;
        if i + 1 < n {
            flags &= !(TCP_FIN | TCP_PSH);
        }
        if i > 0 {
            flags &= !TCP_CWR;
        }
        out[iphl + 13] = flags;
        set_u16(out, iphl + 16, 0);
        // The TCP header ends at a multiple of 4: the payload's words line up (RFC 1071).
        let pseudo = pseudo_sum(out, v6, PROTO_TCP, total - iphl);
        let c = checksum(sum(chunk, sum(&out[iphl..], pseudo)));
        set_u16(out, iphl + 16, c);
        emit(out, chunk);
    }
    Ok(n)
}

/// GSO_UDP_L4 (net/ipv4/udp_offload.c `__udp_gso_segment`): every `gso_size` bytes of payload
/// become one datagram with its own IP length (and IPv4 ID + i), UDP length and checksum,
/// emitted as headers (in `scratch`) and payload slice like [`segment`]'s TCP segments.
fn segment_udp(
    hdr: &VnetHdr,
    pkt: &[u8],
    scratch: &mut [u8],
    emit: &mut dyn FnMut(&[u8], &[u8]),
) -> Result<usize, OffloadError> {
    let (v6, iphl, hl, size) = layout(hdr, pkt)?;
    if scratch.len() < hl {
        return Err(OffloadError::BufferTooSmall);
    }
    let (head, payload) = pkt.split_at(hl);
    let id0 = get_u16(head, 4);
    let n = payload.len().div_ceil(size).max(1);
    let out = &mut scratch[..hl];
    out.copy_from_slice(head);
    for i in 0..n {
        let chunk = &payload[(i * size).min(payload.len())..((i + 1) * size).min(payload.len())];
        let total = hl + chunk.len();
        if !v6 {
            set_u16(out, 4, id0.wrapping_add(i as u16));
        }
        set_ip_len(out, v6, iphl, total);
        set_u16(out, iphl + 4, (total - iphl) as u16);
        set_u16(out, iphl + 6, 0);
        let pseudo = pseudo_sum(out, v6, PROTO_UDP, total - iphl);
        let mut c = checksum(sum(chunk, sum(&out[iphl..], pseudo)));
        if c == 0 {
            c = 0xffff; // RFC 768
        }
        set_u16(out, iphl + 6, c);
        emit(out, chunk);
    }
    Ok(n)
}

/// What [`Coalescer::offer`] did with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    /// Held (started a new super-packet or appended to the current one).
    Held,
    /// Could be held but does not continue the current super-packet: write
    /// [`Coalescer::take`] out, then offer the packet again.
    Flush,
    /// Never coalesced (not plain TCP data, bad checksum...): write out what is held first
    /// (to keep the flow's order), then the packet on its own.
    Ineligible,
}

/// The flow being coalesced: its header layout and where the next segment must start.
#[derive(Debug, Clone, Copy)]
struct Flow {
    v6: bool,
    iphl: usize,
    /// PROTO_TCP or PROTO_UDP, and its header length.
    proto: u8,
    thl: usize,
    seg: usize,
    next_seq: u32,
    count: u16,
    /// A short segment or PSH ended it: nothing more may be appended.
    closed: bool,
}

/// Longest L3 + L4 header a coalesced packet has: IPv6 (40) + TCP with options (60).
const MAX_HEADERS: usize = 100;

/// Userspace GRO for the tun (receive side): consecutive in-order TCP data segments of one flow
/// with identical headers (except lengths, IPv4 ID and checksums) become one super-packet,
/// written with a `virtio_net_hdr` (GSO_TCPV4/6, NEEDS_CSUM) that the kernel accepts as one skb.
/// Rules follow net/ipv4/tcp_offload.c `tcp_gro_receive`: same ACK number, window and options,
/// only ACK (and PSH, which ends the super-packet) set, every segment as long as the first
/// except a shorter last one, valid TCP checksum on each segment (unless the caller vouches for
/// the packet: see [`Coalescer::offer`]).
///
/// Nothing is copied but the first packet's headers: the coalescer keeps where each payload lies
/// in the caller's receive buffer, and [`Coalescer::take`] hands the super-packet out as a
/// `writev` list over that buffer. The caller must therefore take (write out) what is held
/// before it reuses the buffer, and pass the same buffer to every call in between.
pub struct Coalescer {
    /// `virtio_net_hdr` then the first packet's L3/L4 headers (lengths, checksum rewritten at
    /// [`Self::take`]).
    head: [u8; VNET_HDR_LEN + MAX_HEADERS],
    /// Every held packet's payload, as a range of the caller's buffer.
    parts: Vec<Range<usize>>,
    /// IP length of the super-packet.
    len: usize,
    flow: Option<Flow>,
    /// Also coalesce UDP datagrams into GSO_UDP_L4 super-packets (tun with TUN_F_USO4/6).
    udp: bool,
}

/// [`Coalescer::take`]'s result: the slices to write, in order, with one `writev`.
pub struct Iov<'a> {
    slices: [IoSlice<'a>; MAX_COALESCE as usize + 1],
    n: usize,
}

impl<'a> Iov<'a> {
    pub fn as_slices(&self) -> &[IoSlice<'a>] {
        &self.slices[..self.n]
    }

    /// Total bytes.
    pub fn len(&self) -> usize {
        self.as_slices().iter().map(|s| s.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes, assembled (tests, fuzzing).
    pub fn to_vec(&self) -> Vec<u8> {
        self.as_slices()
            .iter()
            .flat_map(|s| s.iter().copied())
            .collect()
    }
}

impl Default for Coalescer {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Coalescer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Coalescer(len {} flow {:?})", self.len, self.flow)
    }
}

impl Coalescer {
    pub fn new() -> Self {
        Self::with_udp(false)
    }

    /// With `udp`, consecutive equal-size datagrams of one UDP flow (same addresses and ports)
    /// are coalesced too, into GSO_UDP_L4 super-packets; only for a tun that accepted
    /// TUN_F_USO4/6, since the kernel must segment them again for the receiving socket.
    pub fn with_udp(udp: bool) -> Self {
        Coalescer {
            head: [0u8; VNET_HDR_LEN + MAX_HEADERS],
            parts: Vec::with_capacity(usize::from(MAX_COALESCE)),
            len: 0,
            flow: None,
            udp,
        }
    }

    /// Whether a super-packet is being built.
    pub fn is_empty(&self) -> bool {
        self.flow.is_none()
    }

    /// Offer the IP packet `src[pkt]`, bound for the tun. `authenticated`: every byte of it was
    /// covered by a verified ICV (GEO over the whole payload), so its L4 checksum is not
    /// checked again: the sending NVE built it or took it from its own stack, and the AEAD
    /// proves it arrived unchanged (kernel WireGuard marks decrypted packets
    /// CHECKSUM_UNNECESSARY for the same reason).
    pub fn offer(&mut self, src: &[u8], pkt: Range<usize>, authenticated: bool) -> Offer {
        let Some(p) = src.get(pkt.clone()) else {
            return Offer::Ineligible;
        };
        let Some((v6, iphl, proto, thl)) = l4_data_segment(p, self.udp, authenticated) else {
            return Offer::Ineligible;
        };
        if iphl + thl > MAX_HEADERS {
            return Offer::Ineligible;
        }
        let Some(flow) = self.flow else {
            self.start(p, pkt.start, v6, iphl, proto, thl);
            return Offer::Held;
        };
        if !self.continues(&flow, p, v6, iphl, proto, thl) {
            return Offer::Flush;
        }
        let payload = p.len() - iphl - thl;
        self.parts.push(pkt.start + iphl + thl..pkt.end);
        self.len += payload;
        let fl = if proto == PROTO_TCP { p[iphl + 13] } else { 0 };
        // PSH of a later segment is carried to the super-packet (tcp_gro_receive does the same).
        if proto == PROTO_TCP {
            self.head[VNET_HDR_LEN + iphl + 13] |= fl & TCP_PSH;
        }
        self.flow = Some(Flow {
            next_seq: flow.next_seq.wrapping_add(payload as u32),
            count: flow.count + 1,
            closed: payload < flow.seg || fl & TCP_PSH != 0,
            ..flow
        });
        Offer::Held
    }

    fn start(&mut self, p: &[u8], at: usize, v6: bool, iphl: usize, proto: u8, thl: usize) {
        let hl = iphl + thl;
        self.head[VNET_HDR_LEN..VNET_HDR_LEN + hl].copy_from_slice(&p[..hl]);
        self.parts.clear();
        self.parts.push(at + hl..at + p.len());
        self.len = p.len();
        let seg = p.len() - hl;
        let tcp = proto == PROTO_TCP;
        self.flow = Some(Flow {
            v6,
            iphl,
            proto,
            thl,
            seg,
            next_seq: get_u32(p, iphl + 4).wrapping_add(seg as u32),
            count: 1,
            closed: tcp && p[iphl + 13] & TCP_PSH != 0,
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn continues(
        &self,
        f: &Flow,
        pkt: &[u8],
        v6: bool,
        iphl: usize,
        proto: u8,
        thl: usize,
    ) -> bool {
        let head = &self.head[VNET_HDR_LEN..VNET_HDR_LEN + f.iphl + f.thl];
        let payload = pkt.len() - iphl - thl;
        let same = |a: usize, b: usize| head.get(a..b) == pkt.get(a..b);
        let ip_same = if v6 {
            // version/traffic class/flow label, next header, hop limit, addresses.
            same(0, 4) && same(6, 40)
        } else {
            // version/IHL/TOS, flags/fragment, TTL/protocol, addresses (and options).
            same(0, 2) && same(6, 10) && same(12, iphl)
        };
        let t = iphl;
        let common = !f.closed
            && v6 == f.v6
            && iphl == f.iphl
            && proto == f.proto
            && thl == f.thl
            && f.count < MAX_COALESCE
            && payload <= f.seg
            && self.len + payload <= max_len(v6)
            && ip_same
            // ports
            && same(t, t + 4);
        if proto == PROTO_UDP {
            // Same 4-tuple and no shorter datagram before: udp_gro_receive's rule.
            return common;
        }
        // ACK number, data offset, flags except PSH, window, urgent, options.
        common
            && get_u32(pkt, t + 4) == f.next_seq
            && same(t + 8, t + 13)
            && (head[t + 13] & !TCP_PSH) == (pkt[t + 13] & !TCP_PSH)
            && same(t + 14, t + 16)
            && same(t + 18, t + thl)
    }

    /// The held super-packet with its `virtio_net_hdr`, as slices for one tun `writev`; `None`
    /// if nothing is held, or if `src` is not the buffer the packets were offered from (too
    /// short: what was held is dropped). A single segment goes out unchanged (GSO_NONE,
    /// checksum already valid).
    pub fn take<'a>(&'a mut self, src: &'a [u8]) -> Option<Iov<'a>> {
        let f = self.flow.take()?;
        let total = self.len;
        let hl = f.iphl + f.thl;
        let hdr = if f.count == 1 {
            VnetHdr::default()
        } else {
            let pkt = &mut self.head[VNET_HDR_LEN..VNET_HDR_LEN + hl];
            set_ip_len(pkt, f.v6, f.iphl, total);
            // CHECKSUM_PARTIAL: the field holds the pseudo-header sum, the kernel (or the
            // receiving stack, which trusts it) finishes the rest.
            let t = f.iphl;
            let (gso_type, csum_offset) = match (f.proto, f.v6) {
                (PROTO_UDP, _) => (GSO_UDP_L4, 6),
                (_, true) => (GSO_TCPV6, 16),
                (_, false) => (GSO_TCPV4, 16),
            };
            if f.proto == PROTO_UDP {
                set_u16(pkt, t + 4, (total - t) as u16);
            }
            let partial = fold(pseudo_sum(pkt, f.v6, f.proto, total - t));
            set_u16(pkt, t + usize::from(csum_offset), partial);
            VnetHdr {
                flags: F_NEEDS_CSUM,
                gso_type,
                hdr_len: hl as u16,
                gso_size: f.seg as u16,
                csum_start: f.iphl as u16,
                csum_offset,
            }
        };
        self.head[..VNET_HDR_LEN].copy_from_slice(&hdr.to_bytes());
        let mut iov = Iov {
            slices: [IoSlice::new(&[]); MAX_COALESCE as usize + 1],
            n: 1,
        };
        iov.slices[0] = IoSlice::new(&self.head[..VNET_HDR_LEN + hl]);
        for r in &self.parts {
            iov.slices[iov.n] = IoSlice::new(src.get(r.clone())?);
            iov.n += 1;
        }
        Some(iov)
    }
}

/// A [`Coalescer`] over packets that live in separate buffers: each offered packet is copied
/// into its own arena first (tests, fuzzing, benchmarks; the daemon offers from its receive
/// buffer directly).
#[derive(Debug, Default)]
pub struct CopyingCoalescer {
    co: Coalescer,
    arena: Vec<u8>,
    out: Vec<u8>,
}

impl CopyingCoalescer {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_udp(udp: bool) -> Self {
        CopyingCoalescer {
            co: Coalescer::with_udp(udp),
            ..Self::default()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.co.is_empty()
    }

    /// [`Coalescer::offer`] of an unauthenticated packet.
    pub fn offer(&mut self, pkt: &[u8]) -> Offer {
        self.offer_with(pkt, false)
    }

    pub fn offer_with(&mut self, pkt: &[u8], authenticated: bool) -> Offer {
        if self.co.is_empty() {
            // Nothing held points into the arena: what an ineligible offer left there can go.
            self.arena.clear();
        }
        let at = self.arena.len();
        self.arena.extend_from_slice(pkt);
        self.co
            .offer(&self.arena, at..at + pkt.len(), authenticated)
    }

    /// [`Coalescer::take`], assembled.
    pub fn take(&mut self) -> Option<&[u8]> {
        let iov = self.co.take(&self.arena)?;
        self.out.clear();
        for s in iov.as_slices() {
            self.out.extend_from_slice(s);
        }
        self.arena.clear();
        Some(&self.out)
    }
}

fn max_len(v6: bool) -> usize {
    if v6 {
        65535 + 40
    } else {
        65535
    }
}

/// `(v6, ip header length, protocol, L4 header length)` if `pkt` is an exact-length IPv4 (no
/// options, not a fragment) or IPv6 (no extension headers) packet whose L4 checksum verifies,
/// and either a TCP segment that carries data with only ACK (and maybe PSH) set, or (with
/// `udp`) a UDP datagram with a payload and a checksum.
fn l4_data_segment(pkt: &[u8], udp: bool, authenticated: bool) -> Option<(bool, usize, u8, usize)> {
    let proto = match pkt.first()? >> 4 {
        4 => *pkt.get(9)?,
        6 => *pkt.get(6)?,
        _ => return None,
    };
    if proto != PROTO_TCP && !(udp && proto == PROTO_UDP) {
        return None;
    }
    let (v6, iphl) = ip_header(pkt, proto)?;
    let ip_len = if v6 {
        usize::from(get_u16(pkt, 4)) + 40
    } else {
        usize::from(get_u16(pkt, 2))
    };
    if ip_len != pkt.len() || (!v6 && iphl != 20) {
        return None;
    }
    let l4hl = if proto == PROTO_TCP {
        let thl = usize::from(*pkt.get(iphl + 12)? >> 4) * 4;
        let flags = *pkt.get(iphl + 13)?;
        if thl < 20
            || flags & TCP_ACK == 0
            || flags & (TCP_FIN | TCP_SYN | TCP_RST | TCP_CWR | 0x20 | 0x40) != 0
        {
            return None;
        }
        thl
    } else {
        // A UDP length that disagrees with IP, or no checksum (IPv4 checksum 0): alone.
        if pkt.len() < iphl + 8
            || usize::from(get_u16(pkt, iphl + 4)) != pkt.len() - iphl
            || get_u16(pkt, iphl + 6) == 0
        {
            return None;
        }
        8
    };
    if iphl + l4hl >= pkt.len() {
        return None;
    }
    // The merged packet goes up with a partial checksum the stack will trust: a segment whose
    // own checksum is wrong must reach the socket alone, to be dropped there.
    let l4 = pkt.len() - iphl;
    if !authenticated && fold(sum(&pkt[iphl..], pseudo_sum(pkt, v6, proto, l4))) != 0xffff {
        return None;
    }
    Some((v6, iphl, proto, l4hl))
}

/// Fuzz and proptest entry point: parse `data` as a tun frame, segment it, and coalesce the
/// segments again (and the raw input as one packet). Must never panic.
pub fn fuzz_frame(data: &[u8]) -> usize {
    let mut frame = data.to_vec();
    let mut scratch = [0u8; SEGMENT_SCRATCH];
    let mut co = CopyingCoalescer::with_udp(data.first().is_some_and(|b| b & 1 == 1));
    let trusted = data.first().is_some_and(|b| b & 2 == 2);
    let mut out = 0usize;
    if let Ok((hdr, _)) = VnetHdr::parse(&frame) {
        let pkt = &mut frame[VNET_HDR_LEN..];
        let mut seg = Vec::new();
        let _ = segment(&hdr, pkt, &mut scratch, &mut |head, body| {
            seg.clear();
            seg.extend_from_slice(head);
            seg.extend_from_slice(body);
            if co.offer_with(&seg, trusted) == Offer::Flush {
                out += co.take().map_or(0, <[u8]>::len);
                co.offer_with(&seg, trusted);
            }
        });
    }
    out += co.take().map_or(0, <[u8]>::len);
    co.offer(data);
    out + co.take().map_or(0, <[u8]>::len)
}

#[cfg(test)]
#[path = "offload_tests.rs"]
pub(crate) mod tests;
