//! The `Clock` seam: wall time, monotonic time and sleeping, all injectable.
//!
//! Everything in `agentproc-core` that needs the time asks a [`Clock`]: the
//! timestamps shown to clients (`started_at_unix`), the ages used for reaping,
//! the deadlines of waits and the grace periods of shutdown. Production code
//! uses [`SystemClock`]; tests use `testing::ManualClock`, which moves only
//! when the test says so.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant, SystemTime};

/// A sleep in progress: resolves once the clock reaches its deadline.
///
/// Dropping it cancels the sleep (and, for a manual clock, unregisters the
/// timer).
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A source of time.
///
/// Implementations must be cheap to call and safe to share between tasks. The
/// monotonic and wall readings of one clock must advance together (a manual
/// clock moves both on `advance`), but code must never mix them: ages and
/// deadlines use [`Clock::instant`], timestamps for people use
/// [`Clock::now`].
#[cfg_attr(any(test, feature = "test-support"), mockall::automock)]
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// Wall-clock time, used only for timestamps reported to clients.
    fn now(&self) -> SystemTime;

    /// Monotonic time, used for ages, deadlines and timers.
    fn instant(&self) -> Instant;

    /// A future that resolves once [`Clock::instant`] is at or past `deadline`.
    ///
    /// A deadline in the past resolves at the first poll.
    fn sleep_until(&self, deadline: Instant) -> Sleep;
}

/// Convenience methods on any [`Clock`].
pub trait ClockExt: Clock {
    /// A future that resolves after `duration` of this clock's time.
    ///
    /// A duration too long to represent never resolves.
    fn sleep(&self, duration: Duration) -> Sleep {
        match self.instant().checked_add(duration) {
            Some(deadline) => self.sleep_until(deadline),
            None => Box::pin(std::future::pending()),
        }
    }
}

impl<C: Clock + ?Sized> ClockExt for C {}

/// The real clock: `std::time` for readings, Tokio timers for sleeping.
///
/// Sleeping needs a Tokio runtime with the time driver enabled.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    fn instant(&self) -> Instant {
        Instant::now()
    }

    fn sleep_until(&self, deadline: Instant) -> Sleep {
        Box::pin(tokio::time::sleep_until(deadline.into()))
    }
}

/// Whole seconds since the Unix epoch, as Go's `time.Time.Unix()` reports
/// them (rounded down, negative before 1970).
pub fn unix_seconds(time: SystemTime) -> i64 {
    match time.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => {
            let before = before.duration();
            let secs = i64::try_from(before.as_secs()).unwrap_or(i64::MAX);
            if before.subsec_nanos() > 0 {
                -secs - 1
            } else {
                -secs
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_seconds_rounds_down_like_go() {
        let epoch = SystemTime::UNIX_EPOCH;
        assert_eq!(unix_seconds(epoch), 0);
        assert_eq!(unix_seconds(epoch + Duration::from_millis(1_999)), 1);
        assert_eq!(unix_seconds(epoch - Duration::from_millis(1)), -1);
        assert_eq!(unix_seconds(epoch - Duration::from_secs(2)), -2);
    }

    #[tokio::test]
    async fn system_clock_sleep_in_the_past_is_ready() {
        let clock = SystemClock;
        let past = clock.instant();
        clock.sleep_until(past).await;
        assert!(clock.instant() >= past);
    }
}
