//! Envelopes and sealed boxes: round trips, and everything that must not open.

use super::*;
use crate::op::MemberKey;

#[test]
fn an_envelope_opens_under_its_key_only() {
    let key = PartnershipKey::generate().expect("key");
    let other = PartnershipKey::generate().expect("key");
    let envelope = key.seal(b"record_revenue SECRET-INV-77").expect("seal");
    assert_eq!(envelope.len(), 28 + ENVELOPE_OVERHEAD);
    assert_eq!(envelope_key_id(&envelope).expect("id"), key.id());
    assert_eq!(key.open(&envelope).expect("open"), b"record_revenue SECRET-INV-77");
    assert_eq!(other.open(&envelope), Err(SealError::Open));
    // The plaintext does not show through, and two seals differ (random nonce).
    assert!(!envelope.windows(6).any(|w| w == b"SECRET"));
    assert_ne!(key.seal(b"same").expect("seal"), key.seal(b"same").expect("seal"));
}

#[test]
fn any_change_to_an_envelope_is_refused() {
    let key = PartnershipKey::from_bytes([7; 32]);
    let envelope = key.seal(b"an op").expect("seal");
    for i in 0..envelope.len() {
        let mut bent = envelope.clone();
        bent[i] ^= 0x01;
        assert!(key.open(&bent).is_err(), "byte {i} flipped and still opened");
    }
    for len in 0..envelope.len() {
        assert!(key.open(&envelope[..len]).is_err(), "truncated to {len} and still opened");
    }
    assert!(matches!(envelope_key_id(&[9; 80]), Err(SealError::Malformed { .. })));
}

#[test]
fn key_ids_are_stable_and_reveal_nothing_of_the_key() {
    let key = PartnershipKey::from_bytes([3; 32]);
    assert_eq!(key.id(), PartnershipKey::from_bytes([3; 32]).id());
    assert_ne!(key.id(), PartnershipKey::from_bytes([4; 32]).id());
    assert_ne!(&key.id().0[..], &[3u8; 32][..KEY_ID_LEN]);
    assert!(!format!("{key:?}").contains("0303"));
}

#[test]
fn a_sealed_box_opens_for_each_recipient_and_nobody_else() {
    let members: Vec<MemberKey> = (1..=4).map(MemberKey::from_seed).collect();
    let outsider = MemberKey::from_seed(9);
    let recipients: Vec<[u8; 32]> =
        members[..3].iter().map(|m| recipient_key(&m.member_id()).expect("key")).collect();
    let sealed = SealedBox::seal(&recipients, b"ctx", b"the new key").expect("seal");
    sealed.check_shape(8).expect("shape");
    for (slot, member) in members[..3].iter().enumerate() {
        assert_eq!(recipient_key(&member.member_id()).expect("key"), public_of(&member.x25519_secret()));
        assert_eq!(sealed.open_slot(slot, &member.x25519_secret(), b"ctx").expect("open"), b"the new key");
        assert_eq!(sealed.open_any(&member.x25519_secret(), b"ctx").expect("open"), b"the new key");
        // Another recipient's slot, or another context: refused.
        assert!(sealed.open_slot((slot + 1) % 3, &member.x25519_secret(), b"ctx").is_err());
        assert!(sealed.open_slot(slot, &member.x25519_secret(), b"other").is_err());
    }
    for stranger in [&members[3], &outsider] {
        assert_eq!(sealed.open_any(&stranger.x25519_secret(), b"ctx"), Err(SealError::Open));
    }
    // A changed slot or ciphertext opens for nobody.
    let mut bent = sealed.clone();
    bent.ciphertext[0] ^= 1;
    assert!(bent.open_slot(0, &members[0].x25519_secret(), b"ctx").is_err());
    let mut bent = sealed.clone();
    bent.slots[1][5] ^= 1;
    assert!(bent.open_slot(1, &members[1].x25519_secret(), b"ctx").is_err());
    assert!(bent.open_slot(0, &members[0].x25519_secret(), b"ctx").is_ok());
}

#[test]
fn malformed_boxes_and_keys_are_named() {
    let sealed = SealedBox { ephemeral: [0; 32], slots: vec![], ciphertext: vec![0; 16] };
    assert!(matches!(sealed.check_shape(4), Err(SealError::Malformed { .. })));
    let sealed = SealedBox { ephemeral: [0; 32], slots: vec![vec![0; 47]], ciphertext: vec![0; 16] };
    assert!(matches!(sealed.check_shape(4), Err(SealError::Malformed { .. })));
    // A small-order ephemeral key opens nothing.
    let sealed = SealedBox { ephemeral: [0; 32], slots: vec![vec![0; SLOT_LEN]], ciphertext: vec![0; 16] };
    assert_eq!(sealed.open_any(&MemberKey::from_seed(1).x25519_secret(), b"ctx"), Err(SealError::Open));
    // The identity point is no member's encryption key.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    assert!(recipient_key(&crate::op::MemberId(identity)).is_err());
}

#[test]
fn an_announcement_opens_for_its_founders_only_and_names_no_one() {
    use crate::op::{Charter, CodeHash, ModuleSpec, Params, PartnershipId, Payload, UnsignedOp};
    let founders: Vec<MemberKey> = (1..=3).map(MemberKey::from_seed).collect();
    let mut participants: Vec<_> = founders.iter().map(MemberKey::member_id).collect();
    participants.sort();
    let genesis = UnsignedOp {
        partnership: PartnershipId::default(),
        author: founders[0].member_id(),
        seq: 1,
        parents: vec![],
        time_ms: 1,
        payload: Payload::Genesis(Charter {
            name: "Confidential venture".into(),
            participants: participants.clone(),
            modules: vec![ModuleSpec {
                name: "guestbook".into(),
                code: CodeHash::of(b"code"),
                config: "{}".into(),
                permissions: vec![],
            }],
            params: Params::default(),
            parent: None,
        }),
    }
    .sign(&founders[0]);
    let sealed = seal_announcement(&genesis).expect("sealed");
    for founder in &founders {
        assert_eq!(open_announcement(&sealed, founder).expect("opens"), genesis.encode());
    }
    assert!(open_announcement(&sealed, &MemberKey::from_seed(9)).is_err());
    assert!(matches!(open_announcement(b"garbage", &founders[0]), Err(SealError::Malformed { .. })));
    // Neither the partnership, nor who is in it, nor its name shows.
    assert!(!sealed.windows(32).any(|w| w == genesis.partnership().0));
    for member in &participants {
        assert!(!sealed.windows(32).any(|w| w == member.0));
    }
    assert!(!sealed.windows(12).any(|w| w == b"Confidential"));
    // Opening costs tokens by its slots; the same bytes always cost the same.
    assert_eq!(announcement_cost(&sealed), 2);
    assert_eq!(announcement_cost(b"garbage"), 1);
}
