//! Every error a user will hit, each with a clear message, a non-zero exit,
//! and nothing changed.

use crate::support::{TestHome, fails, json, solo_charter};

#[test]
fn a_node_that_is_not_running_says_how_to_start_it() {
    let dir = tempfile::tempdir().unwrap();
    let home = TestHome::init(dir.path(), "h");
    let err = home.fails(&["partnership", "list"]);
    assert!(err.contains("not running") && err.contains("polypact node --home"), "{err}");
    let err = fails(&["--node", "http://127.0.0.1:9", "--token", "x", "info"]);
    assert!(err.contains("not running"), "{err}");
    let err = fails(&["--node", "http://127.0.0.1:9", "info"]);
    assert!(err.contains("--token"), "{err}");
    let err = fails(&["--home", dir.path().join("nowhere").to_str().unwrap(), "info"]);
    assert!(err.contains("not a polypact home") && err.contains("polypact init"), "{err}");
}

#[test]
fn homes_of_another_version_bad_configs_and_second_inits_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let home = TestHome::init(dir.path(), "h");
    let err = home.fails(&["init"]);
    assert!(err.contains("already holds a polypact home"), "{err}");

    let config_path = home.dir.join("polypact.toml");
    let good = std::fs::read_to_string(&config_path).unwrap();
    std::fs::write(&config_path, good.replace("home_version = 1", "home_version = 2")).unwrap();
    let err = home.fails(&["node"]);
    assert!(err.contains("version 2") && err.contains("reads version 1"), "{err}");

    let bad = good.replace("mdns = false", "mdns = maybe");
    std::fs::write(&config_path, &bad).unwrap();
    let line = bad.lines().position(|l| l.starts_with("mdns")).unwrap() + 1;
    let err = home.fails(&["node"]);
    assert!(err.contains(&format!("line {line}")) && err.contains("polypact.toml"), "{err}");

    std::fs::write(&config_path, good.replace("[node]", "[node]\ncolour = \"blue\"")).unwrap();
    let err = home.fails(&["node"]);
    assert!(err.contains("colour"), "{err}");

    std::fs::write(&config_path, &good).unwrap();
    let err = home.fails(&["node", "--bootstrap", "not-an-address"]);
    assert!(err.contains("not-an-address"), "{err}");
}

#[test]
fn a_port_in_use_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let home = TestHome::init(dir.path(), "h");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let err = home.fails(&["node", "--api", &addr]);
    assert!(err.contains("in use") && err.contains("--api"), "{err}");
}

#[test]
fn wrong_tokens_unknown_things_bad_json_and_rejected_calls() {
    let dir = tempfile::tempdir().unwrap();
    let home = TestHome::init(dir.path(), "h");
    let _node = home.start();
    let charter = solo_charter(dir.path());
    let me = format!("me={}", home.member);
    let id = home.ok(&["partnership", "create", charter.to_str().unwrap(), "--set", &me]).trim().to_owned();
    let before = home.ok(&["partnership", "show", &id, "--json"]);

    let err = home.fails(&["--token", "wrong", "partnership", "list"]);
    assert!(err.contains("wrong API token"), "{err}");

    let unknown = "ab".repeat(32);
    let err = home.fails(&["partnership", "show", &unknown]);
    assert!(err.contains("unknown partnership") && err.contains("partnership list"), "{err}");
    let err = home.fails(&["call", "ffffffff", "guestbook", "{}"]);
    assert!(err.contains("unknown partnership ffffffff"), "{err}");
    let err = home.fails(&["call", &id, "ghost", "{}"]);
    assert!(err.contains("unknown module `ghost`") && err.contains("guestbook"), "{err}");
    let err = home.fails(&["query", &id, "ghost", "{}"]);
    assert!(err.contains("unknown module `ghost`"), "{err}");

    let err = home.fails(&["call", &id, "guestbook", r#"{"sign": {"message": "x"}"#]);
    assert!(err.contains("not valid JSON") && err.contains("line 1 column"), "{err}");
    let err = home.fails(&["query", &id, "guestbook", "{count}"]);
    assert!(err.contains("not valid JSON") && err.contains("column 2"), "{err}");

    // The module rejects the call: non-zero exit, the module's error shown.
    let out = home.run(&["call", &id, "guestbook", r#"{"sign":{"message":"   "}}"#]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rejected") && err.contains("the message is empty"), "{err}");
    let out = home.run(&["call", &id, "guestbook", r#"{"sign":{"message":"   "}}"#, "--json"]);
    assert!(!out.status.success());
    assert_eq!(json(&String::from_utf8_lossy(&out.stdout))["code"], "call_failed");

    // Charters: an unknown module file, an unfilled placeholder (its line),
    // duplicate module names, a bad --set.
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "name = \"x\"\nparticipants = [\"${me}\"]\n[[modules]]\nname = \"ghost\"\nwasm = \"ghost.wasm\"\n",
    )
    .unwrap();
    let err = home.fails(&["partnership", "create", bad.to_str().unwrap(), "--set", &me]);
    assert!(err.contains("ghost") && err.contains("module build"), "{err}");
    std::fs::write(
        &bad,
        format!(
            "name = \"x\"\nparticipants = [\"${{me}}\"]\n[[modules]]\nname = \"ghost\"\ncode = \"{}\"\n",
            "ab".repeat(32)
        ),
    )
    .unwrap();
    let err = home.fails(&["partnership", "create", bad.to_str().unwrap(), "--set", &me]);
    assert!(err.contains("module code missing") && err.contains(&"ab".repeat(32)), "{err}");
    let err = home.fails(&["partnership", "create", charter.to_str().unwrap()]);
    assert!(err.contains("line 2") && err.contains("${me}") && err.contains("--set"), "{err}");
    let wasm = crate::support::guestbook_wasm_path();
    std::fs::write(
        &bad,
        format!("name = \"x\"\nparticipants = [\"${{me}}\"]\n[[modules]]\nname = \"g\"\nwasm = \"{w}\"\n[[modules]]\nname = \"g\"\nwasm = \"{w}\"\n", w = wasm.display()),
    )
    .unwrap();
    let err = home.fails(&["partnership", "create", bad.to_str().unwrap(), "--set", &me]);
    assert!(err.contains("used twice") && err.contains("lines 4, 7"), "{err}");
    std::fs::write(&bad, "name = \"x\"\nparticipants = [\"${me}\", \"${me}\"]\n").unwrap();
    let err = home.fails(&["partnership", "create", bad.to_str().unwrap(), "--set", &me]);
    assert!(err.contains("listed twice") && err.contains("line 2"), "{err}");
    std::fs::write(&bad, "name = \"x\"\nparticipants = [\n").unwrap();
    let err = home.fails(&["partnership", "create", bad.to_str().unwrap()]);
    assert!(err.contains("bad.toml") && err.contains("line"), "{err}");
    let err = home.fails(&["partnership", "create", charter.to_str().unwrap(), "--set", "me"]);
    assert!(err.contains("NAME=VALUE"), "{err}");
    let err = home.fails(&["partnership", "create", dir.path().join("none.toml").to_str().unwrap()]);
    assert!(err.contains("cannot read the charter"), "{err}");

    // Nothing changed.
    let list = json(&home.ok(&["partnership", "list", "--json"]));
    assert_eq!(list["partnerships"].as_array().unwrap().len(), 1);
    let after = home.ok(&["partnership", "show", &id, "--json"]);
    let (before, after) = (json(&before), json(&after));
    assert_eq!(before["modules"], after["modules"]);
    let count = json(&home.ok(&["query", &id, "guestbook", r#"{"count":{}}"#, "--json"]));
    assert_eq!(count["count"], 0, "rejected calls changed nothing");
}
