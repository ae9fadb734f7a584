//! When the cache calls Anaplan, and what a caller gets meanwhile: one pure decision over the
//! answer held and the key's upstream call, so every arm is tested on its own below.

use std::time::Duration;

use crate::config::PollPolicy;

/// The answer held for a key, as a caller finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// Nothing is held yet.
    Nothing,
    /// An answer within its poll interval.
    Fresh,
    /// An answer whose poll time passed `past_due` ago.
    Stale {
        /// How long ago its next poll was due.
        past_due: Duration,
    },
}

/// What the key's upstream call is doing, once a caller that found no fresh answer asked for one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// An answer landed while the caller looked: it is fresh.
    Landed,
    /// This caller joined a call another caller started.
    Joined,
    /// This caller started a call; `after_failure` when the key's last call failed.
    Started {
        /// Whether the last upstream call for the key failed.
        after_failure: bool,
    },
    /// A failure is remembered for the key: no call is made until its pause ends.
    Paused,
}

/// What the caller gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serve {
    /// The fresh answer.
    Fresh,
    /// The held answer at once, marked stale, while the call runs or the pause lasts.
    Stale,
    /// The call's outcome; the held answer, marked stale, if `stale_on_failure` and the call fails.
    Wait {
        /// Whether a failed call is answered with the stale answer instead of its error.
        stale_on_failure: bool,
    },
    /// The remembered failure.
    Fail,
}

/// The decision. A stale answer stands in only within `max_stale` of its poll time. Callers get
/// it at once while a refresh runs (when they joined one, or started one while Anaplan fails or
/// the key is being asked about often); the first caller after a quiet spell of more than an
/// interval waits for news instead, so an occasional caller is not handed old news.
pub fn decide(held: Held, call: Call, policy: &PollPolicy) -> Serve {
    if held == Held::Fresh {
        return Serve::Fresh;
    }
    let usable = servable_stale(held, policy);
    let quiet_spell = matches!(held, Held::Stale { past_due } if past_due > policy.interval);
    match call {
        Call::Landed => Serve::Fresh,
        Call::Joined | Call::Paused if usable => Serve::Stale,
        Call::Started { after_failure } if usable && (after_failure || !quiet_spell) => {
            Serve::Stale
        }
        Call::Paused => Serve::Fail,
        Call::Joined | Call::Started { .. } => Serve::Wait {
            stale_on_failure: usable,
        },
    }
}

/// Whether `held` may stand in, marked stale, while it is refreshed.
fn servable_stale(held: Held, policy: &PollPolicy) -> bool {
    matches!(held, Held::Stale { past_due } if past_due <= policy.max_stale)
}

/// Whether a call started for a caller that finds `held` only refreshes it: the caller is
/// served the held answer at once whatever the call does, so the call may give way to callers
/// that have no answer. (After a quiet spell the caller waits for the call: it is a caller's.)
pub fn only_refreshes(held: Held, policy: &PollPolicy) -> bool {
    let within = policy.interval.min(policy.max_stale);
    matches!(held, Held::Stale { past_due } if past_due <= within)
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: PollPolicy = PollPolicy {
        interval: Duration::from_secs(5),
        max_interval: Duration::from_secs(60),
        max_stale: Duration::from_secs(300),
    };

    fn stale(seconds: u64) -> Held {
        Held::Stale {
            past_due: Duration::from_secs(seconds),
        }
    }

    const STARTED: Call = Call::Started {
        after_failure: false,
    };
    const STARTED_AFTER_FAILURE: Call = Call::Started {
        after_failure: true,
    };
    const WAIT: Serve = Serve::Wait {
        stale_on_failure: false,
    };
    const WAIT_OR_STALE: Serve = Serve::Wait {
        stale_on_failure: true,
    };

    #[test]
    fn a_fresh_answer_is_served_whatever_the_call_does() {
        for call in [Call::Landed, Call::Joined, STARTED, Call::Paused] {
            assert_eq!(decide(Held::Fresh, call, &POLICY), Serve::Fresh);
        }
    }

    #[test]
    fn an_answer_that_landed_meanwhile_is_fresh() {
        assert_eq!(decide(stale(2), Call::Landed, &POLICY), Serve::Fresh);
        assert_eq!(decide(Held::Nothing, Call::Landed, &POLICY), Serve::Fresh);
    }

    #[test]
    fn with_nothing_held_callers_wait_or_get_the_remembered_failure() {
        assert_eq!(decide(Held::Nothing, STARTED, &POLICY), WAIT);
        assert_eq!(decide(Held::Nothing, Call::Joined, &POLICY), WAIT);
        assert_eq!(decide(Held::Nothing, Call::Paused, &POLICY), Serve::Fail);
    }

    #[test]
    fn a_call_only_refreshes_when_its_caller_gets_the_stale_answer_at_once() {
        for held in [
            Held::Nothing,
            stale(1),
            stale(5),
            stale(6),
            stale(200),
            stale(301),
        ] {
            let starter = decide(held, STARTED, &POLICY);
            assert_eq!(
                only_refreshes(held, &POLICY),
                starter == Serve::Stale,
                "{held:?}: {starter:?}"
            );
        }
    }

    #[test]
    fn callers_joining_a_refresh_get_the_stale_answer_at_once() {
        assert_eq!(decide(stale(1), Call::Joined, &POLICY), Serve::Stale);
        assert_eq!(decide(stale(200), Call::Joined, &POLICY), Serve::Stale);
    }

    #[test]
    fn the_caller_starting_a_refresh_of_a_busy_key_gets_the_stale_answer() {
        assert_eq!(decide(stale(5), STARTED, &POLICY), Serve::Stale);
    }

    #[test]
    fn the_first_caller_after_a_quiet_spell_waits_for_news() {
        assert_eq!(decide(stale(6), STARTED, &POLICY), WAIT_OR_STALE);
    }

    #[test]
    fn while_anaplan_fails_the_stale_answer_stands_in_at_once() {
        assert_eq!(
            decide(stale(60), STARTED_AFTER_FAILURE, &POLICY),
            Serve::Stale
        );
        assert_eq!(decide(stale(60), Call::Paused, &POLICY), Serve::Stale);
    }

    #[test]
    fn an_answer_past_max_stale_is_never_served() {
        let too_old = stale(301);
        assert_eq!(decide(too_old, Call::Joined, &POLICY), WAIT);
        assert_eq!(decide(too_old, STARTED_AFTER_FAILURE, &POLICY), WAIT);
        assert_eq!(decide(too_old, Call::Paused, &POLICY), Serve::Fail);
        assert_eq!(decide(stale(300), Call::Paused, &POLICY), Serve::Stale);
    }
}
