//! Logging setup: `tracing` to standard error, as text or JSON lines.

use std::io::IsTerminal;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::cli::LogFormat;
use crate::config::LogSettings;

/// Installs the global subscriber. Call once, before anything logs.
///
/// # Errors
/// When a global subscriber is already installed.
pub fn init(settings: &LogSettings) -> anyhow::Result<()> {
    let registry = tracing_subscriber::registry().with(settings.filter.clone());
    let colors = std::io::stderr().is_terminal();
    let installed = match settings.format {
        LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(colors)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
    installed.map_err(|error| anyhow::anyhow!("cannot install the logger: {error}"))
}
