//! strongSwan settings syntax (as used by swanctl.conf): nested `name { ... }` sections,
//! `key = value`, `#` comments, quoted strings and `include` with globs relative to the
//! including file. Produces a merged tree that remembers file:line:column for every name
//! and value. As in strongSwan, sections with the same name are merged and a key set again
//! overrides the earlier value (we warn, because it is usually a mistake outside includes).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diag::{Pos, Sink};
use crate::fs::{glob_match, has_glob, Fs};

/// Nesting limits keep the recursive parser's stack bounded on hostile input.
const MAX_DEPTH: usize = 32;
const MAX_INCLUDE_DEPTH: usize = 10;

/// A value as written: unquoted text (trimmed) or the content of a quoted string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Value {
    pub text: String,
    pub pos: Pos,
    pub quoted: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub key_pos: Pos,
    pub value: Value,
}

/// A section: its keys and subsections, in the order they first appeared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    pub pos: Pos,
    pub keys: Vec<KeyValue>,
    pub sections: Vec<Section>,
}

impl Section {
    fn new(name: String, pos: Pos) -> Self {
        Section {
            name,
            pos,
            keys: Vec::new(),
            sections: Vec::new(),
        }
    }

    fn set(&mut self, kv: KeyValue, sink: &mut Sink) {
        if let Some(old) = self.keys.iter_mut().find(|k| k.key == kv.key) {
            sink.warn(
                &kv.key_pos,
                format!(
                    "'{}' is set again; this value replaces the one at {}",
                    kv.key, old.key_pos
                ),
            );
            *old = kv;
        } else {
            self.keys.push(kv);
        }
    }

    fn merge(&mut self, other: Section, sink: &mut Sink) {
        for kv in other.keys {
            self.set(kv, sink);
        }
        for sub in other.sections {
            self.add_section(sub, sink);
        }
    }

    fn add_section(&mut self, sub: Section, sink: &mut Sink) {
        if let Some(existing) = self.sections.iter_mut().find(|s| s.name == sub.name) {
            existing.merge(sub, sink);
        } else {
            self.sections.push(sub);
        }
    }
}

/// Parse `text` (the contents of `file`) into a root section, resolving includes through `fs`.
pub(crate) fn parse_file(fs: &dyn Fs, file: &Path, text: &str, sink: &mut Sink) -> Section {
    let file_buf = file.to_path_buf();
    let file: Arc<Path> = Arc::from(file);
    let mut root = Section::new(String::new(), Pos::new(file.clone(), 1, 1));
    let mut p = Parser {
        chars: text.chars().collect(),
        i: 0,
        line: 1,
        col: 1,
        file,
        fs,
        include_depth: 0,
        stack: vec![file_buf],
    };
    p.body(&mut root, 0, sink);
    root
}

struct Parser<'a> {
    chars: Vec<char>,
    i: usize,
    line: u32,
    col: u32,
    file: Arc<Path>,
    fs: &'a dyn Fs,
    include_depth: usize,
    /// Files being parsed, outermost first, to refuse include loops.
    stack: Vec<PathBuf>,
}

fn is_name_char(c: char) -> bool {
    !c.is_whitespace() && !matches!(c, '{' | '}' | '=' | '#' | '"')
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).copied()
    }

    fn pos(&self) -> Pos {
        Pos::new(self.file.clone(), self.line, self.col)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.i += 1;
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn skip_blank(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t' | '\r')) {
            self.bump();
        }
    }

    /// Skips whitespace, newlines and comments.
    fn skip_trivia(&mut self) {
        loop {
            match self.peek() {
                Some(c) if c.is_whitespace() => {
                    self.bump();
                }
                Some('#') => self.skip_line(),
                _ => return,
            }
        }
    }

    fn skip_line(&mut self) {
        while let Some(c) = self.peek() {
            if c == '\n' {
                return;
            }
            self.bump();
        }
    }

    fn name(&mut self) -> String {
        let mut s = String::new();
        while let Some(c) = self.peek().filter(|c| is_name_char(*c)) {
            s.push(c);
            self.bump();
        }
        s
    }

    /// Parses entries into `sec` until EOF (depth 0) or the closing brace (depth > 0).
    /// Returns false when EOF was hit inside a section.
    fn body(&mut self, sec: &mut Section, depth: usize, sink: &mut Sink) -> bool {
        loop {
            self.skip_trivia();
            let pos = self.pos();
            match self.peek() {
                None => return depth == 0,
                Some('}') => {
                    self.bump();
                    if depth > 0 {
                        return true;
                    }
                    sink.error(&pos, "unexpected '}'; expected a key or a section name");
                }
                Some(c) if !is_name_char(c) => {
                    sink.error(
                        &pos,
                        format!("unexpected '{c}'; expected a key or a section name"),
                    );
                    self.skip_line();
                }
                Some(_) => self.entry(sec, depth, pos, sink),
            }
        }
    }

    fn entry(&mut self, sec: &mut Section, depth: usize, pos: Pos, sink: &mut Sink) {
        let name = self.name();
        self.skip_blank();
        if name == "include" && !matches!(self.peek(), Some('=' | '{')) {
            self.include(sec, pos, sink);
            return;
        }
        self.skip_trivia();
        match self.peek() {
            Some('=') => {
                self.bump();
                if let Some(value) = self.value(sink) {
                    let kv = KeyValue {
                        key: name,
                        key_pos: pos,
                        value,
                    };
                    sec.set(kv, sink);
                }
            }
            Some('{') => {
                self.bump();
                if depth + 1 >= MAX_DEPTH {
                    sink.error(
                        &pos,
                        "sections are nested too deeply; expected at most 32 levels",
                    );
                    self.i = self.chars.len();
                    return;
                }
                let mut sub = Section::new(name.clone(), pos.clone());
                if !self.body(&mut sub, depth + 1, sink) {
                    sink.error(
                        &pos,
                        format!("section '{name}' is not closed; expected '}}' before the end of the file"),
                    );
                }
                sec.add_section(sub, sink);
            }
            _ => {
                sink.error(
                    &self.pos(),
                    format!("'{name}' is not followed by '=' or '{{'; expected 'key = value' or 'name {{ ... }}'"),
                );
                self.skip_line();
            }
        }
    }

    /// The value after '=': a quoted string or the rest of the line up to a comment or '}'.
    fn value(&mut self, sink: &mut Sink) -> Option<Value> {
        self.skip_blank();
        let pos = self.pos();
        if self.peek() == Some('"') {
            let text = self.quoted(sink)?;
            self.skip_blank();
            match self.peek() {
                None | Some('\n' | '#' | '}') => {}
                Some(_) => {
                    sink.error(
                        &self.pos(),
                        "text after a quoted value; expected the end of the line",
                    );
                    self.skip_line();
                }
            }
            return Some(Value {
                text,
                pos,
                quoted: true,
            });
        }
        let mut text = String::new();
        while let Some(c) = self.peek().filter(|c| !matches!(c, '\n' | '#' | '}')) {
            if c == '"' {
                // strongSwan starts a string token here; we insist on quoting whole values so
                // that lists stay unambiguous.
                sink.error(
                    &self.pos(),
                    "a quote inside an unquoted value; expected quotes around the whole value",
                );
                self.skip_line();
                return None;
            }
            text.push(c);
            self.bump();
        }
        Some(Value {
            text: text.trim_end().to_string(),
            pos,
            quoted: false,
        })
    }

    fn quoted(&mut self, sink: &mut Sink) -> Option<String> {
        let start = self.pos();
        self.bump();
        let mut s = String::new();
        loop {
            match self.bump() {
                None => {
                    sink.error(
                        &start,
                        "quoted string is not closed; expected '\"' before the end of the file",
                    );
                    return None;
                }
                Some('"') => return Some(s),
                Some('\\') => match self.bump() {
                    Some('n') => s.push('\n'),
                    Some('t') => s.push('\t'),
                    Some('r') => s.push('\r'),
                    Some(c @ ('"' | '\\')) => s.push(c),
                    Some(c) => {
                        s.push('\\');
                        s.push(c);
                    }
                    None => {}
                },
                Some(c) => s.push(c),
            }
        }
    }

    fn include(&mut self, sec: &mut Section, pos: Pos, sink: &mut Sink) {
        let Some(pattern) = self.value(sink) else {
            return;
        };
        if pattern.text.is_empty() {
            sink.error(
                &pos,
                "include without a file; expected 'include <path or glob>'",
            );
            return;
        }
        if self.include_depth >= MAX_INCLUDE_DEPTH {
            sink.error(
                &pos,
                "includes are nested too deeply (an include loop?); expected at most 10 levels",
            );
            return;
        }
        for path in self.resolve(&pattern, sink) {
            if self.stack.contains(&path) {
                sink.error(
                    &pattern.pos,
                    format!(
                        "{} includes itself (through {}); expected no include loop",
                        path.display(),
                        self.file.display()
                    ),
                );
                continue;
            }
            match self.fs.read_to_string(&path) {
                Ok(text) => {
                    let mut p = Parser {
                        chars: text.chars().collect(),
                        i: 0,
                        line: 1,
                        col: 1,
                        file: Arc::from(path.as_path()),
                        fs: self.fs,
                        include_depth: self.include_depth + 1,
                        stack: [self.stack.as_slice(), std::slice::from_ref(&path)].concat(),
                    };
                    let mut inner = Section::new(sec.name.clone(), sec.pos.clone());
                    p.body(&mut inner, 0, sink);
                    sec.merge(inner, sink);
                }
                Err(e) => sink.error(
                    &pattern.pos,
                    format!("cannot read included file {}: {e}", path.display()),
                ),
            }
        }
    }

    /// Expands an include pattern relative to the including file; globs only in the last
    /// component, matches sorted by name as glob(3) does. A pattern without wildcards must
    /// exist; a glob that matches nothing is fine (an empty conf.d/).
    fn resolve(&self, pattern: &Value, sink: &mut Sink) -> Vec<PathBuf> {
        let base = self.file.parent().unwrap_or(Path::new(""));
        let full = base.join(&pattern.text);
        let (dir, last) = match (full.parent(), full.file_name()) {
            (Some(d), Some(l)) => (d.to_path_buf(), l.to_string_lossy().into_owned()),
            _ => {
                sink.error(
                    &pattern.pos,
                    format!(
                        "'{}' is not a file path; expected a path or glob",
                        pattern.text
                    ),
                );
                return Vec::new();
            }
        };
        if has_glob(&dir.to_string_lossy()) {
            sink.error(
                &pattern.pos,
                "wildcards in a directory part of an include; expected them only in the file name",
            );
            return Vec::new();
        }
        if !has_glob(&last) {
            return vec![full];
        }
        let mut names: Vec<String> = self
            .fs
            .list_dir(&dir)
            .unwrap_or_default()
            .into_iter()
            .filter(|n| glob_match(&last, n))
            .collect();
        names.sort();
        names.into_iter().map(|n| dir.join(n)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::MemFs;

    fn parse(text: &str) -> (Section, Sink) {
        let mut sink = Sink::default();
        let root = parse_file(&MemFs::new(), Path::new("t.conf"), text, &mut sink);
        (root, sink)
    }

    #[test]
    fn sections_keys_positions() {
        let (root, sink) = parse("a {\n  b = c d # x\n  q = \"x \\\"y\\\" # z\"\n}\n");
        assert!(sink.errors.is_empty(), "{:?}", sink.errors);
        let a = &root.sections[0];
        assert_eq!(a.name, "a");
        assert_eq!(a.keys[0].key, "b");
        assert_eq!(a.keys[0].value.text, "c d");
        assert_eq!((a.keys[0].key_pos.line, a.keys[0].key_pos.col), (2, 3));
        assert_eq!((a.keys[0].value.pos.line, a.keys[0].value.pos.col), (2, 7));
        assert_eq!(a.keys[1].value.text, "x \"y\" # z");
        assert!(a.keys[1].value.quoted);
    }

    #[test]
    fn one_line_section_and_merge() {
        let (root, sink) = parse("a { b = 1 }\na { c = 2 }\na { b = 3 }\n");
        assert!(sink.errors.is_empty());
        assert_eq!(root.sections.len(), 1);
        let a = &root.sections[0];
        assert_eq!(a.keys.len(), 2);
        assert_eq!(a.keys[0].value.text, "3");
        assert_eq!(sink.warnings.len(), 1);
    }

    #[test]
    fn unclosed_section_is_an_error() {
        let (_, sink) = parse("a {\n b = 1\n");
        assert_eq!(
            sink.errors[0].to_string(),
            "t.conf:1:1: section 'a' is not closed; expected '}' before the end of the file"
        );
    }

    #[test]
    fn includes_relative_with_glob() {
        let fs = MemFs::new()
            .with("/e/conf.d/b.conf", "s { y = 2 }")
            .with("/e/conf.d/a.conf", "s { x = 1 }")
            .with("/e/conf.d/a.txt", "s { z = 1 }");
        let mut sink = Sink::default();
        let root = parse_file(
            &fs,
            Path::new("/e/main.conf"),
            "include conf.d/*.conf\n",
            &mut sink,
        );
        assert!(sink.errors.is_empty(), "{:?}", sink.errors);
        let keys: Vec<_> = root.sections[0]
            .keys
            .iter()
            .map(|k| k.key.as_str())
            .collect();
        assert_eq!(keys, ["x", "y"]);
        assert_eq!(
            &*root.sections[0].keys[1].key_pos.file,
            Path::new("/e/conf.d/b.conf")
        );
    }

    #[test]
    fn include_loop_is_refused() {
        let fs = MemFs::new()
            .with("/e/main.conf", "include b.conf\n")
            .with("/e/b.conf", "include *.conf\n");
        let mut sink = Sink::default();
        parse_file(
            &fs,
            Path::new("/e/main.conf"),
            "include b.conf\n",
            &mut sink,
        );
        let msgs: Vec<_> = sink.errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            msgs,
            [
                "/e/b.conf:1:9: /e/b.conf includes itself (through /e/b.conf); expected no include loop",
                "/e/b.conf:1:9: /e/main.conf includes itself (through /e/b.conf); expected no include loop",
            ]
        );
    }

    #[test]
    fn include_depth_is_bounded() {
        let mut fs = MemFs::new();
        for i in 0..20 {
            fs = fs.with(format!("/e/{i}.conf"), format!("include {}.conf\n", i + 1));
        }
        let mut sink = Sink::default();
        parse_file(
            &fs,
            Path::new("/e/main.conf"),
            "include 0.conf\n",
            &mut sink,
        );
        assert!(sink.errors[0].message.contains("nested too deeply"));
    }

    #[test]
    fn quote_inside_unquoted_value() {
        let (_, sink) = parse("a {\n b = x\"y\n}\n");
        assert_eq!(
            sink.errors[0].to_string(),
            "t.conf:2:7: a quote inside an unquoted value; expected quotes around the whole value"
        );
    }
}
