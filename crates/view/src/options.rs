//! What a caller asks of a view: the token budget, where the bytes start, and
//! how an agent fetches what was left out.

use thiserror::Error;

/// The budget when the caller names none.
pub const DEFAULT_MAX_TOKENS: usize = 2000;
/// The smallest budget accepted.
pub const MIN_MAX_TOKENS: usize = 200;
/// The largest budget accepted.
pub const MAX_MAX_TOKENS: usize = 32_000;
/// The longest fetch hint accepted, in bytes. Every marker repeats the hint,
/// so a long one would crowd out the output it is there to point at.
pub const MAX_FETCH_HINT_BYTES: usize = 200;

/// How to build a view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewOptions {
    /// The most tokens the view's text may have (o200k_base unless another
    /// counter is given). Accepted: [`MIN_MAX_TOKENS`]..=[`MAX_MAX_TOKENS`].
    pub max_tokens: usize,
    /// The absolute, 1-based number of the first line fed: a caller that
    /// starts mid-log passes the number of the line it starts at, and every
    /// line number in the view (markers and spans) is absolute.
    pub first_line: u64,
    /// How an agent fetches omitted lines: a template in which `{start}` and
    /// `{end}` become the first and last line of an omission (inclusive), for
    /// example `GET /api/v0/processes/<id>/lines?start={start}&end={end}`.
    /// `None` leaves markers without one. At most [`MAX_FETCH_HINT_BYTES`].
    pub fetch_hint: Option<String>,
}

impl Default for ViewOptions {
    fn default() -> Self {
        Self {
            max_tokens: DEFAULT_MAX_TOKENS,
            first_line: 1,
            fetch_hint: None,
        }
    }
}

/// Options a view refuses.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ViewError {
    /// `max_tokens` is outside [`MIN_MAX_TOKENS`]..=[`MAX_MAX_TOKENS`].
    #[error("max_tokens must be between {min} and {max}, not {value}")]
    MaxTokensOutOfRange {
        /// What was asked.
        value: usize,
        /// [`MIN_MAX_TOKENS`].
        min: usize,
        /// [`MAX_MAX_TOKENS`].
        max: usize,
    },
    /// Line numbers are 1-based.
    #[error("first_line must be at least 1")]
    FirstLineZero,
    /// The fetch hint is longer than [`MAX_FETCH_HINT_BYTES`].
    #[error("fetch hint is {len} bytes, more than {max}")]
    FetchHintTooLong {
        /// Its length in bytes.
        len: usize,
        /// [`MAX_FETCH_HINT_BYTES`].
        max: usize,
    },
}

impl ViewOptions {
    /// Options with this budget and the defaults for the rest.
    pub fn with_max_tokens(max_tokens: usize) -> Self {
        Self {
            max_tokens,
            ..Self::default()
        }
    }

    /// Checks every field; [`AgentView::try_new`](crate::AgentView::try_new)
    /// calls it.
    pub fn validate(&self) -> Result<(), ViewError> {
        if !(MIN_MAX_TOKENS..=MAX_MAX_TOKENS).contains(&self.max_tokens) {
            return Err(ViewError::MaxTokensOutOfRange {
                value: self.max_tokens,
                min: MIN_MAX_TOKENS,
                max: MAX_MAX_TOKENS,
            });
        }
        if self.first_line == 0 {
            return Err(ViewError::FirstLineZero);
        }
        if let Some(hint) = &self.fetch_hint
            && hint.len() > MAX_FETCH_HINT_BYTES
        {
            return Err(ViewError::FetchHintTooLong {
                len: hint.len(),
                max: MAX_FETCH_HINT_BYTES,
            });
        }
        Ok(())
    }

    /// The nearest options [`validate`](Self::validate) accepts: the budget
    /// clamped into range, line 0 read as 1, and a fetch hint that is too
    /// long dropped (markers then say what is omitted, not how to fetch it).
    pub fn clamped(mut self) -> Self {
        self.max_tokens = self.max_tokens.clamp(MIN_MAX_TOKENS, MAX_MAX_TOKENS);
        self.first_line = self.first_line.max(1);
        if self
            .fetch_hint
            .as_ref()
            .is_some_and(|hint| hint.len() > MAX_FETCH_HINT_BYTES)
        {
            self.fetch_hint = None;
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_field() {
        assert_eq!(ViewOptions::default().validate(), Ok(()));
        assert_eq!(
            ViewOptions::with_max_tokens(199).validate(),
            Err(ViewError::MaxTokensOutOfRange {
                value: 199,
                min: 200,
                max: 32_000
            })
        );
        assert!(ViewOptions::with_max_tokens(32_001).validate().is_err());
        assert!(ViewOptions::with_max_tokens(200).validate().is_ok());
        assert!(ViewOptions::with_max_tokens(32_000).validate().is_ok());
        let zero = ViewOptions {
            first_line: 0,
            ..ViewOptions::default()
        };
        assert_eq!(zero.validate(), Err(ViewError::FirstLineZero));
        let long = ViewOptions {
            fetch_hint: Some("x".repeat(201)),
            ..ViewOptions::default()
        };
        assert!(matches!(
            long.validate(),
            Err(ViewError::FetchHintTooLong { len: 201, .. })
        ));
    }

    #[test]
    fn clamping_gives_valid_options() {
        let wild = ViewOptions {
            max_tokens: 5,
            first_line: 0,
            fetch_hint: Some("x".repeat(500)),
        };
        let clamped = wild.clamped();
        assert_eq!(clamped.validate(), Ok(()));
        assert_eq!(clamped.max_tokens, MIN_MAX_TOKENS);
        assert_eq!(clamped.first_line, 1);
        assert_eq!(clamped.fetch_hint, None);
        assert_eq!(
            ViewOptions::with_max_tokens(1_000_000).clamped().max_tokens,
            MAX_MAX_TOKENS
        );
    }
}
