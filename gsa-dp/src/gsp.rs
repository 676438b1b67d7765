//! Geneve Security Policy database (seed 004 §5; DESIGN.md "GSP DB").
//!
//! An ordered list per direction; the first matching policy wins; no match means DISCARD.
//! Selectors follow ARCH-00 §5.1: ANY (the field is present, any value), OPAQUE (the field is
//! ignored, present or not) and lists of values or ranges.
//!
//! Lookup cost: policies whose VNI selector names a small set of VNIs are indexed by VNI; the
//! others sit in a "wide" list. A lookup merges the VNI's bucket with the wide list in policy
//! order, so the first-match result is exactly that of a linear scan (a property test checks it)
//! while touching only the policies that can match the VNI.

use crate::idmap::IdMap;
use crate::wire::gso::GsoKind;
use crate::wire::inner::InnerInfo;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// A policy with a VNI selector spanning at most this many values is indexed per VNI.
pub const INDEX_SPAN_MAX: u64 = 256;

/// Traffic direction of a policy or GSA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    In,
    Out,
}

/// A value a selector can range over.
pub trait SelValue: Copy + Ord + fmt::Display {
    /// Parse one list item: a value, `lo-hi`, or (addresses) a CIDR prefix.
    fn parse_item(s: &str) -> Result<(Self, Self), String>;
}

macro_rules! int_sel_value {
    ($($t:ty),*) => {$(
        impl SelValue for $t {
            fn parse_item(s: &str) -> Result<(Self, Self), String> {
                let one = |x: &str| {
                    let x = x.trim();
                    let r = if let Some(h) = x.strip_prefix("0x") { <$t>::from_str_radix(h, 16) } else { x.parse() };
                    r.map_err(|e| format!("{x:?}: {e}"))
                };
                match s.split_once('-') {
                    Some((a, b)) => Ok((one(a)?, one(b)?)),
                    None => { let v = one(s)?; Ok((v, v)) }
                }
            }
        }
    )*};
}
int_sel_value!(u8, u16, u32);

impl SelValue for IpAddr {
    fn parse_item(s: &str) -> Result<(Self, Self), String> {
        let one = |x: &str| IpAddr::from_str(x.trim()).map_err(|e| format!("{x:?}: {e}"));
        if let Some((a, len)) = s.split_once('/') {
            let a = one(a)?;
            let len: u32 = len
                .trim()
                .parse()
                .map_err(|e| format!("prefix length: {e}"))?;
            return cidr_range(a, len);
        }
        match s.split_once('-') {
            Some((a, b)) => Ok((one(a)?, one(b)?)),
            None => {
                let v = one(s)?;
                Ok((v, v))
            }
        }
    }
}

fn cidr_range(a: IpAddr, len: u32) -> Result<(IpAddr, IpAddr), String> {
    match a {
        IpAddr::V4(v) if len <= 32 => {
            let m = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            let lo = u32::from(v) & m;
            Ok((IpAddr::V4(lo.into()), IpAddr::V4((lo | !m).into())))
        }
        IpAddr::V6(v) if len <= 128 => {
            let m = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len)
            };
            let lo = u128::from(v) & m;
            Ok((IpAddr::V6(lo.into()), IpAddr::V6((lo | !m).into())))
        }
        _ => Err(format!("prefix length {len} too long")),
    }
}

/// One selector. Textual form (keying socket): `any`, `opaque`, or a comma list of values and
/// `lo-hi` ranges (addresses also take `a.b.c.d/len`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Sel<T> {
    /// The field must be present; any value.
    Any,
    /// The field is ignored (it may be absent or unreadable).
    #[default]
    Opaque,
    /// The field must be present and inside one of the inclusive ranges.
    Ranges(Vec<(T, T)>),
}

impl<T: SelValue> Sel<T> {
    pub fn value(v: T) -> Self {
        Sel::Ranges(vec![(v, v)])
    }

    pub fn range(lo: T, hi: T) -> Self {
        Sel::Ranges(vec![(lo, hi)])
    }

    pub fn matches(&self, v: Option<T>) -> bool {
        match (self, v) {
            (Sel::Opaque, _) => true,
            (Sel::Any, v) => v.is_some(),
            (Sel::Ranges(r), Some(v)) => r.iter().any(|(lo, hi)| *lo <= v && v <= *hi),
            (Sel::Ranges(_), None) => false,
        }
    }
}

impl<T: SelValue> FromStr for Sel<T> {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "any" | "ANY" => Ok(Sel::Any),
            "opaque" | "OPAQUE" => Ok(Sel::Opaque),
            "" => Err("empty selector".into()),
            list => {
                let mut out = Vec::new();
                for item in list.split(',') {
                    let (lo, hi) = T::parse_item(item)?;
                    if lo > hi {
                        return Err(format!("range {item:?} is reversed"));
                    }
                    out.push((lo, hi));
                }
                Ok(Sel::Ranges(out))
            }
        }
    }
}

impl<T: SelValue> fmt::Display for Sel<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sel::Any => f.write_str("any"),
            Sel::Opaque => f.write_str("opaque"),
            Sel::Ranges(r) => {
                for (i, (lo, hi)) in r.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    if lo == hi {
                        write!(f, "{lo}")?;
                    } else {
                        write!(f, "{lo}-{hi}")?;
                    }
                }
                Ok(())
            }
        }
    }
}

impl<T: SelValue> Serialize for Sel<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de, T: SelValue> Deserialize<'de> for Sel<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Every selector of ARCH-00 §5.1 plus inner addresses (SEC-GEN-15). Defaults: OPAQUE.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Selectors {
    pub version: Sel<u8>,
    pub oam: Sel<u8>,
    pub critical: Sel<u8>,
    pub rsvd: Sel<u8>,
    pub protocol_type: Sel<u16>,
    pub vni: Sel<u32>,
    pub reserved: Sel<u8>,
    /// Option class/type pairs that MUST be present; empty = OPAQUE.
    pub required_options: Vec<(u16, u8)>,
    pub ip_proto: Sel<u8>,
    pub src_addr: Sel<IpAddr>,
    pub dst_addr: Sel<IpAddr>,
    pub src_port: Sel<u16>,
    pub dst_port: Sel<u16>,
}

/// The clear-text view of a packet that selectors are matched against: outbound before any GSO
/// is added, inbound after every GSO was validated and removed (ARCH-00 §5).
#[derive(Debug, Clone, Copy, Default)]
pub struct PacketFields<'a> {
    pub version: u8,
    pub oam: bool,
    pub critical: bool,
    pub rsvd: u8,
    pub protocol_type: u16,
    pub vni: u32,
    pub reserved: u8,
    /// (class, type) of the options left once GSOs are removed.
    pub options: &'a [(u16, u8)],
    pub inner: InnerInfo,
}

impl Selectors {
    pub fn matches(&self, p: &PacketFields<'_>) -> bool {
        self.vni.matches(Some(p.vni))
            && self.protocol_type.matches(Some(p.protocol_type))
            && self.version.matches(Some(p.version))
            && self.oam.matches(Some(u8::from(p.oam)))
            && self.critical.matches(Some(u8::from(p.critical)))
            && self.rsvd.matches(Some(p.rsvd))
            && self.reserved.matches(Some(p.reserved))
            && self.required_options.iter().all(|o| p.options.contains(o))
            && self.ip_proto.matches(p.inner.ip_proto)
            && self.src_addr.matches(p.inner.src)
            && self.dst_addr.matches(p.inner.dst)
            && self.src_port.matches(p.inner.src_port)
            && self.dst_port.matches(p.inner.dst_port)
    }
}

/// One GSO a SECURE policy demands: which kind, and which GSAs may fill it (by `reqid`, as
/// XFRM templates do, so a rekeyed GSA fills the same slot without a policy change).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    pub reqid: u32,
    pub kind: GsoKind,
}

/// What a policy does with matching packets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum Action {
    /// Apply (outbound) or demand (inbound) these GSOs, in list order.
    Secure {
        gsos: Vec<Template>,
    },
    Bypass,
    Discard,
}

/// One GSP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Caller's name for the policy (reported in ACQUIRE).
    pub id: u32,
    pub dir: Direction,
    #[serde(default)]
    pub selectors: Selectors,
    pub action: Action,
}

impl Policy {
    /// Whether the policy applies to `p`: its selectors match and, for BYPASS, every selector
    /// field of the inner frame was read. A frame with an unreadable field (a non-initial
    /// fragment, too many IPv6 extension headers or VLAN tags, an unknown EtherType, a cut-off
    /// header: see [`crate::wire::inner::Unreadable`]) might be anything a BYPASS policy was
    /// written to exclude, so it goes on to the next policy, and to the default DISCARD. The
    /// unreadable field itself is OPAQUE (RFC 4301 §4.4.1.1): only a selector that ignores it
    /// matches.
    #[inline]
    pub fn takes(&self, p: &PacketFields<'_>) -> bool {
        (p.inner.unreadable.is_none() || !matches!(self.action, Action::Bypass))
            && self.selectors.matches(p)
    }
}

/// Policy set errors (SET_GSP is refused as a whole).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GspError {
    #[error("policy {0}: SECURE needs at least one GSO")]
    EmptySecure(u32),
    #[error(
        "policy {0}: at most one GEO, and it must come first (it is the last option on the wire)"
    )]
    GeoPlacement(u32),
    #[error("policy {0}: more than {max} GSOs", max = crate::limits::MAX_GSOS)]
    TooManyGsos(u32),
}

/// One direction's ordered policies with the VNI index.
#[derive(Debug, Clone, Default)]
pub struct GspTable {
    policies: Vec<Policy>,
    by_vni: IdMap<Vec<u32>>,
    wide: Vec<u32>,
}

impl GspTable {
    pub fn new(policies: Vec<Policy>) -> Self {
        let mut t = GspTable {
            policies,
            ..Default::default()
        };
        for (i, p) in t.policies.iter().enumerate() {
            match vni_set(&p.selectors.vni) {
                Some(ranges) => {
                    for (lo, hi) in ranges {
                        for v in lo..=hi {
                            let b = t.by_vni.entry(v).or_default();
                            if b.last() != Some(&(i as u32)) {
                                b.push(i as u32);
                            }
                        }
                    }
                }
                None => t.wide.push(i as u32),
            }
        }
        t
    }

    pub fn policies(&self) -> &[Policy] {
        &self.policies
    }

    /// First matching policy, `None` = no match (the caller applies the default DISCARD).
    pub fn lookup(&self, p: &PacketFields<'_>) -> Option<&Policy> {
        let bucket = self.by_vni.get(&p.vni).map(Vec::as_slice).unwrap_or(&[]);
        let (mut i, mut j) = (0, 0);
        // Merge two ascending index lists: policy order is preserved, so first match is exact.
        while i < bucket.len() || j < self.wide.len() {
            let take_bucket =
                j >= self.wide.len() || (i < bucket.len() && bucket[i] < self.wide[j]);
            let idx = if take_bucket {
                i += 1;
                bucket[i - 1]
            } else {
                j += 1;
                self.wide[j - 1]
            };
            let pol = &self.policies[idx as usize];
            if pol.takes(p) {
                return Some(pol);
            }
        }
        None
    }

    /// Reference linear scan (tests and benches compare against it).
    pub fn lookup_linear(&self, p: &PacketFields<'_>) -> Option<&Policy> {
        self.policies.iter().find(|pol| pol.takes(p))
    }
}

/// The VNI set of a selector when it is small enough to index; `None` for wide selectors.
fn vni_set(s: &Sel<u32>) -> Option<Vec<(u32, u32)>> {
    match s {
        Sel::Ranges(r) => {
            let span: u64 = r
                .iter()
                .map(|(lo, hi)| u64::from(*hi) - u64::from(*lo) + 1)
                .sum();
            (span <= INDEX_SPAN_MAX).then(|| r.clone())
        }
        Sel::Any | Sel::Opaque => None,
    }
}

/// Both directions.
#[derive(Debug, Clone, Default)]
pub struct Gsp {
    pub inbound: GspTable,
    pub outbound: GspTable,
}

impl Gsp {
    /// Validate and split a policy list (order within each direction is kept).
    pub fn new(policies: Vec<Policy>) -> Result<Self, GspError> {
        for p in &policies {
            if let Action::Secure { gsos } = &p.action {
                if gsos.is_empty() {
                    return Err(GspError::EmptySecure(p.id));
                }
                if gsos.len() > crate::limits::MAX_GSOS {
                    return Err(GspError::TooManyGsos(p.id));
                }
                let geo = gsos.iter().filter(|t| t.kind == GsoKind::Geo).count();
                if geo > 1 || (geo == 1 && gsos[0].kind != GsoKind::Geo) {
                    return Err(GspError::GeoPlacement(p.id));
                }
            }
        }
        let (i, o): (Vec<_>, Vec<_>) = policies.into_iter().partition(|p| p.dir == Direction::In);
        Ok(Gsp {
            inbound: GspTable::new(i),
            outbound: GspTable::new(o),
        })
    }

    pub fn table(&self, dir: Direction) -> &GspTable {
        match dir {
            Direction::In => &self.inbound,
            Direction::Out => &self.outbound,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fields(vni: u32, dport: Option<u16>) -> PacketFields<'static> {
        PacketFields {
            vni,
            protocol_type: 0x0800,
            inner: InnerInfo {
                ip_proto: Some(6),
                dst_port: dport,
                src_port: dport,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn pol(id: u32, vni: &str, action: Action) -> Policy {
        Policy {
            id,
            dir: Direction::Out,
            selectors: Selectors {
                vni: vni.parse().unwrap(),
                ..Default::default()
            },
            action,
        }
    }

    #[test]
    fn sel_text_round_trip_and_match() {
        let s: Sel<u16> = "22,443,8000-8080".parse().unwrap();
        assert_eq!(s.to_string(), "22,443,8000-8080");
        assert!(
            s.matches(Some(8080))
                && s.matches(Some(22))
                && !s.matches(Some(23))
                && !s.matches(None)
        );
        assert!(Sel::<u16>::Any.matches(Some(1)) && !Sel::<u16>::Any.matches(None));
        assert!(Sel::<u16>::Opaque.matches(None));
        assert!("9-3".parse::<Sel<u16>>().is_err());
        assert!("x".parse::<Sel<u16>>().is_err());
        let p: Sel<u16> = "0x6558".parse().unwrap();
        assert!(p.matches(Some(0x6558)));
        let a: Sel<IpAddr> = "10.1.0.0/16,fd00::1".parse().unwrap();
        assert!(a.matches(Some("10.1.255.3".parse().unwrap())));
        assert!(!a.matches(Some("10.2.0.0".parse().unwrap())));
        assert!(a.matches(Some("fd00::1".parse().unwrap())));
    }

    #[test]
    fn first_match_wins_and_default_is_none() {
        let t = GspTable::new(vec![
            Policy {
                selectors: Selectors {
                    dst_port: "22".parse().unwrap(),
                    ..Default::default()
                },
                ..pol(1, "any", Action::Bypass)
            },
            pol(
                2,
                "100-200",
                Action::Secure {
                    gsos: vec![Template {
                        reqid: 7,
                        kind: GsoKind::Geo,
                    }],
                },
            ),
            pol(3, "150", Action::Discard),
        ]);
        assert_eq!(t.lookup(&fields(150, Some(22))).unwrap().id, 1);
        assert_eq!(t.lookup(&fields(150, Some(80))).unwrap().id, 2);
        assert!(t.lookup(&fields(300, Some(80))).is_none());
        // ANY port does not match a packet without ports (ICMP), OPAQUE does.
        assert!(t.lookup(&fields(300, None)).is_none());
    }

    #[test]
    fn gsp_validation() {
        let geo = Template {
            reqid: 1,
            kind: GsoKind::Geo,
        };
        let gao = Template {
            reqid: 2,
            kind: GsoKind::Gao,
        };
        assert!(Gsp::new(vec![pol(
            1,
            "1",
            Action::Secure {
                gsos: vec![geo, gao]
            }
        )])
        .is_ok());
        assert_eq!(
            Gsp::new(vec![pol(
                1,
                "1",
                Action::Secure {
                    gsos: vec![gao, geo]
                }
            )])
            .unwrap_err(),
            GspError::GeoPlacement(1)
        );
        assert_eq!(
            Gsp::new(vec![pol(4, "1", Action::Secure { gsos: vec![] })]).unwrap_err(),
            GspError::EmptySecure(4)
        );
    }

    #[test]
    fn policy_json_shape() {
        let j = r#"{"id":5,"dir":"out","selectors":{"vni":"100","dst_port":"443"},"action":{"type":"secure","gsos":[{"reqid":9,"kind":"geo"}]}}"#;
        let p: Policy = serde_json::from_str(j).unwrap();
        assert_eq!(
            p.action,
            Action::Secure {
                gsos: vec![Template {
                    reqid: 9,
                    kind: GsoKind::Geo
                }]
            }
        );
        assert_eq!(p.selectors.vni, Sel::value(100));
        assert!(serde_json::from_str::<Policy>(
            r#"{"id":5,"dir":"out","action":{"type":"bogus"}}"#
        )
        .is_err());
    }

    fn arb_sel_u32() -> impl Strategy<Value = Sel<u32>> {
        prop_oneof![
            Just(Sel::Any),
            Just(Sel::Opaque),
            (0u32..20, 0u32..5).prop_map(|(a, w)| Sel::range(a, a + w)),
            (0u32..20).prop_map(|a| Sel::Ranges(vec![(a, a), (a + 3, a + 4)])),
            (0u32..5).prop_map(|a| Sel::range(a, a + 1000)),
        ]
    }

    fn arb_sel_u16() -> impl Strategy<Value = Sel<u16>> {
        prop_oneof![
            Just(Sel::Any),
            Just(Sel::Opaque),
            (0u16..4).prop_map(Sel::value)
        ]
    }

    proptest! {
        /// The VNI index returns exactly what a linear first-match scan returns.
        #[test]
        fn index_equals_linear_scan(
            sels in proptest::collection::vec((arb_sel_u32(), arb_sel_u16()), 0..40),
            probes in proptest::collection::vec((0u32..30, proptest::option::of(0u16..4)), 1..30),
        ) {
            let pols: Vec<Policy> = sels.into_iter().enumerate().map(|(i, (v, port))| Policy {
                id: i as u32, dir: Direction::In,
                selectors: Selectors { vni: v, dst_port: port, ..Default::default() },
                action: Action::Bypass,
            }).collect();
            let t = GspTable::new(pols);
            for (vni, port) in probes {
                let f = fields(vni, port);
                prop_assert_eq!(t.lookup(&f).map(|p| p.id), t.lookup_linear(&f).map(|p| p.id));
            }
        }

        #[test]
        fn sel_text_round_trips(lo in any::<u16>(), w in 0u16..100, v in any::<u16>()) {
            let hi = lo.saturating_add(w);
            let s = Sel::Ranges(vec![(lo, hi), (v, v)]);
            prop_assert_eq!(s.to_string().parse::<Sel<u16>>().unwrap(), s);
        }
    }
}
