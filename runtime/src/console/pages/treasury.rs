//! The treasury view (`/console/p/{id}/treasury`): balances per asset,
//! entries waiting for confirmation (confirm or reject), payouts waiting
//! for the member, statements per member, a chart of revenue and
//! distributions over time; and the forms to record an entry and to
//! distribute a pool.
//!
//! Everything is read with the treasury's queries and done with its calls
//! (`treasury-api`); amounts are typed in major units and sent as exact
//! minor units. The treasury decides who may do what: a refusal shows its
//! error.

use std::collections::BTreeMap;

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use treasury_api::{Amount, Entry, EntryKind, HandleMsg, PaidFrom, QueryMsg, Status};

use super::super::Console;
use super::super::auth::Session;
use super::super::chart::{self, Series};
use super::super::error::ConsoleError;
use super::super::modules::{self, Kind};
use super::super::render::{Chrome, Done, page, respond};
use super::{Fields, Loaded, load, optional, required};
use crate::format::{format_amount, format_time, parse_amount, short_member};
use crate::node::{NodeHandle, now_ms};
use crate::op::PartnershipId;
use crate::portfolio::read::Reader;

/// Asset code → minor-unit exponent, from the treasury's config.
pub(crate) async fn asset_exponents(
    node: &NodeHandle,
    id: PartnershipId,
    treasury: &str,
) -> Result<BTreeMap<String, u8>, ConsoleError> {
    Ok(Reader::optimistic(node, id).asset_exponents(treasury).await?)
}

/// One asset's balances.
pub(crate) struct BalanceRow {
    asset: String,
    pool: String,
    claims: String,
    revenue: String,
    costs: String,
    distributed: String,
    paid_out: String,
}

/// An entry in a table.
pub(crate) struct EntryRow {
    id: u64,
    kind: &'static str,
    amount: String,
    asset: String,
    reference: String,
    counterparty: String,
    recorded_by: String,
    recorded_by_full: String,
    mine: bool,
    status: String,
    time: String,
}

/// A payout in a table.
pub(crate) struct PayoutRow {
    id: u64,
    amount: String,
    asset: String,
    reference: String,
    payer: String,
}

/// One member's statement in one asset (`earned = paid + pending + owed`).
pub(crate) struct StatementRow {
    member: String,
    member_short: String,
    you: bool,
    asset: String,
    cells: Vec<Cell>,
}

/// A figure with its exact minor units (the tests compare both).
pub(crate) struct Cell {
    field: &'static str,
    minor: String,
    text: String,
}

/// An asset the forms offer.
pub(crate) struct AssetOption {
    code: String,
    exponent: u8,
}

/// The live part of the treasury view.
#[derive(Template)]
#[template(path = "treasury_live.html")]
pub(crate) struct TreasuryLive {
    id: String,
    csrf: String,
    balances: Vec<BalanceRow>,
    pending: Vec<EntryRow>,
    my_payouts: Vec<PayoutRow>,
    statements: Vec<StatementRow>,
    charts: Vec<String>,
    recent: Vec<EntryRow>,
}

/// The treasury page.
#[derive(Template)]
#[template(path = "treasury.html")]
pub(crate) struct TreasuryPage {
    chrome: Chrome,
    id: String,
    live: String,
    assets: Vec<AssetOption>,
}

/// The treasury page, or its live part alone.
async fn page_handler(
    console: &Console,
    session: &Session,
    id: &str,
    live_only: bool,
) -> Result<Response, ConsoleError> {
    let loaded = load(console, id).await?;
    let treasury = loaded.standard.require(Kind::Treasury)?.to_owned();
    let live = gather(console, &loaded, &treasury, session).await?;
    if live_only {
        return Ok(page(Ok(live)));
    }
    let exponents = asset_exponents(&console.api.node, loaded.id, &treasury).await?;
    let assets = exponents.into_iter().map(|(code, exponent)| AssetOption { code, exponent }).collect();
    let chrome = Chrome::partnership(
        format!("Treasury · {}", loaded.info.charter.name),
        session,
        loaded.me.clone(),
        loaded.hex(),
        loaded.info.charter.name.clone(),
        "treasury",
    );
    Ok(page(Ok(TreasuryPage { chrome, id: loaded.hex(), live: live.render()?, assets })))
}

/// The `part` query parameter.
#[derive(serde::Deserialize)]
pub(crate) struct Part {
    #[serde(default)]
    pub(crate) part: Option<String>,
}

/// `GET /console/p/{id}/treasury`.
pub(crate) async fn view(
    State(console): State<Console>,
    session: Session,
    Path(id): Path<String>,
    axum::extract::Query(part): axum::extract::Query<Part>,
) -> Response {
    let live_only = part.part.as_deref() == Some("live");
    match page_handler(&console, &session, &id, live_only).await {
        Ok(response) => response,
        Err(e) => super::super::render::error_page(&e),
    }
}

async fn gather(
    console: &Console,
    loaded: &Loaded,
    treasury: &str,
    session: &Session,
) -> Result<TreasuryLive, ConsoleError> {
    let node = &console.api.node;
    let id = loaded.id;
    let exponents = asset_exponents(node, id, treasury).await?;
    let exp = |asset: &str| exponents.get(asset).copied().unwrap_or(0);
    let money = |amount: Amount, asset: &str| format_amount(amount.0, exp(asset));

    let balances: treasury_api::BalancesResponse =
        modules::query(node, id, treasury, &QueryMsg::Balances {}).await?;
    let balance_rows = balances
        .totals
        .iter()
        .map(|(asset, t)| BalanceRow {
            asset: asset.clone(),
            pool: money(t.pool, asset),
            claims: money(t.claims, asset),
            revenue: money(t.revenue, asset),
            costs: money(t.costs.0.saturating_add(t.member_costs.0).into(), asset),
            distributed: money(t.distributed, asset),
            paid_out: money(t.paid_out, asset),
        })
        .collect();

    let reader = Reader::optimistic(node, id);
    let entries = reader.entries(treasury).await?;
    let row = |e: &Entry| EntryRow {
        id: e.id,
        kind: e.kind.name(),
        amount: money(e.amount, &e.asset),
        asset: e.asset.clone(),
        reference: e.reference.clone(),
        counterparty: e.counterparty.clone(),
        recorded_by: short_member(&e.recorded_by),
        recorded_by_full: e.recorded_by.clone(),
        mine: e.recorded_by == loaded.me,
        status: e.status.to_string(),
        time: format_time(e.time_ms),
    };
    let pending = entries.iter().filter(|e| e.status == Status::Pending).map(row).collect();
    let recent = entries.iter().rev().take(20).map(row).collect();

    let my_payouts = reader
        .payouts(treasury)
        .await?
        .into_iter()
        .filter(|p| p.status == Status::Pending && p.member == loaded.me)
        .map(|p| PayoutRow {
            id: p.id,
            amount: money(p.amount, &p.asset),
            asset: p.asset,
            reference: p.reference,
            payer: short_member(&p.payer),
        })
        .collect();

    let mut statements = Vec::new();
    for member in statement_members(console, loaded).await? {
        let statement: treasury_api::StatementResponse =
            modules::query(node, id, treasury, &QueryMsg::Statement { member: member.clone() }).await?;
        for (asset, line) in statement {
            let cell = |field: &'static str, amount: Amount| Cell {
                field,
                minor: amount.0.to_string(),
                text: money(amount, &asset),
            };
            let cells = vec![
                cell("earned", line.earned),
                cell("paid", line.paid),
                cell("pending", line.pending),
                cell("owed", line.owed),
                cell("capital", line.capital),
                cell("recoupable", line.recoupable),
            ];
            statements.push(StatementRow {
                member_short: short_member(&member),
                you: member == loaded.me,
                member: member.clone(),
                asset,
                cells,
            });
        }
    }

    // None from a treasury whose code keeps no such history.
    let history = reader.distributions(treasury).await.ok();
    let now = now_ms();
    let mut charts = Vec::new();
    for (asset, exponent) in &exponents {
        let revenue: Vec<(u64, u128)> = entries
            .iter()
            .filter(|e| e.kind == EntryKind::Revenue && e.status == Status::Counted && &e.asset == asset)
            .map(|e| (e.time_ms, e.amount.0))
            .collect();
        let mut series =
            vec![Series { label: "Revenue (counted)".into(), class: "revenue", points: revenue }];
        if let Some(history) = &history {
            let points =
                history.iter().filter(|d| &d.asset == asset).map(|d| (d.time_ms, d.amount.0)).collect();
            series.push(Series { label: "Distributed".into(), class: "distributed", points });
        }
        charts.push(chart::cumulative(asset, *exponent, &series, now, history.is_none()));
    }

    Ok(TreasuryLive {
        id: loaded.hex(),
        csrf: session.csrf.clone(),
        balances: balance_rows,
        pending,
        my_payouts,
        statements,
        charts,
        recent,
    })
}

/// Whose statements to show: every member the membership module knows
/// (current and former), or the participants if there is none.
async fn statement_members(console: &Console, loaded: &Loaded) -> Result<Vec<String>, ConsoleError> {
    match &loaded.standard.membership {
        Some(membership) => Ok(Reader::optimistic(&console.api.node, loaded.id)
            .members(membership)
            .await?
            .into_iter()
            .map(|m| m.member)
            .collect()),
        None => Ok(loaded.info.statuses.iter().map(|p| p.member.to_string()).collect()),
    }
}

/// The amount of `field` for `asset`, parsed with the asset's exponent.
async fn amount_field(
    console: &Console,
    loaded: &Loaded,
    treasury: &str,
    fields: &Fields,
    asset: &str,
    name: &str,
    label: &str,
) -> Result<Option<Amount>, ConsoleError> {
    let Some(text) = optional(fields, name) else { return Ok(None) };
    let exponents = asset_exponents(&console.api.node, loaded.id, treasury).await?;
    let Some(exponent) = exponents.get(asset) else {
        let known: Vec<&str> = exponents.keys().map(String::as_str).collect();
        return Err(ConsoleError::BadInput(format!(
            "this treasury keeps no asset {asset:?}; it keeps {}",
            known.join(", ")
        )));
    };
    parse_amount(&text, *exponent)
        .map(|a| Some(Amount(a)))
        .map_err(|e| ConsoleError::BadInput(format!("{label}: {e}")))
}

/// Runs a treasury action of a posted form: checks the session, loads the
/// partnership, builds the message, calls, answers.
async fn act<F, Fut>(
    console: Console,
    session: Session,
    headers: HeaderMap,
    id: String,
    fields: Fields,
    build: F,
) -> Response
where
    F: FnOnce(Console, Loaded, String, Fields) -> Fut,
    Fut: std::future::Future<Output = Result<(HandleMsg, String), ConsoleError>>,
{
    let back = format!("/console/p/{id}/treasury");
    let result = async {
        session.check(&headers, fields.get("csrf").map(String::as_str))?;
        let loaded = load(&console, &id).await?;
        let treasury = loaded.standard.require(Kind::Treasury)?.to_owned();
        let (msg, done) = build(console.clone(), loaded, treasury.clone(), fields).await?;
        let loaded_id = id.parse::<PartnershipId>().map_err(|e| ConsoleError::BadInput(e.to_string()))?;
        modules::call(&console.api.node, loaded_id, &treasury, &msg, console.api.config.call_timeout).await?;
        Ok(Done::stay(done, back.clone()))
    }
    .await;
    respond(&headers, &back, result)
}

/// `POST /console/p/{id}/treasury/record`: records revenue, a cost or capital.
pub(crate) async fn record(
    State(console): State<Console>,
    session: Session,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(fields): Form<Fields>,
) -> Response {
    act(console, session, headers, id, fields, |console, loaded, treasury, fields| async move {
        let kind = required(&fields, "kind", "The kind of entry")?;
        let asset = required(&fields, "asset", "The asset")?;
        let amount = amount_field(&console, &loaded, &treasury, &fields, &asset, "amount", "The amount")
            .await?
            .ok_or_else(|| ConsoleError::BadInput("The amount is required".into()))?;
        let reference = required(&fields, "reference", "The reference (invoice number)")?;
        let counterparty = optional(&fields, "counterparty").unwrap_or_default();
        let note = optional(&fields, "note").unwrap_or_default();
        let msg = match kind.as_str() {
            "revenue" => HandleMsg::RecordRevenue { asset, amount, reference, counterparty, note },
            "cost" => {
                let paid_from = match optional(&fields, "paid_from").as_deref() {
                    Some("member") => PaidFrom::Member,
                    _ => PaidFrom::Pool,
                };
                HandleMsg::RecordCost { asset, amount, reference, counterparty, note, paid_from }
            }
            "capital" => HandleMsg::ContributeCapital { asset, amount, reference, note },
            other => {
                return Err(ConsoleError::BadInput(format!(
                    "unknown kind of entry {other:?}: choose revenue, cost or capital"
                )));
            }
        };
        Ok((msg, format!("The {kind} entry is recorded; it counts once another partner confirms it (if the charter asks for that).")))
    })
    .await
}

/// `POST /console/p/{id}/treasury/distribute`: distributes a pool by the split.
pub(crate) async fn distribute(
    State(console): State<Console>,
    session: Session,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(fields): Form<Fields>,
) -> Response {
    act(console, session, headers, id, fields, |console, loaded, treasury, fields| async move {
        let asset = required(&fields, "asset", "The asset")?;
        let amount =
            amount_field(&console, &loaded, &treasury, &fields, &asset, "amount", "The amount").await?;
        let done = format!("The {asset} pool is distributed by the split in force.");
        Ok((HandleMsg::Distribute { asset: Some(asset), amount }, done))
    })
    .await
}

/// `POST /console/p/{id}/treasury/entries/{entry}/confirm`.
pub(crate) async fn confirm(
    State(console): State<Console>,
    session: Session,
    headers: HeaderMap,
    Path((id, entry)): Path<(String, u64)>,
    Form(fields): Form<Fields>,
) -> Response {
    act(console, session, headers, id, fields, move |_, _, _, _| async move {
        Ok((HandleMsg::ConfirmEntry { id: entry }, format!("Entry {entry} is confirmed; it counts now.")))
    })
    .await
}

/// `POST /console/p/{id}/treasury/entries/{entry}/reject`.
pub(crate) async fn reject(
    State(console): State<Console>,
    session: Session,
    headers: HeaderMap,
    Path((id, entry)): Path<(String, u64)>,
    Form(fields): Form<Fields>,
) -> Response {
    act(console, session, headers, id, fields, move |_, _, _, fields| async move {
        let reason = optional(&fields, "reason").unwrap_or_default();
        Ok((
            HandleMsg::RejectEntry { id: entry, reason },
            format!("Entry {entry} is rejected; it will never count."),
        ))
    })
    .await
}

/// `POST /console/p/{id}/treasury/payouts/{payout}/confirm`.
pub(crate) async fn confirm_payout(
    State(console): State<Console>,
    session: Session,
    headers: HeaderMap,
    Path((id, payout)): Path<(String, u64)>,
    Form(fields): Form<Fields>,
) -> Response {
    act(console, session, headers, id, fields, move |_, _, _, _| async move {
        Ok((
            HandleMsg::ConfirmPayout { id: payout, evidence: None },
            format!("Payout {payout} is confirmed as received."),
        ))
    })
    .await
}
