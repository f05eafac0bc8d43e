//! Voting: the standard polypact governance module. Members propose, vote
//! (or delegate), and passed proposals run their messages.
//!
//! This crate owns proposals (including drafts that wait for a sponsor, the
//! anti-spam mode), votes, delegations, the decision table (a rule per kind
//! of proposal), the periods (voting, late-quorum extension, grace with
//! veto, expiry) and execution. It does not own who the members are or
//! their voting power: it asks the membership module (`voting_power_at`,
//! `total_voting_power_at`, `has_role`), fixing power at the height before
//! the proposal opened for voting, so units gained mid-vote do not count.
//! The message formats and the exact rules are in `README.md`.
//!
//! State layout:
//!
//! | name | type | what |
//! |---|---|---|
//! | `config` | `Item<Config>` | validated config |
//! | `next_id` | `Item<u64>` | the id of the next proposal |
//! | `proposals` | `Map<u64, Proposal>` | proposals with their running tally |
//! | `votes` | `Map<(u64, &str), Ballot>` | each voter's ballot per proposal |
//! | `counted_via` | `Map<(u64, &str), String>` | delegator → the delegate whose ballot carries its power |
//! | `delegations` | `Map<&str, String>` | delegator → delegate |
//! | `delegators` | `Map<(&str, &str), ()>` | index: delegate, delegator |
//! | `yes_votes` | `Map<(&str, u64), ()>` | index: voter, proposal on which its own ballot is yes |

use std::collections::BTreeMap;

use polypact_sdk::{Ctx, Event, Item, Json, Map, QueryCtx, Response, SystemMsg, to_json};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The rule every config must have.
pub const DEFAULT_KIND: &str = "default";
/// Page size of `proposals` when the query does not set one.
pub const DEFAULT_PAGE: u32 = 10;
/// The largest page.
pub const MAX_PAGE: u32 = 50;
/// Most options of a multiple-choice proposal.
pub const MAX_CHOICES: usize = 32;
/// Most messages a proposal may carry.
pub const MAX_MESSAGES: usize = 64;
/// Longest title, in bytes.
pub const MAX_TITLE_LEN: usize = 256;
/// Longest description, in bytes.
pub const MAX_DESCRIPTION_LEN: usize = 16 * 1024;

const CONFIG: Item<Config> = Item::new("config");
const NEXT_ID: Item<u64> = Item::new("next_id");
const PROPOSALS: Map<u64, Proposal> = Map::new("proposals");
const VOTES: Map<(u64, &str), Ballot> = Map::new("votes");
const COUNTED_VIA: Map<(u64, &str), String> = Map::new("counted_via");
const DELEGATIONS: Map<&str, String> = Map::new("delegations");
const DELEGATORS: Map<(&str, &str), ()> = Map::new("delegators");
const YES_VOTES: Map<(&str, u64), ()> = Map::new("yes_votes");

/// How many yes votes pass a proposal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Threshold {
    /// `{"majority":{}}`: yes > no.
    Majority {},
    /// `{"percent":{"percent":67}}`: yes ≥ percent% of yes + no.
    Percent {
        /// 1 to 100.
        percent: u64,
    },
    /// `{"absolute":{"count":3}}`: yes ≥ count units of voting power.
    Absolute {
        /// Minimum yes power.
        count: u64,
    },
    /// `{"unanimous":{}}`: every voting unit at the snapshot voted yes.
    Unanimous {},
}

/// A rule of the decision table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// The threshold over cast yes and no.
    pub threshold: Threshold,
    /// Cast power (yes + no + abstain) needed, in percent of the total at the snapshot.
    #[serde(default)]
    pub quorum_percent: u64,
}

/// Who may propose.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Proposers {
    /// `"members"`: anyone with voting power at the snapshot.
    Members,
    /// `{"role":"admin"}`: current members with this role.
    Role(String),
    /// `{"sponsored":{}}` or `{"sponsored":{"role":"admin"}}`: any member
    /// with voting power may propose, but a proposal starts as a `draft`
    /// and opens only when a sponsor sends `sponsor`. With a role, holders of
    /// the role propose directly and only they sponsor; without one, any
    /// *other* member with voting power sponsors (a second).
    Sponsored(Sponsorship),
}

/// The body of [`Proposers::Sponsored`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sponsorship {
    /// The role whose holders propose directly and sponsor; without one,
    /// any other member with voting power sponsors.
    #[serde(default)]
    pub role: Option<String>,
}

/// Who may veto during the grace period.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Veto {
    /// `{"role":"admin"}`: any current member with this role.
    Role(String),
    /// `{"member":"pm1…"}`: this member.
    Member(String),
}

/// The config (init), validated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The membership module's instance name.
    pub membership: String,
    /// The decision table: kind → rule; must have `default`.
    pub rules: BTreeMap<String, Rule>,
    /// Shortest voting period a proposal may ask for.
    pub min_period_ms: u64,
    /// Longest voting period (also the default).
    pub max_period_ms: u64,
    /// Time between the close of a passed proposal and its execution.
    #[serde(default)]
    pub grace_period_ms: u64,
    /// Late-quorum extension.
    #[serde(default)]
    pub late_quorum_extension_ms: u64,
    /// Whether a voter may change its vote while the proposal is open.
    #[serde(default)]
    pub allow_vote_change: bool,
    /// Who may propose.
    #[serde(default = "default_proposers")]
    pub proposers: Proposers,
    /// Module instances (e.g. `term`) that may send `propose`; their
    /// proposals are recorded as by `module:<name>` and need no voting power.
    #[serde(default)]
    pub module_proposers: Vec<String>,
    /// Who may veto, if anyone.
    #[serde(default)]
    pub veto: Option<Veto>,
    /// How long after the grace period a passed proposal may still be executed (forever if absent).
    #[serde(default)]
    pub expiry_ms: Option<u64>,
}

fn default_proposers() -> Proposers {
    Proposers::Members
}

/// A system message a proposal may carry (the SDK's [`SystemMsg`] in snake_case JSON).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProposalSystemMsg {
    /// Admit a participant.
    AddParticipant {
        /// Member id.
        member: String,
    },
    /// Remove a participant.
    RemoveParticipant {
        /// Member id.
        member: String,
    },
    /// Install a module instance.
    InstallModule {
        /// Instance name.
        name: String,
        /// Code hash, hex.
        code: String,
        /// Init config (JSON).
        config: Value,
        /// System permissions.
        #[serde(default)]
        permissions: Vec<String>,
    },
    /// Upgrade a module instance.
    UpgradeModule {
        /// Instance name.
        name: String,
        /// New code hash, hex.
        code: String,
        /// Migrate message (JSON).
        migrate_msg: Value,
    },
    /// Dissolve the partnership (the charter must grant `dissolve`).
    Dissolve {
        /// Why, as shown to clients.
        reason: String,
    },
}

/// A message a proposal runs if it passes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProposalMsg {
    /// `{"call":{"module":"membership","msg":{…}}}`.
    Call {
        /// Target module instance.
        module: String,
        /// Its handle message.
        msg: Value,
    },
    /// `{"system":{"add_participant":{"member":"pm1…"}}}`.
    System(ProposalSystemMsg),
}

/// A vote.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Choice {
    /// `"yes"`.
    Yes,
    /// `"no"`.
    No,
    /// `"abstain"`: counts for quorum only.
    Abstain,
    /// `{"option":i}`: option `i` (from 0) of a multiple-choice proposal.
    Option(u32),
}

/// Power cast per choice.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// Yes.
    pub yes: u64,
    /// No.
    pub no: u64,
    /// Abstain.
    pub abstain: u64,
    /// Per option of a multiple-choice proposal.
    pub options: Vec<u64>,
}

impl Tally {
    fn slot(&mut self, choice: Choice) -> Option<&mut u64> {
        match choice {
            Choice::Yes => Some(&mut self.yes),
            Choice::No => Some(&mut self.no),
            Choice::Abstain => Some(&mut self.abstain),
            Choice::Option(i) => self.options.get_mut(i as usize),
        }
    }

    fn add(&mut self, choice: Choice, power: u64) {
        if let Some(s) = self.slot(choice) {
            *s = s.saturating_add(power);
        }
    }

    fn sub(&mut self, choice: Choice, power: u64) {
        if let Some(s) = self.slot(choice) {
            *s = s.saturating_sub(power);
        }
    }

    /// All power cast.
    pub fn cast(&self) -> u64 {
        self.options
            .iter()
            .fold(self.yes.saturating_add(self.no).saturating_add(self.abstain), |a, b| a.saturating_add(*b))
    }
}

/// A stored proposal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    /// Its id (1, 2, 3…).
    pub id: u64,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Its kind: a key of the decision table.
    pub kind: String,
    /// The rule of its kind, fixed at creation.
    pub rule: Rule,
    /// Who proposed.
    pub proposer: String,
    /// Messages run on execution (yes/no proposals only).
    pub messages: Vec<ProposalMsg>,
    /// Options of a multiple-choice proposal.
    pub choices: Option<Vec<String>>,
    /// Voting power is read at the end of this height.
    pub snapshot_height: u64,
    /// Total voting power at the snapshot.
    pub total_power: u64,
    /// Creation time.
    pub created_ms: u64,
    /// The voting period asked for.
    pub period_ms: u64,
    /// Whether it waits for a sponsor (then snapshot, total power and
    /// times are 0 until it opens).
    pub draft: bool,
    /// Who sponsored it, if it needed a sponsor.
    pub sponsor: Option<String>,
    /// When voting opened (creation, or sponsorship for a draft).
    pub start_ms: u64,
    /// Voting ends (may be extended by late quorum).
    pub end_ms: u64,
    /// Set when a vote made the outcome final before `end_ms`.
    pub closed_early_ms: Option<u64>,
    /// When quorum was first reached.
    pub quorum_reached_ms: Option<u64>,
    /// All power cast, delegated power included.
    pub tally: Tally,
    /// Power cast by voters themselves (what no delegator can move).
    pub firm: Tally,
    /// Execution time, once executed.
    pub executed_ms: Option<u64>,
    /// Who vetoed, if someone did.
    pub vetoed_by: Option<String>,
}

/// One voter's ballot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ballot {
    /// The choice.
    pub choice: Choice,
    /// The voter's own power at the snapshot.
    pub own_power: u64,
    /// Delegators whose power this ballot carries, with their power.
    pub delegated: Vec<(String, u64)>,
    /// Own plus delegated power.
    pub weight: u64,
}

/// Where a proposal stands at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Waiting for a sponsor; no voting yet.
    Draft,
    /// Voting.
    Open,
    /// Closed without passing (or multiple-choice without a winner).
    Rejected,
    /// Passed, in the grace period (veto possible).
    Passed,
    /// Passed and past grace: may be executed.
    Executable,
    /// Multiple choice with a winner (nothing to execute).
    Decided,
    /// Executed.
    Executed,
    /// Vetoed.
    Vetoed,
    /// Passed but not executed in time.
    Expired,
}

/// Calls.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HandleMsg {
    /// Creates a proposal.
    Propose {
        /// Title.
        title: String,
        /// Description.
        #[serde(default)]
        description: String,
        /// Kind (a key of `rules`), `default` if absent.
        #[serde(default)]
        kind: Option<String>,
        /// Messages to run if it passes.
        #[serde(default)]
        messages: Vec<ProposalMsg>,
        /// Options, for a multiple-choice proposal.
        #[serde(default)]
        choices: Option<Vec<String>>,
        /// Voting period, between the config's min and max (max if absent).
        #[serde(default)]
        period_ms: Option<u64>,
    },
    /// Votes.
    Vote {
        /// Proposal id.
        proposal: u64,
        /// The choice.
        choice: Choice,
    },
    /// Delegates the caller's power.
    Delegate {
        /// The delegate.
        to: String,
    },
    /// Ends the caller's delegation.
    Undelegate {},
    /// Vetoes a proposal before its grace period ends.
    Veto {
        /// Proposal id.
        proposal: u64,
    },
    /// Runs a passed proposal's messages.
    Execute {
        /// Proposal id.
        proposal: u64,
    },
    /// Opens a draft proposal for voting (a sponsor, see [`Proposers::Sponsored`]).
    Sponsor {
        /// Proposal id.
        proposal: u64,
    },
}

/// Queries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueryMsg {
    /// One proposal with its status now.
    Proposal {
        /// Proposal id.
        id: u64,
    },
    /// Proposals in id order.
    Proposals {
        /// Start after this id.
        #[serde(default)]
        start_after: Option<u64>,
        /// Page size.
        #[serde(default)]
        limit: Option<u32>,
    },
    /// A voter's ballot (`null` if none).
    Vote {
        /// Proposal id.
        proposal: u64,
        /// Voter.
        voter: String,
    },
    /// A member's delegate (`null` if none).
    Delegation {
        /// The delegator.
        member: String,
    },
    /// Proposals still open, passed or executable on which `voter`'s own
    /// ballot is yes.
    OpenYesVotes {
        /// The voter.
        voter: String,
    },
    /// The config.
    Config {},
}

/// A proposal with its status and outcome at the query's time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposalView {
    /// The stored proposal.
    #[serde(flatten)]
    pub proposal: Proposal,
    /// Status at the query's time.
    pub status: Status,
    /// Winning option of a multiple-choice proposal, once decided.
    pub winner: Option<u32>,
    /// When it closed (or will close, if open).
    pub closes_ms: u64,
    /// From when it may be executed.
    pub executable_from_ms: u64,
}

/// Answer of `proposals`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposalsResponse {
    /// The page.
    pub proposals: Vec<ProposalView>,
}

/// Answer of `vote`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoteResponse {
    /// The ballot, if the voter voted.
    pub ballot: Option<Ballot>,
}

/// Answer of `open_yes_votes`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenYesVotesResponse {
    /// Proposal ids, ascending.
    pub proposals: Vec<u64>,
}

/// Answer of `delegation`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DelegationResponse {
    /// The delegate, if any.
    pub delegate: Option<String>,
}

/// Answer data of `propose`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposeResponse {
    /// The new proposal's id.
    pub id: u64,
}

/// Queries this module sends to the membership module.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MembershipQuery {
    /// `{"voting_power_at":{"member":"pm1…","height":N}}` → `{"power":N,…}`.
    VotingPowerAt {
        /// Member.
        member: String,
        /// Height.
        height: u64,
    },
    /// `{"total_voting_power_at":{"height":N}}` → `{"power":N,…}`.
    TotalVotingPowerAt {
        /// Height.
        height: u64,
    },
    /// `{"has_role":{"member":"pm1…","role":"admin"}}` → `{"has_role":true}`.
    HasRole {
        /// Member.
        member: String,
        /// Role.
        role: String,
    },
}

#[derive(Deserialize)]
struct PowerAnswer {
    power: u64,
}

#[derive(Deserialize)]
struct HasRoleAnswer {
    has_role: bool,
}

/// Why a voting call failed; the caller sees the text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VotingError {
    /// Storage, decoding or a query failed.
    #[error(transparent)]
    Sdk(#[from] polypact_sdk::Error),
    /// A bad config.
    #[error("invalid voting config: {0}")]
    Config(String),
    /// A bad proposal.
    #[error("invalid proposal: {0}")]
    BadProposal(String),
    /// No such proposal.
    #[error("there is no proposal {0}")]
    UnknownProposal(u64),
    /// The caller may not do this.
    #[error("not allowed: {0}")]
    NotAllowed(String),
    /// The proposal is not open.
    #[error("proposal {id} is closed for voting (status: {status:?})")]
    Closed {
        /// Proposal id.
        id: u64,
        /// Its status.
        status: Status,
    },
    /// A bad vote.
    #[error("invalid vote: {0}")]
    BadVote(String),
    /// A voter without power.
    #[error(
        "{member} had no voting power at height {height} (proposal {id}'s snapshot); only members then may vote"
    )]
    NoPower {
        /// The voter.
        member: String,
        /// The snapshot height.
        height: u64,
        /// Proposal id.
        id: u64,
    },
    /// Execution or veto in the wrong status.
    #[error("proposal {id} cannot be {what} now (status: {status:?})")]
    WrongStatus {
        /// Proposal id.
        id: u64,
        /// What was tried.
        what: &'static str,
        /// Its status.
        status: Status,
    },
    /// A bad delegation.
    #[error("invalid delegation: {0}")]
    BadDelegation(String),
    /// A vote on a draft.
    #[error(
        "proposal {0} is a draft; it opens for voting when a sponsor sends {{\"sponsor\":{{\"proposal\":{0}}}}}"
    )]
    Draft(u64),
}

type Result<T> = core::result::Result<T, VotingError>;

fn check_rule(kind: &str, rule: &Rule) -> Result<()> {
    if rule.quorum_percent > 100 {
        return Err(VotingError::Config(format!("rule {kind:?}: quorum_percent must be 0 to 100")));
    }
    match rule.threshold {
        Threshold::Percent { percent } if percent == 0 || percent > 100 => {
            Err(VotingError::Config(format!("rule {kind:?}: percent must be 1 to 100")))
        }
        Threshold::Absolute { count: 0 } => {
            Err(VotingError::Config(format!("rule {kind:?}: absolute count must be above 0")))
        }
        _ => Ok(()),
    }
}

/// `init`: validates and stores the config.
pub fn init(ctx: &mut Ctx, config: Config) -> Result<Response> {
    if config.membership.trim().is_empty() {
        return Err(VotingError::Config("membership must name the membership module".into()));
    }
    if !config.rules.contains_key(DEFAULT_KIND) {
        return Err(VotingError::Config("rules must have a \"default\" rule".into()));
    }
    for (kind, rule) in &config.rules {
        check_rule(kind, rule)?;
    }
    if config.min_period_ms == 0 || config.min_period_ms > config.max_period_ms {
        return Err(VotingError::Config("need 0 < min_period_ms <= max_period_ms".into()));
    }
    let mut seen = std::collections::BTreeSet::new();
    for m in &config.module_proposers {
        if m.trim().is_empty() || !seen.insert(m.as_str()) {
            return Err(VotingError::Config(format!(
                "module_proposers must name distinct module instances, got {m:?}"
            )));
        }
    }
    CONFIG.save(ctx, &config)?;
    NEXT_ID.save(ctx, &1)?;
    Ok(Response::new().add_event(
        Event::new("voting_configured")
            .attr("membership", &config.membership)
            .attr("kinds", config.rules.keys().cloned().collect::<Vec<_>>().join(",")),
    ))
}

fn power_at(ctx: &QueryCtx, config: &Config, member: &str, height: u64) -> Result<u64> {
    let a: PowerAnswer =
        ctx.query(&config.membership, &MembershipQuery::VotingPowerAt { member: member.into(), height })?;
    Ok(a.power)
}

fn has_role(ctx: &QueryCtx, config: &Config, member: &str, role: &str) -> Result<bool> {
    let a: HasRoleAnswer = ctx
        .query(&config.membership, &MembershipQuery::HasRole { member: member.into(), role: role.into() })?;
    Ok(a.has_role)
}

/// `handle`: every call of [`HandleMsg`].
pub fn handle(ctx: &mut Ctx, msg: HandleMsg) -> Result<Response> {
    let config = CONFIG.load(ctx)?;
    if let Some(module) = ctx.sender_module()
        && matches!(
            msg,
            HandleMsg::Vote { .. }
                | HandleMsg::Delegate { .. }
                | HandleMsg::Undelegate {}
                | HandleMsg::Veto { .. }
                | HandleMsg::Sponsor { .. }
        )
    {
        return Err(VotingError::NotAllowed(format!(
            "a member votes, delegates, vetoes and sponsors with its own op, not through module `{module}`"
        )));
    }
    match msg {
        HandleMsg::Sponsor { proposal } => sponsor(ctx, &config, proposal),
        HandleMsg::Propose { title, description, kind, messages, choices, period_ms } => {
            propose(ctx, &config, title, description, kind, messages, choices, period_ms)
        }
        HandleMsg::Vote { proposal, choice } => vote(ctx, &config, proposal, choice),
        HandleMsg::Delegate { to } => {
            let from = ctx.caller().to_owned();
            if to == from {
                return Err(VotingError::BadDelegation("a member cannot delegate to itself".into()));
            }
            if let Some(old) = DELEGATIONS.may_load(ctx, &from)? {
                DELEGATORS.remove(ctx, (&old, &from));
            }
            DELEGATIONS.save(ctx, &from, &to)?;
            DELEGATORS.save(ctx, (&to, &from), &())?;
            Ok(Response::new()
                .add_event(Event::new("delegated").attr("delegator", from).attr("delegate", to)))
        }
        HandleMsg::Undelegate {} => {
            let from = ctx.caller().to_owned();
            let old = DELEGATIONS
                .may_load(ctx, &from)?
                .ok_or_else(|| VotingError::BadDelegation(format!("{from} has no delegate")))?;
            DELEGATIONS.remove(ctx, &from);
            DELEGATORS.remove(ctx, (&old, &from));
            Ok(Response::new()
                .add_event(Event::new("undelegated").attr("delegator", from).attr("delegate", old)))
        }
        HandleMsg::Veto { proposal } => {
            let caller = ctx.caller().to_owned();
            let allowed = match &config.veto {
                None => return Err(VotingError::NotAllowed("this partnership has no veto".into())),
                Some(Veto::Member(m)) => *m == caller,
                Some(Veto::Role(r)) => has_role(ctx, &config, &caller, r)?,
            };
            if !allowed {
                return Err(VotingError::NotAllowed(format!("{caller} does not hold the veto")));
            }
            let mut p = load(ctx, proposal)?;
            let status = outcome(&config, &p, ctx.time_ms()).status;
            if !matches!(status, Status::Open | Status::Passed) {
                return Err(VotingError::WrongStatus { id: proposal, what: "vetoed", status });
            }
            p.vetoed_by = Some(caller.clone());
            PROPOSALS.save(ctx, proposal, &p)?;
            Ok(Response::new()
                .add_event(Event::new("proposal_vetoed").attr("proposal", proposal).attr("by", caller)))
        }
        HandleMsg::Execute { proposal } => {
            let mut p = load(ctx, proposal)?;
            let status = outcome(&config, &p, ctx.time_ms()).status;
            if status != Status::Executable {
                return Err(VotingError::WrongStatus { id: proposal, what: "executed", status });
            }
            p.executed_ms = Some(ctx.time_ms());
            PROPOSALS.save(ctx, proposal, &p)?;
            let mut response = Response::new().add_event(
                Event::new("proposal_executed")
                    .attr("proposal", proposal)
                    .attr("by", ctx.caller())
                    .attr("messages", p.messages.len()),
            );
            for m in p.messages {
                response = match m {
                    ProposalMsg::Call { module, msg } => response.add_message(module, &msg)?,
                    ProposalMsg::System(s) => response.add_system(system_msg(s)?),
                };
            }
            Ok(response)
        }
    }
}

fn system_msg(s: ProposalSystemMsg) -> Result<SystemMsg> {
    Ok(match s {
        ProposalSystemMsg::AddParticipant { member } => SystemMsg::AddParticipant { member },
        ProposalSystemMsg::RemoveParticipant { member } => SystemMsg::RemoveParticipant { member },
        ProposalSystemMsg::InstallModule { name, code, config, permissions } => {
            SystemMsg::InstallModule { name, code, config: to_json(&config)?.0, permissions }
        }
        ProposalSystemMsg::UpgradeModule { name, code, migrate_msg } => {
            SystemMsg::UpgradeModule { name, code, migrate_msg: to_json(&migrate_msg)?.0 }
        }
        ProposalSystemMsg::Dissolve { reason } => SystemMsg::Dissolve { reason },
    })
}

fn load(ctx: &QueryCtx, id: u64) -> Result<Proposal> {
    PROPOSALS.may_load(ctx, id)?.ok_or(VotingError::UnknownProposal(id))
}

#[allow(clippy::too_many_arguments)]
fn propose(
    ctx: &mut Ctx,
    config: &Config,
    title: String,
    description: String,
    kind: Option<String>,
    messages: Vec<ProposalMsg>,
    choices: Option<Vec<String>>,
    period_ms: Option<u64>,
) -> Result<Response> {
    let snapshot_height = ctx.height().saturating_sub(1);
    let caller = match ctx.sender_module() {
        Some(module) if config.module_proposers.iter().any(|m| m == module) => format!("module:{module}"),
        Some(module) => {
            return Err(VotingError::NotAllowed(format!(
                "module `{module}` may not propose; list it in the config's module_proposers"
            )));
        }
        None => ctx.caller().to_owned(),
    };
    let draft = match &config.proposers {
        _ if ctx.sender_module().is_some() => false,
        Proposers::Members | Proposers::Sponsored(_) => {
            if power_at(ctx, config, &caller, snapshot_height)? == 0 {
                return Err(VotingError::NotAllowed(format!(
                    "only members with voting power may propose, and {caller} had none at height {snapshot_height}"
                )));
            }
            match &config.proposers {
                Proposers::Sponsored(Sponsorship { role: Some(role) }) => {
                    !has_role(ctx, config, &caller, role)?
                }
                Proposers::Sponsored(Sponsorship { role: None }) => true,
                _ => false,
            }
        }
        Proposers::Role(role) => {
            if !has_role(ctx, config, &caller, role)? {
                return Err(VotingError::NotAllowed(format!("only members with role {role:?} may propose")));
            }
            false
        }
    };
    if title.trim().is_empty() || title.len() > MAX_TITLE_LEN {
        return Err(VotingError::BadProposal(format!("the title must be 1 to {MAX_TITLE_LEN} bytes")));
    }
    if description.len() > MAX_DESCRIPTION_LEN {
        return Err(VotingError::BadProposal(format!("the description is over {MAX_DESCRIPTION_LEN} bytes")));
    }
    let kind = kind.unwrap_or_else(|| DEFAULT_KIND.into());
    let rule = config.rules.get(&kind).cloned().ok_or_else(|| {
        let kinds: Vec<&str> = config.rules.keys().map(String::as_str).collect();
        VotingError::BadProposal(format!(
            "unknown kind {kind:?}; the decision table has {}",
            kinds.join(", ")
        ))
    })?;
    if messages.len() > MAX_MESSAGES {
        return Err(VotingError::BadProposal(format!("at most {MAX_MESSAGES} messages")));
    }
    let mut tally = Tally::default();
    if let Some(c) = &choices {
        if c.len() < 2 || c.len() > MAX_CHOICES {
            return Err(VotingError::BadProposal(format!(
                "a multiple-choice proposal needs 2 to {MAX_CHOICES} choices"
            )));
        }
        if !messages.is_empty() {
            return Err(VotingError::BadProposal("a multiple-choice proposal cannot carry messages".into()));
        }
        tally.options = vec![0; c.len()];
    }
    let period = period_ms.unwrap_or(config.max_period_ms);
    if period < config.min_period_ms || period > config.max_period_ms {
        return Err(VotingError::BadProposal(format!(
            "period_ms must be between {} and {}, got {period}",
            config.min_period_ms, config.max_period_ms
        )));
    }
    let id = NEXT_ID.load(ctx)?;
    let mut p = Proposal {
        id,
        title,
        description,
        kind,
        rule,
        proposer: caller,
        messages,
        choices,
        snapshot_height: 0,
        total_power: 0,
        created_ms: ctx.time_ms(),
        period_ms: period,
        draft,
        sponsor: None,
        start_ms: 0,
        end_ms: 0,
        closed_early_ms: None,
        quorum_reached_ms: None,
        firm: tally.clone(),
        tally,
        executed_ms: None,
        vetoed_by: None,
    };
    if !draft {
        open(ctx, config, &mut p)?;
    }
    NEXT_ID.save(ctx, &(id + 1))?;
    PROPOSALS.save(ctx, id, &p)?;
    let event = Event::new("proposal_created")
        .attr("proposal", id)
        .attr("proposer", &p.proposer)
        .attr("kind", &p.kind)
        .attr("draft", draft);
    let event = if draft { event } else { opened_attrs(event, &p) };
    Ok(Response::new().add_event(event).set_data(&ProposeResponse { id })?)
}

fn opened_attrs(event: Event, p: &Proposal) -> Event {
    event
        .attr("snapshot_height", p.snapshot_height)
        .attr("total_power", p.total_power)
        .attr("end_ms", p.end_ms)
}

/// Opens a proposal for voting now: fixes the snapshot (the height before
/// this op), the total power then, and the voting period.
fn open(ctx: &Ctx, config: &Config, p: &mut Proposal) -> Result<()> {
    let snapshot_height = ctx.height().saturating_sub(1);
    let total: PowerAnswer =
        ctx.query(&config.membership, &MembershipQuery::TotalVotingPowerAt { height: snapshot_height })?;
    if total.power == 0 {
        return Err(VotingError::BadProposal(format!(
            "there was no voting power at height {snapshot_height}"
        )));
    }
    p.draft = false;
    p.snapshot_height = snapshot_height;
    p.total_power = total.power;
    p.start_ms = ctx.time_ms();
    p.end_ms = p.start_ms.saturating_add(p.period_ms);
    Ok(())
}

fn sponsor(ctx: &mut Ctx, config: &Config, id: u64) -> Result<Response> {
    let caller = ctx.caller().to_owned();
    let mut p = load(ctx, id)?;
    let status = outcome(config, &p, ctx.time_ms()).status;
    if status != Status::Draft {
        return Err(VotingError::WrongStatus { id, what: "sponsored", status });
    }
    match &config.proposers {
        Proposers::Sponsored(Sponsorship { role: Some(role) }) => {
            if !has_role(ctx, config, &caller, role)? {
                return Err(VotingError::NotAllowed(format!(
                    "only members with role {role:?} may sponsor a proposal"
                )));
            }
        }
        _ => {
            if caller == p.proposer {
                return Err(VotingError::NotAllowed(format!(
                    "{caller} proposed {id}; another member must sponsor it"
                )));
            }
            let height = ctx.height().saturating_sub(1);
            if power_at(ctx, config, &caller, height)? == 0 {
                return Err(VotingError::NotAllowed(format!(
                    "only members with voting power may sponsor, and {caller} had none at height {height}"
                )));
            }
        }
    }
    open(ctx, config, &mut p)?;
    p.sponsor = Some(caller.clone());
    PROPOSALS.save(ctx, id, &p)?;
    let event = Event::new("proposal_sponsored").attr("proposal", id).attr("sponsor", caller);
    Ok(Response::new().add_event(opened_attrs(event, &p)).set_data(&ProposeResponse { id })?)
}

fn vote(ctx: &mut Ctx, config: &Config, id: u64, choice: Choice) -> Result<Response> {
    let voter = ctx.caller().to_owned();
    let now = ctx.time_ms();
    let mut p = load(ctx, id)?;
    let status = outcome(config, &p, now).status;
    if status == Status::Draft {
        return Err(VotingError::Draft(id));
    }
    if status != Status::Open {
        return Err(VotingError::Closed { id, status });
    }
    match (&p.choices, choice) {
        (None, Choice::Option(_)) => {
            return Err(VotingError::BadVote(format!(
                "proposal {id} is yes/no; vote \"yes\", \"no\" or \"abstain\""
            )));
        }
        (Some(_), Choice::Yes | Choice::No) => {
            return Err(VotingError::BadVote(format!(
                "proposal {id} is multiple choice; vote {{\"option\":i}} or \"abstain\""
            )));
        }
        (Some(c), Choice::Option(i)) if i as usize >= c.len() => {
            return Err(VotingError::BadVote(format!("proposal {id} has options 0 to {}", c.len() - 1)));
        }
        _ => {}
    }
    let mut event =
        Event::new("vote_cast").attr("proposal", id).attr("voter", &voter).attr("choice", label(choice));
    if let Some(mut ballot) = VOTES.may_load(ctx, (id, &voter))? {
        if !config.allow_vote_change {
            return Err(VotingError::BadVote(format!(
                "{voter} already voted on proposal {id}; votes cannot be changed"
            )));
        }
        p.tally.sub(ballot.choice, ballot.weight);
        p.firm.sub(ballot.choice, ballot.own_power);
        if ballot.choice == Choice::Yes {
            YES_VOTES.remove(ctx, (&voter, id));
        }
        ballot.choice = choice;
        p.tally.add(choice, ballot.weight);
        p.firm.add(choice, ballot.own_power);
        if choice == Choice::Yes {
            YES_VOTES.save(ctx, (&voter, id), &())?;
        }
        VOTES.save(ctx, (id, &voter), &ballot)?;
        event = event.attr("weight", ballot.weight).attr("changed", true);
    } else {
        let own = power_at(ctx, config, &voter, p.snapshot_height)?;
        // A delegator voting itself takes its power back from its delegate's ballot.
        if let Some(delegate) = COUNTED_VIA.may_load(ctx, (id, &voter))? {
            let mut theirs = VOTES.load(ctx, (id, &delegate))?;
            if let Some(pos) = theirs.delegated.iter().position(|(d, _)| *d == voter) {
                let (_, power) = theirs.delegated.remove(pos);
                theirs.weight = theirs.weight.saturating_sub(power);
                p.tally.sub(theirs.choice, power);
                VOTES.save(ctx, (id, &delegate), &theirs)?;
            }
            COUNTED_VIA.remove(ctx, (id, &voter));
            event = event.attr("overrode_delegate", delegate);
        }
        let delegators = DELEGATORS
            .prefix(voter.as_str())
            .iter(ctx)
            .map(|r| r.map(|(d, ())| d))
            .collect::<core::result::Result<Vec<String>, _>>()?;
        let mut delegated = Vec::new();
        let mut weight = own;
        for d in delegators {
            if VOTES.has(ctx, (id, &d))? || COUNTED_VIA.has(ctx, (id, &d))? {
                continue;
            }
            let power = power_at(ctx, config, &d, p.snapshot_height)?;
            if power == 0 {
                continue;
            }
            COUNTED_VIA.save(ctx, (id, &d), &voter)?;
            weight = weight.saturating_add(power);
            delegated.push((d, power));
        }
        if weight == 0 {
            return Err(VotingError::NoPower { member: voter, height: p.snapshot_height, id });
        }
        p.tally.add(choice, weight);
        p.firm.add(choice, own);
        if choice == Choice::Yes {
            YES_VOTES.save(ctx, (&voter, id), &())?;
        }
        event = event.attr("weight", weight).attr("delegated", delegated.len());
        VOTES.save(ctx, (id, &voter), &Ballot { choice, own_power: own, delegated, weight })?;
    }
    // Late quorum: quorum first reached within the last X ms moves the end to now + X.
    if p.quorum_reached_ms.is_none() && quorum_met(&p.rule, &p.tally, p.total_power) {
        p.quorum_reached_ms = Some(now);
        let x = config.late_quorum_extension_ms;
        if x > 0 && now.saturating_add(x) > p.end_ms {
            p.end_ms = now.saturating_add(x);
            event = event.attr("extended_to_ms", p.end_ms);
        }
    }
    if !config.allow_vote_change && p.choices.is_none() && decided(&p).is_some() {
        p.closed_early_ms = Some(now);
        event = event.attr("closed_early", true);
    }
    PROPOSALS.save(ctx, id, &p)?;
    Ok(Response::new().add_event(event))
}

fn label(choice: Choice) -> String {
    match choice {
        Choice::Yes => "yes".into(),
        Choice::No => "no".into(),
        Choice::Abstain => "abstain".into(),
        Choice::Option(i) => format!("option {i}"),
    }
}

fn quorum_met(rule: &Rule, tally: &Tally, total: u64) -> bool {
    (tally.cast() as u128) * 100 >= (rule.quorum_percent as u128) * (total as u128)
}

fn threshold_met(rule: &Rule, yes: u64, no: u64, abstain: u64, total: u64) -> bool {
    let (y, n) = (yes as u128, no as u128);
    match rule.threshold {
        Threshold::Majority {} => y > n,
        Threshold::Percent { percent } => y > 0 && y * 100 >= (percent as u128) * (y + n),
        Threshold::Absolute { count } => yes >= count,
        Threshold::Unanimous {} => total > 0 && yes >= total && abstain == 0 && no == 0,
    }
}

/// Whether a yes/no proposal passes with this tally.
fn passes(p: &Proposal, t: &Tally) -> bool {
    quorum_met(&p.rule, t, p.total_power) && threshold_met(&p.rule, t.yes, t.no, t.abstain, p.total_power)
}

/// `Some(pass)` if no further vote can change the outcome of an open yes/no
/// proposal (votes cannot be changed; power not firmly cast may still go anywhere).
fn decided(p: &Proposal) -> Option<bool> {
    let movable = p.total_power.saturating_sub(p.firm.cast());
    // Worst case for yes: every movable unit votes no.
    // Cast power never shrinks (a delegator overriding its delegate still votes),
    // so quorum is judged on the current tally.
    let worst_no = p.firm.no.saturating_add(movable);
    if quorum_met(&p.rule, &p.tally, p.total_power)
        && threshold_met(&p.rule, p.firm.yes, worst_no, p.firm.abstain, p.total_power)
    {
        return Some(true);
    }
    // Best case: every movable unit votes yes.
    let best = Tally { yes: p.firm.yes.saturating_add(movable), ..p.firm.clone() };
    if !passes(p, &best) {
        return Some(false);
    }
    None
}

struct Outcome {
    status: Status,
    winner: Option<u32>,
    closes_ms: u64,
    executable_from_ms: u64,
}

fn outcome(config: &Config, p: &Proposal, now: u64) -> Outcome {
    let closes_ms = p.closed_early_ms.unwrap_or(p.end_ms);
    let executable_from_ms = closes_ms.saturating_add(config.grace_period_ms);
    let mut winner = None;
    let status = if p.draft {
        Status::Draft
    } else if p.executed_ms.is_some() {
        Status::Executed
    } else if p.vetoed_by.is_some() {
        Status::Vetoed
    } else if now < closes_ms {
        Status::Open
    } else if let Some(options) = p.choices.as_ref().map(|_| &p.tally.options) {
        let best = options.iter().copied().max().unwrap_or(0);
        let top: Vec<usize> =
            options.iter().enumerate().filter(|(_, v)| **v == best).map(|(i, _)| i).collect();
        if quorum_met(&p.rule, &p.tally, p.total_power) && best > 0 && top.len() == 1 {
            winner = top.first().map(|i| *i as u32);
            Status::Decided
        } else {
            Status::Rejected
        }
    } else if !passes(p, &p.tally) {
        Status::Rejected
    } else if now < executable_from_ms {
        Status::Passed
    } else if config.expiry_ms.is_some_and(|e| now >= executable_from_ms.saturating_add(e)) {
        Status::Expired
    } else {
        Status::Executable
    };
    Outcome { status, winner, closes_ms, executable_from_ms }
}

fn view(config: &Config, p: Proposal, now: u64) -> ProposalView {
    let o = outcome(config, &p, now);
    ProposalView {
        proposal: p,
        status: o.status,
        winner: o.winner,
        closes_ms: o.closes_ms,
        executable_from_ms: o.executable_from_ms,
    }
}

/// `query`: every query of [`QueryMsg`].
pub fn query(ctx: &QueryCtx, msg: QueryMsg) -> Result<Json> {
    let config = CONFIG.load(ctx)?;
    let now = ctx.time_ms();
    let answer = match msg {
        QueryMsg::Proposal { id } => to_json(&view(&config, load(ctx, id)?, now))?,
        QueryMsg::Proposals { start_after, limit } => {
            let limit = limit.unwrap_or(DEFAULT_PAGE).min(MAX_PAGE);
            let proposals = PROPOSALS
                .range(ctx, start_after, limit)?
                .into_iter()
                .map(|(_, p)| view(&config, p, now))
                .collect();
            to_json(&ProposalsResponse { proposals })?
        }
        QueryMsg::Vote { proposal, voter } => {
            load(ctx, proposal)?;
            to_json(&VoteResponse { ballot: VOTES.may_load(ctx, (proposal, &voter))? })?
        }
        QueryMsg::Delegation { member } => {
            to_json(&DelegationResponse { delegate: DELEGATIONS.may_load(ctx, &member)? })?
        }
        QueryMsg::OpenYesVotes { voter } => {
            let mut proposals = Vec::new();
            for entry in YES_VOTES.prefix(voter.as_str()).iter(ctx) {
                let (id, ()) = entry?;
                let p = load(ctx, id)?;
                if matches!(
                    outcome(&config, &p, now).status,
                    Status::Open | Status::Passed | Status::Executable
                ) {
                    proposals.push(id);
                }
            }
            to_json(&OpenYesVotesResponse { proposals })?
        }
        QueryMsg::Config {} => to_json(&config)?,
    };
    Ok(answer)
}

polypact_sdk::export!(init: init, handle: handle, query: query);
// The config fields that name other module instances (checked in charters).
polypact_sdk::references!("membership", "module_proposers");
