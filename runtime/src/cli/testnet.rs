//! Local testnets: `testnet up` starts N `polypact node` processes on
//! loopback, each with its own home under DIR, connected through bootstrap
//! addresses, and records them in DIR/testnet.json; `testnet down` stops
//! them; `testnet demo` is a thin script over both (a charter, a story).
//!
//! `testnet.json` (what other commands read with `--testnet DIR --as NAME`):
//! `{"nodes":[{"name","api","token_file","member","peer_id","p2p","pid","home","log"}]}`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use polypact::home::{API_URL_FILE, Home, HomeConfig, TOKEN_FILE, read_token};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::client::Client;
use super::commands::{Wait, call_on, create_on, join_on};

/// The file a testnet is recorded in.
pub const TESTNET_FILE: &str = "testnet.json";

/// A testnet as recorded in `testnet.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Testnet {
    /// Its nodes, in start order.
    pub nodes: Vec<TestnetNode>,
}

/// One node of a testnet.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TestnetNode {
    /// Its name (and its `${name}` placeholder value).
    pub name: String,
    /// API URL.
    pub api: String,
    /// The API token file.
    pub token_file: String,
    /// The member it acts for.
    pub member: String,
    /// Its libp2p peer id.
    pub peer_id: String,
    /// Its p2p address, with `/p2p/<peer id>`.
    pub p2p: String,
    /// Its process id while running.
    pub pid: Option<u32>,
    /// Its home.
    pub home: String,
    /// Its log file.
    pub log: String,
}

impl Testnet {
    /// Reads DIR/testnet.json.
    pub fn load(dir: &Path) -> Result<Testnet> {
        let path = dir.join(TESTNET_FILE);
        let text = std::fs::read_to_string(&path).map_err(|_| {
            anyhow!(
                "no testnet in {} (no {TESTNET_FILE}); start one with `polypact testnet up --dir {}`",
                dir.display(),
                dir.display()
            )
        })?;
        serde_json::from_str(&text).with_context(|| format!("{} is not a testnet file", path.display()))
    }

    fn save(&self, dir: &Path) -> Result<()> {
        let path = dir.join(TESTNET_FILE);
        let text = serde_json::to_string_pretty(self).context("cannot encode the testnet")?;
        std::fs::write(&path, text + "\n").with_context(|| format!("cannot write {}", path.display()))
    }

    /// The node called `name`.
    pub fn node(&self, name: &str) -> Result<&TestnetNode> {
        self.nodes.iter().find(|n| n.name == name).ok_or_else(|| {
            let names: Vec<&str> = self.nodes.iter().map(|n| n.name.as_str()).collect();
            anyhow!("the testnet has no node `{name}`; its nodes are: {}", names.join(", "))
        })
    }

    /// Node name → member id: the default `${name}` placeholder values.
    pub fn member_ids(&self) -> BTreeMap<String, String> {
        self.nodes.iter().map(|n| (n.name.clone(), n.member.clone())).collect()
    }
}

impl TestnetNode {
    /// A client of this node.
    pub fn client(&self) -> Result<Client> {
        let token = read_token(Path::new(&self.token_file))?;
        Client::new(&self.api, token, "the testnet node stopped; see its log".into())
    }
}

/// Whether `pid` is a live process (not a zombie).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z')),
        Err(_) => false,
    }
}

/// Whether `pid` is the node of `home` (so a reused pid is never signalled).
fn is_node_of(pid: u32, home: &str) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).split('\0').any(|arg| arg == home))
        .unwrap_or(false)
}

fn signal(pid: u32, sig: &str) {
    let _ = std::process::Command::new("kill").args([sig, &pid.to_string()]).status();
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(8)..].join("\n")
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// `polypact testnet up`.
pub async fn up(dir: &Path, nodes: Option<usize>, names: Vec<String>) -> Result<Testnet> {
    let names = match (nodes, names.is_empty()) {
        (Some(n), false) if n != names.len() => {
            bail!(
                "--nodes {n} but {} names ({}); give one of them, or as many names as nodes",
                names.len(),
                names.join(", ")
            )
        }
        (_, false) => names,
        (n, true) => (1..=n.unwrap_or(3)).map(|i| format!("node{i}")).collect(),
    };
    if names.is_empty() || names.len() > 32 {
        bail!("a testnet has 1 to 32 nodes");
    }
    for (i, name) in names.iter().enumerate() {
        if !valid_name(name) {
            bail!("node name {name:?}: use 1 to 32 of a-z, 0-9, `-`, `_`");
        }
        if names[..i].contains(name) {
            bail!("node name `{name}` is given twice");
        }
    }
    if let Ok(existing) = Testnet::load(dir)
        && existing.nodes.iter().any(|n| n.pid.is_some_and(alive))
    {
        bail!(
            "a testnet is already running in {}; stop it with `polypact testnet down --dir {}`",
            dir.display(),
            dir.display()
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let dir = dir.canonicalize().with_context(|| format!("cannot resolve {}", dir.display()))?;
    let exe = std::env::current_exe().context("cannot find the polypact executable")?;
    let mut started: Vec<TestnetNode> = Vec::new();
    let mut children = Vec::new();
    let outcome: Result<()> = async {
        for name in &names {
            let home_dir = dir.join(name);
            let home = if home_dir.join(polypact::home::CONFIG_FILE).exists() {
                Home::open(&home_dir)?
            } else {
                let mut config = HomeConfig::default();
                config.network.mdns = false;
                Home::init(&home_dir, config)?
            };
            // Ports are chosen by the OS when each node binds (no race with
            // other programs); the node records its API URL in the home, and
            // its API tells its p2p address.
            let url_file = home_dir.join(API_URL_FILE);
            let _ = std::fs::remove_file(&url_file);
            let log = home_dir.join("node.log");
            let log_file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
                .with_context(|| format!("cannot open {}", log.display()))?;
            let mut command = std::process::Command::new(&exe);
            command
                .arg("--home")
                .arg(&home_dir)
                .args(["node", "--api", "127.0.0.1:0", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"])
                .stdin(std::process::Stdio::null())
                .stdout(log_file.try_clone().context("cannot share the log file")?)
                .stderr(log_file);
            // Every node dials the ones started before it: a full mesh.
            for earlier in &started {
                command.args(["--bootstrap", &earlier.p2p]);
            }
            // Own process group: Ctrl-C in the terminal does not reach the nodes.
            std::os::unix::process::CommandExt::process_group(&mut command, 0);
            errout!("starting {name}… ");
            let begun = Instant::now();
            let mut child = command.spawn().with_context(|| format!("cannot start {}", exe.display()))?;
            let pid = child.id();
            let info = loop {
                let url = std::fs::read_to_string(&url_file).ok().map(|u| u.trim().to_owned());
                if let Some(url) = url.filter(|u| u.starts_with("http://")) {
                    let client = Client::new(&url, home.token().to_owned(), String::new())?;
                    if let Ok(info) = client.get("/v1/node").await {
                        break (url, info);
                    }
                }
                if let Ok(Some(status)) = child.try_wait() {
                    errln!("failed");
                    bail!(
                        "{name} exited ({status}) before it was ready; its log ({}):\n{}",
                        log.display(),
                        log_tail(&log)
                    );
                }
                if begun.elapsed() > Duration::from_secs(30) {
                    errln!("failed");
                    signal(pid, "-KILL");
                    bail!(
                        "{name} did not answer within 30 s; its log ({}):\n{}",
                        log.display(),
                        log_tail(&log)
                    );
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            };
            let (api, info) = info;
            let p2p = info["p2p_listen"]
                .as_array()
                .and_then(|a| a.first())
                .and_then(Value::as_str)
                .filter(|a| a.contains("/p2p/"))
                .map(str::to_owned)
                .with_context(|| format!("{name} reports no p2p address; its log: {}", log.display()))?;
            let node = TestnetNode {
                name: name.clone(),
                api,
                token_file: home_dir.join(TOKEN_FILE).display().to_string(),
                member: home.member_id().to_string(),
                peer_id: home.peer_id().to_string(),
                p2p,
                pid: Some(pid),
                home: home_dir.display().to_string(),
                log: log.display().to_string(),
            };
            errln!("ready in {} ms ({})", begun.elapsed().as_millis(), node.api);
            started.push(node);
            children.push(child);
        }
        Ok(())
    }
    .await;
    if let Err(e) = outcome {
        for node in &started {
            if let Some(pid) = node.pid {
                signal(pid, "-TERM");
            }
        }
        for mut child in children {
            let _ = child.wait();
        }
        return Err(e);
    }
    let testnet = Testnet { nodes: started };
    testnet.save(&dir)?;
    // The nodes run on when this command exits; reap them if we outlive them.
    std::thread::spawn(move || {
        for mut child in children {
            let _ = child.wait();
        }
    });
    outln!("testnet of {} nodes in {}", testnet.nodes.len(), dir.display());
    for node in &testnet.nodes {
        outln!("  {:<10} {}  member {}  pid {}", node.name, node.api, node.member, node.pid.unwrap_or(0));
    }
    outln!(
        "use it with: polypact --testnet {} --as {} partnership list",
        dir.display(),
        testnet.nodes[0].name
    );
    Ok(testnet)
}

/// `polypact testnet down`.
pub async fn down(dir: &Path) -> Result<()> {
    let mut testnet = Testnet::load(dir)?;
    for node in &mut testnet.nodes {
        let Some(pid) = node.pid.take() else { continue };
        if !alive(pid) || !is_node_of(pid, &node.home) {
            errln!("{} was not running", node.name);
            continue;
        }
        errout!("stopping {}… ", node.name);
        signal(pid, "-TERM");
        let begun = Instant::now();
        while alive(pid) && begun.elapsed() < Duration::from_secs(15) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if alive(pid) {
            signal(pid, "-KILL");
            errln!("killed (it did not stop within 15 s)");
        } else {
            errln!("stopped");
        }
    }
    testnet.save(dir)?;
    outln!(
        "testnet in {} is down (homes kept; `polypact testnet up --dir {}` restarts it)",
        dir.display(),
        dir.display()
    );
    Ok(())
}

/// The default demo charter: the testnet joint venture if the checkout has
/// it, else the guestbook joint venture shipped with the runtime.
fn default_charter() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let jv = root.join("../examples/charters/testnet-jv.toml");
    let path = if jv.exists() { jv } else { root.join("templates/charters/guestbook-jv.toml") };
    path.canonicalize().unwrap_or(path)
}

/// One step of a demo story (`<charter>.story.json` beside the charter).
#[derive(Debug, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
enum Step {
    /// A node calls a module.
    Call {
        /// What to print before the step.
        say: String,
        /// Which node calls.
        #[serde(rename = "as")]
        who: String,
        /// The module.
        module: String,
        /// The message.
        msg: Value,
        /// The call is expected to be refused or rejected (to show an error).
        #[serde(default)]
        expect_error: bool,
    },
    /// Time passes (a voting period, a grace period).
    Wait {
        /// What to print.
        say: String,
        /// How long.
        wait_ms: u64,
    },
    /// A node that was not a founding partner joins (after its admission).
    Join {
        /// What to print.
        say: String,
        /// The joining node.
        join: String,
    },
}

impl Step {
    fn say(&self) -> &str {
        match self {
            Step::Call { say, .. } | Step::Wait { say, .. } | Step::Join { say, .. } => say,
        }
    }

    /// The testnet node the step needs, if any.
    fn node(&self) -> Option<&str> {
        match self {
            Step::Call { who, .. } => Some(who),
            Step::Join { join, .. } => Some(join),
            Step::Wait { .. } => None,
        }
    }
}

/// The story file of a charter: beside it, else the one shipped for it.
fn story_file(charter: &Path) -> PathBuf {
    let beside = charter.with_extension("story.json");
    if beside.exists() {
        return beside;
    }
    let stem = charter.file_stem().unwrap_or_default();
    Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/charters").join(stem).with_extension("story.json")
}

/// Reads a story; `values` fills its `${name}` placeholders.
fn read_story(file: &Path, values: &BTreeMap<String, String>) -> Result<Vec<Step>> {
    match std::fs::read_to_string(file) {
        Ok(text) => {
            let text = polypact::op::fill_placeholders(&text, values)?;
            serde_json::from_str(&text).with_context(|| format!("{} is not a demo story", file.display()))
        }
        Err(_) => Ok(Vec::new()),
    }
}

async fn wait_until<F, Fut>(what: &str, limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    errout!("{what}… ");
    let begun = Instant::now();
    loop {
        if check().await {
            errln!("done in {} ms", begun.elapsed().as_millis());
            return true;
        }
        if begun.elapsed() > limit {
            errln!("not within {} s", limit.as_secs());
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `polypact testnet demo`.
pub async fn demo(keep: bool, dir: Option<PathBuf>, charter: Option<PathBuf>) -> Result<()> {
    let charter = charter.unwrap_or_else(default_charter);
    let text = std::fs::read_to_string(&charter)
        .with_context(|| format!("cannot read the charter {}", charter.display()))?;
    let founders = polypact::op::placeholders(&text);
    if founders.is_empty() {
        bail!("{} has no `${{name}}` placeholders to name the partners' nodes", charter.display());
    }
    // Nodes: the charter's partners, then any the story admits later.
    let story_path = story_file(&charter);
    let story_text = std::fs::read_to_string(&story_path).unwrap_or_default();
    let mut names = founders.clone();
    for name in polypact::op::placeholders(&story_text) {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    let stand_ins: BTreeMap<String, String> = names
        .iter()
        .zip(1u8..)
        .map(|(name, seed)| (name.clone(), polypact::op::MemberKey::from_seed(seed).member_id().to_string()))
        .collect();
    // Check the charter (and that its modules are built) and the story
    // before any node starts.
    let values = super::charter::Values { set: BTreeMap::new(), testnet: Some(stand_ins.clone()) };
    super::charter::prepare(&charter, &text, &values).context("the demo charter is not usable")?;
    for step in read_story(&story_path, &stand_ins)? {
        if let Some(node) = step.node()
            && !names.iter().any(|n| n == node)
        {
            bail!(
                "{}: step {:?} names `{node}`, which is no partner of the story",
                story_path.display(),
                step.say()
            );
        }
    }
    let temporary = dir.is_none();
    let dir =
        dir.unwrap_or_else(|| std::env::temp_dir().join(format!("polypact-demo-{}", std::process::id())));
    outln!("== a testnet of {} partners: {}", names.len(), names.join(", "));
    let testnet = up(&dir, Some(names.len()), names.clone()).await?;
    let result = story(&testnet, &charter, &text, &story_path).await;
    if keep {
        outln!(
            "the testnet keeps running in {}; stop it with `polypact testnet down --dir {}`",
            dir.display(),
            dir.display()
        );
    } else {
        down(&dir).await?;
        if temporary && std::fs::remove_dir_all(&dir).is_ok() {
            outln!("(the demo's temporary directory is removed; keep a testnet with --keep or --dir DIR)");
        }
    }
    result
}

/// Waits until `client`'s node has applied `op` (it holds everything the op
/// builds on), so the next step's author sees what came before.
async fn caught_up(client: &Client, id: &str, op: &str, who: &str) -> bool {
    let path = format!("/v1/partnerships/{id}/ops/{op}");
    wait_until(&format!("   {who}'s node receives the previous op"), Duration::from_secs(30), || async {
        client.get(&path).await.ok().is_some_and(|s| !s["outcome"].is_null())
    })
    .await
}

async fn story(testnet: &Testnet, charter: &Path, text: &str, story_path: &Path) -> Result<()> {
    let founders = polypact::op::placeholders(text);
    let first = testnet
        .nodes
        .iter()
        .find(|n| founders.contains(&n.name))
        .context("no testnet node is a partner of the charter")?;
    let members = testnet.member_ids();
    outln!("== {} creates the partnership from {}", first.name, charter.display());
    let values = super::charter::Values { set: BTreeMap::new(), testnet: Some(members.clone()) };
    let prepared = super::charter::prepare(charter, text, &values)?;
    let created = create_on(&first.client()?, text, &prepared).await?;
    let wasm = prepared.wasm;
    let id = created["id"].as_str().context("the node did not return the partnership id")?.to_owned();
    let genesis = created["genesis"].as_str().context("the node did not return the genesis")?.to_owned();
    outln!("partnership {id} ({})", created["name"].as_str().unwrap_or("?"));
    let mut holders = vec![first.name.clone()];
    for node in testnet.nodes.iter().filter(|n| founders.contains(&n.name) && n.name != first.name) {
        outln!("== {} joins with the genesis {} hands over", node.name, first.name);
        join_on(&node.client()?, &genesis, &wasm).await.with_context(|| format!("{} joining", node.name))?;
        holders.push(node.name.clone());
    }
    let path = format!("/v1/partnerships/{id}");
    let steps = read_story(story_path, &members)?;
    let mut failed = Vec::new();
    let mut last_op: Option<String> = None;
    for step in steps {
        outln!("== {}", step.say());
        match step {
            Step::Wait { wait_ms, .. } => tokio::time::sleep(Duration::from_millis(wait_ms)).await,
            Step::Join { join, .. } => {
                let client = testnet.node(&join)?.client()?;
                join_on(&client, &genesis, &wasm).await.with_context(|| format!("{join} joining"))?;
                holders.push(join.clone());
                if let Some(op) = &last_op
                    && !caught_up(&client, &id, op, &join).await
                {
                    failed.push(format!("{join} did not catch up"));
                }
                let shown = client.get(&path).await?;
                outln!(
                    "   {join} holds {} ops, optimistic height {}",
                    shown["op_count"],
                    shown["optimistic_height"]
                );
            }
            Step::Call { who, module, msg, expect_error, say } => {
                if !holders.contains(&who) {
                    outln!("   (skipped: {who} does not hold the partnership)");
                    continue;
                }
                let client = testnet.node(&who)?.client()?;
                if let Some(op) = &last_op {
                    caught_up(&client, &id, op, &who).await;
                }
                match call_on(&client, &id, &module, msg, Wait::Applied, 30).await {
                    Ok(answer) if expect_error => {
                        outln!("   ACCEPTED, but the story expected a refusal");
                        failed.push(say);
                        last_op = answer["op"].as_str().map(str::to_owned).or(last_op);
                    }
                    Ok(answer) => {
                        let outcome = &answer["outcome"];
                        if !outcome["data"].is_null() {
                            outln!("   result {}", outcome["data"]);
                        }
                        for event in super::commands::event_lines(outcome) {
                            outln!("   event  {event}");
                        }
                        last_op = answer["op"].as_str().map(str::to_owned).or(last_op);
                    }
                    Err(e) if expect_error => outln!("   refused, as it should be: {e:#}"),
                    Err(e) => {
                        outln!("   FAILED: {e:#}");
                        failed.push(say);
                    }
                }
            }
        }
    }
    // Finality waits for the nodes of the partners still in the
    // partnership; a partner that left stops countersigning.
    let clients: Vec<(String, Client)> = holders
        .iter()
        .map(|name| Ok((name.clone(), testnet.node(name)?.client()?)))
        .collect::<Result<_>>()?;
    let shown = clients[0].1.get(&path).await?;
    let active: Vec<String> = shown["participants"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["member"].as_str().or(p.as_str()))
        .filter_map(|m| members.iter().find(|(_, id)| id.as_str() == m).map(|(name, _)| name.clone()))
        .collect();
    let mut target = 0;
    for (_, client) in &clients {
        target = target.max(client.get(&path).await?["optimistic_height"].as_u64().unwrap_or(0));
    }
    wait_until(
        "waiting for finality (every remaining partner countersigns)",
        Duration::from_secs(90),
        || async {
            let mut all = true;
            for (name, client) in &clients {
                if !active.contains(name) {
                    continue;
                }
                all &= client
                    .get(&path)
                    .await
                    .ok()
                    .and_then(|p| p["final_height"].as_u64())
                    .is_some_and(|h| h >= target);
            }
            all
        },
    )
    .await;
    outln!("== the state on each node");
    let mut roots = Vec::new();
    for (name, client) in &clients {
        let p = client.get(&path).await?;
        let role = if active.contains(name) { "" } else { "  (left the partnership)" };
        outln!(
            "   {:<10} final height {:>3}  optimistic {:>3}  final root {}{role}",
            name,
            p["final_height"],
            p["optimistic_height"],
            p["final_root"].as_str().unwrap_or("?")
        );
        if active.contains(name) {
            roots.push((p["final_height"].clone(), p["final_root"].clone()));
        }
    }
    if roots.windows(2).all(|w| w[0] == w[1]) {
        outln!("all {} partners' nodes agree on the final state", roots.len());
    } else {
        failed.push("the partners' nodes do not agree on the final state".into());
    }
    if !failed.is_empty() {
        bail!("{} story step(s) failed: {}", failed.len(), failed.join("; "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Every shipped story names its charter's partners and modules.
    #[test]
    fn shipped_stories_fit_their_charters() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let pairs = [
            (
                root.join("../examples/charters/testnet-jv.toml"),
                root.join("../examples/charters/testnet-jv.story.json"),
            ),
            (
                root.join("templates/charters/guestbook-jv.toml"),
                root.join("templates/charters/guestbook-jv.story.json"),
            ),
        ];
        for (charter, story_path) in pairs {
            let text = std::fs::read_to_string(&charter).unwrap();
            let story_text = std::fs::read_to_string(&story_path).unwrap();
            let mut names = polypact::op::placeholders(&text);
            names.extend(polypact::op::placeholders(&story_text));
            let values: BTreeMap<String, String> = names
                .iter()
                .map(|n| (n.clone(), polypact::op::MemberKey::from_seed(1).member_id().to_string()))
                .collect();
            let steps = read_story(&story_path, &values).unwrap();
            assert!(!steps.is_empty());
            for step in steps {
                if let Some(node) = step.node() {
                    assert!(
                        names.iter().any(|n| n == node),
                        "{}: `{node}` is no partner",
                        story_path.display()
                    );
                }
                if let Step::Call { module, .. } = &step {
                    assert!(
                        text.contains(&format!("name = \"{module}\"")),
                        "{}: module `{module}` is not in {}",
                        story_path.display(),
                        charter.display()
                    );
                }
            }
        }
    }
}
