//! gsa-dp end to end: two namespaces joined by a veth, gsa-dp in each, GSAs installed by hand
//! through the keying socket, real pings through the tun/tap devices, the underlay captured.

use nvesec_interop::dataplane::{
    add_gsa, contains, json_u64, set_gsp, Capture, GsaDp, Pair, PairConfig, BYPASS, KEY_AB, KEY_BA,
    SECURE_GEO,
};
use nvesec_interop::{require_root, Netns};
use std::time::Duration;

/// "nvesec-marker!!!" as a ping -p pattern (16 bytes, the most ping accepts).
const MARKER: &[u8] = b"nvesec-marker!!!";
const STATS: &str = r#"{"v":1,"seq":90,"op":"STATS"}"#;
const DUMP: &str = r#"{"v":1,"seq":91,"op":"DUMP"}"#;

fn marker_hex() -> String {
    MARKER.iter().map(|b| format!("{b:02x}")).collect()
}

fn ping(ns: &Netns, dst: &str, count: u32) -> (bool, String) {
    let out = ns
        .command("ping")
        .args(["-c", &count.to_string(), "-i", "0.2", "-W", "1"])
        .args(["-p", &marker_hex(), dst])
        .output()
        .expect("run ping");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.success(), text)
}

fn stats(dp: &GsaDp) -> String {
    dp.client().unwrap().ok(STATS).unwrap()
}

#[test]
fn geo_ping_works_and_the_underlay_carries_only_ciphertext() {
    require_root();
    let p = Pair::new(&PairConfig::default()).unwrap();
    p.secure(100, KEY_AB).unwrap();
    let cap = Capture::start(&p.a, &p.veth_a, 6081).unwrap();
    let (ok, text) = ping(&p.a, "172.16.0.2", 5);
    assert!(
        ok && text.contains("5 received"),
        "{text}\n{}",
        p.dp_a.log()
    );
    let (bytes, udp) = cap.stop().unwrap();
    assert!(
        udp >= 10,
        "expected 5 requests + 5 replies on UDP 6081, saw {udp}"
    );
    assert!(
        !contains(&bytes, MARKER),
        "the marker crossed the underlay in clear"
    );
    for (dp, sent, delivered) in [
        (&p.dp_a, "sent_secured", "delivered_secured"),
        (&p.dp_b, "sent_secured", "delivered_secured"),
    ] {
        let s = stats(dp);
        assert!(json_u64(&s, sent).unwrap() >= 5, "{s}");
        assert!(json_u64(&s, delivered).unwrap() >= 5, "{s}");
        assert_eq!(json_u64(&s, "bad_icv"), Some(0), "{s}");
    }
    // Per-GSA counters: A's outbound GSA (0x1001) sealed at least the 5 requests.
    let d = p.dp_a.client().unwrap().ok(DUMP).unwrap();
    let out_gsa = &d[d.find("\"gsa_id\":4097").unwrap()..];
    assert!(json_u64(out_gsa, "packets").unwrap() >= 5, "{d}");
    assert!(
        !d.contains(KEY_AB) && !d.contains(KEY_BA),
        "DUMP leaked a key"
    );
}

/// The control for the test above: with BYPASS the same capture does see the marker, so the
/// "not in clear" check can fail.
#[test]
fn bypass_ping_shows_the_marker_on_the_underlay() {
    require_root();
    let p = Pair::new(&PairConfig::default()).unwrap();
    for dp in [&p.dp_a, &p.dp_b] {
        dp.client().unwrap().ok(&set_gsp(1, 100, BYPASS)).unwrap();
    }
    let cap = Capture::start(&p.a, &p.veth_a, 6081).unwrap();
    let (ok, text) = ping(&p.a, "172.16.0.2", 3);
    assert!(ok, "{text}");
    let (bytes, udp) = cap.stop().unwrap();
    assert!(udp >= 6, "{udp}");
    assert!(contains(&bytes, MARKER));
    let s = stats(&p.dp_a);
    assert!(json_u64(&s, "sent_bypass").unwrap() >= 3, "{s}");
    assert_eq!(json_u64(&s, "sent_secured"), Some(0), "{s}");
}

#[test]
fn wrong_key_fails_and_counts_bad_icv() {
    require_root();
    let p = Pair::new(&PairConfig::default()).unwrap();
    // B opens A's packets with B->A's key: every one fails authentication.
    p.secure(100, KEY_BA).unwrap();
    let (ok, text) = ping(&p.a, "172.16.0.2", 3);
    assert!(!ok && text.contains("0 received"), "{text}");
    let s = stats(&p.dp_b);
    assert!(json_u64(&s, "bad_icv").unwrap() >= 3, "{s}");
    assert_eq!(json_u64(&s, "delivered_secured"), Some(0), "{s}");
}

#[test]
fn no_outbound_gsa_raises_acquire_and_sends_nothing() {
    acquire_and_nothing_sent(&[]);
}

/// Same with two workers: an ACQUIRE raised by either worker reaches the keying client.
#[test]
fn no_outbound_gsa_raises_acquire_with_two_workers() {
    acquire_and_nothing_sent(&["--workers", "2"]);
}

fn acquire_and_nothing_sent(extra: &'static [&'static str]) {
    require_root();
    let p = Pair::new(&PairConfig {
        extra_args: extra,
        ..PairConfig::default()
    })
    .unwrap();
    let mut ca = p.dp_a.client().unwrap();
    ca.ok(&set_gsp(1, 100, SECURE_GEO)).unwrap();
    let cap = Capture::start(&p.a, &p.veth_a, 6081).unwrap();
    let (ok, _) = ping(&p.a, "172.16.0.2", 2);
    assert!(!ok);
    let ev = ca.event("ACQUIRE", Duration::from_secs(3)).unwrap();
    assert!(
        ev.contains("\"reqid\":1") && ev.contains("\"vni\":100"),
        "{ev}"
    );
    assert!(ev.contains("\"dst\":\"172.16.0.2\""), "{ev}");
    let (bytes, udp) = cap.stop().unwrap();
    assert_eq!(udp, 0, "a packet left without its GSA");
    assert!(!contains(&bytes, MARKER));
    let s = stats(&p.dp_a);
    assert!(json_u64(&s, "acquires").unwrap() >= 1, "{s}");
    assert_eq!(json_u64(&s, "sent_bypass"), Some(0), "{s}");
}

#[test]
fn malformed_requests_get_errors_and_change_nothing() {
    require_root();
    let p = Pair::new(&PairConfig::default()).unwrap();
    p.secure(100, KEY_AB).unwrap();
    let mut c = p.dp_a.client().unwrap();
    let before = c.ok(DUMP).unwrap();
    for bad in [
        "this is not json".to_string(),
        r#"{"v":1,"seq":5,"op":"ADD_GSA","gsa":{"dir":"out","gsa_id":7,"reqid":1,"alg":"aes-gcm128","key":"zz"}}"#.into(),
        r#"{"v":2,"seq":6,"op":"FLUSH"}"#.into(),
        r#"{"v":1,"seq":7,"op":"SET_GSP","policies":[{"id":1,"dir":"out","action":{"type":"secure","gsos":[]}}]}"#.into(),
        add_gsa(8, "in", 0x2002, KEY_BA), // duplicate inbound GSA-ID
    ] {
        let r = c.request(&bad).unwrap();
        assert!(r.contains("\"ok\":false") && r.contains("\"error\""), "{bad} -> {r}");
    }
    let after = c.ok(DUMP).unwrap();
    assert_eq!(
        before.replace("\"seq\":91", ""),
        after.replace("\"seq\":91", "")
    );
    let (ok, text) = ping(&p.a, "172.16.0.2", 2);
    assert!(ok, "{text}");
}

#[test]
fn client_disconnect_keeps_traffic_and_a_new_client_can_dump() {
    require_root();
    let mut p = Pair::new(&PairConfig::default()).unwrap();
    p.secure(100, KEY_AB).unwrap(); // its clients are dropped on return
    let (ok, text) = ping(&p.a, "172.16.0.2", 3);
    assert!(ok, "{text}");
    assert!(p.dp_a.alive() && p.dp_b.alive());
    let d = p.dp_b.client().unwrap().ok(DUMP).unwrap();
    assert!(
        d.contains("\"gsa_id\":4097") && d.contains("\"gsa_id\":8194"),
        "{d}"
    );
    assert!(
        d.contains("\"routes\":[{\"prefix\":\"172.16.0.0/24\""),
        "{d}"
    );
}

#[test]
fn socket_is_root_only() {
    require_root();
    use std::os::unix::fs::PermissionsExt;
    let p = Pair::new(&PairConfig::default()).unwrap();
    let mode = std::fs::metadata(&p.dp_a.socket)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn tap_carries_ethernet_under_geo() {
    require_root();
    let c = PairConfig {
        device: "tap",
        vni: 200,
        ..PairConfig::default()
    };
    let p = Pair::new(&c).unwrap();
    p.secure(200, KEY_AB).unwrap();
    let cap = Capture::start(&p.a, &p.veth_a, 6081).unwrap();
    let (ok, text) = ping(&p.a, "172.16.0.2", 3);
    assert!(ok, "{text}\n{}", p.dp_a.log());
    let (bytes, udp) = cap.stop().unwrap();
    assert!(udp >= 6 && !contains(&bytes, MARKER), "{udp}");
    // ARP went through too (flooded to the VNI's remote), sealed like the rest.
    let s = stats(&p.dp_b);
    assert!(json_u64(&s, "delivered_secured").unwrap() >= 4, "{s}");
}

#[test]
fn ipv6_underlay_with_ipv6_inner() {
    require_root();
    let c = PairConfig {
        ipv6_underlay: true,
        inner_a: "fd10::1/64",
        inner_b: "fd10::2/64",
        route_prefix: "fd10::/64",
        ..PairConfig::default()
    };
    let p = Pair::new(&c).unwrap();
    p.secure(100, KEY_AB).unwrap();
    let cap = Capture::start(&p.a, &p.veth_a, 6081).unwrap();
    let (ok, text) = ping(&p.a, "fd10::2", 3);
    assert!(ok, "{text}\n{}", p.dp_a.log());
    let (bytes, udp) = cap.stop().unwrap();
    assert!(udp >= 6 && !contains(&bytes, MARKER), "{udp}");
    let s = stats(&p.dp_b);
    assert!(json_u64(&s, "delivered_secured").unwrap() >= 3, "{s}");
}

/// Python: receive one TCP connection on ADDR:5000 and print "<bytes> <sha256>".
const SINK: &str = r#"
import hashlib, socket, sys
s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 5000)); s.listen(1); s.settimeout(20)
c, _ = s.accept(); c.settimeout(20)
h, n = hashlib.sha256(), 0
while True:
    d = c.recv(1 << 16)
    if not d: break
    h.update(d); n += len(d)
print(n, h.hexdigest())
"#;

/// Python: send 24 MiB of a non-repeating pattern to ADDR:5000 and print "<bytes> <sha256>".
const SOURCE: &str = r#"
import hashlib, socket, sys, time
blk = bytes((i * 7 + i // 251) & 0xff for i in range(1 << 16))
for _ in range(100):
    try:
        c = socket.create_connection((sys.argv[1], 5000), timeout=20); break
    except OSError:
        time.sleep(0.05)
h, n = hashlib.sha256(), 0
for k in range(384):
    d = blk[k % 97:] + blk[:k % 97]
    c.sendall(d); h.update(d); n += len(d)
c.close()
print(n, h.hexdigest())
"#;

/// A bulk TCP transfer under GEO arrives byte for byte: with offloads it crosses userspace TSO
/// segmentation, UDP GSO/GRO and coalescing; with `--no-offload` the batched one-packet path.
fn bulk_tcp_under_geo(extra: &'static [&'static str], want_log: &str) {
    bulk_tcp_in(
        PairConfig {
            extra_args: extra,
            ..PairConfig::default()
        },
        "172.16.0.2",
        want_log,
    );
}

fn bulk_tcp_in(c: PairConfig, dst: &str, want_log: &str) {
    require_root();
    let p = Pair::new(&c).unwrap();
    p.secure(100, KEY_AB).unwrap();
    let sink =
        p.b.command("python3")
            .args(["-c", SINK, dst])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
    let src =
        p.a.command("python3")
            .args(["-c", SOURCE, dst])
            .output()
            .unwrap();
    let got = sink.wait_with_output().unwrap();
    let sent = String::from_utf8_lossy(&src.stdout).trim().to_string();
    let recv = String::from_utf8_lossy(&got.stdout).trim().to_string();
    assert!(sent.starts_with("25165824 "), "source: {sent} {src:?}");
    assert_eq!(recv, sent, "{}", p.dp_b.log());
    assert!(p.dp_a.log().contains(want_log), "{}", p.dp_a.log());
    let s = stats(&p.dp_b);
    assert_eq!(json_u64(&s, "bad_icv"), Some(0), "{s}");
    assert_eq!(json_u64(&s, "replay"), Some(0), "{s}");
    // 24 MiB in at most ~1400-byte inner packets: every one was sealed on its own.
    assert!(json_u64(&s, "delivered_secured").unwrap() >= 17_000, "{s}");
}

#[test]
fn bulk_tcp_with_offloads_arrives_intact() {
    bulk_tcp_under_geo(&["-v"], "offloads: tun true, UDP GSO true, UDP GRO true");
}

#[test]
fn bulk_tcp_without_offloads_arrives_intact() {
    bulk_tcp_under_geo(
        &["-v", "--no-offload"],
        "offloads: tun false, UDP GSO false, UDP GRO false",
    );
}

/// IPv6 inner TCP over an IPv6 underlay: GSO_TCPV6 segmentation and coalescing.
#[test]
fn bulk_tcp_over_ipv6_arrives_intact() {
    let c = PairConfig {
        ipv6_underlay: true,
        inner_a: "fd10::1/64",
        inner_b: "fd10::2/64",
        route_prefix: "fd10::/64",
        extra_args: &["-v"],
        ..PairConfig::default()
    };
    bulk_tcp_in(c, "fd10::2", "UDP GSO true, UDP GRO true");
}

/// Two workers: multi-queue tuns, SO_REUSEPORT sockets, a shared engine; same bytes arrive.
#[test]
fn bulk_tcp_with_two_workers_arrives_intact() {
    bulk_tcp_under_geo(&["-v", "--workers", "2"], "workers 2");
}

/// Python: receive UDP datagrams on ADDR:5001 for up to 3 s of silence; print how many had
/// exactly the content the sender gives datagram `i` (1000 bytes of (i + k) % 256), and how
/// many did not.
const UDP_SINK: &str = r#"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
s.bind((sys.argv[1], 5001)); s.settimeout(3)
good = bad = 0
try:
    while good + bad < 3000:
        d = s.recv(65536)
        i = int.from_bytes(d[:4], "big")
        want = i.to_bytes(4, "big") + bytes((i + k) % 256 for k in range(996))
        if d == want: good += 1
        else: bad += 1
except socket.timeout:
    pass
print(good, bad)
"#;

const UDP_SOURCE: &str = r#"
import socket, sys, time
time.sleep(0.5)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(3000):
    s.sendto(i.to_bytes(4, "big") + bytes((i + k) % 256 for k in range(996)), (sys.argv[1], 5001))
    if i % 100 == 99: time.sleep(0.002)
"#;

/// Equal-size UDP datagrams under GEO (coalesced into GSO_UDP_L4 super-packets for the tun
/// when the kernel takes USO) arrive with their exact content and boundaries.
#[test]
fn udp_datagrams_under_geo_keep_their_boundaries() {
    require_root();
    let p = Pair::new(&PairConfig::default()).unwrap();
    p.secure(100, KEY_AB).unwrap();
    let sink =
        p.b.command("python3")
            .args(["-c", UDP_SINK, "172.16.0.2"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
    let src =
        p.a.command("python3")
            .args(["-c", UDP_SOURCE, "172.16.0.2"])
            .status()
            .unwrap();
    assert!(src.success());
    let out = sink.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Vec<u64> = text
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    assert_eq!(v.len(), 2, "{text}");
    assert_eq!(v[1], 0, "corrupted or merged datagrams: {text}");
    assert!(v[0] >= 2700, "too many lost: {text}\n{}", p.dp_b.log());
}
