//! [`ConsoleError`]: why a console page or action failed, in words a
//! partner can act on. Pages show it on an error page with a fitting
//! status; actions show it in the page's message area (see `pages`).
//!
//! It maps the node's errors and the API's; it decides no state.

use axum::http::StatusCode;

use crate::api::ApiError;
use crate::node::NodeError;
use crate::portfolio::{PortfolioError, ReadError};

/// A failed console request.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConsoleError {
    /// The node refused or failed (unknown partnership, not a participant,
    /// timeout…), or the JSON API's handler refused (creation, join): its
    /// message, status and code, as the API answers them.
    #[error("{}", .0.message)]
    Api(ApiError),
    /// A module refused a call: its error, in its words.
    #[error("the {module} module refused: {error}")]
    Refused {
        /// The module instance.
        module: String,
        /// The module's error.
        error: String,
    },
    /// What was typed or sent cannot be used; nothing was sent to the node.
    #[error("{0}")]
    BadInput(String),
    /// The request did not come from this console's own pages (CSRF check).
    #[error("{0}")]
    Forbidden(String),
    /// The node holds no such partnership (another node's partnership is
    /// not reachable here).
    #[error("this node holds no partnership {0}; the portfolio lists the ones it holds")]
    NotHere(String),
    /// The partnership lacks a module the page needs.
    #[error("this partnership has no {0} module, so this page has nothing to show")]
    NoModule(&'static str),
    /// A module answered in a shape the console does not read.
    #[error("the {module} module answered in an unexpected shape ({detail}); is it a standard module?")]
    Answer {
        /// The module instance.
        module: String,
        /// What did not fit.
        detail: String,
    },
    /// A template failed to render (a bug).
    #[error("the page could not be drawn: {0}")]
    Render(#[from] askama::Error),
}

impl ConsoleError {
    /// The HTTP status a page answering with this error carries.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            ConsoleError::Api(e) => e.status,
            ConsoleError::Refused { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ConsoleError::BadInput(_) => StatusCode::BAD_REQUEST,
            ConsoleError::Forbidden(_) => StatusCode::FORBIDDEN,
            ConsoleError::NotHere(_) | ConsoleError::NoModule(_) => StatusCode::NOT_FOUND,
            ConsoleError::Answer { .. } | ConsoleError::Render(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<NodeError> for ConsoleError {
    fn from(error: NodeError) -> Self {
        ConsoleError::Api(ApiError::from(error))
    }
}

impl From<ReadError> for ConsoleError {
    fn from(error: ReadError) -> Self {
        match error {
            ReadError::Node(error) => error.into(),
            ReadError::Answer { module, detail } => ConsoleError::Answer { module, detail },
            ReadError::NoModule(kind) => ConsoleError::NoModule(kind),
        }
    }
}

impl From<PortfolioError> for ConsoleError {
    fn from(error: PortfolioError) -> Self {
        ConsoleError::Api(ApiError::from(error))
    }
}

impl From<ApiError> for ConsoleError {
    fn from(error: ApiError) -> Self {
        ConsoleError::Api(error)
    }
}
