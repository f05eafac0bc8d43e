//! The standard modules as the console reads and calls them: which
//! instance of a partnership is its membership, voting and treasury, and
//! typed queries and calls built from their interface crates
//! (`membership-api`, `voting-api`, `treasury-api`), sent through the
//! same [`NodeHandle`] calls as the JSON API's.
//!
//! An instance's kind is read from its init config in the charter (each
//! standard module's config has its own shape, refused by the others'), and
//! for a module installed later, from its instance name. It owns no rule of
//! any module: a refused call comes back as the module's own error.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::ConsoleError;
use crate::ledger::OpOutcome;
use crate::node::{NodeHandle, PartnershipInfo, WaitFor};
use crate::op::PartnershipId;

/// The instances of the standard modules a partnership has.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Standard {
    /// The membership instance.
    pub(crate) membership: Option<String>,
    /// The voting instance.
    pub(crate) voting: Option<String>,
    /// The treasury instance.
    pub(crate) treasury: Option<String>,
}

/// The kind of a standard module instance, if it is one.
pub(crate) fn kind_of(name: &str, charter_config: Option<&str>) -> Option<&'static str> {
    if let Some(config) = charter_config {
        if serde_json::from_str::<membership_api::InitConfig>(config).is_ok() {
            return Some("membership");
        }
        if serde_json::from_str::<voting_api::Config>(config).is_ok() {
            return Some("voting");
        }
        if serde_json::from_str::<treasury_api::InitConfig>(config).is_ok() {
            return Some("treasury");
        }
        return None;
    }
    match name {
        "membership" => Some("membership"),
        "voting" => Some("voting"),
        "treasury" => Some("treasury"),
        _ => None,
    }
}

impl Standard {
    /// Finds the standard instances among a partnership's installed modules.
    pub(crate) fn of(info: &PartnershipInfo) -> Standard {
        let mut found = Standard::default();
        for (name, _) in &info.modules {
            let config = info.charter.module(name).map(|spec| spec.config.as_str());
            let slot = match kind_of(name, config) {
                Some("membership") => &mut found.membership,
                Some("voting") => &mut found.voting,
                Some("treasury") => &mut found.treasury,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(name.clone());
            }
        }
        found
    }

    /// The membership instance, or why the page cannot show it.
    pub(crate) fn membership(&self) -> Result<&str, ConsoleError> {
        self.membership.as_deref().ok_or(ConsoleError::NoModule("membership"))
    }

    /// The voting instance, or why the page cannot show it.
    pub(crate) fn voting(&self) -> Result<&str, ConsoleError> {
        self.voting.as_deref().ok_or(ConsoleError::NoModule("voting"))
    }

    /// The treasury instance, or why the page cannot show it.
    pub(crate) fn treasury(&self) -> Result<&str, ConsoleError> {
        self.treasury.as_deref().ok_or(ConsoleError::NoModule("treasury"))
    }
}

/// Queries `module` (optimistic state, as the pages show the latest) and
/// reads the answer as `T`.
pub(crate) async fn query<T: DeserializeOwned>(
    node: &NodeHandle,
    id: PartnershipId,
    module: &str,
    msg: &impl Serialize,
) -> Result<T, ConsoleError> {
    let bytes = serde_json::to_vec(msg).map_err(|e| ConsoleError::BadInput(e.to_string()))?;
    let answer = node.query(id, module, bytes, false).await?;
    serde_json::from_slice(&answer)
        .map_err(|e| ConsoleError::Answer { module: module.to_owned(), detail: e.to_string() })
}

/// Every page of a paged list query: `page(start_after)` builds the query,
/// `key` gives an item's id for the next page.
pub(crate) async fn query_all<T: DeserializeOwned, K: Clone>(
    node: &NodeHandle,
    id: PartnershipId,
    module: &str,
    page: impl Fn(Option<K>) -> serde_json::Value,
    items: impl Fn(serde_json::Value) -> Result<Vec<T>, serde_json::Error>,
    key: impl Fn(&T) -> K,
    page_size: usize,
) -> Result<Vec<T>, ConsoleError> {
    let mut all = Vec::new();
    let mut after = None;
    // A bound, so a module that pages wrongly cannot keep the page waiting.
    for _ in 0..1000 {
        let answer: serde_json::Value = query(node, id, module, &page(after.clone())).await?;
        let batch = items(answer)
            .map_err(|e| ConsoleError::Answer { module: module.to_owned(), detail: e.to_string() })?;
        let done = batch.len() < page_size;
        after = batch.last().map(&key);
        all.extend(batch);
        if done || after.is_none() {
            break;
        }
    }
    Ok(all)
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests may unwrap

    use super::*;

    #[test]
    fn kinds_come_from_the_charter_config_or_the_name() {
        let membership = r#"{"governance":"voting","members":[{"member":"pm1a","voting_units":1}]}"#;
        let voting = r#"{"membership":"membership","min_period_ms":1,"max_period_ms":2,"rules":{"default":{"threshold":{"majority":{}}}}}"#;
        let treasury =
            r#"{"assets":["EUR"],"governance":"voting","membership":"membership","split":{"pro_rata":{}}}"#;
        assert_eq!(kind_of("members", Some(membership)), Some("membership"));
        assert_eq!(kind_of("gov", Some(voting)), Some("voting"));
        assert_eq!(kind_of("money", Some(treasury)), Some("treasury"));
        assert_eq!(kind_of("treasury", Some(r#"{"something":"else"}"#)), None);
        assert_eq!(kind_of("treasury", None), Some("treasury"));
        assert_eq!(kind_of("guestbook", None), None);
    }
}
