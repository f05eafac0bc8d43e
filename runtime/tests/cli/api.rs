//! The HTTP API in process, over real HTTP: the happy path, bad input that
//! changes nothing, the token, server-sent events, metrics.

use polypact::api::{self, ApiConfig};
use polypact::node::{NodeBuilder, NodeConfig};
use polypact::op::MemberKey;
use serde_json::{Value, json};

use crate::support::guestbook_wasm_path;

pub const TOKEN: &str = "test-token";

/// The node's `/metrics` text at `url`.
pub async fn metrics(http: &reqwest::Client, url: &str) -> String {
    http.get(format!("{url}/metrics")).bearer_auth(TOKEN).send().await.unwrap().text().await.unwrap()
}

/// A node and its API on a free port.
pub struct Api {
    pub url: String,
    pub http: reqwest::Client,
    pub member: String,
    /// The node behind the API.
    pub node: polypact::node::NodeHandle,
    task: Option<tokio::task::JoinHandle<Result<(), polypact::node::NodeError>>>,
    _dir: Option<tempfile::TempDir>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Api {
    pub async fn start() -> Api {
        Api::start_as(7, false).await
    }

    /// A node of member `seed`; with `signer`, the API signs geneses.
    pub async fn start_as(seed: u8, signer: bool) -> Api {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let geneses = signer.then(|| dir.path().join("geneses"));
        let mut api = Api::start_in(&data, seed, geneses).await;
        api._dir = Some(dir);
        api
    }

    /// A node of member `seed` over the data directory `data`; with
    /// `geneses`, the API signs geneses and keeps them there.
    pub async fn start_in(data: &std::path::Path, seed: u8, geneses: Option<std::path::PathBuf>) -> Api {
        let key = MemberKey::from_seed(seed);
        let member = key.member_id().to_string();
        let node = NodeBuilder::new(NodeConfig::new(data), key).start().unwrap();
        let mut config = ApiConfig::new(TOKEN);
        if let Some(geneses) = geneses {
            config.genesis_signer = Some(std::sync::Arc::new(MemberKey::from_seed(seed)));
            config.genesis_dir = Some(geneses);
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(api::serve(listener, node.handle.clone(), config, async move {
            let _ = stopped.await;
        }));
        Api {
            url,
            http: reqwest::Client::new(),
            member,
            node: node.handle,
            task: Some(node.task),
            _dir: None,
            _stop: stop,
        }
    }

    /// Stops the node cleanly and waits until its task ended (its store
    /// closed).
    pub async fn stop(mut self) {
        self.node.shutdown().await.unwrap();
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self.http.get(format!("{}{path}", self.url)).bearer_auth(TOKEN).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.post_raw(path, body.to_string().into_bytes()).await
    }

    pub async fn post_raw(&self, path: &str, body: Vec<u8>) -> (u16, Value) {
        let r =
            self.http.post(format!("{}{path}", self.url)).bearer_auth(TOKEN).body(body).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Creates the one-partner guestbook partnership, code inline.
    pub async fn solo(&self) -> String {
        let wasm =
            std::fs::read(guestbook_wasm_path()).expect("build the modules: ./scripts/build-modules.sh");
        let (status, body) = self
            .post(
                "/v1/partnerships",
                &json!({
                    "charter": "name = \"Solo\"\nparticipants = [\"${me}\"]\n[[modules]]\nname = \"guestbook\"\nwasm = \"guestbook.wasm\"\n",
                    "values": {"me": self.member},
                    "wasm": {"guestbook": hex::encode(wasm)},
                }),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    pub async fn count(&self, id: &str) -> u64 {
        let (status, body) = self
            .post(
                &format!("/v1/partnerships/{id}/query"),
                &json!({"module": "guestbook", "msg": {"count": {}}}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["data"]["count"].as_u64().unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_call_query_show_list() {
    let api = Api::start().await;
    let id = api.solo().await;
    let (status, list) = api.get("/v1/partnerships").await;
    assert_eq!(status, 200);
    assert_eq!(list["partnerships"][0]["id"], json!(id));

    let (status, body) = api
        .post(
            &format!("/v1/partnerships/{id}/calls"),
            &json!({"module": "guestbook", "msg": {"sign": {"message": "hello"}}, "wait": "final"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["final"], json!(true));
    assert_eq!(body["outcome"]["data"], json!({"id": 1}));
    assert_eq!(body["outcome"]["events"][0]["kind"], json!("signed"));

    let (status, body) = api
        .post(
            &format!("/v1/partnerships/{id}/calls"),
            &json!({"module": "guestbook", "msg": {"sign": {"message": "two"}}}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let op = body["op"].as_str().unwrap().to_owned();
    // Its status can be asked for; it is applied and final soon (one partner).
    let status_path = format!("/v1/partnerships/{id}/ops/{op}");
    let mut seen = api.get(&status_path).await.1;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while seen["final"] != json!(true) {
        assert!(std::time::Instant::now() < deadline, "op {op} not final after 60 s: {seen}");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        seen = api.get(&status_path).await.1;
    }
    assert_eq!(seen["applied"], json!(true));
    assert_eq!(seen["outcome"]["data"], json!({"id": 2}));
    let (status, unknown) = api.get(&format!("/v1/partnerships/{id}/ops/{}", "cd".repeat(32))).await;
    assert_eq!(
        (status, unknown["applied"].clone(), unknown["final"].clone()),
        (200, json!(false), json!(false))
    );
    let (status, bad) = api.get(&format!("/v1/partnerships/{id}/ops/xyz")).await;
    assert_eq!((status, bad["code"].clone()), (400, json!("bad_op_id")));

    let (status, show) = api.get(&format!("/v1/partnerships/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(show["participants"][0]["member"], json!(api.member));
    assert_eq!(show["modules"][0]["name"], json!("guestbook"));
    assert_eq!(show["final_root"].as_str().unwrap().len(), 64);
    assert!(show["optimistic_height"].as_u64().unwrap() >= 2);

    let (status, final_count) = api
        .post(
            &format!("/v1/partnerships/{id}/query"),
            &json!({"module": "guestbook", "msg": {"count": {}}, "final": true}),
        )
        .await;
    assert_eq!(status, 200);
    assert!(final_count["data"]["count"].as_u64().unwrap() >= 1);

    let (status, node) = api.get("/v1/node").await;
    assert_eq!(status, 200);
    assert_eq!(node["member"], json!(api.member));
    assert_eq!(node["partnerships"], json!(1));

    // Checkpoints: none taken yet (every 100,000 heights by default), this
    // node keeps history; a bad or unknown id is refused clearly.
    let (status, checkpoints) = api.get(&format!("/v1/partnerships/{id}/checkpoints")).await;
    assert_eq!(status, 200, "{checkpoints}");
    assert_eq!(
        checkpoints,
        json!({"checkpoint_every": 100_000, "checkpoints": [], "compact_history": false, "compacted": null})
    );
    let (status, bad) = api.get("/v1/partnerships/xyz/checkpoints").await;
    assert_eq!((status, bad["code"].clone()), (400, json!("bad_partnership_id")));
    let (status, unknown) = api.get(&format!("/v1/partnerships/{}/checkpoints", "ab".repeat(32))).await;
    assert_eq!((status, unknown["code"].clone()), (404, json!("unknown_partnership")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_the_module_rejects_is_an_error_with_its_message_and_changes_nothing() {
    let api = Api::start().await;
    let id = api.solo().await;
    let (status, body) = api
        .post(
            &format!("/v1/partnerships/{id}/calls"),
            &json!({"module": "guestbook", "msg": {"sign": {"message": "  "}}, "wait": "applied"}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["code"], json!("call_failed"));
    assert!(body["module_error"].as_str().unwrap().contains("empty"), "{body}");
    assert_eq!(body["op"].as_str().unwrap().len(), 64);
    assert_eq!(api.count(&id).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_error_and_changes_nothing() {
    let api = Api::start().await;
    let id = api.solo().await;
    let (_, before) = api.get(&format!("/v1/partnerships/{id}")).await;
    let calls = format!("/v1/partnerships/{id}/calls");

    // Invalid JSON: says where.
    let (status, body) =
        api.post_raw(&calls, b"{\"module\": \"guestbook\",\n \"msg\": {oops}}".to_vec()).await;
    assert_eq!((status, body["code"].clone()), (400, json!("invalid_json")), "{body}");
    assert!(body["error"].as_str().unwrap().contains("line 2, column"), "{body}");
    // A field that does not belong.
    let (status, body) = api.post(&calls, &json!({"module": "guestbook", "msg": {}, "colour": 1})).await;
    assert_eq!((status, body["code"].clone()), (400, json!("invalid_json")), "{body}");
    assert!(body["error"].as_str().unwrap().contains("colour"), "{body}");
    // Unknown partnership, malformed id, unknown module.
    let unknown = "ab".repeat(32);
    let (status, body) = api.get(&format!("/v1/partnerships/{unknown}")).await;
    assert_eq!((status, body["code"].clone()), (404, json!("unknown_partnership")), "{body}");
    let (status, body) = api
        .post(&format!("/v1/partnerships/{unknown}/calls"), &json!({"module": "guestbook", "msg": {}}))
        .await;
    assert_eq!((status, body["code"].clone()), (404, json!("unknown_partnership")), "{body}");
    let (status, body) = api.get("/v1/partnerships/xyz").await;
    assert_eq!((status, body["code"].clone()), (400, json!("bad_partnership_id")), "{body}");
    let (status, body) = api.post(&calls, &json!({"module": "ghost", "msg": {}})).await;
    assert_eq!((status, body["code"].clone()), (404, json!("unknown_module")), "{body}");
    assert!(body["error"].as_str().unwrap().contains("guestbook"), "{body}");
    let (status, body) =
        api.post(&format!("/v1/partnerships/{id}/query"), &json!({"module": "ghost", "msg": {}})).await;
    assert_eq!((status, body["code"].clone()), (404, json!("unknown_module")), "{body}");
    // A wait that does not exist.
    let (status, body) =
        api.post(&calls, &json!({"module": "guestbook", "msg": {}, "wait": "forever"})).await;
    assert_eq!(status, 400, "{body}");
    // A query the module refuses.
    let (status, body) = api
        .post(&format!("/v1/partnerships/{id}/query"), &json!({"module": "guestbook", "msg": {"nope": {}}}))
        .await;
    assert_eq!((status, body["code"].clone()), (422, json!("query_failed")), "{body}");

    // Charters: a missing placeholder (names the line), bad TOML, module code
    // the node does not have, code for a module the charter does not list,
    // a charter the member is not part of.
    let charters = [
        (json!({"charter": "name = \"x\"\nparticipants = [\"${who}\"]\n"}), 422, "bad_charter", "line 2"),
        (json!({"charter": "name = \"x\"\nparticipants = [\n", "values": {}}), 422, "bad_charter", "line"),
        (
            json!({"charter": format!("name = \"x\"\nparticipants = [\"{}\"]\n[[modules]]\nname = \"m\"\ncode = \"{}\"\n", api.member, "00".repeat(32))}),
            422,
            "missing_code",
            "upload",
        ),
        (
            json!({"charter": format!("name = \"x\"\nparticipants = [\"{}\"]\n", api.member), "code": {"ghost": "00".repeat(32)}}),
            422,
            "bad_charter",
            "ghost",
        ),
        (
            json!({"charter": format!("name = \"x\"\nparticipants = [\"{}\"]\n[[modules]]\nname = \"m\"\nwasm = \"m.wasm\"\n", api.member)}),
            422,
            "bad_charter",
            "cannot read",
        ),
        (
            json!({"charter": format!("name = \"x\"\nparticipants = [\"{}\"]\n", MemberKey::from_seed(9).member_id())}),
            403,
            "not_a_participant",
            "not a participant",
        ),
    ];
    for (request, status, code, needle) in charters {
        let (got, body) = api.post("/v1/partnerships", &request).await;
        assert_eq!((got, body["code"].clone()), (status, json!(code)), "{request} -> {body}");
        assert!(body["error"].as_str().unwrap().contains(needle), "{needle:?} not in {body}");
    }
    // Bad code upload.
    let (status, body) = api.post_raw("/v1/code", b"not wasm".to_vec()).await;
    assert_eq!((status, body["code"].clone()), (422, json!("bad_code")), "{body}");

    let (_, list) = api.get("/v1/partnerships").await;
    assert_eq!(list["partnerships"].as_array().unwrap().len(), 1, "no partnership was added");
    let (_, after) = api.get(&format!("/v1/partnerships/{id}")).await;
    assert_eq!(before, after, "nothing changed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_but_health_needs_the_token() {
    let api = Api::start().await;
    let r = api.http.get(format!("{}/health", api.url)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    for route in api::routes() {
        let path = route.path.replace("{id}", &"ab".repeat(32)).replace("{op}", &"cd".repeat(32));
        let url = format!("{}{path}", api.url);
        for token in [None, Some("wrong"), Some("")] {
            let mut request = match route.method {
                "GET" => api.http.get(&url),
                "POST" => api.http.post(&url).body("{}"),
                "DELETE" => api.http.delete(&url),
                other => panic!("method {other}"),
            };
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let r = request.send().await.unwrap();
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            if route.auth {
                assert_eq!(status, 401, "{} {path} with {token:?}", route.method);
                assert_eq!(body["code"], json!("unauthorized"));
            } else {
                assert_eq!(status, 200, "{path}");
            }
        }
    }
    let (status, body) = api.get("/v1/nowhere").await;
    assert_eq!((status, body["code"].clone()), (404, json!("unknown_route")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_stream_ops_and_module_events() {
    use futures::StreamExt;
    let api = Api::start().await;
    let id = api.solo().await;
    let response = api
        .http
        .get(format!("{}/v1/partnerships/{id}/events?final=true", api.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let (_, call) = api
        .post(
            &format!("/v1/partnerships/{id}/calls"),
            &json!({"module": "guestbook", "msg": {"sign": {"message": "ev"}}}),
        )
        .await;
    let op = call["op"].as_str().unwrap().to_owned();
    let mut stream = response.bytes_stream();
    let mut text = String::new();
    let event = loop {
        let chunk = stream.next().await.expect("the stream stays open").unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
        if let Some(line) = text.lines().filter_map(|l| l.strip_prefix("data:")).find(|l| l.contains(&op)) {
            break serde_json::from_str::<Value>(line.trim()).unwrap();
        }
    };
    assert!(text.contains("event: final"), "{text}");
    assert!(!text.contains("event: applied"), "final=true sends final events only: {text}");
    assert_eq!(event["kind"], json!("final"));
    assert_eq!(event["module"], json!("guestbook"));
    assert_eq!(event["outcome"]["events"][0]["kind"], json!("signed"));

    let r = api
        .http
        .get(format!("{}/v1/partnerships/{}/events", api.url, "cd".repeat(32)))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let r = api
        .http
        .get(format!("{}/v1/partnerships/{id}/events?final=maybe", api.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_heights_ops_and_api_counters() {
    let api = Api::start().await;
    let id = api.solo().await;
    let (status, _) = api
        .post(
            &format!("/v1/partnerships/{id}/calls"),
            &json!({"module": "guestbook", "msg": {"sign": {"message": "m"}}, "wait": "final"}),
        )
        .await;
    assert_eq!(status, 200);
    let text = metrics(&api.http, &api.url).await;
    for needle in [
        format!("polypact_final_height{{partnership=\"{id}\"}}"),
        format!("polypact_ops_accepted{{partnership=\"{id}\"}}"),
        "polypact_peers 0".to_owned(),
        "polypact_partnerships 1".to_owned(),
        "polypact_api_calls_total{result=\"applied\"} 1".to_owned(),
        "# TYPE polypact_ops_refused_total counter".to_owned(),
    ] {
        assert!(text.contains(&needle), "{needle} missing from:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_joins_with_the_genesis_the_creator_returns() {
    let (studio, telco, outsider) =
        (Api::start_as(1, true).await, Api::start_as(2, true).await, Api::start_as(3, true).await);
    let wasm = std::fs::read(guestbook_wasm_path()).unwrap();
    let charter = "name = \"Pair\"\nparticipants = [\"${a}\", \"${b}\"]\n[[modules]]\nname = \"guestbook\"\nwasm = \"g.wasm\"\n";
    let (status, created) = studio
        .post(
            "/v1/partnerships",
            &json!({"charter": charter, "values": {"a": studio.member, "b": telco.member}, "wasm": {"guestbook": hex::encode(&wasm)}}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let genesis = created["genesis"].as_str().unwrap();

    // Without the code the joiner is told to upload it; then it joins.
    let (status, body) = telco.post("/v1/partnerships/join", &json!({"genesis": genesis})).await;
    assert_eq!((status, body["code"].clone()), (422, json!("missing_code")), "{body}");
    let (status, _) = telco.post_raw("/v1/code", wasm.clone()).await;
    assert_eq!(status, 201);
    let (status, joined) = telco.post("/v1/partnerships/join", &json!({"genesis": genesis})).await;
    assert_eq!(status, 201, "{joined}");
    assert_eq!(joined["id"], created["id"]);
    assert_eq!(joined["final_root"], created["final_root"]);
    // Both keep the genesis, for the next partner.
    for node in [&studio, &telco] {
        let (status, kept) =
            node.get(&format!("/v1/partnerships/{}/genesis", created["id"].as_str().unwrap())).await;
        assert_eq!(status, 200, "{kept}");
        assert_eq!(kept["genesis"], json!(genesis));
    }
    // A node without a genesis directory says so.
    let plain = Api::start().await;
    let solo = plain.solo().await;
    let (status, body) = plain.get(&format!("/v1/partnerships/{solo}/genesis")).await;
    assert_eq!((status, body["code"].clone()), (404, json!("unknown_genesis")), "{body}");

    // Bad geneses change nothing: not hex, not an op, an op that is no genesis.
    let ack = polypact::op::UnsignedOp {
        partnership: created["id"].as_str().unwrap().parse().unwrap(),
        author: MemberKey::from_seed(3).member_id(),
        seq: 1,
        parents: vec![],
        time_ms: 1,
        payload: polypact::op::Payload::Ack,
    }
    .sign(&MemberKey::from_seed(3));
    let (status, body) =
        outsider.post("/v1/partnerships/join", &json!({"genesis": hex::encode(ack.encode())})).await;
    assert_eq!((status, body["code"].clone()), (422, json!("bad_genesis")), "{body}");
    let (status, body) = telco.post("/v1/partnerships/join", &json!({"genesis": "zz"})).await;
    assert_eq!((status, body["code"].clone()), (400, json!("bad_genesis")), "{body}");
    let (status, body) = telco.post("/v1/partnerships/join", &json!({"genesis": "00ff"})).await;
    assert_eq!((status, body["code"].clone()), (400, json!("bad_genesis")), "{body}");
    let (_, list) = outsider.get("/v1/partnerships").await;
    assert_eq!(list["partnerships"], json!([]));
    let (_, list) = telco.get("/v1/partnerships").await;
    assert_eq!(list["partnerships"].as_array().unwrap().len(), 1);
}

/// Issue 22: a node whose member the genesis does not name as a founding
/// participant was let join (201) and then read the partners' data. Now the
/// join is refused (403), says how a member admitted later joins, and
/// changes nothing; join requests that give neither or both ways are
/// refused too, and a node without a network cannot join by id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_does_not_join_a_partnership_that_does_not_name_its_member() {
    let (studio, outsider) = (Api::start_as(1, true).await, Api::start_as(3, true).await);
    let wasm = std::fs::read(guestbook_wasm_path()).unwrap();
    let charter = "name = \"Pair\"\nparticipants = [\"${a}\", \"${b}\"]\n[[modules]]\nname = \"guestbook\"\nwasm = \"g.wasm\"\n";
    let telco = MemberKey::from_seed(2).member_id().to_string();
    let (status, created) = studio
        .post(
            "/v1/partnerships",
            &json!({"charter": charter, "values": {"a": studio.member, "b": telco}, "wasm": {"guestbook": hex::encode(&wasm)}}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let (genesis, id) = (created["genesis"].as_str().unwrap(), created["id"].as_str().unwrap());
    // The outsider has the code, so nothing but its membership stands in the way.
    let (status, _) = outsider.post_raw("/v1/code", wasm).await;
    assert_eq!(status, 201);
    let (status, body) = outsider.post("/v1/partnerships/join", &json!({"genesis": genesis})).await;
    assert_eq!((status, body["code"].clone()), (403, json!("not_a_participant")), "{body}");
    let message = body["error"].as_str().unwrap();
    assert!(message.contains("not a founding participant") && message.contains("by id"), "{message}");
    assert!(message.contains(&outsider.member) && message.contains(id), "{message}");
    let (_, list) = outsider.get("/v1/partnerships").await;
    assert_eq!(list["partnerships"], json!([]), "nothing changed");
    let (status, body) = outsider.get(&format!("/v1/partnerships/{id}")).await;
    assert_eq!(status, 404, "{body}");

    // Neither or both ways of joining.
    for request in [json!({}), json!({"genesis": genesis, "id": id})] {
        let (status, body) = outsider.post("/v1/partnerships/join", &request).await;
        assert_eq!((status, body["code"].clone()), (400, json!("bad_request")), "{request}: {body}");
    }
    let (status, body) = outsider.post("/v1/partnerships/join", &json!({"id": "12ab"})).await;
    assert_eq!((status, body["code"].clone()), (400, json!("bad_partnership_id")), "{body}");
    // By id: this node runs without a network.
    let (status, body) = outsider.post("/v1/partnerships/join", &json!({"id": id})).await;
    assert_eq!((status, body["code"].clone()), (503, json!("no_network")), "{body}");
    let (_, list) = outsider.get("/v1/partnerships").await;
    assert_eq!(list["partnerships"], json!([]), "nothing changed");
    // Without a network there are no invitations either.
    let (status, body) = outsider.get("/v1/invitations").await;
    assert_eq!((status, body), (200, json!({"invitations": []})));
    let (status, body) = outsider.post(&format!("/v1/invitations/{id}/accept"), &json!(null)).await;
    assert_eq!((status, body["code"].clone()), (404, json!("unknown_invitation")), "{body}");
}

/// Issue 22: refused gossip and sync were not in `/metrics`. A stranger's
/// node (no participant's peer) gossips on a partnership's topic, asks for
/// sync data, floods sync requests and announces a lure; each refusal is
/// counted in the node's metrics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_traffic_is_counted_in_metrics() {
    use std::time::Duration;

    use polypact::net::{Keypair, Network, Protocol, SyncRequest, SyncResponse, TransportConfig};
    use polypact::node::{SyncConfig, now_ms};
    use polypact::op::{OpId, Payload, UnsignedOp};

    let dir = tempfile::tempdir().unwrap();
    let key = MemberKey::from_seed(5);
    let member = key.member_id();
    let mut transport = TransportConfig::loopback(Keypair::generate_ed25519());
    transport.heartbeat = Duration::from_millis(100);
    let sync = SyncConfig { sync_requests_per_sec: 2, ..SyncConfig::default() };
    let node = NodeBuilder::new(NodeConfig::new(dir.path().join("data")), MemberKey::from_seed(5))
        .network(transport)
        .sync(sync)
        .start()
        .unwrap();
    let net = node.network.clone().unwrap();
    let addr = net.listen_addrs().await.unwrap().remove(0).with(Protocol::P2p(net.local_peer_id()));
    let mut config = ApiConfig::new(TOKEN);
    config.genesis_signer = Some(std::sync::Arc::new(MemberKey::from_seed(5)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(api::serve(listener, node.handle.clone(), config, async move {
        let _ = stopped.await;
    }));
    let api = Api {
        url,
        http: reqwest::Client::new(),
        member: member.to_string(),
        node: node.handle.clone(),
        task: None,
        _dir: Some(dir),
        _stop,
    };
    let id = api.solo().await;
    let p: polypact::op::PartnershipId = id.parse().unwrap();

    let mut stranger_config = TransportConfig::loopback(Keypair::generate_ed25519());
    stranger_config.bootstrap = vec![addr];
    stranger_config.heartbeat = Duration::from_millis(100);
    let (stranger, mut events) = Network::spawn(stranger_config).unwrap();
    let drain = tokio::spawn(async move { while events.recv().await.is_some() {} });
    stranger.subscribe(p).await.unwrap();
    let target = net.local_peer_id();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !stranger.topic_peers(p).await.unwrap().contains(&target) {
        assert!(tokio::time::Instant::now() < deadline, "the stranger never saw the node on the topic");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Gossip: an op of a non-participant in clear (not an envelope:
    // rejected) and a copy of a participant's own op sealed under a key the
    // stranger made up (no key is sealed to a stranger: rejected, counted).
    let genesis_id = OpId(p.0);
    let op = |key: &MemberKey, seq: u64| {
        UnsignedOp {
            partnership: p,
            author: key.member_id(),
            seq,
            parents: vec![genesis_id],
            time_ms: now_ms(),
            payload: Payload::Call {
                module: "guestbook".into(),
                msg: b"{\"sign\":{\"message\":\"x\"}}".to_vec(),
            },
        }
        .sign(key)
    };
    stranger.publish(p, op(&MemberKey::from_seed(66), 1).encode()).await.unwrap();
    let made_up = polypact::seal::PartnershipKey::from_bytes([42; 32]);
    stranger.publish(p, made_up.seal(&op(&key, 2).encode()).unwrap()).await.unwrap();
    // Sync: denied, then busy past two requests a second.
    let mut answers = Vec::new();
    let entries = vec![polypact::net::sync::HeadsEntry {
        partnership: p,
        digest: polypact::net::sync::HeadsDigest([0; 32]),
    }];
    for _ in 0..6 {
        let heads = SyncRequest::Heads { entries: entries.clone(), proof: None };
        answers.push(stranger.request(target, heads).await.unwrap());
    }
    assert_eq!(answers[0], SyncResponse::Heads { differ: vec![], denied: vec![p], answered: 1 });
    assert!(answers.contains(&SyncResponse::Busy), "{answers:?}");
    // An announced lure from a stranger naming the node's member.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut participants = vec![member, MemberKey::from_seed(77).member_id()];
    participants.sort();
    let lure = UnsignedOp {
        partnership: polypact::op::PartnershipId::default(),
        author: MemberKey::from_seed(77).member_id(),
        seq: 1,
        parents: vec![],
        time_ms: now_ms(),
        payload: Payload::Genesis(polypact::op::Charter {
            name: "lure".into(),
            participants,
            modules: vec![polypact::op::ModuleSpec {
                name: "guestbook".into(),
                code: polypact::op::CodeHash::of(b"any code"),
                config: "{}".into(),
                permissions: vec![],
            }],
            params: polypact::op::Params::default(),
            parent: None,
        }),
    }
    .sign(&MemberKey::from_seed(77));
    let noted = stranger
        .request(
            target,
            SyncRequest::Announce { geneses: vec![polypact::seal::seal_announcement(&lure).unwrap()] },
        )
        .await
        .unwrap();
    assert_eq!(noted, SyncResponse::Noted);

    let wanted = [
        "polypact_gossip_sealing_total{event=\"unknown_key\"} 1",
        "polypact_gossip_messages_total{verdict=\"rejected\"} 2",
        "polypact_gossip_from_non_participants_total{verdict=\"rejected\"} 1",
        "polypact_sync_requests_total{result=\"denied\"}",
        "polypact_sync_requests_total{result=\"busy\"}",
        "polypact_announces_total{outcome=\"invited\"} 1",
        "polypact_invitations 1",
        "# TYPE polypact_sync_requests_total counter",
    ];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let text = metrics(&api.http, &api.url).await;
        let missing: Vec<&&str> = wanted.iter().filter(|w| !text.contains(**w)).collect();
        let counted = |name: &str| {
            text.lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let sync_counted = counted("polypact_sync_requests_total{result=\"denied\"}") >= 1
            && counted("polypact_sync_requests_total{result=\"busy\"}") >= 1;
        if missing.is_empty() && sync_counted {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "missing {missing:?} in:\n{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stranger.shutdown().await.unwrap();
    drain.abort();
    node.handle.shutdown().await.unwrap();
}

/// A scrape of `/metrics` reads a resting partnership from the listing,
/// never loading its ledger: a node whose partnerships are idle keeps them
/// at rest however often it is scraped, and reports their heights.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metrics_scrape_leaves_resting_partnerships_unloaded() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let id = {
        let api = Api::start_in(&data, 7, None).await;
        let id = api.solo().await;
        let call = json!({"module": "guestbook", "msg": {"sign": {"message": "m"}}, "wait": "final"});
        let (status, _) = api.post(&format!("/v1/partnerships/{id}/calls"), &call).await;
        assert_eq!(status, 200);
        // A few node ticks: what became final is looked at between
        // partnerships (nothing to do in this one), then it may rest.
        tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
        api.stop().await;
        id
    };
    let api = Api::start_in(&data, 7, None).await;
    let (_, node) = api.get("/v1/node").await;
    assert_eq!((node["partnerships"].as_u64(), node["partnerships_loaded"].as_u64()), (Some(1), Some(0)));
    let text = metrics(&api.http, &api.url).await;
    for needle in [
        "polypact_partnerships 1".to_owned(),
        format!("polypact_final_height{{partnership=\"{id}\"}} 1"),
        format!("polypact_ops_accepted{{partnership=\"{id}\"}} 2"),
    ] {
        assert!(text.contains(&needle), "{needle} missing from:\n{text}");
    }
    let (_, node) = api.get("/v1/node").await;
    assert_eq!(node["partnerships_loaded"].as_u64(), Some(0), "the scrape loaded nothing");
    let (status, shown) = api.get(&format!("/v1/partnerships/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(shown["final_height"].as_u64(), Some(1));
    let (_, node) = api.get("/v1/node").await;
    assert_eq!(node["partnerships_loaded"].as_u64(), Some(1), "showing it loaded it");
}
