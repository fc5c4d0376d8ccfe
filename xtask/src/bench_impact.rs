//! `cargo xtask bench impact`: the business view over a large store, in one run.
//!
//! 1. A store of `--count` demo answers over a year (1,000,000 by default), seeded with the
//!    outcomes the demo's calls and orders get; the collector serves it with the demo bank's
//!    organisation file.
//! 2. `POST /v1/outcomes`: imports of 10,000 new NDJSON lines each, the time per line; then the
//!    same body again (every line a duplicate).
//! 3. `GET /v1/impact`: from the start, asked every 50 ms until it answers (`503` with
//!    `Retry-After` while the index reads in the answers stored before the start), the first
//!    answer, the first after the imports (which read their outcomes in themselves), then
//!    repeated questions (all touchpoints, one, one month), median and range; the collector's
//!    resident memory once the view is ready and at the end, and the index's own size as the
//!    collector logs it.

use std::{io::BufReader, net::TcpStream, path::Path, time::Instant};

use crate::{
    root,
    server::{exchange, free_addr, rss_kib, run_started_at, seeded_in, serve_command, Server},
    wrk::spread,
};

const TOKEN: &str = "bench-impact-token-0123456789abcdefgh";
/// Lines per import, and imports.
const LINES: usize = 10_000;
const IMPORTS: usize = 10;
/// Repeated questions per query.
const QUERIES: usize = 20;

fn ms(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1000.0
}

fn request(
    stream: &mut BufReader<TcpStream>,
    addr: &str,
    method: &str,
    path: &str,
    body: &str,
) -> Result<(u16, String), String> {
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/x-ndjson\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let (status, body) = exchange(stream, &request)?;
    let body = String::from_utf8_lossy(&body).into_owned();
    if status != 200 && !(status == 503 && body.contains("\"preparing\"")) {
        return Err(format!("{method} {path}: {status} {body}"));
    }
    Ok((status, body))
}

/// A JSON number field of `body`.
fn field(body: &str, name: &str) -> Option<u64> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    value[name].as_u64()
}

pub fn run(dir: &Path, count: u64) -> Result<String, String> {
    // A store of its own (the imports below add to it), seeded once and reused: each run's
    // lines are new, at times from the run's start.
    let data = dir.join(format!("impact-data-{count}"));
    let started = Instant::now();
    let data = seeded_in(data, count)?;
    let seed_seconds = started.elapsed().as_secs_f64();
    let addr = free_addr()?;
    let spawned = Instant::now();
    let server = Server::start(
        serve_command(&addr, &data)
            .arg("--org")
            .arg(root().join("demo-site/northbank.toml"))
            .env("TOUCHPOINT_ADMIN_TOKEN", TOKEN)
            .env("RUST_LOG", "info"),
        dir.join("impact-server.log"),
        &addr,
    )?;
    let stream = TcpStream::connect(&addr).map_err(|e| e.to_string())?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let mut stream = BufReader::new(stream);

    let listening_ms = ms(spawned);
    let mut preparing = 0;
    let first = loop {
        match request(&mut stream, &addr, "GET", "/v1/impact", "")? {
            (200, body) => break body,
            _ => preparing += 1,
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let ready_ms = ms(spawned);
    let ready_memory = rss_kib(server.pid(), "VmRSS:");
    let started = Instant::now();
    request(&mut stream, &addr, "GET", "/v1/impact", "")?;
    let cold_ms = ms(started);
    let index_line = std::fs::read_to_string(dir.join("impact-server.log"))
        .unwrap_or_default()
        .lines()
        .rev()
        .find(|l| l.contains("the business view is ready"))
        .map(|l| l[l.find("answers").unwrap_or(0)..].to_owned())
        .unwrap_or_default();
    let seeded_outcomes: u64 = serde_json::from_str::<serde_json::Value>(&first)
        .ok()
        .and_then(|v| {
            Some(
                v["touchpoints"]
                    .as_array()?
                    .iter()
                    .flat_map(|t| t["outcomes"].as_array().into_iter().flatten())
                    .flat_map(|o| {
                        ["hard", "neutral", "easy"]
                            .map(|b| o["bands"][b]["occurrences"].as_u64().unwrap_or(0))
                    })
                    .sum(),
            )
        })
        .unwrap_or(0);

    // Imports of new lines: repeat contacts of the demo's orders, a millisecond apart from the
    // run's start, so no earlier run has them.
    let first = protocol::Timestamp::parse(run_started_at())
        .map_err(|_| "the run's start is not a timestamp")?
        .unix_millis();
    let mut per_line_us = Vec::new();
    let mut last_body = String::new();
    for import in 0..IMPORTS {
        let body: String = (0..LINES)
            .map(|i| {
                let n = import * LINES + i;
                let at = protocol::Timestamp::from_unix_millis(first + n as i64);
                format!(
                    "{{\"interaction_id\":\"order-{}\",\"outcome\":\"repeat_contact\",\"at\":\"{}\"}}\n",
                    n * 7 % count as usize,
                    at.as_str()
                )
            })
            .collect();
        let started = Instant::now();
        let (_, answer) = request(&mut stream, &addr, "POST", "/v1/outcomes", &body)?;
        per_line_us.push(ms(started) * 1000.0 / LINES as f64);
        if field(&answer, "stored") != Some(LINES as u64) {
            return Err(format!(
                "an import stored less than every line: {}",
                &answer[..200.min(answer.len())]
            ));
        }
        last_body = body;
    }
    let started = Instant::now();
    let (_, again) = request(&mut stream, &addr, "POST", "/v1/outcomes", &last_body)?;
    let duplicate_us = ms(started) * 1000.0 / LINES as f64;
    if field(&again, "duplicate") != Some(LINES as u64) {
        return Err("the same import sent again was not every line a duplicate".into());
    }
    let started = Instant::now();
    request(&mut stream, &addr, "GET", "/v1/impact", "")?;
    let catch_up_ms = ms(started);

    let mut lines = vec![format!(
        "## The business view over {count} answers (`cargo xtask bench impact`)\n\n\
         The store (seeded in {seed_seconds:.0} s, or reused) held {seeded_outcomes} outcomes; {} more \
         were imported below, so {} in all.\n\n\
         | what | median (range) |\n|---|---|\n\
         | `POST /v1/outcomes`, {IMPORTS} imports of {LINES} new lines, per line | {} µs |\n\
         | the last import sent again (every line a duplicate), per line | {duplicate_us:.1} µs |\n\
         | from the start to listening | {listening_ms:.0} ms |\n\
         | from the start to the first `200` of `GET /v1/impact`, asked every 50 ms ({preparing} answers `503` before it) | {ready_ms:.0} ms |\n\
         | the next `GET /v1/impact` | {cold_ms:.0} ms |\n\
         | first `GET /v1/impact` after the imports ({} outcomes, read in by the imports) | {catch_up_ms:.0} ms |",
        IMPORTS * LINES,
        seeded_outcomes + (IMPORTS * LINES) as u64,
        spread(&per_line_us, 1),
        IMPORTS * LINES,
    )];
    for path in [
        "/v1/impact",
        "/v1/impact?touchpoint=card-activation",
        "/v1/impact?from=2026-06-01&to=2026-07-01",
    ] {
        let mut times = Vec::with_capacity(QUERIES);
        for _ in 0..QUERIES {
            let started = Instant::now();
            request(&mut stream, &addr, "GET", path, "")?;
            times.push(ms(started));
        }
        lines.push(format!(
            "| `GET {path}`, {QUERIES} times | {} ms |",
            spread(&times, 1)
        ));
    }
    let memory = rss_kib(server.pid(), "VmRSS:");
    drop(stream);
    server.stop();
    lines.push(format!(
        "\nResident memory of the collector once the view was ready: {:.0} MiB; afterwards: {:.0} MiB. \
         The index, as logged when ready: {index_line}\n",
        ready_memory as f64 / 1024.0,
        memory as f64 / 1024.0
    ));
    Ok(lines.join("\n"))
}
