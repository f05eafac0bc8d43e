//! `polypact invitations [list|accept|decline]`: partnerships announced to
//! the node by creators it has no partnership with, which it joins only
//! when its operator accepts (`GET /v1/invitations`, `POST
//! /v1/invitations/{id}/accept`, `DELETE /v1/invitations/{id}`).
//!
//! This file owns those commands and how they print; reaching the node is
//! `client.rs`.

use anyhow::{Result, bail};
use serde_json::Value;

use super::client::{Client, MIN_PREFIX, Target};
use super::commands::{duration_text, print_json};

/// `polypact invitations` (and `invitations list`).
pub async fn list(target: &Target, json: bool) -> Result<()> {
    let client = Client::connect(target)?;
    let answer = client.get("/v1/invitations").await?;
    if json {
        print_json(&answer);
        return Ok(());
    }
    let invitations = answer["invitations"].as_array().cloned().unwrap_or_default();
    if invitations.is_empty() {
        errln!("no invitations wait on this node");
        return Ok(());
    }
    let now_ms = polypact::node::now_ms();
    for invitation in &invitations {
        let received = invitation["received_ms"].as_u64().unwrap_or(now_ms);
        outln!("{}", invitation["id"].as_str().unwrap_or("?"));
        outln!("  name          {:?}", invitation["name"].as_str().unwrap_or(""));
        outln!("  created by    {}", invitation["creator"].as_str().unwrap_or("?"));
        let participants = invitation["participants"].as_array().map_or(0, Vec::len);
        outln!("  participants  {participants}");
        outln!("  received      {} ago", duration_text(now_ms.saturating_sub(received)));
    }
    errln!(
        "join one with `polypact invitations accept ID`, or drop it with `polypact invitations decline ID` (a prefix of {MIN_PREFIX} or more hex digits will do)"
    );
    Ok(())
}

/// `polypact invitations accept ID`.
pub async fn accept(target: &Target, id: &str, json: bool) -> Result<()> {
    let client = Client::connect(target)?;
    let id = invitation_id(&client, id).await?;
    let joined = client.post(&format!("/v1/invitations/{id}/accept"), &Value::Null).await?;
    if json {
        print_json(&joined);
    } else {
        outln!("{}", joined["id"].as_str().unwrap_or("?"));
        errln!("joined partnership {:?}", joined["name"].as_str().unwrap_or("?"));
    }
    Ok(())
}

/// `polypact invitations decline ID`.
pub async fn decline(target: &Target, id: &str) -> Result<()> {
    let client = Client::connect(target)?;
    let id = invitation_id(&client, id).await?;
    client.delete(&format!("/v1/invitations/{id}")).await?;
    errln!("declined {id}; its announcements are ignored until the node restarts");
    Ok(())
}

/// The whole id of the invitation `given` names: the whole id, or a prefix
/// of at least [`MIN_PREFIX`] hex digits that only one invitation starts with.
async fn invitation_id(client: &Client, given: &str) -> Result<String> {
    let prefix = given.trim().to_ascii_lowercase();
    if prefix.is_empty() || prefix.len() > 64 || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("`{given}` is not a partnership id (hex); `polypact invitations` lists the invitations");
    }
    if prefix.len() == 64 {
        return Ok(prefix);
    }
    if prefix.len() < MIN_PREFIX {
        bail!("`{given}` is too short: give at least {MIN_PREFIX} hex digits of the invitation's id");
    }
    let answer = client.get("/v1/invitations").await?;
    let matching: Vec<&str> = answer["invitations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["id"].as_str())
        .filter(|id| id.starts_with(&prefix))
        .collect();
    match matching.as_slice() {
        [id] => Ok((*id).to_owned()),
        [] => bail!("no invitation's id starts with {prefix}; `polypact invitations` lists them"),
        many => bail!(
            "{prefix} is the start of {} invitations' ids; give more digits:{}",
            many.len(),
            many.iter().map(|id| format!("\n  {id}")).collect::<String>()
        ),
    }
}
