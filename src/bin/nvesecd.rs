//! nvesecd: the nvesec IKE daemon (docs/daemon.md). `--check` validates the configuration
//! and prints the model; `--dp-args` prints the gsa-dp flags for the configured devices;
//! without either it runs in the foreground until SIGTERM.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use nvesec::daemon::{self, Options};
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
    /// Print the gsa-dp flags (`--tun`/`--tap`, `--port`, `--listen`) that create the
    /// devices of `overlay.networks`, one shell word per line, and exit.
    #[arg(long)]
    dp_args: bool,
    /// gsa-dp's keying socket.
    #[arg(long, value_name = "PATH", default_value = daemon::DEFAULT_DP_SOCKET)]
    dp_socket: PathBuf,
    /// Control socket for nvesecctl (created mode 0600: root only).
    #[arg(long, value_name = "PATH", default_value = nvesec::ctl::proto::DEFAULT_SOCKET)]
    ctl_socket: PathBuf,
    /// Also let this group use the control socket (mode 0660) and read the log file (0640).
    /// A client's primary group must be it: SO_PEERCRED shows no supplementary groups.
    #[arg(long, value_name = "NAME")]
    ctl_group: Option<String>,
    /// IKE UDP port.
    #[arg(long, default_value_t = 500)]
    port: u16,
    /// IKE NAT-T UDP port (non-ESP marker).
    #[arg(long, default_value_t = 4500)]
    port_nat_t: u16,
    /// Log level -1..4 for every subsystem (charon's levels; 1 = control, 2 = details).
    #[arg(long, default_value_t = 1, allow_negative_numbers = true,
          value_parser = clap::value_parser!(i8).range(-1..=4))]
    debug: i8,
    /// Also log to this file (timestamped, appended).
    #[arg(long, value_name = "FILE")]
    log_file: Option<PathBuf>,
    /// Milliseconds SIGTERM waits for peers to confirm the deletes.
    #[arg(long, default_value_t = 1000)]
    shutdown_wait_ms: u64,
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

fn dp_args(args: &Args) -> ExitCode {
    match nvesec_conf::load(&args.config) {
        Ok(l) => {
            for a in daemon::translate::dp_args(&l.config.overlay) {
                println!("{a}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.check {
        return check(&args);
    }
    if args.dp_args {
        return dp_args(&args);
    }
    let opts = Options {
        config: args.config,
        dp_socket: args.dp_socket,
        ctl_socket: args.ctl_socket,
        ctl_group: args.ctl_group,
        ike_port: args.port,
        natt_port: args.port_nat_t,
        log_level: args.debug,
        log_file: args.log_file,
        shutdown_wait: Duration::from_millis(args.shutdown_wait_ms),
    };
    match daemon::run(opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nvesecd: {e}");
            ExitCode::from(1)
        }
    }
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
