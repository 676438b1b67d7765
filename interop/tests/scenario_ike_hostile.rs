//! Issue 7 scenario 8, IKE half: hostile input to nvesecd's UDP 500 and 4500 from a raw socket
//! in the attacker namespace of a `bridge 2; attacker` topology (nve0 = the victim, nve1 = a
//! legitimate nvesec peer).
//!
//! - `ike-garbage`: random bytes, truncated headers and well-formed headers over garbage, to both
//!   ports: every datagram is dropped and counted by the reason the engine's own header parser
//!   predicts (`nvesecctl --counters`, exact deltas); the daemon still answers, and the
//!   legitimate peer still establishes its IKE SA.
//! - `ike-cookie-flood`: 2000 IKE_SA_INIT requests from 2000 spoofed sources in ~3 s: after 30
//!   half-open SAs (the cookie threshold) every further request gets a stateless N(COOKIE)
//!   answer (RFC 7296 §2.6; counted, and seen in a capture), and the legitimate peer, which
//!   must itself return a cookie, gets its SA within 5 s while the flood still runs.
//!
//! Run as root: `cargo test -p nvesec-interop --test scenario_ike_hostile -- --test-threads=1`.

mod support_ike;

use std::collections::BTreeMap;
use std::net::{SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use nvesec_ikev2::config::{ConnectionConfig, EngineConfig, Identity};
use nvesec_ikev2::endpoint::{seeded_rng, Endpoint};
use nvesec_ikev2::sa::init::peek_init_request;
use nvesec_ikev2::wire::{ExchangeType, IkeHeader};
use nvesec_interop::attacker::{random_bytes, Attacker, Datagram, Sniffer};
use nvesec_interop::require_root;
use nvesec_interop::topology::{Scenario, Topology, UNDERLAY_DEV};
use support_ike::{delta, established, nve_dir, render_conf, show, spis, Conn, IkeNve};

const PSK: &str = "scenario 8 legitimate peer key";
const WAIT: Duration = Duration::from_secs(10);
/// nvesecd's cookie threshold (the engine default, strongSwan's too): half-open SAs above
/// which IKE_SA_INIT must carry a valid cookie.
const COOKIE_THRESHOLD: u64 = 30;
/// RFC 7296 §3.10.1 COOKIE.
const N_COOKIE: &str = "16390";

/// The victim (nve0) and the legitimate peer (nve1). The victim also has a `%any` responder
/// connection, as a hub NVE would: spoofed sources reach the IKE_SA_INIT parser and the
/// cookie logic instead of being dropped as `no_connection`.
struct Site {
    victim: IkeNve,
    peer: IkeNve,
    t: Topology,
}

impl Site {
    fn new() -> Site {
        require_root();
        let t = Topology::build("bridge 2; attacker").unwrap();
        let (v, p) = (t.nve(0).addr.to_string(), t.nve(1).addr.to_string());
        let victim_conf = render_conf(
            &[
                Conn::new("peer", &v, Some(&p), ("nve0.example", "nve1.example")),
                Conn::new("any", &v, None, ("hub.example", "%any")),
            ],
            &[
                ("nve1.example", PSK),
                ("hub.example", "a key nobody else knows"),
            ],
            "",
        );
        let peer_conf = render_conf(
            &[Conn::new(
                "peer",
                &p,
                Some(&v),
                ("nve1.example", "nve0.example"),
            )],
            &[("nve0.example", PSK)],
            "",
        );
        let victim = IkeNve::start(&t.nve(0).ns, "victim", nve_dir(), &victim_conf).unwrap();
        let peer = IkeNve::start(&t.nve(1).ns, "peer", nve_dir(), &peer_conf).unwrap();
        Site { victim, peer, t }
    }

    fn victim_addr(&self, port: u16) -> SocketAddrV4 {
        SocketAddrV4::new(self.t.nve(0).addr, port)
    }

    /// nve1 initiates; both ends list the same single IKE SA. Returns how long it took.
    fn legitimate_sa(&self, timeout_secs: u32) -> Duration {
        let started = Instant::now();
        let out = self
            .peer
            .ctl(&[
                "--initiate",
                "--ike",
                "peer",
                "--timeout",
                &timeout_secs.to_string(),
            ])
            .unwrap_or_else(|e| panic!("{e}\nvictim log:\n{}", self.victim.log()));
        let took = started.elapsed();
        assert!(out.contains("IKE_SA established successfully"), "{out}");
        let theirs = self
            .peer
            .wait_sas("peer SA", WAIT, |s| established(s, "peer").is_some());
        let ours = self.victim.wait_sas("victim SA", WAIT, |s| {
            established(s, "peer").is_some_and(|sa| spis(sa) == spis(&theirs[0]))
        });
        assert_eq!(ours.iter().filter(|s| s["name"] == "peer").count(), 1);
        took
    }
}

/// The counter the engine must bump for `payload` arriving on UDP 500 (or after the non-ESP
/// marker on 4500) from an address with no SA, given the victim's `%any` connection — the
/// same decisions `Endpoint::handle_datagram` makes before any SA state exists.
fn expected_reason(payload: &[u8]) -> &'static str {
    let Ok(h) = IkeHeader::parse(payload) else {
        return "ike_malformed_header";
    };
    let new_init = h.exchange == ExchangeType::IKE_SA_INIT
        && !h.flags.is_response()
        && h.flags.is_initiator()
        && h.spi_r == 0;
    if !new_init {
        return "ike_unknown_spi";
    }
    assert!(
        peek_init_request(payload).is_err(),
        "test input parses as a real IKE_SA_INIT"
    );
    "ike_malformed_header"
}

/// A 28-byte IKE header (RFC 7296 §3.1) with the given exchange, flags and Length field.
fn header(spi_i: u64, spi_r: u64, exchange: u8, flags: u8, length: u32) -> Vec<u8> {
    let mut h = Vec::with_capacity(28);
    h.extend_from_slice(&spi_i.to_be_bytes());
    h.extend_from_slice(&spi_r.to_be_bytes());
    // Next Payload SA (33), version 2.0.
    h.extend_from_slice(&[33, 0x20, exchange, flags]);
    h.extend_from_slice(&0u32.to_be_bytes());
    h.extend_from_slice(&length.to_be_bytes());
    h
}

/// The garbage set: random datagrams (1..1400 bytes and one of 9000, fragmented), cut headers,
/// and well-formed headers over random bodies (IKE_SA_INIT requests, which reach the payload
/// parser through the `%any` connection; IKE_AUTH and INFORMATIONAL for SPIs nobody has).
fn garbage() -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    for seed in 1..=30u64 {
        let len = 1 + (random_bytes(seed * 7919, 2)[0] as usize * 5 + seed as usize) % 1400;
        v.push(random_bytes(seed, len));
    }
    v.push(random_bytes(4242, 9000));
    let init = header(0x1122_3344_5566_7788, 0, 34, 0x08, 200);
    for cut in [1, 8, 16, 27] {
        v.push(init[..cut].to_vec());
    }
    for (seed, (exchange, flags)) in [
        (34u8, 0x08u8),
        (34, 0x08),
        (35, 0x08),
        (37, 0x20),
        (37, 0x00),
    ]
    .into_iter()
    .enumerate()
    {
        let body = random_bytes(900 + seed as u64, 40 + 50 * seed);
        let spi_r = if exchange == 34 {
            0
        } else {
            0x0bad_0000_0000_0000 | seed as u64
        };
        let mut d = header(
            0xa5a5_0000_0000_0000 | seed as u64,
            spi_r,
            exchange,
            flags,
            0,
        );
        let len = (d.len() + body.len()) as u32;
        d[24..28].copy_from_slice(&len.to_be_bytes());
        d.extend_from_slice(&body);
        v.push(d);
    }
    // An IKE_SA_INIT whose Length claims more than was sent (a truncated message).
    let mut short = header(0x5eed, 0, 34, 0x08, 1000);
    short.extend_from_slice(&random_bytes(77, 60));
    v.push(short);
    v
}

#[test]
fn garbage_to_ike_ports_is_dropped_and_counted() {
    let mut sc = Scenario::start("ike-garbage");
    let site = Site::new();
    let atk = Attacker::of(&site.t).unwrap();
    let before = site.victim.drops();
    let mut want: BTreeMap<String, u64> = BTreeMap::new();
    let mut datagrams = Vec::new();
    for (i, g) in garbage().into_iter().enumerate() {
        // The same garbage to UDP 500 and, behind the non-ESP marker, to UDP 4500.
        *want.entry(expected_reason(&g).into()).or_default() += 2;
        let mut natt = vec![0u8; 4];
        natt.extend_from_slice(&g);
        datagrams.push(atk.from_self(40000 + i as u16, site.victim_addr(500), g));
        datagrams.push(atk.from_self(41000 + i as u16, site.victim_addr(4500), natt));
    }
    let n = datagrams.len();
    atk.send(&datagrams).unwrap();
    let total: u64 = want.values().sum();
    assert_eq!(total as usize, n);
    // Wait until the victim has seen them all (or a timeout shows what is missing).
    let end = Instant::now() + WAIT;
    let got = loop {
        let d = delta(&before, &site.victim.drops());
        if d.values().sum::<u64>() >= total || Instant::now() > end {
            break d;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    sc.figure(show(&got));
    assert_eq!(got, want, "drop counter deltas\n{}", site.victim.log());

    // Still answering, nothing created, and a real peer still gets in.
    assert!(site.victim.sas().is_empty());
    assert_eq!(site.victim.stats()["ike_sas_half_open"], 0);
    let took = site.legitimate_sa(5);
    let after = delta(&before, &site.victim.drops());
    assert_eq!(after, want, "the legitimate exchange dropped nothing");
    sc.pass(format!(
        "{n} datagrams to 500/4500 -> {}; legitimate IKE SA in {} ms",
        show(&got),
        took.as_millis()
    ));
}

/// An empty datagram and ESP-looking ones (no non-ESP marker) on UDP 4500 are not IKE either:
/// they must be dropped and counted too.
#[test]
fn empty_and_esp_datagrams_are_counted() {
    let mut sc = Scenario::start("ike-empty-esp");
    let site = Site::new();
    let atk = Attacker::of(&site.t).unwrap();
    let before = site.victim.drops();
    let datagrams = vec![
        atk.from_self(40001, site.victim_addr(500), Vec::new()),
        atk.from_self(40002, site.victim_addr(4500), Vec::new()),
        atk.from_self(40003, site.victim_addr(4500), vec![0, 0]),
        // SPI 0x01020304, sequence number 1: an ESP packet (RFC 3948 §2.2).
        atk.from_self(40004, site.victim_addr(4500), {
            let mut e = vec![1, 2, 3, 4, 0, 0, 0, 1];
            e.extend_from_slice(&random_bytes(5, 64));
            e
        }),
    ];
    atk.send(&datagrams).unwrap();
    let want: BTreeMap<String, u64> = [
        // An empty IKE message: the engine's header parser refuses it.
        ("ike_malformed_header".to_string(), 1),
        // Nothing, 2 bytes and ESP on 4500: no non-ESP marker.
        ("ike_natt_no_marker".to_string(), 3),
    ]
    .into();
    let end = Instant::now() + Duration::from_secs(3);
    let got = loop {
        let d = delta(&before, &site.victim.drops());
        if d.values().sum::<u64>() >= 4 || Instant::now() > end {
            break d;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    sc.figure(show(&got));
    assert_eq!(got, want, "4 non-IKE datagrams, counted: {}", show(&got));
    site.legitimate_sa(5);
    sc.pass(format!("4 empty/ESP datagrams -> {}", show(&got)));
}

/// `Udp: ... RcvbufErrors` of `/proc/net/snmp` in the victim's namespace: datagrams the
/// kernel dropped because nvesecd's socket buffer was full (they never reach the engine).
fn rcvbuf_errors(site: &Site) -> u64 {
    let out = site.t.nve(0).ns.exec("cat", &["/proc/net/snmp"]).unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut udp = text.lines().filter(|l| l.starts_with("Udp:"));
    let (names, values) = (udp.next().unwrap(), udp.next().unwrap());
    let i = names
        .split_whitespace()
        .position(|n| n == "RcvbufErrors")
        .unwrap();
    values.split_whitespace().nth(i).unwrap().parse().unwrap()
}

/// `count` IKE_SA_INIT requests made by a real engine (default suite, fresh SPI each), each
/// from its own spoofed source in 198.18.0.0/15 (RFC 2544 benchmarking space).
fn spoofed_inits(victim: SocketAddrV4, count: usize) -> Vec<Datagram> {
    let conn = ConnectionConfig::psk(
        "flood",
        Identity::Fqdn("flood.example".into()),
        Identity::Fqdn("hub.example".into()),
        b"irrelevant",
    );
    let cfg = EngineConfig {
        connections: vec![Arc::new(conn)],
        ..EngineConfig::default()
    };
    let now = Instant::now();
    let mut ep = Endpoint::new(Arc::new(cfg), seeded_rng([8; 32]), now, SystemTime::now());
    (0..count)
        .map(|i| {
            let src =
                SocketAddrV4::new([198, 18, (i / 250) as u8, (i % 250 + 1) as u8].into(), 500);
            ep.initiate(
                now,
                "flood",
                SocketAddr::V4(src),
                Some(SocketAddr::V4(victim)),
            )
            .unwrap();
            let t = ep.poll_transmit().expect("IKE_SA_INIT request");
            assert!(ep.poll_transmit().is_none());
            Datagram::new(src, victim, t.bytes)
        })
        .collect()
}

#[test]
fn spoofed_ike_sa_init_flood_turns_cookies_on_and_a_real_peer_still_connects() {
    const FLOOD: usize = 2000;
    let mut sc = Scenario::start("ike-cookie-flood");
    let site = Site::new();
    // Answers to the spoofed sources leave through the attacker (and die there), so the
    // capture below sees what the victim sends back.
    site.t
        .nve(0)
        .ns
        .ip(&["route", "add", "198.18.0.0/15", "via", "192.0.2.250"])
        .unwrap();
    let flood = spoofed_inits(site.victim_addr(500), FLOOD);
    let cap = Sniffer::start(&site.t.nve(0).ns, UNDERLAY_DEV, "udp port 500").unwrap();
    let (drops0, kernel0) = (site.victim.drops(), rcvbuf_errors(&site));
    let flood_done = AtomicBool::new(false);
    let (flood_time, took, half_open_when_started) = std::thread::scope(|s| {
        let flooder = s.spawn(|| {
            let mut atk = Attacker::of(&site.t).unwrap();
            atk.gap = Duration::from_micros(1000);
            let started = Instant::now();
            atk.send(&flood).unwrap();
            flood_done.store(true, Ordering::SeqCst);
            started.elapsed()
        });
        // Cookies are on once the flood holds COOKIE_THRESHOLD half-open SAs.
        let end = Instant::now() + WAIT;
        let half_open = loop {
            let h = site.victim.stats()["ike_sas_half_open"].as_u64().unwrap();
            if h >= COOKIE_THRESHOLD {
                break h;
            }
            assert!(
                Instant::now() < end,
                "the flood never opened {COOKIE_THRESHOLD} SAs"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let took = site.legitimate_sa(5);
        assert!(
            !flood_done.load(Ordering::SeqCst),
            "the flood ended before the legitimate SA was up: the test proves nothing"
        );
        (flooder.join().unwrap(), took, half_open)
    });
    assert!(took < Duration::from_secs(5), "{took:?}");
    // Let the last requests drain, then account for every one of them.
    std::thread::sleep(Duration::from_millis(500));
    let d = delta(&drops0, &site.victim.drops());
    let kernel = rcvbuf_errors(&site) - kernel0;
    let stats = site.victim.stats();
    sc.figure(format!("{} {kernel} kernel drops {stats}", show(&d)));
    let cookies = d.get("ike_cookie_required").copied().unwrap_or(0);
    assert_eq!(stats["ike_sas_half_open"], COOKIE_THRESHOLD, "{stats}");
    assert_eq!(stats["ike_sas_total"], COOKIE_THRESHOLD + 1, "{stats}");
    // Every flood request reached the engine (or was dropped by the kernel for a full socket
    // buffer): 30 became half-open SAs, all others got a cookie; plus the legitimate
    // initiator's first request, which also had to return a cookie.
    assert_eq!(
        COOKIE_THRESHOLD + cookies - 1 + kernel,
        FLOOD as u64,
        "{}; kernel drops {kernel}",
        show(&d)
    );
    assert_eq!(d.len(), 1, "only cookie drops: {}", show(&d));

    // On the wire: stateless N(COOKIE) answers to the spoofed sources, full answers to the
    // first 30, and the legitimate peer's second IKE_SA_INIT returning its cookie.
    let pcap = cap.stop().unwrap();
    let rows = |filter: &str| pcap.tshark_fields(filter, &["frame.number"]).unwrap().len() as u64;
    let cookie_answers = rows(&format!(
        "ip.dst==198.18.0.0/15 && isakmp.exchangetype==34 && isakmp.notify.msgtype=={N_COOKIE}"
    ));
    let full_answers =
        rows("ip.dst==198.18.0.0/15 && isakmp.exchangetype==34 && isakmp.nextpayload==33");
    let peer = site.t.nve(1).addr;
    let peer_cookie_requests = rows(&format!(
        "ip.src=={peer} && isakmp.exchangetype==34 && isakmp.notify.msgtype=={N_COOKIE}"
    ));
    assert_eq!(cookie_answers, cookies - 1, "cookie answers in the capture");
    assert_eq!(full_answers, COOKIE_THRESHOLD, "SA answers in the capture");
    assert_eq!(peer_cookie_requests, 1, "the peer returned its cookie once");
    sc.pass(format!(
        "{FLOOD} spoofed IKE_SA_INIT in {:.1}s: {COOKIE_THRESHOLD} half-open, {cookies} cookies \
         ({kernel} kernel drops), half-open {half_open_when_started} when the real peer \
         started; its SA in {} ms",
        flood_time.as_secs_f64(),
        took.as_millis()
    ));
}
