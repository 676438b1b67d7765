//! Geneve Security Association database (seed 004 §6; DESIGN.md).
//!
//! Inbound GSAs are found by the GSA-ID carried in the GSO (the receiver chose it, so it is
//! unique among inbound GSAs). Outbound GSAs are found from the policy and the route, like an
//! IPsec SA that belongs to one peer: each SECURE template names a `reqid`, the route names the
//! remote NVE, and the newest outbound GSA with that reqid *and that peer* is used
//! (make-before-break); a GSA installed without a peer (hand-keyed) serves every peer that has
//! none of its own. In a full mesh one template (one reqid) thus has a GSA per peer.

use crate::aead::{Backend, Gcm};
use crate::counters::GsaCounters;
use crate::gsp::{Direction, Selectors};
use crate::idmap::IdMap;
use crate::lifetime::{Lifetime, LifetimeConfig, Usage};
use crate::limits::DEFAULT_REPLAY_WINDOW;
use crate::replay::ReplayWindow;
use crate::wire::gso::GsoKind;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use zeroize::{Zeroize, Zeroizing};

/// Length of the implicit-nonce salt taken from KEYMAT (RFC 4106 §4 / RFC 4543 §3.2).
pub const SALT_LEN: usize = 4;

/// The GSO algorithm of a GSA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Algorithm {
    /// GEO, ENCR_AES_GCM_16 with a 128-bit key. Key material = key(16) || salt(4).
    AesGcm128,
    /// GEO, ENCR_AES_GCM_16 with a 256-bit key. Key material = key(32) || salt(4).
    AesGcm256,
    /// GAO, ENCR_NULL_AUTH_AES_GMAC (RFC 4543), 128-bit. key(16) || salt(4).
    AesGmac128,
    /// GAO, AES-GMAC 256-bit. key(32) || salt(4).
    AesGmac256,
    /// GAO, AUTH_HMAC_SHA2_256_128 (RFC 4868), the draft-literal GAO. key(32).
    HmacSha256_128,
}

impl Algorithm {
    pub fn kind(self) -> GsoKind {
        match self {
            Algorithm::AesGcm128 | Algorithm::AesGcm256 => GsoKind::Geo,
            _ => GsoKind::Gao,
        }
    }

    /// Expected key material length.
    pub fn key_material_len(self) -> usize {
        match self {
            Algorithm::AesGcm128 | Algorithm::AesGmac128 => 16 + SALT_LEN,
            Algorithm::AesGcm256 | Algorithm::AesGmac256 => 32 + SALT_LEN,
            Algorithm::HmacSha256_128 => 32,
        }
    }
}

/// Key material: zeroized on drop, redacted in Debug, hex in the keying protocol.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey(Zeroizing<Vec<u8>>);

impl SecretKey {
    pub fn new(bytes: Vec<u8>) -> Self {
        SecretKey(Zeroizing::new(bytes))
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Parse lowercase or uppercase hex without leaving copies behind.
    pub fn from_hex(s: &str) -> Result<Self, String> {
        if !s.len().is_multiple_of(2) {
            return Err("key hex has odd length".into());
        }
        let mut out = Zeroizing::new(Vec::with_capacity(s.len() / 2));
        let digit = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        };
        for pair in s.as_bytes().chunks(2) {
            match (digit(pair[0]), digit(pair[1])) {
                (Some(h), Some(l)) => out.push(h << 4 | l),
                _ => return Err("key is not hex".into()),
            }
        }
        Ok(SecretKey(out))
    }

    pub fn to_hex(&self) -> Zeroizing<String> {
        let mut s = Zeroizing::new(String::with_capacity(self.0.len() * 2));
        for b in self.0.iter() {
            s.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
            s.push(char::from_digit(u32::from(b & 0xf), 16).unwrap_or('0'));
        }
        s
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey(<{} bytes redacted>)", self.0.len())
    }
}

impl Serialize for SecretKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for SecretKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut s = String::deserialize(d)?;
        let k = SecretKey::from_hex(&s);
        s.zeroize();
        k.map_err(serde::de::Error::custom)
    }
}

/// Which options a GSO covers (GEO: encrypts; GAO: authenticates). Earlier GSOs are always
/// covered by a later GAO so the receiver can verify in wire order.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptionCoverage {
    #[default]
    All,
    None,
    /// Only these (class, type) pairs.
    List(Vec<(u16, u8)>),
}

impl OptionCoverage {
    pub fn covers(&self, class: u16, type_: u8) -> bool {
        match self {
            OptionCoverage::All => true,
            OptionCoverage::None => false,
            OptionCoverage::List(l) => l.contains(&(class, type_)),
        }
    }
}

/// How much of the Geneve payload (the inner frame) a GSO covers (seed 001 SEC-GEN-2/9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayloadCoverage {
    /// The whole inner frame.
    #[default]
    All,
    /// The first N bytes; the rest stays clear (and unauthenticated unless a GAO covers it).
    First(u16),
    /// The inner headers only (through the inner L4 header): hides who talks, not what.
    InnerHeaders,
    /// GEO only: inner headers stay clear but authenticated (in the AAD); everything after
    /// the inner L4 header is encrypted, so transit can still read tenant headers.
    AfterInnerHeaders,
}

/// GEO padding (SEC-GEN-6). The trailer's Pad Length is one byte: at most 255 bytes of padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Padding {
    #[default]
    None,
    /// Pad the encrypted region to a multiple of N bytes (1..=256).
    Multiple(u16),
    /// Pad the encrypted region up to N bytes when that needs at most 255 bytes of padding.
    Fixed(u16),
}

/// Coverage choices of one GSA. Both peers install the same values.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Coverage {
    pub options: OptionCoverage,
    pub payload: PayloadCoverage,
    pub padding: Padding,
    /// GEO only: the real VNI and Protocol Type travel inside the ciphertext (SEC-GEN-4).
    pub hidden_header: bool,
    /// GEO outbound only: send a dummy packet this often (SEC-GEN-7). At least 1 ms (at most
    /// [`crate::limits::MAX_DUMMY_RATE`] dummies per second): 0 is refused.
    pub dummy_interval_ms: Option<u64>,
}

/// Everything ADD_GSA carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GsaConfig {
    pub dir: Direction,
    /// The 32-bit ID in the GSO (chosen by the receiver of this GSA).
    pub gsa_id: u32,
    /// Which SECURE template this GSA fills.
    pub reqid: u32,
    pub alg: Algorithm,
    pub key: SecretKey,
    #[serde(default)]
    pub coverage: Coverage,
    /// Checked against the restored packet after validation (ARCH-00 §7.2).
    #[serde(default)]
    pub selectors: Selectors,
    #[serde(default)]
    pub lifetime: LifetimeConfig,
    #[serde(default = "default_window")]
    pub replay_window: u32,
    /// Underlay address of the peer NVE. Outbound: the GSA seals only packets routed to this
    /// NVE (`None`: any NVE without a GSA of its own); dummies are sent to it.
    #[serde(default)]
    pub peer: Option<IpAddr>,
}

fn default_window() -> u32 {
    DEFAULT_REPLAY_WINDOW
}

/// Refusals of ADD_GSA / UPDATE_GSA / DEL_GSA.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GsaError {
    #[error("key material must be {0} bytes for this algorithm")]
    KeyLength(usize),
    #[error("inbound GSA-ID {0:#x} already installed")]
    Duplicate(u32),
    #[error("no such GSA")]
    NotFound,
    #[error("{0} is only valid for a GEO GSA")]
    GeoOnly(&'static str),
    #[error("padding multiple must be 1..=256")]
    BadPadding,
    #[error("GSA-ID 0 is reserved")]
    ZeroId,
    #[error(
        "dummy_interval_ms must be at least 1 (at most {} dummy packets per second)",
        crate::limits::MAX_DUMMY_RATE
    )]
    DummyInterval,
}

/// The per-GSA crypto state.
#[expect(
    clippy::large_enum_variant,
    reason = "the AES key schedule stays inline on the hot path"
)]
pub(crate) enum GsaCipher {
    Gcm(Gcm),
    Hmac(Box<Hmac<Sha256>>),
}

/// What sealing and opening read of a GSA, and never change. Shared (`Arc`), so that a worker
/// can seal the segments of a super-packet after the engine lock is released
/// ([`crate::engine::Prepared`]) while the GSA's counters and SNs stay behind it.
pub struct GsaCrypto {
    pub(crate) gsa_id: u32,
    pub(crate) coverage: Coverage,
    pub(crate) cipher: GsaCipher,
    pub(crate) salt: [u8; SALT_LEN],
}

impl std::fmt::Debug for GsaCrypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GsaCrypto")
            .field("gsa_id", &self.gsa_id)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl GsaCrypto {
    /// GCM nonce = salt (4) || SN64 (8) (RFC 4106 §4, implicit IV as RFC 8750 §4).
    pub(crate) fn nonce(&self, sn: u64) -> [u8; 12] {
        let mut n = [0u8; 12];
        n[..4].copy_from_slice(&self.salt);
        n[4..].copy_from_slice(&sn.to_be_bytes());
        n
    }
}

/// One installed GSA with its runtime state.
pub struct Gsa {
    pub(crate) cfg: GsaConfig,
    pub(crate) crypto: Arc<GsaCrypto>,
    /// Outbound: last SN used (0 = none yet; the first packet carries 1).
    pub(crate) last_sn: u64,
    pub(crate) replay: ReplayWindow,
    pub(crate) lifetime: Lifetime,
    pub counters: GsaCounters,
    pub(crate) next_dummy: Option<Instant>,
}

impl std::fmt::Debug for Gsa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gsa")
            .field("dir", &self.cfg.dir)
            .field("gsa_id", &self.cfg.gsa_id)
            .field("reqid", &self.cfg.reqid)
            .field("alg", &self.cfg.alg)
            .field("key", &"<redacted>")
            .field("last_sn", &self.last_sn)
            .field("counters", &self.counters)
            .finish()
    }
}

impl Gsa {
    pub fn new(cfg: GsaConfig, now: Instant, backend: Backend) -> Result<Self, GsaError> {
        validate(&cfg)?;
        let km = cfg.key.expose();
        let (cipher, salt) = match cfg.alg {
            Algorithm::HmacSha256_128 => {
                let mac =
                    Hmac::<Sha256>::new_from_slice(km).map_err(|_| GsaError::KeyLength(32))?;
                (GsaCipher::Hmac(Box::new(mac)), [0u8; SALT_LEN])
            }
            _ => {
                let split = km.len() - SALT_LEN;
                let key = Zeroizing::new(km[..split].to_vec());
                let gcm = Gcm::new(backend, &key)
                    .map_err(|_| GsaError::KeyLength(cfg.alg.key_material_len()))?;
                let mut salt = [0u8; SALT_LEN];
                salt.copy_from_slice(&km[split..]);
                (GsaCipher::Gcm(gcm), salt)
            }
        };
        let next_dummy = match (cfg.dir, cfg.coverage.dummy_interval_ms) {
            (Direction::Out, Some(ms)) => Some(now + Duration::from_millis(ms)),
            _ => None,
        };
        let crypto = Arc::new(GsaCrypto {
            gsa_id: cfg.gsa_id,
            coverage: cfg.coverage.clone(),
            cipher,
            salt,
        });
        Ok(Gsa {
            replay: ReplayWindow::new(cfg.replay_window),
            lifetime: Lifetime::new(cfg.lifetime, now),
            crypto,
            last_sn: 0,
            counters: GsaCounters::default(),
            next_dummy,
            cfg,
        })
    }

    pub fn config(&self) -> &GsaConfig {
        &self.cfg
    }

    pub fn kind(&self) -> GsoKind {
        self.cfg.alg.kind()
    }

    /// Highest SN sent (outbound) or authenticated (inbound).
    pub fn sn_high_water(&self) -> u64 {
        match self.cfg.dir {
            Direction::Out => self.last_sn,
            Direction::In => self.replay.top(),
        }
    }

    pub(crate) fn usage(&self) -> Usage {
        Usage {
            bytes: self.counters.bytes,
            packets: self.counters.packets,
            sn: self.sn_high_water(),
        }
    }
}

fn validate(cfg: &GsaConfig) -> Result<(), GsaError> {
    if cfg.key.expose().len() != cfg.alg.key_material_len() {
        return Err(GsaError::KeyLength(cfg.alg.key_material_len()));
    }
    if cfg.gsa_id == 0 {
        return Err(GsaError::ZeroId);
    }
    let c = &cfg.coverage;
    if cfg.alg.kind() == GsoKind::Gao {
        if c.payload == PayloadCoverage::AfterInnerHeaders {
            return Err(GsaError::GeoOnly("payload coverage after_inner_headers"));
        }
        if c.padding != Padding::None {
            return Err(GsaError::GeoOnly("padding"));
        }
        if c.hidden_header {
            return Err(GsaError::GeoOnly("hidden_header"));
        }
        if c.dummy_interval_ms.is_some() {
            return Err(GsaError::GeoOnly("dummy packets"));
        }
    }
    if c.dummy_interval_ms == Some(0) {
        return Err(GsaError::DummyInterval);
    }
    if let Padding::Multiple(n) = c.padding {
        if n == 0 || n > 256 {
            return Err(GsaError::BadPadding);
        }
    }
    Ok(())
}

/// UPDATE_GSA: new lifetimes and/or selectors for an installed GSA (keys never change).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GsaUpdate {
    #[serde(default)]
    pub lifetime: Option<LifetimeConfig>,
    #[serde(default)]
    pub selectors: Option<Selectors>,
}

/// Addresses one GSA: inbound GSA-IDs are unique (we chose them); an outbound one is unique
/// per reqid and peer NVE only, since each peer chooses its own (RFC 7296 §2.8 and
/// RFC 4301 §4.4.2: outbound SAs are told apart by destination and SPI). A hostile peer may
/// choose the GSA-ID another peer uses: `peer` keeps its requests off the other one's GSA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GsaKey {
    pub dir: Direction,
    pub gsa_id: u32,
    pub reqid: u32,
    /// Outbound: the GSA's peer NVE (`None`: a GSA installed without one). Ignored inbound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<IpAddr>,
}

impl GsaKey {
    pub fn inbound(gsa_id: u32, reqid: u32) -> Self {
        Self {
            dir: Direction::In,
            gsa_id,
            reqid,
            peer: None,
        }
    }

    pub fn outbound(gsa_id: u32, reqid: u32, peer: Option<IpAddr>) -> Self {
        Self {
            dir: Direction::Out,
            gsa_id,
            reqid,
            peer,
        }
    }

    /// The key of an installed GSA.
    pub fn of(cfg: &GsaConfig) -> Self {
        Self {
            dir: cfg.dir,
            gsa_id: cfg.gsa_id,
            reqid: cfg.reqid,
            peer: if cfg.dir == Direction::Out {
                cfg.peer
            } else {
                None
            },
        }
    }

    /// Whether this (outbound) key names the GSA with `cfg`.
    fn names_outbound(&self, cfg: &GsaConfig) -> bool {
        cfg.gsa_id == self.gsa_id && same_optional_peer(cfg.peer, self.peer)
    }
}

/// Two optional peers are the same NVE (IPv4 and its IPv4-mapped IPv6 form alike).
fn same_optional_peer(a: Option<IpAddr>, b: Option<IpAddr>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a.to_canonical() == b.to_canonical(),
        (None, None) => true,
        _ => false,
    }
}

/// Whether an outbound GSA configured for `configured` may seal a packet routed to `peer`.
/// IPv4 peers compare equal to their IPv4-mapped IPv6 form (a dual-stack socket's view).
fn same_peer(configured: Option<IpAddr>, peer: IpAddr) -> bool {
    configured.is_some_and(|c| c.to_canonical() == peer.to_canonical())
}

/// All installed GSAs.
#[derive(Debug, Default)]
pub struct GsaDb {
    inbound: IdMap<Gsa>,
    /// reqid -> GSAs in install order (every peer's): the newest one of the packet's peer
    /// (else the newest peer-less one) is used for new packets.
    outbound: IdMap<Vec<Gsa>>,
}

impl GsaDb {
    pub fn add(&mut self, gsa: Gsa) -> Result<(), GsaError> {
        let c = &gsa.cfg;
        match c.dir {
            Direction::In => {
                if self.inbound.contains_key(&c.gsa_id) {
                    return Err(GsaError::Duplicate(c.gsa_id));
                }
                self.inbound.insert(c.gsa_id, gsa);
            }
            Direction::Out => {
                let key = GsaKey::of(c);
                let list = self.outbound.entry(c.reqid).or_default();
                // Bounded by the GSAs of one reqid (those of every peer on that child).
                if list.iter().any(|g| key.names_outbound(&g.cfg)) {
                    return Err(GsaError::Duplicate(c.gsa_id));
                }
                list.push(gsa);
            }
        }
        Ok(())
    }

    pub fn get_mut(&mut self, k: GsaKey) -> Option<&mut Gsa> {
        match k.dir {
            Direction::In => self
                .inbound
                .get_mut(&k.gsa_id)
                .filter(|g| g.cfg.reqid == k.reqid),
            Direction::Out => self
                .outbound
                .get_mut(&k.reqid)?
                .iter_mut()
                .find(|g| k.names_outbound(&g.cfg)),
        }
    }

    pub fn remove(&mut self, k: GsaKey) -> Option<Gsa> {
        match k.dir {
            Direction::In => {
                if self.inbound.get(&k.gsa_id)?.cfg.reqid != k.reqid {
                    return None;
                }
                self.inbound.remove(&k.gsa_id)
            }
            Direction::Out => {
                let list = self.outbound.get_mut(&k.reqid)?;
                let pos = list.iter().position(|g| k.names_outbound(&g.cfg))?;
                let g = list.remove(pos);
                if list.is_empty() {
                    self.outbound.remove(&k.reqid);
                }
                Some(g)
            }
        }
    }

    pub fn flush(&mut self) {
        self.inbound.clear();
        self.outbound.clear();
    }

    pub fn inbound(&self, gsa_id: u32) -> Option<&Gsa> {
        self.inbound.get(&gsa_id)
    }

    pub(crate) fn inbound_mut(&mut self, gsa_id: u32) -> Option<&mut Gsa> {
        self.inbound.get_mut(&gsa_id)
    }

    /// The newest outbound GSA with that reqid, whatever its peer (DUMP-style views, MTU
    /// budgeting). Packets use [`Self::outbound_to`].
    pub fn outbound(&self, reqid: u32) -> Option<&Gsa> {
        self.outbound.get(&reqid)?.last()
    }

    /// The outbound GSA that fills template `reqid` for a packet routed to `peer`: the newest
    /// one of that reqid whose peer is `peer`, else the newest one without a peer. With
    /// `peer = None` (the caller does not know the remote NVE) the newest peer-less one, else
    /// the newest of the reqid (the behaviour before GSAs were chosen per peer).
    pub fn outbound_to(&self, reqid: u32, peer: Option<IpAddr>) -> Option<&Gsa> {
        let list = self.outbound.get(&reqid)?;
        list.get(pick(list, peer)?)
    }

    pub(crate) fn outbound_to_mut(&mut self, reqid: u32, peer: Option<IpAddr>) -> Option<&mut Gsa> {
        let list = self.outbound.get_mut(&reqid)?;
        let i = pick(list, peer)?;
        list.get_mut(i)
    }

    /// Every GSA, inbound first (DUMP order).
    pub fn iter(&self) -> impl Iterator<Item = &Gsa> {
        let mut ins: Vec<&Gsa> = self.inbound.values().collect();
        ins.sort_by_key(|g| g.cfg.gsa_id);
        let mut outs: Vec<&Gsa> = self.outbound.values().flatten().collect();
        outs.sort_by_key(|g| (g.cfg.reqid, g.cfg.gsa_id));
        ins.into_iter().chain(outs)
    }

    /// Every GSA in no particular order, without allocating (hot paths).
    pub(crate) fn values(&self) -> impl Iterator<Item = &Gsa> {
        self.inbound
            .values()
            .chain(self.outbound.values().flatten())
    }

    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut Gsa> {
        self.inbound
            .values_mut()
            .chain(self.outbound.values_mut().flatten())
    }

    pub fn len(&self) -> usize {
        self.inbound.len() + self.outbound.values().map(Vec::len).sum::<usize>()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Index in one reqid's install-ordered list of the GSA for `peer` (see [`GsaDb::outbound_to`]).
fn pick(list: &[Gsa], peer: Option<IpAddr>) -> Option<usize> {
    let newest = |f: &dyn Fn(&Gsa) -> bool| list.iter().rposition(f);
    match peer {
        Some(p) => {
            newest(&|g| same_peer(g.cfg.peer, p)).or_else(|| newest(&|g| g.cfg.peer.is_none()))
        }
        None => newest(&|g| g.cfg.peer.is_none()).or(list.len().checked_sub(1)),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn cfg(dir: Direction, gsa_id: u32, reqid: u32, alg: Algorithm) -> GsaConfig {
        GsaConfig {
            dir,
            gsa_id,
            reqid,
            alg,
            key: SecretKey::new((0..alg.key_material_len() as u8).collect()),
            coverage: Coverage::default(),
            selectors: Selectors::default(),
            lifetime: LifetimeConfig::default(),
            replay_window: 1024,
            peer: None,
        }
    }

    #[test]
    fn key_is_redacted_and_hex_round_trips() {
        let k = SecretKey::from_hex("00ff10Ab").unwrap();
        assert_eq!(k.expose(), &[0, 0xff, 0x10, 0xab]);
        assert_eq!(&*k.to_hex(), "00ff10ab");
        assert_eq!(format!("{k:?}"), "SecretKey(<4 bytes redacted>)");
        assert!(SecretKey::from_hex("abc").is_err());
        assert!(SecretKey::from_hex("zz").is_err());
        let g = Gsa::new(
            cfg(Direction::In, 1, 1, Algorithm::AesGcm128),
            Instant::now(),
            Backend::Ring,
        )
        .unwrap();
        let dbg = format!("{g:?} {:?}", g.config());
        assert!(
            dbg.contains("redacted") && !dbg.contains("0, 1, 2, 3"),
            "{dbg}"
        );
    }

    #[test]
    fn validation() {
        let now = Instant::now();
        let mut c = cfg(Direction::In, 1, 1, Algorithm::AesGcm256);
        c.key = SecretKey::new(vec![0; 32]);
        assert_eq!(
            Gsa::new(c, now, Backend::Ring).unwrap_err(),
            GsaError::KeyLength(36)
        );
        let mut c = cfg(Direction::In, 1, 1, Algorithm::AesGmac128);
        c.coverage.hidden_header = true;
        assert_eq!(
            Gsa::new(c, now, Backend::Ring).unwrap_err(),
            GsaError::GeoOnly("hidden_header")
        );
        let mut c = cfg(Direction::In, 1, 1, Algorithm::AesGcm128);
        c.coverage.padding = Padding::Multiple(0);
        assert_eq!(
            Gsa::new(c, now, Backend::Ring).unwrap_err(),
            GsaError::BadPadding
        );
        assert_eq!(
            Gsa::new(
                cfg(Direction::In, 0, 1, Algorithm::AesGcm128),
                now,
                Backend::Ring
            )
            .unwrap_err(),
            GsaError::ZeroId
        );
    }

    #[test]
    fn db_lookup_newest_outbound_and_unique_inbound() {
        let now = Instant::now();
        let mut db = GsaDb::default();
        let mk =
            |d, id, r| Gsa::new(cfg(d, id, r, Algorithm::AesGcm128), now, Backend::Ring).unwrap();
        db.add(mk(Direction::In, 7, 1)).unwrap();
        assert_eq!(
            db.add(mk(Direction::In, 7, 2)).unwrap_err(),
            GsaError::Duplicate(7)
        );
        db.add(mk(Direction::Out, 100, 1)).unwrap();
        db.add(mk(Direction::Out, 101, 1)).unwrap();
        assert_eq!(db.outbound(1).unwrap().cfg.gsa_id, 101);
        assert_eq!(db.len(), 3);
        assert!(db.remove(GsaKey::inbound(7, 9)).is_none());
        assert!(db.remove(GsaKey::outbound(101, 1, None)).is_some());
        assert_eq!(db.outbound(1).unwrap().cfg.gsa_id, 100);
        assert_eq!(
            db.iter().map(|g| g.cfg.gsa_id).collect::<Vec<_>>(),
            vec![7, 100]
        );
        db.flush();
        assert!(db.is_empty());
    }

    #[test]
    fn outbound_by_reqid_and_peer() {
        let now = Instant::now();
        let mut db = GsaDb::default();
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        let add = |db: &mut GsaDb, id, peer| {
            let mut c = cfg(Direction::Out, id, 1, Algorithm::AesGcm128);
            c.peer = peer;
            db.add(Gsa::new(c, now, Backend::Ring).unwrap()).unwrap();
        };
        let id = |g: Option<&Gsa>| g.map(|g| g.cfg.gsa_id);
        add(&mut db, 0x20, ip("192.0.2.2"));
        add(&mut db, 0x30, ip("192.0.2.3"));
        assert_eq!(id(db.outbound_to(1, ip("192.0.2.2"))), Some(0x20));
        assert_eq!(id(db.outbound_to(1, ip("192.0.2.3"))), Some(0x30));
        assert_eq!(id(db.outbound_to(1, ip("::ffff:192.0.2.2"))), Some(0x20));
        assert_eq!(id(db.outbound_to(1, ip("192.0.2.4"))), None);
        assert_eq!(id(db.outbound_to(2, ip("192.0.2.2"))), None);
        // Unknown peer: no peer-less GSA, so the newest of the reqid (as before peers).
        assert_eq!(id(db.outbound_to(1, None)), Some(0x30));
        add(&mut db, 0x90, None);
        add(&mut db, 0x21, ip("192.0.2.2"));
        assert_eq!(id(db.outbound_to(1, ip("192.0.2.2"))), Some(0x21));
        assert_eq!(id(db.outbound_to(1, ip("192.0.2.4"))), Some(0x90));
        assert_eq!(id(db.outbound_to(1, None)), Some(0x90));
        assert_eq!(id(db.outbound(1)), Some(0x21));
        // The key names the peer too: another peer's key, or none, does not remove it.
        assert!(db.remove(GsaKey::outbound(0x21, 1, None)).is_none());
        assert!(db
            .remove(GsaKey::outbound(0x21, 1, ip("192.0.2.3")))
            .is_none());
        db.remove(GsaKey::outbound(0x21, 1, ip("::ffff:192.0.2.2")))
            .unwrap();
        assert_eq!(id(db.outbound_to(1, ip("192.0.2.2"))), Some(0x20));
    }

    /// Issue 14 item 4: peers choose the GSA-IDs we send on. A hostile peer that picks the
    /// one another peer uses gets its own GSA (outbound GSA-IDs are unique per peer only),
    /// and its deletion leaves the victim's alone.
    #[test]
    fn a_peer_choosing_anothers_gsa_id_touches_only_its_own() {
        let now = Instant::now();
        let mut db = GsaDb::default();
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        for peer in [ip("192.0.2.2"), ip("192.0.2.66")] {
            let mut c = cfg(Direction::Out, 0x77, 1, Algorithm::AesGcm128);
            c.peer = peer;
            db.add(Gsa::new(c, now, Backend::Ring).unwrap()).unwrap();
        }
        let mut dup = cfg(Direction::Out, 0x77, 1, Algorithm::AesGcm128);
        dup.peer = ip("192.0.2.66");
        assert!(matches!(
            db.add(Gsa::new(dup, now, Backend::Ring).unwrap()),
            Err(GsaError::Duplicate(0x77))
        ));
        db.remove(GsaKey::outbound(0x77, 1, ip("192.0.2.66")))
            .unwrap();
        let victim = db.outbound_to(1, ip("192.0.2.2")).unwrap();
        assert_eq!(
            (victim.cfg.gsa_id, victim.cfg.peer),
            (0x77, ip("192.0.2.2"))
        );
        assert!(db.outbound_to(1, ip("192.0.2.66")).is_none());
    }
}
