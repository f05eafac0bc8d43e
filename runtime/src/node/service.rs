//! The running node: a tokio task that owns the [`NodeCore`] and serves
//! requests through a cloneable [`NodeHandle`] (what the HTTP API and
//! embedding applications use), runs the ack/snapshot timer, and streams
//! [`NodeEvent`]s to subscribers.
//!
//! Every request goes through one bounded command queue (back-pressure: a
//! full queue makes callers wait, never grows without bound); the task
//! handles one at a time, so the core needs no locks. The network half
//! plugs into the same loop ([`super::network`]). This file does not know
//! HTTP, and it does not decide state: the ledger does.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::host::HostConfig;
use crate::ledger::{ExecError, OpOutcome};
use crate::net::{NetHandle, PeerId};
use crate::op::{Charter, CodeHash, MemberId, OpId, PartnershipId, SignedOp};
use crate::store::StoreOptions;

use super::clock::now_ms;
use super::core::{CoreConfig, NodeCore};
use super::error::NodeError;
use super::event::{NodeEvent, OpEventKind};
use super::network::{Invitation, KeysHeld, NetInput, NetworkHalf, NetworkStats};

/// How a node runs.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// The node's data directory: `store.redb` and the module cache live here.
    pub data_dir: PathBuf,
    /// Ack debounce and ledger limits.
    pub core: CoreConfig,
    /// The WASM host (its `cache_dir` defaults to `data_dir/module-cache`).
    pub host: HostConfig,
    /// How the store opens `data_dir/store.redb`: its page cache, and
    /// whether it checks the whole file first (not by default: a node
    /// checks every record it reads, its ledgers every final state they
    /// load, so start-up does not grow with history; see
    /// `docs/decisions.md`, "A node's store is checked as it is read").
    pub store: StoreOptions,
    /// How often the node does its periodic work: snapshots, and a backstop
    /// for acks and held-ack commits, which wake the node at the exact
    /// moment they fall due. Every tick wakes the node, so a short one
    /// costs an idle node CPU for nothing.
    pub tick: Duration,
    /// Requests queued before callers wait.
    pub command_queue: usize,
    /// Events buffered per subscriber before a slow one skips ahead.
    pub event_buffer: usize,
}

impl NodeConfig {
    /// Defaults for a node whose data lives in `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        let data_dir = data_dir.into();
        let host = HostConfig { cache_dir: Some(data_dir.join("module-cache")), ..HostConfig::default() };
        NodeConfig {
            data_dir,
            core: CoreConfig::default(),
            host,
            store: StoreOptions { verify_on_open: false, ..StoreOptions::default() },
            tick: Duration::from_millis(100),
            command_queue: 1024,
            event_buffer: 8192,
        }
    }
}

/// How long a call waits before it returns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WaitFor {
    /// Return as soon as the op is accepted (durable); the outcome comes later.
    #[default]
    Accepted,
    /// Wait until the op is applied to the optimistic state.
    Applied,
    /// Wait until the op is final.
    Final,
}

/// What a submitted call came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallReceipt {
    /// The op's id.
    pub op: OpId,
    /// Its outcome, once applied.
    pub outcome: Option<OpOutcome>,
    /// Whether it is final.
    pub is_final: bool,
}

/// What publishing module code in a partnership came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishReceipt {
    /// The code's hash.
    pub code: CodeHash,
    /// The `PublishCode` ops, one per chunk (empty: it was already published).
    pub ops: Vec<OpId>,
    /// The last op's outcome, once applied (it completes the publication).
    pub outcome: Option<OpOutcome>,
    /// Whether the last op is final.
    pub is_final: bool,
}

/// A partnership in a list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartnershipSummary {
    /// Its id.
    pub id: PartnershipId,
    /// The charter's name.
    pub name: String,
    /// Final height.
    pub final_height: u64,
    /// Optimistic height.
    pub optimistic_height: u64,
    /// Active participants.
    pub participants: usize,
    /// Ops in the graph.
    pub op_count: u64,
    /// Ops waiting for missing parents.
    pub pending: usize,
    /// Ops refused since the ledger was loaded, by reason.
    pub refusals: BTreeMap<String, u64>,
    /// Messages from other partnerships refused since the ledger was
    /// loaded, by reason.
    pub delivery_refusals: BTreeMap<String, u64>,
}

/// A participant's status, as a client sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParticipantStatus {
    /// Takes part; finality waits for it.
    Active,
    /// Suspended at this height: its ops after `cut_seq` have no effect,
    /// and finality does not wait for it; it keeps membership and claims.
    Suspended {
        /// Height of the op that suspended it.
        at: u64,
        /// Its last op that counts.
        cut_seq: u64,
    },
    /// Removed at this height.
    Removed {
        /// Height of the op that removed it.
        at: u64,
    },
}

impl ParticipantStatus {
    /// `active`, `suspended` or `removed`.
    pub fn name(&self) -> &'static str {
        match self {
            ParticipantStatus::Active => "active",
            ParticipantStatus::Suspended { .. } => "suspended",
            ParticipantStatus::Removed { .. } => "removed",
        }
    }
}

/// One participant in a [`PartnershipInfo`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParticipantView {
    /// The member.
    pub member: MemberId,
    /// Height of its admission (0 for founders).
    pub admitted_at: u64,
    /// Its status.
    pub status: ParticipantStatus,
    /// How long ago (node clock) an op of it last reached this node, if any
    /// did since the node started.
    pub last_heard_ms_ago: Option<u64>,
}

/// A participant finality is waiting for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Waiting {
    /// Who.
    pub member: MemberId,
    /// How long (node clock) this node has not heard from it.
    pub silent_for_ms: u64,
    /// When, from now, this node will vote to suspend it, if it will.
    pub suspension_in_ms: Option<u64>,
    /// Why it will not be suspended, if it cannot be.
    pub why_not: Option<String>,
}

/// Everything a client sees of one partnership.
#[derive(Clone, Debug)]
pub struct PartnershipInfo {
    /// Its id.
    pub id: PartnershipId,
    /// The charter it was created from.
    pub charter: Charter,
    /// Final height.
    pub final_height: u64,
    /// Optimistic height.
    pub optimistic_height: u64,
    /// State root of the final state.
    pub final_root: [u8; 32],
    /// State root of the optimistic state.
    pub optimistic_root: [u8; 32],
    /// Active participants with the height they were admitted at.
    pub participants: Vec<(MemberId, u64)>,
    /// Every participant, former ones included, with its status.
    pub statuses: Vec<ParticipantView>,
    /// What finality waits for now (empty when nothing waits).
    pub waiting_for: Vec<Waiting>,
    /// Installed module instances and their code.
    pub modules: Vec<(String, crate::ledger::ModuleRecord)>,
    /// Module code published in the partnership (by the genesis or by
    /// `PublishCode` ops): what installs and upgrades may name.
    pub published_code: Vec<(CodeHash, crate::ledger::CodeRecord)>,
    /// Ops in the graph.
    pub op_count: u64,
    /// Ops waiting for their parents.
    pub pending: usize,
    /// The dissolution record, once dissolved.
    pub dissolved: Option<serde_json::Value>,
    /// Why the ledger halted, if it did.
    pub halted: Option<String>,
    /// Ops refused so far, by reason.
    pub refusals: BTreeMap<String, u64>,
    /// Final deliveries from other partnerships refused, by reason
    /// (`duplicate`, `out_of_order`, `misaddressed`, `certificate`).
    pub delivery_refusals: BTreeMap<String, u64>,
    /// The node each participant bound (`BindPeer`), by member: the peer
    /// that acts for it, which this node trusts with its connection slots.
    pub bound_peers: BTreeMap<MemberId, PeerId>,
}

/// The node itself, as a client sees it.
#[derive(Clone, Debug)]
pub struct NodeInfo {
    /// The member the node acts for.
    pub member: MemberId,
    /// The software version.
    pub version: &'static str,
    /// Partnerships held.
    pub partnerships: usize,
    /// Held partnerships whose ledger is loaded; the others rest until
    /// first used.
    pub partnerships_loaded: usize,
    /// Published modules still compiling in the background.
    pub modules_compiling: usize,
    /// Held partnerships whose ledger could not be loaded from the store,
    /// with why (`NodeCore::unavailable_partnerships`).
    pub partnerships_unavailable: Vec<(PartnershipId, String)>,
}

type Reply<T> = oneshot::Sender<Result<T, NodeError>>;

/// A request to the node task.
pub(crate) enum Command {
    Info(Reply<NodeInfo>),
    AddCode(Vec<u8>, Reply<CodeHash>),
    References(CodeHash, Reply<Option<Vec<String>>>),
    Create(Box<Charter>, Reply<PartnershipId>),
    Join(Box<SignedOp>, Reply<PartnershipId>),
    JoinById(PartnershipId, Reply<PartnershipId>),
    Invitations(Reply<Vec<Invitation>>),
    AcceptInvitation(PartnershipId, Reply<PartnershipId>),
    DeclineInvitation(PartnershipId, Reply<()>),
    NetworkStats(Reply<Option<NetworkStats>>),
    PartnershipKeys(PartnershipId, Reply<Option<KeysHeld>>),
    List(Reply<Vec<PartnershipSummary>>),
    Show(PartnershipId, Reply<PartnershipInfo>),
    Submit {
        partnership: PartnershipId,
        module: String,
        msg: Vec<u8>,
        reply: Reply<OpId>,
    },
    Publish {
        partnership: PartnershipId,
        wasm: Vec<u8>,
        reply: Reply<(CodeHash, Vec<OpId>)>,
    },
    Status {
        partnership: PartnershipId,
        op: OpId,
        reply: Reply<(Option<OpOutcome>, bool)>,
    },
    Checkpoints {
        partnership: PartnershipId,
        reply: Reply<super::CheckpointsView>,
    },
    Query {
        partnership: PartnershipId,
        module: String,
        msg: Vec<u8>,
        final_state: bool,
        reply: Reply<Vec<u8>>,
    },
    Shutdown(oneshot::Sender<Result<(), NodeError>>),
}

impl Command {
    /// Whether the network half answers it (the loop hands it over).
    fn for_network(&self) -> bool {
        matches!(
            self,
            Command::JoinById(..)
                | Command::Invitations(_)
                | Command::AcceptInvitation(..)
                | Command::DeclineInvitation(..)
                | Command::NetworkStats(_)
                | Command::PartnershipKeys(..)
        )
    }
}

/// A cloneable handle to a running node.
#[derive(Clone)]
pub struct NodeHandle {
    commands: mpsc::Sender<Command>,
    events: broadcast::Sender<NodeEvent>,
    member: MemberId,
}

/// A started node: its handle and the task that runs it.
pub struct RunningNode {
    /// The handle clients use.
    pub handle: NodeHandle,
    /// The node task; it ends after [`NodeHandle::shutdown`] (or when every
    /// handle is dropped), returning the error that stopped it, if any.
    pub task: JoinHandle<Result<(), NodeError>>,
    /// The network's handle (the operator's block list, peers, addresses),
    /// when the node runs with one ([`super::NodeBuilder::network`]).
    pub network: Option<NetHandle>,
}

pub(super) fn spawn_task(mut core: NodeCore, config: &NodeConfig, net: Option<NetworkHalf>) -> RunningNode {
    core.networked = net.is_some();
    let (commands, receiver) = mpsc::channel(config.command_queue.max(1));
    let (events, _) = broadcast::channel(config.event_buffer.max(16));
    let handle = NodeHandle { commands, events: events.clone(), member: core.member() };
    let network = net.as_ref().map(|half| half.net().clone());
    let task = tokio::spawn(NodeTask { core, events, tick: config.tick, net }.run(receiver));
    RunningNode { handle, task, network }
}

struct NodeTask {
    core: NodeCore,
    events: broadcast::Sender<NodeEvent>,
    tick: Duration,
    net: Option<NetworkHalf>,
}

/// The next network input, or never without a network.
async fn next_net_input(net: &mut Option<NetworkHalf>) -> NetInput {
    match net {
        Some(half) => half.next().await,
        None => std::future::pending().await,
    }
}

impl NodeTask {
    async fn run(mut self, mut commands: mpsc::Receiver<Command>) -> Result<(), NodeError> {
        let mut ticker = tokio::time::interval(self.tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut net = self.net.take();
        let result = loop {
            let mut net_input = None;
            let mut for_network = None;
            // Wake exactly when the next ack (or held acks' commit) falls
            // due, not on the next tick: finality waits on acks, so their
            // timing is its latency.
            let ack_due = self.core.next_due();
            let ack_timer = async move {
                match ack_due {
                    Some(due) => {
                        tokio::time::sleep(Duration::from_millis(due.saturating_sub(now_ms()))).await
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                command = commands.recv() => match command {
                    None => break Ok(()),
                    Some(Command::Shutdown(reply)) => {
                        let result = self.core.flush();
                        let failed = result.as_ref().err().map(ToString::to_string);
                        let _ = reply.send(result);
                        break match failed { Some(e) => Err(NodeError::StoreFailed(e)), None => Ok(()) };
                    }
                    Some(command) if command.for_network() => for_network = Some(command),
                    Some(command) => {
                        if let Err(fatal) = self.handle(command) {
                            break Err(fatal);
                        }
                    }
                },
                _ = ticker.tick() => {
                    if let Err(fatal) = self.periodic() {
                        break Err(fatal);
                    }
                }
                () = ack_timer => {
                    if let Err(fatal) = self.periodic() {
                        break Err(fatal);
                    }
                }
                input = next_net_input(&mut net) => net_input = Some(input),
            }
            if let Some(command) = for_network
                && let Err(fatal) = self.network_command(net.as_mut(), command).await
            {
                break Err(fatal);
            }
            if let Some(half) = net.as_mut() {
                if let Some(input) = net_input
                    && let Err(fatal) = half.handle(&mut self.core, input).await
                {
                    break Err(fatal);
                }
                // An ack that fell due while handling the input goes out in
                // this turn: under a stream of gossip, `select!` (which picks
                // among ready branches at random) could otherwise take other
                // inputs for several turns first, and finality waits on acks.
                if (self.core.next_due().is_some_and(|due| due <= now_ms()) || self.core.crossings_due())
                    && let Err(fatal) = self.periodic()
                {
                    break Err(fatal);
                }
                if let Err(fatal) = half.flush(&mut self.core).await {
                    break Err(fatal);
                }
            } else {
                // No network half follows what changed.
                self.core.take_touched();
            }
            self.publish();
        };
        if let Some(half) = net.as_mut() {
            let _ = half.flush(&mut self.core).await;
            let _ = half.net().shutdown().await;
        }
        self.publish();
        if let Err(e) = &result {
            tracing::error!(error = %e, "the node stopped");
        }
        result
    }

    /// Due acks and snapshots ([`NodeCore::tick`]), the suspension ops
    /// the member owes ([`NodeCore::tend_absences`]), and attestations and
    /// deliveries between partnerships ([`NodeCore::tend_crossings`]). `Err` only for a store
    /// failure (fatal); anything else is logged and the node goes on.
    fn periodic(&mut self) -> Result<(), NodeError> {
        let now = now_ms();
        for result in [self.core.tick(now), self.core.tend_absences(now), self.core.tend_crossings(now)] {
            match result {
                Err(e) if matches!(e, NodeError::Store(_)) => return Err(e),
                Err(e) => tracing::warn!(error = %e, "periodic node work failed"),
                Ok(_) => {}
            }
        }
        Ok(())
    }

    /// Streams new events to subscribers. Authored ops went to the network
    /// half's `flush` (when one is attached).
    fn publish(&mut self) {
        for event in self.core.take_events() {
            // No subscriber is fine: events are a view, not a queue.
            let _ = self.events.send(event);
        }
        // Without a network there is no one to send ops to; they are durable
        // in the store and will be served by sync once peers connect. Nor
        // any gossip verdict to give for held acks now durable.
        let _ = self.core.take_outbox();
        let _ = self.core.take_released();
    }

    /// Handles one request. Returns `Err` only for a fatal store failure.
    fn handle(&mut self, command: Command) -> Result<(), NodeError> {
        // A client sees only durable ops: acks held for a group commit are
        // committed before any request is answered. A call's own commit
        // takes them along (one fsync, not two); if it makes none, they
        // are committed before its answer.
        if !matches!(command, Command::Submit { .. }) {
            self.core.commit_held_acks()?;
        }
        let now = now_ms();
        let mut fatal = None;
        match command {
            Command::Info(reply) => {
                let _ = reply.send(Ok(NodeInfo {
                    member: self.core.member(),
                    version: env!("CARGO_PKG_VERSION"),
                    partnerships: self.core.partnership_count(),
                    partnerships_loaded: self.core.loaded_count(),
                    modules_compiling: self.core.executor().compiling(),
                    partnerships_unavailable: self.core.unavailable_partnerships(),
                }));
            }
            Command::AddCode(wasm, reply) => {
                let result = self.core.add_code(&wasm);
                note_fatal(&mut fatal, &result);
                let _ = reply.send(result);
            }
            Command::References(code, reply) => {
                let _ = reply.send(self.core.module_references(&code));
            }
            Command::Create(charter, reply) => {
                let result = self.core.create_partnership(*charter, now);
                note_fatal(&mut fatal, &result);
                let _ = reply.send(result);
            }
            Command::Join(genesis, reply) => {
                let result = self.core.join(*genesis);
                note_fatal(&mut fatal, &result);
                let _ = reply.send(result);
            }
            // Handled by `network_command`, with the network half.
            Command::JoinById(_, reply) | Command::AcceptInvitation(_, reply) => {
                let _ = reply.send(Err(NodeError::Stopped));
            }
            Command::Invitations(reply) => {
                let _ = reply.send(Err(NodeError::Stopped));
            }
            Command::DeclineInvitation(_, reply) => {
                let _ = reply.send(Err(NodeError::Stopped));
            }
            Command::NetworkStats(reply) => {
                let _ = reply.send(Err(NodeError::Stopped));
            }
            Command::PartnershipKeys(_, reply) => {
                let _ = reply.send(Err(NodeError::Stopped));
            }
            Command::List(reply) => {
                let list = self
                    .core
                    .partnership_ids()
                    .into_iter()
                    .filter_map(|id| {
                        // Listed from the roster: a resting partnership stays unloaded.
                        let roster = self.core.roster(&id)?;
                        Some(PartnershipSummary {
                            id,
                            name: roster.name().to_owned(),
                            final_height: roster.final_height(),
                            optimistic_height: roster.optimistic_height(),
                            participants: roster.participants().iter().filter(|(_, r)| r.is_active()).count(),
                            op_count: roster.op_count(),
                            pending: roster.pending(),
                            refusals: roster.refusals(),
                            delivery_refusals: roster.delivery_refusals(),
                        })
                    })
                    .collect();
                let _ = reply.send(Ok(list));
            }
            Command::Show(id, reply) => {
                let _ = reply.send(self.show(&id));
            }
            Command::Submit { partnership, module, msg, reply } => {
                let result = self.core.submit_call(&partnership, &module, msg, now).map(|op| op.id());
                note_fatal(&mut fatal, &result);
                if fatal.is_none() {
                    self.core.commit_held_acks()?;
                }
                let _ = reply.send(result);
            }
            Command::Publish { partnership, wasm, reply } => {
                let result = self
                    .core
                    .submit_code(&partnership, &wasm, now)
                    .map(|(code, ops)| (code, ops.iter().map(SignedOp::id).collect()));
                note_fatal(&mut fatal, &result);
                let _ = reply.send(result);
            }
            Command::Checkpoints { partnership, reply } => {
                let _ = reply.send(self.core.checkpoints(&partnership));
            }
            Command::Status { partnership, op, reply } => {
                let result = self.core.ledger_or_err(&partnership).map(|l| (l.outcome(&op), l.is_final(&op)));
                let _ = reply.send(result);
            }
            Command::Query { partnership, module, msg, final_state, reply } => {
                let result = self.core.ledger_or_err(&partnership).and_then(|ledger| {
                    match ledger.query(&module, &msg, final_state) {
                        Ok(Ok(data)) => Ok(data),
                        Ok(Err(reason)) => Err(NodeError::ModuleRejected { module: module.clone(), reason }),
                        Err(e @ (ExecError::MissingCode(_) | ExecError::Fault(_))) => {
                            Err(NodeError::HostFault { module: module.clone(), reason: e.to_string() })
                        }
                        Err(e) => {
                            Err(NodeError::ModuleRejected { module: module.clone(), reason: e.to_string() })
                        }
                    }
                });
                let _ = reply.send(result);
            }
            Command::Shutdown(_) => unreachable!("handled by the loop"),
        }
        match fatal {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// A request the network half answers (`half`: `None` when the node
    /// runs without a network). `Err` only for a fatal store failure.
    async fn network_command(
        &mut self,
        half: Option<&mut NetworkHalf>,
        command: Command,
    ) -> Result<(), NodeError> {
        let no_network = || {
            NodeError::Network("this node runs without a network; join with the genesis op instead".into())
        };
        let Some(half) = half else {
            match command {
                Command::JoinById(_, reply) => {
                    let _ = reply.send(Err(no_network()));
                }
                Command::AcceptInvitation(partnership, reply) => {
                    let _ = reply.send(Err(NodeError::UnknownInvitation(partnership)));
                }
                Command::DeclineInvitation(partnership, reply) => {
                    let _ = reply.send(Err(NodeError::UnknownInvitation(partnership)));
                }
                Command::Invitations(reply) => {
                    let _ = reply.send(Ok(Vec::new()));
                }
                Command::NetworkStats(reply) => {
                    let _ = reply.send(Ok(None));
                }
                Command::PartnershipKeys(_, reply) => {
                    let _ = reply.send(Ok(None));
                }
                other => return self.handle(other),
            }
            return Ok(());
        };
        // A client sees only durable ops (as in `handle`).
        self.core.commit_held_acks()?;
        match command {
            Command::JoinById(partnership, reply) => half.join_by_id(&self.core, partnership, reply),
            Command::AcceptInvitation(partnership, reply) => {
                half.accept_invitation(&mut self.core, partnership, reply);
            }
            Command::DeclineInvitation(partnership, reply) => {
                let _ = reply.send(half.decline_invitation(partnership));
            }
            Command::Invitations(reply) => {
                let _ = reply.send(Ok(half.invitations()));
            }
            Command::NetworkStats(reply) => {
                let _ = reply.send(Ok(Some(half.full_stats().await)));
            }
            Command::PartnershipKeys(partnership, reply) => {
                let _ = reply.send(
                    self.core
                        .ledger_or_err(&partnership)
                        .map(|_| Some(half.keys_held(&self.core, &partnership))),
                );
            }
            other => return self.handle(other),
        }
        Ok(())
    }

    fn show(&self, id: &PartnershipId) -> Result<PartnershipInfo, NodeError> {
        let ledger = self.core.ledger_or_err(id)?;
        Ok(PartnershipInfo {
            id: *id,
            charter: ledger.charter().clone(),
            final_height: ledger.final_height(),
            optimistic_height: ledger.optimistic_height(),
            final_root: ledger.final_root(),
            optimistic_root: ledger.optimistic_root(),
            participants: ledger
                .participants()
                .into_iter()
                .filter(|(_, r)| r.is_active())
                .map(|(m, r)| (m, r.admitted_at))
                .collect(),
            statuses: self.core.participant_views(id, now_ms()),
            waiting_for: self.core.waiting_for(id, now_ms()),
            modules: ledger.modules(),
            published_code: ledger.optimistic_state().published_codes(),
            op_count: ledger.dag().len() as u64,
            pending: ledger.pending().len(),
            dissolved: ledger.optimistic_state().dissolution(),
            halted: ledger.halted().map(str::to_owned),
            refusals: ledger.refusal_counts().iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
            delivery_refusals: ledger
                .delivery_refusals()
                .iter()
                .map(|(k, v)| ((*k).to_owned(), *v))
                .collect(),
            bound_peers: {
                let state = ledger.optimistic_state();
                state
                    .participants()
                    .into_iter()
                    .filter_map(|(member, _)| {
                        let peer = PeerId::from_bytes(state.bound_peer(&member)?).ok()?;
                        Some((member, peer))
                    })
                    .collect()
            },
        })
    }
}

/// Remembers a store failure: the node must stop after answering.
fn note_fatal<T>(fatal: &mut Option<NodeError>, result: &Result<T, NodeError>) {
    if let Err(NodeError::Store(e)) = result {
        *fatal = Some(NodeError::StoreFailed(e.to_string()));
    }
}

impl NodeHandle {
    /// The member the node acts for.
    pub fn member(&self) -> MemberId {
        self.member
    }

    /// Subscribes to op events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<NodeEvent> {
        self.events.subscribe()
    }

    pub(crate) async fn request<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, NodeError> {
        let (reply, answer) = oneshot::channel();
        self.commands.send(make(reply)).await.map_err(|_| NodeError::Stopped)?;
        answer.await.map_err(|_| NodeError::Stopped)?
    }

    /// The node's identity and counts.
    pub async fn info(&self) -> Result<NodeInfo, NodeError> {
        self.request(Command::Info).await
    }

    /// Uploads module code (checked, then stored). Returns its hash.
    pub async fn add_code(&self, wasm: Vec<u8>) -> Result<CodeHash, NodeError> {
        self.request(|r| Command::AddCode(wasm, r)).await
    }

    /// The config fields that stored module code declares as naming other
    /// module instances; `None` if the node does not have the code.
    pub async fn module_references(&self, code: CodeHash) -> Result<Option<Vec<String>>, NodeError> {
        self.request(|r| Command::References(code, r)).await
    }

    /// Creates a partnership from a charter; the node's member authors the
    /// genesis and must be a participant.
    pub async fn create_partnership(&self, charter: Charter) -> Result<PartnershipId, NodeError> {
        self.request(|r| Command::Create(Box::new(charter), r)).await
    }

    /// Joins a partnership from its genesis op.
    pub async fn join(&self, genesis: SignedOp) -> Result<PartnershipId, NodeError> {
        self.request(|r| Command::Join(Box::new(genesis), r)).await
    }

    /// Joins a partnership by its id: the network half asks connected peers
    /// (proving this node's member with a signed hello) for the genesis and
    /// any module code the node lacks; anti-entropy then brings the history.
    /// Works for a member admitted after the genesis, once a peer's node has
    /// seen the admission.
    pub async fn join_by_id(&self, partnership: PartnershipId) -> Result<PartnershipId, NodeError> {
        self.request(|r| Command::JoinById(partnership, r)).await
    }

    /// Partnerships announced to this node that name its member as a
    /// founder but whose creator it has no partnership with: they wait for
    /// the operator (oldest first). Kept in memory only.
    pub async fn invitations(&self) -> Result<Vec<Invitation>, NodeError> {
        self.request(Command::Invitations).await
    }

    /// Accepts an invitation: the node joins the partnership, fetching the
    /// module code it lacks from the announcing peer (or another connected
    /// one). On failure (the code could not be fetched) the invitation stays.
    pub async fn accept_invitation(&self, partnership: PartnershipId) -> Result<PartnershipId, NodeError> {
        self.request(|r| Command::AcceptInvitation(partnership, r)).await
    }

    /// Declines an invitation; later announcements of it are ignored until
    /// the node restarts.
    pub async fn decline_invitation(&self, partnership: PartnershipId) -> Result<(), NodeError> {
        self.request(|r| Command::DeclineInvitation(partnership, r)).await
    }

    /// What the node's network half has counted (`None` without a network).
    pub async fn network_stats(&self) -> Result<Option<NetworkStats>, NodeError> {
        self.request(Command::NetworkStats).await
    }

    /// The ids of the partnership keys this node holds for `partnership`,
    /// and the one it seals gossip under now (never the keys themselves;
    /// `None` without a network).
    pub async fn partnership_keys(&self, partnership: PartnershipId) -> Result<Option<KeysHeld>, NodeError> {
        self.request(|r| Command::PartnershipKeys(partnership, r)).await
    }

    /// Every partnership on the node.
    pub async fn partnerships(&self) -> Result<Vec<PartnershipSummary>, NodeError> {
        self.request(Command::List).await
    }

    /// One partnership in full.
    pub async fn partnership(&self, id: PartnershipId) -> Result<PartnershipInfo, NodeError> {
        self.request(|r| Command::Show(id, r)).await
    }

    /// The outcome of an op (if applied) and whether it is final.
    pub async fn op_status(
        &self,
        partnership: PartnershipId,
        op: OpId,
    ) -> Result<(Option<OpOutcome>, bool), NodeError> {
        self.request(|reply| Command::Status { partnership, op, reply }).await
    }

    /// The checkpoints of a partnership (with their certificates once every
    /// participant attested them) and this node's compaction of it.
    pub async fn checkpoints(&self, partnership: PartnershipId) -> Result<super::CheckpointsView, NodeError> {
        self.request(|reply| Command::Checkpoints { partnership, reply }).await
    }

    /// Queries a module (`final_state` picks the final or the optimistic
    /// state). Returns the module's answer (JSON bytes).
    pub async fn query(
        &self,
        partnership: PartnershipId,
        module: &str,
        msg: Vec<u8>,
        final_state: bool,
    ) -> Result<Vec<u8>, NodeError> {
        let module = module.to_owned();
        self.request(|reply| Command::Query { partnership, module, msg, final_state, reply }).await
    }

    /// Submits a call as the node's member and waits as asked, at most
    /// `timeout` (on timeout the op stays accepted: see [`NodeError::Timeout`]).
    pub async fn call(
        &self,
        partnership: PartnershipId,
        module: &str,
        msg: Vec<u8>,
        wait: WaitFor,
        timeout: Duration,
    ) -> Result<CallReceipt, NodeError> {
        // Subscribe first, so no event of the new op can be missed.
        let events = self.subscribe();
        let module = module.to_owned();
        let op = self.request(|reply| Command::Submit { partnership, module, msg, reply }).await?;
        let (outcome, is_final) = self.wait_for(events, partnership, op, wait, timeout).await?;
        Ok(CallReceipt { op, outcome, is_final })
    }

    /// Publishes module code in a partnership (one `PublishCode` op per
    /// chunk, see [`crate::op::CodeChunk`]), waiting for the last op as
    /// `wait` says. Once published, `install_module` and `upgrade_module`
    /// may name the code there; every partner's node gets it by the same
    /// sync that brings the ops.
    pub async fn publish_code(
        &self,
        partnership: PartnershipId,
        wasm: Vec<u8>,
        wait: WaitFor,
        timeout: Duration,
    ) -> Result<PublishReceipt, NodeError> {
        let events = self.subscribe();
        let (code, ops) = self.request(|reply| Command::Publish { partnership, wasm, reply }).await?;
        let Some(&last) = ops.last() else {
            return Ok(PublishReceipt { code, ops, outcome: None, is_final: true });
        };
        let (outcome, is_final) = self.wait_for(events, partnership, last, wait, timeout).await?;
        Ok(PublishReceipt { code, ops, outcome, is_final })
    }

    /// Waits until `op` is applied or final, as `wait` says, or `timeout`.
    async fn wait_for(
        &self,
        mut events: broadcast::Receiver<NodeEvent>,
        partnership: PartnershipId,
        op: OpId,
        wait: WaitFor,
        timeout: Duration,
    ) -> Result<(Option<OpOutcome>, bool), NodeError> {
        if wait == WaitFor::Accepted {
            return Ok((None, false));
        }
        let started = tokio::time::Instant::now();
        loop {
            let (outcome, is_final) = self.op_status(partnership, op).await?;
            let done = match wait {
                WaitFor::Applied => outcome.is_some(),
                _ => is_final,
            };
            if done {
                return Ok((outcome, is_final));
            }
            let left = timeout.saturating_sub(started.elapsed());
            if left.is_zero() {
                let what = if wait == WaitFor::Applied { "applied" } else { "final" };
                let waited_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
                return Err(NodeError::Timeout { op, what, waited_ms });
            }
            // Wake on the next event about this op (or any lag), then re-check.
            let _ = tokio::time::timeout(left, async {
                loop {
                    match events.recv().await {
                        Ok(event) if event.op == op && event.kind != OpEventKind::Undone => break,
                        Ok(_) => continue,
                        Err(broadcast::error::RecvError::Lagged(_)) => break,
                        Err(broadcast::error::RecvError::Closed) => break,
                    }
                }
            })
            .await;
        }
    }

    /// Stops the node cleanly: saves snapshots and ends the task. Everything
    /// accepted is already durable.
    pub async fn shutdown(&self) -> Result<(), NodeError> {
        let (reply, answer) = oneshot::channel();
        self.commands.send(Command::Shutdown(reply)).await.map_err(|_| NodeError::Stopped)?;
        answer.await.map_err(|_| NodeError::Stopped)?
    }
}
