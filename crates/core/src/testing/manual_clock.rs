//! `ManualClock`: a [`Clock`] that moves only on [`ManualClock::advance`].

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::watch;

use crate::clock::{Clock, Sleep};

/// A clock for tests. Time stands still until [`ManualClock::advance`];
/// then every sleeper whose deadline has been reached wakes.
///
/// Wall time starts at 2024-01-01T00:00:00Z (as Coder's `quartz` mock does).
/// [`ManualClock::pending_timers`] and [`ManualClock::wait_for_timers`] let a
/// test wait until the code under test has armed its timers, instead of
/// sleeping and hoping.
#[derive(Debug, Clone)]
pub struct ManualClock {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    pending: watch::Sender<usize>,
}

#[derive(Debug)]
struct State {
    origin: Instant,
    wall_origin: SystemTime,
    elapsed: Duration,
    timers: BTreeMap<u64, Timer>,
    next_id: u64,
}

#[derive(Debug)]
struct Timer {
    deadline: Instant,
    waker: Option<Waker>,
}

/// 2024-01-01T00:00:00Z.
const WALL_ORIGIN_UNIX: u64 = 1_704_067_200;

impl Default for ManualClock {
    fn default() -> Self {
        Self {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    origin: Instant::now(),
                    wall_origin: SystemTime::UNIX_EPOCH + Duration::from_secs(WALL_ORIGIN_UNIX),
                    elapsed: Duration::ZERO,
                    timers: BTreeMap::new(),
                    next_id: 0,
                }),
                pending: watch::Sender::new(0),
            }),
        }
    }
}

impl ManualClock {
    /// Moves time forward by `by` and wakes every sleeper now due.
    pub fn advance(&self, by: Duration) {
        let wakers: Vec<Waker> = {
            let mut state = self.shared.lock();
            state.elapsed += by;
            let now = state.origin + state.elapsed;
            let due: Vec<u64> = state
                .timers
                .iter()
                .filter(|(_, timer)| timer.deadline <= now)
                .map(|(id, _)| *id)
                .collect();
            let wakers = due
                .iter()
                .filter_map(|id| state.timers.remove(id).and_then(|timer| timer.waker))
                .collect();
            self.shared.publish(&state);
            wakers
        };
        for waker in wakers {
            waker.wake();
        }
    }

    /// Time elapsed since the clock was created.
    pub fn elapsed(&self) -> Duration {
        self.shared.lock().elapsed
    }

    /// How many sleeps are armed and not yet due.
    pub fn pending_timers(&self) -> usize {
        self.shared.lock().timers.len()
    }

    /// How long until the earliest armed sleep is due, if any.
    pub fn next_timer_in(&self) -> Option<Duration> {
        let state = self.shared.lock();
        let now = state.origin + state.elapsed;
        state
            .timers
            .values()
            .map(|timer| timer.deadline.saturating_duration_since(now))
            .min()
    }

    /// Waits until a sleep due within `within` from now is armed (say, the
    /// 5-second deadline the code under test is about to set), without
    /// counting the other timers it may have.
    pub async fn wait_for_timer_within(&self, within: Duration) {
        let mut pending = self.shared.pending.subscribe();
        loop {
            if self.any_timer_within(within) {
                return;
            }
            // The sender lives in `self.shared`, which outlives this call.
            if pending.changed().await.is_err() {
                return;
            }
        }
    }

    fn any_timer_within(&self, within: Duration) -> bool {
        let state = self.shared.lock();
        let now = state.origin + state.elapsed;
        state
            .timers
            .values()
            .any(|timer| timer.deadline.saturating_duration_since(now) <= within)
    }

    /// Moves time to the earliest armed sleep and wakes it (and any due
    /// with it); returns how far time moved, or `None` when nothing is
    /// armed. Tests that only care that "the next thing happens" need not
    /// know how long it takes.
    pub fn advance_to_next_timer(&self) -> Option<Duration> {
        let next = self.next_timer_in()?;
        self.advance(next);
        Some(next)
    }

    /// Waits until at least `count` sleeps are armed.
    pub async fn wait_for_timers(&self, count: usize) {
        let mut pending = self.shared.pending.subscribe();
        // The sender lives in `self.shared`, which outlives this call.
        let _ = pending.wait_for(|pending| *pending >= count).await;
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn publish(&self, state: &State) {
        self.pending.send_replace(state.timers.len());
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        let state = self.shared.lock();
        state.wall_origin + state.elapsed
    }

    fn instant(&self) -> Instant {
        let state = self.shared.lock();
        state.origin + state.elapsed
    }

    fn sleep_until(&self, deadline: Instant) -> Sleep {
        let mut state = self.shared.lock();
        let id = if deadline <= state.origin + state.elapsed {
            None
        } else {
            let id = state.next_id;
            state.next_id += 1;
            state.timers.insert(
                id,
                Timer {
                    deadline,
                    waker: None,
                },
            );
            self.shared.publish(&state);
            Some(id)
        };
        Box::pin(ManualSleep {
            shared: Arc::clone(&self.shared),
            id,
            deadline,
        })
    }
}

/// A sleep on a [`ManualClock`]; unregisters itself when dropped.
struct ManualSleep {
    shared: Arc<Shared>,
    id: Option<u64>,
    deadline: Instant,
}

impl Future for ManualSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.shared.lock();
        if state.origin + state.elapsed >= self.deadline {
            if let Some(id) = self.id
                && state.timers.remove(&id).is_some()
            {
                self.shared.publish(&state);
            }
            return Poll::Ready(());
        }
        if let Some(timer) = self.id.and_then(|id| state.timers.get_mut(&id)) {
            timer.waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

impl Drop for ManualSleep {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            let mut state = self.shared.lock();
            if state.timers.remove(&id).is_some() {
                self.shared.publish(&state);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ClockExt;

    #[tokio::test]
    async fn a_test_can_wait_for_a_timer_by_its_duration_and_jump_to_it() {
        let clock = ManualClock::default();
        // Some unrelated long timer is armed too.
        let background = tokio::spawn({
            let clock = clock.clone();
            async move { clock.sleep(Duration::from_secs(3600)).await }
        });
        let deadline = tokio::spawn({
            let clock = clock.clone();
            async move { clock.sleep(Duration::from_secs(5)).await }
        });
        clock.wait_for_timer_within(Duration::from_secs(5)).await;
        assert_eq!(clock.advance_to_next_timer(), Some(Duration::from_secs(5)));
        deadline.await.expect("the 5 s sleeper woke");
        assert!(!background.is_finished());
        background.abort();
        let _ = background.await;
        assert_eq!(clock.advance_to_next_timer(), None);
    }

    #[tokio::test]
    async fn sleepers_wake_only_when_advanced_past_their_deadline() {
        let clock = ManualClock::default();
        let start = clock.instant();
        let task = tokio::spawn({
            let clock = clock.clone();
            async move { clock.sleep(Duration::from_secs(10)).await }
        });
        clock.wait_for_timers(1).await;
        clock.advance(Duration::from_secs(9));
        assert_eq!(clock.pending_timers(), 1);
        assert_eq!(clock.next_timer_in(), Some(Duration::from_secs(1)));
        assert!(!task.is_finished());
        clock.advance(Duration::from_secs(1));
        assert_eq!(clock.pending_timers(), 0);
        task.await.expect("sleeper");
        assert_eq!(clock.instant() - start, Duration::from_secs(10));
    }

    #[tokio::test]
    async fn dropped_sleeps_unregister() {
        let clock = ManualClock::default();
        let sleep = clock.sleep(Duration::from_secs(1));
        assert_eq!(clock.pending_timers(), 1);
        drop(sleep);
        assert_eq!(clock.pending_timers(), 0);
    }

    #[tokio::test]
    async fn past_deadlines_are_ready_at_once() {
        let clock = ManualClock::default();
        clock.sleep(Duration::ZERO).await;
        assert_eq!(clock.pending_timers(), 0);
    }

    #[test]
    fn wall_time_starts_in_2024_and_moves_with_advance() {
        let clock = ManualClock::default();
        assert_eq!(crate::clock::unix_seconds(clock.now()), 1_704_067_200);
        clock.advance(Duration::from_secs(61));
        assert_eq!(crate::clock::unix_seconds(clock.now()), 1_704_067_261);
        assert_eq!(clock.elapsed(), Duration::from_secs(61));
    }
}
