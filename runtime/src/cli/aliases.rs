//! Local aliases for partnerships: `partnership alias ID NAME` writes
//! `NAME = "<id>"` into `aliases.toml`, and every command that takes a
//! partnership id takes the alias too.
//!
//! The file is the testnet's (`DIR/aliases.toml`) with `--testnet DIR`, so
//! one alias serves all of its nodes (a partnership has the same id on
//! every node), else the node's home's (`--home`, default `~/.polypact`).
//! `--node URL` without `--home` has none.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::client::{Client, Target};

/// The aliases file, in a testnet directory or a home.
pub const ALIASES_FILE: &str = "aliases.toml";

/// The aliases file of a target, if it has one.
pub fn file_for(target: &Target) -> Option<PathBuf> {
    if let Some(dir) = &target.testnet {
        return Some(dir.join(ALIASES_FILE));
    }
    match (&target.home, &target.node) {
        (Some(home), _) => Some(home.join(ALIASES_FILE)),
        (None, Some(_)) => None,
        (None, None) => Some(polypact::home::default_home().join(ALIASES_FILE)),
    }
}

/// Reads an aliases file (none yet: no aliases).
pub fn load(path: &Path) -> Result<BTreeMap<String, String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => toml::from_str(&text).with_context(|| {
            format!("{} is not an aliases file (NAME = \"<partnership id>\" lines)", path.display())
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn save(path: &Path, aliases: &BTreeMap<String, String>) -> Result<()> {
    let mut text = String::from("# Local names for partnerships: `polypact partnership alias ID NAME`.\n");
    text.push_str(&toml::to_string(aliases).context("cannot encode the aliases")?);
    let temp = path.with_extension("toml.tmp");
    std::fs::write(&temp, text).with_context(|| format!("cannot write {}", temp.display()))?;
    std::fs::rename(&temp, path).with_context(|| format!("cannot write {}", path.display()))
}

/// Whether `name` may be an alias: a-z first, then a-z, 0-9, `-`, `_` (at
/// most 32), and not all hex digits (which would read as an id prefix).
fn check_name(name: &str) -> Result<()> {
    let valid = name.len() <= 32
        && name.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !valid {
        bail!("alias {name:?}: start with a-z, then use a-z, 0-9, `-` or `_` (at most 32)");
    }
    if name.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("alias {name:?} is all hex digits and would read as a partnership id prefix; pick another");
    }
    Ok(())
}

/// Checks that `name` can be a new alias of `id` in `path` (valid, and not
/// another partnership's already).
pub fn check_free(path: &Path, name: &str, id: Option<&str>) -> Result<()> {
    check_name(name)?;
    if let Some(existing) = load(path)?.get(name)
        && Some(existing.as_str()) != id
    {
        bail!(
            "alias `{name}` already names partnership {existing}; remove it first with `polypact partnership unalias {name}`"
        );
    }
    Ok(())
}

/// Records `name` as an alias of `id` in `path`.
pub fn set(path: &Path, name: &str, id: &str) -> Result<()> {
    check_free(path, name, Some(id))?;
    let mut aliases = load(path)?;
    aliases.insert(name.to_owned(), id.to_owned());
    save(path, &aliases)
}

fn no_file() -> anyhow::Error {
    anyhow::anyhow!(
        "aliases are kept in a node's home or a testnet's directory, and --node URL names neither; add --home DIR"
    )
}

/// `polypact partnership alias`.
pub async fn alias(target: &Target, id: &str, name: &str) -> Result<()> {
    let path = file_for(target).ok_or_else(no_file)?;
    check_name(name)?;
    let client = Client::connect(target)?;
    let id = client.partnership_id(id).await?;
    // The node holds it (an id given whole is not looked up otherwise).
    client.get(&format!("/v1/partnerships/{id}")).await?;
    set(&path, name, &id)?;
    outln!("{name} = {id}");
    errln!("`{name}` now stands for the partnership in every command (kept in {})", path.display());
    Ok(())
}

/// `polypact partnership unalias`.
pub fn unalias(target: &Target, name: &str) -> Result<()> {
    let path = file_for(target).ok_or_else(no_file)?;
    let mut aliases = load(&path)?;
    if aliases.remove(name).is_none() {
        let known = if aliases.is_empty() {
            "there are none".to_owned()
        } else {
            format!("the aliases are: {}", aliases.keys().cloned().collect::<Vec<_>>().join(", "))
        };
        bail!("no alias `{name}` in {}; {known}", path.display());
    }
    save(&path, &aliases)?;
    errln!("alias `{name}` removed");
    Ok(())
}
