//! A partnership's overview (`/console/p/{id}`): participants with their
//! units, roles and status (active, suspended, removed), final and
//! optimistic height, what finality waits for, the modules and their code
//! (version), the charter's parameters and module configs, and the genesis
//! a new partner's node joins with.
//!
//! Read from the node's [`PartnershipInfo`](crate::node::PartnershipInfo)
//! and the membership module's `members` query.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::super::Console;
use super::super::auth::Session;
use super::super::error::ConsoleError;
use super::super::modules::{self, kind_of};
use super::super::render::{Chrome, Done, error_page, respond};
use super::treasury::Part;
use super::{Fields, Loaded, load, required};
use crate::format::{format_duration, short};
use crate::node::{NodeHandle, ParticipantStatus};
use crate::portfolio::read::Reader;

/// A participant (or a member) in the table.
pub(crate) struct ParticipantRow {
    member: String,
    you: bool,
    status: String,
    status_detail: String,
    voting_units: String,
    economic_units: String,
    roles: String,
    last_heard: String,
}

/// What finality waits for.
pub(crate) struct WaitRow {
    member: String,
    silent_for: String,
    suspension: String,
}

/// A module instance.
pub(crate) struct ModuleRow {
    name: String,
    kind: String,
    code: String,
    code_short: String,
    origin: &'static str,
    permissions: String,
    config: String,
}

/// The live part of the overview.
#[derive(Template)]
#[template(path = "partnership_live.html")]
pub(crate) struct PartnershipLive {
    final_height: u64,
    optimistic_height: u64,
    op_count: u64,
    pending: usize,
    state: String,
    waiting: Vec<WaitRow>,
    participants: Vec<ParticipantRow>,
    modules: Vec<ModuleRow>,
    problems: Vec<String>,
}

/// The overview page.
#[derive(Template)]
#[template(path = "partnership.html")]
pub(crate) struct PartnershipPage {
    chrome: Chrome,
    id: String,
    name: String,
    live: String,
    params: Vec<(String, String)>,
    genesis: Option<String>,
    /// The terms this node's member must accept to become a member, when
    /// its admission waits for that (membership's `require_acceptance`).
    pending_terms: Option<String>,
}

/// `GET /console/p/{id}` (`?part=live`: the live part alone).
pub(crate) async fn view(
    State(console): State<Console>,
    session: Session,
    Path(id): Path<String>,
    Query(part): Query<Part>,
) -> Response {
    let result = async {
        let loaded = load(&console, &id).await?;
        let live = gather(&console, &loaded).await?;
        if part.part.as_deref() == Some("live") {
            return Ok(super::super::render::page(Ok(live)));
        }
        let p = &loaded.info.charter.params;
        let params = vec![
            ("Fuel per op".into(), p.fuel_per_op.to_string()),
            ("Clock tolerance".into(), format_duration(p.clock_tolerance_ms)),
            ("Message depth".into(), p.max_message_depth.to_string()),
            (
                "Suspend a silent partner after".into(),
                if p.suspend_after_ms == 0 { "never".into() } else { format_duration(p.suspend_after_ms) },
            ),
            ("Largest module code".into(), format!("{} bytes", p.max_code_bytes)),
        ];
        let genesis = match &console.api.config.genesis_dir {
            Some(dir) => tokio::fs::read_to_string(dir.join(format!("{}.hex", loaded.id)))
                .await
                .ok()
                .map(|t| t.trim().to_owned()),
            None => None,
        };
        let pending_terms = pending_terms(&console.api.node, &loaded).await;
        let chrome = Chrome::partnership(
            loaded.info.charter.name.clone(),
            &session,
            loaded.me.clone(),
            loaded.hex(),
            loaded.info.charter.name.clone(),
            "overview",
        );
        Ok::<_, ConsoleError>(super::super::render::page(Ok(PartnershipPage {
            chrome,
            id: loaded.hex(),
            name: loaded.info.charter.name.clone(),
            live: live.render()?,
            params,
            genesis,
            pending_terms,
        })))
    }
    .await;
    result.unwrap_or_else(|e| error_page(&e))
}

/// The partnership's terms as they stand, if this node's member was
/// admitted and must accept them before it becomes a member.
pub(crate) async fn pending_terms(node: &NodeHandle, loaded: &Loaded) -> Option<String> {
    let membership = loaded.standard.membership.as_deref()?;
    let answer: membership_api::AcceptanceResponse = modules::query(
        node,
        loaded.id,
        membership,
        &membership_api::QueryMsg::Acceptance { member: loaded.me.clone() },
    )
    .await
    .ok()?;
    answer.pending?;
    let terms: polypact_sdk::Terms =
        modules::query(node, loaded.id, "system", &serde_json::json!({"terms": {}})).await.ok()?;
    Some(terms.terms)
}

/// `POST /console/p/{id}/accept-terms`: this node's member accepts the
/// partnership's terms as they stand now (the hash shown with the form;
/// terms that changed since are refused by membership, in words).
pub(crate) async fn accept_terms(
    State(console): State<Console>,
    session: Session,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(fields): Form<Fields>,
) -> Response {
    let back = format!("/console/p/{id}");
    let result = async {
        session.check(&headers, fields.get("csrf").map(String::as_str))?;
        let loaded = load(&console, &id).await?;
        let membership = loaded.standard.membership.clone().ok_or_else(|| {
            ConsoleError::BadInput("this partnership has no membership module whose terms to accept".into())
        })?;
        let terms = required(&fields, "terms", "The terms' hash")?;
        let msg = membership_api::HandleMsg::AcceptTerms { terms };
        modules::call(&console.api.node, loaded.id, &membership, &msg, console.api.config.call_timeout)
            .await?;
        Ok(Done::stay("You accepted the terms: you are a member now.", back.clone()))
    }
    .await;
    respond(&headers, &back, result)
}

async fn gather(console: &Console, loaded: &Loaded) -> Result<PartnershipLive, ConsoleError> {
    let info = &loaded.info;
    let mut problems = Vec::new();
    let known = match &loaded.standard.membership {
        Some(membership) => {
            match Reader::optimistic(&console.api.node, loaded.id).members(membership).await {
                Ok(list) => list,
                Err(e) => {
                    problems.push(e.to_string());
                    Vec::new()
                }
            }
        }
        None => Vec::new(),
    };
    let mut participants: Vec<ParticipantRow> = info
        .statuses
        .iter()
        .map(|p| {
            let member = p.member.to_string();
            let record = known.iter().find(|m| m.member == member);
            let (status_detail, status) = match p.status {
                ParticipantStatus::Active => (format!("since height {}", p.admitted_at), "active"),
                ParticipantStatus::Suspended { at, .. } => (format!("at height {at}"), "suspended"),
                ParticipantStatus::Removed { at } => (format!("at height {at}"), "removed"),
            };
            ParticipantRow {
                you: member == loaded.me,
                status: status.into(),
                status_detail,
                voting_units: record.map_or("–".into(), |r| r.record.voting_units.to_string()),
                economic_units: record.map_or("–".into(), |r| r.record.economic_units.to_string()),
                roles: record
                    .map_or(String::new(), |r| r.record.roles.iter().cloned().collect::<Vec<_>>().join(", ")),
                last_heard: p
                    .last_heard_ms_ago
                    .map_or("not since the node started".into(), |ms| format!("{} ago", format_duration(ms))),
                member,
            }
        })
        .collect();
    // Members of the module who are not participants of the partnership
    // (a former member whose claim remains, say).
    for m in &known {
        if !participants.iter().any(|p| p.member == m.member) {
            participants.push(ParticipantRow {
                member: m.member.clone(),
                you: m.member == loaded.me,
                status: if m.record.active { "member".into() } else { "former member".into() },
                status_detail: m.record.left_at.map_or(String::new(), |h| format!("left at height {h}")),
                voting_units: m.record.voting_units.to_string(),
                economic_units: m.record.economic_units.to_string(),
                roles: m.record.roles.iter().cloned().collect::<Vec<_>>().join(", "),
                last_heard: String::new(),
            });
        }
    }
    let waiting = info
        .waiting_for
        .iter()
        .map(|w| WaitRow {
            member: w.member.to_string(),
            silent_for: format_duration(w.silent_for_ms),
            suspension: match (&w.suspension_in_ms, &w.why_not) {
                (Some(ms), _) => format!("suspended in {} if still silent", format_duration(*ms)),
                (None, Some(why)) => format!("will not be suspended: {why}"),
                (None, None) => String::new(),
            },
        })
        .collect();
    let modules = info
        .modules
        .iter()
        .map(|(name, record)| {
            let spec = info.charter.module(name);
            let code = record.code.to_hex();
            ModuleRow {
                kind: kind_of(name, spec.map(|s| s.config.as_str()))
                    .map_or("other", modules::Kind::name)
                    .to_owned(),
                code_short: short(&code, 12),
                origin: match spec {
                    Some(s) if s.code == record.code => "as in the charter",
                    Some(_) => "upgraded since the charter",
                    None => "installed after the charter",
                },
                permissions: record.permissions.iter().map(|p| p.name()).collect::<Vec<_>>().join(", "),
                config: spec
                    .and_then(|s| serde_json::from_str::<serde_json::Value>(&s.config).ok())
                    .and_then(|v| serde_json::to_string_pretty(&v).ok())
                    .unwrap_or_default(),
                code,
                name: name.clone(),
            }
        })
        .collect();
    let state = if info.dissolved.is_some() {
        "dissolved: it takes queries only".to_owned()
    } else if let Some(reason) = &info.halted {
        format!("halted: {reason}")
    } else {
        "running".to_owned()
    };
    Ok(PartnershipLive {
        final_height: info.final_height,
        optimistic_height: info.optimistic_height,
        op_count: info.op_count,
        pending: info.pending,
        state,
        waiting,
        participants,
        modules,
        problems,
    })
}
