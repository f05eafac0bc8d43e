//! `testnet up` and `testnet down`: the nodes of a local testnet as
//! processes.
//!
//! `up` starts N `polypact node` processes on loopback, each with its own
//! home under DIR, dialing the ones started before it (a full mesh through
//! bootstrap addresses) and joining without asking the partnerships the
//! other nodes' members announce, waits until each answers on its API, and records
//! them in DIR/testnet.json; if one fails, the ones already started are
//! stopped. `down` stops them (TERM, then KILL after 15 s), never
//! signalling a pid that is no longer the node of that home.
//!
//! This file owns the processes: spawning, health waiting, signalling. It
//! does not own the record's format (`testnet_file.rs`) or what is done
//! with a running testnet (`demo.rs`, and the client commands with
//! `--testnet`).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use polypact::home::{API_URL_FILE, Home, HomeConfig, TOKEN_FILE};
use serde_json::Value;

use crate::cli::client::Client;
use crate::cli::testnet_file::{Testnet, TestnetNode};

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
    // Every home first: each node joins the partnerships its testnet
    // partners announce without asking (`--join-from`), as nodes of
    // partners who agreed to work together would be configured.
    let mut homes = Vec::new();
    for name in &names {
        let home_dir = dir.join(name);
        let home = if home_dir.join(polypact::home::CONFIG_FILE).exists() {
            Home::open(&home_dir)?
        } else {
            let mut config = HomeConfig::default();
            config.network.mdns = false;
            Home::init(&home_dir, config)?
        };
        homes.push((home_dir, home));
    }
    let members: Vec<String> = homes.iter().map(|(_, home)| home.member_id().to_string()).collect();
    let mut started: Vec<TestnetNode> = Vec::new();
    let mut children = Vec::new();
    let outcome: Result<()> = async {
        for (name, (home_dir, home)) in names.iter().zip(&homes) {
            let home_dir = home_dir.clone();
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
            for member in members.iter().filter(|m| **m != home.member_id().to_string()) {
                command.args(["--join-from", member]);
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
