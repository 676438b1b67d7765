//! Diagnostics: positions, errors and warnings in the `file:line:column: message` form
//! compilers use, so editors can jump to them.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// A position in a configuration file (line and column are 1-based; columns count characters).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Pos {
    pub file: Arc<Path>,
    pub line: u32,
    pub col: u32,
}

impl Pos {
    pub fn new(file: Arc<Path>, line: u32, col: u32) -> Self {
        Pos { file, line, col }
    }

    /// The same position moved `n` characters to the right (for items inside a list value).
    pub fn shifted(&self, n: usize) -> Pos {
        Pos {
            file: self.file.clone(),
            line: self.line,
            col: self
                .col
                .saturating_add(u32::try_from(n).unwrap_or(u32::MAX)),
        }
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.col)
    }
}

/// Whether a diagnostic stops loading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// One error or warning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub pos: Pos,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.severity {
            Severity::Error => write!(f, "{}: {}", self.pos, self.message),
            Severity::Warning => write!(f, "{}: warning: {}", self.pos, self.message),
        }
    }
}

/// Loading failed: every error found (not just the first), plus the warnings.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", render(.errors))]
pub struct Errors {
    pub errors: Vec<Diagnostic>,
    pub warnings: Vec<Diagnostic>,
}

fn render(errors: &[Diagnostic]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Collects diagnostics while parsing and building.
#[derive(Default, Debug)]
pub(crate) struct Sink {
    pub errors: Vec<Diagnostic>,
    pub warnings: Vec<Diagnostic>,
}

impl Sink {
    pub fn error(&mut self, pos: &Pos, message: impl Into<String>) {
        self.errors.push(Diagnostic {
            severity: Severity::Error,
            pos: pos.clone(),
            message: message.into(),
        });
    }

    pub fn warn(&mut self, pos: &Pos, message: impl Into<String>) {
        self.warnings.push(Diagnostic {
            severity: Severity::Warning,
            pos: pos.clone(),
            message: message.into(),
        });
    }
}

/// Levenshtein distance, for "did you mean" suggestions.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The closest candidate within a distance that still looks like a typo.
pub(crate) fn suggest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).clamp(1, 3);
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_and_suggestion() {
        assert_eq!(edit_distance("rekey_tme", "rekey_time"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(
            suggest("rekey_tme", ["life_time", "rekey_time"]),
            Some("rekey_time")
        );
        assert_eq!(suggest("zzzzzz", ["rekey_time"]), None);
    }
}
