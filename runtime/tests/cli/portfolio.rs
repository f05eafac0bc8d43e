//! `GET /v1/portfolio` and `polypact portfolio` over a node whose member is
//! in three overlapping partnerships (`runtime/tests/fixtures/
//! portfolio_world.rs`): the answer matches its OpenAPI schema exactly,
//! bad parameters and unknown routes get JSON errors, and the command
//! prints the same view for people and as JSON.

use polypact::api::{self, ApiConfig};
use polypact::node::now_ms;
use serde_json::{Value, json};

use crate::api::TOKEN;
use crate::support::{exe, json as parse_json, text};

#[path = "../fixtures/portfolio_world.rs"]
mod world;

/// Checks `value` against `schema` of the OpenAPI description `spec`
/// (the parts of JSON Schema the description uses), `at` naming where.
fn conforms(spec: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.trim_start_matches("#/components/schemas/");
        return conforms(spec, &spec["components"]["schemas"][name], value, at);
    }
    if let Some(options) = schema["oneOf"].as_array() {
        let matching = options.iter().filter(|o| conforms(spec, o, value, at).is_ok()).count();
        return if matching == 1 { Ok(()) } else { Err(format!("{at}: {matching} of oneOf match {value}")) };
    }
    if let Some(types) = schema.get("type") {
        let types: Vec<&str> = match types {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => return Err(format!("{at}: odd type {types}")),
        };
        let fits = types.iter().any(|t| match *t {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "integer" => value.is_u64() || value.is_i64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            "null" => value.is_null(),
            _ => false,
        });
        if !fits {
            return Err(format!("{at}: {value} is not {types:?}"));
        }
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        return Err(format!("{at}: {value} is not one of {allowed:?}"));
    }
    if schema["pattern"] == json!("^[0-9]+$")
        && !value.as_str().is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(format!("{at}: {value} is not digits"));
    }
    if let Some(object) = value.as_object()
        && let Some(properties) = schema["properties"].as_object()
    {
        for key in schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            if !object.contains_key(key) {
                return Err(format!("{at}: `{key}` is missing"));
            }
        }
        for (key, field) in object {
            match properties.get(key) {
                Some(property) => conforms(spec, property, field, &format!("{at}.{key}"))?,
                None if schema["additionalProperties"] == json!(false) => {
                    return Err(format!("{at}: `{key}` is not in the schema"));
                }
                None => {}
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, item) in array.iter().enumerate() {
            conforms(spec, items, item, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

fn spec() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The schema of `GET /v1/portfolio`'s answer with `status`.
fn response_schema(spec: &Value, status: &str) -> Value {
    spec["paths"]["/v1/portfolio"]["get"]["responses"][status]["content"]["application/json"]["schema"]
        .clone()
}

/// Runs the binary with `args` (blocking, off the runtime's threads).
async fn polypact(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(exe())
            .args(&args)
            .env_remove("POLYPACT_TOKEN")
            .env_remove("POLYPACT_NODE")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portfolio_route_and_command_show_one_view_across_three_partnerships() {
    let world = tokio::task::spawn_blocking(|| world::build(now_ms())).await.unwrap();
    let running = world.start();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server =
        tokio::spawn(api::serve(listener, running.handle.clone(), ApiConfig::new(TOKEN), async move {
            let _ = stopped.await;
        }));
    let http = reqwest::Client::new();
    let get = |path: &str| {
        let request = http.get(format!("{url}{path}")).bearer_auth(TOKEN);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let spec = spec();

    // ---- the route: the view, exactly as the description says ----
    let (status, body) = get("/v1/portfolio").await;
    assert_eq!(status, 200, "{body}");
    conforms(&spec, &response_schema(&spec, "200"), &body, "portfolio").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(body["member"], json!(world.members[world::ME]));
    assert_eq!(body["final"], json!(false));
    assert_eq!(body["partnerships"].as_array().unwrap().len(), 4);
    assert_eq!(
        body["totals"],
        json!([{"asset": "EUR", "exponent": 2, "owed_to_me": "860000", "owed_by_me": "70000",
            "paid_unconfirmed": "40000", "partnerships": body["totals"][0]["partnerships"].clone()}])
    );
    let trio = body["partnerships"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["id"] == json!(world.trio.to_hex()))
        .unwrap()
        .clone();
    // The node's clock is past the offer's windows (a minute each, minutes ago):
    // first refusal is over, the offer waits to be closed.
    assert_eq!(trio["deadlines"].as_array().unwrap().len(), 1, "{trio}");
    assert_eq!(trio["deadlines"][0]["kind"], json!("offer_closes"));
    assert_eq!(trio["deadlines"][0]["overdue"], json!(true));
    let votes: Vec<&Value> = body["partnerships"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|h| h["waiting"].as_array().unwrap())
        .filter(|w| w["kind"] == json!("vote"))
        .collect();
    assert_eq!(votes.len(), 2, "one in the joint venture, one in the consortium");
    let (status, final_body) = get("/v1/portfolio?final=true").await;
    assert_eq!((status, final_body["final"].clone()), (200, json!(true)), "{final_body}");
    conforms(&spec, &response_schema(&spec, "200"), &final_body, "final").unwrap_or_else(|e| panic!("{e}"));

    // ---- bad requests and unknown routes: JSON errors the description lists ----
    for (path, needle) in [
        ("/v1/portfolio?final=maybe", "final=maybe"),
        ("/v1/portfolio?final=", "final="),
        ("/v1/portfolio?final=1", "final=1"),
        ("/v1/portfolio?colour=red", "colour"),
    ] {
        let (status, error) = get(path).await;
        assert_eq!((status, error["code"].clone()), (400, json!("bad_parameter")), "{path}: {error}");
        assert!(error["error"].as_str().unwrap().contains(needle), "{path}: {error}");
        conforms(&spec, &response_schema(&spec, "400"), &error, path).unwrap_or_else(|e| panic!("{e}"));
    }
    let (status, error) = get("/v1/portfolio/everything").await;
    assert_eq!((status, error["code"].clone()), (404, json!("unknown_route")), "{error}");
    let response = http.get(format!("{url}/v1/portfolio")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["code"], json!("unauthorized"));
    conforms(&spec, &response_schema(&spec, "401"), &error, "401").unwrap_or_else(|e| panic!("{e}"));
    let response = http.post(format!("{url}/v1/portfolio")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 405);
    assert_eq!(response.json::<Value>().await.unwrap()["code"], json!("method_not_allowed"));

    // ---- the command, for people ----
    let target = vec!["--node".to_owned(), url.clone(), "--token".to_owned(), TOKEN.to_owned()];
    let with = |extra: &[&str]| [target.clone(), extra.iter().map(|s| (*s).to_owned()).collect()].concat();
    let out = polypact(with(&["portfolio"])).await;
    let printed = text(&out.stdout);
    assert!(out.status.success(), "{printed}\n{}", text(&out.stderr));
    for expected in [
        format!("portfolio of {}", world.members[world::ME]),
        "4 partnerships · 7 things wait for you (2 votes)".to_owned(),
        "owed      EUR   owed to you 8,600.00 · owed by you 700.00 · paid out, unconfirmed 400.00".to_owned(),
        format!("Studio and Telco joint venture  {}  (active)", world.jv.to_hex()),
        "owed      EUR   owed to you 7,200.00 · owed by you 600.00".to_owned(),
        "waiting   Pay capital call 0: 600.00 EUR toward cost entry 1 [until ".to_owned(),
        "waiting   Vote on proposal 3: Renew the term [until ".to_owned(),
        "waiting   Confirm payout 0 of 600.00 EUR arrived".to_owned(),
        "Your notice period ends".to_owned(),
        "KPI review 1 (period 2026-Q1) falls due".to_owned(),
        "(overdue)  The offer of ".to_owned(),
        "problem   treasury: module `treasury` refused the query".to_owned(),
        format!("{} (partner): ", world.members[world::B]),
        "Broadcaster (treasury counterparty): ".to_owned(),
        "Streaming Co (treasury counterparty): ".to_owned(),
        "no standard module declares exclusivity terms".to_owned(),
    ] {
        assert!(printed.contains(&expected), "missing {expected:?} in:\n{printed}");
    }

    // ---- the command, as JSON: the route's answer ----
    let out = polypact(with(&["portfolio", "--json"])).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed = parse_json(&text(&out.stdout));
    conforms(&spec, &response_schema(&spec, "200"), &printed, "cli").unwrap_or_else(|e| panic!("{e}"));
    for field in ["member", "final", "totals", "overlaps"] {
        assert_eq!(printed[field], body[field], "{field}");
    }
    let ids =
        |v: &Value| v["partnerships"].as_array().unwrap().iter().map(|h| h["id"].clone()).collect::<Vec<_>>();
    assert_eq!(ids(&printed), ids(&body));
    let out = polypact(with(&["portfolio", "--final", "--json"])).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(parse_json(&text(&out.stdout))["final"], json!(true));

    // A wrong token: a clear error, status 1.
    let out =
        polypact(vec!["--node".into(), url.clone(), "--token".into(), "wrong".into(), "portfolio".into()])
            .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("token"), "{}", text(&out.stderr));

    let _ = stop.send(());
    let _ = server.await;
    running.handle.shutdown().await.unwrap();
}
