//! Whether a failed attempt goes to another instance, and what the failure does to the one
//! that failed. The attempt error itself says what kind of failure it was.

use crate::error::AttemptError;

/// What a failed attempt allows.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Further instances tried after the first, at most.
    pub max_retries: usize,
}

impl RetryPolicy {
    /// Whether the request goes to another instance after `error`, `attempts` attempts
    /// made so far: only where that is safe (see [`AttemptError::retryable`]) and the body
    /// can be sent again.
    pub fn retries(
        &self,
        error: &AttemptError,
        idempotent: bool,
        resendable: bool,
        attempts: usize,
    ) -> bool {
        resendable && error.retryable(idempotent) && attempts <= self.max_retries
    }
}
