//! `testnet up|down`: node processes with their own homes, testnet.json,
//! `--testnet DIR --as NAME`, `${name}` defaults, and the demo script.

use crate::support::{fails, json, ok, run, text};

fn alive(pid: u64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.rsplit_once(") ").unwrap().1.starts_with('Z'))
        .unwrap_or(false)
}

#[test]
fn up_records_the_nodes_and_down_stops_them() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    ok(&["testnet", "up", "--nodes", "2", "--dir", d, "--names", "studio,telco"]);
    let net = json(&std::fs::read_to_string(dir.path().join("testnet.json")).unwrap());
    let nodes = net["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 2);
    for node in nodes {
        for field in ["name", "api", "token_file", "member", "peer_id", "p2p", "home", "log"] {
            assert!(node[field].is_string(), "{field} in {node}");
        }
        assert!(node["p2p"].as_str().unwrap().contains("/p2p/"));
        assert!(alive(node["pid"].as_u64().unwrap()));
    }
    assert_eq!(nodes[0]["name"], "studio");

    // A second `up` on a running testnet is refused.
    let err = fails(&["testnet", "up", "--nodes", "2", "--dir", d]);
    assert!(err.contains("already running") && err.contains("testnet down"), "{err}");

    // Each node answers as itself.
    let telco = json(&ok(&["--testnet", d, "--as", "telco", "info", "--json"]));
    assert_eq!(telco["member"], nodes[1]["member"]);
    let err = fails(&["--testnet", d, "--as", "bank", "info"]);
    assert!(err.contains("no node `bank`") && err.contains("studio, telco"), "{err}");

    // `${studio}` defaults to the studio node's member id.
    let charter = dir.path().join("c.toml");
    std::fs::write(
        &charter,
        format!(
            "name = \"Studio only\"\nparticipants = [\"${{studio}}\"]\n[[modules]]\nname = \"guestbook\"\nwasm = \"{}\"\n",
            crate::support::guestbook_wasm_path().display()
        ),
    )
    .unwrap();
    let id = ok(&["--testnet", d, "--as", "studio", "partnership", "create", charter.to_str().unwrap()]);
    let show = json(&ok(&["--testnet", d, "--as", "studio", "partnership", "show", id.trim(), "--json"]));
    assert_eq!(show["participants"][0]["member"], nodes[0]["member"]);
    // A charter of both: created on studio, telco joins at once.
    let pair = dir.path().join("pair.toml");
    std::fs::write(
        &pair,
        format!(
            "name = \"Pair\"\nparticipants = [\"${{studio}}\", \"${{telco}}\"]\n[[modules]]\nname = \"guestbook\"\nwasm = \"{}\"\n",
            crate::support::guestbook_wasm_path().display()
        ),
    )
    .unwrap();
    let pair_id = ok(&["--testnet", d, "--as", "studio", "partnership", "create", pair.to_str().unwrap()]);
    let on_telco =
        json(&ok(&["--testnet", d, "--as", "telco", "partnership", "show", pair_id.trim(), "--json"]));
    assert_eq!(on_telco["participants"].as_array().unwrap().len(), 2);
    // Telco is not a participant of the first: the node refuses, naming why.
    let err = fails(&["--testnet", d, "--as", "telco", "partnership", "create", charter.to_str().unwrap()]);
    assert!(err.contains("not a participant"), "{err}");

    ok(&["testnet", "down", "--dir", d]);
    for node in nodes {
        assert!(!alive(node["pid"].as_u64().unwrap()), "{} still runs", node["name"]);
    }
    let err = fails(&["--testnet", d, "info"]);
    assert!(err.contains("not running"), "{err}");

    // Up again: the same homes (same members), the state kept.
    ok(&["testnet", "up", "--nodes", "2", "--dir", d, "--names", "studio,telco"]);
    let again = json(&ok(&["--testnet", d, "--as", "studio", "partnership", "list", "--json"]));
    assert_eq!(again["partnerships"].as_array().unwrap().len(), 2);
    ok(&["testnet", "down", "--dir", d]);
}

#[test]
fn bad_testnet_arguments_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let err = fails(&["testnet", "up", "--dir", d, "--nodes", "3", "--names", "a,b"]);
    assert!(err.contains("--nodes 3 but 2 names"), "{err}");
    let missing = dir.path().join("c.toml");
    std::fs::write(
        &missing,
        "name = \"x\"\nparticipants = [\"${a}\"]\n[[modules]]\nname = \"m\"\nwasm = \"m.wasm\"\n",
    )
    .unwrap();
    let err = fails(&["testnet", "demo", "--dir", d, "--charter", missing.to_str().unwrap()]);
    assert!(err.contains("not usable") && err.contains("m.wasm") && err.contains("build"), "{err}");
    assert!(!dir.path().join("a").exists(), "no node was started");
    let err = fails(&["testnet", "up", "--dir", d, "--names", "a,a"]);
    assert!(err.contains("twice"), "{err}");
    let err = fails(&["testnet", "up", "--dir", d, "--names", "Bad Name"]);
    assert!(err.contains("Bad Name"), "{err}");
    let err = fails(&["--testnet", d, "info"]);
    assert!(err.contains("no testnet") && err.contains("testnet up"), "{err}");
    let err = fails(&["testnet", "down", "--dir", d]);
    assert!(err.contains("no testnet"), "{err}");
}

#[test]
fn the_demo_runs_its_story_and_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("demo");
    // The README's main command: the default charter (the testnet joint
    // venture) and its story, on three node processes.
    let out = run(&["testnet", "demo", "--dir", d.to_str().unwrap()]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("a testnet of 3 partners"), "{stdout}");
    assert!(stdout.contains("creates the partnership"), "{stdout}");
    assert!(stdout.contains("event  membership.member_added"), "the bank is admitted by vote: {stdout}");
    assert!(stdout.contains("event  treasury.payout_confirmed"), "{stdout}");
    assert!(stdout.contains("event  exit.ragequit"), "a partner leaves: {stdout}");
    assert!(stdout.contains("refused, as it should be"), "{stdout}");
    assert!(stdout.contains("partners' nodes agree on the final state"), "{stdout}");
    assert!(!stdout.contains("FAILED"), "{stdout}");
    // The story's last op became final on the remaining partners' nodes,
    // not after a timeout.
    let waited = stderr.lines().find(|l| l.contains("waiting for finality")).unwrap_or_default();
    assert!(waited.contains("done in"), "{stderr}");
    let net = json(&std::fs::read_to_string(d.join("testnet.json")).unwrap());
    for node in net["nodes"].as_array().unwrap() {
        assert!(node["pid"].is_null(), "the demo stops its nodes: {node}");
    }
}

/// Issue 6: a node process killed with SIGKILL while it takes calls comes
/// back with every op it had reported accepted, and converges with the others.
#[test]
fn a_node_killed_with_sigkill_under_load_keeps_what_it_accepted_and_converges() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    ok(&["testnet", "up", "--nodes", "3", "--dir", d, "--names", "studio,telco,bank"]);
    let charter = concat!(env!("CARGO_MANIFEST_DIR"), "/templates/charters/guestbook-jv.toml");
    let id = ok(&["--testnet", d, "--as", "studio", "partnership", "create", charter]);
    let id = id.lines().next().unwrap().trim().to_owned();
    let victim_pid = || {
        let net = json(&std::fs::read_to_string(dir.path().join("testnet.json")).unwrap());
        net["nodes"].as_array().unwrap().iter().find(|n| n["name"] == "bank").unwrap()["pid"]
            .as_u64()
            .unwrap()
    };
    // The bank's node holds the partnership before the load starts.
    let mut joined = false;
    for _ in 0..300 {
        if run(&["--testnet", d, "--as", "bank", "partnership", "show", &id]).status.success() {
            joined = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(joined, "the bank's node joined the announced partnership");

    // Load: the studio signs in the background; the bank takes calls and
    // reports each accepted op (durable) to us.
    let load = {
        let d = d.to_owned();
        let id = id.clone();
        std::thread::spawn(move || {
            for i in 0..20 {
                let msg = format!(r#"{{"sign":{{"message":"studio {i}"}}}}"#);
                let _ = run(&[
                    "--testnet",
                    &d,
                    "--as",
                    "studio",
                    "call",
                    &id,
                    "guestbook",
                    &msg,
                    "--wait",
                    "accepted",
                ]);
            }
        })
    };
    let mut accepted = Vec::new();
    for i in 0..12 {
        let msg = format!(r#"{{"sign":{{"message":"bank {i}"}}}}"#);
        let out = run(&[
            "--testnet",
            d,
            "--as",
            "bank",
            "call",
            &id,
            "guestbook",
            &msg,
            "--wait",
            "accepted",
            "--json",
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        accepted.push(json(&text(&out.stdout))["op"].as_str().unwrap().to_owned());
    }
    // One more call in flight, then SIGKILL: no chance to flush or shut down.
    let in_flight = {
        let d = d.to_owned();
        let id = id.clone();
        std::thread::spawn(move || {
            run(&[
                "--testnet",
                &d,
                "--as",
                "bank",
                "call",
                &id,
                "guestbook",
                r#"{"sign":{"message":"in flight"}}"#,
                "--wait",
                "accepted",
                "--json",
            ])
        })
    };
    let pid = victim_pid();
    assert!(std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status().unwrap().success());
    if let Ok(out) = in_flight.join()
        && out.status.success()
    {
        // Reported accepted before the kill landed: it must survive too.
        accepted.push(json(&text(&out.stdout))["op"].as_str().unwrap().to_owned());
    }
    load.join().unwrap();

    // Restart the testnet (the others stop cleanly, the bank was killed).
    ok(&["testnet", "down", "--dir", d]);
    ok(&["testnet", "up", "--nodes", "3", "--dir", d, "--names", "studio,telco,bank"]);
    let ops = |name: &str| -> Vec<String> {
        let out = ok(&[
            "--testnet",
            d,
            "--as",
            name,
            "query",
            &id,
            "guestbook",
            r#"{"entries":{"limit":100}}"#,
            "--json",
        ]);
        let body = json(&out);
        let entries = body.get("data").unwrap_or(&body)["entries"].clone();
        entries
            .as_array()
            .map(|a| a.iter().map(|e| e["message"].as_str().unwrap_or("").to_owned()).collect())
            .unwrap_or_default()
    };
    let bank_entries = ops("bank");
    for i in 0..12 {
        assert!(
            bank_entries.contains(&format!("bank {i}")),
            "accepted op {i} lost after SIGKILL: {bank_entries:?}"
        );
    }
    if accepted.len() == 13 {
        assert!(
            bank_entries.contains(&"in flight".to_owned()),
            "the in-flight op was reported accepted, then lost"
        );
    }
    // Converge: all three nodes reach the same final height and root.
    let mut last = String::new();
    let mut converged = false;
    for _ in 0..600 {
        let shows: Vec<serde_json::Value> = ["studio", "telco", "bank"]
            .iter()
            .map(|n| json(&ok(&["--testnet", d, "--as", n, "partnership", "show", &id, "--json"])))
            .collect();
        let heights: Vec<_> =
            shows.iter().map(|s| (s["final_height"].clone(), s["final_root"].clone())).collect();
        let all_applied =
            shows.iter().all(|s| s["optimistic_height"] == s["final_height"] || s["pending"] == 0);
        if heights.windows(2).all(|w| w[0] == w[1]) && all_applied && ops("studio").len() == ops("bank").len()
        {
            let entries = ops("telco");
            if entries.len() == ops("bank").len()
                && entries.iter().filter(|e| e.starts_with("bank ")).count() >= 12
            {
                converged = true;
                break;
            }
        }
        last = format!("{heights:?}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    ok(&["testnet", "down", "--dir", d]);
    assert!(converged, "the nodes did not converge: {last}");
}

#[test]
fn the_program_demo_spawns_a_project_and_the_fee_crosses_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("program");
    let out = run(&["testnet", "demo", "--program", "--dir", d.to_str().unwrap()]);
    let (out, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(!out.is_empty(), "{stderr}");
    for line in [
        "the studio's node founds the project",
        "checked by every node that holds it",
        "the outsider holds: Project (never the program)",
        "distributed 95000",
        "entry 0: 50.00 EUR from the project",
    ] {
        assert!(out.contains(line), "the demo should say {line:?}:\n{out}\n{stderr}");
    }
    let net = json(&std::fs::read_to_string(d.join("testnet.json")).unwrap());
    for node in net["nodes"].as_array().unwrap() {
        assert!(node["pid"].is_null(), "the demo stops its nodes: {node}");
    }
}
