//! The portfolio (`GET /`): every partnership of this node's member, what
//! waits for the member in each (votes, executions, entries and payouts to
//! confirm, with deadlines), and what it is owed or pays out, per asset.
//!
//! One partnership's failure (a module missing, a halted ledger) is shown
//! on its row and does not hide the others.

use askama::Template;
use axum::extract::State;
use axum::response::Response;

use super::super::Console;
use super::super::auth::Session;
use super::super::error::ConsoleError;
use super::super::format::{format_amount, format_time, relative, short};
use super::super::modules::{self, Standard};
use super::super::render::{Chrome, page};
use super::treasury::{asset_exponents, pending_entries, pending_payouts};
use crate::node::now_ms;

/// Something waiting for the member.
pub(crate) struct Wait {
    /// What, in words.
    pub(crate) text: String,
    /// Where to do it.
    pub(crate) href: String,
    /// By when, if there is a deadline.
    pub(crate) deadline: Option<String>,
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
    waits: Vec<Wait>,
    owed_to_me: Vec<Money>,
    paying: Vec<Money>,
    finality: Option<String>,
    problems: Vec<String>,
}

/// The live part of the portfolio.
#[derive(Template)]
#[template(path = "portfolio_live.html")]
pub(crate) struct PortfolioLive {
    rows: Vec<Row>,
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
    let live = gather(console).await?.render()?;
    let chrome = Chrome::node("Portfolio", session, console.api.node.member().to_string());
    Ok(PortfolioPage { chrome, live })
}

/// `GET /console/live`: the live part alone.
pub(crate) async fn live(State(console): State<Console>, _session: Session) -> Response {
    page(gather(&console).await)
}

async fn gather(console: &Console) -> Result<PortfolioLive, ConsoleError> {
    let node = &console.api.node;
    let me = node.member().to_string();
    let now = now_ms();
    let mut rows = Vec::new();
    for summary in node.partnerships().await? {
        let id = summary.id;
        let hex = id.to_hex();
        let mut row = Row {
            id_short: short(&hex, 12),
            id: hex.clone(),
            name: summary.name.clone(),
            final_height: summary.final_height,
            optimistic_height: summary.optimistic_height,
            participants: summary.participants,
            state: "active".into(),
            units: None,
            waits: Vec::new(),
            owed_to_me: Vec::new(),
            paying: Vec::new(),
            finality: None,
            problems: Vec::new(),
        };
        let info = match node.partnership(id).await {
            Ok(info) => info,
            Err(e) => {
                row.problems.push(e.to_string());
                rows.push(row);
                continue;
            }
        };
        if info.dissolved.is_some() {
            row.state = "dissolved".into();
        } else if let Some(reason) = &info.halted {
            row.state = "halted".into();
            row.problems.push(reason.clone());
        }
        if let Some(mine) = info.statuses.iter().find(|p| p.member.to_string() == me)
            && mine.status.name() != "active"
        {
            row.state = format!("you are {}", mine.status.name());
        }
        if !info.waiting_for.is_empty() {
            let who: Vec<String> =
                info.waiting_for.iter().map(|w| short(&w.member.to_string(), 12)).collect();
            row.finality = Some(format!("finality waits for {}", who.join(", ")));
        }
        let standard = Standard::of(&info);
        if let Err(e) = fill(console, &mut row, id, &standard, &me, now).await {
            row.problems.push(e.to_string());
        }
        rows.push(row);
    }
    Ok(PortfolioLive { rows, now: format_time(now) })
}

/// Fills a row from the standard modules the partnership has.
async fn fill(
    console: &Console,
    row: &mut Row,
    id: crate::op::PartnershipId,
    standard: &Standard,
    me: &str,
    now: u64,
) -> Result<(), ConsoleError> {
    let node = &console.api.node;
    let base = format!("/console/p/{}", row.id);
    if let Some(membership) = &standard.membership {
        let answer: Result<membership_api::MemberInfo, _> =
            modules::query(node, id, membership, &membership_api::QueryMsg::Member { member: me.to_owned() })
                .await;
        let acceptance: Result<membership_api::AcceptanceResponse, _> = modules::query(
            node,
            id,
            membership,
            &membership_api::QueryMsg::Acceptance { member: me.to_owned() },
        )
        .await;
        if let Ok(membership_api::AcceptanceResponse { pending: Some(pending), .. }) = acceptance {
            row.waits.push(Wait {
                text: format!(
                    "Accept the partnership's terms to become a member ({} voting, {} economic units wait for you)",
                    pending.terms.voting_units, pending.terms.economic_units
                ),
                href: base.clone(),
                deadline: None,
            });
        }
        if let Ok(info) = answer {
            let roles = info.record.roles.iter().cloned().collect::<Vec<_>>().join(", ");
            row.units = Some(format!(
                "{} voting, {} economic{}",
                info.record.voting_units,
                info.record.economic_units,
                if roles.is_empty() { String::new() } else { format!(" · {roles}") }
            ));
        }
    }
    if let Some(voting) = &standard.voting {
        for p in super::proposals::all(node, id, voting).await? {
            let title = &p.proposal.title;
            let n = p.proposal.id;
            match super::proposals::status_now(&p, now) {
                voting_api::Status::Open if p.closes_ms > now => {
                    let ballot: voting_api::VoteResponse = modules::query(
                        node,
                        id,
                        voting,
                        &voting_api::QueryMsg::Vote { proposal: n, voter: me.to_owned() },
                    )
                    .await?;
                    if ballot.ballot.is_none() {
                        row.waits.push(Wait {
                            text: format!("Vote on proposal {n}: {title}"),
                            href: format!("{base}/proposals/{n}"),
                            deadline: Some(format!("closes {}", relative(p.closes_ms, now))),
                        });
                    }
                }
                voting_api::Status::Executable => row.waits.push(Wait {
                    text: format!("Execute proposal {n}: {title} (it passed)"),
                    href: format!("{base}/proposals/{n}"),
                    deadline: None,
                }),
                voting_api::Status::Passed => row.waits.push(Wait {
                    text: format!("Proposal {n} passed: {title}"),
                    href: format!("{base}/proposals/{n}"),
                    deadline: Some(format!("executable {}", relative(p.executable_from_ms, now))),
                }),
                _ => {}
            }
        }
    }
    if let Some(treasury) = &standard.treasury {
        let exponents = asset_exponents(node, id, treasury).await?;
        let exp = |asset: &str| exponents.get(asset).copied().unwrap_or(0);
        for e in pending_entries(node, id, treasury).await? {
            if e.recorded_by != me {
                row.waits.push(Wait {
                    text: format!(
                        "Confirm {} entry {}: {} {} ({})",
                        e.kind.name(),
                        e.id,
                        format_amount(e.amount.0, exp(&e.asset)),
                        e.asset,
                        e.reference
                    ),
                    href: format!("{base}/treasury#entry-{}", e.id),
                    deadline: None,
                });
            }
        }
        for p in pending_payouts(node, id, treasury).await? {
            let money = Money { asset: p.asset.clone(), amount: format_amount(p.amount.0, exp(&p.asset)) };
            if p.member == me {
                row.waits.push(Wait {
                    text: format!("Confirm payout {} of {} {} arrived", p.id, money.amount, money.asset),
                    href: format!("{base}/treasury#payout-{}", p.id),
                    deadline: None,
                });
            } else if p.payer == me {
                row.paying.push(money);
            }
        }
        let statement: treasury_api::StatementResponse =
            modules::query(node, id, treasury, &treasury_api::QueryMsg::Statement { member: me.to_owned() })
                .await?;
        for (asset, line) in statement {
            let due = line.owed.0.saturating_add(line.pending.0);
            if due > 0 {
                row.owed_to_me.push(Money { amount: format_amount(due, exp(&asset)), asset });
            }
        }
    }
    Ok(())
}
