//! The sled backend's theme cells: saved as one value per closed day and slot (an open day's in
//! pieces, each what arrived since the save before), and a store that saved
//! them the old way (one key per day, slot and phrase) still opens with the same themes; a store
//! that saved its closed days' stats cells one by one and its theme cells with their phrases'
//! text opens reading them, and saves them packed.
use super::format::{decode_cell, encode_cell};
use super::tests::reopen;
use super::*;
use crate::stats::{themes::OLD_KEY_TAG, Query};

fn commented(n: u32, comment: &str) -> Submission {
    let body = format!(
        r#"{{"id":"themes-old-form-{n:04}","survey":{{"id":"core-cx","version":1}},"channel":"web","touchpoint":"card-activation","answers":{{"effort":{},"emotion":"frustrated"}},"comment":"{comment}","locale":"en","submitted_at":"2026-11-22T10:00:00Z"}}"#,
        1 + n % 7
    );
    protocol::parse_submission(body.as_bytes()).expect("valid")
}

/// Every third comment about the activation code, the others about the app.
fn two_themes(n: u32) -> &'static str {
    if n % 3 == 0 {
        "The activation code never arrived."
    } else {
        "The mobile app kept failing on my phone."
    }
}

fn saved_keys(store: &SledStore, tag: u8) -> usize {
    store
        .trees
        .aggregates
        .iter()
        .keys()
        .filter(|k| k.as_ref().expect("key").first() == Some(&tag))
        .count()
}

#[test]
fn a_day_and_slot_of_theme_cells_is_one_saved_value() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = reopen(dir.path());
    for n in 0..20 {
        let s = commented(n, "The activation code never arrived, so I called twice.");
        store.put(&s, &s.to_json(), &Bounds::NONE).expect("put");
    }
    store.save_stats().expect("saved");
    assert_eq!(saved_keys(&store, crate::stats::themes::KEY_TAG), 1);
}

/// A store whose theme cells were saved one key per phrase (before they were saved by day and
/// slot) opens with its themes counted again from its records, and saves them the new way.
#[test]
fn theme_cells_saved_the_old_way_are_counted_again_from_the_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = reopen(dir.path());
    for n in 0..12 {
        let s = commented(n, two_themes(n));
        store.put(&s, &s.to_json(), &Bounds::NONE).expect("put");
    }
    let all = Query::default();
    let themes = |store: &SledStore| {
        let mut t = store.aggregates().expect("stats").themes().tally(&all, 3);
        t.sort_by(|a, b| a.key.cmp(&b.key));
        t
    };
    let expected = themes(&store);
    assert!(expected
        .iter()
        .any(|t| t.key == "activ code" && t.counts.responses == 4));
    store.save_stats().expect("saved");
    // What the old form left: a cell per phrase, none per day and slot.
    let stamp = store.writer.lock().expect("writer").last;
    let t = &store.trees.aggregates;
    for key in t.iter().keys() {
        let key = key.expect("key");
        if key.first() == Some(&crate::stats::themes::KEY_TAG) {
            t.remove(key).expect("removed");
        }
    }
    let mut old_key = vec![OLD_KEY_TAG];
    old_key.extend_from_slice(&20_414u64.to_be_bytes());
    old_key.extend_from_slice(&[0, 0, 15]);
    old_key.extend_from_slice(b"card-activationactiv code");
    let counts: Vec<u8> = [4u64; 22].iter().flat_map(|w| w.to_le_bytes()).collect();
    t.insert(old_key.as_slice(), encode_cell(stamp, &counts))
        .expect("inserted");
    store.flush().expect("flushed");
    drop(store);
    let store = reopen(dir.path());
    assert_eq!(themes(&store), expected);
    assert_eq!(saved_keys(&store, OLD_KEY_TAG), 0, "the old cells are gone");
    assert_eq!(saved_keys(&store, crate::stats::themes::KEY_TAG), 1);
    drop(store);
    assert_eq!(
        themes(&reopen(dir.path())),
        expected,
        "and load back the same"
    );
}

/// A store saved before closed days were packed and phrases saved once (every stats cell its own
/// entry, every day and slot's theme cell with its phrases' text) is read as it is, with no
/// recount, and its next save packs the closed days and writes the phrases once.
#[test]
fn cells_saved_one_by_one_with_their_phrases_open_the_same_and_are_packed() {
    use crate::stats::{
        themes::{KEY_TAG, PHRASES_TAG},
        Dim, DAY_TAG,
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SledStore::open_quiet(dir.path()).expect("open");
    for n in 0..30 {
        let body = commented(n, two_themes(n))
            .to_json()
            .replace(
                "2026-11-22",
                if n % 2 == 0 {
                    "2026-11-21"
                } else {
                    "2026-11-22"
                },
            )
            .replace("card-activation", &format!("tp-{}", n % 4));
        let s = protocol::parse_submission(body.as_bytes()).expect("valid");
        store.put(&s, &s.to_json(), &Bounds::NONE).expect("put");
    }
    let all = Query {
        group_by: vec![Dim::Day, Dim::Touchpoint],
        ..Query::default()
    };
    let themes = |stats: &Aggregates| {
        let mut t = stats.themes().tally(&all, 3);
        t.sort_by(|a, b| a.key.cmp(&b.key));
        t
    };
    let stats = store.aggregates().expect("stats");
    let (expected, expected_themes) = (stats.query(&all), themes(stats));
    assert!(expected_themes
        .iter()
        .any(|t| t.key == "activ code" && t.counts.responses == 10));
    // Saved the earlier way: no day closed, so a cell per entry; then each theme cell rewritten
    // with its phrases' text, and no phrases saved apart.
    store.save_stats_closing(i64::MIN).expect("saved");
    let t = &store.trees.aggregates;
    for entry in t.iter() {
        let (key, value) = entry.expect("entry");
        match key.first() {
            Some(&PHRASES_TAG) => {
                t.remove(&key).expect("removed");
            }
            Some(&KEY_TAG) => {
                let (stamp, group) = decode_cell(&value).expect("a cell");
                let old = stats.themes().in_format_1(group).expect("format 2");
                t.insert(&key, encode_cell(stamp, &old)).expect("rewritten");
            }
            _ => {}
        }
    }
    store.flush().expect("flushed");
    store.flush().expect("a durable checkpoint");
    assert_eq!(saved_keys(&store, DAY_TAG), 0);
    // tp-0 and tp-2 answered on 2026-11-21, tp-1 and tp-3 on 2026-11-22.
    assert_eq!(saved_keys(&store, 0), 4, "a stats cell per entry");
    // Read as saved: no recount.
    let recovered = Aggregates::default();
    assert!(store.recover_into(&recovered).expect("read").is_some());
    assert_eq!(recovered.query(&all), expected);
    assert_eq!(themes(&recovered), expected_themes);
    drop(store);
    // Opened (both days closed by the clock): saved again, packed, phrases once.
    let store = reopen(dir.path());
    assert_eq!(store.aggregates().expect("stats").query(&all), expected);
    assert_eq!(themes(store.aggregates().expect("stats")), expected_themes);
    assert_eq!(saved_keys(&store, 0), 0, "no single stats cell left");
    assert_eq!(saved_keys(&store, DAY_TAG), 2, "a value per closed day");
    assert_eq!(
        saved_keys(&store, PHRASES_TAG),
        1,
        "the phrases in one value"
    );
    drop(store);
    let store = reopen(dir.path());
    assert_eq!(store.aggregates().expect("stats").query(&all), expected);
    assert_eq!(themes(store.aggregates().expect("stats")), expected_themes);
}

/// Issue 18: a save writes the comments that arrived since the last one, not the whole day and
/// slot they join (which, written about once a second under the writer lock, cost more with
/// every answer of the day). The pieces, with answers not yet saved, are read back as the day's
/// one group, each comment once; once the day closes they become one value again.
#[test]
fn an_open_day_is_saved_in_pieces_of_what_arrived_since_the_last_save() {
    use crate::stats::themes::KEY_TAG;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SledStore::open_quiet(dir.path()).expect("open");
    let put = |range: std::ops::Range<u32>| {
        for n in range {
            let s = commented(n, two_themes(n));
            store.put(&s, &s.to_json(), &Bounds::NONE).expect("put");
        }
    };
    let all = Query::default();
    let themes = |stats: &Aggregates| {
        let mut t = stats.themes().tally(&all, 3);
        t.sort_by(|a, b| a.key.cmp(&b.key));
        t
    };
    // No day closed: the day of these answers is still taking them.
    put(0..600);
    let first = store.save_stats_closing(i64::MIN).expect("saved");
    put(600..606);
    let second = store.save_stats_closing(i64::MIN).expect("saved");
    assert!(
        second * 20 < first,
        "six answers' save wrote {second} bytes, six hundred's {first}"
    );
    assert_eq!(saved_keys(&store, KEY_TAG), 2, "the group and one piece");
    let stats = store.aggregates().expect("stats");
    assert_eq!(stats.themes().positions(), 1, "the group saved in pieces");
    put(606..610);
    let stats = store.aggregates().expect("stats");
    let expected = themes(stats);
    assert!(expected
        .iter()
        .any(|t| t.key == "activ code" && t.counts.responses == 204));
    // What a restart reads: the group, its piece, and the four answers saved in neither.
    let recovered = Aggregates::default();
    assert!(store.recover_into(&recovered).expect("read").is_some());
    assert_eq!(themes(&recovered), expected);
    drop(store);
    // Opened: the answers' day (2026-11-22) is closed by the clock, so its pieces are one value.
    let store = reopen(dir.path());
    assert_eq!(themes(store.aggregates().expect("stats")), expected);
    assert_eq!(
        saved_keys(&store, KEY_TAG),
        1,
        "one value for the closed day"
    );
    assert_eq!(
        store.aggregates().expect("stats").themes().positions(),
        0,
        "a closed day's group, saved whole, keeps no save position"
    );
    drop(store);
    assert_eq!(
        themes(reopen(dir.path()).aggregates().expect("stats")),
        expected
    );
}
