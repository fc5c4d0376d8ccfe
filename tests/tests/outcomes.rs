//! Issue 17, outcome imports on the real binary: an import cut by SIGKILL and sent again stores
//! each line once, none lost and none twice, however far the killed import had got.

use std::{io::Write, net::TcpStream};

use serde_json::{json, Value};
use touchpoint_tests::{post, submitted_at, Collector, Delivery, ADMIN_TOKEN};

/// Answered orders, and outcome lines per import.
const ORDERS: u64 = 100;
const LINES: u64 = 10_000;

fn answer(n: u64) -> Value {
    json!({
        "id": format!("e2e-outcome-{n:016}"),
        "survey": {"id": "core-cx", "version": 1},
        "channel": "web",
        "touchpoint": "checkout",
        "answers": {"effort": 1 + n % 7},
        "locale": "en",
        "context": {"interaction_id": format!("order-{n}")},
        "submitted_at": submitted_at()
    })
}

/// Import number `round`: `LINES` lines of its own (a millisecond apart from the round's first
/// day), each a repeat contact of an answered order.
fn import_body(round: u64) -> String {
    let first = protocol::Timestamp::parse(&format!("2026-0{}-01T00:00:00Z", round + 1))
        .expect("a timestamp")
        .unix_millis();
    (0..LINES)
        .map(|i| {
            let at = protocol::Timestamp::from_unix_millis(first + i as i64);
            json!({
                "interaction_id": format!("order-{}", i % ORDERS),
                "outcome": "repeat_contact",
                "at": at.as_str(),
            })
            .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn import(collector: &Collector, body: &str) -> Value {
    let reply = ureq::post(&collector.url("/v1/outcomes"))
        .set("Authorization", &format!("Bearer {ADMIN_TOKEN}"))
        .set("Content-Type", "application/x-ndjson")
        .send_string(body)
        .unwrap_or_else(|e| panic!("import: {e}\n{}", collector.log()));
    reply.into_json().expect("a JSON answer")
}

/// Every repeat contact the view counts, over every band.
fn counted(collector: &Collector) -> u64 {
    let view: Value = ureq::get(&collector.url("/v1/impact"))
        .set("Authorization", &format!("Bearer {ADMIN_TOKEN}"))
        .call()
        .expect("the view")
        .into_json()
        .expect("JSON");
    view["touchpoints"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|t| t["outcomes"].as_array().into_iter().flatten())
        .flat_map(|o| {
            ["hard", "neutral", "easy"].map(|b| o["bands"][b]["occurrences"].as_u64().unwrap_or(0))
        })
        .sum()
}

#[test]
fn issue_17_an_import_cut_by_sigkill_and_sent_again_stores_each_line_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut collector = Collector::start(dir.path(), &[]);
    for n in 0..ORDERS {
        assert_eq!(
            post(&collector.base, &answer(n).to_string()),
            Delivery::Acknowledged(201)
        );
    }
    for round in 0..3 {
        let body = import_body(round);
        // The whole request on the wire, then SIGKILL while the collector reads or stores it
        // (or, on a fast machine, just after): every case must end the same way.
        let mut stream =
            TcpStream::connect(collector.base.trim_start_matches("http://")).expect("a connection");
        write!(
            stream,
            "POST /v1/outcomes HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n\
             Content-Type: application/x-ndjson\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .expect("the import sent");
        collector.kill();
        collector = Collector::start(dir.path(), &[]);
        let again = import(&collector, &body);
        assert_eq!(again["rejected"], 0, "round {round}");
        assert_eq!(
            again["stored"].as_u64().unwrap_or(0) + again["duplicate"].as_u64().unwrap_or(0),
            LINES,
            "round {round}: {}",
            again["lines"]
        );
        // Sent a third time, every line is known.
        assert_eq!(
            import(&collector, &body)["duplicate"],
            LINES,
            "round {round}"
        );
        assert_eq!(counted(&collector), LINES * (round + 1), "round {round}");
    }
}

/// Answers stored across two sealed blocks and the records after them.
const SEALED_ANSWERS: u64 = 600;

/// The business view, once the collector has read in what it held before it started (`503
/// preparing` until then).
fn ready_view(collector: &Collector) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        match ureq::get(&collector.url("/v1/impact"))
            .set("Authorization", &format!("Bearer {ADMIN_TOKEN}"))
            .call()
        {
            Ok(reply) => return reply.into_json().expect("JSON"),
            Err(ureq::Error::Status(503, _)) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(error) => panic!("the view: {error}\n{}", collector.log()),
        }
    }
}

/// `[answers, with the outcome, occurrences]` by band (hard, neutral, easy) at `checkout`.
fn bands(view: &Value) -> [[u64; 3]; 3] {
    let outcome = &view["touchpoints"][0]["outcomes"][0];
    ["answers", "with_outcome", "occurrences"].map(|field| {
        ["hard", "neutral", "easy"].map(|b| outcome["bands"][b][field].as_u64().unwrap_or(0))
    })
}

/// The same figures recomputed from the export: each answered order below `ORDERS` had `LINES /
/// ORDERS` repeat contacts.
fn recomputed(export: &[Value]) -> [[u64; 3]; 3] {
    let mut figures = [[0; 3]; 3];
    for record in export {
        let order: u64 = record["context"]["interaction_id"]
            .as_str()
            .and_then(|i| i.strip_prefix("order-")?.parse().ok())
            .expect("an order");
        let band = match record["answers"]["effort"].as_u64().expect("an effort") {
            1..=3 => 0,
            4 => 1,
            _ => 2,
        };
        figures[0][band] += 1;
        if order < ORDERS {
            figures[1][band] += 1;
            figures[2][band] += LINES / ORDERS;
        }
    }
    figures
}

/// Blocks the start read from their saved part of the index, and blocks it had to read from
/// their records (the collector logs both).
fn blocks_read(collector: &Collector) -> (u64, u64) {
    let log = collector.log();
    let field = |line: &str, name: &str| -> u64 {
        line.split_once(&format!("{name}="))
            .and_then(|(_, rest)| rest.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    log.lines()
        .filter(|l| l.contains("part of the business view's index"))
        .fold((0, 0), |(saved, made), l| {
            (
                saved + field(l, "saved_blocks"),
                made + field(l, "made_blocks"),
            )
        })
}

/// Issue 18: after a restart the business view reads the sealed blocks' saved part of its index,
/// not every record, and its figures are still those recomputed from the export and the outcomes:
/// after a clean stop and after a SIGKILL.
#[test]
fn issue_18_the_view_read_from_the_saved_index_after_a_restart_and_a_sigkill_equals_a_recomputation(
) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut collector = Collector::start(dir.path(), &[]);
    for n in 0..SEALED_ANSWERS {
        assert_eq!(
            post(&collector.base, &answer(n).to_string()),
            Delivery::Acknowledged(201)
        );
    }
    assert_eq!(import(&collector, &import_body(0))["stored"], LINES);
    let expected = recomputed(&collector.export());
    assert_eq!(expected[2].iter().sum::<u64>(), LINES);
    assert_eq!(bands(&ready_view(&collector)), expected);
    // The sealer seals a block once its records are flushed: started again until a start finds
    // both blocks sealed.
    // PostgreSQL has no sealed blocks: it counts the index from its stats tail as it opens.
    let on_sled = std::env::var("TOUCHPOINT_TEST_BACKEND").map_or(true, |b| b != "postgres");
    let mut starts = 0;
    loop {
        assert!(collector.terminate(), "a clean stop");
        collector = Collector::start(dir.path(), &[]);
        let view = ready_view(&collector);
        assert_eq!(bands(&view), expected, "start {starts}");
        starts += 1;
        if !on_sled {
            break;
        }
        let (saved, made) = blocks_read(&collector);
        if saved + made == 2 {
            // Saved when each was sealed: nothing read from the records.
            assert_eq!((saved, made), (2, 0), "{}", collector.log());
            break;
        }
        assert!(starts < 20, "no block sealed:\n{}", collector.log());
    }
    collector.kill();
    let collector = Collector::start(dir.path(), &[]);
    assert_eq!(bands(&ready_view(&collector)), expected);
    if on_sled {
        assert_eq!(blocks_read(&collector), (2, 0), "{}", collector.log());
    }
    assert_eq!(recomputed(&collector.export()), expected);
}
