//! The sled backend's packed outcomes: an import is a few packed values, each line stored once
//! however often it is sent (across packs, within one import, and when two identities share a
//! hash), read back from any number; a store that kept them the older way (two entries a line)
//! is moved into packs on open, numbers kept, and a move stopped half-way goes on at the next.
use super::tests::reopen;
use super::*;

fn line(n: u64, value: Option<f64>) -> Outcome {
    let at_millis = 1_795_000_000_000 + n as i64 * 1_000;
    Outcome {
        interaction: format!("call-{}", n % 97),
        outcome: if n % 2 == 0 {
            "repeat_contact"
        } else {
            "complaint"
        }
        .to_owned(),
        at: protocol::Timestamp::from_unix_millis(at_millis)
            .as_str()
            .to_owned(),
        at_millis,
        value,
    }
}

fn stored(store: &SledStore, after: u64) -> Vec<(u64, Outcome)> {
    let mut all = Vec::new();
    store
        .outcomes_after(after, &mut |seq, o| {
            all.push((seq, o));
            true
        })
        .expect("outcomes");
    all
}

fn keys_by_tag(store: &SledStore) -> HashMap<u8, usize> {
    let mut tags = HashMap::new();
    for key in store.trees.outcomes.iter().keys() {
        *tags.entry(key.expect("key")[0]).or_default() += 1;
    }
    tags
}

#[test]
fn an_import_is_a_few_packs_and_each_line_is_stored_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = reopen(dir.path());
    let lines: Vec<Outcome> = (0..1_200).map(|n| line(n, None)).collect();
    let puts = store.put_outcomes(&lines).expect("put");
    assert_eq!(puts[0], OutcomePut::Stored(1));
    assert_eq!(puts[1_199], OutcomePut::Stored(1_200));
    assert_eq!(keys_by_tag(&store), HashMap::from([(b'p', 3)]));

    // Sent again with new lines among them, after a reopen (the index read from the packs), and
    // a line twice in one import: the known ones are duplicates, the new ones numbered on.
    drop(store);
    let store = reopen(dir.path());
    let mut again: Vec<Outcome> = (1_190..1_210).map(|n| line(n, None)).collect();
    again.push(line(1_205, None));
    again.push(line(1_206, Some(12.5)));
    again.push(line(3, Some(1.0)));
    let puts = store.put_outcomes(&again).expect("put again");
    assert!(puts[..10].iter().all(|p| *p == OutcomePut::Duplicate));
    assert_eq!(puts[10], OutcomePut::Stored(1_201));
    assert_eq!(puts[19], OutcomePut::Stored(1_210));
    assert_eq!(puts[20], OutcomePut::Duplicate);
    assert_eq!(puts[21], OutcomePut::Conflict);
    assert_eq!(puts[22], OutcomePut::Conflict);

    let all = stored(&store, 0);
    assert_eq!(all.len(), 1_210);
    assert!(all.iter().zip(1..).all(|((seq, _), n)| *seq == n));
    assert_eq!(all[1_199].1, line(1_199, None));
    // From the middle of a pack, and from past the end.
    let later = stored(&store, 700);
    assert_eq!(
        later.first().map(|(s, o)| (*s, o.clone())),
        Some((701, line(700, None)))
    );
    assert_eq!(later.len(), 510);
    assert!(stored(&store, 1_210).is_empty());
}

#[test]
fn a_shared_hash_is_confirmed_in_the_pack() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = reopen(dir.path());
    store.put_outcomes(&[line(1, None)]).expect("put");
    // The index says another line's hash is in the first pack too, as if the two collided.
    let other = line(2, None);
    let hash = store.trees.hash_key.hash(&other.identity());
    store
        .outcome_index
        .lock()
        .expect("index")
        .as_mut()
        .expect("loaded")
        .add_for_test(hash, 1);
    let puts = store
        .put_outcomes(std::slice::from_ref(&other))
        .expect("put");
    assert_eq!(puts, vec![OutcomePut::Stored(2)]);
    assert_eq!(
        store.put_outcomes(&[other]).expect("again"),
        vec![OutcomePut::Duplicate]
    );
}

/// Writes `seqs` the way stores kept outcomes before packs: `s` + number → JSON, and `i` +
/// identity → number unless the number is in `unnamed` (what a crash between the two left).
fn write_old(store: &SledStore, seqs: std::ops::Range<u64>, unnamed: &[u64]) {
    let t = &store.trees;
    for seq in seqs.clone() {
        let outcome = line(seq, (seq % 5 == 0).then_some(seq as f64 / 4.0));
        t.outcomes
            .insert(
                [b"s".as_slice(), &seq.to_be_bytes()].concat(),
                to_json(&outcome).unwrap(),
            )
            .expect("s");
        if !unnamed.contains(&seq) {
            t.outcomes
                .insert(
                    [b"i".as_slice(), &outcome.identity()].concat(),
                    &seq.to_be_bytes(),
                )
                .expect("i");
        }
    }
    t.meta
        .insert(LAST_OUTCOME, &(seqs.end - 1).to_be_bytes())
        .expect("meta");
    t.flush().expect("flush");
}

#[test]
fn outcomes_kept_the_older_way_are_packed_on_open_with_their_numbers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = reopen(dir.path());
    // Lines 1..=1 500; a crash left 700 without its identity, and 1 500 (the last) as well.
    write_old(&store, 1..1_501, &[700, 1_500]);
    drop(store);

    let store = reopen(dir.path());
    let tags = keys_by_tag(&store);
    assert_eq!(
        tags.keys().copied().collect::<Vec<_>>(),
        vec![b'p'],
        "{tags:?}"
    );
    let all = stored(&store, 0);
    assert_eq!(all.len(), 1_498);
    for (seq, outcome) in &all {
        assert_eq!(
            *outcome,
            line(*seq, (seq % 5 == 0).then_some(*seq as f64 / 4.0))
        );
    }
    assert!(all.iter().all(|(seq, _)| *seq != 700 && *seq != 1_500));
    assert_eq!(stored(&store, 699)[0].0, 701);

    // Each moved line is still taken once; the one a crash left unnamed is stored as new, after
    // the last number the older store handed out.
    let puts = store
        .put_outcomes(&[line(10, Some(2.5)), line(11, None), line(700, None)])
        .expect("put");
    assert_eq!(
        puts,
        vec![
            OutcomePut::Duplicate,
            OutcomePut::Duplicate,
            OutcomePut::Stored(1_501)
        ]
    );
}

#[test]
fn a_move_stopped_half_way_goes_on_at_the_next_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = reopen(dir.path());
    write_old(&store, 1..5_001, &[]);
    // What a stop after the first step leaves: its lines in packs, the rest as they were.
    let first_step = migrate::pack_outcomes_steps(&store.trees, 1).expect("one step");
    assert_eq!(first_step.moved, 8 * 512);
    assert_eq!(keys_by_tag(&store).get(&b's'), Some(&(5_000 - 8 * 512)));
    drop(store);

    let store = reopen(dir.path());
    assert_eq!(
        keys_by_tag(&store).keys().copied().collect::<Vec<_>>(),
        vec![b'p']
    );
    let all = stored(&store, 0);
    assert_eq!(all.len(), 5_000);
    assert!(all
        .iter()
        .zip(1..)
        .all(|((seq, o), n)| *seq == n && *o == line(n, (n % 5 == 0).then_some(n as f64 / 4.0))));
    assert_eq!(
        store
            .put_outcomes(&[line(4_999, None), line(5_001, None)])
            .expect("put"),
        vec![OutcomePut::Duplicate, OutcomePut::Stored(5_001)]
    );
}
