//! Why a refresh token was not exchanged.

/// Why a refresh token was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// Unknown, expired or revoked.
    #[error("refresh token invalid")]
    Invalid,
    /// Already used outside the grace window, or voided by a grace-window retry: the
    /// family is now revoked.
    #[error("refresh token reused")]
    Reused,
    /// Too many rotations of this family or user: retry after the duration. Nothing was
    /// written; the same token may be presented again.
    #[error("too many refreshes")]
    Limited(std::time::Duration),
    /// The database failed.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<sqlx::Error> for RefreshError {
    fn from(e: sqlx::Error) -> Self {
        Self::Unexpected(anyhow::Error::new(e).context("refresh token store"))
    }
}
