//! Liveness checks (DPD, RFC 7296 §2.4): after `dpd_delay` without any authenticated message
//! from the peer, send an empty INFORMATIONAL request. The peer is declared dead only when the
//! retransmissions of a request go unanswered (see timer.rs), never on unauthenticated input.

use super::events::LogLevel;
use super::rekey::{Pending, Task};
use super::timer::Timer;
use super::{Ctx, IkeSa, State};
use crate::wire::ExchangeType;

impl IkeSa {
    pub(crate) fn start_dpd(&mut self, ctx: &mut Ctx<'_>) -> Option<Pending> {
        self.log(ctx, LogLevel::Debug, "sending DPD");
        self.send_protected_request(ctx, ExchangeType::INFORMATIONAL, &[])
            .then_some(Pending::Dpd)
    }

    pub(crate) fn on_dpd_timer(&mut self, ctx: &mut Ctx<'_>) {
        let Some(delay) = self.conn.dpd_delay else {
            return;
        };
        let idle_since = self.last_rx;
        let due = idle_since + delay;
        if ctx.now >= due {
            if let State::Established(e) = &mut self.state {
                // Any outstanding request already checks liveness through retransmission.
                if e.pending.is_none() && !e.queue.contains(&Task::Dpd) {
                    e.queue.push_back(Task::Dpd);
                }
            }
            self.timers.set(Timer::Dpd, ctx.now + delay);
        } else {
            self.timers.set(Timer::Dpd, due);
        }
    }
}
