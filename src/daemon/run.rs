//! The event loop: one thread, one `mio::Poll` for the IKE sockets, the keying socket, the
//! signalfd and the control server; the timeout is the earliest of the engine's deadline,
//! delayed GSA deletions, the gsa-dp reconnect and the certificate expiry check.

use std::io::{self, ErrorKind};
use std::time::{Duration, Instant, SystemTime};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use slog::{error, info, warn};

use super::dp_client::DpClient;
use super::ike_io::IkeIo;
use super::signals::{Action, Signals};
use super::state::{load_all, os_seed, Logs, State, EXPIRY_CHECK};
use super::{netdev, Options};
use crate::ctl::server::{ControlServer, ServerLimits};
use crate::log::{build_logger, feed_channel, LogConfig, SinkConfig, SinkTarget};
use nvesec_gsa_dp::io::local_socket::{Access, AccessError};

const IKE: Token = Token(0);
const IKE_NATT: Token = Token(1);
const DP: Token = Token(2);
const SIGNALS: Token = Token(3);
const CTL_BASE: usize = 16;

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("signals: {0}")]
    Signals(#[from] nix::Error),
    #[error("logging: {0}")]
    Log(#[from] crate::log::LogError),
    #[error("configuration refused:\n{}", .0.join("\n"))]
    Config(Vec<String>),
    #[error("IKE sockets (UDP {0}/{1}): {2}")]
    Ike(u16, u16, io::Error),
    #[error("control socket {0}: {1}")]
    Control(std::path::PathBuf, io::Error),
    #[error("--ctl-group: {0}")]
    Group(#[from] AccessError),
    #[error("poll: {0}")]
    Poll(#[from] io::Error),
    #[error("the kernel random source failed ({0}); refusing to start with a predictable seed")]
    Random(getrandom::Error),
}

fn log_config(opts: &Options, access: &Access) -> LogConfig {
    let mut sinks = vec![SinkConfig::stderr(opts.log_level)];
    if let Some(f) = &opts.log_file {
        let mut sink = SinkConfig::file(f.clone(), opts.log_level);
        // Whoever may use the control socket can stream the log anyway.
        if let SinkTarget::File { group, .. } = &mut sink.target {
            *group = access.gid();
        }
        sinks.push(sink);
    }
    LogConfig { sinks }
}

/// Run the daemon until SIGTERM/SIGINT.
pub fn run(opts: Options) -> Result<(), DaemonError> {
    // First, before any thread exists (the log drain may start one).
    let mut signals = Signals::new()?;
    let access = match &opts.ctl_group {
        Some(name) => Access::with_group(name)?,
        None => Access::root_only(),
    };
    let (feed, feed_rx) = feed_channel(4096);
    let log = Logs::new(build_logger(&log_config(&opts, &access), Some(feed))?);
    info!(
        log.dmn,
        "nvesecd {} starting, configuration {}",
        env!("CARGO_PKG_VERSION"),
        opts.config.display()
    );
    // Before anything is bound: without an unpredictable seed there is nothing to run.
    let seed = os_seed().map_err(DaemonError::Random)?;
    let (loaded, warnings) = load_all(&opts.config).map_err(DaemonError::Config)?;
    for w in &warnings {
        warn!(log.cfg, "{w}");
    }
    for l in &loaded.creds.loaded {
        info!(log.cfg, "loaded {l}");
    }
    info!(
        log.cfg,
        "loaded {} connections, {} policies, {} overlay routes",
        loaded.conf.connections.len(),
        loaded.tr.policies.len(),
        loaded.tr.routes.len()
    );

    let mut poll = Poll::new()?;
    let mut io = IkeIo::bind(opts.ike_port, opts.natt_port)
        .map_err(|e| DaemonError::Ike(opts.ike_port, opts.natt_port, e))?;
    io.register(poll.registry(), IKE, IKE_NATT)?;
    info!(
        log.net,
        "listening for IKE on UDP {} and {}", io.port, io.natt_port
    );
    poll.registry().register(
        &mut SourceFd(&signals.raw_fd()),
        SIGNALS,
        Interest::READABLE,
    )?;
    let mut server =
        ControlServer::bind_with_access(&opts.ctl_socket, ServerLimits::default(), access)
            .map_err(|e| DaemonError::Control(opts.ctl_socket.clone(), e))?;
    server.attach_log_feed(feed_rx);
    server.register(poll.registry(), Token(CTL_BASE))?;
    match &opts.ctl_group {
        Some(g) => info!(
            log.dmn,
            "control socket {} (root and group {g})",
            opts.ctl_socket.display()
        ),
        None => info!(log.dmn, "control socket {}", opts.ctl_socket.display()),
    }

    let dp = DpClient::new(&opts.dp_socket, DP);
    let registry = poll.registry().try_clone()?;
    let mut state = State::new(opts, log, loaded, io, dp, registry, seed);
    let now = Instant::now();
    state.check_expiry(SystemTime::now());
    state.expiry_check_at = now + EXPIRY_CHECK;
    state.dp_connect(now);
    if state.dp.is_connected() {
        assign_addresses(&state);
    }
    state.start_connections(now);
    state.pump(now);

    let mut events = Events::with_capacity(256);
    let mut buf = vec![0u8; 65536];
    // IKE sockets read up to their budget last turn: they may hold more (edge-triggered).
    let mut ike_pending = [false; 2];
    loop {
        let timeout = if ike_pending.contains(&true) {
            Some(Duration::ZERO)
        } else {
            next_timeout(&state)
        };
        match poll.poll(&mut events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(DaemonError::Poll(e)),
        }
        let mut shutdown = false;
        for ev in events.iter() {
            let now = Instant::now();
            match ev.token() {
                IKE => ike_pending[0] = true,
                IKE_NATT => ike_pending[1] = true,
                DP => state.on_dp_readable(),
                SIGNALS => {
                    for a in signals.drain() {
                        match a {
                            Action::Reload => {
                                info!(state.log.dmn, "SIGHUP: reloading the configuration");
                                state.reload(now);
                            }
                            Action::Shutdown => shutdown = true,
                        }
                    }
                }
                t if server.owns(t) => {
                    state.control_clients = server.client_count();
                    server.on_event(poll.registry(), ev, &mut state);
                    for r in server.take_refused() {
                        warn!(
                            state.log.dmn,
                            "control socket: {r} ({} refused in all)",
                            server.refused_total()
                        );
                    }
                }
                _ => {}
            }
        }
        // A bounded batch per socket and turn (nvesecd.ike_read_budget), after the keying
        // and control events of this turn and before the timers in tick().
        let now = Instant::now();
        for (i, natt) in [false, true].into_iter().enumerate() {
            if ike_pending[i] {
                ike_pending[i] = recv_budget(&mut state, natt, &mut buf, now);
            }
        }
        tick(&mut state, &mut server, &poll);
        if shutdown {
            return shut_down(&mut state, &mut server, &mut poll, &mut buf);
        }
    }
}

fn assign_addresses(state: &State) {
    for e in netdev::assign_addresses(&state.loaded.conf.overlay) {
        warn!(state.log.cfg, "{e}");
    }
}

fn next_timeout(state: &State) -> Option<Duration> {
    let now = Instant::now();
    [
        state.engine.poll_timeout(),
        state.gsas.next_deadline(),
        state.dp_retry_at,
        Some(state.expiry_check_at),
        state.waiters.iter().map(|w| w.deadline).min(),
    ]
    .into_iter()
    .flatten()
    .min()
    .map(|t| t.saturating_duration_since(now))
}

/// Reads at most `nvesecd.ike_read_budget` datagrams; true if the socket may hold more.
fn recv_budget(state: &mut State, natt: bool, buf: &mut [u8], now: Instant) -> bool {
    let budget = state.loaded.conf.daemon.ike_read_budget as usize;
    let mut got = Vec::new();
    let more = state.io.recv_batch(natt, buf, budget, |r, bytes| {
        got.push((r.from, r.local_port, bytes.to_vec()));
    });
    for (from, port, bytes) in got {
        state.on_datagram(now, from, port, &bytes);
    }
    match more {
        Ok(more) => more,
        Err(e) => {
            warn!(state.log.net, "receiving: {e}");
            false
        }
    }
}

/// Shutdown only: reads until the socket is empty (the loop there is bounded by time).
fn recv_all(state: &mut State, natt: bool, buf: &mut [u8], now: Instant) {
    loop {
        match state.io.recv(natt, buf) {
            Ok(Some(r)) if r.ike => {
                let bytes = buf[r.start..r.start + r.len].to_vec();
                state.on_datagram(now, r.from, r.local_port, &bytes);
            }
            Ok(Some(_)) => {}
            Ok(None) => return,
            Err(e) => {
                warn!(state.log.net, "receiving: {e}");
                return;
            }
        }
    }
}

/// Timers, then drain everything, then hand out control responses and events.
fn tick(state: &mut State, server: &mut ControlServer, poll: &Poll) {
    let now = Instant::now();
    if state.engine.poll_timeout().is_some_and(|t| t <= now) {
        state.engine.handle_timeout(now);
    }
    if state.dp_retry_at.is_some_and(|t| t <= now) {
        let was = state.dp.is_connected();
        state.dp_connect(now);
        if !was && state.dp.is_connected() {
            assign_addresses(state);
        }
    }
    if state.expiry_check_at <= now {
        state.check_expiry(SystemTime::now());
        state.expiry_check_at = now + EXPIRY_CHECK;
    }
    state.pump(now);
    for (client, resp) in std::mem::take(&mut state.responses) {
        server.respond(poll.registry(), client, resp);
    }
    for ev in std::mem::take(&mut state.broadcasts) {
        server.broadcast(poll.registry(), &ev);
    }
}

/// Delete every SA with its peer, wait up to `shutdown_wait` for the answers, remove what is
/// left from gsa-dp and exit.
fn shut_down(
    state: &mut State,
    server: &mut ControlServer,
    poll: &mut Poll,
    buf: &mut [u8],
) -> Result<(), DaemonError> {
    let n = state.engine.ike_sas().len();
    info!(state.log.dmn, "shutting down: deleting {n} IKE_SAs");
    let start = Instant::now();
    state.terminate_all(start);
    state.pump(start);
    let end = start + state.opts.shutdown_wait;
    let mut events = Events::with_capacity(64);
    while !state.engine.ike_sas().is_empty() && Instant::now() < end {
        let t = next_timeout(state)
            .unwrap_or(Duration::from_millis(50))
            .min(end.saturating_duration_since(Instant::now()));
        match poll.poll(&mut events, Some(t)) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(DaemonError::Poll(e)),
        }
        for ev in events.iter() {
            let now = Instant::now();
            match ev.token() {
                IKE => recv_all(state, false, buf, now),
                IKE_NATT => recv_all(state, true, buf, now),
                DP => state.on_dp_readable(),
                _ => {}
            }
        }
        tick(state, server, poll);
    }
    let left: Vec<(u32, u32)> = state
        .gsas
        .records
        .values()
        .map(|r| (r.inbound, r.outbound))
        .collect();
    if !state.engine.ike_sas().is_empty() {
        error!(
            state.log.dmn,
            "{} IKE_SAs did not finish deleting in time",
            state.engine.ike_sas().len()
        );
    }
    for (i, o) in left {
        let reqs = state.gsas.remove(i, o, None);
        state.dp_send(reqs);
    }
    info!(state.log.dmn, "nvesecd stopped");
    Ok(())
}
