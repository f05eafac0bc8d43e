//! The checked-in OpenAPI description (`docs/openapi.json`) and the routes
//! the router serves must not drift: same paths, same methods, every path
//! parameter declared, the token required exactly where the routes say,
//! and the node serves that very file.

use std::collections::BTreeSet;

use polypact::api;
use serde_json::Value;

use crate::api::{Api, TOKEN};

fn spec() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn the_description_lists_exactly_the_served_routes() {
    let spec = spec();
    let mut described = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            described.insert((method.to_uppercase(), path.clone()));
            // A route without a token says so with an empty security list.
            let open = operation.get("security").is_some_and(|s| s.as_array().is_some_and(Vec::is_empty));
            let route =
                api::routes().into_iter().find(|r| r.path == path && r.method.eq_ignore_ascii_case(method));
            if let Some(route) = route {
                assert_eq!(!open, route.auth, "{method} {path}: token requirement differs");
            }
            // Every `{param}` of the path is declared.
            for param in path.split('/').filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            {
                let declared = operation["parameters"]
                    .as_array()
                    .is_some_and(|ps| ps.iter().any(|p| p["name"] == param && p["in"] == "path"));
                assert!(declared, "{method} {path}: path parameter `{param}` is not declared");
            }
            assert!(
                operation["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{method} {path}: no responses"
            );
        }
    }
    let served: BTreeSet<(String, String)> =
        api::routes().into_iter().map(|r| (r.method.to_owned(), r.path.to_owned())).collect();
    let only_served: Vec<_> = served.difference(&described).collect();
    let only_described: Vec<_> = described.difference(&served).collect();
    assert!(
        only_served.is_empty() && only_described.is_empty(),
        "docs/openapi.json and the router differ:\n  served, not described: {only_served:?}\n  described, not served: {only_described:?}"
    );
    // Every schema reference resolves.
    let text = spec.to_string();
    for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = &reference[..reference.find('"').unwrap()];
        assert!(spec["components"]["schemas"].get(name).is_some(), "dangling $ref {name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_serves_the_checked_in_description() {
    let api = Api::start().await;
    let served: Value = api
        .http
        .get(format!("{}/openapi.json", api.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(served, spec());
}
