//! `polypact module publish` and `polypact module propose`: put a module's
//! code in a partnership's log, and open the vote that installs it or
//! upgrades an instance to it, through the module the charter lets install
//! and upgrade (its governance).
//!
//! Every partner's node gets published code by the sync that brings the
//! ops, so nothing is uploaded node by node. This file owns those two
//! commands; it does not own reaching a node (`client.rs`) or calls in
//! general (`commands.rs`).

use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::client::{Client, Target};
use super::commands::{Wait, call_on, parse_json_arg, print_json};

/// What `propose` asks the partnership to do with the code.
pub enum Change {
    /// Install a new instance under this name, with this init config.
    Install { name: String, config: Value, permissions: Vec<String> },
    /// Upgrade this instance, running `migrate` with this message.
    Upgrade { name: String, migrate: Value },
}

fn read_wasm(file: &Path) -> Result<Vec<u8>> {
    let wasm = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    if !wasm.starts_with(b"\0asm") {
        bail!("{} is not a WASM module (build it with `polypact module build`)", file.display());
    }
    Ok(wasm)
}

/// Publishes `wasm` in partnership `id` and returns the answer (with the
/// code's hash), once applied.
pub(super) async fn publish_on(
    client: &Client,
    id: &str,
    wasm: Vec<u8>,
    wait: Wait,
    timeout: u64,
) -> Result<Value> {
    let path = format!(
        "/v1/partnerships/{id}/code?wait={}&timeout_ms={}",
        wait.as_str(),
        timeout.saturating_mul(1000)
    );
    client.post_bytes(&path, wasm, "application/wasm").await
}

/// `polypact module publish`.
pub async fn publish(
    target: &Target,
    id: &str,
    file: &Path,
    wait: Wait,
    timeout: u64,
    json: bool,
) -> Result<()> {
    let wasm = read_wasm(file)?;
    let client = Client::connect(target)?;
    let id = client.partnership_id(id).await?;
    let size = wasm.len();
    let answer = publish_on(&client, &id, wasm, wait, timeout).await?;
    if json {
        print_json(&answer);
        return Ok(());
    }
    let code = answer["code"].as_str().unwrap_or("?");
    match answer["status"].as_str() {
        Some("already_published") => outln!("{code} is already published in this partnership"),
        Some("accepted") => outln!("{code} ({size} bytes) is being published"),
        _ => outln!("{code} ({size} bytes) is published; install_module and upgrade_module may name it"),
    }
    Ok(())
}

/// The module that may send `permission` in the partnership, or the one named.
pub(super) fn governance(partnership: &Value, permission: &str, via: Option<&str>) -> Result<String> {
    let modules: Vec<&Value> = partnership["modules"].as_array().into_iter().flatten().collect();
    let holds = |m: &Value| m["permissions"].as_array().into_iter().flatten().any(|p| p == permission);
    if let Some(via) = via {
        let Some(module) = modules.iter().find(|m| m["name"] == via) else {
            bail!("this partnership has no module named `{via}`");
        };
        if !holds(module) {
            bail!("module `{via}` may not send `{permission}` (the charter does not grant it)");
        }
        return Ok(via.to_owned());
    }
    let holders: Vec<&str> = modules.iter().filter(|m| holds(m)).filter_map(|m| m["name"].as_str()).collect();
    match holders.as_slice() {
        [one] => Ok((*one).to_owned()),
        [] => bail!(
            "no module of this partnership may send `{permission}`: its charter grants it to none, so it cannot \
             change its modules"
        ),
        many => bail!("several modules may send `{permission}` ({}); choose one with --via", many.join(", ")),
    }
}

/// How the proposal is opened.
pub struct Proposal {
    /// Its title (default: says what it installs or upgrades).
    pub title: Option<String>,
    /// The decision-table rule it is proposed under.
    pub kind: String,
    /// How long the vote stays open (default: the voting module's longest).
    pub period_ms: Option<u64>,
    /// The module to propose through (default: the one the charter lets
    /// make the change).
    pub via: Option<String>,
}

/// `polypact module propose`.
pub async fn propose(
    target: &Target,
    id: &str,
    change: Change,
    file: &Path,
    proposal: Proposal,
    timeout: u64,
    json: bool,
) -> Result<()> {
    let wasm = read_wasm(file)?;
    let client = Client::connect(target)?;
    let id = client.partnership_id(id).await?;
    let partnership = client.get(&format!("/v1/partnerships/{id}")).await?;
    let installed =
        |name: &str| partnership["modules"].as_array().into_iter().flatten().any(|m| m["name"] == name);
    let (permission, name) = match &change {
        Change::Install { name, .. } => ("install_module", name.clone()),
        Change::Upgrade { name, .. } => ("upgrade_module", name.clone()),
    };
    match &change {
        Change::Install { name, .. } if installed(name) => {
            bail!("a module named `{name}` is already installed; upgrade it with --upgrade {name}")
        }
        Change::Upgrade { name, .. } if !installed(name) => {
            bail!("no module named `{name}` to upgrade; install it with --install {name}")
        }
        _ => {}
    }
    let via = governance(&partnership, permission, proposal.via.as_deref())?;
    if !json {
        errln!("publishing {} ({} bytes)…", file.display(), wasm.len());
    }
    let published = publish_on(&client, &id, wasm, Wait::Applied, timeout).await?;
    let code = published["code"].as_str().context("the node did not say the code's hash")?.to_owned();
    let message = match change {
        Change::Install { name, config, permissions } => json!({"install_module": {
            "name": name, "code": code, "config": config, "permissions": permissions,
        }}),
        Change::Upgrade { name, migrate } => json!({"upgrade_module": {
            "name": name, "code": code, "migrate_msg": migrate,
        }}),
    };
    let title = proposal
        .title
        .unwrap_or_else(|| format!("{} `{name}` with code {}", permission.replace('_', " "), &code[..8]));
    let mut propose = json!({"title": title, "kind": proposal.kind, "messages": [{"system": message}]});
    if let Some(period_ms) = proposal.period_ms {
        propose["period_ms"] = json!(period_ms);
    }
    let propose = json!({ "propose": propose });
    let answer = call_on(&client, &id, &via, propose.clone(), Wait::Applied, timeout).await?;
    if json {
        print_json(&json!({"code": code, "module": via, "proposal": answer}));
        return Ok(());
    }
    let outcome = &answer["outcome"];
    let opened = outcome["data"]["id"].clone();
    outln!("code      {code} (published)");
    outln!("proposal  {opened} in `{via}`: {}", propose["propose"]["title"].as_str().unwrap_or("?"));
    outln!(
        "vote with  polypact call {id} {via} '{{\"vote\": {{\"proposal\": {opened}, \"choice\": \"yes\"}}}}'"
    );
    outln!("then       polypact call {id} {via} '{{\"execute\": {{\"proposal\": {opened}}}}}'");
    Ok(())
}

/// Parses the `--config` of `propose` (JSON, `{}` if absent).
pub fn config_arg(text: Option<&str>) -> Result<Value> {
    text.map_or(Ok(json!({})), |text| parse_json_arg("config", text))
}
