//! Loopback tests of the network with real swarms: gossip delivered and
//! forwarded only after validation, rejected messages scored down, sync
//! round trips, publishing before anyone listens, the block list.

use std::time::Duration;

use tokio::sync::mpsc;

use super::*;
use crate::op::{MemberKey, OpId, PartnershipId, Payload, UnsignedOp};

const WAIT: Duration = Duration::from_secs(60);

fn config() -> TransportConfig {
    let mut config = TransportConfig::loopback(Keypair::generate_ed25519());
    config.heartbeat = Duration::from_millis(100);
    config.retry_interval = Duration::from_millis(50);
    config.redial_min = Duration::from_millis(50);
    config
}

async fn start() -> (NetHandle, mpsc::Receiver<NetEvent>, Multiaddr) {
    start_with(config()).await
}

/// [`start`] with another configuration.
async fn start_with(config: TransportConfig) -> (NetHandle, mpsc::Receiver<NetEvent>, Multiaddr) {
    let (handle, events) = Network::spawn(config).expect("network starts");
    let addr = handle.listen_addrs().await.expect("addrs").into_iter().next().expect("one address");
    let addr = addr.with(libp2p::multiaddr::Protocol::P2p(handle.local_peer_id()));
    (handle, events, addr)
}

/// Waits for the first event that `pick` maps to `Some`, skipping others.
async fn next_matching<T>(
    events: &mut mpsc::Receiver<NetEvent>,
    mut pick: impl FnMut(NetEvent) -> Option<T>,
) -> T {
    tokio::time::timeout(WAIT, async {
        loop {
            let event = events.recv().await.expect("network running");
            if let Some(found) = pick(event) {
                return found;
            }
        }
    })
    .await
    .expect("event in time")
}

/// Polls `check` until it holds (no fixed sleeps: a short pause between polls).
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A `Heads` request about `p` alone, with no proof.
fn heads(p: PartnershipId) -> SyncRequest {
    let digest = sync::HeadsDigest([0; 32]);
    SyncRequest::Heads { entries: vec![sync::HeadsEntry { partnership: p, digest }], proof: None }
}

/// A `Heads` answer that `p` differs, with one author at seq 3.
fn differs(p: PartnershipId) -> SyncResponse {
    let seqs = vec![(MemberKey::from_seed(1).member_id(), 3)];
    SyncResponse::Heads {
        differ: vec![sync::PartnershipSeqs { partnership: p, seqs }],
        denied: vec![],
        answered: 1,
    }
}

fn op_bytes(seed: u8, seq: u64) -> (OpId, Vec<u8>) {
    let key = MemberKey::from_seed(seed);
    let op = UnsignedOp {
        partnership: PartnershipId([9; 32]),
        author: key.member_id(),
        seq,
        parents: vec![OpId([1; 32])],
        time_ms: 1,
        payload: Payload::Ack,
    }
    .sign(&key);
    (op.id(), op.encode())
}

/// Three nodes in a line a - b - c: what a publishes reaches b, and reaches c
/// only once b accepted it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gossip_is_forwarded_only_after_validation() {
    let p = PartnershipId([9; 32]);
    let (a, a_events, _a_addr) = start().await;
    let (b, mut b_events, b_addr) = start().await;
    let (c, mut c_events, _) = start().await;
    for net in [&a, &b, &c] {
        net.subscribe(p).await.expect("subscribes");
    }
    a.dial(b_addr.clone()).await.expect("dials");
    c.dial(b_addr).await.expect("dials");
    eventually("a and c to see b on the topic", || async {
        a.topic_peers(p).await.expect("peers") == vec![b.local_peer_id()]
            && c.topic_peers(p).await.expect("peers") == vec![b.local_peer_id()]
    })
    .await;

    let (id, bytes) = op_bytes(1, 1);
    a.publish(p, bytes.clone()).await.expect("publishes");
    let (msg_id, source, data) = next_matching(&mut b_events, |e| match e {
        NetEvent::Gossip { partnership, data, msg_id, source } if partnership == p => {
            Some((msg_id, source, data))
        }
        _ => None,
    })
    .await;
    assert_eq!(data, bytes);
    assert_eq!(msg_id, crate::net::gossip::message_id(&bytes), "message id is the hash of the bytes");
    assert_ne!(msg_id, MessageId::new(id.as_bytes()), "the message id is not the op id");
    assert_eq!(source, a.local_peer_id());

    // c has nothing yet: b has not reported. A second op, published after b's
    // verdict on the first, proves ordering: c's first gossip must be op 1.
    b.report(msg_id, source, Verdict::Accept).await.expect("reports");
    let got = next_matching(&mut c_events, |e| match e {
        NetEvent::Gossip { data, source, .. } => Some((data, source)),
        _ => None,
    })
    .await;
    assert_eq!(got, (bytes.clone(), b.local_peer_id()), "c got the op from b after b accepted it");

    // Publishing what the network already carries is a success (duplicate).
    b.publish(p, bytes).await.expect("duplicate publish is fine");

    // A rejected message is not forwarded, and the sender's score drops.
    let garbage = b"definitely not an op".to_vec();
    a.publish(p, garbage.clone()).await.expect("publishes garbage");
    let (msg_id, source) = next_matching(&mut b_events, |e| match e {
        NetEvent::Gossip { data, msg_id, source, .. } if data == garbage => Some((msg_id, source)),
        _ => None,
    })
    .await;
    b.report(msg_id, source, Verdict::Reject).await.expect("reports");
    eventually("a's score at b to go negative", || async {
        b.peer_score(a.local_peer_id()).await.expect("score").is_some_and(|s| s < 0.0)
    })
    .await;
    // A third, valid op still flows a -> b -> c after the garbage was dropped.
    let (_, third) = op_bytes(2, 1);
    a.publish(p, third.clone()).await.expect("publishes");
    let (msg_id, source) = next_matching(&mut b_events, |e| match e {
        NetEvent::Gossip { data, msg_id, source, .. } if data == third => Some((msg_id, source)),
        _ => None,
    })
    .await;
    b.report(msg_id, source, Verdict::Accept).await.expect("reports");
    let next_at_c = next_matching(&mut c_events, |e| match e {
        NetEvent::Gossip { data, .. } => Some(data),
        _ => None,
    })
    .await;
    assert_eq!(next_at_c, third, "the garbage never reached c");
    drop(a_events);
    for net in [a, b, c] {
        net.shutdown().await.expect("shuts down");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_round_trip_and_failures() {
    let p = PartnershipId([9; 32]);
    let (a, _a_events, _) = start().await;
    let (b, mut b_events, b_addr) = start().await;
    a.dial(b_addr).await.expect("dials");
    let server = tokio::spawn({
        let b = b.clone();
        async move {
            for _ in 0..2 {
                let (request, responder) = next_matching(&mut b_events, |e| match e {
                    NetEvent::SyncRequest { request, responder, .. } => Some((request, responder)),
                    _ => None,
                })
                .await;
                let response = match request {
                    SyncRequest::Heads { entries, .. } if entries[0].partnership == p => differs(p),
                    _ => SyncResponse::Unknown,
                };
                b.respond(responder, response).await.expect("responds");
            }
            b_events
        }
    });
    let answer = a.request(b.local_peer_id(), heads(p)).await.expect("answer");
    assert_eq!(answer, differs(p));
    let other = a.request(b.local_peer_id(), heads(PartnershipId([1; 32]))).await.expect("answer");
    assert_eq!(other, SyncResponse::Unknown);
    let mut b_events = server.await.expect("server");

    // A dropped responder fails the request on the asking side.
    let ask = tokio::spawn({
        let a = a.clone();
        let b_peer = b.local_peer_id();
        async move { a.request(b_peer, SyncRequest::Code { hash: crate::op::CodeHash([0; 32]) }).await }
    });
    let responder = next_matching(&mut b_events, |e| match e {
        NetEvent::SyncRequest { responder, .. } => Some(responder),
        _ => None,
    })
    .await;
    drop(responder);
    let result = tokio::time::timeout(WAIT, ask).await.expect("in time").expect("joins");
    assert!(matches!(result, Err(NetError::Request { .. })), "{result:?}");
    assert!(result.as_ref().err().is_some_and(NetError::is_transient), "asked again: {result:?}");

    // A request to a peer never seen fails cleanly, and is not asked again.
    let stranger = Keypair::generate_ed25519().public().to_peer_id();
    let result = a.request_retrying(stranger, heads(p)).await;
    assert!(
        matches!(result, Err(NetError::Request { failure: RequestFailure::Unreachable, .. })),
        "{result:?}"
    );
    a.shutdown().await.expect("shuts down");
    b.shutdown().await.expect("shuts down");
    assert!(matches!(a.connected_peers().await, Err(NetError::Stopped)));
}

/// Published before anyone listens: queued, delivered once a peer subscribes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_without_peers_is_queued_not_lost() {
    let p = PartnershipId([9; 32]);
    let (a, _a_events, _) = start().await;
    a.subscribe(p).await.expect("subscribes");
    let (_, bytes) = op_bytes(3, 1);
    a.publish(p, bytes.clone()).await.expect("queued");
    let (b, mut b_events, b_addr) = start().await;
    b.subscribe(p).await.expect("subscribes");
    a.dial(b_addr).await.expect("dials");
    let data = next_matching(&mut b_events, |e| match e {
        NetEvent::Gossip { data, .. } => Some(data),
        _ => None,
    })
    .await;
    assert_eq!(data, bytes);
    a.shutdown().await.expect("shuts down");
    b.shutdown().await.expect("shuts down");
}

/// Bootstrap peers are redialled; a block closes the connection and keeps it
/// closed; unblocking lets the redial reconnect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_redial_and_block_list() {
    let (b, _b_events, b_addr) = start().await;
    let mut a_config = config();
    a_config.bootstrap = vec![b_addr];
    let (a, mut a_events) = Network::spawn(a_config).expect("starts");
    let b_peer = b.local_peer_id();
    next_matching(&mut a_events, |e| matches!(e, NetEvent::PeerConnected(p) if p == b_peer).then_some(()))
        .await;
    a.block(b_peer).await.expect("blocks");
    next_matching(&mut a_events, |e| matches!(e, NetEvent::PeerDisconnected(p) if p == b_peer).then_some(()))
        .await;
    assert!(a.connected_peers().await.expect("peers").is_empty());
    // b dialing a is refused too.
    let a_addr = a.listen_addrs().await.expect("addrs")[0].clone();
    let _ = b.dial(a_addr.with(libp2p::multiaddr::Protocol::P2p(a.local_peer_id()))).await;
    eventually("b to hold no connection to a", || async {
        !b.connected_peers().await.expect("peers").contains(&a.local_peer_id())
    })
    .await;
    a.unblock(b_peer).await.expect("unblocks");
    next_matching(&mut a_events, |e| matches!(e, NetEvent::PeerConnected(p) if p == b_peer).then_some(()))
        .await;
    a.shutdown().await.expect("shuts down");
    b.shutdown().await.expect("shuts down");
}

/// Two nodes that speak QUIC only connect and run a sync round trip.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quic_only_nodes_connect_and_sync() {
    let quic = || {
        let mut config = config();
        config.listen = vec![
            Multiaddr::empty()
                .with(libp2p::multiaddr::Protocol::Ip4(std::net::Ipv4Addr::LOCALHOST))
                .with(libp2p::multiaddr::Protocol::Udp(0))
                .with(libp2p::multiaddr::Protocol::QuicV1),
        ];
        config
    };
    let (b, mut b_events) = Network::spawn(quic()).expect("starts");
    let b_addr = b.listen_addrs().await.expect("addrs")[0].clone();
    assert!(b_addr.iter().any(|p| matches!(p, libp2p::multiaddr::Protocol::QuicV1)), "{b_addr}");
    let mut a_config = quic();
    a_config.bootstrap = vec![b_addr.with(libp2p::multiaddr::Protocol::P2p(b.local_peer_id()))];
    let (a, mut a_events) = Network::spawn(a_config).expect("starts");
    let b_peer = b.local_peer_id();
    next_matching(&mut a_events, |e| matches!(e, NetEvent::PeerConnected(p) if p == b_peer).then_some(()))
        .await;
    let p = PartnershipId([4; 32]);
    let answer = tokio::spawn({
        let b = b.clone();
        async move {
            let responder = next_matching(&mut b_events, |e| match e {
                NetEvent::SyncRequest { responder, .. } => Some(responder),
                _ => None,
            })
            .await;
            b.respond(responder, differs(p)).await.expect("responds");
        }
    });
    let response = a.request(b_peer, heads(p)).await.ok();
    assert_eq!(response, Some(differs(p)));
    answer.await.expect("answered");
    a.shutdown().await.expect("shuts down");
    b.shutdown().await.expect("shuts down");
}

/// A busy topic: the publisher's `IHAVE` lists every id of its last three
/// heartbeats to the peers outside its mesh. Those lists must stay within
/// what a receiver accepts: a receiver refuses an RPC with too many control
/// bytes by closing the stream, and everything the publisher sends on that
/// link afterwards is lost without an error. So after a burst of 1,000
/// messages (about 34 KB of ids), every later message must still reach
/// every peer straight from the publisher (the receivers never report a
/// verdict, so nobody forwards: a direct copy is the only way in).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_messages_keeps_every_link_open() {
    const RECEIVERS: usize = 6;
    const BURST: usize = 1_000;
    const PROBES: usize = 30;
    let p = PartnershipId([9; 32]);
    // A long heartbeat keeps the whole burst in one `IHAVE` window.
    let slow_heartbeat = || {
        let mut config = config();
        config.heartbeat = Duration::from_secs(1);
        config
    };
    let (publisher, mut publisher_events, publisher_addr) = start_with(slow_heartbeat()).await;
    publisher.subscribe(p).await.expect("subscribes");
    tokio::spawn(async move { while publisher_events.recv().await.is_some() {} });
    // Receivers connect to the publisher only. Six of them overfill its mesh
    // (at most 4), so at least two get the burst's ids by `IHAVE`.
    let mut receivers = Vec::new();
    let mut probes_seen = Vec::new();
    for _ in 0..RECEIVERS {
        let (net, mut events, _) = start_with(slow_heartbeat()).await;
        net.subscribe(p).await.expect("subscribes");
        net.dial(publisher_addr.clone()).await.expect("dials");
        let seen = std::sync::Arc::new(std::sync::Mutex::new(std::collections::BTreeSet::new()));
        let record = seen.clone();
        let from = publisher.local_peer_id();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                if let NetEvent::Gossip { data, source, .. } = event
                    && source == from
                    && let Some(probe) = data.strip_prefix(b"probe ")
                {
                    record.lock().expect("lock").insert(probe.to_vec());
                }
            }
        });
        receivers.push(net);
        probes_seen.push(seen);
    }
    eventually("every receiver on the publisher's topic", || async {
        publisher.topic_peers(p).await.expect("peers").len() == RECEIVERS
    })
    .await;

    for i in 0..BURST {
        publisher.publish(p, format!("burst {i}").into_bytes()).await.expect("publishes");
    }
    // Probes go out over three heartbeats, so some follow the burst's `IHAVE`.
    for i in 0..PROBES {
        publisher.publish(p, format!("probe {i}").into_bytes()).await.expect("publishes");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (k, seen) in probes_seen.iter().enumerate() {
        eventually(&format!("receiver {k} to get every probe from the publisher"), || async {
            seen.lock().expect("lock").len() == PROBES
        })
        .await;
    }
    drop(receivers);
}

/// A peer that serves one stream at a time, asked many things at once by a
/// node that keeps many in flight: it drops the streams past its capacity,
/// and it answers Busy to every other request it takes. Every request asked
/// with retries is answered in the end; nothing waits for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_refused_for_capacity_or_busy_are_asked_again_until_answered() {
    let mut b_config = config();
    b_config.max_inbound_streams = 1;
    let (b, mut b_events, b_addr) = start_with(b_config).await;
    let mut a_config = config();
    a_config.max_requests_in_flight_per_peer = 16;
    a_config.request_retry = Retry { first: Duration::from_millis(5), max: Duration::from_millis(100) };
    let (a, _a_events, _) = start_with(a_config).await;
    a.dial(b_addr).await.expect("dials");
    let b_peer = b.local_peer_id();
    eventually("a connected to b", || async { a.connected_peers().await.expect("peers") == vec![b_peer] })
        .await;
    let server = tokio::spawn({
        let b = b.clone();
        async move {
            let mut taken = 0u64;
            while let Some(event) = b_events.recv().await {
                if let NetEvent::SyncRequest { request, responder, .. } = event {
                    taken += 1;
                    let response = match request {
                        // Every other request taken is refused as busy.
                        _ if taken.is_multiple_of(2) => SyncResponse::Busy,
                        SyncRequest::Heads { entries, .. } => differs(entries[0].partnership),
                        _ => SyncResponse::Unknown,
                    };
                    let _ = b.respond(responder, response).await;
                }
            }
        }
    });
    let asks: Vec<_> = (0..64u8)
        .map(|i| {
            let a = a.clone();
            tokio::spawn(async move { a.request_retrying(b_peer, heads(PartnershipId([i; 32]))).await })
        })
        .collect();
    for (i, ask) in asks.into_iter().enumerate() {
        let answer = tokio::time::timeout(WAIT, ask).await.expect("in time").expect("joins");
        assert_eq!(answer.expect("answered"), differs(PartnershipId([i as u8; 32])));
    }
    a.shutdown().await.expect("shuts down");
    b.shutdown().await.expect("shuts down");
    server.abort();
}
