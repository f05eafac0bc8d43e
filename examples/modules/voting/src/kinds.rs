//! Which rules a proposal must meet, decided by what it does.
//!
//! Every message a proposal carries has a kind: a call's kind comes from
//! the config's `kinds` (`"module.message"`, then `"module"`), else from the
//! target module itself (it answers [`KindQuery`] for its own messages), else
//! `default`; a system message's from `kinds` (`"system.<name>"`), else its
//! built-in kind (`admit_member`, `expel_member`, `charter_change`,
//! `dissolve`). The proposal must meet the rule of every kind it carries
//! (the strictest wins by construction), a kind the config reserves needs
//! every voting unit, and a kind the decision table lacks falls back to
//! `default`. The proposer's label can only add a rule, never remove one.
//!
//! This file owns that mapping; it does not own the arithmetic of a rule
//! (`outcome.rs`) or when it is checked (`contract.rs`: at propose, and again
//! at execute against the decision table as it stands then).

use std::collections::BTreeMap;

use polypact_sdk::QueryCtx;

use crate::error::{Result, VotingError};
use crate::msg::{
    Config, DEFAULT_KIND, KindQuery, KindResponse, PARTNERSHIP_MESSAGE_KIND, ProposalMsg, Rule, Threshold,
    default_system_kind, kind_of_call, system_msg_name,
};

/// The rule that applies to `kind` under `config`.
pub fn rule_for(config: &Config, kind: &str) -> Rule {
    if config.reserved.iter().any(|k| k == kind) {
        return Rule { threshold: Threshold::Unanimous {}, quorum_percent: 100 };
    }
    config
        .rules
        .get(kind)
        .or_else(|| config.rules.get(DEFAULT_KIND))
        .cloned()
        .unwrap_or(Rule { threshold: Threshold::Unanimous {}, quorum_percent: 100 })
}

/// The kind of one message.
fn kind_of(ctx: &QueryCtx, config: &Config, message: &ProposalMsg) -> String {
    match message {
        ProposalMsg::Call { module, msg } => {
            if let Some(kind) = kind_of_call(&config.kinds, module, msg) {
                return kind.to_owned();
            }
            let asked: std::result::Result<KindResponse, _> =
                ctx.query(module, &KindQuery::ProposalKind { msg: msg.clone() });
            asked.ok().and_then(|a| a.kind).unwrap_or_else(|| DEFAULT_KIND.to_owned())
        }
        ProposalMsg::System(system) => config
            .kinds
            .get(&format!("system.{}", system_msg_name(system)))
            .cloned()
            .unwrap_or_else(|| default_system_kind(system).to_owned()),
        ProposalMsg::Partnership { module, msg, .. } => {
            kind_of_call(&config.kinds, &format!("partnership.{module}"), msg)
                .or_else(|| config.kinds.get("partnership").map(String::as_str))
                .unwrap_or(PARTNERSHIP_MESSAGE_KIND)
                .to_owned()
        }
    }
}

/// Every kind `messages` carry (and `label`, which must be a kind of the
/// decision table), each with its rule under `config`. A proposal without
/// messages or label is `default`.
pub fn applicable(
    ctx: &QueryCtx,
    config: &Config,
    label: Option<&str>,
    messages: &[ProposalMsg],
) -> Result<BTreeMap<String, Rule>> {
    let mut rules = BTreeMap::new();
    if let Some(label) = label {
        if !config.rules.contains_key(label) && !config.reserved.iter().any(|k| k == label) {
            let kinds: Vec<&str> = config.rules.keys().map(String::as_str).collect();
            return Err(VotingError::BadProposal(format!(
                "unknown kind {label:?}; the decision table has {}",
                kinds.join(", ")
            )));
        }
        rules.insert(label.to_owned(), rule_for(config, label));
    }
    for message in messages {
        let kind = kind_of(ctx, config, message);
        let rule = rule_for(config, &kind);
        rules.insert(kind, rule);
    }
    if rules.is_empty() {
        rules.insert(DEFAULT_KIND.to_owned(), rule_for(config, DEFAULT_KIND));
    }
    Ok(rules)
}

/// The kind to show for a proposal: a reserved one first, then any but
/// `default`, then `default`.
pub fn principal(config: &Config, rules: &BTreeMap<String, Rule>) -> String {
    rules
        .keys()
        .find(|k| config.reserved.contains(k))
        .or_else(|| rules.keys().find(|k| k.as_str() != DEFAULT_KIND))
        .or_else(|| rules.keys().next())
        .cloned()
        .unwrap_or_else(|| DEFAULT_KIND.to_owned())
}
