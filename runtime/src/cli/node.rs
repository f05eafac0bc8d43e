//! `polypact init` (create a home) and `polypact node` (run a node and its
//! API from a home, flags overriding the config, until Ctrl-C or SIGTERM).

use std::io::Write;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use std::sync::Arc;

use polypact::api::{self, ApiConfig};
use polypact::home::{API_URL_FILE, Home, HomeConfig, TOKEN_FILE, default_home};
use polypact::net::{Multiaddr, PeerId, TransportConfig};
use polypact::node::{self as pnode, NodeConfig};

use super::client::{Target, api_url};

/// Network overrides shared by `init` and `node`.
#[derive(Args, Clone, Debug, Default)]
pub struct NetFlags {
    /// API address, e.g. 127.0.0.1:7410 (overrides [api] listen).
    #[arg(long, value_name = "ADDR")]
    pub api: Option<String>,
    /// p2p listen multiaddress (repeatable; overrides [network] listen).
    #[arg(long, value_name = "MULTIADDR")]
    pub listen: Vec<String>,
    /// Bootstrap peer multiaddress (repeatable; overrides [network] bootstrap).
    #[arg(long, value_name = "MULTIADDR")]
    pub bootstrap: Vec<String>,
    /// Discover peers on the local network with mDNS (overrides [network]
    /// mdns; off by default: a node dials only whom it is told to).
    #[arg(long, conflicts_with = "no_mdns")]
    pub mdns: bool,
    /// Turn mDNS discovery off (the default; overrides [network] mdns = true).
    #[arg(long)]
    pub no_mdns: bool,
    /// A member (pm1…) whose announced partnerships naming this node's
    /// member are joined without asking (repeatable; overrides [network]
    /// join_from).
    #[arg(long = "join-from", value_name = "MEMBER")]
    pub join_from: Vec<String>,
}

/// Applies the command-line overrides to a config.
fn apply(config: &mut HomeConfig, net: &NetFlags) {
    if let Some(api) = &net.api {
        config.api.listen.clone_from(api);
    }
    if !net.listen.is_empty() {
        config.network.listen.clone_from(&net.listen);
    }
    if !net.bootstrap.is_empty() {
        config.network.bootstrap.clone_from(&net.bootstrap);
    }
    if net.mdns {
        config.network.mdns = true;
    }
    if net.no_mdns {
        config.network.mdns = false;
    }
    if !net.join_from.is_empty() {
        config.network.join_from.clone_from(&net.join_from);
    }
}

/// `polypact init`.
pub fn init(target: &Target, net: &NetFlags) -> Result<()> {
    let dir = target.home.clone().unwrap_or_else(default_home);
    let mut config = HomeConfig::default();
    apply(&mut config, net);
    let home = Home::init(&dir, config)?;
    outln!("created a polypact home in {}", dir.display());
    outln!("member   {}", home.member_id());
    outln!("peer id  {}", home.peer_id());
    outln!("api      {} (token in {})", api_url(home.config()), dir.join(TOKEN_FILE).display());
    outln!("run the node with: polypact node --home {}", dir.display());
    Ok(())
}

/// How long a stop may take once asked for before the process exits anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}

/// The network settings of a home, checked (the config's own check has
/// already parsed every address).
fn net_config(home: &Home, config: &HomeConfig) -> Result<TransportConfig> {
    let mut net = TransportConfig::new(home.node_key().clone());
    let parse = |what: &str, list: &[String]| -> Result<Vec<Multiaddr>> {
        list.iter()
            .map(|a| {
                a.parse::<Multiaddr>()
                    .map_err(|e| anyhow::anyhow!("[network] {what}: {a:?} is not a multiaddress ({e})"))
            })
            .collect()
    };
    net.listen = parse("listen", &config.network.listen)?;
    net.bootstrap = parse("bootstrap", &config.network.bootstrap)?;
    net.mdns = config.network.mdns;
    net.blocked = config
        .network
        .blocked
        .iter()
        .map(|p| {
            p.parse::<PeerId>()
                .map_err(|e| anyhow::anyhow!("[network] blocked: {p:?} is not a peer id ({e})"))
        })
        .collect::<Result<_>>()?;
    Ok(net)
}

/// `polypact node`.
pub async fn run(target: &Target, net: &NetFlags) -> Result<()> {
    let dir = target.home.clone().unwrap_or_else(default_home);
    let mut home = Home::open(&dir)?;
    apply(home.config_mut(), net);
    home.config().check().map_err(|e| {
        anyhow::anyhow!("{e} (from the flags or {})", dir.join(polypact::home::CONFIG_FILE).display())
    })?;
    let config = home.config().clone();
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| config.node.log.clone());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(&filter).unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();

    let listener = match tokio::net::TcpListener::bind(&config.api.listen).await {
        Ok(listener) => listener,
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => bail!(
            "the API address {} is in use (another node, or another program); pick another with `--api 127.0.0.1:PORT` or set [api] listen in {}",
            config.api.listen,
            dir.join(polypact::home::CONFIG_FILE).display()
        ),
        Err(e) => bail!("cannot listen on {} for the API: {e}", config.api.listen),
    };
    let api_addr = listener.local_addr().context("the API listener has no address")?;
    if !api_addr.ip().is_loopback() {
        tracing::warn!(
            %api_addr,
            "the API listens beyond this machine: whoever reaches it with the token acts for your member; serve it behind TLS"
        );
    }

    let mut node_config = NodeConfig::new(home.data_dir());
    node_config.core.ack_debounce_ms = config.node.ack_debounce_ms;
    node_config.tick = Duration::from_millis(config.node.tick_ms);
    node_config.store = config.node.store_options();
    node_config.core.compact_history = config.node.compact_history;
    let key = polypact::op::MemberKey::from_secret(home.member_key().secret());
    let net = net_config(&home, &config)?;
    let join_from = config
        .network
        .join_from
        .iter()
        .map(|m| {
            m.parse::<polypact::op::MemberId>()
                .map_err(|e| anyhow::anyhow!("[network] join_from: {m:?} is not a member id ({e})"))
        })
        .collect::<Result<Vec<_>>>()?;
    let builder = pnode::NodeBuilder::new(node_config, key).network(net).join_announced_from(join_from);
    let running = builder.start().map_err(|e| match e {
        pnode::NodeError::Store(store) => anyhow::anyhow!(
            "cannot open the store in {}: {store}; is another node running on this home?",
            home.data_dir().display()
        ),
        other => other.into(),
    })?;
    let handle = running.handle.clone();
    let network = running.network.clone().context("the node started without its network")?;

    let mut api_config = ApiConfig::new(home.token()).with_network(&network);
    // The addresses the network listens on once the first is bound (ports
    // chosen by the OS included), with the peer id: what other nodes
    // bootstrap from. The API reads them afresh on every request.
    let listening = network.listen_addrs().await.unwrap_or_default();
    api_config.p2p_listen = if listening.is_empty() {
        config.network.listen.clone()
    } else {
        api::dialable(&listening, home.peer_id())
    };
    api_config.call_timeout = Duration::from_millis(config.api.call_timeout_ms);
    api_config.genesis_dir = Some(home.data_dir().join("geneses"));
    api_config.genesis_signer =
        Some(Arc::new(polypact::op::MemberKey::from_secret(home.member_key().secret())));

    outln!("polypact node running");
    outln!("member   {}", home.member_id());
    outln!("peer id  {}", home.peer_id());
    for addr in &api_config.p2p_listen {
        outln!("p2p      {addr}");
    }
    outln!("api      http://{api_addr}");
    outln!("data     {}", home.data_dir().display());
    let _ = std::io::stdout().flush();
    // Clients of this home find the API here (the config may say port 0).
    let url_file = home.dir().join(API_URL_FILE);
    if let Err(e) = std::fs::write(&url_file, format!("http://{api_addr}\n")) {
        tracing::warn!(error = %e, path = %url_file.display(), "cannot record the API URL; clients use the config's address");
    }

    let served = api::serve(listener, handle.clone(), api_config, shutdown_signal()).await;
    let _ = std::fs::remove_file(&url_file);
    tracing::info!("shutting down");
    let stopping = async {
        let stopped = handle.shutdown().await;
        let _ = network.shutdown().await;
        (stopped, running.task.await)
    };
    // Everything the node accepted is durable before it is reported, so a
    // stop that does not finish may be cut short: by a second signal, or
    // after the grace period.
    let (stopped, task) = tokio::select! {
        result = stopping => result,
        () = shutdown_signal() => bail!("stopped by a second signal before the node had finished stopping \
            (everything it accepted is already stored)"),
        () = tokio::time::sleep(SHUTDOWN_GRACE) => bail!(
            "the node did not finish stopping within {} s (everything it accepted is already stored)",
            SHUTDOWN_GRACE.as_secs()
        ),
    };
    served.context("the API server failed")?;
    if let Err(e) = stopped
        && !matches!(e, pnode::NodeError::Stopped)
    {
        return Err(e.into());
    }
    match task {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(anyhow::Error::from(e).context("the node stopped with an error")),
        Err(e) => bail!("the node task failed: {e}"),
    }
    outln!("node stopped");
    Ok(())
}
