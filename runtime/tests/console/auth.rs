//! Signing in and what a request without a session, or from elsewhere, can
//! reach: nodes in process, the console over real HTTP (no browser). A
//! wrong or missing token gets the login page and never data; the session
//! cookie opens console pages only (the JSON API takes the bearer token
//! alone); forms need the session's CSRF token and the page's own origin,
//! and a refused post changes nothing; another node's partnership, and
//! another node's session, are not reachable.

use polypact::api::{self, ApiConfig};
use polypact::node::{NodeBuilder, NodeConfig};
use polypact::op::MemberKey;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Value, json};

use crate::support::wasm;

const TOKEN: &str = "console-test-token";

/// A node and its API (with the console) on a free port.
struct Node {
    url: String,
    member: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Node {
    async fn start(seed: u8) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let key = MemberKey::from_seed(seed);
        let member = key.member_id().to_string();
        let node = NodeBuilder::new(NodeConfig::new(dir.path().join("data")), key).start().unwrap();
        let mut config = ApiConfig::new(TOKEN);
        config.genesis_signer = Some(std::sync::Arc::new(MemberKey::from_seed(seed)));
        config.genesis_dir = Some(dir.path().join("geneses"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(api::serve(listener, node.handle, config, async move {
            let _ = stopped.await;
        }));
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Node { url, member, http, _dir: dir, _stop: stop }
    }

    /// Creates a one-partner guestbook partnership named `name`; its id.
    async fn solo(&self, name: &str) -> String {
        let code = std::fs::read(wasm("guestbook")).unwrap();
        let charter = format!(
            "name = \"{name}\"\nparticipants = [\"${{me}}\"]\n[[modules]]\nname = \"guestbook\"\nwasm = \"guestbook.wasm\"\n"
        );
        let body = json!({"charter": charter, "values": {"me": self.member}, "wasm": {"guestbook": hex::encode(code)}});
        let answer = self
            .http
            .post(format!("{}/v1/partnerships", self.url))
            .bearer_auth(TOKEN)
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::CREATED);
        answer.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
    }

    async fn get(&self, path: &str, headers: HeaderMap) -> (StatusCode, HeaderMap, String) {
        let answer = self.http.get(format!("{}{path}", self.url)).headers(headers).send().await.unwrap();
        let (status, headers) = (answer.status(), answer.headers().clone());
        (status, headers, answer.text().await.unwrap_or_default())
    }

    async fn post_form(
        &self,
        path: &str,
        headers: HeaderMap,
        form: &[(&str, &str)],
    ) -> (StatusCode, HeaderMap, String) {
        let answer =
            self.http.post(format!("{}{path}", self.url)).headers(headers).form(form).send().await.unwrap();
        let (status, headers) = (answer.status(), answer.headers().clone());
        (status, headers, answer.text().await.unwrap_or_default())
    }

    /// Signs in; the `Cookie` header of the session.
    async fn sign_in(&self) -> HeaderMap {
        let (status, headers, _) =
            self.post_form("/console/login", HeaderMap::new(), &[("token", TOKEN)]).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let cookie = headers.get("set-cookie").unwrap().to_str().unwrap().to_owned();
        for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
            assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
        }
        let pair = cookie.split(';').next().unwrap().to_owned();
        let mut map = HeaderMap::new();
        map.insert("cookie", HeaderValue::from_str(&pair).unwrap());
        map
    }

    /// The CSRF token the session's pages carry.
    async fn csrf(&self, session: &HeaderMap) -> String {
        let (_, _, page) = self.get("/", session.clone()).await;
        let at = page.find("name=\"csrf\" value=\"").expect("a form with the CSRF token") + 19;
        page[at..at + 64].to_owned()
    }

    async fn op_count(&self, id: &str) -> u64 {
        let answer = self
            .http
            .get(format!("{}/v1/partnerships/{id}", self.url))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        answer.json::<Value>().await.unwrap()["op_count"].as_u64().unwrap()
    }
}

/// Borrowed pairs of owned form fields.
fn pairs(fields: &[(String, String)]) -> Vec<(&str, &str)> {
    fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

fn with(mut headers: HeaderMap, name: &'static str, value: &str) -> HeaderMap {
    headers.insert(name, HeaderValue::from_str(value).unwrap());
    headers
}

#[tokio::test]
async fn a_wrong_or_missing_token_gets_the_login_page_never_data() {
    let node = Node::start(31).await;
    let id = node.solo("Secret venture").await;
    for path in
        ["/", "/console", "/console/live", &format!("/console/p/{id}"), &format!("/console/p/{id}/treasury")]
    {
        let (status, headers, body) = node.get(path, HeaderMap::new()).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(headers.get("location").unwrap(), "/console/login", "{path}");
        assert!(!body.contains("Secret venture"), "{path}");
    }
    // A forged session id is no session.
    let forged = with(HeaderMap::new(), "cookie", "polypact_console_0=deadbeef");
    assert_eq!(node.get("/", forged).await.0, StatusCode::SEE_OTHER);
    // htmx asks for a full page load of the login page; an event stream is refused.
    let (status, headers, _) = node.get("/console/live", with(HeaderMap::new(), "hx-request", "true")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers.get("hx-redirect").unwrap(), "/console/login");
    let stream = with(HeaderMap::new(), "accept", "text/event-stream");
    assert_eq!(node.get(&format!("/console/p/{id}/stream"), stream).await.0, StatusCode::UNAUTHORIZED);
    // The login page, with a wrong and with no token.
    let (status, _, page) = node.get("/console/login", HeaderMap::new()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("API token") && !page.contains("Secret venture"));
    for (token, says) in [("wrong", "wrong token"), ("", "enter the node&#39;s API token")] {
        let (status, headers, page) =
            node.post_form("/console/login", HeaderMap::new(), &[("token", token)]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(headers.get("set-cookie").is_none());
        assert!(page.contains(says), "{page}");
        assert!(!page.contains("Secret venture") && !page.contains(&id));
    }
    // The right token opens the portfolio.
    let session = node.sign_in().await;
    let (status, _, page) = node.get("/", session).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Secret venture"));
}

#[tokio::test]
async fn the_session_cookie_opens_console_pages_only_never_the_json_api() {
    let node = Node::start(32).await;
    node.solo("Cookie venture").await;
    let session = node.sign_in().await;
    let (status, _, body) = node.get("/v1/partnerships", session.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("Authorization: Bearer"), "{body}");
    assert!(!body.contains("Cookie venture"));
    let bearer = with(session, "authorization", &format!("Bearer {TOKEN}"));
    let (status, _, body) = node.get("/v1/partnerships", bearer).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Cookie venture"));
}

#[tokio::test]
async fn forms_need_the_sessions_csrf_token_and_this_origin_and_a_refusal_changes_nothing() {
    let node = Node::start(33).await;
    let id = node.solo("Guarded venture").await;
    let session = node.sign_in().await;
    let csrf = node.csrf(&session).await;
    let before = node.op_count(&id).await;
    let path = format!("/console/p/{id}/treasury/record");
    let entry = [("kind", "revenue"), ("asset", "EUR"), ("amount", "1"), ("reference", "X")];
    let form = |token: &str| {
        let mut fields: Vec<(String, String)> =
            entry.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        fields.push(("csrf".into(), token.to_owned()));
        fields
    };
    // No token, a wrong token: refused before anything else.
    let (status, _, body) = node.post_form(&path, session.clone(), &entry).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("CSRF"), "{body}");
    let (status, _, body) = node.post_form(&path, session.clone(), &pairs(&form("0000"))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // The right token from another origin (another port of this host is the same site).
    let right = form(&csrf);
    let elsewhere = with(session.clone(), "origin", "http://127.0.0.1:1");
    let (status, _, body) = node.post_form(&path, elsewhere, &pairs(&right)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("not from this console"), "{body}");
    let cross = with(session.clone(), "sec-fetch-site", "cross-site");
    assert_eq!(node.post_form(&path, cross, &pairs(&right)).await.0, StatusCode::FORBIDDEN);
    // Token and origin right: the request reaches the partnership, which has no treasury.
    let host = node.url.clone();
    let here = with(session.clone(), "origin", &host);
    let (status, _, body) = node.post_form(&path, here, &pairs(&right)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(body.contains("no treasury module"), "{body}");
    // htmx gets the refusal as a message fragment, with its outcome.
    let htmx = with(with(session.clone(), "hx-request", "true"), "origin", &host);
    let (status, headers, body) = node.post_form(&path, htmx, &pairs(&form("0000"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers.get("x-console-outcome").unwrap(), "refused");
    assert!(body.contains("data-outcome=\"refused\"") && body.contains("earlier session"), "{body}");
    assert_eq!(node.op_count(&id).await, before, "a refused post changed nothing");
    // Signing out needs the token too; with it, the session ends.
    assert_eq!(node.post_form("/console/logout", session.clone(), &[]).await.0, StatusCode::FORBIDDEN);
    assert_eq!(node.get("/", session.clone()).await.0, StatusCode::OK);
    let (status, headers, _) = node.post_form("/console/logout", session.clone(), &[("csrf", &csrf)]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(headers.get("set-cookie").unwrap().to_str().unwrap().contains("Max-Age=0"));
    assert_eq!(node.get("/", session).await.0, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn another_nodes_partnership_and_session_are_not_reachable() {
    let (a, b) = (Node::start(34).await, Node::start(35).await);
    let id = a.solo("Only on node A").await;
    let on_a = a.sign_in().await;
    let on_b = b.sign_in().await;
    let (status, _, page) = b.get(&format!("/console/p/{id}"), on_b.clone()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(page.contains("this node holds no partnership") && !page.contains("Only on node A"), "{page}");
    for tail in ["/treasury", "/proposals", "/events", "/stream"] {
        assert_eq!(
            b.get(&format!("/console/p/{id}{tail}"), on_b.clone()).await.0,
            StatusCode::NOT_FOUND,
            "{tail}"
        );
    }
    let (_, _, portfolio) = b.get("/", on_b).await;
    assert!(!portfolio.contains("Only on node A") && !portfolio.contains(&id));
    // Node A's session cookie means nothing to node B (nor does its name).
    let (status, _, _) = b.get("/", on_a.clone()).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let cookie = |session: &HeaderMap| {
        let (name, value) = session.get("cookie").unwrap().to_str().unwrap().split_once('=').unwrap();
        (name.to_owned(), value.to_owned())
    };
    let ((a_name, a_value), (b_name, _)) = (cookie(&on_a), cookie(&b.sign_in().await));
    assert_ne!(a_name, b_name, "each node names its cookie after its member");
    let renamed = with(HeaderMap::new(), "cookie", &format!("{b_name}={a_value}"));
    assert_eq!(b.get("/", renamed).await.0, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn assets_are_embedded_and_pages_forbid_anything_from_elsewhere() {
    let node = Node::start(36).await;
    for (asset, kind) in [
        ("htmx.min.js", "text/javascript"),
        ("htmx-ext-sse.min.js", "text/javascript"),
        ("console.js", "text/javascript"),
        ("console.css", "text/css"),
    ] {
        let (status, headers, body) = node.get(&format!("/console/assets/{asset}"), HeaderMap::new()).await;
        assert_eq!(status, StatusCode::OK, "{asset}");
        assert!(headers.get("content-type").unwrap().to_str().unwrap().starts_with(kind));
        assert!(!body.is_empty());
        let etag = headers.get("etag").unwrap().to_str().unwrap().to_owned();
        let (status, _, _) = node
            .get(&format!("/console/assets/{asset}"), with(HeaderMap::new(), "if-none-match", &etag))
            .await;
        assert_eq!(status, StatusCode::NOT_MODIFIED);
    }
    assert_eq!(node.get("/console/assets/nope.js", HeaderMap::new()).await.0, StatusCode::NOT_FOUND);
    let session = node.sign_in().await;
    let (_, headers, page) = node.get("/", session).await;
    let csp = headers.get("content-security-policy").unwrap().to_str().unwrap();
    assert!(
        csp.contains("default-src 'none'")
            && csp.contains("script-src 'self'")
            && csp.contains("frame-ancestors 'none'")
    );
    assert_eq!(headers.get("x-frame-options").unwrap(), "DENY");
    assert_eq!(headers.get("cache-control").unwrap(), "no-store");
    // Every script and style the page loads is this node's own.
    for attribute in ["src=\"", "href=\""] {
        for part in page.split(attribute).skip(1) {
            let target = &part[..part.find('"').unwrap()];
            assert!(target.starts_with('/') || target.starts_with('#'), "{target} is not this node's");
        }
    }
}
