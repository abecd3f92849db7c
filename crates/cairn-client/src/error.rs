//! What can go wrong when recording a decision.
//!
//! Errors are `Clone` because one failed request fails every decision it
//! carried, and each caller gets its own copy.

/// Why a decision was not recorded, or the client could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The decision is not a JSON object (checked before it is queued).
    #[error("the decision is not a JSON object: {reason}")]
    InvalidDecision {
        /// What is wrong with it.
        reason: String,
    },
    /// The daemon refused the decision; sending it again will not help.
    ///
    /// For a decision in a batch, `message` is the daemon's error for that
    /// decision's line, and the other decisions of the batch are unaffected.
    #[error("cairnd refused the decision ({status} {code}): {message}")]
    Rejected {
        /// HTTP status of the answer.
        status: u16,
        /// The daemon's stable error code, e.g. `invalid_batch` or `forbidden`.
        code: String,
        /// What the daemon said.
        message: String,
    },
    /// Every attempt met an overloaded or unreachable daemon.
    ///
    /// The decision may still have been stored by an attempt whose answer was
    /// lost: record it again with the same `idempotency_key` to find out.
    #[error("gave up after {attempts} attempts; the last one: {last}")]
    GaveUp {
        /// Attempts made.
        attempts: u32,
        /// What the last attempt met.
        last: String,
    },
    /// The daemon answered with something this client does not understand.
    #[error("cairnd answered something unexpected: {reason}")]
    Protocol {
        /// What was unexpected.
        reason: String,
    },
    /// The client was shut down before the decision was recorded.
    #[error("the Cairn client is shut down")]
    Closed,
    /// An option of [`crate::ClientBuilder`] is out of range.
    #[error("client option `{option}`: {reason}")]
    Config {
        /// The option's name.
        option: &'static str,
        /// What is wrong.
        reason: String,
    },
}

impl ClientError {
    /// True when the daemon refused the decision itself (a `4xx` answer about
    /// its content, stream or token), as opposed to the client giving up.
    pub fn is_rejected(&self) -> bool {
        matches!(self, ClientError::Rejected { .. })
    }
}
