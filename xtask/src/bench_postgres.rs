//! `cargo xtask bench postgres`: the collector on PostgreSQL, on a server of the machine's
//! PostgreSQL started for it (fsync and `synchronous_commit` on, no standby).
//!
//! - Durable ingest: the same wrk load as `bench ingest` against the collector on sled, on
//!   PostgreSQL alone, and on three collectors sharing one database (one wrk each, a third of
//!   the connections), rounds alternating in one run.
//! - Growth: three collectors on one database while it grows to 100,000 and then to `--count`
//!   answers (a year of them, written straight into `records` by SQL, as other collectors would
//!   have stored them): how long each takes to count them, and each one's resident memory
//!   then; then the whole export streamed over HTTP from one of them, and each one's memory
//!   after it.

use std::{
    io::BufReader,
    net::TcpStream,
    path::Path,
    time::{Duration, Instant},
};

use touchpoint_tests::postgres::Postgres;

use crate::{
    server::{admin_get, free_addr, rss_kib, serve_command, stream_export, Server, BENCH_TOKEN},
    tools,
    wrk::{median, wrk_with},
};

/// The sizes of the database at which the collectors' memory is read (the last is `--count`).
const FIRST_STAGE: u64 = 100_000;
/// Rows written by one `INSERT` while the database grows.
const CHUNK: u64 = 100_000;
/// How long the collectors may take to count what was written.
const COUNT_DEADLINE: Duration = Duration::from_secs(600);

pub fn run(dir: &Path, seconds: u64, rounds: usize, count: u64) -> Result<String, String> {
    tools::ensure_apt(&[("wrk", "wrk"), (crate::INITDB, "postgresql")])?;
    let server = Postgres::start()?;
    let ingest = ingest(dir, &server, seconds, rounds)?;
    let growth = growth(dir, &server, count)?;
    Ok(format!("{ingest}\n{growth}"))
}

/// A release collector on `addr` over `data`, on the database `store` if given.
fn start(dir: &Path, name: &str, store: Option<&str>) -> Result<(Server, String), String> {
    let addr = free_addr()?;
    let mut command = serve_command(&addr, &dir.join("pg-bench-data").join(name));
    if let Some(url) = store {
        command.args(["--store", url]);
    }
    let log = dir.join(format!("pg-bench-{name}.log"));
    let server = Server::start(
        command
            .env("RUST_LOG", "info")
            .env("TOUCHPOINT_ADMIN_TOKEN", BENCH_TOKEN),
        log,
        &addr,
    )?;
    Ok((server, addr))
}

/// Durable ingest on sled, on PostgreSQL with one collector and with three, in the same run.
fn ingest(dir: &Path, server: &Postgres, seconds: u64, rounds: usize) -> Result<String, String> {
    let _ = std::fs::remove_dir_all(dir.join("pg-bench-data"));
    let url = |addr: &str| format!("http://{addr}/v1/responses");
    let (_sled, sled_addr) = start(dir, "sled", None)?;
    let one_db = server.create_database("one");
    let (_one, one_addr) = start(dir, "one", Some(&one_db))?;
    let three_db = server.create_database("three");
    let three: Vec<(Server, String)> = (0..3)
        .map(|i| start(dir, &format!("three{i}"), Some(&three_db)))
        .collect::<Result<_, _>>()?;
    let mut figures: [Vec<(f64, f64)>; 3] = Default::default();
    for round in 0..rounds + 1 {
        // The first round warms up and is not counted.
        let runs = [
            vec![wrk_with(
                dir,
                &url(&sled_addr),
                &format!("sled{round}"),
                seconds,
                32,
            )?],
            vec![wrk_with(
                dir,
                &url(&one_addr),
                &format!("one{round}"),
                seconds,
                32,
            )?],
            std::thread::scope(|scope| {
                let handles: Vec<_> = three
                    .iter()
                    .enumerate()
                    .map(|(i, (_, addr))| {
                        let target = url(addr);
                        scope.spawn(move || {
                            wrk_with(dir, &target, &format!("three{i}r{round}"), seconds, 11)
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().map_err(|_| "wrk".to_owned())?)
                    .collect::<Result<Vec<_>, String>>()
            })?,
        ];
        for (slot, run) in figures.iter_mut().zip(runs) {
            if let Some(failed) = run.iter().find(|r| r.non_2xx > 0) {
                return Err(format!("{} answers were not 2xx", failed.non_2xx));
            }
            let rps: f64 = run.iter().map(|r| r.requests_per_sec).sum();
            let p99 = run.iter().map(|r| r.p99_ms).fold(0.0, f64::max);
            eprintln!("round {round}: {rps:.0} req/s, p99 {p99:.2} ms");
            if round > 0 {
                slot.push((rps, p99));
            }
        }
    }
    let row = |label: &str, runs: &[(f64, f64)]| {
        let rps: Vec<f64> = runs.iter().map(|r| r.0).collect();
        let p99: Vec<f64> = runs.iter().map(|r| r.1).collect();
        let (lo, hi) = range(&rps);
        let (p99_lo, p99_hi) = range(&p99);
        format!(
            "| {label} | {:.0} ({lo:.0}–{hi:.0}) | {:.1} ms ({p99_lo:.1}–{p99_hi:.1}) |\n",
            median(rps),
            median(p99)
        )
    };
    Ok(format!(
        "## Durable ingest on sled and on PostgreSQL (wrk, 32 connections in all, {seconds} s x {rounds} rounds after a warm-up round, medians (range), loopback, 2 workers each)\n\
         | store | requests/s | p99 latency |\n|---|---|---|\n{}{}{}",
        row("one collector, sled", &figures[0]),
        row("one collector, PostgreSQL", &figures[1]),
        row("three collectors, one PostgreSQL", &figures[2]),
    ))
}

fn range(values: &[f64]) -> (f64, f64) {
    values
        .iter()
        .fold((f64::MAX, 0.0f64), |(lo, hi), v| (lo.min(*v), hi.max(*v)))
}

/// Three collectors' memory as their database grows to `count` answers, and the export of all
/// of them.
fn growth(dir: &Path, server: &Postgres, count: u64) -> Result<String, String> {
    let url = server.create_database("grow");
    let db = url.rsplit('/').next().unwrap_or_default().to_owned();
    let collectors: Vec<(Server, String)> = (0..3)
        .map(|i| start(dir, &format!("grow{i}"), Some(&url)))
        .collect::<Result<_, _>>()?;
    let rss = |c: &[(Server, String)]| -> Vec<u64> {
        c.iter().map(|(s, _)| rss_kib(s.pid(), "VmRSS:")).collect()
    };
    let mut lines = vec![format!(
        "## Three collectors on one PostgreSQL as it grows (resident memory of each, MiB)\n\
         | answers in the database | written in | counted by all three in | memory of each |\n|---|---|---|---|\n| 0 (just started) | | | {} |",
        mib(&rss(&collectors))
    )];
    let mut written = 0;
    for stage in [FIRST_STAGE.min(count), count] {
        if stage <= written {
            continue;
        }
        let started = Instant::now();
        while written < stage {
            let upto = (written + CHUNK).min(stage);
            server.psql(&db, &insert_sql(written, upto, count))?;
            written = upto;
        }
        let write_seconds = started.elapsed().as_secs_f64();
        let started = Instant::now();
        for (_, addr) in &collectors {
            wait_counted(addr, stage)?;
        }
        let count_seconds = started.elapsed().as_secs_f64();
        eprintln!(
            "{stage} answers: written in {write_seconds:.1} s, counted in {count_seconds:.1} s"
        );
        lines.push(format!(
            "| {stage} | {write_seconds:.1} s | {count_seconds:.1} s | {} |",
            mib(&rss(&collectors))
        ));
    }
    let (exporter, addr) = &collectors[0];
    let streamed = stream_export(addr, exporter.pid())?;
    if streamed.lines != count + 1 {
        return Err(format!(
            "the export held {} lines, expected {count} answers and a header",
            streamed.lines
        ));
    }
    lines.push(format!(
        "\nExport of {count} answers over HTTP from one of them (`GET /v1/export?format=csv`): {:.1} MB in {:.2} s; \
         its memory at most {:.1} MiB while streaming; each collector's memory after it: {} MiB\n",
        streamed.bytes as f64 / 1e6,
        streamed.seconds,
        streamed.peak_during_kib as f64 / 1024.0,
        mib(&rss(&collectors))
    ));
    Ok(lines.join("\n"))
}

fn mib(kib: &[u64]) -> String {
    kib.iter()
        .map(|k| format!("{:.1}", *k as f64 / 1024.0))
        .collect::<Vec<_>>()
        .join(" / ")
}

/// Waits until the collector on `addr` counts `count` answers in `GET /v1/stats`.
fn wait_counted(addr: &str, count: u64) -> Result<(), String> {
    let deadline = Instant::now() + COUNT_DEADLINE;
    let mut stream = BufReader::new(TcpStream::connect(addr).map_err(|e| e.to_string())?);
    let wanted = format!("\"count\":{count},");
    loop {
        let (status, body) = admin_get(&mut stream, addr, "/v1/stats")?;
        let body = String::from_utf8_lossy(&body);
        // The total comes first.
        if status == 200
            && body
                .find("\"count\":")
                .map(|at| &body[at..])
                .is_some_and(|b| b.starts_with(&wanted))
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("{addr} did not count {count} answers: {body:.200}"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Answers `from..upto` of `total`, spread over the year before now, as a collector stores
/// them: arrival key, id, channel, touchpoint and the submission's JSON.
fn insert_sql(from: u64, upto: u64, total: u64) -> String {
    const YEAR_MICROS: u64 = 365 * 24 * 3600 * 1_000_000;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64);
    let step = YEAR_MICROS / total.max(1);
    let first = now - YEAR_MICROS;
    format!(
        r#"INSERT INTO records (key, id, interaction, flags, channel, touchpoint, json)
SELECT k, id, NULL, 0, ch, tp,
    '{{"id":"' || id || '","survey":{{"id":"core-cx","version":1}},"channel":"' || ch
    || '","touchpoint":"' || tp || '","answers":{{"effort":' || 1 + i % 7
    || ',"confidence":' || 1 + i % 5 || ',"emotion":"'
    || (ARRAY['angry','frustrated','neutral','pleased','delighted'])[1 + i % 5]
    || '"}},"comment":"The page kept asking me to log in again.","locale":"en","context":{{}},"submitted_at":"'
    || to_char(to_timestamp(k / 1e6) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') || '"}}'
FROM (SELECT i, {first} + i * {step} AS k, 'pgbench-' || lpad(i::text, 12, '0') AS id,
             (ARRAY['web','kiosk','agent'])[1 + i % 3] AS ch,
             (ARRAY['checkout','signup','support','billing','delivery'])[1 + i % 5] AS tp
      FROM generate_series({from}::bigint, {upto}::bigint - 1) AS i) AS g"#
    )
}
