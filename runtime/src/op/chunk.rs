//! Module code as it travels in a partnership's log: [`CodeChunk`]s carried
//! by `Payload::PublishCode` ops.
//!
//! Module code (hundreds of kilobytes) does not fit in one op, so it is cut
//! into chunks of exactly [`CODE_CHUNK_BYTES`] (the last one shorter). Each
//! chunk names the whole code's hash and size, so its place and length
//! follow from those alone and are checked before the op enters the graph
//! ([`CodeChunk::check`]). Assembling the chunks and checking the whole
//! against its hash is the ledger's job (`ledger/publish.rs`).

use serde::{Deserialize, Serialize};

use super::ids::CodeHash;

/// The size of every chunk but the last: well inside the default op size
/// limit (256 KiB) with room for the op's other fields.
pub const CODE_CHUNK_BYTES: usize = 192 * 1024;

/// The largest module code any charter may allow (`Params::max_code_bytes`
/// is at most this): a rule of the runtime, the same on every node.
pub const MAX_CODE_BYTES: u32 = 16 * 1024 * 1024;

/// One piece of module code published in a partnership.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeChunk {
    /// BLAKE3 of the whole code.
    pub code: CodeHash,
    /// The whole code's size in bytes.
    pub size: u32,
    /// Which chunk this is, from 0.
    pub index: u32,
    /// The chunk's bytes: `CODE_CHUNK_BYTES` of them, except in the last chunk.
    pub bytes: Vec<u8>,
}

impl CodeChunk {
    /// Cuts `wasm` into the chunks that publish it, in order.
    ///
    /// ```
    /// use polypact::op::{CODE_CHUNK_BYTES, CodeChunk, CodeHash};
    ///
    /// let wasm = vec![7u8; CODE_CHUNK_BYTES + 10];
    /// let chunks = CodeChunk::split(&wasm);
    /// assert_eq!(chunks.len(), 2);
    /// assert!(chunks.iter().all(|c| c.code == CodeHash::of(&wasm) && c.check().is_ok()));
    /// assert_eq!(chunks[1].bytes.len(), 10);
    /// ```
    pub fn split(wasm: &[u8]) -> Vec<CodeChunk> {
        let code = CodeHash::of(wasm);
        let size = u32::try_from(wasm.len()).unwrap_or(u32::MAX);
        wasm.chunks(CODE_CHUNK_BYTES)
            .enumerate()
            .map(|(index, bytes)| CodeChunk {
                code,
                size,
                index: u32::try_from(index).unwrap_or(u32::MAX),
                bytes: bytes.to_vec(),
            })
            .collect()
    }

    /// How many chunks code of `size` bytes takes.
    pub fn count_for(size: u32) -> u32 {
        size.div_ceil(CODE_CHUNK_BYTES as u32)
    }

    /// How many chunks the whole code takes.
    pub fn count(&self) -> u32 {
        Self::count_for(self.size)
    }

    /// Whether this is the last chunk.
    pub fn is_last(&self) -> bool {
        self.index + 1 == self.count()
    }

    /// Structural checks that need nothing but the chunk: a size within
    /// [`MAX_CODE_BYTES`], an index within the count, and exactly the bytes
    /// a chunk at that index holds.
    pub fn check(&self) -> Result<(), String> {
        if self.size == 0 || self.size > MAX_CODE_BYTES {
            return Err(format!("published code is 1 to {MAX_CODE_BYTES} bytes, not {}", self.size));
        }
        let count = self.count();
        if self.index >= count {
            return Err(format!("chunk {} of code that has {count} chunks", self.index));
        }
        let expected = if self.is_last() {
            self.size as usize - (count as usize - 1) * CODE_CHUNK_BYTES
        } else {
            CODE_CHUNK_BYTES
        };
        if self.bytes.len() != expected {
            return Err(format!(
                "chunk {} of {count} of {}-byte code holds {expected} bytes, not {}",
                self.index,
                self.size,
                self.bytes.len()
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_chunks_reassemble_to_the_code_and_pass_their_checks() {
        for len in [1, CODE_CHUNK_BYTES - 1, CODE_CHUNK_BYTES, CODE_CHUNK_BYTES + 1, 3 * CODE_CHUNK_BYTES + 5]
        {
            let wasm: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let chunks = CodeChunk::split(&wasm);
            assert_eq!(chunks.len() as u32, CodeChunk::count_for(len as u32));
            assert!(chunks.iter().all(|c| c.check().is_ok()), "{len}");
            assert!(chunks.last().is_some_and(CodeChunk::is_last));
            let joined: Vec<u8> = chunks.iter().flat_map(|c| c.bytes.iter().copied()).collect();
            assert_eq!(joined, wasm);
        }
    }

    #[test]
    fn a_chunk_of_the_wrong_length_or_place_is_refused() {
        let wasm = vec![1u8; CODE_CHUNK_BYTES + 3];
        let mut chunks = CodeChunk::split(&wasm);
        let mut short = chunks[0].clone();
        short.bytes.pop();
        assert!(short.check().is_err_and(|e| e.contains("holds")));
        chunks[1].index = 2;
        assert!(chunks[1].check().is_err_and(|e| e.contains("chunk 2 of code that has 2 chunks")));
        let huge = CodeChunk { code: CodeHash::of(b""), size: MAX_CODE_BYTES + 1, index: 0, bytes: vec![] };
        assert!(huge.check().is_err());
        let empty = CodeChunk { code: CodeHash::of(b""), size: 0, index: 0, bytes: vec![] };
        assert!(empty.check().is_err());
    }
}
