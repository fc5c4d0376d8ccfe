//! The sled backend's tests: dedupe, arrival order, locking, recovery after an unclean stop,
//! sealing, and the burst flag, each on a real store in a temporary directory.
use super::compact::{encode_block, parse_records, Deflater};
use super::*;
use protocol::Timestamp;

pub(super) fn submission(id: &str, effort: i64, interaction: Option<&str>) -> Submission {
    let context = match interaction {
        Some(i) => format!(r#","context":{{"interaction_id":"{i}"}}"#),
        None => String::new(),
    };
    let body = format!(
        r#"{{"id":"{id}","survey":{{"id":"core-cx","version":1}},"channel":"agent","touchpoint":"billing","answers":{{"effort":{effort}}},"locale":"en"{context},"submitted_at":"2026-11-22T10:00:00Z"}}"#
    );
    protocol::parse_submission(body.as_bytes()).expect("valid")
}

/// Reopens `dir` in this process: sled's background thread lets go of the lock shortly after
/// the previous handle is dropped.
pub(super) fn reopen(dir: &Path) -> SledStore {
    open_retrying(|| SledStore::open(dir))
}

/// Opens with `open`, again while the store is locked: sled's threads may hold its file a moment
/// after the store before was dropped in this process.
pub(super) fn open_retrying(open: impl Fn() -> Result<SledStore, StoreError>) -> SledStore {
    for _ in 0..100 {
        match open() {
            Err(StoreError::Locked { .. }) => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            other => return other.expect("open"),
        }
    }
    panic!("the store stayed locked")
}

pub(super) fn put(store: &SledStore, s: &Submission) -> Put {
    store.put(s, &s.to_json(), &Bounds::NONE).expect("put")
}

#[test]
fn an_id_is_stored_once_and_conflicts_are_told_apart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = reopen(dir.path());
    let first = submission("aaaaaaaaaaaaaaaa01", 6, Some("call-1"));
    assert!(matches!(put(&store, &first), Put::Stored { .. }));
    assert_eq!(put(&store, &first), Put::Duplicate);
    assert_eq!(
        put(&store, &submission("aaaaaaaaaaaaaaaa01", 5, Some("call-1"))),
        Put::IdConflict
    );
    assert_eq!(
        put(&store, &submission("aaaaaaaaaaaaaaaa02", 6, Some("call-1"))),
        Put::AlreadyAnswered
    );
    assert!(matches!(
        put(&store, &submission("aaaaaaaaaaaaaaaa03", 6, Some("call-2"))),
        Put::Stored { .. }
    ));
    assert_eq!(store.len(), 2);
}

#[test]
fn arrival_keys_increase_and_survive_reopening() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut keys = Vec::new();
    for round in 0..2 {
        let store = reopen(dir.path());
        for i in 0..50 {
            let s = submission(&format!("bbbbbbbbbbbbbbbb{round}{i:02}"), 3, None);
            let Put::Stored { key } = put(&store, &s) else {
                panic!("not stored")
            };
            keys.push(key);
        }
        store.flush().expect("flush");
    }
    assert!(
        keys.windows(2).all(|w| w[0] < w[1]),
        "keys must strictly increase"
    );
    let store = reopen(dir.path());
    let mut seen = Vec::new();
    store
        .scan(0, u64::MAX, &mut |r| {
            seen.push(r.received_micros);
            true
        })
        .expect("scan");
    assert_eq!(seen, keys);
}

#[test]
fn a_second_process_cannot_open_the_same_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _held = reopen(dir.path());
    assert!(matches!(
        SledStore::open(dir.path()),
        Err(StoreError::Locked { .. }) | Err(StoreError::Io(_))
    ));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
    /// Against a model: whatever the order of first sends, retries, conflicting resends and
    /// second answers to an interaction, each id is stored at most once with its first content.
    #[test]
    fn dedupe_matches_a_model(ops in proptest::collection::vec((0u8..6, 1i64..4, proptest::option::of(0u8..3), proptest::bool::weighted(0.2)), 1..60)) {
        use std::collections::HashMap;
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open_retrying(|| SledStore::open_with(dir.path(), 8, 2, false));
        let mut by_id: HashMap<String, String> = HashMap::new();
        let mut interactions: HashMap<u8, String> = HashMap::new();
        for (id, effort, interaction, seal) in ops {
            if seal {
                store.flush().expect("flush");
                store.seal_now().expect("seal");
            }
            let id = format!("cccccccccccccccc{id}");
            let call = interaction.map(|i| format!("call-{i}"));
            let s = submission(&id, effort, call.as_deref());
            let json = s.to_json();
            let expected = match by_id.get(&id) {
                Some(stored) if *stored == json => Put::Duplicate,
                Some(_) => Put::IdConflict,
                None if interaction.is_some_and(|i| interactions.contains_key(&i)) => Put::AlreadyAnswered,
                None => {
                    by_id.insert(id.clone(), json.clone());
                    if let Some(i) = interaction {
                        interactions.insert(i, id.clone());
                    }
                    Put::Stored { key: 0 }
                }
            };
            let got = store.put(&s, &json, &Bounds::NONE).expect("put");
            let got = if let Put::Stored { .. } = got { Put::Stored { key: 0 } } else { got };
            proptest::prop_assert_eq!(got, expected);
        }
        let mut stored = Vec::new();
        store.scan(0, u64::MAX, &mut |r| { stored.push(r.json.to_owned()); true }).expect("scan");
        let mut expected: Vec<String> = by_id.into_values().collect();
        stored.sort();
        expected.sort();
        proptest::prop_assert_eq!(stored, expected);
    }
}

/// A crash can keep a record and lose its index entries (they are written after it, without a
/// transaction), or keep an index entry and lose its record. Neither can be provoked reliably
/// with SIGKILL, so the tests write those states directly.
#[test]
fn after_an_unclean_stop_retries_are_neither_stored_twice_nor_lost() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kept = submission("dddddddddddddddd01", 6, Some("call-7"));
    let lost = submission("dddddddddddddddd02", 5, None);
    {
        let store = reopen(dir.path());
        store.flush().expect("a checkpoint");
        // A record whose index entries did not reach the disk.
        let key = crate::clock::now_micros();
        store
            .trees
            .responses
            .insert(key.to_be_bytes(), encode(&kept, &kept.to_json(), 0))
            .expect("insert");
        // An index entry whose record did not.
        store
            .trees
            .ids
            .insert(lost.id.as_str(), &(key + 1).to_be_bytes())
            .expect("insert");
        store.trees.db.flush().expect("flush");
    }
    let store = reopen(dir.path());
    assert_eq!(
        put(&store, &kept),
        Put::Duplicate,
        "the record's index was restored"
    );
    let other_answer = submission("dddddddddddddddd03", 2, Some("call-7"));
    assert_eq!(put(&store, &other_answer), Put::AlreadyAnswered);
    assert!(
        matches!(put(&store, &lost), Put::Stored { .. }),
        "a dangling index entry is ignored"
    );
    assert_eq!(store.len(), 2);
}

pub(super) fn ids_in(store: &SledStore, from: u64, to: u64) -> Vec<String> {
    let mut ids = Vec::new();
    store
        .scan(from, to, &mut |r| {
            ids.push(
                protocol::parse_submission(r.json.as_bytes())
                    .expect("valid")
                    .id
                    .as_str()
                    .to_owned(),
            );
            true
        })
        .expect("scan");
    ids
}

#[test]
fn sealed_records_are_found_scanned_in_order_and_deduplicated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_retrying(|| SledStore::open_with(dir.path(), 8, 4, false));
    let subs: Vec<Submission> = (0..10)
        .map(|i| {
            submission(
                &format!("eeeeeeeeeeeeeeee{i:02}"),
                1 + i % 7,
                Some(&format!("call-{i}")),
            )
        })
        .collect();
    let mut keys = Vec::new();
    for (i, s) in subs.iter().enumerate() {
        let Put::Stored { key } = store
            .put_at(s, &s.to_json(), 1_000 + i as u64 * 10)
            .expect("put")
        else {
            panic!("not stored")
        };
        keys.push(key);
    }
    store.flush().expect("flush");
    assert_eq!(
        store.seal_now().expect("seal"),
        2,
        "two full blocks of four"
    );
    assert_eq!(store.trees.responses.len(), 2, "the last two stay recent");
    assert_eq!(store.len(), 10);
    let all: Vec<String> = subs.iter().map(|s| s.id.as_str().to_owned()).collect();
    assert_eq!(ids_in(&store, 0, u64::MAX), all);
    assert_eq!(
        ids_in(&store, keys[2], keys[7]),
        all[2..7].to_vec(),
        "a range across blocks"
    );
    assert_eq!(ids_in(&store, keys[9], keys[9]), Vec::<String>::new());
    assert_eq!(
        put(&store, &subs[1]),
        Put::Duplicate,
        "found inside a sealed block"
    );
    assert_eq!(
        put(&store, &submission("eeeeeeeeeeeeeeee01", 7, Some("call-1"))),
        Put::IdConflict
    );
    assert_eq!(
        put(&store, &submission("eeeeeeeeeeeeeeee99", 3, Some("call-5"))),
        Put::AlreadyAnswered
    );
}

fn kiosk(n: u32, device: &str, submitted_at: &str) -> Submission {
    let body = format!(
        r#"{{"id":"kioskkioskkiosk{n:04}","survey":{{"id":"core-cx","version":1}},"channel":"kiosk","touchpoint":"branch-queue","answers":{{"effort":4}},"locale":"en","context":{{"site_id":"branch-042","device_id":"{device}"}},"submitted_at":"{submitted_at}"}}"#
    );
    protocol::parse_submission(body.as_bytes()).expect("valid")
}

fn flags_in(store: &SledStore) -> Vec<u8> {
    let mut flags = Vec::new();
    store
        .scan(0, u64::MAX, &mut |r| {
            flags.push(r.flags);
            true
        })
        .expect("scan");
    flags
}

/// The burst rule: answers from one device given closer together than a person could give
/// them are flagged (never dropped); the spacing that counts is the answers' own
/// `submitted_at`, not when they arrive.
#[test]
fn a_burst_from_one_device_is_flagged_and_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = reopen(dir.path());
    let answers = [
        kiosk(1, "kiosk-1", "2026-11-22T10:00:00Z"),
        kiosk(2, "kiosk-1", "2026-11-22T10:00:01Z"), // one second later: a burst
        kiosk(3, "kiosk-1", "2026-11-22T10:00:02.500Z"), // still bursting
        kiosk(4, "kiosk-2", "2026-11-22T10:00:02.600Z"), // another device
        kiosk(5, "kiosk-1", "2026-11-22T10:01:00Z"), // a person's pace again
    ];
    for s in &answers {
        assert!(matches!(put(&store, s), Put::Stored { .. }));
    }
    assert_eq!(flags_in(&store), [0, FLAG_BURST, FLAG_BURST, 0, 0]);
    assert_eq!(
        put(&store, &answers[1]),
        Put::Duplicate,
        "a retry is not a burst"
    );
    // The devices' last answers survive a clean stop.
    drop(store);
    let store = reopen(dir.path());
    put(&store, &kiosk(6, "kiosk-1", "2026-11-22T10:01:01Z"));
    assert_eq!(flags_in(&store).last(), Some(&FLAG_BURST));
}

/// Regression (issue 4): a kiosk offline for days drains hundreds of queued answers within
/// seconds of reconnecting; answered at a person's pace, none of them is a burst.
#[test]
fn a_drained_offline_backlog_with_realistic_spacing_is_not_flagged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = reopen(dir.path());
    let start = Timestamp::parse("2026-11-18T08:00:00Z")
        .expect("a time")
        .unix_millis();
    let mut at = start;
    let received = crate::clock::now_micros();
    for n in 0..300u32 {
        // Between 20 s and 20 min apart, as customers come to the kiosk.
        at += 20_000 + i64::from(n % 60) * 20_000;
        let s = kiosk(n, "kiosk-3", Timestamp::from_unix_millis(at).as_str());
        // All of them arrive within the same few milliseconds.
        assert!(matches!(
            store.put_at(&s, &s.to_json(), received + u64::from(n)),
            Ok(Put::Stored { .. })
        ));
    }
    assert!(flags_in(&store).iter().all(|f| *f == 0));
}

/// Stores `subs`, flushes, and returns the records as `responses` holds them.
pub(super) fn written(store: &SledStore, subs: &[Submission]) -> Vec<(u64, sled::IVec)> {
    for s in subs {
        put(store, s);
    }
    store.flush().expect("flush");
    store
        .trees
        .responses
        .iter()
        .map(|e| {
            e.map(|(k, v)| (key_of(&k).expect("key"), v))
                .expect("entry")
        })
        .collect()
}

/// A crash between writing a block and removing its records leaves both copies.
#[test]
fn a_crash_while_sealing_leaves_no_second_copy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let subs: Vec<Submission> = (0..4)
        .map(|i| submission(&format!("ffffffffffffffff{i:02}"), 4, None))
        .collect();
    {
        let store = open_retrying(|| SledStore::open_with(dir.path(), 8, 4, false));
        let records = written(&store, &subs);
        put_block(
            &store,
            records[0].0,
            encode_block(
                &records,
                &parse_records(&records),
                store.trees.hash_key,
                &mut Deflater::default(),
            )
            .0,
        );
        store.trees.db.flush().expect("flush");
    }
    let store = reopen(dir.path());
    assert_eq!(store.len(), 4);
    assert_eq!(ids_in(&store, 0, u64::MAX).len(), 4);
    assert!(
        store.trees.ids.is_empty(),
        "the block's index replaces them"
    );
    assert_eq!(put(&store, &subs[0]), Put::Duplicate);
}

/// Writes `block` under `key` in `sealed`, as sealing does.
fn put_block(store: &SledStore, key: u64, block: Vec<u8>) {
    store
        .trees
        .sealed
        .insert(key.to_be_bytes(), block)
        .expect("a block");
}

/// `n` answers with ids `prefix` and two digits, efforts 1 to 7 in turn, and the interaction
/// `call` gives each.
pub(super) fn numbered(
    prefix: &str,
    n: i64,
    call: impl Fn(i64) -> Option<String>,
) -> Vec<Submission> {
    (0..n)
        .map(|i| submission(&format!("{prefix}{i:02}"), 1 + i % 7, call(i).as_deref()))
        .collect()
}

/// Issue 18: no answer has an `ids` or `interactions` entry; a recent one is indexed in memory,
/// a sealed one found through the blocks' index, read into memory at open, and confirmed by the
/// record itself.
#[test]
fn sealed_records_are_found_by_the_blocks_index_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let subs = numbered("abababababababab", 10, |i| {
        (i % 2 == 0).then(|| format!("call-{i}"))
    });
    {
        let store = open_retrying(|| SledStore::open_with(dir.path(), 8, 4, false));
        for s in &subs {
            assert!(matches!(put(&store, s), Put::Stored { .. }));
        }
        store.flush().expect("flush");
        assert_eq!(store.seal_now().expect("sealed"), 2);
        assert_eq!(store.trees.recent().len(), 2, "only the two recent records");
        assert!(store.trees.ids.is_empty() && store.trees.interactions.is_empty());
        assert_eq!(put(&store, &subs[3]), Put::Duplicate);
    }
    for round in 0..2 {
        let store = open_retrying(|| SledStore::open_with(dir.path(), 8, 4, false));
        assert_eq!(store.len(), 10 + round);
        for s in &subs {
            assert_eq!(put(&store, s), Put::Duplicate, "{}", s.id.as_str());
        }
        let changed = submission("abababababababab01", 7, None);
        assert_eq!(put(&store, &changed), Put::IdConflict);
        let mut other = submission("cdcdcdcdcdcdcdcd00", 4, None);
        other.context.interaction_id = subs[2].context.interaction_id.clone();
        assert_eq!(put(&store, &other), Put::AlreadyAnswered);
        let stranger = submission(
            &format!("cdcdcdcdcdcdcdcd1{round}"),
            4,
            Some(&format!("call-1{round}")),
        );
        assert!(matches!(put(&store, &stranger), Put::Stored { .. }));
        store.flush().expect("flush");
    }
}

/// Issue 18: a hash the index holds for another id (as two ids sharing a hash would) does not
/// make a new answer a duplicate: the id is confirmed in the block.
#[test]
fn a_shared_hash_is_confirmed_in_the_block() {
    let dir = tempfile::tempdir().expect("tempdir");
    let subs = numbered("efefefefefefefef", 4, |_| None);
    let newcomer = submission("efefefefefefefef99", 4, None);
    {
        let store = open_retrying(|| SledStore::open_with(dir.path(), 8, 4, false));
        let records = written(&store, &subs);
        let (mut block, _) = encode_block(
            &records,
            &parse_records(&records),
            store.trees.hash_key,
            &mut Deflater::default(),
        );
        // The first record's id hash, in the block's index, replaced by the newcomer's.
        let hash = store.trees.hash_key.hash(newcomer.id.as_str().as_bytes());
        block[17..25].copy_from_slice(&hash.to_le_bytes());
        put_block(&store, records[0].0, block);
        store.trees.db.flush().expect("flush");
    }
    let store = reopen(dir.path());
    assert!(store
        .trees
        .sealed_id(newcomer.id.as_str())
        .expect("looked up")
        .is_none());
    assert!(matches!(put(&store, &newcomer), Put::Stored { .. }));
    assert_eq!(put(&store, &subs[1]), Put::Duplicate);
}

#[test]
fn a_secret_is_made_once_and_kept_across_reopening() {
    let dir = tempfile::tempdir().expect("a directory");
    let mut made = 0;
    let first = {
        let store = reopen(dir.path());
        store
            .secret("invitation", &mut || {
                made += 1;
                Ok("first-secret".into())
            })
            .expect("made")
    };
    let store = reopen(dir.path());
    let again = store
        .secret("invitation", &mut || {
            made += 1;
            Ok("second-secret".into())
        })
        .expect("kept");
    assert_eq!(
        (first.as_str(), again.as_str()),
        ("first-secret", "first-secret")
    );
    assert_eq!(made, 1, "made once");
    let other = store
        .secret("other", &mut || Ok("another".into()))
        .expect("made");
    assert_eq!(other, "another", "each name its own");
}

#[test]
fn sessions_expire_end_and_outlive_a_restart() {
    let dir = tempfile::tempdir().expect("a directory");
    {
        let store = reopen(dir.path());
        store.open_session("old", 100, 50).expect("opened");
        store.open_session("kept", 1_000, 60).expect("opened");
        assert_eq!(store.session_expiry("old").expect("read"), Some(100));
        store.open_session("new", 2_000, 150).expect("opened");
        assert_eq!(
            store.session_expiry("old").expect("read"),
            None,
            "expired sessions are forgotten when another opens"
        );
        store.end_session("new").expect("ended");
        assert_eq!(store.session_expiry("new").expect("read"), None);
    }
    let store = reopen(dir.path());
    assert_eq!(store.session_expiry("kept").expect("read"), Some(1_000));
    assert_eq!(store.session_expiry("unknown").expect("read"), None);
}

/// Issue 19: a short link resolves to its token until it expires, across a restart.
#[test]
fn short_links_resolve_outlive_a_restart_and_are_forgotten_once_expired() {
    let dir = tempfile::tempdir().expect("a directory");
    {
        let store = reopen(dir.path());
        store.put_link("old", "token.old", 100, 50).expect("kept");
        store
            .put_link("kept", "token.kept", 1_000, 60)
            .expect("kept");
        assert_eq!(
            store.link("old").expect("read").as_deref(),
            Some("token.old")
        );
        store
            .put_link("new", "token.new", 2_000, 100)
            .expect("kept");
        assert_eq!(
            store.link("old").expect("read"),
            None,
            "links expired by now are forgotten when another is kept"
        );
    }
    let store = reopen(dir.path());
    assert_eq!(
        store.link("kept").expect("read").as_deref(),
        Some("token.kept")
    );
    assert_eq!(
        store.link("new").expect("read").as_deref(),
        Some("token.new")
    );
    assert_eq!(store.link("unknown").expect("read"), None);
}

/// An answer at `touchpoint` from `device` (at `branch-042`), submitted 2026-11-22.
fn at_touchpoint(n: u32, touchpoint: &str, device: &str) -> Submission {
    let body = format!(
        r#"{{"id":"boundedbounded{n:06}","survey":{{"id":"core-cx","version":1}},"channel":"kiosk","touchpoint":"{touchpoint}","answers":{{"effort":4}},"locale":"en","context":{{"site_id":"branch-042","device_id":"{device}"}},"submitted_at":"2026-11-22T10:00:00Z"}}"#
    );
    protocol::parse_submission(body.as_bytes()).expect("valid")
}

/// Regression (issue 13): a day holding thousands of cells, and thousands of devices, cost a
/// rewrite of all of them for every further answer. Saving writes what changed while the day
/// takes answers; once it is closed, its cells are one value, written again only when a late
/// answer changes it.
#[test]
fn one_answer_saves_what_it_changed_not_its_day() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_retrying(|| SledStore::open_with(dir.path(), 8, BLOCK_RECORDS, false));
    for n in 0..2_000 {
        let s = at_touchpoint(n, &format!("tp-{n}"), &format!("kiosk-{n}"));
        assert!(matches!(put(&store, &s), Put::Stored { .. }));
    }
    let day = crate::stats::parse_date("2026-11-22").expect("a day");
    let all = store.save_stats_closing(day).expect("saved");
    assert!(
        all > 2_000 * 150,
        "the first save writes every cell: {all} bytes"
    );
    put(&store, &at_touchpoint(5_000, "tp-7", "kiosk-7"));
    let one = store.save_stats_closing(day).expect("saved");
    assert!(
        (100..1_024).contains(&one),
        "one answer's save writes its cell and its device: {one} bytes"
    );
    assert_eq!(
        store.save_stats_closing(day).expect("saved"),
        0,
        "nothing changed"
    );
    let saved = |tag: u8| {
        store
            .trees
            .aggregates
            .iter()
            .keys()
            .filter(|k| k.as_ref().expect("key")[0] == tag)
            .count()
    };
    assert_eq!(saved(crate::stats::DAY_TAG), 0);
    assert!(saved(0) >= 2_000, "a cell on its own each");
    // The day closes: its 2 000 cells become one value.
    let packed = store.save_stats_closing(day + 1).expect("saved");
    assert_eq!((saved(crate::stats::DAY_TAG), saved(0)), (1, 0));
    assert!(packed < 2_000 * 30, "packed: {packed} bytes");
    put(&store, &at_touchpoint(5_001, "tp-8", "kiosk-8"));
    assert!(store.save_stats_closing(day + 1).expect("saved") > 0);
    assert_eq!((saved(crate::stats::DAY_TAG), saved(0)), (1, 0));
    assert_eq!(
        store.save_stats_closing(day + 1).expect("saved"),
        0,
        "nothing changed"
    );
}

/// Known values keep working past the bounds, new ones are refused, and what is known survives
/// a restart.
#[test]
fn new_values_past_the_bounds_are_refused_and_known_ones_pass_after_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bounds = Bounds {
        touchpoints: 2,
        devices: 3,
        ..Bounds::default()
    };
    let bounded =
        |store: &SledStore, s: &Submission| store.put(s, &s.to_json(), &bounds).expect("put");
    let store = reopen(dir.path());
    for (n, (touchpoint, device)) in [("a", "k1"), ("b", "k2"), ("a", "k3")].iter().enumerate() {
        let s = at_touchpoint(n as u32, touchpoint, device);
        assert!(matches!(bounded(&store, &s), Put::Stored { .. }));
    }
    let check = |store: &SledStore, n: u32| {
        assert_eq!(
            bounded(store, &at_touchpoint(n, "c", "k1")),
            Put::TooManyValues(Bounded::Touchpoint)
        );
        assert_eq!(
            bounded(store, &at_touchpoint(n + 1, "b", "k4")),
            Put::TooManyValues(Bounded::Device)
        );
        assert!(matches!(
            bounded(store, &at_touchpoint(n + 2, "b", "k3")),
            Put::Stored { .. }
        ));
    };
    check(&store, 10);
    drop(store);
    let store = reopen(dir.path());
    check(&store, 20);
    assert_eq!(store.len(), 5, "nothing refused was stored");
}

#[test]
fn actions_are_kept_in_the_order_recorded_and_closed_in_place() {
    use crate::org::agenda::Action;
    let dir = tempfile::tempdir().expect("a directory");
    let record = |id: &str, what: &str| {
        Action::record(id.into(), what, "field", None, "2026-12-01", String::new()).expect("valid")
    };
    {
        let store = reopen(dir.path());
        store.put_action(&record("900", "first")).expect("kept");
        store.put_action(&record("1000", "second")).expect("kept");
        let mut first = record("900", "first");
        first
            .close("done", "2026-12-02T00:00:00Z".into())
            .expect("closed");
        store.put_action(&first).expect("replaced");
    }
    let actions = reopen(dir.path()).actions().expect("read");
    let whats: Vec<&str> = actions.iter().map(|a| a.what.as_str()).collect();
    assert_eq!(
        whats,
        ["first", "second"],
        "in the order recorded, once each"
    );
    assert_eq!(actions[0].note.as_deref(), Some("done"));
}

/// Issue 13: the sealer and a caller (`seal_now`, a clean stop) may record the store's progress
/// at the same moment, and both must succeed: seeding the demo store warned "recording the
/// store's progress failed … No such file or directory" when the second writer's rename found
/// the first one's file gone.
#[test]
fn issue_13_two_writers_record_the_progress_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SledStore::open_quiet(dir.path()).expect("open");
    for round in 0..200u32 {
        put(
            &store,
            &submission(&format!("progressround{round:06}"), 5, None),
        );
        store.flush().expect("flush");
        let together = std::sync::Barrier::new(2);
        std::thread::scope(|scope| {
            let writers: Vec<_> = (0..2)
                .map(|_| {
                    scope.spawn(|| {
                        together.wait();
                        store.trees.mark_progress()
                    })
                })
                .collect();
            for writer in writers {
                writer
                    .join()
                    .expect("the writer finished")
                    .expect("the progress is recorded");
            }
        });
    }
    let marker = std::fs::read_to_string(dir.path().join("touchpoint.state")).expect("marker");
    assert_eq!(
        marker.trim(),
        format!("last_key={}", store.trees.checkpoint().expect("checkpoint"))
    );
}

/// Issue 18: blocks sealed in format 2 are rewritten into the indexed compact form when the store
/// opens, once, and read the same afterwards; their records' `ids` and `interactions` entries go.
#[test]
fn format_2_blocks_are_migrated_once_and_read_the_same() {
    let dir = tempfile::tempdir().expect("tempdir");
    let subs = numbered("eeeeeeeeeeeeeeee", 12, |i| Some(format!("c{i}")));
    let before = {
        let store = open_retrying(|| SledStore::open_with(dir.path(), 8, 4, false));
        let records = written(&store, &subs);
        for chunk in records.chunks(4) {
            let block = super::format::encode_block_2(chunk);
            put_block(&store, chunk[0].0, block);
        }
        store.trees.responses.clear().expect("clear");
        // As a store written before the compact form: no record of a migration.
        store.trees.meta.remove(b"blocks").expect("remove");
        store.trees.db.flush().expect("flush");
        ids_in(&store, 0, u64::MAX)
    };
    let store = open_retrying(|| SledStore::open_with(dir.path(), 8, 4, false));
    assert_eq!(
        super::blocks_tests::formats(&store),
        vec![(5, 4), (5, 4), (5, 4)],
        "indexed, and then moved into the file"
    );
    assert!(
        store.trees.ids.is_empty(),
        "the blocks' index replaces them"
    );
    assert!(store.trees.interactions.is_empty());
    assert_eq!(ids_in(&store, 0, u64::MAX), before);
    assert_eq!(put(&store, &subs[5]), Put::Duplicate);
    let mut other = submission("dddddddddddddddd00", 4, Some("c7"));
    other.context.interaction_id = subs[7].context.interaction_id.clone();
    assert_eq!(put(&store, &other), Put::AlreadyAnswered);
    assert_eq!(
        super::migrate::compact_blocks(&store.trees, 512)
            .expect("migrate")
            .rewritten,
        0
    );
}
