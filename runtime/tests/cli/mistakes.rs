//! A newcomer's mistakes, each caught before it costs anything: the right
//! error, a non-zero exit, and nothing created or changed.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use polypact::op::MemberKey;

use crate::support::{TestHome, exe, fails, json, ok, run, solo_charter, text};

/// `examples/charters/testnet-jv.toml`, with its `wasm` paths made absolute
/// and `edit` applied, written into `dir`.
fn jv_charter(dir: &Path, edit: impl Fn(String) -> String) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let original = std::fs::read_to_string(root.join("examples/charters/testnet-jv.toml")).unwrap();
    let release = polypact::testing::module_wasm_path("membership").parent().unwrap().to_path_buf();
    let text = original.replace("../../target/wasm32-unknown-unknown/release", release.to_str().unwrap());
    let path = dir.join("jv.toml");
    std::fs::write(&path, edit(text)).unwrap();
    path
}

/// The line (from 1) of the first line of `path` that contains `needle`.
fn line_of(path: &Path, needle: &str) -> usize {
    std::fs::read_to_string(path).unwrap().lines().position(|l| l.contains(needle)).unwrap() + 1
}

fn partnerships(home: &TestHome) -> usize {
    json(&home.ok(&["partnership", "list", "--json"]))["partnerships"].as_array().unwrap().len()
}

fn count(home: &TestHome, id: &str) -> u64 {
    json(&home.ok(&["query", id, "guestbook", r#"{"count":{}}"#, "--json"]))["count"].as_u64().unwrap()
}

/// A node with the one-partner guestbook partnership; returns its id.
fn solo(home: &TestHome, dir: &Path) -> String {
    let charter = solo_charter(dir);
    let me = format!("me={}", home.member);
    home.ok(&["partnership", "create", charter.to_str().unwrap(), "--set", &me]).trim().to_owned()
}

#[test]
fn a_charter_naming_a_module_it_lacks_is_refused_before_anything_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let home = TestHome::init(dir.path(), "h");
    let _node = home.start();
    let charter =
        jv_charter(dir.path(), |t| t.replacen("governance = \"voting\"", "governance = \"votng\"", 1));
    let line = line_of(&charter, "governance = \"votng\"");
    let telco = MemberKey::from_seed(9).member_id().to_string();
    let (studio, telco) = (format!("studio={}", home.member), format!("telco={telco}"));
    let c = charter.to_str().unwrap();

    let err = home.fails(&["partnership", "create", c, "--set", &studio, "--set", &telco]);
    assert!(
        err.contains(&format!("line {line}"))
            && err.contains("`membership` names module `votng` in `governance`")
            && err.contains("did you mean `voting`?"),
        "{err}"
    );
    assert_eq!(partnerships(&home), 0, "nothing was created");

    // `charter check` runs the same check alone and lists every problem at once.
    let err = fails(&["charter", "check", c, "--set", &studio, "--set", &telco]);
    assert!(err.contains("votng") && err.contains(&format!("line {line}")), "{err}");
    let two = jv_charter(dir.path(), |t| {
        t.replacen("governance = \"voting\"", "governance = \"votng\"", 1)
            .replace("treasury = \"treasury\"", "treasury = \"tresury\"")
            .replace("managers = [\"exit\"]", "managers = [\"exit\", \"vesting\"]")
    });
    let err = fails(&["charter", "check", two.to_str().unwrap()]);
    for needle in [
        "5 problems",
        "`${studio}`",
        "`${telco}`",
        "votng",
        "did you mean `treasury`?",
        "`membership` names module `vesting` in `managers`",
    ] {
        assert!(err.contains(needle), "{needle:?} missing: {err}");
    }
    // The shipped charter passes, and so does this copy with the names fixed.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let shipped = root.join("examples/charters/testnet-jv.toml");
    let out = ok(&["charter", "check", shipped.to_str().unwrap(), "--set", &studio, "--set", &telco]);
    assert!(out.contains("ok") && out.contains("membership, voting, treasury, exit"), "{out}");
    // A --set the charter does not use is a problem too.
    let err = fails(&["charter", "check", shipped.to_str().unwrap(), "--set", &studio, "--set", "telko=x"]);
    assert!(err.contains("--set telko") && err.contains("did you mean `telco`?"), "{err}");
}

#[test]
fn the_node_refuses_a_charter_naming_a_module_it_lacks_whatever_the_client() {
    // Module code given by hash: only the node has it, so only it can read
    // the module's references.
    let dir = tempfile::tempdir().unwrap();
    let home = TestHome::init(dir.path(), "h");
    let _node = home.start();
    let wasm = polypact::testing::module_wasm_path("membership");
    let hash = ok(&["module", "hash", wasm.to_str().unwrap()]);
    let hash = hash.split_whitespace().next().unwrap();
    let guestbook = crate::support::guestbook_wasm_path();
    // Upload the membership code (`join` uploads before it reads the genesis).
    let err = home.fails(&["partnership", "join", "not-hex", "--wasm", wasm.to_str().unwrap()]);
    assert!(err.contains("not hex"), "{err}");
    let before = partnerships(&home);
    let charter = dir.path().join("c.toml");
    let me = format!("me={}", home.member);
    std::fs::write(
        &charter,
        format!(
            "name = \"y\"\nparticipants = [\"${{me}}\"]\n[[modules]]\nname = \"membership\"\ncode = \"{hash}\"\n[modules.config]\ngovernance = \"votng\"\nmembers = []\n[[modules]]\nname = \"voting\"\nwasm = \"{}\"\n",
            guestbook.display()
        ),
    )
    .unwrap();
    let err = home.fails(&["partnership", "create", charter.to_str().unwrap(), "--set", &me]);
    assert!(
        err.contains("votng") && err.contains("did you mean `voting`?") && err.contains("line 7"),
        "{err}"
    );
    assert_eq!(partnerships(&home), before, "nothing was created");
}

#[test]
fn a_short_id_prefix_is_refused_and_names_the_candidates() {
    let dir = tempfile::tempdir().unwrap();
    let home = TestHome::init(dir.path(), "h");
    let _node = home.start();
    let id = solo(&home, dir.path());
    let sign = r#"{"sign":{"message":"to whom?"}}"#;
    let err = home.fails(&["call", &id[..1], "guestbook", sign]);
    assert!(
        err.contains("too short") && err.contains("at least 8 hex digits") && err.contains(&id),
        "the candidate is listed: {err}"
    );
    let err = home.fails(&["call", &id[..7], "guestbook", sign]);
    assert!(err.contains("too short"), "{err}");
    let err = home.fails(&["call", "ffffffff", "guestbook", sign]);
    assert!(err.contains("unknown partnership ffffffff"), "{err}");
    let err = home.fails(&["call", "not-an-id", "guestbook", sign]);
    assert!(err.contains("neither a partnership id") && err.contains("partnership alias"), "{err}");
    assert_eq!(count(&home, &id), 0, "no call was made");
    // Eight digits are enough when they are unique.
    assert!(home.ok(&["partnership", "show", &id[..8]]).contains(&id));
}

#[test]
fn a_partnership_can_be_addressed_by_a_local_alias() {
    let dir = tempfile::tempdir().unwrap();
    let home = TestHome::init(dir.path(), "h");
    let _node = home.start();
    let id = solo(&home, dir.path());
    home.ok(&["partnership", "alias", &id[..8], "guest"]);
    assert!(home.ok(&["partnership", "list"]).contains("alias guest"));
    home.ok(&["call", "guest", "guestbook", r#"{"sign":{"message":"by alias"}}"#]);
    assert_eq!(count(&home, "guest"), 1);
    let err = home.fails(&["call", "gest", "guestbook", r#"{"sign":{"message":"typo"}}"#]);
    assert!(err.contains("did you mean `guest`?"), "{err}");
    let err = home.fails(&["partnership", "alias", &id, "cafe"]);
    assert!(err.contains("all hex digits"), "{err}");
    let err = home.fails(&["partnership", "alias", &"ab".repeat(32), "other"]);
    assert!(err.contains("unknown partnership"), "{err}");
    // An alias given at creation; taken aliases are refused before anything is created.
    let charter = solo_charter(dir.path());
    let me = format!("me={}", home.member);
    let c = charter.to_str().unwrap();
    let err =
        home.fails(&["partnership", "create", c, "--set", &me, "--allow-duplicate-name", "--alias", "guest"]);
    assert!(err.contains("alias `guest` already names"), "{err}");
    assert_eq!(partnerships(&home), 1);
    let second =
        home.ok(&["partnership", "create", c, "--set", &me, "--allow-duplicate-name", "--alias", "second"]);
    assert_eq!(json(&home.ok(&["partnership", "show", "second", "--json"]))["id"], second.trim());
    home.ok(&["partnership", "unalias", "guest"]);
    let err = home.fails(&["call", "guest", "guestbook", r#"{"sign":{"message":"gone"}}"#]);
    assert!(err.contains("neither a partnership id"), "{err}");
    assert_eq!(count(&home, &id), 1);
}

#[test]
fn creating_a_charter_whose_name_the_node_uses_asks_for_allow_duplicate_name() {
    let dir = tempfile::tempdir().unwrap();
    let home = TestHome::init(dir.path(), "h");
    let _node = home.start();
    let id = solo(&home, dir.path());
    let charter = solo_charter(dir.path());
    let me = format!("me={}", home.member);
    let err = home.fails(&["partnership", "create", charter.to_str().unwrap(), "--set", &me]);
    assert!(
        err.contains("already has a partnership named \"Solo venture\"")
            && err.contains(&id)
            && err.contains("--allow-duplicate-name"),
        "{err}"
    );
    assert_eq!(partnerships(&home), 1, "nothing was created");
    home.ok(&["partnership", "create", charter.to_str().unwrap(), "--set", &me, "--allow-duplicate-name"]);
    assert_eq!(partnerships(&home), 2);
}

#[test]
fn node_takes_host_and_port_without_a_scheme() {
    let dir = tempfile::tempdir().unwrap();
    let home = TestHome::init(dir.path(), "h");
    let _node = home.start();
    // The node records its API URL just after it says it runs.
    for _ in 0..100 {
        if home.dir.join("api.url").exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let url = home.api_url();
    let host_port = url.strip_prefix("http://").unwrap();
    let info = json(&ok(&["--node", host_port, "--token", &home.token(), "info", "--json"]));
    assert_eq!(info["member"], home.member.as_str());
    let err = fails(&["--node", "127.0.0.1:9", "--token", "x", "info"]);
    assert!(err.contains("not running") && !err.contains("builder error"), "{err}");
    let err = fails(&["--node", "ftp://127.0.0.1:9", "--token", "x", "info"]);
    assert!(err.contains("not ftp") && err.contains("HOST:PORT"), "{err}");
}

#[test]
fn as_without_testnet_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let home = TestHome::init(dir.path(), "h");
    let _node = home.start();
    let id = solo(&home, dir.path());
    let err = home.fails(&["--as", "node2", "call", &id, "guestbook", r#"{"sign":{"message":"as whom?"}}"#]);
    assert!(err.contains("--as node2") && err.contains("--testnet DIR"), "{err}");
    assert_eq!(count(&home, &id), 0, "no call was made");
}

#[test]
fn a_placeholder_without_a_value_lists_what_could_fill_it() {
    let dir = tempfile::tempdir().unwrap();
    let home = TestHome::init(dir.path(), "h");
    let charter = solo_charter(dir.path());
    let c = charter.to_str().unwrap();
    // No node is needed: the charter is checked first.
    let err = home.fails(&["partnership", "create", c]);
    assert!(err.contains("line 2") && err.contains("`${me}`") && err.contains("values given: none"), "{err}");
    let err = home.fails(&["partnership", "create", c, "--set", "mee=pm1x"]);
    assert!(err.contains("did you mean `me`?") && err.contains("values given: mee"), "{err}");

    // A testnet whose nodes are not named after the charter's partners.
    let d = dir.path().join("net");
    let d = d.to_str().unwrap();
    ok(&["testnet", "up", "--nodes", "2", "--dir", d]);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let jv = root.join("examples/charters/testnet-jv.toml");
    let out = run(&["--testnet", d, "partnership", "create", jv.to_str().unwrap()]);
    let net = json(&std::fs::read_to_string(Path::new(d).join("testnet.json")).unwrap());
    let listed = ["node1", "node2"].map(|n| {
        json(&ok(&["--testnet", d, "--as", n, "partnership", "list", "--json"]))["partnerships"]
            .as_array()
            .unwrap()
            .len()
    });
    ok(&["testnet", "down", "--dir", d]);
    let err = text(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(listed, [0, 0], "nothing was created");
    let node1 = net["nodes"][0]["member"].as_str().unwrap();
    for needle in ["`${studio}`", "`${telco}`", "--testnet fills", "node2 (pm1", "--names", node1] {
        assert!(err.contains(needle), "{needle:?} missing: {err}");
    }
}

#[test]
fn events_count_zero_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let home = TestHome::init(dir.path(), "h");
    let out = home.run(&["events", &"ab".repeat(32), "--count", "0"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "a usage error: {err}");
    assert!(err.contains("--count") && err.contains("at least 1") && !err.contains("following"), "{err}");
}

/// Runs `polypact args…` with stdout a pipe whose reader is already gone.
fn with_closed_stdout(args: &[&str]) -> std::process::Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    Command::new(exe())
        .args(args)
        .env_remove("POLYPACT_TOKEN")
        .env_remove("POLYPACT_NODE")
        .env("RUST_BACKTRACE", "1")
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

#[test]
fn a_closed_pipe_ends_the_cli_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let home = TestHome::init(dir.path(), "h");
    let _node = home.start();
    let id = solo(&home, dir.path());
    let h = home.home();
    for args in [
        vec!["--home", &h, "call", &id, "guestbook", r#"{"sign":{"message":"piped"}}"#, "--json"],
        vec!["--home", &h, "partnership", "list"],
        vec!["completions", "bash"],
        vec!["--help"],
    ] {
        let out = with_closed_stdout(&args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(141), "{args:?}: {err}");
        assert!(!err.contains("panicked") && !err.contains("Broken pipe"), "{args:?}: {err}");
    }
    // As in a shell pipeline.
    let script = format!("{} --home {h} call {id} guestbook '{{\"count\":{{}}}}' --json | head -c 0", exe());
    let out = Command::new("bash").args(["-c", &script]).output().unwrap();
    assert!(!text(&out.stderr).contains("panicked"), "{}", text(&out.stderr));
}

#[test]
fn completions_and_man_pages_come_from_the_command_definitions() {
    for (shell, needle) in
        [("bash", "_polypact"), ("zsh", "#compdef polypact"), ("fish", "complete -c polypact")]
    {
        let out = ok(&["completions", shell]);
        assert!(out.contains(needle) && out.contains("partnership"), "{shell}: {out}");
    }
    let err = fails(&["completions", "tcsh"]);
    assert!(err.contains("bash") && err.contains("zsh"), "{err}");
    let page = ok(&["man"]);
    assert!(page.contains(".TH polypact") && page.contains("partnership"), "{page}");
    let dir = tempfile::tempdir().unwrap();
    ok(&["man", "--dir", dir.path().to_str().unwrap()]);
    for page in ["polypact.1", "polypact-partnership-create.1", "polypact-charter-check.1"] {
        let text = std::fs::read_to_string(dir.path().join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.contains(".TH"), "{page}");
    }
}
