//! Helpers of the console tests: a testnet of node processes, a headless
//! Chromium driven through chromedriver (one browser profile per partner),
//! polling with a deadline, and screenshots saved as test artifacts.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use tempfile::TempDir;

/// How long a test waits for anything (a page, a live update, finality).
/// Generous: the machine may be busy; things take a second or two when all is well.
pub const WAIT: Duration = Duration::from_secs(90);

/// The binary under test.
pub fn exe() -> &'static str {
    env!("CARGO_BIN_EXE_polypact")
}

/// Runs `polypact args…`, expecting success; its stdout.
pub fn ok(args: &[&str]) -> String {
    let out = Command::new(exe())
        .args(args)
        .env_remove("POLYPACT_TOKEN")
        .env_remove("POLYPACT_NODE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "polypact {args:?} failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The repository's root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

/// A standard module's `.wasm`, built by `scripts/build-modules.sh`.
pub fn wasm(module: &str) -> PathBuf {
    let path = repo().join(format!("target/wasm32-unknown-unknown/release/{module}.wasm"));
    assert!(path.exists(), "{} is missing: run ./scripts/build-modules.sh", path.display());
    path
}

/// One node of a testnet.
#[derive(Clone, Debug)]
pub struct Node {
    /// Its API (and console) URL.
    pub url: String,
    /// Its API token.
    pub token: String,
    /// Its member id.
    pub member: String,
}

/// A testnet of node processes (`polypact testnet up`), down on drop.
pub struct Testnet {
    dir: TempDir,
    pub nodes: Vec<Node>,
}

impl Testnet {
    pub fn up(names: &[&str]) -> Testnet {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_str().unwrap().to_owned();
        ok(&[
            "testnet",
            "up",
            "--nodes",
            &names.len().to_string(),
            "--dir",
            &path,
            "--names",
            &names.join(","),
        ]);
        let net: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("testnet.json")).unwrap()).unwrap();
        let nodes = names
            .iter()
            .map(|name| {
                let node = net["nodes"].as_array().unwrap().iter().find(|n| n["name"] == *name).unwrap();
                Node {
                    url: node["api"].as_str().unwrap().to_owned(),
                    token: std::fs::read_to_string(node["token_file"].as_str().unwrap())
                        .unwrap()
                        .trim()
                        .to_owned(),
                    member: node["member"].as_str().unwrap().to_owned(),
                }
            })
            .collect();
        Testnet { dir, nodes }
    }
}

impl Drop for Testnet {
    fn drop(&mut self) {
        let _ = Command::new(exe())
            .args(["testnet", "down", "--dir", self.dir.path().to_str().unwrap()])
            .output();
    }
}

/// `POST {url}{path}` with the bearer token; the JSON answer.
pub async fn api_post(node: &Node, path: &str, body: &Value) -> Value {
    let answer = reqwest::Client::new()
        .post(format!("{}{path}", node.url))
        .bearer_auth(&node.token)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success(), "POST {path}: {}", answer.status());
    answer.json().await.unwrap()
}

/// A module query through the JSON API: its `data`.
pub async fn api_query(node: &Node, id: &str, module: &str, msg: Value) -> Value {
    api_post(node, &format!("/v1/partnerships/{id}/query"), &json!({"module": module, "msg": msg})).await["data"].clone()
}

/// Polls `check` every 200 ms until it answers, at most [`WAIT`]; panics
/// naming `what` if it never does.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(answer) = check().await {
            return answer;
        }
        assert!(Instant::now() < deadline, "gave up after {WAIT:?} waiting until {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Where screenshots go: `target/console-screenshots/`.
pub fn screenshot_dir() -> PathBuf {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).parent().unwrap().to_owned();
    let dir = target.join("console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// An executable named in `$var`, or the first of `names` on the `PATH`.
fn find_program(var: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(var) {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).flat_map(|dir| names.iter().map(move |n| dir.join(n))).find(|p| p.is_file())
}

/// Whether the browser tests must be skipped: only when asked to
/// (`POLYPACT_SKIP_BROWSER_TESTS=1`); without Chromium they fail, saying
/// how to install it.
pub fn skip_browser_tests() -> bool {
    if std::env::var("POLYPACT_SKIP_BROWSER_TESTS").is_ok_and(|v| v == "1") {
        eprintln!("SKIPPED: POLYPACT_SKIP_BROWSER_TESTS=1 (the console's browser tests did not run)");
        return true;
    }
    false
}

/// A chromedriver process; on drop its browser sessions are ended (which
/// quits their Chromium processes, also when a test panics) and it is killed.
pub struct Driver {
    child: Child,
    pub url: String,
    port: u16,
    chromium: PathBuf,
    profiles: TempDir,
    sessions: std::sync::Mutex<Vec<String>>,
}

impl Driver {
    /// Starts chromedriver on a free port and waits until it answers.
    pub async fn start() -> Driver {
        let chromium = find_program("POLYPACT_CHROMIUM", &["chromium", "chromium-browser", "google-chrome"]).expect(
            "no Chromium: install it (Debian: apt-get install -y chromium chromium-driver; ./scripts/test.sh does) \
             or set POLYPACT_CHROMIUM",
        );
        let chromedriver = find_program("POLYPACT_CHROMEDRIVER", &["chromedriver"]).expect(
            "no chromedriver: install it (Debian: apt-get install -y chromium-driver; ./scripts/test.sh does) \
             or set POLYPACT_CHROMEDRIVER",
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let url = format!("http://127.0.0.1:{port}");
        let status = format!("{url}/status");
        eventually("chromedriver answers", || {
            let status = status.clone();
            async move { reqwest::get(&status).await.ok().filter(|r| r.status().is_success()).map(|_| ()) }
        })
        .await;
        Driver {
            child,
            url,
            port,
            chromium,
            profiles: tempfile::tempdir().unwrap(),
            sessions: Default::default(),
        }
    }

    /// A new browser (its own profile, so its own cookies) of `width`×`height`.
    pub async fn browser(&self, name: &str, width: u32, height: u32) -> Client {
        let profile = self.profiles.path().join(name);
        let args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--hide-scrollbars".to_owned(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", profile.display()),
        ];
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({"binary": self.chromium.to_str().unwrap(), "args": args}),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("chromedriver opens a Chromium session");
        if let Ok(Some(id)) = client.session_id().await {
            self.sessions.lock().unwrap().push(id);
        }
        client.set_window_size(width, height).await.unwrap();
        client
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        use std::io::{Read, Write};
        // `DELETE /session/{id}` (WebDriver) quits that session's browser; a
        // session already closed just answers with an error.
        for id in self.sessions.lock().map(|s| s.clone()).unwrap_or_default() {
            let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let request = format!(
                "DELETE /session/{id} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                self.port
            );
            if stream.write_all(request.as_bytes()).is_ok() {
                let _ = stream.read_to_end(&mut Vec::new());
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A partner's browser on its node's console.
pub struct Console {
    pub client: Client,
    pub node: Node,
    pub name: &'static str,
}

impl Console {
    pub fn new(client: Client, node: Node, name: &'static str) -> Console {
        Console { client, node, name }
    }

    /// Loads `path` of the node's console.
    pub async fn goto(&self, path: &str) {
        self.client.goto(&format!("{}{path}", self.node.url)).await.unwrap();
    }

    /// Polls `check` like [`eventually`]; on giving up, saves a
    /// screenshot `failed-<name>.png` of the page first.
    async fn until<T, F, Fut>(&self, what: &str, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(answer) = check().await {
                return answer;
            }
            if Instant::now() >= deadline {
                if let Ok(png) = self.client.screenshot().await {
                    let _ = std::fs::write(screenshot_dir().join(format!("failed-{}.png", self.name)), png);
                }
                panic!("gave up after {WAIT:?} waiting until {}'s page {what}", self.name);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The element at `css`, once it is there.
    pub async fn wait_for(&self, css: &str) -> fantoccini::elements::Element {
        self.until(&format!("shows {css}"), || async { self.client.find(Locator::Css(css)).await.ok() }).await
    }

    /// Waits until the text of `css` contains `text`; the text.
    pub async fn wait_for_text(&self, css: &str, text: &str) -> String {
        self.until(&format!("shows {text:?} in {css}"), || async {
            let element = self.client.find(Locator::Css(css)).await.ok()?;
            let found = element.text().await.ok()?;
            found.contains(text).then_some(found)
        })
        .await
    }

    /// Waits until the page's path is `path`.
    pub async fn wait_for_path(&self, path: &str) {
        self.until(&format!("is {path}"), || async { (self.path().await == path).then_some(()) }).await
    }

    /// Clicks `css`. Live parts of a page are swapped as ops arrive, so an
    /// element found may be replaced before the click lands: find it again.
    pub async fn click(&self, css: &str) {
        self.until(&format!("lets {css} be clicked"), || async {
            let element = self.client.find(Locator::Css(css)).await.ok()?;
            element.click().await.ok()
        })
        .await
    }

    /// The trimmed text and `attribute` of the element at `css`, read in
    /// one step (so a swap in between cannot split them), once it is there.
    pub async fn read(&self, css: &str, attribute: &str) -> (String, Option<String>) {
        let script = "const e = document.querySelector(arguments[0]); \
            return e ? [e.textContent.trim(), e.getAttribute(arguments[1])] : null;";
        self.until(&format!("shows {css}"), || async {
            let answer = self.client.execute(script, vec![json!(css), json!(attribute)]).await.ok()?;
            let pair = answer.as_array()?.clone();
            Some((pair[0].as_str()?.to_owned(), pair[1].as_str().map(str::to_owned)))
        })
        .await
    }

    /// Types `text` into the input at `css` (cleared first).
    pub async fn fill(&self, css: &str, text: &str) {
        let input = self.wait_for(css).await;
        input.clear().await.unwrap();
        input.send_keys(text).await.unwrap();
    }

    /// Empties the message area, so the next message is the next action's.
    pub async fn clear_flash(&self) {
        self.client.execute("document.getElementById('flash').innerHTML = ''", vec![]).await.unwrap();
    }

    /// Clicks `css` and waits for the action's message; `(refused, text)`.
    pub async fn act(&self, css: &str) -> (bool, String) {
        self.clear_flash().await;
        self.click(css).await;
        let (text, outcome) = self.read("#flash [data-outcome]", "data-outcome").await;
        (outcome.as_deref() == Some("refused"), text)
    }

    /// Clicks `css`, expecting the action to be done; its message.
    pub async fn act_ok(&self, css: &str) -> String {
        let (refused, text) = self.act(css).await;
        assert!(!refused, "{}: {css} was refused: {text}", self.name);
        text
    }

    /// Marks the page, to tell later whether it was reloaded.
    pub async fn mark(&self) {
        self.client.execute("window.__notReloaded = true", vec![]).await.unwrap();
    }

    /// Whether the page is the one [`Console::mark`] marked (no reload since).
    pub async fn still_marked(&self) -> bool {
        self.client.execute("return window.__notReloaded === true", vec![]).await.unwrap() == json!(true)
    }

    /// Saves a screenshot `name.png` under `target/console-screenshots/`.
    pub async fn screenshot(&self, name: &str) {
        // Let the last swaps settle and fonts render.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(screenshot_dir().join(format!("{name}.png")), png).unwrap();
    }

    /// The current path (and query) of the page.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.unwrap();
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }
}
