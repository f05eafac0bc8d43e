//! The standard modules as the console calls them: typed calls built
//! from their interface crates (`membership-api`, `voting-api`,
//! `treasury-api`), sent through the same [`NodeHandle`] calls as the JSON
//! API's. Reading them (which instance is which, typed queries and lists)
//! is the portfolio's reader (`crate::portfolio::read`), shared with the
//! portfolio; [`query`] here is that reader on the optimistic state, with
//! the console's errors.
//!
//! It owns no rule of any module: a refused call comes back as the
//! module's own error.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::ConsoleError;
use crate::ledger::OpOutcome;
use crate::node::{NodeHandle, WaitFor};
use crate::op::PartnershipId;
use crate::portfolio::read::Reader;

pub(crate) use crate::portfolio::read::{Kind, Standard, kind_of};

/// Queries `module` (optimistic state, as the pages show the latest) and
/// reads the answer as `T`.
pub(crate) async fn query<T: DeserializeOwned>(
    node: &NodeHandle,
    id: PartnershipId,
    module: &str,
    msg: &impl Serialize,
) -> Result<T, ConsoleError> {
    Ok(Reader::optimistic(node, id).query(module, msg).await?)
}

/// What a call came to, once applied.
pub(crate) struct Applied {
    /// The module's answer data, if any.
    pub(crate) data: Option<serde_json::Value>,
}

/// Calls `module` as the node's member and waits until the call is applied
/// (so a refusal is known); the module's refusal is [`ConsoleError::Refused`].
pub(crate) async fn call(
    node: &NodeHandle,
    id: PartnershipId,
    module: &str,
    msg: &impl Serialize,
    timeout: Duration,
) -> Result<Applied, ConsoleError> {
    let bytes = serde_json::to_vec(msg).map_err(|e| ConsoleError::BadInput(e.to_string()))?;
    let receipt = node.call(id, module, bytes, WaitFor::Applied, timeout).await?;
    match receipt.outcome {
        Some(OpOutcome::Applied { data, .. }) => {
            Ok(Applied { data: data.and_then(|d| serde_json::from_slice(&d).ok()) })
        }
        Some(OpOutcome::Failed { error }) => Err(ConsoleError::Refused { module: module.to_owned(), error }),
        Some(OpOutcome::Skipped { reason }) => Err(ConsoleError::Refused {
            module: module.to_owned(),
            error: format!("the call was not executed: {reason}"),
        }),
        Some(OpOutcome::Structural) | None => Ok(Applied { data: None }),
    }
}
