//! Publishing module code in a partnership's log.
//!
//! Code enters a partnership in two ways only: named by the genesis (its
//! hash in the charter; the bytes come with the genesis when a node joins),
//! or published by `PublishCode` ops. An author publishes one code at a
//! time, chunk after chunk in order ([`CodeChunk`]; its ops are ordered by
//! seq, so its chunks execute in order wherever other ops sort). Chunk 0
//! starts a publication (dropping any the author left unfinished); each
//! later chunk must be the next one of the same code. The last chunk
//! completes it: the chunks are joined, the whole must hash to the code's
//! hash and be a valid module ([`Executor::load_code`]), and the code is
//! then *published*: `install_module` and `upgrade_module` may name it.
//! Naming code that is not published fails the op, the same on every node;
//! a node never halts for code it lacks, because it has run the ops that
//! carry it.
//!
//! What is kept: one publication under way per author (at most the
//! charter's `max_code_bytes`), and a [`CodeRecord`] per published code.
//! The joined bytes leave the state: the node keeps them in its code store.
//!
//! This module does not decide who may publish (any active participant may;
//! the ledger skips the others' ops), nor where the node keeps code.

use polypact_sdk::abi::Event;

use super::core::OpOutcome;
use super::dispatch::ModuleEvent;
use super::executor::{ExecError, Executor};
use super::state::{
    CodeRecord, PendingCode, StateMap, Write, code_chunk_key, code_key, decode_record, encode_record,
    failed_key, pending_code_key,
};
use super::suspension::SYSTEM_EVENTS;
use crate::dag::OrderKey;
use crate::op::{CodeChunk, CodeHash, OpId, Params, SignedOp};

/// What executing one chunk did.
pub(crate) struct ChunkRun {
    /// The op's writes.
    pub writes: Vec<Write>,
    /// Its outcome.
    pub outcome: OpOutcome,
    /// The whole code, when this chunk completed a publication (for the
    /// node's code store).
    pub published: Option<Vec<u8>>,
}

/// The records of the code a genesis names: published from height 0.
pub(crate) fn genesis_writes(codes: impl IntoIterator<Item = CodeHash>) -> Vec<Write> {
    codes
        .into_iter()
        .map(|code| {
            let record = CodeRecord { size: None, published_at: 0, published_by: None };
            (code_key(&code), Some(encode_record(&record)))
        })
        .collect()
}

/// Executes one `PublishCode` op at `key`. `Err` only when this node cannot
/// decide it (a node fault while loading the code).
pub(crate) fn execute<E: Executor>(
    state: &StateMap,
    params: &Params,
    executor: &E,
    op: &SignedOp,
    chunk: &CodeChunk,
    key: OrderKey,
) -> Result<ChunkRun, ExecError> {
    let failed = |error: String| ChunkRun {
        writes: vec![(failed_key(&key.id), Some(error.clone().into_bytes()))],
        outcome: OpOutcome::Failed { error },
        published: None,
    };
    let progress = |received: u32, published: bool| {
        let data = serde_json::json!({
            "code": chunk.code.to_hex(), "size": chunk.size, "received": received,
            "chunks": chunk.count(), "published": published,
        });
        Some(data.to_string().into_bytes())
    };
    if state.published_code(&chunk.code).is_some() {
        // Already here (a repeated publish): nothing to do, nothing lost.
        return Ok(ChunkRun {
            writes: Vec::new(),
            outcome: OpOutcome::Applied { data: progress(chunk.count(), true), events: Vec::new() },
            published: None,
        });
    }
    if chunk.size > params.max_code_bytes {
        return Ok(failed(format!(
            "code {} is {} bytes, over this partnership's max_code_bytes ({})",
            chunk.code, chunk.size, params.max_code_bytes
        )));
    }
    let author = op.author();
    let pending: Option<PendingCode> = state.get(&pending_code_key(&author)).and_then(|b| decode_record(b));
    let mut writes = Vec::new();
    if chunk.index == 0 {
        // A new publication replaces the author's unfinished one.
        if let Some(old) = &pending {
            writes.extend((0..old.next).map(|i| (code_chunk_key(&author, i), None)));
        }
    } else {
        let follows = pending.as_ref().is_some_and(|p| p.code == chunk.code && p.size == chunk.size);
        let expected = pending.as_ref().map_or(0, |p| p.next);
        if !follows || expected != chunk.index {
            return Ok(failed(format!(
                "chunk {} of code {} does not follow this author's publication (expected {})",
                chunk.index,
                chunk.code,
                match &pending {
                    Some(p) if p.code == chunk.code => format!("chunk {}", p.next),
                    Some(p) => format!("chunk {} of code {}", p.next, p.code),
                    None => "chunk 0".into(),
                }
            )));
        }
    }
    if !chunk.is_last() {
        let next = PendingCode { code: chunk.code, size: chunk.size, next: chunk.index + 1 };
        writes.push((code_chunk_key(&author, chunk.index), Some(chunk.bytes.clone())));
        writes.push((pending_code_key(&author), Some(encode_record(&next))));
        writes.sort_by(|a, b| a.0.cmp(&b.0));
        writes.dedup_by(|a, b| a.0 == b.0);
        return Ok(ChunkRun {
            writes,
            outcome: OpOutcome::Applied { data: progress(chunk.index + 1, false), events: Vec::new() },
            published: None,
        });
    }
    // The last chunk: join, check, load.
    let mut wasm = Vec::with_capacity(chunk.size as usize);
    for i in 0..chunk.index {
        match state.get(&code_chunk_key(&author, i)) {
            Some(bytes) => wasm.extend_from_slice(bytes),
            None => return Ok(failed(format!("chunk {i} of code {} is missing", chunk.code))),
        }
    }
    wasm.extend_from_slice(&chunk.bytes);
    let joined = CodeHash::of(&wasm);
    if joined != chunk.code {
        return Ok(failed(format!("the published chunks hash to {joined}, not to {}", chunk.code)));
    }
    match executor.load_code(&wasm) {
        Ok(_) => {}
        Err(ExecError::Fault(why)) => return Err(ExecError::Fault(why)),
        Err(error) => return Ok(failed(format!("code {} cannot be published: {error}", chunk.code))),
    }
    let mut writes: Vec<Write> = (0..chunk.index).map(|i| (code_chunk_key(&author, i), None)).collect();
    writes.push((pending_code_key(&author), None));
    let record = CodeRecord { size: Some(chunk.size), published_at: key.height, published_by: Some(key.id) };
    writes.push((code_key(&chunk.code), Some(encode_record(&record))));
    writes.sort_by(|a, b| a.0.cmp(&b.0));
    let event = published_event(&chunk.code, chunk.size, &author.to_string(), &key.id);
    Ok(ChunkRun {
        writes,
        outcome: OpOutcome::Applied { data: progress(chunk.count(), true), events: vec![event] },
        published: Some(wasm),
    })
}

fn published_event(code: &CodeHash, size: u32, by: &str, op: &OpId) -> ModuleEvent {
    ModuleEvent {
        module: SYSTEM_EVENTS.into(),
        event: Event {
            kind: "code_published".into(),
            attributes: vec![
                ("code".into(), code.to_hex()),
                ("size".into(), size.to_string()),
                ("by".into(), by.to_owned()),
                ("op".into(), op.to_hex()),
            ],
        },
    }
}
