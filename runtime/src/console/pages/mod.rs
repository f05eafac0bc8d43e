//! The console's pages, one file per view: `portfolio`, `partnership`,
//! `proposals`, `treasury`, `events` (and the live streams), `setup`
//! (create and join). This file holds what they share: loading a
//! partnership of this node, and reading form fields with clear messages.
//!
//! Pages read through the node's handle and the standard modules' queries
//! (`modules`); they decide nothing a module or the node decides.

pub(crate) mod events;
pub(crate) mod partnership;
pub(crate) mod portfolio;
pub(crate) mod proposals;
pub(crate) mod setup;
pub(crate) mod treasury;

use std::collections::BTreeMap;

use super::Console;
use super::error::ConsoleError;
use super::modules::Standard;
use crate::node::{NodeError, PartnershipInfo};
use crate::op::PartnershipId;

/// A partnership of this node, as a page starts from.
pub(crate) struct Loaded {
    /// Its id.
    pub(crate) id: PartnershipId,
    /// Everything the node shows of it.
    pub(crate) info: PartnershipInfo,
    /// Its standard module instances.
    pub(crate) standard: Standard,
    /// The node's member id.
    pub(crate) me: String,
}

impl Loaded {
    /// The id as hex, for links.
    pub(crate) fn hex(&self) -> String {
        self.id.to_hex()
    }
}

/// Loads partnership `id` of this node; an id it does not hold is
/// [`ConsoleError::NotHere`].
pub(crate) async fn load(console: &Console, id: &str) -> Result<Loaded, ConsoleError> {
    let parsed = id
        .parse::<PartnershipId>()
        .map_err(|e| ConsoleError::BadInput(format!("{id:?} is not a partnership id: {e}")))?;
    let info = match console.api.node.partnership(parsed).await {
        Ok(info) => info,
        Err(NodeError::UnknownPartnership(_)) => return Err(ConsoleError::NotHere(parsed.to_hex())),
        Err(e) => return Err(e.into()),
    };
    let standard = Standard::of(&info);
    Ok(Loaded { id: parsed, info, standard, me: console.api.node.member().to_string() })
}

/// The fields of a posted form.
pub(crate) type Fields = BTreeMap<String, String>;

/// A required text field, trimmed.
pub(crate) fn required(fields: &Fields, name: &str, label: &str) -> Result<String, ConsoleError> {
    match fields.get(name).map(|v| v.trim()) {
        Some(v) if !v.is_empty() => Ok(v.to_owned()),
        _ => Err(ConsoleError::BadInput(format!("{label} is required"))),
    }
}

/// An optional text field, trimmed; empty is absent.
pub(crate) fn optional(fields: &Fields, name: &str) -> Option<String> {
    fields.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()).map(str::to_owned)
}

/// A required whole number.
pub(crate) fn number(fields: &Fields, name: &str, label: &str) -> Result<u64, ConsoleError> {
    let text = required(fields, name, label)?;
    text.parse::<u64>()
        .map_err(|_| ConsoleError::BadInput(format!("{label} must be a whole number, not {text:?}")))
}

/// A member id field: `pm1…`, checked by the member id parser.
pub(crate) fn member(fields: &Fields, name: &str, label: &str) -> Result<String, ConsoleError> {
    let text = required(fields, name, label)?;
    text.parse::<crate::op::MemberId>()
        .map(|m| m.to_string())
        .map_err(|e| ConsoleError::BadInput(format!("{label}: {e}")))
}
