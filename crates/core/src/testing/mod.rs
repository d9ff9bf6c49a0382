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

/// A [`MockExecer`] whose lifecycle methods are harmless: `kind` is
/// `"mock"`, `report` says only that, `supports_terminal` is false and
/// `shutdown` does nothing — what a manager calls besides `spawn`, which
/// the test still sets up (`expect_spawn`). Without these, a manager's
/// `close` panics on the unexpected `shutdown` call.
///
/// ```
/// # use agentproc_core::testing::mock_execer;
/// let mut execer = mock_execer();
/// execer.expect_spawn().returning(|_| {
///     Err(agentproc_core::exec::SpawnError::Refused { reason: "not in this test".into() })
/// });
/// ```
pub fn mock_execer() -> MockExecer {
    let mut execer = MockExecer::new();
    execer.expect_kind().return_const("mock");
    execer
        .expect_report()
        .returning(|| crate::exec::ExecutorReport::new("mock"));
    execer.expect_supports_terminal().return_const(false);
    execer
        .expect_shutdown()
        .returning(|_| Box::pin(std::future::ready(())));
    execer
}
