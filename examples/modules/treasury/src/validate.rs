//! The checks every treasury call makes on what it is given: config,
//! splits, overrun terms, assets, texts, member ids and amounts, and checked arithmetic
//! on amounts.
//!
//! This file owns the limits ([`MAX_ASSETS`], [`MAX_TEXT_LEN`]…) and the
//! pure functions that refuse what breaks them, with the error the caller
//! sees. It reads no state; `contract.rs` and `distribute.rs` call these
//! before they write.

use std::collections::BTreeMap;

use crate::error::{Result, TreasuryError};
use crate::msg::{
    Amount, AssetSpec, BaseSplit, Config, Confirmation, DefaultTerms, InitConfig, Shares, Split,
};

/// Basis points in a whole.
pub const BPS: u32 = 10_000;
/// Most assets a treasury keeps.
pub const MAX_ASSETS: usize = 32;
/// Most tranches of a waterfall.
pub const MAX_TRANCHES: usize = 16;
/// Most members named in one set of shares.
pub const MAX_SHARES: usize = 200;
/// Longest reference (invoice number, bank reference), in bytes.
pub const MAX_REFERENCE_LEN: usize = 128;
/// Longest note, description or reason, in bytes.
pub const MAX_TEXT_LEN: usize = 1024;
/// Largest minor-unit exponent.
pub const MAX_EXPONENT: u8 = 18;

/// `a + b`, or an overflow error naming `what`.
pub fn add(a: Amount, b: Amount, what: &str) -> Result<Amount> {
    a.0.checked_add(b.0).map(Amount).ok_or_else(|| TreasuryError::Overflow(what.into()))
}

/// `a - b`, or an error naming `what` when it would go below 0.
pub fn sub(a: Amount, b: Amount, what: &str) -> Result<Amount> {
    a.0.checked_sub(b.0).map(Amount).ok_or_else(|| TreasuryError::Overflow(format!("{what} (below 0)")))
}

/// Refuses a zero amount, naming `what`.
pub fn nonzero(amount: Amount, what: &'static str) -> Result<()> {
    if amount.0 == 0 { Err(TreasuryError::Zero { what }) } else { Ok(()) }
}

/// Refuses a text that is empty (if `required`) or longer than `max` bytes.
pub fn check_text(value: &str, field: &str, required: bool, max: usize) -> Result<()> {
    if required && value.trim().is_empty() {
        return Err(TreasuryError::BadText(format!("{field} must not be empty")));
    }
    if value.len() > max {
        return Err(TreasuryError::BadText(format!("{field} is {} bytes; the most is {max}", value.len())));
    }
    Ok(())
}

/// Refuses what is not a member id: a key (`pm1…`) or a partnership
/// (`pp1…`).
pub fn check_member_id(member: &str, field: &str) -> Result<()> {
    let kind_ok = member.starts_with("pm1") || polypact_sdk::is_partnership_member(member);
    if !kind_ok || member.len() > MAX_REFERENCE_LEN {
        return Err(TreasuryError::BadText(format!(
            "{field} must be a member id (pm1…) or a partnership (pp1…), got {member:?}"
        )));
    }
    Ok(())
}

/// Refuses an asset the config does not keep.
pub fn check_asset(config: &Config, asset: &str) -> Result<()> {
    if config.assets.contains_key(asset) {
        Ok(())
    } else {
        Err(TreasuryError::UnknownAsset {
            asset: asset.into(),
            known: config.assets.keys().cloned().collect::<Vec<_>>().join(", "),
        })
    }
}

fn check_shares(shares: &Shares, what: &str) -> Result<()> {
    if shares.is_empty() || shares.len() > MAX_SHARES {
        return Err(TreasuryError::BadSplit(format!("{what} must name 1 to {MAX_SHARES} members")));
    }
    let mut sum: u64 = 0;
    for (member, bps) in shares {
        check_member_id(member, what).map_err(|e| TreasuryError::BadSplit(e.to_string()))?;
        if *bps == 0 {
            return Err(TreasuryError::BadSplit(format!(
                "{what}: {member} has 0 basis points; leave it out"
            )));
        }
        sum += u64::from(*bps);
    }
    if sum != u64::from(BPS) {
        return Err(TreasuryError::BadSplit(format!("{what} add up to {sum} basis points, not {BPS}")));
    }
    Ok(())
}

fn check_base(base: &BaseSplit, what: &str) -> Result<()> {
    match base {
        BaseSplit::Fixed { shares } => check_shares(shares, what),
        BaseSplit::ProRata {} | BaseSplit::Capital {} => Ok(()),
    }
}

/// Checks a split against the config's assets.
pub fn check_split(config: &Config, split: &Split) -> Result<()> {
    match split {
        Split::ProRata {} | Split::Capital {} => Ok(()),
        Split::Fixed { shares } => check_shares(shares, "fixed shares"),
        Split::Waterfall { tranches, rest, .. } => {
            if tranches.len() > MAX_TRANCHES {
                return Err(TreasuryError::BadSplit(format!("at most {MAX_TRANCHES} tranches")));
            }
            for (i, t) in tranches.iter().enumerate() {
                match &t.split {
                    None => check_shares(&t.shares, &format!("tranche {i} shares"))?,
                    Some(_) if !t.shares.is_empty() => {
                        return Err(TreasuryError::BadSplit(format!(
                            "tranche {i} has both shares and a split; give one"
                        )));
                    }
                    Some(base) => check_base(base, &format!("tranche {i} split shares"))?,
                }
                if t.cap.is_empty() {
                    return Err(TreasuryError::BadSplit(format!(
                        "tranche {i} has no cap; give one per asset"
                    )));
                }
                for (asset, cap) in &t.cap {
                    check_asset(config, asset)?;
                    if cap.0 == 0 {
                        return Err(TreasuryError::BadSplit(format!(
                            "tranche {i} caps {asset} at 0; leave it out"
                        )));
                    }
                }
            }
            check_base(rest, "rest shares")
        }
    }
}

fn check_asset_code(code: &str) -> Result<()> {
    if code.is_empty()
        || code.len() > 12
        || !code.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    {
        return Err(TreasuryError::Config(format!("asset code {code:?} must be 1 to 12 of A-Z and 0-9")));
    }
    Ok(())
}

/// Checks the overrun terms: a period above 0, a penalty of at most 10000
/// basis points, and an exit module to apply bad-leaver terms.
fn check_overrun(config: &Config) -> Result<()> {
    let Some(terms) = config.overrun.terms() else { return Ok(()) };
    if terms.period_ms == 0 {
        return Err(TreasuryError::Config("overrun: period_ms must be above 0".into()));
    }
    match &terms.on_default {
        DefaultTerms::Dilution { penalty_bps } if *penalty_bps > BPS => Err(TreasuryError::Config(format!(
            "overrun: on_default.dilution.penalty_bps must be 0 to {BPS}, got {penalty_bps}"
        ))),
        DefaultTerms::BadLeaver {} if config.exit_module.is_none() => Err(TreasuryError::Config(
            "overrun: on_default bad_leaver needs exit_module, the exit module that removes a defaulter"
                .into(),
        )),
        _ => Ok(()),
    }
}

/// Checks an init config: the stored config and the initial split.
pub fn validate(config: InitConfig) -> Result<(Config, Split)> {
    if config.membership.trim().is_empty() || config.governance.trim().is_empty() {
        return Err(TreasuryError::Config("membership and governance must name module instances".into()));
    }
    if config.assets.is_empty() || config.assets.len() > MAX_ASSETS {
        return Err(TreasuryError::Config(format!("list 1 to {MAX_ASSETS} assets, e.g. [\"EUR\",\"USD\"]")));
    }
    let mut assets = BTreeMap::new();
    for spec in &config.assets {
        let (code, exponent) = match spec {
            AssetSpec::Code(code) => (code.clone(), 2),
            AssetSpec::Full { code, exponent } => (code.clone(), *exponent),
        };
        check_asset_code(&code)?;
        if exponent > MAX_EXPONENT {
            return Err(TreasuryError::Config(format!(
                "{code}: exponent {exponent} is above {MAX_EXPONENT}"
            )));
        }
        if assets.insert(code.clone(), exponent).is_some() {
            return Err(TreasuryError::Config(format!("asset {code} is listed twice")));
        }
    }
    let treasurer_role = config.treasurer_role.unwrap_or_else(|| "treasurer".into());
    if treasurer_role.trim().is_empty() {
        return Err(TreasuryError::Config("treasurer_role must not be empty".into()));
    }
    if let Confirmation::Role(role) = &config.confirmation
        && role.trim().is_empty()
    {
        return Err(TreasuryError::Config("the confirmation role must not be empty".into()));
    }
    if config.spend_vote_kind.as_deref().is_some_and(|k| k.trim().is_empty()) {
        return Err(TreasuryError::Config("spend_vote_kind must not be empty; leave it out instead".into()));
    }
    let stored = Config {
        membership: config.membership,
        governance: config.governance,
        exit_module: config.exit_module,
        disputes: config.disputes,
        split_managers: config.split_managers,
        assets,
        treasurer_role,
        confirmation: config.confirmation,
        spend_vote_above: config.spend_vote_above,
        spend_vote_kind: config.spend_vote_kind,
        program_fee: config.program_fee,
        overrun: config.overrun,
    };
    check_overrun(&stored)?;
    if let Some(fee) = &stored.program_fee {
        if !polypact_sdk::is_partnership_member(&fee.partnership) || fee.partnership.len() > MAX_REFERENCE_LEN
        {
            return Err(TreasuryError::Config(format!(
                "program_fee.partnership must be a partnership (pp1…), got {:?}",
                fee.partnership
            )));
        }
        if !(1..=10_000).contains(&fee.bps) {
            return Err(TreasuryError::Config(format!(
                "program_fee.bps must be 1 to 10000, got {}",
                fee.bps
            )));
        }
    }
    for asset in stored.spend_vote_above.keys() {
        check_asset(&stored, asset).map_err(|e| TreasuryError::Config(format!("spend_vote_above: {e}")))?;
    }
    check_split(&stored, &config.split)?;
    Ok((stored, config.split))
}
