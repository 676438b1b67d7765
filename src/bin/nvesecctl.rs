//! nvesecctl: the swanctl-like control CLI of nvesecd (docs/cli.md).
#![forbid(unsafe_code)]

use clap::{ArgGroup, Parser, Subcommand};
use nvesec::ctl::client::{socket_path, Client, ClientError};
use nvesec::ctl::format::{self, PeerSummary};
use nvesec::ctl::proto::{Command, IkeSaInfo, Reply, SaFilter};
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Control nvesecd: swanctl's commands and short flags, plus a wg-style `show`.
#[derive(Parser, Debug)]
#[command(
    name = "nvesecctl",
    disable_version_flag = true,
    group(ArgGroup::new("action").multiple(false).args([
        "load_all", "load_conns", "load_creds", "list_sas", "list_conns", "list_certs",
        "list_pols", "initiate", "terminate", "rekey", "stats", "counters", "log", "version",
    ]))
)]
struct Cli {
    /// Control socket (default $NVESEC_CTL_SOCKET, else /run/nvesec/ctl.sock).
    #[arg(long, global = true, value_name = "PATH")]
    socket: Option<PathBuf>,

    /// Reload connections and credentials (only changes are applied).
    #[arg(short = 'q', long)]
    load_all: bool,
    /// Reload connections.
    #[arg(short = 'c', long)]
    load_conns: bool,
    /// Reload certificates, keys and secrets.
    #[arg(short = 's', long)]
    load_creds: bool,
    /// List IKE SAs and their GSAs.
    #[arg(short = 'l', long)]
    list_sas: bool,
    /// List loaded connections.
    #[arg(short = 'L', long)]
    list_conns: bool,
    /// List certificates.
    #[arg(short = 'x', long)]
    list_certs: bool,
    /// List installed Geneve security policies.
    #[arg(short = 'P', long)]
    list_pols: bool,
    /// Initiate a connection (--child or --ike).
    #[arg(short = 'i', long)]
    initiate: bool,
    /// Terminate SAs (--child, --ike, --child-id or --ike-id).
    #[arg(short = 't', long)]
    terminate: bool,
    /// Rekey SAs (--child, --ike, --child-id or --ike-id).
    #[arg(short = 'R', long)]
    rekey: bool,
    /// Daemon statistics.
    #[arg(short = 'S', long)]
    stats: bool,
    /// Dataplane counters per GSA and per drop reason.
    #[arg(short = 'C', long)]
    counters: bool,
    /// Stream the daemon log until interrupted.
    #[arg(short = 'T', long)]
    log: bool,
    /// Client and daemon version.
    #[arg(short = 'V', long)]
    version: bool,

    /// GSA (child) name.
    #[arg(long, value_name = "NAME")]
    child: Option<String>,
    /// IKE SA (connection) name.
    #[arg(long, value_name = "NAME")]
    ike: Option<String>,
    /// IKE SA unique id.
    #[arg(long, value_name = "N")]
    ike_id: Option<u32>,
    /// GSA unique id.
    #[arg(long, value_name = "N")]
    child_id: Option<u32>,
    /// Terminate without waiting for the peer.
    #[arg(long)]
    force: bool,
    /// Seconds to wait for initiate/terminate to complete.
    #[arg(long, value_name = "S")]
    timeout: Option<u32>,
    /// Rekey by reauthentication.
    #[arg(long)]
    reauth: bool,
    /// Reset the counters after reading them.
    #[arg(long)]
    reset: bool,
    /// Log level for --log (-1..4).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 1,
        allow_negative_numbers = true
    )]
    level: i8,

    /// Print JSON (indented).
    #[arg(long, global = true)]
    json: bool,
    /// Alias of --json.
    #[arg(long, global = true)]
    pretty: bool,
    /// Print JSON on one line.
    #[arg(long, global = true)]
    raw: bool,

    #[command(subcommand)]
    sub: Option<Sub>,
}

#[derive(Subcommand, Debug)]
enum Sub {
    /// One-screen status per peer, like `wg show`; `dump` prints tab-separated fields.
    Show {
        /// `[PEER] [dump]`: a connection name or remote identity, and/or `dump`.
        #[arg(num_args = 0..=2, value_name = "PEER|dump")]
        args: Vec<String>,
    },
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    Text,
    Pretty,
    Raw,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        // stdout closed early (`| head`): not an error of ours.
        Err(Failure::Client(ClientError::Io(e))) if e.kind() == io::ErrorKind::BrokenPipe => {
            ExitCode::SUCCESS
        }
        Err(f) => {
            eprintln!("{f}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("{0}")]
    Client(#[from] ClientError),
    #[error("{0} failed: {1}")]
    Command(&'static str, String),
    #[error("{0}")]
    Usage(String),
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Failure {
        Failure::Client(ClientError::Io(e))
    }
}

fn run(cli: &Cli) -> Result<(), Failure> {
    let style = if cli.raw {
        Style::Raw
    } else if cli.json || cli.pretty {
        Style::Pretty
    } else {
        Style::Text
    };
    let filter = SaFilter {
        ike: cli.ike.clone(),
        ike_id: cli.ike_id,
        child: cli.child.clone(),
        child_id: cli.child_id,
    };
    if let Some(Sub::Show { args }) = &cli.sub {
        return show(cli, args, style);
    }
    let command = command_of(cli, filter)?;
    let path = socket_path(cli.socket.as_deref());
    let mut client = Client::connect(&path)?;
    if let Command::Log { .. } = command {
        return stream_log(&mut client, command, style);
    }
    // A hung daemon must not hang scripts forever.
    let wait = u64::from(cli.timeout.unwrap_or(50)) + 10;
    client.set_timeout(Some(Duration::from_secs(wait)))?;
    let name = command.name();
    let reply = client
        .call_response(command)?
        .into_result()
        .map_err(|e| Failure::Command(name, e.message))?;
    if cli.version {
        print_out(&format!("nvesecctl {}\n", env!("CARGO_PKG_VERSION")))?;
    }
    print_reply(name, &reply, style)
}

fn command_of(cli: &Cli, filter: SaFilter) -> Result<Command, Failure> {
    let c = if cli.load_all {
        Command::LoadAll
    } else if cli.load_conns {
        Command::LoadConns
    } else if cli.load_creds {
        Command::LoadCreds
    } else if cli.list_sas {
        Command::ListSas(filter)
    } else if cli.list_conns {
        Command::ListConns
    } else if cli.list_certs {
        Command::ListCerts
    } else if cli.list_pols {
        Command::ListPols
    } else if cli.initiate {
        Command::Initiate {
            child: cli.child.clone(),
            ike: cli.ike.clone(),
            timeout: cli.timeout,
        }
    } else if cli.terminate {
        Command::Terminate {
            target: filter,
            force: cli.force,
            timeout: cli.timeout,
        }
    } else if cli.rekey {
        Command::Rekey {
            target: filter,
            reauth: cli.reauth,
        }
    } else if cli.stats {
        Command::Stats
    } else if cli.counters {
        Command::Counters { reset: cli.reset }
    } else if cli.log {
        Command::Log { level: cli.level }
    } else if cli.version {
        Command::Version
    } else {
        return Err(Failure::Usage(
            "no command given; try --list-sas, show or --help".into(),
        ));
    };
    // The daemon checks too; failing here gives the usage message sooner.
    c.validate()
        .map_err(|r| Failure::Usage(format!("{}: {r}", c.name())))?;
    Ok(c)
}

fn print_out(s: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(s.as_bytes())?;
    out.flush()
}

/// A one-key JSON object `{key: value}` that keeps the value's field order.
struct Keyed<'a, T>(&'static str, &'a T);

impl<T: serde::Serialize> serde::Serialize for Keyed<'_, T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry(self.0, self.1)?;
        m.end()
    }
}

fn print_json<T: serde::Serialize>(v: &T, style: Style) -> io::Result<()> {
    let text = if style == Style::Raw {
        serde_json::to_string(v)
    } else {
        serde_json::to_string_pretty(v)
    }
    .map_err(io::Error::other)?;
    print_out(&format!("{text}\n"))
}

/// JSON of a reply without its command tag: `{"sas":[...]}` for list-sas.
fn print_reply_json(reply: &Reply, style: Style) -> io::Result<()> {
    match reply {
        Reply::Load(r) => print_json(r, style),
        Reply::ListSas { sas } => print_json(&Keyed("sas", sas), style),
        Reply::ListConns { conns } => print_json(&Keyed("conns", conns), style),
        Reply::ListCerts { certs } => print_json(&Keyed("certs", certs), style),
        Reply::ListPols { policies } => print_json(&Keyed("policies", policies), style),
        Reply::Done { messages } => print_json(&Keyed("messages", messages), style),
        Reply::Stats(s) => print_json(s, style),
        Reply::Counters(c) => print_json(c, style),
        Reply::Subscribed { events } => print_json(&Keyed("events", events), style),
        Reply::Version(v) => print_json(v, style),
    }
}

fn print_reply(name: &str, reply: &Reply, style: Style) -> Result<(), Failure> {
    if style != Style::Text {
        return Ok(print_reply_json(reply, style)?);
    }
    let text = match reply {
        Reply::Load(r) => format::load(r),
        Reply::ListSas { sas } => format::list_sas(sas),
        Reply::ListConns { conns } => format::list_conns(conns),
        Reply::ListCerts { certs } => format::list_certs(certs),
        Reply::ListPols { policies } => format::list_pols(policies),
        Reply::Done { messages } => {
            let mut s: String = messages.iter().map(|m| format!("{m}\n")).collect();
            s.push_str(&format!("{name} completed successfully\n"));
            s
        }
        Reply::Stats(s) => format::stats(s),
        Reply::Counters(c) => format::counters(c),
        Reply::Subscribed { .. } => String::new(),
        Reply::Version(v) => format::version(v),
    };
    print_out(&text)?;
    Ok(())
}

fn stream_log(client: &mut Client, command: Command, style: Style) -> Result<(), Failure> {
    let name = command.name();
    client
        .call_response(command)?
        .into_result()
        .map_err(|e| Failure::Command(name, e.message))?;
    loop {
        let event = client.next_event()?;
        if let nvesec::ctl::proto::EventBody::Log(rec) = &event.body {
            let line = match style {
                Style::Text => format::log_line(rec),
                _ => serde_json::to_string(rec).unwrap_or_default(),
            };
            print_out(&format!("{line}\n"))?;
        }
    }
}

fn show(cli: &Cli, args: &[String], style: Style) -> Result<(), Failure> {
    let (dump, peer) = match args {
        [] => (false, None),
        [a] if a == "dump" => (true, None),
        [p] => (false, Some(p.as_str())),
        [p, d] if d == "dump" => (true, Some(p.as_str())),
        _ => return Err(Failure::Usage("usage: nvesecctl show [PEER] [dump]".into())),
    };
    let path = socket_path(cli.socket.as_deref());
    let mut client = Client::connect(&path)?;
    client.set_timeout(Some(Duration::from_secs(60)))?;
    let reply = client
        .call(Command::ListSas(SaFilter::default()))
        .map_err(|e| Failure::Command("show", e.to_string()))?;
    let Reply::ListSas { sas } = reply else {
        return Err(Failure::Command("show", "unexpected reply".into()));
    };
    let sas: Vec<IkeSaInfo> = sas
        .into_iter()
        .filter(|sa| peer.is_none_or(|p| PeerSummary::from_sa(sa).matches(p)))
        .collect();
    if let (Some(p), true) = (peer, sas.is_empty()) {
        return Err(Failure::Command("show", format!("no such peer '{p}'")));
    }
    if style != Style::Text {
        return Ok(print_json(&Keyed("sas", &sas), style)?);
    }
    let text = if dump {
        format::show_dump(&sas)
    } else {
        format::show(&sas)
    };
    print_out(&text)?;
    Ok(())
}
