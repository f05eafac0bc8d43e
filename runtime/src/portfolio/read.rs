//! The standard modules as the node's views read them: which instance of a
//! partnership is its membership, voting, treasury, exit, vesting, term and
//! disputes module, and typed queries of them built from their interface
//! crates (`membership-api`, `voting-api`, `treasury-api`, `exit-api`,
//! `vesting-api`, `term-api`, `disputes-api`), sent through the same
//! [`NodeHandle`] calls as the JSON API's.
//!
//! The portfolio and the web console's pages read through this file, so a
//! change of a module's answers is a compile error in both, and both agree
//! on which instance is which. An instance's kind is read from its init
//! config in the charter (each standard module's config has its own shape,
//! refused by the others'), and for a module installed later, from its
//! instance name. It owns no rule of any module and sends no call.

use std::collections::BTreeMap;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::node::{NodeError, NodeHandle, PartnershipInfo};
use crate::op::PartnershipId;

/// Why a read of a standard module failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The node refused or failed the query (unknown partnership, the
    /// module rejected the query, the node stopped…).
    #[error(transparent)]
    Node(#[from] NodeError),
    /// A module answered in a shape its interface crate does not read.
    #[error("the {module} module answered in an unexpected shape ({detail}); is it a standard module?")]
    Answer {
        /// The module instance.
        module: String,
        /// What did not fit.
        detail: String,
    },
    /// The partnership has no module of this kind.
    #[error("this partnership has no {0} module")]
    NoModule(&'static str),
}

/// The kind of a standard module instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Kind {
    /// `membership`.
    Membership,
    /// `voting`.
    Voting,
    /// `treasury`.
    Treasury,
    /// `exit`.
    Exit,
    /// `vesting`.
    Vesting,
    /// `term`.
    Term,
    /// `disputes`.
    Disputes,
}

impl Kind {
    /// Every kind, in the order the portfolio reads them.
    pub(crate) const ALL: [Kind; 7] = [
        Kind::Membership,
        Kind::Voting,
        Kind::Treasury,
        Kind::Exit,
        Kind::Vesting,
        Kind::Term,
        Kind::Disputes,
    ];

    /// The kind's name (also the instance name a charter usually gives it).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Membership => "membership",
            Kind::Voting => "voting",
            Kind::Treasury => "treasury",
            Kind::Exit => "exit",
            Kind::Vesting => "vesting",
            Kind::Term => "term",
            Kind::Disputes => "disputes",
        }
    }

    /// Whether `config` (an init config's JSON text) is this kind's.
    fn reads(self, config: &str) -> bool {
        match self {
            Kind::Membership => serde_json::from_str::<membership_api::InitConfig>(config).is_ok(),
            Kind::Voting => serde_json::from_str::<voting_api::Config>(config).is_ok(),
            Kind::Treasury => serde_json::from_str::<treasury_api::InitConfig>(config).is_ok(),
            Kind::Exit => serde_json::from_str::<exit_api::Config>(config).is_ok(),
            Kind::Vesting => serde_json::from_str::<vesting_api::Config>(config).is_ok(),
            Kind::Term => serde_json::from_str::<term_api::InitConfig>(config).is_ok(),
            Kind::Disputes => serde_json::from_str::<disputes_api::Config>(config).is_ok(),
        }
    }
}

/// The kind of a standard module instance, if it is one: by its charter
/// config when it has one, else (a module installed later) by its name.
pub(crate) fn kind_of(name: &str, charter_config: Option<&str>) -> Option<Kind> {
    match charter_config {
        Some(config) => Kind::ALL.into_iter().find(|kind| kind.reads(config)),
        None => Kind::ALL.into_iter().find(|kind| kind.name() == name),
    }
}

/// The instances of the standard modules a partnership has (the first of
/// each kind, in the order the partnership lists its modules).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Standard {
    /// The membership instance.
    pub(crate) membership: Option<String>,
    /// The voting instance.
    pub(crate) voting: Option<String>,
    /// The treasury instance.
    pub(crate) treasury: Option<String>,
    /// The exit instance.
    pub(crate) exit: Option<String>,
    /// The vesting instance.
    pub(crate) vesting: Option<String>,
    /// The term instance.
    pub(crate) term: Option<String>,
    /// The disputes instance.
    pub(crate) disputes: Option<String>,
}

impl Standard {
    /// Finds the standard instances among a partnership's installed modules.
    pub(crate) fn of(info: &PartnershipInfo) -> Standard {
        let mut found = Standard::default();
        for (name, _) in &info.modules {
            let config = info.charter.module(name).map(|spec| spec.config.as_str());
            let Some(kind) = kind_of(name, config) else { continue };
            let slot = found.slot(kind);
            if slot.is_none() {
                *slot = Some(name.clone());
            }
        }
        found
    }

    fn slot(&mut self, kind: Kind) -> &mut Option<String> {
        match kind {
            Kind::Membership => &mut self.membership,
            Kind::Voting => &mut self.voting,
            Kind::Treasury => &mut self.treasury,
            Kind::Exit => &mut self.exit,
            Kind::Vesting => &mut self.vesting,
            Kind::Term => &mut self.term,
            Kind::Disputes => &mut self.disputes,
        }
    }

    /// The instance of `kind`, if the partnership has one.
    pub(crate) fn get(&self, kind: Kind) -> Option<&str> {
        match kind {
            Kind::Membership => self.membership.as_deref(),
            Kind::Voting => self.voting.as_deref(),
            Kind::Treasury => self.treasury.as_deref(),
            Kind::Exit => self.exit.as_deref(),
            Kind::Vesting => self.vesting.as_deref(),
            Kind::Term => self.term.as_deref(),
            Kind::Disputes => self.disputes.as_deref(),
        }
    }

    /// The instance of `kind`, or [`ReadError::NoModule`].
    pub(crate) fn require(&self, kind: Kind) -> Result<&str, ReadError> {
        self.get(kind).ok_or(ReadError::NoModule(kind.name()))
    }
}

/// Reads one partnership's modules, from its optimistic state (the latest)
/// or its final state.
#[derive(Clone, Copy)]
pub(crate) struct Reader<'a> {
    node: &'a NodeHandle,
    id: PartnershipId,
    final_state: bool,
}

/// Page size of the treasury's list queries (its maximum).
const TREASURY_PAGE: u32 = 100;
/// Page size of the voting module's `proposals`.
const VOTING_PAGE: u32 = 50;
/// Page size of the disputes module's `disputes` (its maximum).
const DISPUTES_PAGE: u32 = 100;

impl<'a> Reader<'a> {
    /// A reader of partnership `id`'s optimistic state (what the console's
    /// pages show: the latest).
    pub(crate) fn optimistic(node: &'a NodeHandle, id: PartnershipId) -> Self {
        Reader { node, id, final_state: false }
    }

    /// A reader of partnership `id`'s final state if `final_state`, else of
    /// its optimistic state.
    pub(crate) fn new(node: &'a NodeHandle, id: PartnershipId, final_state: bool) -> Self {
        Reader { node, id, final_state }
    }

    /// Queries `module` and reads the answer as `T`.
    pub(crate) async fn query<T: DeserializeOwned>(
        &self,
        module: &str,
        msg: &impl Serialize,
    ) -> Result<T, ReadError> {
        let bytes = serde_json::to_vec(msg)
            .map_err(|e| ReadError::Answer { module: module.to_owned(), detail: e.to_string() })?;
        let answer = self.node.query(self.id, module, bytes, self.final_state).await?;
        serde_json::from_slice(&answer)
            .map_err(|e| ReadError::Answer { module: module.to_owned(), detail: e.to_string() })
    }

    /// Every page of a paged list query: `page(start_after)` builds the
    /// query, `items` reads a page, `key` gives an item's id for the next.
    pub(crate) async fn query_all<T: DeserializeOwned, K: Clone>(
        &self,
        module: &str,
        page: impl Fn(Option<K>) -> serde_json::Value,
        items: impl Fn(serde_json::Value) -> Result<Vec<T>, serde_json::Error>,
        key: impl Fn(&T) -> K,
        page_size: usize,
    ) -> Result<Vec<T>, ReadError> {
        let mut all = Vec::new();
        let mut after = None;
        // A bound, so a module that pages wrongly cannot keep a view waiting.
        for _ in 0..1000 {
            let answer: serde_json::Value = self.query(module, &page(after.clone())).await?;
            let batch = items(answer)
                .map_err(|e| ReadError::Answer { module: module.to_owned(), detail: e.to_string() })?;
            let done = batch.len() < page_size;
            after = batch.last().map(&key);
            all.extend(batch);
            if done || after.is_none() {
                break;
            }
        }
        Ok(all)
    }

    /// Every member the membership module knows (current and former).
    pub(crate) async fn members(
        &self,
        membership: &str,
    ) -> Result<Vec<membership_api::MemberInfo>, ReadError> {
        let page_size = membership_api::MAX_PAGE;
        self.query_all(
            membership,
            |after| serde_json::json!({"members": {"start_after": after, "limit": page_size}}),
            |v| serde_json::from_value::<membership_api::MembersResponse>(v).map(|r| r.members),
            |m: &membership_api::MemberInfo| m.member.clone(),
            page_size as usize,
        )
        .await
    }

    /// Every proposal, oldest first.
    pub(crate) async fn proposals(&self, voting: &str) -> Result<Vec<voting_api::ProposalView>, ReadError> {
        self.query_all(
            voting,
            |after| serde_json::json!({"proposals": {"start_after": after, "limit": VOTING_PAGE}}),
            |v| serde_json::from_value::<voting_api::ProposalsResponse>(v).map(|r| r.proposals),
            |p: &voting_api::ProposalView| p.proposal.id,
            VOTING_PAGE as usize,
        )
        .await
    }

    /// Asset code → minor-unit exponent, from the treasury's config.
    pub(crate) async fn asset_exponents(&self, treasury: &str) -> Result<BTreeMap<String, u8>, ReadError> {
        let config: treasury_api::Config = self.query(treasury, &treasury_api::QueryMsg::Config {}).await?;
        Ok(config.assets)
    }

    /// Every treasury entry, oldest first.
    pub(crate) async fn entries(&self, treasury: &str) -> Result<Vec<treasury_api::Entry>, ReadError> {
        self.query_all(
            treasury,
            |after| serde_json::json!({"entries": {"start_after": after, "limit": TREASURY_PAGE}}),
            serde_json::from_value::<Vec<treasury_api::Entry>>,
            |e: &treasury_api::Entry| e.id,
            TREASURY_PAGE as usize,
        )
        .await
    }

    /// Every treasury payout, oldest first.
    pub(crate) async fn payouts(&self, treasury: &str) -> Result<Vec<treasury_api::Payout>, ReadError> {
        self.query_all(
            treasury,
            |after| serde_json::json!({"payouts": {"start_after": after, "limit": TREASURY_PAGE}}),
            serde_json::from_value::<Vec<treasury_api::Payout>>,
            |p: &treasury_api::Payout| p.id,
            TREASURY_PAGE as usize,
        )
        .await
    }

    /// Every capital call, oldest first.
    pub(crate) async fn capital_calls(
        &self,
        treasury: &str,
    ) -> Result<Vec<treasury_api::CapitalCall>, ReadError> {
        self.query_all(
            treasury,
            |after| serde_json::json!({"capital_calls": {"start_after": after, "limit": TREASURY_PAGE}}),
            serde_json::from_value::<Vec<treasury_api::CapitalCall>>,
            |c: &treasury_api::CapitalCall| c.id,
            TREASURY_PAGE as usize,
        )
        .await
    }

    /// Every distribution and fair share, oldest first.
    pub(crate) async fn distributions(
        &self,
        treasury: &str,
    ) -> Result<Vec<treasury_api::DistributionRecord>, ReadError> {
        self.query_all(
            treasury,
            |after| serde_json::json!({"distributions": {"start_after": after, "limit": TREASURY_PAGE}}),
            serde_json::from_value::<Vec<treasury_api::DistributionRecord>>,
            |d: &treasury_api::DistributionRecord| d.id,
            TREASURY_PAGE as usize,
        )
        .await
    }

    /// Every dispute, oldest first.
    pub(crate) async fn disputes(&self, disputes: &str) -> Result<Vec<disputes_api::Dispute>, ReadError> {
        self.query_all(
            disputes,
            |after| serde_json::json!({"disputes": {"start_after": after, "limit": DISPUTES_PAGE}}),
            serde_json::from_value::<Vec<disputes_api::Dispute>>,
            |d: &disputes_api::Dispute| d.id,
            DISPUTES_PAGE as usize,
        )
        .await
    }
}

/// A proposal's status now. The module answers as of the partnership's
/// latest op (a quiet partnership's clock stands still), so a passed
/// proposal whose grace period is over by this node's clock is shown as
/// executable, as the next op (an `execute`, say) will find it.
pub(crate) fn status_now(view: &voting_api::ProposalView, now_ms: u64) -> voting_api::Status {
    match view.status {
        voting_api::Status::Passed if now_ms >= view.executable_from_ms => voting_api::Status::Executable,
        status => status,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests may unwrap

    use std::path::Path;

    use super::*;
    use crate::op::{Charter, CodeHash, CodeSource};

    #[test]
    fn kinds_come_from_the_charter_config_or_the_name() {
        let membership = r#"{"governance":"voting","members":[{"member":"pm1a","voting_units":1}]}"#;
        let voting = r#"{"membership":"membership","min_period_ms":1,"max_period_ms":2,"rules":{"default":{"threshold":{"majority":{}}}}}"#;
        let treasury =
            r#"{"assets":["EUR"],"governance":"voting","membership":"membership","split":{"pro_rata":{}}}"#;
        assert_eq!(kind_of("members", Some(membership)), Some(Kind::Membership));
        assert_eq!(kind_of("gov", Some(voting)), Some(Kind::Voting));
        assert_eq!(kind_of("money", Some(treasury)), Some(Kind::Treasury));
        assert_eq!(kind_of("treasury", Some(r#"{"something":"else"}"#)), None);
        assert_eq!(kind_of("treasury", None), Some(Kind::Treasury));
        assert_eq!(kind_of("term", None), Some(Kind::Term));
        assert_eq!(kind_of("guestbook", None), None);
    }

    /// Every standard module's config in every example charter is read as
    /// its own kind and no other (the configs' shapes exclude each other).
    #[test]
    fn every_example_charters_standard_config_is_read_as_its_own_kind() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/charters");
        let mut seen = std::collections::BTreeSet::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "toml") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let values = crate::op::placeholders(&text)
                .into_iter()
                .zip(1u8..)
                .map(|(name, seed)| (name, crate::op::MemberKey::from_seed(seed).member_id().to_string()))
                .collect();
            let filled = crate::op::fill_placeholders(&text, &values).unwrap();
            let charter = Charter::from_toml(&filled, "charter", &dir, |_, source| match source {
                CodeSource::Hash(hash) => Ok(hash),
                CodeSource::File(_) => Ok(CodeHash::of(b"any")),
            })
            .unwrap();
            for module in &charter.modules {
                let matching: Vec<Kind> = Kind::ALL.into_iter().filter(|k| k.reads(&module.config)).collect();
                let expected: Vec<Kind> = Kind::ALL.into_iter().filter(|k| k.name() == module.name).collect();
                assert_eq!(matching, expected, "{}: module {}", path.display(), module.name);
                seen.extend(matching);
            }
        }
        assert_eq!(seen.len(), Kind::ALL.len(), "the charters use every standard module: {seen:?}");
    }
}
