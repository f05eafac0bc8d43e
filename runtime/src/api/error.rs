//! [`ApiError`]: what the HTTP API answers when a request fails, as
//! `{"error": "<what was wrong and what to do>", "code": "<stable code>"}`
//! with a fitting status. It maps [`NodeError`]s; it decides no state.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::node::NodeError;
use crate::portfolio::PortfolioError;

/// A failed API request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The stable machine-readable code (`unknown_partnership`, …).
    pub code: &'static str,
    /// The human message: what was wrong and what to do.
    pub message: String,
    /// Extra fields of the body (an op id for a failed call).
    pub extra: Option<serde_json::Map<String, serde_json::Value>>,
}

impl ApiError {
    /// An error with a status, a code and a message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), extra: None }
    }

    /// A 400 with `code`.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// Adds a field to the body.
    pub fn with(mut self, key: &str, value: serde_json::Value) -> Self {
        self.extra.get_or_insert_with(serde_json::Map::new).insert(key.to_owned(), value);
        self
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        let mut body = self.extra.clone().unwrap_or_default();
        body.insert("error".into(), self.message.clone().into());
        body.insert("code".into(), self.code.into());
        serde_json::Value::Object(body)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body())).into_response()
    }
}

impl From<NodeError> for ApiError {
    fn from(error: NodeError) -> Self {
        let message = error.to_string();
        let (status, code) = match &error {
            NodeError::UnknownPartnership(_) => (StatusCode::NOT_FOUND, "unknown_partnership"),
            NodeError::UnknownModule { .. } => (StatusCode::NOT_FOUND, "unknown_module"),
            NodeError::UnknownInvitation(_) => (StatusCode::NOT_FOUND, "unknown_invitation"),
            NodeError::NotAParticipant(_) => (StatusCode::FORBIDDEN, "not_a_participant"),
            NodeError::MissingCode(_) => (StatusCode::UNPROCESSABLE_ENTITY, "missing_code"),
            NodeError::Code(_) => (StatusCode::UNPROCESSABLE_ENTITY, "bad_code"),
            NodeError::BadGenesis(_) => (StatusCode::UNPROCESSABLE_ENTITY, "bad_genesis"),
            NodeError::Refused(_) => (StatusCode::UNPROCESSABLE_ENTITY, "op_refused"),
            NodeError::Dissolved(_) => (StatusCode::CONFLICT, "dissolved"),
            NodeError::Halted { .. } => (StatusCode::SERVICE_UNAVAILABLE, "halted"),
            NodeError::ModuleRejected { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "query_failed"),
            NodeError::HostFault { .. } => (StatusCode::SERVICE_UNAVAILABLE, "host_fault"),
            NodeError::Timeout { .. } => (StatusCode::GATEWAY_TIMEOUT, "timeout"),
            NodeError::Stopped => (StatusCode::SERVICE_UNAVAILABLE, "stopped"),
            NodeError::Network(_) => (StatusCode::SERVICE_UNAVAILABLE, "no_network"),
            NodeError::Store(_) | NodeError::StoreFailed(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "store_failure")
            }
            NodeError::Open { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "open_failed"),
            NodeError::Start(_) => (StatusCode::INTERNAL_SERVER_ERROR, "start_failed"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        let error_value = match &error {
            NodeError::Timeout { op, .. } => Some(op.to_hex()),
            _ => None,
        };
        let api = ApiError::new(status, code, message);
        match error_value {
            Some(op) => api.with("op", op.into()),
            None => api,
        }
    }
}

impl From<PortfolioError> for ApiError {
    fn from(error: PortfolioError) -> Self {
        match error {
            PortfolioError::Node(error) => error.into(),
        }
    }
}
