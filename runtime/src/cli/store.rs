//! `polypact store check`: reads every record of a stopped node's store
//! and checks it, so damage is found before the node meets it.
//!
//! A node checks each record as it reads it and opens its store without
//! redb's check of every page (`docs/decisions.md`, "A node's store is
//! checked as it is read"); this command does both at once, on demand:
//! redb's pages, then every record with its own check and every final
//! state against its saved root. It owns the command's output; the walk
//! is the store's (`Store::scrub`).

use anyhow::{Context, Result, bail};
use serde_json::json;

use polypact::home::{Home, default_home};
use polypact::ledger::LtHash;
use polypact::store::{Store, StoreError, StoreOptions};

use super::client::Target;
use super::commands::print_json;

/// `polypact store check`.
pub fn check(target: &Target, json_out: bool) -> Result<()> {
    let dir = target.home.clone().unwrap_or_else(default_home);
    let home = Home::open(&dir)?;
    let path = home.data_dir().join(polypact::node::STORE_FILE);
    if !path.exists() {
        bail!("there is no store at {}: a node has not run from this home yet", path.display());
    }
    let mut options = StoreOptions::default();
    options.verify_on_open = true;
    let store = Store::open_with(&path, &options).map_err(|e| match e {
        StoreError::AlreadyOpen { .. } => {
            anyhow::anyhow!("{e}: stop the node first (`polypact store check` reads the whole store)")
        }
        other => anyhow::Error::new(other),
    })?;
    let report = store.scrub(&LtHash::root_of).with_context(|| format!("reading {}", path.display()))?;
    if json_out {
        print_json(&json!({
            "store": path.display().to_string(),
            "partnerships": report.partnerships,
            "ops": report.ops,
            "compacted": report.compacted,
            "archived_entries": report.archived_entries,
            "state_values": report.state_values,
            "roots_checked": report.roots_checked,
            "code": report.code,
            "damage": report.damage.iter().map(|d| json!({
                "partnership": d.partnership.map(|p| p.to_hex()),
                "area": d.area,
                "detail": d.detail,
            })).collect::<Vec<_>>(),
        }));
    } else {
        outln!("store         {}", path.display());
        outln!("pages         checked");
        outln!("partnerships  {}", report.partnerships);
        outln!("ops           {} ({} compacted)", report.ops, report.compacted);
        outln!("archived      {} index entries", report.archived_entries);
        outln!(
            "final states  {} values, {} checked against their root",
            report.state_values,
            report.roots_checked
        );
        outln!("module code   {}", report.code);
        outln!(
            "damage        {}",
            if report.damage.is_empty() { "none".to_owned() } else { report.damage.len().to_string() }
        );
    }
    if report.damage.is_empty() {
        return Ok(());
    }
    for damage in &report.damage {
        errln!("damaged: {damage}");
    }
    bail!(
        "{} damaged record(s) in {}: restore the store from a backup, or move it away and let the node join its partnerships again from its partners",
        report.damage.len(),
        path.display()
    )
}
