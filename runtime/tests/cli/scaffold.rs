//! `polypact module new`: the scaffolded crate's native tests pass, it
//! builds for wasm32 with `polypact module build`, and the `.wasm` runs in a
//! real node. The crate builds into `target/module-template-test` (kept
//! between runs, so only the first run compiles its dependencies).

use std::process::Command;

use serde_json::json;

use crate::api::Api;
use crate::support::{fails, ok, text};

#[test]
fn bad_names_and_occupied_directories_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let err = fails(&["module", "new", "Bad Name", "--dir", dir.path().join("x").to_str().unwrap()]);
    assert!(err.contains("Bad Name"), "{err}");
    std::fs::write(dir.path().join("file"), "x").unwrap();
    let err = fails(&["module", "new", "counter", "--dir", dir.path().to_str().unwrap()]);
    assert!(err.contains("not empty"), "{err}");
    let err = fails(&["module", "build", dir.path().to_str().unwrap()]);
    assert!(err.contains("no Cargo.toml"), "{err}");
}

/// Where scaffolded crates build (kept between runs).
pub(crate) fn template_target() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/../target/module-template-test").to_owned()
}

/// `polypact module new NAME --dir DIR`: the crate comes with the SDK
/// workspace's lock (the same versions, so nothing is fetched).
pub(crate) fn new_module(name: &str, crate_dir: &std::path::Path) {
    ok(&["module", "new", name, "--dir", crate_dir.to_str().unwrap()]);
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    assert_eq!(
        std::fs::read(crate_dir.join("Cargo.lock")).unwrap(),
        std::fs::read(format!("{root}/Cargo.lock")).unwrap(),
        "module new pins the SDK workspace's versions"
    );
}

/// `polypact module build DIR`: the code hash and the `.wasm` file.
pub(crate) fn build_module(crate_dir: &std::path::Path) -> (String, std::path::PathBuf) {
    let build = Command::new(crate::support::exe())
        .args(["module", "build", crate_dir.to_str().unwrap()])
        .env("CARGO_TARGET_DIR", template_target())
        .env("CARGO_NET_OFFLINE", "true")
        .output()
        .unwrap();
    assert!(build.status.success(), "{}", text(&build.stderr));
    let line = text(&build.stdout);
    let (hash, path) = line.trim().split_once("  ").unwrap();
    (hash.to_owned(), path.into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_module_tests_builds_and_runs_in_a_node() {
    let dir = tempfile::tempdir().unwrap();
    let crate_dir = dir.path().join("my-counter");
    new_module("my-counter", &crate_dir);
    let target = template_target();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());

    let test = Command::new(&cargo)
        .args(["test", "--offline", "--quiet"])
        .current_dir(&crate_dir)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    assert!(
        test.status.success(),
        "native tests of the new module:\n{}\n{}",
        text(&test.stdout),
        text(&test.stderr)
    );
    assert!(text(&test.stdout).contains("3 passed"), "{}", text(&test.stdout));

    let (hash, path) = build_module(&crate_dir);
    assert!(path.ends_with("my_counter.wasm"), "{}", path.display());
    let wasm = std::fs::read(path).unwrap();

    // The module loads and runs in a node.
    let api = Api::start().await;
    let (status, uploaded) = api.post_raw("/v1/code", wasm).await;
    assert_eq!(status, 201, "{uploaded}");
    assert_eq!(uploaded["hash"], json!(hash));
    let charter = format!(
        "name = \"Counter\"\nparticipants = [\"{}\"]\n[[modules]]\nname = \"counter\"\ncode = \"{hash}\"\n[modules.config]\nstep = 3\n",
        api.member
    );
    let (status, created) = api.post("/v1/partnerships", &json!({"charter": charter})).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap();
    let (status, called) = api
        .post(
            &format!("/v1/partnerships/{id}/calls"),
            &json!({"module": "counter", "msg": {"increment": {}}, "wait": "applied"}),
        )
        .await;
    assert_eq!(status, 200, "{called}");
    assert_eq!(called["outcome"]["data"], json!({"value": 3}));
}
