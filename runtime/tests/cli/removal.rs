//! Two partners remove the third on a real testnet (three node processes,
//! driven through the CLI), and finality goes on without it: once by a vote
//! that executes membership `expel`, once by a buyout that sells all the
//! leaver's units. The removed partner's node authors its one removal ack
//! and the other two nodes accept it (see `docs/decisions.md`, "Removal by
//! others"); without that ack the final height would stop for good at the
//! removal. Each test then checks that new calls become final on both
//! remaining nodes, that they agree on the final state, and that the removed
//! partner is no longer a participant.

use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tempfile::TempDir;

use crate::support::{fails, json, ok, run, text};

/// How long a remaining node may take to see a call final. Generous: the
/// machine may be busy; a call is final in about a second when all is well.
pub(crate) const FINALITY_WAIT: Duration = Duration::from_secs(90);

/// A testnet of node processes in a temporary directory; `testnet down` on
/// drop, so a failing test still stops its processes.
pub(crate) struct Testnet {
    dir: TempDir,
}

impl Testnet {
    pub(crate) fn up(names: &[&str]) -> Testnet {
        let testnet = Testnet { dir: tempfile::tempdir().unwrap() };
        let count = names.len().to_string();
        ok(&["testnet", "up", "--nodes", &count, "--dir", testnet.dir(), "--names", &names.join(",")]);
        testnet
    }

    pub(crate) fn dir(&self) -> &str {
        self.dir.path().to_str().unwrap()
    }

    /// `polypact --testnet DIR --as NAME args…`, expected to succeed.
    pub(crate) fn ok(&self, name: &str, args: &[&str]) -> String {
        ok(&[&["--testnet", self.dir(), "--as", name][..], args].concat())
    }

    /// `polypact --testnet DIR --as NAME args…`, expected to fail; its stderr.
    pub(crate) fn fails(&self, name: &str, args: &[&str]) -> String {
        fails(&[&["--testnet", self.dir(), "--as", name][..], args].concat())
    }

    /// Runs `polypact --testnet DIR --as NAME args…`.
    pub(crate) fn run(&self, name: &str, args: &[&str]) -> Output {
        run(&[&["--testnet", self.dir(), "--as", name][..], args].concat())
    }

    /// Whether `polypact --testnet DIR --as NAME args…` succeeds.
    pub(crate) fn succeeds(&self, name: &str, args: &[&str]) -> bool {
        self.run(name, args).status.success()
    }

    /// The member id of node `name` (from testnet.json).
    pub(crate) fn member(&self, name: &str) -> String {
        let net = json(&std::fs::read_to_string(self.dir.path().join("testnet.json")).unwrap());
        let nodes = net["nodes"].as_array().unwrap();
        let node = nodes.iter().find(|n| n["name"] == name).unwrap();
        node["member"].as_str().unwrap().to_owned()
    }

    /// Creates the partnership of `examples/charters/<file>` on `creator`'s
    /// node and waits until every node in `nodes` holds it; its id.
    pub(crate) fn create(&self, creator: &str, file: &str, nodes: &[&str]) -> String {
        let charter = format!("{}/../examples/charters/{file}", env!("CARGO_MANIFEST_DIR"));
        let out = self.ok(creator, &["partnership", "create", &charter]);
        let id = out.lines().next().unwrap().trim().to_owned();
        for node in nodes {
            eventually(&format!("{node}'s node holds the partnership"), || {
                self.succeeds(node, &["partnership", "show", &id]).then_some(())
            });
        }
        id
    }

    /// `call ID MODULE MSG --wait WAIT --json` as `name`; the answer.
    pub(crate) fn call(&self, name: &str, id: &str, module: &str, msg: &Value, wait: &str) -> Value {
        let timeout = FINALITY_WAIT.as_secs().to_string();
        let msg = msg.to_string();
        json(&self.ok(name, &["call", id, module, &msg, "--wait", wait, "--timeout", &timeout, "--json"]))
    }

    /// `query ID MODULE MSG [--final] --json` as `name`.
    pub(crate) fn query(&self, name: &str, id: &str, module: &str, msg: &Value, final_state: bool) -> Value {
        let msg = msg.to_string();
        let mut args = vec!["query", id, module, &msg, "--json"];
        if final_state {
            args.push("--final");
        }
        json(&self.ok(name, &args))
    }

    /// `partnership show ID --json` as `name`.
    pub(crate) fn show(&self, name: &str, id: &str) -> Value {
        json(&self.ok(name, &["partnership", "show", id, "--json"]))
    }
}

impl Drop for Testnet {
    fn drop(&mut self) {
        let _ = run(&["testnet", "down", "--dir", self.dir()]);
    }
}

/// Polls `check` every 200 ms until it answers, at most [`FINALITY_WAIT`];
/// panics naming `what` if it never does.
pub(crate) fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + FINALITY_WAIT;
    loop {
        if let Some(answer) = check() {
            return answer;
        }
        assert!(Instant::now() < deadline, "gave up after {FINALITY_WAIT:?} waiting until {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Sleeps until this machine's clock (the nodes' clock) is past `ms` since
/// the Unix epoch, at most [`FINALITY_WAIT`].
pub(crate) fn sleep_past(ms: u64) {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let left = Duration::from_millis(ms).saturating_sub(now);
    assert!(left < FINALITY_WAIT, "{ms} ms is too far ahead");
    std::thread::sleep(left + Duration::from_millis(200));
}

/// The module events of a call answer, as `module.kind`.
pub(crate) fn event_kinds(answer: &Value) -> Vec<String> {
    answer["outcome"]["events"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| format!("{}.{}", e["module"].as_str().unwrap(), e["kind"].as_str().unwrap()))
        .collect()
}

/// The part both tests share once `removed` is out: the partners still in
/// record and confirm revenue, each call final on its own node, the entry
/// counted in both nodes' final state, the two nodes agreeing on the final
/// state, and the removed partner listed nowhere as a participant.
fn finality_goes_on_without(net: &Testnet, id: &str, removed: &str, reference: &str) {
    let (studio, telco, gone) = (net.member("studio"), net.member("telco"), net.member(removed));

    // The removed partner is out of the participant registry on both nodes.
    for name in ["studio", "telco"] {
        let show = net.show(name, id);
        let participants: Vec<&str> =
            show["participants"].as_array().unwrap().iter().map(|p| p["member"].as_str().unwrap()).collect();
        assert_eq!(participants.len(), 2, "{name}'s node: {show}");
        assert!(participants.contains(&studio.as_str()) && participants.contains(&telco.as_str()), "{show}");
        assert!(!participants.contains(&gone.as_str()), "{name}'s node still lists the {removed}: {show}");
        let member = net.query(name, id, "membership", &json!({"member": {"member": gone}}), false);
        assert_eq!(member["active"], false, "{name}'s node: {member}");
    }

    // New calls of the remaining partners become final, each on its own node.
    let recorded = net.call(
        "studio",
        id,
        "treasury",
        &json!({"record_revenue": {"asset": "EUR", "amount": 250000, "reference": reference, "counterparty": "Clients"}}),
        "final",
    );
    assert_eq!(recorded["final"], true, "{recorded}");
    let entry = recorded["outcome"]["data"]["id"].as_u64().unwrap();
    let confirmed = net.call("telco", id, "treasury", &json!({"confirm_entry": {"id": entry}}), "final");
    assert_eq!(confirmed["final"], true, "{confirmed}");
    assert!(event_kinds(&confirmed).contains(&"treasury.entry_confirmed".to_owned()), "{confirmed}");

    // Both nodes hold the confirmed entry in their final state.
    for name in ["studio", "telco"] {
        let counted = eventually(&format!("{name}'s final state counts entry {entry}"), || {
            let entry = net.query(name, id, "treasury", &json!({"entry": {"id": entry}}), true);
            (entry["status"] == "counted").then_some(entry)
        });
        let show = net.show(name, id);
        assert!(
            show["final_height"].as_u64().unwrap() >= counted["height"].as_u64().unwrap(),
            "{name}'s node: {show}"
        );
    }

    // The two nodes end with the same final state.
    eventually("studio's and telco's nodes agree on the final state", || {
        let (s, t) = (net.show("studio", id), net.show("telco", id));
        let same = s["final_height"] == t["final_height"] && s["final_root"] == t["final_root"];
        same.then_some(())
    });

    // The removed partner's node may not call any more.
    let err = net.fails(
        removed,
        &[
            "call",
            id,
            "treasury",
            r#"{"record_revenue":{"asset":"EUR","amount":100,"reference":"LATE","counterparty":"-"}}"#,
        ],
    );
    assert!(err.contains("was removed"), "{err}");
}

#[test]
fn expulsion_by_vote_keeps_finality_going() {
    let net = Testnet::up(&["studio", "telco", "bank"]);
    let id = net.create("studio", "testnet-trio.toml", &["telco", "bank"]);
    let bank = net.member("bank");

    // With all three in, a call is final once every node built on it.
    let before = net.call(
        "studio",
        &id,
        "treasury",
        &json!({"record_revenue": {"asset": "EUR", "amount": 100000, "reference": "BEFORE", "counterparty": "Clients"}}),
        "final",
    );
    assert_eq!(before["final"], true, "{before}");

    // Studio proposes expelling the bank; studio and telco (80 of 100
    // voting units) vote yes; the bank does not vote.
    let proposed = net.call(
        "studio",
        &id,
        "voting",
        &json!({"propose": {
            "title": "Expel the bank",
            "description": "The bank stopped financing season 2.",
            "kind": "expel_member",
            "period_ms": 3000,
            "messages": [{"call": {"module": "membership", "msg": {"expel": {"member": bank}}}}],
        }}),
        "applied",
    );
    let proposal = proposed["outcome"]["data"]["id"].as_u64().unwrap();
    for voter in ["studio", "telco"] {
        net.call(voter, &id, "voting", &json!({"vote": {"proposal": proposal, "choice": "yes"}}), "applied");
    }

    // The period and the grace pass (by the nodes' clock, this machine's);
    // then telco executes the expulsion.
    let open = net.query("telco", &id, "voting", &json!({"proposal": {"id": proposal}}), false);
    assert_eq!(open["tally"]["yes"], 80, "{open}");
    sleep_past(open["executable_from_ms"].as_u64().unwrap());
    let execute = json!({"execute": {"proposal": proposal}}).to_string();
    // (Retried only while telco's node sees the grace period still running.)
    let executed = eventually("telco's node executes the expulsion", || {
        let out = net.run("telco", &["call", &id, "voting", &execute, "--wait", "applied", "--json"]);
        let stderr = text(&out.stderr);
        assert!(out.status.success() || stderr.contains("cannot be executed now"), "{stderr}");
        out.status.success().then(|| json(&text(&out.stdout)))
    });
    let kinds = event_kinds(&executed);
    assert!(kinds.contains(&"membership.member_expelled".to_owned()), "{executed}");

    finality_goes_on_without(&net, &id, "bank", "AFTER-EXPULSION");
}

#[test]
fn buyout_of_last_unit_keeps_finality_going() {
    let net = Testnet::up(&["studio", "telco", "bank"]);
    let id = net.create("studio", "testnet-trio.toml", &["telco", "bank"]);
    let bank = net.member("bank");

    // The bank leaves: its 20 economic units go on offer; in the first-refusal
    // window studio and telco may each buy 10 (pro rata of their 40 and 40).
    // Final, so the other nodes hold the offer before they accept it.
    let left = net.call("bank", &id, "exit", &json!({"leave": {}}), "final");
    assert!(event_kinds(&left).contains(&"exit.offer_opened".to_owned()), "{left}");
    let first = net.call(
        "studio",
        &id,
        "exit",
        &json!({"accept_offer": {"seller": bank, "economic_units": 10}}),
        "final",
    );
    assert!(event_kinds(&first).contains(&"exit.units_bought".to_owned()), "{first}");
    // Telco buys the last 10: the offer is sold out and closes, and the exit
    // module removes the bank in telco's op.
    let last = net.call(
        "telco",
        &id,
        "exit",
        &json!({"accept_offer": {"seller": bank, "economic_units": 10}}),
        "applied",
    );
    let kinds = event_kinds(&last);
    for kind in ["exit.offer_closed", "exit.member_left", "membership.member_removed"] {
        assert!(kinds.contains(&kind.to_owned()), "{kind} in {last}");
    }
    let studio =
        net.query("studio", &id, "membership", &json!({"member": {"member": net.member("studio")}}), false);
    assert_eq!(studio["economic_units"], 50, "{studio}");

    finality_goes_on_without(&net, &id, "bank", "AFTER-BUYOUT");
}
