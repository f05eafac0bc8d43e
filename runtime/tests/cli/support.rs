//! Helpers: run the binary, start a node process, a one-partner charter.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// The binary under test.
pub fn exe() -> &'static str {
    env!("CARGO_BIN_EXE_polypact")
}

/// Runs `polypact args…`; returns the output.
pub fn run(args: &[&str]) -> Output {
    Command::new(exe()).args(args).env_remove("POLYPACT_TOKEN").env_remove("POLYPACT_NODE").output().unwrap()
}

/// Runs and expects success; returns stdout.
pub fn ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "polypact {args:?} failed:\nstdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Runs and expects failure; returns stderr.
pub fn fails(args: &[&str]) -> String {
    let out = run(args);
    assert!(!out.status.success(), "polypact {args:?} should fail:\nstdout: {}", text(&out.stdout));
    text(&out.stderr)
}

/// Bytes as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A home created by `polypact init`, with its member id.
pub struct TestHome {
    pub dir: PathBuf,
    pub member: String,
}

impl TestHome {
    /// `polypact init` in `parent/name` with a free API port.
    pub fn init(parent: &Path, name: &str) -> TestHome {
        let dir = parent.join(name);
        // Port 0: the OS picks free ports when the node binds; the node
        // records its API URL in the home, where the CLI finds it.
        let args = ["init", "--api", "127.0.0.1:0", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"];
        let out = ok(&[&["--home", dir.to_str().unwrap()][..], &args[..]].concat());
        let member = out.lines().find_map(|l| l.strip_prefix("member")).unwrap().trim().to_owned();
        assert!(member.starts_with("pm1"), "{out}");
        TestHome { dir, member }
    }

    /// The running node's API URL (from the home's api.url).
    pub fn api_url(&self) -> String {
        std::fs::read_to_string(self.dir.join("api.url")).unwrap().trim().to_owned()
    }

    /// `--home DIR` arguments.
    pub fn home(&self) -> String {
        self.dir.to_str().unwrap().to_owned()
    }

    /// Runs `polypact --home DIR args…`.
    pub fn run(&self, args: &[&str]) -> Output {
        let mut all = vec!["--home", self.dir.to_str().unwrap()];
        all.extend_from_slice(args);
        run(&all)
    }

    /// Runs and expects success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let mut all = vec!["--home", self.dir.to_str().unwrap()];
        all.extend_from_slice(args);
        ok(&all)
    }

    /// Runs and expects failure; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let mut all = vec!["--home", self.dir.to_str().unwrap()];
        all.extend_from_slice(args);
        fails(&all)
    }

    /// The running node's first p2p address (with `/p2p/<peer id>`).
    pub fn p2p_addr(&self) -> String {
        let info = json(&self.ok(&["info", "--json"]));
        info["p2p_listen"][0].as_str().unwrap().to_owned()
    }

    /// The API token.
    pub fn token(&self) -> String {
        std::fs::read_to_string(self.dir.join("api.token")).unwrap().trim().to_owned()
    }

    /// Starts `polypact node` and waits until it says it runs.
    pub fn start(&self) -> NodeProcess {
        self.start_with(&[])
    }

    /// Starts `polypact node` with more flags (`--bootstrap ADDR`, …) and
    /// waits until it says it runs.
    pub fn start_with(&self, flags: &[&str]) -> NodeProcess {
        let mut child = Command::new(exe())
            .args(["--home", self.dir.to_str().unwrap(), "node"])
            .args(flags)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let mut seen = String::new();
        loop {
            let line =
                lines.next().unwrap_or_else(|| panic!("the node exited before it ran: {seen}")).unwrap();
            seen.push_str(&line);
            seen.push('\n');
            if line.starts_with("api") {
                break;
            }
        }
        // Keep reading so the node never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        NodeProcess { child }
    }
}

/// A running node process; stopped (SIGTERM, then waited for) on drop.
pub struct NodeProcess {
    pub child: Child,
}

impl NodeProcess {
    /// Stops it with SIGTERM and returns whether it exited cleanly.
    pub fn stop(&mut self) -> bool {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        self.child.wait().map(|s| s.success()).unwrap_or(false)
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.stop();
        }
    }
}

/// The built guestbook module.
pub fn guestbook_wasm_path() -> PathBuf {
    polypact::testing::module_wasm_path("guestbook")
}

/// A charter template of one partner (`${me}`) running the guestbook.
pub fn solo_charter(dir: &Path) -> PathBuf {
    let path = dir.join("solo.toml");
    let text = format!(
        "name = \"Solo venture\"\nparticipants = [\"${{me}}\"]\n\n[[modules]]\nname = \"guestbook\"\nwasm = \"{}\"\n",
        guestbook_wasm_path().display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// Parses JSON output.
pub fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}
