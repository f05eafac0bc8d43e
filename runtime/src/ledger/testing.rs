//! A small native module for tests and benchmarks of the ledger.
//!
//! [`KvModule`] understands these JSON messages:
//!
//! | message | effect |
//! |---|---|
//! | `{"set":{"key":"k","value":"v"}}` | writes a key |
//! | `{"add":{"key":"k","by":1}}` | adds to an integer key (fails on overflow) |
//! | `{"fail":"why"}` | fails the op with that error, after a write that must not survive |
//! | `{"emit":{"count":3,"size":10}}` | emits `count` events with a `size`-byte attribute each |
//! | `{"admit":"pm1…"}` / `{"remove":"pm1…"}` | asks the system to add or remove a participant |
//! | `{"forward":{"module":"m","msg":{…}}}` | sends a message to another module |
//!
//! Queries: `{"get":"k"}` (the value or null), `{"all":{}}` (every key).
//! Init config: `{"initial": {"k": "v"}}` (optional).

use std::sync::Arc;

use polypact_sdk::abi::{Entry, Event, Input, Message, Response, SystemMsg};
use serde_json::{Value, json};

use super::executor::{HostEnv, Output};
use super::native::{NativeExecutor, NativeModule};
use crate::op::{Charter, CodeHash, MemberKey, ModuleSpec, Params, Payload, SignedOp, UnsignedOp};

/// The code hash [`kv_executor`] registers [`KvModule`] under.
pub fn kv_code() -> CodeHash {
    CodeHash::of(b"kv")
}

/// A native executor holding [`KvModule`] as the code [`kv_code`].
pub fn kv_executor() -> NativeExecutor {
    let mut executor = NativeExecutor::new();
    executor.register(kv_code(), Arc::new(KvModule));
    executor
}

/// The genesis of partnership `name` whose participants are `keys` (at
/// least one), with one module `kv` ([`KvModule`]), signed by the first
/// key at `time_ms`.
pub fn kv_genesis(name: &str, keys: &[MemberKey], time_ms: u64) -> SignedOp {
    let mut participants: Vec<_> = keys.iter().map(MemberKey::member_id).collect();
    participants.sort();
    let charter = Charter {
        name: name.into(),
        participants,
        modules: vec![ModuleSpec {
            name: "kv".into(),
            code: kv_code(),
            config: "{}".into(),
            permissions: vec![],
        }],
        params: Params::default(),
        parent: None,
    };
    UnsignedOp {
        partnership: Default::default(),
        author: keys[0].member_id(),
        seq: 1,
        parents: vec![],
        time_ms,
        payload: Payload::Genesis(charter),
    }
    .sign(&keys[0])
}

/// A key-value test module (see the module doc).
#[derive(Clone, Copy, Debug, Default)]
pub struct KvModule;

fn as_text(value: &Value) -> String {
    value.as_str().map_or_else(|| value.to_string(), str::to_owned)
}

impl KvModule {
    fn handle(msg: &Value, env: &mut dyn HostEnv) -> Result<Response, String> {
        let mut response = Response::default();
        if let Some(set) = msg.get("set") {
            let key = as_text(&set["key"]);
            let value = as_text(&set["value"]);
            env.set(key.as_bytes(), value.as_bytes())?;
            response.events.push(Event { kind: "set".into(), attributes: vec![("key".into(), key)] });
        } else if let Some(add) = msg.get("add") {
            let key = as_text(&add["key"]);
            let by = add["by"].as_i64().ok_or("`by` must be an integer")?;
            let current = match env.get(key.as_bytes()) {
                Some(bytes) => String::from_utf8_lossy(&bytes).parse::<i64>().map_err(|e| e.to_string())?,
                None => 0,
            };
            let next = current.checked_add(by).ok_or("overflow")?;
            env.set(key.as_bytes(), next.to_string().as_bytes())?;
            response.data = Some(next.to_string().into_bytes());
        } else if let Some(why) = msg.get("fail") {
            env.set(b"doomed", b"this write must not survive")?;
            return Err(as_text(why));
        } else if let Some(emit) = msg.get("emit") {
            let count = emit["count"].as_u64().unwrap_or(1);
            let size = emit["size"].as_u64().unwrap_or(1) as usize;
            for i in 0..count {
                response.events.push(Event {
                    kind: "filler".into(),
                    attributes: vec![(i.to_string(), "x".repeat(size))],
                });
            }
        } else if let Some(member) = msg.get("admit") {
            response.messages.push(Message::System(SystemMsg::AddParticipant { member: as_text(member) }));
        } else if let Some(member) = msg.get("remove") {
            response.messages.push(Message::System(SystemMsg::RemoveParticipant { member: as_text(member) }));
        } else if let Some(forward) = msg.get("forward") {
            response.messages.push(Message::Call {
                module: as_text(&forward["module"]),
                msg: forward["msg"].to_string().into_bytes(),
            });
        } else {
            return Err(format!("unknown message {msg}"));
        }
        Ok(response)
    }

    fn query(msg: &Value, env: &mut dyn HostEnv) -> Result<Vec<u8>, String> {
        if let Some(key) = msg.get("get") {
            let value = env.get(as_text(key).as_bytes()).map(|v| String::from_utf8_lossy(&v).into_owned());
            return Ok(json!(value).to_string().into_bytes());
        }
        if msg.get("all").is_some() {
            let pairs: serde_json::Map<String, Value> = env
                .scan(b"", b"", u32::MAX)
                .into_iter()
                .map(|(k, v)| (String::from_utf8_lossy(&k).into_owned(), json!(String::from_utf8_lossy(&v))))
                .collect();
            return Ok(Value::Object(pairs).to_string().into_bytes());
        }
        Err(format!("unknown query {msg}"))
    }
}

impl NativeModule for KvModule {
    fn invoke(&self, entry: Entry, input: &Input, env: &mut dyn HostEnv) -> Output {
        let msg: Value = match serde_json::from_slice(&input.msg) {
            Ok(msg) => msg,
            Err(e) => {
                let error = format!("invalid JSON message: {e}");
                return match entry {
                    Entry::Query => Output::Query(Err(error)),
                    _ => Output::Response(Err(error)),
                };
            }
        };
        match entry {
            Entry::Init | Entry::Migrate => {
                let mut result = Ok(Response::default());
                if let Some(initial) = msg.get("initial").and_then(Value::as_object) {
                    for (k, v) in initial {
                        if let Err(e) = env.set(k.as_bytes(), as_text(v).as_bytes()) {
                            result = Err(e);
                        }
                    }
                }
                Output::Response(result)
            }
            Entry::Handle => Output::Response(Self::handle(&msg, env)),
            Entry::Query => Output::Query(Self::query(&msg, env)),
        }
    }
}
