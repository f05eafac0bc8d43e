//! Proposals (`/console/p/{id}/proposals`): the list, one proposal with
//! its tally and the rule that applies, and the forms to propose (for the
//! standard kinds of decision), vote and execute.
//!
//! Proposals are built as the voting module's `propose` message from
//! `voting-api`'s types, carrying calls built from `membership-api` and
//! `treasury-api`; the voting module decides what passes. The form for a
//! kind of proposal is swapped in by htmx when the kind is chosen (and
//! every kind's fields are served at `…/proposals/form?action=…`).

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use voting_api::{
    Choice, HandleMsg, ProposalMsg, ProposalSystemMsg, ProposalView, QueryMsg, Status, Threshold,
};

use super::super::Console;
use super::super::auth::Session;
use super::super::error::ConsoleError;
use super::super::modules::{self, Kind};
use super::super::render::{Chrome, Done, error_page, page, respond};
use super::treasury::{Part, asset_exponents};
use super::{Fields, Loaded, load, member, number, optional, required};
use crate::format::{format_time, percent_of, relative, short_member};
use crate::node::now_ms;
use crate::portfolio::read::{Reader, status_now};

/// The rule of a proposal in words; with the total voting power at its
/// snapshot, the quorum in units too.
pub(crate) fn rule_words(rule: &voting_api::Rule, total: Option<u64>) -> String {
    let threshold = match &rule.threshold {
        Threshold::Majority {} => "passes with more yes than no".to_owned(),
        Threshold::Percent { percent } => format!("passes with yes at least {percent}% of yes and no"),
        Threshold::Absolute { count } => format!("passes with at least {count} voting units for yes"),
        Threshold::Unanimous {} => "passes only if every voting unit votes yes".to_owned(),
    };
    match total {
        _ if rule.quorum_percent == 0 => format!("It {threshold}; no quorum."),
        Some(total) => {
            let needed = (u128::from(total) * u128::from(rule.quorum_percent)).div_ceil(100);
            format!(
                "It {threshold}; quorum: {}% of the {total} voting units ({needed}) must vote (abstentions count).",
                rule.quorum_percent
            )
        }
        None => format!(
            "It {threshold}; quorum: {}% of the voting units must vote (abstentions count).",
            rule.quorum_percent
        ),
    }
}

/// A proposal in the list.
pub(crate) struct ProposalRow {
    id: u64,
    title: String,
    kind: String,
    status: String,
    tally: String,
    when: String,
}

/// The choice a vote button sends, with its label.
pub(crate) struct VoteOption {
    value: String,
    label: String,
}

/// One line of a tally.
pub(crate) struct TallyLine {
    label: String,
    power: u64,
    percent: String,
}

/// The live part of the list.
#[derive(Template)]
#[template(path = "proposals_live.html")]
pub(crate) struct ProposalsLive {
    id: String,
    rows: Vec<ProposalRow>,
}

/// A kind of decision of the voting module's decision table.
pub(crate) struct KindOption {
    name: String,
    rule: String,
}

/// The list page, with the form to propose.
#[derive(Template)]
#[template(path = "proposals.html")]
pub(crate) struct ProposalsPage {
    chrome: Chrome,
    id: String,
    live: String,
    actions: Vec<(String, String)>,
    fields: String,
}

/// The fields of a propose form for one kind of proposal.
#[derive(Template)]
#[template(path = "propose_fields.html")]
pub(crate) struct ProposeFields {
    action: String,
    kinds: Vec<KindOption>,
    default_kind: String,
    min_period_s: u64,
    max_period_s: u64,
    assets: Vec<String>,
    modules: Vec<String>,
}

/// The live part of one proposal.
#[derive(Template)]
#[template(path = "proposal_live.html")]
pub(crate) struct ProposalLive {
    id: String,
    csrf: String,
    n: u64,
    status: String,
    status_words: String,
    rule: String,
    total_power: u64,
    tally: Vec<TallyLine>,
    cast: String,
    my_vote: Option<String>,
    can_vote: bool,
    can_execute: bool,
    options: Vec<VoteOption>,
    times: Vec<(String, String)>,
}

/// One proposal's page.
#[derive(Template)]
#[template(path = "proposal.html")]
pub(crate) struct ProposalPage {
    chrome: Chrome,
    id: String,
    n: u64,
    title: String,
    description: String,
    kind: String,
    proposer: String,
    messages: String,
    live: String,
}

/// The actions the propose form offers, with their default kind.
const ACTIONS: &[(&str, &str, &str)] = &[
    ("resolution", "A resolution (no effect but the record)", "default"),
    ("choice", "A multiple-choice question", "default"),
    ("admit", "Admit a member", "admit_member"),
    ("expel", "Expel a member", "expel_member"),
    ("set_units", "Change a member's units", "default"),
    ("spend", "Spend from the treasury", "spend"),
    ("distribute", "Distribute a treasury pool", "default"),
    ("dissolve", "Dissolve the partnership", "dissolve"),
    ("custom", "Custom messages (JSON)", "default"),
];

async fn voting_config(console: &Console, loaded: &Loaded) -> Result<voting_api::Config, ConsoleError> {
    let voting = loaded.standard.require(Kind::Voting)?;
    modules::query(&console.api.node, loaded.id, voting, &QueryMsg::Config {}).await
}

async fn fields_for(console: &Console, loaded: &Loaded, action: &str) -> Result<ProposeFields, ConsoleError> {
    let Some((_, _, kind)) = ACTIONS.iter().find(|(a, _, _)| *a == action) else {
        return Err(ConsoleError::BadInput(format!(
            "unknown kind of proposal {action:?}; choose one of: {}",
            ACTIONS.iter().map(|(a, _, _)| *a).collect::<Vec<_>>().join(", ")
        )));
    };
    let config = voting_config(console, loaded).await?;
    let kinds: Vec<KindOption> = config
        .rules
        .iter()
        .map(|(name, rule)| KindOption { name: name.clone(), rule: rule_words(rule, None) })
        .collect();
    let default_kind = if config.rules.contains_key(*kind) {
        (*kind).to_owned()
    } else {
        voting_api::DEFAULT_KIND.to_owned()
    };
    let assets = match &loaded.standard.treasury {
        Some(t) => asset_exponents(&console.api.node, loaded.id, t).await?.into_keys().collect(),
        None => Vec::new(),
    };
    Ok(ProposeFields {
        action: action.to_owned(),
        kinds,
        default_kind,
        min_period_s: config.min_period_ms.div_ceil(1000),
        max_period_s: config.max_period_ms / 1000,
        assets,
        modules: loaded.info.modules.iter().map(|(n, _)| n.clone()).collect(),
    })
}

/// `GET /console/p/{id}/proposals` (`?part=live`: the list alone).
pub(crate) async fn list(
    State(console): State<Console>,
    session: Session,
    Path(id): Path<String>,
    Query(part): Query<Part>,
) -> Response {
    let result = async {
        let loaded = load(&console, &id).await?;
        let voting = loaded.standard.require(Kind::Voting)?.to_owned();
        let now = now_ms();
        let rows = Reader::optimistic(&console.api.node, loaded.id)
            .proposals(&voting)
            .await?
            .into_iter()
            .rev()
            .map(|p| ProposalRow {
                id: p.proposal.id,
                title: p.proposal.title.clone(),
                kind: p.proposal.kind.clone(),
                status: status_now(&p, now).to_string(),
                tally: format!(
                    "{} yes · {} no · {} abstain",
                    p.proposal.tally.yes, p.proposal.tally.no, p.proposal.tally.abstain
                ),
                when: match status_now(&p, now) {
                    Status::Open => format!("closes {}", relative(p.closes_ms, now)),
                    Status::Passed => format!("executable {}", relative(p.executable_from_ms, now)),
                    _ => format!("closed {}", relative(p.closes_ms, now)),
                },
            })
            .collect();
        let live = ProposalsLive { id: loaded.hex(), rows };
        if part.part.as_deref() == Some("live") {
            return Ok(page(Ok(live)));
        }
        let fields = fields_for(&console, &loaded, "resolution").await?.render()?;
        let chrome = Chrome::partnership(
            format!("Proposals · {}", loaded.info.charter.name),
            &session,
            loaded.me.clone(),
            loaded.hex(),
            loaded.info.charter.name.clone(),
            "proposals",
        );
        let actions = ACTIONS.iter().map(|(a, label, _)| ((*a).to_owned(), (*label).to_owned())).collect();
        Ok::<_, ConsoleError>(page(Ok(ProposalsPage {
            chrome,
            id: loaded.hex(),
            live: live.render()?,
            actions,
            fields,
        })))
    }
    .await;
    result.unwrap_or_else(|e| error_page(&e))
}

/// The `action` query parameter.
#[derive(serde::Deserialize)]
pub(crate) struct ActionQuery {
    #[serde(default)]
    action: Option<String>,
}

/// `GET /console/p/{id}/proposals/form?action=…`: the propose form's fields.
pub(crate) async fn form_fields(
    State(console): State<Console>,
    _session: Session,
    Path(id): Path<String>,
    Query(q): Query<ActionQuery>,
) -> Response {
    let result = async {
        let loaded = load(&console, &id).await?;
        fields_for(&console, &loaded, q.action.as_deref().unwrap_or("resolution")).await
    }
    .await;
    page(result)
}

/// The messages a proposal of `action` carries, from the form.
async fn messages_for(
    console: &Console,
    loaded: &Loaded,
    action: &str,
    fields: &Fields,
) -> Result<(Vec<ProposalMsg>, Option<Vec<String>>), ConsoleError> {
    let membership = || loaded.standard.require(Kind::Membership).map(str::to_owned);
    let treasury = || loaded.standard.require(Kind::Treasury).map(str::to_owned);
    let call = |module: String, msg: serde_json::Value| ProposalMsg::Call { module, msg };
    Ok(match action {
        "resolution" => (vec![], None),
        "choice" => {
            let text = required(fields, "choices", "The options")?;
            let choices: Vec<String> =
                text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect();
            if choices.len() < 2 {
                return Err(ConsoleError::BadInput(
                    "a multiple-choice question needs at least two options, one per line".into(),
                ));
            }
            (vec![], Some(choices))
        }
        "admit" => {
            let who = member(fields, "member", "The member to admit")?;
            let msg = membership_api::HandleMsg::Admit {
                member: who,
                voting_units: Some(number(fields, "voting_units", "Voting units")?),
                economic_units: Some(number(fields, "economic_units", "Economic units")?),
                roles: optional(fields, "roles").map(|r| {
                    r.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
                }),
            };
            (vec![call(membership()?, value(&msg))], None)
        }
        "expel" => {
            let who = member(fields, "member", "The member to expel")?;
            (vec![call(membership()?, value(&membership_api::HandleMsg::Expel { member: who }))], None)
        }
        "set_units" => {
            let who = member(fields, "member", "The member")?;
            let voting_units = optional(fields, "voting_units")
                .map(|_| number(fields, "voting_units", "Voting units"))
                .transpose()?;
            let economic_units = optional(fields, "economic_units")
                .map(|_| number(fields, "economic_units", "Economic units"))
                .transpose()?;
            if voting_units.is_none() && economic_units.is_none() {
                return Err(ConsoleError::BadInput("give new voting units, economic units, or both".into()));
            }
            let msg = membership_api::HandleMsg::SetUnits { member: who, voting_units, economic_units };
            (vec![call(membership()?, value(&msg))], None)
        }
        "spend" | "distribute" => {
            let treasury = treasury()?;
            let asset = required(fields, "asset", "The asset")?;
            let exponents = asset_exponents(&console.api.node, loaded.id, &treasury).await?;
            let exponent = *exponents
                .get(&asset)
                .ok_or_else(|| ConsoleError::BadInput(format!("this treasury keeps no asset {asset:?}")))?;
            let amount = optional(fields, "amount")
                .map(|t| crate::format::parse_amount(&t, exponent))
                .transpose()
                .map_err(|e| ConsoleError::BadInput(format!("The amount: {e}")))?
                .map(treasury_api::Amount);
            let msg = if action == "spend" {
                treasury_api::HandleMsg::Spend {
                    asset,
                    amount: amount.ok_or_else(|| ConsoleError::BadInput("The amount is required".into()))?,
                    to: required(fields, "to", "The recipient")?,
                    reference: required(fields, "reference", "The reference")?,
                    proposal: None,
                }
            } else {
                treasury_api::HandleMsg::Distribute { asset: Some(asset), amount }
            };
            (vec![call(treasury, value(&msg))], None)
        }
        "dissolve" => {
            let reason = required(fields, "reason", "The reason")?;
            (vec![ProposalMsg::System(ProposalSystemMsg::Dissolve { reason })], None)
        }
        "custom" => {
            let text = required(fields, "messages", "The messages")?;
            let messages: Vec<ProposalMsg> = serde_json::from_str(&text).map_err(|e| {
                ConsoleError::BadInput(format!(
                    "the messages are not a JSON list of messages (line {}, column {}): {e}; write e.g. [{{\"call\":{{\"module\":\"membership\",\"msg\":{{…}}}}}}]",
                    e.line(),
                    e.column()
                ))
            })?;
            (messages, None)
        }
        other => return Err(ConsoleError::BadInput(format!("unknown kind of proposal {other:?}"))),
    })
}

/// A typed message as a JSON value (the interface crates' messages always
/// serialise: their maps have string keys).
fn value(msg: &impl serde::Serialize) -> serde_json::Value {
    serde_json::to_value(msg).unwrap_or(serde_json::Value::Null)
}

/// `POST /console/p/{id}/proposals`: proposes.
pub(crate) async fn propose(
    State(console): State<Console>,
    session: Session,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(fields): Form<Fields>,
) -> Response {
    let back = format!("/console/p/{id}/proposals");
    let result = async {
        session.check(&headers, fields.get("csrf").map(String::as_str))?;
        let loaded = load(&console, &id).await?;
        let voting = loaded.standard.require(Kind::Voting)?.to_owned();
        let action = required(&fields, "action", "The kind of proposal")?;
        let title = required(&fields, "title", "The title")?;
        let description = optional(&fields, "description").unwrap_or_default();
        let kind = optional(&fields, "kind");
        let period_ms = optional(&fields, "period_s")
            .map(|_| number(&fields, "period_s", "The voting period").map(|s| s.saturating_mul(1000)))
            .transpose()?;
        let (messages, choices) = messages_for(&console, &loaded, &action, &fields).await?;
        let msg = HandleMsg::Propose { title, description, kind, messages, choices, period_ms };
        let applied =
            modules::call(&console.api.node, loaded.id, &voting, &msg, console.api.config.call_timeout)
                .await?;
        let n = applied.data.as_ref().and_then(|d| d["id"].as_u64());
        Ok(match n {
            Some(n) => {
                Done::go(format!("Proposal {n} is open for votes."), format!("/console/p/{id}/proposals/{n}"))
            }
            None => Done::stay("The proposal is recorded.", back.clone()),
        })
    }
    .await;
    respond(&headers, &back, result)
}

/// `GET /console/p/{id}/proposals/{n}` (`?part=live`: the live part alone).
pub(crate) async fn detail(
    State(console): State<Console>,
    session: Session,
    Path((id, n)): Path<(String, u64)>,
    Query(part): Query<Part>,
) -> Response {
    let result = async {
        let loaded = load(&console, &id).await?;
        let voting = loaded.standard.require(Kind::Voting)?.to_owned();
        let node = &console.api.node;
        let view: ProposalView =
            modules::query(node, loaded.id, &voting, &QueryMsg::Proposal { id: n }).await?;
        let ballot: voting_api::VoteResponse = modules::query(
            node,
            loaded.id,
            &voting,
            &QueryMsg::Vote { proposal: n, voter: loaded.me.clone() },
        )
        .await?;
        let live = proposal_live(&loaded, &session, &view, ballot.ballot.as_ref());
        if part.part.as_deref() == Some("live") {
            return Ok(page(Ok(live)));
        }
        let p = &view.proposal;
        let chrome = Chrome::partnership(
            format!("Proposal {n} · {}", loaded.info.charter.name),
            &session,
            loaded.me.clone(),
            loaded.hex(),
            loaded.info.charter.name.clone(),
            "proposals",
        );
        Ok::<_, ConsoleError>(page(Ok(ProposalPage {
            chrome,
            id: loaded.hex(),
            n,
            title: p.title.clone(),
            description: p.description.clone(),
            kind: p.kind.clone(),
            proposer: p.proposer.clone(),
            messages: if p.messages.is_empty() {
                String::new()
            } else {
                serde_json::to_string_pretty(&p.messages).unwrap_or_default()
            },
            live: live.render()?,
        })))
    }
    .await;
    result.unwrap_or_else(|e| error_page(&e))
}

fn choice_words(choice: &Choice, choices: Option<&Vec<String>>) -> String {
    match choice {
        Choice::Yes => "yes".into(),
        Choice::No => "no".into(),
        Choice::Abstain => "abstain".into(),
        Choice::Option(i) => {
            choices.and_then(|c| c.get(*i as usize)).cloned().unwrap_or_else(|| format!("option {i}"))
        }
    }
}

fn proposal_live(
    loaded: &Loaded,
    session: &Session,
    view: &ProposalView,
    ballot: Option<&voting_api::Ballot>,
) -> ProposalLive {
    let p = &view.proposal;
    let now = now_ms();
    let total = p.total_power;
    let line = |label: String, power: u64| TallyLine { label, power, percent: percent_of(power, total) };
    let mut tally = Vec::new();
    let mut options = Vec::new();
    match &p.choices {
        Some(choices) => {
            for (i, c) in choices.iter().enumerate() {
                tally.push(line(c.clone(), p.tally.options.get(i).copied().unwrap_or(0)));
                options.push(VoteOption { value: format!("option:{i}"), label: c.clone() });
            }
            tally.push(line("abstain".into(), p.tally.abstain));
            options.push(VoteOption { value: "abstain".into(), label: "Abstain".into() });
        }
        None => {
            tally.push(line("yes".into(), p.tally.yes));
            tally.push(line("no".into(), p.tally.no));
            tally.push(line("abstain".into(), p.tally.abstain));
            for (v, l) in [("yes", "Vote yes"), ("no", "Vote no"), ("abstain", "Abstain")] {
                options.push(VoteOption { value: v.into(), label: l.into() });
            }
        }
    }
    let status = status_now(view, now);
    let status_words = match status {
        Status::Draft => "waiting for a sponsor before voting opens".to_owned(),
        Status::Open if view.closes_ms <= now => {
            "voting has closed; the partnership's next op (an execution, say) \
            settles the outcome by the rule below"
                .to_owned()
        }
        Status::Open => format!("open for votes; closes {}", relative(view.closes_ms, now)),
        Status::Passed => {
            format!("passed; executable {} (grace period)", relative(view.executable_from_ms, now))
        }
        Status::Executable => "passed; anyone may execute it now".to_owned(),
        Status::Executed => format!("executed {}", p.executed_ms.map_or(String::new(), |t| relative(t, now))),
        Status::Rejected => "rejected: it did not pass".to_owned(),
        Status::Decided => format!(
            "decided: {}",
            view.winner.map_or("no winner".into(), |w| choice_words(&Choice::Option(w), p.choices.as_ref()))
        ),
        Status::Vetoed => format!("vetoed by {}", p.vetoed_by.as_deref().map_or("?".into(), short_member)),
        Status::Expired => "expired: it passed but was not executed in time".to_owned(),
    };
    let mut times = vec![("Opened".to_owned(), format_time(p.start_ms))];
    times.push((
        if view.closes_ms > now { "Closes" } else { "Closed" }.to_owned(),
        format_time(view.closes_ms),
    ));
    if matches!(status, Status::Passed | Status::Executable) {
        times.push(("Executable from".into(), format_time(view.executable_from_ms)));
    }
    if let Some(t) = p.executed_ms {
        times.push(("Executed".into(), format_time(t)));
    }
    ProposalLive {
        id: loaded.hex(),
        csrf: session.csrf.clone(),
        n: p.id,
        status: status.to_string(),
        status_words,
        rule: rule_words(&p.rule, Some(total)),
        total_power: total,
        cast: percent_of(p.tally.cast(), total),
        tally,
        my_vote: ballot.map(|b| choice_words(&b.choice, p.choices.as_ref())),
        can_vote: status == Status::Open && view.closes_ms > now,
        // Once voting has closed by the clock, executing is how the outcome
        // is settled: the module executes a passed proposal and refuses
        // anything else, saying why.
        can_execute: (matches!(status, Status::Passed | Status::Executable)
            || (status == Status::Open && view.closes_ms <= now))
            && p.choices.is_none(),
        options,
        times,
    }
}

/// `POST /console/p/{id}/proposals/{n}/vote`.
pub(crate) async fn vote(
    State(console): State<Console>,
    session: Session,
    headers: HeaderMap,
    Path((id, n)): Path<(String, u64)>,
    Form(fields): Form<Fields>,
) -> Response {
    let back = format!("/console/p/{id}/proposals/{n}");
    let result = async {
        session.check(&headers, fields.get("csrf").map(String::as_str))?;
        let loaded = load(&console, &id).await?;
        let voting = loaded.standard.require(Kind::Voting)?.to_owned();
        let text = required(&fields, "choice", "Your choice")?;
        let choice = match text.as_str() {
            "yes" => Choice::Yes,
            "no" => Choice::No,
            "abstain" => Choice::Abstain,
            other => match other.strip_prefix("option:").and_then(|i| i.parse::<u32>().ok()) {
                Some(i) => Choice::Option(i),
                None => {
                    return Err(ConsoleError::BadInput(format!(
                        "{other:?} is not a choice: yes, no, abstain or an option"
                    )));
                }
            },
        };
        let msg = HandleMsg::Vote { proposal: n, choice };
        modules::call(&console.api.node, loaded.id, &voting, &msg, console.api.config.call_timeout).await?;
        Ok(Done::stay(format!("Your vote ({text}) on proposal {n} is recorded."), back.clone()))
    }
    .await;
    respond(&headers, &back, result)
}

/// `POST /console/p/{id}/proposals/{n}/execute`.
pub(crate) async fn execute(
    State(console): State<Console>,
    session: Session,
    headers: HeaderMap,
    Path((id, n)): Path<(String, u64)>,
    Form(fields): Form<Fields>,
) -> Response {
    let back = format!("/console/p/{id}/proposals/{n}");
    let result = async {
        session.check(&headers, fields.get("csrf").map(String::as_str))?;
        let loaded = load(&console, &id).await?;
        let voting = loaded.standard.require(Kind::Voting)?.to_owned();
        let msg = HandleMsg::Execute { proposal: n };
        modules::call(&console.api.node, loaded.id, &voting, &msg, console.api.config.call_timeout).await?;
        Ok(Done::stay(format!("Proposal {n} is executed: its messages ran."), back.clone()))
    }
    .await;
    respond(&headers, &back, result)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests may unwrap

    use super::*;

    #[test]
    fn rules_read_in_words() {
        let rule = voting_api::Rule { threshold: Threshold::Unanimous {}, quorum_percent: 100 };
        assert_eq!(
            rule_words(&rule, Some(100)),
            "It passes only if every voting unit votes yes; quorum: 100% of the 100 voting units (100) must vote (abstentions count)."
        );
        let rule = voting_api::Rule { threshold: Threshold::Majority {}, quorum_percent: 50 };
        assert!(rule_words(&rule, Some(3)).contains("(2) must vote"));
        assert!(rule_words(&rule, None).contains("50% of the voting units must vote"));
        let rule = voting_api::Rule { threshold: Threshold::Percent { percent: 67 }, quorum_percent: 0 };
        assert_eq!(rule_words(&rule, Some(10)), "It passes with yes at least 67% of yes and no; no quorum.");
    }

    #[test]
    fn choices_read_in_words() {
        let options = vec!["red".to_owned(), "blue".to_owned()];
        assert_eq!(choice_words(&Choice::Option(1), Some(&options)), "blue");
        assert_eq!(choice_words(&Choice::Option(5), Some(&options)), "option 5");
        assert_eq!(choice_words(&Choice::Yes, None), "yes");
    }

    #[test]
    fn every_action_has_a_label_and_a_kind() {
        let mut seen = std::collections::BTreeMap::new();
        for (action, label, kind) in ACTIONS {
            assert!(!label.is_empty() && !kind.is_empty());
            assert!(seen.insert(*action, ()).is_none(), "{action} twice");
        }
    }
}
