//! Checking a charter whole before anything is created: `charter check`,
//! and the same check that `partnership create` and `testnet demo` run
//! before they touch a node.
//!
//! One pass finds every problem: `--set` values the template does not use,
//! placeholders without a value (with what could fill them), the TOML, the
//! participants, the module code files, the charter's rules, and every
//! reference between modules that names no module of the charter (as each
//! module's code declares its references; see `polypact_sdk::references!`).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use polypact::op::{
    Charter, CharterError, CodeHash, CodeSource, MemberKey, did_you_mean, fill_placeholders, placeholders,
    reference_problems, unfilled_placeholders,
};

use super::client::Target;
use super::testnet_file::Testnet;

/// Where a charter's placeholder values come from.
#[derive(Clone, Debug, Default)]
pub struct Values {
    /// `--set NAME=VALUE`, by name.
    pub set: BTreeMap<String, String>,
    /// With `--testnet`: node name → member id, the default for the
    /// placeholder of that name.
    pub testnet: Option<BTreeMap<String, String>>,
}

impl Values {
    /// Parses `--set NAME=VALUE` items; `testnet` supplies defaults by node name.
    pub fn parse(set: &[String], testnet: Option<&Testnet>) -> Result<Values> {
        let mut values = BTreeMap::new();
        for item in set {
            let Some((name, value)) = item.split_once('=') else {
                bail!("--set {item:?}: expected NAME=VALUE, e.g. --set studio=pm1…");
            };
            values.insert(name.trim().to_owned(), value.trim().to_owned());
        }
        Ok(Values { set: values, testnet: testnet.map(Testnet::member_ids) })
    }
}

/// A charter that passed the whole check.
#[derive(Clone, Debug)]
pub struct Prepared {
    /// The placeholder values used, by name (for the node, with the template).
    pub values: BTreeMap<String, String>,
    /// Module code read from the charter's `wasm` files, by module.
    pub wasm: BTreeMap<String, Vec<u8>>,
    /// The charter.
    pub charter: Charter,
    /// Modules given by code hash, whose references only a node holding
    /// their code can check.
    pub by_hash: Vec<String>,
}

/// Checks the charter template `text` read from `path` whole; returns it
/// filled and parsed, or an error listing every problem.
pub fn prepare(path: &Path, text: &str, values: &Values) -> Result<Prepared> {
    let mut problems: Vec<String> = Vec::new();
    let names = placeholders(text);
    for given in values.set.keys() {
        if !names.contains(given) {
            let hint = did_you_mean(given, names.iter().map(String::as_str))
                .map(|n| format!("; did you mean `{n}`?"))
                .unwrap_or_default();
            let known = if names.is_empty() { "none".to_owned() } else { names.join(", ") };
            problems.push(format!(
                "--set {given}: the charter has no placeholder `${{{given}}}`{hint} (its placeholders: {known})"
            ));
        }
    }
    let mut filled_values = values.set.clone();
    for name in &names {
        if !filled_values.contains_key(name)
            && let Some(member) = values.testnet.as_ref().and_then(|t| t.get(name))
        {
            filled_values.insert(name.clone(), member.clone());
        }
    }
    // A placeholder without a value is a problem; a distinct stand-in member
    // id lets the check go on to find the others.
    let mut with_stand_ins = filled_values.clone();
    for (missing, seed) in unfilled_placeholders(text, &filled_values).into_iter().zip(200u8..=255) {
        problems.push(unfilled_message(&missing.name, &missing.lines, values, &names));
        with_stand_ins.insert(missing.name, MemberKey::from_seed(seed).member_id().to_string());
    }
    let file = path.display().to_string();
    let filled = match fill_placeholders(text, &with_stand_ins) {
        Ok(filled) => filled,
        Err(e) => {
            problems.push(e.to_string());
            bail!(describe(path, &problems));
        }
    };
    let base = path.parent().unwrap_or(Path::new("."));
    let mut wasm = BTreeMap::new();
    let mut by_hash = Vec::new();
    let checked = Charter::check_toml(&filled, &file, base, |module, source| match source {
        CodeSource::Hash(hash) => {
            by_hash.push(module.to_owned());
            Ok(hash)
        }
        CodeSource::File(file) => {
            let bytes = std::fs::read(&file).map_err(|e| {
                format!("cannot read {} ({e}); build the module first (`polypact module build DIR` or ./scripts/build-modules.sh)", file.display())
            })?;
            let hash = CodeHash::of(&bytes);
            wasm.insert(module.to_owned(), bytes);
            Ok(hash)
        }
    });
    let charter = match checked {
        Ok(charter) => Some(charter),
        Err(errors) => {
            problems.extend(errors.iter().map(|e| with_lines(&filled, e)));
            None
        }
    };
    let mut references = BTreeMap::new();
    for (module, bytes) in &wasm {
        match polypact::host::declared_references(bytes) {
            Ok(fields) => {
                references.insert(module.clone(), fields);
            }
            Err(e) => problems.push(format!("module `{module}`: {e}")),
        }
    }
    problems.extend(
        reference_problems(&filled, |module| references.get(module).cloned()).iter().map(|e| e.to_string()),
    );
    match charter {
        Some(charter) if problems.is_empty() => {
            Ok(Prepared { values: filled_values, wasm, charter, by_hash })
        }
        _ => Err(anyhow!(describe(path, &problems))),
    }
}

/// The problems of the charter at `path`, one or a list.
fn describe(path: &Path, problems: &[String]) -> String {
    match problems {
        [one] => format!("{}: {one}", path.display()),
        many => {
            let mut text = format!("{}: {} problems:", path.display(), many.len());
            for problem in many {
                text.push_str(&format!("\n  - {problem}"));
            }
            text
        }
    }
}

/// What to say about a placeholder without a value: where it is, and what
/// could fill it.
fn unfilled_message(name: &str, lines: &[usize], values: &Values, all: &[String]) -> String {
    let at = match lines {
        [one] => format!("line {one}"),
        many => format!("lines {}", many.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")),
    };
    let mut text = format!("{at}: no value for placeholder `${{{name}}}`");
    let mut known: Vec<&str> = values.set.keys().map(String::as_str).collect();
    match &values.testnet {
        Some(nodes) => {
            known.extend(nodes.keys().map(String::as_str));
            let listed: Vec<String> =
                nodes.iter().map(|(node, member)| format!("{node} ({member})")).collect();
            text.push_str(&format!(
                "; --testnet fills a placeholder with the member id of the testnet node of the same name, and this testnet's nodes are {}. Name the nodes after the charter's placeholders (`polypact testnet up --names {}`), or give one of those member ids with --set {name}=MEMBER_ID",
                listed.join(", "),
                all.join(",")
            ));
        }
        None => {
            let given = if values.set.is_empty() { "none".to_owned() } else { known.join(", ") };
            text.push_str(&format!(
                "; give it with --set {name}=VALUE (a partner's member id, pm1…; values given: {given})"
            ));
        }
    }
    if let Some(close) = did_you_mean(name, known) {
        text.push_str(&format!("; did you mean `{close}`?"));
    }
    text
}

/// A charter error, with the lines of the charter it is about when the
/// message alone does not say.
fn with_lines(text: &str, error: &CharterError) -> String {
    let message = error.to_string();
    let about_lines = matches!(error, CharterError::Invalid(_) | CharterError::Code { .. });
    match where_in(text, &message).filter(|_| about_lines) {
        Some(lines) => format!("{message} ({lines})"),
        None => message,
    }
}

/// For charter rules checked after parsing (no line in the error): the
/// lines of the charter the error is about, as "line 4" or "lines 4, 9".
fn where_in(text: &str, message: &str) -> Option<String> {
    let lines: Vec<usize> =
        if let Some(name) = message.split('`').nth(1).filter(|_| message.contains("module")) {
            // `module name `x` …`: the lines naming that module.
            let wanted = format!("name = \"{name}\"");
            text.lines().enumerate().filter(|(_, l)| l.trim() == wanted).map(|(i, _)| i + 1).collect()
        } else if message.contains("participant") {
            text.lines()
                .enumerate()
                .filter(|(_, l)| l.trim_start().starts_with("participants"))
                .map(|(i, _)| i + 1)
                .collect()
        } else {
            Vec::new()
        };
    match lines.as_slice() {
        [] => None,
        [one] => Some(format!("line {one}")),
        many => {
            Some(format!("lines {}", many.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")))
        }
    }
}

/// `polypact charter check`.
pub fn check(target: &Target, path: &Path, set: &[String]) -> Result<()> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the charter {}", path.display()))?;
    let testnet = target.testnet.as_deref().map(Testnet::load).transpose()?;
    let values = Values::parse(set, testnet.as_ref())?;
    let prepared = prepare(path, &text, &values)?;
    for module in &prepared.by_hash {
        errln!(
            "note: module `{module}` is given by code hash; the node checks its references when the partnership is created"
        );
    }
    let charter = &prepared.charter;
    outln!(
        "{}: ok: \"{}\", {} participant(s), {} module(s) ({})",
        path.display(),
        charter.name,
        charter.participants.len(),
        charter.modules.len(),
        charter.modules.iter().map(|m| m.name.as_str()).collect::<Vec<_>>().join(", ")
    );
    Ok(())
}
