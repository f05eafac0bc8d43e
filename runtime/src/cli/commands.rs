//! The client commands: `info`, `partnership
//! create|join|genesis|show|list|alias|unalias`, `call`, `query`, `events`.
//! Each talks to a node's API ([`Client`]); read commands print a human view
//! or, with `--json`, the API's JSON. Progress goes to stderr so stdout stays
//! parseable.
//!
//! This file owns what each of those commands does and prints, and the
//! steps they share with the testnet demo (`create_on`, `join_on`,
//! `join_by_id_on`, `call_on`). It does not own reaching a node (`client.rs`), checking a
//! charter (`charter.rs`), the aliases file (`aliases.rs`) or the testnet
//! record (`testnet_file.rs`), and it never starts a node.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use clap::ValueEnum;
use futures::StreamExt;
use serde_json::{Value, json};

use super::aliases;
use super::charter::{Prepared, Values, prepare};
use super::client::{ApiFailure, Client, Target};
use super::testnet_file::Testnet;

/// How long `call` waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Wait {
    /// Until the op is durable on the node.
    Accepted,
    /// Until it is applied to the optimistic state.
    Applied,
    /// Until it is final.
    Final,
}

impl Wait {
    pub fn as_str(self) -> &'static str {
        match self {
            Wait::Accepted => "accepted",
            Wait::Applied => "applied",
            Wait::Final => "final",
        }
    }
}

/// Prints a JSON value, pretty.
pub fn print_json(value: &Value) {
    outln!("{}", serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string()));
}

/// Parses a JSON argument; errors say where.
pub fn parse_json_arg(what: &str, text: &str) -> Result<Value> {
    serde_json::from_str(text)
        .map_err(|e| anyhow!("the {what} is not valid JSON: {e}; write it like '{{\"count\":{{}}}}'"))
}

/// `polypact info`.
pub async fn info(target: &Target, json: bool) -> Result<()> {
    let client = Client::connect(target)?;
    let info = client.get("/v1/node").await?;
    if json {
        print_json(&info);
        return Ok(());
    }
    outln!("node     {}", client.base());
    outln!("member   {}", info["member"].as_str().unwrap_or("?"));
    outln!("version  {}", info["version"].as_str().unwrap_or("?"));
    outln!("peer id  {}", info["peer_id"].as_str().unwrap_or("-"));
    for addr in info["p2p_listen"].as_array().into_iter().flatten() {
        outln!("p2p      {}", addr.as_str().unwrap_or("?"));
    }
    outln!("partnerships {}", info["partnerships"]);
    for unavailable in info["partnerships_unavailable"].as_array().into_iter().flatten() {
        outln!(
            "  unavailable {}: {}",
            unavailable["id"].as_str().unwrap_or("?"),
            unavailable["error"].as_str().unwrap_or("?")
        );
    }
    let peers = info["peers"].as_array().cloned().unwrap_or_default();
    outln!("peers    {}", peers.len());
    for peer in peers {
        let trusted = if peer["trusted"].as_bool() == Some(false) { " (stranger)" } else { "" };
        outln!("  {}{trusted}", peer["peer_id"].as_str().unwrap_or("?"));
        for addr in peer["listen_addresses"].as_array().into_iter().flatten() {
            outln!("    listens  {}", addr.as_str().unwrap_or("?"));
        }
        for addr in peer["addresses"].as_array().into_iter().flatten() {
            outln!("    via      {}", addr.as_str().unwrap_or("?"));
        }
    }
    Ok(())
}

/// Creates a partnership through `client` from a checked charter (its
/// template `text`); uploads the module code first. Returns the API's answer.
pub async fn create_on(client: &Client, text: &str, prepared: &Prepared) -> Result<Value> {
    let code = upload(client, &prepared.wasm).await?;
    client.post("/v1/partnerships", &json!({"charter": text, "values": prepared.values, "code": code})).await
}

/// Uploads module code; returns module name → code hash.
pub async fn upload(client: &Client, wasm: &BTreeMap<String, Vec<u8>>) -> Result<BTreeMap<String, String>> {
    let mut code = BTreeMap::new();
    for (module, bytes) in wasm {
        errout!("uploading module `{module}` ({} KiB) to {}… ", bytes.len() / 1024, client.base());
        let answer = client
            .post_bytes("/v1/code", bytes.clone(), "application/wasm")
            .await
            .with_context(|| format!("uploading the code of module `{module}`"))?;
        errln!("done");
        code.insert(module.clone(), answer["hash"].as_str().unwrap_or_default().to_owned());
    }
    Ok(code)
}

/// Has the node behind `client` join a partnership from its genesis (hex),
/// uploading the module code first: for a founding partner.
pub async fn join_on(client: &Client, genesis: &str, wasm: &BTreeMap<String, Vec<u8>>) -> Result<Value> {
    upload(client, wasm).await?;
    client.post("/v1/partnerships/join", &json!({"genesis": genesis})).await
}

/// Has the node behind `client` join a partnership by its id, uploading any
/// module code given first (a partner's node hands over the genesis and the
/// code it lacks): for a member admitted after the genesis.
pub async fn join_by_id_on(client: &Client, id: &str, wasm: &BTreeMap<String, Vec<u8>>) -> Result<Value> {
    upload(client, wasm).await?;
    client.post("/v1/partnerships/join", &json!({"id": id})).await
}

/// Whether `text` is a whole partnership id (64 hex digits) rather than a genesis.
fn is_partnership_id(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The options of `partnership create`.
#[derive(Clone, Debug, Default)]
pub struct CreateOptions {
    /// Create even if the node has a partnership of the charter's name.
    pub allow_duplicate_name: bool,
    /// A local alias for the new partnership.
    pub alias: Option<String>,
    /// Print JSON.
    pub json: bool,
}

/// `polypact partnership create`: the charter is checked whole, then the
/// node's partnerships for its name, before anything is uploaded or created.
pub async fn create(target: &Target, path: &Path, set: &[String], options: &CreateOptions) -> Result<()> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the charter {}", path.display()))?;
    let testnet = target.testnet.as_deref().map(Testnet::load).transpose()?;
    let values = Values::parse(set, testnet.as_ref())?;
    let prepared = prepare(path, &text, &values)?;
    let client = Client::connect(target)?;
    let alias_file = match &options.alias {
        Some(alias) => {
            let file = client.aliases_file().map(Path::to_path_buf).context(
                "--alias: aliases are kept in a node's home or a testnet's directory, and --node URL names neither; add --home DIR",
            )?;
            aliases::check_free(&file, alias, None)?;
            Some(file)
        }
        None => None,
    };
    if !options.allow_duplicate_name {
        let list = client.get("/v1/partnerships").await?;
        let same: Vec<&str> = list["partnerships"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["name"].as_str() == Some(prepared.charter.name.as_str()))
            .filter_map(|p| p["id"].as_str())
            .collect();
        if !same.is_empty() {
            bail!(
                "this node already has a partnership named {:?} ({}); nothing was created. To create another, give the charter another name, or pass --allow-duplicate-name",
                prepared.charter.name,
                same.join(", ")
            );
        }
    }
    let created = create_on(&client, &text, &prepared).await?;
    let json = options.json;
    let id = created["id"].as_str().unwrap_or("?").to_owned();
    if let (Some(alias), Some(file)) = (&options.alias, &alias_file) {
        aliases::set(file, alias, &id)?;
    }
    // On a testnet, the other nodes that are participants join at once.
    if let (Some(testnet), Some(genesis)) = (&testnet, created["genesis"].as_str()) {
        let participants: Vec<&str> = created["participants"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["member"].as_str())
            .collect();
        for node in &testnet.nodes {
            if node.api == client.base() || !participants.contains(&node.member.as_str()) {
                continue;
            }
            join_on(&Client::of_testnet_node(node)?, genesis, &prepared.wasm)
                .await
                .with_context(|| format!("{} joining {id}", node.name))?;
            errln!("{} joined", node.name);
        }
    }
    if json {
        print_json(&created);
    } else {
        outln!("{id}");
        errln!("created partnership {:?}", created["name"].as_str().unwrap_or("?"));
        if let Some(alias) = &options.alias {
            errln!("its alias is `{alias}`");
        }
        if testnet.is_none() && created["genesis"].is_string() {
            errln!(
                "partners join it with `polypact partnership join GENESIS` (the genesis is in `--json` output)"
            );
        }
    }
    Ok(())
}

/// `polypact partnership join`.
pub async fn join(
    target: &Target,
    genesis: &str,
    wasm_files: &[std::path::PathBuf],
    json: bool,
) -> Result<()> {
    let genesis = match genesis.strip_prefix('@') {
        Some(file) => {
            std::fs::read_to_string(file).with_context(|| format!("cannot read the genesis file {file}"))?
        }
        None => genesis.to_owned(),
    };
    let mut wasm = BTreeMap::new();
    for file in wasm_files {
        let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
        wasm.insert(file.display().to_string(), bytes);
    }
    let client = Client::connect(target)?;
    let given = genesis.trim();
    let joined = if is_partnership_id(given) {
        join_by_id_on(&client, &given.to_ascii_lowercase(), &wasm).await?
    } else {
        join_on(&client, given, &wasm).await?
    };
    if json {
        print_json(&joined);
    } else {
        outln!("{}", joined["id"].as_str().unwrap_or("?"));
        errln!("joined partnership {:?}", joined["name"].as_str().unwrap_or("?"));
    }
    Ok(())
}

fn print_partnership(p: &Value) {
    outln!("partnership {}", p["id"].as_str().unwrap_or("?"));
    outln!("  name          {}", p["name"].as_str().unwrap_or("?"));
    outln!("  height        final {}, optimistic {}", p["final_height"], p["optimistic_height"]);
    outln!("  final root    {}", p["final_root"].as_str().unwrap_or("?"));
    outln!("  optimistic    {}", p["optimistic_root"].as_str().unwrap_or("?"));
    outln!("  ops           {} ({} waiting for parents)", p["op_count"], p["pending"]);
    for w in p["waiting_for"].as_array().into_iter().flatten() {
        let member = w["member"].as_str().unwrap_or("?");
        let silent = duration_text(w["silent_for_ms"].as_u64().unwrap_or(0));
        let next = match (w["suspension_in_ms"].as_u64(), w["why_not"].as_str()) {
            (Some(0), _) => "suspension vote due now".to_owned(),
            (Some(ms), _) => format!("suspension in {}", duration_text(ms)),
            (None, Some(why)) => format!("no suspension: {why}"),
            (None, None) => "no suspension".to_owned(),
        };
        outln!("  finality waits for {member} (last heard {silent} ago; {next})");
    }
    outln!("  participants");
    for m in p["participants"].as_array().into_iter().flatten() {
        let heard =
            m["last_heard_ms_ago"].as_u64().map(|ms| format!(", last heard {} ago", duration_text(ms)));
        let status = match m["status"].as_str() {
            Some("suspended") => format!(
                "SUSPENDED at height {} (its ops after seq {} have no effect)",
                m["suspended_at"], m["cut_seq"]
            ),
            _ => "active".to_owned(),
        };
        outln!(
            "    {} {} (admitted at height {}{})",
            m["member"].as_str().unwrap_or("?"),
            status,
            m["admitted_at"],
            heard.unwrap_or_default()
        );
    }
    for m in p["former_participants"].as_array().into_iter().flatten() {
        outln!("    {} removed at height {}", m["member"].as_str().unwrap_or("?"), m["removed_at"]);
    }
    outln!("  modules");
    for m in p["modules"].as_array().into_iter().flatten() {
        outln!("    {:<16} code {}", m["name"].as_str().unwrap_or("?"), m["code"].as_str().unwrap_or("?"));
    }
    if let Some(h) = p["halted"].as_str() {
        outln!("  HALTED: {h}");
    }
    if !p["dissolved"].is_null() {
        outln!("  dissolved: {}", p["dissolved"]);
    }
}

/// `1.2 s`, `3 min`, `2 h`: a duration for people.
pub fn duration_text(ms: u64) -> String {
    match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        60_000..3_600_000 => format!("{} min", ms / 60_000),
        _ => format!("{:.1} h", ms as f64 / 3_600_000.0),
    }
}

/// `polypact partnership genesis`.
pub async fn genesis(target: &Target, id: &str, json: bool) -> Result<()> {
    let client = Client::connect(target)?;
    let id = client.partnership_id(id).await?;
    let answer = client.get(&format!("/v1/partnerships/{id}/genesis")).await?;
    if json {
        print_json(&answer);
    } else {
        outln!("{}", answer["genesis"].as_str().unwrap_or("?"));
        errln!(
            "a founding partner's node joins with: polypact partnership join @FILE (this line saved to FILE); one admitted later joins by id"
        );
    }
    Ok(())
}

/// `polypact partnership show`.
pub async fn show(target: &Target, id: &str, json: bool) -> Result<()> {
    let client = Client::connect(target)?;
    let id = client.partnership_id(id).await?;
    let p = client.get(&format!("/v1/partnerships/{id}")).await?;
    if json {
        print_json(&p)
    } else {
        print_partnership(&p)
    }
    Ok(())
}

/// `polypact partnership checkpoints`.
pub async fn checkpoints(target: &Target, id: &str, json: bool) -> Result<()> {
    let client = Client::connect(target)?;
    let id = client.partnership_id(id).await?;
    let view = client.get(&format!("/v1/partnerships/{id}/checkpoints")).await?;
    if json {
        print_json(&view);
        return Ok(());
    }
    match view["checkpoint_every"].as_u64() {
        Some(0) | None => {
            outln!("this partnership takes no checkpoints (its charter's checkpoint_every is 0)")
        }
        Some(every) => outln!("a checkpoint every {every} heights"),
    }
    let checkpoints = view["checkpoints"].as_array().cloned().unwrap_or_default();
    if checkpoints.is_empty() {
        outln!("none taken yet");
    }
    for c in &checkpoints {
        let count = |field: &str| c[field].as_array().map_or(0, Vec::len);
        let root = c["state_root"].as_str().unwrap_or("?");
        outln!(
            "height {:>9}  state root {}…  attested by {} of {}  {}",
            c["height"],
            &root[..root.len().min(16)],
            count("attested"),
            count("attesters"),
            if c["certificate"].is_string() { "certified" } else { "waiting for attestations" }
        );
    }
    match (&view["compacted"], view["compact_history"].as_bool()) {
        (serde_json::Value::Object(c), _) => outln!(
            "this node compacted its history up to height {} behind the certified checkpoint at {}",
            c["done_upto"],
            c["checkpoint"]
        ),
        (_, Some(true)) => {
            outln!("this node compacts history behind certified checkpoints; nothing compacted yet")
        }
        _ => outln!("this node keeps every op (set [node] compact_history = true to compact)"),
    }
    Ok(())
}

/// `polypact partnership list`.
pub async fn list(target: &Target, json: bool) -> Result<()> {
    let client = Client::connect(target)?;
    let list = client.get("/v1/partnerships").await?;
    if json {
        print_json(&list);
        return Ok(());
    }
    let items = list["partnerships"].as_array().cloned().unwrap_or_default();
    let names = match client.aliases_file() {
        Some(file) => aliases::load(file)?,
        None => Default::default(),
    };
    if items.is_empty() {
        errln!("no partnerships yet; create one with `polypact partnership create CHARTER.toml`");
    }
    for p in items {
        let id = p["id"].as_str().unwrap_or("?");
        let alias: Vec<&str> =
            names.iter().filter(|(_, target)| target.as_str() == id).map(|(name, _)| name.as_str()).collect();
        outln!(
            "{id}  {:<32}  final {:>5}  optimistic {:>5}  {} participants{}",
            p["name"].as_str().unwrap_or("?"),
            p["final_height"],
            p["optimistic_height"],
            p["participants"],
            if alias.is_empty() { String::new() } else { format!("  alias {}", alias.join(", ")) }
        );
    }
    Ok(())
}

fn no_file() -> anyhow::Error {
    anyhow::anyhow!(
        "aliases are kept in a node's home or a testnet's directory, and --node URL names neither; add --home DIR"
    )
}

/// `polypact partnership alias`.
pub async fn alias(target: &Target, id: &str, name: &str) -> Result<()> {
    let path = target.aliases_file().ok_or_else(no_file)?;
    aliases::check_name(name)?;
    let client = Client::connect(target)?;
    let id = client.partnership_id(id).await?;
    // The node holds it (an id given whole is not looked up otherwise).
    client.get(&format!("/v1/partnerships/{id}")).await?;
    aliases::set(&path, name, &id)?;
    outln!("{name} = {id}");
    errln!("`{name}` now stands for the partnership in every command (kept in {})", path.display());
    Ok(())
}

/// `polypact partnership unalias`.
pub fn unalias(target: &Target, name: &str) -> Result<()> {
    let path = target.aliases_file().ok_or_else(no_file)?;
    let mut names = aliases::load(&path)?;
    if names.remove(name).is_none() {
        let known = if names.is_empty() {
            "there are none".to_owned()
        } else {
            format!("the aliases are: {}", names.keys().cloned().collect::<Vec<_>>().join(", "))
        };
        bail!("no alias `{name}` in {}; {known}", path.display());
    }
    aliases::save(&path, &names)?;
    errln!("alias `{name}` removed");
    Ok(())
}

/// Submits a call; returns the API's answer or the failure.
pub async fn call_on(
    client: &Client,
    id: &str,
    module: &str,
    msg: Value,
    wait: Wait,
    timeout: u64,
) -> Result<Value> {
    let body = json!({"module": module, "msg": msg, "wait": wait.as_str(), "timeout_ms": timeout.saturating_mul(1000)});
    client.post(&format!("/v1/partnerships/{id}/calls"), &body).await
}

/// `polypact call`.
pub async fn call(
    target: &Target,
    id: &str,
    module: &str,
    msg: &str,
    wait: Wait,
    timeout: u64,
    json: bool,
) -> Result<()> {
    let msg = parse_json_arg("message", msg)?;
    let client = Client::connect(target)?;
    let id = client.partnership_id(id).await?;
    if wait == Wait::Final && !json {
        errln!("waiting until the call is final (every partner has countersigned)…");
    }
    let answer = match call_on(&client, &id, module, msg, wait, timeout).await {
        Ok(answer) => answer,
        Err(e) => {
            if let Some(failure) = e.downcast_ref::<ApiFailure>()
                && failure.code == "call_failed"
            {
                if json {
                    print_json(&failure.body);
                }
                bail!("{} (op {})", failure.message, failure.body["op"].as_str().unwrap_or("?"));
            }
            return Err(e);
        }
    };
    if json {
        print_json(&answer);
        return Ok(());
    }
    outln!("op       {}", answer["op"].as_str().unwrap_or("?"));
    let status =
        if answer["final"] == json!(true) { "final" } else { answer["status"].as_str().unwrap_or("?") };
    outln!("status   {status}");
    let outcome = &answer["outcome"];
    if !outcome.is_null() {
        if !outcome["data"].is_null() {
            outln!("data     {}", outcome["data"]);
        }
        for event in event_lines(outcome) {
            outln!("event    {event}");
        }
    }
    Ok(())
}

/// `polypact query`.
pub async fn query(
    target: &Target,
    id: &str,
    module: &str,
    msg: &str,
    final_state: bool,
    json: bool,
) -> Result<()> {
    let msg = parse_json_arg("query", msg)?;
    let client = Client::connect(target)?;
    let id = client.partnership_id(id).await?;
    let answer = client
        .post(
            &format!("/v1/partnerships/{id}/query"),
            &json!({"module": module, "msg": msg, "final": final_state}),
        )
        .await?;
    if json {
        print_json(&answer["data"]);
    } else {
        outln!("{}", serde_json::to_string_pretty(&answer["data"]).unwrap_or_default());
    }
    Ok(())
}

fn print_event(kind: &str, data: &Value) {
    if kind == "lagged" {
        outln!(
            "(skipped {} events: this client read too slowly; `partnership show` has the current state)",
            data["skipped"]
        );
        return;
    }
    let outcome = &data["outcome"];
    let mut line = format!(
        "{kind:<8} height {:<4} op {}  {}",
        data["height"],
        data["op"].as_str().map_or("?", |s| &s[..s.len().min(8)]),
        data["author"].as_str().map_or("-".to_owned(), |a| a.chars().take(14).collect::<String>() + "…"),
    );
    if let Some(module) = data["module"].as_str() {
        line.push_str(&format!("  {module}"));
    }
    match outcome["status"].as_str() {
        Some("failed") => line.push_str(&format!("  FAILED: {}", outcome["error"].as_str().unwrap_or("?"))),
        Some("skipped") => {
            line.push_str(&format!("  skipped: {}", outcome["reason"].as_str().unwrap_or("?")))
        }
        Some(status) => line.push_str(&format!("  {status}")),
        None => {}
    }
    outln!("{line}");
    for event in outcome["events"].as_array().into_iter().flatten() {
        outln!(
            "           event {}.{} {}",
            event["module"].as_str().unwrap_or("?"),
            event["kind"].as_str().unwrap_or("?"),
            event["attributes"]
        );
    }
}

/// `polypact events`.
pub async fn events(
    target: &Target,
    id: &str,
    final_only: bool,
    count: Option<u64>,
    json: bool,
) -> Result<()> {
    let client = Client::connect(target)?;
    let id = client.partnership_id(id).await?;
    let path = format!("/v1/partnerships/{id}/events{}", if final_only { "?final=true" } else { "" });
    let response = client.stream(&path).await?;
    // On stderr even with --json: scripts can wait for it to know the stream is open.
    errln!("following {} events of {id} (Ctrl-C to stop)", if final_only { "final" } else { "all" });
    let mut stream = response.bytes_stream();
    let mut buffer = String::new();
    let mut seen = 0u64;
    let (mut kind, mut data) = (String::new(), String::new());
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| anyhow!("the event stream broke: {e}"))?;
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find('\n') {
            let line = buffer[..end].trim_end_matches('\r').to_owned();
            buffer.drain(..=end);
            if let Some(value) = line.strip_prefix("event:") {
                kind = value.trim().to_owned();
            } else if let Some(value) = line.strip_prefix("data:") {
                data.push_str(value.trim_start());
            } else if line.is_empty() && !data.is_empty() {
                let value: Value = serde_json::from_str(&data).unwrap_or(Value::String(data.clone()));
                if json {
                    outln!("{}", json!({"event": kind, "data": value}));
                } else {
                    print_event(&kind, &value);
                }
                super::output::flush();
                data.clear();
                seen += 1;
                if count.is_some_and(|n| seen >= n) {
                    return Ok(());
                }
            }
        }
    }
    bail!("the node closed the event stream (it is shutting down)")
}

/// A call outcome's events as `module.kind {attributes}` lines.
pub fn event_lines(outcome: &Value) -> Vec<String> {
    outcome["events"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|event| {
            format!(
                "{}.{} {}",
                event["module"].as_str().unwrap_or("?"),
                event["kind"].as_str().unwrap_or("?"),
                event["attributes"]
            )
        })
        .collect()
}
