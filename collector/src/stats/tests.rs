//! The stats' tests: the calendar, query parameters, saved days, and a property test that the
//! cells (stats and themes) answer every query exactly as a recount of the exported records does.
use super::calendar::DAY_MILLIS;
use super::*;
use protocol::Submission;
use protocol::Timestamp;

#[test]
fn days_weeks_and_dates_agree() {
    let day = parse_date("2026-11-22").expect("a date");
    assert_eq!(date_of(day), "2026-11-22");
    assert_eq!(week_label(day), "2026-W47", "a Sunday ends its week");
    assert_eq!(week_label(day + 1), "2026-W48");
    assert_eq!(
        week_label(parse_date("2021-01-03").expect("a date")),
        "2020-W53"
    );
    assert_eq!(
        week_label(parse_date("2024-12-30").expect("a date")),
        "2025-W01"
    );
    assert_eq!(
        week_start(2026, 47).map(date_of).as_deref(),
        Some("2026-11-16")
    );
    assert_eq!(week_start(2025, 53), None, "2025 has 52 weeks");
    assert_eq!(
        week_start(2026, 53).map(date_of).as_deref(),
        Some("2026-12-28"),
        "2026 starts on a Thursday: 53 weeks"
    );
    assert_eq!(
        week_start(2020, 53).map(date_of).as_deref(),
        Some("2020-12-28")
    );
}

#[test]
fn the_day_is_when_the_customer_answered_unless_the_clock_ran_ahead() {
    let nov_22 = parse_date("2026-11-22").expect("a date");
    let received = (nov_22 + 3) as u64 * 86_400_000_000 + 5;
    assert_eq!(day_of(nov_22 * DAY_MILLIS + 1000, received), nov_22);
    assert_eq!(day_of((nov_22 + 30) * DAY_MILLIS, received), nov_22 + 3);
}

#[test]
fn query_parameters_are_checked() {
    let parse = |pairs: &[(&str, &str)]| {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Query::parse(&move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        })
    };
    let q = parse(&[
        ("from", "2026-11-01"),
        ("to", "2026-11-08T13:00:00+01:00"),
        ("group_by", "channel,touchpoint"),
        ("include_bursts", "true"),
    ])
    .expect("valid");
    assert_eq!(q.from_day, parse_date("2026-11-01"));
    assert_eq!(q.to_day, parse_date("2026-11-08"));
    assert_eq!(q.group_by, vec![Dim::Channel, Dim::Touchpoint]);
    assert!(q.include_bursts);
    for bad in [
        ("from", "yesterday"),
        ("to", "2026-13-01"),
        ("channel", "fax"),
        ("touchpoint", "check out"),
        ("group_by", "colour"),
        ("group_by", "channel,site,agent,day"),
        ("include_bursts", "yes"),
        ("locale", "xx"),
    ] {
        assert!(parse(&[bad]).is_err(), "{bad:?} must be refused");
    }
}

#[test]
fn saved_days_load_back_the_same() {
    let aggregates = Aggregates::default();
    for (i, body) in [
        r#"{"id":"aaaaaaaaaaaaaaaa01","survey":{"id":"core-cx","version":1},"channel":"kiosk","touchpoint":"branch-queue","answers":{"effort":2,"emotion":"angry"},"comment":"slow","locale":"fr","context":{"site_id":"branch-042","device_id":"kiosk-1","segment":"premium"},"submitted_at":"2026-11-22T10:00:00Z"}"#,
        r#"{"id":"aaaaaaaaaaaaaaaa02","survey":{"id":"core-cx","version":1},"channel":"agent","touchpoint":"billing","answers":{"confidence":5},"locale":"en","context":{"agent_id":"a-7"},"submitted_at":"2026-11-22T11:00:00Z"}"#,
    ]
    .iter()
    .enumerate()
    {
        let s = protocol::parse_submission(body.as_bytes()).expect("valid");
        aggregates.add(&s, u64::MAX / 2, i == 1);
    }
    let all = Query {
        include_bursts: true,
        group_by: vec![Dim::Channel, Dim::Site],
        ..Query::default()
    };
    let before = aggregates.query(&all);
    assert_eq!(before.total.responses, 2);
    assert_eq!(before.total.effort[1], 1);
    assert_eq!(before.total.confidence[4], 1);
    assert_eq!(before.total.comments, 1);
    assert_eq!(
        aggregates.query(&Query::default()).total.responses,
        1,
        "bursts are left out unless asked for"
    );
    // No day closed: each cell on its own.
    let saved = aggregates.take_changed(i64::MIN);
    assert_eq!(
        saved.entries.len(),
        4,
        "one entry per changed cell: two stats cells, the comment's new phrases and its theme cell"
    );
    assert!(aggregates.take_changed(i64::MIN).is_empty());
    let loaded = Aggregates::default();
    for (key, counts) in &saved.entries {
        loaded.load_cell(key, counts).expect("loads");
    }
    assert_eq!(loaded.query(&all), before);
    assert_eq!(
        loaded.themes().tally(&all, 3),
        aggregates.themes().tally(&all, 3)
    );
    assert_eq!(loaded.themes().tally(&all, 3).len(), 1);
    assert!(
        loaded.take_changed(i64::MIN).is_empty(),
        "what was loaded is saved already"
    );
    let (key, counts) = &saved.entries[0];
    assert!(loaded.load_cell(&key[..10], counts).is_none());
    assert!(loaded.load_cell(key, &counts[..10]).is_none());
}

/// Memory keeps a cell's counts in 32 bits each: a cell whose day passes 4 294 967 295 goes on
/// in a second tally, and its queries, its own saved value and its packed day count the whole.
#[test]
fn a_cell_past_32_bit_counts_loses_nothing() {
    let body = br#"{"id":"aaaaaaaaaaaaaaaa01","survey":{"id":"core-cx","version":1},"channel":"web","touchpoint":"checkout","answers":{"effort":2},"locale":"en","submitted_at":"2026-11-22T10:00:00Z"}"#;
    let s = protocol::parse_submission(body).expect("valid");
    let first = Aggregates::default();
    first.add(&s, u64::MAX / 2, false);
    let saved = first.take_changed(i64::MIN);
    let (key, _) = saved
        .entries
        .iter()
        .find(|(key, _)| key[0] == 0)
        .expect("the stats cell's entry");
    let near = u64::from(u32::MAX) - 1;
    let mut words = Vec::new();
    Counts {
        responses: near,
        effort: [0, near, 0, 0, 0, 0, 0],
        ..Counts::default()
    }
    .write_words(&mut words);

    let big = Aggregates::default();
    big.load_cell(key, &words).expect("loads");
    for _ in 0..3 {
        big.add(&s, u64::MAX / 2, false);
    }
    let whole = near + 3;
    let total = big.query(&Query::default()).total;
    assert_eq!((total.responses, total.effort[1]), (whole, whole));
    let saved = big.take_changed(i64::MIN);
    let (_, value) = saved
        .entries
        .iter()
        .find(|(k, _)| k == key)
        .expect("the cell saved on its own");
    let read = Counts::read_words(&mut &value[..]).expect("19 counts");
    assert_eq!((read.responses, read.effort[1]), (whole, whole));

    // Its day closed: packed whole, and loaded back whole (in two tallies again).
    big.add(&s, u64::MAX / 2, false);
    let packed = big.take_changed(i64::MAX);
    let reloaded = Aggregates::default();
    for (key, value) in &packed.entries {
        reloaded.load_cell(key, value).expect("loads");
    }
    let total = reloaded.query(&Query::default()).total;
    assert_eq!((total.responses, total.effort[1]), (whole + 1, whole + 1));
}

/// A closed day's cells are saved as one packed value (and again, whole, when a late answer
/// changes it), a day still taking answers a cell at a time; both load back the same.
#[test]
fn a_closed_day_is_saved_as_one_value_and_an_open_day_by_cell() {
    let aggregates = Aggregates::default();
    let closed = parse_date("2026-11-21").expect("a day");
    for n in 0..40 {
        let day = if n % 2 == 0 { "21" } else { "22" };
        let s = answer(
            n,
            &format!("tp-{}", n % 10),
            Some(&format!("site-{}", n % 3)),
        );
        let body = s.to_json().replace("2026-11-22", &format!("2026-11-{day}"));
        let s = protocol::parse_submission(body.as_bytes()).expect("valid");
        aggregates.add(&s, u64::MAX / 2, false);
    }
    let all = Query {
        group_by: vec![Dim::Day, Dim::Touchpoint, Dim::Site],
        ..Query::default()
    };
    let before = aggregates.query(&all);
    let saved = aggregates.take_changed(closed + 1);
    let tags = |entries: &[(Vec<u8>, Vec<u8>)]| -> (usize, usize) {
        let packed = entries.iter().filter(|(k, _)| k[0] == DAY_TAG).count();
        let single = entries.iter().filter(|(k, _)| k[0] == 0).count();
        (packed, single)
    };
    // 2026-11-21 holds 15 cells, packed; 2026-11-22 holds 15 cells, each on its own.
    assert_eq!(tags(&saved.entries), (1, 15));
    let loaded = Aggregates::default();
    for (key, value) in &saved.entries {
        loaded.load_cell(key, value).expect("loads");
    }
    assert_eq!(loaded.query(&all), before);
    // A late answer on the closed day saves the day again, whole; once the open day closes,
    // its cells are packed too, unchanged.
    let late = answer(99, "tp-3", Some("site-1"))
        .to_json()
        .replace("2026-11-22", "2026-11-21");
    aggregates.add(
        &protocol::parse_submission(late.as_bytes()).expect("valid"),
        u64::MAX / 2,
        false,
    );
    assert_eq!(tags(&aggregates.take_changed(closed + 1).entries), (1, 0));
    assert_eq!(tags(&aggregates.take_changed(closed + 2).entries), (1, 0));
    assert!(aggregates.take_changed(closed + 2).is_empty());
    // A damaged packed day is refused, not half loaded.
    let (key, value) = saved
        .entries
        .iter()
        .find(|(k, _)| k[0] == DAY_TAG)
        .expect("packed");
    assert!(Aggregates::default()
        .load_cell(key, &value[..value.len() / 2])
        .is_none());
    assert!(Aggregates::default().load_cell(&key[..5], value).is_none());
}

fn answer(id: usize, touchpoint: &str, site: Option<&str>) -> Submission {
    let context = site.map_or_else(String::new, |s| {
        format!(r#","context":{{"site_id":"{s}"}}"#)
    });
    let body = format!(
        r#"{{"id":"knownvalues{id:08}","survey":{{"id":"core-cx","version":1}},"channel":"web","touchpoint":"{touchpoint}","answers":{{"effort":5}},"locale":"en"{context},"submitted_at":"2026-11-22T10:00:00Z"}}"#
    );
    protocol::parse_submission(body.as_bytes()).expect("valid")
}

#[test]
fn a_new_value_is_past_its_bound_and_a_known_one_never_is() {
    let aggregates = Aggregates::default();
    let bounds = Bounds {
        touchpoints: 2,
        sites: 1,
        ..Bounds::default()
    };
    for (n, (touchpoint, site)) in [("a", Some("s1")), ("b", None)].into_iter().enumerate() {
        let s = answer(n, touchpoint, site);
        assert_eq!(aggregates.new_value_past(&s, &bounds), None);
        aggregates.add(&s, u64::MAX / 2, false);
    }
    assert_eq!(
        aggregates.new_value_past(&answer(9, "c", None), &bounds),
        Some(Bounded::Touchpoint)
    );
    assert_eq!(
        aggregates.new_value_past(&answer(9, "a", Some("s2")), &bounds),
        Some(Bounded::Site)
    );
    assert_eq!(
        aggregates.new_value_past(&answer(9, "b", Some("s1")), &bounds),
        None
    );
    // Known after a save and a load, as after a restart.
    let loaded = Aggregates::default();
    for (key, counts) in &aggregates.take_changed(i64::MIN).entries {
        loaded.load_cell(key, counts).expect("loads");
    }
    assert_eq!(
        loaded.new_value_past(&answer(9, "b", Some("s1")), &bounds),
        None
    );
    assert_eq!(
        loaded.new_value_past(&answer(9, "c", None), &bounds),
        Some(Bounded::Touchpoint)
    );
}

#[test]
fn the_menus_offer_the_busiest_values() {
    let aggregates = Aggregates::default();
    let mut n = 0;
    for (touchpoint, answers) in [("quiet", 1), ("busy", 5), ("middle", 3), ("other", 2)] {
        for _ in 0..answers {
            n += 1;
            aggregates.add(&answer(n, touchpoint, None), u64::MAX / 2, false);
        }
    }
    let busiest = aggregates.busiest(Dim::Touchpoint, 2);
    assert_eq!(busiest.values, ["busy", "middle"], "in name order");
    assert_eq!(busiest.of, 4);
    assert_eq!(aggregates.busiest(Dim::Touchpoint, 10).values.len(), 4);
    assert_eq!(aggregates.busiest(Dim::Site, 10).of, 0);
}

/// What a reader of the export would compute by hand, with none of the code above: one line
/// per record, keyed by the grouped fields' values.
/// Groups (key values, counts) and the total.
type Flat = (Vec<(Vec<Option<String>>, Counts)>, Counts);

fn recompute(ndjson: &str, query: &Query) -> Flat {
    let mut groups: BTreeMap<Vec<Option<String>>, Counts> = BTreeMap::new();
    let mut total = Counts::default();
    for line in ndjson.lines() {
        let row: Value = serde_json::from_str(line).expect("a JSON line");
        let text = |v: &Value| v.as_str().map(str::to_owned);
        let millis = |v: &Value| {
            Timestamp::parse(v.as_str().expect("a time"))
                .expect("RFC 3339")
                .unix_millis()
        };
        let day = millis(&row["submitted_at"])
            .min(millis(&row["received_at"]))
            .div_euclid(DAY_MILLIS);
        let fields = [
            ("channel", text(&row["channel"])),
            ("touchpoint", text(&row["touchpoint"])),
            ("site", text(&row["context"]["site_id"])),
            ("agent", text(&row["context"]["agent_id"])),
            ("segment", text(&row["context"]["segment"])),
            ("locale", text(&row["locale"])),
            ("day", Some(date_of(day))),
            ("week", Some(week_label(day))),
            ("department", Some(department(query, &row))),
        ];
        let field = |name: &str| {
            fields
                .iter()
                .find(|(n, _)| *n == name)
                .and_then(|(_, v)| v.clone())
        };
        let wanted = [
            ("channel", query.channel.map(|c| c.as_str().to_owned())),
            ("touchpoint", query.touchpoint.clone()),
            ("site", query.site.clone()),
            ("agent", query.agent.clone()),
            ("segment", query.segment.clone()),
            ("locale", query.locale.clone()),
            ("department", query.department.clone()),
        ];
        let in_range =
            query.from_day.is_none_or(|f| day >= f) && query.to_day.is_none_or(|t| day < t);
        let burst = row["burst"].as_bool().expect("a burst field");
        if !in_range
            || (burst && !query.include_bursts)
            || wanted.iter().any(|(n, w)| w.is_some() && field(n) != *w)
        {
            continue;
        }
        let mut counts = Counts {
            responses: 1,
            ..Counts::default()
        };
        let answers = &row["answers"];
        if let Some(e) = answers["effort"].as_u64() {
            counts.effort[e as usize - 1] += 1;
        }
        if let Some(c) = answers["confidence"].as_u64() {
            counts.confidence[c as usize - 1] += 1;
        }
        if let Some(m) = answers["emotion"].as_str() {
            let at = ["angry", "frustrated", "neutral", "pleased", "delighted"]
                .iter()
                .position(|e| *e == m)
                .expect("an emotion");
            counts.emotion[at] += 1;
        }
        counts.comments = u64::from(row.get("comment").is_some());
        total.add(&counts);
        if !query.group_by.is_empty() {
            let key = query.group_by.iter().map(|d| field(d.name())).collect();
            groups.entry(key).or_default().add(&counts);
        }
    }
    (groups.into_iter().collect(), total)
}

/// The department of an exported row, read by hand: the file's owner of its touchpoint
/// ("unassigned" when the file does not name it), or without a file its channel's.
fn department(query: &Query, row: &Value) -> String {
    let touchpoint = row["touchpoint"].as_str().expect("a touchpoint");
    match query.owners() {
        Some(org) => org
            .touchpoints
            .iter()
            .find(|t| t.id == touchpoint)
            .map_or_else(|| "unassigned".to_owned(), |t| t.department.clone()),
        None => match row["channel"].as_str() {
            Some("web") => "digital",
            Some("kiosk") => "branches",
            _ => "call-centre",
        }
        .to_owned(),
    }
}

/// A small organisation: two of the three touchpoints the rows use, in two departments.
fn owners() -> crate::stats::query::Owners {
    let org = crate::org::file::parse(
        "test.toml",
        r#"[organisation]
name = "Test"
[[department]]
id = "digital"
name = "Digital"
[[department]]
id = "finance"
name = "Finance"
[[touchpoint]]
id = "checkout"
name = "Checkout"
department = "digital"
[[touchpoint]]
id = "login"
name = "Log in"
department = "finance"
[[journey]]
id = "buy"
name = "Buy"
steps = ["login", "checkout"]
"#,
    )
    .expect("a good file");
    crate::stats::query::Owners(std::sync::Arc::new(org))
}

fn answered(aggregates: &Aggregates, query: &Query) -> Flat {
    let answer = aggregates.query(query);
    (
        answer
            .groups
            .into_iter()
            .map(|g| (g.key.into_iter().map(|(_, v)| v).collect(), g.counts))
            .collect(),
        answer.total,
    )
}

type Row = (
    (u8, u8, Option<u8>, Option<u8>, Option<u8>, u8),
    (Option<u8>, Option<u8>, Option<u8>, bool, Option<u8>),
    (u32, i32),
);

fn body(n: usize, row: &Row, base_millis: i64) -> (Value, u64) {
    let (
        (channel, touchpoint, site, agent, segment, locale),
        (effort, confidence, emotion, comment, device),
        (offset, skew),
    ) = *row;
    let mut answers = serde_json::Map::new();
    if let Some(e) = effort {
        answers.insert("effort".into(), json!(e));
    }
    if let Some(c) = confidence {
        answers.insert("confidence".into(), json!(c));
    }
    let emotion = match (effort, confidence) {
        (None, None) => Some(emotion.unwrap_or(2)), // at least one answer
        _ => emotion,
    };
    if let Some(m) = emotion {
        answers.insert(
            "emotion".into(),
            json!(protocol::Emotion::ALL[usize::from(m)].as_str()),
        );
    }
    let mut context = serde_json::Map::new();
    let mut put = |name: &str, value: Option<String>| {
        if let Some(v) = value {
            context.insert(name.into(), json!(v));
        }
    };
    put("site_id", site.map(|s| format!("branch-{s}")));
    put("agent_id", agent.map(|a| format!("a-{a}")));
    put(
        "segment",
        segment.map(|s| ["standard", "premium", "business"][usize::from(s)].to_owned()),
    );
    put("device_id", device.map(|d| format!("kiosk-{d}")));
    // Seconds apart over a few days; some within the burst window of the one before.
    let submitted = base_millis + i64::from(offset) * 1000;
    let received = (submitted + i64::from(skew) * 1000).max(base_millis) as u64 * 1000;
    let channel = ["web", "kiosk", "agent"][usize::from(channel)];
    let touchpoint = ["checkout", "login", "billing"][usize::from(touchpoint)];
    let locale = protocol::instrument::LOCALE_CODES[usize::from(locale)];
    let mut value = json!({
        "id": format!("propstatsprop{n:06}"),
        "survey": {"id": "core-cx", "version": 1},
        "channel": channel,
        "touchpoint": touchpoint,
        "answers": answers,
        "locale": locale,
        "context": context,
        "submitted_at": Timestamp::from_unix_millis(submitted).as_str(),
    });
    if comment {
        value["comment"] = json!(COMMENTS[n % COMMENTS.len()]);
    }
    (value, received)
}

/// Comments whose phrases overlap, in several languages; each is counted in its answer's locale.
const COMMENTS: [&str; 6] = [
    "The activation code never arrived.",
    "Activation codes arrive late, the code expired.",
    "El código de activación nunca llegó.",
    "Le code d'activation n'est jamais arrivé.",
    "Der Aktivierungscode kam nie an.",
    "لم يصل رمز التفعيل أبداً.",
];

/// The themes of the exported comments, counted by hand: for each phrase, the lines whose comment
/// carries it, recounted as the stats are (bursts left out).
fn themes_recounted(ndjson: &str, query: &Query) -> BTreeMap<(String, String), Counts> {
    let mut lines: BTreeMap<(String, String), String> = BTreeMap::new();
    for line in ndjson.lines() {
        let row: Value = serde_json::from_str(line).expect("a JSON line");
        let (Some(comment), Some(locale)) = (row["comment"].as_str(), row["locale"].as_str())
        else {
            continue;
        };
        for found in super::themes::phrases::candidates(locale, comment) {
            let at = lines.entry((locale.to_owned(), found.key)).or_default();
            at.push_str(line);
            at.push('\n');
        }
    }
    let query = Query {
        group_by: Vec::new(),
        include_bursts: false,
        ..query.clone()
    };
    lines
        .into_iter()
        .map(|(theme, lines)| (theme, recompute(&lines, &query).1))
        .filter(|(_, counts)| counts.responses > 0)
        .collect()
}

fn themes_tallied(aggregates: &Aggregates, query: &Query) -> BTreeMap<(String, String), Counts> {
    aggregates
        .themes()
        .tally(query, 3)
        .into_iter()
        .map(|t| ((t.locale.to_owned(), t.key), t.counts))
        .collect()
}

/// The queries the theme cells answer: those without a site, agent or segment filter.
fn theme_queries(first_day: i64) -> Vec<Query> {
    queries(first_day)
        .into_iter()
        .filter(|q| q.site.is_none() && q.agent.is_none() && q.segment.is_none())
        .collect()
}

fn row() -> impl proptest::strategy::Strategy<Value = Row> {
    use proptest::{option, prelude::*, prop_oneof};
    (
        (
            0u8..3,
            0u8..3,
            option::of(0u8..2),
            option::of(0u8..2),
            option::of(0u8..3),
            0u8..5,
        ),
        (
            option::of(1u8..=7),
            option::of(1u8..=5),
            option::of(0u8..5),
            any::<bool>(),
            option::of(0u8..2),
        ),
        // Up to four days, in seconds; a receive time up to a day before (a clock running
        // ahead) or two days after (a queued answer).
        // Some crowd into the first seconds, so a device's answers fall in the burst window.
        (prop_oneof![0u32..345_600, 0u32..12], -86_400i32..172_800),
    )
}

fn queries(first_day: i64) -> Vec<Query> {
    let mut queries = Vec::new();
    let groupings: [&[Dim]; 6] = [
        &[],
        &[Dim::Channel],
        &[Dim::Touchpoint, Dim::Site],
        &[Dim::Day, Dim::Channel],
        &[Dim::Week, Dim::Segment, Dim::Agent],
        &[Dim::Locale],
    ];
    for (i, group_by) in groupings.into_iter().enumerate() {
        for include_bursts in [false, true] {
            queries.push(Query {
                group_by: group_by.to_vec(),
                include_bursts,
                from_day: (i % 2 == 1).then_some(first_day + 1),
                to_day: (i % 3 == 2).then_some(first_day + 3),
                channel: (i == 4).then_some(Channel::Kiosk),
                touchpoint: (i == 5).then(|| "login".to_owned()),
                segment: (i == 1).then(|| "premium".to_owned()),
                ..Query::default()
            });
        }
    }
    // Departments: from a file (one touchpoint left unassigned), and without one (the channels').
    for (owners, department) in [(Some(owners()), "finance"), (None, "branches")] {
        for group_by in [&[Dim::Department][..], &[Dim::Department, Dim::Channel]] {
            queries.push(Query {
                group_by: group_by.to_vec(),
                owners: owners.clone(),
                ..Query::default()
            });
        }
        queries.push(Query {
            group_by: vec![Dim::Touchpoint],
            department: Some(department.to_owned()),
            owners,
            ..Query::default()
        });
    }
    queries
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
    /// For random answers, the stats (departments included, with and without an organisation
    /// file) and a journey's steps equal a recomputation from the export and the file: live, as
    /// recovered
    /// after a crash (saved days plus the records after them), after a clean reopen, and after
    /// a rebuild from the records.
    #[test]
    fn stats_equal_a_recomputation_from_the_export(mut rows in proptest::collection::vec(row(), 1..80)) {
        use crate::store::{SledStore, Store};
        let base = Timestamp::parse("2026-11-20T00:00:00Z").expect("a time").unix_millis();
        rows.sort_by_key(|r| r.2 .0); // a device's answers arrive in the order given
        let dir = tempfile::tempdir().expect("tempdir");
        // Without the background sealer, which saves the stats on its own clock: what a crash
        // leaves is set up below by hand, and nothing may save over it while it is read.
        let store = SledStore::open_quiet(dir.path()).expect("open");
        // The stats are saved about once a second while records keep coming; a crash can keep
        // the days of the last save but not its floor.
        let mut first_floor = None;
        for (n, row) in rows.iter().enumerate() {
            if n == rows.len() / 3 {
                store.save_stats().expect("saved");
                first_floor = store.trees_meta(b"derived");
            }
            if n == rows.len() * 2 / 3 {
                store.save_stats().expect("saved");
            }
            let (value, received) = body(n, row, base);
            let s = protocol::parse_submission(value.to_string().as_bytes()).expect("valid");
            store.put_at(&s, &s.to_json(), received).expect("put");
        }
        store.flush().expect("flush");
        store.flush().expect("a durable checkpoint");
        let mut ndjson = Vec::new();
        crate::read::export::write(&store, &crate::read::export::Filter::default(), crate::read::export::Format::Ndjson, &mut ndjson).expect("export");
        let ndjson = String::from_utf8(ndjson).expect("utf-8");
        let first_day = base.div_euclid(DAY_MILLIS) - 1;
        let check = |store: &SledStore| -> Result<(), proptest::test_runner::TestCaseError> {
            let aggregates = store.aggregates().expect("cells");
            for query in queries(first_day) {
                proptest::prop_assert_eq!(answered(aggregates, &query), recompute(&ndjson, &query), "{:?}", query);
            }
            for query in theme_queries(first_day) {
                proptest::prop_assert_eq!(themes_tallied(aggregates, &query), themes_recounted(&ndjson, &query), "{:?}", query);
            }
            // A journey's steps, over the days of the data, count what a recount of the export
            // finds at each step's touchpoint.
            let owners = owners();
            let (from, to) = (first_day, first_day + 8);
            for journey in crate::read::journeys::journeys(aggregates, &owners.0, from, to) {
                for step in &journey.steps {
                    let by_hand = recompute(&ndjson, &Query {
                        from_day: Some(from),
                        to_day: Some(to),
                        touchpoint: Some(step.touchpoint.clone()),
                        ..Query::default()
                    });
                    proptest::prop_assert_eq!(step.counts, by_hand.1, "{}", step.touchpoint);
                }
            }
            // Several queries over one read of the cells answer as each one alone.
            let all = queries(first_day);
            let one_by_one: Vec<Answer> = all.iter().map(|q| aggregates.query(q)).collect();
            proptest::prop_assert_eq!(aggregates.query_all(&all), one_by_one);
            Ok(())
        };
        check(&store)?;
        // What an open after a crash here recovers: the saved days, plus the records after
        // them counted again.
        store.set_meta(b"derived", first_floor);
        let recovered = Aggregates::default();
        proptest::prop_assert!(store.recover_into(&recovered).expect("recovered").is_some());
        for query in queries(first_day) {
            proptest::prop_assert_eq!(answered(&recovered, &query), recompute(&ndjson, &query), "{:?}", query);
        }
        for query in theme_queries(first_day) {
            proptest::prop_assert_eq!(themes_tallied(&recovered, &query), themes_recounted(&ndjson, &query), "{:?}", query);
        }
        drop(store);
        let store = (0..100)
            .find_map(|_| SledStore::open(dir.path()).ok().or_else(|| {
                std::thread::sleep(std::time::Duration::from_millis(20));
                None
            }))
            .expect("reopens");
        check(&store)?;
        store.rebuild_derived().expect("rebuild");
        check(&store)?;
    }
}
