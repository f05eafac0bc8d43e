//! Term: the standard polypact module for a partnership's duration and its
//! performance cycle.
//!
//! This crate owns the **term** (start, end, renewals), the **sunset
//! clause** (once the end has passed with no renewal, `tick` asks the exit
//! module to dissolve the partnership), **milestones** (dates, owners,
//! done/overdue), **KPI records** (integers recorded by members per metric
//! and period) and **review cycles** (at each due review, `tick` opens a
//! proposal in the voting module; when it executes, the review is applied
//! and, if the charter ties the revenue split to KPIs, the new split goes to
//! the treasury with `set_split`).
//!
//! It does not own who the members are (the membership module's `member`
//! query), how proposals are decided (the voting module, which must list
//! this instance in its `module_proposers`), how money is split (the
//! treasury, which must list this instance in its `split_managers`) or how
//! the partnership is wound up (the exit module's `dissolve`, which must
//! accept this instance as its `term_module`). Init reads those modules'
//! configs and refuses a charter that does not wire them so.
//!
//! Modules have no timers: nothing happens at a date by itself. Someone (a
//! member's node on a schedule, or a person) sends `{"tick":{}}` after the
//! date, and the op's `time_ms` decides what is due. The message formats and
//! the exact rules are in `README.md`.
//!
//! State layout:
//!
//! | name | type | what |
//! |---|---|---|
//! | `config` | `Item<Config>` | validated config (without milestones and split rule) |
//! | `term` | `Item<TermState>` | end, renewals, the next review to open, the last applied, the end record |
//! | `split_rule` | `Item<SplitRule>` | how reviews compute the split (absent: reviews do not touch the split) |
//! | `milestones` | `Map<&str, Milestone>` | milestones by id |
//! | `kpis` | `Map<(&str, &str), KpiRecord>` | KPI values by metric, then period |
//! | `reviews` | `Map<u64, Review>` | opened reviews by number |
//! | `review_by_period` | `Map<&str, u64>` | KPI period → the review that used it (freezes corrections) |

use std::collections::BTreeMap;

use polypact_sdk::{Ctx, Event, Item, Json, Map, QueryCtx, Response, to_json};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Basis points in a whole: a split's weights add up to this.
pub const BPS_TOTAL: u64 = 10_000;
/// The default cap of one KPI's attainment (200% of target).
pub const DEFAULT_MAX_ATTAINMENT_BPS: u64 = 20_000;
/// The highest cap a split rule may set (1000% of target).
pub const ATTAINMENT_LIMIT_BPS: u64 = 100_000;
/// Most milestones a term may have.
pub const MAX_MILESTONES: usize = 256;
/// Most KPI metrics a config may declare.
pub const MAX_KPIS: usize = 64;
/// Most explicit review dates.
pub const MAX_REVIEW_DATES: usize = 1_024;
/// Most reviews one `tick` opens (the rest wait for the next tick).
pub const MAX_REVIEWS_PER_TICK: u64 = 8;
/// Longest milestone id, metric name or period label, in bytes.
pub const MAX_NAME_LEN: usize = 64;
/// Longest milestone title, in bytes.
pub const MAX_TITLE_LEN: usize = 256;
/// Longest completion note, in bytes.
pub const MAX_NOTE_LEN: usize = 1_024;
/// Most owners of one milestone.
pub const MAX_OWNERS: usize = 32;
/// Most tranches of a split rule's waterfall frame.
pub const MAX_TRANCHES: usize = 16;
/// Largest page of a paged query.
pub const MAX_PAGE: u32 = 100;
/// Page size when a query does not set one.
pub const DEFAULT_PAGE: u32 = 20;
/// The reason this module gives the exit module when the term ends.
pub const END_REASON: &str = "term ended";

const CONFIG: Item<Config> = Item::new("config");
const TERM: Item<TermState> = Item::new("term");
const SPLIT_RULE: Item<SplitRule> = Item::new("split_rule");
const MILESTONES: Map<&str, Milestone> = Map::new("milestones");
const KPIS: Map<(&str, &str), KpiRecord> = Map::new("kpis");
const REVIEWS: Map<u64, Review> = Map::new("reviews");
const REVIEW_BY_PERIOD: Map<&str, u64> = Map::new("review_by_period");

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
    /// Capped tranches in the treasury's format (the treasury checks them
    /// when the review applies; it restarts tranche progress on every
    /// `set_split`, so prefer `recoup` alone with KPI reviews).
    #[serde(default)]
    pub tranches: Vec<Value>,
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

// ----- state -----

/// The term's running state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TermState {
    /// The current end.
    pub end_ms: u64,
    /// Every renewal, oldest first.
    pub renewals: Vec<Renewal>,
    /// The number of the first review not opened yet (reviews count from 1).
    pub next_review: u64,
    /// The number of the last applied review (0: none).
    pub last_applied: u64,
    /// Set when `tick` ended the term.
    pub ended: Option<Ended>,
}

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

#[derive(Deserialize)]
struct MemberAnswer {
    active: bool,
}

// ----- errors -----

/// Why a term call failed; the caller sees the text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TermError {
    /// Storage, decoding or a query failed.
    #[error(transparent)]
    Sdk(#[from] polypact_sdk::Error),
    /// A bad config.
    #[error("invalid term config: {0}")]
    Config(String),
    /// The caller may not do this.
    #[error("not allowed: {0}")]
    NotAllowed(String),
    /// The caller is not a current member.
    #[error("not allowed: {member} is not a current member ({reason}); only members may {what}")]
    NotMember {
        /// The caller.
        member: String,
        /// What membership said.
        reason: String,
        /// What was tried.
        what: &'static str,
    },
    /// A bad KPI record.
    #[error("invalid KPI: {0}")]
    BadKpi(String),
    /// A bad milestone or completion.
    #[error("invalid milestone: {0}")]
    BadMilestone(String),
    /// No such milestone.
    #[error("there is no milestone {0:?}")]
    UnknownMilestone(String),
    /// A bad renewal.
    #[error("invalid renewal: {0}")]
    BadRenewal(String),
    /// A bad split rule.
    #[error("invalid split rule: {0}")]
    BadSplitRule(String),
    /// A review that cannot be applied.
    #[error("cannot apply review {review}: {reason}")]
    Review {
        /// The review.
        review: u64,
        /// Why.
        reason: String,
    },
    /// `tick` with nothing to do.
    #[error("nothing is due at {now_ms}: {next}; send tick again then (the status query shows next_due_ms)")]
    NothingDue {
        /// The op's time.
        now_ms: u64,
        /// What comes next.
        next: String,
    },
    /// The term already ended.
    #[error("the term already ended at {0}")]
    Ended(u64),
}

type Result<T> = core::result::Result<T, TermError>;

// ----- validation -----

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

fn check_instance(field: &str, name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(TermError::Config(format!("{field} must name a module instance")));
    }
    Ok(())
}

fn is_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME_LEN
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'.'))
}

fn check_period(period: &str) -> core::result::Result<(), String> {
    if period.is_empty() || period.len() > MAX_NAME_LEN || !period.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "period {period:?} must be 1 to {MAX_NAME_LEN} printable ASCII characters without spaces (e.g. \"2026-Q1\")"
        ));
    }
    Ok(())
}

fn check_milestone(spec: &MilestoneSpec) -> Result<()> {
    let bad = |m: String| Err(TermError::BadMilestone(m));
    if !is_id(&spec.id) {
        return bad(format!(
            "id {:?} must be 1 to {MAX_NAME_LEN} characters of a-z, 0-9, `_`, `-` or `.`",
            spec.id
        ));
    }
    if spec.title.trim().is_empty() || spec.title.len() > MAX_TITLE_LEN {
        return bad(format!("{}: the title must be 1 to {MAX_TITLE_LEN} bytes", spec.id));
    }
    if spec.owners.is_empty() || spec.owners.len() > MAX_OWNERS {
        return bad(format!("{}: give 1 to {MAX_OWNERS} owners", spec.id));
    }
    let mut sorted = spec.owners.clone();
    sorted.sort();
    sorted.dedup();
    if sorted.len() != spec.owners.len() {
        return bad(format!("{}: an owner is listed twice", spec.id));
    }
    Ok(())
}

fn check_split_rule(rule: &SplitRule, kpis: &BTreeMap<String, KpiSpec>) -> Result<()> {
    let bad = |m: String| Err(TermError::BadSplitRule(m));
    if rule.base_bps.is_empty() {
        return bad("base_bps must name at least one member".into());
    }
    let mut sum: u64 = 0;
    for (member, bps) in &rule.base_bps {
        if member.trim().is_empty() {
            return bad("base_bps has an empty member id".into());
        }
        sum = sum.checked_add(*bps).ok_or_else(|| TermError::BadSplitRule("base_bps overflow".into()))?;
    }
    if sum != BPS_TOTAL {
        return bad(format!("base_bps must add up to {BPS_TOTAL}, they add up to {sum}"));
    }
    if rule.min_attainment_bps > rule.max_attainment_bps || rule.max_attainment_bps > ATTAINMENT_LIMIT_BPS {
        return bad(format!(
            "need min_attainment_bps <= max_attainment_bps <= {ATTAINMENT_LIMIT_BPS}, got {} and {}",
            rule.min_attainment_bps, rule.max_attainment_bps
        ));
    }
    if rule.waterfall.as_ref().is_some_and(|w| w.tranches.len() > MAX_TRANCHES) {
        return bad(format!("a waterfall frame has at most {MAX_TRANCHES} tranches"));
    }
    let mut seen = Vec::new();
    for t in &rule.targets {
        if !kpis.contains_key(&t.metric) {
            return bad(format!("target metric {:?} is not declared in kpis", t.metric));
        }
        if !rule.base_bps.contains_key(&t.member) {
            return bad(format!("target of {:?} names {}, who has no base_bps", t.metric, t.member));
        }
        if t.target == 0 {
            return bad(format!("the target of {:?} for {} must be above 0", t.metric, t.member));
        }
        if seen.contains(&(&t.metric, &t.member)) {
            return bad(format!("metric {:?} targets {} twice", t.metric, t.member));
        }
        seen.push((&t.metric, &t.member));
    }
    Ok(())
}

fn check_schedule(schedule: &ReviewSchedule, start_ms: u64) -> Result<()> {
    let bad = |m: String| Err(TermError::Config(m));
    match (schedule.every_ms, schedule.at.is_empty()) {
        (Some(_), false) | (None, true) => {
            return bad("reviews takes exactly one of every_ms or a non-empty at list".into());
        }
        (Some(0), _) => return bad("reviews.every_ms must be above 0".into()),
        _ => {}
    }
    if schedule.at.len() > MAX_REVIEW_DATES {
        return bad(format!("at most {MAX_REVIEW_DATES} review dates"));
    }
    let mut previous = start_ms;
    let mut periods: Vec<&str> = Vec::new();
    for date in &schedule.at {
        if date.at_ms <= previous {
            return bad(format!(
                "review dates must be after start_ms and strictly ascending; {} is not",
                date.at_ms
            ));
        }
        previous = date.at_ms;
        check_period(&date.period).map_err(TermError::Config)?;
        if periods.contains(&date.period.as_str()) {
            return bad(format!("review period {:?} is used twice", date.period));
        }
        periods.push(&date.period);
    }
    Ok(())
}

// ----- helpers -----

/// The config of another module instance, as JSON.
fn config_of(ctx: &QueryCtx, module: &str) -> Result<Value> {
    ctx.query::<Value>(module, &json!({"config": {}})).map_err(|e| {
        TermError::Config(format!(
            "cannot read the config of module {module:?} ({e}); list term after it in the charter"
        ))
    })
}

fn names_me(list: &Value, me: &str) -> bool {
    list.as_array().is_some_and(|a| a.iter().any(|v| v.as_str() == Some(me)))
}

/// Checks at init that the modules this term relies on will accept its
/// messages, so a miswired charter fails at genesis, not at the first
/// review or at the end of the term.
fn check_wiring(ctx: &QueryCtx, config: &Config, split_rule: bool) -> Result<()> {
    let me = ctx.module();
    let exit = config_of(ctx, &config.exit)?;
    if exit.get("term_module").and_then(Value::as_str) != Some(me) {
        return Err(TermError::Config(format!(
            "the exit module {:?} does not name {me:?} as its term_module, so the term could not end; set \"term_module\": {me:?} in its config",
            config.exit
        )));
    }
    if config.reviews.is_some() {
        let voting = config_of(ctx, &config.governance)?;
        if !names_me(&voting["module_proposers"], me) {
            return Err(TermError::Config(format!(
                "the governance module {:?} does not list {me:?} in module_proposers, so reviews could not be opened; add it there",
                config.governance
            )));
        }
        let kind = config.review_kind.as_deref().unwrap_or("default");
        if voting["rules"].get(kind).is_none() {
            return Err(TermError::Config(format!(
                "review_kind {kind:?} is not a rule of the governance module {:?}; add it to its decision table",
                config.governance
            )));
        }
        if let Some(period) = config.review_period_ms {
            let min = voting["min_period_ms"].as_u64().unwrap_or(0);
            let max = voting["max_period_ms"].as_u64().unwrap_or(u64::MAX);
            if period < min || period > max {
                return Err(TermError::Config(format!(
                    "review_period_ms {period} is outside the governance module's voting periods ({min} to {max})"
                )));
            }
        }
    }
    if split_rule && let Some(treasury) = &config.treasury {
        let t = config_of(ctx, treasury)?;
        if !names_me(&t["split_managers"], me) {
            return Err(TermError::Config(format!(
                "the treasury {treasury:?} does not list {me:?} in split_managers, so reviews could not set the split; add it there"
            )));
        }
    }
    Ok(())
}

/// The split rule's members must be current members (the treasury pays members).
fn check_rule_members(ctx: &QueryCtx, config: &Config, rule: &SplitRule) -> Result<()> {
    for member in rule.base_bps.keys() {
        membership_check(ctx, config, member).map_err(|reason| {
            TermError::BadSplitRule(format!(
                "base_bps names {member}, who is not a current member ({reason})"
            ))
        })?;
    }
    Ok(())
}

fn is_governance(ctx: &Ctx, config: &Config) -> bool {
    ctx.sender_module() == Some(config.governance.as_str())
}

fn require_governance(ctx: &Ctx, config: &Config, what: &str) -> Result<()> {
    if is_governance(ctx, config) {
        Ok(())
    } else {
        Err(TermError::NotAllowed(format!(
            "only the governance module {:?} may {what}; propose it there",
            config.governance
        )))
    }
}

/// `Ok(())` if `member` is an active member; else why not.
fn membership_check(ctx: &QueryCtx, config: &Config, member: &str) -> core::result::Result<(), String> {
    match ctx.query::<MemberAnswer>(&config.membership, &json!({"member": {"member": member}})) {
        Ok(m) if m.active => Ok(()),
        Ok(_) => Err(format!("{member} is a former member")),
        Err(polypact_sdk::Error::Query { reason, .. }) => Err(reason),
        Err(e) => Err(e.to_string()),
    }
}

fn require_member(ctx: &Ctx, config: &Config, what: &'static str) -> Result<String> {
    let caller = ctx.caller().to_owned();
    if let Some(module) = ctx.sender_module() {
        return Err(TermError::NotAllowed(format!(
            "members {what} in their own ops, not through module {module:?}"
        )));
    }
    membership_check(ctx, config, &caller).map_err(|reason| TermError::NotMember {
        member: caller.clone(),
        reason,
        what,
    })?;
    Ok(caller)
}

/// Review `n`'s due date and period, if the schedule has one.
fn scheduled(config: &Config, n: u64) -> Option<(u64, String)> {
    let schedule = config.reviews.as_ref()?;
    if n == 0 {
        return None;
    }
    if let Some(every) = schedule.every_ms {
        let due = every.checked_mul(n).and_then(|d| d.checked_add(config.start_ms))?;
        return Some((due, n.to_string()));
    }
    let index = usize::try_from(n - 1).ok()?;
    schedule.at.get(index).map(|d| (d.at_ms, d.period.clone()))
}

fn milestone_view(m: Milestone, now: u64) -> MilestoneView {
    let (status, late) = match &m.done {
        Some(done) => (MilestoneStatus::Done, done.at_ms > m.due_ms),
        None if now > m.due_ms => (MilestoneStatus::Overdue, false),
        None => (MilestoneStatus::Pending, false),
    };
    MilestoneView { milestone: m, status, late }
}

/// Each member's attainment and the split, for the KPI records of `period`.
pub fn compute_split(ctx: &QueryCtx, rule: &SplitRule, period: &str) -> Result<SplitPreview> {
    let mut values = BTreeMap::new();
    for t in &rule.targets {
        if !values.contains_key(&t.metric) {
            let value = KPIS.may_load(ctx, (&t.metric, period))?.map(|r| r.value);
            values.insert(t.metric.clone(), value);
        }
    }
    Ok(split_from_values(rule, &values))
}

/// The split rule's arithmetic, on the values of one period (`None`: not recorded).
pub fn split_from_values(rule: &SplitRule, values: &BTreeMap<String, Option<u64>>) -> SplitPreview {
    let full = u128::from(BPS_TOTAL);
    let (lo, hi) = (u128::from(rule.min_attainment_bps), u128::from(rule.max_attainment_bps));
    let mut attainment_bps = BTreeMap::new();
    let mut weights: BTreeMap<&str, u128> = BTreeMap::new();
    for (member, base) in &rule.base_bps {
        let mut sum: u128 = 0;
        let mut count: u128 = 0;
        for t in rule.targets.iter().filter(|t| t.member == *member) {
            let value = u128::from(values.get(&t.metric).copied().flatten().unwrap_or(0));
            // u64 × 10000 fits in u128; the target is above 0 (checked).
            let raw = value.saturating_mul(full) / u128::from(t.target.max(1));
            sum = sum.saturating_add(raw.clamp(lo, hi));
            count += 1;
        }
        let attainment = sum.checked_div(count).unwrap_or(full);
        // attainment ≤ ATTAINMENT_LIMIT_BPS and base ≤ BPS_TOTAL: no overflow.
        attainment_bps.insert(member.clone(), u64::try_from(attainment).unwrap_or(u64::MAX));
        weights.insert(member, u128::from(*base).saturating_mul(attainment));
    }
    let total: u128 = weights.values().fold(0u128, |a, w| a.saturating_add(*w));
    if total == 0 {
        return SplitPreview { attainment_bps, split: Some(rule.base_bps.clone()) };
    }
    // Largest remainder: floor shares, then one bps each to the largest remainders.
    let mut split = BTreeMap::new();
    let mut remainders: Vec<(u128, &str)> = Vec::new();
    let mut given: u128 = 0;
    for (member, w) in &weights {
        let scaled = w.saturating_mul(full);
        let share = scaled / total;
        given += share;
        remainders.push((scaled % total, member));
        split.insert((*member).to_owned(), share);
    }
    // Larger remainder first; equal remainders go to the lower member id.
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
    let mut left = full.saturating_sub(given);
    for (_, member) in remainders {
        if left == 0 {
            break;
        }
        if let Some(s) = split.get_mut(member) {
            *s += 1;
            left -= 1;
        }
    }
    let split = split.into_iter().map(|(m, s)| (m, u64::try_from(s).unwrap_or(u64::MAX))).collect();
    SplitPreview { attainment_bps, split: Some(split) }
}

/// The treasury message that sets `split` (members with 0 bps left out, as
/// the treasury asks): `{"set_split":{"fixed":{"shares":{…}}}}`, or a
/// waterfall with the rule's frame and the shares as its `rest`.
pub fn set_split_msg(rule_frame: Option<&WaterfallFrame>, split: &BTreeMap<String, u64>) -> Value {
    let shares: BTreeMap<&str, u64> =
        split.iter().filter(|(_, bps)| **bps > 0).map(|(m, bps)| (m.as_str(), *bps)).collect();
    let fixed = json!({"fixed": {"shares": shares}});
    match rule_frame {
        None => json!({"set_split": fixed}),
        Some(frame) => json!({"set_split": {"waterfall": {
            "recoup": frame.recoup,
            "tranches": frame.tranches,
            "rest": fixed,
        }}}),
    }
}

fn describe_split(split: &BTreeMap<String, u64>) -> String {
    split.iter().map(|(m, bps)| format!("{m} {bps} bps")).collect::<Vec<_>>().join(", ")
}

// ----- entry points -----

/// `init`: validates and stores the config, the milestones and the split rule.
pub fn init(ctx: &mut Ctx, config: InitConfig) -> Result<Response> {
    check_instance("membership", &config.membership)?;
    check_instance("governance", &config.governance)?;
    check_instance("exit", &config.exit)?;
    if config.start_ms >= config.end_ms {
        return Err(TermError::Config(format!(
            "start_ms ({}) must be before end_ms ({})",
            config.start_ms, config.end_ms
        )));
    }
    if config.kpis.len() > MAX_KPIS {
        return Err(TermError::Config(format!("at most {MAX_KPIS} kpis")));
    }
    for metric in config.kpis.keys() {
        if !is_id(metric) {
            return Err(TermError::Config(format!(
                "kpi name {metric:?} must be 1 to {MAX_NAME_LEN} characters of a-z, 0-9, `_`, `-` or `.`"
            )));
        }
    }
    if let Some(schedule) = &config.reviews {
        check_schedule(schedule, config.start_ms)?;
    }
    for (metric, spec) in &config.kpis {
        if spec.reporters.len() > MAX_OWNERS {
            return Err(TermError::Config(format!("kpi {metric:?}: at most {MAX_OWNERS} reporters")));
        }
    }
    if config.review_period_ms == Some(0) {
        return Err(TermError::Config("review_period_ms must be above 0 (or absent)".into()));
    }
    if config.milestones.len() > MAX_MILESTONES {
        return Err(TermError::Config(format!("at most {MAX_MILESTONES} milestones")));
    }
    let stored = Config {
        membership: config.membership,
        governance: config.governance,
        exit: config.exit,
        treasury: config.treasury,
        start_ms: config.start_ms,
        initial_end_ms: config.end_ms,
        kpis: config.kpis,
        reviews: config.reviews,
        review_kind: config.review_kind,
        review_period_ms: config.review_period_ms,
    };
    if let Some(t) = &stored.treasury {
        check_instance("treasury", t)?;
    }
    if let Some(rule) = &config.split_rule {
        check_split_rule(rule, &stored.kpis)?;
        if stored.treasury.is_none() {
            return Err(TermError::Config(
                "a split_rule needs treasury (the instance that receives set_split)".into(),
            ));
        }
        check_rule_members(ctx, &stored, rule)?;
        SPLIT_RULE.save(ctx, rule)?;
    }
    check_wiring(ctx, &stored, config.split_rule.is_some())?;
    for (metric, spec) in &stored.kpis {
        for reporter in &spec.reporters {
            membership_check(ctx, &stored, reporter).map_err(|reason| {
                TermError::Config(format!(
                    "kpi {metric:?}: reporter {reporter} is not a current member ({reason})"
                ))
            })?;
        }
    }
    for spec in &config.milestones {
        add_milestone(ctx, &stored, spec)?;
    }
    CONFIG.save(ctx, &stored)?;
    TERM.save(
        ctx,
        &TermState {
            end_ms: config.end_ms,
            renewals: Vec::new(),
            next_review: 1,
            last_applied: 0,
            ended: None,
        },
    )?;
    Ok(Response::new().add_event(
        Event::new("term_configured")
            .attr("start_ms", stored.start_ms)
            .attr("end_ms", config.end_ms)
            .attr("milestones", config.milestones.len())
            .attr("kpis", stored.kpis.len())
            .attr("split_rule", config.split_rule.is_some()),
    ))
}

fn add_milestone(ctx: &mut Ctx, config: &Config, spec: &MilestoneSpec) -> Result<()> {
    check_milestone(spec)?;
    if MILESTONES.has(ctx, &spec.id)? {
        return Err(TermError::BadMilestone(format!("id {:?} is already used", spec.id)));
    }
    for owner in &spec.owners {
        membership_check(ctx, config, owner).map_err(|reason| {
            TermError::BadMilestone(format!("{}: owner {owner} is not a current member ({reason})", spec.id))
        })?;
    }
    let m = Milestone {
        id: spec.id.clone(),
        title: spec.title.clone(),
        due_ms: spec.due_ms,
        owners: spec.owners.clone(),
        done: None,
    };
    MILESTONES.save(ctx, &spec.id, &m)?;
    Ok(())
}

/// `handle`: every call of [`HandleMsg`].
pub fn handle(ctx: &mut Ctx, msg: HandleMsg) -> Result<Response> {
    let config = CONFIG.load(ctx)?;
    let mut term = TERM.load(ctx)?;
    if let Some(ended) = &term.ended {
        // Normally unreachable: the exit module dissolves the partnership in the same op.
        return Err(TermError::Ended(ended.at_ms));
    }
    match msg {
        HandleMsg::Tick {} => tick(ctx, &config, term),
        HandleMsg::Renew { end_ms } => {
            require_governance(ctx, &config, "renew the term")?;
            let now = ctx.time_ms();
            if end_ms <= term.end_ms || end_ms <= now {
                return Err(TermError::BadRenewal(format!(
                    "the new end {end_ms} must be after the current end {} and after now ({now})",
                    term.end_ms
                )));
            }
            let renewal = Renewal { at_ms: now, from_end_ms: term.end_ms, to_end_ms: end_ms };
            term.end_ms = end_ms;
            term.renewals.push(renewal.clone());
            TERM.save(ctx, &term)?;
            Ok(Response::new().add_event(
                Event::new("term_renewed")
                    .attr("from_end_ms", renewal.from_end_ms)
                    .attr("to_end_ms", end_ms)
                    .attr("renewals", term.renewals.len()),
            ))
        }
        HandleMsg::RecordKpi { metric, value, period } => {
            let caller = require_member(ctx, &config, "record KPIs")?;
            record_kpi(ctx, &config, caller, metric, value, period)
        }
        HandleMsg::CompleteMilestone { id, note } => {
            let caller = ctx.caller().to_owned();
            if let Some(module) = ctx.sender_module() {
                return Err(TermError::NotAllowed(format!(
                    "owners mark milestones done in their own ops, not through module {module:?}"
                )));
            }
            let mut m =
                MILESTONES.may_load(ctx, &id)?.ok_or_else(|| TermError::UnknownMilestone(id.clone()))?;
            if !m.owners.contains(&caller) {
                return Err(TermError::NotAllowed(format!(
                    "only the owners of milestone {id:?} ({}) may mark it done",
                    m.owners.join(", ")
                )));
            }
            if let Some(done) = &m.done {
                return Err(TermError::BadMilestone(format!(
                    "{id:?} was already marked done by {} at {}",
                    done.by, done.at_ms
                )));
            }
            if note.len() > MAX_NOTE_LEN {
                return Err(TermError::BadMilestone(format!("the note is over {MAX_NOTE_LEN} bytes")));
            }
            let now = ctx.time_ms();
            let late = now > m.due_ms;
            m.done = Some(Done { at_ms: now, by: caller.clone(), note });
            MILESTONES.save(ctx, &id, &m)?;
            Ok(Response::new().add_event(
                Event::new("milestone_completed")
                    .attr("milestone", id)
                    .attr("by", caller)
                    .attr("due_ms", m.due_ms)
                    .attr("late", late),
            ))
        }
        HandleMsg::AddMilestone(spec) => {
            require_governance(ctx, &config, "add milestones")?;
            let count = MILESTONES.iter(ctx).take(MAX_MILESTONES + 1).count();
            if count >= MAX_MILESTONES {
                return Err(TermError::BadMilestone(format!(
                    "a term has at most {MAX_MILESTONES} milestones"
                )));
            }
            add_milestone(ctx, &config, &spec)?;
            Ok(Response::new().add_event(
                Event::new("milestone_added").attr("milestone", &spec.id).attr("due_ms", spec.due_ms),
            ))
        }
        HandleMsg::SetSplitRule { split_rule } => {
            require_governance(ctx, &config, "change the split rule")?;
            match &split_rule {
                Some(rule) => {
                    check_split_rule(rule, &config.kpis)?;
                    if config.treasury.is_none() {
                        return Err(TermError::BadSplitRule(
                            "this term has no treasury configured to send splits to".into(),
                        ));
                    }
                    check_rule_members(ctx, &config, rule)?;
                    SPLIT_RULE.save(ctx, rule)?;
                }
                None => SPLIT_RULE.remove(ctx),
            }
            Ok(Response::new().add_event(Event::new("split_rule_set").attr("removed", split_rule.is_none())))
        }
        HandleMsg::ApplyReview { review } => apply_review(ctx, &config, term, review),
    }
}

fn record_kpi(
    ctx: &mut Ctx,
    config: &Config,
    caller: String,
    metric: String,
    value: u64,
    period: String,
) -> Result<Response> {
    if !config.kpis.contains_key(&metric) {
        let known: Vec<&str> = config.kpis.keys().map(String::as_str).collect();
        return Err(TermError::BadKpi(format!(
            "unknown metric {metric:?}; this term declares {}",
            if known.is_empty() { "none".to_owned() } else { known.join(", ") }
        )));
    }
    let reporters = config.kpis.get(&metric).map(|k| k.reporters.as_slice()).unwrap_or_default();
    if !reporters.is_empty() && !reporters.contains(&caller) {
        return Err(TermError::NotAllowed(format!("only {} may record {metric}", reporters.join(", "))));
    }
    check_period(&period).map_err(TermError::BadKpi)?;
    let now = ctx.time_ms();
    let mut corrections = 0;
    if let Some(old) = KPIS.may_load(ctx, (&metric, &period))? {
        if old.recorded_by != caller {
            return Err(TermError::BadKpi(format!(
                "{metric} for {period} was recorded by {}; only its recorder may correct it",
                old.recorded_by
            )));
        }
        if let Some(review) = REVIEW_BY_PERIOD.may_load(ctx, &period)? {
            return Err(TermError::BadKpi(format!(
                "{metric} for {period} is final: review {review} already used it"
            )));
        }
        corrections = old.corrections.saturating_add(1);
    }
    let record = KpiRecord {
        metric: metric.clone(),
        period: period.clone(),
        value,
        recorded_by: caller.clone(),
        recorded_ms: now,
        corrections,
    };
    KPIS.save(ctx, (&metric, &period), &record)?;
    Ok(Response::new().add_event(
        Event::new(if corrections == 0 { "kpi_recorded" } else { "kpi_corrected" })
            .attr("metric", metric)
            .attr("period", period)
            .attr("value", value)
            .attr("by", caller),
    ))
}

fn tick(ctx: &mut Ctx, config: &Config, mut term: TermState) -> Result<Response> {
    let now = ctx.time_ms();
    if now >= term.end_ms {
        let ended = Ended {
            at_ms: now,
            height: ctx.height(),
            by: ctx.caller().to_owned(),
            reason: END_REASON.to_owned(),
        };
        term.ended = Some(ended);
        TERM.save(ctx, &term)?;
        return Ok(Response::new()
            .add_event(
                Event::new("term_ended")
                    .attr("end_ms", term.end_ms)
                    .attr("at_ms", now)
                    .attr("renewals", term.renewals.len())
                    .attr("exit", &config.exit),
            )
            .add_message(&config.exit, &json!({"dissolve": {"reason": END_REASON}}))?
            .set_data(&json!({"ended": true, "opened_reviews": []}))?);
    }
    let rule = SPLIT_RULE.may_load(ctx)?;
    let mut response = Response::new();
    let mut opened = Vec::new();
    while (opened.len() as u64) < MAX_REVIEWS_PER_TICK {
        let n = term.next_review;
        let Some((due_ms, period)) = scheduled(config, n) else { break };
        if due_ms > now || due_ms >= term.end_ms {
            break;
        }
        let preview = match &rule {
            Some(rule) => compute_split(ctx, rule, &period)?,
            None => SplitPreview { attainment_bps: BTreeMap::new(), split: None },
        };
        let description = match &preview.split {
            Some(split) => format!(
                "Term review {n} of KPI period {period}. If it passes and is executed, the revenue split becomes: {}. Attainment (bps): {}.",
                describe_split(split),
                describe_split(&preview.attainment_bps)
            ),
            None => format!(
                "Term review {n} of KPI period {period}. No split rule: applying it records the review."
            ),
        };
        let review = Review {
            number: n,
            period: period.clone(),
            due_ms,
            opened_ms: now,
            attainment_bps: preview.attainment_bps,
            split: preview.split,
            waterfall: rule.as_ref().and_then(|r| r.waterfall.clone()),
            applied_ms: None,
        };
        REVIEWS.save(ctx, n, &review)?;
        REVIEW_BY_PERIOD.save(ctx, &period, &n)?;
        let proposal = json!({"propose": {
            "title": format!("Term review {n} (KPI period {period})"),
            "description": description,
            "kind": config.review_kind,
            "messages": [{"call": {"module": ctx.module(), "msg": {"apply_review": {"review": n}}}}],
            "period_ms": config.review_period_ms,
        }});
        response = response.add_message(&config.governance, &proposal)?.add_event(
            Event::new("review_opened")
                .attr("review", n)
                .attr("period", &period)
                .attr("due_ms", due_ms)
                .attr("split", review.split.as_ref().map(describe_split).unwrap_or_default()),
        );
        opened.push(n);
        term.next_review = n.saturating_add(1);
    }
    if opened.is_empty() {
        let next = match scheduled(config, term.next_review).filter(|(due, _)| *due < term.end_ms) {
            Some((due, period)) => format!(
                "review {} (period {period}) is due at {due} and the term ends at {}",
                term.next_review, term.end_ms
            ),
            None => format!("no review is left and the term ends at {}", term.end_ms),
        };
        return Err(TermError::NothingDue { now_ms: now, next });
    }
    TERM.save(ctx, &term)?;
    response.set_data(&json!({"ended": false, "opened_reviews": opened})).map_err(Into::into)
}

fn apply_review(ctx: &mut Ctx, config: &Config, mut term: TermState, number: u64) -> Result<Response> {
    require_governance(ctx, config, "apply a review (it is the message of a review proposal)")?;
    let fail = |reason: String| TermError::Review { review: number, reason };
    let mut review = REVIEWS
        .may_load(ctx, number)?
        .ok_or_else(|| fail("it has not been opened; tick opens reviews when they fall due".into()))?;
    if let Some(at) = review.applied_ms {
        return Err(fail(format!("it was already applied at {at}")));
    }
    if term.last_applied > number {
        return Err(fail(format!("review {} is newer and already applied", term.last_applied)));
    }
    review.applied_ms = Some(ctx.time_ms());
    term.last_applied = number;
    REVIEWS.save(ctx, number, &review)?;
    TERM.save(ctx, &term)?;
    let mut event = Event::new("review_applied").attr("review", number).attr("period", &review.period);
    let mut response = Response::new();
    if let Some(split) = &review.split {
        let treasury = config.treasury.as_deref().ok_or_else(|| fail("no treasury is configured".into()))?;
        event = event.attr("split", describe_split(split)).attr("treasury", treasury);
        response = response.add_message(treasury, &set_split_msg(review.waterfall.as_ref(), split))?;
    }
    Ok(response.add_event(event))
}

/// `query`: every query of [`QueryMsg`].
pub fn query(ctx: &QueryCtx, msg: QueryMsg) -> Result<Json> {
    let config = CONFIG.load(ctx)?;
    let now = ctx.time_ms();
    let answer = match msg {
        QueryMsg::Status {} => {
            let term = TERM.load(ctx)?;
            let next_review = scheduled(&config, term.next_review)
                .filter(|(due, _)| *due < term.end_ms)
                .map(|(due_ms, period)| NextReview { number: term.next_review, due_ms, period });
            let phase = if term.ended.is_some() {
                "ended"
            } else if now >= term.end_ms {
                "ending"
            } else {
                "active"
            };
            let mut overdue_milestones = Vec::new();
            for item in MILESTONES.iter(ctx) {
                let (id, m) = item?;
                if m.done.is_none() && now > m.due_ms {
                    overdue_milestones.push(id);
                }
            }
            to_json(&StatusResponse {
                start_ms: config.start_ms,
                end_ms: term.end_ms,
                now_ms: now,
                phase: phase.into(),
                renewals: term.renewals,
                next_due_ms: next_review.as_ref().map_or(term.end_ms, |r| r.due_ms),
                next_review,
                last_applied_review: term.last_applied,
                overdue_milestones,
                ended: term.ended,
            })?
        }
        QueryMsg::Milestones {} => {
            let mut milestones = Vec::new();
            for item in MILESTONES.iter(ctx) {
                let (_, m) = item?;
                milestones.push(milestone_view(m, now));
            }
            milestones.sort_by(|a, b| {
                (a.milestone.due_ms, &a.milestone.id).cmp(&(b.milestone.due_ms, &b.milestone.id))
            });
            to_json(&MilestonesResponse { milestones })?
        }
        QueryMsg::Milestone { id } => {
            let m = MILESTONES.may_load(ctx, &id)?.ok_or(TermError::UnknownMilestone(id))?;
            to_json(&milestone_view(m, now))?
        }
        QueryMsg::Kpi { metric, period } => {
            to_json(&KpiResponse { kpi: KPIS.may_load(ctx, (&metric, &period))? })?
        }
        QueryMsg::Kpis { metric, start_after, limit } => {
            let limit = limit.unwrap_or(DEFAULT_PAGE).min(MAX_PAGE);
            let kpis = KPIS
                .prefix(metric.as_str())
                .range(ctx, start_after.as_deref(), limit)?
                .into_iter()
                .map(|(_, r)| r)
                .collect();
            to_json(&KpisResponse { kpis })?
        }
        QueryMsg::Reviews { start_after, limit } => {
            let term = TERM.load(ctx)?;
            let limit = u64::from(limit.unwrap_or(DEFAULT_PAGE).min(MAX_PAGE));
            let mut reviews = Vec::new();
            let mut n = start_after.unwrap_or(0).saturating_add(1);
            while (reviews.len() as u64) < limit {
                let view = if let Some(review) = REVIEWS.may_load(ctx, n)? {
                    let status = if review.applied_ms.is_some() {
                        "applied"
                    } else if term.last_applied > n {
                        "superseded"
                    } else {
                        "opened"
                    };
                    ReviewView {
                        number: n,
                        period: review.period.clone(),
                        due_ms: review.due_ms,
                        status: status.into(),
                        review: Some(review),
                    }
                } else {
                    match scheduled(&config, n).filter(|(due, _)| *due < term.end_ms) {
                        Some((due_ms, period)) if n >= term.next_review => ReviewView {
                            number: n,
                            period,
                            due_ms,
                            status: if due_ms <= now { "due" } else { "scheduled" }.into(),
                            review: None,
                        },
                        _ => break,
                    }
                };
                reviews.push(view);
                n = n.saturating_add(1);
            }
            to_json(&ReviewsResponse { reviews })?
        }
        QueryMsg::PreviewSplit { period } => match SPLIT_RULE.may_load(ctx)? {
            Some(rule) => to_json(&compute_split(ctx, &rule, &period)?)?,
            None => to_json(&SplitPreview { attainment_bps: BTreeMap::new(), split: None })?,
        },
        QueryMsg::Config {} => to_json(&ConfigResponse { config, split_rule: SPLIT_RULE.may_load(ctx)? })?,
    };
    Ok(answer)
}

polypact_sdk::export!(init: init, handle: handle, query: query);
// The config fields that name other module instances (checked in charters).
polypact_sdk::references!("membership", "governance", "exit", "treasury");
