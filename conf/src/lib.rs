//! swanctl.conf-style configuration for nvesec: the strongSwan settings syntax, a typed and
//! validated model with swanctl.conf's names and defaults, a printer that writes the model
//! back, and a diff for reloads.
//!
//! ```no_run
//! let loaded = nvesec_conf::load("/etc/nvesec/nvesec.conf").unwrap_or_else(|e| {
//!     eprintln!("{e}");
//!     std::process::exit(1)
//! });
//! for w in &loaded.warnings {
//!     eprintln!("{w}");
//! }
//! println!("{} connections", loaded.config.connections.len());
//! ```
#![forbid(unsafe_code)]

mod build;
pub mod diag;
pub mod diff;
pub mod fs;
pub mod fuzz;
pub mod model;
pub mod prefix;
pub mod print;
pub mod psk;
pub mod schema;
pub mod secret;
mod syntax;
mod values;

use std::path::Path;
use std::sync::Arc;

pub use diag::{Diagnostic, Errors, Pos, Severity};
pub use diff::{diff, Changes, ConfigDiff};
pub use fs::{Fs, MemFs, RealFs};
pub use model::*;
pub use prefix::{IfAddr, Prefix};
pub use print::SecretDisplay;
pub use secret::Secret;

/// A configuration that loaded, with the warnings found on the way (unused strongSwan keys,
/// keys set twice).
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<Diagnostic>,
}

/// Loads and validates the configuration at `path` (credential files are looked up in
/// `x509/` and `x509ca/` beside it).
pub fn load(path: impl AsRef<Path>) -> Result<Loaded, Errors> {
    load_with(&RealFs, path.as_ref())
}

/// As [`load`], through any [`Fs`].
pub fn load_with(fs: &dyn Fs, path: &Path) -> Result<Loaded, Errors> {
    match fs.read_to_string(path) {
        Ok(text) => parse_str(fs, path, &text),
        Err(e) => Err(Errors {
            errors: vec![Diagnostic {
                severity: Severity::Error,
                pos: Pos::new(Arc::from(path), 1, 1),
                message: format!("cannot read the configuration: {e}; expected a readable file"),
            }],
            warnings: Vec::new(),
        }),
    }
}

/// Parses `text` as if it were the file `path` (includes and credential files are resolved
/// relative to it through `fs`).
pub fn parse_str(fs: &dyn Fs, path: &Path, text: &str) -> Result<Loaded, Errors> {
    let mut sink = diag::Sink::default();
    let root = syntax::parse_file(fs, path, text, &mut sink);
    let base = path.parent().unwrap_or(Path::new("")).to_path_buf();
    let config = build::Builder::new(&mut sink, fs, base).build(&root);
    sort(&mut sink.errors);
    sort(&mut sink.warnings);
    if sink.errors.is_empty() {
        Ok(Loaded {
            config,
            warnings: sink.warnings,
        })
    } else {
        Err(Errors {
            errors: sink.errors,
            warnings: sink.warnings,
        })
    }
}

/// Orders diagnostics by file (in order of first appearance), line and column, so they read
/// top to bottom whatever order the checks ran in.
fn sort(list: &mut [Diagnostic]) {
    let mut files: Vec<Arc<Path>> = Vec::new();
    for d in list.iter() {
        if !files.contains(&d.pos.file) {
            files.push(d.pos.file.clone());
        }
    }
    list.sort_by_key(|d| {
        let f = files.iter().position(|f| *f == d.pos.file);
        (f, d.pos.line, d.pos.col)
    });
}
