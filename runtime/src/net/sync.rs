//! The sync protocol `/polypact/sync/1`: requests, responses, page bounds and
//! the size-limited wire codec.
//!
//! Sync is how a node fetches what gossip did not bring it: the per-author
//! seq vector of a partnership ([`SyncRequest::Heads`]), an author's ops by
//! seq range in bounded pages ([`SyncRequest::OpsByAuthor`]), missing parents
//! by id ([`SyncRequest::OpsById`]), and module code by hash
//! ([`SyncRequest::Code`]). Refusals are answers, not transport failures:
//! [`SyncResponse::Denied`], [`SyncResponse::Unknown`],
//! [`SyncResponse::TooLarge`].
//!
//! On the wire each message is a 4-byte big-endian length then the postcard
//! encoding, behind a one-byte wire version. Both sides refuse a message past
//! its size limit before reading it in full. This file owns the format only;
//! who may ask what is the node's decision (`node::network`), and every op or
//! code received here is checked by its receiver (signature, ids, BLAKE3).

use std::io;

use futures::prelude::*;
use libp2p::StreamProtocol;
use serde::{Deserialize, Serialize};

use crate::op::{CodeHash, MemberId, OpId, PartnershipId};

/// Inbound sync streams a node serves at once on one connection; past it
/// libp2p drops the stream and the requester sees a failure.
pub const MAX_STREAMS_PER_CONNECTION: usize = 64;

/// Sync requests a node has in flight to one peer at once: half the
/// peer's inbound capacity, so that a node in many partnerships with the
/// same peer never has its requests dropped for capacity (requests past
/// it wait their turn, in order) and the peer keeps room for others.
pub const MAX_REQUESTS_IN_FLIGHT_PER_PEER: usize = MAX_STREAMS_PER_CONNECTION / 2;

/// The protocol name and version of sync.
pub const SYNC_PROTOCOL: StreamProtocol = StreamProtocol::new("/polypact/sync/1");

/// The wire version byte in front of every sync message.
const WIRE_VERSION: u8 = 1;

/// Most ops one `OpsByAuthor` or `OpsById` page may ask for or carry.
pub const MAX_PAGE_OPS: u32 = 1024;

/// Most bytes of op encodings one page carries (a server stops adding ops
/// before it goes past this, but always sends at least one op).
pub const MAX_PAGE_BYTES: usize = 4 * 1024 * 1024;

/// Most ids one `OpsById` request may name.
pub const MAX_IDS_PER_REQUEST: usize = 256;

/// Largest request accepted on the wire (an announced genesis is one op).
pub const MAX_REQUEST_BYTES: usize = 320 * 1024;

/// Largest response accepted on the wire: a full page plus one maximal op,
/// or the largest module code (16 MiB), with room for framing.
pub const MAX_RESPONSE_BYTES: usize = 17 * 1024 * 1024;

/// A sync request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum SyncRequest {
    /// The highest seq the peer holds of each author of `partnership`.
    Heads {
        /// The partnership.
        partnership: PartnershipId,
    },
    /// `author`'s ops with seq in `[from_seq, from_seq + limit)`, by seq.
    OpsByAuthor {
        /// The partnership.
        partnership: PartnershipId,
        /// Whose ops.
        author: MemberId,
        /// First seq wanted.
        from_seq: u64,
        /// How many seqs at most (capped at [`MAX_PAGE_OPS`]).
        limit: u32,
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
    /// Proves the asking node acts for `member`: `signature` is the member's
    /// ed25519 signature over [`auth_message`] of the partnership and the
    /// asking node's own peer id (so it cannot be replayed by another peer).
    /// A node that checks it and finds `member` an active participant serves
    /// the asking peer for that partnership ([`SyncResponse::Welcome`]) even
    /// before the peer's `BindPeer` op exists (a newly admitted member).
    Hello {
        /// The partnership.
        partnership: PartnershipId,
        /// The member the asking node acts for.
        member: MemberId,
        /// 64-byte ed25519 signature.
        signature: Vec<u8>,
    },
    /// Tells a peer about a partnership: its genesis op's encoding. A node
    /// whose member is among the charter's participants joins it.
    Announce {
        /// The genesis op's canonical encoding.
        genesis: Vec<u8>,
    },
}

impl SyncRequest {
    /// The partnership the request is about (`None` for code).
    pub fn partnership(&self) -> Option<PartnershipId> {
        match self {
            SyncRequest::Heads { partnership }
            | SyncRequest::OpsByAuthor { partnership, .. }
            | SyncRequest::OpsById { partnership, .. } => Some(*partnership),
            SyncRequest::Hello { partnership, .. } => Some(*partnership),
            SyncRequest::Code { .. } | SyncRequest::Announce { .. } => None,
        }
    }

    /// Checks the request's own bounds; an out-of-bounds request is
    /// answered with [`SyncResponse::TooLarge`].
    pub fn check_bounds(&self) -> Result<(), SyncResponse> {
        match self {
            SyncRequest::OpsByAuthor { limit, .. } if *limit == 0 || *limit > MAX_PAGE_OPS => {
                Err(SyncResponse::TooLarge)
            }
            SyncRequest::OpsById { ids, .. } if ids.is_empty() || ids.len() > MAX_IDS_PER_REQUEST => {
                Err(SyncResponse::TooLarge)
            }
            SyncRequest::Hello { signature, .. } if signature.len() != 64 => Err(SyncResponse::TooLarge),
            _ => Ok(()),
        }
    }
}

/// The domain of sync authorisation signatures.
pub const AUTH_DOMAIN: &[u8] = b"polypact/sync-auth/v1:";

/// What a [`SyncRequest::Hello`] signs: the domain, the partnership, and the
/// asking node's peer id bytes.
pub fn auth_message(partnership: &PartnershipId, peer: &libp2p::PeerId) -> Vec<u8> {
    let mut message = AUTH_DOMAIN.to_vec();
    message.extend_from_slice(partnership.as_bytes());
    message.extend_from_slice(&peer.to_bytes());
    message
}

/// Builds the [`SyncRequest::Hello`] of `key`'s member for `partnership`,
/// sent from the node `peer` (this node's own peer id).
pub fn hello(key: &crate::op::MemberKey, partnership: PartnershipId, peer: &libp2p::PeerId) -> SyncRequest {
    use ed25519_dalek::Signer;
    let signing = ed25519_dalek::SigningKey::from_bytes(&key.secret());
    let signature = signing.sign(&auth_message(&partnership, peer)).to_bytes().to_vec();
    SyncRequest::Hello { partnership, member: key.member_id(), signature }
}

/// Checks a hello's signature (strict ed25519) for the peer that sent it.
pub fn verify_hello(
    partnership: &PartnershipId,
    member: &MemberId,
    signature: &[u8],
    peer: &libp2p::PeerId,
) -> bool {
    let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(&member.0) else { return false };
    let Ok(signature) = ed25519_dalek::Signature::from_slice(signature) else { return false };
    key.verify_strict(&auth_message(partnership, peer), &signature).is_ok()
}

/// A sync response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum SyncResponse {
    /// Answer to [`SyncRequest::Heads`]: `(author, highest seq)`, ascending
    /// by author.
    Heads {
        /// The seq vector.
        seqs: Vec<(MemberId, u64)>,
    },
    /// Answer to the op requests: canonical signed op encodings. For
    /// `OpsByAuthor`, in seq order; `more` says the page was cut by the byte
    /// bound and the requester should ask again from the next seq.
    Ops {
        /// Signed op encodings.
        ops: Vec<Vec<u8>>,
        /// Whether more ops of the range remain.
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

/// Builds one `Ops` page from candidate op encodings: at most `max_ops`
/// ops and [`MAX_PAGE_BYTES`] bytes (always at least one op if any), with
/// `more` set when the page was cut.
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

#[cfg(test)]
mod tests {
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
        let requests = [
            SyncRequest::Heads { partnership: PartnershipId([1; 32]) },
            SyncRequest::OpsByAuthor {
                partnership: PartnershipId([1; 32]),
                author: MemberId([2; 32]),
                from_seq: 7,
                limit: 100,
            },
            SyncRequest::OpsById { partnership: PartnershipId([1; 32]), ids: vec![OpId([3; 32])] },
            SyncRequest::Code { hash: CodeHash([4; 32]) },
            SyncRequest::Hello {
                partnership: PartnershipId([1; 32]),
                member: MemberId([2; 32]),
                signature: vec![7; 64],
            },
            SyncRequest::Announce { genesis: vec![1, 2, 3] },
        ];
        for request in requests {
            let mut buf = Vec::new();
            block_on(codec.write_request(&SYNC_PROTOCOL, &mut buf, request.clone())).expect("writes");
            let back = block_on(codec.read_request(&SYNC_PROTOCOL, &mut buf.as_slice())).expect("reads");
            assert_eq!(back, request);
        }
        let responses = [
            SyncResponse::Heads { seqs: vec![(MemberId([2; 32]), 9)] },
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
        let ask = |limit| SyncRequest::OpsByAuthor { partnership: p, author: a, from_seq: 1, limit };
        assert_eq!(ask(0).check_bounds(), Err(SyncResponse::TooLarge));
        assert_eq!(ask(MAX_PAGE_OPS + 1).check_bounds(), Err(SyncResponse::TooLarge));
        assert_eq!(ask(MAX_PAGE_OPS).check_bounds(), Ok(()));
        let ids = |n| SyncRequest::OpsById { partnership: p, ids: vec![OpId([0; 32]); n] };
        assert_eq!(ids(0).check_bounds(), Err(SyncResponse::TooLarge));
        assert_eq!(ids(MAX_IDS_PER_REQUEST + 1).check_bounds(), Err(SyncResponse::TooLarge));
        assert_eq!(ids(1).check_bounds(), Ok(()));
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
}
