//! The interface of the standard membership module: what other modules and
//! clients send it and what it answers, as types.
//!
//! This crate owns the membership module's wire formats: its init config
//! ([`InitConfig`]), calls ([`HandleMsg`]), queries ([`QueryMsg`]) and their
//! answers ([`MemberInfo`], [`MembersResponse`], [`Totals`],
//! [`PowerResponse`], [`HasRoleResponse`], [`Pending`], [`Config`]), and two
//! helpers for modules that ask membership about members ([`member`],
//! [`all_members`]). It does not own the rules (the `membership` crate
//! beside it, which re-exports these types as its `msg`).
//!
//! A module that talks to membership depends on this crate, not on the
//! membership module itself (whose `.wasm` exports would clash with its
//! own), and builds its messages from these types, so that a change here is
//! a compile error there rather than a failure in a running partnership:
//!
//! ```
//! use membership_api::{HandleMsg, QueryMsg};
//!
//! let query = QueryMsg::VotingPowerAt { member: "pm1alice".into(), height: 12 };
//! assert_eq!(
//!     serde_json::to_value(&query).unwrap(),
//!     serde_json::json!({"voting_power_at": {"member": "pm1alice", "height": 12}})
//! );
//! let call = HandleMsg::RemoveMember { member: "pm1bob".into(), economic_units: 0 };
//! assert_eq!(
//!     serde_json::to_value(&call).unwrap(),
//!     serde_json::json!({"remove_member": {"member": "pm1bob", "economic_units": 0}})
//! );
//! ```
//!
//! The JSON forms, with who may send what, are in the module's `README.md`.

use std::collections::BTreeSet;

use polypact_sdk::{Error, QueryCtx};
use serde::{Deserialize, Serialize};

/// Page size of `members` when the query does not set one.
pub const DEFAULT_PAGE: u32 = 30;
/// The largest page `members` returns.
pub const MAX_PAGE: u32 = 100;
/// How membership's error for an unknown member ends (`pm1x is not a member`).
pub const NOT_A_MEMBER: &str = "is not a member";

/// Stored config; the answer of `config`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// The module whose messages may admit, expel and change members.
    pub governance: String,
    /// Module instances (e.g. `exit`, `vesting`) that may also send
    /// `set_units`, `transfer_units` and `remove_member`.
    #[serde(default)]
    pub managers: Vec<String>,
    /// Whether an admitted newcomer must accept the partnership's terms
    /// (`accept_terms`) before it becomes a member: until then it holds no
    /// units and receives nothing.
    #[serde(default)]
    pub require_acceptance: bool,
}

/// The init config:
/// `{"members":[{"member":"pm1…","voting_units":100,"economic_units":100,"roles":["admin"]}],"governance":"voting"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InitConfig {
    /// The founding members; each must already be a participant.
    pub members: Vec<InitMember>,
    /// The governance module's instance name.
    pub governance: String,
    /// Module instances that may send `set_units`, `transfer_units` and
    /// `remove_member` besides governance (default none).
    #[serde(default)]
    pub managers: Vec<String>,
    /// Whether an admitted newcomer must accept the terms first (default
    /// `false`: admission makes a member at once).
    #[serde(default)]
    pub require_acceptance: bool,
}

/// A member's acceptance of the partnership's terms: the founders' is the
/// genesis (height 0), a newcomer's its `accept_terms`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acceptance {
    /// The terms' hash (the runtime's `system` `terms`).
    pub terms: String,
    /// The height of the op that accepted them.
    pub height: u64,
    /// Its time.
    pub time_ms: u64,
}

/// An admission waiting for the newcomer's acceptance of the terms.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingAdmission {
    /// What it gets once it accepts.
    pub terms: Terms,
    /// How it was admitted (`vote`, `invitation`, `application`).
    pub how: String,
}

/// Answer of `acceptance`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptanceResponse {
    /// What the member accepted, and when (`None`: nothing yet).
    pub accepted: Option<Acceptance>,
    /// Its admission, if it waits for its acceptance.
    pub pending: Option<PendingAdmission>,
}

/// A founding member.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InitMember {
    /// Member id (`pm1…`).
    pub member: String,
    /// Voting units.
    #[serde(default)]
    pub voting_units: u64,
    /// Economic units.
    #[serde(default)]
    pub economic_units: u64,
    /// Roles.
    #[serde(default)]
    pub roles: BTreeSet<String>,
}

/// The terms of an invitation or application: what the member gets on admission.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Terms {
    /// Voting units on admission.
    pub voting_units: u64,
    /// Economic units on admission.
    pub economic_units: u64,
    /// Roles on admission.
    pub roles: BTreeSet<String>,
    /// Who invited or sponsored (a member id, or `module:<name>`).
    pub by: String,
    /// Height at which it was recorded.
    pub height: u64,
}

/// A member, current or former.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Voting units (0 once the member has left).
    pub voting_units: u64,
    /// Economic units: for a former member, its claim until an exit module settles it.
    pub economic_units: u64,
    /// Roles (empty once the member has left).
    pub roles: BTreeSet<String>,
    /// Whether it is a current member.
    pub active: bool,
    /// Height of its (latest) admission.
    pub joined_at: u64,
    /// Height at which it left, if it did.
    pub left_at: Option<u64>,
}

/// Sums over current members (and former members' economic claims); the answer of `totals`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Voting units of current members.
    pub voting_units: u64,
    /// Economic units of current members.
    pub economic_units: u64,
    /// Economic units still claimed by former members.
    pub former_economic_units: u64,
    /// Number of current members.
    pub members: u64,
}

/// Calls.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HandleMsg {
    /// Records an invitation (an admin or the governance module).
    Invite {
        /// Who is invited.
        invitee: String,
        /// Voting units on admission.
        #[serde(default)]
        voting_units: u64,
        /// Economic units on admission.
        #[serde(default)]
        economic_units: u64,
        /// Roles on admission.
        #[serde(default)]
        roles: BTreeSet<String>,
    },
    /// Withdraws a pending invitation (an admin or the governance module).
    RevokeInvitation {
        /// Who was invited.
        invitee: String,
    },
    /// Admits an invitee who accepted off the ledger (an admin other than the
    /// inviter, or the governance module).
    AdmitInvited {
        /// The invitee.
        invitee: String,
    },
    /// Records an application sponsored by the calling member.
    Apply {
        /// Who applies.
        applicant: String,
        /// Voting units asked for.
        #[serde(default)]
        voting_units: u64,
        /// Economic units asked for.
        #[serde(default)]
        economic_units: u64,
        /// Roles asked for.
        #[serde(default)]
        roles: BTreeSet<String>,
        /// The sponsor; if given it must be the caller.
        #[serde(default)]
        sponsor: Option<String>,
    },
    /// Admits a member (governance module only): on the terms of its
    /// pending application or invitation, or on the terms given here.
    Admit {
        /// Who is admitted.
        member: String,
        /// Voting units (overrides the application's).
        #[serde(default)]
        voting_units: Option<u64>,
        /// Economic units (overrides the application's).
        #[serde(default)]
        economic_units: Option<u64>,
        /// Roles (overrides the application's).
        #[serde(default)]
        roles: Option<BTreeSet<String>>,
    },
    /// The newcomer, admitted under `require_acceptance`, accepts the
    /// partnership's terms as they stand (the runtime's `system` `terms`
    /// hash) with its own op; only then does it become a member. Terms that
    /// changed since (an install or upgrade) are refused: re-read them.
    AcceptTerms {
        /// The terms' hash.
        terms: String,
    },
    /// The caller leaves; its economic units stay as a claim.
    Resign {},
    /// Expels a member (governance module only): its voting units become
    /// economic units, which stay as a claim.
    Expel {
        /// Who is expelled.
        member: String,
    },
    /// Sets a current member's units (governance module or an admin).
    SetUnits {
        /// The member.
        member: String,
        /// New voting units (unchanged if absent).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        voting_units: Option<u64>,
        /// New economic units (unchanged if absent).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        economic_units: Option<u64>,
    },
    /// Grants a role (governance module or an admin).
    GrantRole {
        /// The member.
        member: String,
        /// The role.
        role: String,
    },
    /// Revokes a role (governance module or an admin).
    RevokeRole {
        /// The member.
        member: String,
        /// The role.
        role: String,
    },
    /// Moves units from one member (current, or former for economic units)
    /// to a current member (governance or a manager module).
    TransferUnits {
        /// Who gives.
        from: String,
        /// Who receives; must be a current member.
        to: String,
        /// Voting units moved.
        #[serde(default)]
        voting_units: u64,
        /// Economic units moved.
        #[serde(default)]
        economic_units: u64,
    },
    /// Ends a membership (governance or a manager module): voting units 0,
    /// roles cleared, `economic_units` kept as the remaining claim.
    RemoveMember {
        /// Who leaves.
        member: String,
        /// Its remaining economic claim (0 = nothing left to claim).
        #[serde(default)]
        economic_units: u64,
    },
}

/// Queries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueryMsg {
    /// Members in id order, current and former: [`MembersResponse`].
    Members {
        /// Start after this member id.
        #[serde(default)]
        start_after: Option<String>,
        /// Page size.
        #[serde(default)]
        limit: Option<u32>,
    },
    /// One member: [`MemberInfo`].
    Member {
        /// The member.
        member: String,
    },
    /// The totals: [`Totals`].
    Totals {},
    /// A member's voting units at the end of `height`: [`PowerResponse`].
    VotingPowerAt {
        /// The member.
        member: String,
        /// The height.
        height: u64,
    },
    /// Total voting units at the end of `height`: [`PowerResponse`].
    TotalVotingPowerAt {
        /// The height.
        height: u64,
    },
    /// Whether a current member has a role: [`HasRoleResponse`].
    HasRole {
        /// The member.
        member: String,
        /// The role.
        role: String,
    },
    /// Pending invitations: a list of [`Pending`].
    Invitations {},
    /// Pending applications: a list of [`Pending`].
    Applications {},
    /// The config: [`Config`].
    Config {},
    /// What `member` accepted, and when: [`AcceptanceResponse`].
    Acceptance {
        /// Member id.
        member: String,
    },
    /// The kind of one of this module's messages, for the decision table
    /// of the voting module (`voting_api::KindQuery`; the answer is a
    /// `voting_api::KindResponse`): admissions are `admit_member`, an
    /// expulsion `expel_member`, unit changes `units_change`, role changes
    /// `roles_change`.
    ProposalKind {
        /// The message, as a proposal carries it.
        msg: serde_json::Value,
    },
}

/// A member in query answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberInfo {
    /// Member id.
    pub member: String,
    /// Its record.
    #[serde(flatten)]
    pub record: Member,
}

/// Answer of `members`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembersResponse {
    /// The page; fewer than asked means the end.
    pub members: Vec<MemberInfo>,
}

/// Answer of `voting_power_at` and `total_voting_power_at`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PowerResponse {
    /// Voting units.
    pub power: u64,
    /// The height asked about.
    pub height: u64,
}

/// Answer of `has_role`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HasRoleResponse {
    /// Whether the member is current and has the role.
    pub has_role: bool,
}

/// A pending invitation or application in query answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// Who is invited or applies.
    pub member: String,
    /// The terms.
    #[serde(flatten)]
    pub terms: Terms,
}

/// Whether `reason`, the error text of a membership query, says that the
/// member is unknown to membership (`pm1x is not a member`).
pub fn is_unknown_member(reason: &str) -> bool {
    reason.ends_with(NOT_A_MEMBER)
}

/// Asks the membership instance `module` for `member`'s record: `None` if
/// membership does not know the member; a former member comes back with
/// `active: false`.
pub fn member(ctx: &QueryCtx, module: &str, member: &str) -> Result<Option<MemberInfo>, Error> {
    match ctx.query(module, &QueryMsg::Member { member: member.into() }) {
        Ok(info) => Ok(Some(info)),
        Err(Error::Query { reason, .. }) if is_unknown_member(&reason) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Every member the membership instance `module` knows, current and former,
/// in id order (read in pages of [`MAX_PAGE`]).
pub fn all_members(ctx: &QueryCtx, module: &str) -> Result<Vec<MemberInfo>, Error> {
    let mut out: Vec<MemberInfo> = Vec::new();
    loop {
        let start_after = out.last().map(|m| m.member.clone());
        let page: MembersResponse =
            ctx.query(module, &QueryMsg::Members { start_after, limit: Some(MAX_PAGE) })?;
        let n = page.members.len();
        out.extend(page.members);
        if n < MAX_PAGE as usize {
            return Ok(out);
        }
    }
}
