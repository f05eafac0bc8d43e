//! [`DisputesError`]: why a disputes call fails, in the words the caller
//! sees. A failed call changes nothing.

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DisputesError {
    /// Storage, decoding or a query failed.
    #[error(transparent)]
    Sdk(#[from] polypact_sdk::Error),
    /// A bad config.
    #[error("invalid disputes config: {0}")]
    Config(String),
    /// A bad message.
    #[error("invalid dispute: {0}")]
    Invalid(String),
    /// The caller may not do this.
    #[error("not allowed: {0}")]
    NotAllowed(String),
    /// No such dispute.
    #[error("there is no dispute {0}")]
    Unknown(u64),
    /// Not in the status this needs.
    #[error("dispute {id} cannot be {what} now (status: {status:?})")]
    WrongStatus {
        /// The dispute.
        id: u64,
        /// What was tried.
        what: &'static str,
        /// Where it stands.
        status: crate::msg::Status,
    },
}

/// A disputes result.
pub type Result<T> = core::result::Result<T, DisputesError>;
