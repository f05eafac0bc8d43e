//! Module code travels with the partnership (issue 21), on a real testnet
//! of three node processes driven through the CLI alone: a module made with
//! `module new` is published, voted in and used, then upgraded by vote with
//! its `migrate`, and no node ever gets code uploaded by hand; an install
//! naming code outside the partnership's log fails the same way on every
//! node, and finality goes on.

use serde_json::{Value, json};

use crate::removal::{Testnet, event_kinds, eventually, sleep_past};
use crate::scaffold::{build_module, new_module};
use crate::support::{json, text};

const NODES: [&str; 3] = ["studio", "telco", "bank"];

/// Every node votes yes on `proposal`, its period and grace pass, and
/// `executor` executes it; the execution's answer (or its error text).
fn pass(net: &Testnet, id: &str, proposal: u64, executor: &str) -> Result<Value, String> {
    for voter in NODES {
        // The proposal reaches each voter's node first.
        eventually(&format!("{voter}'s node holds proposal {proposal}"), || {
            let out =
                net.run(voter, &["query", id, "voting", &json!({"proposal": {"id": proposal}}).to_string()]);
            out.status.success().then_some(())
        });
        net.call(voter, id, "voting", &json!({"vote": {"proposal": proposal, "choice": "yes"}}), "applied");
    }
    let open = net.query(executor, id, "voting", &json!({"proposal": {"id": proposal}}), false);
    sleep_past(open["executable_from_ms"].as_u64().unwrap());
    let execute = json!({"execute": {"proposal": proposal}}).to_string();
    eventually(&format!("{executor}'s node executes proposal {proposal}"), || {
        let out = net
            .run(executor, &["call", id, "voting", &execute, "--wait", "final", "--timeout", "60", "--json"]);
        let stderr = text(&out.stderr);
        if out.status.success() {
            return Some(Ok(json(&text(&out.stdout))));
        }
        (!stderr.contains("cannot be executed now")).then_some(Err(stderr))
    })
}

/// The proposal id `module propose` printed.
fn proposal_of(out: &str) -> u64 {
    let line = out.lines().find(|l| l.starts_with("proposal")).unwrap_or_else(|| panic!("{out}"));
    line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{out}"))
}

/// `counter`'s value on `node`, once it is `want` there in the final state.
fn counter_reaches(net: &Testnet, node: &str, id: &str, want: u64) {
    eventually(&format!("the counter is {want} on {node}'s node"), || {
        let out = net.run(node, &["query", id, "counter", r#"{"value":{}}"#, "--final", "--json"]);
        (out.status.success() && json(&text(&out.stdout))["value"] == want).then_some(())
    });
}

#[test]
fn a_new_module_is_published_voted_in_used_and_upgraded_through_the_cli_alone() {
    let dir = tempfile::tempdir().unwrap();
    let crate_dir = dir.path().join("my-counter");
    new_module("my-counter", &crate_dir);
    let (first, first_wasm) = build_module(&crate_dir);

    let net = Testnet::up(&NODES);
    let id = net.create("studio", "testnet-trio.toml", &["telco", "bank"]);

    // The attack: a vote installs code that is not in the partnership's log
    // (the hash of a module that exists, but was never published there).
    let proposed = net.call(
        "studio",
        &id,
        "voting",
        &json!({"propose": {
            "title": "Install code nobody published", "kind": "charter_change", "period_ms": 2000,
            "messages": [{"system": {"install_module": {"name": "ghost", "code": first, "config": {}}}}],
        }}),
        "applied",
    );
    let ghost = pass(&net, &id, proposed["outcome"]["data"]["id"].as_u64().unwrap(), "telco");
    let error = ghost.expect_err("the install fails");
    assert!(error.contains(&format!("code {first} is not published in this partnership")), "{error}");
    // No node halted or installed anything.
    for node in NODES {
        let status = eventually(&format!("{node} holds the failed execution"), || {
            let out = net.run(node, &["partnership", "show", &id, "--json"]);
            let show = json(&text(&out.stdout));
            assert!(show["halted"].is_null(), "{node} halted: {show}");
            out.status.success().then_some(show)
        });
        assert!(status["modules"].as_array().unwrap().iter().all(|m| m["name"] != "ghost"), "{status}");
    }

    // The real thing: telco publishes its new module and proposes it, in one command.
    let out = net.ok(
        "telco",
        &[
            "module",
            "propose",
            &id,
            "--install",
            "counter",
            first_wasm.to_str().unwrap(),
            "--config",
            r#"{"step": 3}"#,
            "--period",
            "2",
        ],
    );
    assert!(out.contains(&format!("code      {first} (published)")), "{out}");
    let executed = pass(&net, &id, proposal_of(&out), "bank").expect("the install passes");
    assert!(event_kinds(&executed).contains(&"counter.counter_opened".to_owned()), "{executed}");
    // Every node runs it: none had its code uploaded; sync brought it.
    let bumped = net.call("bank", &id, "counter", &json!({"increment": {}}), "final");
    assert_eq!(bumped["outcome"]["data"], json!({"value": 3}), "{bumped}");
    for node in NODES {
        counter_reaches(&net, node, &id, 3);
        let show = net.show(node, &id);
        let published = show["published_code"].as_array().unwrap();
        assert!(published.iter().any(|c| c["code"] == first.as_str()), "{show}");
    }

    // A new release with a different migrate, upgraded by vote.
    let contract = crate_dir.join("src/contract.rs");
    let source = std::fs::read_to_string(&contract).unwrap();
    let changed = source.replace(
        r#"Event::new("counter_migrated").attr("step", config.step)"#,
        r#"Event::new("counter_migrated").attr("step", config.step).attr("release", 2)"#,
    );
    assert_ne!(source, changed, "the template's migrate changed; update this test");
    std::fs::write(&contract, changed).unwrap();
    let (second, second_wasm) = build_module(&crate_dir);
    assert_ne!(first, second);
    let out = net.ok(
        "studio",
        &[
            "module",
            "propose",
            &id,
            "--upgrade",
            "counter",
            second_wasm.to_str().unwrap(),
            "--config",
            r#"{"step": 10}"#,
            "--period",
            "2",
        ],
    );
    let upgraded = pass(&net, &id, proposal_of(&out), "telco").expect("the upgrade passes");
    assert!(event_kinds(&upgraded).contains(&"counter.counter_migrated".to_owned()), "{upgraded}");
    net.call("studio", &id, "counter", &json!({"increment": {}}), "final");
    for node in NODES {
        counter_reaches(&net, node, &id, 13);
        let show = net.show(node, &id);
        let counter = show["modules"].as_array().unwrap().iter().find(|m| m["name"] == "counter").cloned();
        assert_eq!(counter.unwrap()["code"], json!(second), "{show}");
    }
}
