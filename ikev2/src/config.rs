//! The engine's own configuration (like rustls' `ClientConfig`).
//!
//! The engine does not depend on the `conf` crate: the daemon converts the validated
//! `nvesec.conf` model into these types. Secrets (PSKs) zeroize on drop and never show in
//! `Debug`. Certificate validation is abstract ([`PeerAuthenticator`]) so the `pki` crate can
//! plug in; signing is abstract ([`LocalSigner`]) so keys can live anywhere.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use zeroize::Zeroizing;

/// Default of [`EngineConfig::init_limit_half_open`]. charon has no limit by default; ours
/// bounds the memory of half-open SAs (each keeps both IKE_SA_INIT messages, up to 64 KB,
/// and a 64 KB reassembly allowance, `MAX_REASSEMBLY`) at about 128 MB in the worst case while
/// one in ten of 10,000 peers (DESIGN.md "Scale") may be setting up at once.
pub const DEFAULT_INIT_LIMIT_HALF_OPEN: usize = 1000;

/// Default of [`EngineConfig::block_threshold`]: strongSwan's `charon.block_threshold`.
pub const DEFAULT_BLOCK_THRESHOLD: usize = 5;

/// Engine-wide settings plus the list of connections.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Connections, looked up by name (initiate) or by peer address and identity (respond).
    pub connections: Vec<Arc<ConnectionConfig>>,
    /// Retransmission of requests (RFC 7296 §2.1).
    pub retransmit: RetransmitConfig,
    /// Half-open IKE SAs (all peers) above which IKE_SA_INIT requests must carry a valid
    /// COOKIE (RFC 7296 §2.6). strongSwan's `cookie_threshold` default is 30.
    pub cookie_threshold: usize,
    /// A half-open responder SA is dropped after this long (strongSwan `half_open_timeout`).
    pub half_open_timeout: Duration,
    /// The cookie secret is replaced this often; the previous one stays valid for one period.
    pub cookie_secret_lifetime: Duration,
    /// Largest IKE datagram (IP payload) before RFC 7383 fragmentation; strongSwan's default.
    pub fragment_mtu: usize,
    /// Grace period an old inbound GSA stays installed after a rekey (make-before-break);
    /// strongSwan's `delete_rekeyed_delay` is 5 s.
    pub rekeyed_inbound_grace: Duration,
    /// Minimum spacing of new IKE_SA_INIT exchanges answered per peer address (seed 000 REQ 7);
    /// `None` disables the limit.
    pub per_peer_min_interval: Option<Duration>,
    /// Most half-open responder SAs in all (strongSwan `charon.init_limit_half_open`): beyond,
    /// IKE_SA_INIT is dropped even with a valid COOKIE, since a cookie proves only that the
    /// sender sees our answers. `None` = unlimited (charon's default 0).
    pub init_limit_half_open: Option<usize>,
    /// Most half-open responder SAs per peer IP address (strongSwan `charon.block_threshold`,
    /// default 5): beyond, IKE_SA_INIT from that address is dropped. `None` = unlimited.
    pub block_threshold: Option<usize>,
    /// Most datagrams waiting in [`crate::endpoint::Endpoint::poll_transmit`]'s queue; newer
    /// ones are dropped and counted (`send_queue_full`) like losses, which retransmission
    /// repairs. Bounds memory when the daemon cannot send as fast as the engine produces.
    pub max_queued_transmits: usize,
    /// Send the nvesec GSA Vendor ID in IKE_SA_INIT. Off makes this node a plain IKEv2 peer
    /// (no GSAs, childless IKE SAs), e.g. to mimic strongSwan in tests.
    pub announce_gsa: bool,
    /// Tests only (the interop insider scenarios' hostile peer, `ike-driver`): every GSA this
    /// engine creates receives on this GSA-ID instead of a fresh random one, as a modified
    /// stack could choose another peer's. nvesecd never sets it (translate leaves the default).
    #[doc(hidden)]
    pub test_force_inbound_gsa_id: Option<u32>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            connections: Vec::new(),
            retransmit: RetransmitConfig::default(),
            cookie_threshold: 30,
            half_open_timeout: Duration::from_secs(30),
            cookie_secret_lifetime: Duration::from_secs(120),
            fragment_mtu: 1280,
            rekeyed_inbound_grace: Duration::from_secs(5),
            per_peer_min_interval: None,
            init_limit_half_open: Some(DEFAULT_INIT_LIMIT_HALF_OPEN),
            block_threshold: Some(DEFAULT_BLOCK_THRESHOLD),
            max_queued_transmits: 4096,
            announce_gsa: true,
            test_force_inbound_gsa_id: None,
        }
    }
}

impl EngineConfig {
    /// The connection named `name`.
    pub fn connection(&self, name: &str) -> Option<&Arc<ConnectionConfig>> {
        self.connections.iter().find(|c| c.name == name)
    }
}

/// Request retransmission schedule: the n-th retransmission (n from 0) is sent
/// `timeout * base^n` after the previous send; after `tries` retransmissions the exchange
/// fails one interval later. Defaults are strongSwan's (charon.opt): 4 s, 1.8, 5 tries,
/// which gives up after about 165 s.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetransmitConfig {
    pub timeout: Duration,
    pub base: f64,
    pub tries: u32,
    /// Upper bound on one interval (strongSwan `retransmit_limit`); `None` = unbounded.
    pub limit: Option<Duration>,
}

impl Default for RetransmitConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(4),
            base: 1.8,
            tries: 5,
            limit: None,
        }
    }
}

impl RetransmitConfig {
    /// Interval after send number `n` (0 = first transmission).
    pub fn interval(&self, n: u32) -> Duration {
        // Rounded to whole milliseconds so schedules are exact and reproducible.
        let ms = (self.timeout.as_secs_f64() * 1000.0 * self.base.powi(n as i32)).round();
        let d = if ms.is_finite() && ms < 1e15 {
            Duration::from_millis(ms as u64)
        } else {
            Duration::from_secs(u64::from(u32::MAX))
        };
        match self.limit {
            Some(l) => d.min(l),
            None => d,
        }
    }
}

/// One connection (a swanctl `connections.<name>` section).
#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    /// Name used in logs (`<name|uid>`) and commands.
    pub name: String,
    /// Addresses of the peer; an incoming IKE_SA_INIT from one of them selects this connection
    /// (an empty list matches any address).
    pub remote_addrs: Vec<IpAddr>,
    /// Port the initiator sends to (500).
    pub remote_port: u16,
    /// Who we are and how we prove it.
    pub local: LocalAuth,
    /// Who the peer must be and how it proves it.
    pub remote: RemoteAuth,
    /// IKE SA proposals in preference order.
    pub ike_proposals: Vec<IkeProposal>,
    /// GSAs negotiated on this IKE SA; also the authorization of the peer (seed 000 REQ 4/14).
    pub children: Vec<GsaConfig>,
    /// Whether the first GSA rides in IKE_AUTH or the IKE SA is created childless (RFC 6023).
    pub childless: ChildlessPolicy,
    /// Liveness check interval when idle; `None` disables DPD.
    pub dpd_delay: Option<Duration>,
    /// What to do when the peer is declared dead.
    pub dpd_action: DpdAction,
    /// IKE SA rekey interval (strongSwan default 4 h); `None` disables.
    pub rekey_time: Option<Duration>,
    /// Send INITIAL_CONTACT in the first IKE_AUTH (RFC 7296 §2.4; strongSwan `unique` policy).
    pub send_initial_contact: bool,
    /// Send CERTREQ in IKE_SA_INIT responses / IKE_AUTH requests (only with certificate auth).
    pub send_certreq: bool,
    /// SHA-1 hashes of the trusted CAs' SubjectPublicKeyInfo, named in our CERTREQ payloads
    /// (RFC 7296 §3.7); empty sends an empty CERTREQ ("any CA").
    pub certreq_ca_hashes: Vec<[u8; 20]>,
}

impl ConnectionConfig {
    /// A PSK connection with our default suite and no GSAs (handy for tests and examples).
    pub fn psk(name: &str, local: Identity, remote: Identity, psk: &[u8]) -> Self {
        Self {
            name: name.to_owned(),
            remote_addrs: Vec::new(),
            remote_port: 500,
            local: LocalAuth {
                id: local,
                credential: Credential::Psk(Psk::new(psk)),
            },
            remote: RemoteAuth {
                id: IdentityMatcher::Exact(remote),
                method: PeerAuthMethod::Psk(Psk::new(psk)),
            },
            ike_proposals: vec![IkeProposal::default()],
            children: Vec::new(),
            childless: ChildlessPolicy::Allow,
            dpd_delay: None,
            dpd_action: DpdAction::Clear,
            rekey_time: None,
            send_initial_contact: true,
            send_certreq: false,
            certreq_ca_hashes: Vec::new(),
        }
    }
}

/// RFC 6023 behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildlessPolicy {
    /// Initiator: put the first GSA in IKE_AUTH when the peer announced our Vendor ID, go
    /// childless otherwise (strongSwan peers). Responder: accept both.
    Allow,
    /// Initiator: always childless when the responder supports it; GSAs follow in
    /// CREATE_CHILD_SA.
    Force,
    /// Never childless; as responder answer a childless IKE_AUTH with INVALID_SYNTAX (RFC 6023 §3)
    /// — not recommended, strongSwan treats that as fatal.
    Never,
}

/// What happens after DPD declares the peer dead (swanctl `dpd_action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DpdAction {
    /// Close the IKE SA and its GSAs.
    Clear,
    /// Close, then initiate the connection again.
    Restart,
    /// Close; GSAs are re-created on the next ACQUIRE.
    Trap,
}

/// Our identity and credential.
#[derive(Debug, Clone)]
pub struct LocalAuth {
    pub id: Identity,
    pub credential: Credential,
}

/// How we authenticate: AUTH method 2 (PSK) or 14 (RFC 7427 digital signature).
#[derive(Clone)]
pub enum Credential {
    Psk(Psk),
    Signature {
        signer: Arc<dyn LocalSigner>,
        /// Our certificate first, then intermediates; DER. Sent as CERT payloads (encoding 4).
        chain: Vec<Vec<u8>>,
    },
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Psk(_) => f.write_str("Psk(<redacted>)"),
            Credential::Signature { signer, chain } => f
                .debug_struct("Signature")
                .field("algorithm", &signer.algorithm())
                .field("chain_len", &chain.len())
                .finish(),
        }
    }
}

/// A pre-shared key; zeroized on drop, redacted in `Debug`.
#[derive(Clone)]
pub struct Psk(Zeroizing<Vec<u8>>);

impl Psk {
    pub fn new(bytes: &[u8]) -> Self {
        Self(Zeroizing::new(bytes.to_vec()))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Psk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Psk(<redacted>)")
    }
}

/// Signature algorithms usable with AUTH method 14 (RFC 7427, RFC 8420).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureAlgorithm {
    /// Pure Ed25519; needs the peer to list hash "Identity" (5).
    Ed25519,
    /// ecdsa-with-SHA256, DER `Ecdsa-Sig-Value`; needs SHA2-256 (2).
    EcdsaP256Sha256,
}

/// Produces signatures over AUTH octets. Implemented by the crypto module's key types or by
/// an HSM adapter in the daemon.
pub trait LocalSigner: Send + Sync {
    fn algorithm(&self) -> SignatureAlgorithm;
    /// The signature in the encoding AUTH method 14 carries (Ed25519 raw 64 bytes; ECDSA DER).
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, AuthError>;
}

/// What the peer must prove.
#[derive(Debug, Clone)]
pub struct RemoteAuth {
    pub id: IdentityMatcher,
    pub method: PeerAuthMethod,
}

/// How the peer authenticates.
#[derive(Clone)]
pub enum PeerAuthMethod {
    Psk(Psk),
    /// Certificates validated by this authenticator (the `pki` crate), then an RFC 7427
    /// signature checked with the returned key.
    Certificate(Arc<dyn PeerAuthenticator>),
}

impl fmt::Debug for PeerAuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerAuthMethod::Psk(_) => f.write_str("Psk(<redacted>)"),
            PeerAuthMethod::Certificate(_) => f.write_str("Certificate(..)"),
        }
    }
}

/// Trust anchors, validity and identity binding, abstracted so `pki` can implement it.
pub trait PeerAuthenticator: Send + Sync {
    /// Validates `chain` (end-entity first, DER) against the configured CAs at `now`, checks
    /// that `id` matches the certificate's subject or a SAN, and returns the end-entity key.
    fn verify_peer_cert(
        &self,
        chain: &[Vec<u8>],
        id: &Identity,
        now: SystemTime,
    ) -> Result<PeerPublicKey, AuthError>;
}

/// A validated peer public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerPublicKey {
    Ed25519([u8; 32]),
    /// SEC1-encoded P-256 point (65 bytes uncompressed or 33 compressed).
    EcdsaP256(Vec<u8>),
}

impl PeerPublicKey {
    pub fn algorithm(&self) -> SignatureAlgorithm {
        match self {
            PeerPublicKey::Ed25519(_) => SignatureAlgorithm::Ed25519,
            PeerPublicKey::EcdsaP256(_) => SignatureAlgorithm::EcdsaP256Sha256,
        }
    }
}

/// Authentication failures; all of them become AUTHENTICATION_FAILED on the wire
/// (RFC 7296 §2.21.2), the detail goes to the log only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    #[error("no certificate from peer")]
    NoCertificate,
    #[error("certificate chain does not verify: {0}")]
    UntrustedChain(String),
    #[error("certificate expired or not yet valid")]
    Validity,
    #[error("identity does not match the certificate")]
    IdentityMismatch,
    #[error("peer identity not accepted by the connection")]
    IdentityNotAllowed,
    #[error("AUTH payload does not verify")]
    BadAuth,
    #[error("authentication method not accepted: {0}")]
    WrongMethod(&'static str),
    #[error("no common signature hash algorithm")]
    NoCommonHash,
    #[error("signing failed: {0}")]
    Signing(String),
    /// More CERT payloads than the chain limit (counted as `auth_limit`).
    #[error("{got} certificates presented, at most {max} are considered")]
    TooManyCertificates { got: usize, max: usize },
    /// Chain validation hit a work bound (signature verifications); counted as `auth_limit`.
    #[error("certificate chain exceeds a validation limit: {0}")]
    ChainLimit(String),
    /// A SHA-1 signature or an RSA key out of bounds (RFC 8247); counted as `auth_weak_algorithm`.
    #[error("weak algorithm refused (RFC 8247): {0}")]
    WeakAlgorithm(String),
}

/// IKE identities (RFC 7296 §3.5).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Identity {
    Ipv4(Ipv4Addr),
    Ipv6(Ipv6Addr),
    Fqdn(String),
    Rfc822(String),
    DerAsn1Dn(Vec<u8>),
    KeyId(Vec<u8>),
}

impl Identity {
    /// The ID Type octet.
    pub fn id_type(&self) -> u8 {
        match self {
            Identity::Ipv4(_) => 1,
            Identity::Fqdn(_) => 2,
            Identity::Rfc822(_) => 3,
            Identity::Ipv6(_) => 5,
            Identity::DerAsn1Dn(_) => 9,
            Identity::KeyId(_) => 11,
        }
    }

    /// The identification data after the 4-octet ID header.
    pub fn data(&self) -> Vec<u8> {
        match self {
            Identity::Ipv4(a) => a.octets().to_vec(),
            Identity::Ipv6(a) => a.octets().to_vec(),
            Identity::Fqdn(s) | Identity::Rfc822(s) => s.as_bytes().to_vec(),
            Identity::DerAsn1Dn(d) | Identity::KeyId(d) => d.clone(),
        }
    }

    /// Decodes an ID payload body's type and data; `None` for types we do not accept.
    pub fn from_wire(id_type: u8, data: &[u8]) -> Option<Self> {
        Some(match id_type {
            1 => Identity::Ipv4(Ipv4Addr::from(<[u8; 4]>::try_from(data).ok()?)),
            5 => Identity::Ipv6(Ipv6Addr::from(<[u8; 16]>::try_from(data).ok()?)),
            2 => Identity::Fqdn(String::from_utf8(data.to_vec()).ok()?),
            3 => Identity::Rfc822(String::from_utf8(data.to_vec()).ok()?),
            9 => Identity::DerAsn1Dn(data.to_vec()),
            11 => Identity::KeyId(data.to_vec()),
            _ => return None,
        })
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identity::Ipv4(a) => write!(f, "{a}"),
            Identity::Ipv6(a) => write!(f, "{a}"),
            Identity::Fqdn(s) => f.write_str(s),
            Identity::Rfc822(s) => f.write_str(s),
            Identity::DerAsn1Dn(d) => write!(f, "dn:{}", hex(d)),
            Identity::KeyId(d) => write!(f, "keyid:{}", hex(d)),
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Which peer identities a connection accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityMatcher {
    /// Any identity (authentication still binds it to the credential).
    Any,
    Exact(Identity),
    /// FQDN or RFC 822 identities ending in this suffix (e.g. `.nve.example`).
    DomainSuffix(String),
}

impl IdentityMatcher {
    pub fn matches(&self, id: &Identity) -> bool {
        match self {
            IdentityMatcher::Any => true,
            IdentityMatcher::Exact(want) => want == id,
            IdentityMatcher::DomainSuffix(sfx) => match id {
                Identity::Fqdn(s) | Identity::Rfc822(s) => s.ends_with(sfx.as_str()),
                _ => false,
            },
        }
    }
}

/// An IKE SA proposal: one ENCR_AES_GCM_16 key size, PRF and D-H group (DESIGN.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IkeProposal {
    /// AES-GCM-16 key length in bits: 128 or 256.
    pub encr_key_bits: u16,
    /// PRF transform ID: 5 (HMAC-SHA2-256) or 6 (HMAC-SHA2-384).
    pub prf: u16,
    /// D-H group: 31 (Curve25519).
    pub dh_group: u16,
}

impl Default for IkeProposal {
    fn default() -> Self {
        Self {
            encr_key_bits: 256,
            prf: 5,
            dh_group: 31,
        }
    }
}

/// Protection a GSA gives (DESIGN.md "GSA negotiation").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protection {
    /// Geneve Encryption Option: ENCR_AES_GCM_16.
    Geo,
    /// Geneve Authentication Option: ENCR_NULL_AUTH_AES_GMAC.
    Gao,
}

/// One GSA definition (a swanctl `children.<name>` section) and what the peer may get.
#[derive(Debug, Clone)]
pub struct GsaConfig {
    pub name: String,
    pub protection: Protection,
    /// AES key length in bits, 128 or 256.
    pub key_bits: u16,
    /// Selectors we propose as initiator and the maximum we grant as responder.
    pub selectors: GsaSelectors,
    pub lifetimes: Lifetimes,
    /// D-H group for PFS in CREATE_CHILD_SA (31), `None` without PFS.
    pub pfs_group: Option<u16>,
}

impl GsaConfig {
    /// A GEO AES-256 GSA over the given VNI range, any protocol type, no inner prefixes.
    pub fn geo_vnis(name: &str, vni_start: u32, vni_end: u32) -> Self {
        Self {
            name: name.to_owned(),
            protection: Protection::Geo,
            key_bits: 256,
            selectors: GsaSelectors {
                geneve: vec![GeneveRange {
                    vni_start,
                    vni_end,
                    ptype_start: 0,
                    ptype_end: 0xffff,
                }],
                local_inner: Vec::new(),
                remote_inner: Vec::new(),
            },
            lifetimes: Lifetimes::default(),
            pfs_group: None,
        }
    }
}

/// GSA selectors: Geneve ranges (TS_GENEVE, type 241) and inner address ranges
/// (TS_IPV4/IPV6_ADDR_RANGE). The Geneve ranges are the same in TSi and TSr; inner ranges are
/// the local side's and the remote side's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GsaSelectors {
    pub geneve: Vec<GeneveRange>,
    pub local_inner: Vec<IpRange>,
    pub remote_inner: Vec<IpRange>,
}

/// `VNI start..=end` (24-bit values) x `Protocol Type start..=end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GeneveRange {
    pub vni_start: u32,
    pub vni_end: u32,
    pub ptype_start: u16,
    pub ptype_end: u16,
}

impl GeneveRange {
    /// The overlap of two ranges (RFC 7296 §2.9 narrowing), `None` if disjoint.
    pub fn intersect(&self, other: &Self) -> Option<Self> {
        let r = Self {
            vni_start: self.vni_start.max(other.vni_start),
            vni_end: self.vni_end.min(other.vni_end),
            ptype_start: self.ptype_start.max(other.ptype_start),
            ptype_end: self.ptype_end.min(other.ptype_end),
        };
        (r.vni_start <= r.vni_end && r.ptype_start <= r.ptype_end).then_some(r)
    }
}

/// An inclusive address range of one family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpRange {
    pub start: IpAddr,
    pub end: IpAddr,
}

impl IpRange {
    /// The range a CIDR prefix covers; `None` if `len` exceeds the family's width.
    pub fn from_prefix(addr: IpAddr, len: u8) -> Option<Self> {
        match addr {
            IpAddr::V4(a) => {
                if len > 32 {
                    return None;
                }
                let bits = u32::from(a);
                // A shift by the full width is not defined, hence the /0 special case.
                let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
                Some(Self {
                    start: IpAddr::V4((bits & mask).into()),
                    end: IpAddr::V4((bits | !mask).into()),
                })
            }
            IpAddr::V6(a) => {
                if len > 128 {
                    return None;
                }
                let bits = u128::from(a);
                let mask = if len == 0 {
                    0
                } else {
                    u128::MAX << (128 - u32::from(len))
                };
                Some(Self {
                    start: IpAddr::V6((bits & mask).into()),
                    end: IpAddr::V6((bits | !mask).into()),
                })
            }
        }
    }

    /// The overlap of two ranges of the same family.
    pub fn intersect(&self, other: &Self) -> Option<Self> {
        let same_family = self.start.is_ipv4() == other.start.is_ipv4()
            && self.end.is_ipv4() == self.start.is_ipv4()
            && other.end.is_ipv4() == other.start.is_ipv4();
        if !same_family {
            return None;
        }
        let start = self.start.max(other.start);
        let end = self.end.min(other.end);
        (start <= end).then_some(Self { start, end })
    }
}

/// GSA lifetimes (local, not negotiated: RFC 7296 §2.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetimes {
    /// Soft expiry: rekey after this long (strongSwan default 1 h).
    pub rekey_time: Duration,
    /// Hard expiry (strongSwan: rekey_time + 10 %).
    pub life_time: Duration,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Self {
            rekey_time: Duration::from_secs(3600),
            life_time: Duration::from_secs(3960),
        }
    }
}

/// Where an initiator sends: the configured connection's peer.
pub fn remote_endpoint(conn: &ConnectionConfig) -> Option<SocketAddr> {
    conn.remote_addrs
        .first()
        .map(|ip| SocketAddr::new(*ip, conn.remote_port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retransmit_defaults_give_up_after_165_seconds() {
        let r = RetransmitConfig::default();
        let total: f64 = (0..=r.tries).map(|n| r.interval(n).as_secs_f64()).sum();
        assert!((total - 165.06).abs() < 0.01, "total {total}");
        assert_eq!(r.interval(0), Duration::from_secs(4));
        assert_eq!(r.interval(1), Duration::from_millis(7200));
    }

    #[test]
    fn retransmit_limit_caps_interval() {
        let r = RetransmitConfig {
            limit: Some(Duration::from_secs(10)),
            ..Default::default()
        };
        assert_eq!(r.interval(4), Duration::from_secs(10));
    }

    #[test]
    fn psk_debug_is_redacted() {
        let p = Psk::new(b"very secret");
        assert_eq!(format!("{p:?}"), "Psk(<redacted>)");
        let c = Credential::Psk(p);
        assert!(!format!("{c:?}").contains("secret"));
    }

    #[test]
    fn identity_wire_round_trip() {
        for id in [
            Identity::Ipv4(Ipv4Addr::new(192, 0, 2, 1)),
            Identity::Ipv6(Ipv6Addr::LOCALHOST),
            Identity::Fqdn("nve1.example".into()),
            Identity::Rfc822("a@b".into()),
            Identity::DerAsn1Dn(vec![0x30, 0]),
            Identity::KeyId(vec![1, 2, 3]),
        ] {
            assert_eq!(Identity::from_wire(id.id_type(), &id.data()), Some(id));
        }
        assert_eq!(Identity::from_wire(1, &[1, 2, 3]), None);
        assert_eq!(Identity::from_wire(77, &[]), None);
    }

    #[test]
    fn matcher_domain_suffix() {
        let m = IdentityMatcher::DomainSuffix(".nve.example".into());
        assert!(m.matches(&Identity::Fqdn("a.nve.example".into())));
        assert!(!m.matches(&Identity::Fqdn("a.evil.example".into())));
        assert!(!m.matches(&Identity::KeyId(b".nve.example".to_vec())));
    }

    #[test]
    fn geneve_range_narrowing() {
        let allowed = GeneveRange {
            vni_start: 100,
            vni_end: 199,
            ptype_start: 0,
            ptype_end: 0xffff,
        };
        let asked = GeneveRange {
            vni_start: 150,
            vni_end: 300,
            ptype_start: 0x6558,
            ptype_end: 0x6558,
        };
        assert_eq!(
            allowed.intersect(&asked),
            Some(GeneveRange {
                vni_start: 150,
                vni_end: 199,
                ptype_start: 0x6558,
                ptype_end: 0x6558
            })
        );
        let far = GeneveRange {
            vni_start: 200,
            ..asked
        };
        assert_eq!(allowed.intersect(&far), None);
    }

    #[test]
    fn ip_prefix_ranges() {
        let r = IpRange::from_prefix("10.1.2.3".parse().unwrap(), 16).unwrap();
        assert_eq!(r.start, "10.1.0.0".parse::<IpAddr>().unwrap());
        assert_eq!(r.end, "10.1.255.255".parse::<IpAddr>().unwrap());
        let all = IpRange::from_prefix("1.2.3.4".parse().unwrap(), 0).unwrap();
        assert_eq!(all.end, "255.255.255.255".parse::<IpAddr>().unwrap());
        let v6 = IpRange::from_prefix("fd00::1".parse().unwrap(), 64).unwrap();
        assert_eq!(
            v6.end,
            "fd00::ffff:ffff:ffff:ffff".parse::<IpAddr>().unwrap()
        );
        assert!(IpRange::from_prefix("1.2.3.4".parse().unwrap(), 33).is_none());
        assert_eq!(r.intersect(&v6), None);
        let sub = IpRange::from_prefix("10.1.7.0".parse().unwrap(), 24).unwrap();
        assert_eq!(r.intersect(&sub), Some(sub));
    }
}
