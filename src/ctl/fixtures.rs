//! Canned daemon state: the examples in docs/cli.md, the renderer unit
//! tests and the CLI integration tests all use these values.

use super::proto::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

fn vni(start: u32, end: u32) -> Selector {
    Selector::Geneve {
        vni_start: start,
        vni_end: end,
        proto_start: 0,
        proto_end: u16::MAX,
    }
}

/// Two IKE SAs: `gw` established with one GSA, `edge` still connecting.
pub fn sas() -> Vec<IkeSaInfo> {
    let net = GsaInfo {
        name: "net".into(),
        uid: 1,
        reqid: 1,
        state: GsaState::Installed,
        protection: Protection::Geo,
        proposal: "AES_GCM_16-256".into(),
        gsa_id_in: 0xc398_45d7,
        gsa_id_out: 0xcfaa_84e8,
        bytes_in: 1234,
        packets_in: 5,
        last_in_secs: Some(3),
        bytes_out: 98765,
        packets_out: 70,
        last_out_secs: Some(1),
        installed_secs: 801,
        rekey_in_secs: Some(2799),
        expires_in_secs: Some(3159),
        local_ts: vec![
            vni(100, 100),
            Selector::Prefix {
                addr: v4(10, 1, 0, 0),
                len: 16,
            },
        ],
        remote_ts: vec![
            Selector::Geneve {
                vni_start: 100,
                vni_end: 101,
                proto_start: 0x6558,
                proto_end: 0x6558,
            },
            Selector::Prefix {
                addr: v4(10, 2, 0, 0),
                len: 16,
            },
        ],
    };
    let gw = IkeSaInfo {
        name: "gw".into(),
        uid: 3,
        state: IkeState::Established,
        version: 2,
        spi_i: 0x8a3f_1c2d_4e5f_6071,
        spi_r: 0x1122_3344_5566_7788,
        initiator: true,
        local_id: "CN=nve1".into(),
        local_addr: v4(192, 0, 2, 1),
        local_port: 500,
        remote_id: "CN=nve2".into(),
        remote_addr: v4(192, 0, 2, 2),
        remote_port: 500,
        proposal: "AES_GCM_16-256/PRF_HMAC_SHA2_256/CURVE_25519".into(),
        established_secs: Some(801),
        rekey_in_secs: Some(13599),
        children: vec![net],
    };
    let edge = IkeSaInfo {
        name: "edge".into(),
        uid: 4,
        state: IkeState::Connecting,
        version: 2,
        spi_i: 0xabc,
        spi_r: 0,
        initiator: false,
        local_id: "CN=nve1".into(),
        local_addr: IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
        local_port: 4500,
        remote_id: "CN=nve3".into(),
        remote_addr: IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 3)),
        remote_port: 4500,
        proposal: String::new(),
        established_secs: None,
        rekey_in_secs: None,
        children: vec![],
    };
    vec![gw, edge]
}

/// One template connection with a trap child.
pub fn conns() -> Vec<ConnInfo> {
    vec![ConnInfo {
        name: "gw".into(),
        version: 2,
        local_addrs: vec!["192.0.2.1".into()],
        remote_addrs: vec![],
        reauth_secs: 0,
        rekey_secs: 14400,
        local_auth: AuthInfo {
            method: "pubkey".into(),
            id: Some("CN=nve1".into()),
            certs: vec!["CN=nve1".into()],
        },
        remote_auth: AuthInfo {
            method: "pubkey".into(),
            id: None,
            certs: vec!["CN=nvesec CA".into()],
        },
        children: vec![ChildConnInfo {
            name: "net".into(),
            protection: Protection::Geo,
            rekey_secs: 3600,
            start_action: "trap".into(),
            local_ts: vec![vni(100, 100)],
            remote_ts: vec![vni(100, 100)],
        }],
    }]
}

/// One end-entity certificate.
pub fn certs() -> Vec<CertInfo> {
    vec![CertInfo {
        subject: "CN=nve1".into(),
        issuer: "CN=nvesec CA".into(),
        serial: "01:a2".into(),
        alt_names: vec!["nve1".into()],
        not_before: "2025-01-01 00:00:00 UTC".into(),
        not_after: "2028-01-01 00:00:00 UTC".into(),
        expires_in_days: 1000,
        ca: false,
        has_private_key: true,
    }]
}

/// One outbound SECURE policy.
pub fn pols() -> Vec<PolicyInfo> {
    vec![PolicyInfo {
        name: "gw/net".into(),
        direction: Direction::Out,
        action: PolicyAction::Secure,
        protection: Some(Protection::Geo),
        local_ts: vec![vni(100, 100)],
        remote_ts: vec![vni(100, 100)],
    }]
}

/// Daemon statistics.
pub fn stats() -> StatsInfo {
    StatsInfo {
        uptime_secs: 180,
        since: "2025-01-02 01:04:05 UTC".into(),
        ike_sas_total: 2,
        ike_sas_half_open: 1,
        gsas_installed: 1,
        conns_loaded: 1,
        certs_loaded: 2,
        dataplane_connected: true,
        control_clients: 1,
    }
}

/// Dataplane counters for the `gw/net` GSA pair.
pub fn counters() -> CountersInfo {
    CountersInfo {
        gsas: vec![
            GsaCounters {
                gsa_id: 0xc398_45d7,
                direction: Direction::In,
                name: Some("gw/net".into()),
                packets: 5,
                bytes: 1234,
                drops: 2,
            },
            GsaCounters {
                gsa_id: 0xcfaa_84e8,
                direction: Direction::Out,
                name: Some("gw/net".into()),
                packets: 70,
                bytes: 98765,
                drops: 0,
            },
        ],
        drops: vec![
            DropCounter {
                reason: "replay".into(),
                count: 2,
            },
            DropCounter {
                reason: "no-gsa".into(),
                count: 7,
            },
        ],
    }
}

/// Version of a daemon.
pub fn version() -> VersionInfo {
    VersionInfo {
        daemon: "nvesecd".into(),
        version: "0.1.0".into(),
        sysname: "Linux".into(),
        release: "6.1.0".into(),
        machine: "x86_64".into(),
    }
}
