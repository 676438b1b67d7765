//! Scalar value syntaxes: durations, byte and packet counts, percentages, booleans, numbers,
//! comma lists and numeric selectors. Errors read "what is wrong; what was expected".

use std::time::Duration;

use crate::diag::Pos;
use crate::model::{OptionId, Range, Selector};
use crate::syntax::Value;

/// A duration or a percentage of a reference duration (`over_time = 10%`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TimeSpec {
    Abs(Duration),
    Percent(u32),
}

impl TimeSpec {
    pub fn resolve(self, reference: Duration) -> Duration {
        match self {
            TimeSpec::Abs(d) => d,
            // Saturate at the longest duration the syntax accepts, so a printed model
            // always parses again.
            TimeSpec::Percent(p) => Duration::from_secs(
                (reference.as_secs().saturating_mul(u64::from(p)) / 100).min(MAX_SECS),
            ),
        }
    }
}

fn number(s: &str) -> Option<u64> {
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()
    } else if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

/// The longest duration accepted (about 136 years).
pub(crate) const MAX_SECS: u64 = u32::MAX as u64;

/// `90s`, `30m`, `4h`, `2d`, or a bare number of seconds (as strongSwan).
pub(crate) fn duration(s: &str) -> Result<Duration, String> {
    let bad = || {
        format!("'{s}' is not a duration; expected a number with an optional unit s, m, h or d (e.g. 90s, 30m, 4h, 2d)")
    };
    let (digits, mult) = match s.char_indices().last() {
        Some((i, 's')) => (&s[..i], 1),
        Some((i, 'm')) => (&s[..i], 60),
        Some((i, 'h')) => (&s[..i], 3600),
        Some((i, 'd')) => (&s[..i], 86400),
        _ => (s, 1),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n: u64 = digits.parse().map_err(|_| bad())?;
    n.checked_mul(mult)
        .filter(|v| *v <= MAX_SECS)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("'{s}' is too long; expected at most 4294967295s"))
}

/// A decimal with up to three places, in thousandths: `1.8` -> 1800 (`retransmit_base`,
/// accepted from 1.0 to 10.0).
pub(crate) fn milli(s: &str) -> Result<u32, String> {
    let bad = || {
        format!("'{s}' is not a valid factor here; expected a number from 1.0 to 10.0, e.g. 1.8")
    };
    let (int, frac) = s.split_once('.').unwrap_or((s, "0"));
    if int.is_empty()
        || frac.is_empty()
        || frac.len() > 3
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || int.len() > 3
    {
        return Err(bad());
    }
    let whole: u32 = int.parse().map_err(|_| bad())?;
    let part: u32 = format!("{frac:0<3}").parse().map_err(|_| bad())?;
    Some(whole * 1000 + part)
        .filter(|m| (1000..=10_000).contains(m))
        .ok_or_else(bad)
}

/// A duration with sub-second precision, as strongswan.conf's retransmit settings take it:
/// seconds with up to three decimals (`4`, `4s`, `0.5`, `1.25s`) or milliseconds (`500ms`);
/// also the units of [`duration`] (`2m`).
pub(crate) fn fine_duration(s: &str) -> Result<Duration, String> {
    if let Some(ms) = s.strip_suffix("ms") {
        return uint(ms, 0, MAX_SECS)
            .map(Duration::from_millis)
            .map_err(|_| format!("'{s}' is not a duration; expected e.g. 500ms, 1.5s or 4s"));
    }
    let secs = s.strip_suffix('s').unwrap_or(s);
    if secs.contains('.') {
        let bad = || format!("'{s}' is not a duration; expected e.g. 500ms, 1.5s or 4s");
        let (int, frac) = secs.split_once('.').ok_or_else(bad)?;
        if int.is_empty() || frac.is_empty() || frac.len() > 3 {
            return Err(bad());
        }
        let whole = duration(int).map_err(|_| bad())?;
        let part: u64 = format!("{frac:0<3}").parse().map_err(|_| bad())?;
        return Ok(whole + Duration::from_millis(part));
    }
    duration(s)
}

/// A percentage `N%`.
pub(crate) fn percent(s: &str) -> Option<Result<u32, String>> {
    let digits = s.strip_suffix('%')?;
    Some(
        digits
            .parse::<u32>()
            .ok()
            .filter(|p| *p <= 10_000)
            .ok_or_else(|| {
                format!(
                    "'{s}' is not a percentage; expected a whole number followed by % (e.g. 10%)"
                )
            }),
    )
}

pub(crate) fn time_spec(s: &str) -> Result<TimeSpec, String> {
    match percent(s) {
        Some(p) => p.map(TimeSpec::Percent),
        None => duration(s).map(TimeSpec::Abs),
    }
}

fn scaled(s: &str, unit: u64, what: &str) -> Result<u64, String> {
    let bad = || {
        format!("'{s}' is not a {what} count; expected a number with an optional suffix k, M or G (e.g. 500M)")
    };
    let (digits, mult) = match s.char_indices().last() {
        Some((i, 'k' | 'K')) => (&s[..i], unit),
        Some((i, 'm' | 'M')) => (&s[..i], unit * unit),
        Some((i, 'g' | 'G')) => (&s[..i], unit * unit * unit),
        _ => (s, 1),
    };
    let n = number(digits).ok_or_else(bad)?;
    n.checked_mul(mult)
        .ok_or_else(|| format!("'{s}' is too large; expected at most 2^64-1"))
}

/// Byte counts: k/M/G are binary (1024), as strongSwan's swanctl parses them.
pub(crate) fn bytes(s: &str) -> Result<u64, String> {
    scaled(s, 1024, "byte")
}

/// Packet counts: k/M/G are decimal (1000); a packet is not a byte.
pub(crate) fn packets(s: &str) -> Result<u64, String> {
    scaled(s, 1000, "packet")
}

/// strongSwan booleans.
pub(crate) fn boolean(s: &str) -> Result<bool, String> {
    match s {
        "yes" | "true" | "enabled" | "1" => Ok(true),
        "no" | "false" | "disabled" | "0" => Ok(false),
        _ => Err(format!("'{s}' is not a boolean; expected yes|no")),
    }
}

/// An unsigned number within `[min, max]` (decimal or 0x hex).
pub(crate) fn uint(s: &str, min: u64, max: u64) -> Result<u64, String> {
    number(s)
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| format!("'{s}' is not a valid number here; expected {min} to {max}"))
}

/// Comma-separated items with the position of each. A quoted value is one item.
pub(crate) fn items(v: &Value) -> Vec<(String, Pos)> {
    if v.quoted {
        return vec![(v.text.clone(), v.pos.clone())];
    }
    let mut out = Vec::new();
    let mut offset = 0;
    for part in v.text.split(',') {
        let lead = part.chars().take_while(|c| c.is_whitespace()).count();
        let item = part.trim();
        if !item.is_empty() {
            out.push((item.to_string(), v.pos.shifted(offset + lead)));
        }
        offset += part.chars().count() + 1;
    }
    out
}

/// Well-known IP protocol names for `ip_proto`.
pub(crate) const IP_PROTOCOLS: &[(&str, u32)] = &[
    ("icmp", 1),
    ("tcp", 6),
    ("udp", 17),
    ("gre", 47),
    ("esp", 50),
    ("ah", 51),
    ("ipv6-icmp", 58),
    ("sctp", 132),
];

/// Well-known Protocol Types (EtherTypes) for `protocol_types`.
pub(crate) const PROTOCOL_TYPES: &[(&str, u32)] = &[
    ("ipv4", 0x0800),
    ("ipv6", 0x86dd),
    ("ethernet", 0x6558),
    ("arp", 0x0806),
];

fn range_value(s: &str, max: u32, names: &[(&str, u32)]) -> Option<u32> {
    names
        .iter()
        .find(|(n, _)| *n == s)
        .map(|(_, v)| *v)
        .or_else(|| number(s).and_then(|n| u32::try_from(n).ok()))
        .filter(|n| *n <= max)
}

fn range(s: &str, max: u32, names: &[(&str, u32)]) -> Option<Range> {
    if let Some(v) = range_value(s, max, names) {
        return Some(Range { start: v, end: v });
    }
    let (a, b) = s.split_once('-')?;
    let start = range_value(a.trim(), max, names)?;
    let end = range_value(b.trim(), max, names)?;
    (start <= end).then_some(Range { start, end })
}

/// A selector list: `any`, `opaque` (when allowed) or `N, N-M, name, ...`.
pub(crate) fn selector(
    v: &Value,
    max: u32,
    opaque_ok: bool,
    names: &[(&str, u32)],
) -> Result<Selector, (Pos, String)> {
    let list = items(v);
    let keywords = if opaque_ok {
        "any, opaque or "
    } else {
        "any or "
    };
    let named = if names.is_empty() {
        String::new()
    } else {
        let n: Vec<&str> = names.iter().map(|(n, _)| *n).collect();
        format!(" or names ({})", n.join(", "))
    };
    match list.as_slice() {
        [] => {
            return Err((
                v.pos.clone(),
                format!("empty selector; expected {keywords}a list of values or ranges"),
            ))
        }
        [(s, _)] if s == "any" => return Ok(Selector::Any),
        [(s, _)] if s == "opaque" && opaque_ok => return Ok(Selector::Opaque),
        _ => {}
    }
    list.iter()
        .map(|(s, pos)| {
            range(s, max, names).ok_or_else(|| {
                (
                    pos.clone(),
                    format!("'{s}' is not a valid value or range; expected {keywords}values or ranges start-end within 0-{max}{named}"),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Selector::Ranges)
}

/// A Geneve option `class:type`, e.g. `0x0103:0x80`.
pub(crate) fn option_id(s: &str) -> Result<OptionId, String> {
    let parsed = s.split_once(':').and_then(|(c, t)| {
        let class = u16::try_from(number(c)?).ok()?;
        let kind = u8::try_from(number(t)?).ok()?;
        Some(OptionId { class, kind })
    });
    parsed.ok_or_else(|| {
        format!("'{s}' is not a Geneve option; expected class:type such as 0x0103:0x80")
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn milli_factors() {
        assert_eq!(milli("1.8"), Ok(1800));
        assert_eq!(milli("1"), Ok(1000));
        assert_eq!(milli("10.0"), Ok(10_000));
        assert_eq!(milli("2.125"), Ok(2125));
        for bad in ["0.9", "10.001", "1.2345", "", ".5", "1.", "x", "-1", "1e3"] {
            assert!(milli(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn fine_durations() {
        assert_eq!(fine_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(fine_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(fine_duration("0.25"), Ok(Duration::from_millis(250)));
        assert_eq!(fine_duration("4"), Ok(Duration::from_secs(4)));
        assert_eq!(fine_duration("2m"), Ok(Duration::from_secs(120)));
        for bad in ["1.", ".5", "1.2345s", "ms", "5xs", "1.5m"] {
            assert!(fine_duration(bad).is_err(), "{bad}");
        }
    }

    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(duration("4h"), Ok(Duration::from_secs(14400)));
        assert_eq!(duration("2d"), Ok(Duration::from_secs(172_800)));
        assert_eq!(duration("15"), Ok(Duration::from_secs(15)));
        assert!(duration("1w").is_err());
        assert!(duration("h").is_err());
        assert!(duration("-1s").is_err());
        assert!(duration("99999999999d").is_err());
        assert_eq!(time_spec("10%"), Ok(TimeSpec::Percent(10)));
        assert_eq!(
            TimeSpec::Percent(110).resolve(Duration::from_secs(3600)),
            Duration::from_secs(3960)
        );
    }

    #[test]
    fn counts() {
        assert_eq!(bytes("500M"), Ok(500 * 1024 * 1024));
        assert_eq!(bytes("10k"), Ok(10240));
        assert_eq!(bytes("2G"), Ok(2 << 30));
        assert_eq!(packets("10k"), Ok(10_000));
        assert_eq!(packets("7"), Ok(7));
        assert!(bytes("10x").is_err());
        assert!(bytes("99999999999999G").is_err());
    }

    #[test]
    fn lists_keep_columns() {
        let v = Value {
            text: "a,  b ,c".into(),
            pos: Pos::new(std::sync::Arc::from(std::path::Path::new("f")), 3, 10),
            quoted: false,
        };
        let got: Vec<_> = items(&v).into_iter().map(|(s, p)| (s, p.col)).collect();
        assert_eq!(got, [("a".into(), 10), ("b".into(), 14), ("c".into(), 17)]);
    }

    #[test]
    fn selectors() {
        let v = |t: &str| Value {
            text: t.into(),
            pos: Pos::new(std::sync::Arc::from(std::path::Path::new("f")), 1, 1),
            quoted: false,
        };
        assert_eq!(
            selector(&v("any"), 255, true, IP_PROTOCOLS),
            Ok(Selector::Any)
        );
        assert_eq!(
            selector(&v("tcp, ipv6-icmp, 100-110"), 255, true, IP_PROTOCOLS),
            Ok(Selector::Ranges(vec![
                Range { start: 6, end: 6 },
                Range { start: 58, end: 58 },
                Range {
                    start: 100,
                    end: 110
                }
            ]))
        );
        assert!(selector(&v("opaque"), 255, false, &[]).is_err());
        assert!(selector(&v("9-3"), 255, false, &[]).is_err());
        assert!(selector(&v("256"), 255, false, &[]).is_err());
        assert_eq!(
            option_id("0x0103:0x80"),
            Ok(OptionId {
                class: 0x103,
                kind: 0x80
            })
        );
    }
}
