//! The nvesecd control protocol: JSON lines over a Unix stream socket.
//!
//! Modelled on strongSwan's VICI (named commands, subscribable events) with
//! one deliberate difference: every request carries a client-chosen `id`
//! that is echoed in its response and in the events a subscription produces,
//! so a client may keep several requests in flight on one connection
//! (ecosystem.md §3 convention 1). The schema is published in docs/cli.md.
//!
//! Wire shapes (one JSON object per `\n`-terminated line, at most
//! [`MAX_LINE`] bytes):
//!
//! ```text
//! client -> daemon  {"id":1,"command":"list-sas","ike":"gw"}
//! daemon -> client  {"type":"response","id":1,"status":"ok","reply":{"list-sas":{"sas":[...]}}}
//! daemon -> client  {"type":"response","id":1,"status":"error","error":{"code":"unknown-command","message":"..."}}
//! daemon -> client  {"type":"event","id":7,"event":"log","data":{...}}
//! ```

use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// Longest accepted request line (without the newline), 1 MiB.
pub const MAX_LINE: usize = 1 << 20;

/// Default control socket path.
pub const DEFAULT_SOCKET: &str = "/run/nvesec/ctl.sock";

/// Environment variable overriding [`DEFAULT_SOCKET`].
pub const SOCKET_ENV: &str = "NVESEC_CTL_SOCKET";

/// Lowest and highest charon log levels (-1 silent .. 4 private).
pub const LEVEL_MIN: i8 = -1;
/// See [`LEVEL_MIN`].
pub const LEVEL_MAX: i8 = 4;

/// Every command name the protocol knows, in wire spelling.
pub const COMMANDS: &[&str] = &[
    "load-all",
    "load-conns",
    "load-creds",
    "list-sas",
    "list-conns",
    "list-certs",
    "list-pols",
    "initiate",
    "terminate",
    "rekey",
    "stats",
    "counters",
    "log",
    "subscribe",
    "version",
];

/// Hex (de)serialisation for SPIs and GSA-IDs: JSON numbers above 2^53 are
/// lossy in JavaScript, and operators compare these values with tcpdump
/// output, which prints hex.
mod hex {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn ser64<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{v:016x}"))
    }
    pub fn de64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let s = String::deserialize(d)?;
        u64::from_str_radix(&s, 16).map_err(D::Error::custom)
    }
    pub fn ser32<S: Serializer>(v: &u32, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{v:08x}"))
    }
    pub fn de32<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
        let s = String::deserialize(d)?;
        u32::from_str_radix(&s, 16).map_err(D::Error::custom)
    }
}

// ---------------------------------------------------------------- requests

/// One request line: a client-chosen id and a command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub id: u64,
    #[serde(flatten)]
    pub command: Command,
}

/// The named commands (VICI / swanctl names).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "kebab-case")]
pub enum Command {
    /// `--load-all`: reload configuration and credentials (diff-applied).
    LoadAll,
    /// `--load-conns`: reload connections only.
    LoadConns,
    /// `--load-creds`: reload certificates, keys and secrets.
    LoadCreds,
    /// `--list-sas`, optionally filtered.
    ListSas(SaFilter),
    ListConns,
    ListCerts,
    ListPols,
    /// `--initiate --child|--ike [--timeout]`.
    Initiate {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        child: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ike: Option<String>,
        /// Seconds to wait for completion; 0 or absent = daemon default.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout: Option<u32>,
    },
    /// `--terminate --child|--ike|--ike-id|--child-id [--force] [--timeout]`.
    Terminate {
        #[serde(flatten)]
        target: SaFilter,
        #[serde(default)]
        force: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout: Option<u32>,
    },
    /// `--rekey --child|--ike|--ike-id|--child-id [--reauth]`.
    Rekey {
        #[serde(flatten)]
        target: SaFilter,
        #[serde(default)]
        reauth: bool,
    },
    Stats,
    /// `--counters [--reset]`: dataplane per-GSA and per-drop-reason counters.
    Counters {
        #[serde(default)]
        reset: bool,
    },
    /// Subscribe to `log` events up to `level` until the client disconnects.
    Log {
        #[serde(default = "default_log_level")]
        level: i8,
    },
    /// Subscribe to other event kinds until the client disconnects.
    Subscribe {
        events: Vec<EventKind>,
    },
    Version,
}

fn default_log_level() -> i8 {
    1
}

/// Selects IKE SAs or GSAs by name or unique id (all fields optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ike: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ike_id: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub child: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub child_id: Option<u32>,
}

impl SaFilter {
    /// True when no field is set.
    pub fn is_empty(&self) -> bool {
        self == &SaFilter::default()
    }

    /// Does this filter select the IKE SA `sa` (ignoring the child fields)?
    pub fn matches_ike(&self, sa: &IkeSaInfo) -> bool {
        self.ike.as_ref().is_none_or(|n| *n == sa.name) && self.ike_id.is_none_or(|u| u == sa.uid)
    }

    /// Does this filter select GSA `gsa` (ignoring the IKE fields)?
    pub fn matches_child(&self, gsa: &GsaInfo) -> bool {
        self.child.as_ref().is_none_or(|n| *n == gsa.name)
            && self.child_id.is_none_or(|u| u == gsa.uid)
    }
}

/// Subscribable event kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    IkeUpdown,
    ChildUpdown,
    ChildRekey,
    Log,
    Acquire,
    Expire,
}

// --------------------------------------------------------------- responses

/// A response line. `id` is `null` only when the request could not be
/// parsed far enough to find its id (bad JSON, oversized line).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub id: Option<u64>,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<Reply>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

/// Response status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Ok,
    Error,
}

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
}

/// Machine-readable error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorCode {
    /// The line is not a JSON object.
    BadJson,
    /// The object has no unsigned integer `id`.
    MissingId,
    /// `command` is absent or not one of [`COMMANDS`].
    UnknownCommand,
    /// The command's arguments are malformed or inconsistent.
    InvalidArguments,
    /// The line exceeded [`MAX_LINE`] bytes.
    LineTooLong,
    /// The daemon could not carry out a well-formed request.
    Failed,
    /// The operation did not complete within its timeout.
    Timeout,
    /// No SA or connection matched.
    NotFound,
    /// The client's credentials are not allowed on the socket (sent once, id `null`, then
    /// the connection is closed).
    PermissionDenied,
}

impl Response {
    /// A successful response.
    pub fn ok(id: u64, reply: Reply) -> Response {
        Response {
            id: Some(id),
            status: Status::Ok,
            reply: Some(reply),
            error: None,
        }
    }

    /// A failed response.
    pub fn error(id: Option<u64>, code: ErrorCode, message: impl Into<String>) -> Response {
        Response {
            id,
            status: Status::Error,
            reply: None,
            error: Some(ErrorBody {
                code,
                message: message.into(),
            }),
        }
    }

    /// The reply, or the error body (also for an inconsistent "ok" without a reply).
    pub fn into_result(self) -> Result<Reply, ErrorBody> {
        match (self.status, self.reply, self.error) {
            (Status::Ok, Some(r), _) => Ok(r),
            (_, _, Some(e)) => Err(e),
            _ => Err(ErrorBody {
                code: ErrorCode::Failed,
                message: "response without reply or error".into(),
            }),
        }
    }
}

/// Typed reply payloads, externally tagged by the command name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reply {
    /// load-all, load-conns, load-creds.
    Load(LoadReport),
    ListSas {
        sas: Vec<IkeSaInfo>,
    },
    ListConns {
        conns: Vec<ConnInfo>,
    },
    ListCerts {
        certs: Vec<CertInfo>,
    },
    ListPols {
        policies: Vec<PolicyInfo>,
    },
    /// initiate, terminate, rekey: what was done, one line per SA.
    Done {
        messages: Vec<String>,
    },
    Stats(StatsInfo),
    Counters(CountersInfo),
    /// log, subscribe: events with this request's id follow.
    Subscribed {
        events: Vec<EventKind>,
    },
    Version(VersionInfo),
}

/// Outcome of a load command (swanctl `loaded connection 'x'`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadReport {
    /// Connections added or changed.
    pub conns_loaded: Vec<String>,
    /// Connections removed because they left the configuration.
    pub conns_unloaded: Vec<String>,
    /// Credentials loaded, as descriptions like `certificate from 'x509/nve1.pem'`.
    pub creds_loaded: Vec<String>,
    /// Errors; a non-empty list means the whole load was refused.
    pub errors: Vec<String>,
}

/// IKE SA states (charon's `ike_sa_state_t` names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum IkeState {
    Created,
    Connecting,
    Established,
    Passive,
    Rekeying,
    Rekeyed,
    Deleting,
    Destroying,
}

/// GSA (CHILD_SA) states (charon's `child_sa_state_t` names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum GsaState {
    Created,
    Routed,
    Installing,
    Installed,
    Updating,
    Rekeying,
    Rekeyed,
    Retrying,
    Deleting,
    Deleted,
    Destroying,
}

/// GSO protection: GEO (encryption, AES-GCM) or GAO (authentication only, GMAC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Protection {
    Geo,
    Gao,
}

/// One IKE SA as listed by `list-sas`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IkeSaInfo {
    /// Connection name.
    pub name: String,
    /// Unique id (`#uid`).
    pub uid: u32,
    pub state: IkeState,
    /// IKE major version (2).
    pub version: u8,
    #[serde(serialize_with = "hex::ser64", deserialize_with = "hex::de64")]
    pub spi_i: u64,
    #[serde(serialize_with = "hex::ser64", deserialize_with = "hex::de64")]
    pub spi_r: u64,
    /// Are we the original initiator (swanctl marks that SPI with `*`)?
    pub initiator: bool,
    pub local_id: String,
    pub local_addr: IpAddr,
    pub local_port: u16,
    pub remote_id: String,
    pub remote_addr: IpAddr,
    pub remote_port: u16,
    /// Negotiated suite, e.g. `AES_GCM_16-256/PRF_HMAC_SHA2_256/CURVE_25519`.
    pub proposal: String,
    /// Seconds since establishment (absent before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub established_secs: Option<u64>,
    /// Seconds until the next IKE rekey (absent if none scheduled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rekey_in_secs: Option<u64>,
    pub children: Vec<GsaInfo>,
}

/// One GSA pair (our CHILD_SA) as listed by `list-sas`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GsaInfo {
    /// Child configuration name.
    pub name: String,
    pub uid: u32,
    pub reqid: u32,
    pub state: GsaState,
    pub protection: Protection,
    /// Negotiated transform, e.g. `AES_GCM_16-256`.
    pub proposal: String,
    /// GSA-ID we receive with (inbound), hex on the wire.
    #[serde(serialize_with = "hex::ser32", deserialize_with = "hex::de32")]
    pub gsa_id_in: u32,
    /// GSA-ID we send with (outbound), hex on the wire.
    #[serde(serialize_with = "hex::ser32", deserialize_with = "hex::de32")]
    pub gsa_id_out: u32,
    pub bytes_in: u64,
    pub packets_in: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_in_secs: Option<u64>,
    pub bytes_out: u64,
    pub packets_out: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_out_secs: Option<u64>,
    pub installed_secs: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rekey_in_secs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_secs: Option<u64>,
    pub local_ts: Vec<Selector>,
    pub remote_ts: Vec<Selector>,
}

/// A traffic selector: a Geneve VNI range (TS type 241, with an optional
/// Protocol Type range) or an inner-address prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Selector {
    Geneve {
        vni_start: u32,
        vni_end: u32,
        #[serde(default)]
        proto_start: u16,
        #[serde(default = "u16_max")]
        proto_end: u16,
    },
    Prefix {
        addr: IpAddr,
        len: u8,
    },
}

fn u16_max() -> u16 {
    u16::MAX
}

/// Authentication settings of one side of a connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthInfo {
    /// `pubkey` or `psk`.
    pub method: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Certificate subjects (local) or CA subjects (remote).
    #[serde(default)]
    pub certs: Vec<String>,
}

/// A child (GSA) configuration inside a connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildConnInfo {
    pub name: String,
    pub protection: Protection,
    pub rekey_secs: u64,
    /// `none`, `trap` or `start`.
    pub start_action: String,
    pub local_ts: Vec<Selector>,
    pub remote_ts: Vec<Selector>,
}

/// One loaded connection as listed by `list-conns`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnInfo {
    pub name: String,
    /// 0 = any, 2 = IKEv2.
    pub version: u8,
    pub local_addrs: Vec<String>,
    pub remote_addrs: Vec<String>,
    /// 0 = no reauthentication.
    pub reauth_secs: u64,
    pub rekey_secs: u64,
    pub local_auth: AuthInfo,
    pub remote_auth: AuthInfo,
    pub children: Vec<ChildConnInfo>,
}

/// One certificate as listed by `list-certs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertInfo {
    pub subject: String,
    pub issuer: String,
    /// Hex serial number.
    pub serial: String,
    #[serde(default)]
    pub alt_names: Vec<String>,
    /// `YYYY-MM-DD HH:MM:SS UTC`.
    pub not_before: String,
    pub not_after: String,
    /// Negative once expired.
    pub expires_in_days: i64,
    pub ca: bool,
    pub has_private_key: bool,
}

/// GSP direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    In,
    Out,
}

/// GSP action (seed 004 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PolicyAction {
    Secure,
    Bypass,
    Discard,
}

/// One installed policy as listed by `list-pols`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyInfo {
    /// `conn/child` that owns it.
    pub name: String,
    pub direction: Direction,
    pub action: PolicyAction,
    pub protection: Option<Protection>,
    pub local_ts: Vec<Selector>,
    pub remote_ts: Vec<Selector>,
}

/// `stats`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsInfo {
    pub uptime_secs: u64,
    /// Start time, `YYYY-MM-DD HH:MM:SS UTC`.
    pub since: String,
    pub ike_sas_total: u32,
    pub ike_sas_half_open: u32,
    pub gsas_installed: u32,
    pub conns_loaded: u32,
    pub certs_loaded: u32,
    /// Is the keying socket to gsa-dp up?
    pub dataplane_connected: bool,
    pub control_clients: u32,
}

/// Dataplane counters of one GSA.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GsaCounters {
    #[serde(serialize_with = "hex::ser32", deserialize_with = "hex::de32")]
    pub gsa_id: u32,
    pub direction: Direction,
    /// `conn/child`, if known to the daemon.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub packets: u64,
    pub bytes: u64,
    /// Packets dropped on this GSA (auth failure, replay, ...).
    pub drops: u64,
}

/// One drop reason and how many packets it dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DropCounter {
    pub reason: String,
    pub count: u64,
}

/// `counters`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountersInfo {
    pub gsas: Vec<GsaCounters>,
    pub drops: Vec<DropCounter>,
}

/// `version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionInfo {
    pub daemon: String,
    pub version: String,
    pub sysname: String,
    pub release: String,
    pub machine: String,
}

// ------------------------------------------------------------------ events

/// An event line; `id` is the id of the `log`/`subscribe` request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: u64,
    #[serde(flatten)]
    pub body: EventBody,
}

/// Event payloads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", content = "data", rename_all = "kebab-case")]
pub enum EventBody {
    IkeUpdown {
        up: bool,
        sa: Box<IkeSaInfo>,
    },
    ChildUpdown {
        up: bool,
        ike: String,
        ike_uid: u32,
        child: Box<GsaInfo>,
    },
    ChildRekey {
        ike: String,
        ike_uid: u32,
        old: Box<GsaInfo>,
        new: Box<GsaInfo>,
    },
    Log(LogRecord),
    /// The dataplane matched a SECURE policy without an outbound GSA.
    Acquire {
        policy: String,
        vni: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        peer: Option<IpAddr>,
    },
    /// A GSA reached its soft or hard lifetime.
    Expire {
        #[serde(serialize_with = "hex::ser32", deserialize_with = "hex::de32")]
        gsa_id: u32,
        hard: bool,
        reason: String,
    },
}

impl EventBody {
    /// Which subscription kind this event belongs to.
    pub fn kind(&self) -> EventKind {
        match self {
            EventBody::IkeUpdown { .. } => EventKind::IkeUpdown,
            EventBody::ChildUpdown { .. } => EventKind::ChildUpdown,
            EventBody::ChildRekey { .. } => EventKind::ChildRekey,
            EventBody::Log(_) => EventKind::Log,
            EventBody::Acquire { .. } => EventKind::Acquire,
            EventBody::Expire { .. } => EventKind::Expire,
        }
    }
}

/// One log message (charon model: subsystem, level, per-IKE-SA prefix).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogRecord {
    /// Logging thread number (charon's `08`).
    pub thread: u32,
    /// Subsystem in lower case (`ike`, `gsa`, ...).
    pub subsystem: String,
    /// Level -1..4.
    pub level: i8,
    /// IKE SA connection name, if the message is about one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ike: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ike_uid: Option<u32>,
    pub message: String,
}

/// Anything the daemon writes: a response or an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ServerMessage {
    Response(Response),
    Event(Event),
}

// ----------------------------------------------------------------- parsing

/// Why a request line was rejected. Each maps to an [`ErrorCode`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("bad JSON: {0}")]
    BadJson(String),
    #[error("request is not a JSON object")]
    NotObject,
    #[error("request has no unsigned integer \"id\"")]
    MissingId,
    #[error("request has no \"command\" string")]
    MissingCommand { id: u64 },
    #[error("unknown command '{name}'")]
    UnknownCommand { id: u64, name: String },
    #[error("invalid arguments for '{name}': {reason}")]
    InvalidArguments {
        id: u64,
        name: String,
        reason: String,
    },
    #[error("request line longer than {MAX_LINE} bytes")]
    LineTooLong,
}

impl ParseError {
    /// The request id, when it could be recovered.
    pub fn id(&self) -> Option<u64> {
        match self {
            ParseError::MissingCommand { id }
            | ParseError::UnknownCommand { id, .. }
            | ParseError::InvalidArguments { id, .. } => Some(*id),
            _ => None,
        }
    }

    /// The wire error code.
    pub fn code(&self) -> ErrorCode {
        match self {
            ParseError::BadJson(_) | ParseError::NotObject => ErrorCode::BadJson,
            ParseError::MissingId => ErrorCode::MissingId,
            ParseError::MissingCommand { .. } | ParseError::UnknownCommand { .. } => {
                ErrorCode::UnknownCommand
            }
            ParseError::InvalidArguments { .. } => ErrorCode::InvalidArguments,
            ParseError::LineTooLong => ErrorCode::LineTooLong,
        }
    }

    /// The error response the server sends for this failure.
    pub fn to_response(&self) -> Response {
        Response::error(self.id(), self.code(), self.to_string())
    }
}

/// Parse one request line (without its newline). Never panics.
///
/// Parsing is staged so that the error says what was wrong: JSON syntax,
/// then the id (so later errors can be matched by the client), then the
/// command name, then its arguments and their consistency.
pub fn parse_request(line: &[u8]) -> Result<Request, ParseError> {
    if line.len() > MAX_LINE {
        return Err(ParseError::LineTooLong);
    }
    let value: serde_json::Value =
        serde_json::from_slice(line).map_err(|e| ParseError::BadJson(e.to_string()))?;
    let serde_json::Value::Object(mut obj) = value else {
        return Err(ParseError::NotObject);
    };
    let id = obj
        .remove("id")
        .and_then(|v| v.as_u64())
        .ok_or(ParseError::MissingId)?;
    let name = match obj.get("command").and_then(|v| v.as_str()) {
        Some(n) => n.to_owned(),
        None => return Err(ParseError::MissingCommand { id }),
    };
    if !COMMANDS.contains(&name.as_str()) {
        return Err(ParseError::UnknownCommand { id, name });
    }
    let invalid = |reason: String| ParseError::InvalidArguments {
        id,
        name: name.clone(),
        reason,
    };
    let command: Command = serde_json::from_value(serde_json::Value::Object(obj))
        .map_err(|e| invalid(e.to_string()))?;
    command.validate().map_err(|r| invalid(r.to_owned()))?;
    Ok(Request { id, command })
}

impl Command {
    /// The wire name of this command.
    pub fn name(&self) -> &'static str {
        match self {
            Command::LoadAll => "load-all",
            Command::LoadConns => "load-conns",
            Command::LoadCreds => "load-creds",
            Command::ListSas(_) => "list-sas",
            Command::ListConns => "list-conns",
            Command::ListCerts => "list-certs",
            Command::ListPols => "list-pols",
            Command::Initiate { .. } => "initiate",
            Command::Terminate { .. } => "terminate",
            Command::Rekey { .. } => "rekey",
            Command::Stats => "stats",
            Command::Counters { .. } => "counters",
            Command::Log { .. } => "log",
            Command::Subscribe { .. } => "subscribe",
            Command::Version => "version",
        }
    }

    /// Semantic checks serde cannot express (swanctl's own rules: initiate
    /// needs a child or an IKE name; terminate/rekey need some selector).
    pub fn validate(&self) -> Result<(), &'static str> {
        match self {
            Command::Initiate { child, ike, .. } if child.is_none() && ike.is_none() => {
                Err("initiate needs \"child\" or \"ike\"")
            }
            Command::Terminate { target, .. } | Command::Rekey { target, .. }
                if target.is_empty() =>
            {
                Err("needs one of \"child\", \"ike\", \"child_id\", \"ike_id\"")
            }
            Command::Log { level } if !(LEVEL_MIN..=LEVEL_MAX).contains(level) => {
                Err("level must be -1..4")
            }
            Command::Subscribe { events } if events.is_empty() => Err("no events given"),
            _ => Ok(()),
        }
    }
}

/// Serialise a request as one line including the trailing newline.
pub fn encode_request(req: &Request) -> Vec<u8> {
    encode_line(req)
}

/// Serialise a server message as one line including the trailing newline.
pub fn encode_message(msg: &ServerMessage) -> Vec<u8> {
    encode_line(msg)
}

fn encode_line<T: Serialize>(v: &T) -> Vec<u8> {
    // Serialising these plain data types cannot fail (no maps with
    // non-string keys, no custom fallible Serialize impls).
    let mut out = serde_json::to_vec(v).unwrap_or_default();
    out.push(b'\n');
    out
}

/// Parse one line the daemon sent.
pub fn parse_message(line: &[u8]) -> Result<ServerMessage, serde_json::Error> {
    serde_json::from_slice(line)
}

/// Fuzzing entry point (also used by the proptest): parse arbitrary bytes
/// as a request and, on success, check that it re-encodes to an equal value.
pub fn fuzz_parse(data: &[u8]) {
    match parse_request(data) {
        Ok(req) => {
            let line = encode_request(&req);
            let again = parse_request(&line[..line.len() - 1]);
            assert_eq!(again.as_ref(), Ok(&req), "request round trip");
        }
        Err(e) => {
            let resp = e.to_response();
            let line = encode_message(&ServerMessage::Response(resp.clone()));
            assert_eq!(
                parse_message(&line[..line.len() - 1]).ok(),
                Some(ServerMessage::Response(resp)),
                "error response round trip"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err_code(line: &str) -> (Option<u64>, ErrorCode) {
        let e = parse_request(line.as_bytes()).unwrap_err();
        (e.id(), e.code())
    }

    #[test]
    fn parses_list_sas_with_filter() {
        let r = parse_request(br#"{"id":7,"command":"list-sas","ike":"gw"}"#).unwrap();
        assert_eq!(r.id, 7);
        assert_eq!(
            r.command,
            Command::ListSas(SaFilter {
                ike: Some("gw".into()),
                ..SaFilter::default()
            })
        );
    }

    #[test]
    fn parses_terminate_flags() {
        let r =
            parse_request(br#"{"id":1,"command":"terminate","ike_id":3,"force":true}"#).unwrap();
        assert_eq!(
            r.command,
            Command::Terminate {
                target: SaFilter {
                    ike_id: Some(3),
                    ..SaFilter::default()
                },
                force: true,
                timeout: None
            }
        );
    }

    #[test]
    fn log_level_defaults_to_one_and_is_range_checked() {
        let r = parse_request(br#"{"id":1,"command":"log"}"#).unwrap();
        assert_eq!(r.command, Command::Log { level: 1 });
        assert_eq!(
            err_code(r#"{"id":2,"command":"log","level":5}"#),
            (Some(2), ErrorCode::InvalidArguments)
        );
    }

    #[test]
    fn staged_errors() {
        assert_eq!(err_code("{"), (None, ErrorCode::BadJson));
        assert_eq!(err_code("[1]"), (None, ErrorCode::BadJson));
        assert_eq!(
            err_code(r#"{"command":"stats"}"#),
            (None, ErrorCode::MissingId)
        );
        assert_eq!(
            err_code(r#"{"id":-1,"command":"stats"}"#),
            (None, ErrorCode::MissingId)
        );
        assert_eq!(
            err_code(r#"{"id":4}"#),
            (Some(4), ErrorCode::UnknownCommand)
        );
        assert_eq!(
            err_code(r#"{"id":5,"command":"reboot"}"#),
            (Some(5), ErrorCode::UnknownCommand)
        );
        assert_eq!(
            err_code(r#"{"id":6,"command":"initiate"}"#),
            (Some(6), ErrorCode::InvalidArguments)
        );
        assert_eq!(
            err_code(r#"{"id":6,"command":"counters","reset":"yes"}"#),
            (Some(6), ErrorCode::InvalidArguments)
        );
        let long = vec![b' '; MAX_LINE + 1];
        assert_eq!(parse_request(&long), Err(ParseError::LineTooLong));
    }

    #[test]
    fn request_wire_form_is_flat() {
        let req = Request {
            id: 9,
            command: Command::Initiate {
                child: Some("net".into()),
                ike: None,
                timeout: Some(5),
            },
        };
        assert_eq!(
            encode_request(&req),
            b"{\"id\":9,\"command\":\"initiate\",\"child\":\"net\",\"timeout\":5}\n"
        );
        assert_eq!(
            encode_request(&Request {
                id: 1,
                command: Command::Version
            }),
            b"{\"id\":1,\"command\":\"version\"}\n"
        );
    }

    #[test]
    fn response_and_event_wire_forms() {
        let r = ServerMessage::Response(Response::error(
            Some(3),
            ErrorCode::UnknownCommand,
            "unknown command 'x'",
        ));
        let line = encode_message(&r);
        assert_eq!(
            std::str::from_utf8(&line).unwrap(),
            "{\"type\":\"response\",\"id\":3,\"status\":\"error\",\"error\":{\"code\":\"unknown-command\",\"message\":\"unknown command 'x'\"}}\n"
        );
        let e = ServerMessage::Event(Event {
            id: 2,
            body: EventBody::Expire {
                gsa_id: 0xc39845d7,
                hard: false,
                reason: "time".into(),
            },
        });
        let line = encode_message(&e);
        assert_eq!(
            std::str::from_utf8(&line).unwrap(),
            "{\"type\":\"event\",\"id\":2,\"event\":\"expire\",\"data\":{\"gsa_id\":\"c39845d7\",\"hard\":false,\"reason\":\"time\"}}\n"
        );
        assert_eq!(parse_message(&line[..line.len() - 1]).unwrap(), e);
        let ok = ServerMessage::Response(Response::ok(
            4,
            Reply::Done {
                messages: vec!["x".into()],
            },
        ));
        let line = encode_message(&ok);
        assert_eq!(
            std::str::from_utf8(&line).unwrap(),
            "{\"type\":\"response\",\"id\":4,\"status\":\"ok\",\"reply\":{\"done\":{\"messages\":[\"x\"]}}}\n"
        );
        assert_eq!(parse_message(&line).unwrap(), ok);
    }

    #[test]
    fn every_command_name_is_known() {
        for name in COMMANDS {
            let line = format!(r#"{{"id":1,"command":"{name}"}}"#);
            // Commands with required arguments fail on arguments, never on the name.
            if let Err(e) = parse_request(line.as_bytes()) {
                assert_eq!(e.code(), ErrorCode::InvalidArguments, "{name}");
            }
        }
    }
}
