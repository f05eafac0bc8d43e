//! The node service without a network: create a partnership, call and
//! query the real WASM guestbook through a `NodeHandle`, wait for outcomes,
//! refuse bad requests without changing anything, and come back after a
//! restart with everything it accepted.

use std::time::Duration;

use polypact::node::{self, NodeConfig, NodeError, OpEventKind, WaitFor};
use polypact::op::{Charter, CodeHash, MemberKey, ModuleSpec, Params, PartnershipId};
use polypact::testing::module_wasm;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(30);

fn charter(participants: Vec<polypact::op::MemberId>, code: CodeHash) -> Charter {
    let mut participants = participants;
    participants.sort();
    Charter {
        name: "node test".into(),
        participants,
        modules: vec![ModuleSpec {
            name: "guestbook".into(),
            code,
            config: "{}".into(),
            permissions: vec![],
        }],
        params: Params::default(),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

#[test]
fn a_node_runs_calls_through_wasm_and_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = MemberKey::from_seed(7);
    let wasm = module_wasm("guestbook").unwrap_or_else(|e| panic!("{e}"));
    let rt = runtime();
    let (partnership, signed_op, root) = rt.block_on(async {
        let running = node::start(NodeConfig::new(dir.path()), MemberKey::from_seed(7)).expect("start");
        let node = running.handle.clone();
        let code = node.add_code(wasm.clone()).await.expect("code");
        let p = node.create_partnership(charter(vec![key.member_id()], code)).await.expect("create");
        let mut events = node.subscribe();

        let receipt = node
            .call(
                p,
                "guestbook",
                json!({"sign": {"message": "hello"}}).to_string().into_bytes(),
                WaitFor::Final,
                WAIT,
            )
            .await
            .expect("call");
        assert!(receipt.is_final, "a sole participant's op is final at once");
        let outcome = receipt.outcome.expect("applied");
        assert_eq!(polypact::node::outcome_json(&outcome)["data"], json!({"id": 1}));
        // Subscribers saw it applied and final.
        let mut kinds = Vec::new();
        while let Ok(event) = events.try_recv() {
            if event.op == receipt.op {
                kinds.push(event.kind);
            }
        }
        assert!(kinds.contains(&OpEventKind::Applied) && kinds.contains(&OpEventKind::Final), "{kinds:?}");

        // A call the module rejects: applied as failed, with the module's error.
        let rejected = node
            .call(
                p,
                "guestbook",
                json!({"sign": {"message": " "}}).to_string().into_bytes(),
                WaitFor::Applied,
                WAIT,
            )
            .await
            .expect("accepted");
        let error = polypact::node::outcome_json(&rejected.outcome.expect("applied"));
        assert_eq!(error["status"], "failed");
        assert!(error["error"].as_str().expect("text").contains("empty"), "{error}");

        let before = node.partnership(p).await.expect("show");
        // Bad requests: clear errors, nothing changes.
        let unknown_module =
            node.call(p, "nope", b"{}".to_vec(), WaitFor::Applied, WAIT).await.expect_err("refused");
        assert!(matches!(unknown_module, NodeError::UnknownModule { .. }), "{unknown_module}");
        assert!(unknown_module.to_string().contains("guestbook"), "names the known modules");
        let unknown_p = node
            .query(PartnershipId::default(), "guestbook", b"{}".to_vec(), true)
            .await
            .expect_err("refused");
        assert!(matches!(unknown_p, NodeError::UnknownPartnership(_)), "{unknown_p}");
        let bad_query = node.query(p, "guestbook", b"{not json".to_vec(), false).await.expect_err("refused");
        assert!(matches!(bad_query, NodeError::Query(_)), "{bad_query}");
        let outsider =
            node.create_partnership(charter(vec![MemberKey::from_seed(8).member_id()], code)).await;
        assert!(matches!(outsider, Err(NodeError::NotAParticipant(_))), "{outsider:?}");
        let missing = node.create_partnership(charter(vec![key.member_id()], CodeHash::of(b"absent"))).await;
        assert!(matches!(missing, Err(NodeError::MissingCode(_))), "{missing:?}");
        let garbage_code = node.add_code(b"not wasm".to_vec()).await;
        assert!(matches!(garbage_code, Err(NodeError::Code(_))), "{garbage_code:?}");
        let after = node.partnership(p).await.expect("show");
        assert_eq!(before.optimistic_root, after.optimistic_root);
        assert_eq!(before.op_count, after.op_count);
        assert_eq!(node.partnerships().await.expect("list").len(), 1);

        let count = node.query(p, "guestbook", json!({"count": {}}).to_string().into_bytes(), true).await;
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&count.expect("query")).expect("json"),
            json!({"count": 1})
        );
        node.shutdown().await.expect("shutdown");
        running.task.await.expect("join").expect("clean stop");
        (p, receipt.op, after.final_root)
    });

    // Restart over the same directory: the partnership, its ops and its
    // final state are back; module code comes from the store.
    rt.block_on(async {
        let running = node::start(NodeConfig::new(dir.path()), MemberKey::from_seed(7)).expect("restart");
        let node = running.handle.clone();
        let info = node.partnership(partnership).await.expect("restored");
        assert_eq!(info.final_root, root);
        let (outcome, is_final) = node.op_status(partnership, signed_op).await.expect("status");
        assert!(is_final);
        assert!(outcome.is_some() || info.final_height > 0);
        let again = node
            .call(
                partnership,
                "guestbook",
                json!({"sign": {"message": "back"}}).to_string().into_bytes(),
                WaitFor::Final,
                WAIT,
            )
            .await
            .expect("call after restart");
        assert_eq!(polypact::node::outcome_json(&again.outcome.expect("applied"))["data"], json!({"id": 2}));
        node.shutdown().await.expect("shutdown");
    });
}
