//! The aliases file: local names for partnerships, `NAME = "<id>"` lines
//! in `aliases.toml`, which every command that takes a partnership id
//! accepts.
//!
//! The file is the testnet's (`DIR/aliases.toml`) with `--testnet DIR`, so
//! one alias serves all of its nodes (a partnership has the same id on
//! every node), else the node's home's (`--home`, default `~/.polypact`).
//! `--node URL` without `--home` has none.
//!
//! This file owns the file's format and its rules (what a name may be, one
//! name per partnership id): reading, checking and writing it. It does not
//! own which file a command uses (`Target::aliases_file` in `client.rs`),
//! looking an alias up for a command (`Client::partnership_id`) or the
//! `partnership alias|unalias` commands (`commands.rs`). It talks to no
//! node and uses no other CLI module.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};

/// The aliases file, in a testnet directory or a home.
pub const ALIASES_FILE: &str = "aliases.toml";

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

/// Writes an aliases file whole (through a temporary file).
pub fn save(path: &Path, aliases: &BTreeMap<String, String>) -> Result<()> {
    let mut text = String::from("# Local names for partnerships: `polypact partnership alias ID NAME`.\n");
    text.push_str(&toml::to_string(aliases).context("cannot encode the aliases")?);
    let temp = path.with_extension("toml.tmp");
    std::fs::write(&temp, text).with_context(|| format!("cannot write {}", temp.display()))?;
    std::fs::rename(&temp, path).with_context(|| format!("cannot write {}", path.display()))
}

/// Whether `name` may be an alias: a-z first, then a-z, 0-9, `-`, `_` (at
/// most 32), and not all hex digits (which would read as an id prefix).
pub fn check_name(name: &str) -> Result<()> {
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
