//! Prometheus metrics at `GET /metrics` (text format 0.0.4): what the node
//! reports per partnership (ops accepted, refused by reason, heights, the
//! unfinalised tail, ops waiting for parents, messages from other
//! partnerships refused), its peers, what its network
//! half took in and refused (gossip by verdict and from non-participants,
//! sync requests by answer, announcements, invitations), and the API's own
//! counters (responses by status, calls by result, queries).
//!
//! Node figures are read from the [`NodeHandle`](crate::node::NodeHandle) at
//! scrape time; only the API's counters live here.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::{ApiError, ApiState};
use crate::node::NetworkStats;

/// The API's own counters.
#[derive(Debug, Default)]
pub struct ApiMetrics {
    responses: Mutex<BTreeMap<u16, u64>>,
    calls: Mutex<BTreeMap<&'static str, u64>>,
    queries: AtomicU64,
}

impl ApiMetrics {
    /// Counts one response by status.
    pub(crate) fn count_response(&self, status: u16) {
        if let Ok(mut map) = self.responses.lock() {
            *map.entry(status).or_default() += 1;
        }
    }

    /// Counts one call by result (`accepted`, `applied`, `failed`, `refused`).
    pub(crate) fn count_call(&self, result: &'static str) {
        if let Ok(mut map) = self.calls.lock() {
            *map.entry(result).or_default() += 1;
        }
    }

    /// Counts one query.
    pub(crate) fn count_query(&self) {
        self.queries.fetch_add(1, Ordering::Relaxed);
    }
}

/// Escapes a label value.
fn label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

struct Family {
    out: String,
}

impl Family {
    fn head(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn line(&mut self, name: &str, labels: &[(&str, &str)], value: u64) {
        if labels.is_empty() {
            let _ = writeln!(self.out, "{name} {value}");
        } else {
            let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{}\"", label(v))).collect();
            let _ = writeln!(self.out, "{name}{{{}}} {value}", labels.join(","));
        }
    }
}

/// What the node's network half counted: gossip verdicts (and those on
/// peers that act for no participant), sync requests by answer, ops synced,
/// announcements by outcome, invitations waiting.
fn network_families(f: &mut Family, net: &NetworkStats) {
    let gossip = "polypact_gossip_messages_total";
    f.head(gossip, "counter", "Gossip messages by verdict (rejected ones lower the sender's score).");
    f.line(gossip, &[("verdict", "accepted")], net.gossip_accepted);
    f.line(gossip, &[("verdict", "rejected")], net.gossip_rejected);
    f.line(gossip, &[("verdict", "ignored")], net.gossip_ignored);
    let strangers = "polypact_gossip_from_non_participants_total";
    f.head(
        strangers,
        "counter",
        "Gossip messages from peers that act for no participant (also counted by verdict above): never taken in.",
    );
    f.line(strangers, &[("verdict", "rejected")], net.gossip_rejected_from_strangers);
    f.line(strangers, &[("verdict", "ignored")], net.gossip_ignored_from_strangers);
    let sealed = "polypact_gossip_sealing_total";
    f.head(
        sealed,
        "counter",
        "Partnership keys at work: gossip under a key this node does not hold yet (ignored, history compared), own ops no key could carry (left to anti-entropy), rekey ops authored.",
    );
    f.line(sealed, &[("event", "unknown_key")], net.gossip_unknown_key);
    f.line(sealed, &[("event", "unsealed")], net.gossip_unsealed);
    f.line(sealed, &[("event", "rekey_authored")], net.rekeys_authored);
    let sync = "polypact_sync_requests_total";
    f.head(
        sync,
        "counter",
        "Sync requests from peers, by answer (denied: not a participant's peer; busy: over its rate).",
    );
    f.line(sync, &[("result", "served")], net.sync_served);
    f.line(sync, &[("result", "denied")], net.sync_denied);
    f.line(sync, &[("result", "busy")], net.sync_busy);
    f.head("polypact_synced_ops_total", "counter", "Ops taken in by sync (anti-entropy, fetched parents).");
    f.line("polypact_synced_ops_total", &[], net.synced_ops);
    let announces = "polypact_announces_total";
    f.head(
        announces,
        "counter",
        "Partnerships announced by peers, by outcome (joined: a known partner's; invited: a stranger's, kept for the operator; ignored).",
    );
    f.line(announces, &[("outcome", "joined")], net.announces_joined);
    f.line(announces, &[("outcome", "invited")], net.announces_invited);
    f.line(announces, &[("outcome", "ignored")], net.announces_ignored);
    f.head("polypact_invitations", "gauge", "Invitations waiting for the operator (`polypact invitations`).");
    f.line("polypact_invitations", &[], net.invitations);
    let cut = "polypact_peers_disconnected_total";
    f.head(
        cut,
        "counter",
        "Peers the node cut off, by reason (stranger: acted for no participant and was no bootstrap peer for the stranger timeout).",
    );
    f.line(cut, &[("reason", "stranger")], net.transport.strangers_disconnected);
    let refused = "polypact_connections_refused_total";
    f.head(
        refused,
        "counter",
        "Incoming connections refused by a connection limit, by peer (stranger: only the reserved slots were free).",
    );
    f.line(refused, &[("peer", "stranger")], net.transport.strangers_refused);
    f.line(refused, &[("peer", "trusted")], net.transport.trusted_refused);
}

pub(super) async fn metrics(State(state): State<ApiState>) -> Result<Response, ApiError> {
    // The listing only: it answers a resting partnership without loading
    // its ledger, so a scrape keeps idle partnerships at rest.
    let infos = state.node.partnerships().await?;
    let peers = state.peers().await.len() as u64;
    let mut f = Family { out: String::new() };
    f.head("polypact_up", "gauge", "1 while the node serves requests.");
    f.line("polypact_up", &[], 1);
    f.head("polypact_peers", "gauge", "Connected peers.");
    f.line("polypact_peers", &[], peers);
    f.head("polypact_partnerships", "gauge", "Partnerships held by the node.");
    f.line("polypact_partnerships", &[], infos.len() as u64);
    let ids: Vec<String> = infos.iter().map(|i| i.id.to_hex()).collect();
    let per = |f: &mut Family, name: &str, kind: &str, help: &str, value: &dyn Fn(usize) -> u64| {
        f.head(name, kind, help);
        for (i, id) in ids.iter().enumerate() {
            f.line(name, &[("partnership", id)], value(i));
        }
    };
    per(
        &mut f,
        "polypact_ops_accepted",
        "gauge",
        "Ops in the partnership's graph (accepted and stored).",
        &|i| infos[i].op_count,
    );
    per(&mut f, "polypact_final_height", "gauge", "Final height.", &|i| infos[i].final_height);
    per(&mut f, "polypact_optimistic_height", "gauge", "Optimistic height.", &|i| infos[i].optimistic_height);
    per(
        &mut f,
        "polypact_finality_lag",
        "gauge",
        "Optimistic height minus final height: the tail that may still change.",
        &|i| infos[i].optimistic_height.saturating_sub(infos[i].final_height),
    );
    per(&mut f, "polypact_pending_ops", "gauge", "Ops waiting for missing parents (sync lag).", &|i| {
        infos[i].pending as u64
    });
    f.head("polypact_ops_refused_total", "counter", "Ops refused, by reason.");
    for (info, id) in infos.iter().zip(&ids) {
        for (reason, count) in &info.refusals {
            f.line("polypact_ops_refused_total", &[("partnership", id), ("reason", reason)], *count);
        }
    }
    let deliveries = "polypact_deliveries_refused_total";
    f.head(
        deliveries,
        "counter",
        "Messages from other partnerships refused once final, by reason (duplicate, out_of_order, misaddressed, certificate).",
    );
    for (info, id) in infos.iter().zip(&ids) {
        for (reason, count) in &info.delivery_refusals {
            f.line(deliveries, &[("partnership", id), ("reason", reason)], *count);
        }
    }
    if let Some(net) = state.node.network_stats().await? {
        network_families(&mut f, &net);
    }
    f.head("polypact_api_responses_total", "counter", "API responses by HTTP status.");
    if let Ok(map) = state.metrics.responses.lock() {
        for (status, count) in map.iter() {
            f.line("polypact_api_responses_total", &[("status", &status.to_string())], *count);
        }
    }
    f.head("polypact_api_calls_total", "counter", "Calls submitted through the API, by result.");
    if let Ok(map) = state.metrics.calls.lock() {
        for (result, count) in map.iter() {
            f.line("polypact_api_calls_total", &[("result", result)], *count);
        }
    }
    f.head("polypact_api_queries_total", "counter", "Queries answered through the API.");
    f.line("polypact_api_queries_total", &[], state.metrics.queries.load(Ordering::Relaxed));
    f.head("polypact_api_refused_total", "counter", "What the API's edge turned away, by reason.");
    f.line(
        "polypact_api_refused_total",
        &[("reason", "connections")],
        state.edge.connections_refused.load(Ordering::Relaxed),
    );
    f.line(
        "polypact_api_refused_total",
        &[("reason", "large_bodies")],
        state.edge.large_bodies_refused.load(Ordering::Relaxed),
    );
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], f.out).into_response())
}
