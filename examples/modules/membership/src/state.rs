//! The membership module's state: what is stored under which key.
//!
//! This file owns the storage layout and the voting-power checkpoints
//! (writing them, and reading a member's or the total voting units at a
//! past height). It does not own the rules that change the state
//! (`contract.rs`).
//!
//! | name | type | what |
//! |---|---|---|
//! | `config` | `Item<Config>` | the governance module's name, and the manager modules |
//! | `totals` | `Item<Totals>` | sums over active members, and the count |
//! | `members` | `Map<&str, Member>` | every member ever admitted; former ones inactive, keeping their economic claim |
//! | `vp` | `Map<(&str, u64), u64>` | voting-unit checkpoints, keyed by `u64::MAX - height` so the newest comes first |
//! | `total_vp` | `Map<u64, u64>` | total voting-unit checkpoints, same keying |
//! | `invitations` | `Map<&str, Terms>` | pending invitations |
//! | `applications` | `Map<&str, Terms>` | pending sponsored applications |

use polypact_sdk::{Ctx, Error, Item, Map, QueryCtx};

use crate::msg::{Acceptance, Config, Member, PendingAdmission, Terms, Totals};

/// The config.
pub const CONFIG: Item<Config> = Item::new("config");
/// Sums over current members.
pub const TOTALS: Item<Totals> = Item::new("totals");
/// Every member ever admitted, by id.
pub const MEMBERS: Map<&str, Member> = Map::new("members");
/// Voting-unit checkpoints: (member, `u64::MAX - height`) → units.
pub const VP: Map<(&str, u64), u64> = Map::new("vp");
/// Total voting-unit checkpoints: `u64::MAX - height` → units.
pub const TOTAL_VP: Map<u64, u64> = Map::new("total_vp");
/// Pending invitations, by invitee.
pub const INVITATIONS: Map<&str, Terms> = Map::new("invitations");
/// Pending sponsored applications, by applicant.
pub const APPLICATIONS: Map<&str, Terms> = Map::new("applications");
/// Admissions waiting for the newcomer's acceptance of the terms.
pub const PENDING: Map<&str, PendingAdmission> = Map::new("pending");
/// What each member accepted, and when.
pub const ACCEPTANCES: Map<&str, Acceptance> = Map::new("acceptances");

/// Checkpoint keys sort newest first.
fn rev(height: u64) -> u64 {
    u64::MAX - height
}

/// Records `member`'s voting units at the end of this op's height.
pub fn checkpoint(ctx: &mut Ctx, member: &str, units: u64) -> Result<(), Error> {
    let h = rev(ctx.height());
    VP.save(ctx, (member, h), &units)
}

/// Saves the totals and checkpoints the total voting units.
pub fn save_totals(ctx: &mut Ctx, totals: &Totals) -> Result<(), Error> {
    TOTALS.save(ctx, totals)?;
    let h = rev(ctx.height());
    TOTAL_VP.save(ctx, h, &totals.voting_units)
}

/// A member's voting units at the end of `height` (0 before its first checkpoint).
pub fn units_at(ctx: &QueryCtx, member: &str, height: u64) -> Result<u64, Error> {
    // Keys are u64::MAX - h; the first key >= rev(height) is the newest checkpoint at or before height.
    let start = rev(height).checked_sub(1);
    let page = match start {
        Some(s) => VP.prefix(member).range(ctx, Some(s), 1)?,
        None => VP.prefix(member).range(ctx, None, 1)?,
    };
    Ok(page.first().map(|(_, u)| *u).unwrap_or(0))
}

/// Total voting units at the end of `height`.
pub fn total_units_at(ctx: &QueryCtx, height: u64) -> Result<u64, Error> {
    let page = match rev(height).checked_sub(1) {
        Some(s) => TOTAL_VP.range(ctx, Some(s), 1)?,
        None => TOTAL_VP.range(ctx, None, 1)?,
    };
    Ok(page.first().map(|(_, u)| *u).unwrap_or(0))
}
