//! The binary as a user drives it: init, node, partnership create/show/list,
//! call, query, events, info; human and `--json` output.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

use crate::support::{TestHome, exe, json, solo_charter};

#[test]
fn init_writes_private_keys_and_a_documented_config() {
    let dir = tempfile::tempdir().unwrap();
    let home = TestHome::init(dir.path(), "h");
    for file in ["polypact.toml", "member.key", "node.key", "api.token"] {
        let mode = std::fs::metadata(home.dir.join(file)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{file}");
    }
    let config = std::fs::read_to_string(home.dir.join("polypact.toml")).unwrap();
    for needle in
        ["home_version = 1", "[api]", "[network]", "bootstrap = []", "mdns = false", "blocked = []", "[node]"]
    {
        assert!(config.contains(needle), "{needle} missing:\n{config}");
    }
    assert!(config.contains("listen = \"127.0.0.1:0\""), "--api is written to the config");
    assert!(std::fs::read_to_string(home.dir.join("member.key")).unwrap().contains(&home.member));
}

/// Issue 22: with mDNS on, a node on the same LAN dials a stranger itself.
/// A home leaves it off unless the operator asks for it.
#[test]
fn mdns_is_off_unless_the_operator_turns_it_on() {
    let dir = tempfile::tempdir().unwrap();
    let config_of = |name: &str, flags: &[&str]| {
        let home = dir.path().join(name);
        let mut args = vec!["--home", home.to_str().unwrap(), "init", "--api", "127.0.0.1:0"];
        args.extend_from_slice(flags);
        crate::support::ok(&args);
        std::fs::read_to_string(home.join("polypact.toml")).unwrap()
    };
    let plain = config_of("plain", &[]);
    assert!(plain.contains("\nmdns = false\n"), "{plain}");
    let on = config_of("on", &["--mdns"]);
    assert!(on.contains("\nmdns = true\n"), "{on}");
    let off = config_of("off", &["--no-mdns"]);
    assert!(off.contains("\nmdns = false\n"), "{off}");
    let both = dir.path().join("both");
    let out = crate::support::run(&["--home", both.to_str().unwrap(), "init", "--mdns", "--no-mdns"]);
    assert_eq!(out.status.code(), Some(2), "--mdns and --no-mdns together are a usage error");
}

#[test]
fn a_partnership_from_create_to_events() {
    let dir = tempfile::tempdir().unwrap();
    let home = TestHome::init(dir.path(), "h");
    let mut node = home.start();
    let charter = solo_charter(dir.path());
    let me = format!("me={}", home.member);

    let id = home.ok(&["partnership", "create", charter.to_str().unwrap(), "--set", &me]).trim().to_owned();
    assert_eq!(id.len(), 64, "{id}");
    let list = json(&home.ok(&["partnership", "list", "--json"]));
    assert_eq!(list["partnerships"][0]["id"], id.as_str());
    assert!(home.ok(&["partnership", "list"]).contains("Solo venture"));

    // Follow events while calling.
    let mut events = Command::new(exe())
        .args(["--home", &home.home(), "events", &id[..10], "--final", "--json", "--count", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The follower prints a line on stderr once it is subscribed.
    let mut ready = String::new();
    BufReader::new(events.stderr.take().unwrap()).read_line(&mut ready).unwrap();
    assert!(ready.contains("following final events"), "{ready}");

    let out =
        home.ok(&["call", &id, "guestbook", r#"{"sign":{"message":"from the CLI"}}"#, "--wait", "final"]);
    assert!(out.contains("status   final") && out.contains(r#"data     {"id":1}"#), "{out}");
    let called = json(&home.ok(&["call", &id, "guestbook", r#"{"sign":{"message":"json"}}"#, "--json"]));
    assert_eq!(called["outcome"]["data"]["id"], 2);

    let event = events.wait_with_output().unwrap();
    assert!(event.status.success());
    // Two final events: the genesis may be one of them, the call is.
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&event.stdout).lines().map(json).collect();
    assert_eq!(lines.len(), 2);
    let event =
        lines.into_iter().find(|e| e["data"]["module"] == "guestbook").expect("the call's final event");
    assert_eq!(event["event"], "final");
    assert_eq!(event["data"]["module"], "guestbook");
    assert_eq!(event["data"]["outcome"]["events"][0]["kind"], "signed");

    let count = json(&home.ok(&["query", &id, "guestbook", r#"{"count":{}}"#, "--json"]));
    assert_eq!(count["count"], 2);
    let final_count = json(&home.ok(&["query", &id, "guestbook", r#"{"count":{}}"#, "--final", "--json"]));
    assert!(final_count["count"].as_u64().unwrap() >= 1);

    let show = json(&home.ok(&["partnership", "show", &id, "--json"]));
    assert_eq!(show["participants"][0]["member"], home.member.as_str());
    assert_eq!(show["modules"][0]["name"], "guestbook");
    let human = home.ok(&["partnership", "show", &id[..8]]);
    assert!(human.contains("final root") && human.contains("guestbook"), "{human}");
    let checkpoints = json(&home.ok(&["partnership", "checkpoints", &id, "--json"]));
    assert_eq!(checkpoints["checkpoint_every"], 100_000);
    assert_eq!(checkpoints["compacted"], serde_json::Value::Null);
    let human = home.ok(&["partnership", "checkpoints", &id[..8]]);
    assert!(
        human.contains("every 100000 heights")
            && human.contains("none taken yet")
            && human.contains("keeps every op"),
        "{human}"
    );

    let info = json(&home.ok(&["info", "--json"]));
    assert_eq!(info["member"], home.member.as_str());
    assert_eq!(info["partnerships"], 1);
    // --node and --token reach the same node.
    let url = home.api_url();
    assert!(url.starts_with("http://127.0.0.1:") && !url.ends_with(":0"), "{url}");
    let by_url = json(&crate::support::ok(&["--node", &url, "--token", &home.token(), "info", "--json"]));
    assert_eq!(by_url["member"], home.member.as_str());

    assert!(node.stop(), "the node stops cleanly on SIGTERM");
    assert!(!home.dir.join("api.url").exists(), "a stopped node leaves no API URL behind");
    // State survives a restart.
    let _node = home.start();
    let count = json(&home.ok(&["query", &id, "guestbook", r#"{"count":{}}"#, "--json"]));
    assert_eq!(count["count"], 2);
}

#[test]
fn a_partner_node_joins_from_the_genesis_file() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (TestHome::init(dir.path(), "a"), TestHome::init(dir.path(), "b"));
    let (_na, _nb) = (a.start(), b.start());
    let charter = dir.path().join("pair.toml");
    std::fs::write(
        &charter,
        format!(
            "name = \"Pair\"\nparticipants = [\"${{a}}\", \"${{b}}\"]\n[[modules]]\nname = \"guestbook\"\nwasm = \"{}\"\n",
            crate::support::guestbook_wasm_path().display()
        ),
    )
    .unwrap();
    let (set_a, set_b) = (format!("a={}", a.member), format!("b={}", b.member));
    let created = json(&a.ok(&[
        "partnership",
        "create",
        charter.to_str().unwrap(),
        "--set",
        &set_a,
        "--set",
        &set_b,
        "--json",
    ]));
    let genesis_file = dir.path().join("genesis.hex");
    let exported = a.ok(&["partnership", "genesis", created["id"].as_str().unwrap()]);
    assert_eq!(exported.trim(), created["genesis"].as_str().unwrap());
    std::fs::write(&genesis_file, exported).unwrap();
    let at_file = format!("@{}", genesis_file.display());

    // Without the module code the node says what is missing.
    let err = b.fails(&["partnership", "join", &at_file]);
    assert!(
        err.contains("module code missing") && err.contains(created["modules"][0]["code"].as_str().unwrap()),
        "{err}"
    );
    let wasm = crate::support::guestbook_wasm_path();
    let id = b.ok(&["partnership", "join", &at_file, "--wasm", wasm.to_str().unwrap()]);
    assert_eq!(id.trim(), created["id"].as_str().unwrap());
    let err = b.fails(&["partnership", "join", "not-hex"]);
    assert!(err.contains("not hex"), "{err}");
}

/// Polls `polypact --home H invitations --json` until `pick` finds something.
fn wait_for_invitation(home: &TestHome, pick: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    for _ in 0..600 {
        let list = json(&home.ok(&["invitations", "--json"]));
        if let Some(found) = list["invitations"].as_array().unwrap().iter().find(|i| pick(i)) {
            return found.clone();
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("no such invitation appeared on {}", home.dir.display());
}

/// Issue 22: a stranger's node that announced a partnership naming a node's
/// member made the node join it. Now it waits as an invitation that the
/// operator lists, accepts or declines; a known partner's next partnership
/// is still joined without asking.
#[test]
fn invitations_are_listed_accepted_and_declined() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) =
        (TestHome::init(dir.path(), "a"), TestHome::init(dir.path(), "b"), TestHome::init(dir.path(), "c"));
    let _na = a.start();
    let _nb = b.start_with(&["--bootstrap", &a.p2p_addr()]);
    let _nc = c.start_with(&["--bootstrap", &b.p2p_addr()]);
    let charter = |name: &str| {
        let path = dir.path().join(format!("{name}.toml"));
        std::fs::write(
            &path,
            format!(
                "name = \"{name}\"\nparticipants = [\"${{x}}\", \"${{y}}\"]\n[[modules]]\nname = \"guestbook\"\nwasm = \"{}\"\n",
                crate::support::guestbook_wasm_path().display()
            ),
        )
        .unwrap();
        path
    };
    let create = |home: &TestHome, name: &str, other: &TestHome| {
        let path = charter(name);
        let (x, y) = (format!("x={}", home.member), format!("y={}", other.member));
        home.ok(&["partnership", "create", path.to_str().unwrap(), "--set", &x, "--set", &y])
            .lines()
            .next()
            .unwrap()
            .trim()
            .to_owned()
    };
    let held = |home: &TestHome, id: &str| home.run(&["partnership", "show", id]).status.success();

    // a is a stranger to b: its partnership waits for b's operator.
    let pair = create(&a, "Pair", &b);
    let invitation = wait_for_invitation(&b, |i| i["id"] == pair.as_str());
    assert_eq!(invitation["name"], "Pair");
    assert_eq!(invitation["creator"], a.member.as_str());
    assert!(!held(&b, &pair), "not joined without consent");
    let listed = b.run(&["invitations"]);
    let (stdout, stderr) = (crate::support::text(&listed.stdout), crate::support::text(&listed.stderr));
    assert!(stdout.contains(&pair) && stdout.contains("Pair") && stdout.contains(&a.member), "{stdout}");
    assert!(stderr.contains("invitations accept"), "{stderr}");
    // Accepted by a prefix of its id: b joins, fetching the code from a.
    let joined = b.ok(&["invitations", "accept", &pair[..10]]);
    assert_eq!(joined.trim(), pair);
    assert!(held(&b, &pair));
    assert_eq!(b.ok(&["invitations", "accept", &pair]).trim(), pair, "accepting again changes nothing");
    // Once b's node has bound its peer id, a's node shows which node acts for b.
    let b_peer = json(&b.ok(&["info", "--json"]))["peer_id"].as_str().unwrap().to_owned();
    let mut bound = false;
    for _ in 0..600 {
        let show = json(&a.ok(&["partnership", "show", &pair, "--json"]));
        let entry = show["participants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["member"] == b.member.as_str())
            .cloned();
        if entry.is_some_and(|e| e["peer_id"] == b_peer.as_str()) {
            bound = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(bound, "a's node shows b's node as bound");
    let err = b.fails(&["invitations", "accept", &"ab".repeat(32)]);
    assert!(err.contains("no invitation"), "{err}");

    // a is now b's partner: its next partnership is joined without asking.
    let second = create(&a, "Second", &b);
    let mut joined = false;
    for _ in 0..600 {
        if held(&b, &second) {
            joined = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(joined, "a known partner's partnership is joined");

    // c is a stranger to b: declined, its partnership is not joined.
    let lure = create(&c, "Lure", &b);
    wait_for_invitation(&b, |i| i["id"] == lure.as_str());
    let out = b.run(&["invitations", "decline", &lure]);
    assert!(out.status.success(), "{}", crate::support::text(&out.stderr));
    let list = json(&b.ok(&["invitations", "--json"]));
    assert_eq!(list["invitations"], serde_json::json!([]));
    assert!(!held(&b, &lure));
    let err = b.fails(&["invitations", "decline", "0123"]);
    assert!(err.contains("too short"), "{err}");
}

/// This machine's address on its default route, if it has one (no packet is sent).
fn primary_ipv4() -> Option<std::net::IpAddr> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("10.255.255.255:1").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

/// Issue 22: `info` showed only `127.0.0.1` while the node listened on
/// `0.0.0.0`, and `/v1/peers` listed no addresses. Now `info` lists every
/// address the node listens on, each with `/p2p/<peer id>`, and each peer
/// comes with the addresses it listens on and those of its connections.
#[test]
fn info_shows_the_addresses_partners_dial() {
    let dir = tempfile::tempdir().unwrap();
    let a_dir = dir.path().join("a");
    let a_args =
        ["--home", a_dir.to_str().unwrap(), "init", "--api", "127.0.0.1:0", "--listen", "/ip4/0.0.0.0/tcp/0"];
    let out = crate::support::ok(&a_args);
    let a_member = out.lines().find_map(|l| l.strip_prefix("member")).unwrap().trim().to_owned();
    let a = TestHome { dir: a_dir, member: a_member };
    let b = TestHome::init(dir.path(), "b");
    let _na = a.start();
    let a_info = json(&a.ok(&["info", "--json"]));
    let a_peer = a_info["peer_id"].as_str().unwrap().to_owned();
    let loopback = a_info["p2p_listen"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .find(|addr| addr.starts_with("/ip4/127.0.0.1/"))
        .expect("a loopback address")
        .to_owned();
    let _nb = b.start_with(&["--bootstrap", &loopback]);
    let b_addr = b.p2p_addr();
    let wanted_ip = primary_ipv4().map(|ip| format!("/ip4/{ip}/tcp/"));
    let mut last = serde_json::Value::Null;
    for _ in 0..300 {
        let info = json(&a.ok(&["info", "--json"]));
        let listen: Vec<String> =
            info["p2p_listen"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect();
        assert!(listen.iter().all(|addr| addr.ends_with(&format!("/p2p/{a_peer}"))), "{listen:?}");
        let every_interface = wanted_ip.as_ref().is_none_or(|ip| listen.iter().any(|a| a.starts_with(ip)));
        let peer = info["peers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| b_addr.ends_with(p["peer_id"].as_str().unwrap()))
            .cloned();
        let peer_shown = peer.as_ref().is_some_and(|p| {
            p["listen_addresses"].as_array().unwrap().iter().any(|addr| addr == b_addr.as_str())
                && !p["addresses"].as_array().unwrap().is_empty()
                && p["trusted"] == false
        });
        if every_interface && peer_shown {
            // b dialled a from its config: a is its bootstrap peer, trusted.
            let b_info = json(&b.ok(&["info", "--json"]));
            let seen =
                b_info["peers"].as_array().unwrap().iter().find(|p| p["peer_id"] == a_peer.as_str()).cloned();
            let seen = seen.expect("b lists a");
            assert_eq!(seen["trusted"], true, "{seen}");
            assert!(
                seen["addresses"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|addr| addr.as_str().unwrap().starts_with("/ip4/127.0.0.1/tcp/")),
                "{seen}"
            );
            let human = a.ok(&["info"]);
            assert!(human.contains("listens") && human.contains(&b_addr), "{human}");
            return;
        }
        last = info;
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("a's info never showed every interface ({wanted_ip:?}) and b's addresses: {last:#}");
}
