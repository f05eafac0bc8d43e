//! `polypact store check`: a stopped node's store, written by a real node
//! running the guestbook `.wasm`, checks whole; the command refuses a home
//! without a store and a store its node holds open, and names each damaged
//! record and exits 1 when one is damaged. A node started on the damaged
//! store runs, and names the partnership it cannot load.

use polypact::home::Home;
use redb::ReadableTable;

use crate::support::{TestHome, json, solo_charter, text};

#[test]
fn a_stopped_nodes_store_checks_whole_and_damage_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let home = TestHome::init(dir.path(), "h");
    let err = home.fails(&["store", "check"]);
    assert!(err.contains("there is no store") && err.contains("a node has not run"), "{err}");

    let mut node = home.start();
    let charter = solo_charter(dir.path());
    let me = format!("me={}", home.member);
    let id = home.ok(&["partnership", "create", charter.to_str().unwrap(), "--set", &me]).trim().to_owned();
    for n in 0..3 {
        let msg = format!("{{\"sign\":{{\"message\":\"entry {n}\"}}}}");
        home.ok(&["call", &id, "guestbook", &msg, "--wait", "final"]);
    }
    let err = home.fails(&["store", "check"]);
    assert!(err.contains("already open") && err.contains("stop the node first"), "{err}");
    assert!(node.stop(), "the node stops cleanly");

    let human = home.ok(&["store", "check"]);
    assert!(human.contains("partnerships  1") && human.contains("damage        none"), "{human}");
    let report = json(&home.ok(&["store", "check", "--json"]));
    assert_eq!(report["damage"], serde_json::json!([]), "{report}");
    assert!(report["ops"].as_u64().unwrap() >= 4, "the genesis and three calls: {report}");
    assert_eq!(report["roots_checked"], 1, "the final state is checked against its root: {report}");

    // One bit of the saved snapshot record, changed in place.
    let path = Home::open(&home.dir).unwrap().data_dir().join(polypact::node::STORE_FILE);
    {
        let db = redb::Database::open(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let definition: redb::TableDefinition<&[u8; 32], &[u8]> =
                redb::TableDefinition::new("final_meta");
            let mut table = txn.open_table(definition).unwrap();
            let key: [u8; 32] = hex::decode(&id).unwrap().try_into().unwrap();
            let mut value = table.get(&key).unwrap().unwrap().value().to_vec();
            value[2] ^= 0x40;
            table.insert(&key, value.as_slice()).unwrap();
        }
        txn.commit().unwrap();
    }
    // The node starts, and says which partnership it cannot load.
    let mut node = home.start();
    let info = json(&home.ok(&["info", "--json"]));
    assert_eq!(info["partnerships_unavailable"][0]["id"], id.as_str(), "{info}");
    assert!(info["partnerships_unavailable"][0]["error"].as_str().unwrap().contains("checksum"), "{info}");
    assert!(home.ok(&["info"]).contains(&format!("unavailable {id}: ")));
    let err = home.fails(&["partnership", "show", &id]);
    assert!(err.contains("snapshot record"), "{err}");
    assert!(node.stop());
    let out = home.run(&["store", "check"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains(&format!("damaged: partnership {id}, final state:")), "{err}");
    assert!(err.contains("checksum") && err.contains("1 damaged record(s)"), "{err}");
    assert!(text(&out.stdout).contains("damage        1"), "{}", text(&out.stdout));
}
