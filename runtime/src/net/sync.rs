//! The sync protocol `/polypact/sync/2`: requests, responses, page bounds and
//! the size-limited wire codec.
//!
//! Sync is how a node fetches what gossip did not bring it. Between two
//! peers it is batched across every partnership they share:
//!
//! - [`SyncRequest::Heads`] carries, for many partnerships at once, a
//!   digest of the asker's per-author seq vector ([`HeadsDigest`]); the
//!   answer names the partnerships whose digest differs, each with the
//!   answering node's seq vector, and those the asker may not see. Equal
//!   digests cost nothing more.
//! - [`SyncRequest::Ops`] asks for many `(partnership, author, seq range)`
//!   at once; one [`SyncResponse::Page`] carries ops of several
//!   partnerships, bounded by [`MAX_PAGE_OPS`] and [`MAX_PAGE_BYTES`], and
//!   says how many of the ranges it served in full.
//! - [`SyncRequest::OpsById`] (missing parents of one partnership),
//!   [`SyncRequest::Code`] (module code by hash), [`SyncRequest::Hello`]
//!   (one partnership) and [`Proof`] (many, inside `Heads`): a member's
//!   signature that the asking peer acts for it.
//! - [`SyncRequest::Announce`] carries the geneses of many partnerships.
//!
//! Refusals are answers, not transport failures: [`SyncResponse::Denied`],
//! [`SyncResponse::Unknown`], [`SyncResponse::TooLarge`],
//! [`SyncResponse::Busy`] (ask again later).
//!
//! On the wire each message is a 4-byte big-endian length then the postcard
//! encoding, behind a one-byte wire version. Both sides refuse a message past
//! its size limit before reading it, and read before they allocate. This
//! file owns the format only; who may ask what is the node's decision
//! (`node::network`), and every op or code received here is checked by its
//! receiver (signature, ids, BLAKE3).

use std::io;

use futures::prelude::*;
use libp2p::StreamProtocol;
use serde::{Deserialize, Serialize};

use crate::op::{CodeHash, MemberId, OpId, PartnershipId};

/// Inbound sync streams a node serves at once on one connection, by
/// default ([`TransportConfig::max_inbound_streams`](super::TransportConfig));
/// past it libp2p drops the stream and the requester sees a failure (and
/// asks again, [`Retry`]).
pub const MAX_STREAMS_PER_CONNECTION: usize = 64;

/// Sync requests a node has in flight to one peer at once, by default
/// ([`TransportConfig::max_requests_in_flight_per_peer`](super::TransportConfig)):
/// half the peer's default inbound capacity, so the peer keeps room for
/// others. Requests past it wait their turn, in order.
pub const MAX_REQUESTS_IN_FLIGHT_PER_PEER: usize = MAX_STREAMS_PER_CONNECTION / 2;

/// The protocol name and version of sync. Version 2 batches heads and
/// pages across partnerships; a node of version 1 cannot sync with it (nor
/// does identify keep them connected: [`super::PROTOCOL_VERSION`]).
pub const SYNC_PROTOCOL: StreamProtocol = StreamProtocol::new("/polypact/sync/2");

/// The wire version byte in front of every sync message.
const WIRE_VERSION: u8 = 2;

/// Most ops one page may ask for or carry (`Ops`, `OpsById`).
pub const MAX_PAGE_OPS: u32 = 1024;

/// Most bytes of op encodings one page carries (a server stops adding ops
/// before it goes past this, but always sends at least one op).
pub const MAX_PAGE_BYTES: usize = 4 * 1024 * 1024;

/// Most ids one `OpsById` request may name.
pub const MAX_IDS_PER_REQUEST: usize = 256;

/// Most partnerships one `Heads` request may name (64 bytes each on the wire).
pub const MAX_HEADS_ENTRIES: usize = 2048;

/// Most bytes of seq vectors one `Heads` answer carries; the partnerships
/// past it are left unanswered ([`SyncResponse::Heads`]'s `answered`) and
/// asked again.
pub const MAX_HEADS_BYTES: usize = 4 * 1024 * 1024;

/// Most seq ranges one `Ops` request may name.
pub const MAX_RANGES_PER_REQUEST: usize = 1024;

/// Most geneses one `Announce` request carries.
pub const MAX_GENESES_PER_ANNOUNCE: usize = 1024;

/// Most bytes of geneses one `Announce` request carries (a batch always
/// takes at least one genesis, which is at most one op).
pub const MAX_ANNOUNCE_BYTES: usize = 256 * 1024;

/// Largest request accepted on the wire: an announced genesis of the
/// largest op size, or a full `Heads` or `Ops` request, with room for framing.
pub const MAX_REQUEST_BYTES: usize = 320 * 1024;

/// Largest response accepted on the wire: a full page plus one maximal op,
/// or the largest module code (16 MiB), with room for framing.
pub const MAX_RESPONSE_BYTES: usize = 17 * 1024 * 1024;

/// A digest of one partnership's per-author seq vector (each author's
/// highest stored seq): two nodes with the same digest hold the same ops,
/// up to equivocation (two ops at one seq, which gossip carries with its
/// proof).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct HeadsDigest(pub [u8; 32]);

impl HeadsDigest {
    /// The digest of a seq vector given ascending by author (as a
    /// `BTreeMap` iterates and [`SyncResponse::Heads`] carries it).
    pub fn of<'a>(seqs: impl IntoIterator<Item = (&'a MemberId, &'a u64)>) -> HeadsDigest {
        let mut hasher = blake3::Hasher::new_derive_key("polypact sync/2: a partnership's seq vector");
        for (author, seq) in seqs {
            hasher.update(&author.0);
            hasher.update(&seq.to_le_bytes());
        }
        HeadsDigest(*hasher.finalize().as_bytes())
    }
}

/// One partnership of a [`SyncRequest::Heads`]: the asker's digest of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeadsEntry {
    /// The partnership.
    pub partnership: PartnershipId,
    /// The asker's digest of its seq vector.
    pub digest: HeadsDigest,
}

/// One partnership of a [`SyncResponse::Heads`] whose digest differed: the
/// answering node's seq vector.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnershipSeqs {
    /// The partnership.
    pub partnership: PartnershipId,
    /// `(author, highest seq)`, ascending by author.
    pub seqs: Vec<(MemberId, u64)>,
}

/// One range of a [`SyncRequest::Ops`]: `author`'s ops in `partnership`
/// with seq in `[from_seq, from_seq + limit)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeqRange {
    /// The partnership.
    pub partnership: PartnershipId,
    /// Whose ops.
    pub author: MemberId,
    /// First seq wanted.
    pub from_seq: u64,
    /// How many seqs at most (1 to [`MAX_PAGE_OPS`]).
    pub limit: u32,
}

/// A member's proof that the asking node acts for it, in the partnerships
/// a `Heads` request names: its ed25519 signature over
/// [`batch_auth_message`] of the asking node's peer id and those
/// partnerships (so it cannot be replayed by another peer or stretched to
/// other partnerships). A node serves the asking peer a named partnership
/// in which `member` is an active participant, as a [`SyncRequest::Hello`]
/// for it would.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proof {
    /// The member the asking node acts for.
    pub member: MemberId,
    /// 64-byte ed25519 signature.
    pub signature: Vec<u8>,
}

/// A sync request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum SyncRequest {
    /// Compares the asker's digests of many partnerships' seq vectors with
    /// the answering node's (1 to [`MAX_HEADS_ENTRIES`] entries, one per
    /// partnership).
    Heads {
        /// The partnerships and the asker's digests, in the asker's order.
        entries: Vec<HeadsEntry>,
        /// Proves whom the asker acts for, for peers not yet bound.
        proof: Option<Proof>,
    },
    /// Ops by author and seq range, of many partnerships (1 to
    /// [`MAX_RANGES_PER_REQUEST`] ranges, at most one per partnership and
    /// author).
    Ops {
        /// The ranges, served in order.
        ranges: Vec<SeqRange>,
    },
    /// Ops by id (missing parents), at most [`MAX_IDS_PER_REQUEST`] ids.
    OpsById {
        /// The partnership.
        partnership: PartnershipId,
        /// The ids wanted.
        ids: Vec<OpId>,
    },
    /// A module's WASM code by its hash.
    Code {
        /// The code hash.
        hash: CodeHash,
    },
    /// Proves the asking node acts for `member` in one partnership:
    /// `signature` is the member's ed25519 signature over [`auth_message`]
    /// of the partnership and the asking node's own peer id (so it cannot
    /// be replayed by another peer). A node that checks it and finds
    /// `member` an active participant serves the asking peer for that
    /// partnership ([`SyncResponse::Welcome`]) even before the peer's
    /// `BindPeer` op exists (a newly admitted member).
    Hello {
        /// The partnership.
        partnership: PartnershipId,
        /// The member the asking node acts for.
        member: MemberId,
        /// 64-byte ed25519 signature.
        signature: Vec<u8>,
    },
    /// Tells a peer about partnerships: their genesis ops' encodings (1 to
    /// [`MAX_GENESES_PER_ANNOUNCE`]). A node whose member is among a
    /// charter's participants joins it.
    Announce {
        /// Genesis ops' canonical encodings.
        geneses: Vec<Vec<u8>>,
    },
}

impl SyncRequest {
    /// The request's kind, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            SyncRequest::Heads { .. } => "heads",
            SyncRequest::Ops { .. } => "ops",
            SyncRequest::OpsById { .. } => "ops by id",
            SyncRequest::Code { .. } => "code",
            SyncRequest::Hello { .. } => "hello",
            SyncRequest::Announce { .. } => "announce",
        }
    }

    /// Checks the request's own bounds; an out-of-bounds request is
    /// answered with [`SyncResponse::TooLarge`].
    pub fn check_bounds(&self) -> Result<(), SyncResponse> {
        let within = match self {
            SyncRequest::Heads { entries, proof } => {
                (1..=MAX_HEADS_ENTRIES).contains(&entries.len())
                    && proof.as_ref().is_none_or(|p| p.signature.len() == 64)
            }
            SyncRequest::Ops { ranges } => {
                (1..=MAX_RANGES_PER_REQUEST).contains(&ranges.len())
                    && ranges.iter().all(|r| (1..=MAX_PAGE_OPS).contains(&r.limit))
            }
            SyncRequest::OpsById { ids, .. } => (1..=MAX_IDS_PER_REQUEST).contains(&ids.len()),
            SyncRequest::Hello { signature, .. } => signature.len() == 64,
            SyncRequest::Announce { geneses } => (1..=MAX_GENESES_PER_ANNOUNCE).contains(&geneses.len()),
            SyncRequest::Code { .. } => true,
        };
        if within { Ok(()) } else { Err(SyncResponse::TooLarge) }
    }
}

/// The domain of one-partnership sync authorisation signatures.
pub const AUTH_DOMAIN: &[u8] = b"polypact/sync-auth/v1:";

/// The domain of many-partnership sync authorisation signatures ([`Proof`]).
pub const BATCH_AUTH_DOMAIN: &[u8] = b"polypact/sync-auth/batch/v1:";

/// What a [`SyncRequest::Hello`] signs: the domain, the partnership, and the
/// asking node's peer id bytes.
pub fn auth_message(partnership: &PartnershipId, peer: &libp2p::PeerId) -> Vec<u8> {
    let mut message = AUTH_DOMAIN.to_vec();
    message.extend_from_slice(partnership.as_bytes());
    message.extend_from_slice(&peer.to_bytes());
    message
}

/// What a [`Proof`] signs: the domain, the BLAKE3 hash of the named
/// partnerships' ids in the request's order, and the asking node's peer
/// id bytes.
pub fn batch_auth_message(partnerships: &[PartnershipId], peer: &libp2p::PeerId) -> Vec<u8> {
    let mut hasher = blake3::Hasher::new();
    for partnership in partnerships {
        hasher.update(partnership.as_bytes());
    }
    let mut message = BATCH_AUTH_DOMAIN.to_vec();
    message.extend_from_slice(hasher.finalize().as_bytes());
    message.extend_from_slice(&peer.to_bytes());
    message
}

/// Builds the [`SyncRequest::Hello`] of `key`'s member for `partnership`,
/// sent from the node `peer` (this node's own peer id).
pub fn hello(key: &crate::op::MemberKey, partnership: PartnershipId, peer: &libp2p::PeerId) -> SyncRequest {
    let signature = sign(key, &auth_message(&partnership, peer));
    SyncRequest::Hello { partnership, member: key.member_id(), signature }
}

/// Builds `key`'s member's [`Proof`] for a `Heads` request naming
/// `partnerships` (in that order), sent from the node `peer`.
pub fn prove(key: &crate::op::MemberKey, partnerships: &[PartnershipId], peer: &libp2p::PeerId) -> Proof {
    Proof { member: key.member_id(), signature: sign(key, &batch_auth_message(partnerships, peer)) }
}

fn sign(key: &crate::op::MemberKey, message: &[u8]) -> Vec<u8> {
    use ed25519_dalek::Signer;
    ed25519_dalek::SigningKey::from_bytes(&key.secret()).sign(message).to_bytes().to_vec()
}

/// Checks a hello's signature (strict ed25519) for the peer that sent it.
pub fn verify_hello(
    partnership: &PartnershipId,
    member: &MemberId,
    signature: &[u8],
    peer: &libp2p::PeerId,
) -> bool {
    verify(member, signature, &auth_message(partnership, peer))
}

/// Checks a [`Proof`] (strict ed25519) for the peer that sent it and the
/// partnerships its request names, in order.
pub fn verify_proof(proof: &Proof, partnerships: &[PartnershipId], peer: &libp2p::PeerId) -> bool {
    verify(&proof.member, &proof.signature, &batch_auth_message(partnerships, peer))
}

fn verify(member: &MemberId, signature: &[u8], message: &[u8]) -> bool {
    let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(&member.0) else { return false };
    let Ok(signature) = ed25519_dalek::Signature::from_slice(signature) else { return false };
    key.verify_strict(message, &signature).is_ok()
}

/// A sync response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum SyncResponse {
    /// Answer to [`SyncRequest::Heads`]. Of the first `answered` entries
    /// asked (the rest did not fit [`MAX_HEADS_BYTES`]: ask again), those
    /// in `differ` have another digest here (with this node's seq vector),
    /// those in `denied` the asker may not see (or this node does not
    /// hold: the two are not told apart), and the others are equal.
    Heads {
        /// Partnerships whose digest differs, with this node's seq vector.
        differ: Vec<PartnershipSeqs>,
        /// Partnerships the asker may not sync with this node.
        denied: Vec<PartnershipId>,
        /// How many of the request's entries, from the first, this answers.
        answered: u32,
    },
    /// Answer to [`SyncRequest::Ops`]: canonical signed op encodings of
    /// the ranges, in the ranges' order and by seq within each. The first
    /// `done` ranges are served in full (everything this node holds in
    /// them, or nothing for a partnership the asker may not see); the next
    /// may be cut by the page's bounds. Ask again for the rest.
    Page {
        /// Signed op encodings.
        ops: Vec<Vec<u8>>,
        /// How many ranges, from the first, are served in full.
        done: u32,
    },
    /// Answer to [`SyncRequest::OpsById`]: canonical signed op encodings;
    /// `more` says the page was cut by its bounds.
    Ops {
        /// Signed op encodings.
        ops: Vec<Vec<u8>>,
        /// Whether more ops remain.
        more: bool,
    },
    /// Answer to [`SyncRequest::Code`]: the WASM bytes (the requester checks
    /// them against the hash).
    Code {
        /// The module's bytes.
        wasm: Vec<u8>,
    },
    /// The peer may not ask this (not bound to a participant of the partnership).
    Denied,
    /// The partnership or code is not on this node.
    Unknown,
    /// The request asks for more than one page allows.
    TooLarge,
    /// Answer to [`SyncRequest::Hello`]: the peer is served for that partnership.
    Welcome,
    /// Answer to [`SyncRequest::Announce`]: taken note of (joined or not).
    Noted,
    /// The peer asks too often; ask again later.
    Busy,
}

/// How a request refused for capacity ([`SyncResponse::Busy`]) or failed in
/// transport (timed out, its stream dropped, its connection closed) is
/// asked again: after `first`, doubling up to `max`, with a random quarter
/// of jitter, until it is answered ([`NetHandle::request_retrying`](super::NetHandle::request_retrying)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retry {
    /// The first pause.
    pub first: std::time::Duration,
    /// The longest pause.
    pub max: std::time::Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry { first: std::time::Duration::from_millis(50), max: std::time::Duration::from_secs(5) }
    }
}

impl Retry {
    /// The pause before attempt `attempt + 1` (0 for the first retry).
    pub fn pause(&self, attempt: u32) -> std::time::Duration {
        use std::hash::{BuildHasher, Hasher};
        let base = self.first.saturating_mul(1u32 << attempt.min(16)).min(self.max);
        // A random fraction (up to a quarter) keeps retries that failed
        // together from coming back together.
        let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
        let quarter = base / 4;
        let jitter = quarter.mul_f64((random % 1024) as f64 / 1024.0);
        base - quarter + jitter
    }
}

/// The length-prefixed postcard codec of [`SYNC_PROTOCOL`] with size limits.
#[derive(Clone, Copy, Debug)]
pub struct SyncCodec {
    max_request: usize,
    max_response: usize,
}

impl Default for SyncCodec {
    fn default() -> Self {
        SyncCodec { max_request: MAX_REQUEST_BYTES, max_response: MAX_RESPONSE_BYTES }
    }
}

impl SyncCodec {
    /// A codec with other size limits (tests of the limits).
    pub fn with_limits(max_request: usize, max_response: usize) -> Self {
        SyncCodec { max_request, max_response }
    }
}

/// Encodes one framed message: version byte, then postcard.
pub(crate) fn encode_frame<T: Serialize>(value: &T) -> io::Result<Vec<u8>> {
    let mut body = vec![WIRE_VERSION];
    body = postcard::to_extend(value, body).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    Ok(body)
}

/// Decodes one framed message body (after the length prefix).
pub(crate) fn decode_frame<T: for<'de> Deserialize<'de>>(body: &[u8]) -> io::Result<T> {
    match body.split_first() {
        Some((&WIRE_VERSION, rest)) => postcard::from_bytes(rest)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("bad sync message: {e}"))),
        Some((&other, _)) => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("sync wire version {other} is not supported (this node speaks {WIRE_VERSION})"),
        )),
        None => Err(io::Error::new(io::ErrorKind::InvalidData, "empty sync message")),
    }
}

async fn read_framed<T, R>(io: &mut R, max: usize) -> io::Result<T>
where
    T: for<'de> Deserialize<'de>,
    R: AsyncRead + Unpin + Send,
{
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("sync message of {len} bytes is over the limit of {max} bytes"),
        ));
    }
    // Read before allocating: the buffer grows as bytes arrive, so a peer
    // that announces a large frame and sends little costs what it sent.
    let mut body = Vec::with_capacity(len.min(FIRST_READ_BYTES));
    io.take(len as u64).read_to_end(&mut body).await?;
    if body.len() < len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("sync message cut short: {} of {len} bytes", body.len()),
        ));
    }
    decode_frame(&body)
}

/// What a frame's buffer starts at, whatever length it announces.
const FIRST_READ_BYTES: usize = 16 * 1024;

async fn write_framed<T, W>(io: &mut W, value: &T, max: usize) -> io::Result<()>
where
    T: Serialize,
    W: AsyncWrite + Unpin + Send,
{
    let body = encode_frame(value)?;
    if body.len() > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("sync message of {} bytes is over the limit of {max} bytes", body.len()),
        ));
    }
    let len =
        u32::try_from(body.len()).map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "too large"))?;
    io.write_all(&len.to_be_bytes()).await?;
    io.write_all(&body).await?;
    io.flush().await
}

impl libp2p::request_response::Codec for SyncCodec {
    type Protocol = StreamProtocol;
    type Request = SyncRequest;
    type Response = SyncResponse;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<SyncRequest>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_framed(io, self.max_request).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<SyncResponse>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_framed(io, self.max_response).await
    }

    async fn write_request<T>(&mut self, _: &StreamProtocol, io: &mut T, req: SyncRequest) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_framed(io, &req, self.max_request).await
    }

    async fn write_response<T>(&mut self, _: &StreamProtocol, io: &mut T, res: SyncResponse) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_framed(io, &res, self.max_response).await
    }
}

/// Builds one `Ops` page (the answer to `OpsById`) from candidate op
/// encodings: at most `max_ops` ops and [`MAX_PAGE_BYTES`] bytes (always at
/// least one op if any), with `more` set when the page was cut.
pub fn page_of(ops: impl IntoIterator<Item = Vec<u8>>, max_ops: usize) -> SyncResponse {
    let mut out = Vec::new();
    let mut bytes = 0usize;
    let mut more = false;
    for op in ops {
        if out.len() >= max_ops || (!out.is_empty() && bytes + op.len() > MAX_PAGE_BYTES) {
            more = true;
            break;
        }
        bytes += op.len();
        out.push(op);
    }
    SyncResponse::Ops { ops: out, more }
}

/// Builds one [`SyncResponse::Page`] (the answer to [`SyncRequest::Ops`]):
/// `read(range, at_most)` gives the op encodings of `range`'s author with
/// seq in `[from_seq, from_seq + at_most)`, and the page takes them in the
/// ranges' order, at most [`MAX_PAGE_OPS`] ops and [`MAX_PAGE_BYTES`]
/// bytes (always at least one op if any). A range is read for no more than
/// the ops the page still has room for, and none past a full page.
pub fn page_of_ranges(
    ranges: &[SeqRange],
    mut read: impl FnMut(&SeqRange, u32) -> Vec<Vec<u8>>,
) -> SyncResponse {
    let mut out: Vec<Vec<u8>> = Vec::new();
    let mut bytes = 0usize;
    let mut done = 0u32;
    for range in ranges {
        let room = MAX_PAGE_OPS.saturating_sub(out.len() as u32);
        if room == 0 {
            break;
        }
        let at_most = range.limit.min(room);
        let ops = read(range, at_most);
        // Fewer ops than asked for: nothing more of this range here.
        let exhausted = (ops.len() as u64) < u64::from(at_most);
        for op in ops {
            let full =
                out.len() >= MAX_PAGE_OPS as usize || (!out.is_empty() && bytes + op.len() > MAX_PAGE_BYTES);
            if full {
                return SyncResponse::Page { ops: out, done };
            }
            bytes += op.len();
            out.push(op);
        }
        if at_most < range.limit && !exhausted {
            // Read short for the page's room: the rest is asked again.
            break;
        }
        done += 1;
    }
    SyncResponse::Page { ops: out, done }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use libp2p::request_response::Codec;

    use super::*;

    fn block_on<F: Future>(f: F) -> F::Output {
        futures::executor::block_on(f)
    }

    /// A peer that announces a frame and then sends nothing more; records
    /// the largest buffer a read offered it.
    struct Announcer {
        header: Vec<u8>,
        largest_body_read: usize,
    }

    impl AsyncRead for Announcer {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &mut [u8],
        ) -> std::task::Poll<io::Result<usize>> {
            if self.header.is_empty() {
                self.largest_body_read = self.largest_body_read.max(buf.len());
                return std::task::Poll::Ready(Ok(0));
            }
            let n = buf.len().min(self.header.len());
            buf[..n].copy_from_slice(&self.header[..n]);
            self.header.drain(..n);
            std::task::Poll::Ready(Ok(n))
        }
    }

    #[test]
    fn a_frame_is_read_before_its_buffer_is_allocated() {
        let announced = MAX_RESPONSE_BYTES as u32;
        let mut peer = Announcer { header: announced.to_be_bytes().to_vec(), largest_body_read: 0 };
        let error =
            block_on(read_framed::<SyncResponse, _>(&mut peer, MAX_RESPONSE_BYTES)).expect_err("cut short");
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
        assert!(error.to_string().contains("0 of"), "{error}");
        // Nothing near the announced 17 MiB was set aside for bytes that never came.
        assert!(peer.largest_body_read <= 64 * 1024, "a {} byte buffer", peer.largest_body_read);
    }

    #[test]
    fn requests_and_responses_round_trip() {
        let mut codec = SyncCodec::default();
        let p = PartnershipId([1; 32]);
        let requests = [
            SyncRequest::Heads {
                entries: vec![HeadsEntry { partnership: p, digest: HeadsDigest([5; 32]) }],
                proof: Some(Proof { member: MemberId([2; 32]), signature: vec![7; 64] }),
            },
            SyncRequest::Ops {
                ranges: vec![SeqRange { partnership: p, author: MemberId([2; 32]), from_seq: 7, limit: 100 }],
            },
            SyncRequest::OpsById { partnership: p, ids: vec![OpId([3; 32])] },
            SyncRequest::Code { hash: CodeHash([4; 32]) },
            SyncRequest::Hello { partnership: p, member: MemberId([2; 32]), signature: vec![7; 64] },
            SyncRequest::Announce { geneses: vec![vec![1, 2, 3], vec![4]] },
        ];
        for request in requests {
            let mut buf = Vec::new();
            block_on(codec.write_request(&SYNC_PROTOCOL, &mut buf, request.clone())).expect("writes");
            let back = block_on(codec.read_request(&SYNC_PROTOCOL, &mut buf.as_slice())).expect("reads");
            assert_eq!(back, request);
        }
        let responses = [
            SyncResponse::Heads {
                differ: vec![PartnershipSeqs { partnership: p, seqs: vec![(MemberId([2; 32]), 9)] }],
                denied: vec![PartnershipId([8; 32])],
                answered: 2,
            },
            SyncResponse::Page { ops: vec![vec![1, 2, 3], vec![]], done: 1 },
            SyncResponse::Ops { ops: vec![vec![1, 2, 3], vec![]], more: true },
            SyncResponse::Code { wasm: vec![0, 97, 115, 109] },
            SyncResponse::Denied,
            SyncResponse::Unknown,
            SyncResponse::TooLarge,
            SyncResponse::Welcome,
            SyncResponse::Noted,
            SyncResponse::Busy,
        ];
        for response in responses {
            let mut buf = Vec::new();
            block_on(codec.write_response(&SYNC_PROTOCOL, &mut buf, response.clone())).expect("writes");
            let back = block_on(codec.read_response(&SYNC_PROTOCOL, &mut buf.as_slice())).expect("reads");
            assert_eq!(back, response);
        }
    }

    #[test]
    fn full_heads_and_ops_requests_fit_the_request_limit() {
        let mut codec = SyncCodec::default();
        let entry = HeadsEntry { partnership: PartnershipId([0xff; 32]), digest: HeadsDigest([0xff; 32]) };
        let heads = SyncRequest::Heads {
            entries: vec![entry; MAX_HEADS_ENTRIES],
            proof: Some(Proof { member: MemberId([0xff; 32]), signature: vec![0xff; 64] }),
        };
        let range = SeqRange {
            partnership: PartnershipId([0xff; 32]),
            author: MemberId([0xff; 32]),
            from_seq: u64::MAX,
            limit: MAX_PAGE_OPS,
        };
        let ops = SyncRequest::Ops { ranges: vec![range; MAX_RANGES_PER_REQUEST] };
        for request in [heads, ops] {
            assert_eq!(request.check_bounds(), Ok(()));
            let mut buf = Vec::new();
            block_on(codec.write_request(&SYNC_PROTOCOL, &mut buf, request)).expect("fits");
        }
    }

    #[test]
    fn oversized_messages_are_refused_before_reading() {
        let mut codec = SyncCodec::with_limits(16, 16);
        let big = SyncResponse::Code { wasm: vec![0; 100] };
        let mut buf = Vec::new();
        let err = block_on(codec.write_response(&SYNC_PROTOCOL, &mut buf, big.clone())).expect_err("too big");
        assert!(err.to_string().contains("over the limit"), "{err}");
        assert!(buf.is_empty(), "nothing written");
        // A peer that announces a huge length is refused without allocating it.
        let mut wire = (u32::MAX).to_be_bytes().to_vec();
        wire.extend_from_slice(&[1, 2, 3]);
        let err = block_on(codec.read_response(&SYNC_PROTOCOL, &mut wire.as_slice())).expect_err("refused");
        assert!(err.to_string().contains("over the limit"), "{err}");
    }

    #[test]
    fn garbage_and_other_versions_are_refused() {
        let mut codec = SyncCodec::default();
        let mut wire = 3u32.to_be_bytes().to_vec();
        wire.extend_from_slice(&[9, 0, 0]);
        let err = block_on(codec.read_request(&SYNC_PROTOCOL, &mut wire.as_slice())).expect_err("version");
        assert!(err.to_string().contains("version 9"), "{err}");
        let mut wire = 3u32.to_be_bytes().to_vec();
        wire.extend_from_slice(&[WIRE_VERSION, 200, 200]);
        assert!(block_on(codec.read_request(&SYNC_PROTOCOL, &mut wire.as_slice())).is_err());
        let wire = 10u32.to_be_bytes().to_vec();
        assert!(block_on(codec.read_request(&SYNC_PROTOCOL, &mut wire.as_slice())).is_err(), "truncated");
    }

    #[test]
    fn request_bounds() {
        let p = PartnershipId([1; 32]);
        let a = MemberId([2; 32]);
        let ask = |limit| SyncRequest::Ops {
            ranges: vec![SeqRange { partnership: p, author: a, from_seq: 1, limit }],
        };
        assert_eq!(ask(0).check_bounds(), Err(SyncResponse::TooLarge));
        assert_eq!(ask(MAX_PAGE_OPS + 1).check_bounds(), Err(SyncResponse::TooLarge));
        assert_eq!(ask(MAX_PAGE_OPS).check_bounds(), Ok(()));
        assert_eq!(SyncRequest::Ops { ranges: vec![] }.check_bounds(), Err(SyncResponse::TooLarge));
        let range = SeqRange { partnership: p, author: a, from_seq: 1, limit: 1 };
        let many = SyncRequest::Ops { ranges: vec![range; MAX_RANGES_PER_REQUEST + 1] };
        assert_eq!(many.check_bounds(), Err(SyncResponse::TooLarge));
        let ids = |n| SyncRequest::OpsById { partnership: p, ids: vec![OpId([0; 32]); n] };
        assert_eq!(ids(0).check_bounds(), Err(SyncResponse::TooLarge));
        assert_eq!(ids(MAX_IDS_PER_REQUEST + 1).check_bounds(), Err(SyncResponse::TooLarge));
        assert_eq!(ids(1).check_bounds(), Ok(()));
        let entry = HeadsEntry { partnership: p, digest: HeadsDigest([0; 32]) };
        let heads = |n, proof| SyncRequest::Heads { entries: vec![entry; n], proof };
        assert_eq!(heads(0, None).check_bounds(), Err(SyncResponse::TooLarge));
        assert_eq!(heads(MAX_HEADS_ENTRIES + 1, None).check_bounds(), Err(SyncResponse::TooLarge));
        assert_eq!(heads(MAX_HEADS_ENTRIES, None).check_bounds(), Ok(()));
        let short = Proof { member: a, signature: vec![0; 10] };
        assert_eq!(heads(1, Some(short)).check_bounds(), Err(SyncResponse::TooLarge));
        let announce = |n| SyncRequest::Announce { geneses: vec![vec![0]; n] };
        assert_eq!(announce(0).check_bounds(), Err(SyncResponse::TooLarge));
        assert_eq!(announce(MAX_GENESES_PER_ANNOUNCE + 1).check_bounds(), Err(SyncResponse::TooLarge));
        assert_eq!(announce(1).check_bounds(), Ok(()));
    }

    #[test]
    fn a_proof_binds_member_partnerships_and_peer() {
        let key = crate::op::MemberKey::from_seed(5);
        let ps = [PartnershipId([1; 32]), PartnershipId([2; 32])];
        let me = libp2p::identity::Keypair::generate_ed25519().public().to_peer_id();
        let other = libp2p::identity::Keypair::generate_ed25519().public().to_peer_id();
        let proof = prove(&key, &ps, &me);
        assert!(verify_proof(&proof, &ps, &me));
        assert!(!verify_proof(&proof, &ps, &other), "replayed by another peer");
        assert!(!verify_proof(&proof, &ps[..1], &me), "stretched to fewer partnerships");
        assert!(!verify_proof(&proof, &[ps[1], ps[0]], &me), "another order");
        assert!(!verify_proof(&proof, &[ps[0], ps[1], PartnershipId([3; 32])], &me), "more partnerships");
        let forged = Proof { member: MemberId([3; 32]), ..proof.clone() };
        assert!(!verify_proof(&forged, &ps, &me), "another member");
        // A one-partnership hello's signature is no proof, and the reverse.
        let SyncRequest::Hello { signature, .. } = hello(&key, ps[0], &me) else { panic!("hello") };
        assert!(!verify_proof(&Proof { member: key.member_id(), signature }, &ps[..1], &me));
        assert!(!verify_hello(&ps[0], &key.member_id(), &prove(&key, &ps[..1], &me).signature, &me));
    }

    #[test]
    fn digests_tell_seq_vectors_apart() {
        let (a, b) = (MemberId([1; 32]), MemberId([2; 32]));
        let one: std::collections::BTreeMap<MemberId, u64> = [(a, 3), (b, 4)].into();
        let same: Vec<(MemberId, u64)> = vec![(a, 3), (b, 4)];
        assert_eq!(HeadsDigest::of(&one), HeadsDigest::of(same.iter().map(|(m, s)| (m, s))));
        let other: std::collections::BTreeMap<MemberId, u64> = [(a, 3), (b, 5)].into();
        assert_ne!(HeadsDigest::of(&one), HeadsDigest::of(&other));
        let swapped: std::collections::BTreeMap<MemberId, u64> = [(a, 4), (b, 3)].into();
        assert_ne!(HeadsDigest::of(&one), HeadsDigest::of(&swapped));
        assert_ne!(HeadsDigest::of(&one), HeadsDigest::of(std::collections::BTreeMap::new().iter()));
    }

    #[test]
    fn retry_pauses_double_up_to_the_cap_with_jitter() {
        let retry = Retry { first: Duration::from_millis(100), max: Duration::from_secs(2) };
        for attempt in 0..40 {
            let base = Duration::from_millis(100).saturating_mul(1 << attempt.min(16)).min(retry.max);
            let pause = retry.pause(attempt);
            assert!(pause <= base && pause >= base - base / 4, "attempt {attempt}: {pause:?} for {base:?}");
        }
    }

    #[test]
    fn hello_binds_member_partnership_and_peer() {
        let key = crate::op::MemberKey::from_seed(5);
        let p = PartnershipId([1; 32]);
        let me = libp2p::identity::Keypair::generate_ed25519().public().to_peer_id();
        let other = libp2p::identity::Keypair::generate_ed25519().public().to_peer_id();
        let SyncRequest::Hello { partnership, member, signature } = hello(&key, p, &me) else {
            panic!("hello")
        };
        assert!(verify_hello(&partnership, &member, &signature, &me));
        assert!(!verify_hello(&partnership, &member, &signature, &other), "replayed by another peer");
        assert!(!verify_hello(&PartnershipId([2; 32]), &member, &signature, &me), "another partnership");
        assert!(!verify_hello(&partnership, &MemberId([3; 32]), &signature, &me), "another member");
        assert!(!verify_hello(&partnership, &member, &signature[..63], &me), "short signature");
        let short = SyncRequest::Hello { partnership, member, signature: vec![0; 10] };
        assert_eq!(short.check_bounds(), Err(SyncResponse::TooLarge));
    }

    #[test]
    fn pages_are_bounded_by_count_and_bytes() {
        let SyncResponse::Ops { ops, more } = page_of((0..10).map(|_| vec![0u8; 10]), 4) else {
            panic!("ops")
        };
        assert_eq!((ops.len(), more), (4, true));
        let SyncResponse::Ops { ops, more } = page_of((0..3).map(|_| vec![0u8; 10]), 4) else {
            panic!("ops")
        };
        assert_eq!((ops.len(), more), (3, false));
        let big = MAX_PAGE_BYTES / 2 + 1;
        let SyncResponse::Ops { ops, more } = page_of((0..3).map(|_| vec![0u8; big]), 100) else {
            panic!("ops")
        };
        assert_eq!((ops.len(), more), (1, true));
        // One op larger than the page still goes alone, so a page always progresses.
        let SyncResponse::Ops { ops, more } = page_of([vec![0u8; MAX_PAGE_BYTES + 1]], 100) else {
            panic!("ops")
        };
        assert_eq!((ops.len(), more), (1, false));
    }

    #[test]
    fn pages_of_ranges_say_which_ranges_are_served_in_full() {
        let p = PartnershipId([1; 32]);
        // `n` ops of `size` bytes for each range, by its author's first byte.
        let page = |ranges: &[(u8, u32, usize, usize)]| {
            let asked: Vec<SeqRange> = ranges
                .iter()
                .map(|&(author, limit, _, _)| SeqRange {
                    partnership: p,
                    author: MemberId([author; 32]),
                    from_seq: 1,
                    limit,
                })
                .collect();
            let mut reads = Vec::new();
            let response = page_of_ranges(&asked, |range, at_most| {
                reads.push(at_most);
                let &(_, _, n, size) = &ranges[range.author.0[0] as usize];
                (0..n.min(at_most as usize)).map(|_| vec![0u8; size]).collect()
            });
            match response {
                SyncResponse::Page { ops, done } => (ops.len(), done, reads),
                other => panic!("{other:?}"),
            }
        };
        let max = MAX_PAGE_OPS;
        assert_eq!(page(&[(0, 10, 3, 10), (1, 10, 0, 10), (2, 10, 2, 10)]), (5, 3, vec![10, 10, 10]));
        // A range read short for the page's room is not done, and the
        // ranges past a full page are not read.
        assert_eq!(page(&[(0, max, 1000, 10), (1, max, 100, 10), (2, 5, 5, 10)]), (1024, 1, vec![max, 24]));
        assert_eq!(page(&[(0, max, 1024, 10), (1, 1, 1, 10)]), (1024, 1, vec![max]));
        // Short of ops within the room: served in full.
        assert_eq!(page(&[(0, max, 3, 10), (1, max, 2, 10)]), (5, 2, vec![max, max - 3]));
        // Cut by bytes; one op larger than a page still goes alone.
        let big = MAX_PAGE_BYTES / 2 + 1;
        assert_eq!(page(&[(0, 1, 1, big), (1, 1, 1, big)]).0, 1);
        assert_eq!(page(&[(0, 1, 1, big), (1, 1, 1, big)]).1, 1);
        assert_eq!(page(&[(0, 2, 2, MAX_PAGE_BYTES + 1)]).0, 1);
        assert_eq!(page(&[(0, 2, 2, MAX_PAGE_BYTES + 1)]).1, 0);
    }
}
