//! Tests of the web console the node serves: signing in, sessions, CSRF
//! and what is reachable, over real HTTP against nodes in process
//! (`auth`); and the whole console in a real headless Chromium driving a
//! real 2-node testnet of node processes (`browser`), which saves a
//! screenshot of each main view under `target/console-screenshots/`.
//!
//! The browser test needs Chromium and chromedriver (Debian: `apt-get
//! install -y chromium chromium-driver`; `./scripts/test.sh` installs them
//! where it can) and the standard modules built for wasm32
//! (`./scripts/build-modules.sh`). Without Chromium it fails and says so;
//! `POLYPACT_SKIP_BROWSER_TESTS=1` skips it explicitly.
//! `POLYPACT_UPDATE_SCREENSHOTS=1` also copies the screenshots into
//! `docs/screenshots/` (the README's).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests

mod auth;
mod browser;
mod support;
