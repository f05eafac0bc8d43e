//! `testnet demo --program`: a polypartnership told on a testnet of its
//! own. Four partners run an ecosystem program (`program.toml`); they vote
//! to spawn a project (`project.toml`) of two of them and an outsider; the
//! founder's node creates it with the program's certificate, the other
//! partner's node checks it and joins, the outsider accepts the invitation
//! and never holds the program; revenue in the project pays the program fee
//! into the program's treasury, once; and the studio's portfolio shows it
//! in both.
//!
//! The charters are the shipped ones, with the voting periods shortened to
//! seconds (the only change, made to the text before it is parsed, and
//! said so on screen). This file owns the story; starting and stopping
//! nodes is `processes.rs`, the API steps are `commands.rs` and `spawn.rs`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::processes::{down, up};
use crate::cli::charter::{Values, prepare};
use crate::cli::client::Client;
use crate::cli::commands::{Wait, call_on, create_on, join_on};
use crate::cli::publish::Proposal;
use crate::cli::spawn::open_spawn_vote;
use crate::cli::testnet_file::Testnet;

/// The program's partners, then the outsider.
const NAMES: [&str; 5] = ["studio", "telco", "bank", "university", "outsider"];

/// The voting periods of the shipped charters, shortened for a demo.
const DEMO_PERIODS: [(&str, u64); 5] = [
    ("min_period_ms", 1_000),
    ("max_period_ms", 600_000),
    ("grace_period_ms", 0),
    ("late_quorum_extension_ms", 0),
    ("expiry_ms", 600_000),
];

fn charters_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/charters")
}

/// `text` with every voting period line set to its demo value.
fn with_demo_periods(text: &str) -> String {
    text.lines()
        .map(|line| {
            let key = line.split('=').next().unwrap_or("").trim();
            match DEMO_PERIODS.iter().find(|(name, _)| *name == key) {
                Some((name, value)) => format!("{name} = {value}"),
                None => line.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn read_charter(name: &str) -> Result<(PathBuf, String)> {
    let path = charters_dir().join(name);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {} (the program demo runs from a checkout)", path.display()))?;
    Ok((path, with_demo_periods(&text)))
}

async fn wait_until<F, Fut, T>(what: &str, limit: Duration, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return Ok(value);
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The partnership on `client`'s node whose parent is `parent`, as shown.
async fn find_child(client: &Client, parent: &str) -> Option<Value> {
    let list = client.get("/v1/partnerships").await.ok()?;
    for p in list["partnerships"].as_array()? {
        let id = p["id"].as_str()?;
        let shown = client.get(&format!("/v1/partnerships/{id}")).await.ok()?;
        if shown["parent"]["id"] == json!(parent) {
            return Some(shown);
        }
    }
    None
}

/// `testnet demo --program`.
pub async fn demo(keep: bool, dir: Option<PathBuf>) -> Result<()> {
    let (program_path, program_text) = read_charter("program.toml")?;
    let (project_path, project_text) = read_charter("project.toml")?;
    let temporary = dir.is_none();
    let dir = dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("polypact-program-demo-{}", std::process::id()))
    });
    let names: Vec<String> = NAMES.iter().map(|n| (*n).to_owned()).collect();
    outln!("== a testnet of {} nodes: {}", names.len(), names.join(", "));
    outln!("   (the shipped charters, with voting periods of seconds instead of days)");
    let testnet = up(&dir, Some(names.len()), names).await?;
    let result = story(&testnet, (&program_path, &program_text), (&project_path, &project_text)).await;
    if keep {
        outln!(
            "the testnet keeps running in {}; stop it with `polypact testnet down --dir {}`",
            dir.display(),
            dir.display()
        );
    } else {
        down(&dir).await?;
        if temporary {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    result
}

async fn story(testnet: &Testnet, program: (&Path, &str), project: (&Path, &str)) -> Result<()> {
    let members = testnet.member_ids();
    let client = |name: &str| -> Result<Client> { Client::of_testnet_node(testnet.node(name)?) };
    let member = |name: &str| members.get(name).cloned().unwrap_or_default();

    outln!("== the studio creates the program; the telco, the bank and the university join");
    let set: BTreeMap<String, String> = [("a", "studio"), ("b", "telco"), ("c", "bank"), ("d", "university")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), member(v)))
        .collect();
    let values = Values { set, testnet: None };
    let prepared = prepare(program.0, program.1, &values)?;
    let created = create_on(&client("studio")?, program.1, &prepared).await?;
    let program_id = created["id"].as_str().context("no program id")?.to_owned();
    let genesis = created["genesis"].as_str().context("no genesis")?.to_owned();
    for name in ["telco", "bank", "university"] {
        join_on(&client(name)?, &genesis, &prepared.wasm).await.with_context(|| format!("{name} joining"))?;
    }
    let program_member = created["member_id"].as_str().unwrap_or_default().to_owned();
    outln!("   program {program_id} ({program_member} as a member elsewhere)");

    outln!(
        "== the studio proposes a project with the telco and an outsider (project.toml, a 5% program fee)"
    );
    let project_values: BTreeMap<String, String> = [
        ("lead", member("studio")),
        ("partner", member("telco")),
        ("guest", member("outsider")),
        ("program", program_member.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let spawn = prepare(project.0, project.1, &Values { set: project_values, testnet: None })?;
    let proposal = Proposal {
        title: Some("A project with an outsider".into()),
        kind: "spawn_partnership".into(),
        period_ms: Some(1_500),
        via: None,
    };
    let (via, answer) =
        open_spawn_vote(&client("studio")?, &program_id, spawn.charter, spawn.wasm, proposal, 60, true)
            .await?;
    let proposal_id = answer["outcome"]["data"]["id"].as_u64().context("the proposal was not opened")?;
    outln!("   proposal {proposal_id} in `{via}`");
    for name in ["studio", "telco", "bank"] {
        let c = client(name)?;
        wait_until("the proposal to reach every partner", Duration::from_secs(30), || async {
            let q = json!({"module": via, "msg": {"proposal": {"id": proposal_id}}});
            c.post(&format!("/v1/partnerships/{program_id}/query"), &q).await.ok().map(|_| ())
        })
        .await?;
        call_on(
            &c,
            &program_id,
            &via,
            json!({"vote": {"proposal": proposal_id, "choice": "yes"}}),
            Wait::Applied,
            30,
        )
        .await?;
        outln!("   {name} votes yes");
    }
    outln!("== the vote closes; the studio executes it");
    let studio = client("studio")?;
    wait_until("the spawn to execute", Duration::from_secs(60), || async {
        let msg = json!({"execute": {"proposal": proposal_id}});
        let answer = call_on(&studio, &program_id, &via, msg, Wait::Applied, 30).await.ok()?;
        answer["outcome"]["error"].is_null().then_some(())
    })
    .await?;

    outln!("== once final, every partner attests it; the studio's node founds the project");
    let telco = client("telco")?;
    let shown = wait_until("the project on the telco's node", Duration::from_secs(60), || {
        find_child(&telco, &program_id)
    })
    .await?;
    let project_id = shown["id"].as_str().unwrap_or_default().to_owned();
    outln!(
        "   project {project_id}, parent {} (spawn {}), checked by every node that holds it",
        shown["parent"]["member_id"].as_str().unwrap_or("?"),
        shown["parent"]["seq"]
    );

    outln!(
        "== the outsider is invited (the founder's node announces the project when the outsider's node connects); its operator accepts"
    );
    let outsider = client("outsider")?;
    let invited = wait_until("the outsider's invitation", Duration::from_secs(180), || async {
        if outsider.get(&format!("/v1/partnerships/{project_id}")).await.is_ok() {
            return Some(false);
        }
        let list = outsider.get("/v1/invitations").await.ok()?;
        list["invitations"].as_array()?.iter().any(|i| i["id"] == json!(project_id)).then_some(true)
    })
    .await?;
    if invited {
        outsider.post(&format!("/v1/invitations/{project_id}/accept"), &json!({})).await?;
    } else {
        outln!(
            "   (on a testnet every node takes its fellow nodes' announcements without asking, `--join-from`: \
             the outsider's node holds it already; a real node lists it under `polypact invitations`)"
        );
    }
    let held: Vec<String> = outsider.get("/v1/partnerships").await?["partnerships"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["name"].as_str().map(str::to_owned))
        .collect();
    outln!("   the outsider holds: {} (never the program)", held.join(", "));

    outln!(
        "== the outsider records 1,000.00 EUR of revenue in the project; the telco confirms; the studio distributes"
    );
    let recorded = call_on(&outsider, &project_id, "treasury",
        json!({"record_revenue": {"asset": "EUR", "amount": 100_000, "reference": "CLIENT-1", "counterparty": "first client"}}),
        Wait::Applied, 30).await?;
    let entry = recorded["outcome"]["data"]["id"].as_u64().context("no entry id")?;
    wait_until("the entry to reach the telco", Duration::from_secs(30), || async {
        let q = json!({"module": "treasury", "msg": {"entry": {"id": entry}}});
        telco.post(&format!("/v1/partnerships/{project_id}/query"), &q).await.ok().map(|_| ())
    })
    .await?;
    call_on(&telco, &project_id, "treasury", json!({"confirm_entry": {"id": entry}}), Wait::Applied, 30)
        .await?;
    wait_until("the confirmation to reach the studio", Duration::from_secs(30), || async {
        let q = json!({"module": "treasury", "msg": {"entry": {"id": entry}}});
        let answer = studio.post(&format!("/v1/partnerships/{project_id}/query"), &q).await.ok()?;
        (answer["data"]["status"] == json!("counted")).then_some(())
    })
    .await?;
    let distributed =
        call_on(&studio, &project_id, "treasury", json!({"distribute": {"asset": "EUR"}}), Wait::Final, 60)
            .await?;
    let data = &distributed["outcome"]["data"]["distributed"]["EUR"];
    outln!(
        "   distributed {} among the project's members; 5,000 (5%) went to the program first",
        data["amount"]
    );

    outln!("== the program fee arrives in the program's treasury, once (both nodes in both relay it)");
    let bank = client("bank")?;
    let fee = wait_until("the program fee, final in the program", Duration::from_secs(90), || async {
        let q = json!({"module": "treasury", "msg": {"entries": {}}, "final": true});
        let answer = bank.post(&format!("/v1/partnerships/{program_id}/query"), &q).await.ok()?;
        let entries = answer["data"].as_array().or_else(|| answer.as_array())?.clone();
        let fees: Vec<Value> =
            entries.into_iter().filter(|e| e["counterparty"] == json!(shown["member_id"])).collect();
        (!fees.is_empty()).then_some(fees)
    })
    .await?;
    for e in &fee {
        let cents = e["amount"].as_u64().unwrap_or(0);
        outln!(
            "   entry {}: {}.{:02} EUR from the project ({}), {} until a program partner confirms it arrived",
            e["id"],
            cents / 100,
            cents % 100,
            e["reference"].as_str().unwrap_or("?"),
            e["status"].as_str().unwrap_or("?")
        );
    }
    if fee.len() != 1 {
        bail!("the program fee arrived {} times", fee.len());
    }
    outln!("== the studio's view across its partnerships");
    match studio.get("/v1/portfolio").await {
        Ok(portfolio) => outln!("{}", serde_json::to_string_pretty(&portfolio).unwrap_or_default()),
        Err(_) => {
            for p in studio.get("/v1/partnerships").await?["partnerships"].as_array().into_iter().flatten() {
                outln!("   {} {}", p["id"].as_str().unwrap_or("?"), p["name"].as_str().unwrap_or("?"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_periods_replace_only_the_voting_period_lines() {
        let text = "min_period_ms = 172800000\nname = \"x\"\n  grace_period_ms = 86400000\n# min_period_ms in a comment";
        let out = with_demo_periods(text);
        assert_eq!(
            out,
            "min_period_ms = 1000\nname = \"x\"\ngrace_period_ms = 0\n# min_period_ms in a comment"
        );
    }
}
