//! Text renderers for `nvesecctl`: swanctl's layouts (`list_sas.c`,
//! `list_conns.c`, `stats.c`) so scripts written against `swanctl` keep
//! working, and a `wg show`-style one-screen summary.

use super::proto::{
    AuthInfo, CertInfo, ConnInfo, CountersInfo, GsaInfo, IkeSaInfo, LoadReport, LogRecord,
    PolicyInfo, Protection, Selector, StatsInfo, VersionInfo,
};
use std::fmt::Write as _;
use std::net::SocketAddr;

fn protection(p: Protection) -> &'static str {
    match p {
        Protection::Geo => "GEO",
        Protection::Gao => "GAO",
    }
}

fn json_name<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// One selector: `vni 100-199[0x6558]`, `vni 100`, `10.0.0.0/24`.
pub fn selector(s: &Selector) -> String {
    match s {
        Selector::Geneve {
            vni_start,
            vni_end,
            proto_start,
            proto_end,
        } => {
            let mut out = if vni_start == vni_end {
                format!("vni {vni_start}")
            } else {
                format!("vni {vni_start}-{vni_end}")
            };
            if (*proto_start, *proto_end) != (0, u16::MAX) {
                if proto_start == proto_end {
                    let _ = write!(out, "[0x{proto_start:04x}]");
                } else {
                    let _ = write!(out, "[0x{proto_start:04x}-0x{proto_end:04x}]");
                }
            }
            out
        }
        Selector::Prefix { addr, len } => format!("{addr}/{len}"),
    }
}

fn selectors(list: &[Selector]) -> String {
    list.iter().map(selector).collect::<Vec<_>>().join(" ")
}

/// `--list-sas`.
pub fn list_sas(sas: &[IkeSaInfo]) -> String {
    let mut out = String::new();
    for sa in sas {
        ike_sa(&mut out, sa);
    }
    out
}

fn ike_sa(out: &mut String, sa: &IkeSaInfo) {
    let (mi, mr) = if sa.initiator { ("*", "") } else { ("", "*") };
    let _ = writeln!(
        out,
        "{}: #{}, {}, IKEv{}, {:016x}_i{mi} {:016x}_r{mr}",
        sa.name,
        sa.uid,
        json_name(&sa.state),
        sa.version,
        sa.spi_i,
        sa.spi_r
    );
    let _ = writeln!(
        out,
        "  local  '{}' @ {}[{}]",
        sa.local_id, sa.local_addr, sa.local_port
    );
    let _ = writeln!(
        out,
        "  remote '{}' @ {}[{}]",
        sa.remote_id, sa.remote_addr, sa.remote_port
    );
    if !sa.proposal.is_empty() {
        let _ = writeln!(out, "  {}", sa.proposal);
    }
    if let Some(est) = sa.established_secs {
        let _ = write!(out, "  established {est}s ago");
        if let Some(r) = sa.rekey_in_secs {
            let _ = write!(out, ", rekeying in {r}s");
        }
        out.push('\n');
    }
    for c in &sa.children {
        gsa(out, c);
    }
}

fn gsa(out: &mut String, c: &GsaInfo) {
    let _ = writeln!(
        out,
        "  {}: #{}, reqid {}, {}, {}:{}",
        c.name,
        c.uid,
        c.reqid,
        json_name(&c.state),
        protection(c.protection),
        c.proposal
    );
    let _ = write!(out, "    installed {}s ago", c.installed_secs);
    if let Some(r) = c.rekey_in_secs {
        let _ = write!(out, ", rekeying in {r}s");
    }
    if let Some(e) = c.expires_in_secs {
        let _ = write!(out, ", expires in {e}s");
    }
    out.push('\n');
    traffic(
        out,
        "in ",
        c.gsa_id_in,
        c.bytes_in,
        c.packets_in,
        c.last_in_secs,
    );
    traffic(
        out,
        "out",
        c.gsa_id_out,
        c.bytes_out,
        c.packets_out,
        c.last_out_secs,
    );
    let _ = writeln!(out, "    local  {}", selectors(&c.local_ts));
    let _ = writeln!(out, "    remote {}", selectors(&c.remote_ts));
}

/// swanctl: `"    in  %s, %6s bytes, %5s packets, %5ss ago"`.
fn traffic(out: &mut String, dir: &str, id: u32, bytes: u64, packets: u64, last: Option<u64>) {
    let _ = write!(
        out,
        "    {dir} {id:08x}, {bytes:>6} bytes, {packets:>5} packets"
    );
    if let Some(l) = last {
        let _ = write!(out, ", {l:>5}s ago");
    }
    out.push('\n');
}

/// `--list-conns`.
pub fn list_conns(conns: &[ConnInfo]) -> String {
    let mut out = String::new();
    for c in conns {
        let version = match c.version {
            0 => "IKEv1/2".to_owned(),
            v => format!("IKEv{v}"),
        };
        let reauth = match c.reauth_secs {
            0 => "no reauthentication".to_owned(),
            s => format!("reauthentication every {s}s"),
        };
        let rekey = match c.rekey_secs {
            0 => "no rekeying".to_owned(),
            s => format!("rekeying every {s}s"),
        };
        let _ = writeln!(out, "{}: {version}, {reauth}, {rekey}", c.name);
        let _ = writeln!(out, "  local:  {}", addrs(&c.local_addrs));
        let _ = writeln!(out, "  remote: {}", addrs(&c.remote_addrs));
        auth(&mut out, "local", "certs", &c.local_auth);
        auth(&mut out, "remote", "cacerts", &c.remote_auth);
        for ch in &c.children {
            let rekey = match ch.rekey_secs {
                0 => "no rekeying".to_owned(),
                s => format!("rekeying every {s}s"),
            };
            let _ = writeln!(
                out,
                "  {}: {}, {rekey}, start action {}",
                ch.name,
                protection(ch.protection),
                ch.start_action
            );
            let _ = writeln!(out, "    local:  {}", selectors(&ch.local_ts));
            let _ = writeln!(out, "    remote: {}", selectors(&ch.remote_ts));
        }
    }
    out
}

fn addrs(a: &[String]) -> String {
    if a.is_empty() {
        "%any".to_owned()
    } else {
        a.join(" ")
    }
}

fn auth(out: &mut String, side: &str, certs_label: &str, a: &AuthInfo) {
    let method = match a.method.as_str() {
        "pubkey" => "public key",
        "psk" => "pre-shared key",
        other => other,
    };
    let _ = writeln!(out, "  {side} {method} authentication:");
    if let Some(id) = &a.id {
        let _ = writeln!(out, "    id: {id}");
    }
    for c in &a.certs {
        let _ = writeln!(out, "    {certs_label}: {c}");
    }
}

/// `--list-certs`.
pub fn list_certs(certs: &[CertInfo]) -> String {
    let mut out = String::new();
    for (ca, title) in [
        (false, "List of X.509 End Entity Certificates"),
        (true, "List of X.509 CA Certificates"),
    ] {
        let group: Vec<&CertInfo> = certs.iter().filter(|c| c.ca == ca).collect();
        if group.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n{title}\n");
        for c in group {
            cert(&mut out, c);
        }
    }
    out
}

fn cert(out: &mut String, c: &CertInfo) {
    let _ = writeln!(out, "  subject:  \"{}\"", c.subject);
    let _ = writeln!(out, "  issuer:   \"{}\"", c.issuer);
    let _ = writeln!(out, "  validity:  not before {}", c.not_before);
    let status = if c.expires_in_days >= 0 {
        format!("ok (expires in {} days)", c.expires_in_days)
    } else {
        format!("expired ({} days ago)", -c.expires_in_days)
    };
    let _ = writeln!(out, "             not after  {}, {status}", c.not_after);
    let _ = writeln!(out, "  serial:    {}", c.serial);
    if !c.alt_names.is_empty() {
        let _ = writeln!(out, "  altNames:  {}", c.alt_names.join(", "));
    }
    if c.has_private_key {
        let _ = writeln!(out, "  has private key");
    }
    out.push('\n');
}

/// `--list-pols`.
pub fn list_pols(pols: &[PolicyInfo]) -> String {
    let mut out = String::new();
    for p in pols {
        let _ = write!(
            out,
            "{}, {}, {}",
            p.name,
            json_name(&p.direction),
            json_name(&p.action)
        );
        if let Some(pr) = p.protection {
            let _ = write!(out, ", {}", protection(pr));
        }
        out.push('\n');
        let _ = writeln!(out, "  local:  {}", selectors(&p.local_ts));
        let _ = writeln!(out, "  remote: {}", selectors(&p.remote_ts));
    }
    out
}

/// strongSwan's `%V` time delta: seconds, then minutes/hours/days once the
/// value exceeds two of the next unit.
pub fn time_delta(secs: u64) -> String {
    let (v, unit) = if secs > 2 * 86_400 {
        (secs / 86_400, "day")
    } else if secs > 2 * 3600 {
        (secs / 3600, "hour")
    } else if secs > 2 * 60 {
        (secs / 60, "minute")
    } else {
        (secs, "second")
    };
    format!("{v} {unit}{}", if v == 1 { "" } else { "s" })
}

/// `--stats`.
pub fn stats(s: &StatsInfo) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "uptime: {}, since {}",
        time_delta(s.uptime_secs),
        s.since
    );
    let _ = writeln!(
        out,
        "IKE_SAs: {} total, {} half-open",
        s.ike_sas_total, s.ike_sas_half_open
    );
    let _ = writeln!(out, "GSAs: {} installed", s.gsas_installed);
    let _ = writeln!(
        out,
        "loaded: {} connections, {} certificates",
        s.conns_loaded, s.certs_loaded
    );
    let dp = if s.dataplane_connected {
        "connected"
    } else {
        "disconnected"
    };
    let _ = writeln!(out, "dataplane: {dp}");
    let _ = writeln!(out, "control clients: {}", s.control_clients);
    out
}

/// `--counters`: dataplane per-GSA and per-drop-reason counters.
pub fn counters(c: &CountersInfo) -> String {
    let mut out = String::from("List of GSA counters:\n\n");
    for g in &c.gsas {
        let _ = writeln!(
            out,
            "  {:08x} {:<3} {:<16} {:>10} bytes {:>8} packets {:>6} drops",
            g.gsa_id,
            json_name(&g.direction),
            g.name.as_deref().unwrap_or("-"),
            g.bytes,
            g.packets,
            g.drops
        );
    }
    out.push_str("\nList of drop counters:\n\n");
    for d in &c.drops {
        let _ = writeln!(out, "  {:<24} {}", d.reason, d.count);
    }
    out
}

/// `--load-*` (swanctl's `loaded connection 'x'` lines and summary).
pub fn load(r: &LoadReport) -> String {
    let mut out = String::new();
    for c in &r.creds_loaded {
        let _ = writeln!(out, "loaded {c}");
    }
    for c in &r.conns_loaded {
        let _ = writeln!(out, "loaded connection '{c}'");
    }
    for e in &r.errors {
        let _ = writeln!(out, "error: {e}");
    }
    if r.errors.is_empty() {
        let _ = writeln!(
            out,
            "successfully loaded {} connections, {} unloaded",
            r.conns_loaded.len(),
            r.conns_unloaded.len()
        );
    } else {
        let _ = writeln!(out, "load refused: configuration unchanged");
    }
    out
}

/// `--version`.
pub fn version(v: &VersionInfo) -> String {
    format!(
        "{} {}, {} {}, {}\n",
        v.daemon, v.version, v.sysname, v.release, v.machine
    )
}

/// One `--log` line, charon layout: `08[IKE] <gw|3> message`.
pub fn log_line(r: &LogRecord) -> String {
    crate::log::format_record(r)
}

/// wg's `pretty_time`: `1 hour, 2 minutes, 3 seconds`.
pub fn pretty_time(mut secs: u64) -> String {
    if secs == 0 {
        return "0 seconds".to_owned();
    }
    let mut parts = Vec::new();
    for (len, unit) in [
        (365 * 86_400, "year"),
        (86_400, "day"),
        (3600, "hour"),
        (60, "minute"),
        (1, "second"),
    ] {
        let n = secs / len;
        secs %= len;
        if n > 0 {
            parts.push(format!("{n} {unit}{}", if n == 1 { "" } else { "s" }));
        }
    }
    parts.join(", ")
}

/// wg's byte counts: `399 B`, `1.21 KiB`, `3.00 MiB`.
pub fn pretty_bytes(b: u64) -> String {
    const K: f64 = 1024.0;
    let f = b as f64;
    if b < 1024 {
        format!("{b} B")
    } else if f < K * K {
        format!("{:.2} KiB", f / K)
    } else if f < K * K * K {
        format!("{:.2} MiB", f / (K * K))
    } else if f < K * K * K * K {
        format!("{:.2} GiB", f / (K * K * K))
    } else {
        format!("{:.2} TiB", f / (K * K * K * K))
    }
}

/// What `show` prints for one IKE SA (derived from `list-sas`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerSummary {
    pub name: String,
    pub uid: u32,
    pub identity: String,
    pub endpoint: String,
    pub state: String,
    /// Seconds since the most recent IKE or GSA establishment.
    pub latest_handshake_secs: Option<u64>,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    /// (in, out) GSA-IDs of installed GSAs.
    pub gsa_ids: Vec<(u32, u32)>,
    /// Seconds to the nearest IKE or GSA rekey.
    pub next_rekey_secs: Option<u64>,
}

impl PeerSummary {
    pub fn from_sa(sa: &IkeSaInfo) -> PeerSummary {
        let installed = sa.children.iter().map(|c| c.installed_secs);
        PeerSummary {
            name: sa.name.clone(),
            uid: sa.uid,
            identity: sa.remote_id.clone(),
            endpoint: SocketAddr::new(sa.remote_addr, sa.remote_port).to_string(),
            state: json_name(&sa.state),
            latest_handshake_secs: sa.established_secs.into_iter().chain(installed).min(),
            rx_bytes: sa.children.iter().map(|c| c.bytes_in).sum(),
            tx_bytes: sa.children.iter().map(|c| c.bytes_out).sum(),
            gsa_ids: sa
                .children
                .iter()
                .map(|c| (c.gsa_id_in, c.gsa_id_out))
                .collect(),
            next_rekey_secs: sa
                .rekey_in_secs
                .into_iter()
                .chain(sa.children.iter().filter_map(|c| c.rekey_in_secs))
                .min(),
        }
    }

    /// Does `show PEER` select this SA (by connection name or remote id)?
    pub fn matches(&self, peer: &str) -> bool {
        self.name == peer || self.identity == peer
    }
}

/// `show [PEER]`: wg-style, one block per IKE SA.
pub fn show(sas: &[IkeSaInfo]) -> String {
    let mut out = String::new();
    for (i, p) in sas.iter().map(PeerSummary::from_sa).enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let _ = writeln!(out, "peer: {}", p.name);
        let _ = writeln!(out, "  identity: {}", p.identity);
        let _ = writeln!(out, "  endpoint: {}", p.endpoint);
        let _ = writeln!(out, "  ike sa: #{}, {}", p.uid, p.state);
        if let Some(h) = p.latest_handshake_secs {
            let _ = writeln!(out, "  latest handshake: {} ago", pretty_time(h));
        }
        let _ = writeln!(
            out,
            "  transfer: {} received, {} sent",
            pretty_bytes(p.rx_bytes),
            pretty_bytes(p.tx_bytes)
        );
        if !p.gsa_ids.is_empty() {
            let ids: Vec<String> = p
                .gsa_ids
                .iter()
                .map(|(i, o)| format!("in {i:08x} out {o:08x}"))
                .collect();
            let _ = writeln!(out, "  gsa-ids: {}", ids.join(", "));
        }
        if let Some(r) = p.next_rekey_secs {
            let _ = writeln!(out, "  next rekey: in {}", pretty_time(r));
        }
    }
    out
}

/// `show [PEER] dump`: one tab-separated line per IKE SA:
/// name, uid, identity, endpoint, state, latest handshake (s ago, 0 = never),
/// rx bytes, tx bytes, inbound GSA-IDs, outbound GSA-IDs (comma-separated,
/// `(none)` if empty), next rekey (s, `off` if none).
pub fn show_dump(sas: &[IkeSaInfo]) -> String {
    let mut out = String::new();
    for p in sas.iter().map(PeerSummary::from_sa) {
        let ids = |f: fn(&(u32, u32)) -> u32| {
            if p.gsa_ids.is_empty() {
                "(none)".to_owned()
            } else {
                let v: Vec<String> = p.gsa_ids.iter().map(|x| format!("{:08x}", f(x))).collect();
                v.join(",")
            }
        };
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            p.name,
            p.uid,
            p.identity,
            p.endpoint,
            p.state,
            p.latest_handshake_secs.unwrap_or(0),
            p.rx_bytes,
            p.tx_bytes,
            ids(|x| x.0),
            ids(|x| x.1),
            p.next_rekey_secs
                .map_or_else(|| "off".to_owned(), |s| s.to_string()),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctl::fixtures;

    #[test]
    fn list_sas_layout() {
        let text = list_sas(&fixtures::sas());
        assert_eq!(
            text,
            "\
gw: #3, ESTABLISHED, IKEv2, 8a3f1c2d4e5f6071_i* 1122334455667788_r
  local  'CN=nve1' @ 192.0.2.1[500]
  remote 'CN=nve2' @ 192.0.2.2[500]
  AES_GCM_16-256/PRF_HMAC_SHA2_256/CURVE_25519
  established 801s ago, rekeying in 13599s
  net: #1, reqid 1, INSTALLED, GEO:AES_GCM_16-256
    installed 801s ago, rekeying in 2799s, expires in 3159s
    in  c39845d7,   1234 bytes,     5 packets,     3s ago
    out cfaa84e8,  98765 bytes,    70 packets,     1s ago
    local  vni 100 10.1.0.0/16
    remote vni 100-101[0x6558] 10.2.0.0/16
edge: #4, CONNECTING, IKEv2, 0000000000000abc_i 0000000000000000_r*
  local  'CN=nve1' @ 2001:db8::1[4500]
  remote 'CN=nve3' @ 2001:db8::3[4500]
"
        );
    }

    #[test]
    fn show_layout() {
        let text = show(&fixtures::sas()[..1]);
        assert_eq!(
            text,
            "\
peer: gw
  identity: CN=nve2
  endpoint: 192.0.2.2:500
  ike sa: #3, ESTABLISHED
  latest handshake: 13 minutes, 21 seconds ago
  transfer: 1.21 KiB received, 96.45 KiB sent
  gsa-ids: in c39845d7 out cfaa84e8
  next rekey: in 46 minutes, 39 seconds
"
        );
        assert_eq!(
            show_dump(&fixtures::sas()),
            "gw\t3\tCN=nve2\t192.0.2.2:500\tESTABLISHED\t801\t1234\t98765\tc39845d7\tcfaa84e8\t2799\n\
             edge\t4\tCN=nve3\t[2001:db8::3]:4500\tCONNECTING\t0\t0\t0\t(none)\t(none)\toff\n"
        );
    }

    #[test]
    fn list_conns_layout() {
        assert_eq!(
            list_conns(&fixtures::conns()),
            "\
gw: IKEv2, no reauthentication, rekeying every 14400s
  local:  192.0.2.1
  remote: %any
  local public key authentication:
    id: CN=nve1
    certs: CN=nve1
  remote public key authentication:
    cacerts: CN=nvesec CA
  net: GEO, rekeying every 3600s, start action trap
    local:  vni 100
    remote: vni 100
"
        );
    }

    #[test]
    fn stats_counters_layout() {
        assert_eq!(
            stats(&fixtures::stats()),
            "\
uptime: 3 minutes, since 2025-01-02 01:04:05 UTC
IKE_SAs: 2 total, 1 half-open
GSAs: 1 installed
loaded: 1 connections, 2 certificates
dataplane: connected
control clients: 1
"
        );
        assert_eq!(
            counters(&fixtures::counters()),
            "\
List of GSA counters:

  c39845d7 in  gw/net                 1234 bytes        5 packets      2 drops
  cfaa84e8 out gw/net                98765 bytes       70 packets      0 drops

List of drop counters:

  replay                   2
  no-gsa                   7
"
        );
    }

    #[test]
    fn certs_pols_load_layout() {
        assert_eq!(
            list_certs(&fixtures::certs()),
            "
List of X.509 End Entity Certificates

  subject:  \"CN=nve1\"
  issuer:   \"CN=nvesec CA\"
  validity:  not before 2025-01-01 00:00:00 UTC
             not after  2028-01-01 00:00:00 UTC, ok (expires in 1000 days)
  serial:    01:a2
  altNames:  nve1
  has private key

"
        );
        assert_eq!(
            list_pols(&fixtures::pols()),
            "gw/net, out, SECURE, GEO\n  local:  vni 100\n  remote: vni 100\n"
        );
        let r = LoadReport {
            conns_loaded: vec!["gw".into()],
            conns_unloaded: vec!["old".into()],
            creds_loaded: vec!["certificate from 'x509/nve1.pem'".into()],
            errors: vec![],
        };
        assert_eq!(
            load(&r),
            "loaded certificate from 'x509/nve1.pem'\nloaded connection 'gw'\nsuccessfully loaded 1 connections, 1 unloaded\n"
        );
    }

    #[test]
    fn human_units() {
        assert_eq!(time_delta(120), "120 seconds");
        assert_eq!(time_delta(121), "2 minutes");
        assert_eq!(time_delta(7201), "2 hours");
        assert_eq!(time_delta(3 * 86_400), "3 days");
        assert_eq!(time_delta(1), "1 second");
        assert_eq!(pretty_time(3661), "1 hour, 1 minute, 1 second");
        assert_eq!(pretty_bytes(1023), "1023 B");
        assert_eq!(pretty_bytes(3 << 20), "3.00 MiB");
        assert_eq!(
            selector(&Selector::Geneve {
                vni_start: 5,
                vni_end: 9,
                proto_start: 0x0800,
                proto_end: 0x86dd
            }),
            "vni 5-9[0x0800-0x86dd]"
        );
    }
}
