use super::*;
use proptest::prelude::*;

/// A TCP super-packet as a tun with TSO hands it out: vnet header (NEEDS_CSUM, GSO_TCPV4/6),
/// IP lengths and IPv4 header checksum final, TCP checksum field = pseudo-header sum only.
pub(crate) fn super_packet(v6: bool, payload: &[u8], mss: u16, flags: u8, opts: &[u8]) -> Vec<u8> {
    let iphl = if v6 { 40 } else { 20 };
    let thl = 20 + opts.len();
    let total = iphl + thl + payload.len();
    let mut p = vec![0u8; total];
    if v6 {
        p[0] = 0x60;
        p[1] = 0x0a; // traffic class / flow label bits
        set_u16(&mut p, 4, (total - 40) as u16);
        p[6] = PROTO_TCP;
        p[7] = 64;
        p[8..24].copy_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        p[24..40].copy_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    } else {
        p[0] = 0x45;
        set_u16(&mut p, 2, total as u16);
        set_u16(&mut p, 4, 0x1234);
        p[6] = 0x40; // DF
        p[8] = 64;
        p[9] = PROTO_TCP;
        p[12..16].copy_from_slice(&[172, 16, 0, 1]);
        p[16..20].copy_from_slice(&[172, 16, 0, 2]);
        fix_ipv4_checksum(&mut p, 20);
    }
    let t = iphl;
    set_u16(&mut p, t, 40000);
    set_u16(&mut p, t + 2, 5201);
    p[t + 4..t + 8].copy_from_slice(&0xffff_f000u32.to_be_bytes()); // wraps inside the packet
    p[t + 8..t + 12].copy_from_slice(&0x0102_0304u32.to_be_bytes());
    p[t + 12] = ((thl / 4) as u8) << 4;
    p[t + 13] = flags;
    set_u16(&mut p, t + 14, 502);
    p[t + 20..t + thl].copy_from_slice(opts);
    p[iphl + thl..].copy_from_slice(payload);
    let partial = fold(pseudo_sum(&p, v6, PROTO_TCP, total - iphl));
    set_u16(&mut p, t + 16, partial);
    let hdr = VnetHdr {
        flags: F_NEEDS_CSUM,
        gso_type: if v6 { GSO_TCPV6 } else { GSO_TCPV4 },
        hdr_len: (iphl + thl) as u16,
        gso_size: mss,
        csum_start: iphl as u16,
        csum_offset: 16,
    };
    let mut f = hdr.to_bytes().to_vec();
    f.extend_from_slice(&p);
    f
}

fn segments_of(frame: &[u8]) -> Vec<Vec<u8>> {
    let (hdr, _) = VnetHdr::parse(frame).unwrap();
    let mut pkt = frame[VNET_HDR_LEN..].to_vec();
    let mut scratch = [0u8; SEGMENT_SCRATCH];
    let mut segs = Vec::new();
    let n = segment(&hdr, &mut pkt, &mut scratch, &mut |h, b| {
        segs.push([h, b].concat())
    })
    .unwrap();
    assert_eq!(n, segs.len());
    segs
}

fn tcp_checksum_ok(p: &[u8]) -> bool {
    let (v6, iphl) = ip_header(p, PROTO_TCP).unwrap();
    fold(sum(
        &p[iphl..],
        pseudo_sum(p, v6, PROTO_TCP, p.len() - iphl),
    )) == 0xffff
}

const TS_OPTS: [u8; 12] = [1, 1, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9];

#[test]
fn vnet_header_layout() {
    let h = VnetHdr {
        flags: 1,
        gso_type: GSO_TCPV4,
        hdr_len: 66,
        gso_size: 1448,
        csum_start: 20,
        csum_offset: 16,
    };
    let b = h.to_bytes();
    // Host order is little-endian on every target nvesec runs on (x86_64, aarch64).
    if cfg!(target_endian = "little") {
        assert_eq!(b, [1, 1, 66, 0, 0xa8, 0x05, 20, 0, 16, 0]);
    }
    let (back, rest) = VnetHdr::parse(&[&b[..], &[0x45][..]].concat())
        .map(|(h, r)| (h, r.to_vec()))
        .unwrap();
    assert_eq!(back, h);
    assert_eq!(rest, [0x45]);
    assert_eq!(VnetHdr::parse(&b[..9]), Err(OffloadError::Truncated));
}

#[test]
fn rfc1071_example() {
    // RFC 1071 §3: the bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2 (folded).
    let d = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
    assert_eq!(fold(sum(&d, 0)), 0xddf2);
    assert_eq!(checksum(sum(&d, 0)), 0x220d);
    // Odd length: the last byte is the high half of a word.
    assert_eq!(fold(sum(&[0x01, 0x02, 0x03], 0)), 0x0402);
}

#[test]
fn tso_v4_segments_exact() {
    let payload: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
    let f = super_packet(false, &payload, 1448, TCP_ACK | TCP_PSH, &TS_OPTS);
    let segs = segments_of(&f);
    assert_eq!(segs.len(), 3);
    let lens: Vec<usize> = segs.iter().map(Vec::len).collect();
    assert_eq!(lens, [20 + 32 + 1448, 20 + 32 + 1448, 20 + 32 + 104]);
    for (i, s) in segs.iter().enumerate() {
        assert_eq!(usize::from(get_u16(s, 2)), s.len(), "total length");
        assert_eq!(get_u16(s, 4), 0x1234 + i as u16, "IPv4 ID");
        assert_eq!(fold(sum(&s[..20], 0)), 0xffff, "IPv4 header checksum");
        assert_eq!(
            get_u32(s, 24),
            0xffff_f000u32.wrapping_add(1448 * i as u32),
            "seq"
        );
        assert_eq!(get_u32(s, 28), 0x0102_0304, "ack");
        let psh = if i == 2 { TCP_PSH } else { 0 };
        assert_eq!(s[33], TCP_ACK | psh, "flags");
        assert_eq!(&s[40..52], &TS_OPTS);
        assert!(tcp_checksum_ok(s), "segment {i} TCP checksum");
        assert_eq!(&s[52..], &payload[i * 1448..(i * 1448 + 1448).min(3000)]);
    }
    // First segment's IPv4 header, byte for byte (checksum 0xcac4 computed independently:
    // ones-complement of 4500+05dc+1234+4000+4006+ac10+0001+ac10+0002).
    assert_eq!(
        &segs[0][..20],
        &[
            0x45, 0, 0x05, 0xdc, 0x12, 0x34, 0x40, 0, 64, 6, 0xca, 0xc4, 172, 16, 0, 1, 172, 16, 0,
            2
        ]
    );
}

#[test]
fn tso_v6_segments_and_fin_cwr() {
    let payload = vec![0xabu8; 2500];
    let f = super_packet(true, &payload, 1000, TCP_ACK | TCP_FIN | TCP_CWR, &[]);
    let segs = segments_of(&f);
    assert_eq!(segs.len(), 3);
    for (i, s) in segs.iter().enumerate() {
        assert_eq!(usize::from(get_u16(s, 4)) + 40, s.len(), "payload length");
        let mut want = TCP_ACK;
        if i == 0 {
            want |= TCP_CWR;
        }
        if i == 2 {
            want |= TCP_FIN;
        }
        assert_eq!(s[53], want);
        assert!(tcp_checksum_ok(s));
    }
}

#[test]
fn gso_none_finishes_a_partial_checksum() {
    // UDP over IPv4 with CHECKSUM_PARTIAL: field = pseudo-header sum.
    let mut p = vec![
        0x45, 0, 0, 32, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];
    p.extend_from_slice(&[0x30, 0x39, 0x00, 0x35, 0, 12, 0, 0, b'd', b'a', b't', b'a']);
    fix_ipv4_checksum(&mut p, 20);
    let partial = fold(pseudo_sum(&p, false, PROTO_UDP, 12));
    set_u16(&mut p, 26, partial);
    let hdr = VnetHdr {
        flags: F_NEEDS_CSUM,
        csum_start: 20,
        csum_offset: 6,
        ..VnetHdr::default()
    };
    let mut out = Vec::new();
    let n = segment(&hdr, &mut p, &mut [0u8; 16], &mut |h, b| {
        out = [h, b].concat()
    })
    .unwrap();
    assert_eq!(n, 1);
    assert_eq!(
        fold(sum(&out[20..], pseudo_sum(&out, false, PROTO_UDP, 12))),
        0xffff
    );
    // Offsets outside the packet are refused, not followed.
    let bad = VnetHdr {
        csum_start: 30,
        csum_offset: 6,
        ..hdr
    };
    assert_eq!(
        segment(&bad, &mut p, &mut [0u8; 16], &mut |_, _| {}),
        Err(OffloadError::BadChecksumOffsets)
    );
}

#[test]
fn bad_gso_frames_are_errors() {
    let f = super_packet(false, &[1; 10], 5, TCP_ACK, &[]);
    let (hdr, _) = VnetHdr::parse(&f).unwrap();
    let mut pkt = f[VNET_HDR_LEN..].to_vec();
    let mut scratch = [0u8; SEGMENT_SCRATCH];
    let mut run = |h: VnetHdr, p: &mut [u8]| segment(&h, p, &mut scratch, &mut |_, _| {});
    assert_eq!(
        run(VnetHdr { gso_size: 0, ..hdr }, &mut pkt.clone()),
        Err(OffloadError::ZeroGsoSize)
    );
    assert_eq!(
        run(
            VnetHdr {
                gso_type: GSO_UDP,
                ..hdr
            },
            &mut pkt.clone()
        ),
        Err(OffloadError::UnsupportedGso(GSO_UDP))
    );
    assert_eq!(
        run(
            VnetHdr {
                gso_type: GSO_TCPV6,
                ..hdr
            },
            &mut pkt.clone()
        ),
        Err(OffloadError::BadIp)
    );
    pkt[32] = 0xf0; // data offset 60 bytes > what is there
    assert_eq!(run(hdr, &mut pkt), Err(OffloadError::BadTcp));
}

fn coalesce_all(segs: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut co = CopyingCoalescer::new();
    let mut out = Vec::new();
    for s in segs {
        match co.offer(s) {
            Offer::Held => {}
            Offer::Flush => {
                out.push(co.take().unwrap().to_vec());
                assert_eq!(co.offer(s), Offer::Held);
            }
            Offer::Ineligible => {
                out.extend(co.take().map(<[u8]>::to_vec));
                let mut plain = VnetHdr::default().to_bytes().to_vec();
                plain.extend_from_slice(s);
                out.push(plain);
            }
        }
    }
    out.extend(co.take().map(<[u8]>::to_vec));
    out
}

#[test]
fn coalescer_refuses_what_gro_would_not_merge() {
    let f = super_packet(false, &[7; 4000], 1000, TCP_ACK, &[]);
    let segs = segments_of(&f);
    let mut co = CopyingCoalescer::new();
    assert_eq!(co.offer(&segs[0]), Offer::Held);
    // Out of order: segment 2 before 1.
    assert_eq!(co.offer(&segs[2]), Offer::Flush);
    // Corrupted checksum: never merged.
    let mut bad = segs[1].clone();
    bad[60] ^= 1;
    assert_eq!(co.offer(&bad), Offer::Ineligible);
    // Another flow (source port).
    let mut other = segs[1].clone();
    other[20] ^= 1;
    other[36] ^= 1; // keep its checksum valid: same word position in the TCP header sum
    assert!(tcp_checksum_ok(&other));
    assert_eq!(co.offer(&other), Offer::Flush);
    // SYN is not data to merge.
    let syn = segments_of(&super_packet(false, &[1; 10], 1000, TCP_SYN | TCP_ACK, &[]));
    assert_eq!(co.offer(&syn[0]), Offer::Ineligible);
    assert_eq!(co.offer(&segs[1]), Offer::Held);
    let merged = co.take().unwrap();
    let (h, p) = VnetHdr::parse(merged).unwrap();
    assert_eq!(
        (h.gso_type, h.gso_size, p.len()),
        (GSO_TCPV4, 1000, 20 + 20 + 2000)
    );
    assert!(co.is_empty() && co.take().is_none());
    // After a short segment nothing is appended.
    let short = segments_of(&super_packet(false, &[7; 1500], 1000, TCP_ACK, &[]));
    assert_eq!(co.offer(&short[0]), Offer::Held);
    assert_eq!(co.offer(&short[1]), Offer::Held);
    let mut next = short[1].clone();
    let seq = get_u32(&next, 24).wrapping_add(500);
    next[24..28].copy_from_slice(&seq.to_be_bytes());
    set_u16(&mut next, 36, 0);
    let c = checksum(sum(
        &next[20..],
        pseudo_sum(&next, false, PROTO_TCP, next.len() - 20),
    ));
    set_u16(&mut next, 36, c);
    assert_eq!(co.offer(&next), Offer::Flush);
}

#[test]
fn single_segment_goes_out_unchanged() {
    let segs = segments_of(&super_packet(
        true,
        &[3; 500],
        1000,
        TCP_ACK | TCP_PSH,
        &TS_OPTS,
    ));
    assert_eq!(segs.len(), 1);
    let out = coalesce_all(&segs);
    assert_eq!(out.len(), 1);
    assert_eq!(&out[0][..VNET_HDR_LEN], &[0u8; VNET_HDR_LEN]);
    assert_eq!(&out[0][VNET_HDR_LEN..], &segs[0][..]);
}

/// RFC 1071 the slow way: 16-bit words, end-around carry after each addition.
fn reference_checksum_sum(data: &[u8]) -> u16 {
    let mut s: u32 = 0;
    for p in data.chunks(2) {
        let w = u32::from(p[0]) << 8 | u32::from(*p.get(1).unwrap_or(&0));
        s += w;
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// `segment_count` foretells what `segment` makes: as many packets, as many bytes, the
    /// same headers; and `None` whenever `segment` refuses the packet.
    #[test]
    fn segment_count_matches_segment(
        len in 0usize..20_000,
        mss in 1u16..3000,
        kind in 0u8..3,
        opts in 0usize..3,
    ) {
        let data = vec![7u8; len];
        let options = [1u8; 12];
        let frame = match kind {
            0 => super_packet(false, &data, mss, 0x10, &options[..opts * 4]),
            1 => super_packet(true, &data, mss, 0x10, &options[..opts * 4]),
            _ => udp_super_packet(kind == 2, &data, mss),
        };
        let (hdr, _) = VnetHdr::parse(&frame).unwrap();
        let mut pkt = frame[VNET_HDR_LEN..].to_vec();
        let mut scratch = [0u8; SEGMENT_SCRATCH];
        let (mut bytes, mut heads) = (0, Vec::new());
        let n = segment(&hdr, &mut pkt, &mut scratch, &mut |h, b| {
            bytes += h.len() + b.len();
            heads.push(h.len());
        }).unwrap();
        let expect = segment_count(&hdr, &pkt);
        prop_assert_eq!(expect, Some((n, bytes, heads[0])));
        prop_assert!(heads.iter().all(|&h| h == heads[0]));
        // Any byte of the headers changed: both refuse it, or both cut it the same way.
        let at = len % heads[0];
        pkt[at] ^= 0xa5;
        let mut count = (0, 0, 0);
        let r = segment(&hdr, &mut pkt.clone(), &mut scratch, &mut |h, b| {
            count = (count.0 + 1, count.1 + h.len() + b.len(), h.len());
        });
        match r {
            Ok(_) => prop_assert_eq!(segment_count(&hdr, &pkt), Some(count)),
            Err(_) => prop_assert_eq!(segment_count(&hdr, &pkt), None),
        }
    }

    /// The 64-bit-word sum folds to the RFC 1071 16-bit-word sum, also when split in parts.
    #[test]
    fn wide_sum_matches_rfc1071(data in proptest::collection::vec(any::<u8>(), 0..4000), cut in 0usize..2000) {
        let cut = (cut.min(data.len())) & !1;
        prop_assert_eq!(fold(sum(&data, 0)), reference_checksum_sum(&data));
        prop_assert_eq!(fold(sum(&data[cut..], sum(&data[..cut], 0))), reference_checksum_sum(&data));
        // All-ones data exercises every carry.
        let ones = vec![0xffu8; data.len()];
        prop_assert_eq!(fold(sum(&ones, 0)), reference_checksum_sum(&ones));
    }

    /// Segmenting a super-packet and coalescing the segments gives back the super-packet, byte
    /// for byte (vnet header included); every segment is a valid packet on its own.
    #[test]
    fn segment_then_coalesce_is_identity(
        v6 in any::<bool>(),
        len in 1usize..20000,
        mss in 1u16..2000,
        psh in any::<bool>(),
        ts in any::<bool>(),
        seed in any::<u8>(),
    ) {
        let payload: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect();
        let opts: &[u8] = if ts { &TS_OPTS } else { &[] };
        let flags = TCP_ACK | if psh { TCP_PSH } else { 0 };
        let f = super_packet(v6, &payload, mss, flags, opts);
        let segs = segments_of(&f);
        let n = len.div_ceil(usize::from(mss));
        prop_assert_eq!(segs.len(), n);
        let hl = if v6 { 40 } else { 20 } + 20 + opts.len();
        for (i, s) in segs.iter().enumerate() {
            prop_assert!(tcp_checksum_ok(s));
            if !v6 { prop_assert_eq!(fold(sum(&s[..20], 0)), 0xffff); }
            prop_assert_eq!(s.len() - hl, (len - i * usize::from(mss)).min(usize::from(mss)));
        }
        let out = coalesce_all(&segs);
        // At most MAX_COALESCE segments per super-packet.
        prop_assert_eq!(out.len(), n.div_ceil(usize::from(MAX_COALESCE)));
        if n == 1 {
            prop_assert_eq!(&out[0][VNET_HDR_LEN..], &segs[0][..]);
        } else if n <= usize::from(MAX_COALESCE) {
            prop_assert_eq!(&out[0], &f);
        }
        // Whatever the split, the payload is all there, in order.
        let mut got = Vec::new();
        for o in &out { got.extend_from_slice(&o[VNET_HDR_LEN + hl..]); }
        prop_assert_eq!(got, payload);
    }

    /// Parsing, segmenting and coalescing arbitrary bytes never panics.
    #[test]
    fn arbitrary_frames_never_panic(data in proptest::collection::vec(any::<u8>(), 0..3000)) {
        fuzz_frame(&data);
    }

    /// Same with a plausible header: a valid vnet header and IP/TCP start, random rest.
    #[test]
    fn plausible_frames_never_panic(
        v6 in any::<bool>(), gso in 0u8..6, mss in 0u16..3000,
        start in 0u16..100, off in 0u16..40,
        rest in proptest::collection::vec(any::<u8>(), 0..3000),
    ) {
        let mut f = VnetHdr { flags: F_NEEDS_CSUM, gso_type: gso, hdr_len: 0, gso_size: mss, csum_start: start, csum_offset: off }.to_bytes().to_vec();
        f.push(if v6 { 0x60 } else { 0x45 });
        f.extend_from_slice(&rest);
        fuzz_frame(&f);
    }
}

/// A UDP super-packet as a tun with TUN_F_USO hands it out (an application that sent with
/// UDP_SEGMENT): GSO_UDP_L4, UDP length = everything, checksum field = pseudo-header sum.
pub(crate) fn udp_super_packet(v6: bool, payload: &[u8], size: u16) -> Vec<u8> {
    let iphl = if v6 { 40 } else { 20 };
    let total = iphl + 8 + payload.len();
    let mut p = vec![0u8; total];
    if v6 {
        p[0] = 0x60;
        set_u16(&mut p, 4, (total - 40) as u16);
        p[6] = PROTO_UDP;
        p[7] = 64;
        p[23] = 1;
        p[39] = 2;
    } else {
        p[0] = 0x45;
        set_u16(&mut p, 2, total as u16);
        set_u16(&mut p, 4, 0x4321);
        p[8] = 64;
        p[9] = PROTO_UDP;
        p[12..16].copy_from_slice(&[172, 16, 0, 1]);
        p[16..20].copy_from_slice(&[172, 16, 0, 2]);
        fix_ipv4_checksum(&mut p, 20);
    }
    set_u16(&mut p, iphl, 33333);
    set_u16(&mut p, iphl + 2, 5201);
    set_u16(&mut p, iphl + 4, (total - iphl) as u16);
    p[iphl + 8..].copy_from_slice(payload);
    let partial = fold(pseudo_sum(&p, v6, PROTO_UDP, total - iphl));
    set_u16(&mut p, iphl + 6, partial);
    let hdr = VnetHdr {
        flags: F_NEEDS_CSUM,
        gso_type: GSO_UDP_L4,
        hdr_len: (iphl + 8) as u16,
        gso_size: size,
        csum_start: iphl as u16,
        csum_offset: 6,
    };
    let mut f = hdr.to_bytes().to_vec();
    f.extend_from_slice(&p);
    f
}

fn udp_checksum_ok(p: &[u8]) -> bool {
    let (v6, iphl) = ip_header(p, PROTO_UDP).unwrap();
    get_u16(p, iphl + 6) != 0
        && fold(sum(
            &p[iphl..],
            pseudo_sum(p, v6, PROTO_UDP, p.len() - iphl),
        )) == 0xffff
}

#[test]
fn udp_is_coalesced_only_when_the_tun_takes_uso() {
    let f = udp_super_packet(false, &[9; 300], 100);
    let segs = segments_of(&f);
    assert_eq!(segs.len(), 3);
    for (i, s) in segs.iter().enumerate() {
        assert_eq!(s.len(), 20 + 8 + 100);
        assert_eq!(get_u16(s, 24), 108, "UDP length");
        assert_eq!(get_u16(s, 4), 0x4321 + i as u16, "IPv4 ID");
        assert!(udp_checksum_ok(s));
    }
    let mut tcp_only = CopyingCoalescer::new();
    assert_eq!(tcp_only.offer(&segs[0]), Offer::Ineligible);
    let mut co = CopyingCoalescer::with_udp(true);
    for s in &segs {
        assert_eq!(co.offer(s), Offer::Held);
    }
    assert_eq!(co.take().unwrap(), &f[..]);
    // Another destination port is another flow; a bad checksum is never merged.
    assert_eq!(co.offer(&segs[0]), Offer::Held);
    let mut other = segs[1].clone();
    other[22] ^= 1;
    set_u16(&mut other, 26, 0);
    let c = checksum(sum(
        &other[20..],
        pseudo_sum(&other, false, PROTO_UDP, other.len() - 20),
    ));
    set_u16(&mut other, 26, c);
    assert!(udp_checksum_ok(&other));
    assert_eq!(co.offer(&other), Offer::Flush);
    let mut bad = segs[1].clone();
    bad[40] ^= 1;
    assert_eq!(co.offer(&bad), Offer::Ineligible);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// UDP: segment (GSO_UDP_L4) then coalesce gives back the super-packet byte for byte.
    #[test]
    fn udp_segment_then_coalesce_is_identity(
        v6 in any::<bool>(), len in 1usize..8000, size in 1u16..1500, seed in any::<u8>(),
    ) {
        let payload: Vec<u8> = (0..len).map(|i| (i as u8) ^ seed).collect();
        let f = udp_super_packet(v6, &payload, size);
        let segs = segments_of(&f);
        let n = len.div_ceil(usize::from(size));
        prop_assert_eq!(segs.len(), n);
        for s in &segs {
            prop_assert!(udp_checksum_ok(s));
        }
        let mut co = CopyingCoalescer::with_udp(true);
        let mut out = Vec::new();
        for s in &segs {
            if co.offer(s) == Offer::Flush {
                out.push(co.take().unwrap().to_vec());
                prop_assert_eq!(co.offer(s), Offer::Held);
            }
        }
        out.extend(co.take().map(<[u8]>::to_vec));
        prop_assert_eq!(out.len(), n.div_ceil(usize::from(MAX_COALESCE)));
        if n > 1 && n <= usize::from(MAX_COALESCE) {
            prop_assert_eq!(&out[0], &f);
        }
    }
}

/// An authenticated segment is merged without its checksum being checked (the AEAD vouched for
/// it); an unauthenticated one with a bad checksum never is.
#[test]
fn authenticated_segments_skip_the_checksum_check() {
    let f = super_packet(false, &[7; 3000], 1000, TCP_ACK, &[]);
    let segs = segments_of(&f);
    let mut bad = segs[1].clone();
    bad[60] ^= 1;
    let mut co = CopyingCoalescer::new();
    assert_eq!(co.offer(&segs[0]), Offer::Held);
    assert_eq!(co.offer(&bad), Offer::Ineligible);
    assert_eq!(co.offer_with(&bad, true), Offer::Held);
    let merged = co.take().unwrap().to_vec();
    let (h, p) = VnetHdr::parse(&merged).unwrap();
    assert_eq!((h.gso_type, p.len()), (GSO_TCPV4, 40 + 2000));
    assert_eq!(p[40 + 1000], bad[40], "the payload as it came");
}

/// The zero-copy coalescer writes out slices of the caller's buffer: header first, then each
/// payload in place; a buffer that no longer holds them yields nothing rather than a panic.
#[test]
fn coalescer_points_into_the_receive_buffer() {
    let f = super_packet(true, &[3; 2500], 1200, TCP_ACK, &TS_OPTS);
    let segs = segments_of(&f);
    let rx: Vec<u8> = segs.concat();
    let mut co = Coalescer::new();
    let mut at = 0;
    for s in &segs {
        assert_eq!(co.offer(&rx, at..at + s.len(), false), Offer::Held);
        at += s.len();
    }
    let iov = co.take(&rx).unwrap();
    assert_eq!(iov.as_slices().len(), 1 + segs.len());
    assert_eq!(iov.to_vec(), f, "segment then coalesce is the identity");
    let p0 = segs[0].len() - 1200;
    assert!(std::ptr::eq(iov.as_slices()[1].as_ptr(), rx[p0..].as_ptr()));
    assert_eq!(co.offer(&rx, 0..segs[0].len(), false), Offer::Held);
    assert!(co.take(&rx[..10]).is_none());
    assert!(co.is_empty());
    assert_eq!(co.offer(&rx, 0..rx.len() + 1, false), Offer::Ineligible);
}
