//! The SDK's error type.
//!
//! This file owns [`Error`]: what can go wrong inside the SDK while a module
//! runs (a message or stored value that does not decode, a missing key, a
//! failed query). It does not own a module's own errors: an entry point may
//! return any `E: Display`, and the text reaches the caller.

use alloc::string::{String, ToString};
use core::fmt;

/// What went wrong in an SDK call.
///
/// Every variant's text says what failed and, where it helps, what to do.
/// Module error types usually wrap it (`#[from] polypact_sdk::Error` with
/// `thiserror`), or modules return it directly.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A value could not be decoded from JSON (a message, a stored value, a
    /// query result).
    Decode {
        /// What was being decoded (`handle message`, `item "config"`…).
        what: String,
        /// The decoder's explanation, with line and column for JSON.
        reason: String,
    },
    /// A value could not be encoded as JSON (e.g. a map with non-string keys).
    Encode {
        /// What was being encoded.
        what: String,
        /// The encoder's explanation.
        reason: String,
    },
    /// A key that must exist does not.
    NotFound {
        /// What was looked up (`item "config"`, `an entry of map "entries"`).
        what: String,
    },
    /// Another module (or `system`) answered a query with an error.
    Query {
        /// The queried module.
        module: String,
        /// Its error text.
        reason: String,
    },
    /// The host broke the calling convention (a malformed scan page or
    /// query result, an input without caller info). Not the module's fault.
    Host(String),
    /// A module's own error text, for modules that need no error enum.
    Custom(String),
}

impl Error {
    /// A module error with this text (`Error::msg("only the chair may close")`).
    pub fn msg(text: impl fmt::Display) -> Self {
        Error::Custom(text.to_string())
    }

    pub(crate) fn decode(what: impl fmt::Display, reason: impl fmt::Display) -> Self {
        Error::Decode { what: what.to_string(), reason: reason.to_string() }
    }

    pub(crate) fn encode(what: impl fmt::Display, reason: impl fmt::Display) -> Self {
        Error::Encode { what: what.to_string(), reason: reason.to_string() }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Decode { what, reason } => write!(f, "invalid {what}: {reason}"),
            Error::Encode { what, reason } => write!(f, "cannot encode {what} as JSON: {reason}"),
            Error::NotFound { what } => write!(f, "{what} not found"),
            Error::Query { module, reason } => write!(f, "query to module \"{module}\" failed: {reason}"),
            Error::Host(reason) => write!(f, "host broke the polypact ABI: {reason}"),
            Error::Custom(text) => f.write_str(text),
        }
    }
}

impl core::error::Error for Error {}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn messages_name_the_problem() {
        let e = Error::decode("handle message", "unknown variant `x` at line 1 column 4");
        assert_eq!(format!("{e}"), "invalid handle message: unknown variant `x` at line 1 column 4");
        let e = Error::NotFound { what: "item \"config\"".into() };
        assert_eq!(format!("{e}"), "item \"config\" not found");
        assert_eq!(format!("{}", Error::msg("nope")), "nope");
    }
}
