//! The `polypact` command line: its arguments and which command does what.
//!
//! - [`node`]: `init` (a home: keys, token, config) and `node` (run a node
//!   with its API).
//! - [`commands`]: the API client commands (`info`, `partnership
//!   create|join|genesis|show|list|alias|unalias`, `call`, `query`,
//!   `events`).
//! - [`invitations`]: `invitations [list|accept|decline]`, partnerships
//!   announced by strangers that wait for the operator.
//! - [`portfolio`]: `portfolio`, the member's one view across its
//!   partnerships.
//! - [`module`]: `module new|build|hash`.
//! - [`testnet`]: `testnet up|down` (local nodes as processes) and `testnet
//!   demo` (the scripted partnership story on them).
//! - [`local_demo`]: `demo`, three ledgers in one process.
//! - [`charter`]: `charter check`, the whole check of a charter, offline.
//! - [`store`]: `store check`, every record of a stopped node's store.
//! - [`client`]: reaching a node's API (`--node`, `--home`, `--testnet`).
//! - [`aliases`]: the aliases file, local names for partnerships.
//! - [`testnet_file`]: `testnet.json`, the record of a local testnet.
//! - [`output`]: printing that ends quietly on a closed pipe.
//!
//! The CLI is a client of the HTTP API (except `init`, `node`, `module`,
//! `charter`, `store`, `completions`, `man` and `demo`); the only state it keeps is
//! partnership aliases. Errors go to stderr with what to do, and exit 1
//! (2 for a usage error, 141 when stdout is a closed pipe).
//!
//! # Layering
//!
//! The modules use each other one way only, from the top down; none uses a
//! module above it, so there is no loop:
//!
//! ```text
//! mod.rs (this file: arguments, dispatch)
//!   testnet/demo        the story: uses processes, commands, charter, client, testnet_file
//!   testnet/program     the program story: uses processes, spawn, publish, commands, charter, client
//!   invitations         uses commands, client
//!   spawn               uses publish, commands, charter, client, testnet_file
//!   portfolio           uses commands, client
//!   publish             uses commands, client
//!   commands            uses charter, client, aliases, testnet_file
//!   testnet/processes   uses client, testnet_file
//!   charter             uses client (Target), testnet_file
//!   node                uses client
//!   store               uses commands (printing), client (Target)
//!   client              uses aliases, testnet_file
//!   aliases, testnet_file, output, module, local_demo: use no CLI module
//! ```
//!
//! The `outln!` family of macros below prints through [`output`] from every
//! module.

/// `println!` through [`output::out`]: quiet exit on a closed pipe.
macro_rules! outln {
    () => { $crate::cli::output::out(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::cli::output::out(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `print!` through [`output::out`].
macro_rules! out {
    ($($arg:tt)*) => { $crate::cli::output::out(format_args!($($arg)*)) };
}

/// `eprintln!` through [`output::err`].
macro_rules! errln {
    () => { $crate::cli::output::err(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::cli::output::err(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `eprint!` through [`output::err`].
macro_rules! errout {
    ($($arg:tt)*) => { $crate::cli::output::err(format_args!($($arg)*)) };
}

mod aliases;
mod certificate;
mod charter;
mod client;
mod commands;
mod invitations;
mod local_demo;
mod module;
mod node;
mod output;
mod portfolio;
mod publish;
mod spawn;
mod store;
mod testnet;
mod testnet_file;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use clap::{Args, CommandFactory, Parser, Subcommand};

pub use client::Target;
use commands::Wait;
use node::NetFlags;

#[derive(Parser)]
#[command(name = "polypact", version, about = "A runtime for programmable partnerships")]
struct Cli {
    #[command(flatten)]
    target: TargetArgs,
    #[command(subcommand)]
    command: Cmd,
}

/// Which node a client command talks to, and where a node's home is.
#[derive(Args, Clone, Debug, Default)]
struct TargetArgs {
    /// The node's home directory (default $POLYPACT_HOME, else ~/.polypact).
    #[arg(long, global = true, value_name = "DIR")]
    home: Option<PathBuf>,
    /// The node's API URL, e.g. http://127.0.0.1:7410 or 127.0.0.1:7410
    /// (needs --token).
    #[arg(long, global = true, value_name = "URL", env = "POLYPACT_NODE")]
    node: Option<String>,
    /// The API token (default: the home's api.token).
    #[arg(long, global = true, value_name = "TOKEN", env = "POLYPACT_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Talk to a node of the local testnet in DIR (see `testnet up`).
    #[arg(long, global = true, value_name = "DIR")]
    testnet: Option<PathBuf>,
    /// With --testnet: the node's name (default: the first node).
    // Its own id: subcommands have positional `name`s, and ids are shared
    // with global arguments.
    #[arg(long = "as", id = "as_node", global = true, value_name = "NAME")]
    name: Option<String>,
}

impl TargetArgs {
    /// The target; `--as` means nothing without `--testnet`, so it is refused.
    fn target(&self) -> anyhow::Result<Target> {
        if let (Some(name), None) = (&self.name, &self.testnet) {
            bail!(
                "--as {name} picks a node of a local testnet and needs --testnet DIR \
                 (e.g. `polypact --testnet DIR --as {name} …`); to talk to another node, give --home DIR or --node URL"
            );
        }
        Ok(Target {
            node: self.node.clone(),
            token: self.token.clone(),
            home: self.home.clone(),
            testnet: self.testnet.clone(),
            name: self.name.clone(),
        })
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// Creates a home: member key, node key, API token and polypact.toml.
    Init {
        #[command(flatten)]
        net: NetFlags,
    },
    /// Runs a node with the home's config (flags override it) until Ctrl-C.
    Node {
        #[command(flatten)]
        net: NetFlags,
    },
    /// Shows the node: member, version, peers.
    Info {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Partnerships: create, join, genesis, show, list.
    Partnership {
        #[command(subcommand)]
        command: PartnershipCmd,
    },
    /// Partnerships announced to this node, naming its member, by creators
    /// it has no partnership with: the node joins one only when you accept
    /// it. Without a subcommand, lists them.
    Invitations {
        #[command(subcommand)]
        command: Option<InvitationsCmd>,
        /// Print JSON (when listing).
        #[arg(long)]
        json: bool,
    },
    /// The member's one view across all its partnerships: what it is owed
    /// and owes per asset, votes and other things waiting for it, the
    /// dates coming (votes closing, notice periods, term ends, KPI reviews,
    /// vesting cliffs…), and counterparties its partnerships share.
    Portfolio {
        /// Read every partnership's final state instead of the latest.
        #[arg(long = "final")]
        final_state: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Submits a call as the node's member.
    Call {
        /// Partnership id, a unique prefix of 8 or more hex digits, or an alias.
        id: String,
        /// Module instance name.
        module: String,
        /// The message, JSON.
        msg: String,
        /// Wait until the call is applied or final and show its result.
        #[arg(long, value_enum, default_value_t = Wait::Applied)]
        wait: Wait,
        /// Longest wait, in seconds.
        #[arg(long, default_value_t = 30)]
        timeout: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Queries a module.
    Query {
        /// Partnership id, a unique prefix of 8 or more hex digits, or an alias.
        id: String,
        /// Module instance name.
        module: String,
        /// The query, JSON.
        msg: String,
        /// Read the final state instead of the optimistic one.
        #[arg(long = "final")]
        final_state: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Follows a partnership's op events (applied, undone, final).
    Events {
        /// Partnership id, a unique prefix of 8 or more hex digits, or an alias.
        id: String,
        /// Only final events.
        #[arg(long = "final")]
        final_only: bool,
        /// Stop after this many events (at least 1; leave it out to follow
        /// every event).
        #[arg(long, value_name = "N", value_parser = at_least_one)]
        count: Option<u64>,
        /// Print one JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Charters: check one before creating a partnership from it.
    Charter {
        #[command(subcommand)]
        command: CharterCmd,
    },
    /// Certificates: check one offline against its partnership's id.
    Certificate {
        #[command(subcommand)]
        command: CertificateCmd,
    },
    /// The node's store: check every record of it while the node is stopped.
    Store {
        #[command(subcommand)]
        command: StoreCmd,
    },
    /// Module tooling: new, build, hash; publish code in a partnership and
    /// propose installing or upgrading it.
    Module {
        #[command(subcommand)]
        command: ModuleCmd,
    },
    /// Local testnets: N nodes as processes on loopback.
    Testnet {
        #[command(subcommand)]
        command: TestnetCmd,
    },
    /// Three partners' ledgers in one process (no network, no API).
    Demo {
        /// The guestbook module (default: where `scripts/build-modules.sh`
        /// puts it, under the current directory).
        #[arg(long, value_name = "FILE")]
        wasm: Option<PathBuf>,
    },
    /// Prints a shell completion script (e.g. `polypact completions bash >
    /// ~/.local/share/bash-completion/completions/polypact`).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Prints the man page, or writes one per command with --dir.
    Man {
        /// Write polypact.1 and one page per subcommand (polypact-partnership-create.1, …) into DIR.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum CharterCmd {
    /// Checks a charter whole, without a node: the TOML, the placeholders
    /// (filled with --set, and with --testnet its nodes' member ids), the
    /// participants, the module code files and every reference between
    /// modules. Lists every problem at once; exits 0 if there is none.
    Check {
        /// The charter TOML file.
        charter: PathBuf,
        /// A placeholder value, name=value (repeatable).
        #[arg(long = "set", value_name = "NAME=VALUE")]
        set: Vec<String>,
    },
}

#[derive(Subcommand)]
enum StoreCmd {
    /// Reads every page and every record of the home's store and checks
    /// each (ops against their ids, final states against their roots, the
    /// store's other records against their checksums), so damage is found
    /// before the node meets it. Run it with the node stopped. Exits 0 if
    /// nothing is damaged, 1 naming each damaged record otherwise.
    Check {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum CertificateCmd {
    /// Verifies a certificate without a node (a checkpoint's, from
    /// `partnership checkpoints --json`, or a message's between
    /// partnerships) and says what it proves: it carries the partnership's
    /// genesis, so its id is all the trust it needs. Exits 0 if it is valid.
    Verify {
        /// The certificate, hex, or a file holding it.
        certificate: String,
        /// The partnership it must be about (64 hex digits).
        #[arg(long, value_name = "ID")]
        partnership: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum PartnershipCmd {
    /// Creates a partnership from a charter file (a template: fill
    /// `${name}` placeholders with --set; with --testnet they default to
    /// the testnet nodes' member ids).
    Create {
        /// The charter TOML file.
        charter: PathBuf,
        /// A placeholder value, name=value (repeatable).
        #[arg(long = "set", value_name = "NAME=VALUE")]
        set: Vec<String>,
        /// Create it even if this node already has a partnership of the
        /// charter's name.
        #[arg(long)]
        allow_duplicate_name: bool,
        /// Also give the new partnership this local alias (see `partnership alias`).
        #[arg(long, value_name = "NAME")]
        alias: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Joins a partnership: a founding partner with its genesis (hex, or
    /// @FILE), as the creating node returned it (`partnership create
    /// --json`); a member admitted later by the partnership's id, which a
    /// partner's node that has seen the admission answers.
    Join {
        /// The genesis, hex, or @FILE holding it; or the partnership's id
        /// (64 hex digits).
        genesis: String,
        /// Module code the charter needs that this node lacks (repeatable).
        #[arg(long = "wasm", value_name = "FILE")]
        wasm: Vec<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Proposes, in a program partnership, to spawn a project partnership
    /// from a charter template (its module code is published in the
    /// program first). Once the vote executes and is final, the founder's
    /// node creates the project with the program's certificate; partners'
    /// nodes join it, an outsider's operator accepts its invitation.
    Spawn {
        /// The parent (program): id, a unique prefix of 8 or more hex digits, or an alias.
        parent: String,
        /// The project's charter TOML file.
        charter: PathBuf,
        /// A placeholder value, name=value (repeatable).
        #[arg(long = "set", value_name = "NAME=VALUE")]
        set: Vec<String>,
        /// A participant of the project, pm1… (repeatable; default: the
        /// charter's participants).
        #[arg(long = "participant", value_name = "MEMBER")]
        participants: Vec<String>,
        /// The proposal's title.
        #[arg(long)]
        title: Option<String>,
        /// The decision-table rule to propose under.
        #[arg(long, default_value = "spawn_partnership")]
        kind: String,
        /// How long the vote stays open, in seconds.
        #[arg(long, value_name = "SECONDS")]
        period: Option<u64>,
        /// The module to propose through (default: the one the charter
        /// grants spawn_partnership).
        #[arg(long, value_name = "MODULE")]
        via: Option<String>,
        /// Longest wait for each step, in seconds.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Prints a partnership's genesis (hex), for a new partner to join with.
    Genesis {
        /// Partnership id, a unique prefix of 8 or more hex digits, or an alias.
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Shows one partnership.
    Show {
        /// Partnership id, a unique prefix of 8 or more hex digits, or an alias.
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Shows a partnership's checkpoints (the root of its final state every
    /// `checkpoint_every` heights, who attested each, whether it is
    /// certified) and how far this node compacted its history.
    Checkpoints {
        /// Partnership id, a unique prefix of 8 or more hex digits, or an alias.
        id: String,
        /// Print JSON (with each certificate, hex).
        #[arg(long)]
        json: bool,
    },
    /// Lists the node's partnerships.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Gives a partnership a local name that every command taking a
    /// partnership id accepts. Aliases are kept in the testnet's directory
    /// (with --testnet) or the node's home (aliases.toml).
    Alias {
        /// Partnership id (or a unique prefix, or another alias).
        id: String,
        /// The alias: a-z first, then a-z, 0-9, `-`, `_` (at most 32), not all hex digits.
        name: String,
    },
    /// Removes a local alias.
    Unalias {
        /// The alias.
        name: String,
    },
}

#[derive(Subcommand)]
enum InvitationsCmd {
    /// Lists the invitations waiting on the node, oldest first.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Joins the invited partnership (fetching the module code the node
    /// lacks from the partner's node that announced it).
    Accept {
        /// The partnership id, or a unique prefix of 8 or more hex digits.
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Drops the invitation; the node ignores its announcements until it restarts.
    Decline {
        /// The partnership id, or a unique prefix of 8 or more hex digits.
        id: String,
    },
}

#[derive(Subcommand)]
enum ModuleCmd {
    /// Creates a module crate from the template: builds for wasm32, native
    /// tests pass.
    New {
        /// The crate name (a-z, 0-9, `-`, `_`).
        name: String,
        /// Where to create it (default ./NAME).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// The polypact-sdk crate to depend on (default: this build's sdk/).
        #[arg(long, value_name = "DIR")]
        sdk: Option<PathBuf>,
    },
    /// Builds a module crate for wasm32 (release) and prints its code hash.
    Build {
        /// The module crate's directory.
        path: PathBuf,
    },
    /// Prints the code hash (BLAKE3) of a .wasm file.
    Hash {
        /// The .wasm file.
        file: PathBuf,
    },
    /// Publishes a .wasm file in a partnership's log (every partner's node
    /// gets it by sync) and prints its code hash.
    Publish {
        /// Partnership id, a unique prefix of 8 or more hex digits, or an alias.
        id: String,
        /// The .wasm file.
        file: PathBuf,
        /// Wait until the publication is applied or final.
        #[arg(long, value_enum, default_value_t = Wait::Applied)]
        wait: Wait,
        /// Longest wait, in seconds.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Publishes a .wasm file and opens the proposal that installs it (or
    /// upgrades an instance to it) through the module the charter lets
    /// change modules (its governance).
    #[command(group(clap::ArgGroup::new("change").required(true).args(["install", "upgrade"])))]
    Propose {
        /// Partnership id, a unique prefix of 8 or more hex digits, or an alias.
        id: String,
        /// Install a new module instance under this name.
        #[arg(long, value_name = "NAME")]
        install: Option<String>,
        /// Upgrade this module instance (runs the new code's migrate).
        #[arg(long, value_name = "NAME")]
        upgrade: Option<String>,
        /// The .wasm file.
        file: PathBuf,
        /// JSON: the init config (install) or the migrate message (upgrade).
        #[arg(long, value_name = "JSON")]
        config: Option<String>,
        /// A system permission to grant the new instance (repeatable; the
        /// governance module must hold it).
        #[arg(long = "permission", value_name = "NAME")]
        permissions: Vec<String>,
        /// The proposal's title.
        #[arg(long)]
        title: Option<String>,
        /// The decision-table rule to propose under.
        #[arg(long, default_value = "charter_change")]
        kind: String,
        /// How long the vote stays open, in seconds (default: the voting
        /// module's longest period).
        #[arg(long, value_name = "SECONDS")]
        period: Option<u64>,
        /// The module to propose through (default: the one the charter
        /// grants install_module/upgrade_module).
        #[arg(long, value_name = "MODULE")]
        via: Option<String>,
        /// Longest wait for each step, in seconds.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum TestnetCmd {
    /// Starts N nodes on loopback, each with its home in DIR/NAME, connected
    /// through bootstrap addresses; writes DIR/testnet.json.
    Up {
        /// How many nodes (default 3, or as many as --names).
        #[arg(long)]
        nodes: Option<usize>,
        /// The testnet's directory.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// Node names, comma separated (default node1, node2, …).
        #[arg(long, value_delimiter = ',')]
        names: Vec<String>,
    },
    /// Stops the testnet's nodes (homes are kept).
    Down {
        /// The testnet's directory.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
    },
    /// Three nodes, the joint-venture charter, a short story.
    Demo {
        /// Leave the testnet running afterwards.
        #[arg(long)]
        keep: bool,
        /// The testnet's directory (default: a new temporary one).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// The charter (default examples/charters/joint-venture.toml).
        #[arg(long, value_name = "FILE", conflicts_with = "program")]
        charter: Option<PathBuf>,
        /// Tell the polypartnership story instead: a program of four
        /// partners spawns a project with an outsider, and the project's
        /// revenue pays the program fee (five nodes).
        #[arg(long)]
        program: bool,
    },
}

/// `--count`: a number of events, at least 1.
fn at_least_one(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(0) => Err("must be at least 1; leave --count out to follow every event".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("not a number of events: {e}")),
    }
}

/// Runs the command line; prints errors and returns the exit code.
pub fn main() -> ExitCode {
    let cli = Cli::try_parse().unwrap_or_else(|error| {
        // clap's help, version and usage errors; a closed pipe as everywhere.
        if let Err(e) = error.print()
            && e.kind() == std::io::ErrorKind::BrokenPipe
        {
            std::process::exit(output::BROKEN_PIPE_STATUS);
        }
        std::process::exit(error.exit_code());
    });
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            errln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context;
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let target = cli.target.target()?;
    match cli.command {
        Cmd::Init { net } => node::init(&target, &net),
        Cmd::Node { net } => runtime()?.block_on(node::run(&target, &net)),
        Cmd::Info { json } => runtime()?.block_on(commands::info(&target, json)),
        Cmd::Partnership { command } => runtime()?.block_on(async {
            match command {
                PartnershipCmd::Create { charter, set, allow_duplicate_name, alias, json } => {
                    let options = commands::CreateOptions { allow_duplicate_name, alias, json };
                    commands::create(&target, &charter, &set, &options).await
                }
                PartnershipCmd::Join { genesis, wasm, json } => {
                    commands::join(&target, &genesis, &wasm, json).await
                }
                PartnershipCmd::Spawn {
                    parent,
                    charter,
                    set,
                    participants,
                    title,
                    kind,
                    period,
                    via,
                    timeout,
                    json,
                } => {
                    let proposal = publish::Proposal {
                        title,
                        kind,
                        period_ms: period.map(|s| s.saturating_mul(1000)),
                        via,
                    };
                    {
                        let request = spawn::SpawnRequest {
                            parent: &parent,
                            charter: &charter,
                            set: &set,
                            participants: &participants,
                        };
                        spawn::spawn(&target, request, proposal, timeout, json).await
                    }
                }
                PartnershipCmd::Genesis { id, json } => commands::genesis(&target, &id, json).await,
                PartnershipCmd::Show { id, json } => commands::show(&target, &id, json).await,
                PartnershipCmd::Checkpoints { id, json } => commands::checkpoints(&target, &id, json).await,
                PartnershipCmd::List { json } => commands::list(&target, json).await,
                PartnershipCmd::Alias { id, name } => commands::alias(&target, &id, &name).await,
                PartnershipCmd::Unalias { name } => commands::unalias(&target, &name),
            }
        }),
        Cmd::Invitations { command, json } => runtime()?.block_on(async {
            match command {
                None => invitations::list(&target, json).await,
                Some(InvitationsCmd::List { json: list_json }) => {
                    invitations::list(&target, json || list_json).await
                }
                Some(InvitationsCmd::Accept { id, json: accept_json }) => {
                    invitations::accept(&target, &id, json || accept_json).await
                }
                Some(InvitationsCmd::Decline { id }) => invitations::decline(&target, &id).await,
            }
        }),
        Cmd::Portfolio { final_state, json } => {
            runtime()?.block_on(portfolio::show(&target, final_state, json))
        }
        Cmd::Call { id, module, msg, wait, timeout, json } => {
            runtime()?.block_on(commands::call(&target, &id, &module, &msg, wait, timeout, json))
        }
        Cmd::Query { id, module, msg, final_state, json } => {
            runtime()?.block_on(commands::query(&target, &id, &module, &msg, final_state, json))
        }
        Cmd::Events { id, final_only, count, json } => {
            runtime()?.block_on(commands::events(&target, &id, final_only, count, json))
        }
        Cmd::Certificate { command } => match command {
            CertificateCmd::Verify { certificate: input, partnership, json } => {
                certificate::verify(&input, partnership.as_deref(), json)
            }
        },
        Cmd::Charter { command } => match command {
            CharterCmd::Check { charter, set } => charter::check(&target, &charter, &set),
        },
        Cmd::Store { command } => match command {
            StoreCmd::Check { json } => store::check(&target, json),
        },
        Cmd::Completions { shell } => {
            let mut buffer = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "polypact", &mut buffer);
            out!("{}", String::from_utf8_lossy(&buffer));
            Ok(())
        }
        Cmd::Man { dir } => man(dir),
        Cmd::Module { command } => match command {
            ModuleCmd::New { name, dir, sdk } => module::new(&name, dir, sdk),
            ModuleCmd::Build { path } => module::build(&path).map(|_| ()),
            ModuleCmd::Hash { file } => module::hash(&file),
            ModuleCmd::Publish { id, file, wait, timeout, json } => {
                runtime()?.block_on(publish::publish(&target, &id, &file, wait, timeout, json))
            }
            ModuleCmd::Propose {
                id,
                install,
                upgrade,
                file,
                config,
                permissions,
                title,
                kind,
                period,
                via,
                timeout,
                json,
            } => {
                let config = publish::config_arg(config.as_deref())?;
                let change = match (install, upgrade) {
                    (Some(name), _) => publish::Change::Install { name, config, permissions },
                    (None, Some(name)) => {
                        if !permissions.is_empty() {
                            anyhow::bail!(
                                "--permission goes with --install: an upgrade keeps the instance's permissions"
                            );
                        }
                        publish::Change::Upgrade { name, migrate: config }
                    }
                    (None, None) => unreachable!("clap requires --install or --upgrade"),
                };
                runtime()?.block_on(publish::propose(
                    &target,
                    &id,
                    change,
                    &file,
                    publish::Proposal { title, kind, period_ms: period.map(|s| s.saturating_mul(1000)), via },
                    timeout,
                    json,
                ))
            }
        },
        Cmd::Testnet { command } => runtime()?.block_on(async {
            match command {
                TestnetCmd::Up { nodes, dir, names } => testnet::up(&dir, nodes, names).await.map(|_| ()),
                TestnetCmd::Down { dir } => testnet::down(&dir).await,
                TestnetCmd::Demo { keep, dir, charter, program: false } => {
                    testnet::demo(keep, dir, charter).await
                }
                TestnetCmd::Demo { keep, dir, program: true, .. } => testnet::program_demo(keep, dir).await,
            }
        }),
        Cmd::Demo { wasm } => local_demo::run(wasm.as_deref()),
    }
}

/// `polypact man`: the top page on stdout, or every page into a directory.
fn man(dir: Option<PathBuf>) -> anyhow::Result<()> {
    use anyhow::Context;
    let command = Cli::command();
    match dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
            clap_mangen::generate_to(command, &dir)
                .with_context(|| format!("cannot write the man pages into {}", dir.display()))?;
            outln!(
                "man pages written to {} (read one with `man -l {}/polypact.1`)",
                dir.display(),
                dir.display()
            );
        }
        None => {
            let mut buffer = Vec::new();
            clap_mangen::Man::new(command).render(&mut buffer).context("cannot render the man page")?;
            out!("{}", String::from_utf8_lossy(&buffer));
        }
    }
    Ok(())
}
