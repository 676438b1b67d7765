//! A small UDP driver around the ikev2 engine, used to test interop with strongSwan before and
//! besides nvesecd.
//!
//! Two halves:
//! - the driver itself ([`run`], used by `src/bin/ike-driver.rs`): one [`Endpoint`] on one std
//!   UDP socket, commands as text lines on stdin, events as JSON lines on stdout;
//! - the test side ([`DriverProcess`]): spawns the binary inside a namespace with
//!   `ip netns exec`, sends commands and waits for events.
//!
//! Commands (one per line): `initiate CONN`, `rekey-ike [UID]`, `delete-ike [UID]`,
//! `terminate [UID]`, `status`, `pause-rx`, `resume-rx`, `quit`. Without a UID the command applies to the newest
//! active IKE SA. Every line is answered with at least one JSON object; events carry
//! `"event": "<name>"`.
//!
//! `--dump-keys-for-test FILE` appends the derived IKE SA keys (SK_d, SK_ei, ...) as JSON lines
//! to FILE, created with mode 0600, each time an IKE SA comes up or is rekeyed. It exists only
//! so the interop tests can compare our keys with the ones charon logs at level 4; the keys
//! never go to stdout or to the event stream.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};

use nvesec_ikev2::config::{
    ChildlessPolicy, ConnectionConfig, Credential, EngineConfig, GsaConfig, Identity,
    IdentityMatcher, IkeProposal, IpRange, LocalAuth, LocalSigner, PeerAuthMethod, Psk, RemoteAuth,
};
use nvesec_ikev2::crypto::Signer;
use nvesec_ikev2::endpoint::{seeded_rng, Endpoint, Event, IkeSaId};
use nvesec_ikev2::sa::SaState;
use nvesec_pki::{Certificate, PrivateKey, TrustStore};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::{HarnessError, Netns};

/// The driver's configuration file (JSON).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DriverConfig {
    /// Address and port the UDP socket binds to (normally `IP:500`).
    pub listen: SocketAddr,
    /// Half-open SAs above which IKE_SA_INIT must carry a cookie; 0 = always (RFC 7296 §2.6).
    #[serde(default)]
    pub cookie_threshold: Option<usize>,
    /// Largest IKE datagram before RFC 7383 fragmentation (engine default 1280).
    #[serde(default)]
    pub fragment_mtu: Option<usize>,
    /// Half-open timeout in milliseconds (engine default 30 s); also how long a redundant SA
    /// from a rekey collision waits for the peer's Delete.
    #[serde(default)]
    pub half_open_timeout_ms: Option<u64>,
    /// First retransmission interval in milliseconds (engine default 4000, base 1.8).
    #[serde(default)]
    pub retransmit_timeout_ms: Option<u64>,
    /// Retransmissions before the peer is declared dead (engine default 5).
    #[serde(default)]
    pub retransmit_tries: Option<u32>,
    /// Hostile-peer knob (issue 14 insider scenarios, `scenario_insider_gsa`): every GSA the
    /// driver creates receives on this GSA-ID, e.g. one another NVE already uses, instead of a
    /// fresh random one (`EngineConfig::test_force_inbound_gsa_id`). Off by default.
    #[serde(default)]
    pub force_inbound_gsa_id: Option<u32>,
    pub connections: Vec<DriverConn>,
}

/// One connection, in swanctl terms.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DriverConn {
    pub name: String,
    /// swanctl-style identity: an IP address, `user@host` (RFC 822) or a host name (FQDN).
    pub local_id: String,
    pub remote_id: String,
    #[serde(default)]
    pub remote_addrs: Vec<IpAddr>,
    pub auth: DriverAuth,
    /// `allow` (default), `force` or `never` (RFC 6023).
    #[serde(default)]
    pub childless: Option<String>,
    /// A strongSwan proposal string such as `aes256gcm16-prfsha256-x25519` (the default).
    #[serde(default)]
    pub proposal: Option<String>,
    /// Liveness check after this many idle seconds (DPD); none by default.
    #[serde(default)]
    pub dpd_delay_secs: Option<u64>,
    /// IKE SA rekey interval in milliseconds (minus 0-10 % jitter); none by default.
    #[serde(default)]
    pub rekey_time_ms: Option<u64>,
    /// One GSA (child) negotiated in IKE_AUTH; with it the driver announces the nvesec GSA
    /// Vendor ID. None (the default) keeps the driver a plain, childless IKEv2 peer.
    #[serde(default)]
    pub gsa: Option<DriverGsa>,
}

/// A GEO AES-256 GSA over one VNI range (no PFS).
///
/// Hostile-peer use (issue 14 insider scenarios): with `local_prefixes` and `remote_prefixes`
/// empty (the default) the driver sends Geneve traffic selectors only, no IP TSi/TSr.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DriverGsa {
    pub name: String,
    pub vni_start: u32,
    pub vni_end: u32,
    /// Inner prefixes (`ADDR/LEN`) proposed in TSi; empty sends no IP selector.
    #[serde(default)]
    pub local_prefixes: Vec<String>,
    /// Inner prefixes proposed in TSr; empty sends no IP selector.
    #[serde(default)]
    pub remote_prefixes: Vec<String>,
}

fn ip_ranges(prefixes: &[String]) -> Result<Vec<IpRange>, DriverError> {
    prefixes
        .iter()
        .map(|p| {
            let bad = || DriverError::Config(format!("bad prefix {p:?}"));
            let (addr, len) = p.split_once('/').ok_or_else(bad)?;
            let addr: IpAddr = addr.parse().map_err(|_| bad())?;
            let len: u8 = len.parse().map_err(|_| bad())?;
            IpRange::from_prefix(addr, len).ok_or_else(bad)
        })
        .collect()
}

/// How both ends authenticate.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum DriverAuth {
    /// AUTH method 2 both ways.
    Psk { secret: String },
    /// RFC 7427 signatures; PEM files (our PKCS#8 key, our certificate, trusted CAs).
    Cert {
        key: PathBuf,
        cert: PathBuf,
        cas: Vec<PathBuf>,
    },
}

/// Why the driver could not start.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("bad configuration: {0}")]
    Config(String),
}

/// Parses a swanctl-style identity string; `der:HEX` is an ID_DER_ASN1_DN given as the DER
/// bytes of the Name (e.g. a certificate's subject).
pub fn parse_identity(text: &str) -> Identity {
    if let Some(der) = text.strip_prefix("der:").and_then(unhex) {
        return Identity::DerAsn1Dn(der);
    }
    if let Ok(ip) = text.parse::<IpAddr>() {
        return match ip {
            IpAddr::V4(a) => Identity::Ipv4(a),
            IpAddr::V6(a) => Identity::Ipv6(a),
        };
    }
    if text.contains('@') {
        Identity::Rfc822(text.to_owned())
    } else {
        Identity::Fqdn(text.to_owned())
    }
}

/// Parses `aes{128,256}gcm16-prfsha{256,384}-x25519`.
pub fn parse_proposal(text: &str) -> Result<IkeProposal, DriverError> {
    let bad = || DriverError::Config(format!("unsupported proposal {text:?}"));
    let parts: Vec<&str> = text.split('-').collect();
    let [encr, prf, dh] = parts.as_slice() else {
        return Err(bad());
    };
    let encr_key_bits = match *encr {
        "aes128gcm16" => 128,
        "aes256gcm16" => 256,
        _ => return Err(bad()),
    };
    let prf = match *prf {
        "prfsha256" => 5,
        "prfsha384" => 6,
        _ => return Err(bad()),
    };
    if *dh != "x25519" && *dh != "curve25519" {
        return Err(bad());
    }
    Ok(IkeProposal {
        encr_key_bits,
        prf,
        dh_group: 31,
    })
}

/// Certificate validation: nvesecd's own authenticator (`nvesec_pki::verify_chain`, the same
/// code `nvesec-pki --verify` uses: chain to a trusted CA at `now`, identity in the subject or
/// a SAN), so the driver accepts and refuses exactly what the daemon does.
pub use nvesec::daemon::creds::PkiAuthenticator;

fn pki_authenticator(cas: &[Certificate]) -> Result<PkiAuthenticator, DriverError> {
    let mut store = TrustStore::new();
    for ca in cas {
        store
            .add_ca(ca.clone())
            .map_err(|e| DriverError::Config(e.to_string()))?;
    }
    Ok(PkiAuthenticator::new(store, None))
}

fn read_certs(path: &Path) -> Result<Vec<Certificate>, DriverError> {
    let bytes = fs::read(path)?;
    Certificate::from_bytes(&bytes)
        .map_err(|e| DriverError::Config(format!("{}: {e}", path.display())))
}

fn connection(c: &DriverConn) -> Result<ConnectionConfig, DriverError> {
    let local = parse_identity(&c.local_id);
    let remote = parse_identity(&c.remote_id);
    let mut conn = ConnectionConfig::psk(&c.name, local.clone(), remote.clone(), b"unused");
    conn.remote_addrs = c.remote_addrs.clone();
    conn.childless = match c.childless.as_deref() {
        None | Some("allow") => ChildlessPolicy::Allow,
        Some("force") => ChildlessPolicy::Force,
        Some("never") => ChildlessPolicy::Never,
        Some(other) => return Err(DriverError::Config(format!("childless = {other:?}"))),
    };
    if let Some(p) = &c.proposal {
        conn.ike_proposals = vec![parse_proposal(p)?];
    }
    conn.dpd_delay = c.dpd_delay_secs.map(Duration::from_secs);
    conn.rekey_time = c.rekey_time_ms.map(Duration::from_millis);
    if let Some(g) = &c.gsa {
        let mut gsa = GsaConfig::geo_vnis(&g.name, g.vni_start, g.vni_end);
        gsa.selectors.local_inner = ip_ranges(&g.local_prefixes)?;
        gsa.selectors.remote_inner = ip_ranges(&g.remote_prefixes)?;
        conn.children = vec![gsa];
    }
    match &c.auth {
        DriverAuth::Psk { secret } => {
            conn.local.credential = Credential::Psk(Psk::new(secret.as_bytes()));
            conn.remote.method = PeerAuthMethod::Psk(Psk::new(secret.as_bytes()));
        }
        DriverAuth::Cert { key, cert, cas } => {
            let key = PrivateKey::from_bytes(&fs::read(key)?)
                .map_err(|e| DriverError::Config(format!("{}: {e}", key.display())))?;
            let signer = Signer::from_pkcs8_der(&key.to_pkcs8_der())
                .map_err(|e| DriverError::Config(e.to_string()))?;
            let chain = read_certs(cert)?.iter().map(|c| c.der().to_vec()).collect();
            let mut anchors = Vec::new();
            for ca in cas {
                anchors.extend(read_certs(ca)?);
            }
            // RFC 7296 §3.7: CERTREQ names each CA by the SHA-1 of its SubjectPublicKeyInfo.
            conn.certreq_ca_hashes = anchors
                .iter()
                .filter_map(|ca| ca.public_key().ok())
                .filter_map(|k| <[u8; 20]>::try_from(k.keyid_sha1().as_slice()).ok())
                .collect();
            let signer: Arc<dyn LocalSigner> = Arc::new(signer);
            conn.local = LocalAuth {
                id: local,
                credential: Credential::Signature { signer, chain },
            };
            conn.remote = RemoteAuth {
                id: IdentityMatcher::Exact(remote),
                method: PeerAuthMethod::Certificate(Arc::new(pki_authenticator(&anchors)?)),
            };
            conn.send_certreq = true;
        }
    }
    Ok(conn)
}

/// The engine configuration the driver runs with.
pub fn engine_config(cfg: &DriverConfig) -> Result<EngineConfig, DriverError> {
    let mut out = EngineConfig {
        // A plain IKEv2 peer for strongSwan: no GSA Vendor ID, childless IKE SAs; unless a
        // connection carries a GSA (the insider scenarios against nvesecd).
        announce_gsa: cfg.connections.iter().any(|c| c.gsa.is_some()),
        test_force_inbound_gsa_id: cfg.force_inbound_gsa_id,
        ..EngineConfig::default()
    };
    if let Some(t) = cfg.cookie_threshold {
        out.cookie_threshold = t;
    }
    if let Some(m) = cfg.fragment_mtu {
        out.fragment_mtu = m;
    }
    if let Some(ms) = cfg.half_open_timeout_ms {
        out.half_open_timeout = Duration::from_millis(ms);
    }
    if let Some(ms) = cfg.retransmit_timeout_ms {
        out.retransmit.timeout = Duration::from_millis(ms);
    }
    if let Some(n) = cfg.retransmit_tries {
        out.retransmit.tries = n;
    }
    for c in &cfg.connections {
        out.connections.push(Arc::new(connection(c)?));
    }
    Ok(out)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// SPIs as swanctl prints them: 16 lower-case hex digits, network byte order.
pub fn spi_hex(spi: u64) -> String {
    format!("{spi:016x}")
}

fn os_seed() -> io::Result<[u8; 32]> {
    let mut seed = [0u8; 32];
    File::open("/dev/urandom")?.read_exact(&mut seed)?;
    Ok(seed)
}

/// Options of one driver run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub config: DriverConfig,
    /// Where derived IKE keys go (tests only), see the module documentation.
    pub dump_keys_for_test: Option<PathBuf>,
}

/// Longest wait on the socket before stdin commands are looked at again: commands wait at
/// most this long (std has no way to wait on the socket and a channel together).
const COMMAND_POLL: Duration = Duration::from_millis(2);

struct Driver<W: Write> {
    ep: Endpoint,
    sock: UdpSocket,
    local: SocketAddr,
    out: W,
    keys: Option<File>,
    /// `pause-rx`: leave received datagrams in the socket buffer (test fault injection, e.g.
    /// to make both ends' requests cross for a rekey collision).
    rx_paused: bool,
}

/// Runs the driver until `quit` or the end of stdin.
pub fn run(opts: RunOptions) -> Result<(), DriverError> {
    let engine = Arc::new(engine_config(&opts.config)?);
    let sock = UdpSocket::bind(opts.config.listen)?;
    let keys = match &opts.dump_keys_for_test {
        Some(p) => Some(
            OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(p)?,
        ),
        None => None,
    };
    let now = Instant::now();
    let ep = Endpoint::new(engine, seeded_rng(os_seed()?), now, SystemTime::now());
    let mut d = Driver {
        ep,
        local: sock.local_addr()?,
        sock,
        out: io::stdout(),
        keys,
        rx_paused: false,
    };
    let commands = stdin_lines();
    d.emit(json!({"event": "ready", "listen": d.local.to_string()}))?;
    let mut buf = vec![0u8; 65536];
    loop {
        loop {
            match commands.try_recv() {
                Ok(line) => {
                    if !d.command(line.trim())? {
                        return Ok(());
                    }
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return Ok(()),
            }
        }
        let now = Instant::now();
        let wait =
            d.ep.poll_timeout()
                .map_or(COMMAND_POLL, |t| t.saturating_duration_since(now))
                .clamp(Duration::from_millis(1), COMMAND_POLL);
        d.receive(&mut buf, wait)?;
        let now = Instant::now();
        if d.ep.poll_timeout().is_some_and(|t| t <= now) {
            d.ep.handle_timeout(now);
        }
        d.flush()?;
    }
}

/// Reads stdin lines on a thread, so the socket loop never blocks on it.
fn stdin_lines() -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

impl<W: Write> Driver<W> {
    /// Waits up to `wait` for one datagram and hands it to the engine (or only waits while
    /// reception is paused: the datagrams stay queued in the socket).
    fn receive(&mut self, buf: &mut [u8], wait: Duration) -> io::Result<()> {
        if self.rx_paused {
            std::thread::sleep(wait);
            return Ok(());
        }
        self.sock.set_read_timeout(Some(wait))?;
        match self.sock.recv_from(buf) {
            Ok((n, from)) => {
                let now = Instant::now();
                self.ep.handle_datagram(now, self.local, from, &buf[..n]);
                Ok(())
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    fn emit(&mut self, v: Value) -> io::Result<()> {
        writeln!(self.out, "{v}")?;
        self.out.flush()
    }

    /// The SA a command without a UID means: the newest active one.
    fn pick(&self, arg: Option<&str>) -> Option<IkeSaId> {
        let ids = self.ep.ike_sas();
        match arg {
            Some(uid) => ids.into_iter().find(|i| i.uid.to_string() == uid),
            None => ids
                .into_iter()
                .rev()
                .find(|i| self.ep.ike_sa(*i).is_some_and(|s| s.is_active())),
        }
    }

    /// Executes one command line; false on `quit`.
    fn command(&mut self, line: &str) -> io::Result<bool> {
        let mut words = line.split_whitespace();
        let (Some(cmd), arg) = (words.next(), words.next()) else {
            return Ok(true);
        };
        let now = Instant::now();
        let result = match cmd {
            "quit" => return Ok(false),
            "pause-rx" | "resume-rx" => {
                self.rx_paused = cmd == "pause-rx";
                Ok(json!({"rx_paused": self.rx_paused}))
            }
            "status" => {
                let v = self.status();
                self.emit(v)?;
                return Ok(true);
            }
            "initiate" => {
                let conn = arg.unwrap_or_default();
                self.ep
                    .initiate(now, conn, self.local, None)
                    .map(|id| json!({"uid": id.uid}))
                    .map_err(|e| e.to_string())
            }
            "rekey-ike" | "delete-ike" | "terminate" => match self.pick(arg) {
                None => Err("no such IKE SA".to_string()),
                Some(id) => match cmd {
                    "rekey-ike" => self.ep.rekey_ike(now, id),
                    "delete-ike" => self.ep.delete_ike(now, id),
                    _ => self.ep.terminate(now, id),
                }
                .map(|()| json!({"uid": id.uid}))
                .map_err(|e| e.to_string()),
            },
            other => Err(format!("unknown command {other:?}")),
        };
        let v = match result {
            Ok(detail) => json!({"event": "command_ok", "command": line, "detail": detail}),
            Err(e) => json!({"event": "command_error", "command": line, "error": e}),
        };
        self.emit(v)?;
        self.flush()?;
        Ok(true)
    }

    fn sa_json(&self, id: IkeSaId) -> Value {
        let Some(sa) = self.ep.ike_sa(id) else {
            return json!({"uid": id.uid});
        };
        let (spi_i, spi_r) = sa.spis();
        let keys = sa.keys();
        json!({
            "uid": id.uid,
            "conn": sa.connection().name,
            "state": format!("{:?}", sa.state()),
            "initiator": sa.is_initiator(),
            "spi_i": spi_hex(spi_i),
            "spi_r": spi_hex(spi_r),
            "remote": sa.remote().to_string(),
            "peer_id": sa.peer_id().map(|p| p.to_string()),
            "prf": keys.map(|k| format!("{:?}", k.prf())),
            "encr": keys.map(|k| format!("{:?}", k.suite())),
            "gsas": sa.gsas().iter().map(|g| json!({
                "gsa_id_in": g.inbound_id,
                "gsa_id_out": g.outbound_id,
            })).collect::<Vec<_>>(),
        })
    }

    fn status(&self) -> Value {
        let sas: Vec<Value> = self
            .ep
            .ike_sas()
            .into_iter()
            .filter(|id| {
                self.ep
                    .ike_sa(*id)
                    .is_some_and(|s| s.state() != SaState::Dead)
            })
            .map(|id| self.sa_json(id))
            .collect();
        json!({"event": "status", "sas": sas})
    }

    /// Sends what the engine queued, then reports its events.
    fn flush(&mut self) -> io::Result<()> {
        while let Some(t) = self.ep.poll_transmit() {
            // A send error (e.g. no route yet) is like a lost datagram: retransmission covers it.
            let _ = self.sock.send_to(&t.bytes, t.dst);
        }
        while let Some(e) = self.ep.poll_event() {
            let v = self.event_json(&e);
            match &e {
                Event::IkeSaUp { ike, .. } => self.dump_keys(*ike)?,
                Event::IkeSaRekeyed { new, .. } => self.dump_keys(*new)?,
                _ => {}
            }
            self.emit(v)?;
        }
        Ok(())
    }

    fn event_json(&self, e: &Event) -> Value {
        match e {
            Event::IkeSaUp {
                ike,
                conn,
                local_id,
                peer_id,
                initiator,
                ..
            } => {
                let mut v = self.sa_json(*ike);
                v["event"] = "ike_sa_up".into();
                v["conn"] = conn.as_str().into();
                v["local_id"] = local_id.to_string().into();
                v["peer_id"] = peer_id.to_string().into();
                v["initiator"] = (*initiator).into();
                v
            }
            Event::IkeSaDown { ike, reason } => {
                json!({"event": "ike_sa_down", "uid": ike.uid, "reason": format!("{reason:?}")})
            }
            Event::IkeSaRekeyed { old, new } => {
                let mut v = self.sa_json(*new);
                v["event"] = "ike_sa_rekeyed".into();
                v["old"] = old.uid.into();
                v
            }
            Event::AuthFailed {
                ike,
                conn,
                notify,
                reason,
            } => json!({"event": "auth_failed", "uid": ike.uid, "conn": conn,
                        "notify": format!("{notify:?}"), "reason": reason}),
            Event::Log(r) => json!({"event": "log", "level": format!("{:?}", r.level),
                                    "context": r.context, "message": r.message}),
            // GSA events cannot occur with a plain IKEv2 peer; shown for completeness (keys
            // are redacted by their Debug).
            other => json!({"event": "other", "debug": format!("{other:?}")}),
        }
    }

    fn dump_keys(&mut self, id: IkeSaId) -> io::Result<()> {
        let Some(file) = self.keys.as_mut() else {
            return Ok(());
        };
        let Some(sa) = self.ep.ike_sa(id) else {
            return Ok(());
        };
        let Some(k) = sa.keys() else { return Ok(()) };
        let (spi_i, spi_r) = sa.spis();
        let v = json!({
            "uid": id.uid,
            "spi_i": spi_hex(spi_i),
            "spi_r": spi_hex(spi_r),
            "sk_d": hex(k.sk_d().expose()),
            "sk_ei": hex(k.sk_ei().keymat().expose()),
            "sk_er": hex(k.sk_er().keymat().expose()),
            "sk_pi": hex(k.sk_pi().expose()),
            "sk_pr": hex(k.sk_pr().expose()),
        });
        writeln!(file, "{v}")?;
        file.flush()
    }
}

/// One line of a `--dump-keys-for-test` file.
#[derive(Debug, Clone, Deserialize)]
pub struct DumpedKeys {
    pub uid: u32,
    pub spi_i: String,
    pub spi_r: String,
    pub sk_d: String,
    pub sk_ei: String,
    pub sk_er: String,
    pub sk_pi: String,
    pub sk_pr: String,
}

/// Reads a key dump file.
pub fn read_key_dumps(path: &Path) -> Result<Vec<DumpedKeys>, HarnessError> {
    let text = fs::read_to_string(path)?;
    text.lines()
        .map(|l| {
            serde_json::from_str(l)
                .map_err(|e| HarnessError::Io(io::Error::new(io::ErrorKind::InvalidData, e)))
        })
        .collect()
}

/// Decodes lower- or upper-case hex (for comparing dumps).
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

type EventLog = Arc<(Mutex<Vec<Value>>, Condvar)>;

/// The driver binary running inside a namespace; killed on drop.
pub struct DriverProcess {
    child: Child,
    stdin: ChildStdin,
    events: EventLog,
    dir: PathBuf,
}

impl std::fmt::Debug for DriverProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DriverProcess({})", self.dir.display())
    }
}

impl DriverProcess {
    /// Writes `cfg` to `dir/driver.json` and starts `exe` in `ns`; with `dump_keys` the keys go
    /// to `dir/keys.jsonl` ([`DriverProcess::key_dump_path`]). Waits for the `ready` event.
    pub fn spawn(
        ns: &Netns,
        exe: &Path,
        cfg: &DriverConfig,
        dir: &Path,
        dump_keys: bool,
    ) -> Result<Self, HarnessError> {
        fs::create_dir_all(dir)?;
        let cfg_path = dir.join("driver.json");
        fs::write(
            &cfg_path,
            serde_json::to_vec_pretty(cfg).map_err(io::Error::other)?,
        )?;
        let mut cmd = ns.command(&exe.to_string_lossy());
        cmd.arg("--config").arg(&cfg_path);
        if dump_keys {
            cmd.arg("--dump-keys-for-test").arg(dir.join("keys.jsonl"));
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(File::create(dir.join("driver.stderr"))?)
            .spawn()
            .map_err(|e| HarnessError::Spawn("ike-driver".into(), e))?;
        let stdin = child
            .stdin
            .take()
            .ok_or_else(|| io::Error::other("no stdin"))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| io::Error::other("no stdout"))?;
        let events: EventLog = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        let sink = Arc::clone(&events);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let v = serde_json::from_str(&line).unwrap_or_else(|_| json!({"raw": line}));
                let (lock, cv) = &*sink;
                if let Ok(mut g) = lock.lock() {
                    g.push(v);
                }
                cv.notify_all();
            }
        });
        let d = DriverProcess {
            child,
            stdin,
            events,
            dir: dir.to_path_buf(),
        };
        d.wait_event(|e| e["event"] == "ready", Duration::from_secs(10))?;
        Ok(d)
    }

    pub fn key_dump_path(&self) -> PathBuf {
        self.dir.join("keys.jsonl")
    }

    /// Sends one command line.
    pub fn send(&mut self, line: &str) -> Result<(), HarnessError> {
        writeln!(self.stdin, "{line}")?;
        self.stdin.flush()?;
        Ok(())
    }

    /// Sends a command and waits for its `command_ok` answer (its `detail`).
    pub fn command(&mut self, line: &str) -> Result<Value, HarnessError> {
        let seen = self.events().len();
        self.send(line)?;
        let ev = self.wait_event_after(
            seen,
            |e| {
                (e["event"] == "command_ok" || e["event"] == "command_error")
                    && e["command"] == line
            },
            Duration::from_secs(5),
        )?;
        if ev["event"] == "command_error" {
            return Err(HarnessError::Timeout(format!("{line}: {}", ev["error"])));
        }
        Ok(ev["detail"].clone())
    }

    /// The engine's SAs right now (the `status` command).
    pub fn status(&mut self) -> Result<Vec<Value>, HarnessError> {
        let seen = self.events().len();
        self.send("status")?;
        let ev = self.wait_event_after(seen, |e| e["event"] == "status", Duration::from_secs(5))?;
        Ok(ev["sas"].as_array().cloned().unwrap_or_default())
    }

    /// Every event so far.
    pub fn events(&self) -> Vec<Value> {
        let (lock, _) = &*self.events;
        lock.lock().map(|g| g.clone()).unwrap_or_default()
    }

    /// The first event matching `pred`, waiting up to `limit`.
    pub fn wait_event(
        &self,
        pred: impl Fn(&Value) -> bool,
        limit: Duration,
    ) -> Result<Value, HarnessError> {
        self.wait_event_after(0, pred, limit)
    }

    /// The first event at index `from` or later matching `pred`, waiting up to `limit`.
    pub fn wait_event_after(
        &self,
        from: usize,
        pred: impl Fn(&Value) -> bool,
        limit: Duration,
    ) -> Result<Value, HarnessError> {
        let deadline = Instant::now() + limit;
        let (lock, cv) = &*self.events;
        let mut g = lock
            .lock()
            .map_err(|_| HarnessError::Timeout("event log poisoned".into()))?;
        loop {
            if let Some(v) = g.iter().skip(from).find(|v| pred(v)) {
                return Ok(v.clone());
            }
            let now = Instant::now();
            if now >= deadline {
                let shown: Vec<String> = g.iter().map(Value::to_string).collect();
                return Err(HarnessError::Timeout(format!(
                    "no matching driver event; events:\n{}",
                    shown.join("\n")
                )));
            }
            g = cv
                .wait_timeout(g, deadline - now)
                .map_err(|_| HarnessError::Timeout("event log poisoned".into()))?
                .0;
        }
    }
}

impl Drop for DriverProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

impl DriverProcess {
    /// Ends the driver (`quit`, then kill after 0.5 s) and waits for it; idempotent.
    pub fn stop(&mut self) {
        let _ = writeln!(self.stdin, "quit");
        let _ = self.stdin.flush();
        let deadline = Instant::now() + Duration::from_millis(500);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_parse_like_swanctl() {
        assert_eq!(
            parse_identity("192.0.2.1"),
            Identity::Ipv4("192.0.2.1".parse().unwrap())
        );
        assert_eq!(
            parse_identity("nve.example"),
            Identity::Fqdn("nve.example".into())
        );
        assert_eq!(parse_identity("a@b.c"), Identity::Rfc822("a@b.c".into()));
        assert_eq!(
            parse_identity("der:3000"),
            Identity::DerAsn1Dn(vec![0x30, 0])
        );
    }

    #[test]
    fn proposals_parse() {
        assert_eq!(
            parse_proposal("aes128gcm16-prfsha384-x25519").unwrap(),
            IkeProposal {
                encr_key_bits: 128,
                prf: 6,
                dh_group: 31
            }
        );
        assert!(parse_proposal("aes128cbc-sha256-modp2048").is_err());
    }

    proptest::proptest! {
        /// The driver's small text parsers never panic, and hex round-trips.
        #[test]
        fn parsers_never_panic(text in ".{0,64}", bytes in proptest::collection::vec(0u8.., 0..32)) {
            let _ = parse_identity(&text);
            let _ = parse_proposal(&text);
            let _ = unhex(&text);
            proptest::prop_assert_eq!(unhex(&hex(&bytes)), Some(bytes));
        }
    }

    #[test]
    fn unhex_round_trip() {
        assert_eq!(unhex("00ff10"), Some(vec![0, 0xff, 0x10]));
        assert_eq!(unhex("0"), None);
        assert_eq!(unhex("zz"), None);
        assert_eq!(spi_hex(0x0102), "0000000000000102");
    }
}
