//! The portfolio (`GET /`): every partnership of this node's member, what
//! waits for the member in each (votes, executions, entries and payouts to
//! confirm, with deadlines), what it is owed and owes, per asset, the
//! dates coming, and the counterparties its partnerships share.
//!
//! Everything shown is computed by [`crate::portfolio::gather`], the same
//! view `GET /v1/portfolio` and `polypact portfolio` show; this file only
//! writes it for people (links, amounts in major units, times). One
//! partnership's failure (a module missing, a halted ledger) is shown on
//! its row and does not hide the others.

use askama::Template;
use axum::extract::State;
use axum::response::Response;

use super::super::Console;
use super::super::auth::Session;
use super::super::error::ConsoleError;
use super::super::render::{Chrome, page};
use crate::format::{format_amount, format_time, relative, short, short_member};
use crate::node::now_ms;
use crate::portfolio::{
    Amount, AssetLine, Holding, Options, Portfolio, WaitingKind, gather, overlaps::OverlapKind,
};

/// Something waiting for the member.
pub(crate) struct Wait {
    /// What, in words.
    pub(crate) text: String,
    /// Where to do it.
    pub(crate) href: String,
    /// By when, if there is a deadline.
    pub(crate) deadline: Option<String>,
}

/// A date coming.
pub(crate) struct Date {
    /// When, in words.
    when: String,
    /// What.
    text: String,
    /// Already past.
    overdue: bool,
}

/// An amount of an asset, written for people.
pub(crate) struct Money {
    /// Asset code.
    pub(crate) asset: String,
    /// Amount in major units.
    pub(crate) amount: String,
}

/// One partnership in the portfolio.
pub(crate) struct Row {
    id: String,
    id_short: String,
    name: String,
    final_height: u64,
    optimistic_height: u64,
    participants: usize,
    state: String,
    units: Option<String>,
    lineage: Option<String>,
    waits: Vec<Wait>,
    owed_to_me: Vec<Money>,
    owed_by_me: Vec<Money>,
    paying: Vec<Money>,
    dates: Vec<Date>,
    finality: Option<String>,
    problems: Vec<String>,
}

/// A counterparty in several partnerships.
pub(crate) struct OverlapRow {
    who: String,
    kind: &'static str,
    names: String,
}

/// The live part of the portfolio.
#[derive(Template)]
#[template(path = "portfolio_live.html")]
pub(crate) struct PortfolioLive {
    rows: Vec<Row>,
    totals: Vec<(Money, Money)>,
    overlaps: Vec<OverlapRow>,
    now: String,
}

/// The portfolio page.
#[derive(Template)]
#[template(path = "portfolio.html")]
pub(crate) struct PortfolioPage {
    chrome: Chrome,
    live: String,
}

/// `GET /`.
pub(crate) async fn view(State(console): State<Console>, session: Session) -> Response {
    super::super::render::page(portfolio(&console, &session).await)
}

async fn portfolio(console: &Console, session: &Session) -> Result<PortfolioPage, ConsoleError> {
    let live = live_part(console).await?.render()?;
    let chrome = Chrome::node("Portfolio", session, console.api.node.member().to_string());
    Ok(PortfolioPage { chrome, live })
}

/// `GET /console/live`: the live part alone.
pub(crate) async fn live(State(console): State<Console>, _session: Session) -> Response {
    page(live_part(&console).await)
}

async fn live_part(console: &Console) -> Result<PortfolioLive, ConsoleError> {
    let now = now_ms();
    let view = gather(&console.api.node, &Options { now_ms: now, final_state: false }).await?;
    Ok(written(&view, now))
}

/// The portfolio written for people.
fn written(view: &Portfolio, now: u64) -> PortfolioLive {
    let rows = view.partnerships.iter().map(|h| row(h, now)).collect();
    let totals = view
        .totals
        .iter()
        .map(|t| (money(&t.asset, t.exponent, t.owed_to_me), money(&t.asset, t.exponent, t.owed_by_me)))
        .collect();
    let name_of = |id: &str| view.holding(id).map_or_else(|| short(id, 12), |h| h.name.clone());
    let overlaps = view
        .overlaps
        .iter()
        .map(|o| OverlapRow {
            who: match o.kind {
                OverlapKind::Member => short_member(&o.counterparty),
                OverlapKind::TreasuryCounterparty => o.counterparty.clone(),
            },
            kind: match o.kind {
                OverlapKind::Member => "partner",
                OverlapKind::TreasuryCounterparty => "counterparty in the treasury",
            },
            names: o.partnerships.iter().map(|id| name_of(id)).collect::<Vec<_>>().join(", "),
        })
        .collect();
    PortfolioLive { rows, totals, overlaps, now: format_time(now) }
}

fn money(asset: &str, exponent: Option<u8>, amount: Amount) -> Money {
    Money { asset: asset.to_owned(), amount: format_amount(amount.0, exponent.unwrap_or(0)) }
}

fn amounts(lines: &[AssetLine], figure: impl Fn(&AssetLine) -> Amount) -> Vec<Money> {
    lines
        .iter()
        .filter(|line| !figure(line).is_zero())
        .map(|line| money(&line.asset, line.exponent, figure(line)))
        .collect()
}

fn row(h: &Holding, now: u64) -> Row {
    let base = format!("/console/p/{}", h.id);
    let waits = h
        .waiting
        .iter()
        .map(|w| Wait {
            text: w.what.clone(),
            href: match (w.kind, w.id) {
                (WaitingKind::Vote | WaitingKind::Execute, Some(n)) => format!("{base}/proposals/{n}"),
                (WaitingKind::ConfirmEntry, Some(n)) => format!("{base}/treasury#entry-{n}"),
                (WaitingKind::ConfirmPayout, Some(n)) => format!("{base}/treasury#payout-{n}"),
                (WaitingKind::PayCall, _) => format!("{base}/treasury"),
                _ => base.clone(),
            },
            deadline: match (w.from_ms, w.until_ms) {
                (Some(from), _) if from > now => Some(format!("executable {}", relative(from, now))),
                (_, Some(until)) if w.kind == WaitingKind::Vote => {
                    Some(format!("closes {}", relative(until, now)))
                }
                (_, Some(until)) => Some(format!("lapses {}", relative(until, now))),
                _ => None,
            },
        })
        .collect();
    let state = match h.my_status.as_deref() {
        Some(status) if status != "active" => format!("you are {status}"),
        _ => h.state.clone(),
    };
    let lineage = match (&h.parent, h.children.is_empty()) {
        (None, true) => None,
        (parent, _) => {
            let mut parts = Vec::new();
            if let Some(parent) = parent {
                parts.push(format!("spawned from {}…", short(parent, 12)));
            }
            if !h.children.is_empty() {
                let children: Vec<String> = h.children.iter().map(|c| format!("{}…", short(c, 12))).collect();
                parts.push(format!("spawned {}", children.join(", ")));
            }
            Some(parts.join("; "))
        }
    };
    Row {
        id: h.id.clone(),
        id_short: short(&h.id, 12),
        name: h.name.clone(),
        final_height: h.final_height,
        optimistic_height: h.optimistic_height,
        participants: h.participants.len(),
        state,
        units: h.units.as_ref().map(|u| {
            let roles =
                if u.roles.is_empty() { String::new() } else { format!(" · {}", u.roles.join(", ")) };
            format!("{} voting, {} economic{roles}", u.voting, u.economic)
        }),
        lineage,
        waits,
        owed_to_me: amounts(&h.money, |l| l.owed_to_me),
        owed_by_me: amounts(&h.money, |l| l.owed_by_me),
        paying: amounts(&h.money, |l| l.paid_unconfirmed),
        dates: h
            .deadlines
            .iter()
            .map(|d| Date { when: format_time(d.at_ms), text: d.what.clone(), overdue: d.overdue })
            .collect(),
        finality: (!h.finality_waits_for.is_empty()).then(|| {
            let who: Vec<String> = h.finality_waits_for.iter().map(|m| short(m, 12)).collect();
            format!("finality waits for {}", who.join(", "))
        }),
        problems: h
            .problems
            .iter()
            .map(|p| match &p.module {
                Some(module) => format!("{module}: {}", p.error),
                None => p.error.clone(),
            })
            .collect(),
    }
}
