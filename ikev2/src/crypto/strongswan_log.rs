//! Reads the key dumps strongSwan's charon writes at IKE/CHD log level 4, so tests can assert
//! that both ends derived the same SK_* keys (issue 4: the strongSwan cross-check).
//!
//! charon logs each key with `DBG4(DBG_IKE, "Sk_d secret %B", &chunk)` (keymat_v2.c); the `%B`
//! hook prints `=> N bytes @ 0xADDR` and then one line per 16 bytes, `%4d: ` offset, 16
//! upper-case hex octets separated by spaces (padded to 47 columns), two spaces, ASCII. Loggers
//! put their prefix (time, thread, `[IKE]`) before every line, e.g.
//!
//! ```text
//! Nov 23 10:00:00 08[IKE] Sk_d secret => 32 bytes @ 0x7f1b2c003a20
//! Nov 23 10:00:00 08[IKE]    0: 6B 1F 0E 3A 00 91 6D 5A 2B 61 0D 3C 9A 44 C1 20  k..:..mZ+a.<.D.
//! Nov 23 10:00:00 08[IKE]   16: 58 0A 3F 2C 17 5E 99 E1 54 42 03 8D 27 6F 8B 01  X.?,.^..TB..'o..
//! ```
//!
//! With AEAD, charon does not log `Sk_ai`/`Sk_ar`. Child SA keys appear as `encryption
//! initiator key`, `encryption responder key`, `integrity initiator key`, `integrity responder
//! key` (CHD level 4).

use super::{ChildKeys, IkeSaKeys, Secret};

/// The labels charon dumps with `%B` that this parser collects (keymat_v2.c).
pub const KEY_LABELS: [&str; 12] = [
    "SKEYSEED",
    "Sk_d secret",
    "Sk_ai secret",
    "Sk_ar secret",
    "Sk_ei secret",
    "Sk_er secret",
    "Sk_pi secret",
    "Sk_pr secret",
    "encryption initiator key",
    "encryption responder key",
    "integrity initiator key",
    "integrity responder key",
];

/// Width of the hex column of one dump line: 16 * 3 - 1.
const HEX_COLUMN: usize = 47;

/// One `%B` dump found in the log.
#[derive(Debug, Clone)]
pub struct KeyDump {
    /// One of [`KEY_LABELS`].
    pub label: &'static str,
    pub bytes: Secret,
}

/// All complete key dumps in `log`, in order. Incomplete dumps (cut-off logs) are skipped.
pub fn parse_key_dumps(log: &str) -> Vec<KeyDump> {
    let mut out = Vec::new();
    let mut lines = log.lines();
    while let Some(line) = lines.next() {
        let Some((label, len)) = dump_header(line) else {
            continue;
        };
        let mut bytes = Vec::with_capacity(len);
        while bytes.len() < len {
            let Some(next) = lines.next() else { break };
            if !dump_row(next, bytes.len(), len - bytes.len(), &mut bytes) {
                break;
            }
        }
        if bytes.len() == len {
            out.push(KeyDump {
                label,
                bytes: Secret::new(bytes),
            });
        }
    }
    out
}

/// The IKE SA keys of one derivation as logged by charon.
#[derive(Debug, Clone, Default)]
pub struct LoggedIkeKeys {
    pub skeyseed: Option<Secret>,
    pub sk_d: Option<Secret>,
    pub sk_ai: Option<Secret>,
    pub sk_ar: Option<Secret>,
    pub sk_ei: Option<Secret>,
    pub sk_er: Option<Secret>,
    pub sk_pi: Option<Secret>,
    pub sk_pr: Option<Secret>,
}

impl LoggedIkeKeys {
    /// Names of the keys charon logged that differ from `ours` (constant-time compares; keys
    /// charon did not log are skipped). Empty means both ends derived the same keys. Compare
    /// the set from the same derivation (e.g. the last one after a rekey).
    pub fn mismatches(&self, ours: &IkeSaKeys) -> Vec<&'static str> {
        let pairs: [(&'static str, &Option<Secret>, &[u8]); 5] = [
            ("Sk_d", &self.sk_d, ours.sk_d().expose()),
            ("Sk_ei", &self.sk_ei, ours.sk_ei().keymat().expose()),
            ("Sk_er", &self.sk_er, ours.sk_er().keymat().expose()),
            ("Sk_pi", &self.sk_pi, ours.sk_pi().expose()),
            ("Sk_pr", &self.sk_pr, ours.sk_pr().expose()),
        ];
        let mut out: Vec<&'static str> = pairs
            .iter()
            .filter(|(_, logged, mine)| logged.as_ref().is_some_and(|l| !l.ct_eq(mine)))
            .map(|(name, _, _)| *name)
            .collect();
        // With AEAD we have no SK_a*; charon does not log them either. If it did, they must
        // be empty for the keys to agree.
        for (name, logged) in [("Sk_ai", &self.sk_ai), ("Sk_ar", &self.sk_ar)] {
            if logged.as_ref().is_some_and(|l| !l.is_empty()) {
                out.push(name);
            }
        }
        out
    }
}

/// Groups the IKE key dumps by derivation (a new group starts at each `SKEYSEED`, or at an
/// `Sk_d secret` when the current group already has one), so an IKE SA rekey shows up as a
/// second entry.
pub fn ike_key_sets(log: &str) -> Vec<LoggedIkeKeys> {
    let mut sets: Vec<LoggedIkeKeys> = Vec::new();
    for d in parse_key_dumps(log) {
        let starts_new = match d.label {
            "SKEYSEED" => true,
            "Sk_d secret" => match sets.last() {
                None => true,
                Some(s) => s.sk_d.is_some(),
            },
            _ => sets.is_empty(),
        };
        if starts_new {
            sets.push(LoggedIkeKeys::default());
        }
        let Some(set) = sets.last_mut() else { continue };
        let slot = match d.label {
            "SKEYSEED" => &mut set.skeyseed,
            "Sk_d secret" => &mut set.sk_d,
            "Sk_ai secret" => &mut set.sk_ai,
            "Sk_ar secret" => &mut set.sk_ar,
            "Sk_ei secret" => &mut set.sk_ei,
            "Sk_er secret" => &mut set.sk_er,
            "Sk_pi secret" => &mut set.sk_pi,
            "Sk_pr secret" => &mut set.sk_pr,
            _ => continue,
        };
        *slot = Some(d.bytes);
    }
    sets
}

/// The keys of one Child SA as logged by charon (`derive_child_keys`, CHD level 4).
/// "initiator" is the initiator of the exchange that created the Child SA, as in [`ChildKeys`].
#[derive(Debug, Clone, Default)]
pub struct LoggedChildKeys {
    pub encr_i: Option<Secret>,
    pub encr_r: Option<Secret>,
    pub integ_i: Option<Secret>,
    pub integ_r: Option<Secret>,
}

impl LoggedChildKeys {
    /// Names of the logged keys that differ from `ours` (empty = same keys).
    pub fn mismatches(&self, ours: &ChildKeys) -> Vec<&'static str> {
        let (i, r) = (&ours.initiator_to_responder, &ours.responder_to_initiator);
        let pairs: [(&'static str, &Option<Secret>, &Secret); 4] = [
            ("encryption initiator key", &self.encr_i, &i.encr),
            ("encryption responder key", &self.encr_r, &r.encr),
            ("integrity initiator key", &self.integ_i, &i.integ),
            ("integrity responder key", &self.integ_r, &r.integ),
        ];
        pairs
            .iter()
            .filter(|(_, logged, mine)| logged.as_ref().is_some_and(|l| !l.ct_eq(mine.expose())))
            .map(|(name, _, _)| *name)
            .collect()
    }
}

/// Groups the Child SA key dumps: a new set starts when a key already present in the current
/// set shows up again (charon logs encryption keys, then integrity keys, per Child SA).
pub fn child_key_sets(log: &str) -> Vec<LoggedChildKeys> {
    let mut sets: Vec<LoggedChildKeys> = Vec::new();
    for d in parse_key_dumps(log) {
        let field: fn(&mut LoggedChildKeys) -> &mut Option<Secret> = match d.label {
            "encryption initiator key" => |s| &mut s.encr_i,
            "encryption responder key" => |s| &mut s.encr_r,
            "integrity initiator key" => |s| &mut s.integ_i,
            "integrity responder key" => |s| &mut s.integ_r,
            _ => continue,
        };
        let needs_new = match sets.last_mut() {
            None => true,
            Some(set) => field(set).is_some(),
        };
        if needs_new {
            sets.push(LoggedChildKeys::default());
        }
        if let Some(set) = sets.last_mut() {
            *field(set) = Some(d.bytes);
        }
    }
    sets
}

/// `... <label> => N bytes @ 0x...` -> (label, N).
fn dump_header(line: &str) -> Option<(&'static str, usize)> {
    let arrow = line.find(" => ")?;
    let before = &line[..arrow];
    let label = KEY_LABELS.iter().find(|l| before.ends_with(**l))?;
    // The label must be a whole word: preceded by a space, `]` or the line start.
    let start = arrow - label.len();
    if start > 0 && !matches!(before.as_bytes()[start - 1], b' ' | b']') {
        return None;
    }
    let (n, tail) = line[arrow + 4..].split_once(' ')?;
    if !tail.starts_with("bytes") {
        return None;
    }
    Some((label, n.parse().ok()?))
}

/// Parses one dump row at `offset`, appending at most `remaining` bytes. False if the line is
/// not the expected row.
fn dump_row(line: &str, offset: usize, remaining: usize, out: &mut Vec<u8>) -> bool {
    let marker = format!("{offset:>4}: ");
    let Some(at) = line.find(&marker) else {
        return false;
    };
    let hex_start = at + marker.len();
    let hex_end = (hex_start + HEX_COLUMN).min(line.len());
    let Some(hex) = line.get(hex_start..hex_end) else {
        return false;
    };
    let want = remaining.min(16);
    let mut got = 0;
    for tok in hex.split_ascii_whitespace().take(want) {
        match (tok.len(), u8::from_str_radix(tok, 16)) {
            (2, Ok(b)) => {
                out.push(b);
                got += 1;
            }
            _ => return false,
        }
    }
    got == want
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "\
Nov 23 10:00:00 08[IKE] SKEYSEED => 32 bytes @ 0x55d0c8e4a1b0
Nov 23 10:00:00 08[IKE]    0: 00 01 02 03 04 05 06 07 08 09 0A 0B 0C 0D 0E 0F  ................
Nov 23 10:00:00 08[IKE]   16: 10 11 12 13 14 15 16 17 18 19 1A 1B 1C 1D 1E 1F  ................
Nov 23 10:00:00 08[IKE] Sk_d secret => 32 bytes @ 0x55d0c8e4a2c0
Nov 23 10:00:00 08[IKE]    0: 41 42 43 44 45 46 47 48 49 4A 4B 4C 4D 4E 4F 50  ABCDEFGHIJKLMNOP
Nov 23 10:00:00 08[IKE]   16: 20 20 20 20 20 20 20 20 20 20 20 20 20 20 20 20                  
Nov 23 10:00:00 08[IKE] Sk_ei secret => 20 bytes @ 0x55d0c8e4a3d0
Nov 23 10:00:00 08[IKE]    0: FF EE DD CC BB AA 99 88 77 66 55 44 33 22 11 00  ....wfUD3\".
Nov 23 10:00:00 08[IKE]   16: 01 02 03 04                                      ....
Nov 23 10:00:00 08[NET] sending packet: from 10.0.0.1[500] to 10.0.0.2[500] (240 bytes)
Nov 23 10:05:00 08[IKE] Sk_d secret => 4 bytes @ 0x55d0c8e4a3d0
Nov 23 10:05:00 08[IKE]    0: DE AD BE EF                                      ....
";

    #[test]
    fn parses_dumps_with_prefixes_and_short_rows() {
        let d = parse_key_dumps(LOG);
        let labels: Vec<_> = d.iter().map(|d| d.label).collect();
        assert_eq!(
            labels,
            ["SKEYSEED", "Sk_d secret", "Sk_ei secret", "Sk_d secret"]
        );
        assert_eq!(d[0].bytes.expose(), (0u8..32).collect::<Vec<_>>());
        assert_eq!(&d[1].bytes.expose()[..4], b"ABCD");
        assert_eq!(&d[1].bytes.expose()[16..], &[0x20; 16]);
        assert_eq!(
            d[2].bytes.expose(),
            &[
                0xff, 0xee, 0xdd, 0xcc, 0xbb, 0xaa, 0x99, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22,
                0x11, 0x00, 1, 2, 3, 4
            ]
        );
        assert_eq!(d[3].bytes.expose(), &[0xde, 0xad, 0xbe, 0xef]);
    }

    #[test]
    fn groups_by_derivation() {
        let sets = ike_key_sets(LOG);
        assert_eq!(sets.len(), 2);
        assert_eq!(sets[0].skeyseed.as_ref().unwrap().len(), 32);
        assert_eq!(sets[0].sk_ei.as_ref().unwrap().len(), 20);
        assert!(sets[0].sk_er.is_none());
        assert_eq!(
            sets[1].sk_d.as_ref().unwrap().expose(),
            &[0xde, 0xad, 0xbe, 0xef]
        );
    }

    #[test]
    fn mismatches_against_our_keys() {
        use crate::crypto::{Prf, SkSuite};
        let g = Secret::from_slice(&[1; 32]);
        let k = IkeSaKeys::derive(Prf::HmacSha256, SkSuite::AesGcm16_128, &g, b"a", b"b", 1, 2)
            .unwrap();
        let mut logged = LoggedIkeKeys {
            sk_d: Some(k.sk_d().clone()),
            sk_ei: Some(k.sk_ei().keymat().clone()),
            sk_pr: Some(k.sk_pr().clone()),
            ..Default::default()
        };
        assert!(logged.mismatches(&k).is_empty());
        logged.sk_er = Some(k.sk_ei().keymat().clone());
        logged.sk_ai = Some(Secret::from_slice(&[1]));
        assert_eq!(logged.mismatches(&k), ["Sk_er", "Sk_ai"]);
    }

    #[test]
    fn child_keys_grouped_and_compared() {
        use crate::crypto::{ChildKeySpec, Prf, SkSuite};
        let g = Secret::from_slice(&[1; 32]);
        let ike = IkeSaKeys::derive(Prf::HmacSha256, SkSuite::AesGcm16_128, &g, b"a", b"b", 1, 2)
            .unwrap();
        let ck = ike
            .child_keys(None, b"n", b"m", ChildKeySpec::aes_with_salt(128))
            .unwrap();
        let hex =
            |b: &[u8]| -> String { b.iter().map(|x| format!("{x:02X} ")).collect::<String>() };
        let (ei, er) = (
            ck.initiator_to_responder.encr.expose(),
            ck.responder_to_initiator.encr.expose(),
        );
        let log = format!(
            "09[CHD] encryption initiator key => 20 bytes @ 0x1\n\
             09[CHD]    0: {}\n09[CHD]   16: {}\n\
             09[CHD] encryption responder key => 20 bytes @ 0x2\n\
             09[CHD]    0: {}\n09[CHD]   16: {}\n\
             09[CHD] encryption initiator key => 1 bytes @ 0x3\n09[CHD]    0: 00\n",
            hex(&ei[..16]),
            hex(&ei[16..]),
            hex(&er[..16]),
            hex(&er[16..])
        );
        let sets = child_key_sets(&log);
        assert_eq!(sets.len(), 2);
        assert!(sets[0].mismatches(&ck).is_empty());
        assert_eq!(sets[1].mismatches(&ck), ["encryption initiator key"]);
    }

    #[test]
    fn truncated_or_foreign_lines_are_skipped() {
        let cut = "x[IKE] Sk_pr secret => 32 bytes @ 0x1\nx[IKE]    0: 00 01\n";
        assert!(parse_key_dumps(cut).is_empty());
        let other = "x[IKE] my Sk_pr secret => 2 bytes @ 0x1\nx[IKE]    0: 00 01  ..\n";
        assert_eq!(parse_key_dumps(other).len(), 1);
        let glued = "x[IKE] mySk_pr secret => 2 bytes @ 0x1\nx[IKE]    0: 00 01  ..\n";
        assert!(parse_key_dumps(glued).is_empty());
        assert!(parse_key_dumps("Sk_d secret => lots bytes\n").is_empty());
    }
}
