//! Which `secrets.ike<suffix>` entry a PSK connection uses.
//!
//! strongSwan ranks shared keys by how well their owners match the two identities of the
//! IKE SA (libstrongswan `mem_cred` `has_owner`, `credential_manager::get_shared`: a key
//! naming both "me" and "other" perfectly beats one naming one, which beats the `%any` /
//! id-less key). nvesec uses that ranking, with two differences that close the hole of
//! issue 14 (a peer passing as another with a key it holds for a different pair):
//!
//! * the connection gets exactly one key, the unique best one; two different keys at the
//!   best rank are a configuration error, not "the first one in the file" (strongSwan's
//!   `psk_authenticator` would even try every key naming either identity in turn);
//! * a key that names an identity outside this pair (neither ours, nor the peer's identity
//!   or addresses) is used only if it also names both of us (a group key): otherwise it
//!   belongs to another pair.
//!
//! Identities are compared as strongSwan compares them: FQDN and RFC 822 names without case,
//! `@name` as `name`, IP addresses by value, DNs without spacing around separators.

use std::net::IpAddr;

use crate::model::{AddrSpec, Connection, IkeSecret};

/// How well a secret matches a connection: each of the two identities it names counts 2, a
/// peer address (instead of the peer identity) counts 1. A secret without ids (or only
/// `%any`) ranks 0.
pub type Rank = u8;

/// Why a connection has no PSK.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PskError {
    /// No secret names the peer (or only this node), and there is no catch-all.
    #[error("no secret matches its identities ({ids}); expected a section secrets.ike-{conn} with id-1 = {local}, id-2 = {remote} and secret = <psk>")]
    NoSecret {
        conn: String,
        /// The identities and addresses looked for, for the message.
        ids: String,
        local: String,
        remote: String,
    },
    /// Two secrets with different keys match equally well.
    #[error("secrets.{} and secrets.{} both {} but hold different keys; expected one secret that names both {} and {}, or only one of them left", .0.first_name, .0.second_name, .0.how, .0.local, .0.remote)]
    Ambiguous(Box<Ambiguity>),
}

/// The two secrets of [`PskError::Ambiguous`] and what they have in common.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ambiguity {
    /// Indices into `Config::secrets`, in file order.
    pub first: usize,
    pub second: usize,
    pub first_name: String,
    pub second_name: String,
    /// What the two have in common ("name nve1 and nve2", ...).
    pub how: String,
    pub local: String,
    pub remote: String,
}

/// The two ends of a connection as the secrets are matched against them.
struct Ends {
    local: Option<String>,
    /// The peer identity when it is one identity (not `%any`, not a pattern).
    remote: Option<String>,
    remote_text: Option<String>,
    addrs: Vec<String>,
}

impl Ends {
    fn of(c: &Connection) -> Ends {
        // As the daemon derives it: `local.id`, else the first local address (swanctl's
        // default local identity is the IP address).
        let local = c.local.id.clone().or_else(|| {
            c.local_addrs.iter().find_map(|a| match a {
                AddrSpec::Ip(ip) => Some(ip.to_string()),
                _ => None,
            })
        });
        let remote_text = c.remote.id.clone().filter(|r| r != "%any");
        let addrs = c
            .remote_addrs
            .iter()
            .filter_map(|a| match a {
                AddrSpec::Ip(ip) => Some(ip.to_string()),
                AddrSpec::Host(h) => Some(h.clone()),
                _ => None,
            })
            .collect::<Vec<_>>();
        Ends {
            local: local.as_deref().map(norm),
            // A pattern (`*.nve.example`) stands for many peers: only a secret naming the
            // pattern itself names "the peer"; a secret for one of them is that peer's key.
            remote: remote_text.as_deref().map(norm),
            remote_text,
            addrs: addrs.iter().map(|a| norm(a)).collect(),
        }
    }

    fn local_text(&self, c: &Connection) -> String {
        c.local
            .id
            .clone()
            .or_else(|| self.local.clone())
            .unwrap_or_else(|| "<local id>".into())
    }

    fn remote_shown(&self, c: &Connection) -> String {
        self.remote_text
            .clone()
            .or_else(|| {
                c.remote_addrs.iter().find_map(|a| match a {
                    AddrSpec::Ip(ip) => Some(ip.to_string()),
                    AddrSpec::Host(h) => Some(h.clone()),
                    _ => None,
                })
            })
            .unwrap_or_else(|| "<peer id>".into())
    }
}

/// An identity in the form two spellings of the same identity share.
fn norm(text: &str) -> String {
    let t = text.trim();
    if let Ok(ip) = t.parse::<IpAddr>() {
        return ip.to_string();
    }
    if t.contains('=') {
        // A DN: RDN order and case of values matter, spacing around separators does not.
        return t
            .split(',')
            .map(|p| p.split('=').map(str::trim).collect::<Vec<_>>().join("="))
            .collect::<Vec<_>>()
            .join(",");
    }
    // strongSwan compares FQDN and RFC 822 identities case-insensitively; `@` forces FQDN.
    t.strip_prefix('@').unwrap_or(t).to_ascii_lowercase()
}

/// The rank of `s` for the connection, `None` when it must not be used for it.
fn rank(s: &IkeSecret, e: &Ends) -> Option<Rank> {
    let ids: Vec<String> = s
        .ids
        .iter()
        .filter(|i| i.trim() != "%any")
        .map(|i| norm(i))
        .collect();
    if ids.is_empty() {
        // strongSwan's vici gives an id-less secret the owner %any: it matches everything,
        // at the lowest rank.
        return Some(0);
    }
    let local = e.local.as_ref().is_some_and(|l| ids.contains(l));
    let peer = if e.remote.as_ref().is_some_and(|r| ids.contains(r)) {
        2
    } else if ids.iter().any(|i| e.addrs.contains(i)) {
        1
    } else {
        0
    };
    let foreign = ids.iter().any(|i| {
        Some(i) != e.local.as_ref() && Some(i) != e.remote.as_ref() && !e.addrs.contains(i)
    });
    if foreign && !(local && peer > 0) {
        // Names someone who is not one of this pair, and not both of us (a group key):
        // another pair's key (issue 14).
        return None;
    }
    Some(2 * Rank::from(local) + peer)
}

fn how(r: Rank, local: &str, remote: &str) -> String {
    match r {
        4 => format!("name {local} and {remote}"),
        3 => format!("name {local} and the peer's address"),
        2 => format!("name one of {local} and {remote}"),
        1 => "name the peer's address".into(),
        _ => "have no ids (they match any identity)".into(),
    }
}

/// The index in `secrets` of the secret connection `c` authenticates with (both ways: our
/// AUTH and the peer's).
pub fn select(secrets: &[IkeSecret], c: &Connection) -> Result<usize, PskError> {
    let e = Ends::of(c);
    let mut best: Option<(Rank, usize)> = None;
    let mut tie: Option<usize> = None;
    for (i, s) in secrets.iter().enumerate() {
        let Some(r) = rank(s, &e) else { continue };
        match best {
            Some((b, _)) if r < b => {}
            Some((b, bi)) if r == b => {
                // The same key written twice is not ambiguous.
                if tie.is_none() && secrets[bi].secret != s.secret {
                    tie = Some(i);
                }
            }
            _ => {
                best = Some((r, i));
                tie = None;
            }
        }
    }
    let (local, remote) = (e.local_text(c), e.remote_shown(c));
    match (best, tie) {
        (Some((_, i)), None) => Ok(i),
        (Some((r, first)), Some(second)) => Err(PskError::Ambiguous(Box::new(Ambiguity {
            first,
            second,
            first_name: secrets[first].name.clone(),
            second_name: secrets[second].name.clone(),
            how: how(r, &local, &remote),
            local,
            remote,
        }))),
        (None, _) => {
            let mut ids: Vec<String> = e.local.iter().cloned().collect();
            ids.extend(e.remote_text.iter().cloned());
            ids.extend(e.addrs.iter().cloned());
            Err(PskError::NoSecret {
                ids: if ids.is_empty() {
                    "none configured".into()
                } else {
                    ids.join(", ")
                },
                conn: c.name.clone(),
                local,
                remote,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::MemFs;
    use crate::secret::Secret;
    use std::path::Path;

    fn secret(name: &str, ids: &[&str], key: &str) -> IkeSecret {
        IkeSecret {
            name: name.into(),
            ids: ids.iter().map(|s| s.to_string()).collect(),
            secret: Secret::new(key.as_bytes().to_vec()),
        }
    }

    fn ends(local: &str, remote: Option<&str>, addrs: &[&str]) -> Ends {
        Ends {
            local: Some(norm(local)),
            remote: remote.map(norm),
            remote_text: remote.map(String::from),
            addrs: addrs.iter().map(|a| norm(a)).collect(),
        }
    }

    #[test]
    fn ranks() {
        let e = ends("nve1", Some("nve2"), &["192.0.2.2"]);
        let r = |ids: &[&str]| rank(&secret("s", ids, "k"), &e);
        assert_eq!(r(&["nve1", "nve2"]), Some(4));
        assert_eq!(r(&["NVE2", "@nve1"]), Some(4), "case and @ do not matter");
        assert_eq!(r(&["nve1", "192.0.2.2"]), Some(3));
        assert_eq!(r(&["nve2"]), Some(2));
        assert_eq!(r(&["nve1"]), Some(2), "our own key for any peer");
        assert_eq!(r(&["192.0.2.2"]), Some(1));
        assert_eq!(r(&[]), Some(0));
        assert_eq!(r(&["%any"]), Some(0));
        assert_eq!(r(&["nve1", "nve3"]), None, "the nve1-nve3 key");
        assert_eq!(r(&["nve3"]), None);
        assert_eq!(
            r(&["nve2", "nve3"]),
            None,
            "the nve2-nve3 key, held by nve1"
        );
        assert_eq!(r(&["nve1", "nve2", "nve3"]), Some(4), "a group key");
        // A pattern peer: a key of one peer it matches is not the connection's key.
        let any = ends("hub", Some("*.nve"), &[]);
        assert_eq!(rank(&secret("s", &["a.nve"], "k"), &any), None);
        assert_eq!(rank(&secret("s", &["hub"], "k"), &any), Some(2));
    }

    fn conn(local: &str, remote: &str) -> Connection {
        let text = format!(
            "connections {{\n c {{\n  local {{\n   auth = psk\n   id = {local}\n  }}\n  remote {{\n   auth = psk\n   id = {remote}\n  }}\n }}\n}}\nsecrets {{\n ike {{\n  secret = x\n }}\n}}\n"
        );
        let mut l = crate::parse_str(&MemFs::new(), Path::new("/t.conf"), &text).unwrap();
        l.config.connections.remove(0)
    }

    #[test]
    fn best_match_whatever_the_order() {
        let all = [
            secret("ike-12", &["nve1", "nve2"], "K12"),
            secret("ike-13", &["nve1", "nve3"], "K13"),
            secret("ike-23", &["nve2", "nve3"], "K23"),
            secret("ike-any", &[], "KANY"),
        ];
        // Every order of the four secrets gives every pair its own key.
        for perm in 0..24usize {
            let mut pool: Vec<IkeSecret> = all.to_vec();
            let mut list = Vec::new();
            let mut k = perm;
            for n in (1..=4).rev() {
                list.push(pool.remove(k % n));
                k /= n;
            }
            for (a, b, want) in [
                ("nve1", "nve2", "K12"),
                ("nve2", "nve1", "K12"),
                ("nve1", "nve3", "K13"),
                ("nve3", "nve2", "K23"),
                ("nve1", "nve4", "KANY"),
            ] {
                let i = select(&list, &conn(a, b)).unwrap();
                assert_eq!(
                    list[i].secret.expose(),
                    want.as_bytes(),
                    "{a}-{b} order {perm}"
                );
            }
        }
    }

    #[test]
    fn ties_with_different_keys_are_ambiguous() {
        let list = [
            secret("ike-a", &["nve2"], "A"),
            secret("ike-b", &["nve1"], "B"),
        ];
        match select(&list, &conn("nve1", "nve2")) {
            Err(PskError::Ambiguous(a)) => assert_eq!((a.first, a.second), (0, 1)),
            other => panic!("{other:?}"),
        }
        // The same key twice is not.
        let same = [
            secret("ike-a", &["nve2"], "A"),
            secret("ike-b", &["nve1"], "A"),
        ];
        assert_eq!(select(&same, &conn("nve1", "nve2")), Ok(0));
        // Only another pair's key: none.
        let other = [secret("ike-12", &["nve1", "nve2"], "K12")];
        assert!(matches!(
            select(&other, &conn("nve1", "nve3")),
            Err(PskError::NoSecret { .. })
        ));
    }
}
