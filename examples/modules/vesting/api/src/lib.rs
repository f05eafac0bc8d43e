//! The interface of the standard vesting module: what other modules and
//! clients send it and what it answers, as types.
//!
//! This crate owns the vesting module's wire formats: its config
//! ([`Config`]), calls ([`HandleMsg`]), queries ([`QueryMsg`]) and their
//! answers ([`Grant`], [`VestedResponse`] and the other `*Response` types),
//! with the schedule arithmetic a reader of a grant needs
//! ([`Schedule::vested`], [`Grant::releasable_at`]). It does not own the
//! rules (the `vesting` crate beside it, which re-exports these types as its
//! `msg`).
//!
//! The exit module reads a leaver's vesting and cancels its grants with
//! these types:
//!
//! ```
//! use vesting_api::{HandleMsg, QueryMsg};
//!
//! let vested = QueryMsg::Vested { member: "pm1bob".into(), at_ms: Some(1_000) };
//! assert_eq!(
//!     serde_json::to_value(&vested).unwrap(),
//!     serde_json::json!({"vested": {"member": "pm1bob", "at_ms": 1000}})
//! );
//! let cancel = HandleMsg::CancelOnExit { member: "pm1bob".into(), keep_vested: true };
//! assert_eq!(
//!     serde_json::to_value(&cancel).unwrap(),
//!     serde_json::json!({"cancel_on_exit": {"member": "pm1bob", "keep_vested": true}})
//! );
//! ```
//!
//! The JSON forms and the schedule maths are in the module's `README.md`.

use serde::{Deserialize, Serialize};

/// The config (init): `{"membership":"membership","governance":"voting","exit_module":"exit","admin_role":"admin"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The membership instance (this instance must be among its `managers`).
    pub membership: String,
    /// The governance (voting) instance: may create and cancel grants.
    pub governance: String,
    /// The exit instance: may send `cancel_on_exit` (default `exit`).
    #[serde(default = "default_exit")]
    pub exit_module: String,
    /// Members with this membership role may also create grants (none if absent).
    #[serde(default)]
    pub admin_role: Option<String>,
    /// The term instance whose milestones may gate grants (`milestone`);
    /// without it no grant may name a milestone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub term_module: Option<String>,
}

fn default_exit() -> String {
    "exit".into()
}

/// Which units a grant vests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitKind {
    /// Economic units (share in revenue and exit).
    Economic,
    /// Voting units.
    Voting,
}

/// A vesting schedule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    /// When vesting starts (ms).
    pub start_ms: u64,
    /// Nothing vests before `start_ms + cliff_ms`; at the cliff the schedule catches up.
    pub cliff_ms: u64,
    /// Everything has vested at `start_ms + duration_ms` (> 0, ≥ `cliff_ms`).
    pub duration_ms: u64,
    /// Equal steps instead of linear vesting (1 to the vesting module's `MAX_STEPS`).
    #[serde(default)]
    pub steps: Option<u32>,
}

impl Schedule {
    /// Units of `total` vested at `at_ms`, integers only, floored; exact at the end.
    pub fn vested(&self, total: u64, at_ms: u64) -> u64 {
        let Some(elapsed) = at_ms.checked_sub(self.start_ms) else { return 0 };
        if elapsed < self.cliff_ms {
            return 0;
        }
        if elapsed >= self.duration_ms {
            return total;
        }
        let (total, elapsed, duration) =
            (u128::from(total), u128::from(elapsed), u128::from(self.duration_ms));
        let vested = match self.steps {
            Some(steps) => {
                let steps = u128::from(steps);
                let done = elapsed * steps / duration;
                total * done / steps
            }
            None => total * elapsed / duration,
        };
        // vested <= total <= u64::MAX because elapsed < duration.
        u64::try_from(vested).unwrap_or(u64::MAX)
    }

    /// Whether `at_ms` is before the cliff.
    pub fn in_cliff(&self, at_ms: u64) -> bool {
        at_ms < self.start_ms.saturating_add(self.cliff_ms)
    }
}

/// How a grant was cancelled.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cancellation {
    /// When (ms).
    pub at_ms: u64,
    /// Height of the cancelling op.
    pub height: u64,
    /// Who: `exit` or `governance`.
    pub by: String,
    /// Whether units vested by then were kept (released) or forfeited.
    pub keep_vested: bool,
    /// Units that will never vest or were taken back.
    pub forfeited: u64,
}

/// A grant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// Grant id.
    pub id: u64,
    /// The member (`pm1…`).
    pub member: String,
    /// Units granted.
    pub units: u64,
    /// Economic or voting units.
    pub unit_kind: UnitKind,
    /// The schedule.
    #[serde(flatten)]
    pub schedule: Schedule,
    /// Units already moved to the member.
    pub released: u64,
    /// Who created it (member id, or `module:<name>`).
    pub created_by: String,
    /// Set once cancelled.
    pub cancelled: Option<Cancellation>,
    /// The term module's milestone this grant is gated on: nothing vests
    /// until governance has approved it (term `approve_milestone`); from
    /// then on the schedule applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub milestone: Option<String>,
}

impl Grant {
    /// Units vested at `at_ms` (a cancelled grant: what it released, for
    /// good). `gate_open` says whether its milestone, if it names one, is
    /// approved; while it is not, nothing has vested.
    pub fn vested_at(&self, at_ms: u64, gate_open: bool) -> u64 {
        match self.cancelled {
            Some(_) => self.released,
            None if !gate_open => 0,
            None => self.schedule.vested(self.units, at_ms),
        }
    }

    /// Units not vested at `at_ms` (0 once cancelled).
    pub fn unvested_at(&self, at_ms: u64, gate_open: bool) -> u64 {
        match self.cancelled {
            Some(_) => 0,
            None => self.units.saturating_sub(self.vested_at(at_ms, gate_open)),
        }
    }

    /// Vested, not yet released.
    pub fn releasable_at(&self, at_ms: u64, gate_open: bool) -> u64 {
        self.vested_at(at_ms, gate_open).saturating_sub(self.released)
    }
}

/// Handle messages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum HandleMsg {
    /// Creates a grant (governance, or an op of a member with `admin_role`).
    CreateGrant {
        /// A current member.
        member: String,
        /// Units granted (> 0).
        units: u64,
        /// `economic` (default) or `voting`.
        #[serde(default = "default_kind")]
        unit_kind: UnitKind,
        /// When vesting starts (ms).
        start_ms: u64,
        /// Nothing vests before `start_ms + cliff_ms`.
        #[serde(default)]
        cliff_ms: u64,
        /// Everything has vested at `start_ms + duration_ms`.
        duration_ms: u64,
        /// Equal steps instead of linear vesting.
        #[serde(default)]
        steps: Option<u32>,
        /// A milestone of the config's `term_module`: nothing vests until
        /// governance approves it.
        #[serde(default)]
        milestone: Option<String>,
    },
    /// Releases the caller's vested units (an op of the member).
    Claim {},
    /// Releases a member's vested units (anyone: it only moves what is due).
    Release {
        /// The member.
        member: String,
    },
    /// Cancels a member's grants when it leaves (exit module only).
    CancelOnExit {
        /// The leaver.
        member: String,
        /// Release what has vested (good leaver) or forfeit it too.
        keep_vested: bool,
    },
    /// Cancels one grant (governance only).
    CancelGrant {
        /// Grant id.
        grant: u64,
        /// Release what has vested, or forfeit it too.
        keep_vested: bool,
    },
}

fn default_kind() -> UnitKind {
    UnitKind::Economic
}

/// Queries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum QueryMsg {
    /// A member's vested and unvested units at a time (default: now).
    Vested {
        /// The member.
        member: String,
        /// The time (ms); the query's time if absent.
        #[serde(default)]
        at_ms: Option<u64>,
    },
    /// One grant.
    Grant {
        /// Grant id.
        id: u64,
    },
    /// A member's grants, in id order.
    Grants {
        /// The member.
        member: String,
    },
    /// The config.
    Config {},
}

/// Sums for one kind of unit.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Amounts {
    /// Vested (released or not).
    pub vested: u64,
    /// Not vested yet (0 for cancelled grants).
    pub unvested: u64,
    /// Already moved to membership.
    pub released: u64,
    /// Vested, not yet released.
    pub releasable: u64,
}

/// Answer of `vested`: totals over all the member's grants, and per kind.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VestedResponse {
    /// Vested units, both kinds.
    pub vested: u64,
    /// Unvested units, both kinds.
    pub unvested: u64,
    /// Whether any live grant is still before its cliff at `at_ms`.
    pub in_cliff: bool,
    /// The time asked about.
    pub at_ms: u64,
    /// Economic-unit grants.
    pub economic: Amounts,
    /// Voting-unit grants.
    pub voting: Amounts,
}

/// Answer of `grants`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantsResponse {
    /// The grants.
    pub grants: Vec<Grant>,
}

/// Data of `create_grant`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedResponse {
    /// The new grant's id.
    pub id: u64,
}

/// Data of `claim`, `release` and `cancel_on_exit`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleasedResponse {
    /// Economic units moved to the member.
    pub economic: u64,
    /// Voting units moved to the member.
    pub voting: u64,
    /// Units forfeited (cancellations only).
    pub forfeited: u64,
}
