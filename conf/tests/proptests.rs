//! Property tests: printing any valid model and parsing it again gives the same model, and
//! the parser never panics on arbitrary input (the same function the fuzz target calls).
//!
//! Models are built from an entropy byte string (like `arbitrary`'s Unstructured), so
//! proptest shrinks a failure toward all-zero bytes, i.e. toward the smallest model.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::time::Duration;

use nvesec_conf::*;
use proptest::prelude::*;

struct U<'a> {
    data: &'a [u8],
    i: usize,
}

impl U<'_> {
    fn u8(&mut self) -> u8 {
        let b = self.data.get(self.i).copied().unwrap_or(0);
        self.i += 1;
        b
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    fn below(&mut self, n: u32) -> u32 {
        if n == 0 {
            0
        } else {
            self.u32() % n
        }
    }
    fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }
    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u32) as usize].clone()
    }
    fn text(&mut self, max: u32) -> String {
        let n = 1 + self.below(max);
        (0..n).map(|_| char::from(b' ' + self.u8() % 95)).collect()
    }
    fn ip(&mut self) -> IpAddr {
        if self.bool() {
            IpAddr::V4(Ipv4Addr::from(self.u32()))
        } else {
            let hi = u128::from(self.u32()) << 96;
            IpAddr::V6(Ipv6Addr::from(hi | u128::from(self.u32())))
        }
    }
    fn prefix(&mut self) -> Prefix {
        let ip = self.ip();
        let max = if ip.is_ipv4() { 33 } else { 129 };
        Prefix::new(ip, self.below(max) as u8).unwrap()
    }
    fn secs(&mut self, max: u32) -> Duration {
        Duration::from_secs(u64::from(self.below(max)))
    }
    fn selector(&mut self, max: u32, opaque: bool) -> Selector {
        match self.below(4) {
            0 => Selector::Any,
            1 if opaque => Selector::Opaque,
            _ => Selector::Ranges((0..1 + self.below(3)).map(|_| self.range(max)).collect()),
        }
    }
    fn range(&mut self, max: u32) -> Range {
        let a = self.below(max.saturating_add(1));
        let b = self.below(max.saturating_add(1));
        Range {
            start: a.min(b),
            end: a.max(b),
        }
    }
    fn option(&mut self) -> OptionId {
        OptionId {
            class: self.u32() as u16,
            kind: self.u8(),
        }
    }
    fn option_set(&mut self) -> OptionSet {
        match self.below(3) {
            0 => OptionSet::All,
            1 => OptionSet::None,
            _ => OptionSet::List((0..1 + self.below(3)).map(|_| self.option()).collect()),
        }
    }
}

const BASE: &str = "/etc/nvesec";

fn cred(name: &str, dir: &str) -> CredFile {
    CredFile {
        name: name.into(),
        path: Path::new(BASE).join(dir).join(name),
    }
}

fn auth(u: &mut U) -> Auth {
    let pubkey = u.bool();
    Auth {
        auth: if pubkey {
            AuthMethod::Pubkey
        } else {
            AuthMethod::Psk
        },
        id: u.bool().then(|| u.text(20)),
        certs: if pubkey {
            vec![cred("nve.pem", "x509")]
        } else {
            vec![]
        },
        cacerts: if u.bool() {
            vec![cred("ca.pem", "x509ca")]
        } else {
            vec![]
        },
    }
}

fn child(u: &mut U, i: u32) -> Child {
    let rekey = 1 + u.below(200_000);
    let rekey_bytes = if u.bool() { u64::from(u.u32()) } else { 0 };
    let rekey_packets = if u.bool() { u64::from(u.u32()) } else { 0 };
    let protection = u.pick(Protection::ALL);
    Child {
        name: format!("child{i}"),
        gsa_proposals: match (protection, u.bool()) {
            (_, false) => vec!["default".into()],
            (Protection::Geo, true) => vec!["aes256gcm16-esn".into()],
            (Protection::Gao, true) => {
                vec![u.pick(&["aes128gmac-esn-x25519", "sha256-esn"]).into()]
            }
            (Protection::GeoGao, true) => vec!["aes128gcm16-esn".into(), "aes256gmac-noesn".into()],
        },
        protection,
        encrypted_options: u.option_set(),
        authenticated_options: u.option_set(),
        covered_length: match u.below(3) {
            0 => CoveredLength::All,
            1 => CoveredLength::InnerL4,
            _ => CoveredLength::Bytes(1 + u.below(65535) as u16),
        },
        padding: u.u8(),
        hide_header: u.bool(),
        dummy_rate: match u.below(3) {
            0 => DummyRate::Off,
            1 => DummyRate::PerSecond(1 + u.below(1000)),
            _ => DummyRate::Percent(1 + u.below(100) as u8),
        },
        start_action: u.pick(StartAction::ALL),
        dpd_action: u.pick(DpdAction::ALL),
        close_action: u.pick(CloseAction::ALL),
        rekey_time: Duration::from_secs(rekey.into()),
        life_time: Duration::from_secs(u64::from(rekey) + 1 + u64::from(u.below(100_000))),
        rand_time: u.secs(rekey),
        rekey_bytes,
        life_bytes: rekey_bytes + 1 + u64::from(u.u32()),
        rekey_packets,
        life_packets: rekey_packets + 1 + u64::from(u.u32()),
        replay_window: u.below(4097),
        selectors: GsaSelectors {
            vnis: u.selector(0xff_ffff, false),
            protocol_types: u.selector(0xffff, false),
            local_prefixes: (0..u.below(3)).map(|_| u.prefix()).collect(),
            remote_prefixes: (0..u.below(3)).map(|_| u.prefix()).collect(),
            ip_proto: u.selector(255, true),
            local_ports: u.selector(0xffff, true),
            remote_ports: u.selector(0xffff, true),
        },
    }
}

fn addr(u: &mut U) -> AddrSpec {
    match u.below(6) {
        0 => AddrSpec::Any,
        1 => AddrSpec::Any4,
        2 => AddrSpec::Any6,
        3 => AddrSpec::Subnet(u.prefix()),
        4 => AddrSpec::Host(u.pick(&["nve2.example.net", "a-b.c", "x"]).to_string()),
        _ => AddrSpec::Ip(u.ip()),
    }
}

fn connection(u: &mut U, i: u32) -> Connection {
    let rekey = u.secs(1_000_000);
    Connection {
        name: format!("conn{i}"),
        version: u.pick(IkeVersion::ALL),
        local_addrs: (0..1 + u.below(2)).map(|_| addr(u)).collect(),
        remote_addrs: (0..1 + u.below(2)).map(|_| addr(u)).collect(),
        local_port: 1 + u.below(65535) as u16,
        remote_port: 1 + u.below(65535) as u16,
        proposals: vec![u
            .pick(&[
                "default",
                "aes256gcm16-prfsha384-x25519",
                "aes128gcm16-prfsha256-curve25519",
            ])
            .to_string()],
        dpd_delay: u.secs(100_000),
        rekey_time: rekey,
        over_time: u.secs(100_000),
        rand_time: u.secs(100_000),
        keyingtries: u.u32(),
        unique: u.pick(Unique::ALL),
        fragmentation: u.pick(Fragmentation::ALL),
        childless: u.pick(Childless::ALL),
        send_certreq: u.bool(),
        send_cert: u.pick(SendCert::ALL),
        local: auth(u),
        remote: auth(u),
        children: (0..u.below(3)).map(|i| child(u, i)).collect(),
    }
}

fn policy(u: &mut U, i: u32, children: &[GsaRef]) -> Policy {
    let action = match u.below(3) {
        0 if !children.is_empty() => {
            Action::Secure((0..1 + u.below(2)).map(|_| u.pick(children)).collect())
        }
        1 => Action::Bypass,
        _ => Action::Discard,
    };
    Policy {
        name: format!("pol{i}"),
        direction: u.pick(Direction::ALL),
        version: u.selector(3, false),
        oam: u.selector(1, false),
        critical: u.selector(1, false),
        rsv: u.selector(63, false),
        protocol_types: u.selector(0xffff, false),
        // Disjoint VNIs per policy, so no generated policy shadows another.
        vnis: Selector::Ranges(vec![Range {
            start: i * 10,
            end: i * 10 + u.below(10),
        }]),
        required_options: (0..u.below(3)).map(|_| u.option()).collect(),
        ip_proto: u.selector(255, true),
        src_ports: u.selector(0xffff, true),
        dst_ports: u.selector(0xffff, true),
        action,
    }
}

fn config(data: &[u8]) -> Config {
    let u = &mut U { data, i: 0 };
    let connections: Vec<Connection> = (0..u.below(4)).map(|i| connection(u, i)).collect();
    // Bare child names (a full mesh) or conn.child, not both in one file (a child name used
    // bare must not also be named with its connection).
    let bare = u.bool();
    let mut children: Vec<GsaRef> = connections
        .iter()
        .flat_map(|c| {
            c.children.iter().map(|ch| GsaRef {
                connection: (!bare).then(|| c.name.clone()),
                child: ch.name.clone(),
            })
        })
        .collect();
    let mut seen = std::collections::HashSet::new();
    children.retain(|r| seen.insert(r.clone()));
    let mut secrets: Vec<IkeSecret> = (0..u.below(3))
        .map(|i| IkeSecret {
            name: format!("ike-{i}"),
            ids: (0..1 + u.below(2)).map(|_| u.text(16)).collect(),
            secret: Secret::new((0..1 + u.below(40)).map(|_| u.u8()).collect()),
        })
        .collect();
    // A wildcard secret (no id) so every PSK connection has one.
    secrets.push(IkeSecret {
        name: "ike".into(),
        ids: vec![],
        secret: Secret::new(vec![u.u8(), 7]),
    });
    let networks = (0..u.below(3))
        .map(|i| Network {
            name: format!("net{i}"),
            vni: i * 1000 + u.below(1000),
            device: u.pick(DeviceKind::ALL),
            ifname: format!("nvs{}", u.below(100_000)),
            mtu: 576 + u.below(9000 - 576 + 1) as u16,
            address: u.bool().then(|| IfAddr {
                addr: u.ip(),
                len: 8,
            }),
            peers: (0..u.below(3))
                .map(|p| Peer {
                    name: format!("peer{p}"),
                    underlay: u.ip(),
                    prefixes: (0..u.below(3)).map(|_| u.prefix()).collect(),
                })
                .collect(),
        })
        .collect();
    Config {
        connections,
        secrets,
        authorities: (0..u.below(2))
            .map(|i| Authority {
                name: format!("ca{i}"),
                cacert: cred("ca.pem", "x509ca"),
                crl_uris: (0..u.below(2))
                    .map(|_| "http://ca.example.net/ca.crl".to_string())
                    .collect(),
                ocsp_uris: vec![],
            })
            .collect(),
        overlay: Overlay {
            local_addrs: (0..u.below(3)).map(|_| u.ip()).collect(),
            port: 1 + u.below(65535) as u16,
            option_class: u.u32() as u16,
            networks,
        },
        policies: (0..u.below(5)).map(|i| policy(u, i, &children)).collect(),
        daemon: Daemon {
            retransmit_timeout: Duration::from_millis(1 + u64::from(u.below(100_000))),
            retransmit_base_milli: 1000 + u.below(9001),
            retransmit_tries: u.below(101),
            retransmit_limit: u
                .bool()
                .then(|| Duration::from_millis(u64::from(u.below(1_000_000)))),
            cookie_threshold: u.below(1_000_001),
            init_limit_half_open: u.below(1_000_001),
            block_threshold: u.below(1_000_001),
            ike_rate_limit: u
                .bool()
                .then(|| Duration::from_millis(1 + u64::from(u.below(100_000)))),
            ike_read_budget: 1 + u.below(65_536),
            ike_send_queue: 1 + u.below(1_000_000),
        },
    }
}

fn fs() -> MemFs {
    MemFs::new()
        .with(format!("{BASE}/x509/nve.pem"), "")
        .with(format!("{BASE}/x509ca/ca.pem"), "")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn print_parse_round_trip(data in proptest::collection::vec(any::<u8>(), 0..1200)) {
        let cfg = config(&data);
        let text = cfg.to_conf_string(SecretDisplay::Reveal);
        let path = Path::new("/etc/nvesec/nvesec.conf");
        let loaded = parse_str(&fs(), path, &text)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(&loaded.config, &cfg, "{}", text);
        prop_assert!(loaded.warnings.is_empty());
        prop_assert!(diff(&cfg, &loaded.config).is_empty());
    }

    #[test]
    fn never_panics_on_arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..2000)) {
        nvesec_conf::fuzz::parse_any(&data);
    }

    /// Input built from the syntax's own tokens reaches deeper than random bytes.
    #[test]
    fn never_panics_on_token_soup(tokens in proptest::collection::vec(prop::sample::select(vec![
        "connections", "children", "secrets", "ike", "policies", "overlay", "networks", "peers",
        "peer", "net", "{", "}", "=", "\n", " ", "#", "\"", ",", "include", "*.conf", "secret", "x",
        "auth", "psk", "pubkey", "vnis", "1-5", "any", "opaque", "action", "secure", "gsas",
        "peer.net", "rekey_time", "life_time", "0", "1h", "10%", "vni", "underlay", "192.0.2.1",
        "10.0.0.0/8", "replay_window", "5000", "\\", "id", "0x", "0s", "%any", "discard",
    ]), 0..200)) {
        nvesec_conf::fuzz::parse_any(tokens.concat().as_bytes());
    }
}

#[test]
fn generator_makes_rich_models() {
    // Guard against a generator that silently produces trivial models (the round trip would
    // then prove little): over 64 pseudo-random inputs, many must have children and SECURE
    // policies, and all must round-trip.
    let mut rich = 0;
    for seed in 0..64u64 {
        let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let data: Vec<u8> = (0..1200)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let cfg = config(&data);
        let text = cfg.to_conf_string(SecretDisplay::Reveal);
        let loaded = parse_str(&fs(), Path::new("/etc/nvesec/nvesec.conf"), &text)
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(loaded.config, cfg);
        let secure = cfg
            .policies
            .iter()
            .any(|p| matches!(p.action, Action::Secure(_)));
        if secure && cfg.overlay.networks.iter().any(|n| !n.peers.is_empty()) {
            rich += 1;
        }
    }
    assert!(rich >= 8, "only {rich} of 64 generated models were rich");
}
