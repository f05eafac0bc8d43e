//! The CLI's HTTP client of a node's API: where the node is (`--node URL
//! --token T`, `--home DIR`, or `--testnet DIR --as NAME`), requests, and
//! turning failures into messages that say what to do (node not running,
//! wrong token, the API's `{"error","code"}` answers).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use polypact::op::did_you_mean;
use serde_json::Value;

use super::aliases;
use super::testnet_file::{Testnet, TestnetNode};
use polypact::home::{API_URL_FILE, Home, HomeConfig, TOKEN_FILE, read_token};

/// Where to find the node, from the global flags.
#[derive(Clone, Debug, Default)]
pub struct Target {
    /// `--node URL`.
    pub node: Option<String>,
    /// `--token TOKEN`.
    pub token: Option<String>,
    /// `--home DIR`.
    pub home: Option<PathBuf>,
    /// `--testnet DIR`.
    pub testnet: Option<PathBuf>,
    /// `--as NAME` (with `--testnet`).
    pub name: Option<String>,
}

impl Target {
    /// The aliases file of this target, if it has one: the testnet's with
    /// `--testnet`, else the home's; `--node URL` without `--home` has none.
    pub fn aliases_file(&self) -> Option<PathBuf> {
        if let Some(dir) = &self.testnet {
            return Some(dir.join(aliases::ALIASES_FILE));
        }
        match (&self.home, &self.node) {
            (Some(home), _) => Some(home.join(aliases::ALIASES_FILE)),
            (None, Some(_)) => None,
            (None, None) => Some(polypact::home::default_home().join(aliases::ALIASES_FILE)),
        }
    }
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
    /// The aliases file partnership ids are looked up in, if any.
    aliases: Option<PathBuf>,
}

/// The fewest hex digits of a partnership id that pick it: fewer are too
/// easily a wrong guess.
pub const MIN_PREFIX: usize = 8;

/// `--node`'s value as a URL: `host:port` gets `http://`.
pub fn node_url(given: &str) -> Result<String> {
    let given = given.trim();
    let url = match given.split_once("://") {
        Some(("http" | "https", _)) => given.to_owned(),
        Some((scheme, _)) => {
            bail!("--node {given}: the API speaks http, not {scheme}; give http://HOST:PORT or HOST:PORT")
        }
        None => format!("http://{given}"),
    };
    match reqwest::Url::parse(&url) {
        Ok(parsed) if parsed.host_str().is_some_and(|h| !h.is_empty()) => Ok(url),
        Ok(_) => bail!("--node {given}: no host; give HOST:PORT, e.g. 127.0.0.1:7410"),
        Err(e) => bail!("--node {given} is not HOST:PORT or a URL ({e}); e.g. 127.0.0.1:7410"),
    }
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
            return Ok(Client::new(
                &node.api,
                token,
                format!("start the testnet with `polypact testnet up --dir {}`", dir.display()),
            )?
            .with_aliases(target.aliases_file()));
        }
        if let Some(url) = &target.node {
            let url = node_url(url)?;
            let token = match (&target.token, &target.home) {
                (Some(token), _) => token.clone(),
                (None, Some(home)) => read_token(&home.join(TOKEN_FILE))?,
                (None, None) => bail!("--node needs a token: give --token TOKEN (or set POLYPACT_TOKEN)"),
            };
            return Ok(Client::new(&url, token, "start it with `polypact node`".into())?
                .with_aliases(target.aliases_file()));
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
        Ok(Client::new(&url, token, format!("start it with `polypact node --home {}`", dir.display()))?
            .with_aliases(Some(dir.join(aliases::ALIASES_FILE))))
    }

    /// A client of a node of a testnet (`testnet up` recorded its API and
    /// token file).
    pub fn of_testnet_node(node: &TestnetNode) -> Result<Client> {
        let token = read_token(Path::new(&node.token_file))?;
        Client::new(&node.api, token, "the testnet node stopped; see its log".into())
    }

    /// This client looks partnership aliases up in `file`.
    pub fn with_aliases(mut self, file: Option<PathBuf>) -> Client {
        self.aliases = file;
        self
    }

    /// The aliases file this client looks aliases up in, if any.
    pub fn aliases_file(&self) -> Option<&Path> {
        self.aliases.as_deref()
    }

    /// A client of the API at `base`.
    pub fn new(base: &str, token: String, start_hint: String) -> Result<Client> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .context("cannot set up the HTTP client")?;
        Ok(Client { base: base.trim_end_matches('/').to_owned(), token, http, start_hint, aliases: None })
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

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> Result<Value> {
        self.json(self.http.delete(format!("{}{path}", self.base))).await
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

    /// Resolves a partnership id: an alias, the whole id, or a prefix of at
    /// least [`MIN_PREFIX`] hex digits that only one of the node's
    /// partnerships starts with. Anything else is refused, naming the
    /// candidates.
    pub async fn partnership_id(&self, given: &str) -> Result<String> {
        let given = given.trim();
        let aliases = match &self.aliases {
            Some(file) => aliases::load(file)?,
            None => BTreeMap::new(),
        };
        if let Some(id) = aliases.get(given) {
            return Ok(id.clone());
        }
        let prefix = given.to_ascii_lowercase();
        if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            let hint = did_you_mean(given, aliases.keys().map(String::as_str))
                .map(|a| format!("; did you mean `{a}`?"))
                .unwrap_or_default();
            let known = if aliases.is_empty() {
                "there are no aliases yet (`polypact partnership alias ID NAME` makes one)".to_owned()
            } else {
                format!("the aliases are: {}", aliases.keys().cloned().collect::<Vec<_>>().join(", "))
            };
            bail!("`{given}` is neither a partnership id (hex) nor an alias{hint}; {known}");
        }
        if prefix.len() == 64 {
            return Ok(prefix);
        }
        if prefix.len() > 64 {
            bail!("`{given}` is longer than a partnership id (64 hex digits)");
        }
        let list = self.get("/v1/partnerships").await?;
        let candidates: Vec<(&str, &str)> = list["partnerships"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| Some((p["id"].as_str()?, p["name"].as_str().unwrap_or("?"))))
            .filter(|(id, _)| id.starts_with(&prefix))
            .collect();
        let listed = |candidates: &[(&str, &str)]| -> String {
            candidates.iter().map(|(id, name)| format!("\n  {id}  {name}")).collect()
        };
        if prefix.len() < MIN_PREFIX {
            if candidates.is_empty() {
                bail!(
                    "`{given}` is too short to pick a partnership: give at least {MIN_PREFIX} hex digits of its id, or an alias (no partnership id starts with {prefix} anyway; `polypact partnership list` shows them)"
                );
            }
            bail!(
                "`{given}` is too short to pick a partnership: give at least {MIN_PREFIX} hex digits of its id, or an alias (`polypact partnership alias ID NAME`). Partnerships whose id starts with {prefix}:{}",
                listed(&candidates)
            );
        }
        match candidates.as_slice() {
            [(id, _)] => Ok((*id).to_owned()),
            [] => bail!(
                "unknown partnership {prefix}; `polypact partnership list` shows the node's partnerships"
            ),
            many => bail!(
                "{prefix} is the start of {} partnership ids; give more digits of one of them:{}",
                many.len(),
                listed(many)
            ),
        }
    }
}

/// The API URL a home's config names (a wildcard address is reached on loopback).
pub fn api_url(config: &HomeConfig) -> String {
    let listen = config.api.listen.replace("0.0.0.0", "127.0.0.1").replace("[::]", "[::1]");
    format!("http://{listen}")
}
