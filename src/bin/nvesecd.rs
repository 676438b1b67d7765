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

fn check(args: &Args) -> ExitCode {
    match nvesec_conf::load(&args.config) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                eprintln!("{w}");
            }
            print!("{}", loaded.config.to_conf_string(SecretDisplay::Redact));
            let c = &loaded.config;
            eprintln!(
                "{}: OK: {} connections, {} secrets, {} networks, {} policies, {} warnings",
                args.config.display(),
                c.connections.len(),
                c.secrets.len(),
                c.overlay.networks.len(),
                c.policies.len(),
                loaded.warnings.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            for w in &e.warnings {
                eprintln!("{w}");
            }
            eprintln!("{e}");
            eprintln!(
                "{}: {} errors, {} warnings",
                args.config.display(),
                e.errors.len(),
                e.warnings.len()
            );
            ExitCode::from(1)
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.check {
        return check(&args);
    }
    eprintln!("nvesecd: only --check is implemented so far; the daemon itself is not written yet");
    ExitCode::from(2)
}
