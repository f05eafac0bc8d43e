//! A node's edges against strangers, over real libp2p. A peer that acts for
//! no participant of the node's partnerships and is no bootstrap peer is
//! disconnected once it has stayed a stranger for the stranger timeout,
//! while partners' nodes stay connected and finalise; and strangers holding
//! connections cannot take the slots kept for partners: a partner's
//! restarted node still connects and its op becomes final.

use std::time::Duration;

use polypact::net::{Keypair, NetHandle, Network, TransportConfig};
use polypact::node::{WaitFor, now_ms};
use polypact_tests::*;

/// Starts a stranger's bare network that dials `target`; its events are drained.
fn stranger(target: &TestNode) -> (NetHandle, tokio::task::JoinHandle<()>) {
    let (net, mut events) =
        Network::spawn(test_net_config(Keypair::generate_ed25519(), vec![target.addr.clone()]))
            .expect("starts");
    let drain = tokio::spawn(async move { while events.recv().await.is_some() {} });
    (net, drain)
}

/// Issue 22: a stranger connected to a node stayed connected for good,
/// holding a slot (and reading gossip). Now it is cut off after the
/// stranger timeout; a partner's node is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_is_disconnected_and_a_partner_is_not() {
    let dirs = temp_dirs(2);
    let net = |keypair: Keypair, bootstrap| {
        let mut config: TransportConfig = test_net_config(keypair, bootstrap);
        config.stranger_timeout = Some(Duration::from_secs(1));
        config
    };
    let (nodes, code) = start_nodes_with(2, &dirs, test_network_config(), net).await;
    let genesis = genesis(guestbook_charter(&[1, 2], code), 1, now_ms());
    let mut p = None;
    for node in &nodes {
        p = Some(node.node.join(genesis.clone()).await.expect("joins"));
    }
    let p = p.expect("partnership");
    let target = &nodes[0];
    // Node 1 knows node 2 (it proved its member with a hello, then bound it).
    wait_for("node 1 to trust node 2", || async {
        let peers = target.net.peers().await.map_err(|e| e.to_string())?;
        let trusted = peers.iter().any(|p| p.peer == nodes[1].peer() && p.trusted);
        if trusted { Ok(()) } else { Err(format!("{peers:?}")) }
    })
    .await;

    let (intruder, drain) = stranger(target);
    let stats = wait_for("the stranger to be cut off", || async {
        let stats = target.node.network_stats().await.map_err(|e| e.to_string())?.ok_or("no network")?;
        if stats.transport.strangers_disconnected >= 1 { Ok(stats) } else { Err(format!("{stats:?}")) }
    })
    .await;
    assert_eq!(stats.transport.trusted_refused, 0, "{stats:?}");
    // Well past the timeout, the partners are still connected and finalise.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let peers = target.net.peers().await.expect("peers");
    assert!(peers.iter().any(|p| p.peer == nodes[1].peer() && p.trusted), "{peers:?}");
    let receipt = nodes[1]
        .node
        .call(p, "guestbook", sign_msg("still partners"), WaitFor::Final, WAIT)
        .await
        .expect("final");
    assert!(receipt.is_final);
    intruder.shutdown().await.expect("shuts down");
    drain.abort();
    for node in nodes {
        node.stop().await;
    }
}

/// Issue 22: 280 strangers redialling held every connection slot (cap 256),
/// and a partner's restarted node stayed without peers for over a minute.
/// Here, on a node of 4 slots with 2 reserved, 4 strangers hold what they
/// can (the stranger timeout is off, the worst case), and the partner's
/// restarted node still connects and its op becomes final.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_cannot_take_a_partners_reserved_slot() {
    let dirs = temp_dirs(2);
    let net = |keypair: Keypair, bootstrap| {
        let mut config: TransportConfig = test_net_config(keypair, bootstrap);
        config.max_connections = 4;
        config.reserved_connections = 2;
        config.stranger_timeout = None;
        config
    };
    let (mut nodes, code) = start_nodes_with(2, &dirs, test_network_config(), net).await;
    let genesis = genesis(guestbook_charter(&[1, 2], code), 1, now_ms());
    let mut p = None;
    for node in &nodes {
        p = Some(node.node.join(genesis.clone()).await.expect("joins"));
    }
    let p = p.expect("partnership");
    // Node 2 binds its peer id, so node 1 knows it across restarts.
    wait_for("node 2's binding to reach node 1", || async {
        let bound = nodes[0].info(p).await.bound_peers;
        if bound.get(&nodes[1].member) == Some(&nodes[1].peer()) { Ok(()) } else { Err(format!("{bound:?}")) }
    })
    .await;
    let partner = nodes.pop().expect("node 2");
    let (seed, keypair, dir) = (partner.seed, partner.keypair.clone(), partner.dir.clone());
    partner.stop().await;
    let target = &nodes[0];
    wait_for("node 2 to be gone", || async {
        let peers = target.net.connected_peers().await.map_err(|e| e.to_string())?;
        if peers.is_empty() { Ok(()) } else { Err(format!("{peers:?}")) }
    })
    .await;

    // Four strangers take what they can: two slots, the others are refused.
    let strangers: Vec<_> = (0..4).map(|_| stranger(target)).collect();
    let stats = wait_for("strangers to be refused", || async {
        let stats = target.node.network_stats().await.map_err(|e| e.to_string())?.ok_or("no network")?;
        let connected = target.net.connected_peers().await.map_err(|e| e.to_string())?.len();
        if connected == 2 && stats.transport.strangers_refused >= 2 {
            Ok(stats)
        } else {
            Err(format!("{connected} connected, {stats:?}"))
        }
    })
    .await;
    assert_eq!(stats.transport.trusted_refused, 0);

    // The partner's node comes back and gets a reserved slot.
    let back = TestNode::start_configured(
        &dir,
        seed,
        net(keypair, vec![target.addr.clone()]),
        test_network_config(),
    )
    .await;
    let receipt = back
        .node
        .call(p, "guestbook", sign_msg("back despite the strangers"), WaitFor::Accepted, WAIT)
        .await
        .expect("accepted");
    wait_converged(&[target, &back], p, &[receipt.op]).await;
    let connected = target.net.connected_peers().await.expect("peers");
    assert!(connected.contains(&back.peer()), "{connected:?}");
    for (net, drain) in strangers {
        let _ = net.shutdown().await;
        drain.abort();
    }
    back.stop().await;
    for node in nodes {
        node.stop().await;
    }
}
