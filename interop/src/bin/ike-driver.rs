//! `ike-driver --config FILE [--dump-keys-for-test FILE]`: the ikev2 engine on a UDP socket,
//! commands on stdin, events as JSON lines on stdout (see `nvesec_interop::ike_driver`).
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use nvesec_interop::ike_driver::{run, DriverConfig, RunOptions};

const USAGE: &str = "usage: ike-driver --config FILE [--dump-keys-for-test FILE]";

fn main() -> ExitCode {
    let mut config = None;
    let mut dump = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--config" => config = args.next().map(PathBuf::from),
            "--dump-keys-for-test" => dump = args.next().map(PathBuf::from),
            _ => {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let Some(config) = config else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let parsed: Result<DriverConfig, String> = std::fs::read(&config)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()));
    let config = match parsed {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ike-driver: {}: {e}", config.display());
            return ExitCode::from(2);
        }
    };
    match run(RunOptions {
        config,
        dump_keys_for_test: dump,
    }) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ike-driver: {e}");
            ExitCode::FAILURE
        }
    }
}
