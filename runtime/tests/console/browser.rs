//! The console in a real headless Chromium, on a real 2-node testnet (two
//! node processes over libp2p), one browser per partner: sign in; create
//! the joint venture from its charter file on the studio's console and join
//! it from the genesis on the telco's; record revenue and have the other
//! partner confirm it, live; a refused action shows the module's words;
//! propose, vote from both consoles, watch the proposal pass and execute
//! without reloading; read statements whose figures match the API's.
//! Every main view is saved as a screenshot (`target/console-screenshots/`).

use serde_json::json;

use crate::support::{Console, Driver, Testnet, api_query, eventually, repo, skip_browser_tests, wasm};

/// The standard modules of `testnet-jv.toml`.
const MODULES: [&str; 4] = ["membership", "voting", "treasury", "exit"];

/// `12,000.00` for 1200000 minor units with exponent 2 (as the console writes it).
fn eur(minor: u64) -> String {
    let whole = (minor / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{grouped}.{:02}", minor % 100)
}

async fn sign_in(console: &Console) {
    console.goto("/").await;
    // No session: the login page, never data.
    console.wait_for("#token").await;
    assert_eq!(console.path().await, "/console/login");
    console.fill("#token", "not-the-token").await;
    console.wait_for("button[type=submit]").await.click().await.unwrap();
    let error = console.wait_for_text("#login-error", "wrong token").await;
    assert!(error.contains("api.token"), "{error}");
    let source = console.client.source().await.unwrap();
    assert!(
        !source.contains("<h1>Portfolio</h1>") && !source.contains("Waiting for you"),
        "data without a session"
    );
    console.fill("#token", &console.node.token.clone()).await;
    console.wait_for("button[type=submit]").await.click().await.unwrap();
    console.wait_for_text("h1", "Portfolio").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partners_run_a_joint_venture_from_their_consoles() {
    if skip_browser_tests() {
        return;
    }
    // Screenshots of an earlier failed run would mislead.
    for entry in std::fs::read_dir(crate::support::screenshot_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().is_some_and(|n| n.to_string_lossy().starts_with("failed-")) {
            std::fs::remove_file(path).unwrap();
        }
    }
    let net = Testnet::up(&["studio", "telco"]);
    let (studio_node, telco_node) = (net.nodes[0].clone(), net.nodes[1].clone());
    let driver = Driver::start().await;
    let studio = Console::new(driver.browser("studio", 1280, 1000).await, studio_node.clone(), "studio");
    let telco = Console::new(driver.browser("telco", 1280, 1000).await, telco_node.clone(), "telco");

    // ---- sign in (a wrong token first) ----
    studio.goto("/").await;
    studio.wait_for("#token").await;
    studio.screenshot("01-login").await;
    sign_in(&studio).await;
    sign_in(&telco).await;

    // ---- create the joint venture from its charter file ----
    studio.goto("/console/new").await;
    let charter = repo().join("examples/charters/testnet-jv.toml");
    studio.wait_for("#charter").await.send_keys(charter.to_str().unwrap()).await.unwrap();
    // Choosing the file asks for its placeholders and the code files it names.
    studio.wait_for_text("#needed-files", "treasury.wasm").await;
    studio.fill("#value-studio", &studio_node.member).await;
    studio.fill("#value-telco", &telco_node.member).await;
    let files: Vec<String> = MODULES.iter().map(|m| wasm(m).to_str().unwrap().to_owned()).collect();
    studio.wait_for("#wasm").await.send_keys(&files.join("\n")).await.unwrap();
    studio.screenshot("02-create").await;
    studio.wait_for("#create button[type=submit]").await.click().await.unwrap();
    let id = eventually("the studio's console shows the new partnership", || async {
        let path = studio.path().await;
        path.strip_prefix("/console/p/").filter(|rest| rest.len() == 64).map(str::to_owned)
    })
    .await;
    studio.wait_for_text("h1", "Studio and Telco joint venture").await;

    // ---- the telco's node joins from the genesis the studio's console shows ----
    let genesis = studio.wait_for("#genesis").await.prop("value").await.unwrap().unwrap();
    assert!(genesis.len() > 100 && genesis.chars().all(|c| c.is_ascii_hexdigit()), "{genesis}");
    telco.goto("/console/new").await;
    telco.wait_for("#join #genesis").await;
    telco
        .client
        .execute("document.querySelector('#join #genesis').value = arguments[0]", vec![json!(genesis)])
        .await
        .unwrap();
    telco.wait_for("#join-wasm").await.send_keys(&files.join("\n")).await.unwrap();
    telco.wait_for("#join button[type=submit]").await.click().await.unwrap();
    telco.wait_for_path(&format!("/console/p/{id}")).await;
    telco.wait_for_text("#participants-h", "Participants").await;
    studio.goto(&format!("/console/p/{id}")).await;
    studio.wait_for_text("#finality", "Nothing").await;
    studio.screenshot("03-partnership").await;

    // ---- the studio records revenue; the telco sees it live and confirms ----
    telco.goto(&format!("/console/p/{id}/treasury")).await;
    telco.wait_for("#no-pending").await;
    telco.mark().await;
    studio.goto(&format!("/console/p/{id}/treasury")).await;
    studio.wait_for("#record").await;
    studio.wait_for("#r-kind").await.select_by_value("revenue").await.unwrap();
    studio.fill("#r-amount", "12,000.00").await;
    studio.fill("#r-reference", "INV-1").await;
    studio.fill("#r-counterparty", "Broadcaster").await;
    let done = studio.act_ok("#record button[type=submit]").await;
    assert!(done.contains("recorded"), "{done}");
    // The telco's page, not reloaded, shows the entry to confirm.
    telco.wait_for("#entry-0 button.confirm").await;
    assert!(telco.still_marked().await, "the telco's page was reloaded");
    telco.screenshot("04-treasury-confirm").await;
    let done = telco.act_ok("#entry-0 button.confirm").await;
    assert!(done.contains("confirmed"), "{done}");
    studio.wait_for_text("#balances", "12,000.00").await;

    // ---- a refused action says why, in the module's words, and changes nothing ----
    studio.fill("#d-amount", "50,000.00").await;
    let (refused, text) = studio.act("#distribute button[type=submit]").await;
    assert!(refused, "{text}");
    assert!(text.contains("treasury module refused") && text.contains("pool holds"), "{text}");
    let balances = api_query(&studio_node, &id, "treasury", json!({"balances": {}})).await;
    assert_eq!(balances["pool"]["EUR"], json!(1_200_000));
    // Distribute the whole pool (60/40 by economic units).
    studio.fill("#d-amount", "").await;
    studio.act_ok("#distribute button[type=submit]").await;
    studio.wait_for_text("#balances", "0.00").await;

    // ---- propose, vote from both consoles, pass and execute live ----
    telco.goto(&format!("/console/p/{id}/proposals")).await;
    telco.wait_for("#propose").await;
    studio.goto(&format!("/console/p/{id}/proposals")).await;
    studio.wait_for("#action").await.select_by_value("set_units").await.unwrap();
    // The form's fields for that kind arrive from the server.
    studio.wait_for("#member").await;
    studio.fill("#title", "Give the studio 55 voting units").await;
    studio.fill("#member", &studio_node.member).await;
    studio.fill("#voting_units", "55").await;
    studio.fill("#period_s", "5").await;
    studio.screenshot("05-propose").await;
    studio.wait_for("#propose button[type=submit]").await.click().await.unwrap();
    studio.wait_for_path(&format!("/console/p/{id}/proposals/1")).await;
    studio.wait_for_text("#status", "open").await;
    studio.mark().await;
    let rule = studio.wait_for("#rule").await.text().await.unwrap();
    assert!(rule.contains("more yes than no") && rule.contains("quorum: 50%"), "{rule}");
    studio.act_ok("button[data-choice=yes]").await;
    studio.wait_for_text("#my-vote", "You voted yes").await;
    // The telco's list shows the proposal without a reload; it votes too.
    telco.click("#proposal-1 a").await;
    telco.wait_for_text("#status", "open").await;
    telco.act_ok("button[data-choice=yes]").await;
    // Both votes in (100% yes); once voting closes, the execute button
    // appears on both pages without a reload.
    studio.wait_for_text("#tally tr[data-choice=yes]", "100%").await;
    studio.wait_for("#execute").await;
    assert!(studio.still_marked().await, "the studio's page was reloaded");
    studio.screenshot("06-proposal").await;
    studio.goto(&format!("/console/p/{id}/events")).await;
    studio.wait_for("#feed").await;
    telco.wait_for("#execute").await;
    // Executing settles the outcome; within the grace period the voting
    // module refuses, saying so, and the telco tries again.
    let executed = eventually("the telco's console executes proposal 1", || async {
        let (refused, text) = telco.act("#execute").await;
        if refused {
            assert!(
                text.contains("voting module refused") && text.contains("cannot be executed now"),
                "{text}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            None
        } else {
            Some(text)
        }
    })
    .await;
    assert!(executed.contains("executed"), "{executed}");
    // The studio's feed shows the execution applied, then final, live.
    studio.wait_for("#feed li[data-kind=applied]").await;
    studio.wait_for("#feed li[data-kind=final]").await;
    studio.wait_for_text("#feed", "voting").await;
    studio.screenshot("07-events").await;
    studio.goto(&format!("/console/p/{id}/proposals/1")).await;
    studio.wait_for_text("#status", "executed").await;
    let units =
        api_query(&studio_node, &id, "membership", json!({"member": {"member": studio_node.member}})).await;
    assert_eq!(units["voting_units"], json!(55));
    telco.goto(&format!("/console/p/{id}")).await;
    telco.wait_for_text("#participants-h", "Participants").await;

    // ---- statements match the API's figures ----
    telco.goto(&format!("/console/p/{id}/treasury")).await;
    telco.wait_for("#statements").await;
    for node in [&studio_node, &telco_node] {
        let api =
            api_query(&telco_node, &id, "treasury", json!({"statement": {"member": node.member}})).await;
        for field in ["earned", "paid", "pending", "owed", "capital", "recoupable"] {
            let css = format!(
                "#statements tr[data-member='{}'][data-asset='EUR'] td[data-field='{field}']",
                node.member
            );
            let (text, shown_minor) = telco.read(&css, "data-minor").await;
            let minor = api["EUR"][field].as_u64().unwrap();
            assert_eq!(shown_minor, Some(minor.to_string()), "{field}");
            assert_eq!(text, eur(minor), "{field}");
        }
    }
    let studio_earned =
        api_query(&telco_node, &id, "treasury", json!({"statement": {"member": studio_node.member}})).await;
    assert_eq!(studio_earned["EUR"]["earned"], json!(720_000), "60% of 12,000.00");
    telco.wait_for("svg.chart path.revenue").await;
    telco.wait_for("svg.chart path.distributed").await;
    telco.screenshot("08-treasury").await;

    // ---- the portfolios: nothing waits; what each is owed ----
    studio.goto("/").await;
    studio.wait_for_text(&format!("#p-{id}"), "Owed to you: 7,200.00 EUR").await;
    studio.screenshot("09-portfolio").await;
    telco.client.set_window_size(390, 844).await.unwrap();
    telco.goto("/").await;
    telco.wait_for_text(&format!("#p-{id}"), "Owed to you: 4,800.00 EUR").await;
    telco.screenshot("10-portfolio-phone").await;

    // ---- signing out ends the session ----
    studio.click(".who button").await;
    studio.wait_for("#token").await;
    studio.goto(&format!("/console/p/{id}")).await;
    studio.wait_for("#token").await;
    assert!(!studio.client.source().await.unwrap().contains(&id), "no data after signing out");

    studio.client.close().await.unwrap();
    telco.client.close().await.unwrap();
    if std::env::var("POLYPACT_UPDATE_SCREENSHOTS").is_ok_and(|v| v == "1") {
        let docs = repo().join("docs/screenshots");
        std::fs::create_dir_all(&docs).unwrap();
        for entry in std::fs::read_dir(crate::support::screenshot_dir()).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, docs.join(path.file_name().unwrap())).unwrap();
        }
    }
}
