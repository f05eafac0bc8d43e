//! What a node tells its subscribers: ops applied, undone and made final,
//! with their outcomes (and so the module events they emitted).

use crate::ledger::OpOutcome;
use crate::op::{MemberId, OpId, PartnershipId};

/// What happened to an op.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OpEventKind {
    /// Applied to the optimistic state (may still be undone).
    Applied,
    /// Undone from the optimistic state; it will be applied again in its place.
    Undone,
    /// Final: its place and effects never change.
    Final,
}

/// One op event of one partnership.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeEvent {
    /// The partnership.
    pub partnership: PartnershipId,
    /// The op.
    pub op: OpId,
    /// Its height.
    pub height: u64,
    /// What happened.
    pub kind: OpEventKind,
    /// Its author, when known.
    pub author: Option<MemberId>,
    /// The called module, for calls.
    pub module: Option<String>,
    /// The outcome (absent for `Undone`).
    pub outcome: Option<OpOutcome>,
}

impl NodeEvent {
    /// The event as JSON, as the API streams it:
    /// `{"partnership","op","height","kind","author","module","outcome":{"status":"applied","data":…,"events":[…]}}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "partnership": self.partnership.to_hex(),
            "op": self.op.to_hex(),
            "height": self.height,
            "kind": self.kind,
            "author": self.author.map(|a| a.to_string()),
            "module": self.module,
            "outcome": self.outcome.as_ref().map(outcome_json),
        })
    }
}

/// An op outcome as JSON: `{"status":"applied","data":<JSON or null>,"events":[{"module","kind","attributes":{…}}]}`,
/// `{"status":"failed","error":"…"}`, `{"status":"skipped","reason":"…"}` or `{"status":"structural"}`.
pub fn outcome_json(outcome: &OpOutcome) -> serde_json::Value {
    match outcome {
        OpOutcome::Applied { data, events } => serde_json::json!({
            "status": "applied",
            "data": data.as_deref().map(|d| serde_json::from_slice::<serde_json::Value>(d)
                .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(d).into_owned()))),
            "events": events.iter().map(|e| serde_json::json!({
                "module": e.module,
                "kind": e.event.kind,
                "attributes": e.event.attributes.iter()
                    .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                    .collect::<serde_json::Map<String, serde_json::Value>>(),
            })).collect::<Vec<_>>(),
        }),
        OpOutcome::Failed { error } => serde_json::json!({"status": "failed", "error": error}),
        OpOutcome::Skipped { reason } => serde_json::json!({"status": "skipped", "reason": reason}),
        OpOutcome::Structural => serde_json::json!({"status": "structural"}),
    }
}
