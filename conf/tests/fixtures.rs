//! Fixture files: one invalid file per rejection rule (exact message and position), the
//! shipped example, and a plain strongSwan swanctl.conf (exact warnings).

use std::time::Duration;

use nvesec_conf::*;

const INV: &str = "tests/fixtures/invalid";

fn errors(path: &str) -> Vec<String> {
    match load(path) {
        Ok(l) => panic!("{path} loaded but should not: {:?}", l.config),
        Err(e) => e.errors.iter().map(ToString::to_string).collect(),
    }
}

fn one_error(file: &str, expected: &str) {
    let path = format!("{INV}/{file}");
    assert_eq!(errors(&path), [format!("{path}:{expected}")]);
}

#[test]
fn life_time_not_longer_than_rekey_time() {
    one_error("life_time.conf", "8:29: life_time (50m) is not longer than rekey_time (1h), so the GSA would expire before it is replaced; expected life_time > rekey_time, e.g. life_time = 66m");
}

#[test]
fn retransmit_settings_are_checked() {
    let path = format!("{INV}/retransmit.conf");
    assert_eq!(
        errors(&path),
        [
            format!("{path}:2:26: retransmit_timeout: expected a duration above 0s, e.g. 4s or 500ms"),
            format!("{path}:3:23: retransmit_base: '0.5' is not a valid factor here; expected a number from 1.0 to 10.0, e.g. 1.8"),
            format!("{path}:4:24: retransmit_tries: '101' is not a valid number here; expected 0 to 100"),
            format!("{path}:5:24: retransmit_limit: '2x' is not a duration; expected a number with an optional unit s, m, h or d (e.g. 90s, 30m, 4h, 2d)"),
        ]
    );
}

#[test]
fn unknown_enum_value() {
    one_error(
        "dpd_action.conf",
        "7:30: dpd_action: 'start' is not a valid value; expected clear|trap|restart",
    );
}

#[test]
fn bad_address() {
    one_error(
        "bad_address.conf",
        "3:35: remote_addrs: '192.0.2.300' is not an IP address; expected an IPv4 or IPv6 address",
    );
}

#[test]
fn bad_prefix() {
    one_error("bad_prefix.conf", "8:47: prefixes: '10.1.0.1/16' has host bits set; expected a network prefix such as 10.1.0.0/16");
}

#[test]
fn shadowed_policy() {
    one_error("shadowed_policy.conf", &format!("6:5: policy 'red' can never match: the earlier policy 'tenants' ({INV}/shadowed_policy.conf:2:5) matches every packet it would (first match wins); expected 'red' before 'tenants' or narrower selectors in 'tenants'"));
}

#[test]
fn pubkey_without_certificate() {
    one_error("pubkey_no_cert.conf", "4:9: connection 'peer' authenticates with pubkey but names no certificate; expected local { certs = <file in x509/> } or auth = psk");
}

#[test]
fn certificate_file_missing() {
    one_error("cert_file_missing.conf", &format!("4:31: certs: file 'nve7.pem' not found at {INV}/x509/nve7.pem; expected a certificate file in x509/ beside the configuration"));
}

#[test]
fn pubkey_without_ca() {
    one_error("no-ca/nvesec.conf", "6:9: connection 'peer' authenticates the peer with pubkey but no CA certificate is available; expected remote { cacerts = <file in x509ca/> }, an authorities section, or a certificate in x509ca/");
}

#[test]
fn psk_without_matching_secret() {
    one_error("psk_no_secret.conf", "5:20: connection 'lab' uses auth = psk but no secret matches its identities (nve1.example.net, lab.example.net, 198.51.100.7); expected a section secrets.ike-lab with id-1 = nve1.example.net, id-2 = lab.example.net and secret = <psk>");
}

#[test]
fn psk_with_two_equally_good_secrets_is_ambiguous() {
    // Both secrets are named with their positions; ike-other (another pair's key) is not a
    // candidate at all.
    let p = format!("{INV}/psk_ambiguous.conf");
    one_error("psk_ambiguous.conf", &format!("17:5: ambiguous PSK for connection 'nve2' (auth = psk at {p}:7:20): secrets.ike-mine and secrets.ike-peer (at {p}:25:5) both name one of nve1.example.net and nve2.example.net but hold different keys; expected one secret that names both nve1.example.net and nve2.example.net, or only one of them left"));
}

#[test]
fn replay_window_too_large() {
    one_error(
        "replay_window.conf",
        "7:33: replay_window: '8192' is outside the supported window; expected 0 to 4096 packets",
    );
}

#[test]
fn misspelt_key_gets_a_suggestion() {
    one_error(
        "misspelt_key.conf",
        "3:9: unknown key 'rekey_tme' in connections.peer; did you mean rekey_time?",
    );
}

#[test]
fn policy_refers_to_unknown_child() {
    one_error("unknown_gsa.conf", "15:16: policy 'red-out' refers to 'peer.rde', which is not a configured child; did you mean peer.red?");
}

#[test]
fn unknown_bare_child() {
    one_error("unknown_bare_gsa.conf", "16:16: policy 'red-out' refers to child 'rde', which no connection has; expected one of: red");
}

#[test]
fn bare_child_also_named_with_its_connection() {
    one_error("bare_and_qualified_gsa.conf", &format!("30:16: policy 'red-in' names 'nve2.red', but policy 'red-out' ({INV}/bare_and_qualified_gsa.conf:24:16) names every connection's child 'red' with gsas = red; expected gsas = red here too, or another name for one of the children"));
}

#[test]
fn duplicate_vni() {
    one_error("duplicate_vni.conf", &format!("4:22: VNI 100 is already used by network 'red' ({INV}/duplicate_vni.conf:3:21); expected one network per VNI"));
}

#[test]
fn bad_duration() {
    one_error("bad_duration.conf", "3:21: dpd_delay: '1w' is not a duration; expected a number with an optional unit s, m, h or d (e.g. 90s, 30m, 4h, 2d)");
}

#[test]
fn unclosed_section() {
    let p = format!("{INV}/unclosed.conf");
    assert_eq!(errors(&p), [
        format!("{p}:1:1: section 'connections' is not closed; expected '}}' before the end of the file"),
        format!("{p}:2:5: section 'peer' is not closed; expected '}}' before the end of the file"),
        format!("{p}:3:24: connection 'peer' uses auth = psk but no secret matches its identities (none configured); expected a section secrets.ike-peer with id-1 = <local id>, id-2 = <peer id> and secret = <psk>"),
    ]);
}

#[test]
fn all_errors_are_reported_in_file_order() {
    let p = format!("{INV}/many_errors.conf");
    assert_eq!(errors(&p), [
        format!("{p}:4:19: version: '1' is not a valid value; expected 0|2 (IKEv1 is not supported)"),
        format!("{p}:6:25: auth: 'eap-tls' is not a valid value; expected pubkey|psk"),
        format!("{p}:9:32: start_action: 'begin' is not a valid value; expected none|trap|start (or trap|start)"),
        format!("{p}:10:31: rekey_bytes: '10Q' is not a byte count; expected a number with an optional suffix k, M or G (e.g. 500M)"),
    ]);
}

#[test]
fn missing_file() {
    let e = load("tests/fixtures/nonexistent.conf").unwrap_err();
    assert_eq!(e.errors.len(), 1);
    assert!(e.errors[0]
        .to_string()
        .starts_with("tests/fixtures/nonexistent.conf:1:1: cannot read the configuration: "));
}

#[test]
fn strongswan_swanctl_conf_loads_with_warnings() {
    let p = "tests/fixtures/valid/strongswan/swanctl.conf";
    let loaded = load(p).unwrap_or_else(|e| panic!("{e}"));
    let w: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
    let ss = "is a strongSwan setting nvesec does not use; ignored";
    let child = "connections.gw-gw.children.net-net";
    assert_eq!(w, [
        format!("{p}:9:9: warning: 'mobike' in connections.gw-gw {ss}"),
        format!("{p}:10:9: warning: 'reauth_time' in connections.gw-gw {ss}"),
        format!("{p}:21:17: warning: 'local_ts' in {child} {ss} (nvesec selects inner traffic with local_prefixes)"),
        format!("{p}:22:17: warning: 'remote_ts' in {child} {ss} (nvesec selects inner traffic with remote_prefixes)"),
        format!("{p}:23:17: warning: 'esp_proposals' in {child} {ss} (nvesec negotiates GSAs: see gsa_proposals)"),
        format!("{p}:24:17: warning: 'mode' in {child} {ss}"),
        format!("{p}:25:17: warning: 'updown' in {child} {ss}"),
        format!("{p}:40:5: warning: section 'private-moon' in secrets is a strongSwan secret type nvesec does not use; ignored"),
        format!("{p}:45:1: warning: section 'pools' in the top level is a strongSwan feature nvesec does not use; ignored"),
    ]);
    let c = &loaded.config.connections[0];
    assert_eq!(c.name, "gw-gw");
    assert_eq!(c.version, IkeVersion::V2);
    assert_eq!(
        c.remote_addrs,
        [AddrSpec::Ip("192.168.0.2".parse().unwrap())]
    );
    assert_eq!(c.local.auth, AuthMethod::Psk);
    assert_eq!(c.remote.id.as_deref(), Some("sun.strongswan.org"));
    // strongSwan's IKE defaults: 4h rekey, over_time 10%, rand_time = over_time.
    assert_eq!(c.rekey_time, Duration::from_secs(14400));
    assert_eq!(c.over_time, Duration::from_secs(1440));
    assert_eq!(c.rand_time, Duration::from_secs(1440));
    assert_eq!((c.keyingtries, c.dpd_delay), (1, Duration::ZERO));
    assert_eq!(c.fragmentation, Fragmentation::Yes);
    let ch = &c.children[0];
    // rekey_time = 5400 (bare seconds): life_time = +10%, rand_time = the difference.
    assert_eq!(ch.rekey_time, Duration::from_secs(5400));
    assert_eq!(ch.life_time, Duration::from_secs(5940));
    assert_eq!(ch.rand_time, Duration::from_secs(540));
    assert_eq!(ch.replay_window, 1024);
    assert_eq!(
        (ch.start_action, ch.dpd_action),
        (StartAction::Trap, DpdAction::Restart)
    );
    let s = &loaded.config.secrets[0];
    assert_eq!(s.ids, ["moon.strongswan.org", "sun.strongswan.org"]);
    assert_eq!(s.secret.expose().len(), 24);
}

#[test]
fn mesh_policies_name_bare_children() {
    let loaded = load("tests/fixtures/valid/mesh/nvesec.conf").unwrap_or_else(|e| panic!("{e}"));
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let cfg = &loaded.config;
    let red = GsaRef {
        connection: None,
        child: "red".into(),
    };
    assert_eq!(cfg.policies[0].action, Action::Secure(vec![red.clone()]));
    assert!(red.names("nve2", "red") && red.names("nve3", "red") && !red.names("nve3", "blue"));
    let nve2_red = GsaRef {
        connection: Some("nve2".into()),
        child: "red".into(),
    };
    assert!(nve2_red.names("nve2", "red") && !nve2_red.names("nve3", "red"));
    assert_eq!(
        (red.to_string(), nve2_red.to_string()),
        ("red".into(), "nve2.red".into())
    );
    // Printed back as written, and parsed to the same model.
    let text = cfg.to_conf_string(SecretDisplay::Reveal);
    assert!(text.contains("gsas = blue"), "{text}");
}

#[test]
fn shipped_example_loads() {
    let p = "../examples/etc/nvesec/nvesec.conf";
    let loaded = load(p).unwrap_or_else(|e| panic!("{e}"));
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let cfg = &loaded.config;
    let names: Vec<_> = cfg.connections.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["nve2", "lab"]); // lab comes from conf.d/lab.conf
    let nve2 = cfg.connection("nve2").unwrap();
    assert_eq!(
        nve2.local.certs[0].path,
        std::path::Path::new("../examples/etc/nvesec/x509/nve1.pem")
    );
    let red = &nve2.children[0];
    assert_eq!(red.rekey_bytes, 500 << 20);
    assert_eq!(red.life_bytes, (500 << 20) + (50 << 20));
    assert_eq!(red.life_time, Duration::from_secs(3960));
    assert_eq!(
        red.selectors.vnis,
        Selector::Ranges(vec![Range {
            start: 100,
            end: 100
        }])
    );
    assert_eq!(
        red.selectors.protocol_types,
        Selector::Ranges(vec![Range {
            start: 0x6558,
            end: 0x6558
        }])
    );
    let lab = cfg.connection("lab").unwrap();
    assert_eq!(lab.children[0].rand_time, Duration::from_secs(600));
    assert_eq!(
        cfg.daemon,
        Daemon {
            retransmit_timeout: Duration::from_secs(4),
            retransmit_base_milli: 1800,
            retransmit_tries: 5,
            retransmit_limit: Some(Duration::from_secs(30)),
            ..Daemon::default()
        }
    );
    let pol: Vec<_> = cfg.policies.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        pol,
        [
            "bad-version",
            "red-oam",
            "red-out",
            "red-in",
            "blue-out",
            "blue-in",
            "green-out",
            "green-in",
            "green-rest"
        ]
    );
    assert_eq!(
        cfg.policies[2].action,
        Action::Secure(vec![GsaRef {
            connection: Some("nve2".into()),
            child: "red".into()
        }])
    );
    assert_eq!(cfg.overlay.port, 6081);
    assert_eq!(cfg.overlay.networks[1].ifname, "nvs200");
    assert_eq!(cfg.overlay.networks[0].device, DeviceKind::Tap);
    // The PSK never shows in Debug or in the redacted dump.
    let debug = format!("{cfg:?}");
    assert!(debug.contains("Secret(<redacted>)"));
    let psk = String::from_utf8(cfg.secrets[0].secret.expose().to_vec()).unwrap();
    assert!(!debug.contains(&psk));
    let dump = cfg.to_conf_string(SecretDisplay::Redact);
    assert!(!dump.contains(&psk) && !dump.contains(cfg.secrets[0].secret.to_hex().as_str()));
    // The redacted dump must not load as a config with a wrong secret.
    let fs = MemFs::new().with("/x/nvesec.conf", dump.clone());
    let err = parse_str(&fs, std::path::Path::new("/x/nvesec.conf"), &dump).unwrap_err();
    assert!(
        err.errors
            .iter()
            .any(|e| e.message.contains("has no secret")),
        "{err}"
    );
}

#[test]
fn print_then_parse_gives_the_same_model() {
    let p = "../examples/etc/nvesec/nvesec.conf";
    let cfg = load(p).unwrap().config;
    let text = cfg.to_conf_string(SecretDisplay::Reveal);
    // Print into the same directory so credential files resolve the same way.
    let fs = MemFs::new()
        .with("../examples/etc/nvesec/x509/nve1.pem", "")
        .with("../examples/etc/nvesec/x509ca/overlay-ca.pem", "");
    let again =
        parse_str(&fs, std::path::Path::new(p), &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(again.config, cfg);
    assert!(again.warnings.is_empty());
}

#[test]
fn diff_reports_connection_changes() {
    let p = "../examples/etc/nvesec/nvesec.conf";
    let old = load(p).unwrap().config;
    let mut new = old.clone();
    assert!(diff(&old, &new).is_empty());
    new.connections[0].dpd_delay = Duration::from_secs(10);
    new.connections.remove(1);
    let mut extra = new.connections[0].clone();
    extra.name = "nve3".into();
    new.connections.push(extra);
    new.policies.swap(0, 1);
    let d = diff(&old, &new);
    assert_eq!(
        d.connections,
        Changes {
            added: vec!["nve3".into()],
            removed: vec!["lab".into()],
            changed: vec!["nve2".into()]
        }
    );
    assert!(d.policies_changed && !d.overlay_changed && d.secrets.is_empty());
}

#[test]
fn awkward_values_survive_print_and_parse() {
    // parse_any asserts that print -> parse gives the same model; true = it loaded.
    let text = r#"
connections {
    c {
        local_addrs = %any6, 2001:db8::1, nve-2.example.net.
        local {
            auth = psk
            id = "a \"quoted\" id, with # and } and \\ "
        }
        remote {
            auth = psk
            id = x{y\z
        }
        children {
            n {
                rekey_time = 4000000000
                dummy_rate = 5%
                encrypted_options = 0x0103:0x80, 0xff00:0x01
                covered_length = 64
            }
        }
    }
}
secrets {
    ike {
        secret = "some, text # here"
    }
    ike-2 {
        id-a = one
        id-b = "two, three"
        secret = 0x00ff
    }
}
"#;
    let l = parse_str(&MemFs::new(), std::path::Path::new("/x/a.conf"), text);
    let cfg = l.unwrap_or_else(|e| panic!("{e}")).config;
    let c = &cfg.connections[0];
    assert_eq!(
        c.local.id.as_deref(),
        Some(r#"a "quoted" id, with # and } and \ "#)
    );
    assert_eq!(c.remote.id.as_deref(), Some(r"x{y\z"));
    // life_time = 110% of a huge rekey_time saturates at the largest duration.
    assert_eq!(
        c.children[0].life_time,
        Duration::from_secs(u64::from(u32::MAX))
    );
    assert_eq!(cfg.secrets[1].ids, ["one", "two, three"]);
    assert!(nvesec_conf::fuzz::parse_any(text.as_bytes()));
}

#[test]
fn protection_without_matching_proposal() {
    one_error("protection_proposal.conf", "8:33: protection = geo+gao needs an AES-GMAC or sha256 proposal, but gsa_proposals has none; expected e.g. aes256gmac-esn");
}

/// Issue 14 item 9: gsa-dp sends dummies at whole-millisecond intervals; a rate above
/// 1000/s used to round to a 0 ms interval and spin the dataplane. Refused with its position.
#[test]
fn dummy_rate_above_1000_per_second() {
    let text = "connections {\n  c {\n    children {\n      g {\n        dummy_rate = 5000/s\n      }\n    }\n  }\n}\n";
    let fs = MemFs::new();
    let err = parse_str(&fs, std::path::Path::new("t.conf"), text).unwrap_err();
    let msgs: Vec<String> = err.errors.iter().map(ToString::to_string).collect();
    assert!(
        msgs.iter()
            .any(|m| m.starts_with("t.conf:5:") && m.contains("1-1000 packets per second")),
        "{msgs:?}"
    );
    let ok = "connections {\n  c {\n    children {\n      g {\n        dummy_rate = 1000/s\n      }\n    }\n  }\n}\n";
    if let Err(e) = parse_str(&fs, std::path::Path::new("t.conf"), ok) {
        assert!(
            !e.errors.iter().any(|d| d.message.contains("dummy")),
            "{:?}",
            e.errors
        );
    }
}
