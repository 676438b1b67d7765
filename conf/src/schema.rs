//! The schema: every section and key nvesec knows, its type, default and meaning, plus the
//! strongSwan names it accepts but does not use (reported as warnings). The builder checks
//! keys against this table and a test checks docs/config.md against it, so the reference
//! documentation cannot drift from the parser.

/// One key of a section.
#[derive(Debug)]
pub struct KeyDoc {
    pub name: &'static str,
    pub ty: &'static str,
    pub default: &'static str,
    pub doc: &'static str,
}

/// One kind of section.
#[derive(Debug)]
pub struct SectionDoc {
    /// Path with `<placeholders>` for names the operator chooses.
    pub path: &'static str,
    pub keys: &'static [KeyDoc],
    /// Fixed-name subsections nvesec uses (e.g. `children`).
    pub subsections: &'static [&'static str],
    /// strongSwan keys accepted with a warning.
    pub strongswan_keys: &'static [&'static str],
    /// strongSwan subsections accepted (skipped) with a warning.
    pub strongswan_sections: &'static [&'static str],
}

impl SectionDoc {
    pub fn key(&self, name: &str) -> Option<&'static KeyDoc> {
        self.keys.iter().find(|k| k.name == name)
    }
}

const fn k(
    name: &'static str,
    ty: &'static str,
    default: &'static str,
    doc: &'static str,
) -> KeyDoc {
    KeyDoc {
        name,
        ty,
        default,
        doc,
    }
}

pub const ROOT: SectionDoc = SectionDoc {
    path: "(top level)",
    keys: &[],
    subsections: &[
        "connections",
        "secrets",
        "authorities",
        "overlay",
        "policies",
        "nvesecd",
    ],
    strongswan_keys: &[],
    strongswan_sections: &["pools"],
};

pub const DAEMON: SectionDoc = SectionDoc {
    path: "nvesecd",
    keys: &[
        k(
            "retransmit_timeout",
            "duration",
            "4s",
            "First IKE retransmission interval (strongswan.conf charon.retransmit_timeout)",
        ),
        k(
            "retransmit_base",
            "1.0-10.0",
            "1.8",
            "Each interval is the previous one times this (charon.retransmit_base)",
        ),
        k(
            "retransmit_tries",
            "0-100",
            "5",
            "Retransmissions before the peer is declared dead (charon.retransmit_tries)",
        ),
        k(
            "retransmit_limit",
            "duration",
            "(none)",
            "Upper bound on one interval (charon.retransmit_limit)",
        ),
        k(
            "cookie_threshold",
            "0-1000000",
            "30",
            "Half-open IKE SAs above which IKE_SA_INIT needs a COOKIE (charon.cookie_threshold)",
        ),
        k(
            "init_limit_half_open",
            "0-1000000",
            "1000",
            "Most half-open IKE SAs in all, even with valid cookies; 0 = unlimited (charon.init_limit_half_open, whose default is 0)",
        ),
        k(
            "block_threshold",
            "0-1000000",
            "5",
            "Most half-open IKE SAs per peer IP; 0 = unlimited (charon.block_threshold)",
        ),
        k(
            "ike_rate_limit",
            "duration",
            "1s",
            "Minimum spacing of new IKE SAs answered per peer IP; 0s = off",
        ),
        k(
            "ike_read_budget",
            "1-65536",
            "64",
            "IKE datagrams read per event-loop turn before timers, keying and control run",
        ),
        k(
            "ike_send_queue",
            "1-1000000",
            "4096",
            "Most IKE datagrams queued for sending; beyond, new ones are dropped and counted",
        ),
    ],
    subsections: &[],
    strongswan_keys: &["retransmit_jitter"],
    strongswan_sections: &[],
};

pub const CONNECTION: SectionDoc = SectionDoc {
    path: "connections.<conn>",
    keys: &[
        k("version", "0|2", "0", "IKE version: 0 = any (IKEv2 is used), 2 = IKEv2; IKEv1 is not supported"),
        k("local_addrs", "address list", "%any", "Local underlay addresses: IPs, DNS names, %any, %any4, %any6"),
        k("remote_addrs", "address list", "%any", "Remote underlay addresses: IPs, subnets (responder only), DNS names, %any"),
        k("local_port", "port", "500", "Local IKE port"),
        k("remote_port", "port", "500", "Remote IKE port"),
        k("proposals", "proposal list", "default", "IKE proposals, e.g. aes256gcm16-prfsha384-x25519; algorithms: aes128gcm16, aes256gcm16, prfsha256, prfsha384, x25519"),
        k("dpd_delay", "duration", "0s", "Liveness check interval when idle (0 = off)"),
        k("rekey_time", "duration", "4h", "IKE SA rekeying interval (0 = never)"),
        k("over_time", "duration or %", "10% of rekey_time", "Hard IKE SA lifetime beyond rekey_time"),
        k("rand_time", "duration or %", "over_time", "Random time subtracted from rekey_time"),
        k("keyingtries", "count", "1", "Initiation attempts before giving up (0 = forever)"),
        k("unique", "no|never|keep|replace", "no", "Uniqueness policy for IKE SAs with the same identities"),
        k("fragmentation", "yes|accept|force|no", "yes", "IKEv2 fragmentation (RFC 7383)"),
        k("childless", "allow|prefer|force|never", "allow", "Childless IKE SA initiation (RFC 6023); nvesec peers negotiate GSAs afterwards, plain IKEv2 peers stay childless"),
        k("send_certreq", "yes|no", "yes", "Send certificate requests"),
        k("send_cert", "ifasked|always|never", "ifasked", "When to send our certificate"),
    ],
    subsections: &["local", "remote", "children"],
    strongswan_keys: &[
        "encap", "mobike", "dpd_timeout", "reauth_time", "pull", "dscp", "aggressive", "ppk_id",
        "ppk_required", "if_id_in", "if_id_out", "vips", "pools", "mediation", "mediated_by",
        "mediation_peer", "ocsp", "keyingtries_max",
    ],
    strongswan_sections: &[],
};

pub const AUTH: SectionDoc = SectionDoc {
    path: "connections.<conn>.local|remote",
    keys: &[
        k("auth", "pubkey|psk", "pubkey", "Authentication method"),
        k(
            "id",
            "identity",
            "the underlay address",
            "IKE identity, e.g. nve1.example.net or \"CN=nve1\"",
        ),
        k(
            "certs",
            "file list",
            "(none)",
            "Certificates, relative to x509/ beside the main file (local)",
        ),
        k(
            "cacerts",
            "file list",
            "(none)",
            "CA certificates to trust, relative to x509ca/ (remote)",
        ),
    ],
    subsections: &[],
    strongswan_keys: &[
        "pubkeys",
        "revocation",
        "groups",
        "cert_policy",
        "ca_id",
        "eap_id",
        "aaa_id",
        "xauth_id",
        "round",
    ],
    strongswan_sections: &[],
};

pub const CHILD: SectionDoc = SectionDoc {
    path: "connections.<conn>.children.<child>",
    keys: &[
        k("gsa_proposals", "proposal list", "default", "GSA proposals, e.g. aes256gcm16-esn; algorithms: aes128gcm16, aes256gcm16, aes128gmac, aes256gmac, sha256, esn, x25519 (PFS)"),
        k("protection", "geo|gao|geo+gao", "geo", "Geneve Security Options produced: encryption (GEO), authentication only (GAO), or both"),
        k("encrypted_options", "all|none|option list", "none", "Geneve options moved into the GEO ciphertext (class:type list)"),
        k("authenticated_options", "all|none|option list", "all", "Geneve options covered by the ICV"),
        k("covered_length", "all|bytes|inner-l4", "all", "Payload covered: all, the first N bytes, or up to the end of the inner L4 header"),
        k("padding", "0-255", "0", "Pad the encrypted part to a multiple of N bytes (0 = off)"),
        k("hide_header", "yes|no", "no", "Carry VNI and Protocol Type inside the GEO ciphertext"),
        k("dummy_rate", "off|N/s|N%", "off", "Dummy packets: per second, or percent of the data rate"),
        k("start_action", "none|trap|start|trap|start", "none", "What to do when the configuration is loaded"),
        k("dpd_action", "clear|trap|restart", "clear", "What to do when the peer is dead"),
        k("close_action", "none|trap|start", "none", "What to do when the peer closes the GSA"),
        k("rekey_time", "duration", "1h", "GSA rekeying interval (0 = never)"),
        k("life_time", "duration or %", "rekey_time + 10%", "Hard GSA lifetime; must exceed rekey_time"),
        k("rand_time", "duration or %", "life_time - rekey_time", "Random time subtracted from rekey_time"),
        k("rekey_bytes", "bytes", "0", "Rekey after this many bytes (0 = off; k/M/G = 1024-based)"),
        k("life_bytes", "bytes", "rekey_bytes + 10%", "Hard byte limit (0 = off)"),
        k("rekey_packets", "packets", "0", "Rekey after this many packets (0 = off; k/M/G = 1000-based)"),
        k("life_packets", "packets", "rekey_packets + 10%", "Hard packet limit (0 = off)"),
        k("replay_window", "0-4096", "1024", "Anti-replay window in packets (0 = off)"),
        k("vnis", "any|ranges", "any", "VNIs carried by the GSA (TS_GENEVE)"),
        k("protocol_types", "any|ranges", "any", "Geneve Protocol Types; names ipv4, ipv6, ethernet, arp"),
        k("local_prefixes", "prefix list", "(any)", "Inner source prefixes"),
        k("remote_prefixes", "prefix list", "(any)", "Inner destination prefixes"),
        k("ip_proto", "any|opaque|ranges", "any", "Inner IP protocols; names tcp, udp, icmp, esp, ..."),
        k("local_ports", "any|opaque|ranges", "opaque", "Inner source ports"),
        k("remote_ports", "any|opaque|ranges", "opaque", "Inner destination ports"),
    ],
    subsections: &[],
    strongswan_keys: &[
        "ah_proposals", "esp_proposals", "sha256_96", "local_ts", "remote_ts", "mode",
        "policies", "policies_fwd_out", "priority", "interface", "reqid", "mark_in",
        "mark_in_sa", "mark_out", "set_mark_in", "set_mark_out", "if_id_in", "if_id_out",
        "label", "label_mode", "tfc_padding", "hw_offload", "copy_df", "copy_ecn", "copy_dscp",
        "updown", "hostaccess", "inactivity", "ipcomp", "per_cpu_sas", "rand_bytes",
        "rand_packets", "dpd_timeout",
    ],
    strongswan_sections: &[],
};

pub const IKE_SECRET: SectionDoc = SectionDoc {
    path: "secrets.ike<suffix>",
    keys: &[
        k(
            "id<suffix>",
            "identity",
            "(any)",
            "Identities the secret belongs to; several id keys allowed (id, id-1, id_b, ...)",
        ),
        k(
            "secret",
            "string",
            "(required)",
            "The PSK: text, 0x followed by hex, or 0s followed by base64",
        ),
    ],
    subsections: &[],
    strongswan_keys: &[],
    strongswan_sections: &[],
};

/// strongSwan secret kinds nvesec ignores (with a warning).
pub const STRONGSWAN_SECRETS: &[&str] = &[
    "eap", "xauth", "ntlm", "ppk", "private", "rsa", "ecdsa", "pkcs8", "pkcs12", "token",
];

pub const AUTHORITY: SectionDoc = SectionDoc {
    path: "authorities.<name>",
    keys: &[
        k(
            "cacert",
            "file",
            "(required)",
            "CA certificate, relative to x509ca/",
        ),
        k("crl_uris", "URI list", "(none)", "CRL distribution points"),
        k("ocsp_uris", "URI list", "(none)", "OCSP responders"),
    ],
    subsections: &[],
    strongswan_keys: &["file", "handle", "slot", "module", "cert_uri_base"],
    strongswan_sections: &[],
};

pub const OVERLAY: SectionDoc = SectionDoc {
    path: "overlay",
    keys: &[
        k(
            "local_addrs",
            "IP list",
            "(any)",
            "Underlay addresses Geneve is sent from and received on",
        ),
        k("port", "port", "6081", "Geneve UDP port"),
        k(
            "option_class",
            "0-65535",
            "0xff00",
            "Option class of the Geneve Security Options",
        ),
    ],
    subsections: &["networks"],
    strongswan_keys: &[],
    strongswan_sections: &[],
};

pub const NETWORK: SectionDoc = SectionDoc {
    path: "overlay.networks.<net>",
    keys: &[
        k(
            "vni",
            "0-16777215",
            "(required)",
            "Virtual Network Identifier",
        ),
        k(
            "device",
            "tun|tap",
            "tun",
            "tun carries IP packets (Protocol Type ipv4/ipv6), tap Ethernet frames (0x6558)",
        ),
        k(
            "ifname",
            "name",
            "nvs<vni>",
            "Device name (at most 15 characters)",
        ),
        k(
            "mtu",
            "576-9000",
            "1400",
            "Device MTU; leave room for outer headers and GSOs",
        ),
        k(
            "address",
            "address/len",
            "(none)",
            "Local inner address, e.g. 10.100.0.1/24",
        ),
    ],
    subsections: &["peers"],
    strongswan_keys: &[],
    strongswan_sections: &[],
};

pub const PEER: SectionDoc = SectionDoc {
    path: "overlay.networks.<net>.peers.<peer>",
    keys: &[
        k(
            "underlay",
            "IP",
            "(required)",
            "The peer NVE's underlay address",
        ),
        k(
            "prefixes",
            "prefix list",
            "(none)",
            "Inner prefixes reached through this peer",
        ),
    ],
    subsections: &[],
    strongswan_keys: &[],
    strongswan_sections: &[],
};

pub const POLICY: SectionDoc = SectionDoc {
    path: "policies.<name>",
    keys: &[
        k("direction", "out|in", "out", "Policies are unidirectional"),
        k("version", "any|ranges", "any", "Geneve version (0-3)"),
        k("oam", "any|0|1", "any", "O bit"),
        k("critical", "any|0|1", "any", "C bit"),
        k("rsv", "any|ranges", "any", "Reserved bits after C (0-63)"),
        k(
            "protocol_types",
            "any|ranges",
            "any",
            "Protocol Types; names ipv4, ipv6, ethernet, arp",
        ),
        k("vnis", "any|ranges", "any", "VNIs"),
        k(
            "required_options",
            "opaque|option list",
            "opaque",
            "Geneve options that must be present",
        ),
        k(
            "ip_proto",
            "any|opaque|ranges",
            "opaque",
            "Inner IP protocol; opaque for non-IP payloads",
        ),
        k(
            "src_ports",
            "any|opaque|ranges",
            "opaque",
            "Inner source ports",
        ),
        k(
            "dst_ports",
            "any|opaque|ranges",
            "opaque",
            "Inner destination ports",
        ),
        k(
            "action",
            "secure|bypass|discard",
            "(required)",
            "What to do with matching packets",
        ),
        k(
            "gsas",
            "child or conn.child list",
            "(none)",
            "For secure: the children whose GSAs apply, in order; a bare child name means that child of the connection to the packet's peer NVE",
        ),
    ],
    subsections: &[],
    strongswan_keys: &[],
    strongswan_sections: &[],
};

/// Every section kind, in documentation order.
pub const ALL: &[&SectionDoc] = &[
    &CONNECTION,
    &AUTH,
    &CHILD,
    &IKE_SECRET,
    &AUTHORITY,
    &OVERLAY,
    &NETWORK,
    &PEER,
    &POLICY,
    &DAEMON,
];
