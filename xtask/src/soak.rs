//! `cargo xtask bench soak`: the release collector under a steady load for a bounded time, the way
//! a busy deployment sees it: the widget's request shape at a fixed rate, with outbox retries
//! (duplicates) mixed in. Reports throughput, latency percentiles, memory and disk over time, and
//! checks afterwards that every acknowledged answer is stored exactly once.
//!
//! Latency is measured from when each request was due, not when it was sent, so a stall shows up
//! in the percentiles instead of quietly lowering the rate.

use std::{
    io::BufReader,
    net::TcpStream,
    path::Path,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use crate::server::{
    count_rows, exchange, free_addr, rss_kib, run_started_at, serve_command, Server,
};

/// Connections the load is spread over (each sends at its share of the rate).
const CONNECTIONS: u64 = 4;

pub struct Options {
    pub seconds: u64,
    pub rate: u64,
    pub duplicate_percent: u64,
}

/// One connection's tally.
#[derive(Default)]
struct Tally {
    latencies_micros: Vec<u32>,
    stored: u64,
    duplicates: u64,
    other: Vec<String>,
}

struct Sample {
    at: Duration,
    rss_kib: u64,
    disk_bytes: u64,
    stored: u64,
}

pub fn soak(dir: &Path, options: &Options) -> Result<String, String> {
    let data = dir.join("soak-data");
    let _ = std::fs::remove_dir_all(&data);
    let addr = free_addr()?;
    let server = Server::start(
        serve_command(&addr, &data).env("RUST_LOG", "warn"),
        dir.join("soak-server.log"),
        &addr,
    )?;
    let pid = server.pid();
    let stored_total = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let samples = Arc::new(Mutex::new(Vec::new()));
    let started = Instant::now();
    let sampler = {
        let (stored_total, stop, samples, data) = (
            Arc::clone(&stored_total),
            Arc::clone(&stop),
            Arc::clone(&samples),
            data.clone(),
        );
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let sample = Sample {
                    at: started.elapsed(),
                    rss_kib: rss_kib(pid, "VmRSS:"),
                    disk_bytes: dir_bytes(&data),
                    stored: stored_total.load(Ordering::SeqCst),
                };
                samples
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(sample);
                std::thread::sleep(Duration::from_secs(5));
            }
        })
    };
    let deadline = started + Duration::from_secs(options.seconds);
    let interval = Duration::from_secs_f64(CONNECTIONS as f64 / options.rate as f64);
    let connections: Vec<_> = (0..CONNECTIONS)
        .map(|c| {
            let (addr, stored_total) = (addr.clone(), Arc::clone(&stored_total));
            let duplicate_percent = options.duplicate_percent;
            std::thread::spawn(move || {
                load(
                    &addr,
                    c,
                    started + interval.mul_f64(c as f64 / CONNECTIONS as f64),
                    interval,
                    deadline,
                    duplicate_percent,
                    &stored_total,
                )
            })
        })
        .collect();
    let mut tally = Tally::default();
    for connection in connections {
        let t = connection
            .join()
            .map_err(|_| "a load thread panicked".to_owned())??;
        tally.latencies_micros.extend(t.latencies_micros);
        tally.stored += t.stored;
        tally.duplicates += t.duplicates;
        tally.other.extend(t.other);
    }
    let elapsed = started.elapsed();
    stop.store(true, Ordering::SeqCst);
    let _ = sampler.join();
    let final_sample = Sample {
        at: elapsed,
        rss_kib: rss_kib(pid, "VmRSS:"),
        disk_bytes: dir_bytes(&data),
        stored: tally.stored,
    };
    server.stop();
    let rows = count_rows(&data)?;
    if rows != tally.stored {
        return Err(format!(
            "{} answers were acknowledged as stored but the store holds {rows}",
            tally.stored
        ));
    }
    if !tally.other.is_empty() {
        return Err(format!(
            "{} requests were not answered 201/200, e.g. {}",
            tally.other.len(),
            tally.other[0]
        ));
    }
    let mut samples = std::mem::take(&mut *samples.lock().unwrap_or_else(|p| p.into_inner()));
    samples.push(final_sample);
    write_samples(&dir.join("soak-samples.csv"), &samples)?;
    Ok(report(options, &tally, elapsed, &samples))
}

/// One connection: a request every `interval` from `first` until `deadline`; a share of them
/// resend an earlier answer of this connection with the same id, as an outbox does after a lost
/// acknowledgement.
fn load(
    addr: &str,
    connection: u64,
    first: Instant,
    interval: Duration,
    deadline: Instant,
    duplicate_percent: u64,
    stored_total: &AtomicU64,
) -> Result<Tally, String> {
    let mut stream = connect(addr)?;
    let mut tally = Tally::default();
    let mut sent: u64 = 0;
    let mut due = first;
    let mut state = 0x9e37_79b9_7f4a_7c15_u64 ^ connection;
    while due < deadline {
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        state = xorshift(state);
        let retry = sent > 0 && state % 100 < duplicate_percent;
        let n = if retry { state / 100 % sent } else { sent };
        let body = answer(connection, n);
        let status = match post(&mut stream, &body) {
            Ok(status) => status,
            Err(_) => {
                // A dropped connection: reconnect and resend, as the outbox would.
                stream = connect(addr)?;
                post(&mut stream, &body)?
            }
        };
        let latency = due.elapsed();
        tally
            .latencies_micros
            .push(latency.as_micros().min(u32::MAX as u128) as u32);
        match (status, retry) {
            (201, false) => {
                tally.stored += 1;
                sent += 1;
                stored_total.fetch_add(1, Ordering::SeqCst);
            }
            (200, true) => tally.duplicates += 1,
            _ => tally.other.push(format!(
                "status {status} for a {} answer",
                if retry { "resent" } else { "new" }
            )),
        }
        due += interval;
    }
    Ok(tally)
}

fn xorshift(mut x: u64) -> u64 {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x
}

/// The widget's request body (text/plain JSON), answer `n` of `connection`.
fn answer(connection: u64, n: u64) -> String {
    let effort = 1 + n % 7;
    let confidence = 1 + n % 5;
    let emotion = ["angry", "frustrated", "neutral", "pleased", "delighted"][(n % 5) as usize];
    format!(
        r#"{{"id":"soak-{connection}-{n:012}","survey":{{"id":"core-cx","version":1}},"channel":"web","touchpoint":"checkout","answers":{{"effort":{effort},"confidence":{confidence},"emotion":"{emotion}"}},"comment":"The page kept asking me to log in again.","locale":"en","context":{{"segment":"premium","page":"/checkout"}},"submitted_at":"{at}"}}"#,
        at = run_started_at()
    )
}

fn connect(addr: &str) -> Result<BufReader<TcpStream>, String> {
    let stream = TcpStream::connect(addr).map_err(|e| format!("connecting to {addr}: {e}"))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    Ok(BufReader::new(stream))
}

/// One keep-alive POST; returns the status.
fn post(stream: &mut BufReader<TcpStream>, body: &str) -> Result<u16, String> {
    let request = format!(
        "POST /v1/responses HTTP/1.1\r\nHost: soak\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    Ok(exchange(stream, &request)?.0)
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_bytes(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

fn write_samples(path: &Path, samples: &[Sample]) -> Result<(), String> {
    let mut csv = String::from("seconds,rss_kib,disk_bytes,stored\n");
    for s in samples {
        csv.push_str(&format!(
            "{:.0},{},{},{}\n",
            s.at.as_secs_f64(),
            s.rss_kib,
            s.disk_bytes,
            s.stored
        ));
    }
    std::fs::write(path, csv).map_err(|e| format!("{}: {e}", path.display()))
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    f64::from(sorted[i]) / 1000.0
}

fn report(options: &Options, tally: &Tally, elapsed: Duration, samples: &[Sample]) -> String {
    let mut latencies = tally.latencies_micros.clone();
    latencies.sort_unstable();
    let requests = latencies.len() as f64;
    let mib = |kib: u64| kib as f64 / 1024.0;
    // Memory after the first minute (sled's cache and the allocator have warmed up) against the
    // end, so growth is not confused with start-up.
    let warm = samples
        .iter()
        .find(|s| s.at >= Duration::from_secs(60))
        .unwrap_or(&samples[0]);
    let last = &samples[samples.len() - 1];
    let peak_rss = samples.iter().map(|s| s.rss_kib).max().unwrap_or(0);
    let bytes_per_answer = last.disk_bytes as f64 / last.stored.max(1) as f64;
    format!(
        "soak: {:.0} s at {} req/s target over {CONNECTIONS} keep-alive connections, {} % resent answers\n\
         \x20 requests {:.0} ({:.1}/s achieved): {} stored (201), {} duplicates (200), 0 other; store holds exactly the {} stored\n\
         \x20 latency from when each request was due: p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.1} ms\n\
         \x20 memory (RSS): {:.0} MiB at {:.0} s, {:.0} MiB at the end, peak {:.0} MiB\n\
         \x20 disk: {:.1} MiB at the end, {:.0} bytes per stored answer (samples: target/bench/soak-samples.csv)",
        elapsed.as_secs_f64(),
        options.rate,
        options.duplicate_percent,
        requests,
        requests / elapsed.as_secs_f64(),
        tally.stored,
        tally.duplicates,
        tally.stored,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        percentile(&latencies, 0.999),
        percentile(&latencies, 1.0),
        mib(warm.rss_kib),
        warm.at.as_secs_f64(),
        mib(last.rss_kib),
        mib(peak_rss),
        last.disk_bytes as f64 / 1_048_576.0,
        bytes_per_answer,
    )
}
