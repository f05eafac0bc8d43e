//! The membership module's errors.
//!
//! This file owns [`MembershipError`], the reasons a membership call or
//! query fails; its text is what the caller sees, so other modules and
//! tests match on it (an unknown member's ends with
//! [`membership_api::NOT_A_MEMBER`]). It does not own when each is raised
//! (`contract.rs`).

use crate::contract::MAX_ROLE_LEN;

/// Why a membership call failed; the caller sees the text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MembershipError {
    /// Storage, decoding or a query failed.
    #[error(transparent)]
    Sdk(#[from] polypact_sdk::Error),
    /// The config names no founding member.
    #[error("the config must name at least one founding member")]
    NoMembers,
    /// A founding member is named twice.
    #[error("founding member {0} is listed twice")]
    DuplicateMember(String),
    /// A founding member is not a participant of the partnership.
    #[error(
        "founding member {0} is not a participant of the partnership; initial members must be the charter's participants (or partnerships, pp1…)"
    )]
    NotParticipant(String),
    /// A manager module name is empty, repeated, or the governance module.
    #[error("managers must name distinct module instances other than the governance module, got {0:?}")]
    BadManager(String),
    /// A transfer that moves nothing, or to the same member.
    #[error("invalid transfer: {0}")]
    BadTransfer(String),
    /// A member holds fewer units than asked for.
    #[error("{member} holds {held} {what}, fewer than the {wanted} asked for")]
    Insufficient {
        /// The member.
        member: String,
        /// `voting units` or `economic units`.
        what: &'static str,
        /// What it holds.
        held: u64,
        /// What was asked for.
        wanted: u64,
    },
    /// The governance module name is empty.
    #[error("governance must name the module whose messages may change membership")]
    NoGovernance,
    /// Zero voting and zero economic units.
    #[error("{0} would hold no units; give it voting_units or economic_units above 0")]
    ZeroUnits(String),
    /// A role name is empty or too long.
    #[error("role names must be 1 to {MAX_ROLE_LEN} characters, got {0:?}")]
    BadRole(String),
    /// Not a member at all.
    #[error("{0} is not a member")]
    UnknownMember(String),
    /// A former member.
    #[error("{0} is no longer a member")]
    FormerMember(String),
    /// Already a current member.
    #[error("{0} is already a member")]
    AlreadyMember(String),
    /// The caller may not do this.
    #[error("not allowed: {0}")]
    NotAllowed(String),
    /// No such invitation.
    #[error("there is no pending invitation for {0}")]
    NoInvitation(String),
    /// The sponsor field is someone else.
    #[error("the sponsor must be the caller ({caller}), not {sponsor}")]
    SponsorMismatch {
        /// The caller.
        caller: String,
        /// The sponsor named.
        sponsor: String,
    },
    /// Admission without terms.
    #[error("{0} has no pending application or invitation; give voting_units or economic_units")]
    NoTerms(String),
    /// Units would overflow.
    #[error("units would overflow")]
    Overflow,
    /// Role already held, or not held.
    #[error("{member} {what} role {role:?}")]
    Role {
        /// The member.
        member: String,
        /// `already has` or `does not have`.
        what: &'static str,
        /// The role.
        role: String,
    },
}

/// The result of membership's functions.
pub type Result<T> = core::result::Result<T, MembershipError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_member_reads_as_one_to_the_modules_that_ask() {
        let text = MembershipError::UnknownMember("pm1x".into()).to_string();
        assert!(membership_api::is_unknown_member(&text), "{text}");
        assert!(!membership_api::is_unknown_member(
            &MembershipError::FormerMember("pm1x".into()).to_string()
        ));
    }
}
