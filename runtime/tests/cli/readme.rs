//! The README's tour, run exactly as written: the shell blocks between
//! `<!-- tour:start -->` and `<!-- tour:end -->`, in one bash with
//! `set -euo pipefail`, from the repository root, with the binary under test
//! first on `PATH`.

use std::path::Path;
use std::process::Command;

use crate::support::{exe, text};

/// The tour's shell blocks, in order.
fn tour_script(readme: &str) -> String {
    let start = readme.find("<!-- tour:start -->").expect("the README marks its tour");
    let end = readme.find("<!-- tour:end -->").expect("the README marks the tour's end");
    let mut script = String::from("set -euo pipefail\n");
    let mut in_block = false;
    for line in readme[start..end].lines() {
        if line.trim_start().starts_with("```") {
            in_block = line.trim() == "```sh";
            continue;
        }
        if in_block {
            script.push_str(line);
            script.push('\n');
        }
    }
    script
}

#[test]
fn the_readme_tour_runs_as_written() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let script = tour_script(&readme);
    assert!(script.lines().count() > 10, "the tour has commands: {script}");
    let bin_dir = Path::new(exe()).parent().unwrap();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(&root)
        .env("PATH", path)
        .env("TMPDIR", tmp.path())
        // The tour builds a module: into the scaffold tests' target
        // directory, so only the first run compiles its dependencies.
        .env("CARGO_TARGET_DIR", crate::scaffold::template_target())
        .env("CARGO_NET_OFFLINE", "true")
        .env_remove("POLYPACT_TOKEN")
        .env_remove("POLYPACT_NODE")
        .output()
        .unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    // Whatever happened, stop the testnet the tour started.
    if let Ok(entries) = std::fs::read_dir(tmp.path()) {
        for entry in entries.flatten() {
            let dir = entry.path().join("testnet");
            if dir.join("testnet.json").exists() {
                let _ = Command::new(exe()).args(["testnet", "down", "--dir"]).arg(&dir).output();
            }
        }
    }
    assert!(out.status.success(), "the tour failed\nstdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("refused, as expected"), "the self-confirmation is refused: {stdout}");
    assert!(stderr.contains("may not confirm it"), "with the module's error: {stderr}");
    assert!(stdout.contains("\"economic_units\""), "the membership totals are shown: {stdout}");
    assert!(stdout.contains("owed to you 4,800.00"), "the telco's portfolio shows its claim: {stdout}");
    assert!(stdout.contains("\"value\": 5"), "the module voted in counts: {stdout}");
}
