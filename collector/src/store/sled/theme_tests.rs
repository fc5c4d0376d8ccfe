//! The sled backend's theme cells: saved as one value per day and slot, and a store that saved
//! them the old way (one key per day, slot and phrase) still opens with the same themes.
use super::format::encode_cell;
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
    let store = SledStore::open(dir.path()).expect("open");
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
    let store = SledStore::open(dir.path()).expect("open");
    for n in 0..12 {
        let comment = if n % 3 == 0 {
            "The activation code never arrived."
        } else {
            "The mobile app kept failing on my phone."
        };
        let s = commented(n, comment);
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
