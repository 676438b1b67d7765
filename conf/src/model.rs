//! The typed, validated configuration model. Every default is already applied: a `Config`
//! says exactly what the daemon will do. Names and defaults follow swanctl.conf
//! (strongSwan's swanctl.opt) where the concept exists there.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::prefix::{IfAddr, Prefix};
use crate::secret::Secret;

/// Declares a keyword enum with its configuration spelling.
macro_rules! keywords {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $var:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vm])* $var),+ }
        impl $name {
            /// Every value, in documentation order.
            pub const ALL: &'static [$name] = &[$($name::$var),+];
            /// The configuration spelling.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$var => $s),+ }
            }
            /// Parses the configuration spelling (case-sensitive, as strongSwan).
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($s => Some($name::$var),)+ _ => None }
            }
            /// `a|b|c`, for error messages and docs.
            pub fn expected() -> String {
                Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join("|")
            }
        }
    };
}

keywords!(
    /// `version`: 0 = any (accept IKEv2, initiate IKEv2), 2 = IKEv2. IKEv1 is not supported.
    IkeVersion { Any = "0", V2 = "2" }
);
keywords!(
    /// `unique`: uniqueness policy for IKE SAs with the same identities.
    Unique { No = "no", Never = "never", Keep = "keep", Replace = "replace" }
);
keywords!(
    /// `fragmentation`: IKEv2 fragmentation (RFC 7383).
    Fragmentation { Yes = "yes", Accept = "accept", Force = "force", No = "no" }
);
keywords!(
    /// `childless`: childless IKE SA initiation (RFC 6023).
    Childless { Allow = "allow", Prefer = "prefer", Force = "force", Never = "never" }
);
keywords!(
    /// `send_cert`: when to send our certificate.
    SendCert { IfAsked = "ifasked", Always = "always", Never = "never" }
);
keywords!(
    /// `auth` in `local`/`remote`.
    AuthMethod { Pubkey = "pubkey", Psk = "psk" }
);
keywords!(
    /// `protection` of a child: which Geneve Security Options it produces.
    Protection { Geo = "geo", Gao = "gao", GeoGao = "geo+gao" }
);
keywords!(
    /// `start_action` of a child.
    StartAction { None = "none", Trap = "trap", Start = "start", TrapStart = "trap|start" }
);
keywords!(
    /// `dpd_action` of a child (exactly strongSwan's values; `start` is refused).
    DpdAction { Clear = "clear", Trap = "trap", Restart = "restart" }
);
keywords!(
    /// `close_action` of a child.
    CloseAction { None = "none", Trap = "trap", Start = "start" }
);
keywords!(
    /// `device` type for an overlay network.
    DeviceKind { Tun = "tun", Tap = "tap" }
);
keywords!(
    /// `direction` of a policy (GSPs are unidirectional, seed 004 §5.2).
    Direction { Out = "out", In = "in" }
);

/// The whole configuration.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Config {
    /// In file order.
    pub connections: Vec<Connection>,
    pub secrets: Vec<IkeSecret>,
    pub authorities: Vec<Authority>,
    pub overlay: Overlay,
    /// The GSP DB: order matters, first match wins, no match = DISCARD.
    pub policies: Vec<Policy>,
    pub daemon: Daemon,
}

/// `nvesecd`: daemon settings, named and defaulted as strongswan.conf's `charon.retransmit_*`
/// (RFC 7296 §2.1 leaves the retransmission schedule to the implementation). Interval n
/// (from 0) is `retransmit_timeout * retransmit_base^n`, capped at `retransmit_limit`; the
/// IKE SA is given up after `retransmit_tries` retransmissions and one more interval.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Daemon {
    pub retransmit_timeout: Duration,
    /// In thousandths (1800 = 1.8), so the model stays `Eq`.
    pub retransmit_base_milli: u32,
    pub retransmit_tries: u32,
    pub retransmit_limit: Option<Duration>,
    /// Half-open IKE SAs above which IKE_SA_INIT needs a COOKIE (charon.cookie_threshold).
    pub cookie_threshold: u32,
    /// Most half-open IKE SAs in all, 0 = unlimited (charon.init_limit_half_open).
    pub init_limit_half_open: u32,
    /// Most half-open IKE SAs per peer IP, 0 = unlimited (charon.block_threshold).
    pub block_threshold: u32,
    /// Minimum spacing of new IKE SAs answered per peer IP (seed 000 REQ 7.a); `None` = off.
    pub ike_rate_limit: Option<Duration>,
    /// IKE datagrams read per event-loop iteration before timers and other sockets run.
    pub ike_read_budget: u32,
    /// Most IKE datagrams waiting to be sent; beyond, new ones are dropped and counted.
    pub ike_send_queue: u32,
}

impl Default for Daemon {
    fn default() -> Self {
        Daemon {
            retransmit_timeout: Duration::from_secs(4),
            retransmit_base_milli: 1800,
            retransmit_tries: 5,
            retransmit_limit: None,
            cookie_threshold: 30,
            init_limit_half_open: 1000,
            block_threshold: 5,
            ike_rate_limit: Some(Duration::from_secs(1)),
            ike_read_budget: 64,
            ike_send_queue: 4096,
        }
    }
}

/// An underlay address specification for `local_addrs`/`remote_addrs`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AddrSpec {
    /// `%any`, `%any4`, `%any6`.
    Any,
    Any4,
    Any6,
    Ip(IpAddr),
    /// A subnet of acceptable peers (responder only).
    Subnet(Prefix),
    /// A DNS name, resolved by the daemon.
    Host(String),
}

/// A credential file named in the configuration and where it resolves to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredFile {
    /// As written (relative to x509/ or x509ca/, or absolute).
    pub name: String,
    pub path: PathBuf,
}

/// `connections.<name>`: an IKE SA configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connection {
    pub name: String,
    pub version: IkeVersion,
    pub local_addrs: Vec<AddrSpec>,
    pub remote_addrs: Vec<AddrSpec>,
    pub local_port: u16,
    pub remote_port: u16,
    /// IKE proposals, e.g. `aes256gcm16-prfsha384-x25519`, or `default`.
    pub proposals: Vec<String>,
    pub dpd_delay: Duration,
    pub rekey_time: Duration,
    pub over_time: Duration,
    pub rand_time: Duration,
    pub keyingtries: u32,
    pub unique: Unique,
    pub fragmentation: Fragmentation,
    pub childless: Childless,
    pub send_certreq: bool,
    pub send_cert: SendCert,
    pub local: Auth,
    pub remote: Auth,
    pub children: Vec<Child>,
}

/// `local` / `remote` authentication.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Auth {
    pub auth: AuthMethod,
    pub id: Option<String>,
    pub certs: Vec<CredFile>,
    pub cacerts: Vec<CredFile>,
}

/// Which Geneve options a GSO covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OptionSet {
    All,
    None,
    List(Vec<OptionId>),
}

/// A Geneve option by class and type (`0x0103:0x80`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OptionId {
    pub class: u16,
    pub kind: u8,
}

/// How much of the Geneve payload a GSO covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CoveredLength {
    All,
    Bytes(u16),
    /// Up to the end of the inner L4 header (tenant payload, often already protected,
    /// stays clear).
    InnerL4,
}

/// Dummy traffic generation for GEO (flag bit 0 in the trailer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DummyRate {
    Off,
    /// Packets per second.
    PerSecond(u32),
    /// Percent of the data packet rate (1-100).
    Percent(u8),
}

/// A selector over a numeric field: ANY, OPAQUE (field absent or ignored) or a list of
/// inclusive ranges (seed 004 §5.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selector {
    Any,
    Opaque,
    Ranges(Vec<Range>),
}

/// An inclusive range `start-end` (a single value has start == end).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Range {
    pub start: u32,
    pub end: u32,
}

impl Selector {
    /// Whether every packet this selector matches is also matched by `self`.
    /// OPAQUE (not evaluated) matches all; ANY matches every present value.
    pub fn covers(&self, other: &Selector) -> bool {
        match (self, other) {
            (Selector::Opaque, _) => true,
            (Selector::Any, o) => *o != Selector::Opaque,
            (Selector::Ranges(_), Selector::Any | Selector::Opaque) => false,
            (Selector::Ranges(mine), Selector::Ranges(theirs)) => {
                theirs.iter().all(|t| covered_by(*t, mine))
            }
        }
    }
}

/// Whether `r` is inside the union of `set`.
fn covered_by(r: Range, set: &[Range]) -> bool {
    let mut sorted = set.to_vec();
    sorted.sort();
    let mut next = r.start;
    for s in sorted {
        if s.start > next {
            break;
        }
        if s.end >= next {
            if s.end >= r.end {
                return true;
            }
            next = s.end + 1;
        }
    }
    false
}

/// The Geneve traffic selectors of a child (negotiated as TS_GENEVE + TS_IPV4/6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GsaSelectors {
    pub vnis: Selector,
    pub protocol_types: Selector,
    /// Empty = any inner address.
    pub local_prefixes: Vec<Prefix>,
    pub remote_prefixes: Vec<Prefix>,
    pub ip_proto: Selector,
    pub local_ports: Selector,
    pub remote_ports: Selector,
}

/// `connections.<conn>.children.<name>`: a GSA configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Child {
    pub name: String,
    pub gsa_proposals: Vec<String>,
    pub protection: Protection,
    pub encrypted_options: OptionSet,
    pub authenticated_options: OptionSet,
    pub covered_length: CoveredLength,
    /// Pad the encrypted part to a multiple of this many bytes (0 = no padding).
    pub padding: u8,
    /// Move VNI and Protocol Type into the ciphertext (GEO hidden header flag).
    pub hide_header: bool,
    pub dummy_rate: DummyRate,
    pub start_action: StartAction,
    pub dpd_action: DpdAction,
    pub close_action: CloseAction,
    pub rekey_time: Duration,
    pub life_time: Duration,
    pub rand_time: Duration,
    pub rekey_bytes: u64,
    pub life_bytes: u64,
    pub rekey_packets: u64,
    pub life_packets: u64,
    pub replay_window: u32,
    pub selectors: GsaSelectors,
}

/// `secrets.ike<suffix>`: a PSK and the identities it belongs to (none = any).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IkeSecret {
    pub name: String,
    pub ids: Vec<String>,
    pub secret: Secret,
}

/// `authorities.<name>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authority {
    pub name: String,
    pub cacert: CredFile,
    pub crl_uris: Vec<String>,
    pub ocsp_uris: Vec<String>,
}

/// `overlay`: the Geneve side of this NVE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Overlay {
    /// Underlay addresses Geneve is sent from and received on (empty = any).
    pub local_addrs: Vec<IpAddr>,
    pub port: u16,
    /// Option class of the Geneve Security Options (DESIGN.md: 0xFF00, experimental).
    pub option_class: u16,
    pub networks: Vec<Network>,
}

impl Default for Overlay {
    fn default() -> Self {
        Overlay {
            local_addrs: Vec::new(),
            port: 6081,
            option_class: 0xff00,
            networks: Vec::new(),
        }
    }
}

/// `overlay.networks.<name>`: one VNI attached to a tun or tap device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Network {
    pub name: String,
    pub vni: u32,
    pub device: DeviceKind,
    pub ifname: String,
    pub mtu: u16,
    pub address: Option<IfAddr>,
    pub peers: Vec<Peer>,
}

/// `overlay.networks.<net>.peers.<name>`: a remote NVE on this VNI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    pub name: String,
    pub underlay: IpAddr,
    pub prefixes: Vec<Prefix>,
}

/// `policies.<name>`: one GSP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub name: String,
    pub direction: Direction,
    pub version: Selector,
    pub oam: Selector,
    pub critical: Selector,
    pub rsv: Selector,
    pub protocol_types: Selector,
    pub vnis: Selector,
    /// Options that must be present (empty = OPAQUE: options are not evaluated).
    pub required_options: Vec<OptionId>,
    pub ip_proto: Selector,
    pub src_ports: Selector,
    pub dst_ports: Selector,
    pub action: Action,
}

/// What a GSP does with matching packets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Apply these GSAs in order.
    Secure(Vec<GsaRef>),
    Bypass,
    Discard,
}

/// A reference to a child in `policies.<p>.gsas`: `<connection>.<child>` names that
/// connection's child; a bare `<child>` names the child of that name of whichever connection
/// the packet's remote NVE belongs to (a full mesh: one policy, a GSA per peer).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GsaRef {
    /// `None` for a bare child name (any connection).
    pub connection: Option<String>,
    pub child: String,
}

impl GsaRef {
    /// Whether `conn.child` is (one of) the children this reference names.
    pub fn names(&self, conn: &str, child: &str) -> bool {
        self.child == child && self.connection.as_deref().is_none_or(|c| c == conn)
    }
}

impl std::fmt::Display for GsaRef {
    /// As written in `gsas`: `conn.child` or `child`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.connection {
            Some(c) => write!(f, "{c}.{}", self.child),
            None => f.write_str(&self.child),
        }
    }
}

impl Config {
    pub fn connection(&self, name: &str) -> Option<&Connection> {
        self.connections.iter().find(|c| c.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(start: u32, end: u32) -> Range {
        Range { start, end }
    }

    #[test]
    fn selector_cover() {
        let wide = Selector::Ranges(vec![r(1, 99), r(100, 200)]);
        assert!(wide.covers(&Selector::Ranges(vec![r(50, 150)])));
        assert!(!wide.covers(&Selector::Ranges(vec![r(150, 201)])));
        assert!(!Selector::Ranges(vec![r(1, 5), r(7, 9)]).covers(&Selector::Ranges(vec![r(1, 9)])));
        assert!(Selector::Any.covers(&wide));
        assert!(!Selector::Any.covers(&Selector::Opaque));
        assert!(Selector::Opaque.covers(&Selector::Any));
        assert!(!wide.covers(&Selector::Any));
        assert_eq!(DpdAction::expected(), "clear|trap|restart");
    }
}
