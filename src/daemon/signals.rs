//! SIGHUP (reload), SIGTERM and SIGINT (shut down) as readable events in the mio loop:
//! the signals are blocked in the process and delivered through a signalfd (no handler runs
//! asynchronously, so the loop needs no self-pipe and nothing unsafe).

use std::os::fd::{AsRawFd, RawFd};

use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

/// What the loop does with a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Reload,
    Shutdown,
}

/// The daemon's signalfd.
#[derive(Debug)]
pub struct Signals {
    fd: SignalFd,
}

impl Signals {
    /// Block SIGHUP/SIGTERM/SIGINT in this thread (call before any thread is spawned, so
    /// every thread inherits the mask) and open a non-blocking signalfd for them.
    pub fn new() -> nix::Result<Signals> {
        let mut mask = SigSet::empty();
        for s in [Signal::SIGHUP, Signal::SIGTERM, Signal::SIGINT] {
            mask.add(s);
        }
        mask.thread_block()?;
        let fd = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)?;
        Ok(Signals { fd })
    }

    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Every pending signal, mapped to its action.
    pub fn drain(&mut self) -> Vec<Action> {
        let mut out = Vec::new();
        while let Ok(Some(info)) = self.fd.read_signal() {
            let sig = i32::try_from(info.ssi_signo)
                .ok()
                .and_then(|n| Signal::try_from(n).ok());
            match sig {
                Some(Signal::SIGHUP) => out.push(Action::Reload),
                Some(Signal::SIGTERM | Signal::SIGINT) => out.push(Action::Shutdown),
                _ => {}
            }
        }
        out
    }
}
