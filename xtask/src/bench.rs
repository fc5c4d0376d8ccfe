//! `cargo xtask bench`: the figures in the README, measured on loopback with release builds.
//!
//! - ingest: wrk posts the widget's request shape (text/plain, ~330 bytes, a new id each time) to
//!   a bare actix-web endpoint that stores nothing and to the collector, whose every 201 is
//!   flushed to disk; rounds alternate, medians are reported with the ratio.
//! - export: a million answers are generated into a store, then exported to CSV and NDJSON by the
//!   offline command (time and peak memory) and once over HTTP (server memory before and after).
//! - stats: the same million answers (a year of them), served; `GET /v1/stats` timed for several
//!   groupings and ranges over one kept-alive connection; then the collector is killed and started
//!   again, and how long it took to listen and how it recovered the stats are reported.
//! - postgres (only when asked): durable ingest on sled against PostgreSQL with one and with
//!   three collectors, then three collectors' memory as their database grows and the export of
//!   `--count` answers from it; see `bench_postgres.rs`.
//! - widget (only when asked): the widget's long tasks on the host page's main thread, in
//!   Chromium with a 4× slower CPU (`CPU_THROTTLE` sets another factor), and the time from the
//!   click to the survey (`tests/browser/bench/main-thread.mjs`); with `--slow-network`, on an
//!   emulated slow network (400 ms latency, 400 kbit/s each way).
//! - backlog (only when asked): a kiosk back online with `--count` answers (default 100) queued,
//!   drained against a collector with its default rate limits, in Chromium
//!   (`tests/browser/bench/backlog.mjs`): time until all are stored, and the 429s on the way.
//! - soak (only when asked): see `soak.rs`.
//! - memory (only when asked): the collector's resident memory over the export's million answers
//!   once it listens, once the business view is ready, after an export and after the stats
//!   queries; see `bench_memory.rs`.
//! - themes (only when asked): `GET /v1/themes` over a million answers with 300k comments, the
//!   memory it takes, and ingest with a comment against without one; see `bench_themes.rs`.
//! - webhooks (only when asked): alert latency under load, a backlog drained, and ingest with two
//!   endpoints against none; see `bench_webhooks.rs`.

use std::{
    net::TcpStream,
    path::Path,
    process::{Command, Stdio},
    time::Instant,
};

use crate::{
    build_release_collector, flag,
    server::{
        admin_get, admin_server, count_rows, free_addr, log_field, release, rss_kib, seeded,
        serve_command, start_bare, stream_export, Server, BENCH_TOKEN, STATS_QUERIES,
    },
    target_dir, tools,
    wrk::{median, wrk},
};

pub fn main(args: &[String]) -> Result<(), String> {
    let which = args
        .first()
        .map(String::as_str)
        .filter(|a| !a.starts_with("--"));
    let seconds: u64 = flag(args, "--seconds")
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let rounds: usize = flag(args, "--rounds")
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let count: u64 = flag(args, "--count")
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    // Every benchmark runs the collector with the widget embedded, as it is deployed.
    build_release_collector(&["--example", "bare_endpoint"])?;
    let dir = target_dir().join("bench");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let mut report = Vec::new();
    if let Some(before) = flag(args, "--before").filter(|_| which == Some("ingest")) {
        report.push(crate::bench_ingest::run(
            &dir,
            before.into(),
            seconds,
            rounds,
        )?);
    } else if matches!(which, None | Some("ingest")) {
        report.push(ingest(&dir, seconds, rounds)?);
    }
    if matches!(which, None | Some("export")) {
        report.push(export(&dir, count)?);
    }
    if which == Some("postgres") {
        report.push(crate::bench_postgres::run(&dir, seconds, rounds, count)?);
    }
    if which == Some("widget") {
        let runs = flag(args, "--runs").unwrap_or_else(|| "10".into());
        let network = if args.iter().any(|a| a == "--slow-network") {
            "slow"
        } else {
            "loopback"
        };
        report.push(browser_bench(
            "main-thread.mjs",
            &[("RUNS", &runs), ("NETWORK", network)],
            "widget main thread",
        )?);
    }
    if which == Some("backlog") {
        let count = flag(args, "--count").unwrap_or_else(|| "100".into());
        report.push(browser_bench(
            "backlog.mjs",
            &[("COUNT", &count)],
            "kiosk backlog",
        )?);
    }
    if which == Some("soak") {
        let options = crate::soak::Options {
            seconds: flag(args, "--minutes")
                .and_then(|s| s.parse::<u64>().ok())
                .map_or(seconds, |m| m * 60),
            rate: flag(args, "--rate")
                .and_then(|s| s.parse().ok())
                .unwrap_or(300),
            duplicate_percent: flag(args, "--duplicates")
                .and_then(|s| s.parse().ok())
                .unwrap_or(10),
        };
        report.push(crate::soak::soak(&dir, &options)?);
    }
    if which == Some("memory") {
        report.push(crate::bench_memory::run(&dir, count)?);
    }
    if which == Some("impact") {
        report.push(crate::bench_impact::run(&dir, count)?);
    }
    if which == Some("themes") {
        let queries = flag(args, "--queries")
            .and_then(|s| s.parse().ok())
            .unwrap_or(200);
        report.push(crate::bench_themes::run(
            &dir, seconds, rounds, count, queries,
        )?);
    }
    if which == Some("webhooks") {
        report.push(crate::bench_webhooks::run(&dir, seconds, rounds)?);
    }
    if matches!(which, None | Some("stats")) {
        report.push(stats(&dir, count)?);
    }
    println!("\n{}", report.join("\n"));
    Ok(())
}

fn ingest(dir: &Path, seconds: u64, rounds: usize) -> Result<String, String> {
    tools::ensure_apt(&[("wrk", "wrk")])?;
    let data = dir.join("ingest-data");
    let _ = std::fs::remove_dir_all(&data);
    let (bare, bare_url) = start_bare(dir)?;
    let addr = free_addr()?;
    let collector = Server::start(
        serve_command(&addr, &data).env("RUST_LOG", "info"),
        dir.join("collector.log"),
        &addr,
    )?;
    // Warm both up (page cache, allocator, sled's first segments).
    wrk(dir, &bare_url, "warm-bare", 2)?;
    wrk(
        dir,
        &format!("http://{addr}/v1/responses"),
        "warm-collector",
        2,
    )?;
    let (mut bare_runs, mut collector_runs) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let b = wrk(dir, &bare_url, &format!("bare{round}"), seconds)?;
        let c = wrk(
            dir,
            &format!("http://{addr}/v1/responses"),
            &format!("round{round}"),
            seconds,
        )?;
        eprintln!(
            "round {round}: bare {:.0} req/s p99 {:.2} ms | collector {:.0} req/s p99 {:.2} ms ({} non-2xx)",
            b.requests_per_sec, b.p99_ms, c.requests_per_sec, c.p99_ms, c.non_2xx
        );
        if c.non_2xx > 0 {
            return Err(format!(
                "the collector answered {} requests with a non-2xx status",
                c.non_2xx
            ));
        }
        bare_runs.push(b);
        collector_runs.push(c);
    }
    drop(bare);
    let log = collector.stop();
    let flushes: f64 = log_field(&log, "flushes")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    let flushed: f64 = log_field(&log, "writes_flushed")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    let stored = count_rows(&data)?;
    let sent: u64 = collector_runs.iter().map(|r| r.requests).sum();
    let bare_rps = median(bare_runs.iter().map(|r| r.requests_per_sec).collect());
    let rps = median(collector_runs.iter().map(|r| r.requests_per_sec).collect());
    let bare_p99 = median(bare_runs.iter().map(|r| r.p99_ms).collect());
    let p99 = median(collector_runs.iter().map(|r| r.p99_ms).collect());
    Ok(format!(
        "## Durable ingest (wrk -t1 -c32, {seconds} s x {rounds} rounds, medians, loopback, 2 workers)\n\
         | endpoint | requests/s | p99 latency |\n|---|---|---|\n\
         | bare actix-web, stores nothing | {bare_rps:.0} | {bare_p99:.2} ms |\n\
         | collector, every 201 flushed to disk | {rps:.0} | {p99:.2} ms |\n\n\
         ratio: {:.1} % of the bare endpoint; {:.1} writes per flush ({flushes:.0} flushes); \
         {stored} records stored for {sent} measured + warm-up requests, all 201\n",
        100.0 * rps / bare_rps,
        if flushes > 0.0 { flushed / flushes } else { 0.0 },
    ))
}

fn export(dir: &Path, count: u64) -> Result<String, String> {
    let data = seeded(dir, count)?;
    let binary = release("touchpoint-collector");
    let mut lines = vec![format!(
        "## Export of {count} stored answers (offline command, 3 runs, medians)\n\
         | format | time | peak memory (whole process) |\n|---|---|---|"
    )];
    for format in ["csv", "ndjson"] {
        let mut times = Vec::new();
        let mut peaks = Vec::new();
        for _ in 0..3 {
            let output = Command::new(&binary)
                .args(["export", "--format", format, "--out", "/dev/null", "--data"])
                .arg(&data)
                .env("RUST_LOG", "info")
                .output()
                .map_err(|e| e.to_string())?;
            let log = String::from_utf8_lossy(&output.stderr);
            let rows: u64 = log_field(&log, "rows")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            if rows != count {
                return Err(format!("exported {rows} rows, expected {count}: {log}"));
            }
            times.push(
                log_field(&log, "seconds")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(f64::NAN),
            );
            peaks.push(
                log_field(&log, "peak_rss_kib")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(f64::NAN),
            );
        }
        lines.push(format!(
            "| {format} | {:.2} s | {:.1} MiB |",
            median(times),
            median(peaks) / 1024.0
        ));
    }
    // Over HTTP: the server's memory before and after streaming everything.
    let (server, addr) = admin_server(&data, "warn", dir.join("export-server.log"))?;
    let before = rss_kib(server.pid(), "VmRSS:");
    let streamed = stream_export(&addr, server.pid())?;
    let (bytes, http_seconds, peak_during) =
        (streamed.bytes, streamed.seconds, streamed.peak_during_kib);
    let after = rss_kib(server.pid(), "VmRSS:");
    let hwm = rss_kib(server.pid(), "VmHWM:");
    drop(server);
    lines.push(format!(
        "\nOver HTTP (`GET /v1/export?format=csv`, streamed): {:.1} MB in {http_seconds:.2} s; \
         server memory {:.1} MiB before, {:.1} MiB at most while streaming, {:.1} MiB after (peak {:.1} MiB)\n",
        bytes as f64 / 1e6,
        before as f64 / 1024.0,
        peak_during as f64 / 1024.0,
        after as f64 / 1024.0,
        hwm as f64 / 1024.0,
    ));
    Ok(lines.join("\n"))
}

/// Runs `tests/browser/bench/<script>` in real Chromium against the release collector (widget
/// embedded), with its settings (`env`); returns its one summary line, labelled.
fn browser_bench(script: &str, env: &[(&str, &str)], label: &str) -> Result<String, String> {
    tools::ensure_apt(&[("chromium", "chromium")])?;
    let dir = crate::browser_packages()?;
    let output = Command::new("node")
        .arg(Path::new("bench").join(script))
        .current_dir(&dir)
        .envs(env.iter().copied())
        .env("TOUCHPOINT_COLLECTOR_BIN", release("touchpoint-collector"))
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("node: {e}"))?;
    if !output.status.success() {
        return Err(format!("the benchmark {script} failed"));
    }
    Ok(format!(
        "{label}: {}",
        String::from_utf8_lossy(&output.stdout).trim()
    ))
}

fn stats(dir: &Path, count: u64) -> Result<String, String> {
    const QUERIES: usize = 50;
    let data = seeded(dir, count)?;
    // The collector over `data`, with the benchmark's token; the time it took to listen.
    let serve = |log: &str| -> Result<(Server, String, f64), String> {
        let addr = free_addr()?;
        let started = Instant::now();
        let server = Server::start(
            serve_command(&addr, &data)
                .env("TOUCHPOINT_ADMIN_TOKEN", BENCH_TOKEN)
                .env("RUST_LOG", "info"),
            dir.join(log),
            &addr,
        )?;
        Ok((server, addr, started.elapsed().as_secs_f64()))
    };
    let (server, addr, open_seconds) = serve("stats-server.log")?;
    let stream = TcpStream::connect(&addr).map_err(|e| e.to_string())?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let mut stream = std::io::BufReader::new(stream);
    let mut lines = vec![format!(
        "## `GET /v1/stats` over {count} stored answers ({QUERIES} queries each, one kept-alive connection)\n\
         | query | groups | median | p99 |\n|---|---|---|---|"
    )];
    for query in STATS_QUERIES {
        let path = format!("/v1/stats{query}");
        let mut times = Vec::with_capacity(QUERIES);
        let mut groups = 0;
        for _ in 0..QUERIES {
            let started = Instant::now();
            let (status, body) = admin_get(&mut stream, &addr, &path)?;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            if status != 200 {
                return Err(format!(
                    "{path}: {status} {}",
                    String::from_utf8_lossy(&body)
                ));
            }
            groups = String::from_utf8_lossy(&body).matches("\"key\"").count();
        }
        times.sort_by(f64::total_cmp);
        let p99 = times[(times.len() * 99 / 100).min(times.len() - 1)];
        lines.push(format!(
            "| `{path}` | {groups} | {:.1} ms | {:.1} ms |",
            median(times),
            p99
        ));
    }
    let memory = rss_kib(server.pid(), "VmRSS:");
    drop(stream);
    drop(server); // SIGKILL, in the middle of nothing in particular
    let (again, _, reopen_seconds) = serve("stats-server-after-kill.log")?;
    let log = again.stop();
    let recovery = match (
        log_field(&log, "replayed"),
        log_field(&log, "rebuild_seconds"),
    ) {
        (_, Some(seconds)) => format!("rebuilt the stats from every record in {seconds} s"),
        (Some(records), None) => {
            format!("counted again the {records} records written after the last save")
        }
        (None, None) => "found the stats saved and nothing to count again".to_owned(),
    };
    lines.push(format!(
        "\nThe collector opened the store and listened after {open_seconds:.2} s; resident memory \
         after the queries {:.1} MiB. After a SIGKILL it listened again after {reopen_seconds:.2} s \
         and {recovery}.\n",
        memory as f64 / 1024.0
    ));
    Ok(lines.join("\n"))
}
