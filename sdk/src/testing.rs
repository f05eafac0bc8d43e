//! A native test harness for modules (not on `wasm32`).
//!
//! This file owns [`MockHost`]: an in-memory host that runs a module's
//! generated `polypact_dispatch` the way the runtime does, through the same
//! postcard and JSON encodings the wasm exports use, so `cargo test` on a
//! module exercises its real decode and encode paths. It does not own the
//! real `.wasm` harness (that is the runtime's) and does not run the
//! messages a response asks for: tests assert on them instead.
//!
//! What it models of the runtime:
//!
//! - **Atomicity**: a call that returns an error leaves the state and the
//!   emitted events as they were, as a failed op does.
//! - **Read-only queries**: a write in a query is refused, which makes the
//!   module panic (on wasm, the host traps).
//! - **Context**: a settable [`Env`]; each call gets a fresh op id and the
//!   caller's next `seq`.
//! - **Other modules and `system`**: answers you register
//!   ([`on_query`](MockHost::on_query), [`on_system`](MockHost::on_system),
//!   [`set_participants`](MockHost::set_participants)).
//!
//! A panic in the module (a trap on wasm) propagates out of the call and
//! fails the test, or satisfies a `#[should_panic]`.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::abi::{Entry, Env, Event, Info, Input, QueryResult, ResponseResult, SYSTEM_MODULE, SystemQuery};
use crate::ctx::Participant;
use crate::native::{NativeHost, with_host};

/// A module's generated `polypact_dispatch`.
pub type Dispatch = fn(Entry, &[u8]) -> Vec<u8>;

type QueryHandler = Box<dyn FnMut(&[u8]) -> QueryResult>;

/// The time [`MockHost::new`] starts at: 2023-11-14T22:13:20Z, in ms.
pub const MOCK_TIME_MS: u64 = 1_700_000_000_000;

/// An in-memory host for one module instance.
///
/// ```
/// # mod counter {
/// #     use polypact_sdk::{Ctx, Error, Item, QueryCtx, Response};
/// #     const N: Item<u64> = Item::new("n");
/// #     fn init(ctx: &mut Ctx, start: u64) -> Result<Response, Error> { N.save(ctx, &start)?; Ok(Response::new()) }
/// #     fn handle(ctx: &mut Ctx, by: u64) -> Result<Response, Error> {
/// #         N.update(ctx, |n| Ok::<_, Error>(n.unwrap_or(0) + by))?; Ok(Response::new())
/// #     }
/// #     fn query(ctx: &QueryCtx, _: ()) -> Result<u64, Error> { N.load(ctx) }
/// #     polypact_sdk::export!(init: init, handle: handle, query: query);
/// # }
/// use polypact_sdk::testing::MockHost;
///
/// let mut host = MockHost::new(counter::polypact_dispatch);
/// host.init("pm1alice", &5).unwrap();
/// host.handle("pm1bob", &2).unwrap();
/// assert_eq!(host.query::<u64>(&()).unwrap(), 7);
/// ```
pub struct MockHost {
    dispatch: Dispatch,
    env: Env,
    state: BTreeMap<Vec<u8>, Vec<u8>>,
    read_only: bool,
    modules: BTreeMap<String, QueryHandler>,
    system: BTreeMap<String, Vec<u8>>,
    pending_events: Vec<Event>,
    events: Vec<Event>,
    logs: Vec<String>,
    seqs: BTreeMap<String, u64>,
    ops: u64,
}

impl MockHost {
    /// A host for the module whose dispatcher is `dispatch`, with empty
    /// state, module name `"module"`, height 1 and time [`MOCK_TIME_MS`].
    pub fn new(dispatch: Dispatch) -> Self {
        MockHost {
            dispatch,
            env: Env {
                partnership: format!("{:064x}", 1),
                module: "module".into(),
                height: 1,
                time_ms: MOCK_TIME_MS,
            },
            state: BTreeMap::new(),
            read_only: false,
            modules: BTreeMap::new(),
            system: BTreeMap::new(),
            pending_events: Vec::new(),
            events: Vec::new(),
            logs: Vec::new(),
            seqs: BTreeMap::new(),
            ops: 0,
        }
    }

    // ----- environment -----

    /// The environment the next call runs in.
    pub fn env(&self) -> &Env {
        &self.env
    }

    /// Changes the environment of the next calls.
    pub fn env_mut(&mut self) -> &mut Env {
        &mut self.env
    }

    /// Sets the height of the next calls.
    pub fn set_height(&mut self, height: u64) -> &mut Self {
        self.env.height = height;
        self
    }

    /// Sets the time of the next calls.
    pub fn set_time_ms(&mut self, time_ms: u64) -> &mut Self {
        self.env.time_ms = time_ms;
        self
    }

    /// Moves height and time forward.
    pub fn advance(&mut self, heights: u64, ms: u64) -> &mut Self {
        self.env.height += heights;
        self.env.time_ms += ms;
        self
    }

    // ----- other modules and system -----

    /// Answers `system`'s participants query with these members (admitted at 0).
    pub fn set_participants(&mut self, members: &[&str]) -> &mut Self {
        let list: Vec<Participant> =
            members.iter().map(|m| Participant { member: m.to_string(), admitted_at: 0 }).collect();
        self.on_system(SystemQuery::Participants {}, &list)
    }

    /// Answers `system`'s statuses query with these members and statuses
    /// (admitted at 0).
    pub fn set_statuses(&mut self, members: &[(&str, crate::ctx::Status)]) -> &mut Self {
        let list: Vec<crate::ctx::ParticipantStatus> = members
            .iter()
            .map(|(m, status)| crate::ctx::ParticipantStatus {
                member: m.to_string(),
                admitted_at: 0,
                status: *status,
            })
            .collect();
        self.on_system(SystemQuery::Statuses {}, &list)
    }

    /// Answers `system`'s terms query with this hash (generation 0).
    pub fn set_terms(&mut self, terms: &str) -> &mut Self {
        let answer = crate::ctx::Terms { terms: String::from(terms), generation: 0 };
        self.on_system(SystemQuery::Terms {}, &answer)
    }

    /// Answers a [`SystemQuery`] with `answer` as JSON.
    ///
    /// # Panics
    ///
    /// If `answer` cannot be encoded as JSON.
    pub fn on_system(&mut self, query: SystemQuery, answer: &impl Serialize) -> &mut Self {
        let answer = serde_json::to_vec(answer).unwrap_or_else(|e| panic!("system answer is not JSON: {e}"));
        self.system.insert(system_key(&query), answer);
        self
    }

    /// Registers module `module`'s query handler: it receives the decoded
    /// message and returns the answer or an error text.
    pub fn on_query<Q, R>(
        &mut self,
        module: &str,
        mut handler: impl FnMut(Q) -> Result<R, String> + 'static,
    ) -> &mut Self
    where
        Q: DeserializeOwned,
        R: Serialize,
    {
        let name = module.to_string();
        self.on_query_raw(module, move |msg| {
            let msg = serde_json::from_slice(msg).map_err(|e| format!("invalid query to \"{name}\": {e}"))?;
            serde_json::to_vec(&handler(msg)?).map_err(|e| e.to_string())
        })
    }

    /// Registers module `module`'s query handler on raw JSON bytes.
    pub fn on_query_raw(
        &mut self,
        module: &str,
        handler: impl FnMut(&[u8]) -> QueryResult + 'static,
    ) -> &mut Self {
        self.modules.insert(module.to_string(), Box::new(handler));
        self
    }

    // ----- calls -----

    /// Runs `init` with `config` (as JSON) for `caller`.
    pub fn init(&mut self, caller: &str, config: &impl Serialize) -> ResponseResult {
        let msg = json(config)?;
        self.init_raw(caller, &msg)
    }

    /// Runs `handle` with `msg` (as JSON) for `caller`.
    pub fn handle(&mut self, caller: &str, msg: &impl Serialize) -> ResponseResult {
        let msg = json(msg)?;
        self.handle_raw(caller, &msg)
    }

    /// Runs `handle` as a message from module `sender`, in an op of `caller`.
    pub fn handle_from_module(&mut self, sender: &str, caller: &str, msg: &impl Serialize) -> ResponseResult {
        let msg = json(msg)?;
        let mut info = self.next_info(caller);
        info.sender_module = Some(sender.to_string());
        response(self.call(Entry::Handle, Some(info), &msg))
    }

    /// Runs `migrate` with `msg` (as JSON) for `caller`.
    pub fn migrate(&mut self, caller: &str, msg: &impl Serialize) -> ResponseResult {
        let msg = json(msg)?;
        let info = self.next_info(caller);
        response(self.call(Entry::Migrate, Some(info), &msg))
    }

    /// Runs `query` with `msg` (as JSON) and decodes the answer as `R`.
    pub fn query<R: DeserializeOwned>(&mut self, msg: &impl Serialize) -> Result<R, String> {
        let msg = json(msg)?;
        let answer = self.query_raw(&msg)?;
        serde_json::from_slice(&answer).map_err(|e| format!("the query answer does not decode: {e}"))
    }

    /// Runs `init` with raw message bytes (for malformed-input tests).
    pub fn init_raw(&mut self, caller: &str, msg: &[u8]) -> ResponseResult {
        let info = self.next_info(caller);
        response(self.call(Entry::Init, Some(info), msg))
    }

    /// Runs `handle` with raw message bytes (for malformed-input tests).
    pub fn handle_raw(&mut self, caller: &str, msg: &[u8]) -> ResponseResult {
        let info = self.next_info(caller);
        response(self.call(Entry::Handle, Some(info), msg))
    }

    /// Runs `query` with raw message bytes; returns the raw JSON answer.
    pub fn query_raw(&mut self, msg: &[u8]) -> QueryResult {
        let out = self.call(Entry::Query, None, msg);
        postcard::from_bytes::<QueryResult>(&out)
            .map_err(|e| format!("the module returned a malformed query output: {e}"))?
    }

    /// The general form: runs `entry` with this `info` and message and
    /// returns the module's postcard output, exactly as the wasm export
    /// would. Undoes the call's writes and events if the output is an error.
    pub fn call(&mut self, entry: Entry, info: Option<Info>, msg: &[u8]) -> Vec<u8> {
        let input = Input { env: self.env.clone(), info, msg: msg.to_vec() };
        let input = match postcard::to_allocvec(&input) {
            Ok(bytes) => bytes,
            Err(e) => panic!("cannot encode the input: {e}"),
        };
        let before = self.state.clone();
        self.read_only = entry == Entry::Query;
        self.pending_events.clear();
        let dispatch = self.dispatch;
        let out = with_host(self, || dispatch(entry, &input));
        self.read_only = false;
        let ok = match entry {
            Entry::Query => matches!(postcard::from_bytes::<QueryResult>(&out), Ok(Ok(_))),
            _ => matches!(postcard::from_bytes::<ResponseResult>(&out), Ok(Ok(_))),
        };
        if ok {
            self.events.append(&mut self.pending_events);
        } else {
            self.state = before;
            self.pending_events.clear();
        }
        out
    }

    fn next_info(&mut self, caller: &str) -> Info {
        self.ops += 1;
        let seq = self.seqs.entry(caller.to_string()).or_insert(0);
        *seq += 1;
        Info {
            caller: caller.to_string(),
            sender_module: None,
            op_id: format!("{:064x}", self.ops),
            seq: *seq,
        }
    }

    // ----- inspection -----

    /// The module's keyed state (its own namespace).
    pub fn state(&self) -> &BTreeMap<Vec<u8>, Vec<u8>> {
        &self.state
    }

    /// Events emitted with [`Ctx::emit`](crate::Ctx::emit) by successful
    /// calls, in order (response events are in each [`Response`](crate::Response)).
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// Takes the emitted events, leaving none.
    pub fn take_events(&mut self) -> Vec<Event> {
        core::mem::take(&mut self.events)
    }

    /// Debug log lines, from every call (also failed ones).
    pub fn logs(&self) -> &[String] {
        &self.logs
    }
}

fn json(value: &impl Serialize) -> Result<Vec<u8>, String> {
    serde_json::to_vec(value).map_err(|e| format!("the test message is not JSON: {e}"))
}

fn response(out: Vec<u8>) -> ResponseResult {
    postcard::from_bytes::<ResponseResult>(&out)
        .map_err(|e| format!("the module returned a malformed response output: {e}"))?
}

fn system_key(query: &SystemQuery) -> String {
    serde_json::to_string(query).unwrap_or_default()
}

impl NativeHost for MockHost {
    fn get(&mut self, key: &[u8]) -> Option<Vec<u8>> {
        self.state.get(key).cloned()
    }

    fn set(&mut self, key: &[u8], value: &[u8]) -> Result<(), String> {
        if self.read_only {
            return Err("a query cannot write state".into());
        }
        self.state.insert(key.to_vec(), value.to_vec());
        Ok(())
    }

    fn remove(&mut self, key: &[u8]) -> Result<(), String> {
        if self.read_only {
            return Err("a query cannot delete state".into());
        }
        self.state.remove(key);
        Ok(())
    }

    fn scan(&mut self, prefix: &[u8], start: &[u8], limit: u32) -> Vec<(Vec<u8>, Vec<u8>)> {
        let from = if start < prefix { prefix } else { start };
        self.state
            .range(from.to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .take(limit as usize)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    fn query(&mut self, module: &str, msg: &[u8]) -> Result<Vec<u8>, String> {
        if module == SYSTEM_MODULE {
            let query: SystemQuery =
                serde_json::from_slice(msg).map_err(|e| format!("invalid system query: {e}"))?;
            return self.system.get(&system_key(&query)).cloned().ok_or_else(|| {
                format!(
                    "MockHost has no answer for the system query {}; set one with on_system or set_participants",
                    system_key(&query)
                )
            });
        }
        match self.modules.get_mut(module) {
            Some(handler) => handler(msg),
            None => Err(format!("no module named \"{module}\" (register one with MockHost::on_query)")),
        }
    }

    fn emit(&mut self, event: Event) {
        self.pending_events.push(event);
    }

    fn log(&mut self, line: &str) {
        self.logs.push(line.to_string());
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::{Ctx, Error, Item, QueryCtx, Response};
    use alloc::vec;
    use serde::Deserialize;
    use serde_json::json;

    const LAST: Item<String> = Item::new("last");

    #[derive(Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Msg {
        Set { value: String },
        SetThenFail { value: String },
        Emit {},
        AskPrice { item: String },
        Whoami {},
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Q {
        Last {},
        WriteInQuery {},
    }

    fn init(ctx: &mut Ctx, value: String) -> Result<Response, Error> {
        LAST.save(ctx, &value)?;
        Ok(Response::new())
    }

    fn handle(ctx: &mut Ctx, msg: Msg) -> Result<Response, Error> {
        match msg {
            Msg::Set { value } => LAST.save(ctx, &value)?,
            Msg::SetThenFail { value } => {
                LAST.save(ctx, &value)?;
                ctx.emit(Event::new("lost"));
                ctx.log("about to fail");
                return Err(Error::msg("failed on purpose"));
            }
            Msg::Emit {} => ctx.emit(Event::new("kept").attr("height", ctx.height())),
            Msg::AskPrice { item } => {
                let price: u64 = ctx.query("shop", &json!({ "price": { "item": item } }))?;
                return Response::new().set_data(&price);
            }
            Msg::Whoami {} => {
                let who = (ctx.caller(), ctx.sender_module(), ctx.seq(), ctx.op_id(), ctx.time_ms());
                return Response::new().set_data(&who);
            }
        }
        Ok(Response::new())
    }

    fn query(ctx: &QueryCtx, msg: Q) -> Result<crate::Json, Error> {
        match msg {
            Q::Last {} => crate::to_json(&LAST.load(ctx)?),
            Q::WriteInQuery {} => {
                // Sneak a write past the type system through the host layer.
                crate::host::db_set(b"last", b"\"evil\"");
                crate::to_json(&())
            }
        }
    }

    crate::export!(init: init, handle: handle, query: query);

    fn host() -> MockHost {
        let mut host = MockHost::new(polypact_dispatch);
        host.init("pm1admin", &"first").unwrap();
        host
    }

    #[test]
    fn calls_round_trip_through_the_abi_bytes() {
        let mut host = host();
        host.handle("pm1a", &json!({"set": {"value": "second"}})).unwrap();
        assert_eq!(host.query::<String>(&json!({"last": {}})).unwrap(), "second");
        // The raw path returns exactly what the wasm export would.
        let out = host.call(Entry::Query, None, br#"{"last":{}}"#);
        assert_eq!(postcard::from_bytes::<QueryResult>(&out).unwrap(), Ok(br#""second""#.to_vec()));
    }

    #[test]
    fn failed_calls_change_nothing() {
        let mut host = host();
        let before = host.state().clone();
        let err = host.handle("pm1a", &json!({"set_then_fail": {"value": "x"}})).unwrap_err();
        assert_eq!(err, "failed on purpose");
        assert_eq!(host.state(), &before);
        assert!(host.events().is_empty());
        assert_eq!(host.logs(), ["about to fail".to_string()], "logs survive failures");
        host.handle("pm1a", &json!({"emit": {}})).unwrap();
        assert_eq!(host.take_events(), vec![Event::new("kept").attr("height", 1)]);
    }

    #[test]
    fn malformed_messages_are_clear_errors() {
        let mut host = host();
        let before = host.state().clone();
        let err = host.handle("pm1a", &json!({"sett": {"value": "x"}})).unwrap_err();
        assert!(err.starts_with("invalid handle message: unknown variant `sett`, expected one of"), "{err}");
        let err = host.handle_raw("pm1a", b"{not json").unwrap_err();
        assert!(err.starts_with("invalid handle message: key must be a string at line 1 column 2"), "{err}");
        let err = host.query_raw(b"[]").unwrap_err();
        assert!(err.starts_with("invalid query message: "), "{err}");
        let err = host.init_raw("pm1a", b"42").unwrap_err();
        assert!(
            err.starts_with("invalid init config: invalid type: integer `42`, expected a string"),
            "{err}"
        );
        assert_eq!(host.state(), &before);
    }

    #[test]
    fn host_faults_are_errors_not_traps() {
        let out = polypact_dispatch(Entry::Handle, b"\xff\xff garbage");
        let result = postcard::from_bytes::<ResponseResult>(&out).unwrap();
        assert!(result.unwrap_err().starts_with("the host sent malformed input"));
        let mut host = host();
        let out = host.call(Entry::Handle, None, br#"{"emit":{}}"#);
        let result = postcard::from_bytes::<ResponseResult>(&out).unwrap();
        assert_eq!(result.unwrap_err(), "the host called handle without caller info");
    }

    #[test]
    fn missing_migrate_says_so() {
        let err = host().migrate("pm1a", &json!({})).unwrap_err();
        assert!(err.starts_with("this module has no migrate entry point"), "{err}");
    }

    #[test]
    fn context_carries_caller_seq_and_sender() {
        let mut host = host();
        host.set_time_ms(42);
        let r = host.handle("pm1a", &json!({"whoami": {}})).unwrap();
        let who: (String, Option<String>, u64, String, u64) = r.data_as().unwrap().unwrap();
        assert_eq!(who, ("pm1a".into(), None, 1, format!("{:064x}", 2), 42));
        let r = host.handle_from_module("voting", "pm1a", &json!({"whoami": {}})).unwrap();
        let who: (String, Option<String>, u64, String, u64) = r.data_as().unwrap().unwrap();
        assert_eq!((who.1.as_deref(), who.2), (Some("voting"), 2));
    }

    #[test]
    fn queries_reach_registered_modules() {
        #[derive(Deserialize)]
        #[serde(rename_all = "snake_case")]
        enum ShopQuery {
            Price { item: String },
        }
        let mut host = host();
        let err = host.handle("pm1a", &json!({"ask_price": {"item": "tea"}})).unwrap_err();
        assert!(err.starts_with("query to module \"shop\" failed: no module named \"shop\""), "{err}");
        host.on_query("shop", |q: ShopQuery| match q {
            ShopQuery::Price { item } if item == "tea" => Ok(3u64),
            ShopQuery::Price { item } => Err(format!("no {item} here")),
        });
        let r = host.handle("pm1a", &json!({"ask_price": {"item": "tea"}})).unwrap();
        assert_eq!(r.data_as::<u64>().unwrap(), Some(3));
        let err = host.handle("pm1a", &json!({"ask_price": {"item": "gin"}})).unwrap_err();
        assert_eq!(err, "query to module \"shop\" failed: no gin here");
    }

    #[test]
    fn system_queries_need_an_answer() {
        let mut host = MockHost::new(polypact_dispatch);
        assert!(NativeHost::query(&mut host, "system", br#"{"participants":{}}"#).is_err());
        host.set_participants(&["pm1a", "pm1b"]);
        let answer = NativeHost::query(&mut host, "system", br#"{ "participants" : {} }"#).unwrap();
        let list: Vec<Participant> = serde_json::from_slice(&answer).unwrap();
        assert_eq!(list.iter().map(|p| p.member.as_str()).collect::<Vec<_>>(), ["pm1a", "pm1b"]);
    }

    #[test]
    #[should_panic(expected = "the host refused a write: a query cannot write state")]
    fn writes_in_queries_trap() {
        let _ = host().query::<()>(&json!({"write_in_query": {}}));
    }
}
