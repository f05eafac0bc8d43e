//! `polypact partnership spawn`: a program proposes a project partnership.
//!
//! The project's charter is a template like any (`${name}` placeholders
//! filled with `--set`, module code from `wasm` paths). This command checks
//! it whole, publishes its module code in the parent (a spawned charter may
//! only name code published there), and opens the vote that spawns it
//! through the module the parent's charter grants `spawn_partnership` (its
//! governance). Once the vote executes and is final, the founder's node
//! signs the project's genesis with the parent's certificate; partners'
//! nodes join it on their own, an outsider's operator accepts its
//! invitation (`polypact invitations`).
//!
//! It owns this one command; reaching a node, calls and publishing are
//! `client.rs`, `commands.rs` and `publish.rs`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::charter::{Values, prepare};
use super::client::{Client, Target};
use super::commands::{Wait, call_on, print_json};
use super::publish::{Proposal, governance, publish_on};
use super::testnet_file::Testnet;
use polypact::op::{Charter, MemberId};

/// Publishes `wasm` (the child's module code) in partnership `id` and opens
/// the vote that spawns `charter` there, through the module its charter
/// grants `spawn_partnership` (or `proposal.via`). Returns that module and
/// the node's answer to the `propose` call.
pub async fn open_spawn_vote(
    client: &Client,
    id: &str,
    charter: Charter,
    wasm: BTreeMap<String, Vec<u8>>,
    proposal: Proposal,
    timeout: u64,
    progress: bool,
) -> Result<(String, Value)> {
    let partnership = client.get(&format!("/v1/partnerships/{id}")).await?;
    let via = governance(&partnership, "spawn_partnership", proposal.via.as_deref())?;
    for (module, wasm) in wasm {
        if progress {
            errln!("publishing the code of `{module}` in the parent…");
        }
        publish_on(client, id, wasm, Wait::Applied, timeout)
            .await
            .with_context(|| format!("publishing the code of module `{module}` in the parent"))?;
    }
    let members: Vec<String> = charter.participants.iter().map(ToString::to_string).collect();
    let title = proposal.title.unwrap_or_else(|| format!("Spawn `{}`", charter.name));
    let spawn = json!({"spawn_partnership": {"charter": charter, "values": {}, "participants": members}});
    let mut propose = json!({"title": title, "kind": proposal.kind, "messages": [{"system": spawn}]});
    if let Some(period_ms) = proposal.period_ms {
        propose["period_ms"] = json!(period_ms);
    }
    let answer = call_on(client, id, &via, json!({ "propose": propose }), Wait::Applied, timeout).await?;
    Ok((via, answer))
}

/// What `polypact partnership spawn` is asked to spawn.
pub struct SpawnRequest<'a> {
    /// The parent: id, prefix or alias.
    pub parent: &'a str,
    /// The child's charter template.
    pub charter: &'a Path,
    /// `--set` placeholder values.
    pub set: &'a [String],
    /// `--participant` overrides of the charter's participants.
    pub participants: &'a [String],
}

/// `polypact partnership spawn`.
pub async fn spawn(
    target: &Target,
    request: SpawnRequest<'_>,
    proposal: Proposal,
    timeout: u64,
    json: bool,
) -> Result<()> {
    let SpawnRequest { parent, charter: path, set, participants } = request;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the charter {}", path.display()))?;
    let testnet = target.testnet.as_deref().map(Testnet::load).transpose()?;
    let values = Values::parse(set, testnet.as_ref())?;
    let prepared = prepare(path, &text, &values)?;
    let mut charter = prepared.charter;
    if !participants.is_empty() {
        let mut members = Vec::new();
        for text in participants {
            members.push(text.parse::<MemberId>().with_context(|| format!("--participant {text}"))?);
        }
        members.sort();
        members.dedup();
        charter.participants = members;
    }
    if charter.participants.is_empty() {
        bail!("the project has no participants: list them in the charter or give --participant");
    }
    let client = Client::connect(target)?;
    let id = client.partnership_id(parent).await?;
    let title = proposal.title.clone().unwrap_or_else(|| format!("Spawn `{}`", charter.name));
    let (via, answer) =
        open_spawn_vote(&client, &id, charter, prepared.wasm, proposal, timeout, !json).await?;
    if json {
        print_json(&json!({"module": via, "proposal": answer}));
        return Ok(());
    }
    if let Some(error) = answer["outcome"]["error"].as_str() {
        bail!("the proposal was not opened: {error}");
    }
    let opened = answer["outcome"]["data"]["id"].clone();
    outln!("proposal  {opened} in `{via}`: {title}");
    outln!(
        "vote with  polypact call {id} {via} '{{\"vote\": {{\"proposal\": {opened}, \"choice\": \"yes\"}}}}'"
    );
    outln!("then       polypact call {id} {via} '{{\"execute\": {{\"proposal\": {opened}}}}}'");
    outln!(
        "once final, the founder's node creates it; outsiders accept it with `polypact invitations accept`"
    );
    Ok(())
}
