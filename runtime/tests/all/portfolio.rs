//! The portfolio (`polypact::portfolio::gather`) of a member in three
//! overlapping partnerships built from the example charters, read from its
//! real node: what is owed to and by it per asset, what waits for it, the
//! deadlines, the overlaps, and a partnership whose module cannot be read
//! shown with its problem beside the others.

use polypact::node::now_ms;
use polypact::portfolio::overlaps::OverlapKind;
use polypact::portfolio::{
    Amount, DeadlineKind, Flow, Holding, MoneyKind, Options, Portfolio, WaitingKind, gather,
};

#[path = "../fixtures/portfolio_world.rs"]
mod world;

use world::{B, C, D, DAY, JV_FIRST_REVIEW, JV_MILESTONES, JV_TERM_END, ME, World};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

fn holding<'a>(view: &'a Portfolio, id: &polypact::op::PartnershipId) -> &'a Holding {
    view.holding(&id.to_hex()).unwrap_or_else(|| panic!("no row for {id}"))
}

/// `(kind, at_ms, overdue)` of a row's deadlines, in order.
fn deadlines(h: &Holding) -> Vec<(DeadlineKind, u64, bool)> {
    h.deadlines.iter().map(|d| (d.kind, d.at_ms, d.overdue)).collect()
}

/// `(kind, id, until)` of a row's waiting items, in order.
fn waiting(h: &Holding) -> Vec<(WaitingKind, Option<u64>, Option<u64>)> {
    h.waiting.iter().map(|w| (w.kind, w.id, w.until_ms)).collect()
}

/// `(asset, exponent, owed to, owed by, paid unconfirmed, partnerships)` of a total.
type Total<'a> = (&'a str, Option<u8>, u128, u128, u128, usize);

/// `(asset, exponent, owed to, owed by, paid unconfirmed)` of a row.
fn money(h: &Holding) -> Vec<(&str, Option<u8>, u128, u128, u128)> {
    h.money
        .iter()
        .map(|l| (l.asset.as_str(), l.exponent, l.owed_to_me.0, l.owed_by_me.0, l.paid_unconfirmed.0))
        .collect()
}

#[test]
fn a_partner_in_three_partnerships_sees_what_it_is_owed_and_owes_what_waits_and_what_comes() {
    let world: World = world::build(now_ms());
    let now = world.present + 1000;
    let rt = runtime();
    let view = rt.block_on(async {
        let running = world.start();
        let view =
            gather(&running.handle, &Options { now_ms: now, final_state: false }).await.expect("gather");
        let final_view =
            gather(&running.handle, &Options { now_ms: now, final_state: true }).await.expect("gather");
        running.handle.shutdown().await.expect("shutdown");
        // Everything was acked by every partner: the final state says the same.
        assert!(final_view.final_state && !view.final_state);
        assert_eq!(final_view.partnerships, view.partnerships, "all final: the same figures");
        view
    });
    let me = &world.members[ME];
    assert_eq!(view.member, *me);
    assert_eq!(view.now_ms, now);
    let names: Vec<&str> = view.partnerships.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Broken books",
            "Five-member consortium",
            "Studio and Telco joint venture",
            "Studio, Telco and Bank joint venture (testnet)"
        ],
        "sorted by name"
    );

    // ---- the joint venture ----
    let jv = holding(&view, &world.jv);
    assert_eq!((jv.state.as_str(), jv.my_status.as_deref()), ("active", Some("active")));
    assert_eq!((&jv.parent, jv.children.len()), (&None, 0), "no partnership records a parent yet");
    assert_eq!(jv.participants.len(), 3, "studio, telco, mediator");
    assert!(jv.problems.is_empty(), "{:?}", jv.problems);
    let units = jv.units.as_ref().expect("a member");
    assert_eq!((units.voting, units.economic, units.active), (50, 60, true));
    assert_eq!(units.roles, ["treasurer"]);
    assert_eq!(
        money(jv),
        [("EUR", Some(2), 720_000, 60_000, 0)],
        "60% of 12,000.00 EUR owed to it; 60% of a 1,000.00 EUR capital call owed by it"
    );
    let items: Vec<(Flow, MoneyKind, Amount)> =
        jv.money[0].items.iter().map(|i| (i.flow, i.kind, i.amount)).collect();
    assert!(items.contains(&(Flow::OwedToMe, MoneyKind::Claim, Amount(720_000))), "{items:?}");
    assert!(items.contains(&(Flow::OwedByMe, MoneyKind::CapitalCall, Amount(60_000))), "{items:?}");
    let call_due = world.times["jv_call_opened"] + 30 * DAY;
    let jv_vote_closes = world.times["jv_3_closes"];
    // Proposal 2 passed: its day of voting, then two days of grace (it
    // becomes executable about when the history ends), then 30 days to
    // execute it.
    let executable_from = world.times["jv_2_proposed"] + DAY + 2 * DAY;
    let expires = executable_from + 30 * DAY;
    assert_eq!(
        waiting(jv),
        [
            (WaitingKind::Vote, Some(3), Some(jv_vote_closes)),
            (WaitingKind::PayCall, Some(0), Some(call_due)),
            (WaitingKind::Execute, Some(2), Some(expires)),
            (WaitingKind::ConfirmEntry, Some(2), None),
        ]
    );
    assert!(jv.waiting[1].what.contains("600.00 EUR toward cost entry 1"), "{}", jv.waiting[1].what);
    assert_eq!(jv.waiting[2].from_ms, Some(executable_from), "in its grace period");
    assert!(jv.waiting[0].what.contains("Renew the term"), "{}", jv.waiting[0].what);
    assert!(jv.waiting[3].what.contains("500.00 EUR (INV-2)"), "{}", jv.waiting[3].what);
    let mut expected = vec![
        (DeadlineKind::ExecutableFrom, executable_from, false),
        (DeadlineKind::VoteCloses, jv_vote_closes, false),
        (DeadlineKind::ExecutionExpires, expires, false),
        (DeadlineKind::VestingCliff, world.times["grant_start"] + 60 * DAY, false),
        (DeadlineKind::KpiReview, world.jv_date(JV_FIRST_REVIEW), false),
        (DeadlineKind::NoticeEnds, world.times["notice"] + 90 * DAY, false),
        (DeadlineKind::LockupEnds, world.jv_genesis_ms + 365 * DAY, false),
        (DeadlineKind::FullyVested, world.times["grant_start"] + 365 * DAY, false),
        (DeadlineKind::TermEnds, world.jv_date(JV_TERM_END), false),
        (DeadlineKind::CallDue, call_due, false),
    ];
    for (_, due) in JV_MILESTONES {
        expected.push((DeadlineKind::Milestone, world.jv_date(due), false));
    }
    expected.sort_by_key(|(kind, at, _)| (*at, *kind));
    assert_eq!(deadlines(jv), expected);
    assert_eq!(jv.counterparties, ["Broadcaster", "Render farm", "Streaming Co"]);

    // ---- the consortium ----
    let consortium = holding(&view, &world.consortium);
    assert!(consortium.problems.is_empty(), "{:?}", consortium.problems);
    assert_eq!(money(consortium), [("EUR", Some(2), 100_000, 0, 0)], "a fifth of 5,000.00 EUR");
    let items: Vec<(Flow, MoneyKind, Amount)> =
        consortium.money[0].items.iter().map(|i| (i.flow, i.kind, i.amount)).collect();
    assert_eq!(
        items,
        [
            (Flow::OwedToMe, MoneyKind::Claim, Amount(40_000)),
            (Flow::OwedToMe, MoneyKind::PayoutToConfirm, Amount(60_000))
        ],
        "600.00 paid by b, not yet confirmed; 400.00 still owed"
    );
    let closes_1 = world.times["consortium_1_closes"];
    let closes_2 = world.times["consortium_2_closes"];
    assert_eq!(
        waiting(consortium),
        [
            (WaitingKind::Vote, Some(1), Some(closes_1)),
            (WaitingKind::ConfirmEntry, Some(1), None),
            (WaitingKind::ConfirmPayout, Some(0), None),
        ],
        "the member already voted on proposal 2"
    );
    assert_eq!(
        deadlines(consortium),
        [(DeadlineKind::VoteCloses, closes_2, false), (DeadlineKind::VoteCloses, closes_1, false)]
    );

    // ---- the trio ----
    let trio = holding(&view, &world.trio);
    assert!(trio.problems.is_empty(), "{:?}", trio.problems);
    assert_eq!(money(trio), [("EUR", Some(2), 40_000, 10_000, 40_000)]);
    let buyout = trio.money[0].items.iter().find(|i| i.flow == Flow::OwedByMe).expect("the buyout");
    assert_eq!(
        (buyout.kind, buyout.counterparty.as_deref()),
        (MoneyKind::Buyout, Some(world.members[D].as_str()))
    );
    assert!(trio.waiting.is_empty(), "{:?}", trio.waiting);
    let opened = world.times["trio_offer_opened"];
    assert_eq!(
        deadlines(trio),
        [
            (DeadlineKind::FirstRefusalEnds, opened + 60_000, false),
            (DeadlineKind::OfferCloses, opened + 120_000, false)
        ]
    );

    // ---- the partnership whose treasury cannot be read ----
    let broken = holding(&view, &world.broken);
    assert_eq!(broken.problems.len(), 1, "{:?}", broken.problems);
    assert_eq!(broken.problems[0].module.as_deref(), Some("treasury"));
    assert!(broken.problems[0].error.contains("refused the query"), "{}", broken.problems[0].error);
    assert!(broken.money.is_empty() && broken.waiting.is_empty());

    // ---- across partnerships ----
    let totals: Vec<Total<'_>> = view
        .totals
        .iter()
        .map(|t| {
            (
                t.asset.as_str(),
                t.exponent,
                t.owed_to_me.0,
                t.owed_by_me.0,
                t.paid_unconfirmed.0,
                t.partnerships.len(),
            )
        })
        .collect();
    assert_eq!(totals, [("EUR", Some(2), 860_000, 70_000, 40_000, 3)]);
    let mut three = [world.jv.to_hex(), world.consortium.to_hex(), world.trio.to_hex()];
    three.sort();
    let pair = |a: &polypact::op::PartnershipId, b: &polypact::op::PartnershipId| {
        let mut two = vec![a.to_hex(), b.to_hex()];
        two.sort();
        two
    };
    let overlaps: Vec<(OverlapKind, &str, Vec<String>)> =
        view.overlaps.iter().map(|o| (o.kind, o.counterparty.as_str(), o.partnerships.clone())).collect();
    let mut expected = vec![
        (OverlapKind::Member, world.members[B].as_str(), three.to_vec()),
        (OverlapKind::Member, world.members[C].as_str(), pair(&world.jv, &world.consortium)),
        (OverlapKind::Member, world.members[D].as_str(), pair(&world.consortium, &world.trio)),
        (OverlapKind::TreasuryCounterparty, "Broadcaster", pair(&world.jv, &world.trio)),
        (OverlapKind::TreasuryCounterparty, "Streaming Co", pair(&world.jv, &world.consortium)),
    ];
    expected.sort_by_key(|e| (e.0, e.1.to_lowercase()));
    assert_eq!(overlaps, expected);

    // The same view reads the same every time, and round-trips through JSON.
    let json = serde_json::to_value(&view).expect("json");
    assert_eq!(serde_json::from_value::<Portfolio>(json).expect("reads back"), view);
}
