//! The node's home directory: keys, API token and the `polypact.toml`
//! config that `polypact init` writes and `polypact node` reads.
//!
//! Layout of a home (default `~/.polypact`, or `$POLYPACT_HOME`):
//!
//! | file | what | mode |
//! |---|---|---|
//! | `polypact.toml` | the config ([`HomeConfig`]), every setting documented | 0600 |
//! | `member.key` | the member's ed25519 secret, hex (the keystore) | 0600 |
//! | `node.key` | the node's libp2p ed25519 key, protobuf encoding | 0600 |
//! | `api.token` | the API bearer token, hex | 0600 |
//! | `api.url` | the running node's API URL (absent when it is stopped) | 0644 |
//! | `data/` | the store and module cache (`[node] data_dir`) | 0700 |
//!
//! This file owns the layout, the config format and its version
//! ([`HOME_VERSION`]), and the checks made when a home is opened (a home of
//! another version, a malformed config with its line, a key others can
//! read). It does not run anything: the CLI starts the node from a [`Home`],
//! and the network reads [`NetworkSettings`].

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::op::{MemberId, MemberKey};

/// The layout version this code reads and writes. A home written by another
/// version is refused with [`HomeError::Version`].
pub const HOME_VERSION: u32 = 1;
/// The config file's name inside a home.
pub const CONFIG_FILE: &str = "polypact.toml";
/// The member keystore's name inside a home.
pub const MEMBER_KEY_FILE: &str = "member.key";
/// The node (libp2p) key's name inside a home.
pub const NODE_KEY_FILE: &str = "node.key";
/// The API token's name inside a home.
pub const TOKEN_FILE: &str = "api.token";
/// Written by a running node: the URL its API really listens on (the
/// config may say port 0, or a flag may override it); removed on a clean stop.
pub const API_URL_FILE: &str = "api.url";
/// The API address when the config does not set one.
pub const DEFAULT_API_LISTEN: &str = "127.0.0.1:7410";
/// The p2p listen address when the config does not set one.
pub const DEFAULT_P2P_LISTEN: &str = "/ip4/0.0.0.0/tcp/7411";

/// Why a home could not be created or opened. Each message names the file
/// and says what to do.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum HomeError {
    /// No config in the directory.
    #[error("{} is not a polypact home (no {CONFIG_FILE}); create one with `polypact init --home {}`", .dir.display(), .dir.display())]
    NotInitialised {
        /// The directory.
        dir: PathBuf,
    },
    /// `init` on a directory that already holds a home.
    #[error("{} already holds a polypact home; keep it, or pick another directory with `--home DIR`", .dir.display())]
    AlreadyInitialised {
        /// The directory.
        dir: PathBuf,
    },
    /// A directory with keys but no config (an `init` that stopped half way).
    #[error("{} holds {file} but no {CONFIG_FILE} (an earlier init stopped half way); keep the key if it is in use, else move the directory away and run `polypact init` again", .dir.display())]
    Partial {
        /// The directory.
        dir: PathBuf,
        /// The file found.
        file: &'static str,
    },
    /// A file could not be read or written.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The config does not parse or holds a bad value.
    #[error("{}: {message}", .path.display())]
    Config {
        /// The config file.
        path: PathBuf,
        /// What is wrong, with the line where the parser knows it.
        message: String,
    },
    /// The home was written by another layout version.
    #[error("{} is a home of version {found}, this polypact reads version {expected}; use the polypact that created it, or create a new home with `polypact init --home NEW_DIR`", .path.display())]
    Version {
        /// The config file.
        path: PathBuf,
        /// The version in the file.
        found: i64,
        /// [`HOME_VERSION`].
        expected: u32,
    },
    /// A key file is malformed.
    #[error("{}: {message}", .path.display())]
    Key {
        /// The key file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A secret file is readable by other users.
    #[error("{} has mode {mode:o}, readable by other users; restrict it with `chmod 600 {}`", .path.display(), .path.display())]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
}

/// `[api]`: the HTTP API.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiSettings {
    /// Address the API listens on. Loopback by default: expose it only
    /// behind a proxy that terminates TLS.
    pub listen: String,
    /// How long a call may wait for `applied` or `final`, in milliseconds,
    /// when the request does not say.
    pub call_timeout_ms: u64,
}

impl Default for ApiSettings {
    fn default() -> Self {
        ApiSettings { listen: DEFAULT_API_LISTEN.to_owned(), call_timeout_ms: 30_000 }
    }
}

/// `[network]`: what the libp2p network listens on and whom it dials (read
/// by the network half of the node).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkSettings {
    /// Multiaddresses to listen on.
    pub listen: Vec<String>,
    /// Multiaddresses of peers to dial at start (with a `/p2p/<peer id>` suffix).
    pub bootstrap: Vec<String>,
    /// Discover peers on the local network with mDNS (off by default: with
    /// it on, the node dials whoever answers on the LAN).
    pub mdns: bool,
    /// Peer ids never to talk to.
    pub blocked: Vec<String>,
    /// Members whose announced partnerships (naming this node's member as a
    /// founder) the node joins without asking, besides the participants of
    /// partnerships it holds; anyone else's wait as invitations.
    pub join_from: Vec<String>,
}

impl Default for NetworkSettings {
    fn default() -> Self {
        NetworkSettings {
            listen: vec![DEFAULT_P2P_LISTEN.to_owned()],
            bootstrap: Vec::new(),
            mdns: false,
            blocked: Vec::new(),
            join_from: Vec::new(),
        }
    }
}

/// `[node]`: the node's data and timing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeSettings {
    /// Store and module cache; relative paths are inside the home.
    pub data_dir: String,
    /// The ack window in milliseconds: the member acks others' ops at once
    /// when it has not acked for this long, else when the window ends.
    pub ack_debounce_ms: u64,
    /// How often the node does periodic work (snapshots; a backstop for acks,
    /// which have their own timer), in milliseconds.
    pub tick_ms: u64,
    /// Log filter (`RUST_LOG` syntax), overridden by `RUST_LOG`.
    pub log: String,
    /// Memory the store may use to cache file pages, in MiB (at least 1).
    pub store_cache_mib: u64,
    /// Whether opening the store checks every page of its file (off by
    /// default). Every record the node acts on is checked when it is read
    /// (ops against their ids, code against its hash, a final state
    /// against its root, every other record against its checksum); the
    /// whole-file check also catches damage in what is not read yet, at a
    /// start-up cost that grows with the file (about 1 s per million ops
    /// here; see BENCHMARKS.md, Memory).
    pub store_check_on_open: bool,
    /// Whether the node compacts stored final ops (keeps only their
    /// headers) behind each partnership's latest checkpoint that every
    /// participant attested (off: they are kept for audit).
    pub compact_history: bool,
}

impl NodeSettings {
    /// The store's options these settings ask for.
    pub fn store_options(&self) -> crate::store::StoreOptions {
        let mib = usize::try_from(self.store_cache_mib).unwrap_or(usize::MAX >> 20).min(usize::MAX >> 20);
        crate::store::StoreOptions { verify_on_open: self.store_check_on_open, cache_bytes: mib << 20 }
    }
}

impl Default for NodeSettings {
    fn default() -> Self {
        NodeSettings {
            data_dir: "data".to_owned(),
            ack_debounce_ms: 50,
            tick_ms: 100,
            log: "info".to_owned(),
            store_cache_mib: crate::store::DEFAULT_CACHE_MIB as u64,
            store_check_on_open: false,
            compact_history: false,
        }
    }
}

/// The content of `polypact.toml`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HomeConfig {
    /// The layout version ([`HOME_VERSION`]).
    pub home_version: u32,
    /// The HTTP API.
    #[serde(default)]
    pub api: ApiSettings,
    /// The network.
    #[serde(default)]
    pub network: NetworkSettings,
    /// The node.
    #[serde(default)]
    pub node: NodeSettings,
}

impl Default for HomeConfig {
    fn default() -> Self {
        HomeConfig {
            home_version: HOME_VERSION,
            api: ApiSettings::default(),
            network: NetworkSettings::default(),
            node: NodeSettings::default(),
        }
    }
}

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

fn toml_list(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|s| toml_str(s)).collect();
    format!("[{}]", items.join(", "))
}

impl HomeConfig {
    /// The config as the documented TOML file `init` writes: every setting,
    /// with what it does and its default.
    pub fn to_documented_toml(&self) -> String {
        let d = HomeConfig::default();
        format!(
            r#"# polypact node configuration, written by `polypact init`.
# Every setting is shown with its value; a removed setting takes the default
# named in its comment. Flags of `polypact node` override these values.

# Layout version of this home directory. Do not edit: a polypact that reads
# another version refuses the home instead of misreading it.
home_version = {version}

[api]
# Address of the HTTP JSON API (default {api_listen}). Loopback by default;
# every route except GET /health needs the bearer token in {token}.
# Flag: --api ADDR
listen = {listen}
# How long a call may wait for `applied` or `final`, in ms (default {timeout_default}).
call_timeout_ms = {timeout}

[network]
# Multiaddresses the p2p network listens on (default [{p2p_default}]).
# Flag: --listen ADDR (repeatable)
listen = {net_listen}
# Peers dialled at start, as multiaddresses ending in /p2p/<peer id>
# (default []). Flag: --bootstrap ADDR (repeatable)
bootstrap = {bootstrap}
# Discover peers on the local network with mDNS (default {mdns_default}): with
# it on, the node dials whoever answers on the LAN. Flags: --mdns, --no-mdns
mdns = {mdns}
# Peer ids the node never talks to (default []).
blocked = {blocked}
# A partnership another node announces, naming this node's member as a
# founder, is joined without asking when its creator takes part in a
# partnership this node holds, or is one of these members (pm1…); anyone
# else's waits as an invitation (`polypact invitations`) (default []).
# Flag: --join-from MEMBER (repeatable)
join_from = {join_from}

[node]
# Store and module cache; relative to this home (default {data_default}).
data_dir = {data_dir}
# Ack window in milliseconds: the member acks others' ops at once when it has
# not acked for this long, else when the window since its last ack ends; one
# ack covers everything that arrived meanwhile (default {ack_default}).
ack_debounce_ms = {ack}
# Milliseconds between periodic work: snapshots, and a backstop for due acks
# and commits, which have exact timers of their own (default {tick_default}).
tick_ms = {tick}
# Log filter in RUST_LOG syntax; RUST_LOG overrides it (default {log_default}).
log = {log}
# Memory the store may use to cache its file's pages, in MiB (default
# {cache_default}); the cache fills up to it as the file grows, and reads it
# misses come from the operating system's file cache.
store_cache_mib = {cache}
# Check every page of the store's file when the node starts (default
# {check_default}). Every record is checked when it is read either way (ops
# against their ids, final states against their roots, the rest against
# checksums), and a damaged one fails only its partnership; on, damage in
# records not read yet is caught at start, at a cost that grows with the file
# (about 1 s per million ops).
store_check_on_open = {check}
# Compact stored final ops (keep only their author, seq and time) behind each
# partnership's latest checkpoint that every participant attested (default
# {compact_default}). The checkpoint's certificate
# proves the state there; history below it is then served by nodes that keep
# it, and this node no longer shows it. Off, every op is kept for audit.
compact_history = {compact}
"#,
            version = self.home_version,
            api_listen = toml_str(DEFAULT_API_LISTEN),
            token = TOKEN_FILE,
            listen = toml_str(&self.api.listen),
            timeout_default = d.api.call_timeout_ms,
            timeout = self.api.call_timeout_ms,
            p2p_default = toml_str(DEFAULT_P2P_LISTEN),
            net_listen = toml_list(&self.network.listen),
            bootstrap = toml_list(&self.network.bootstrap),
            mdns_default = d.network.mdns,
            mdns = self.network.mdns,
            blocked = toml_list(&self.network.blocked),
            join_from = toml_list(&self.network.join_from),
            data_default = toml_str(&d.node.data_dir),
            data_dir = toml_str(&self.node.data_dir),
            ack_default = d.node.ack_debounce_ms,
            ack = self.node.ack_debounce_ms,
            tick_default = d.node.tick_ms,
            tick = self.node.tick_ms,
            log_default = toml_str(&d.node.log),
            log = toml_str(&self.node.log),
            cache_default = d.node.store_cache_mib,
            cache = self.node.store_cache_mib,
            check_default = d.node.store_check_on_open,
            check = self.node.store_check_on_open,
            compact_default = d.node.compact_history,
            compact = self.node.compact_history,
        )
    }

    /// Parses a config file's text. `path` names it in errors; a different
    /// `home_version` is reported as such before any other field is read.
    pub fn parse(text: &str, path: &Path) -> Result<HomeConfig, HomeError> {
        let config_err = |message: String| HomeError::Config { path: path.to_owned(), message };
        let table: toml::Table = toml::from_str(text).map_err(|e| config_err(e.to_string()))?;
        match table.get("home_version") {
            None => {
                return Err(config_err(format!(
                    "no `home_version`; this polypact writes `home_version = {HOME_VERSION}`"
                )));
            }
            Some(toml::Value::Integer(v)) if *v == i64::from(HOME_VERSION) => {}
            Some(toml::Value::Integer(v)) => {
                return Err(HomeError::Version { path: path.to_owned(), found: *v, expected: HOME_VERSION });
            }
            Some(other) => return Err(config_err(format!("`home_version` must be a number, found {other}"))),
        }
        let config: HomeConfig = toml::from_str(text).map_err(|e| config_err(e.to_string()))?;
        config.check().map_err(config_err)?;
        Ok(config)
    }

    /// Checks values the types cannot: addresses parse, timings are positive.
    pub fn check(&self) -> Result<(), String> {
        self.api.listen.parse::<std::net::SocketAddr>().map_err(|e| {
            format!("[api] listen = {:?} is not an address like 127.0.0.1:7410 ({e})", self.api.listen)
        })?;
        for (what, list) in [("listen", &self.network.listen), ("bootstrap", &self.network.bootstrap)] {
            for addr in list {
                addr.parse::<libp2p::Multiaddr>().map_err(|e| {
                    format!(
                        "[network] {what}: {addr:?} is not a multiaddress like /ip4/127.0.0.1/tcp/7411 ({e})"
                    )
                })?;
            }
        }
        for peer in &self.network.blocked {
            peer.parse::<libp2p::PeerId>()
                .map_err(|e| format!("[network] blocked: {peer:?} is not a peer id ({e})"))?;
        }
        for member in &self.network.join_from {
            member
                .parse::<MemberId>()
                .map_err(|e| format!("[network] join_from: {member:?} is not a member id like pm1… ({e})"))?;
        }
        if self.node.tick_ms == 0 {
            return Err("[node] tick_ms must be above zero".into());
        }
        if self.node.store_cache_mib == 0 {
            return Err("[node] store_cache_mib must be at least 1".into());
        }
        if self.api.call_timeout_ms == 0 {
            return Err("[api] call_timeout_ms must be above zero".into());
        }
        Ok(())
    }
}

/// An opened home: its config and secrets.
pub struct Home {
    dir: PathBuf,
    config: HomeConfig,
    member_key: MemberKey,
    node_key: libp2p::identity::Keypair,
    token: String,
}

impl std::fmt::Debug for Home {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Home")
            .field("dir", &self.dir)
            .field("member", &self.member_id())
            .finish_non_exhaustive()
    }
}

/// The home directory when none is given: `$POLYPACT_HOME`, else
/// `$HOME/.polypact`, else `./.polypact`.
pub fn default_home() -> PathBuf {
    if let Some(dir) = std::env::var_os("POLYPACT_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    std::env::var_os("HOME")
        .map_or_else(|| PathBuf::from(".polypact"), |h| PathBuf::from(h).join(".polypact"))
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> HomeError + '_ {
    move |source| HomeError::Io { path: path.to_owned(), source }
}

/// Writes a new file readable by its owner only (fails if it exists).
fn write_secret(path: &Path, bytes: &[u8]) -> Result<(), HomeError> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err(path))?;
    file.write_all(bytes).map_err(io_err(path))?;
    file.sync_all().map_err(io_err(path))
}

/// Reads a secret file, refusing one others can read.
fn read_secret(path: &Path) -> Result<Vec<u8>, HomeError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(io_err(path))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(HomeError::Permissions { path: path.to_owned(), mode });
    }
    std::fs::read(path).map_err(io_err(path))
}

fn random_bytes<const N: usize>(path: &Path) -> Result<[u8; N], HomeError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| HomeError::Key {
        path: path.to_owned(),
        message: format!("the operating system gave no randomness: {e}"),
    })?;
    Ok(bytes)
}

impl Home {
    /// Creates a home in `dir` (the directory may exist but must not hold a
    /// config): member key, node key, API token and `polypact.toml` with
    /// `config`. Secrets are written with mode 0600.
    pub fn init(dir: &Path, config: HomeConfig) -> Result<Home, HomeError> {
        use std::os::unix::fs::PermissionsExt;
        let config_path = dir.join(CONFIG_FILE);
        if config_path.exists() {
            return Err(HomeError::AlreadyInitialised { dir: dir.to_owned() });
        }
        config.check().map_err(|message| HomeError::Config { path: config_path.clone(), message })?;
        // Secrets without a config: an earlier init stopped half way. Never
        // overwrite a key; the operator decides.
        for file in [MEMBER_KEY_FILE, NODE_KEY_FILE, TOKEN_FILE] {
            if dir.join(file).exists() {
                return Err(HomeError::Partial { dir: dir.to_owned(), file });
            }
        }
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io_err(dir))?;
        // Secrets first, the config last: a home with a config is complete.
        let member_path = dir.join(MEMBER_KEY_FILE);
        let secret = random_bytes::<32>(&member_path)?;
        let member_key = MemberKey::from_secret(secret);
        let keystore = format!(
            "# polypact member key of {}: ed25519 secret, hex. Keep it secret.\n{}\n",
            member_key.member_id(),
            hex::encode(secret)
        );
        write_secret(&member_path, keystore.as_bytes())?;
        let node_path = dir.join(NODE_KEY_FILE);
        let node_key = libp2p::identity::Keypair::generate_ed25519();
        let encoded = node_key
            .to_protobuf_encoding()
            .map_err(|e| HomeError::Key { path: node_path.clone(), message: e.to_string() })?;
        write_secret(&node_path, &encoded)?;
        let token_path = dir.join(TOKEN_FILE);
        let token = hex::encode(random_bytes::<32>(&token_path)?);
        write_secret(&token_path, format!("{token}\n").as_bytes())?;
        write_secret(&config_path, config.to_documented_toml().as_bytes())?;
        Ok(Home { dir: dir.to_owned(), config, member_key, node_key, token })
    }

    /// Opens the home in `dir`: reads and checks the config, the keys and
    /// the token.
    pub fn open(dir: &Path) -> Result<Home, HomeError> {
        let config_path = dir.join(CONFIG_FILE);
        if !config_path.exists() {
            return Err(HomeError::NotInitialised { dir: dir.to_owned() });
        }
        let text = std::fs::read_to_string(&config_path).map_err(io_err(&config_path))?;
        let config = HomeConfig::parse(&text, &config_path)?;
        let member_path = dir.join(MEMBER_KEY_FILE);
        let member_key = read_member_key(&member_path)?;
        let node_path = dir.join(NODE_KEY_FILE);
        let node_key =
            libp2p::identity::Keypair::from_protobuf_encoding(&read_secret(&node_path)?).map_err(|e| {
                HomeError::Key { path: node_path.clone(), message: format!("not a libp2p key: {e}") }
            })?;
        let token = read_token(&dir.join(TOKEN_FILE))?;
        Ok(Home { dir: dir.to_owned(), config, member_key, node_key, token })
    }

    /// The home directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The config.
    pub fn config(&self) -> &HomeConfig {
        &self.config
    }

    /// The config, to apply command-line overrides.
    pub fn config_mut(&mut self) -> &mut HomeConfig {
        &mut self.config
    }

    /// The member key.
    pub fn member_key(&self) -> &MemberKey {
        &self.member_key
    }

    /// The member this home acts for.
    pub fn member_id(&self) -> MemberId {
        self.member_key.member_id()
    }

    /// The node's libp2p key.
    pub fn node_key(&self) -> &libp2p::identity::Keypair {
        &self.node_key
    }

    /// The node's peer id.
    pub fn peer_id(&self) -> libp2p::PeerId {
        self.node_key.public().to_peer_id()
    }

    /// The API bearer token.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The data directory (absolute, or relative to the working directory
    /// when the home is).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join(&self.config.node.data_dir)
    }
}

/// Reads a member keystore file (`#` comment lines, then the secret in hex).
pub fn read_member_key(path: &Path) -> Result<MemberKey, HomeError> {
    let bytes = read_secret(path)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| HomeError::Key { path: path.to_owned(), message: "not text".into() })?;
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .ok_or_else(|| HomeError::Key { path: path.to_owned(), message: "no key in the file".into() })?;
    let mut secret = [0u8; 32];
    hex::decode_to_slice(line, &mut secret).map_err(|e| HomeError::Key {
        path: path.to_owned(),
        message: format!("the key is not 64 hex digits ({e})"),
    })?;
    Ok(MemberKey::from_secret(secret))
}

/// Reads an API token file.
pub fn read_token(path: &Path) -> Result<String, HomeError> {
    let bytes = read_secret(path)?;
    let token = String::from_utf8(bytes)
        .map_err(|_| HomeError::Key { path: path.to_owned(), message: "the token is not text".into() })?
        .trim()
        .to_owned();
    if token.is_empty() {
        return Err(HomeError::Key { path: path.to_owned(), message: "the token file is empty".into() });
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn init_then_open_round_trips_with_private_files() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("h");
        let created = Home::init(&home, HomeConfig::default()).unwrap();
        for file in [CONFIG_FILE, MEMBER_KEY_FILE, NODE_KEY_FILE, TOKEN_FILE] {
            let mode = std::fs::metadata(home.join(file)).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{file}");
        }
        let opened = Home::open(&home).unwrap();
        assert_eq!(opened.member_id(), created.member_id());
        assert_eq!(opened.peer_id(), created.peer_id());
        assert_eq!(opened.token(), created.token());
        assert_eq!(opened.config(), &HomeConfig::default());
        assert!(matches!(
            Home::init(&home, HomeConfig::default()),
            Err(HomeError::AlreadyInitialised { .. })
        ));
        // A half-made home is never overwritten.
        std::fs::remove_file(home.join(CONFIG_FILE)).unwrap();
        let before = std::fs::read(home.join(MEMBER_KEY_FILE)).unwrap();
        assert!(matches!(Home::init(&home, HomeConfig::default()), Err(HomeError::Partial { .. })));
        assert_eq!(std::fs::read(home.join(MEMBER_KEY_FILE)).unwrap(), before);
    }

    #[test]
    fn another_version_and_bad_lines_are_named() {
        let path = Path::new("p.toml");
        let err = HomeConfig::parse("home_version = 7\n[api]\nlisten = 3\n", path).unwrap_err();
        assert!(matches!(err, HomeError::Version { found: 7, .. }), "{err}");
        let err = HomeConfig::parse("home_version = 1\n[api]\nlisten = 3\n", path).unwrap_err().to_string();
        assert!(err.contains("line 3"), "{err}");
        let err = HomeConfig::parse("home_version = 1\n[node]\ncolour = 1\n", path).unwrap_err().to_string();
        assert!(err.contains("colour") && err.contains("line 3"), "{err}");
        let err =
            HomeConfig::parse("home_version = 1\n[api]\nlisten = \"nope\"\n", path).unwrap_err().to_string();
        assert!(err.contains("nope"), "{err}");
        let err = HomeConfig::parse("home_version = 1\n[network]\njoin_from = [\"pm1nope\"]\n", path)
            .unwrap_err()
            .to_string();
        assert!(err.contains("join_from") && err.contains("pm1nope"), "{err}");
    }

    #[test]
    fn documented_file_parses_back_to_the_same_config() {
        let mut config = HomeConfig::default();
        config.network.bootstrap =
            vec!["/ip4/127.0.0.1/tcp/1/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN".into()];
        config.network.mdns = true;
        config.network.join_from = vec![MemberKey::from_seed(1).member_id().to_string()];
        config.node.store_cache_mib = 16;
        config.node.store_check_on_open = true;
        let text = config.to_documented_toml();
        assert_eq!(HomeConfig::parse(&text, Path::new("x")).unwrap(), config);
    }

    #[test]
    fn store_settings_default_to_an_8_mib_cache_without_the_whole_file_check_and_refuse_no_cache() {
        // A config written before the settings existed gets the defaults.
        let config = HomeConfig::parse("home_version = 1\n[node]\ntick_ms = 100\n", Path::new("x")).unwrap();
        assert_eq!(
            config.node.store_options(),
            crate::store::StoreOptions { verify_on_open: false, cache_bytes: 8 << 20 }
        );
        let err = HomeConfig::parse("home_version = 1\n[node]\nstore_cache_mib = 0\n", Path::new("x"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("store_cache_mib must be at least 1"), "{err}");
    }

    #[test]
    fn mdns_is_off_unless_asked_for() {
        // With mDNS on, a node dials whoever answers on the LAN, a stranger
        // included: a home, and a config that does not mention it, leave it off.
        assert!(!HomeConfig::default().network.mdns);
        let config = HomeConfig::parse("home_version = 1\n[network]\n", Path::new("x")).unwrap();
        assert!(!config.network.mdns);
        let text = HomeConfig::default().to_documented_toml();
        assert!(text.contains("\nmdns = false\n"), "{text}");
    }

    #[test]
    fn readable_secrets_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        Home::init(dir.path(), HomeConfig::default()).unwrap();
        let key = dir.path().join(MEMBER_KEY_FILE);
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(Home::open(dir.path()), Err(HomeError::Permissions { mode: 0o644, .. })));
    }
}
