//! `polypact certificate verify`: checks a certificate offline, as anyone
//! who knows the partnership's id can (an auditor, a partner's lawyer, a
//! receiving partnership's member), and says what it proves.
//!
//! It owns reading the certificate (hex, inline or in a file) and saying
//! what a verified one states; the rules are `cert::verify`'s.

use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::json;

use super::commands::print_json;
use polypact::cert::{self, Certificate, Statement};
use polypact::op::PartnershipId;

/// `polypact certificate verify`.
pub fn verify(input: &str, partnership: Option<&str>, json: bool) -> Result<()> {
    let text = if Path::new(input).is_file() {
        std::fs::read_to_string(input).with_context(|| format!("cannot read the certificate file {input}"))?
    } else {
        input.to_owned()
    };
    let bytes = hex::decode(text.trim()).with_context(|| {
        format!(
            "the certificate is not hex ({} characters given); pass the hex `partnership checkpoints --json` prints, or a file holding it",
            text.trim().len()
        )
    })?;
    let certificate =
        Certificate::decode(&bytes, &cert::op_limits()).context("the certificate does not decode")?;
    if let Some(expected) = partnership {
        let expected: PartnershipId = expected
            .parse()
            .with_context(|| format!("--partnership {expected:?} is not a partnership id"))?;
        if certificate.source != expected {
            bail!("the certificate is about partnership {}, not {expected}", certificate.source);
        }
    }
    let verified = cert::verify(&certificate, None, &cert::op_limits())
        .with_context(|| format!("the certificate of partnership {} does not verify", certificate.source))?;
    let what = describe(&verified.statement);
    if json {
        print_json(&json!({
            "valid": true,
            "partnership": certificate.source.to_hex(),
            "statement": what,
            "generation": verified.set.generation,
            "attested_by": verified.set.members.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "checkpoint": match &verified.statement {
                Statement::Checkpoint(c) => json!({"height": c.height, "state_root": hex::encode(c.state_root)}),
                _ => serde_json::Value::Null,
            },
        }));
    } else {
        outln!("valid: a certificate of partnership {}", certificate.source);
        outln!("it proves: {what}");
        outln!(
            "signed by every one of the {} participants of its set (generation {})",
            verified.set.members.len(),
            verified.set.generation
        );
    }
    Ok(())
}

/// One line saying what `statement` states.
fn describe(statement: &Statement) -> String {
    match statement {
        Statement::Checkpoint(c) => {
            format!("its final state at height {} has the root {}", c.height, hex::encode(c.state_root))
        }
        Statement::Message(m) => {
            format!(
                "its message {} to partnership {} for module `{}`, sent at height {}",
                m.seq, m.to, m.module, m.height
            )
        }
        Statement::Spawned(s) => {
            format!("it spawned a child partnership (its spawn {}) at height {}", s.seq, s.height)
        }
        Statement::Participants(set) => {
            format!(
                "its participant set {} of {} members, from height {}",
                set.generation,
                set.members.len(),
                set.height
            )
        }
    }
}
