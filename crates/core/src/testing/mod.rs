//! Test doubles for the seams (feature `test-support`): a [`ManualClock`]
//! that moves only when told, a scripted [`FakeExecer`] whose children the
//! test drives by hand, and the mockall mocks of [`Clock`](crate::Clock),
//! [`Execer`](crate::Execer) and [`ExecChild`](crate::ExecChild).
//!
//! With these, every race in the manager can be staged deterministically:
//! no test needs to sleep or poll.

mod fake_exec;
mod manual_clock;

pub use crate::clock::MockClock;
pub use crate::exec::{MockExecChild, MockExecer};
pub use fake_exec::{FakeExecer, FakeProcess, SignalBehavior};
pub use manual_clock::ManualClock;
