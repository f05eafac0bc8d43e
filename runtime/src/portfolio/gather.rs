//! Reading the portfolio: each partnership through the node's handle and
//! its standard modules (one section per kind of module), then what spans
//! partnerships (lineage, totals, overlaps).
//!
//! A section that fails leaves a [`Problem`] on its partnership's row and
//! the other sections and partnerships are read on.

use std::collections::BTreeMap;

use super::read::{Kind, ReadError, Reader, Standard, status_now};
use super::{
    Amount, AssetLine, Deadline, DeadlineKind, Flow, Holding, MoneyItem, MoneyKind, Options, Portfolio,
    PortfolioError, Problem, Units, Waiting, WaitingKind, lineage, overlaps, totals,
};
use crate::format::format_amount;
use crate::node::{NodeError, NodeHandle, ParticipantStatus, PartnershipInfo};
use crate::op::PartnershipId;

/// Reads the portfolio of the node's member.
///
/// # Errors
/// [`PortfolioError::Node`] if the node cannot list its partnerships. A
/// partnership that cannot be read, or whose module cannot be, is shown
/// with its [`Problem`]s instead.
pub async fn gather(node: &NodeHandle, options: &Options) -> Result<Portfolio, PortfolioError> {
    let me = node.member().to_string();
    let mut holdings = Vec::new();
    let mut infos = Vec::new();
    for summary in node.partnerships().await? {
        match node.partnership(summary.id).await {
            Ok(info) => {
                holdings.push(read_holding(node, &info, &me, options).await);
                infos.push(info);
            }
            Err(error) => holdings.push(Holding {
                state: "unreadable".into(),
                final_height: summary.final_height,
                optimistic_height: summary.optimistic_height,
                problems: vec![Problem { module: None, error: error.to_string() }],
                ..blank(summary.id, summary.name)
            }),
        }
    }
    let lineages = lineage::lineage(&infos);
    for holding in &mut holdings {
        if let Some(found) = holding.id.parse::<PartnershipId>().ok().and_then(|id| lineages.get(&id)) {
            holding.parent = found.parent.map(|p| p.to_hex());
            holding.children = found.children.iter().map(|c| c.to_hex()).collect();
        }
    }
    holdings.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
    let parties: Vec<overlaps::Parties> = holdings
        .iter()
        .filter(|h| is_live(h))
        .map(|h| overlaps::Parties {
            partnership: h.id.clone(),
            members: h.participants.iter().filter(|m| **m != me).cloned().collect(),
            counterparties: h.counterparties.clone(),
        })
        .collect();
    Ok(Portfolio {
        member: me,
        now_ms: options.now_ms,
        final_state: options.final_state,
        totals: totals(&holdings),
        overlaps: overlaps::find(&parties),
        partnerships: holdings,
    })
}

/// A row with nothing read yet.
fn blank(id: PartnershipId, name: String) -> Holding {
    Holding {
        id: id.to_hex(),
        name,
        parent: None,
        children: Vec::new(),
        state: "active".into(),
        my_status: None,
        final_height: 0,
        optimistic_height: 0,
        participants: Vec::new(),
        finality_waits_for: Vec::new(),
        units: None,
        money: Vec::new(),
        waiting: Vec::new(),
        deadlines: Vec::new(),
        counterparties: Vec::new(),
        problems: Vec::new(),
    }
}

/// Whether a partnership still binds the member: not dissolved, readable,
/// and not left.
fn is_live(holding: &Holding) -> bool {
    matches!(holding.state.as_str(), "active" | "halted") && holding.my_status.as_deref() != Some("removed")
}

/// What every section reads with.
struct Ctx<'a> {
    reader: Reader<'a>,
    me: &'a str,
    now: u64,
}

/// A row being filled.
struct Row {
    holding: Holding,
    /// Per asset, the figures so far.
    money: BTreeMap<String, AssetLine>,
    /// The treasury's asset exponents, once read.
    exponents: BTreeMap<String, u8>,
    /// Whether the partnership has a membership module (then only a
    /// current member with voting units votes).
    has_membership: bool,
}

impl Row {
    fn problem(&mut self, module: &str, error: &ReadError) {
        self.holding.problems.push(Problem { module: Some(module.to_owned()), error: error.to_string() });
    }

    fn add_money(&mut self, asset: &str, item: MoneyItem) {
        if item.amount.is_zero() {
            return;
        }
        let exponent = self.exponents.get(asset).copied();
        let line = self.money.entry(asset.to_owned()).or_insert_with(|| AssetLine {
            asset: asset.to_owned(),
            exponent,
            owed_to_me: Amount::default(),
            owed_by_me: Amount::default(),
            paid_unconfirmed: Amount::default(),
            items: Vec::new(),
        });
        let figure = match item.flow {
            Flow::OwedToMe => &mut line.owed_to_me,
            Flow::OwedByMe => &mut line.owed_by_me,
            Flow::PaidUnconfirmed => &mut line.paid_unconfirmed,
        };
        *figure = figure.plus(item.amount);
        line.items.push(item);
    }

    fn deadline(&mut self, at_ms: u64, kind: DeadlineKind, module: &str, what: String, overdue: bool) {
        self.holding.deadlines.push(Deadline { at_ms, kind, module: module.to_owned(), what, overdue });
    }

    fn wait(
        &mut self,
        kind: WaitingKind,
        module: &str,
        id: Option<u64>,
        what: String,
        window: (Option<u64>, Option<u64>),
    ) {
        self.holding.waiting.push(Waiting {
            kind,
            module: module.to_owned(),
            id,
            what,
            from_ms: window.0,
            until_ms: window.1,
        });
    }

    /// Whether the member votes: a current member with voting units, or
    /// any participant of a partnership without a membership module.
    fn votes(&self) -> bool {
        match &self.holding.units {
            Some(units) => units.active && units.voting > 0,
            None => !self.has_membership,
        }
    }

    /// Whether the member is a current member (or the partnership has no
    /// membership module to say otherwise).
    fn is_member(&self) -> bool {
        self.holding.units.as_ref().map_or(!self.has_membership, |u| u.active)
    }

    /// `amount` of `asset` in words: `1,200.00 EUR`.
    fn money_words(&self, amount: u128, asset: &str) -> String {
        match self.exponents.get(asset) {
            Some(exponent) => format!("{} {asset}", format_amount(amount, *exponent)),
            None => format!("{amount} {asset} (minor units)"),
        }
    }
}

/// One partnership's row.
async fn read_holding(node: &NodeHandle, info: &PartnershipInfo, me: &str, options: &Options) -> Holding {
    let mine = info.statuses.iter().find(|p| p.member.to_string() == me);
    let state = if info.dissolved.is_some() {
        "dissolved"
    } else if info.halted.is_some() {
        "halted"
    } else {
        "active"
    };
    let mut participants: Vec<String> = info
        .statuses
        .iter()
        .filter(|p| !matches!(p.status, ParticipantStatus::Removed { .. }))
        .map(|p| p.member.to_string())
        .collect();
    participants.sort();
    let mut waits_for: Vec<String> = info.waiting_for.iter().map(|w| w.member.to_string()).collect();
    waits_for.sort();
    let standard = Standard::of(info);
    let mut row = Row {
        holding: Holding {
            state: state.into(),
            my_status: mine.map(|p| p.status.name().to_owned()),
            final_height: info.final_height,
            optimistic_height: info.optimistic_height,
            participants,
            finality_waits_for: waits_for,
            ..blank(info.id, info.charter.name.clone())
        },
        money: BTreeMap::new(),
        exponents: BTreeMap::new(),
        has_membership: standard.membership.is_some(),
    };
    if let Some(reason) = &info.halted {
        row.holding
            .problems
            .push(Problem { module: None, error: format!("the partnership is halted: {reason}") });
    }
    let ctx = Ctx { reader: Reader::new(node, info.id, options.final_state), me, now: options.now_ms };
    for kind in Kind::ALL {
        let Some(module) = standard.get(kind) else { continue };
        let read = match kind {
            Kind::Membership => membership(&ctx, module, &mut row).await,
            Kind::Voting => voting(&ctx, module, &mut row).await,
            Kind::Treasury => treasury(&ctx, module, &mut row).await,
            Kind::Exit => exit(&ctx, module, &mut row).await,
            Kind::Vesting => vesting(&ctx, module, &mut row).await,
            Kind::Term => term(&ctx, module, &mut row).await,
            Kind::Disputes => disputes(&ctx, module, &mut row).await,
        };
        if let Err(error) = read {
            row.problem(module, &error);
        }
    }
    let Row { mut holding, money, .. } = row;
    holding.money = money
        .into_values()
        .map(|mut line| {
            line.items.sort();
            line
        })
        .collect();
    holding.waiting.sort_by(|a, b| {
        let when = |w: &Waiting| w.until_ms.or(w.from_ms).unwrap_or(u64::MAX);
        (when(a), a.kind, &a.module, a.id).cmp(&(when(b), b.kind, &b.module, b.id))
    });
    holding
        .deadlines
        .sort_by(|a, b| (a.at_ms, a.kind, &a.module, &a.what).cmp(&(b.at_ms, b.kind, &b.module, &b.what)));
    holding.counterparties.sort();
    holding.counterparties.dedup();
    holding
}

/// Whether a module's refusal says the member is not one of its members
/// (membership's `NOT_A_MEMBER`): an answer, not a failure.
fn not_a_member(error: &ReadError) -> bool {
    matches!(error, ReadError::Node(NodeError::ModuleRejected { reason, .. }) if reason.contains(membership_api::NOT_A_MEMBER))
}

/// Units and roles; terms waiting for acceptance.
async fn membership(ctx: &Ctx<'_>, module: &str, row: &mut Row) -> Result<(), ReadError> {
    let me = ctx.me.to_owned();
    let info: Result<membership_api::MemberInfo, _> =
        ctx.reader.query(module, &membership_api::QueryMsg::Member { member: me.clone() }).await;
    match info {
        Ok(info) => {
            row.holding.units = Some(Units {
                voting: info.record.voting_units,
                economic: info.record.economic_units,
                roles: info.record.roles.into_iter().collect(),
                active: info.record.active,
            });
        }
        Err(error) if not_a_member(&error) => {}
        Err(error) => return Err(error),
    }
    let acceptance: membership_api::AcceptanceResponse =
        ctx.reader.query(module, &membership_api::QueryMsg::Acceptance { member: me }).await?;
    if let Some(pending) = acceptance.pending {
        let what = format!(
            "Accept the partnership's terms to become a member ({} voting, {} economic units wait for you)",
            pending.terms.voting_units, pending.terms.economic_units
        );
        row.wait(WaitingKind::AcceptTerms, module, None, what, (None, None));
    }
    Ok(())
}

/// Votes waiting for the member, proposals to execute, and their dates.
async fn voting(ctx: &Ctx<'_>, module: &str, row: &mut Row) -> Result<(), ReadError> {
    let config: voting_api::Config = ctx.reader.query(module, &voting_api::QueryMsg::Config {}).await?;
    for view in ctx.reader.proposals(module).await? {
        let n = view.proposal.id;
        let title = &view.proposal.title;
        let expires = config.expiry_ms.map(|expiry| view.executable_from_ms.saturating_add(expiry));
        match status_now(&view, ctx.now) {
            voting_api::Status::Open if view.closes_ms > ctx.now => {
                row.deadline(
                    view.closes_ms,
                    DeadlineKind::VoteCloses,
                    module,
                    format!("Voting on proposal {n} closes: {title}"),
                    false,
                );
                if row.votes() {
                    let ballot: voting_api::VoteResponse = ctx
                        .reader
                        .query(module, &voting_api::QueryMsg::Vote { proposal: n, voter: ctx.me.to_owned() })
                        .await?;
                    if ballot.ballot.is_none() {
                        let what = format!("Vote on proposal {n}: {title}");
                        row.wait(WaitingKind::Vote, module, Some(n), what, (None, Some(view.closes_ms)));
                    }
                }
            }
            voting_api::Status::Passed => {
                row.deadline(
                    view.executable_from_ms,
                    DeadlineKind::ExecutableFrom,
                    module,
                    format!("Proposal {n} can be executed: {title}"),
                    false,
                );
                if let Some(at) = expires {
                    let what = format!("Proposal {n} lapses unless executed: {title}");
                    row.deadline(at, DeadlineKind::ExecutionExpires, module, what, false);
                }
                let what = format!("Execute proposal {n}: {title} (it passed)");
                row.wait(
                    WaitingKind::Execute,
                    module,
                    Some(n),
                    what,
                    (Some(view.executable_from_ms), expires),
                );
            }
            voting_api::Status::Executable => {
                if let Some(at) = expires.filter(|at| *at > ctx.now) {
                    row.deadline(
                        at,
                        DeadlineKind::ExecutionExpires,
                        module,
                        format!("Proposal {n} lapses unless executed: {title}"),
                        false,
                    );
                }
                let what = format!("Execute proposal {n}: {title} (it passed)");
                row.wait(WaitingKind::Execute, module, Some(n), what, (None, expires));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Claims, payouts, entries to confirm, counterparties.
async fn treasury(ctx: &Ctx<'_>, module: &str, row: &mut Row) -> Result<(), ReadError> {
    row.exponents = ctx.reader.asset_exponents(module).await?;
    for entry in ctx.reader.entries(module).await? {
        if entry.status == treasury_api::Status::Rejected {
            continue;
        }
        if !entry.counterparty.trim().is_empty() {
            row.holding.counterparties.push(entry.counterparty.trim().to_owned());
        }
        if entry.status == treasury_api::Status::Pending && entry.recorded_by != ctx.me && row.is_member() {
            let what = format!(
                "Confirm {} entry {}: {} ({}), recorded by {}",
                entry.kind.name(),
                entry.id,
                row.money_words(entry.amount.0, &entry.asset),
                entry.reference,
                entry.recorded_by
            );
            row.wait(WaitingKind::ConfirmEntry, module, Some(entry.id), what, (None, None));
        }
    }
    for payout in ctx.reader.payouts(module).await? {
        if payout.status != treasury_api::Status::Pending {
            continue;
        }
        if payout.member == ctx.me {
            let what = format!(
                "Confirm payout {} of {} arrived ({}, paid by {})",
                payout.id,
                row.money_words(payout.amount.0, &payout.asset),
                payout.reference,
                payout.payer
            );
            row.wait(WaitingKind::ConfirmPayout, module, Some(payout.id), what, (None, None));
        } else if payout.payer == ctx.me {
            row.add_money(
                &payout.asset,
                MoneyItem {
                    flow: Flow::PaidUnconfirmed,
                    kind: MoneyKind::Payout,
                    module: module.to_owned(),
                    counterparty: Some(payout.member.clone()),
                    amount: Amount(payout.amount.0),
                },
            );
        }
    }
    // The member's unpaid shares of open capital calls: owed, to act on, and due.
    for call in ctx.reader.capital_calls(module).await? {
        if call.status != treasury_api::CallStatus::Open {
            continue;
        }
        let Some(share) = call.shares.get(ctx.me) else { continue };
        let unpaid = share.called.0.saturating_sub(share.paid.0).saturating_sub(share.pending.0);
        if unpaid == 0 {
            continue;
        }
        row.add_money(
            &call.asset,
            MoneyItem {
                flow: Flow::OwedByMe,
                kind: MoneyKind::CapitalCall,
                module: module.to_owned(),
                counterparty: None,
                amount: Amount(unpaid),
            },
        );
        let what = format!(
            "Pay capital call {}: {} toward cost entry {}",
            call.id,
            row.money_words(unpaid, &call.asset),
            call.entry
        );
        row.wait(WaitingKind::PayCall, module, Some(call.id), what.clone(), (None, Some(call.due_ms)));
        row.deadline(call.due_ms, DeadlineKind::CallDue, module, what, call.due_ms <= ctx.now);
    }
    let statement: treasury_api::StatementResponse =
        ctx.reader.query(module, &treasury_api::QueryMsg::Statement { member: ctx.me.to_owned() }).await?;
    for (asset, line) in statement {
        for (kind, amount) in [(MoneyKind::Claim, line.owed.0), (MoneyKind::PayoutToConfirm, line.pending.0)]
        {
            row.add_money(
                &asset,
                MoneyItem {
                    flow: Flow::OwedToMe,
                    kind,
                    module: module.to_owned(),
                    counterparty: None,
                    amount: Amount(amount),
                },
            );
        }
    }
    Ok(())
}

/// Buyout prices owed either way, the member's notice and lock-up, offers.
async fn exit(ctx: &Ctx<'_>, module: &str, row: &mut Row) -> Result<(), ReadError> {
    let me = ctx.me.to_owned();
    if row.is_member() {
        let config: exit_api::Config = ctx.reader.query(module, &exit_api::QueryMsg::Config {}).await?;
        let status: exit_api::StatusResponse =
            ctx.reader.query(module, &exit_api::QueryMsg::Status { member: me.clone() }).await?;
        if status.departure.is_none() {
            if status.lockup_until_ms > ctx.now {
                row.deadline(
                    status.lockup_until_ms,
                    DeadlineKind::LockupEnds,
                    module,
                    "Your lock-up ends: no exit or sale of your units before".into(),
                    false,
                );
            }
            if let Some(given) = status.notice_given_ms {
                let ends = given.saturating_add(config.notice_ms);
                if ends > ctx.now {
                    row.deadline(
                        ends,
                        DeadlineKind::NoticeEnds,
                        module,
                        "Your notice period ends: you may leave then (after any lock-up)".into(),
                        false,
                    );
                }
            }
        }
    }
    let statement: exit_api::StatementResponse =
        ctx.reader.query(module, &exit_api::QueryMsg::Statement { member: me }).await?;
    for (flow, payables) in [(Flow::OwedToMe, statement.owed), (Flow::OwedByMe, statement.owes)] {
        for payable in payables {
            row.add_money(
                &payable.asset,
                MoneyItem {
                    flow,
                    kind: MoneyKind::Buyout,
                    module: module.to_owned(),
                    counterparty: Some(payable.counterparty),
                    amount: Amount(payable.amount),
                },
            );
        }
    }
    let offers: exit_api::OffersResponse = ctx.reader.query(module, &exit_api::QueryMsg::Offers {}).await?;
    for offer in offers.offers {
        let (first_refusal, closes) = if offer.seller == ctx.me {
            (
                format!("The members' first refusal on your offer ({} units left) ends", offer.remaining),
                format!("Your offer ({} units left) closes", offer.remaining),
            )
        } else {
            (
                format!(
                    "Your first refusal on {}'s offer ({} units left) ends",
                    offer.seller, offer.remaining
                ),
                format!("The offer of {}'s units ({} left) closes", offer.seller, offer.remaining),
            )
        };
        if offer.rofr_until_ms > ctx.now {
            row.deadline(offer.rofr_until_ms, DeadlineKind::FirstRefusalEnds, module, first_refusal, false);
        }
        row.deadline(offer.closes_ms, DeadlineKind::OfferCloses, module, closes, offer.closes_ms <= ctx.now);
    }
    Ok(())
}

/// The member's grants: cliffs and full vesting still to come.
async fn vesting(ctx: &Ctx<'_>, module: &str, row: &mut Row) -> Result<(), ReadError> {
    let grants: vesting_api::GrantsResponse =
        ctx.reader.query(module, &vesting_api::QueryMsg::Grants { member: ctx.me.to_owned() }).await?;
    for grant in grants.grants.iter().filter(|g| g.cancelled.is_none()) {
        let schedule = &grant.schedule;
        let kind = match grant.unit_kind {
            vesting_api::UnitKind::Voting => "voting",
            vesting_api::UnitKind::Economic => "economic",
        };
        let cliff = schedule.start_ms.saturating_add(schedule.cliff_ms);
        if schedule.cliff_ms > 0 && cliff > ctx.now {
            row.deadline(
                cliff,
                DeadlineKind::VestingCliff,
                module,
                format!(
                    "Grant {}: the cliff of {} {kind} units; nothing vests before",
                    grant.id, grant.units
                ),
                false,
            );
        }
        let end = schedule.start_ms.saturating_add(schedule.duration_ms);
        if end > ctx.now {
            row.deadline(
                end,
                DeadlineKind::FullyVested,
                module,
                format!("Grant {}: all {} {kind} units vested", grant.id, grant.units),
                false,
            );
        }
    }
    Ok(())
}

/// The term's end, the next KPI review, milestones not done.
async fn term(ctx: &Ctx<'_>, module: &str, row: &mut Row) -> Result<(), ReadError> {
    let status: term_api::StatusResponse = ctx.reader.query(module, &term_api::QueryMsg::Status {}).await?;
    if status.ended.is_some() || status.phase == "ended" {
        return Ok(());
    }
    let overdue = status.end_ms <= ctx.now;
    let what = if overdue {
        "The term has ended: the next tick winds the partnership up (sunset clause)".to_owned()
    } else {
        "The term ends unless renewed by vote (sunset clause)".to_owned()
    };
    row.deadline(status.end_ms, DeadlineKind::TermEnds, module, what, overdue);
    if let Some(review) = &status.next_review {
        let overdue = review.due_ms <= ctx.now;
        let what = if overdue {
            format!("KPI review {} (period {}) is due: a tick opens its vote", review.number, review.period)
        } else {
            format!("KPI review {} (period {}) falls due", review.number, review.period)
        };
        row.deadline(review.due_ms, DeadlineKind::KpiReview, module, what, overdue);
    }
    let milestones: term_api::MilestonesResponse =
        ctx.reader.query(module, &term_api::QueryMsg::Milestones {}).await?;
    for view in milestones.milestones {
        if view.status == term_api::MilestoneStatus::Done {
            continue;
        }
        let m = &view.milestone;
        let yours = if m.owners.iter().any(|o| o == ctx.me) { " (yours)" } else { "" };
        let overdue = view.status == term_api::MilestoneStatus::Overdue || m.due_ms <= ctx.now;
        let what = format!("Milestone {}{yours}: {}", m.id, m.title);
        row.deadline(m.due_ms, DeadlineKind::Milestone, module, what, overdue);
    }
    Ok(())
}

/// Negotiation and appeal windows of open disputes.
async fn disputes(ctx: &Ctx<'_>, module: &str, row: &mut Row) -> Result<(), ReadError> {
    for dispute in ctx.reader.disputes(module).await? {
        match dispute.status {
            disputes_api::Status::Negotiating if dispute.negotiation_ends_ms > ctx.now => row.deadline(
                dispute.negotiation_ends_ms,
                DeadlineKind::NegotiationEnds,
                module,
                format!("Dispute {}: negotiation ends; either side may escalate then", dispute.id),
                false,
            ),
            disputes_api::Status::Ruled => {
                if let Some(at) = dispute.appeal_ends_ms.filter(|at| *at > ctx.now) {
                    row.deadline(
                        at,
                        DeadlineKind::AppealEnds,
                        module,
                        format!("Dispute {}: the ruling can be appealed until then", dispute.id),
                        false,
                    );
                }
            }
            _ => {}
        }
    }
    Ok(())
}
