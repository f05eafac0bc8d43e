//! `testnet demo`: the scripted partnership story, told on a testnet of
//! its own.
//!
//! The demo checks a charter (default: the testnet joint venture, else the
//! guestbook one shipped with the runtime) and its story
//! (`<charter>.story.json`: calls, waits and late joins, each with a line
//! to say) before any node starts, then brings up one node per partner,
//! creates the partnership on the first, has the other founders join, runs
//! the story's steps, waits for finality and shows that every remaining
//! partner's node agrees on the final state; then it takes the testnet down
//! (unless `--keep`).
//!
//! This file owns the story: its file format ([`Step`]), its checks and the
//! walkthrough. It does not own starting or stopping nodes (`processes.rs`)
//! or the API steps it takes (`create_on`, `join_on`, `call_on` in
//! `commands.rs`); it is the only testnet file that uses the client
//! commands, and nothing uses it but the dispatcher.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use serde_json::Value;

use super::processes::{down, up};
use crate::cli::charter::{Values, prepare};
use crate::cli::client::Client;
use crate::cli::commands::{Wait, call_on, create_on, event_lines, join_by_id_on, join_on};
use crate::cli::testnet_file::Testnet;

/// The default demo charter: the testnet joint venture if the checkout has
/// it, else the guestbook joint venture shipped with the runtime.
fn default_charter() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let jv = root.join("../examples/charters/testnet-jv.toml");
    let path = if jv.exists() { jv } else { root.join("templates/charters/guestbook-jv.toml") };
    path.canonicalize().unwrap_or(path)
}

/// One step of a demo story (`<charter>.story.json` beside the charter).
#[derive(Debug, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
enum Step {
    /// A node calls a module.
    Call {
        /// What to print before the step.
        say: String,
        /// Which node calls.
        #[serde(rename = "as")]
        who: String,
        /// The module.
        module: String,
        /// The message.
        msg: Value,
        /// The call is expected to be refused or rejected (to show an error).
        #[serde(default)]
        expect_error: bool,
    },
    /// Time passes (a voting period, a grace period).
    Wait {
        /// What to print.
        say: String,
        /// How long.
        wait_ms: u64,
    },
    /// A node that was not a founding partner joins (after its admission).
    Join {
        /// What to print.
        say: String,
        /// The joining node.
        join: String,
    },
}

impl Step {
    fn say(&self) -> &str {
        match self {
            Step::Call { say, .. } | Step::Wait { say, .. } | Step::Join { say, .. } => say,
        }
    }

    /// The testnet node the step needs, if any.
    fn node(&self) -> Option<&str> {
        match self {
            Step::Call { who, .. } => Some(who),
            Step::Join { join, .. } => Some(join),
            Step::Wait { .. } => None,
        }
    }
}

/// The story file of a charter: beside it, else the one shipped for it.
fn story_file(charter: &Path) -> PathBuf {
    let beside = charter.with_extension("story.json");
    if beside.exists() {
        return beside;
    }
    let stem = charter.file_stem().unwrap_or_default();
    Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/charters").join(stem).with_extension("story.json")
}

/// Reads a story; `values` fills its `${name}` placeholders.
fn read_story(file: &Path, values: &BTreeMap<String, String>) -> Result<Vec<Step>> {
    match std::fs::read_to_string(file) {
        Ok(text) => {
            let text = polypact::op::fill_placeholders(&text, values)?;
            serde_json::from_str(&text).with_context(|| format!("{} is not a demo story", file.display()))
        }
        Err(_) => Ok(Vec::new()),
    }
}

async fn wait_until<F, Fut>(what: &str, limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    errout!("{what}… ");
    let begun = Instant::now();
    loop {
        if check().await {
            errln!("done in {} ms", begun.elapsed().as_millis());
            return true;
        }
        if begun.elapsed() > limit {
            errln!("not within {} s", limit.as_secs());
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `polypact testnet demo`.
pub async fn demo(keep: bool, dir: Option<PathBuf>, charter: Option<PathBuf>) -> Result<()> {
    let charter = charter.unwrap_or_else(default_charter);
    let text = std::fs::read_to_string(&charter)
        .with_context(|| format!("cannot read the charter {}", charter.display()))?;
    let founders = polypact::op::placeholders(&text);
    if founders.is_empty() {
        bail!("{} has no `${{name}}` placeholders to name the partners' nodes", charter.display());
    }
    // Nodes: the charter's partners, then any the story admits later.
    let story_path = story_file(&charter);
    let story_text = std::fs::read_to_string(&story_path).unwrap_or_default();
    let mut names = founders.clone();
    for name in polypact::op::placeholders(&story_text) {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    let stand_ins: BTreeMap<String, String> = names
        .iter()
        .zip(1u8..)
        .map(|(name, seed)| (name.clone(), polypact::op::MemberKey::from_seed(seed).member_id().to_string()))
        .collect();
    // Check the charter (and that its modules are built) and the story
    // before any node starts.
    let values = Values { set: BTreeMap::new(), testnet: Some(stand_ins.clone()) };
    prepare(&charter, &text, &values).context("the demo charter is not usable")?;
    for step in read_story(&story_path, &stand_ins)? {
        if let Some(node) = step.node()
            && !names.iter().any(|n| n == node)
        {
            bail!(
                "{}: step {:?} names `{node}`, which is no partner of the story",
                story_path.display(),
                step.say()
            );
        }
    }
    let temporary = dir.is_none();
    let dir =
        dir.unwrap_or_else(|| std::env::temp_dir().join(format!("polypact-demo-{}", std::process::id())));
    outln!("== a testnet of {} partners: {}", names.len(), names.join(", "));
    let testnet = up(&dir, Some(names.len()), names.clone()).await?;
    let result = story(&testnet, &charter, &text, &story_path).await;
    if keep {
        outln!(
            "the testnet keeps running in {}; stop it with `polypact testnet down --dir {}`",
            dir.display(),
            dir.display()
        );
    } else {
        down(&dir).await?;
        if temporary && std::fs::remove_dir_all(&dir).is_ok() {
            outln!("(the demo's temporary directory is removed; keep a testnet with --keep or --dir DIR)");
        }
    }
    result
}

/// Waits until `client`'s node has applied `op` (it holds everything the op
/// builds on), so the next step's author sees what came before.
async fn caught_up(client: &Client, id: &str, op: &str, who: &str) -> bool {
    let path = format!("/v1/partnerships/{id}/ops/{op}");
    wait_until(&format!("   {who}'s node receives the previous op"), Duration::from_secs(30), || async {
        client.get(&path).await.ok().is_some_and(|s| !s["outcome"].is_null())
    })
    .await
}

async fn story(testnet: &Testnet, charter: &Path, text: &str, story_path: &Path) -> Result<()> {
    let founders = polypact::op::placeholders(text);
    let first = testnet
        .nodes
        .iter()
        .find(|n| founders.contains(&n.name))
        .context("no testnet node is a partner of the charter")?;
    let members = testnet.member_ids();
    outln!("== {} creates the partnership from {}", first.name, charter.display());
    let values = Values { set: BTreeMap::new(), testnet: Some(members.clone()) };
    let prepared = prepare(charter, text, &values)?;
    let created = create_on(&Client::of_testnet_node(first)?, text, &prepared).await?;
    let wasm = prepared.wasm;
    let id = created["id"].as_str().context("the node did not return the partnership id")?.to_owned();
    let genesis = created["genesis"].as_str().context("the node did not return the genesis")?.to_owned();
    outln!("partnership {id} ({})", created["name"].as_str().unwrap_or("?"));
    let mut holders = vec![first.name.clone()];
    for node in testnet.nodes.iter().filter(|n| founders.contains(&n.name) && n.name != first.name) {
        outln!("== {} joins with the genesis {} hands over", node.name, first.name);
        join_on(&Client::of_testnet_node(node)?, &genesis, &wasm)
            .await
            .with_context(|| format!("{} joining", node.name))?;
        holders.push(node.name.clone());
    }
    let path = format!("/v1/partnerships/{id}");
    let steps = read_story(story_path, &members)?;
    let mut failed = Vec::new();
    let mut last_op: Option<String> = None;
    for step in steps {
        outln!("== {}", step.say());
        match step {
            Step::Wait { wait_ms, .. } => tokio::time::sleep(Duration::from_millis(wait_ms)).await,
            Step::Join { join, .. } => {
                // Admitted after the genesis: it joins by id, and a partner's
                // node that has seen the admission hands the genesis over.
                let client = Client::of_testnet_node(testnet.node(&join)?)?;
                join_by_id_on(&client, &id, &wasm).await.with_context(|| format!("{join} joining"))?;
                holders.push(join.clone());
                if let Some(op) = &last_op
                    && !caught_up(&client, &id, op, &join).await
                {
                    failed.push(format!("{join} did not catch up"));
                }
                let shown = client.get(&path).await?;
                outln!(
                    "   {join} holds {} ops, optimistic height {}",
                    shown["op_count"],
                    shown["optimistic_height"]
                );
            }
            Step::Call { who, module, msg, expect_error, say } => {
                if !holders.contains(&who) {
                    outln!("   (skipped: {who} does not hold the partnership)");
                    continue;
                }
                let client = Client::of_testnet_node(testnet.node(&who)?)?;
                if let Some(op) = &last_op {
                    caught_up(&client, &id, op, &who).await;
                }
                match call_on(&client, &id, &module, msg, Wait::Applied, 30).await {
                    Ok(answer) if expect_error => {
                        outln!("   ACCEPTED, but the story expected a refusal");
                        failed.push(say);
                        last_op = answer["op"].as_str().map(str::to_owned).or(last_op);
                    }
                    Ok(answer) => {
                        let outcome = &answer["outcome"];
                        if !outcome["data"].is_null() {
                            outln!("   result {}", outcome["data"]);
                        }
                        for event in event_lines(outcome) {
                            outln!("   event  {event}");
                        }
                        last_op = answer["op"].as_str().map(str::to_owned).or(last_op);
                    }
                    Err(e) if expect_error => outln!("   refused, as it should be: {e:#}"),
                    Err(e) => {
                        outln!("   FAILED: {e:#}");
                        failed.push(say);
                    }
                }
            }
        }
    }
    // Finality waits for the nodes of the partners still in the
    // partnership; a partner that left stops countersigning.
    let clients: Vec<(String, Client)> = holders
        .iter()
        .map(|name| Ok((name.clone(), Client::of_testnet_node(testnet.node(name)?)?)))
        .collect::<Result<_>>()?;
    let shown = clients[0].1.get(&path).await?;
    let active: Vec<String> = shown["participants"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["member"].as_str().or(p.as_str()))
        .filter_map(|m| members.iter().find(|(_, id)| id.as_str() == m).map(|(name, _)| name.clone()))
        .collect();
    // The story's last op final on each of those nodes: everything before
    // it is then final too. (Their last acks stay above the final height
    // until something builds on them: no one acks an ack.)
    if let Some(op) = &last_op {
        let op_path = format!("{path}/ops/{op}");
        let all_final = wait_until(
            "waiting for finality (every remaining partner countersigns)",
            Duration::from_secs(90),
            || async {
                let mut all = true;
                for (name, client) in &clients {
                    if active.contains(name) {
                        all &= client.get(&op_path).await.ok().is_some_and(|s| s["final"] == true);
                    }
                }
                all
            },
        )
        .await;
        if !all_final {
            failed.push("the story's last op is not final on every remaining partner's node".to_owned());
        }
    }
    outln!("== the state on each node");
    let mut roots = Vec::new();
    for (name, client) in &clients {
        let p = client.get(&path).await?;
        let role = if active.contains(name) { "" } else { "  (left the partnership)" };
        outln!(
            "   {:<10} final height {:>3}  optimistic {:>3}  final root {}{role}",
            name,
            p["final_height"],
            p["optimistic_height"],
            p["final_root"].as_str().unwrap_or("?")
        );
        if active.contains(name) {
            roots.push((p["final_height"].clone(), p["final_root"].clone()));
        }
    }
    if roots.windows(2).all(|w| w[0] == w[1]) {
        outln!("all {} partners' nodes agree on the final state", roots.len());
    } else {
        failed.push("the partners' nodes do not agree on the final state".into());
    }
    if !failed.is_empty() {
        bail!("{} story step(s) failed: {}", failed.len(), failed.join("; "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Every shipped story names its charter's partners and modules.
    #[test]
    fn shipped_stories_fit_their_charters() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let pairs = [
            (
                root.join("../examples/charters/testnet-jv.toml"),
                root.join("../examples/charters/testnet-jv.story.json"),
            ),
            (
                root.join("templates/charters/guestbook-jv.toml"),
                root.join("templates/charters/guestbook-jv.story.json"),
            ),
        ];
        for (charter, story_path) in pairs {
            let text = std::fs::read_to_string(&charter).unwrap();
            let story_text = std::fs::read_to_string(&story_path).unwrap();
            let mut names = polypact::op::placeholders(&text);
            names.extend(polypact::op::placeholders(&story_text));
            let values: BTreeMap<String, String> = names
                .iter()
                .map(|n| (n.clone(), polypact::op::MemberKey::from_seed(1).member_id().to_string()))
                .collect();
            let steps = read_story(&story_path, &values).unwrap();
            assert!(!steps.is_empty());
            for step in steps {
                if let Some(node) = step.node() {
                    assert!(
                        names.iter().any(|n| n == node),
                        "{}: `{node}` is no partner",
                        story_path.display()
                    );
                }
                if let Step::Call { module, .. } = &step {
                    assert!(
                        text.contains(&format!("name = \"{module}\"")),
                        "{}: module `{module}` is not in {}",
                        story_path.display(),
                        charter.display()
                    );
                }
            }
        }
    }
}
