//! Turns the syntax tree into the typed model: checks every key against the schema, parses
//! values, applies strongSwan's defaults and runs the cross-section checks (secrets for PSK
//! connections, credential files, policy references, shadowed policies). All problems are
//! collected; nothing stops at the first one.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::diag::{suggest, Pos, Sink};
use crate::fs::Fs;
use crate::model::*;
use crate::prefix::{IfAddr, Prefix};
use crate::psk::{self, Ambiguity, PskError};
use crate::schema::{self, SectionDoc};
use crate::secret::Secret;
use crate::syntax::{Section, Value};
use crate::values::{self, TimeSpec};

/// Positions kept for the checks that span sections.
struct PskUse {
    /// Index in `Config::connections`.
    conn: usize,
    pos: Pos,
}

pub(crate) struct Builder<'a> {
    sink: &'a mut Sink,
    fs: &'a dyn Fs,
    base: PathBuf,
    psk_uses: Vec<PskUse>,
    /// Where each of `Config::secrets` is written (its section).
    secret_pos: Vec<Pos>,
    policy_pos: Vec<Pos>,
    /// Every `gsas` item: the reference, its policy, where it is written.
    gsa_refs: Vec<(GsaRef, String, Pos)>,
}

/// Human-readable duration in the largest exact unit.
pub(crate) fn fmt_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => "0s".to_string(),
        _ if s.is_multiple_of(86400) => format!("{}d", s / 86400),
        _ if s.is_multiple_of(3600) => format!("{}h", s / 3600),
        _ if s.is_multiple_of(60) => format!("{}m", s / 60),
        _ => format!("{s}s"),
    }
}

fn value<'s>(sec: &'s Section, key: &str) -> Option<&'s Value> {
    sec.keys.iter().find(|k| k.key == key).map(|k| &k.value)
}

fn sub<'s>(sec: &'s Section, name: &str) -> Option<&'s Section> {
    sec.sections.iter().find(|s| s.name == name)
}

const IKE_ALGS: &[&str] = &[
    "aes128gcm16",
    "aes256gcm16",
    "aes128gcm",
    "aes256gcm",
    "prfsha256",
    "prfsha384",
    "x25519",
    "curve25519",
];
const GSA_ALGS: &[&str] = &[
    "aes128gcm16",
    "aes256gcm16",
    "aes128gcm",
    "aes256gcm",
    "aes128gmac",
    "aes256gmac",
    "sha256",
    "esn",
    "noesn",
    "x25519",
    "curve25519",
];

impl<'a> Builder<'a> {
    pub fn new(sink: &'a mut Sink, fs: &'a dyn Fs, base: PathBuf) -> Self {
        Builder {
            sink,
            fs,
            base,
            psk_uses: Vec::new(),
            secret_pos: Vec::new(),
            policy_pos: Vec::new(),
            gsa_refs: Vec::new(),
        }
    }

    pub fn build(mut self, root: &Section) -> Config {
        self.check_names(root, &schema::ROOT, "the top level", false);
        let mut cfg = Config::default();
        if let Some(conns) = sub(root, "connections") {
            self.no_keys(conns, "connections");
            cfg.connections = conns
                .sections
                .iter()
                .enumerate()
                .map(|(i, c)| self.connection(i, c))
                .collect();
        }
        if let Some(secrets) = sub(root, "secrets") {
            cfg.secrets = self.secrets(secrets);
        }
        if let Some(auths) = sub(root, "authorities") {
            self.no_keys(auths, "authorities");
            cfg.authorities = auths
                .sections
                .iter()
                .filter_map(|a| self.authority(a))
                .collect();
        }
        if let Some(ov) = sub(root, "overlay") {
            cfg.overlay = self.overlay(ov);
        }
        if let Some(pols) = sub(root, "policies") {
            self.no_keys(pols, "policies");
            cfg.policies = pols
                .sections
                .iter()
                .filter_map(|p| self.policy(p))
                .collect();
        }
        if let Some(d) = sub(root, "nvesecd") {
            cfg.daemon = self.daemon(d);
        }
        self.check_psk(&cfg);
        self.check_remote_ca(&cfg, root);
        self.check_gsa_refs(&cfg);
        self.check_shadowed(&cfg);
        cfg
    }

    // ----- key checking -------------------------------------------------------------

    /// Reports keys and subsections the schema does not know: strongSwan names are warnings,
    /// anything else an error with a suggestion.
    fn check_names(&mut self, sec: &Section, doc: &SectionDoc, path: &str, ids: bool) {
        for kv in &sec.keys {
            let known = doc.key(&kv.key).is_some() || (ids && kv.key.starts_with("id"));
            if known {
                continue;
            }
            if doc.strongswan_keys.contains(&kv.key.as_str()) {
                let hint = match kv.key.as_str() {
                    "esp_proposals" | "ah_proposals" => {
                        " (nvesec negotiates GSAs: see gsa_proposals)"
                    }
                    "local_ts" => " (nvesec selects inner traffic with local_prefixes)",
                    "remote_ts" => " (nvesec selects inner traffic with remote_prefixes)",
                    _ => "",
                };
                self.sink.warn(
                    &kv.key_pos,
                    format!(
                        "'{}' in {path} is a strongSwan setting nvesec does not use; ignored{hint}",
                        kv.key
                    ),
                );
                continue;
            }
            if doc.subsections.contains(&kv.key.as_str()) {
                self.sink.error(
                    &kv.key_pos,
                    format!(
                        "'{}' in {path} is a section, not a key; expected {} {{ ... }}",
                        kv.key, kv.key
                    ),
                );
                continue;
            }
            let names = doc.keys.iter().map(|k| k.name);
            let msg = format!("unknown key '{}' in {path}", kv.key);
            self.unknown(&kv.key_pos, msg, &kv.key, names);
        }
        for s in &sec.sections {
            if doc.subsections.contains(&s.name.as_str()) {
                continue;
            }
            let rounds = doc.subsections.contains(&"local")
                && (s.name.starts_with("local") || s.name.starts_with("remote"));
            if rounds || doc.strongswan_sections.contains(&s.name.as_str()) {
                self.sink.warn(
                    &s.pos,
                    format!("section '{}' in {path} is a strongSwan feature nvesec does not use; ignored", s.name),
                );
                continue;
            }
            let msg = format!("unknown section '{}' in {path}", s.name);
            self.unknown(&s.pos, msg, &s.name, doc.subsections.iter().copied());
        }
    }

    fn unknown<'n>(
        &mut self,
        pos: &Pos,
        msg: String,
        word: &str,
        names: impl Iterator<Item = &'n str> + Clone,
    ) {
        match suggest(word, names.clone()) {
            Some(s) => self.sink.error(pos, format!("{msg}; did you mean {s}?")),
            None => {
                let all: Vec<&str> = names.collect();
                let expected = if all.is_empty() {
                    "nothing here".to_string()
                } else {
                    all.join(", ")
                };
                self.sink
                    .error(pos, format!("{msg}; expected one of: {expected}"));
            }
        }
    }

    fn no_keys(&mut self, sec: &Section, path: &str) {
        for kv in &sec.keys {
            self.sink.error(
                &kv.key_pos,
                format!(
                    "unexpected key '{}' in {path}; expected only named sections here",
                    kv.key
                ),
            );
        }
    }

    // ----- typed getters --------------------------------------------------------------

    fn get<T>(
        &mut self,
        sec: &Section,
        key: &str,
        default: T,
        f: impl Fn(&str) -> Result<T, String>,
    ) -> T {
        match value(sec, key) {
            None => default,
            Some(v) => match f(&v.text) {
                Ok(t) => t,
                Err(e) => {
                    self.sink.error(&v.pos, format!("{key}: {e}"));
                    default
                }
            },
        }
    }

    fn keyword<T: Copy>(
        &mut self,
        sec: &Section,
        key: &str,
        default: T,
        parse: fn(&str) -> Option<T>,
        expected: String,
    ) -> T {
        self.get(sec, key, default, |s| {
            parse(s).ok_or_else(|| format!("'{s}' is not a valid value; expected {expected}"))
        })
    }

    fn list<T>(
        &mut self,
        sec: &Section,
        key: &str,
        f: impl Fn(&str) -> Result<T, String>,
    ) -> Vec<T> {
        let Some(v) = value(sec, key) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (item, pos) in values::items(v) {
            match f(&item) {
                Ok(t) => out.push(t),
                Err(e) => self.sink.error(&pos, format!("{key}: {e}")),
            }
        }
        out
    }

    fn selector(
        &mut self,
        sec: &Section,
        key: &str,
        default: Selector,
        max: u32,
        opaque: bool,
        names: &[(&str, u32)],
    ) -> Selector {
        let Some(v) = value(sec, key) else {
            return default;
        };
        match values::selector(v, max, opaque, names) {
            Ok(s) => s,
            Err((pos, e)) => {
                self.sink.error(&pos, format!("{key}: {e}"));
                default
            }
        }
    }

    fn time(&mut self, sec: &Section, key: &str, default: TimeSpec) -> TimeSpec {
        self.get(sec, key, default, values::time_spec)
    }

    fn text(&mut self, sec: &Section, key: &str) -> Option<String> {
        value(sec, key).map(|v| v.text.clone())
    }

    fn required<'s>(
        &mut self,
        sec: &'s Section,
        key: &str,
        what: &str,
        expected: &str,
    ) -> Option<&'s Value> {
        let v = value(sec, key);
        if v.is_none() {
            self.sink.error(
                &sec.pos,
                format!(
                    "{what} '{}' has no {key}; expected {key} = {expected}",
                    sec.name
                ),
            );
        }
        v
    }

    // ----- connections ----------------------------------------------------------------

    fn connection(&mut self, index: usize, sec: &Section) -> Connection {
        let path = format!("connections.{}", sec.name);
        self.check_names(sec, &schema::CONNECTION, &path, false);
        let rekey_time = self.get(
            sec,
            "rekey_time",
            Duration::from_secs(4 * 3600),
            values::duration,
        );
        let over_time = self
            .time(sec, "over_time", TimeSpec::Percent(10))
            .resolve(rekey_time);
        let rand_time = self
            .time(sec, "rand_time", TimeSpec::Abs(over_time))
            .resolve(rekey_time);
        let any = vec![AddrSpec::Any];
        let local_addrs = self.list(sec, "local_addrs", addr_spec);
        let remote_addrs = self.list(sec, "remote_addrs", addr_spec);
        let conn = Connection {
            name: sec.name.clone(),
            version: self.keyword(
                sec,
                "version",
                IkeVersion::Any,
                IkeVersion::parse,
                "0|2 (IKEv1 is not supported)".into(),
            ),
            local_addrs: if local_addrs.is_empty() {
                any.clone()
            } else {
                local_addrs
            },
            remote_addrs: if remote_addrs.is_empty() {
                any
            } else {
                remote_addrs
            },
            local_port: self.get(sec, "local_port", 500, port),
            remote_port: self.get(sec, "remote_port", 500, port),
            proposals: self.proposals(sec, "proposals", IKE_ALGS, true),
            dpd_delay: self.get(sec, "dpd_delay", Duration::ZERO, values::duration),
            rekey_time,
            over_time,
            rand_time,
            keyingtries: self.get(sec, "keyingtries", 1, |s| {
                values::uint(s, 0, u64::from(u32::MAX)).map(|n| n as u32)
            }),
            unique: self.keyword(sec, "unique", Unique::No, Unique::parse, Unique::expected()),
            fragmentation: self.keyword(
                sec,
                "fragmentation",
                Fragmentation::Yes,
                Fragmentation::parse,
                Fragmentation::expected(),
            ),
            childless: self.keyword(
                sec,
                "childless",
                Childless::Allow,
                Childless::parse,
                Childless::expected(),
            ),
            send_certreq: self.get(sec, "send_certreq", true, values::boolean),
            send_cert: self.keyword(
                sec,
                "send_cert",
                SendCert::IfAsked,
                SendCert::parse,
                SendCert::expected(),
            ),
            local: self.auth(sec, "local", &path),
            remote: self.auth(sec, "remote", &path),
            children: match sub(sec, "children") {
                None => Vec::new(),
                Some(ch) => {
                    self.no_keys(ch, &format!("{path}.children"));
                    ch.sections.iter().map(|c| self.child(c, &path)).collect()
                }
            },
        };
        self.check_local_cert(sec, &conn);
        let psk = [(&conn.local, "local"), (&conn.remote, "remote")]
            .into_iter()
            .find(|(a, _)| a.auth == AuthMethod::Psk);
        if let Some((_, side)) = psk {
            let pos = sub(sec, side)
                .and_then(|s| value(s, "auth"))
                .map_or(sec.pos.clone(), |v| v.pos.clone());
            self.psk_uses.push(PskUse { conn: index, pos });
        }
        conn
    }

    fn proposals(&mut self, sec: &Section, key: &str, algs: &[&str], ike: bool) -> Vec<String> {
        let list = self.list(sec, key, |p| {
            if p == "default" {
                return Ok(p.to_string());
            }
            for tok in p.split('-') {
                if !algs.contains(&tok) {
                    return Err(format!("unsupported algorithm '{tok}' in proposal '{p}'; expected {}", algs.join(", ")));
                }
            }
            let has = |set: &[&str]| p.split('-').any(|t| set.contains(&t));
            if ike && !(has(&IKE_ALGS[..4]) && has(&IKE_ALGS[6..])) {
                return Err(format!("proposal '{p}' lacks an encryption algorithm or a key exchange; expected e.g. aes256gcm16-prfsha384-x25519"));
            }
            if !ike && !has(&GSA_ALGS[..7]) {
                return Err(format!("proposal '{p}' has no protection algorithm; expected e.g. aes256gcm16-esn or aes256gmac-esn"));
            }
            Ok(p.to_string())
        });
        if list.is_empty() {
            vec!["default".to_string()]
        } else {
            list
        }
    }

    fn auth(&mut self, conn: &Section, side: &str, path: &str) -> Auth {
        let default = Auth {
            auth: AuthMethod::Pubkey,
            id: None,
            certs: Vec::new(),
            cacerts: Vec::new(),
        };
        let Some(sec) = sub(conn, side) else {
            return default;
        };
        self.check_names(sec, &schema::AUTH, &format!("{path}.{side}"), false);
        Auth {
            auth: self.keyword(
                sec,
                "auth",
                AuthMethod::Pubkey,
                AuthMethod::parse,
                AuthMethod::expected(),
            ),
            id: self.text(sec, "id").filter(|s| !s.is_empty()),
            certs: self.cred_files(sec, "certs", "x509"),
            cacerts: self.cred_files(sec, "cacerts", "x509ca"),
        }
    }

    fn cred_path(&self, name: &str, dir: &str) -> PathBuf {
        let p = Path::new(name);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base.join(dir).join(p)
        }
    }

    fn cred_file(&mut self, name: &str, pos: &Pos, key: &str, dir: &str) -> CredFile {
        let path = self.cred_path(name, dir);
        if !self.fs.is_file(&path) {
            self.sink.error(pos, format!("{key}: file '{name}' not found at {}; expected a certificate file in {dir}/ beside the configuration", path.display()));
        }
        CredFile {
            name: name.to_string(),
            path,
        }
    }

    fn cred_files(&mut self, sec: &Section, key: &str, dir: &str) -> Vec<CredFile> {
        let Some(v) = value(sec, key) else {
            return Vec::new();
        };
        values::items(v)
            .into_iter()
            .map(|(name, pos)| self.cred_file(&name, &pos, key, dir))
            .collect()
    }

    fn check_local_cert(&mut self, sec: &Section, conn: &Connection) {
        if conn.local.auth == AuthMethod::Pubkey && conn.local.certs.is_empty() {
            let pos = sub(sec, "local").map_or(&sec.pos, |s| &s.pos).clone();
            self.sink.error(&pos, format!("connection '{}' authenticates with pubkey but names no certificate; expected local {{ certs = <file in x509/> }} or auth = psk", conn.name));
        }
    }

    fn check_remote_ca(&mut self, cfg: &Config, root: &Section) {
        let dir_has_ca = self
            .fs
            .list_dir(&self.base.join("x509ca"))
            .map(|l| !l.is_empty())
            .unwrap_or(false);
        if dir_has_ca || !cfg.authorities.is_empty() {
            return;
        }
        let Some(conns) = sub(root, "connections") else {
            return;
        };
        for conn in &cfg.connections {
            if conn.remote.auth != AuthMethod::Pubkey || !conn.remote.cacerts.is_empty() {
                continue;
            }
            let sec = sub(conns, &conn.name).expect("built from this tree");
            let pos = sub(sec, "remote").map_or(&sec.pos, |s| &s.pos).clone();
            self.sink.error(&pos, format!("connection '{}' authenticates the peer with pubkey but no CA certificate is available; expected remote {{ cacerts = <file in x509ca/> }}, an authorities section, or a certificate in x509ca/", conn.name));
        }
    }

    /// Every PSK connection must have exactly one best secret (crate::psk): none is an error
    /// at the connection, two different keys that match equally well are one at the first
    /// secret, naming the second with its position.
    fn check_psk(&mut self, cfg: &Config) {
        for u in std::mem::take(&mut self.psk_uses) {
            let conn = &cfg.connections[u.conn];
            match psk::select(&cfg.secrets, conn) {
                Ok(_) => {}
                Err(e @ PskError::NoSecret { .. }) => self.sink.error(
                    &u.pos,
                    format!("connection '{}' uses auth = psk but {e}", conn.name),
                ),
                Err(PskError::Ambiguous(a)) => {
                    let Ambiguity {
                        first,
                        second,
                        first_name,
                        second_name,
                        how,
                        local,
                        remote,
                    } = *a;
                    let at = self.secret_pos[first].clone();
                    let msg = format!(
                        "ambiguous PSK for connection '{}' (auth = psk at {}): secrets.{first_name} and secrets.{second_name} (at {}) both {how} but hold different keys; expected one secret that names both {local} and {remote}, or only one of them left",
                        conn.name, u.pos, self.secret_pos[second]
                    );
                    self.sink.error(&at, msg);
                }
            }
        }
    }

    // ----- children -------------------------------------------------------------------

    fn child(&mut self, sec: &Section, conn_path: &str) -> Child {
        let path = format!("{conn_path}.children.{}", sec.name);
        self.check_names(sec, &schema::CHILD, &path, false);
        let rekey_time = self.get(
            sec,
            "rekey_time",
            Duration::from_secs(3600),
            values::duration,
        );
        let life_time = self
            .time(sec, "life_time", TimeSpec::Percent(110))
            .resolve(rekey_time);
        let rand_time = self
            .time(
                sec,
                "rand_time",
                TimeSpec::Abs(life_time.saturating_sub(rekey_time)),
            )
            .resolve(rekey_time);
        self.check_lifetime(sec, rekey_time, life_time, rand_time);
        let rekey_bytes = self.get(sec, "rekey_bytes", 0, values::bytes);
        let life_bytes = self.get(
            sec,
            "life_bytes",
            rekey_bytes.saturating_add(rekey_bytes / 10),
            values::bytes,
        );
        let rekey_packets = self.get(sec, "rekey_packets", 0, values::packets);
        let life_packets = self.get(
            sec,
            "life_packets",
            rekey_packets.saturating_add(rekey_packets / 10),
            values::packets,
        );
        self.check_limit(sec, "bytes", rekey_bytes, life_bytes);
        self.check_limit(sec, "packets", rekey_packets, life_packets);
        let child = Child {
            name: sec.name.clone(),
            gsa_proposals: self.proposals(sec, "gsa_proposals", GSA_ALGS, false),
            protection: self.keyword(
                sec,
                "protection",
                Protection::Geo,
                Protection::parse,
                Protection::expected(),
            ),
            encrypted_options: self.get(sec, "encrypted_options", OptionSet::None, option_set),
            authenticated_options: self.get(
                sec,
                "authenticated_options",
                OptionSet::All,
                option_set,
            ),
            covered_length: self.get(sec, "covered_length", CoveredLength::All, covered_length),
            padding: self.get(sec, "padding", 0, |s| {
                values::uint(s, 0, 255).map(|n| n as u8)
            }),
            hide_header: self.get(sec, "hide_header", false, values::boolean),
            dummy_rate: self.get(sec, "dummy_rate", DummyRate::Off, dummy_rate),
            start_action: self.keyword(
                sec,
                "start_action",
                StartAction::None,
                StartAction::parse,
                "none|trap|start (or trap|start)".into(),
            ),
            dpd_action: self.keyword(
                sec,
                "dpd_action",
                DpdAction::Clear,
                DpdAction::parse,
                DpdAction::expected(),
            ),
            close_action: self.keyword(
                sec,
                "close_action",
                CloseAction::None,
                CloseAction::parse,
                CloseAction::expected(),
            ),
            rekey_time,
            life_time,
            rand_time,
            rekey_bytes,
            life_bytes,
            rekey_packets,
            life_packets,
            replay_window: self.get(sec, "replay_window", 1024, |s| {
                values::uint(s, 0, 4096).map(|n| n as u32).map_err(|_| {
                    format!("'{s}' is outside the supported window; expected 0 to 4096 packets")
                })
            }),
            selectors: GsaSelectors {
                vnis: self.selector(sec, "vnis", Selector::Any, 0xff_ffff, false, &[]),
                protocol_types: self.selector(
                    sec,
                    "protocol_types",
                    Selector::Any,
                    0xffff,
                    false,
                    values::PROTOCOL_TYPES,
                ),
                local_prefixes: self.list(sec, "local_prefixes", str::parse::<Prefix>),
                remote_prefixes: self.list(sec, "remote_prefixes", str::parse::<Prefix>),
                ip_proto: self.selector(
                    sec,
                    "ip_proto",
                    Selector::Any,
                    255,
                    true,
                    values::IP_PROTOCOLS,
                ),
                local_ports: self.selector(sec, "local_ports", Selector::Opaque, 0xffff, true, &[]),
                remote_ports: self.selector(
                    sec,
                    "remote_ports",
                    Selector::Opaque,
                    0xffff,
                    true,
                    &[],
                ),
            },
        };
        self.check_protection(sec, &child);
        child
    }

    /// GEO needs an AEAD (AES-GCM) proposal and GAO a MAC (AES-GMAC or HMAC-SHA-256)
    /// proposal (DESIGN.md, GSA negotiation); otherwise the child could never be negotiated.
    fn check_protection(&mut self, sec: &Section, child: &Child) {
        let props = &child.gsa_proposals;
        if props.iter().any(|p| p == "default") {
            return;
        }
        let has = |algs: &[&str]| {
            props
                .iter()
                .any(|p| p.split('-').any(|t| algs.contains(&t)))
        };
        let geo = has(&GSA_ALGS[..4]);
        let gao = has(&GSA_ALGS[4..7]);
        let (need_geo, need_gao) = match child.protection {
            Protection::Geo => (true, false),
            Protection::Gao => (false, true),
            Protection::GeoGao => (true, true),
        };
        let pos = value(sec, "gsa_proposals").map_or(sec.pos.clone(), |v| v.pos.clone());
        let p = child.protection.as_str();
        if need_geo && !geo {
            self.sink.error(&pos, format!("protection = {p} needs an AES-GCM proposal, but gsa_proposals has none; expected e.g. aes256gcm16-esn"));
        }
        if need_gao && !gao {
            self.sink.error(&pos, format!("protection = {p} needs an AES-GMAC or sha256 proposal, but gsa_proposals has none; expected e.g. aes256gmac-esn"));
        }
    }

    /// strongSwan closes a CHILD_SA at life_time; if that is not after rekey_time the SA dies
    /// before it is replaced (vyos-1x#1836).
    fn check_lifetime(&mut self, sec: &Section, rekey: Duration, life: Duration, rand: Duration) {
        let at = |k: &str| value(sec, k).map(|v| v.pos.clone());
        if !rekey.is_zero() && life <= rekey {
            let pos = at("life_time")
                .or_else(|| at("rekey_time"))
                .unwrap_or_else(|| sec.pos.clone());
            self.sink.error(&pos, format!(
                "life_time ({}) is not longer than rekey_time ({}), so the GSA would expire before it is replaced; expected life_time > rekey_time, e.g. life_time = {}",
                fmt_duration(life), fmt_duration(rekey), fmt_duration(rekey + rekey / 10)));
        } else if !rekey.is_zero() && rand >= rekey {
            let pos = at("rand_time").unwrap_or_else(|| sec.pos.clone());
            self.sink.error(&pos, format!(
                "rand_time ({}) is not shorter than rekey_time ({}); expected rand_time < rekey_time",
                fmt_duration(rand), fmt_duration(rekey)));
        }
    }

    fn check_limit(&mut self, sec: &Section, what: &str, rekey: u64, life: u64) {
        if rekey > 0 && life <= rekey {
            let key = format!("life_{what}");
            let pos = value(sec, &key).map_or(sec.pos.clone(), |v| v.pos.clone());
            self.sink.error(&pos, format!("{key} ({life}) is not larger than rekey_{what} ({rekey}); expected {key} > rekey_{what}"));
        }
    }

    // ----- secrets and authorities ----------------------------------------------------

    fn secrets(&mut self, sec: &Section) -> Vec<IkeSecret> {
        self.no_keys(sec, "secrets");
        let mut out = Vec::new();
        for s in &sec.sections {
            if s.name.starts_with("ike") {
                self.check_names(s, &schema::IKE_SECRET, &format!("secrets.{}", s.name), true);
                let ids = s
                    .keys
                    .iter()
                    .filter(|k| k.key.starts_with("id"))
                    .map(|k| k.value.text.clone())
                    .collect();
                let Some(v) = self.required(s, "secret", "secret", "<text, 0x hex or 0s base64>")
                else {
                    continue;
                };
                match Secret::parse(&v.text) {
                    Ok(secret) if !secret.expose().is_empty() => {
                        self.secret_pos.push(s.pos.clone());
                        out.push(IkeSecret {
                            name: s.name.clone(),
                            ids,
                            secret,
                        });
                    }
                    Ok(_) => self.sink.error(
                        &v.pos,
                        "secret: the secret is empty; expected at least one byte",
                    ),
                    Err(e) => self.sink.error(&v.pos, format!("secret: {e}")),
                }
            } else if schema::STRONGSWAN_SECRETS
                .iter()
                .any(|p| s.name.starts_with(p))
            {
                self.sink.warn(&s.pos, format!("section '{}' in secrets is a strongSwan secret type nvesec does not use; ignored", s.name));
            } else {
                self.sink.error(&s.pos, format!("unknown secret type '{}'; expected a section named ike<suffix>, e.g. ike-{}", s.name, s.name));
            }
        }
        out
    }

    fn authority(&mut self, sec: &Section) -> Option<Authority> {
        self.check_names(
            sec,
            &schema::AUTHORITY,
            &format!("authorities.{}", sec.name),
            false,
        );
        let v = self
            .required(sec, "cacert", "authority", "<file in x509ca/>")?
            .clone();
        let cacert = self.cred_file(&v.text, &v.pos, "cacert", "x509ca");
        Some(Authority {
            name: sec.name.clone(),
            cacert,
            crl_uris: self.list(sec, "crl_uris", |s| Ok(s.to_string())),
            ocsp_uris: self.list(sec, "ocsp_uris", |s| Ok(s.to_string())),
        })
    }

    // ----- nvesecd ------------------------------------------------------------------------

    fn daemon(&mut self, sec: &Section) -> Daemon {
        self.check_names(sec, &schema::DAEMON, "nvesecd", false);
        let d = Daemon::default();
        Daemon {
            retransmit_timeout: self.get(sec, "retransmit_timeout", d.retransmit_timeout, |s| {
                values::fine_duration(s).and_then(|t| {
                    if t.is_zero() {
                        Err("expected a duration above 0s, e.g. 4s or 500ms".into())
                    } else {
                        Ok(t)
                    }
                })
            }),
            retransmit_base_milli: self.get(
                sec,
                "retransmit_base",
                d.retransmit_base_milli,
                values::milli,
            ),
            retransmit_tries: self.get(sec, "retransmit_tries", d.retransmit_tries, |s| {
                values::uint(s, 0, 100).map(|n| n as u32)
            }),
            retransmit_limit: self.get(sec, "retransmit_limit", None, |s| {
                values::fine_duration(s).map(Some)
            }),
            cookie_threshold: self.get(sec, "cookie_threshold", d.cookie_threshold, |s| {
                values::uint(s, 0, 1_000_000).map(|n| n as u32)
            }),
            init_limit_half_open: self.get(
                sec,
                "init_limit_half_open",
                d.init_limit_half_open,
                |s| values::uint(s, 0, 1_000_000).map(|n| n as u32),
            ),
            block_threshold: self.get(sec, "block_threshold", d.block_threshold, |s| {
                values::uint(s, 0, 1_000_000).map(|n| n as u32)
            }),
            ike_rate_limit: self.get(sec, "ike_rate_limit", d.ike_rate_limit, |s| {
                values::fine_duration(s).map(|t| (!t.is_zero()).then_some(t))
            }),
            ike_read_budget: self.get(sec, "ike_read_budget", d.ike_read_budget, |s| {
                values::uint(s, 1, 65_536).map(|n| n as u32)
            }),
            ike_send_queue: self.get(sec, "ike_send_queue", d.ike_send_queue, |s| {
                values::uint(s, 1, 1_000_000).map(|n| n as u32)
            }),
        }
    }

    // ----- overlay --------------------------------------------------------------------

    fn overlay(&mut self, sec: &Section) -> Overlay {
        self.check_names(sec, &schema::OVERLAY, "overlay", false);
        let mut ov = Overlay {
            local_addrs: self.list(sec, "local_addrs", ip),
            port: self.get(sec, "port", 6081, port),
            option_class: self.get(sec, "option_class", 0xff00, |s| {
                values::uint(s, 0, 0xffff).map(|n| n as u16)
            }),
            networks: Vec::new(),
        };
        if let Some(nets) = sub(sec, "networks") {
            self.no_keys(nets, "overlay.networks");
            let mut seen: Vec<(u32, String, Pos)> = Vec::new();
            for n in &nets.sections {
                let Some(net) = self.network(n) else { continue };
                let pos = value(n, "vni").map_or(n.pos.clone(), |v| v.pos.clone());
                if let Some((_, other, opos)) = seen.iter().find(|(v, _, _)| *v == net.vni) {
                    self.sink.error(&pos, format!("VNI {} is already used by network '{other}' ({opos}); expected one network per VNI", net.vni));
                }
                seen.push((net.vni, net.name.clone(), pos));
                ov.networks.push(net);
            }
        }
        ov
    }

    fn network(&mut self, sec: &Section) -> Option<Network> {
        let path = format!("overlay.networks.{}", sec.name);
        self.check_names(sec, &schema::NETWORK, &path, false);
        let v = self
            .required(sec, "vni", "network", "<0-16777215>")?
            .clone();
        let vni = match values::uint(&v.text, 0, 0xff_ffff) {
            Ok(n) => n as u32,
            Err(e) => {
                self.sink.error(&v.pos, format!("vni: {e}"));
                return None;
            }
        };
        let mut peers = Vec::new();
        if let Some(ps) = sub(sec, "peers") {
            self.no_keys(ps, &format!("{path}.peers"));
            for p in &ps.sections {
                self.check_names(p, &schema::PEER, &format!("{path}.peers.{}", p.name), false);
                let Some(u) = self
                    .required(p, "underlay", "peer", "<IP address>")
                    .cloned()
                else {
                    continue;
                };
                match ip(&u.text) {
                    Ok(underlay) => peers.push(Peer {
                        name: p.name.clone(),
                        underlay,
                        prefixes: self.list(p, "prefixes", str::parse::<Prefix>),
                    }),
                    Err(e) => self.sink.error(&u.pos, format!("underlay: {e}")),
                }
            }
        }
        Some(Network {
            name: sec.name.clone(),
            vni,
            device: self.keyword(
                sec,
                "device",
                DeviceKind::Tun,
                DeviceKind::parse,
                DeviceKind::expected(),
            ),
            ifname: self.get(sec, "ifname", format!("nvs{vni}"), ifname),
            mtu: self.get(sec, "mtu", 1400, |s| {
                values::uint(s, 576, 9000).map(|n| n as u16)
            }),
            address: value(sec, "address")
                .is_some()
                .then(|| self.get(sec, "address", None, |s| s.parse::<IfAddr>().map(Some)))
                .flatten(),
            peers,
        })
    }

    // ----- policies -------------------------------------------------------------------

    fn policy(&mut self, sec: &Section) -> Option<Policy> {
        self.check_names(
            sec,
            &schema::POLICY,
            &format!("policies.{}", sec.name),
            false,
        );
        let act = self
            .required(sec, "action", "policy", "secure|bypass|discard")?
            .clone();
        let gsas = value(sec, "gsas").cloned();
        let action = match act.text.as_str() {
            "secure" => {
                let refs = self.gsa_list(sec, gsas.as_ref());
                if refs.is_empty() {
                    self.sink.error(&act.pos, format!("policy '{}' has action = secure but no gsas; expected gsas = <child> or <connection>.<child>, ...", sec.name));
                }
                Action::Secure(refs)
            }
            "bypass" | "discard" => {
                if let Some(g) = &gsas {
                    self.sink.error(&g.pos, format!("gsas is only used with action = secure, but policy '{}' has action = {}; expected no gsas", sec.name, act.text));
                }
                if act.text == "bypass" {
                    Action::Bypass
                } else {
                    Action::Discard
                }
            }
            other => {
                self.sink.error(
                    &act.pos,
                    format!(
                        "action: '{other}' is not a valid value; expected secure|bypass|discard"
                    ),
                );
                return None;
            }
        };
        self.policy_pos.push(sec.pos.clone());
        Some(Policy {
            name: sec.name.clone(),
            direction: self.keyword(
                sec,
                "direction",
                Direction::Out,
                Direction::parse,
                Direction::expected(),
            ),
            version: self.selector(sec, "version", Selector::Any, 3, false, &[]),
            oam: self.selector(sec, "oam", Selector::Any, 1, false, &[]),
            critical: self.selector(sec, "critical", Selector::Any, 1, false, &[]),
            rsv: self.selector(sec, "rsv", Selector::Any, 63, false, &[]),
            protocol_types: self.selector(
                sec,
                "protocol_types",
                Selector::Any,
                0xffff,
                false,
                values::PROTOCOL_TYPES,
            ),
            vnis: self.selector(sec, "vnis", Selector::Any, 0xff_ffff, false, &[]),
            required_options: match value(sec, "required_options") {
                Some(v) if v.text == "opaque" => Vec::new(),
                _ => self.list(sec, "required_options", values::option_id),
            },
            ip_proto: self.selector(
                sec,
                "ip_proto",
                Selector::Opaque,
                255,
                true,
                values::IP_PROTOCOLS,
            ),
            src_ports: self.selector(sec, "src_ports", Selector::Opaque, 0xffff, true, &[]),
            dst_ports: self.selector(sec, "dst_ports", Selector::Opaque, 0xffff, true, &[]),
            action,
        })
    }

    fn gsa_list(&mut self, sec: &Section, v: Option<&Value>) -> Vec<GsaRef> {
        let Some(v) = v else { return Vec::new() };
        let mut out = Vec::new();
        for (item, pos) in values::items(v) {
            let r = match item.split_once('.') {
                Some((c, ch)) if !c.is_empty() && !ch.is_empty() && !ch.contains('.') => GsaRef {
                    connection: Some(c.to_string()),
                    child: ch.to_string(),
                },
                None if !item.is_empty() => GsaRef {
                    connection: None,
                    child: item.clone(),
                },
                _ => {
                    self.sink.error(
                        &pos,
                        format!(
                            "gsas: '{item}' is not a child reference; expected <child> or <connection>.<child>"
                        ),
                    );
                    continue;
                }
            };
            self.gsa_refs.push((r.clone(), sec.name.clone(), pos));
            out.push(r);
        }
        out
    }

    /// `conn.child` must be a configured child; a bare `child` must be a child of at least
    /// one connection. A child name used bare gives every connection's child of that name one
    /// shared reqid, so naming one of them as `conn.child` too would be ambiguous.
    fn check_gsa_refs(&mut self, cfg: &Config) {
        let all: Vec<String> = cfg
            .connections
            .iter()
            .flat_map(|c| {
                c.children
                    .iter()
                    .map(move |ch| format!("{}.{}", c.name, ch.name))
            })
            .collect();
        let mut child_names: Vec<&str> = cfg
            .connections
            .iter()
            .flat_map(|c| c.children.iter().map(|ch| ch.name.as_str()))
            .collect();
        child_names.sort_unstable();
        child_names.dedup();
        let refs = std::mem::take(&mut self.gsa_refs);
        for (r, policy, pos) in &refs {
            let item = r.to_string();
            match &r.connection {
                Some(_) if all.contains(&item) => {
                    let bare = refs
                        .iter()
                        .find(|(b, _, _)| b.connection.is_none() && b.child == r.child);
                    if let Some((_, bp, bpos)) = bare {
                        self.sink.error(pos, format!(
                            "policy '{policy}' names '{item}', but policy '{bp}' ({bpos}) names every connection's child '{}' with gsas = {}; expected gsas = {} here too, or another name for one of the children",
                            r.child, r.child, r.child));
                    }
                }
                Some(_) => {
                    let msg = format!(
                        "policy '{policy}' refers to '{item}', which is not a configured child"
                    );
                    self.unknown(pos, msg, &item, all.iter().map(String::as_str));
                }
                None if child_names.contains(&item.as_str()) => {}
                None => {
                    let msg = format!(
                        "policy '{policy}' refers to child '{item}', which no connection has"
                    );
                    self.unknown(pos, msg, &item, child_names.iter().copied());
                }
            }
        }
    }

    /// A policy is unreachable when an earlier policy of the same direction matches every
    /// packet it would match (the GSP DB is first-match, seed 004 §5.2).
    fn check_shadowed(&mut self, cfg: &Config) {
        for (j, later) in cfg.policies.iter().enumerate() {
            let Some(i) = cfg.policies[..j]
                .iter()
                .position(|earlier| shadows(earlier, later))
            else {
                continue;
            };
            let (epos, lpos) = (self.policy_pos[i].clone(), self.policy_pos[j].clone());
            self.sink.error(&lpos, format!(
                "policy '{}' can never match: the earlier policy '{}' ({epos}) matches every packet it would (first match wins); expected '{}' before '{}' or narrower selectors in '{}'",
                later.name, cfg.policies[i].name, later.name, cfg.policies[i].name, cfg.policies[i].name));
        }
    }
}

pub(crate) fn shadows(a: &Policy, b: &Policy) -> bool {
    a.direction == b.direction
        && a.version.covers(&b.version)
        && a.oam.covers(&b.oam)
        && a.critical.covers(&b.critical)
        && a.rsv.covers(&b.rsv)
        && a.protocol_types.covers(&b.protocol_types)
        && a.vnis.covers(&b.vnis)
        && a.required_options
            .iter()
            .all(|o| b.required_options.contains(o))
        && a.ip_proto.covers(&b.ip_proto)
        && a.src_ports.covers(&b.src_ports)
        && a.dst_ports.covers(&b.dst_ports)
}

// ----- value parsers -------------------------------------------------------------------

fn port(s: &str) -> Result<u16, String> {
    values::uint(s, 1, 65535).map(|n| n as u16)
}

fn ip(s: &str) -> Result<IpAddr, String> {
    s.parse()
        .map_err(|_| format!("'{s}' is not an IP address; expected an IPv4 or IPv6 address"))
}

/// Looks like a numeric address (digits, dots, colons) rather than a DNS name.
fn looks_numeric(s: &str) -> bool {
    s.contains(':')
        || s.bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b'/')
}

fn addr_spec(s: &str) -> Result<AddrSpec, String> {
    match s {
        "%any" => return Ok(AddrSpec::Any),
        "%any4" => return Ok(AddrSpec::Any4),
        "%any6" => return Ok(AddrSpec::Any6),
        _ => {}
    }
    if s.contains('/') {
        return s.parse::<Prefix>().map(AddrSpec::Subnet);
    }
    if looks_numeric(s) {
        return ip(s).map(AddrSpec::Ip);
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if s.len() <= 253 && s.trim_end_matches('.').split('.').all(label_ok) {
        Ok(AddrSpec::Host(s.to_string()))
    } else {
        Err(format!(
            "'{s}' is not an address; expected an IP address, a subnet, a DNS name or %any"
        ))
    }
}

fn ifname(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 15
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    ok.then(|| s.to_string())
        .ok_or_else(|| format!("'{s}' is not a valid interface name; expected 1 to 15 letters, digits, '-', '_' or '.'"))
}

fn option_set(s: &str) -> Result<OptionSet, String> {
    match s {
        "all" => Ok(OptionSet::All),
        "none" => Ok(OptionSet::None),
        _ => s
            .split(',')
            .map(|i| values::option_id(i.trim()))
            .collect::<Result<Vec<_>, _>>()
            .map(OptionSet::List)
            .map_err(|e| format!("{e}, or all, or none")),
    }
}

fn covered_length(s: &str) -> Result<CoveredLength, String> {
    match s {
        "all" => Ok(CoveredLength::All),
        "inner-l4" => Ok(CoveredLength::InnerL4),
        _ => values::uint(s, 1, 65535)
            .map(|n| CoveredLength::Bytes(n as u16))
            .map_err(|_| format!("'{s}' is not a covered length; expected all, inner-l4, or a number of bytes from 1 to 65535")),
    }
}

fn dummy_rate(s: &str) -> Result<DummyRate, String> {
    let bad = || {
        format!("'{s}' is not a dummy traffic rate; expected off, N/s (1-1000 packets per second) or N% (1-100% of the data rate)")
    };
    if s == "off" || s == "0" {
        return Ok(DummyRate::Off);
    }
    if let Some(n) = s.strip_suffix("/s") {
        // gsa-dp sends dummies at whole-millisecond intervals: 1000/s at most (its
        // MAX_DUMMY_RATE; a higher rate used to round to a 0 ms interval, issue 14 item 9).
        return values::uint(n, 1, 1000)
            .map(|n| DummyRate::PerSecond(n as u32))
            .map_err(|_| bad());
    }
    if let Some(n) = s.strip_suffix('%') {
        return values::uint(n, 1, 100)
            .map(|n| DummyRate::Percent(n as u8))
            .map_err(|_| bad());
    }
    Err(bad())
}
