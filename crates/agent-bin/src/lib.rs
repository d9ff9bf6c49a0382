//! The `agentproc` binary's library half: configuration, logging and
//! serving, so `main.rs` only wires them and tests can drive them.
//!
//! This is the only crate that reads environment variables, files and flags,
//! and the only one that picks implementations (which executor, which clock).

pub mod audit;
pub mod cli;
pub mod client;
pub mod commands;
pub mod config;
pub mod http;
pub mod interactive;
pub mod logging;
pub mod mcp;
pub mod serve;
