//! `testnet.json`: the record of a local testnet, which `testnet up`
//! writes and every command given `--testnet DIR --as NAME` reads to find a
//! node's API, token and member id.
//!
//! `{"nodes":[{"name","api","token_file","member","peer_id","p2p","pid","home","log"}]}`
//!
//! This file owns the record's types ([`Testnet`], [`TestnetNode`]), reading
//! and writing it, and looking nodes up in it. It does not own starting or
//! stopping the nodes (`testnet/processes.rs`), talking to them
//! (`Client::of_testnet_node` in `client.rs`) or the demo
//! (`testnet/demo.rs`). It uses no other CLI module, so every other one may
//! use it.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, anyhow};
use serde::{Deserialize, Serialize};

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

    /// Writes DIR/testnet.json.
    pub fn save(&self, dir: &Path) -> Result<()> {
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
