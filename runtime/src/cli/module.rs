//! `polypact module new|build|hash`: scaffold a module crate from
//! `runtime/templates/module`, build one for wasm32 and print its code hash.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use polypact::op::CodeHash;

/// The module template: (path in the new crate, contents). The sources are
/// laid out as the standard modules' are (`lib.rs`, `msg.rs`, `state.rs`,
/// `error.rs`, `contract.rs`).
const TEMPLATE: &[(&str, &str)] = &[
    ("Cargo.toml", include_str!("../../templates/module/Cargo.toml.tmpl")),
    ("README.md", include_str!("../../templates/module/README.md.tmpl")),
    (".gitignore", include_str!("../../templates/module/gitignore.tmpl")),
    ("src/lib.rs", include_str!("../../templates/module/src/lib.rs.tmpl")),
    ("src/msg.rs", include_str!("../../templates/module/src/msg.rs.tmpl")),
    ("src/state.rs", include_str!("../../templates/module/src/state.rs.tmpl")),
    ("src/error.rs", include_str!("../../templates/module/src/error.rs.tmpl")),
    ("src/contract.rs", include_str!("../../templates/module/src/contract.rs.tmpl")),
    ("tests/module.rs", include_str!("../../templates/module/tests/module.rs.tmpl")),
];

/// The SDK of this checkout.
fn default_sdk() -> PathBuf {
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk");
    sdk.canonicalize().unwrap_or(sdk)
}

/// `polypact module new`.
pub fn new(name: &str, dir: Option<PathBuf>, sdk: Option<PathBuf>) -> Result<()> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !valid {
        bail!("module name {name:?}: start with a-z, then a-z, 0-9, `-` or `_` (at most 64)");
    }
    let dir = dir.unwrap_or_else(|| PathBuf::from(name));
    if dir.exists() && std::fs::read_dir(&dir).map(|mut d| d.next().is_some()).unwrap_or(true) {
        bail!("{} already exists and is not empty; pick another name or --dir", dir.display());
    }
    let sdk = sdk.unwrap_or_else(default_sdk);
    if !sdk.join("Cargo.toml").exists() {
        bail!("no polypact SDK at {}; give its directory with --sdk DIR", sdk.display());
    }
    let sdk_text = sdk.display().to_string().replace('\\', "\\\\").replace('"', "\\\"");
    for (path, template) in TEMPLATE {
        let text = template
            .replace("{{name}}", name)
            .replace("{{crate}}", &name.replace('-', "_"))
            .replace("{{sdk}}", &sdk_text);
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&target, text).with_context(|| format!("cannot write {}", target.display()))?;
    }
    // The SDK's workspace lock pins the versions the SDK was tested with, so
    // the module builds the same bytes (the same code hash) on every
    // partner's machine, and offline.
    let lock = sdk.join("../Cargo.lock");
    if lock.exists() {
        std::fs::copy(&lock, dir.join("Cargo.lock"))
            .with_context(|| format!("cannot copy {} into the new crate", lock.display()))?;
    }
    outln!("created module crate `{name}` in {}", dir.display());
    outln!("  test it:  cd {} && cargo test", dir.display());
    outln!("  build it: polypact module build {}", dir.display());
    Ok(())
}

/// `polypact module hash`.
pub fn hash(file: &Path) -> Result<()> {
    let wasm = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    outln!("{}  {}", CodeHash::of(&wasm), file.display());
    Ok(())
}

/// `polypact module build`: `cargo build --release --target
/// wasm32-unknown-unknown` with LTO and one codegen unit (modules run on
/// every op; whole-program optimisation makes them faster and smaller), and
/// the hash of the `.wasm` cargo reports.
pub fn build(path: &Path) -> Result<PathBuf> {
    let manifest = path.join("Cargo.toml");
    if !manifest.exists() {
        bail!("{} has no Cargo.toml: give the module crate's directory", path.display());
    }
    errln!("building {} for wasm32 (release)…", path.display());
    let output = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-unknown-unknown",
            "--message-format=json-render-diagnostics",
            "--manifest-path",
        ])
        .arg(&manifest)
        .env("CARGO_PROFILE_RELEASE_LTO", "true")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "1")
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("cannot run cargo; is Rust installed?")?;
    if !output.status.success() {
        bail!(
            "cargo build failed (see above); if the target is missing run `rustup target add wasm32-unknown-unknown`"
        );
    }
    let manifest = manifest.canonicalize().unwrap_or(manifest);
    let mut wasm = None;
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        if message["reason"] != "compiler-artifact" {
            continue;
        }
        let own = message["manifest_path"].as_str().is_some_and(|m| Path::new(m) == manifest);
        for file in message["filenames"].as_array().into_iter().flatten().filter_map(|f| f.as_str()) {
            if own && file.ends_with(".wasm") {
                wasm = Some(PathBuf::from(file));
            }
        }
    }
    let wasm =
        wasm.context("cargo built no .wasm; is the crate a cdylib (`crate-type = [\"cdylib\", \"rlib\"]`)?")?;
    let bytes = std::fs::read(&wasm).with_context(|| format!("cannot read {}", wasm.display()))?;
    outln!("{}  {}", CodeHash::of(&bytes), wasm.display());
    Ok(wasm)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Every file under `templates/module` is one `module new` writes (a
    /// template file left out of [`TEMPLATE`] would silently be missing
    /// from new crates).
    #[test]
    fn every_template_file_is_written() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/module");
        let mut pending = vec![root];
        let mut files = Vec::new();
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    pending.push(path);
                } else {
                    files.push(path);
                }
            }
        }
        assert_eq!(files.len(), TEMPLATE.len(), "{files:?}");
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            assert!(TEMPLATE.iter().any(|(_, t)| *t == text), "{} is not in TEMPLATE", file.display());
        }
    }
}
