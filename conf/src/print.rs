//! Prints a model back in the configuration syntax, every value explicit (defaults resolved),
//! so that parsing the output gives the same model.

use std::time::Duration;

use crate::build::fmt_duration;
use crate::model::*;

/// Whether printed secrets are shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretDisplay {
    /// `secret` lines are replaced by a comment; the output then fails to load (on purpose:
    /// a redacted dump must never become a config with a wrong PSK).
    Redact,
    /// Secrets printed as `0x` hex (round-trippable).
    Reveal,
}

struct Out {
    s: String,
    depth: usize,
}

impl Out {
    fn open(&mut self, name: &str) {
        self.line(&format!("{name} {{"));
        self.depth += 1;
    }

    fn close(&mut self) {
        self.depth -= 1;
        self.line("}");
    }

    fn line(&mut self, text: &str) {
        for _ in 0..self.depth {
            self.s.push_str("    ");
        }
        self.s.push_str(text);
        self.s.push('\n');
    }

    fn kv(&mut self, key: &str, value: &str) {
        self.line(&format!("{key} = {value}"));
    }

    fn list<T: ToString>(&mut self, key: &str, items: &[T]) {
        if !items.is_empty() {
            let v: Vec<String> = items.iter().map(|i| quote(&i.to_string())).collect();
            self.kv(key, &v.join(", "));
        }
    }
}

/// Quotes a string when it would not survive as an unquoted value. Items of an unquoted
/// list never need quotes (the parser refuses what would), so lists stay lists.
pub(crate) fn quote(s: &str) -> String {
    let plain = !s.is_empty()
        && !s.starts_with(char::is_whitespace)
        && !s.ends_with(char::is_whitespace)
        && !s.contains([',', '#', '}', '"', '\n', '\r']);
    if plain {
        return s.to_string();
    }
    let mut q = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            '\r' => q.push_str("\\r"),
            '\t' => q.push_str("\\t"),
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

fn selector(s: &Selector, hex: bool) -> String {
    match s {
        Selector::Any => "any".into(),
        Selector::Opaque => "opaque".into(),
        Selector::Ranges(r) => r
            .iter()
            .map(|r| {
                let n = |v: u32| {
                    if hex {
                        format!("0x{v:04x}")
                    } else {
                        v.to_string()
                    }
                };
                if r.start == r.end {
                    n(r.start)
                } else {
                    format!("{}-{}", n(r.start), n(r.end))
                }
            })
            .collect::<Vec<_>>()
            .join(", "),
    }
}

fn option(o: &OptionId) -> String {
    format!("0x{:04x}:0x{:02x}", o.class, o.kind)
}

fn option_set(s: &OptionSet) -> String {
    match s {
        OptionSet::All => "all".into(),
        OptionSet::None => "none".into(),
        OptionSet::List(l) => l.iter().map(option).collect::<Vec<_>>().join(", "),
    }
}

fn addr(a: &AddrSpec) -> String {
    match a {
        AddrSpec::Any => "%any".into(),
        AddrSpec::Any4 => "%any4".into(),
        AddrSpec::Any6 => "%any6".into(),
        AddrSpec::Ip(ip) => ip.to_string(),
        AddrSpec::Subnet(p) => p.to_string(),
        AddrSpec::Host(h) => h.clone(),
    }
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

impl Config {
    /// The model in configuration syntax, with every default written out.
    pub fn to_conf_string(&self, secrets: SecretDisplay) -> String {
        let mut o = Out {
            s: String::new(),
            depth: 0,
        };
        if !self.connections.is_empty() {
            o.open("connections");
            for c in &self.connections {
                connection(&mut o, c);
            }
            o.close();
        }
        if !self.secrets.is_empty() {
            o.open("secrets");
            for s in &self.secrets {
                o.open(&s.name);
                for (i, id) in s.ids.iter().enumerate() {
                    let key = if i == 0 {
                        "id".to_string()
                    } else {
                        format!("id-{i}")
                    };
                    o.kv(&key, &quote(id));
                }
                match secrets {
                    SecretDisplay::Reveal => o.kv("secret", &s.secret.to_hex()),
                    SecretDisplay::Redact => o.line("# secret = (redacted)"),
                }
                o.close();
            }
            o.close();
        }
        if !self.authorities.is_empty() {
            o.open("authorities");
            for a in &self.authorities {
                o.open(&a.name);
                o.kv("cacert", &quote(&a.cacert.name));
                o.list("crl_uris", &a.crl_uris);
                o.list("ocsp_uris", &a.ocsp_uris);
                o.close();
            }
            o.close();
        }
        overlay(&mut o, &self.overlay);
        daemon(&mut o, &self.daemon);
        if !self.policies.is_empty() {
            o.open("policies");
            for p in &self.policies {
                policy(&mut o, p);
            }
            o.close();
        }
        o.s
    }
}

fn connection(o: &mut Out, c: &Connection) {
    o.open(&c.name);
    o.kv("version", c.version.as_str());
    let addrs = |l: &[AddrSpec]| l.iter().map(addr).collect::<Vec<_>>();
    o.list("local_addrs", &addrs(&c.local_addrs));
    o.list("remote_addrs", &addrs(&c.remote_addrs));
    o.kv("local_port", &c.local_port.to_string());
    o.kv("remote_port", &c.remote_port.to_string());
    o.list("proposals", &c.proposals);
    o.kv("dpd_delay", &fmt_duration(c.dpd_delay));
    o.kv("rekey_time", &fmt_duration(c.rekey_time));
    o.kv("over_time", &fmt_duration(c.over_time));
    o.kv("rand_time", &fmt_duration(c.rand_time));
    o.kv("keyingtries", &c.keyingtries.to_string());
    o.kv("unique", c.unique.as_str());
    o.kv("fragmentation", c.fragmentation.as_str());
    o.kv("childless", c.childless.as_str());
    o.kv("send_certreq", yes(c.send_certreq));
    o.kv("send_cert", c.send_cert.as_str());
    for (side, a) in [("local", &c.local), ("remote", &c.remote)] {
        o.open(side);
        o.kv("auth", a.auth.as_str());
        if let Some(id) = &a.id {
            o.kv("id", &quote(id));
        }
        let names = |l: &[CredFile]| l.iter().map(|f| f.name.clone()).collect::<Vec<_>>();
        o.list("certs", &names(&a.certs));
        o.list("cacerts", &names(&a.cacerts));
        o.close();
    }
    if !c.children.is_empty() {
        o.open("children");
        for ch in &c.children {
            child(o, ch);
        }
        o.close();
    }
    o.close();
}

fn child(o: &mut Out, c: &Child) {
    o.open(&c.name);
    o.list("gsa_proposals", &c.gsa_proposals);
    o.kv("protection", c.protection.as_str());
    o.kv("encrypted_options", &option_set(&c.encrypted_options));
    o.kv(
        "authenticated_options",
        &option_set(&c.authenticated_options),
    );
    o.kv(
        "covered_length",
        &match c.covered_length {
            CoveredLength::All => "all".to_string(),
            CoveredLength::InnerL4 => "inner-l4".to_string(),
            CoveredLength::Bytes(n) => n.to_string(),
        },
    );
    o.kv("padding", &c.padding.to_string());
    o.kv("hide_header", yes(c.hide_header));
    o.kv(
        "dummy_rate",
        &match c.dummy_rate {
            DummyRate::Off => "off".to_string(),
            DummyRate::PerSecond(n) => format!("{n}/s"),
            DummyRate::Percent(p) => format!("{p}%"),
        },
    );
    o.kv("start_action", c.start_action.as_str());
    o.kv("dpd_action", c.dpd_action.as_str());
    o.kv("close_action", c.close_action.as_str());
    o.kv("rekey_time", &fmt_duration(c.rekey_time));
    o.kv("life_time", &fmt_duration(c.life_time));
    o.kv("rand_time", &fmt_duration(c.rand_time));
    o.kv("rekey_bytes", &c.rekey_bytes.to_string());
    o.kv("life_bytes", &c.life_bytes.to_string());
    o.kv("rekey_packets", &c.rekey_packets.to_string());
    o.kv("life_packets", &c.life_packets.to_string());
    o.kv("replay_window", &c.replay_window.to_string());
    let s = &c.selectors;
    o.kv("vnis", &selector(&s.vnis, false));
    o.kv("protocol_types", &selector(&s.protocol_types, true));
    o.list("local_prefixes", &s.local_prefixes);
    o.list("remote_prefixes", &s.remote_prefixes);
    o.kv("ip_proto", &selector(&s.ip_proto, false));
    o.kv("local_ports", &selector(&s.local_ports, false));
    o.kv("remote_ports", &selector(&s.remote_ports, false));
    o.close();
}

fn fine_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

fn daemon(o: &mut Out, d: &Daemon) {
    o.open("nvesecd");
    o.kv("retransmit_timeout", &fine_duration(d.retransmit_timeout));
    let (whole, part) = (
        d.retransmit_base_milli / 1000,
        d.retransmit_base_milli % 1000,
    );
    o.kv("retransmit_base", &format!("{whole}.{part:03}"));
    o.kv("retransmit_tries", &d.retransmit_tries.to_string());
    if let Some(l) = d.retransmit_limit {
        o.kv("retransmit_limit", &fine_duration(l));
    }
    o.kv("cookie_threshold", &d.cookie_threshold.to_string());
    o.kv("init_limit_half_open", &d.init_limit_half_open.to_string());
    o.kv("block_threshold", &d.block_threshold.to_string());
    o.kv(
        "ike_rate_limit",
        &d.ike_rate_limit.map_or("0s".into(), fine_duration),
    );
    o.kv("ike_read_budget", &d.ike_read_budget.to_string());
    o.kv("ike_send_queue", &d.ike_send_queue.to_string());
    o.close();
}

fn overlay(o: &mut Out, ov: &Overlay) {
    o.open("overlay");
    o.list("local_addrs", &ov.local_addrs);
    o.kv("port", &ov.port.to_string());
    o.kv("option_class", &format!("0x{:04x}", ov.option_class));
    if !ov.networks.is_empty() {
        o.open("networks");
        for n in &ov.networks {
            o.open(&n.name);
            o.kv("vni", &n.vni.to_string());
            o.kv("device", n.device.as_str());
            o.kv("ifname", &n.ifname);
            o.kv("mtu", &n.mtu.to_string());
            if let Some(a) = &n.address {
                o.kv("address", &a.to_string());
            }
            if !n.peers.is_empty() {
                o.open("peers");
                for p in &n.peers {
                    o.open(&p.name);
                    o.kv("underlay", &p.underlay.to_string());
                    o.list("prefixes", &p.prefixes);
                    o.close();
                }
                o.close();
            }
            o.close();
        }
        o.close();
    }
    o.close();
}

fn policy(o: &mut Out, p: &Policy) {
    o.open(&p.name);
    o.kv("direction", p.direction.as_str());
    o.kv("version", &selector(&p.version, false));
    o.kv("oam", &selector(&p.oam, false));
    o.kv("critical", &selector(&p.critical, false));
    o.kv("rsv", &selector(&p.rsv, false));
    o.kv("protocol_types", &selector(&p.protocol_types, true));
    o.kv("vnis", &selector(&p.vnis, false));
    if p.required_options.is_empty() {
        o.kv("required_options", "opaque");
    } else {
        o.kv(
            "required_options",
            &p.required_options
                .iter()
                .map(option)
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
    o.kv("ip_proto", &selector(&p.ip_proto, false));
    o.kv("src_ports", &selector(&p.src_ports, false));
    o.kv("dst_ports", &selector(&p.dst_ports, false));
    match &p.action {
        Action::Secure(g) => {
            o.kv("action", "secure");
            let refs: Vec<String> = g.iter().map(ToString::to_string).collect();
            o.list("gsas", &refs);
        }
        Action::Bypass => o.kv("action", "bypass"),
        Action::Discard => o.kv("action", "discard"),
    }
    o.close();
}
