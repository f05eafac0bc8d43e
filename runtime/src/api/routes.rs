//! The API's handlers and the route table the router is built from.
//! Request bodies are read as bytes and parsed here, so invalid JSON is
//! answered with its line and column in the usual error shape.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::path::Path as FsPath;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, post};
use futures::Stream;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::{ApiError, ApiState, OPENAPI_JSON, Route};
use crate::ledger::OpOutcome;
use crate::node::{
    Invitation, NodeError, NodeEvent, OpEventKind, ParticipantStatus, ParticipantView, PartnershipInfo,
    WaitFor, now_ms, outcome_json,
};
use crate::op::{
    Charter, CodeHash, CodeSource, Limits, PartnershipId, Payload, UnsignedOp, decode_signed_op,
    fill_placeholders, reference_problems,
};

type Handler = MethodRouter<ApiState>;

/// The longest a call request may wait for its outcome.
const MAX_CALL_WAIT: std::time::Duration = std::time::Duration::from_secs(600);

/// The route table: every route with its handler.
pub(super) fn table() -> Vec<(Route, Handler)> {
    let r = |method, path, auth| Route { method, path, auth };
    vec![
        (r("GET", "/health", false), get(health)),
        (r("GET", "/openapi.json", true), get(openapi)),
        (r("GET", "/metrics", true), get(super::metrics::metrics)),
        (r("GET", "/v1/node", true), get(node_info)),
        (r("GET", "/v1/peers", true), get(peers)),
        (r("POST", "/v1/code", true), post(upload_code)),
        (r("GET", "/v1/partnerships", true), get(list_partnerships)),
        (r("POST", "/v1/partnerships", true), post(create_partnership)),
        (r("POST", "/v1/partnerships/join", true), post(join_partnership)),
        (r("GET", "/v1/partnerships/{id}", true), get(show_partnership)),
        (r("GET", "/v1/partnerships/{id}/genesis", true), get(genesis)),
        (r("POST", "/v1/partnerships/{id}/calls", true), post(call)),
        (r("POST", "/v1/partnerships/{id}/code", true), post(publish_code)),
        (r("POST", "/v1/partnerships/{id}/query", true), post(query)),
        (r("GET", "/v1/partnerships/{id}/ops/{op}", true), get(op_status)),
        (r("GET", "/v1/partnerships/{id}/checkpoints", true), get(checkpoints)),
        (r("GET", "/v1/partnerships/{id}/events", true), get(events)),
        (r("GET", "/v1/portfolio", true), get(portfolio)),
        (r("GET", "/v1/invitations", true), get(list_invitations)),
        (r("POST", "/v1/invitations/{id}/accept", true), post(accept_invitation)),
        (r("DELETE", "/v1/invitations/{id}", true), delete(decline_invitation)),
    ]
}

/// Parses a JSON request body; errors say where (line and column).
fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.is_empty() {
        return Err(ApiError::bad_request("invalid_json", "the request body is empty; send a JSON object"));
    }
    serde_json::from_slice(body).map_err(|e| {
        let what = if e.is_syntax() || e.is_eof() { "invalid JSON" } else { "unexpected JSON" };
        // serde_json ends its message with the position, given here first.
        let text = e.to_string();
        let detail = text.rsplit_once(" at line ").map_or(text.as_str(), |(head, _)| head);
        ApiError::bad_request(
            "invalid_json",
            format!("{what} in the request body at line {}, column {}: {detail}", e.line(), e.column()),
        )
    })
}

/// The bytes of a message field (`msg`): its JSON text, as modules read it.
fn msg_bytes(msg: &Value) -> Vec<u8> {
    msg.to_string().into_bytes()
}

fn parse_partnership(text: &str) -> Result<PartnershipId, ApiError> {
    text.parse::<PartnershipId>().map_err(|e| {
        ApiError::bad_request("bad_partnership_id", format!("{e}; `polypact partnership list` shows the ids"))
    })
}

async fn health() -> Json<Value> {
    Json(json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}))
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI_JSON).into_response()
}

async fn node_info(State(state): State<ApiState>) -> Result<Json<Value>, ApiError> {
    let info = state.node.info().await?;
    let peers = state.peers().await;
    Ok(Json(json!({
        "member": info.member.to_string(),
        "version": info.version,
        "partnerships": info.partnerships,
        "partnerships_loaded": info.partnerships_loaded,
        "modules_compiling": info.modules_compiling,
        "partnerships_unavailable": info.partnerships_unavailable.iter().map(|(id, error)| json!({
            "id": id.to_hex(),
            "error": error,
        })).collect::<Vec<_>>(),
        "peer_id": state.config.peer_id,
        "p2p_listen": state.p2p_listen().await,
        "peers": peers,
    })))
}

async fn peers(State(state): State<ApiState>) -> Json<Value> {
    Json(json!({"peers": state.peers().await}))
}

async fn upload_code(
    State(state): State<ApiState>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if body.is_empty() {
        return Err(ApiError::bad_request("bad_code", "the body is empty; send the module's .wasm bytes"));
    }
    let hash = state.node.add_code(body.to_vec()).await?;
    Ok((StatusCode::CREATED, Json(json!({"hash": hash.to_hex(), "bytes": body.len()}))))
}

async fn list_partnerships(State(state): State<ApiState>) -> Result<Json<Value>, ApiError> {
    let list = state.node.partnerships().await?;
    let items: Vec<Value> = list
        .iter()
        .map(|p| {
            json!({
                "id": p.id.to_hex(),
                "name": p.name,
                "final_height": p.final_height,
                "optimistic_height": p.optimistic_height,
                "participants": p.participants,
            })
        })
        .collect();
    Ok(Json(json!({"partnerships": items})))
}

/// A partnership as the API shows it.
pub(super) fn partnership_json(info: &PartnershipInfo) -> Value {
    json!({
        "id": info.id.to_hex(),
        "name": info.charter.name,
        "member_id": info.id.to_member_text(),
        "parent": info.charter.parent.as_ref().map(|link| json!({
            "id": link.partnership.to_hex(),
            "member_id": link.partnership.to_member_text(),
            "seq": link.seq,
        })),
        "final_height": info.final_height,
        "optimistic_height": info.optimistic_height,
        "final_root": hex::encode(info.final_root),
        "optimistic_root": hex::encode(info.optimistic_root),
        "participants": info.statuses.iter()
            .filter(|p| !matches!(p.status, ParticipantStatus::Removed { .. }))
            .map(|p| participant_json(p, info)).collect::<Vec<_>>(),
        "former_participants": info.statuses.iter()
            .filter(|p| matches!(p.status, ParticipantStatus::Removed { .. }))
            .map(|p| participant_json(p, info)).collect::<Vec<_>>(),
        "waiting_for": info.waiting_for.iter().map(|w| json!({
            "member": w.member.to_string(),
            "silent_for_ms": w.silent_for_ms,
            "suspension_in_ms": w.suspension_in_ms,
            "why_not": w.why_not,
        })).collect::<Vec<_>>(),
        "modules": info.modules.iter()
            .map(|(name, record)| json!({
                "name": name,
                "code": record.code.to_hex(),
                "permissions": record.permissions.iter().map(|p| p.name()).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        "published_code": info.published_code.iter().map(|(code, record)| json!({
            "code": code.to_hex(),
            "size": record.size,
            "published_at": record.published_at,
            "op": record.published_by.map(|op| op.to_hex()),
        })).collect::<Vec<_>>(),
        "op_count": info.op_count,
        "pending": info.pending,
        "dissolved": info.dissolved,
        "halted": info.halted,
        "refusals": info.refusals,
        "params": {
            "fuel_per_op": info.charter.params.fuel_per_op,
            "clock_tolerance_ms": info.charter.params.clock_tolerance_ms,
            "max_message_depth": info.charter.params.max_message_depth,
            "suspend_after_ms": info.charter.params.suspend_after_ms,
            "max_code_bytes": info.charter.params.max_code_bytes,
        },
    })
}

fn participant_json(p: &ParticipantView, info: &PartnershipInfo) -> Value {
    let mut value = json!({
        "member": p.member.to_string(),
        "admitted_at": p.admitted_at,
        "status": p.status.name(),
        "last_heard_ms_ago": p.last_heard_ms_ago,
        "peer_id": info.bound_peers.get(&p.member).map(ToString::to_string),
    });
    match p.status {
        ParticipantStatus::Active => {}
        ParticipantStatus::Suspended { at, cut_seq } => {
            value["suspended_at"] = json!(at);
            value["cut_seq"] = json!(cut_seq);
        }
        ParticipantStatus::Removed { at } => value["removed_at"] = json!(at),
    }
    value
}

async fn show_partnership(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_partnership(&id)?;
    let info = state.node.partnership(id).await?;
    Ok(Json(partnership_json(&info)))
}

/// `POST /v1/partnerships`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateRequest {
    /// The charter's TOML text (a template with `${name}` placeholders).
    charter: String,
    /// Placeholder values.
    #[serde(default)]
    values: BTreeMap<String, String>,
    /// Code hashes of modules whose charter entry names a `wasm` file, by
    /// module name (the code was uploaded with `POST /v1/code`).
    #[serde(default)]
    code: BTreeMap<String, String>,
    /// Inline module code, hex, by module name.
    #[serde(default)]
    wasm: BTreeMap<String, String>,
}

fn bad_charter(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "bad_charter", message)
}

pub(crate) async fn create_partnership(
    State(state): State<ApiState>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let request: CreateRequest = parse_body(&body)?;
    // Everything is checked before anything is stored.
    let mut inline = BTreeMap::new();
    for (module, text) in &request.wasm {
        let bytes = hex::decode(text.trim())
            .map_err(|e| bad_charter(format!("wasm for module `{module}` is not hex: {e}")))?;
        inline.insert(module.clone(), bytes);
    }
    let text =
        fill_placeholders(&request.charter, &request.values).map_err(|e| bad_charter(e.to_string()))?;
    let charter = Charter::from_toml(&text, "charter", FsPath::new("."), |module, source| match source {
        CodeSource::Hash(hash) => Ok(hash),
        CodeSource::File(_) => {
            if let Some(hash) = request.code.get(module) {
                hash.parse::<CodeHash>().map_err(|e| e.to_string())
            } else if let Some(bytes) = inline.get(module) {
                Ok(CodeHash::of(bytes))
            } else {
                Err("names a wasm file, which the node cannot read; upload the code (`POST /v1/code`) and pass its hash in `code`, or send it in `wasm`".to_owned())
            }
        }
    })
    .map_err(|e| bad_charter(e.to_string()))?;
    if let Some(name) = inline.keys().chain(request.code.keys()).find(|n| charter.module(n).is_none()) {
        return Err(bad_charter(format!("code was given for `{name}`, which the charter does not list")));
    }
    // Every reference between modules names a module of the charter (as far
    // as the code at hand declares its references; missing code is refused
    // below).
    let mut references = BTreeMap::new();
    for module in &charter.modules {
        let fields = match inline.get(&module.name) {
            Some(bytes) => {
                Some(crate::host::declared_references(bytes).map_err(|e| bad_charter(e.to_string()))?)
            }
            None => state.node.module_references(module.code).await?,
        };
        if let Some(fields) = fields {
            references.insert(module.name.clone(), fields);
        }
    }
    let problems = reference_problems(&text, |module| references.get(module).cloned());
    if !problems.is_empty() {
        let messages: Vec<String> = problems.iter().map(ToString::to_string).collect();
        return Err(bad_charter(messages.join("; ")));
    }
    // The node's member must be a participant; checked before any code is stored.
    if !charter.participants.contains(&state.node.member()) {
        return Err(NodeError::NotAParticipant(state.node.member()).into());
    }
    for bytes in inline.into_values() {
        state.node.add_code(bytes).await?;
    }
    let (id, genesis) = match &state.config.genesis_signer {
        Some(key) => {
            if key.member_id() != state.node.member() {
                return Err(ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the API's genesis signer is not the node's member; fix the node's startup",
                ));
            }
            let genesis = UnsignedOp {
                partnership: PartnershipId::default(),
                author: key.member_id(),
                seq: 1,
                parents: vec![],
                time_ms: now_ms(),
                payload: Payload::Genesis(charter),
            }
            .sign(key);
            (state.node.join(genesis.clone()).await?, Some(genesis))
        }
        None => (state.node.create_partnership(charter).await?, None),
    };
    let info = state.node.partnership(id).await?;
    let mut body = partnership_json(&info);
    if let Some(genesis) = genesis {
        let text = hex::encode(genesis.encode());
        keep_genesis(&state, &id, &text).await;
        if let Some(map) = body.as_object_mut() {
            map.insert("genesis".into(), text.into());
        }
    }
    Ok((StatusCode::CREATED, Json(body)))
}

/// Keeps a genesis in the genesis directory (written whole, then renamed).
/// The partnership exists either way, so a failure is logged, not returned.
async fn keep_genesis(state: &ApiState, id: &PartnershipId, text: &str) {
    let Some(dir) = &state.config.genesis_dir else { return };
    let (path, temp) = (dir.join(format!("{id}.hex")), dir.join(format!("{id}.hex.tmp")));
    let written = async {
        tokio::fs::create_dir_all(dir).await?;
        tokio::fs::write(&temp, text).await?;
        tokio::fs::rename(&temp, &path).await
    }
    .await;
    if let Err(error) = written {
        tracing::warn!(%id, %error, path = %path.display(), "cannot keep the genesis; GET /v1/partnerships/{id}/genesis will not have it");
    }
}

async fn genesis(State(state): State<ApiState>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let id = parse_partnership(&id)?;
    state.node.partnership(id).await?;
    let kept = match &state.config.genesis_dir {
        Some(dir) => tokio::fs::read_to_string(dir.join(format!("{id}.hex"))).await.ok(),
        None => None,
    };
    match kept {
        Some(text) => Ok(Json(json!({"id": id.to_hex(), "genesis": text.trim()}))),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_genesis",
            format!(
                "this node did not create or join {id} through its API, so it keeps no genesis for it; ask the partner whose node created it"
            ),
        )),
    }
}

/// `POST /v1/partnerships/join`: exactly one of the two.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JoinRequest {
    /// The signed genesis op, hex (as `POST /v1/partnerships` returns it):
    /// for a founding participant.
    #[serde(default)]
    genesis: Option<String>,
    /// The partnership id: for a member admitted after the genesis, whose
    /// partners' nodes hand the genesis and the code over.
    #[serde(default)]
    id: Option<String>,
}

pub(crate) async fn join_partnership(
    State(state): State<ApiState>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let request: JoinRequest = parse_body(&body)?;
    let (id, kept) = match (request.genesis, request.id) {
        (Some(genesis), None) => join_with_genesis(&state, &genesis).await?,
        (None, Some(id)) => (join_by_id(&state, &id).await?, None),
        _ => {
            return Err(ApiError::bad_request(
                "bad_request",
                "give exactly one of `genesis` (a founding partner joins with the genesis hex) and `id` (a member admitted later joins by the partnership's id)",
            ));
        }
    };
    if let Some(text) = kept {
        keep_genesis(&state, &id, &text).await;
    }
    let info = state.node.partnership(id).await?;
    Ok((StatusCode::CREATED, Json(partnership_json(&info))))
}

/// Joins from a genesis, only as one of the founding participants it names:
/// a node joins nothing it is not part of. Returns the id and the genesis
/// (hex) to keep.
async fn join_with_genesis(
    state: &ApiState,
    text: &str,
) -> Result<(PartnershipId, Option<String>), ApiError> {
    let bytes = hex::decode(text.trim()).map_err(|e| {
        ApiError::bad_request(
            "bad_genesis",
            format!("the genesis is not hex ({e}); pass it as the creating node returned it"),
        )
    })?;
    let genesis = decode_signed_op(&bytes, &Limits::default())
        .map_err(|e| ApiError::bad_request("bad_genesis", format!("the genesis does not decode: {e}")))?;
    if let Payload::Genesis(charter) = &genesis.op().payload
        && !charter.participants.contains(&state.node.member())
    {
        let member = state.node.member();
        let id = genesis.id();
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "not_a_participant",
            format!(
                "this node's member {member} is not a founding participant of partnership {id}, so it does not join it from the genesis; \
                 a member admitted later joins by id (`polypact partnership join {id}`, or {{\"id\": \"{id}\"}}), which only a partner's node that has seen the admission answers"
            ),
        ));
    }
    let id = state.node.join(genesis).await?;
    Ok((id, Some(hex::encode(&bytes))))
}

/// Joins by id: connected partners' nodes are asked, with this member's
/// signed hello, for the genesis and the module code.
async fn join_by_id(state: &ApiState, text: &str) -> Result<PartnershipId, ApiError> {
    let id = parse_partnership(text)?;
    state.node.join_by_id(id).await.map_err(|error| match error {
        NodeError::UnknownPartnership(_) => ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_partnership",
            format!(
                "no connected peer gave partnership {id} to this node's member: a partner's node answers once this member is a participant in the history it holds (admitted), and this node must be connected to it (`--bootstrap` its address)"
            ),
        ),
        other => other.into(),
    })
}

/// `GET /v1/portfolio?final=true|false`: the member's view across its
/// partnerships ([`crate::portfolio`]), read at the node's clock.
async fn portfolio(
    State(state): State<ApiState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<crate::portfolio::Portfolio>, ApiError> {
    let final_state = portfolio_params(raw.as_deref())?;
    let options = crate::portfolio::Options { now_ms: now_ms(), final_state };
    Ok(Json(crate::portfolio::gather(&state.node, &options).await?))
}

/// The portfolio's parameters: `final`, exactly `true` or `false`.
fn portfolio_params(query: Option<&str>) -> Result<bool, ApiError> {
    let mut final_state = false;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match (key, value) {
            ("final", "true") => final_state = true,
            ("final", "false") => final_state = false,
            ("final", other) => {
                return Err(ApiError::bad_request(
                    "bad_parameter",
                    format!(
                        "final={other}: use final=true (final states) or final=false (the latest, the default)"
                    ),
                ));
            }
            (other, _) => {
                return Err(ApiError::bad_request(
                    "bad_parameter",
                    format!("unknown parameter `{other}`; this route takes `final` only"),
                ));
            }
        }
    }
    Ok(final_state)
}

fn invitation_json(invitation: &Invitation) -> Value {
    json!({
        "id": invitation.partnership.to_hex(),
        "name": invitation.name,
        "creator": invitation.creator.to_string(),
        "participants": invitation.participants.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "received_ms": invitation.received_ms,
        "announced_by": invitation.announced_by.to_string(),
    })
}

async fn list_invitations(State(state): State<ApiState>) -> Result<Json<Value>, ApiError> {
    let list = state.node.invitations().await?;
    Ok(Json(json!({"invitations": list.iter().map(invitation_json).collect::<Vec<_>>()})))
}

async fn accept_invitation(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let id = parse_partnership(&id)?;
    let joined = state.node.accept_invitation(id).await?;
    let info = state.node.partnership(joined).await?;
    Ok((StatusCode::CREATED, Json(partnership_json(&info))))
}

async fn decline_invitation(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_partnership(&id)?;
    state.node.decline_invitation(id).await?;
    Ok(Json(json!({"id": id.to_hex(), "declined": true})))
}

/// `POST /v1/partnerships/{id}/calls`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CallRequest {
    module: String,
    msg: Value,
    #[serde(default)]
    wait: WaitFor,
    #[serde(default)]
    timeout_ms: Option<u64>,
}

async fn call(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let id = parse_partnership(&id)?;
    let request: CallRequest = parse_body(&body)?;
    // A client may ask for a shorter or longer wait, at most MAX_CALL_WAIT.
    let timeout = request
        .timeout_ms
        .map_or(state.config.call_timeout, std::time::Duration::from_millis)
        .min(MAX_CALL_WAIT);
    let receipt = state.node.call(id, &request.module, msg_bytes(&request.msg), request.wait, timeout).await;
    let receipt = match receipt {
        Ok(receipt) => receipt,
        Err(e) => {
            state.metrics.count_call("refused");
            return Err(e.into());
        }
    };
    let op = receipt.op.to_hex();
    match &receipt.outcome {
        None => {
            state.metrics.count_call("accepted");
            Ok((StatusCode::ACCEPTED, Json(json!({"op": op, "status": "accepted", "final": false}))))
        }
        Some(OpOutcome::Failed { error }) => {
            state.metrics.count_call("failed");
            Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "call_failed",
                format!("the call was rejected: {error}"),
            )
            .with("op", op.into())
            .with("module_error", error.clone().into()))
        }
        Some(OpOutcome::Skipped { reason }) => {
            state.metrics.count_call("failed");
            Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "call_skipped",
                format!("the call was not executed: {reason}"),
            )
            .with("op", op.into()))
        }
        Some(outcome) => {
            state.metrics.count_call("applied");
            Ok((
                StatusCode::OK,
                Json(
                    json!({"op": op, "status": "applied", "final": receipt.is_final, "outcome": outcome_json(outcome)}),
                ),
            ))
        }
    }
}

/// `?wait=accepted|applied|final&timeout_ms=N` of a publication.
fn publish_params(
    query: Option<&str>,
    default_timeout: std::time::Duration,
) -> Result<(WaitFor, std::time::Duration), ApiError> {
    let (mut wait, mut timeout) = (WaitFor::Applied, default_timeout);
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "wait" => {
                wait = match value {
                    "accepted" => WaitFor::Accepted,
                    "applied" => WaitFor::Applied,
                    "final" => WaitFor::Final,
                    other => {
                        return Err(ApiError::bad_request(
                            "bad_parameter",
                            format!("wait={other}: use accepted, applied or final"),
                        ));
                    }
                };
            }
            "timeout_ms" => {
                let ms: u64 = value.parse().map_err(|_| {
                    ApiError::bad_request(
                        "bad_parameter",
                        format!("timeout_ms={value}: a whole number of milliseconds"),
                    )
                })?;
                timeout = std::time::Duration::from_millis(ms);
            }
            other => {
                return Err(ApiError::bad_request(
                    "bad_parameter",
                    format!("unknown parameter `{other}`; this route takes `wait` and `timeout_ms`"),
                ));
            }
        }
    }
    Ok((wait, timeout.min(MAX_CALL_WAIT)))
}

/// `POST /v1/partnerships/{id}/code`: publishes the body (a module's
/// `.wasm` bytes) in the partnership's log.
async fn publish_code(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let id = parse_partnership(&id)?;
    let (wait, timeout) = publish_params(raw.as_deref(), state.config.call_timeout)?;
    if body.is_empty() {
        return Err(ApiError::bad_request("bad_code", "the body is empty; send the module's .wasm bytes"));
    }
    let receipt = state.node.publish_code(id, body.to_vec(), wait, timeout).await?;
    let ops: Vec<String> = receipt.ops.iter().map(|op| op.to_hex()).collect();
    let answer = |status: &str| {
        json!({
            "code": receipt.code.to_hex(), "bytes": body.len(), "ops": ops, "status": status,
            "final": receipt.is_final,
        })
    };
    match &receipt.outcome {
        _ if receipt.ops.is_empty() => Ok((StatusCode::OK, Json(answer("already_published")))),
        None => Ok((StatusCode::ACCEPTED, Json(answer("accepted")))),
        Some(OpOutcome::Applied { .. }) => Ok((StatusCode::OK, Json(answer("published")))),
        Some(OpOutcome::Failed { error }) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "publish_failed",
            format!("the code was not published: {error}"),
        )
        .with("code", receipt.code.to_hex().into())),
        Some(OpOutcome::Skipped { reason }) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "publish_skipped",
            format!("the code was not published: {reason}"),
        )),
        Some(OpOutcome::Structural) => Ok((StatusCode::OK, Json(answer("published")))),
    }
}

async fn op_status(
    State(state): State<ApiState>,
    Path((id, op)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_partnership(&id)?;
    let op_id =
        op.parse::<crate::op::OpId>().map_err(|e| ApiError::bad_request("bad_op_id", e.to_string()))?;
    let (outcome, is_final) = state.node.op_status(id, op_id).await?;
    Ok(Json(json!({
        "op": op_id.to_hex(),
        "applied": outcome.is_some(),
        "final": is_final,
        "outcome": outcome.as_ref().map(outcome_json),
    })))
}

async fn checkpoints(State(state): State<ApiState>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let id = parse_partnership(&id)?;
    let view = state.node.checkpoints(id).await?;
    let checkpoints: Vec<Value> = view
        .checkpoints
        .iter()
        .map(|c| {
            json!({
                "height": c.statement.height,
                "state_root": hex::encode(c.statement.state_root),
                "generation": c.statement.generation,
                "attesters": c.attesters.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "attested": c.attested.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "certificate": c.certificate.as_ref().map(hex::encode),
            })
        })
        .collect();
    Ok(Json(json!({
        "checkpoint_every": view.checkpoint_every,
        "checkpoints": checkpoints,
        "compact_history": view.compact_history,
        "compacted": view.compacted.map(|c| json!({
            "checkpoint": c.checkpoint,
            "done_upto": c.done_upto,
            "certificate": hex::encode(c.certificate),
        })),
    })))
}

/// `POST /v1/partnerships/{id}/query`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QueryRequest {
    module: String,
    msg: Value,
    #[serde(default, rename = "final")]
    final_state: bool,
}

async fn query(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let id = parse_partnership(&id)?;
    let request: QueryRequest = parse_body(&body)?;
    let info = state.node.partnership(id).await?;
    if !info.modules.iter().any(|(name, _)| *name == request.module) {
        let known = info.modules.iter().map(|(n, _)| n.clone()).collect();
        return Err(NodeError::UnknownModule { module: request.module, known }.into());
    }
    state.metrics.count_query();
    let data = state.node.query(id, &request.module, msg_bytes(&request.msg), request.final_state).await?;
    let data: Value = serde_json::from_slice(&data)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&data).into_owned()));
    Ok(Json(json!({"data": data, "final": request.final_state})))
}

/// Reads `final=true|false` from a query string.
fn final_flag(query: Option<&str>) -> Result<bool, ApiError> {
    let mut only_final = false;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, "true"));
        match (key, value) {
            ("final", "true" | "1") => only_final = true,
            ("final", "false" | "0") => only_final = false,
            ("final", other) => {
                return Err(ApiError::bad_request(
                    "bad_parameter",
                    format!("final={other}: use final=true or final=false"),
                ));
            }
            (other, _) => {
                return Err(ApiError::bad_request(
                    "bad_parameter",
                    format!("unknown parameter `{other}`; this route takes `final`"),
                ));
            }
        }
    }
    Ok(only_final)
}

fn sse_event(event: &NodeEvent) -> Event {
    let kind = match event.kind {
        OpEventKind::Applied => "applied",
        OpEventKind::Undone => "undone",
        OpEventKind::Final => "final",
    };
    Event::default().event(kind).id(event.op.to_hex()).data(event.to_json().to_string())
}

async fn events(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let id = parse_partnership(&id)?;
    let only_final = final_flag(raw.as_deref())?;
    // Subscribe before the check so nothing after the answer is missed.
    let receiver = state.node.subscribe();
    state.node.partnership(id).await?;
    let closing = state.closing.clone();
    let stream = futures::stream::unfold(
        (receiver, closing),
        move |(mut receiver, mut closing)| async move {
            loop {
                if *closing.borrow() {
                    return None;
                }
                let next = tokio::select! {
                    next = receiver.recv() => next,
                    _ = closing.changed() => return None,
                };
                match next {
                    Ok(event) => {
                        if event.partnership != id || (only_final && event.kind != OpEventKind::Final) {
                            continue;
                        }
                        return Some((Ok(sse_event(&event)), (receiver, closing)));
                    }
                    Err(broadcast::error::RecvError::Lagged(skipped)) => {
                        let note = Event::default()
                        .event("lagged")
                        .data(json!({"skipped": skipped, "hint": "the client read too slowly; re-read state with GET /v1/partnerships/{id}"}).to_string());
                        return Some((Ok(note), (receiver, closing)));
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
