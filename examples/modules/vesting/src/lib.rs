//! Vesting: the standard polypact module for grants of membership units that
//! vest over time.
//!
//! This crate owns vesting grants: a number of economic (or voting) units
//! promised to a current member, vesting linearly or in equal steps from
//! `start_ms` over `duration_ms`, with nothing vested before the cliff
//! (`start_ms + cliff_ms`). It owns the schedule maths (integers only:
//! `vested = units * elapsed / duration`, floored; in steps,
//! `units * k / steps` with `k = elapsed * steps / duration`, floored, so the
//! last step is exact), releases (moving vested units into the member's
//! membership record with membership `set_units`, which needs this instance
//! among membership's `managers`), and cancellation (by governance, or by
//! the exit module when a member leaves, keeping or forfeiting what had
//! vested per the leaver terms). It does not own the units themselves
//! (membership does) nor who is a good or bad leaver (the exit module
//! decides and says `keep_vested`). Message formats are in `README.md`.
//!
//! State layout:
//!
//! | name | type | what |
//! |---|---|---|
//! | `config` | `Item<Config>` | validated config |
//! | `next_id` | `Item<u64>` | id of the next grant |
//! | `grants` | `Map<u64, Grant>` | every grant, cancelled ones too |
//! | `by_member` | `Map<(&str, u64), ()>` | index: member, grant id |

use polypact_sdk::{Ctx, Event, Item, Json, Map, QueryCtx, Response, to_json};
use serde::{Deserialize, Serialize};

/// Most grants one member may hold (cancelled ones included); keeps every
/// per-member walk bounded.
pub const MAX_GRANTS_PER_MEMBER: usize = 64;
/// Most steps of a stepped schedule.
pub const MAX_STEPS: u32 = 10_000;

const CONFIG: Item<Config> = Item::new("config");
const NEXT_ID: Item<u64> = Item::new("next_id");
const GRANTS: Map<u64, Grant> = Map::new("grants");
const BY_MEMBER: Map<(&str, u64), ()> = Map::new("by_member");

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
    /// Equal steps instead of linear vesting (1 to [`MAX_STEPS`]).
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

    fn check(&self) -> Result<()> {
        if self.duration_ms == 0 {
            return Err(VestingError::BadGrant("duration_ms must be above 0".into()));
        }
        if self.cliff_ms > self.duration_ms {
            return Err(VestingError::BadGrant(format!(
                "cliff_ms ({}) cannot exceed duration_ms ({})",
                self.cliff_ms, self.duration_ms
            )));
        }
        if self.start_ms.checked_add(self.duration_ms).is_none() {
            return Err(VestingError::BadGrant("start_ms + duration_ms overflows".into()));
        }
        if let Some(steps) = self.steps
            && (steps == 0 || steps > MAX_STEPS)
        {
            return Err(VestingError::BadGrant(format!("steps must be 1 to {MAX_STEPS}, got {steps}")));
        }
        Ok(())
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
}

impl Grant {
    /// Units vested at `at_ms` (a cancelled grant: what it released, for good).
    pub fn vested_at(&self, at_ms: u64) -> u64 {
        match self.cancelled {
            Some(_) => self.released,
            None => self.schedule.vested(self.units, at_ms),
        }
    }

    /// Units not vested at `at_ms` (0 once cancelled).
    pub fn unvested_at(&self, at_ms: u64) -> u64 {
        match self.cancelled {
            Some(_) => 0,
            None => self.units.saturating_sub(self.vested_at(at_ms)),
        }
    }

    /// Vested, not yet released.
    pub fn releasable_at(&self, at_ms: u64) -> u64 {
        self.vested_at(at_ms).saturating_sub(self.released)
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

impl Amounts {
    fn add(&mut self, g: &Grant, at_ms: u64) -> Result<()> {
        let sum = |a: u64, b: u64| a.checked_add(b).ok_or(VestingError::Overflow);
        self.vested = sum(self.vested, g.vested_at(at_ms))?;
        self.unvested = sum(self.unvested, g.unvested_at(at_ms))?;
        self.released = sum(self.released, g.released)?;
        self.releasable = sum(self.releasable, g.releasable_at(at_ms))?;
        Ok(())
    }
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

/// Why a vesting call failed; the caller sees the text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VestingError {
    /// Storage, decoding or a query failed.
    #[error(transparent)]
    Sdk(#[from] polypact_sdk::Error),
    /// A bad config.
    #[error("invalid vesting config: {0}")]
    Config(String),
    /// A bad grant.
    #[error("invalid grant: {0}")]
    BadGrant(String),
    /// The caller may not do this.
    #[error("not allowed: {0}")]
    NotAllowed(String),
    /// Not a current member.
    #[error("{0} is not a current member; grants and releases are for current members")]
    NotMember(String),
    /// No such grant.
    #[error("there is no grant {0}")]
    UnknownGrant(u64),
    /// Already cancelled.
    #[error("grant {0} is already cancelled")]
    Cancelled(u64),
    /// Nothing to release.
    #[error("{0} has nothing vested to release now")]
    NothingToRelease(String),
    /// Too many grants.
    #[error("{0} already holds {MAX_GRANTS_PER_MEMBER} grants, the most one member may hold")]
    TooManyGrants(String),
    /// Arithmetic overflow.
    #[error("units would overflow")]
    Overflow,
}

type Result<T> = core::result::Result<T, VestingError>;

/// The part of membership's `member` answer this module reads.
#[derive(Clone, Debug, Deserialize)]
struct MemberView {
    voting_units: u64,
    economic_units: u64,
    active: bool,
}

#[derive(Deserialize)]
struct HasRole {
    has_role: bool,
}

/// `init`: validates and stores the config.
pub fn init(ctx: &mut Ctx, config: Config) -> Result<Response> {
    for (what, name) in [
        ("membership", &config.membership),
        ("governance", &config.governance),
        ("exit_module", &config.exit_module),
    ] {
        if name.trim().is_empty() {
            return Err(VestingError::Config(format!("{what} must name a module instance")));
        }
    }
    if config.admin_role.as_deref().is_some_and(|r| r.trim().is_empty()) {
        return Err(VestingError::Config("admin_role, if given, must not be empty".into()));
    }
    CONFIG.save(ctx, &config)?;
    NEXT_ID.save(ctx, &1)?;
    Ok(Response::new().add_event(
        Event::new("vesting_configured")
            .attr("membership", &config.membership)
            .attr("governance", &config.governance)
            .attr("exit_module", &config.exit_module),
    ))
}

fn member_view(ctx: &QueryCtx, config: &Config, member: &str) -> Result<Option<MemberView>> {
    let answer: core::result::Result<MemberView, _> =
        ctx.query(&config.membership, &serde_json::json!({"member": {"member": member}}));
    match answer {
        Ok(m) if m.active => Ok(Some(m)),
        Ok(_) => Ok(None),
        // membership answers "pm1x is not a member" for strangers.
        Err(polypact_sdk::Error::Query { reason, .. }) if reason.contains("is not a member") => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn grants_of(ctx: &QueryCtx, member: &str) -> Result<Vec<Grant>> {
    let mut out = Vec::new();
    for entry in BY_MEMBER.prefix(member).iter(ctx) {
        let (id, ()) = entry?;
        out.push(GRANTS.load(ctx, id)?);
    }
    Ok(out)
}

fn creator(ctx: &Ctx, config: &Config) -> Result<String> {
    if ctx.sender_module() == Some(config.governance.as_str()) {
        return Ok(format!("module:{}", config.governance));
    }
    if ctx.sender_module().is_none()
        && let Some(role) = &config.admin_role
    {
        let answer: HasRole = ctx.query(
            &config.membership,
            &serde_json::json!({"has_role": {"member": ctx.caller(), "role": role}}),
        )?;
        if answer.has_role {
            return Ok(ctx.caller().to_owned());
        }
    }
    let admins = match &config.admin_role {
        Some(role) => format!(" or a member with role \"{role}\""),
        None => String::new(),
    };
    Err(VestingError::NotAllowed(format!(
        "only the governance module \"{}\"{admins} may create grants",
        config.governance
    )))
}

/// Releases what is due on `grants` (or, with `cancel`, cancels them), and
/// builds the membership `set_units` message that moves the units.
fn settle(
    ctx: &mut Ctx,
    config: &Config,
    member: &str,
    grants: Vec<Grant>,
    cancel: Option<(&str, bool)>,
) -> Result<(Response, ReleasedResponse)> {
    let now = ctx.time_ms();
    let mut out = ReleasedResponse::default();
    let mut events = Vec::new();
    for mut g in grants {
        if g.cancelled.is_some() {
            continue;
        }
        let due = match cancel {
            Some((_, false)) => 0,
            _ => g.releasable_at(now),
        };
        if let Some((by, keep_vested)) = cancel {
            let kept = g.released.checked_add(due).ok_or(VestingError::Overflow)?;
            let forfeited = g.units.saturating_sub(kept);
            out.forfeited = out.forfeited.checked_add(forfeited).ok_or(VestingError::Overflow)?;
            g.cancelled = Some(Cancellation {
                at_ms: now,
                height: ctx.height(),
                by: by.into(),
                keep_vested,
                forfeited,
            });
            events.push(
                Event::new("grant_cancelled")
                    .attr("grant", g.id)
                    .attr("member", member)
                    .attr("by", by)
                    .attr("keep_vested", keep_vested)
                    .attr("released", due)
                    .attr("forfeited", forfeited),
            );
        } else if due > 0 {
            events.push(
                Event::new("units_released")
                    .attr("grant", g.id)
                    .attr("member", member)
                    .attr("unit_kind", if g.unit_kind == UnitKind::Economic { "economic" } else { "voting" })
                    .attr("units", due),
            );
        }
        g.released = g.released.checked_add(due).ok_or(VestingError::Overflow)?;
        let slot = match g.unit_kind {
            UnitKind::Economic => &mut out.economic,
            UnitKind::Voting => &mut out.voting,
        };
        *slot = slot.checked_add(due).ok_or(VestingError::Overflow)?;
        GRANTS.save(ctx, g.id, &g)?;
    }
    let mut response = Response::new();
    for e in events {
        response = response.add_event(e);
    }
    if out.economic > 0 || out.voting > 0 {
        let current =
            member_view(ctx, config, member)?.ok_or_else(|| VestingError::NotMember(member.into()))?;
        let economic = current.economic_units.checked_add(out.economic).ok_or(VestingError::Overflow)?;
        let voting = current.voting_units.checked_add(out.voting).ok_or(VestingError::Overflow)?;
        response = response.add_message(
            &config.membership,
            &serde_json::json!({"set_units": {"member": member, "voting_units": voting, "economic_units": economic}}),
        )?;
    }
    let response = response.set_data(&out)?;
    Ok((response, out))
}

/// `handle`: every call of [`HandleMsg`].
pub fn handle(ctx: &mut Ctx, msg: HandleMsg) -> Result<Response> {
    let config = CONFIG.load(ctx)?;
    match msg {
        HandleMsg::CreateGrant { member, units, unit_kind, start_ms, cliff_ms, duration_ms, steps } => {
            let schedule = Schedule { start_ms, cliff_ms, duration_ms, steps };
            let by = creator(ctx, &config)?;
            if units == 0 {
                return Err(VestingError::BadGrant("units must be above 0".into()));
            }
            schedule.check()?;
            if member_view(ctx, &config, &member)?.is_none() {
                return Err(VestingError::NotMember(member));
            }
            if grants_of(ctx, &member)?.len() >= MAX_GRANTS_PER_MEMBER {
                return Err(VestingError::TooManyGrants(member));
            }
            let id = NEXT_ID.load(ctx)?;
            NEXT_ID.save(ctx, &id.checked_add(1).ok_or(VestingError::Overflow)?)?;
            let grant = Grant {
                id,
                member: member.clone(),
                units,
                unit_kind,
                schedule: schedule.clone(),
                released: 0,
                created_by: by.clone(),
                cancelled: None,
            };
            GRANTS.save(ctx, id, &grant)?;
            BY_MEMBER.save(ctx, (&member, id), &())?;
            let event = Event::new("grant_created")
                .attr("grant", id)
                .attr("member", member)
                .attr("units", units)
                .attr("unit_kind", if unit_kind == UnitKind::Economic { "economic" } else { "voting" })
                .attr("start_ms", schedule.start_ms)
                .attr("cliff_ms", schedule.cliff_ms)
                .attr("duration_ms", schedule.duration_ms)
                .attr("steps", schedule.steps.map_or_else(|| "linear".to_string(), |s| s.to_string()))
                .attr("by", by);
            Ok(Response::new().add_event(event).set_data(&CreatedResponse { id })?)
        }
        HandleMsg::Claim {} => {
            if ctx.sender_module().is_some() {
                return Err(VestingError::NotAllowed(
                    "claim is an op of the member itself; a module may send release {member}".into(),
                ));
            }
            let member = ctx.caller().to_owned();
            release(ctx, &config, &member)
        }
        HandleMsg::Release { member } => release(ctx, &config, &member),
        HandleMsg::CancelOnExit { member, keep_vested } => {
            if ctx.sender_module() != Some(config.exit_module.as_str()) {
                return Err(VestingError::NotAllowed(format!(
                    "only the exit module \"{}\" may cancel grants on exit",
                    config.exit_module
                )));
            }
            let grants = grants_of(ctx, &member)?;
            let (response, _) = settle(ctx, &config, &member, grants, Some(("exit", keep_vested)))?;
            Ok(response)
        }
        HandleMsg::CancelGrant { grant, keep_vested } => {
            if ctx.sender_module() != Some(config.governance.as_str()) {
                return Err(VestingError::NotAllowed(format!(
                    "only the governance module \"{}\" may cancel a grant; propose it there",
                    config.governance
                )));
            }
            let g = GRANTS.may_load(ctx, grant)?.ok_or(VestingError::UnknownGrant(grant))?;
            if g.cancelled.is_some() {
                return Err(VestingError::Cancelled(grant));
            }
            let member = g.member.clone();
            let (response, _) = settle(ctx, &config, &member, vec![g], Some(("governance", keep_vested)))?;
            Ok(response)
        }
    }
}

fn release(ctx: &mut Ctx, config: &Config, member: &str) -> Result<Response> {
    if member_view(ctx, config, member)?.is_none() {
        return Err(VestingError::NotMember(member.into()));
    }
    let grants = grants_of(ctx, member)?;
    let (response, out) = settle(ctx, config, member, grants, None)?;
    if out.economic == 0 && out.voting == 0 {
        return Err(VestingError::NothingToRelease(member.into()));
    }
    Ok(response)
}

/// A member's sums at `at_ms`.
pub fn vested(ctx: &QueryCtx, member: &str, at_ms: u64) -> Result<VestedResponse> {
    let mut answer = VestedResponse { at_ms, ..VestedResponse::default() };
    for g in grants_of(ctx, member)? {
        match g.unit_kind {
            UnitKind::Economic => answer.economic.add(&g, at_ms)?,
            UnitKind::Voting => answer.voting.add(&g, at_ms)?,
        }
        if g.cancelled.is_none() && g.schedule.in_cliff(at_ms) {
            answer.in_cliff = true;
        }
    }
    answer.vested = answer.economic.vested.checked_add(answer.voting.vested).ok_or(VestingError::Overflow)?;
    answer.unvested =
        answer.economic.unvested.checked_add(answer.voting.unvested).ok_or(VestingError::Overflow)?;
    Ok(answer)
}

/// `query`: every query of [`QueryMsg`].
pub fn query(ctx: &QueryCtx, msg: QueryMsg) -> Result<Json> {
    Ok(match msg {
        QueryMsg::Vested { member, at_ms } => {
            to_json(&vested(ctx, &member, at_ms.unwrap_or(ctx.time_ms()))?)?
        }
        QueryMsg::Grant { id } => to_json(&GRANTS.may_load(ctx, id)?.ok_or(VestingError::UnknownGrant(id))?)?,
        QueryMsg::Grants { member } => to_json(&GrantsResponse { grants: grants_of(ctx, &member)? })?,
        QueryMsg::Config {} => to_json(&CONFIG.load(ctx)?)?,
    })
}

polypact_sdk::export!(init: init, handle: handle, query: query);
// The config fields that name other module instances (checked in charters).
polypact_sdk::references!("membership", "governance", "exit_module");
