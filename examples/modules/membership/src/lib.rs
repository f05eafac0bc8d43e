//! Membership: the standard polypact module that says who the partners are
//! and what they hold.
//!
//! This crate owns the member registry: each member's `voting_units`
//! (decide), `economic_units` (share in revenue and exit; kept apart from
//! voting, like Moloch's shares and loot) and roles; admission by
//! invitation or by sponsored application, resignation, expulsion, unit and
//! role changes; and a per-height history of voting units so that a vote
//! can fix voting power at a past height. It does not own voting (the
//! governance module, usually `voting`, decides and then sends messages
//! here), nor the runtime's participant registry, which it only asks to
//! follow with `AddParticipant` / `RemoveParticipant` system messages. The
//! message formats are in `README.md`.
//!
//! State layout:
//!
//! | name | type | what |
//! |---|---|---|
//! | `config` | `Item<Config>` | the governance module's name |
//! | `totals` | `Item<Totals>` | sums over active members, and the count |
//! | `members` | `Map<&str, Member>` | every member ever admitted; former ones inactive, keeping their economic claim |
//! | `vp` | `Map<(&str, u64), u64>` | voting-unit checkpoints, keyed by `u64::MAX - height` so the newest comes first |
//! | `total_vp` | `Map<u64, u64>` | total voting-unit checkpoints, same keying |
//! | `invitations` | `Map<&str, Terms>` | pending invitations |
//! | `applications` | `Map<&str, Terms>` | pending sponsored applications |

use std::collections::BTreeSet;

use polypact_sdk::{Ctx, Event, Item, Json, Map, QueryCtx, Response, SystemMsg, to_json};
use serde::{Deserialize, Serialize};

/// Page size of `members` when the query does not set one.
pub const DEFAULT_PAGE: u32 = 30;
/// The largest page a query returns.
pub const MAX_PAGE: u32 = 100;
/// The role that may invite, admit invitees and change units and roles.
pub const ADMIN_ROLE: &str = "admin";
/// The longest role name.
pub const MAX_ROLE_LEN: usize = 64;

const CONFIG: Item<Config> = Item::new("config");
const TOTALS: Item<Totals> = Item::new("totals");
const MEMBERS: Map<&str, Member> = Map::new("members");
const VP: Map<(&str, u64), u64> = Map::new("vp");
const TOTAL_VP: Map<u64, u64> = Map::new("total_vp");
const INVITATIONS: Map<&str, Terms> = Map::new("invitations");
const APPLICATIONS: Map<&str, Terms> = Map::new("applications");

/// Stored config.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// The module whose messages may admit, expel and change members.
    pub governance: String,
    /// Module instances (e.g. `exit`, `vesting`) that may also send
    /// `set_units`, `transfer_units` and `remove_member`.
    #[serde(default)]
    pub managers: Vec<String>,
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

/// Sums over current members (and former members' economic claims).
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
        #[serde(default)]
        voting_units: Option<u64>,
        /// New economic units (unchanged if absent).
        #[serde(default)]
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
    /// Members in id order, current and former.
    Members {
        /// Start after this member id.
        #[serde(default)]
        start_after: Option<String>,
        /// Page size.
        #[serde(default)]
        limit: Option<u32>,
    },
    /// One member.
    Member {
        /// The member.
        member: String,
    },
    /// The totals.
    Totals {},
    /// A member's voting units at the end of `height`.
    VotingPowerAt {
        /// The member.
        member: String,
        /// The height.
        height: u64,
    },
    /// Total voting units at the end of `height`.
    TotalVotingPowerAt {
        /// The height.
        height: u64,
    },
    /// Whether a current member has a role.
    HasRole {
        /// The member.
        member: String,
        /// The role.
        role: String,
    },
    /// Pending invitations.
    Invitations {},
    /// Pending applications.
    Applications {},
    /// The config.
    Config {},
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

/// Why a membership call failed; the caller sees the text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MembershipError {
    /// Storage, decoding or a query failed.
    #[error(transparent)]
    Sdk(#[from] polypact_sdk::Error),
    /// The config names no founding member.
    #[error("the config must name at least one founding member")]
    NoMembers,
    /// A founding member is named twice.
    #[error("founding member {0} is listed twice")]
    DuplicateMember(String),
    /// A founding member is not a participant of the partnership.
    #[error(
        "founding member {0} is not a participant of the partnership; initial members must be the charter's participants"
    )]
    NotParticipant(String),
    /// A manager module name is empty, repeated, or the governance module.
    #[error("managers must name distinct module instances other than the governance module, got {0:?}")]
    BadManager(String),
    /// A transfer that moves nothing, or to the same member.
    #[error("invalid transfer: {0}")]
    BadTransfer(String),
    /// A member holds fewer units than asked for.
    #[error("{member} holds {held} {what}, fewer than the {wanted} asked for")]
    Insufficient {
        /// The member.
        member: String,
        /// `voting units` or `economic units`.
        what: &'static str,
        /// What it holds.
        held: u64,
        /// What was asked for.
        wanted: u64,
    },
    /// The governance module name is empty.
    #[error("governance must name the module whose messages may change membership")]
    NoGovernance,
    /// Zero voting and zero economic units.
    #[error("{0} would hold no units; give it voting_units or economic_units above 0")]
    ZeroUnits(String),
    /// A role name is empty or too long.
    #[error("role names must be 1 to {MAX_ROLE_LEN} characters, got {0:?}")]
    BadRole(String),
    /// Not a member at all.
    #[error("{0} is not a member")]
    UnknownMember(String),
    /// A former member.
    #[error("{0} is no longer a member")]
    FormerMember(String),
    /// Already a current member.
    #[error("{0} is already a member")]
    AlreadyMember(String),
    /// The caller may not do this.
    #[error("not allowed: {0}")]
    NotAllowed(String),
    /// No such invitation.
    #[error("there is no pending invitation for {0}")]
    NoInvitation(String),
    /// The sponsor field is someone else.
    #[error("the sponsor must be the caller ({caller}), not {sponsor}")]
    SponsorMismatch {
        /// The caller.
        caller: String,
        /// The sponsor named.
        sponsor: String,
    },
    /// Admission without terms.
    #[error("{0} has no pending application or invitation; give voting_units or economic_units")]
    NoTerms(String),
    /// Units would overflow.
    #[error("units would overflow")]
    Overflow,
    /// Role already held, or not held.
    #[error("{member} {what} role {role:?}")]
    Role {
        /// The member.
        member: String,
        /// `already has` or `does not have`.
        what: &'static str,
        /// The role.
        role: String,
    },
}

type Result<T> = core::result::Result<T, MembershipError>;

fn check_roles(roles: &BTreeSet<String>) -> Result<()> {
    for role in roles {
        if role.is_empty() || role.len() > MAX_ROLE_LEN {
            return Err(MembershipError::BadRole(role.clone()));
        }
    }
    Ok(())
}

fn add(a: u64, b: u64) -> Result<u64> {
    a.checked_add(b).ok_or(MembershipError::Overflow)
}

/// Checkpoint keys sort newest first.
fn rev(height: u64) -> u64 {
    u64::MAX - height
}

fn checkpoint(ctx: &mut Ctx, member: &str, units: u64) -> Result<()> {
    let h = rev(ctx.height());
    VP.save(ctx, (member, h), &units)?;
    Ok(())
}

fn save_totals(ctx: &mut Ctx, totals: &Totals) -> Result<()> {
    TOTALS.save(ctx, totals)?;
    let h = rev(ctx.height());
    TOTAL_VP.save(ctx, h, &totals.voting_units)?;
    Ok(())
}

/// A member's voting units at the end of `height` (0 before its first checkpoint).
pub fn units_at(ctx: &QueryCtx, member: &str, height: u64) -> Result<u64> {
    // Keys are u64::MAX - h; the first key >= rev(height) is the newest checkpoint at or before height.
    let start = rev(height).checked_sub(1);
    let page = match start {
        Some(s) => VP.prefix(member).range(ctx, Some(s), 1)?,
        None => VP.prefix(member).range(ctx, None, 1)?,
    };
    Ok(page.first().map(|(_, u)| *u).unwrap_or(0))
}

/// Total voting units at the end of `height`.
pub fn total_units_at(ctx: &QueryCtx, height: u64) -> Result<u64> {
    let page = match rev(height).checked_sub(1) {
        Some(s) => TOTAL_VP.range(ctx, Some(s), 1)?,
        None => TOTAL_VP.range(ctx, None, 1)?,
    };
    Ok(page.first().map(|(_, u)| *u).unwrap_or(0))
}

/// `init`: stores the founding members (already participants) and the governance module.
pub fn init(ctx: &mut Ctx, config: InitConfig) -> Result<Response> {
    if config.governance.trim().is_empty() {
        return Err(MembershipError::NoGovernance);
    }
    if config.members.is_empty() {
        return Err(MembershipError::NoMembers);
    }
    let mut managers = BTreeSet::new();
    for m in &config.managers {
        if m.trim().is_empty() || *m == config.governance || !managers.insert(m.as_str()) {
            return Err(MembershipError::BadManager(m.clone()));
        }
    }
    let participants = ctx.participants()?;
    let mut totals = Totals::default();
    let mut seen = BTreeSet::new();
    let mut response = Response::new();
    for m in &config.members {
        if !seen.insert(m.member.clone()) {
            return Err(MembershipError::DuplicateMember(m.member.clone()));
        }
        if !participants.iter().any(|p| p.member == m.member) {
            return Err(MembershipError::NotParticipant(m.member.clone()));
        }
        if m.voting_units == 0 && m.economic_units == 0 {
            return Err(MembershipError::ZeroUnits(m.member.clone()));
        }
        check_roles(&m.roles)?;
        let record = Member {
            voting_units: m.voting_units,
            economic_units: m.economic_units,
            roles: m.roles.clone(),
            active: true,
            joined_at: ctx.height(),
            left_at: None,
        };
        MEMBERS.save(ctx, &m.member, &record)?;
        checkpoint(ctx, &m.member, m.voting_units)?;
        totals.voting_units = add(totals.voting_units, m.voting_units)?;
        totals.economic_units = add(totals.economic_units, m.economic_units)?;
        totals.members += 1;
        response = response.add_event(member_event("member_added", &m.member, &record));
    }
    save_totals(ctx, &totals)?;
    CONFIG.save(ctx, &Config { governance: config.governance.clone(), managers: config.managers.clone() })?;
    Ok(response.add_event(
        Event::new("membership_created")
            .attr("governance", config.governance)
            .attr("members", totals.members)
            .attr("voting_units", totals.voting_units)
            .attr("economic_units", totals.economic_units),
    ))
}

fn member_event(kind: &str, member: &str, m: &Member) -> Event {
    let roles: Vec<&str> = m.roles.iter().map(String::as_str).collect();
    Event::new(kind)
        .attr("member", member)
        .attr("voting_units", m.voting_units)
        .attr("economic_units", m.economic_units)
        .attr("roles", roles.join(","))
}

/// Who may do governance-or-admin things.
enum Authority {
    Governance,
    Manager(String),
    Admin(String),
}

impl Authority {
    fn name(&self) -> String {
        match self {
            Authority::Governance => "governance".into(),
            Authority::Manager(m) => format!("module:{m}"),
            Authority::Admin(m) => m.clone(),
        }
    }
}

/// The manager module sending this message, if it is one.
fn manager(ctx: &Ctx) -> Result<Option<String>> {
    let config = CONFIG.load(ctx)?;
    Ok(ctx.sender_module().filter(|m| config.managers.iter().any(|x| x == m)).map(str::to_owned))
}

fn require_governance_or_manager(ctx: &Ctx, what: &str) -> Result<Authority> {
    if is_governance(ctx)? {
        return Ok(Authority::Governance);
    }
    if let Some(m) = manager(ctx)? {
        return Ok(Authority::Manager(m));
    }
    let config = CONFIG.load(ctx)?;
    Err(MembershipError::NotAllowed(format!(
        "only the governance module \"{}\" or a manager module ({}) may {what}",
        config.governance,
        if config.managers.is_empty() { "none configured".to_owned() } else { config.managers.join(", ") }
    )))
}

fn is_governance(ctx: &Ctx) -> Result<bool> {
    let config = CONFIG.load(ctx)?;
    Ok(ctx.sender_module() == Some(config.governance.as_str()))
}

fn require_governance(ctx: &Ctx, what: &str) -> Result<()> {
    if is_governance(ctx)? {
        return Ok(());
    }
    let config = CONFIG.load(ctx)?;
    Err(MembershipError::NotAllowed(format!(
        "only the governance module \"{}\" may {what}; propose it there",
        config.governance
    )))
}

fn active_member(ctx: &QueryCtx, member: &str) -> Result<Member> {
    match MEMBERS.may_load(ctx, member)? {
        None => Err(MembershipError::UnknownMember(member.into())),
        Some(m) if !m.active => Err(MembershipError::FormerMember(member.into())),
        Some(m) => Ok(m),
    }
}

fn require_governance_or_admin(ctx: &Ctx, what: &str) -> Result<Authority> {
    if is_governance(ctx)? {
        return Ok(Authority::Governance);
    }
    if ctx.sender_module().is_none() {
        let caller = ctx.caller();
        if let Some(m) = MEMBERS.may_load(ctx, caller)?
            && m.active
            && m.roles.contains(ADMIN_ROLE)
        {
            return Ok(Authority::Admin(caller.to_owned()));
        }
    }
    let config = CONFIG.load(ctx)?;
    Err(MembershipError::NotAllowed(format!(
        "only a member with role \"{ADMIN_ROLE}\" or the governance module \"{}\" may {what}",
        config.governance
    )))
}

fn require_not_member(ctx: &QueryCtx, member: &str) -> Result<()> {
    match MEMBERS.may_load(ctx, member)? {
        Some(m) if m.active => Err(MembershipError::AlreadyMember(member.into())),
        _ => Ok(()),
    }
}

/// `handle`: every call of [`HandleMsg`].
pub fn handle(ctx: &mut Ctx, msg: HandleMsg) -> Result<Response> {
    match msg {
        HandleMsg::Invite { invitee, voting_units, economic_units, roles } => {
            let by = require_governance_or_admin(ctx, "invite")?;
            require_not_member(ctx, &invitee)?;
            if voting_units == 0 && economic_units == 0 {
                return Err(MembershipError::ZeroUnits(invitee));
            }
            check_roles(&roles)?;
            let terms = Terms { voting_units, economic_units, roles, by: by.name(), height: ctx.height() };
            INVITATIONS.save(ctx, &invitee, &terms)?;
            Ok(Response::new().add_event(
                Event::new("member_invited")
                    .attr("invitee", invitee)
                    .attr("by", terms.by)
                    .attr("voting_units", voting_units)
                    .attr("economic_units", economic_units),
            ))
        }
        HandleMsg::RevokeInvitation { invitee } => {
            let by = require_governance_or_admin(ctx, "revoke an invitation")?;
            if !INVITATIONS.has(ctx, &invitee)? {
                return Err(MembershipError::NoInvitation(invitee));
            }
            INVITATIONS.remove(ctx, &invitee);
            Ok(Response::new()
                .add_event(Event::new("invitation_revoked").attr("invitee", invitee).attr("by", by.name())))
        }
        HandleMsg::AdmitInvited { invitee } => {
            let by = require_governance_or_admin(ctx, "admit an invitee")?;
            let terms = INVITATIONS
                .may_load(ctx, &invitee)?
                .ok_or_else(|| MembershipError::NoInvitation(invitee.clone()))?;
            if let Authority::Admin(admin) = &by
                && *admin == terms.by
            {
                return Err(MembershipError::NotAllowed(format!(
                    "{admin} invited {invitee}, so another admin or the governance module must admit them"
                )));
            }
            INVITATIONS.remove(ctx, &invitee);
            admit(ctx, &invitee, terms.voting_units, terms.economic_units, terms.roles, "invitation")
        }
        HandleMsg::Apply { applicant, voting_units, economic_units, roles, sponsor } => {
            let caller = ctx.caller().to_owned();
            if let Some(s) = sponsor
                && s != caller
            {
                return Err(MembershipError::SponsorMismatch { caller, sponsor: s });
            }
            active_member(ctx, &caller).map_err(|_| {
                MembershipError::NotAllowed(format!(
                    "only a current member may sponsor an application, and {caller} is not one"
                ))
            })?;
            require_not_member(ctx, &applicant)?;
            if voting_units == 0 && economic_units == 0 {
                return Err(MembershipError::ZeroUnits(applicant));
            }
            check_roles(&roles)?;
            let terms = Terms { voting_units, economic_units, roles, by: caller, height: ctx.height() };
            APPLICATIONS.save(ctx, &applicant, &terms)?;
            Ok(Response::new().add_event(
                Event::new("application_recorded")
                    .attr("applicant", applicant)
                    .attr("sponsor", terms.by)
                    .attr("voting_units", voting_units)
                    .attr("economic_units", economic_units),
            ))
        }
        HandleMsg::Admit { member, voting_units, economic_units, roles } => {
            require_governance(ctx, "admit a member")?;
            require_not_member(ctx, &member)?;
            let pending = match APPLICATIONS.may_load(ctx, &member)? {
                Some(t) => Some((t, "application")),
                None => INVITATIONS.may_load(ctx, &member)?.map(|t| (t, "invitation")),
            };
            let (v, e, r, how) = match pending {
                Some((t, how)) => (
                    voting_units.unwrap_or(t.voting_units),
                    economic_units.unwrap_or(t.economic_units),
                    roles.unwrap_or(t.roles),
                    how,
                ),
                None if voting_units.is_some() || economic_units.is_some() => (
                    voting_units.unwrap_or(0),
                    economic_units.unwrap_or(0),
                    roles.unwrap_or_default(),
                    "vote",
                ),
                None => return Err(MembershipError::NoTerms(member)),
            };
            check_roles(&r)?;
            APPLICATIONS.remove(ctx, &member);
            INVITATIONS.remove(ctx, &member);
            admit(ctx, &member, v, e, r, how)
        }
        HandleMsg::Resign {} => {
            let member = ctx.caller().to_owned();
            if ctx.sender_module().is_some() {
                return Err(MembershipError::NotAllowed(
                    "a member resigns with its own op, not through a module".into(),
                ));
            }
            leave(ctx, &member, false)
        }
        HandleMsg::Expel { member } => {
            require_governance(ctx, "expel a member")?;
            leave(ctx, &member, true)
        }
        HandleMsg::SetUnits { member, voting_units, economic_units } => {
            let by = match manager(ctx)? {
                Some(m) => Authority::Manager(m),
                None => require_governance_or_admin(ctx, "set units")?,
            };
            let mut m = active_member(ctx, &member)?;
            let v = voting_units.unwrap_or(m.voting_units);
            let e = economic_units.unwrap_or(m.economic_units);
            if v == 0 && e == 0 {
                return Err(MembershipError::ZeroUnits(member));
            }
            let mut totals = TOTALS.load(ctx)?;
            totals.voting_units = add(totals.voting_units.saturating_sub(m.voting_units), v)?;
            totals.economic_units = add(totals.economic_units.saturating_sub(m.economic_units), e)?;
            m.voting_units = v;
            m.economic_units = e;
            MEMBERS.save(ctx, &member, &m)?;
            checkpoint(ctx, &member, v)?;
            save_totals(ctx, &totals)?;
            Ok(Response::new().add_event(member_event("units_set", &member, &m).attr("by", by.name())))
        }
        HandleMsg::TransferUnits { from, to, voting_units, economic_units } => {
            let by = require_governance_or_manager(ctx, "transfer units")?;
            transfer(ctx, by, from, to, voting_units, economic_units)
        }
        HandleMsg::RemoveMember { member, economic_units } => {
            let by = require_governance_or_manager(ctx, "remove a member")?;
            remove(ctx, by, &member, economic_units)
        }
        HandleMsg::GrantRole { member, role } => change_role(ctx, member, role, true),
        HandleMsg::RevokeRole { member, role } => change_role(ctx, member, role, false),
    }
}

fn transfer(
    ctx: &mut Ctx,
    by: Authority,
    from: String,
    to: String,
    voting_units: u64,
    economic_units: u64,
) -> Result<Response> {
    if from == to {
        return Err(MembershipError::BadTransfer(format!("{from} cannot transfer units to itself")));
    }
    if voting_units == 0 && economic_units == 0 {
        return Err(MembershipError::BadTransfer("give voting_units and/or economic_units above 0".into()));
    }
    let mut giver =
        MEMBERS.may_load(ctx, &from)?.ok_or_else(|| MembershipError::UnknownMember(from.clone()))?;
    let mut taker = active_member(ctx, &to)?;
    let short = |what, held: u64, wanted: u64| MembershipError::Insufficient {
        member: from.clone(),
        what,
        held,
        wanted,
    };
    if giver.voting_units < voting_units {
        return Err(short("voting units", giver.voting_units, voting_units));
    }
    if giver.economic_units < economic_units {
        return Err(short("economic units", giver.economic_units, economic_units));
    }
    giver.voting_units -= voting_units;
    giver.economic_units -= economic_units;
    taker.voting_units = add(taker.voting_units, voting_units)?;
    taker.economic_units = add(taker.economic_units, economic_units)?;
    let mut totals = TOTALS.load(ctx)?;
    if !giver.active {
        // A former member's claim becomes a current member's units.
        totals.former_economic_units = totals.former_economic_units.saturating_sub(economic_units);
        totals.economic_units = add(totals.economic_units, economic_units)?;
    }
    MEMBERS.save(ctx, &from, &giver)?;
    MEMBERS.save(ctx, &to, &taker)?;
    if voting_units > 0 {
        checkpoint(ctx, &from, giver.voting_units)?;
        checkpoint(ctx, &to, taker.voting_units)?;
    }
    save_totals(ctx, &totals)?;
    Ok(Response::new().add_event(
        Event::new("units_transferred")
            .attr("from", from)
            .attr("to", to)
            .attr("voting_units", voting_units)
            .attr("economic_units", economic_units)
            .attr("by", by.name()),
    ))
}

fn remove(ctx: &mut Ctx, by: Authority, member: &str, claim: u64) -> Result<Response> {
    let mut m = active_member(ctx, member)?;
    // At most what an expulsion would leave: economic units plus voting units turned economic.
    let most = add(m.economic_units, m.voting_units)?;
    if claim > most {
        return Err(MembershipError::Insufficient {
            member: member.into(),
            what: "voting and economic units together",
            held: most,
            wanted: claim,
        });
    }
    let mut totals = TOTALS.load(ctx)?;
    totals.voting_units = totals.voting_units.saturating_sub(m.voting_units);
    totals.economic_units = totals.economic_units.saturating_sub(m.economic_units);
    totals.members = totals.members.saturating_sub(1);
    totals.former_economic_units = add(totals.former_economic_units, claim)?;
    let event = Event::new("member_removed")
        .attr("member", member)
        .attr("voting_units_dropped", m.voting_units)
        .attr("economic_units_before", m.economic_units)
        .attr("economic_claim", claim)
        .attr("by", by.name());
    m.voting_units = 0;
    m.economic_units = claim;
    m.roles.clear();
    m.active = false;
    m.left_at = Some(ctx.height());
    MEMBERS.save(ctx, member, &m)?;
    checkpoint(ctx, member, 0)?;
    save_totals(ctx, &totals)?;
    Ok(Response::new().add_event(event).add_system(SystemMsg::RemoveParticipant { member: member.into() }))
}

fn change_role(ctx: &mut Ctx, member: String, role: String, grant: bool) -> Result<Response> {
    let by = require_governance_or_admin(ctx, if grant { "grant roles" } else { "revoke roles" })?;
    check_roles(&BTreeSet::from([role.clone()]))?;
    let mut m = active_member(ctx, &member)?;
    let changed = if grant { m.roles.insert(role.clone()) } else { m.roles.remove(&role) };
    if !changed {
        let what = if grant { "already has" } else { "does not have" };
        return Err(MembershipError::Role { member, what, role });
    }
    MEMBERS.save(ctx, &member, &m)?;
    let kind = if grant { "role_granted" } else { "role_revoked" };
    Ok(Response::new()
        .add_event(Event::new(kind).attr("member", member).attr("role", role).attr("by", by.name())))
}

fn admit(
    ctx: &mut Ctx,
    member: &str,
    voting_units: u64,
    economic_units: u64,
    roles: BTreeSet<String>,
    how: &str,
) -> Result<Response> {
    if voting_units == 0 && economic_units == 0 {
        return Err(MembershipError::ZeroUnits(member.into()));
    }
    let mut totals = TOTALS.load(ctx)?;
    // A former member coming back: its remaining claim is folded into its new units.
    let (claim, previous) = match MEMBERS.may_load(ctx, member)? {
        Some(old) => (old.economic_units, true),
        None => (0, false),
    };
    let economic = add(economic_units, claim)?;
    totals.former_economic_units = totals.former_economic_units.saturating_sub(claim);
    totals.voting_units = add(totals.voting_units, voting_units)?;
    totals.economic_units = add(totals.economic_units, economic)?;
    totals.members += 1;
    let record = Member {
        voting_units,
        economic_units: economic,
        roles,
        active: true,
        joined_at: ctx.height(),
        left_at: None,
    };
    MEMBERS.save(ctx, member, &record)?;
    checkpoint(ctx, member, voting_units)?;
    save_totals(ctx, &totals)?;
    let event = member_event("member_added", member, &record).attr("via", how).attr("returning", previous);
    Ok(Response::new().add_event(event).add_system(SystemMsg::AddParticipant { member: member.into() }))
}

fn leave(ctx: &mut Ctx, member: &str, expelled: bool) -> Result<Response> {
    let mut m = active_member(ctx, member)?;
    let mut totals = TOTALS.load(ctx)?;
    totals.voting_units = totals.voting_units.saturating_sub(m.voting_units);
    totals.economic_units = totals.economic_units.saturating_sub(m.economic_units);
    totals.members = totals.members.saturating_sub(1);
    let burned_or_converted = m.voting_units;
    if expelled {
        // Moloch's ragekick: voting units become economic units, kept as a claim.
        m.economic_units = add(m.economic_units, m.voting_units)?;
    }
    totals.former_economic_units = add(totals.former_economic_units, m.economic_units)?;
    m.voting_units = 0;
    m.roles.clear();
    m.active = false;
    m.left_at = Some(ctx.height());
    MEMBERS.save(ctx, member, &m)?;
    checkpoint(ctx, member, 0)?;
    save_totals(ctx, &totals)?;
    let event = if expelled {
        Event::new("member_expelled")
            .attr("member", member)
            .attr("voting_units_converted", burned_or_converted)
    } else {
        Event::new("member_resigned").attr("member", member).attr("voting_units_dropped", burned_or_converted)
    };
    Ok(Response::new()
        .add_event(event.attr("economic_claim", m.economic_units))
        .add_system(SystemMsg::RemoveParticipant { member: member.into() }))
}

/// `query`: every query of [`QueryMsg`].
pub fn query(ctx: &QueryCtx, msg: QueryMsg) -> Result<Json> {
    let answer = match msg {
        QueryMsg::Members { start_after, limit } => {
            let limit = limit.unwrap_or(DEFAULT_PAGE).min(MAX_PAGE);
            let members = MEMBERS
                .range(ctx, start_after.as_deref(), limit)?
                .into_iter()
                .map(|(member, record)| MemberInfo { member, record })
                .collect();
            to_json(&MembersResponse { members })?
        }
        QueryMsg::Member { member } => {
            let record = MEMBERS
                .may_load(ctx, &member)?
                .ok_or_else(|| MembershipError::UnknownMember(member.clone()))?;
            to_json(&MemberInfo { member, record })?
        }
        QueryMsg::Totals {} => to_json(&TOTALS.load(ctx)?)?,
        QueryMsg::VotingPowerAt { member, height } => {
            to_json(&PowerResponse { power: units_at(ctx, &member, height)?, height })?
        }
        QueryMsg::TotalVotingPowerAt { height } => {
            to_json(&PowerResponse { power: total_units_at(ctx, height)?, height })?
        }
        QueryMsg::HasRole { member, role } => {
            let has_role =
                MEMBERS.may_load(ctx, &member)?.is_some_and(|m| m.active && m.roles.contains(&role));
            to_json(&HasRoleResponse { has_role })?
        }
        QueryMsg::Invitations {} => to_json(&pending(ctx, &INVITATIONS)?)?,
        QueryMsg::Applications {} => to_json(&pending(ctx, &APPLICATIONS)?)?,
        QueryMsg::Config {} => to_json(&CONFIG.load(ctx)?)?,
    };
    Ok(answer)
}

fn pending(ctx: &QueryCtx, map: &Map<&str, Terms>) -> Result<Vec<Pending>> {
    map.iter(ctx).map(|r| r.map(|(member, terms)| Pending { member, terms }).map_err(Into::into)).collect()
}

polypact_sdk::export!(init: init, handle: handle, query: query);
// The config fields that name other module instances (checked in charters).
polypact_sdk::references!("governance", "managers");
