//! Finding partnerships over the network. A partnership created on one node
//! is announced to connected peers; a node whose member it names joins it on
//! its own (fetching module code it lacks) only if its creator is a known
//! partner (a participant of a partnership the node holds). A stranger's
//! genesis is kept as an invitation until the operator accepts it (then the
//! node joins, fetching the code) or declines it; a stranger announcing
//! many partnerships makes the node join none and keep a bounded number.
//! `join_by_id` works for a participant and is refused for an outsider,
//! changing nothing.

use polypact::net::{Keypair, Network, SyncRequest, SyncResponse, sync};
use polypact::node::{NodeError, SyncConfig, WaitFor, now_ms};
use polypact::seal::seal_announcement;
use polypact_tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strangers_partnership_waits_for_consent_and_a_partners_is_joined() {
    let dirs = temp_dirs(4);
    let wasm = guestbook_wasm();
    let mut nodes: Vec<TestNode> = Vec::new();
    for seed in 1..=4u8 {
        let bootstrap = nodes.iter().map(|n| n.addr.clone()).collect();
        nodes.push(
            TestNode::start(dirs[usize::from(seed - 1)].path(), seed, Keypair::generate_ed25519(), bootstrap)
                .await,
        );
    }
    // Only the creator has the module code.
    let code = nodes[0].node.add_code(wasm.clone()).await.expect("code");
    wait_for("everyone connected to the creator", || async {
        let peers = nodes[0].net.connected_peers().await.map_err(|e| e.to_string())?;
        if peers.len() == 3 { Ok(()) } else { Err(format!("{} peers", peers.len())) }
    })
    .await;
    let p = nodes[0].node.create_partnership(guestbook_charter(&[1, 2, 3], code)).await.expect("creates");

    // Member 1 is a stranger to nodes 2 and 3 (they hold nothing yet): its
    // partnership waits for their operators instead of being joined.
    for node in &nodes[1..3] {
        let invitation = wait_for("the announced partnership to be an invitation", || async {
            let list = node.node.invitations().await.map_err(|e| e.to_string())?;
            list.into_iter().find(|i| i.partnership == p).ok_or_else(|| "no invitation yet".to_owned())
        })
        .await;
        assert_eq!(invitation.creator, nodes[0].member);
        assert_eq!(invitation.name, "net test");
        assert!(invitation.participants.contains(&node.member));
        assert!(node.node.partnerships().await.expect("list").is_empty(), "not joined without consent");
        let stats = node.node.network_stats().await.expect("stats").expect("a network");
        assert!(stats.announces_invited >= 1 && stats.announces_joined == 0, "{stats:?}");
    }
    // Member 4 is not named: no invitation.
    assert!(nodes[3].node.invitations().await.expect("list").is_empty());

    // Node 2's operator accepts: it joins, with the code fetched from member 1's node.
    assert_eq!(nodes[1].node.accept_invitation(p).await.expect("accepted"), p);
    assert!(nodes[1].node.invitations().await.expect("list").is_empty());
    // Node 3's operator declines: nothing joined, nothing kept.
    nodes[2].node.decline_invitation(p).await.expect("declined");
    assert!(nodes[2].node.invitations().await.expect("list").is_empty());
    assert!(nodes[2].node.partnerships().await.expect("list").is_empty());
    let again = nodes[2].node.decline_invitation(p).await;
    assert!(matches!(again, Err(NodeError::UnknownInvitation(id)) if id == p), "{again:?}");
    // Its operator may still join on purpose, by id.
    assert_eq!(nodes[2].node.join_by_id(p).await.expect("joined"), p);
    // Member 4 is no participant: it cannot join by id either.
    let refused = nodes[3].node.join_by_id(p).await;
    assert!(matches!(refused, Err(NodeError::UnknownPartnership(id)) if id == p), "{refused:?}");
    assert!(nodes[3].node.partnerships().await.expect("list").is_empty(), "nothing changed");

    let receipt = nodes[1]
        .node
        .call(p, "guestbook", sign_msg("joined by invitation"), WaitFor::Accepted, WAIT)
        .await
        .expect("accepted");
    let refs: Vec<&TestNode> = nodes[..3].iter().collect();
    wait_converged(&refs, p, &[receipt.op]).await;

    // Member 1 is now a partner of node 2: its next partnership is joined
    // without asking.
    let mut charter = guestbook_charter(&[1, 2], code);
    charter.name = "second".into();
    let second = nodes[0].node.create_partnership(charter).await.expect("creates");
    wait_for("a known partner's partnership to be joined", || async {
        nodes[1].node.partnership(second).await.map(|_| ()).map_err(|e| e.to_string())
    })
    .await;
    assert!(nodes[1].node.invitations().await.expect("list").is_empty());

    // Member 4 is still a stranger to node 2: its partnership naming member 2
    // is an invitation, not joined.
    nodes[3].node.add_code(wasm).await.expect("code");
    let mut charter = guestbook_charter(&[2, 4], code);
    charter.name = "from a stranger".into();
    let strangers = nodes[3].node.create_partnership(charter).await.expect("creates");
    wait_for("the stranger's partnership to be an invitation", || async {
        let list = nodes[1].node.invitations().await.map_err(|e| e.to_string())?;
        if list.iter().any(|i| i.partnership == strangers) { Ok(()) } else { Err(format!("{list:?}")) }
    })
    .await;
    let held: Vec<_> = nodes[1].node.partnerships().await.expect("list").into_iter().map(|s| s.id).collect();
    assert!(!held.contains(&strangers), "a stranger's partnership is not joined");
    for node in nodes {
        node.stop().await;
    }
}

/// Issue 22: a stranger that read a node's member id off gossip announced
/// 200 partnerships naming it, and the node joined them all (idle CPU rose
/// threefold). Now it joins none and keeps a bounded number of invitations.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_announcing_many_partnerships_makes_the_node_join_none() {
    let dir = tempfile::tempdir().expect("tempdir");
    let network = SyncConfig { max_invitations: 8, ..test_network_config() };
    let node = TestNode::start_with(dir.path(), 2, Keypair::generate_ed25519(), vec![], network).await;
    let (attacker, mut events) =
        Network::spawn(test_net_config(Keypair::generate_ed25519(), vec![node.addr.clone()]))
            .expect("starts");
    let drain = tokio::spawn(async move { while events.recv().await.is_some() {} });
    let target = node.peer();
    wait_for("the attacker to connect", || async {
        let peers = attacker.connected_peers().await.map_err(|e| e.to_string())?;
        if peers.contains(&target) { Ok(()) } else { Err(format!("{peers:?}")) }
    })
    .await;
    // The node has the standard module code, as a node in use would: the
    // lures need nothing fetched. The stranger (member 77) signs geneses
    // naming member 2.
    let code = node.node.add_code(guestbook_wasm()).await.expect("code");
    let mut announced = Vec::new();
    for i in 0..20u64 {
        let mut charter = guestbook_charter(&[77, 2], code);
        charter.name = format!("lure {i}");
        let genesis = genesis(charter, 77, now_ms() + i);
        announced.push(genesis.partnership());
        let answer = attacker
            .request(
                target,
                SyncRequest::Announce { geneses: vec![seal_announcement(&genesis).expect("sealed")] },
            )
            .await
            .expect("answered");
        assert_eq!(answer, SyncResponse::Noted);
    }
    let kept = wait_for("the announcements to be taken in", || async {
        let stats = node.node.network_stats().await.map_err(|e| e.to_string())?.ok_or("no network")?;
        if stats.announces_invited == 20 { Ok(stats) } else { Err(format!("{stats:?}")) }
    })
    .await;
    assert_eq!(kept.announces_joined, 0);
    assert_eq!(kept.invitations, 8, "bounded: {kept:?}");
    assert!(node.node.partnerships().await.expect("list").is_empty(), "joined none");
    // The newest are kept, oldest first.
    let list = node.node.invitations().await.expect("list");
    let ids: Vec<_> = list.iter().map(|i| i.partnership).collect();
    assert_eq!(ids, announced[12..].to_vec());
    // Many lures in one request cost the sender a token per signature the
    // node checks: past its rate (200 a second, the test's setting), the
    // rest of the batch is refused as busy, unchecked.
    let lure = |i: u64| {
        let mut charter = guestbook_charter(&[77, 2], code);
        charter.name = format!("batched lure {i}");
        seal_announcement(&genesis(charter, 77, now_ms() + i)).expect("sealed")
    };
    // As many as one request carries: several seconds' worth of tokens.
    let count = (sync::MAX_ANNOUNCE_BYTES / lure(0).len()).min(sync::MAX_GENESES_PER_ANNOUNCE) as u64;
    assert!(count > 400, "{count}");
    let lures: Vec<Vec<u8>> = (0..count).map(lure).collect();
    let answer = attacker.request(target, SyncRequest::Announce { geneses: lures }).await.expect("answered");
    assert_eq!(answer, SyncResponse::Busy);
    let stats = node.node.network_stats().await.expect("stats").expect("a network");
    let checked = stats.announces_invited - kept.announces_invited;
    assert!(checked >= 1 && checked < count, "{checked} of {count} lures checked in one request");
    assert!(node.node.partnerships().await.expect("list").is_empty(), "joined none");
    attacker.shutdown().await.expect("shuts down");
    drain.abort();
    node.stop().await;
}
