//! The CLI's HTTP client of a node's API: where the node is (`--node URL
//! --token T`, `--home DIR`, or `--testnet DIR --as NAME`), requests, and
//! turning failures into messages that say what to do (node not running,
//! wrong token, the API's `{"error","code"}` answers).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;

use super::testnet::Testnet;
use polypact::home::{API_URL_FILE, Home, HomeConfig, TOKEN_FILE, read_token};

/// Where to find the node, from the global flags.
#[derive(Clone, Debug, Default)]
pub struct Target {
    pub node: Option<String>,
    pub token: Option<String>,
    pub home: Option<PathBuf>,
    pub testnet: Option<PathBuf>,
    pub name: Option<String>,
}

/// An answer of the API that is an error.
#[derive(Debug)]
pub struct ApiFailure {
    pub code: String,
    pub message: String,
    pub body: Value,
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.message)
    }
}

impl std::error::Error for ApiFailure {}

/// A client of one node.
pub struct Client {
    base: String,
    token: String,
    http: reqwest::Client,
    /// How to start this node, for "not running" errors.
    start_hint: String,
}

impl Client {
    /// Resolves the target flags into a client.
    pub fn connect(target: &Target) -> Result<Client> {
        if let Some(dir) = &target.testnet {
            let testnet = Testnet::load(dir)?;
            let node = match &target.name {
                Some(name) => testnet.node(name)?,
                None => testnet.nodes.first().context("the testnet has no nodes")?,
            };
            let token = read_token(Path::new(&node.token_file))?;
            return Client::new(
                &node.api,
                token,
                format!("start the testnet with `polypact testnet up --dir {}`", dir.display()),
            );
        }
        if let Some(url) = &target.node {
            let token = match (&target.token, &target.home) {
                (Some(token), _) => token.clone(),
                (None, Some(home)) => read_token(&home.join(TOKEN_FILE))?,
                (None, None) => bail!("--node needs a token: give --token TOKEN (or set POLYPACT_TOKEN)"),
            };
            return Client::new(url, token, "start it with `polypact node`".into());
        }
        let dir = target.home.clone().unwrap_or_else(polypact::home::default_home);
        let home = Home::open(&dir)?;
        let token = target.token.clone().unwrap_or_else(|| home.token().to_owned());
        // A running node records where its API really is; else the config says.
        let url = std::fs::read_to_string(dir.join(API_URL_FILE))
            .ok()
            .map(|u| u.trim().to_owned())
            .filter(|u| u.starts_with("http://"))
            .unwrap_or_else(|| api_url(home.config()));
        Client::new(&url, token, format!("start it with `polypact node --home {}`", dir.display()))
    }

    /// A client of the API at `base`.
    pub fn new(base: &str, token: String, start_hint: String) -> Result<Client> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .context("cannot set up the HTTP client")?;
        Ok(Client { base: base.trim_end_matches('/').to_owned(), token, http, start_hint })
    }

    /// The node's URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn unreachable(&self, error: &reqwest::Error) -> anyhow::Error {
        if error.is_connect() || error.is_timeout() {
            anyhow!(
                "cannot reach the node at {}: it is not running or not listening there; {}",
                self.base,
                self.start_hint
            )
        } else {
            anyhow!("request to the node at {} failed: {error}", self.base)
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response> {
        let response = request.bearer_auth(&self.token).send().await.map_err(|e| self.unreachable(&e))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let message = body["error"].as_str().map_or_else(|| format!("HTTP {status}: {text}"), str::to_owned);
        let code = body["code"].as_str().unwrap_or("").to_owned();
        Err(ApiFailure { code, message, body }.into())
    }

    async fn json(&self, request: reqwest::RequestBuilder) -> Result<Value> {
        let response = self.send(request).await?;
        response.json().await.context("the node sent an answer that is not JSON")
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Result<Value> {
        self.json(self.http.get(format!("{}{path}", self.base))).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Value> {
        self.json(self.http.post(format!("{}{path}", self.base)).json(body)).await
    }

    /// `POST path` with a JSON body and no overall timeout reached by the
    /// client (the server bounds waiting).
    pub async fn post_bytes(&self, path: &str, body: Vec<u8>, content_type: &str) -> Result<Value> {
        self.json(
            self.http
                .post(format!("{}{path}", self.base))
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(body),
        )
        .await
    }

    /// `GET path` as a stream (server-sent events).
    pub async fn stream(&self, path: &str) -> Result<reqwest::Response> {
        self.send(self.http.get(format!("{}{path}", self.base)).header("accept", "text/event-stream")).await
    }

    /// Resolves a partnership id or a unique prefix of one.
    pub async fn partnership_id(&self, given: &str) -> Result<String> {
        let given = given.trim().to_ascii_lowercase();
        if given.len() == 64 {
            return Ok(given);
        }
        let list = self.get("/v1/partnerships").await?;
        let matches: Vec<&str> = list["partnerships"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["id"].as_str())
            .filter(|id| !given.is_empty() && id.starts_with(&given))
            .collect();
        match matches.as_slice() {
            [one] => Ok((*one).to_owned()),
            [] => bail!(
                "unknown partnership {given}; `polypact partnership list` shows the node's partnerships"
            ),
            _ => bail!("{given} is the start of {} partnership ids; give more digits", matches.len()),
        }
    }
}

/// The API URL a home's config names (a wildcard address is reached on loopback).
pub fn api_url(config: &HomeConfig) -> String {
    let listen = config.api.listen.replace("0.0.0.0", "127.0.0.1").replace("[::]", "[::1]");
    format!("http://{listen}")
}
