//! Running one op's module calls atomically: the op's transaction, the
//! environment a module sees, module-to-module messages and system messages.
//!
//! An [`OpRun`] buffers every write of one op over the optimistic state.
//! Module code runs through the [`Executor`]; each entry point sees a
//! [`HostEnv`] scoped to its own namespace. Messages a call returns run after
//! it, in order, depth-first, up to the charter's depth limit; system messages
//! are checked against the sending module's permissions (the charter is the
//! permission table). Queries are read-only and may not re-enter a module
//! that is already running. If anything fails, the caller drops the run and
//! none of its writes happen.
//!
//! This module does not decide which ops run or in what order (`core`), nor
//! how code is executed (the executor).

use std::collections::BTreeMap;
use std::ops::Bound;

use polypact_sdk::abi::{Entry, Env, Event, Info, Input, Message, QueryResult, SystemMsg, SystemQuery};

use super::executor::{ExecError, Executor, HostEnv, Invocation, Output};
use super::state::{
    ModuleRecord, ParticipantRecord, StateMap, Write, encode_record, module_key, module_namespace,
    participant_key,
};
use crate::op::{CodeHash, MemberId, OpId, Params, PartnershipId, SystemPermission};

/// An event with the module that emitted it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleEvent {
    /// The emitting module instance.
    pub module: String,
    /// The event.
    pub event: Event,
}

/// The most bytes of events one op may emit, over all its messages: a rule
/// of the runtime (the same on every node), since every node keeps them
/// with the op's outcome.
pub const MAX_EVENT_BYTES_PER_OP: usize = 256 * 1024;

/// The most module entry points (calls and queries, nested or one after
/// another) one op may run: a rule of the runtime, the same on every node.
/// Fuel bounds what each runs; this bounds how many instances an op
/// creates, which fuel does not pay for.
pub const MAX_INVOCATIONS_PER_OP: u32 = 1024;

/// The bytes an event takes: its kind and every attribute's key and value.
pub(crate) fn event_size(event: &ModuleEvent) -> usize {
    event.module.len()
        + event.event.kind.len()
        + event.event.attributes.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>()
}

/// Why a run stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RunError {
    /// The op fails, deterministically, with this error.
    Failed(String),
    /// This node cannot decide the op now (missing code, a node fault).
    Undecidable(ExecError),
}

fn failed<T>(message: impl Into<String>) -> Result<T, RunError> {
    Err(RunError::Failed(message.into()))
}

/// Who and what an op is, as modules see it.
#[derive(Clone, Debug)]
pub(crate) struct OpContext {
    pub partnership: PartnershipId,
    pub op: OpId,
    pub author: MemberId,
    /// The caller modules see when it is not the author: the sending
    /// partnership (`pp1…`) of a delivered message.
    pub caller: Option<String>,
    pub seq: u64,
    pub height: u64,
    pub time_ms: u64,
}

/// One op's transaction over the optimistic state.
pub(crate) struct OpRun<'a, E: Executor> {
    executor: &'a E,
    base: &'a StateMap,
    params: &'a Params,
    ctx: OpContext,
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    events: Vec<ModuleEvent>,
    fuel_left: u64,
    /// Entry points run so far (see [`MAX_INVOCATIONS_PER_OP`]).
    invocations: u32,
    /// Set once the op passed that limit: the op fails with it, even if a
    /// module went on after a refused query.
    over_limit: Option<String>,
    logs: Vec<String>,
    /// Messages to other partnerships, filed when the op succeeds.
    outgoing: Vec<super::crossing::Outgoing>,
    /// Child partnerships to spawn, filed when the op succeeds.
    spawns: Vec<super::crossing::Spawning>,
}

impl<'a, E: Executor> OpRun<'a, E> {
    pub(crate) fn new(executor: &'a E, base: &'a StateMap, params: &'a Params, ctx: OpContext) -> Self {
        OpRun {
            executor,
            base,
            params,
            ctx,
            writes: BTreeMap::new(),
            events: Vec::new(),
            fuel_left: params.fuel_per_op,
            invocations: 0,
            over_limit: None,
            logs: Vec::new(),
            outgoing: Vec::new(),
            spawns: Vec::new(),
        }
    }

    /// Resets the fuel budget (genesis gives each module's init a full budget).
    pub(crate) fn refuel(&mut self) {
        self.fuel_left = self.params.fuel_per_op;
        self.invocations = 0;
    }

    /// Counts one more entry point; the error once an op passes the rule.
    fn count_invocation(&mut self, module: &str) -> Result<(), String> {
        self.invocations = self.invocations.saturating_add(1);
        if let Some(limit) = &self.over_limit {
            return Err(limit.clone());
        }
        if self.invocations > MAX_INVOCATIONS_PER_OP {
            let limit = format!(
                "invocation limit {MAX_INVOCATIONS_PER_OP} reached running `{module}` (an op runs at most that many \
                 module calls and queries in all, a rule of the runtime)"
            );
            self.over_limit = Some(limit.clone());
            return Err(limit);
        }
        Ok(())
    }

    /// The writes, events and debug lines of a successful run.
    pub(crate) fn finish(self) -> (Vec<Write>, Vec<ModuleEvent>, Vec<String>) {
        (self.writes.into_iter().collect(), self.events, self.logs)
    }

    pub(crate) fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        match self.writes.get(key) {
            Some(value) => value.clone(),
            None => self.base.get(key).cloned(),
        }
    }

    pub(crate) fn put(&mut self, key: Vec<u8>, value: Option<Vec<u8>>) {
        self.writes.insert(key, value);
    }

    fn scan(&self, prefix: &[u8], start: &[u8], limit: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
        let from = if start > prefix { start.to_vec() } else { prefix.to_vec() };
        let mut base = self.base.range_from(prefix, &from).peekable();
        let mut overlay = self
            .writes
            .range::<Vec<u8>, _>((Bound::Included(from.clone()), Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
            .peekable();
        let mut out = Vec::new();
        while out.len() < limit {
            let take_overlay = match (base.peek(), overlay.peek()) {
                (None, None) => break,
                (Some(_), None) => false,
                (None, Some(_)) => true,
                (Some((bk, _)), Some((ok, _))) => ok <= bk,
            };
            if take_overlay {
                let Some((key, value)) = overlay.next() else { break };
                if base.peek().is_some_and(|(bk, _)| *bk == key) {
                    base.next();
                }
                if let Some(value) = value {
                    out.push((key.clone(), value.clone()));
                }
            } else if let Some((key, value)) = base.next() {
                out.push((key.clone(), value.clone()));
            }
        }
        out
    }

    fn module_record(&self, name: &str) -> Option<ModuleRecord> {
        self.get(&module_key(name)).and_then(|b| super::state::decode_record(&b))
    }

    fn env_for(&self, module: &str) -> Env {
        Env {
            partnership: self.ctx.partnership.to_hex(),
            module: module.to_owned(),
            height: self.ctx.height,
            time_ms: self.ctx.time_ms,
        }
    }

    fn info(&self, sender_module: Option<&str>) -> Info {
        Info {
            caller: self.ctx.caller.clone().unwrap_or_else(|| self.ctx.author.to_string()),
            sender_module: sender_module.map(str::to_owned),
            op_id: self.ctx.op.to_hex(),
            seq: self.ctx.seq,
        }
    }

    /// Runs `entry` of `module` with `msg`, then its messages. Returns the
    /// response data.
    pub(crate) fn call(
        &mut self,
        module: &str,
        entry: Entry,
        msg: &[u8],
        sender: Option<&str>,
        depth: u32,
        code_override: Option<CodeHash>,
    ) -> Result<Option<Vec<u8>>, RunError> {
        if depth > self.params.max_message_depth {
            return failed(format!(
                "message depth limit {} reached calling `{module}`",
                self.params.max_message_depth
            ));
        }
        let Some(record) = self.module_record(module) else {
            return failed(format!("no module named `{module}` in this partnership"));
        };
        self.count_invocation(module).map_err(RunError::Failed)?;
        let code = code_override.unwrap_or(record.code);
        let input = Input { env: self.env_for(module), info: Some(self.info(sender)), msg: msg.to_vec() };
        let executor = self.executor;
        let budget = self.fuel_left;
        let mut emitted = Vec::new();
        let invoked = {
            let mut env = ModuleEnv {
                run: self,
                namespace: module_namespace(module),
                read_only: false,
                stack: vec![module.to_owned()],
                emitted: &mut emitted,
            };
            executor.invoke(Invocation { code: &code, entry, input: &input, fuel: budget }, &mut env)
        };
        let invoked = invoked.map_err(|e| classify(module, e))?;
        if let Some(limit) = &self.over_limit {
            return failed(limit.clone());
        }
        self.fuel_left = self.fuel_left.saturating_sub(invoked.fuel_used);
        let response = match invoked.output {
            Output::Response(Ok(response)) => response,
            Output::Response(Err(text)) => return failed(format!("module `{module}`: {text}")),
            Output::Query(_) => return failed(format!("module `{module}` answered a call like a query")),
        };
        self.events.extend(emitted.into_iter().map(|event| ModuleEvent { module: module.to_owned(), event }));
        self.events.extend(
            response.events.into_iter().map(|event| ModuleEvent { module: module.to_owned(), event }),
        );
        let event_bytes: usize = self.events.iter().map(event_size).sum();
        if event_bytes > MAX_EVENT_BYTES_PER_OP {
            return failed(format!(
                "the op's events take {event_bytes} bytes, over the limit of {MAX_EVENT_BYTES_PER_OP} bytes per op; \
                 emit less (events are kept with the op's outcome on every node)"
            ));
        }
        for message in response.messages {
            match message {
                Message::Call { module: target, msg } => {
                    self.call(&target, Entry::Handle, &msg, Some(module), depth + 1, None)?;
                }
                Message::System(system) => self.system(module, &record.permissions, system, depth)?,
                Message::Partnership { to, module: target, msg } => {
                    self.send_to_partnership(module, &record.permissions, &to, &target, msg)?;
                }
            }
        }
        Ok(response.data)
    }

    /// Files a message from `sender` to another partnership (see
    /// [`super::crossing`]): it is sent only if the whole op succeeds.
    fn send_to_partnership(
        &mut self,
        sender: &str,
        held: &[SystemPermission],
        to: &str,
        module: &str,
        msg: Vec<u8>,
    ) -> Result<(), RunError> {
        if !held.contains(&SystemPermission::MessagePartnerships) {
            return failed(format!(
                "module `{sender}` may not send messages to other partnerships (the charter does not grant it \
                 `message_partnerships`)"
            ));
        }
        if self.outgoing.len() >= super::crossing::MAX_CROSSING_MESSAGES_PER_OP {
            return failed(format!(
                "an op sends at most {} messages to other partnerships (a rule of the runtime)",
                super::crossing::MAX_CROSSING_MESSAGES_PER_OP
            ));
        }
        let outgoing = super::crossing::check_outgoing(&self.ctx.partnership, to, module, msg)
            .map_err(|e| RunError::Failed(format!("module `{sender}`: {e}")))?;
        self.outgoing.push(outgoing);
        Ok(())
    }

    /// The messages to other partnerships the run sent, in order.
    pub(crate) fn take_outgoing(&mut self) -> Vec<super::crossing::Outgoing> {
        std::mem::take(&mut self.outgoing)
    }

    /// Applies a system message sent by `sender`.
    fn system(
        &mut self,
        sender: &str,
        held: &[SystemPermission],
        msg: SystemMsg,
        depth: u32,
    ) -> Result<(), RunError> {
        let needed = match &msg {
            SystemMsg::AddParticipant { .. } => SystemPermission::AddParticipant,
            SystemMsg::RemoveParticipant { .. } => SystemPermission::RemoveParticipant,
            SystemMsg::InstallModule { .. } => SystemPermission::InstallModule,
            SystemMsg::UpgradeModule { .. } => SystemPermission::UpgradeModule,
            SystemMsg::Dissolve { .. } => SystemPermission::Dissolve,
            SystemMsg::SpawnPartnership { .. } => SystemPermission::SpawnPartnership,
        };
        if !held.contains(&needed) {
            return failed(format!(
                "module `{sender}` may not send `{}` (the charter does not grant it)",
                needed.name()
            ));
        }
        match msg {
            SystemMsg::AddParticipant { member } => {
                let member = parse_member(&member)?;
                let key = participant_key(&member);
                if let Some(record) =
                    self.get(&key).and_then(|b| super::state::decode_record::<ParticipantRecord>(&b))
                {
                    return match record.removed_at {
                        None => failed(format!("{member} is already a participant")),
                        Some(removed_at) => failed(format!(
                            "{member} was removed at height {removed_at}; a removed key is never admitted again (admit a new key instead)"
                        )),
                    };
                }
                let record = ParticipantRecord {
                    admitted_at: self.ctx.height,
                    admitted_by: Some(self.ctx.op),
                    removed_at: None,
                    removed_by: None,
                };
                self.put(key, Some(encode_record(&record)));
                self.start_next_epoch();
            }
            SystemMsg::RemoveParticipant { member } => {
                let member = parse_member(&member)?;
                let key = participant_key(&member);
                let Some(mut record) =
                    self.get(&key).and_then(|b| super::state::decode_record::<ParticipantRecord>(&b))
                else {
                    return failed(format!("{member} is not a participant"));
                };
                if !record.is_active() {
                    return failed(format!("{member} was already removed"));
                }
                let active = self
                    .scan(super::state::PARTICIPANT_PREFIX, b"", usize::MAX)
                    .iter()
                    .filter_map(|(_, v)| super::state::decode_record::<ParticipantRecord>(v))
                    .filter(ParticipantRecord::is_active)
                    .count();
                if active <= 1 {
                    return failed("cannot remove the last participant");
                }
                record.removed_at = Some(self.ctx.height);
                record.removed_by = Some(self.ctx.op);
                self.put(key, Some(encode_record(&record)));
                self.start_next_epoch();
            }
            SystemMsg::InstallModule { name, code, config, permissions } => {
                if !crate::op::is_valid_module_name(&name) || name == polypact_sdk::abi::SYSTEM_MODULE {
                    return failed(format!("`{name}` is not a valid module name"));
                }
                if self.module_record(&name).is_some() {
                    return failed(format!("a module named `{name}` is already installed"));
                }
                let code = parse_code(&code)?;
                let mut granted = Vec::new();
                for text in permissions {
                    let permission = parse_permission(&text)?;
                    if !held.contains(&permission) {
                        return failed(format!(
                            "module `{sender}` cannot grant `{text}`, which it does not hold"
                        ));
                    }
                    granted.push(permission);
                }
                granted.sort();
                granted.dedup();
                self.require_code(&code)?;
                self.put(
                    module_key(&name),
                    Some(encode_record(&ModuleRecord { code, permissions: granted })),
                );
                self.next_terms_generation();
                self.call(&name, Entry::Init, &config, Some(sender), depth + 1, None)?;
            }
            SystemMsg::UpgradeModule { name, code, migrate_msg } => {
                let Some(mut record) = self.module_record(&name) else {
                    return failed(format!("no module named `{name}` to upgrade"));
                };
                let code = parse_code(&code)?;
                self.require_code(&code)?;
                record.code = code;
                self.put(module_key(&name), Some(encode_record(&record)));
                self.next_terms_generation();
                self.call(&name, Entry::Migrate, &migrate_msg, Some(sender), depth + 1, None)?;
            }
            SystemMsg::Dissolve { reason } => {
                if reason.is_empty() || reason.len() > 256 {
                    return failed("a dissolution needs a reason of 1 to 256 bytes");
                }
                if self.get(super::state::DISSOLUTION_KEY).is_some() {
                    return failed("the partnership is already dissolved");
                }
                let record = serde_json::json!({
                    "height": self.ctx.height, "op": self.ctx.op.to_hex(), "reason": reason,
                });
                self.put(super::state::DISSOLUTION_KEY.to_vec(), Some(record.to_string().into_bytes()));
            }
            SystemMsg::SpawnPartnership { charter, values, participants } => {
                if self.spawns.len() >= super::crossing::MAX_SPAWNS_PER_OP {
                    return failed(format!(
                        "an op spawns at most {} partnerships (a rule of the runtime)",
                        super::crossing::MAX_SPAWNS_PER_OP
                    ));
                }
                let is_published = |code: &CodeHash| self.get(&super::state::code_key(code)).is_some();
                let is_participant = |member: &MemberId| {
                    self.get(&participant_key(member))
                        .and_then(|b| super::state::decode_record::<ParticipantRecord>(&b))
                        .is_some_and(|r| r.is_active())
                };
                let spawn = super::crossing::check_spawn(
                    &charter,
                    values,
                    &participants,
                    is_published,
                    is_participant,
                )
                .map_err(|e| RunError::Failed(format!("spawn_partnership: {e}")))?;
                self.spawns.push(spawn);
            }
        }
        Ok(())
    }

    /// The partnerships the run spawned, in order.
    pub(crate) fn take_spawns(&mut self) -> Vec<super::crossing::Spawning> {
        std::mem::take(&mut self.spawns)
    }

    /// The partnership's terms now: a hash of its id, every installed
    /// instance (name, code, permissions) and the terms generation, which
    /// every install and upgrade raises; and that generation.
    fn terms(&self) -> ([u8; 32], u64) {
        let generation = super::state::decode_epoch(self.get(super::state::TERMS_GENERATION_KEY).as_ref());
        let mut hasher = blake3::Hasher::new();
        hasher.update(b"polypact/terms/v1:");
        hasher.update(&self.ctx.partnership.0);
        hasher.update(&generation.to_be_bytes());
        for (key, value) in self.scan(super::state::MODULE_PREFIX, b"", usize::MAX) {
            let Some(record) = super::state::decode_record::<ModuleRecord>(&value) else { continue };
            let name = &key[super::state::MODULE_PREFIX.len()..];
            hasher.update(&(name.len() as u64).to_be_bytes());
            hasher.update(name);
            hasher.update(&record.code.0);
            for permission in &record.permissions {
                hasher.update(permission.name().as_bytes());
                hasher.update(b";");
            }
        }
        (*hasher.finalize().as_bytes(), generation)
    }

    /// An install or upgrade: the terms generation goes up.
    fn next_terms_generation(&mut self) {
        let generation = super::state::decode_epoch(self.get(super::state::TERMS_GENERATION_KEY).as_ref());
        self.put(
            super::state::TERMS_GENERATION_KEY.to_vec(),
            Some(generation.saturating_add(1).to_be_bytes().to_vec()),
        );
    }

    /// The participant set changed: a new epoch starts, and the suspension
    /// votes of the last one are no longer live.
    fn start_next_epoch(&mut self) {
        let epoch = super::state::decode_epoch(self.get(super::state::EPOCH_KEY).as_ref());
        let (key, value) = super::state::next_epoch_write(epoch);
        self.put(key, value);
    }

    /// `code` must be published in the partnership (the same answer on every
    /// node); a node that has run the ops that published it holds it.
    fn require_code(&self, code: &CodeHash) -> Result<(), RunError> {
        if self.get(&super::state::code_key(code)).is_none() {
            return failed(format!(
                "code {code} is not published in this partnership; publish it first \
                 (`polypact module publish`), then name it"
            ));
        }
        if self.executor.has_code(code) {
            Ok(())
        } else {
            Err(RunError::Undecidable(ExecError::MissingCode(*code)))
        }
    }

    fn query(&mut self, stack: &[String], module: &str, msg: &[u8], fuel: u64) -> (QueryResult, u64) {
        if module == polypact_sdk::abi::SYSTEM_MODULE {
            return (self.system_query(msg), 0);
        }
        if stack.iter().any(|m| m == module) {
            return (Err(format!("re-entrant query: `{module}` is already running")), 0);
        }
        if stack.len() > self.params.max_message_depth as usize {
            return (
                Err(format!(
                    "query depth limit {} reached querying `{module}` (modules querying each other nest at most \
                     the charter's max_message_depth)",
                    self.params.max_message_depth
                )),
                0,
            );
        }
        let Some(record) = self.module_record(module) else {
            return (Err(format!("no module named `{module}` in this partnership")), 0);
        };
        if let Err(limit) = self.count_invocation(module) {
            return (Err(limit), 0);
        }
        let input = Input { env: self.env_for(module), info: None, msg: msg.to_vec() };
        let executor = self.executor;
        let mut nested_stack = stack.to_vec();
        nested_stack.push(module.to_owned());
        let mut ignored = Vec::new();
        let mut env = ModuleEnv {
            run: self,
            namespace: module_namespace(module),
            read_only: true,
            stack: nested_stack,
            emitted: &mut ignored,
        };
        match executor
            .invoke(Invocation { code: &record.code, entry: Entry::Query, input: &input, fuel }, &mut env)
        {
            Ok(invoked) => match invoked.output {
                Output::Query(result) => (result, invoked.fuel_used),
                Output::Response(_) => {
                    (Err(format!("module `{module}` answered a query like a call")), invoked.fuel_used)
                }
            },
            Err(e) => (Err(format!("query of `{module}` failed: {e}")), fuel),
        }
    }

    /// Every participant record (active or removed) as this run sees them.
    fn participant_records(&self) -> Vec<(MemberId, ParticipantRecord)> {
        self.scan(super::state::PARTICIPANT_PREFIX, b"", usize::MAX)
            .into_iter()
            .filter_map(|(k, v)| {
                let member: [u8; 32] = k[super::state::PARTICIPANT_PREFIX.len()..].try_into().ok()?;
                Some((MemberId(member), super::state::decode_record(&v)?))
            })
            .collect()
    }

    fn system_query(&self, msg: &[u8]) -> QueryResult {
        let query: SystemQuery =
            serde_json::from_slice(msg).map_err(|e| format!("invalid system query: {e}"))?;
        let value = match query {
            SystemQuery::Participants {} => {
                let list: Vec<serde_json::Value> = self
                    .participant_records()
                    .into_iter()
                    .filter(|(_, record)| record.is_active())
                    .map(|(member, record)| {
                        serde_json::json!({"member": member.to_string(), "admitted_at": record.admitted_at})
                    })
                    .collect();
                serde_json::Value::Array(list)
            }
            SystemQuery::Statuses {} => {
                let list: Vec<serde_json::Value> = self
                    .participant_records()
                    .into_iter()
                    .map(|(member, record)| {
                        let suspended = self
                            .get(&super::state::suspension_key(&member))
                            .and_then(|b| super::state::decode_record::<super::state::SuspensionRecord>(&b))
                            .is_some_and(|s| s.is_current());
                        let status = match (record.is_active(), suspended) {
                            (false, _) => "removed",
                            (true, true) => "suspended",
                            (true, false) => "active",
                        };
                        serde_json::json!({
                            "member": member.to_string(), "admitted_at": record.admitted_at, "status": status,
                        })
                    })
                    .collect();
                serde_json::Value::Array(list)
            }
            SystemQuery::Equivocators {} => {
                let list: Vec<serde_json::Value> = self
                    .scan(super::state::EVIDENCE_PREFIX, b"", usize::MAX)
                    .into_iter()
                    .filter_map(|(k, v)| {
                        let member: [u8; 32] = k[super::state::EVIDENCE_PREFIX.len()..].try_into().ok()?;
                        let seq: [u8; 8] = v.as_slice().try_into().ok()?;
                        Some(serde_json::json!({"member": MemberId(member).to_string(), "from_seq": u64::from_be_bytes(seq)}))
                    })
                    .collect();
                serde_json::Value::Array(list)
            }
            SystemQuery::Dissolution {} => self
                .get(super::state::DISSOLUTION_KEY)
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or(serde_json::Value::Null),
            SystemQuery::Terms {} => {
                let (terms, generation) = self.terms();
                serde_json::json!({"terms": hex::encode(terms), "generation": generation})
            }
            SystemQuery::Modules {} => {
                let list: Vec<serde_json::Value> = self
                    .scan(super::state::MODULE_PREFIX, b"", usize::MAX)
                    .into_iter()
                    .filter_map(|(k, v)| {
                        let name = String::from_utf8(k[super::state::MODULE_PREFIX.len()..].to_vec()).ok()?;
                        let record: ModuleRecord = super::state::decode_record(&v)?;
                        Some(serde_json::json!({"name": name, "code": record.code.to_hex()}))
                    })
                    .collect();
                serde_json::Value::Array(list)
            }
        };
        Ok(value.to_string().into_bytes())
    }

    /// Runs a read-only query from outside (an API client).
    pub(crate) fn external_query(&mut self, module: &str, msg: &[u8]) -> Result<QueryResult, ExecError> {
        if module == polypact_sdk::abi::SYSTEM_MODULE {
            return Ok(self.system_query(msg));
        }
        let Some(record) = self.module_record(module) else {
            return Ok(Err(format!("no module named `{module}` in this partnership")));
        };
        let input = Input { env: self.env_for(module), info: None, msg: msg.to_vec() };
        let executor = self.executor;
        let fuel = self.fuel_left;
        let mut ignored = Vec::new();
        let mut env = ModuleEnv {
            run: self,
            namespace: module_namespace(module),
            read_only: true,
            stack: vec![module.to_owned()],
            emitted: &mut ignored,
        };
        let invoked = executor
            .invoke(Invocation { code: &record.code, entry: Entry::Query, input: &input, fuel }, &mut env)?;
        match invoked.output {
            Output::Query(result) => Ok(result),
            Output::Response(_) => Ok(Err(format!("module `{module}` answered a query like a call"))),
        }
    }
}

fn classify(module: &str, error: ExecError) -> RunError {
    match error {
        ExecError::Fault(_) | ExecError::MissingCode(_) => RunError::Undecidable(error),
        other => RunError::Failed(format!("module `{module}`: {other}")),
    }
}

fn parse_member(text: &str) -> Result<MemberId, RunError> {
    text.parse::<MemberId>().map_err(|e| RunError::Failed(e.to_string()))
}

fn parse_code(text: &str) -> Result<CodeHash, RunError> {
    text.parse::<CodeHash>().map_err(|e| RunError::Failed(e.to_string()))
}

fn parse_permission(text: &str) -> Result<SystemPermission, RunError> {
    serde_json::from_value(serde_json::Value::String(text.to_owned()))
        .map_err(|_| RunError::Failed(format!("unknown system permission `{text}`")))
}

/// What one running entry point sees.
struct ModuleEnv<'r, 'a, E: Executor> {
    run: &'r mut OpRun<'a, E>,
    namespace: Vec<u8>,
    read_only: bool,
    stack: Vec<String>,
    emitted: &'r mut Vec<Event>,
}

impl<E: Executor> ModuleEnv<'_, '_, E> {
    fn key(&self, key: &[u8]) -> Vec<u8> {
        let mut full = Vec::with_capacity(self.namespace.len() + key.len());
        full.extend_from_slice(&self.namespace);
        full.extend_from_slice(key);
        full
    }
}

impl<E: Executor> HostEnv for ModuleEnv<'_, '_, E> {
    fn get(&mut self, key: &[u8]) -> Option<Vec<u8>> {
        self.run.get(&self.key(key))
    }

    fn set(&mut self, key: &[u8], value: &[u8]) -> Result<(), String> {
        if self.read_only {
            return Err("a query cannot write state".into());
        }
        let key = self.key(key);
        self.run.put(key, Some(value.to_vec()));
        Ok(())
    }

    fn remove(&mut self, key: &[u8]) -> Result<(), String> {
        if self.read_only {
            return Err("a query cannot write state".into());
        }
        let key = self.key(key);
        self.run.put(key, None);
        Ok(())
    }

    fn scan(&mut self, prefix: &[u8], start: &[u8], limit: u32) -> Vec<(Vec<u8>, Vec<u8>)> {
        let full_prefix = self.key(prefix);
        let full_start = self.key(start);
        let cut = self.namespace.len();
        self.run
            .scan(&full_prefix, &full_start, limit as usize)
            .into_iter()
            .map(|(k, v)| (k[cut..].to_vec(), v))
            .collect()
    }

    fn query(&mut self, module: &str, msg: &[u8], fuel: u64) -> (QueryResult, u64) {
        let stack = self.stack.clone();
        self.run.query(&stack, module, msg, fuel)
    }

    fn emit(&mut self, event: Event) {
        if !self.read_only {
            self.emitted.push(event);
        }
    }

    fn log(&mut self, line: &str) {
        tracing::debug!(target: "polypact::module", module = %self.stack.last().map_or("", String::as_str), "{line}");
        if self.run.logs.len() < 1000 {
            self.run.logs.push(line.to_owned());
        }
    }
}
