//! The interface of the standard `disputes` module: its config, calls,
//! queries and answers, as types, for the modules and clients that talk to
//! it. The module itself is the `disputes` crate beside this one; its
//! README gives the JSON forms and the rules.
//!
//! ```
//! use disputes_api::{HandleMsg, Subject};
//!
//! let raise = HandleMsg::Raise {
//!     subject: Subject::Entry { id: 3 },
//!     claim: "INV-7 was never paid by the client".into(),
//!     evidence: "email of 2026-11-02 from the client's accounts".into(),
//! };
//! let json = serde_json::to_value(&raise).unwrap();
//! assert_eq!(json["raise"]["subject"]["entry"]["id"], 3);
//! ```

use serde::{Deserialize, Serialize};
pub use voting_api::ProposalMsg;

/// Who rules on an escalated dispute: the listed participants (the
/// charter names them; a mediator need hold no units), `quorum` of whom
/// must give the same ruling.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mediators {
    /// Member ids (`pm1…`) of the mediators.
    pub members: Vec<String>,
    /// How many must give the same ruling (1 for a single mediator; a
    /// majority for a panel).
    pub quorum: u32,
}

/// The init config.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The membership instance: who may raise and answer disputes.
    pub membership: String,
    /// The governance (voting) instance: where appeals are voted.
    pub governance: String,
    /// The treasury instance, whose entries and payouts a dispute freezes.
    #[serde(default)]
    pub treasury: Option<String>,
    /// Who rules.
    pub mediators: Mediators,
    /// How long the parties negotiate before either may escalate.
    pub negotiation_ms: u64,
    /// How long after a ruling a member may appeal it.
    pub appeal_ms: u64,
    /// The decision-table kind an appeal is voted under (reserve it for
    /// unanimity in the voting module's config to make appeals a reserved
    /// matter).
    #[serde(default = "default_appeal_kind")]
    pub appeal_kind: String,
}

fn default_appeal_kind() -> String {
    "appeal".into()
}

/// What a dispute is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Subject {
    /// A treasury entry (frozen: its amount is not distributed).
    Entry {
        /// Entry id.
        id: u64,
    },
    /// A treasury payout (frozen: it is not confirmed).
    Payout {
        /// Payout id.
        id: u64,
    },
    /// A KPI value of a period.
    Kpi {
        /// The metric.
        metric: String,
        /// The period.
        period: String,
    },
    /// A milestone.
    Milestone {
        /// Milestone id.
        id: String,
    },
    /// A member's conduct.
    Member {
        /// Member id.
        member: String,
    },
}

/// Where a dispute stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The parties negotiate.
    Negotiating,
    /// Waiting for the mediators.
    Escalated,
    /// Ruled; open to appeal until `appeal_ends_ms`.
    Ruled,
    /// Appealed: the governance vote decides.
    Appealed,
    /// The ruling's messages ran.
    Executed,
    /// Overturned on appeal; nothing of the ruling ran.
    Overturned,
    /// Withdrawn or settled by the parties.
    Settled,
}

/// A ruling: what the mediators decided and the messages that carry it out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ruling {
    /// The decision in words.
    pub decision: String,
    /// Messages run atomically when the ruling executes.
    pub messages: Vec<ProposalMsg>,
}

/// A dispute.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dispute {
    /// Its id (1, 2, 3…).
    pub id: u64,
    /// What it is about.
    pub subject: Subject,
    /// Who raised it.
    pub raised_by: String,
    /// The claim.
    pub claim: String,
    /// A reference to the evidence.
    pub evidence: String,
    /// Where it stands.
    pub status: Status,
    /// When it was raised.
    pub raised_ms: u64,
    /// When negotiation ends (escalation is possible from then).
    pub negotiation_ends_ms: u64,
    /// The ruling, once ruled.
    pub ruling: Option<Ruling>,
    /// Mediators who gave the ruling (a panel: until the quorum).
    pub ruled_by: Vec<String>,
    /// Until when the ruling may be appealed.
    pub appeal_ends_ms: Option<u64>,
    /// The governance proposal of the appeal.
    pub appeal_proposal: Option<u64>,
    /// When it ended (executed, overturned or settled).
    pub closed_ms: Option<u64>,
}

/// Calls.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HandleMsg {
    /// A member raises a dispute (its own op); a treasury entry or payout
    /// it is about is frozen at once.
    Raise {
        /// What it is about.
        subject: Subject,
        /// The claim, in words.
        claim: String,
        /// A reference to the evidence.
        evidence: String,
    },
    /// The member who raised it withdraws it (the parties settled); the
    /// freeze ends.
    Settle {
        /// Dispute id.
        dispute: u64,
    },
    /// Any member escalates a dispute to the mediators once negotiation has run.
    Escalate {
        /// Dispute id.
        dispute: u64,
    },
    /// A mediator rules on an escalated dispute (a panel: each mediator
    /// sends the same ruling until the quorum).
    Rule {
        /// Dispute id.
        dispute: u64,
        /// The ruling.
        ruling: Ruling,
    },
    /// A member registers its appeal of a ruling within the window: the
    /// governance proposal it made, which carries exactly this module's
    /// `overturn` of the dispute (voted under `appeal_kind`).
    Appeal {
        /// Dispute id.
        dispute: u64,
        /// The governance proposal.
        proposal: u64,
    },
    /// Governance overturns a ruling (a passed appeal); the freeze ends.
    Overturn {
        /// Dispute id.
        dispute: u64,
    },
    /// Anyone executes a ruling once the appeal window has passed without a
    /// pending or passed appeal: its messages run, the freeze ends.
    Execute {
        /// Dispute id.
        dispute: u64,
    },
}

/// Queries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueryMsg {
    /// One dispute: [`Dispute`].
    Dispute {
        /// Dispute id.
        id: u64,
    },
    /// Disputes in id order: a list of [`Dispute`].
    Disputes {
        /// Start after this id.
        #[serde(default)]
        start_after: Option<u64>,
        /// Page size (default 20, at most 100).
        #[serde(default)]
        limit: Option<u32>,
    },
    /// The config: [`Config`].
    Config {},
    /// The decision-table kind of one of this module's messages, for the
    /// voting module (`voting_api::KindQuery`): `overturn` is `appeal_kind`.
    ProposalKind {
        /// The message.
        msg: serde_json::Value,
    },
}

/// The data of `raise`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RaisedResponse {
    /// The new dispute's id.
    pub id: u64,
}
