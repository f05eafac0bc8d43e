//! Creating a partnership from a charter file and joining one from a
//! genesis (`/console/new`, `/console/join`).
//!
//! The charter form takes the charter's TOML file, the module code files it
//! names (matched by file name: `wasm = "../membership.wasm"` takes the
//! chosen `membership.wasm`) and a value for each `${name}` placeholder;
//! choosing the charter file asks the server (`/console/new/inspect`) for
//! its placeholders, the code files it needs and any problem, before
//! anything is sent. Creation and joining then go through the JSON API's
//! own handlers (`POST /v1/partnerships`, `POST /v1/partnerships/join`),
//! so they check, refuse and keep the genesis exactly as the API does.

use std::collections::BTreeMap;
use std::path::Path as FsPath;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Multipart, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::json;

use super::super::Console;
use super::super::auth::Session;
use super::super::error::ConsoleError;
use super::super::render::{Chrome, Done, page, respond};
use crate::op::{Charter, CodeHash, CodeSource, fill_placeholders, placeholders};

/// The create and join page.
#[derive(Template)]
#[template(path = "setup.html")]
pub(crate) struct SetupPage {
    chrome: Chrome,
}

/// What the server read from a chosen charter file.
#[derive(Template)]
#[template(path = "setup_inspect.html")]
pub(crate) struct Inspected {
    name: Option<String>,
    placeholders: Vec<String>,
    files: Vec<(String, String)>,
    problems: Vec<String>,
    member: String,
}

/// `GET /console/new`.
pub(crate) async fn page_view(State(console): State<Console>, session: Session) -> Response {
    let chrome = Chrome::node("New partnership", &session, console.api.node.member().to_string());
    page(Ok(SetupPage { chrome }))
}

/// A posted multipart form: text fields and files (by file name).
#[derive(Default)]
struct Posted {
    fields: BTreeMap<String, String>,
    charter: Option<(String, Vec<u8>)>,
    genesis_file: Option<Vec<u8>>,
    wasm: BTreeMap<String, Vec<u8>>,
}

async fn read_multipart(mut multipart: Multipart) -> Result<Posted, ConsoleError> {
    let mut posted = Posted::default();
    let bad = |e: axum::extract::multipart::MultipartError| {
        ConsoleError::BadInput(format!("the form did not arrive whole: {}", e.body_text()))
    };
    while let Some(field) = multipart.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or_default().to_owned();
        let file_name = field.file_name().map(str::to_owned);
        let bytes: Bytes = field.bytes().await.map_err(bad)?;
        match (name.as_str(), file_name) {
            // A file input left empty still sends a part with an empty name.
            (_, Some(file)) if file.is_empty() && bytes.is_empty() => {}
            ("charter", Some(file)) => posted.charter = Some((file, bytes.to_vec())),
            ("genesis_file", Some(_)) => posted.genesis_file = Some(bytes.to_vec()),
            ("wasm", Some(file)) => {
                posted.wasm.insert(file, bytes.to_vec());
            }
            (_, Some(file)) => {
                return Err(ConsoleError::BadInput(format!("unexpected file {file:?} in field {name:?}")));
            }
            (_, None) => {
                let text = String::from_utf8(bytes.to_vec())
                    .map_err(|_| ConsoleError::BadInput(format!("the field {name:?} is not text")))?;
                posted.fields.insert(name, text);
            }
        }
    }
    Ok(posted)
}

/// The charter's text, or why not.
fn charter_text(posted: &Posted) -> Result<String, ConsoleError> {
    let Some((file, bytes)) = &posted.charter else {
        return Err(ConsoleError::BadInput("choose the charter file (.toml)".into()));
    };
    String::from_utf8(bytes.clone()).map_err(|_| {
        ConsoleError::BadInput(format!("{file} is not a text file; choose the charter's .toml file"))
    })
}

/// The file name a charter's `wasm = "…"` path ends in.
fn file_name(path: &FsPath) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// `POST /console/new/inspect`: the placeholders, code files and problems
/// of a chosen charter file (a fragment of the create form).
pub(crate) async fn inspect(
    State(console): State<Console>,
    session: Session,
    headers: HeaderMap,
    multipart: Multipart,
) -> Response {
    let result = async {
        let posted = read_multipart(multipart).await?;
        session.check(&headers, posted.fields.get("csrf").map(String::as_str))?;
        let text = charter_text(&posted)?;
        let names = placeholders(&text);
        // Fill each placeholder with a stand-in member id of its own, to
        // check the rest.
        let values: BTreeMap<String, String> = names
            .iter()
            .zip(1u8..)
            .map(|(n, seed)| (n.clone(), crate::op::MemberKey::from_seed(seed).member_id().to_string()))
            .collect();
        let mut files = Vec::new();
        let mut problems = Vec::new();
        let mut name = None;
        match fill_placeholders(&text, &values) {
            Err(e) => problems.push(e.to_string()),
            Ok(filled) => {
                let checked = Charter::check_toml(&filled, "charter", FsPath::new("."), |module, source| {
                    Ok(match source {
                        CodeSource::Hash(hash) => hash,
                        CodeSource::File(path) => {
                            files.push((module.to_owned(), file_name(&path)));
                            CodeHash::of(module.as_bytes())
                        }
                    })
                });
                match checked {
                    Ok(charter) => name = Some(charter.name),
                    // Two partners with one stand-in id is no problem of the file.
                    Err(list) => problems.extend(list.iter().map(ToString::to_string)),
                }
            }
        }
        let member = console.api.node.member().to_string();
        Ok(Inspected { name, placeholders: names, files, problems, member })
    }
    .await;
    page(result)
}

/// `POST /console/new`: creates the partnership.
pub(crate) async fn create(
    State(console): State<Console>,
    session: Session,
    headers: HeaderMap,
    multipart: Multipart,
) -> Response {
    let result = async {
        let posted = read_multipart(multipart).await?;
        session.check(&headers, posted.fields.get("csrf").map(String::as_str))?;
        let text = charter_text(&posted)?;
        let mut values = BTreeMap::new();
        for name in placeholders(&text) {
            let value = posted.fields.get(&format!("value.{name}")).map(|v| v.trim()).unwrap_or_default();
            if value.is_empty() {
                return Err(ConsoleError::BadInput(format!("give a value for ${{{name}}}")));
            }
            values.insert(name, value.to_owned());
        }
        let filled = fill_placeholders(&text, &values).map_err(|e| ConsoleError::BadInput(e.to_string()))?;
        // The code of each module that names a file, from the chosen files.
        let mut wasm = BTreeMap::new();
        let mut missing = Vec::new();
        let mut unused: BTreeMap<&String, ()> = posted.wasm.keys().map(|k| (k, ())).collect();
        Charter::check_toml(&filled, "charter", FsPath::new("."), |module, source| {
            Ok(match source {
                CodeSource::Hash(hash) => hash,
                CodeSource::File(path) => {
                    let wanted = file_name(&path);
                    match posted.wasm.get_key_value(&wanted) {
                        Some((key, bytes)) => {
                            unused.remove(key);
                            wasm.insert(module.to_owned(), hex::encode(bytes));
                        }
                        None => missing.push(format!("{wanted} (module {module})")),
                    }
                    CodeHash::of(module.as_bytes())
                }
            })
        })
        .map_err(|problems| {
            ConsoleError::BadInput(problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))
        })?;
        if !missing.is_empty() {
            return Err(ConsoleError::BadInput(format!(
                "add the module code files the charter names: {}",
                missing.join(", ")
            )));
        }
        if let Some((name, _)) = unused.first_key_value() {
            return Err(ConsoleError::BadInput(format!("the charter names no code file {name}; remove it")));
        }
        let body = json!({"charter": text, "values": values, "wasm": wasm});
        let (_, created) =
            crate::api::routes::create_partnership(State(console.api.clone()), Bytes::from(body.to_string()))
                .await?;
        let id = created.0["id"].as_str().unwrap_or_default().to_owned();
        Ok(Done::go(format!("The partnership is created ({id})."), format!("/console/p/{id}")))
    }
    .await;
    respond(&headers, "/console/new", result)
}

/// `POST /console/join`: joins a partnership from its genesis, uploading
/// the chosen module code first.
pub(crate) async fn join(
    State(console): State<Console>,
    session: Session,
    headers: HeaderMap,
    multipart: Multipart,
) -> Response {
    let result = async {
        let posted = read_multipart(multipart).await?;
        session.check(&headers, posted.fields.get("csrf").map(String::as_str))?;
        let genesis = match &posted.genesis_file {
            Some(bytes) => String::from_utf8(bytes.clone())
                .map_err(|_| ConsoleError::BadInput("the genesis file is not text (hex)".into()))?,
            None => posted.fields.get("genesis").cloned().unwrap_or_default(),
        };
        let genesis = genesis.trim();
        if genesis.is_empty() {
            return Err(ConsoleError::BadInput(
                "paste the genesis (hex) the creating partner's console shows, or choose its file".into(),
            ));
        }
        for bytes in posted.wasm.into_values() {
            console.api.node.add_code(bytes).await?;
        }
        let body = json!({"genesis": genesis});
        let (_, joined) =
            crate::api::routes::join_partnership(State(console.api.clone()), Bytes::from(body.to_string()))
                .await?;
        let id = joined.0["id"].as_str().unwrap_or_default().to_owned();
        Ok(Done::go(format!("This node joined the partnership ({id})."), format!("/console/p/{id}")))
    }
    .await;
    respond(&headers, "/console/new", result)
}
