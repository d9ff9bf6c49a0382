//! Black-box tests of the HTTP API: the cases of Coder's `api_test.go`, and
//! the wire details (encoding, errors, validation order) a Go client relies
//! on. Real processes unless a test needs to control time.

mod access_log;
mod agent_view;
mod auth;
mod deadlines;
mod embedding;
mod lifecycle;
mod limits;
mod list;
mod metrics;
mod openapi;
mod output;
mod run_and_wait;
mod signal;
mod start;
mod streaming;
mod support;
mod terminal;
mod tokens;
mod ui;
mod wire;
