//! nvesecd: the nvesec IKE daemon. For now only `--check` is implemented: it loads and
//! validates the configuration and prints the resulting model (secrets redacted).
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use nvesec_conf::SecretDisplay;

#[derive(Parser, Debug)]
#[command(name = "nvesecd", version, about = "nvesec IKE daemon")]
struct Args {
    /// Configuration file (swanctl.conf syntax).
    #[arg(long, value_name = "FILE", default_value = "/etc/nvesec/nvesec.conf")]
    config: PathBuf,
    /// Validate the configuration, print the model with every default filled in, and exit
    /// (status 1 if it has errors).
    #[arg(long)]
    check: bool,
}

/// What `--check` prints on stdout and stderr, and its exit status.
fn check_output(args: &Args) -> (String, String, u8) {
    let mut err = String::new();
    match nvesec_conf::load(&args.config) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                err += &format!("{w}\n");
            }
            let out = loaded.config.to_conf_string(SecretDisplay::Redact);
            let c = &loaded.config;
            err += &format!(
                "{}: OK: {} connections, {} secrets, {} networks, {} policies, {} warnings\n",
                args.config.display(),
                c.connections.len(),
                c.secrets.len(),
                c.overlay.networks.len(),
                c.policies.len(),
                loaded.warnings.len()
            );
            (out, err, 0)
        }
        Err(e) => {
            for w in &e.warnings {
                err += &format!("{w}\n");
            }
            err += &format!(
                "{e}\n{}: {} errors, {} warnings\n",
                args.config.display(),
                e.errors.len(),
                e.warnings.len()
            );
            (String::new(), err, 1)
        }
    }
}

fn check(args: &Args) -> ExitCode {
    let (out, err, code) = check_output(args);
    print!("{out}");
    eprint!("{err}");
    ExitCode::from(code)
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.check {
        return check(&args);
    }
    eprintln!("nvesecd: only --check is implemented so far; the daemon itself is not written yet");
    ExitCode::from(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(config: &str) -> Args {
        Args::parse_from(["nvesecd", "--config", config, "--check"])
    }

    #[test]
    fn check_prints_the_model_without_secrets() {
        let (out, err, code) = check_output(&args("examples/etc/nvesec/nvesec.conf"));
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("        life_time = 66m\n"), "{out}");
        assert!(out.contains("# secret = (redacted)"));
        assert!(!out.contains("0sYWJs") && !out.contains("secret = 0x"));
        assert!(err.ends_with(
            "nvesec.conf: OK: 2 connections, 1 secrets, 3 networks, 9 policies, 0 warnings\n"
        ));
    }

    #[test]
    fn check_fails_with_positions() {
        let path = "conf/tests/fixtures/invalid/dpd_action.conf";
        let (out, err, code) = check_output(&args(path));
        assert_eq!((out.as_str(), code), ("", 1));
        assert_eq!(err, format!("{path}:7:30: dpd_action: 'start' is not a valid value; expected clear|trap|restart\n{path}: 1 errors, 0 warnings\n"));
    }
}
