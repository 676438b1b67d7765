//! What changed between two configurations, so a reload touches only what changed
//! (the `wg syncconf` model, ecosystem.md §3.7).

use crate::model::Config;

/// Names added, removed and changed in one named collection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }

    fn of<T: PartialEq>(old: &[T], new: &[T], name: impl Fn(&T) -> &str) -> Changes {
        let find = |list: &'_ [T], n: &str| list.iter().position(|x| name(x) == n);
        let mut c = Changes::default();
        for o in old {
            match find(new, name(o)) {
                None => c.removed.push(name(o).to_string()),
                Some(i) if new[i] != *o => c.changed.push(name(o).to_string()),
                Some(_) => {}
            }
        }
        for n in new {
            if find(old, name(n)).is_none() {
                c.added.push(name(n).to_string());
            }
        }
        c
    }
}

/// The difference between an old and a new configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfigDiff {
    pub connections: Changes,
    /// By section name (`ike-x`); a changed PSK should re-authenticate its connections.
    pub secrets: Changes,
    pub authorities: Changes,
    pub networks: Changes,
    /// Overlay settings outside `networks` (addresses, port, option class).
    pub overlay_changed: bool,
    /// The GSP DB is ordered, so any change (including order) replaces it as a whole.
    pub policies_changed: bool,
}

impl ConfigDiff {
    pub fn is_empty(&self) -> bool {
        self.connections.is_empty()
            && self.secrets.is_empty()
            && self.authorities.is_empty()
            && self.networks.is_empty()
            && !self.overlay_changed
            && !self.policies_changed
    }
}

/// Compares two configurations.
pub fn diff(old: &Config, new: &Config) -> ConfigDiff {
    let (o, n) = (&old.overlay, &new.overlay);
    ConfigDiff {
        connections: Changes::of(&old.connections, &new.connections, |c| &c.name),
        secrets: Changes::of(&old.secrets, &new.secrets, |s| &s.name),
        authorities: Changes::of(&old.authorities, &new.authorities, |a| &a.name),
        networks: Changes::of(&o.networks, &n.networks, |x| &x.name),
        overlay_changed: o.local_addrs != n.local_addrs
            || o.port != n.port
            || o.option_class != n.option_class,
        policies_changed: old.policies != new.policies,
    }
}
