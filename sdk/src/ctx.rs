//! The call context a module's entry points receive.
//!
//! This file owns [`Ctx`] (init, handle, migrate: where, when and who) and
//! [`QueryCtx`] (query: where and when), and the context-level host calls:
//! typed queries of other modules and of `system`, events and debug logs.
//! It does not own storage ([`Item`](crate::Item), [`Map`](crate::Map)),
//! which takes a context as proof that a call is running: reads take a
//! `&QueryCtx` (a `&Ctx` or `&mut Ctx` coerces to one), writes a `&mut Ctx`,
//! so a query cannot even express a write.

use alloc::string::String;
use alloc::vec::Vec;
use core::ops::Deref;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::abi::{Env, Event, Info, SYSTEM_MODULE, SystemQuery};
use crate::error::Error;
use crate::host;

/// The context of a query: where and when. Read-only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryCtx {
    env: Env,
}

/// The context of init, handle and migrate: a [`QueryCtx`] (it derefs to
/// one) plus who caused the call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ctx {
    base: QueryCtx,
    info: Info,
}

/// An active participant, as the `system` module reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    /// Member id (`pm1…`).
    pub member: String,
    /// Height at which it was admitted (0: in the genesis charter).
    pub admitted_at: u64,
}

/// Where a participant stands, as the `system` module reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Takes part.
    Active,
    /// Suspended for absence: finality does not wait for it and its ops have
    /// no effect until a partner readmits it. It keeps membership and claims.
    Suspended,
    /// No longer a participant.
    Removed,
}

/// A participant with its [`Status`], as `system` reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParticipantStatus {
    /// Member id (`pm1…`).
    pub member: String,
    /// Height at which it was admitted (0: in the genesis charter).
    pub admitted_at: u64,
    /// Where it stands.
    pub status: Status,
}

/// A member proven to have equivocated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Equivocator {
    /// Member id (`pm1…`).
    pub member: String,
    /// The seq from which its payloads are no longer executed.
    pub from_seq: u64,
}

/// An installed module instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleInstance {
    /// Instance name.
    pub name: String,
    /// Code hash, 64 hex digits.
    pub code: String,
}

/// The partnership's terms as they stand, as `system` reports them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Terms {
    /// The terms' hash, 64 hex digits: what a newcomer accepts.
    pub terms: String,
    /// How many installs and upgrades the partnership has had.
    pub generation: u64,
}

impl QueryCtx {
    pub(crate) fn new(env: Env) -> Self {
        QueryCtx { env }
    }

    /// Where and when this call runs.
    pub fn env(&self) -> &Env {
        &self.env
    }

    /// The partnership id, 64 hex digits.
    pub fn partnership(&self) -> &str {
        &self.env.partnership
    }

    /// This module instance's name.
    pub fn module(&self) -> &str {
        &self.env.module
    }

    /// Height of the op being applied (in a query: of the latest applied op).
    pub fn height(&self) -> u64 {
        self.env.height
    }

    /// `time_ms` of that op: the only clock a module has.
    pub fn time_ms(&self) -> u64 {
        self.env.time_ms
    }

    /// Queries another module of this partnership: `msg` goes as JSON, the
    /// JSON answer is decoded as `R`.
    ///
    /// The queried module's own error comes back as [`Error::Query`].
    pub fn query<R: DeserializeOwned>(&self, module: &str, msg: &impl Serialize) -> Result<R, Error> {
        let msg = serde_json::to_vec(msg)
            .map_err(|e| Error::encode(alloc::format!("query to module \"{module}\""), e))?;
        let answer = self.query_raw(module, &msg)?;
        serde_json::from_slice(&answer)
            .map_err(|e| Error::decode(alloc::format!("answer of module \"{module}\""), e))
    }

    /// Queries another module with a raw JSON message; returns its raw JSON answer.
    pub fn query_raw(&self, module: &str, msg: &[u8]) -> Result<Vec<u8>, Error> {
        host::query(module, msg)?.map_err(|reason| Error::Query { module: module.into(), reason })
    }

    /// Asks the runtime about the partnership (see [`SystemQuery`]); decode
    /// the answer as [`Vec<Participant>`], [`Vec<Equivocator>`] or
    /// [`Vec<ModuleInstance>`], or use [`participants`](Self::participants).
    pub fn query_system<R: DeserializeOwned>(&self, query: SystemQuery) -> Result<R, Error> {
        self.query(SYSTEM_MODULE, &query)
    }

    /// The active participants.
    pub fn participants(&self) -> Result<Vec<Participant>, Error> {
        self.query_system(SystemQuery::Participants {})
    }

    /// Whether `member` is an active participant.
    pub fn is_participant(&self, member: &str) -> Result<bool, Error> {
        Ok(self.participants()?.iter().any(|p| p.member == member))
    }

    /// Every participant, former ones included, with its [`Status`]: for
    /// rules that treat suspended (absent) partners apart, such as a quorum
    /// counted among those present.
    pub fn statuses(&self) -> Result<Vec<ParticipantStatus>, Error> {
        self.query_system(SystemQuery::Statuses {})
    }

    /// The partnership's terms as they stand (see [`SystemQuery::Terms`]).
    pub fn terms(&self) -> Result<Terms, Error> {
        self.query_system(SystemQuery::Terms {})
    }

    /// Whether `member` is suspended for absence now.
    pub fn is_suspended(&self, member: &str) -> Result<bool, Error> {
        Ok(self.statuses()?.iter().any(|p| p.member == member && p.status == Status::Suspended))
    }

    /// Writes a line to the node's debug log; never affects state.
    pub fn log(&self, line: &str) {
        host::debug_log(line)
    }
}

impl Ctx {
    pub(crate) fn new(env: Env, info: Info) -> Self {
        Ctx { base: QueryCtx::new(env), info }
    }

    /// Who caused this call.
    pub fn info(&self) -> &Info {
        &self.info
    }

    /// The op's author, as a member id (`pm1…`). When another module sent
    /// this message, still the author of the op that started it all.
    pub fn caller(&self) -> &str {
        &self.info.caller
    }

    /// The module that sent this message, if it came from one rather than
    /// straight from an op.
    pub fn sender_module(&self) -> Option<&str> {
        self.info.sender_module.as_deref()
    }

    /// The op's id, 64 hex digits.
    pub fn op_id(&self) -> &str {
        &self.info.op_id
    }

    /// The op's seq (per author).
    pub fn seq(&self) -> u64 {
        self.info.seq
    }

    /// Emits an event now. Events emitted this way come before the
    /// response's own events; both are dropped if the op fails.
    pub fn emit(&mut self, event: Event) {
        host::emit_event(&event)
    }
}

impl Deref for Ctx {
    type Target = QueryCtx;

    fn deref(&self) -> &QueryCtx {
        &self.base
    }
}
