//! Entry points shared by the cargo-fuzz target and the proptests.

use std::path::Path;

use crate::fs::MemFs;
use crate::print::SecretDisplay;

/// Parses arbitrary bytes as a configuration (no other files exist). Never panics, except
/// on purpose when a configuration that loaded does not survive print -> parse unchanged:
/// that is a bug the fuzzer should report.
pub fn parse_any(data: &[u8]) -> bool {
    let text = String::from_utf8_lossy(data);
    let fs = MemFs::new();
    let path = Path::new("/fuzz/nvesec.conf");
    let Ok(loaded) = crate::parse_str(&fs, path, &text) else {
        return false;
    };
    let printed = loaded.config.to_conf_string(SecretDisplay::Reveal);
    match crate::parse_str(&fs, path, &printed) {
        Ok(again) => assert_eq!(
            again.config, loaded.config,
            "round trip changed the model:\n{printed}"
        ),
        Err(e) => panic!("printed configuration does not load:\n{printed}\n{e}"),
    }
    true
}
