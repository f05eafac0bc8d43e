//! The client commands: `info`, `partnership create|show|list`, `call`,
//! `query`, `events`. Each talks to a node's API ([`Client`]); read
//! commands print a human view or, with `--json`, the API's JSON. Progress
//! goes to stderr so stdout stays parseable.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use futures::StreamExt;
use polypact::op::{Charter, CodeHash, CodeSource, fill_placeholders, placeholders};
use serde_json::{Value, json};

use super::Wait;
use super::client::{ApiFailure, Client, Target};
use super::testnet::Testnet;

fn print_json(value: &Value) {
    println!("{}", serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string()));
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
    println!("node     {}", client.base());
    println!("member   {}", info["member"].as_str().unwrap_or("?"));
    println!("version  {}", info["version"].as_str().unwrap_or("?"));
    println!("peer id  {}", info["peer_id"].as_str().unwrap_or("-"));
    for addr in info["p2p_listen"].as_array().into_iter().flatten() {
        println!("p2p      {}", addr.as_str().unwrap_or("?"));
    }
    println!("partnerships {}", info["partnerships"]);
    let peers = info["peers"].as_array().cloned().unwrap_or_default();
    println!("peers    {}", peers.len());
    for peer in peers {
        println!("  {}", peer["peer_id"].as_str().unwrap_or("?"));
    }
    Ok(())
}

/// Placeholder values and module code read from `wasm` files, by module.
type Prepared = (BTreeMap<String, String>, BTreeMap<String, Vec<u8>>);

/// Fills a charter template, checks it, reads its wasm files. Returns the
/// placeholder values and the code to upload, by module.
pub fn prepare_charter(
    path: &Path,
    text: &str,
    mut values: BTreeMap<String, String>,
    defaults: &BTreeMap<String, String>,
) -> Result<Prepared> {
    for name in placeholders(text) {
        if !values.contains_key(&name)
            && let Some(value) = defaults.get(&name)
        {
            values.insert(name, value.clone());
        }
    }
    let filled = fill_placeholders(text, &values)
        .map_err(|e| anyhow!("{}: {e}; give values with --set NAME=VALUE", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut wasm = BTreeMap::new();
    Charter::from_toml(&filled, &path.display().to_string(), base, |module, source| match source {
        CodeSource::Hash(hash) => Ok(hash),
        CodeSource::File(file) => {
            let bytes = std::fs::read(&file).map_err(|e| {
                format!("cannot read {} ({e}); build the module first (`polypact module build DIR` or ./scripts/build-modules.sh)", file.display())
            })?;
            let hash = CodeHash::of(&bytes);
            wasm.insert(module.to_owned(), bytes);
            Ok(hash)
        }
    })
    .map_err(|e| {
        let message = e.to_string();
        match where_in(&filled, &message) {
            Some(lines) => anyhow!("{}: {message} ({lines})", path.display()),
            None => anyhow!("{}: {message}", path.display()),
        }
    })?;
    Ok((values, wasm))
}

/// For charter rules checked after parsing (no line in the error): the
/// lines of the charter the error is about, as "line 4" or "lines 4, 9".
fn where_in(text: &str, message: &str) -> Option<String> {
    let lines: Vec<usize> =
        if let Some(name) = message.split('`').nth(1).filter(|_| message.contains("module")) {
            // `module name `x` …`: the lines naming that module.
            let wanted = format!("name = \"{name}\"");
            text.lines().enumerate().filter(|(_, l)| l.trim() == wanted).map(|(i, _)| i + 1).collect()
        } else if message.contains("participant") {
            text.lines()
                .enumerate()
                .filter(|(_, l)| l.trim_start().starts_with("participants"))
                .map(|(i, _)| i + 1)
                .collect()
        } else {
            Vec::new()
        };
    match lines.as_slice() {
        [] => None,
        [one] => Some(format!("line {one}")),
        many => {
            Some(format!("lines {}", many.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")))
        }
    }
}

/// Creates a partnership through `client`; returns the API's answer and
/// the module code read from the charter's `wasm` files (for joiners).
pub async fn create_on(
    client: &Client,
    path: &Path,
    text: &str,
    values: BTreeMap<String, String>,
    defaults: &BTreeMap<String, String>,
) -> Result<(Value, BTreeMap<String, Vec<u8>>)> {
    let (values, wasm) = prepare_charter(path, text, values, defaults)?;
    let code = upload(client, &wasm).await?;
    let created =
        client.post("/v1/partnerships", &json!({"charter": text, "values": values, "code": code})).await?;
    Ok((created, wasm))
}

/// Uploads module code; returns module name → code hash.
pub async fn upload(client: &Client, wasm: &BTreeMap<String, Vec<u8>>) -> Result<BTreeMap<String, String>> {
    let mut code = BTreeMap::new();
    for (module, bytes) in wasm {
        eprint!("uploading module `{module}` ({} KiB) to {}… ", bytes.len() / 1024, client.base());
        let answer = client
            .post_bytes("/v1/code", bytes.clone(), "application/wasm")
            .await
            .with_context(|| format!("uploading the code of module `{module}`"))?;
        eprintln!("done");
        code.insert(module.clone(), answer["hash"].as_str().unwrap_or_default().to_owned());
    }
    Ok(code)
}

/// Has the node behind `client` join a partnership from its genesis (hex),
/// uploading the module code first.
pub async fn join_on(client: &Client, genesis: &str, wasm: &BTreeMap<String, Vec<u8>>) -> Result<Value> {
    upload(client, wasm).await?;
    client.post("/v1/partnerships/join", &json!({"genesis": genesis})).await
}

/// `polypact partnership create`.
pub async fn create(target: &Target, path: &Path, set: &[String], json: bool) -> Result<()> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the charter {}", path.display()))?;
    let mut values = BTreeMap::new();
    for item in set {
        let Some((name, value)) = item.split_once('=') else {
            bail!("--set {item:?}: expected NAME=VALUE, e.g. --set studio=pm1…");
        };
        values.insert(name.trim().to_owned(), value.trim().to_owned());
    }
    let testnet = target.testnet.as_deref().map(Testnet::load).transpose()?;
    let defaults = testnet.as_ref().map(Testnet::member_ids).unwrap_or_default();
    let client = Client::connect(target)?;
    let (created, wasm) = create_on(&client, path, &text, values, &defaults).await?;
    let id = created["id"].as_str().unwrap_or("?").to_owned();
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
            join_on(&node.client()?, genesis, &wasm)
                .await
                .with_context(|| format!("{} joining {id}", node.name))?;
            eprintln!("{} joined", node.name);
        }
    }
    if json {
        print_json(&created);
    } else {
        println!("{id}");
        eprintln!("created partnership {:?}", created["name"].as_str().unwrap_or("?"));
        if testnet.is_none() && created["genesis"].is_string() {
            eprintln!(
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
    let joined = join_on(&client, genesis.trim(), &wasm).await?;
    if json {
        print_json(&joined);
    } else {
        println!("{}", joined["id"].as_str().unwrap_or("?"));
        eprintln!("joined partnership {:?}", joined["name"].as_str().unwrap_or("?"));
    }
    Ok(())
}

fn print_partnership(p: &Value) {
    println!("partnership {}", p["id"].as_str().unwrap_or("?"));
    println!("  name          {}", p["name"].as_str().unwrap_or("?"));
    println!("  height        final {}, optimistic {}", p["final_height"], p["optimistic_height"]);
    println!("  final root    {}", p["final_root"].as_str().unwrap_or("?"));
    println!("  optimistic    {}", p["optimistic_root"].as_str().unwrap_or("?"));
    println!("  ops           {} ({} waiting for parents)", p["op_count"], p["pending"]);
    for w in p["waiting_for"].as_array().into_iter().flatten() {
        let member = w["member"].as_str().unwrap_or("?");
        let silent = duration_text(w["silent_for_ms"].as_u64().unwrap_or(0));
        let next = match (w["suspension_in_ms"].as_u64(), w["why_not"].as_str()) {
            (Some(0), _) => "suspension vote due now".to_owned(),
            (Some(ms), _) => format!("suspension in {}", duration_text(ms)),
            (None, Some(why)) => format!("no suspension: {why}"),
            (None, None) => "no suspension".to_owned(),
        };
        println!("  finality waits for {member} (last heard {silent} ago; {next})");
    }
    println!("  participants");
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
        println!(
            "    {} {} (admitted at height {}{})",
            m["member"].as_str().unwrap_or("?"),
            status,
            m["admitted_at"],
            heard.unwrap_or_default()
        );
    }
    for m in p["former_participants"].as_array().into_iter().flatten() {
        println!("    {} removed at height {}", m["member"].as_str().unwrap_or("?"), m["removed_at"]);
    }
    println!("  modules");
    for m in p["modules"].as_array().into_iter().flatten() {
        println!("    {:<16} code {}", m["name"].as_str().unwrap_or("?"), m["code"].as_str().unwrap_or("?"));
    }
    if let Some(h) = p["halted"].as_str() {
        println!("  HALTED: {h}");
    }
    if !p["dissolved"].is_null() {
        println!("  dissolved: {}", p["dissolved"]);
    }
}

/// `1.2 s`, `3 min`, `2 h`: a duration for people.
fn duration_text(ms: u64) -> String {
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
        println!("{}", answer["genesis"].as_str().unwrap_or("?"));
        eprintln!("a partner's node joins with: polypact partnership join @FILE (this line saved to FILE)");
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

/// `polypact partnership list`.
pub async fn list(target: &Target, json: bool) -> Result<()> {
    let client = Client::connect(target)?;
    let list = client.get("/v1/partnerships").await?;
    if json {
        print_json(&list);
        return Ok(());
    }
    let items = list["partnerships"].as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        eprintln!("no partnerships yet; create one with `polypact partnership create CHARTER.toml`");
    }
    for p in items {
        println!(
            "{}  {:<32}  final {:>5}  optimistic {:>5}  {} participants",
            p["id"].as_str().unwrap_or("?"),
            p["name"].as_str().unwrap_or("?"),
            p["final_height"],
            p["optimistic_height"],
            p["participants"]
        );
    }
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
        eprintln!("waiting until the call is final (every partner has countersigned)…");
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
    println!("op       {}", answer["op"].as_str().unwrap_or("?"));
    let status =
        if answer["final"] == json!(true) { "final" } else { answer["status"].as_str().unwrap_or("?") };
    println!("status   {status}");
    let outcome = &answer["outcome"];
    if !outcome.is_null() {
        if !outcome["data"].is_null() {
            println!("data     {}", outcome["data"]);
        }
        for event in event_lines(outcome) {
            println!("event    {event}");
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
        println!("{}", serde_json::to_string_pretty(&answer["data"]).unwrap_or_default());
    }
    Ok(())
}

fn print_event(kind: &str, data: &Value) {
    if kind == "lagged" {
        println!(
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
    println!("{line}");
    for event in outcome["events"].as_array().into_iter().flatten() {
        println!(
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
    eprintln!("following {} events of {id} (Ctrl-C to stop)", if final_only { "final" } else { "all" });
    let mut stream = response.bytes_stream();
    let mut buffer = String::new();
    let mut seen = 0u64;
    if count == Some(0) {
        return Ok(());
    }
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
                    println!("{}", json!({"event": kind, "data": value}));
                } else {
                    print_event(&kind, &value);
                }
                let _ = std::io::stdout().flush();
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
