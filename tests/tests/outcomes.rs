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
