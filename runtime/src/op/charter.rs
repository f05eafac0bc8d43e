//! The charter: what a partnership is made of.
//!
//! A charter names the partnership, its first participants, the module
//! instances it runs (name, code hash, init config, and which system
//! messages each may send: the charter is the permission table) and the
//! runtime parameters (fuel per op, clock tolerance, message depth). It is
//! carried in the genesis op in canonical form; [`Charter::from_toml`] reads
//! the human-written TOML form.
//!
//! It does not own module code (stored by hash elsewhere) or how a module
//! interprets its config.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::chunk::MAX_CODE_BYTES;
use super::ids::{CodeHash, MemberId, PartnershipId};

/// A system message kind a module may be permitted to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SystemPermission {
    /// Admit a participant to the partnership.
    AddParticipant,
    /// Remove a participant from the partnership.
    RemoveParticipant,
    /// Install a new module instance.
    InstallModule,
    /// Upgrade a module instance to new code (runs its `migrate`).
    UpgradeModule,
    /// Dissolve the partnership (every later call fails; queries remain).
    Dissolve,
    /// Spawn a child partnership (a project of a program), which records
    /// this one as its parent.
    SpawnPartnership,
    /// Send messages to other partnerships, which they run as calls from
    /// this partnership (`pp1…`): acting in the partnership's name
    /// elsewhere.
    MessagePartnerships,
}

impl SystemPermission {
    /// The permission's name, as charters and system messages spell it.
    pub fn name(self) -> &'static str {
        match self {
            SystemPermission::AddParticipant => "add_participant",
            SystemPermission::RemoveParticipant => "remove_participant",
            SystemPermission::InstallModule => "install_module",
            SystemPermission::UpgradeModule => "upgrade_module",
            SystemPermission::Dissolve => "dissolve",
            SystemPermission::SpawnPartnership => "spawn_partnership",
            SystemPermission::MessagePartnerships => "message_partnerships",
        }
    }
}

/// The deepest a charter may let module messages and queries nest: a rule
/// of the runtime, the same on every node, and far below what a node's
/// instance pool holds (every level keeps one instance alive).
pub const MAX_MESSAGE_DEPTH: u32 = 16;

/// The most fuel a charter may give one op. Straight-line WASM burns
/// 1.0–4.8 billion fuel a second on the reference machine (BENCHMARKS.md),
/// so an op at this budget ends within about a second, ten times inside the
/// host's wall-clock backstop (10 s): the backstop is a last resort that an
/// honest partnership never meets, never what ends its ops.
pub const MAX_FUEL_PER_OP: u64 = 1_000_000_000;

/// Runtime parameters of a partnership.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// Fuel (WASM instructions, roughly) one op may burn, shared by all of
    /// its messages.
    pub fuel_per_op: u64,
    /// How far ahead of a node's clock an op's `time_ms` may be before the
    /// node holds it back.
    pub clock_tolerance_ms: u64,
    /// How deep module-to-module messages, and queries of one module by
    /// another, may nest (at most [`MAX_MESSAGE_DEPTH`]).
    pub max_message_depth: u32,
    /// How long a participant may be silent, while ops wait for it to
    /// become final, before the others' nodes vote to suspend it (and how
    /// long such a vote stands). 0: never suspend. Real partnerships: hours
    /// (the default is one); testnets: seconds.
    pub suspend_after_ms: u64,
    /// The largest module code that may be published in the partnership
    /// (at most [`MAX_CODE_BYTES`]).
    pub max_code_bytes: u32,
    /// Every how many heights the partnership takes a *checkpoint*: the
    /// root of its final state at that height, which every participant's
    /// node attests, so that a node may compact the ops below it
    /// (`docs/decisions.md`, "Compaction behind a certified checkpoint").
    /// 0: never; otherwise at least [`MIN_CHECKPOINT_EVERY`].
    pub checkpoint_every: u64,
}

/// The fewest heights between two checkpoints: each checkpoint costs an
/// attest op (and the acks on it) from every participant, a few heights of
/// its own, and checkpoints must never be what makes the next one come.
pub const MIN_CHECKPOINT_EVERY: u64 = 256;

impl Default for Params {
    fn default() -> Self {
        Params {
            fuel_per_op: 50_000_000,
            clock_tolerance_ms: 30_000,
            max_message_depth: 8,
            suspend_after_ms: 3_600_000,
            max_code_bytes: 4 * 1024 * 1024,
            checkpoint_every: 100_000,
        }
    }
}

/// One module instance of a charter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleSpec {
    /// Instance name, unique in the partnership (`membership`, `voting`…).
    pub name: String,
    /// BLAKE3 of the module's WASM.
    pub code: CodeHash,
    /// Init config, canonical JSON text (keys sorted).
    pub config: String,
    /// System messages this instance may send.
    pub permissions: Vec<SystemPermission>,
}

/// A partnership's charter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Charter {
    /// Human name of the partnership.
    pub name: String,
    /// The first participants, ascending, no duplicates.
    pub participants: Vec<MemberId>,
    /// Module instances, initialised in this order.
    pub modules: Vec<ModuleSpec>,
    /// Runtime parameters.
    pub params: Params,
    /// The partnership that spawned this one, with the proof, if it was
    /// spawned (a `spawn_partnership` system message); `None` for one
    /// created directly.
    #[serde(default)]
    pub parent: Option<ParentLink>,
}

/// Where a spawned partnership comes from: its parent's decision, proven.
///
/// The ledger of every node that holds the child checks the certificate
/// when the partnership is created from its genesis (a pure check: it
/// carries the parent's genesis and the attestations of every participant
/// of the parent), so a partnership that claims a parent it does not have
/// cannot be joined anywhere.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParentLink {
    /// The parent partnership.
    pub partnership: PartnershipId,
    /// 1, 2, 3…: the parent's n-th spawn.
    pub seq: u64,
    /// The certificate ([`crate::cert::Certificate`], canonical bytes) of
    /// the parent's `spawned` statement for this charter; empty in the
    /// charter the statement itself hashes.
    pub certificate: Vec<u8>,
}

/// Why a charter is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CharterError {
    /// The TOML text does not parse; the message names the line.
    #[error("charter {file}: {message}")]
    Toml {
        /// Which file (or `<inline>`).
        file: String,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A rule of charters is broken.
    #[error("charter: {0}")]
    Invalid(String),
    /// A module's code could not be resolved.
    #[error("charter module `{module}`: {message}")]
    Code {
        /// The module instance.
        module: String,
        /// What went wrong.
        message: String,
    },
    /// A module's config names, in a field its code declares as naming a
    /// module instance, a module the charter does not have.
    #[error("{0}")]
    UnknownReference(Box<UnknownReference>),
}

/// A reference between modules, in a module's config, that names no module
/// of the charter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownReference {
    /// The module whose config holds the reference.
    pub module: String,
    /// The config field.
    pub field: String,
    /// The name it gives, which is no module of the charter.
    pub name: String,
    /// The charter line of the field, when known.
    pub line: Option<usize>,
    /// The charter's module closest to `name`, if one is close.
    pub suggestion: Option<String>,
    /// The charter's modules.
    pub modules: Vec<String>,
}

impl std::fmt::Display for UnknownReference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let UnknownReference { module, field, name, line, suggestion, modules } = self;
        write!(f, "charter")?;
        if let Some(line) = line {
            write!(f, " line {line}")?;
        }
        write!(
            f,
            ": module `{module}` names module `{name}` in `{field}`, and the charter has no module `{name}`"
        )?;
        if let Some(suggestion) = suggestion {
            write!(f, "; did you mean `{suggestion}`?")?;
        }
        if modules.is_empty() {
            write!(f, " (it has no modules)")
        } else {
            write!(f, " (its modules: {})", modules.join(", "))
        }
    }
}

/// The candidate closest to `given`, if one is close enough to be a likely
/// misspelling of it (for "did you mean" hints).
///
/// ```
/// assert_eq!(polypact::op::did_you_mean("votng", ["membership", "voting"]), Some("voting"));
/// assert_eq!(polypact::op::did_you_mean("bank", ["membership", "voting"]), None);
/// ```
pub fn did_you_mean<'a>(given: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .filter(|c| *c != given)
        .map(|c| (strsim::jaro_winkler(given, c), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// A `${name}` placeholder of a template that has no value, and the lines
/// where it stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unfilled {
    /// The placeholder's name.
    pub name: String,
    /// The lines (from 1) where it stands.
    pub lines: Vec<usize>,
}

/// Every placeholder of `text` that `values` has no value for, in the order
/// of first appearance, each with its lines.
///
/// ```
/// # use std::collections::BTreeMap;
/// let values = BTreeMap::from([("a".to_owned(), "x".to_owned())]);
/// let missing = polypact::op::unfilled_placeholders("${a}\n${b}\n${b}", &values);
/// assert_eq!((missing[0].name.as_str(), missing[0].lines.clone()), ("b", vec![2, 3]));
/// ```
pub fn unfilled_placeholders(text: &str, values: &BTreeMap<String, String>) -> Vec<Unfilled> {
    let mut missing: Vec<Unfilled> = Vec::new();
    for (index, line) in text.lines().enumerate() {
        for name in placeholders(line) {
            if values.contains_key(&name) {
                continue;
            }
            match missing.iter_mut().find(|m| m.name == name) {
                Some(known) => known.lines.push(index + 1),
                None => missing.push(Unfilled { name, lines: vec![index + 1] }),
            }
        }
    }
    missing
}

/// Fills the `${name}` placeholders of a charter template.
///
/// Example charters name their partners (`${studio}`, `${telco}`) instead of
/// fixing member ids, so one file serves every deployment; the CLI and the
/// testnet fill them in before [`Charter::from_toml`]. A placeholder with no
/// value is an error naming it and its line; `$$` stands for a literal `$`.
///
/// ```
/// # use std::collections::BTreeMap;
/// let values = BTreeMap::from([("studio".to_owned(), "pm1abc".to_owned())]);
/// let text = polypact::op::fill_placeholders("participants = [\"${studio}\"]", &values).unwrap();
/// assert_eq!(text, "participants = [\"pm1abc\"]");
/// ```
pub fn fill_placeholders(text: &str, values: &BTreeMap<String, String>) -> Result<String, CharterError> {
    let mut out = String::with_capacity(text.len());
    for (line_index, line) in text.split_inclusive('\n').enumerate() {
        let mut rest = line;
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..at]);
            let after = &rest[at + 1..];
            if let Some(tail) = after.strip_prefix('$') {
                out.push('$');
                rest = tail;
            } else if let Some(body) = after.strip_prefix('{') {
                let Some(end) = body.find('}') else {
                    return Err(CharterError::Invalid(format!(
                        "line {}: `${{` without a closing `}}`",
                        line_index + 1
                    )));
                };
                let name = &body[..end];
                let Some(value) = values.get(name) else {
                    let known: Vec<&str> = values.keys().map(String::as_str).collect();
                    return Err(CharterError::Invalid(format!(
                        "line {}: no value for placeholder `${{{name}}}` (given: {})",
                        line_index + 1,
                        if known.is_empty() { "none".to_owned() } else { known.join(", ") }
                    )));
                };
                out.push_str(value);
                rest = &body[end + 1..];
            } else {
                out.push('$');
                rest = after;
            }
        }
        out.push_str(rest);
    }
    Ok(out)
}

/// Every `${name}` placeholder of a charter template, sorted, without duplicates.
pub fn placeholders(text: &str) -> Vec<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{')
            && let Some(end) = body.find('}')
        {
            names.insert(body[..end].to_owned());
            rest = &body[end + 1..];
        } else {
            rest = after;
        }
    }
    names.into_iter().collect()
}

/// Where a module's code comes from in the TOML form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CodeSource {
    /// A code hash given directly.
    Hash(CodeHash),
    /// A `.wasm` file, relative to the charter file.
    File(PathBuf),
}

/// Module names: 1 to 64 of `a-z 0-9 _ -`.
pub(crate) fn is_valid_module_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

impl Charter {
    /// Checks the charter's own rules: a name, at least one participant,
    /// sorted unique participants, valid unique module names, JSON configs.
    /// Returns the first rule broken; [`Charter::rule_problems`] has them all.
    pub fn validate(&self) -> Result<(), CharterError> {
        match self.rule_problems().into_iter().next() {
            Some(message) => Err(CharterError::Invalid(message)),
            None => Ok(()),
        }
    }

    /// Every rule of [`Charter::validate`] the charter breaks, in the order
    /// `validate` checks them.
    pub fn rule_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.name.trim().is_empty() || self.name.len() > 200 {
            problems.push("the name must be 1 to 200 characters".into());
        }
        if self.participants.is_empty() {
            problems.push("a charter needs at least one participant".into());
        }
        if !self.participants.windows(2).all(|w| w[0] < w[1]) {
            problems.push("participants must be listed once each, in ascending order".into());
        }
        let mut names = BTreeSet::new();
        for module in &self.modules {
            if !is_valid_module_name(&module.name) {
                problems.push(format!(
                    "module name `{}` is not 1 to 64 characters of a-z, 0-9, `_` or `-`",
                    module.name
                ));
            }
            if module.name == "system" {
                problems.push("the module name `system` is reserved".into());
            }
            if !names.insert(module.name.as_str()) {
                problems.push(format!("module name `{}` is used twice", module.name));
            }
            if serde_json::from_str::<serde::de::IgnoredAny>(&module.config).is_err() {
                problems.push(format!("module `{}` has a config that is not JSON", module.name));
            }
            if !module.permissions.windows(2).all(|w| w[0] < w[1]) {
                problems.push(format!("module `{}` lists a permission twice or out of order", module.name));
            }
        }
        if self.params.fuel_per_op == 0 || self.params.max_message_depth == 0 {
            problems.push("fuel_per_op and max_message_depth must be above zero".into());
        }
        if self.params.fuel_per_op > MAX_FUEL_PER_OP {
            problems.push(format!(
                "fuel_per_op is at most {MAX_FUEL_PER_OP} (about a second of WASM; more could meet the node's \
                 wall-clock backstop, which must never decide an op)"
            ));
        }
        if self.params.max_code_bytes == 0 || self.params.max_code_bytes > MAX_CODE_BYTES {
            problems.push(format!(
                "max_code_bytes is 1 to {MAX_CODE_BYTES} (a rule of the runtime: every node must hold and \
                 compile what a partnership publishes)"
            ));
        }
        if self.params.checkpoint_every != 0 && self.params.checkpoint_every < MIN_CHECKPOINT_EVERY {
            problems.push(format!(
                "checkpoint_every is 0 (never) or at least {MIN_CHECKPOINT_EVERY} (every checkpoint costs \
                 each participant an attest op, which must not itself bring on the next checkpoint)"
            ));
        }
        if self.params.max_message_depth > MAX_MESSAGE_DEPTH {
            problems.push(format!(
                "max_message_depth is at most {MAX_MESSAGE_DEPTH} (each level of modules calling or querying \
                 each other may hold a module's whole stack)"
            ));
        }
        problems
    }

    /// Finds a module instance by name.
    pub fn module(&self, name: &str) -> Option<&ModuleSpec> {
        self.modules.iter().find(|m| m.name == name)
    }

    /// Parses the TOML form of a charter.
    ///
    /// `file` names the source in errors. `resolve` turns each module's code
    /// source (a `code = "<hash>"` or a `wasm = "<path>"`) into a code hash;
    /// relative paths are resolved against `base_dir`.
    ///
    /// ```toml
    /// name = "Studio and Telco joint venture"
    /// participants = ["pm1…", "pm1…"]
    ///
    /// [params]
    /// fuel_per_op = 50000000
    ///
    /// [[modules]]
    /// name = "membership"
    /// wasm = "../../target/wasm32-unknown-unknown/release/membership.wasm"
    /// permissions = ["add_participant", "remove_participant"]
    /// [modules.config]
    /// quorum = 2
    /// ```
    pub fn from_toml(
        text: &str,
        file: &str,
        base_dir: &Path,
        resolve: impl FnMut(&str, CodeSource) -> Result<CodeHash, String>,
    ) -> Result<Charter, CharterError> {
        Charter::check_toml(text, file, base_dir, resolve).map_err(|problems| {
            problems.into_iter().next().unwrap_or(CharterError::Invalid("invalid".into()))
        })
    }

    /// [`Charter::from_toml`], reporting every problem instead of the first:
    /// unparsable participants, modules whose code cannot be resolved, and
    /// every rule of [`Charter::validate`] broken. (A TOML syntax error is
    /// the only problem reported then.) References between modules are
    /// checked by [`reference_problems`], which needs the modules' code.
    pub fn check_toml(
        text: &str,
        file: &str,
        base_dir: &Path,
        mut resolve: impl FnMut(&str, CodeSource) -> Result<CodeHash, String>,
    ) -> Result<Charter, Vec<CharterError>> {
        let parsed: CharterToml = toml::from_str(text)
            .map_err(|e| vec![CharterError::Toml { file: file.to_owned(), message: e.to_string() }])?;
        let mut problems = Vec::new();
        let mut participants = Vec::with_capacity(parsed.participants.len());
        for text in &parsed.participants {
            match text.parse::<MemberId>() {
                Ok(id) => participants.push(id),
                Err(e) => problems.push(CharterError::Invalid(e.to_string())),
            }
        }
        participants.sort();
        let before = participants.len();
        participants.dedup();
        if participants.len() != before {
            problems.push(CharterError::Invalid("a participant is listed twice".into()));
        }
        let mut modules = Vec::with_capacity(parsed.modules.len());
        for module in parsed.modules {
            let source = match (module.code, module.wasm) {
                (Some(hash), None) => match hash.parse() {
                    Ok(hash) => Some(CodeSource::Hash(hash)),
                    Err(e) => {
                        problems.push(CharterError::Code {
                            module: module.name.clone(),
                            message: format!("{e}"),
                        });
                        None
                    }
                },
                (None, Some(path)) => Some(CodeSource::File(base_dir.join(path))),
                _ => {
                    problems.push(CharterError::Code {
                        module: module.name.clone(),
                        message: "give exactly one of `code = \"<hash>\"` or `wasm = \"<path>\"`".into(),
                    });
                    None
                }
            };
            // A module whose code is unknown is still checked for the rest.
            let code = match source.map(|source| resolve(&module.name, source)) {
                Some(Ok(code)) => code,
                Some(Err(message)) => {
                    problems.push(CharterError::Code { module: module.name.clone(), message });
                    CodeHash([0; 32])
                }
                None => CodeHash([0; 32]),
            };
            let config = match serde_json::to_value(&module.config) {
                Ok(json) => json.to_string(),
                Err(e) => {
                    problems.push(CharterError::Code {
                        module: module.name.clone(),
                        message: format!("config cannot be expressed as JSON: {e}"),
                    });
                    "{}".to_owned()
                }
            };
            let mut permissions = module.permissions;
            permissions.sort();
            permissions.dedup();
            modules.push(ModuleSpec { name: module.name, code, config, permissions });
        }
        let charter =
            Charter { name: parsed.name, participants, modules, params: parsed.params, parent: None };
        problems.extend(charter.rule_problems().into_iter().map(CharterError::Invalid));
        if problems.is_empty() { Ok(charter) } else { Err(problems) }
    }
}

/// Every reference between modules in a charter's configs that names no
/// module of the charter, with its line.
///
/// `text` is the charter's TOML (placeholders filled). `references` gives,
/// for a module instance, the top-level fields of its config that name
/// other module instances, as its code declares them (the SDK's
/// `references!`), or `None` when they are not known (code not at hand). A
/// field's value is a name or a list of names; an absent or `null` one names
/// nothing. Text that does not parse has no references (its TOML error is
/// reported by [`Charter::check_toml`]).
pub fn reference_problems(
    text: &str,
    mut references: impl FnMut(&str) -> Option<Vec<String>>,
) -> Vec<CharterError> {
    let Ok(parsed) = toml::from_str::<SpannedCharterToml>(text) else { return Vec::new() };
    let modules: Vec<String> = parsed.modules.iter().map(|m| m.name.clone()).collect();
    let line_of = |offset: usize| text.get(..offset).map(|before| before.matches('\n').count() + 1);
    let mut problems = Vec::new();
    for module in &parsed.modules {
        for field in references(&module.name).unwrap_or_default() {
            let Some(value) = module.config.get(&field) else { continue };
            let names: Vec<&str> = match value.get_ref() {
                toml::Value::String(name) => vec![name.as_str()],
                toml::Value::Array(items) => items.iter().filter_map(toml::Value::as_str).collect(),
                _ => Vec::new(),
            };
            for name in names {
                if modules.iter().any(|m| m == name) {
                    continue;
                }
                problems.push(CharterError::UnknownReference(Box::new(UnknownReference {
                    module: module.name.clone(),
                    field: field.clone(),
                    name: name.to_owned(),
                    line: line_of(value.span().start),
                    suggestion: did_you_mean(name, modules.iter().map(String::as_str)).map(str::to_owned),
                    modules: modules.clone(),
                })));
            }
        }
    }
    problems
}

/// The parts of a charter's TOML that references are about, with where
/// each config value stands.
#[derive(Deserialize)]
struct SpannedCharterToml {
    #[serde(default)]
    modules: Vec<SpannedModuleToml>,
}

#[derive(Deserialize)]
struct SpannedModuleToml {
    name: String,
    #[serde(default)]
    config: BTreeMap<String, toml::Spanned<toml::Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CharterToml {
    name: String,
    #[serde(default)]
    participants: Vec<String>,
    #[serde(default)]
    params: Params,
    #[serde(default)]
    modules: Vec<ModuleToml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModuleToml {
    name: String,
    code: Option<String>,
    wasm: Option<String>,
    #[serde(default)]
    permissions: Vec<SystemPermission>,
    #[serde(default = "empty_table")]
    config: toml::Table,
}

fn empty_table() -> toml::Table {
    toml::Table::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(_: &str, source: CodeSource) -> Result<CodeHash, String> {
        match source {
            CodeSource::Hash(h) => Ok(h),
            CodeSource::File(p) => Ok(CodeHash::of(p.to_string_lossy().as_bytes())),
        }
    }

    #[test]
    fn fuel_beyond_what_runs_in_time_is_refused() {
        let text = format!(
            "name = \"JV\"\nparticipants = [\"{}\"]\n[params]\nfuel_per_op = 1000000000000\n",
            MemberId([1; 32])
        );
        let error = Charter::from_toml(&text, "jv.toml", Path::new("/x"), resolve).expect_err("refused");
        assert!(error.to_string().contains("fuel_per_op is at most 1000000000"), "{error}");
    }

    #[test]
    fn nesting_deeper_than_the_runtime_allows_is_refused() {
        let text = format!(
            "name = \"JV\"\nparticipants = [\"{}\"]\n[params]\nmax_message_depth = {}\n",
            MemberId([1; 32]),
            MAX_MESSAGE_DEPTH + 1
        );
        let error = Charter::from_toml(&text, "jv.toml", Path::new("/x"), resolve).expect_err("refused");
        assert!(error.to_string().contains("max_message_depth is at most 16"), "{error}");
    }

    #[test]
    fn parses_toml_and_canonicalises_config() {
        let a = MemberId([1; 32]);
        let b = MemberId([2; 32]);
        let text = format!(
            r#"
name = "JV"
participants = ["{b}", "{a}"]
[[modules]]
name = "counter"
wasm = "counter.wasm"
permissions = ["remove_participant", "add_participant"]
[modules.config]
zeta = 1
alpha = "x"
"#
        );
        let charter = Charter::from_toml(&text, "jv.toml", Path::new("/x"), resolve).expect("parses");
        assert_eq!(charter.participants, vec![a, b]);
        assert_eq!(charter.modules[0].config, r#"{"alpha":"x","zeta":1}"#);
        assert_eq!(
            charter.modules[0].permissions,
            vec![SystemPermission::AddParticipant, SystemPermission::RemoveParticipant]
        );
    }

    #[test]
    fn bad_toml_names_the_line() {
        let err = Charter::from_toml("name = \"x\"\nmodules = 3 3\n", "bad.toml", Path::new("."), resolve)
            .expect_err("bad toml");
        let text = err.to_string();
        assert!(text.contains("bad.toml") && text.contains("line 2"), "{text}");
    }

    #[test]
    fn duplicate_module_names_are_refused() {
        let a = MemberId([1; 32]);
        let text = format!(
            "name = \"x\"\nparticipants = [\"{a}\"]\n[[modules]]\nname = \"m\"\ncode = \"{h}\"\n[[modules]]\nname = \"m\"\ncode = \"{h}\"\n",
            h = CodeHash([0; 32])
        );
        let err = Charter::from_toml(&text, "c.toml", Path::new("."), resolve).expect_err("dup");
        assert!(err.to_string().contains("used twice"), "{err}");
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod check_tests {
    use super::*;

    fn resolve(_: &str, source: CodeSource) -> Result<CodeHash, String> {
        match source {
            CodeSource::Hash(h) => Ok(h),
            CodeSource::File(p) if p.ends_with("missing.wasm") => Err("cannot read missing.wasm".into()),
            CodeSource::File(p) => Ok(CodeHash::of(p.to_string_lossy().as_bytes())),
        }
    }

    #[test]
    fn check_toml_reports_every_problem_and_from_toml_the_first() {
        let a = MemberId([1; 32]);
        let text = format!(
            "name = \"x\"\nparticipants = [\"{a}\", \"pm1bad\"]\n[[modules]]\nname = \"m\"\nwasm = \"missing.wasm\"\n[[modules]]\nname = \"m\"\nwasm = \"m.wasm\"\n[[modules]]\nname = \"Bad\"\nwasm = \"b.wasm\"\n"
        );
        let problems = Charter::check_toml(&text, "c.toml", Path::new("."), resolve).unwrap_err();
        let texts: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(problems.len(), 4, "{texts:#?}");
        assert!(texts[0].contains("pm1bad"), "{texts:#?}");
        assert!(texts[1].contains("missing.wasm"), "{texts:#?}");
        assert!(texts[2].contains("used twice") && texts[3].contains("`Bad`"), "{texts:#?}");
        let first = Charter::from_toml(&text, "c.toml", Path::new("."), resolve).unwrap_err();
        assert_eq!(first, problems[0]);
    }

    #[test]
    fn references_to_modules_the_charter_lacks_are_found_with_their_lines() {
        let text = "name = \"x\"\n[[modules]]\nname = \"membership\"\n[modules.config]\ngovernance = \"votng\"\nmanagers = [\"exit\", \"membership\"]\nother = \"nowhere\"\n[[modules]]\nname = \"voting\"\n[modules.config]\nmembership = \"membership\"\n";
        let declared = |module: &str| match module {
            "membership" => Some(vec!["governance".to_owned(), "managers".to_owned(), "absent".to_owned()]),
            "voting" => Some(vec!["membership".to_owned()]),
            _ => None,
        };
        let problems = reference_problems(text, declared);
        let found: Vec<(String, String, Option<usize>, Option<String>)> = problems
            .iter()
            .map(|p| match p {
                CharterError::UnknownReference(r) => {
                    (r.field.clone(), r.name.clone(), r.line, r.suggestion.clone())
                }
                other => panic!("{other}"),
            })
            .collect();
        assert_eq!(
            found,
            [
                ("governance".to_owned(), "votng".to_owned(), Some(5), Some("voting".to_owned())),
                ("managers".to_owned(), "exit".to_owned(), Some(6), None),
            ]
        );
        let message = problems[0].to_string();
        assert!(message.contains("line 5") && message.contains("did you mean `voting`?"), "{message}");
        assert!(reference_problems(text, |_| None).is_empty(), "undeclared: not checked");
        assert!(reference_problems("not = [toml", declared).is_empty());
    }

    #[test]
    fn unfilled_placeholders_are_all_listed_with_their_lines() {
        let values = BTreeMap::from([("a".to_owned(), "x".to_owned())]);
        let missing = unfilled_placeholders("${a} ${c}\n${b}\n${c}", &values);
        let got: Vec<(&str, &[usize])> =
            missing.iter().map(|m| (m.name.as_str(), m.lines.as_slice())).collect();
        assert_eq!(got, [("c", &[1, 3][..]), ("b", &[2][..])]);
    }

    #[test]
    fn did_you_mean_picks_a_close_candidate_only() {
        assert_eq!(did_you_mean("tresury", ["treasury", "term"]), Some("treasury"));
        assert_eq!(did_you_mean("exit", ["exit", "treasury"]), None);
        assert_eq!(did_you_mean("bank", ["membership", "voting"]), None);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod placeholder_tests {
    use super::*;

    #[test]
    fn fills_escapes_and_names_missing_ones() {
        let values = BTreeMap::from([("a".to_owned(), "pm1x".to_owned())]);
        assert_eq!(fill_placeholders("x ${a} $$5 $b\n${a}", &values).unwrap(), "x pm1x $5 $b\npm1x");
        let err = fill_placeholders("ok\np = \"${bank}\"", &values).unwrap_err().to_string();
        assert!(err.contains("line 2") && err.contains("${bank}") && err.contains("given: a"), "{err}");
        let err = fill_placeholders("${a", &values).unwrap_err().to_string();
        assert!(err.contains("line 1"), "{err}");
        assert_eq!(placeholders("${b} ${a} $${c} ${b}"), vec!["a".to_owned(), "b".to_owned()]);
    }
}
