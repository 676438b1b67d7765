//! The file access the loader needs (read a file, list a directory, test existence), behind a
//! trait so tests, the proptests and the fuzz target can run on an in-memory tree.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

/// Read-only file access used by the loader.
pub trait Fs {
    fn read_to_string(&self, path: &Path) -> io::Result<String>;
    /// File names (not paths) in a directory, any order.
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>>;
    fn is_file(&self, path: &Path) -> bool;
}

/// The real file system.
#[derive(Clone, Copy, Debug, Default)]
pub struct RealFs;

impl Fs for RealFs {
    fn read_to_string(&self, path: &Path) -> io::Result<String> {
        std::fs::read_to_string(path)
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            names.push(entry?.file_name().to_string_lossy().into_owned());
        }
        Ok(names)
    }

    fn is_file(&self, path: &Path) -> bool {
        path.is_file()
    }
}

/// An in-memory file tree: path -> contents.
#[derive(Clone, Debug, Default)]
pub struct MemFs {
    pub files: BTreeMap<PathBuf, String>,
}

impl MemFs {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with(mut self, path: impl Into<PathBuf>, text: impl Into<String>) -> Self {
        self.files.insert(path.into(), text.into());
        self
    }
}

impl Fs for MemFs {
    fn read_to_string(&self, path: &Path) -> io::Result<String> {
        self.files
            .get(path)
            .cloned()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "not found"))
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        Ok(self
            .files
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect())
    }

    fn is_file(&self, path: &Path) -> bool {
        self.files.contains_key(path)
    }
}

/// Shell-style match of one path component: `*` any run, `?` one character.
pub(crate) fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Iterative matcher with single backtrack point (classic wildcard algorithm, linear-ish).
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

pub(crate) fn has_glob(s: &str) -> bool {
    s.contains(['*', '?'])
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn globbing() {
        assert!(glob_match("*.conf", "a.conf"));
        assert!(glob_match("*.conf", ".conf"));
        assert!(!glob_match("*.conf", "a.conf.bak"));
        assert!(glob_match("n?e-*.conf", "nve-1.conf"));
        assert!(!glob_match("n?e-*.conf", "ne-1.conf"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "aXXbYYc"));
        assert!(!glob_match("a*b*c", "aXXbYY"));
    }
}
