//! `polypact portfolio`: the node's member's one view across all its
//! partnerships (`GET /v1/portfolio`): what it is owed and owes per asset,
//! what waits for it, the dates coming, and the counterparties its
//! partnerships share.
//!
//! This file owns how the command prints. The view itself is computed by
//! the node (`polypact::portfolio`); the answer is read back into the same
//! types, so the CLI and the node cannot disagree on its shape. Reaching
//! the node is `client.rs`.

use anyhow::{Context, Result};
use polypact::format::{format_amount, format_time, short};
use polypact::portfolio::overlaps::OverlapKind;
use polypact::portfolio::{Amount, AssetLine, Holding, Portfolio, WaitingKind};

use super::client::{Client, Target};
use super::commands::print_json;

/// `polypact portfolio [--final] [--json]`.
pub async fn show(target: &Target, final_state: bool, json: bool) -> Result<()> {
    let client = Client::connect(target)?;
    let answer = client.get(&format!("/v1/portfolio?final={final_state}")).await?;
    if json {
        print_json(&answer);
        return Ok(());
    }
    let view: Portfolio = serde_json::from_value(answer).context(
        "the node's portfolio is not in the shape this polypact reads; is the node another version?",
    )?;
    print(&view);
    Ok(())
}

/// An amount in major units when the exponent is known.
fn amount(value: Amount, exponent: Option<u8>) -> String {
    match exponent {
        Some(exponent) => format_amount(value.0, exponent),
        None => format!("{value} (minor units)"),
    }
}

/// The three figures of a line, the ones that are not zero.
fn figures(to_me: Amount, by_me: Amount, paid: Amount, exponent: Option<u8>) -> String {
    let mut parts = vec![
        format!("owed to you {}", amount(to_me, exponent)),
        format!("owed by you {}", amount(by_me, exponent)),
    ];
    if !paid.is_zero() {
        parts.push(format!("paid out, unconfirmed {}", amount(paid, exponent)));
    }
    parts.join(" · ")
}

fn print(view: &Portfolio) {
    let state = if view.final_state { "final states" } else { "latest states (optimistic)" };
    outln!("portfolio of {}", view.member);
    outln!("as of {}, {state}", format_time(view.now_ms));
    if view.partnerships.is_empty() {
        outln!();
        outln!("this node holds no partnership; `polypact partnership create` or `join` starts one");
        return;
    }
    outln!();
    let votes: usize = view
        .partnerships
        .iter()
        .map(|h| h.waiting.iter().filter(|w| w.kind == WaitingKind::Vote).count())
        .sum();
    let waiting: usize = view.partnerships.iter().map(|h| h.waiting.len()).sum();
    outln!("{} partnerships · {waiting} things wait for you ({votes} votes)", view.partnerships.len());
    if view.totals.is_empty() {
        outln!("owed      nothing, either way");
    }
    for total in &view.totals {
        outln!(
            "owed      {:<5} {}",
            total.asset,
            figures(total.owed_to_me, total.owed_by_me, total.paid_unconfirmed, total.exponent)
        );
    }
    for holding in &view.partnerships {
        outln!();
        print_holding(view, holding);
    }
    outln!();
    outln!("overlaps (counterparties in more than one of your partnerships)");
    if view.overlaps.is_empty() {
        outln!("  none");
    }
    for overlap in &view.overlaps {
        let kind = match overlap.kind {
            OverlapKind::Member => "partner",
            OverlapKind::TreasuryCounterparty => "treasury counterparty",
            _ => "counterparty",
        };
        let names: Vec<String> = overlap.partnerships.iter().map(|id| name_of(view, id)).collect();
        outln!("  {} ({kind}): {}", overlap.counterparty, names.join("; "));
    }
    outln!("  (no standard module declares exclusivity terms, so only counterparties are compared)");
}

/// A partnership's name, with the start of its id.
fn name_of(view: &Portfolio, id: &str) -> String {
    match view.holding(id) {
        Some(h) => format!("{} ({}…)", h.name, short(id, 8)),
        None => format!("{}…", short(id, 8)),
    }
}

fn print_holding(view: &Portfolio, h: &Holding) {
    let status = match h.my_status.as_deref() {
        Some(status) if status != "active" => format!(", you are {status}"),
        _ => String::new(),
    };
    outln!("{}  {}  ({}{status})", h.name, h.id, h.state);
    let applied = if h.optimistic_height == h.final_height {
        String::new()
    } else {
        format!(" ({} applied)", h.optimistic_height)
    };
    let participants = match h.participants.len() {
        1 => "1 participant".to_owned(),
        n => format!("{n} participants"),
    };
    outln!("  height    final {}{applied} · {participants}", h.final_height);
    if !h.finality_waits_for.is_empty() {
        outln!("  finality  waits for {}", h.finality_waits_for.join(", "));
    }
    if let Some(units) = &h.units {
        let roles =
            if units.roles.is_empty() { String::new() } else { format!(" · {}", units.roles.join(", ")) };
        let former = if units.active { "" } else { " (former member)" };
        outln!("  units     {} voting, {} economic{roles}{former}", units.voting, units.economic);
    }
    outln!("  parent    {}", h.parent.as_deref().map_or("-".to_owned(), |p| name_of(view, p)));
    if h.children.is_empty() {
        outln!("  children  -");
    } else {
        let children: Vec<String> = h.children.iter().map(|c| name_of(view, c)).collect();
        outln!("  children  {}", children.join("; "));
    }
    if h.money.is_empty() {
        outln!("  owed      nothing, either way");
    }
    for line in &h.money {
        print_line(line);
    }
    if h.waiting.is_empty() {
        outln!("  waiting   nothing");
    }
    for wait in &h.waiting {
        let mut when = Vec::new();
        if let Some(from) = wait.from_ms.filter(|from| *from > view.now_ms) {
            when.push(format!("from {}", format_time(from)));
        }
        if let Some(until) = wait.until_ms {
            when.push(format!("until {}", format_time(until)));
        }
        let when = if when.is_empty() { String::new() } else { format!(" [{}]", when.join(", ")) };
        outln!("  waiting   {}{when}", wait.what);
    }
    for deadline in &h.deadlines {
        let overdue = if deadline.overdue { " (overdue)" } else { "" };
        outln!("  date      {}{overdue}  {}", format_time(deadline.at_ms), deadline.what);
    }
    if !h.counterparties.is_empty() {
        outln!("  dealings  {}", h.counterparties.join(", "));
    }
    for problem in &h.problems {
        match &problem.module {
            Some(module) => outln!("  problem   {module}: {}", problem.error),
            None => outln!("  problem   {}", problem.error),
        }
    }
}

fn print_line(line: &AssetLine) {
    outln!(
        "  owed      {:<5} {}",
        line.asset,
        figures(line.owed_to_me, line.owed_by_me, line.paid_unconfirmed, line.exponent)
    );
}
