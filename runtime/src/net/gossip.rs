//! Gossipsub for partnerships: topic names, message ids, the gossipsub
//! configuration and the peer-scoring parameters.
//!
//! One topic per partnership, `polypact/t/<hex>/1`, where the hex is a
//! keyed BLAKE3 of the partnership id: a stranger who sees the topic cannot
//! tell which partnership it is (partnership ids are never sent in clear),
//! and one who knows an id can find its topic, nothing more. A message is an
//! envelope sealed under one of the partnership's keys ([`crate::seal`]);
//! its gossip message id is a BLAKE3 of the envelope, so ids name neither
//! the op nor its author. (The node drops an op it already holds by op id
//! once the envelope is open.)
//!
//! Messages are unsigned at the gossip layer (`Anonymous`): the op carries
//! its author's signature, which the node checks before it reports the
//! message valid; gossipsub forwards only what the node accepted.
//!
//! Scoring penalises invalid messages (P4) heavily, so a peer that sends a
//! few rejected messages drops below the graylist threshold and is ignored;
//! the mesh-delivery penalties (P3, P3b) are off, since a quiet partnership
//! is not a misbehaving peer. The behaviour penalty (P7: gossip promises
//! broken, grafts during backoff) is off too. A node saturated by load can
//! miss the deadline of a few `IWANT` answers; with gossipsub's default
//! (three broken promises graylist a peer) honest partners' nodes shut each
//! other out of gossip on 16 busy nodes: a peer below the gossip threshold
//! has its `IWANT`s ignored, which breaks more promises, and finality, which
//! waits for every partner, stalled for seconds. Gossip comes only from
//! partners' nodes, each accountable, and what a broken promise costs is
//! bounded by gossipsub's `IHAVE` limits.

use std::time::Duration;

use libp2p::gossipsub::{
    self, IdentTopic, Message, MessageId, PeerScoreParams, PeerScoreThresholds, TopicScoreParams,
    ValidationMode,
};

use crate::op::PartnershipId;

const TOPIC_PREFIX: &str = "polypact/t/";
const TOPIC_SUFFIX: &str = "/1";

/// The gossip topic of a partnership (see the module doc).
pub fn topic(partnership: &PartnershipId) -> IdentTopic {
    let name = blake3::derive_key("polypact gossip topic v1", &partnership.0);
    IdentTopic::new(format!("{TOPIC_PREFIX}{}{TOPIC_SUFFIX}", hex::encode(name)))
}

/// The gossip message id of `data`: a domain-separated BLAKE3 of the bytes.
pub fn message_id(data: &[u8]) -> MessageId {
    let mut hasher = blake3::Hasher::new_derive_key("polypact gossip message id v2");
    hasher.update(data);
    MessageId::new(hasher.finalize().as_bytes())
}

/// The most message ids this node lists in one `IHAVE` (and asks for by
/// `IWANT` from one peer per heartbeat). Each id costs 34 bytes on the wire,
/// so the largest `IHAVE` stays under [`STOCK_CONTROL_LIMIT`].
///
/// gossipsub's own default is 5,000 ids (170 KB), while its receivers refuse
/// an RPC with more than 16 KB of control messages, and refuse it by closing
/// the inbound stream: the sender is not told and writes on into a stream
/// nobody reads, so every later op on that link is lost until the connection
/// closes. About 480 messages in three heartbeats are enough; see
/// decisions.md.
pub(crate) const MAX_IDS_PER_CONTROL: usize = 400;

/// The control-message size a stock libp2p-gossipsub node accepts in one
/// RPC (its default `max_control_message_size`).
pub(crate) const STOCK_CONTROL_LIMIT: usize = 16 * 1024;

/// The gossip RPC size limit: one op of `max_op_bytes` with room for its
/// framing, and never less than the largest control RPC this node sends.
fn max_transmit_size(max_op_bytes: usize) -> usize {
    max_op_bytes.max(STOCK_CONTROL_LIMIT).saturating_add(4 * 1024)
}

/// The gossipsub configuration: validation by the node, anonymous messages
/// (ops are signed), ids from [`message_id`], transmit size for one op,
/// and control messages that fit what every receiver accepts.
pub(crate) fn config(max_op_bytes: usize, heartbeat: Duration) -> Result<gossipsub::Config, String> {
    let max_transmit = max_transmit_size(max_op_bytes);
    gossipsub::ConfigBuilder::default()
        .validation_mode(ValidationMode::Anonymous)
        .validate_messages()
        .message_id_fn(|message: &Message| message_id(&message.data))
        .max_transmit_size(max_transmit)
        // What this node sends fits a stock receiver's 16 KB; what it
        // receives is bounded by the RPC size alone (a node in many
        // partnerships lists every topic in one subscription RPC).
        .max_control_messages_sent(MAX_IDS_PER_CONTROL)
        .max_control_message_size(max_transmit)
        .heartbeat_interval(heartbeat)
        // Mesh upkeep and lazy gossip start one heartbeat after start, not
        // after gossipsub's fixed 5 s.
        .heartbeat_initial_delay(heartbeat)
        // Flood publishing takes every op from its author to every peer on
        // the topic in one hop; the mesh only forwards, for peers the author
        // does not reach. Two forwarding peers are enough for that, and each
        // one more sends every op once more to every node (on 8 nodes, a mesh
        // of 2 took 8-20% less CPU per op than a mesh of 4; decisions.md).
        .mesh_n_low(1)
        .mesh_n(2)
        .mesh_n_high(4)
        .mesh_outbound_min(1)
        .gossip_lazy(4)
        .history_length(6)
        .history_gossip(3)
        .duplicate_cache_time(Duration::from_secs(120))
        .flood_publish(true)
        .build()
        .map_err(|e| e.to_string())
}

/// Scoring parameters of one partnership topic.
pub(crate) fn topic_score_params() -> TopicScoreParams {
    TopicScoreParams {
        topic_weight: 1.0,
        // P1: a little credit for staying in the mesh.
        time_in_mesh_weight: 0.01,
        time_in_mesh_quantum: Duration::from_secs(1),
        time_in_mesh_cap: 100.0,
        // P2: credit for delivering ops first.
        first_message_deliveries_weight: 1.0,
        first_message_deliveries_decay: 0.9,
        first_message_deliveries_cap: 50.0,
        // P3, P3b: off (quiet partnerships are not faults).
        mesh_message_deliveries_weight: 0.0,
        mesh_message_deliveries_decay: 0.5,
        mesh_message_deliveries_cap: 100.0,
        mesh_message_deliveries_threshold: 1.0,
        mesh_message_deliveries_window: Duration::from_millis(10),
        mesh_message_deliveries_activation: Duration::from_secs(5),
        mesh_failure_penalty_weight: 0.0,
        mesh_failure_penalty_decay: 0.5,
        // P4: rejected messages, squared: three reach the graylist.
        invalid_message_deliveries_weight: -10.0,
        invalid_message_deliveries_decay: 0.99,
    }
}

/// Global scoring parameters (topics are added as the node subscribes).
pub(crate) fn score_params() -> PeerScoreParams {
    PeerScoreParams {
        topic_score_cap: 100.0,
        // Loopback and LAN tests put many peers on one address.
        ip_colocation_factor_weight: 0.0,
        // P7 off (see the module doc).
        behaviour_penalty_weight: 0.0,
        ..PeerScoreParams::default()
    }
}

/// Score thresholds: below `graylist` a peer's messages are ignored.
pub(crate) fn score_thresholds() -> PeerScoreThresholds {
    PeerScoreThresholds {
        gossip_threshold: -10.0,
        publish_threshold: -50.0,
        graylist_threshold: -80.0,
        accept_px_threshold: 10.0,
        opportunistic_graft_threshold: 5.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::{Limits, MemberKey, OpId, Payload, UnsignedOp};

    #[test]
    fn topics_and_message_ids_name_no_partnership_and_no_op() {
        let p = PartnershipId([0xab; 32]);
        let t = topic(&p);
        assert_eq!(t.hash(), topic(&p).hash());
        assert_ne!(t.hash(), topic(&PartnershipId([0xac; 32])).hash());
        assert!(t.to_string().starts_with("polypact/t/"));
        assert!(!t.to_string().contains(&p.to_hex()));
        let key = MemberKey::from_seed(4);
        let op = UnsignedOp {
            partnership: p,
            author: key.member_id(),
            seq: 1,
            parents: vec![OpId([2; 32])],
            time_ms: 5,
            payload: Payload::Ack,
        }
        .sign(&key);
        let bytes = op.encode();
        assert_ne!(message_id(&bytes), MessageId::new(op.id().as_bytes()));
        assert_eq!(message_id(&bytes), message_id(&bytes));
        assert_ne!(message_id(&bytes), MessageId::new(blake3::hash(&bytes).as_bytes()));
    }

    #[test]
    fn only_invalid_ops_shut_a_partner_out() {
        let params = score_params();
        let thresholds = score_thresholds();
        // Broken gossip promises and grafts in backoff cost nothing (P7),
        // nor do missed mesh deliveries (P3, P3b)...
        assert_eq!(params.behaviour_penalty_weight, 0.0);
        let topic = topic_score_params();
        assert_eq!(topic.mesh_message_deliveries_weight, 0.0);
        assert_eq!(topic.mesh_failure_penalty_weight, 0.0);
        // ...while three rejected ops graylist the peer (P4).
        let p4 = topic.invalid_message_deliveries_weight * topic.topic_weight;
        assert!(p4 * 2.0 * 2.0 > thresholds.graylist_threshold);
        assert!(p4 * 3.0 * 3.0 < thresholds.graylist_threshold);
    }

    /// The bytes an `IHAVE` of `ids` 32-byte message ids on `topic` adds
    /// to an RPC's control size: 34 bytes per id (tag, length, id), the
    /// topic field, and the tags and lengths of the three nested messages
    /// (RPC control, control IHAVE, the IHAVE itself), 16 bytes at most.
    fn ihave_control_bytes(ids: usize, topic: &str) -> usize {
        ids * 34 + 1 + 2 + topic.len() + 16
    }

    #[test]
    fn the_largest_ihave_fits_every_receivers_control_limit() {
        let longest_topic = topic(&PartnershipId([0xff; 32])).hash().into_string();
        let largest = ihave_control_bytes(MAX_IDS_PER_CONTROL, &longest_topic);
        assert!(largest < STOCK_CONTROL_LIMIT, "{largest} bytes");
        // gossipsub's default would list up to 5,000 ids: 170 KB.
        assert!(ihave_control_bytes(5_000, &longest_topic) > STOCK_CONTROL_LIMIT);
        for max_op_bytes in [1024, 64 * 1024, Limits::default().max_op_bytes] {
            let config = config(max_op_bytes, Duration::from_millis(700)).expect("config");
            assert_eq!(config.max_control_messages_sent(), MAX_IDS_PER_CONTROL);
            assert!(config.max_control_message_size() >= STOCK_CONTROL_LIMIT);
            assert!(config.max_transmit_size() > largest);
            assert!(config.max_transmit_size() > max_op_bytes);
        }
    }

    #[test]
    fn parameters_are_valid() {
        assert!(config(256 * 1024, Duration::from_millis(700)).is_ok());
        assert!(topic_score_params().validate().is_ok());
        assert!(score_params().validate().is_ok());
        assert!(score_thresholds().validate().is_ok());
    }
}
