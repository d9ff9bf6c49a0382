//! Counting tokens: the [`TokenCounter`] seam and the compiled-in o200k_base
//! BPE behind [`O200kBase`].

use std::sync::{Arc, OnceLock};

use tiktoken_rs::CoreBPE;

/// Counts the tokens of a text. The view asks it only about what it may
/// show (candidate lines, markers, the final text), never about the whole
/// log.
pub trait TokenCounter: Send + Sync {
    /// The tokenizer's name, reported in [`View::tokenizer`](crate::View).
    fn name(&self) -> &str;
    /// The number of tokens in `text`.
    fn count(&self, text: &str) -> usize;
}

/// OpenAI's o200k_base BPE (GPT-4o and later), whose data is compiled into
/// the binary by `tiktoken-rs`: nothing is fetched at run time.
///
/// Building the BPE takes ~150 ms, so it is built once per process, on first
/// use (or by [`O200kBase::preload`]) and shared.
#[derive(Debug, Clone, Copy, Default)]
pub struct O200kBase;

/// The name reported for [`O200kBase`].
pub const O200K_BASE: &str = "o200k_base";

fn bpe() -> Option<&'static CoreBPE> {
    static BPE: OnceLock<Option<CoreBPE>> = OnceLock::new();
    BPE.get_or_init(|| tiktoken_rs::o200k_base().ok()).as_ref()
}

impl O200kBase {
    /// Builds the BPE now rather than on the first view (a server can call
    /// this at startup so no request pays for it).
    pub fn preload() {
        let _ = bpe();
    }
}

impl TokenCounter for O200kBase {
    fn name(&self) -> &str {
        // The BPE's data is compiled in, so building it does not fail in
        // practice; if it ever did, counting bytes is a safe upper bound
        // (every token is at least one byte) and the name says so.
        if bpe().is_some() { O200K_BASE } else { "bytes" }
    }

    fn count(&self, text: &str) -> usize {
        match bpe() {
            Some(bpe) => bpe.encode_ordinary(text).len(),
            None => text.len(),
        }
    }
}

/// A shared [`O200kBase`] counter.
pub fn o200k() -> Arc<dyn TokenCounter> {
    static SHARED: OnceLock<Arc<dyn TokenCounter>> = OnceLock::new();
    SHARED.get_or_init(|| Arc::new(O200kBase)).clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn o200k_counts_known_texts() {
        let counter = O200kBase;
        assert_eq!(counter.name(), O200K_BASE);
        assert_eq!(counter.count(""), 0);
        assert_eq!(counter.count("hello world"), 2);
        // Special-token text is counted as ordinary text, never refused.
        assert!(counter.count("<|endoftext|>") > 1);
    }
}
