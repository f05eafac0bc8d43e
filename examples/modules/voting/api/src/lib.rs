//! The interface of the standard voting module: what other modules and
//! clients send it and what it answers, as types.
//!
//! This crate owns the voting module's wire formats: its config
//! ([`Config`], with the decision table of [`Rule`]s), calls
//! ([`HandleMsg`], whose `propose` carries [`ProposalMsg`]s), queries
//! ([`QueryMsg`]) and their answers ([`ProposalView`] and the other
//! `*Response` types). It does not own the rules (the `voting` crate beside
//! it, which re-exports these types as its `msg`).
//!
//! A module that proposes (term's reviews), reads a proposal (treasury's
//! spends) or a voter's open yes votes (exit's ragequit) depends on this
//! crate, not on the voting module itself, and builds its messages from
//! these types:
//!
//! ```
//! use voting_api::{HandleMsg, ProposalMsg};
//!
//! let propose = HandleMsg::Propose {
//!     title: "Paint the shop".into(),
//!     description: String::new(),
//!     kind: None,
//!     messages: vec![ProposalMsg::Call {
//!         module: "membership".into(),
//!         msg: serde_json::json!({"expel": {"member": "pm1mallory"}}),
//!     }],
//!     choices: None,
//!     period_ms: Some(86_400_000),
//! };
//! let json = serde_json::to_value(&propose).unwrap();
//! assert_eq!(json["propose"]["messages"][0]["call"]["module"], "membership");
//! ```
//!
//! The JSON forms and the exact rules are in the module's `README.md`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The rule every config must have, and the kind of a proposal that names none.
pub const DEFAULT_KIND: &str = "default";

/// The kind of a system message when the config's `kinds` does not map it.
pub fn default_system_kind(msg: &ProposalSystemMsg) -> &'static str {
    match msg {
        ProposalSystemMsg::AddParticipant { .. } => "admit_member",
        ProposalSystemMsg::RemoveParticipant { .. } => "expel_member",
        ProposalSystemMsg::InstallModule { .. } | ProposalSystemMsg::UpgradeModule { .. } => "charter_change",
        ProposalSystemMsg::Dissolve { .. } => "dissolve",
        ProposalSystemMsg::SpawnPartnership { .. } => "spawn_partnership",
    }
}

impl ProposalSystemMsg {
    /// The SDK's system message this stands for, as a module sends it.
    pub fn into_system(self) -> polypact_sdk::SystemMsg {
        use polypact_sdk::SystemMsg;
        match self {
            ProposalSystemMsg::AddParticipant { member } => SystemMsg::AddParticipant { member },
            ProposalSystemMsg::RemoveParticipant { member } => SystemMsg::RemoveParticipant { member },
            ProposalSystemMsg::InstallModule { name, code, config, permissions } => {
                SystemMsg::InstallModule { name, code, config: config.to_string().into_bytes(), permissions }
            }
            ProposalSystemMsg::UpgradeModule { name, code, migrate_msg } => {
                SystemMsg::UpgradeModule { name, code, migrate_msg: migrate_msg.to_string().into_bytes() }
            }
            ProposalSystemMsg::Dissolve { reason } => SystemMsg::Dissolve { reason },
            ProposalSystemMsg::SpawnPartnership { charter, values, participants } => {
                SystemMsg::SpawnPartnership {
                    charter: charter.to_string().into_bytes(),
                    values: values.into_iter().collect(),
                    participants,
                }
            }
        }
    }
}

/// The name of a system message, as `kinds` keys spell it after `system.`.
pub fn system_msg_name(msg: &ProposalSystemMsg) -> &'static str {
    match msg {
        ProposalSystemMsg::AddParticipant { .. } => "add_participant",
        ProposalSystemMsg::RemoveParticipant { .. } => "remove_participant",
        ProposalSystemMsg::InstallModule { .. } => "install_module",
        ProposalSystemMsg::UpgradeModule { .. } => "upgrade_module",
        ProposalSystemMsg::Dissolve { .. } => "dissolve",
        ProposalSystemMsg::SpawnPartnership { .. } => "spawn_partnership",
    }
}

/// The message name of a call: the top-level key of its JSON object (the
/// form every standard module's messages take), if it has exactly one.
pub fn call_msg_name(msg: &Value) -> Option<&str> {
    match msg.as_object() {
        Some(map) if map.len() == 1 => map.keys().next().map(String::as_str),
        _ => None,
    }
}

/// The kind the config's `kinds` gives a call of `module` with `msg`:
/// `"module.message"` first, then `"module"`. `None`: ask the module
/// ([`KindQuery`]), then `default`.
pub fn kind_of_call<'a>(kinds: &'a BTreeMap<String, String>, module: &str, msg: &Value) -> Option<&'a str> {
    call_msg_name(msg)
        .and_then(|name| kinds.get(&format!("{module}.{name}")))
        .or_else(|| kinds.get(module))
        .map(String::as_str)
}

/// The query voting sends a proposal's target module to learn the kind of
/// one of its messages: `{"proposal_kind":{"msg":{…}}}`. A module declares
/// the kinds of its own messages by answering it ([`KindResponse`]); one
/// that does not (or errs) leaves the message at `default`. The answer may
/// depend on the message's content (the treasury names a spend above its
/// limit `spend_above`, one below it nothing).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KindQuery {
    /// The kind of `msg`, a message to the queried module.
    ProposalKind {
        /// The message, as the proposal carries it.
        msg: Value,
    },
}

/// The answer to [`KindQuery`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindResponse {
    /// The message's kind, or `None` for `default`.
    pub kind: Option<String>,
}

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
    /// Kinds of messages the charter decides, over what modules declare:
    /// `"module.message"` (a call's top-level key), `"module"` (any call to
    /// that instance) or `"system.add_participant"` etc. → a kind of the
    /// decision table. See [`kind_of_call`] for the whole order.
    #[serde(default)]
    pub kinds: BTreeMap<String, String>,
    /// Kinds reserved for unanimity: whatever the decision table says,
    /// a proposal carrying one needs every voting unit at the snapshot.
    #[serde(default)]
    pub reserved: Vec<String>,
    /// Whether the voting power of members suspended for absence (see the
    /// runtime's `system` statuses) counts in a proposal's total, and so in
    /// its quorum and thresholds. Default `true`: a suspension never lowers
    /// the bar, so a majority cannot suspend a partner and then pass what
    /// needs that partner's vote. `false` counts only those present.
    #[serde(default = "default_true")]
    pub suspended_count_in_total: bool,
}

fn default_true() -> bool {
    true
}

fn default_proposers() -> Proposers {
    Proposers::Members
}

/// `migrate`: changes to the decision table (fields left out keep their
/// value), e.g. `{"reserved":["admit_member"]}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MigrateMsg {
    /// A new decision table (must keep `default`).
    #[serde(default)]
    pub rules: Option<BTreeMap<String, Rule>>,
    /// A new map of messages to kinds.
    #[serde(default)]
    pub kinds: Option<BTreeMap<String, String>>,
    /// New kinds reserved for unanimity.
    #[serde(default)]
    pub reserved: Option<Vec<String>>,
}

/// A system message a proposal may carry (the SDK's `SystemMsg` in snake_case JSON).
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
    /// Spawn a child partnership (the charter must grant
    /// `spawn_partnership`): `{"spawn_partnership":{"charter":{…},
    /// "values":{"fee_bps":"500"},"participants":["pm1…"]}}`.
    SpawnPartnership {
        /// The child's charter (JSON, the runtime's form).
        charter: Value,
        /// Placeholder values.
        #[serde(default)]
        values: BTreeMap<String, String>,
        /// The child's participants.
        participants: Vec<String>,
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
    /// `{"partnership":{"to":"pp1…","module":"voting","msg":{…}}}`: a
    /// message to a module of another partnership, sent in this
    /// partnership's name (it arrives there with this partnership, `pp1…`,
    /// as the caller): how a partnership that is a member of another votes,
    /// confirms or leaves there. The voting instance needs the
    /// `message_partnerships` permission. Its kind is
    /// [`PARTNERSHIP_MESSAGE_KIND`] unless `kinds` maps
    /// `"partnership.<module>.<message>"` or `"partnership.<module>"`.
    Partnership {
        /// The other partnership: `pp1…` or 64 hex digits.
        to: String,
        /// The module instance there.
        module: String,
        /// Its handle message.
        msg: Value,
    },
}

/// The kind of a message to another partnership when `kinds` does not map
/// it: acting in this partnership's name elsewhere.
pub const PARTNERSHIP_MESSAGE_KIND: &str = "partnership_message";

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

    /// Adds `power` to `choice`'s count (an option the proposal lacks: nothing).
    pub fn add(&mut self, choice: Choice, power: u64) {
        if let Some(s) = self.slot(choice) {
            *s = s.saturating_add(power);
        }
    }

    /// Takes `power` from `choice`'s count (an option the proposal lacks: nothing).
    pub fn sub(&mut self, choice: Choice, power: u64) {
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
    /// Its principal kind: the strictest of [`rules`](Self::rules) (a
    /// reserved kind first, then any but `default`), for display.
    pub kind: String,
    /// The rule of that kind, fixed at creation.
    pub rule: Rule,
    /// Every kind the proposal's messages carry (and its label, if it
    /// names one), with its rule at creation: the proposal passes only if
    /// it meets all of them. Execution checks them again against the
    /// decision table as it stands then.
    #[serde(default)]
    pub rules: BTreeMap<String, Rule>,
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

impl core::fmt::Display for Status {
    /// The status as it reads in JSON (`executed`).
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Status::Draft => "draft",
            Status::Open => "open",
            Status::Rejected => "rejected",
            Status::Passed => "passed",
            Status::Executable => "executable",
            Status::Decided => "decided",
            Status::Executed => "executed",
            Status::Vetoed => "vetoed",
            Status::Expired => "expired",
        })
    }
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
