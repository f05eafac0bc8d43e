//! The interface of the standard term module: what clients send it and
//! what it answers, as types.
//!
//! This crate owns the term module's wire formats: its init config
//! ([`InitConfig`]), calls ([`HandleMsg`]), queries ([`QueryMsg`]) and
//! their answers ([`StatusResponse`], [`MilestonesResponse`],
//! [`ReviewsResponse`] and the others), and the records those answers carry.
//! It does not own the rules (the `term` crate beside it, which re-exports
//! these types as its `msg`). The split a review sends uses the treasury's
//! own types (`treasury-api`).
//!
//! No module talks to term, but the node's portfolio reads its end, its
//! next review and its milestones as deadlines, with these types:
//!
//! ```
//! use term_api::QueryMsg;
//!
//! assert_eq!(serde_json::to_value(QueryMsg::Status {}).unwrap(), serde_json::json!({"status": {}}));
//! ```
//!
//! The JSON forms are in the module's `README.md`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use treasury_api::Tranche;

/// The default cap of one KPI's attainment (200% of target).
pub const DEFAULT_MAX_ATTAINMENT_BPS: u64 = 20_000;

// ----- config -----

/// The init config, as written in a charter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InitConfig {
    /// The membership instance (who is a member).
    pub membership: String,
    /// The governance (voting) instance: renewals, added milestones, new
    /// split rules and review application come from it; reviews are opened in it.
    pub governance: String,
    /// The exit instance, sent `dissolve` when the term ends.
    pub exit: String,
    /// The treasury instance, sent `set_split` when a review with a split applies.
    /// Needed if `split_rule` is set.
    #[serde(default)]
    pub treasury: Option<String>,
    /// When the term starts (ms since the Unix epoch; the op clock).
    pub start_ms: u64,
    /// When it ends unless renewed.
    pub end_ms: u64,
    /// Milestones.
    #[serde(default)]
    pub milestones: Vec<MilestoneSpec>,
    /// The KPI metrics members may record: name → description.
    #[serde(default)]
    pub kpis: BTreeMap<String, KpiSpec>,
    /// When reviews fall due (no reviews if absent).
    #[serde(default)]
    pub reviews: Option<ReviewSchedule>,
    /// The voting kind of review proposals (`default` if absent).
    #[serde(default)]
    pub review_kind: Option<String>,
    /// The voting period of review proposals (the voting module's default if absent).
    #[serde(default)]
    pub review_period_ms: Option<u64>,
    /// How a review computes the revenue split from KPIs (absent: reviews do not change the split).
    #[serde(default)]
    pub split_rule: Option<SplitRule>,
}

/// The stored config: the init config without milestones and split rule
/// (which change later and are stored on their own).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// The membership instance.
    pub membership: String,
    /// The governance instance.
    pub governance: String,
    /// The exit instance.
    pub exit: String,
    /// The treasury instance.
    pub treasury: Option<String>,
    /// When the term started.
    pub start_ms: u64,
    /// The original end, before any renewal.
    pub initial_end_ms: u64,
    /// The declared KPI metrics.
    pub kpis: BTreeMap<String, KpiSpec>,
    /// The review schedule.
    pub reviews: Option<ReviewSchedule>,
    /// The voting kind of review proposals.
    pub review_kind: Option<String>,
    /// The voting period of review proposals.
    pub review_period_ms: Option<u64>,
}

/// A declared KPI metric.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KpiSpec {
    /// What the metric measures, for people.
    #[serde(default)]
    pub description: String,
    /// Its unit (`subscribers`, `EUR cents`…), for people.
    #[serde(default)]
    pub unit: String,
    /// The members who may record it (any current member if empty). Naming
    /// the counterparty of the member the metric measures keeps a partner
    /// from grading itself.
    #[serde(default)]
    pub reporters: Vec<String>,
}

/// When reviews fall due: exactly one of `every_ms` or `at`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewSchedule {
    /// Review `n` (from 1) falls due at `start_ms + n * every_ms`; its KPI period is `"n"`.
    #[serde(default)]
    pub every_ms: Option<u64>,
    /// Explicit dates, ascending, each with the KPI period it reviews.
    #[serde(default)]
    pub at: Vec<ReviewDate>,
}

/// One explicit review date.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewDate {
    /// When the review falls due.
    pub at_ms: u64,
    /// The KPI period it reviews (`"2026-Q1"`).
    pub period: String,
}

/// A milestone as configured or added.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MilestoneSpec {
    /// Unique id (`a-z 0-9 _ - .`, 1 to 64 bytes).
    pub id: String,
    /// What is to be done.
    pub title: String,
    /// When it is due.
    pub due_ms: u64,
    /// Members who may mark it done (current members).
    pub owners: Vec<String>,
}

/// How a review turns KPI attainment into a split.
///
/// Each member's weight is `base_bps × attainment_bps`, where attainment is
/// the mean of its targets' attainments (`value × 10000 / target`, each
/// clamped to `[min_attainment_bps, max_attainment_bps]`; a missing value
/// counts as 0 before clamping; a member without targets has 10000). The
/// weights are scaled to 10000 bps by largest remainder (ties to the lower
/// member id). If every weight is 0, the base split applies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitRule {
    /// Each member's base share, in bps; they add up to 10000.
    pub base_bps: BTreeMap<String, u64>,
    /// Which metric measures which member, and its target.
    #[serde(default)]
    pub targets: Vec<KpiTarget>,
    /// Lowest attainment one target counts for (default 0).
    #[serde(default)]
    pub min_attainment_bps: u64,
    /// Highest attainment one target counts for (default 20000).
    #[serde(default = "default_max_attainment")]
    pub max_attainment_bps: u64,
    /// If set, reviews send the treasury a waterfall with this recoup and
    /// these tranches and the KPI shares as its `rest`; otherwise a `fixed` split.
    #[serde(default)]
    pub waterfall: Option<WaterfallFrame>,
}

/// The part of a treasury waterfall a review keeps; the KPI shares become its `rest`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaterfallFrame {
    /// Pay back members' outstanding capital first.
    #[serde(default)]
    pub recoup: bool,
    /// Capped tranches, in the treasury's own type (the treasury checks
    /// their caps and shares when the review applies; it restarts tranche
    /// progress on every `set_split`, so prefer `recoup` alone with KPI
    /// reviews).
    #[serde(default)]
    pub tranches: Vec<Tranche>,
}

fn default_max_attainment() -> u64 {
    DEFAULT_MAX_ATTAINMENT_BPS
}

/// One KPI target of a split rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KpiTarget {
    /// A declared metric.
    pub metric: String,
    /// The member (a key of `base_bps`) whose weight it adjusts.
    pub member: String,
    /// The value that is 100% attainment; above 0.
    #[serde(deserialize_with = "whole_number")]
    pub target: u64,
}

// ----- records -----

/// A renewal, passed by governance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Renewal {
    /// When it was applied (op time).
    pub at_ms: u64,
    /// The end before.
    pub from_end_ms: u64,
    /// The end after.
    pub to_end_ms: u64,
}

/// The record of the term's end.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ended {
    /// The op time of the tick that ended it.
    pub at_ms: u64,
    /// Its height.
    pub height: u64,
    /// Who sent that tick.
    pub by: String,
    /// The reason given to the exit module.
    pub reason: String,
}

/// A milestone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Milestone {
    /// Id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Due date.
    pub due_ms: u64,
    /// Who may mark it done.
    pub owners: Vec<String>,
    /// Set when an owner marked it done.
    pub done: Option<Done>,
    /// Set when governance approved it (after it was marked done): what a
    /// milestone-gated release (a vesting grant's `milestone`) waits for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved: Option<Approval>,
}

impl Milestone {
    /// Whether governance approved it.
    pub fn is_approved(&self) -> bool {
        self.approved.is_some()
    }
}

/// A milestone's approval by governance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    /// When (op time).
    pub at_ms: u64,
    /// Height of the op.
    pub height: u64,
    /// Who sent it (`module:<governance>`).
    pub by: String,
}

/// A milestone's completion.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Done {
    /// When (op time).
    pub at_ms: u64,
    /// The owner who marked it.
    pub by: String,
    /// An optional note.
    pub note: String,
}

/// A recorded KPI value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KpiRecord {
    /// Metric.
    pub metric: String,
    /// Period label.
    pub period: String,
    /// The value.
    pub value: u64,
    /// The member who recorded it.
    pub recorded_by: String,
    /// When (op time).
    pub recorded_ms: u64,
    /// How many times its recorder corrected it.
    pub corrections: u32,
}

/// An opened review.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    /// Its number (from 1).
    pub number: u64,
    /// The KPI period it reviews.
    pub period: String,
    /// When it fell due.
    pub due_ms: u64,
    /// When `tick` opened it (op time).
    pub opened_ms: u64,
    /// Each member's attainment, in bps, when it was opened (empty without a split rule).
    pub attainment_bps: BTreeMap<String, u64>,
    /// The split it sets when applied (`None` without a split rule).
    pub split: Option<BTreeMap<String, u64>>,
    /// The waterfall frame the split goes into (from the rule when opened).
    #[serde(default)]
    pub waterfall: Option<WaterfallFrame>,
    /// When governance applied it.
    pub applied_ms: Option<u64>,
}

// ----- messages -----

/// Calls (`handle`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HandleMsg {
    /// Anyone: opens due reviews, or ends the term once it is past its end.
    Tick {},
    /// Governance: moves the end later.
    Renew {
        /// The new end; after the current end and after now.
        end_ms: u64,
    },
    /// A current member, in its own op: records a KPI value.
    RecordKpi {
        /// A declared metric.
        metric: String,
        /// A whole number from 0 to 18446744073709551615.
        #[serde(deserialize_with = "whole_number")]
        value: u64,
        /// The period label (`"2026-Q1"`, or `"3"` for review 3 of an `every_ms` schedule).
        period: String,
    },
    /// An owner, in its own op: marks a milestone done.
    CompleteMilestone {
        /// The milestone.
        id: String,
        /// An optional note.
        #[serde(default)]
        note: String,
    },
    /// Governance: adds a milestone.
    AddMilestone(MilestoneSpec),
    /// Governance: approves a milestone its owners marked done; releases
    /// gated on it (vesting grants naming it) may then go ahead.
    ApproveMilestone {
        /// The milestone.
        id: String,
    },
    /// Governance: replaces the split rule (`null` removes it).
    SetSplitRule {
        /// The new rule.
        split_rule: Option<SplitRule>,
    },
    /// Governance (a review proposal's message): applies an opened review.
    ApplyReview {
        /// The review number.
        review: u64,
    },
}

/// Queries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueryMsg {
    /// The term: [`StatusResponse`].
    Status {},
    /// Every milestone with its status: [`MilestonesResponse`].
    Milestones {},
    /// One milestone: [`MilestoneView`].
    Milestone {
        /// Id.
        id: String,
    },
    /// One KPI value: [`KpiResponse`].
    Kpi {
        /// Metric.
        metric: String,
        /// Period.
        period: String,
    },
    /// A metric's values by period: [`KpisResponse`].
    Kpis {
        /// Metric.
        metric: String,
        /// Page after this period label.
        #[serde(default)]
        start_after: Option<String>,
        /// Page size (max 100).
        #[serde(default)]
        limit: Option<u32>,
    },
    /// Reviews, opened and scheduled: [`ReviewsResponse`].
    Reviews {
        /// Page after this review number.
        #[serde(default)]
        start_after: Option<u64>,
        /// Page size (max 100).
        #[serde(default)]
        limit: Option<u32>,
    },
    /// What a review of `period` would propose with the KPIs recorded now: [`SplitPreview`].
    PreviewSplit {
        /// The KPI period.
        period: String,
    },
    /// The config and the current split rule: [`ConfigResponse`].
    Config {},
    /// The kind of one of this module's messages for the voting module's
    /// decision table (`voting_api::KindQuery`, answered with a
    /// `voting_api::KindResponse`): `apply_review` is the config's
    /// `review_kind`.
    ProposalKind {
        /// The message, as a proposal carries it.
        msg: serde_json::Value,
    },
}

/// A milestone's status at the query's time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MilestoneStatus {
    /// Not done, not yet due.
    Pending,
    /// Not done, past its due date.
    Overdue,
    /// Done (see `late`).
    Done,
}

/// A milestone with its status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MilestoneView {
    /// The milestone.
    #[serde(flatten)]
    pub milestone: Milestone,
    /// Its status at the query's time.
    pub status: MilestoneStatus,
    /// Done after its due date.
    pub late: bool,
}

/// Answer of `milestones`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MilestonesResponse {
    /// By due date, then id.
    pub milestones: Vec<MilestoneView>,
}

/// The next review to open.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NextReview {
    /// Its number.
    pub number: u64,
    /// When it falls due.
    pub due_ms: u64,
    /// The KPI period it reviews.
    pub period: String,
}

/// Answer of `status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusResponse {
    /// Start.
    pub start_ms: u64,
    /// Current end.
    pub end_ms: u64,
    /// The query's time (the latest applied op's).
    pub now_ms: u64,
    /// `active`, `ending` (past the end, awaiting a tick) or `ended`.
    pub phase: String,
    /// Renewals so far.
    pub renewals: Vec<Renewal>,
    /// The next review before the end, if any.
    pub next_review: Option<NextReview>,
    /// When the next `tick` has something to do: the next review's date or the end.
    pub next_due_ms: u64,
    /// The last applied review (0: none).
    pub last_applied_review: u64,
    /// Milestones past due and not done.
    pub overdue_milestones: Vec<String>,
    /// The end record, once ended.
    pub ended: Option<Ended>,
}

/// Answer of `kpi`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KpiResponse {
    /// The record, if any.
    pub kpi: Option<KpiRecord>,
}

/// Answer of `kpis`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KpisResponse {
    /// Records in period-label order.
    pub kpis: Vec<KpiRecord>,
}

/// A review, opened or scheduled.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewView {
    /// Number.
    pub number: u64,
    /// KPI period.
    pub period: String,
    /// Due date.
    pub due_ms: u64,
    /// `scheduled`, `due` (a tick would open it), `opened`, `applied` or `superseded`
    /// (opened, not applied, and a later review was applied).
    pub status: String,
    /// The opened review's record.
    pub review: Option<Review>,
}

/// Answer of `reviews`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewsResponse {
    /// By number.
    pub reviews: Vec<ReviewView>,
}

/// Answer of `preview_split`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitPreview {
    /// Each member's attainment, bps.
    pub attainment_bps: BTreeMap<String, u64>,
    /// The split, bps (`null` without a split rule).
    pub split: Option<BTreeMap<String, u64>>,
}

/// Answer of `config`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigResponse {
    /// The stored config.
    #[serde(flatten)]
    pub config: Config,
    /// The current split rule.
    pub split_rule: Option<SplitRule>,
}

/// Data of `tick`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TickResponse {
    /// Whether this tick ended the term.
    pub ended: bool,
    /// The reviews it opened, by number.
    pub opened_reviews: Vec<u64>,
}

/// Deserializes a KPI value or target: a JSON integer from 0 to `u64::MAX`,
/// with errors that say what is wrong with anything else.
fn whole_number<'de, D: serde::Deserializer<'de>>(deserializer: D) -> core::result::Result<u64, D::Error> {
    struct Whole;
    impl serde::de::Visitor<'_> for Whole {
        type Value = u64;
        fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.write_str("a whole number from 0 to 18446744073709551615")
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> core::result::Result<u64, E> {
            Ok(v)
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> core::result::Result<u64, E> {
            u64::try_from(v).map_err(|_| E::custom(format_args!("KPI values must not be negative, got {v}")))
        }
        fn visit_f64<E: serde::de::Error>(self, _: f64) -> core::result::Result<u64, E> {
            Err(E::custom(
                "KPI values are whole numbers from 0 to 18446744073709551615 (scale fractions, e.g. record \
                 percent as basis points); got a fraction, an exponent or a number too large",
            ))
        }
    }
    deserializer.deserialize_any(Whole)
}
