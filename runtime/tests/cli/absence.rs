//! A partner's node killed on a real testnet (three node processes started
//! with `polypact testnet up`, the shipped `testnet-trio.toml` charter with
//! `suspend_after_ms = 5000`, driven through the CLI): the other two nodes
//! suspend it on their own, so a call made with `--wait final` becomes final
//! without it and `partnership show` lists it as suspended; when its node is
//! started again from its home it is readmitted on its own and all three
//! nodes end on one final root.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::removal::{FINALITY_WAIT, Testnet, eventually};
use crate::support::{exe, json};

/// Whether `pid` is a live process (not a zombie).
fn alive(pid: u64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.rsplit_once(") ").unwrap().1.starts_with('Z'))
        .unwrap_or(false)
}

fn testnet_json(net: &Testnet) -> Value {
    json(&std::fs::read_to_string(Path::new(net.dir()).join("testnet.json")).unwrap())
}

/// Node `name`'s entry in testnet.json.
fn node_entry(net: &Testnet, name: &str) -> Value {
    testnet_json(net)["nodes"].as_array().unwrap().iter().find(|n| n["name"] == name).unwrap().clone()
}

/// Rewrites fields of node `name`'s entry in testnet.json (after the test
/// restarted it by hand), so `--as NAME` reaches it and `testnet down`
/// stops it.
fn update_entry(net: &Testnet, name: &str, fields: &[(&str, Value)]) {
    let mut all = testnet_json(net);
    let node = all["nodes"].as_array_mut().unwrap().iter_mut().find(|n| n["name"] == name).unwrap();
    for (field, value) in fields {
        node[*field] = value.clone();
    }
    let path = Path::new(net.dir()).join("testnet.json");
    std::fs::write(path, serde_json::to_string_pretty(&all).unwrap()).unwrap();
}

/// Starts node `name` again from its home, as `testnet up` does, dialing
/// the nodes in `peers`; records it in testnet.json and waits until it
/// answers.
fn restart(net: &Testnet, name: &str, peers: &[&str]) {
    let entry = node_entry(net, name);
    let home = entry["home"].as_str().unwrap().to_owned();
    let url_file = Path::new(&home).join("api.url");
    let _ = std::fs::remove_file(&url_file);
    let log = std::fs::OpenOptions::new().append(true).open(entry["log"].as_str().unwrap()).unwrap();
    let mut command = Command::new(exe());
    command
        .args([
            "--home",
            &home,
            "node",
            "--api",
            "127.0.0.1:0",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--no-mdns",
        ])
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .env_remove("POLYPACT_TOKEN")
        .env_remove("POLYPACT_NODE");
    for peer in peers {
        command.args(["--bootstrap", node_entry(net, peer)["p2p"].as_str().unwrap()]);
    }
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let child = command.spawn().unwrap();
    // Recorded at once, so that `testnet down` (on drop) stops it whatever happens.
    update_entry(net, name, &[("pid", json!(child.id()))]);
    let api = eventually(&format!("{name}'s node to write its API address"), || {
        std::fs::read_to_string(&url_file)
            .ok()
            .map(|u| u.trim().to_owned())
            .filter(|u| u.starts_with("http://"))
    });
    update_entry(net, name, &[("api", json!(api))]);
    let info = eventually(&format!("{name}'s node to answer"), || {
        let out = net.run(name, &["info", "--json"]);
        out.status.success().then(|| json(&String::from_utf8_lossy(&out.stdout)))
    });
    if let Some(p2p) = info["p2p_listen"].as_array().and_then(|a| a.first()).cloned() {
        update_entry(net, name, &[("p2p", p2p)]);
    }
    // The reaper: the child is waited for when it exits (no zombie left
    // behind for `testnet down` to wait on).
    std::thread::spawn(move || {
        let mut child = child;
        let _ = child.wait();
    });
}

/// `member`'s status in a `partnership show --json` answer.
fn status_in(show: &Value, member: &str) -> String {
    show["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["member"] == member)
        .map_or_else(|| "missing".to_owned(), |p| p["status"].as_str().unwrap().to_owned())
}

fn revenue(reference: &str) -> Value {
    json!({"record_revenue": {"asset": "EUR", "amount": 1000, "reference": reference, "counterparty": "Clients"}})
}

#[test]
fn a_killed_node_is_suspended_on_a_real_testnet() {
    let names = ["studio", "telco", "bank"];
    let net = Testnet::up(&names);
    let id = net.create("studio", "testnet-trio.toml", &["telco", "bank"]);
    let bank = net.member("bank");
    let first = net.call("bank", &id, "treasury", &revenue("BEFORE"), "final");
    assert_eq!(first["final"], true, "{first}");
    assert_eq!(net.show("studio", &id)["params"]["suspend_after_ms"], 5000);

    // SIGKILL: no shutdown, nothing said to the others.
    let pid = node_entry(&net, "bank")["pid"].as_u64().unwrap();
    assert!(Command::new("kill").args(["-KILL", &pid.to_string()]).status().unwrap().success());
    eventually("the bank's node process to be gone", || (!alive(pid)).then_some(()));

    // A call waits for the bank, until studio's and telco's nodes suspend it.
    let away = net.call("studio", &id, "treasury", &revenue("WHILE-AWAY"), "final");
    assert_eq!(away["final"], true, "{away}");
    for name in ["studio", "telco"] {
        let show = eventually(&format!("{name}'s node to show the bank suspended"), || {
            let show = net.show(name, &id);
            (status_in(&show, &bank) == "suspended").then_some(show)
        });
        assert!(show["waiting_for"].as_array().unwrap().is_empty(), "{name}: {show}");
        let entry = show["participants"].as_array().unwrap().iter().find(|p| p["member"] == bank).unwrap();
        assert!(entry["cut_seq"].is_u64() && entry["suspended_at"].is_u64(), "{entry}");
    }
    let confirmed = net.call("telco", &id, "treasury", &revenue("STILL-AWAY"), "final");
    assert_eq!(confirmed["final"], true, "{confirmed}");

    // The bank's node comes back from its home; it asks to return and a
    // partner's node readmits it, with no one doing anything.
    restart(&net, "bank", &["studio", "telco"]);
    for name in names {
        eventually(&format!("{name}'s node to show the bank active again"), || {
            (status_in(&net.show(name, &id), &bank) == "active").then_some(())
        });
    }
    let back = net.call("bank", &id, "treasury", &revenue("BACK"), "final");
    assert_eq!(back["final"], true, "{back}");

    // One final root on all three, holding every call, with nothing waiting.
    let deadline = Instant::now() + FINALITY_WAIT;
    loop {
        let shows: Vec<Value> = names.iter().map(|n| net.show(n, &id)).collect();
        let key = |s: &Value| (s["final_height"].clone(), s["final_root"].clone(), s["op_count"].clone());
        let same = shows.windows(2).all(|w| key(&w[0]) == key(&w[1]));
        // (The last acks stay above the final height in a quiet partnership:
        // nothing is built on them. Nothing waits for anyone.)
        let settled = shows.iter().all(|s| s["waiting_for"].as_array().is_some_and(Vec::is_empty));
        if same && settled {
            break;
        }
        assert!(Instant::now() < deadline, "the three nodes never agreed on the final state: {shows:#?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    for name in names {
        let show = net.show(name, &id);
        assert_eq!(status_in(&show, &bank), "active", "{name}: {show}");
        let entries = net.query(name, &id, "treasury", &json!({"entries": {}}), true);
        let text = entries.to_string();
        for reference in ["BEFORE", "WHILE-AWAY", "STILL-AWAY", "BACK"] {
            assert!(text.contains(reference), "{name}'s final treasury lacks {reference}: {text}");
        }
    }
}
