//! The figures of bounded cardinality (issue 13), measured in-process on a release build:
//!
//! - `cargo run --release -p touchpoint-collector --example cardinality -- render [DIR]`: a store
//!   of 1,000,000 answers over a year, spread over the default bounds (2,000 touchpoints, 5,000
//!   sites, 1,000 segments, 10,000 agents, 10,000 devices; nearly every answer its own cell), made
//!   in DIR (default `target/bench/cardinality`) when missing; then the dashboard's default view
//!   and the council report of the last week and month, rendered 9 times each: median and range
//!   of the wall-clock time and of the rendering thread's CPU time.
//! - `… --example cardinality -- disk [CELLS]`: the bytes the process writes per answer on a
//!   store whose day already holds CELLS distinct cells and devices (default 40,000), one answer
//!   a second so that each is saved on its own, against the seconds without one in between;
//!   counted twice from `/proc/self/io`: `wchar`, the bytes handed to the kernel, and
//!   `write_bytes`, the page cache they dirtied. Then 30,000 more answers to known cells, and
//!   what the store's files grew by. Then the same on an empty store.

use std::{path::PathBuf, time::Instant};

use collector::{
    read::{dashboard, report},
    store::{SledStore, Store},
};

const DAY_MICROS: u64 = 86_400_000_000;
/// 2026-01-01T00:00:00Z.
const YEAR_START_MICROS: u64 = 1_767_225_600_000_000;

fn answer(n: u64, r: u64, micros: u64) -> protocol::Submission {
    let channel = ["web", "kiosk", "agent"][(n % 3) as usize];
    let context = match n % 3 {
        0 => format!(r#"{{"segment":"seg-{}"}}"#, r % 1_000),
        1 => format!(
            r#"{{"site_id":"site-{}","device_id":"k-{}"}}"#,
            r % 5_000,
            (r >> 20) % 2
        ),
        _ => format!(r#"{{"agent_id":"a-{}"}}"#, r % 10_000),
    };
    let comment = if n % 5 == 0 {
        r#","comment":"could be easier""#
    } else {
        ""
    };
    let at = protocol::Timestamp::from_unix_millis((micros / 1000) as i64);
    let body = format!(
        r#"{{"id":"cardinality{n:010}","survey":{{"id":"core-cx","version":1}},"channel":"{channel}","touchpoint":"tp-{}","answers":{{"effort":{},"confidence":{},"emotion":"pleased"}},"locale":"en","context":{context}{comment},"submitted_at":"{}"}}"#,
        (r >> 8) % 2_000,
        r % 7 + 1,
        (r >> 4) % 5 + 1,
        at.as_str()
    );
    protocol::parse_submission(body.as_bytes()).expect("a valid answer")
}

/// A pseudo-random number per answer (splitmix64), so the values spread evenly.
fn spread(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The CPU time this thread has used: on a machine shared with other work, the wall-clock time
/// of a page also counts the time it waited for a core.
fn cpu_time() -> f64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    t.tv_sec as f64 * 1000.0 + t.tv_nsec as f64 / 1e6
}

fn timed(runs: usize, mut work: impl FnMut() -> usize) -> String {
    let (mut wall, mut cpu): (Vec<f64>, Vec<f64>) = (0..runs)
        .map(|_| {
            let (started, cpu_started) = (Instant::now(), cpu_time());
            std::hint::black_box(work());
            (
                started.elapsed().as_secs_f64() * 1000.0,
                cpu_time() - cpu_started,
            )
        })
        .unzip();
    wall.sort_by(f64::total_cmp);
    cpu.sort_by(f64::total_cmp);
    format!(
        "median {:.1} ms (range {:.1}–{:.1} ms); CPU time median {:.1} ms ({:.1}–{:.1} ms)",
        wall[runs / 2],
        wall[0],
        wall[runs - 1],
        cpu[runs / 2],
        cpu[0],
        cpu[runs - 1]
    )
}

fn render(dir: PathBuf) {
    const COUNT: u64 = 1_000_000;
    let fresh = !dir.exists();
    let started = Instant::now();
    let store = SledStore::open_with_cache(&dir, 128).expect("the store opens");
    if fresh {
        for n in 0..COUNT {
            let micros = YEAR_START_MICROS + n * (365 * DAY_MICROS / COUNT);
            let s = answer(n, spread(n), micros);
            store.put_at(&s, &s.to_json(), micros).expect("stored");
        }
        store.flush().expect("flushed");
        println!(
            "made {COUNT} answers in {:.0} s",
            started.elapsed().as_secs_f64()
        );
    } else {
        println!("opened in {:.1} s", started.elapsed().as_secs_f64());
    }
    println!("records: {}", store.len());
    let page = dashboard::render(&store, &dashboard::Params::default(), None).expect("renders");
    println!("dashboard: {} bytes", page.len());
    println!(
        "dashboard, default view (28 days): {}",
        timed(9, || dashboard::render(
            &store,
            &dashboard::Params::default(),
            None
        )
        .expect("renders")
        .len())
    );
    for period in ["2026-W52", "2026-12"] {
        let period = report::Period::parse(period).expect("a period");
        let html = report::build(&store, &period, None, period.to_day).expect("builds");
        println!(
            "report {}: {} lines, {} bytes of HTML",
            period.label,
            html.touchpoints.len(),
            html.to_html(report::Stylesheet::DASHBOARD).len()
        );
        println!(
            "report {} (built and written as HTML): {}",
            period.label,
            timed(9, || report::build(&store, &period, None, period.to_day)
                .expect("builds")
                .to_html(report::Stylesheet::DASHBOARD)
                .len())
        );
    }
}

/// A kiosk answer at touchpoint `tp-{place}` from device `k-{place}`.
fn at_place(n: u64, place: u64, micros: u64) -> protocol::Submission {
    let at = protocol::Timestamp::from_unix_millis((micros / 1000) as i64);
    let body = format!(
        r#"{{"id":"diskbytes{n:010}","survey":{{"id":"core-cx","version":1}},"channel":"kiosk","touchpoint":"tp-{place}","answers":{{"effort":5}},"locale":"en","context":{{"site_id":"site-1","device_id":"k-{place}"}},"submitted_at":"{}"}}"#,
        at.as_str()
    );
    protocol::parse_submission(body.as_bytes()).expect("a valid answer")
}

/// The bytes of every file under `dir`: the store's size on disk.
fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| {
                    let p = e.path();
                    if p.is_dir() {
                        dir_bytes(&p)
                    } else {
                        e.metadata().map(|m| m.len()).unwrap_or(0)
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

/// What the process has written so far, from `/proc/self/io`: `wchar`, the bytes it handed the
/// kernel (every `write` and `pwrite`: the store's log, its blobs, the marker file), and
/// `write_bytes`, what the kernel counts against it for the page cache it dirtied.
fn written() -> (u64, u64) {
    let io = std::fs::read_to_string("/proc/self/io").expect("/proc/self/io");
    let field = |name: &str| {
        io.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .expect("a /proc/self/io field")
    };
    (field("wchar: "), field("write_bytes: "))
}

fn disk(cells: u64) {
    for cells in [cells, 0] {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = SledStore::open(dir.path()).expect("the store opens");
        let day = YEAR_START_MICROS + 200 * DAY_MICROS;
        // Distinct cells and devices on one day: each answer its own touchpoint and kiosk.
        for n in 0..cells {
            let s = at_place(n, n, day + n);
            store.put_at(&s, &s.to_json(), day + n).expect("stored");
        }
        store.flush().expect("flushed");
        // Let the first save of them all and the sealing of their records pass.
        std::thread::sleep(std::time::Duration::from_secs(5));
        // Background work (the sealer's save each second, and whatever the store does on its
        // own) writes whether answers come or not: so each round is a second with one answer
        // and a second without, and an answer's cost is the difference.
        const ROUNDS: u64 = 30;
        let (mut idle, mut busy) = (Vec::new(), Vec::new());
        for n in 0..ROUNDS {
            let before = written();
            store.flush().expect("flushed");
            std::thread::sleep(std::time::Duration::from_millis(1_100));
            let between = written();
            // A known cell and device: what one more answer on a busy day changes.
            let micros = day + cells + n + 60_000_000 * n;
            let s = at_place(cells + n, 7, micros);
            store.put_at(&s, &s.to_json(), micros).expect("stored");
            store.flush().expect("flushed");
            std::thread::sleep(std::time::Duration::from_millis(1_100));
            let after = written();
            idle.push((between.0 - before.0, between.1 - before.1));
            busy.push((after.0 - between.0, after.1 - between.1));
        }
        let median = |v: &mut Vec<u64>| {
            v.sort_unstable();
            (v[v.len() / 2], v[0], v[v.len() - 1])
        };
        for (what, pick) in [
            ("handed to the kernel (wchar)", 0),
            ("page cache dirtied (write_bytes)", 1),
        ] {
            let field = |v: &[(u64, u64)]| -> Vec<u64> {
                v.iter()
                    .map(|p| if pick == 0 { p.0 } else { p.1 })
                    .collect()
            };
            let (b, b_lo, b_hi) = median(&mut field(&busy));
            let (i, i_lo, i_hi) = median(&mut field(&idle));
            let kib = |b: u64| b as f64 / 1024.0;
            println!(
                "{cells} cells on the day, {what}: a second with one answer {:.1} KiB (median; range {:.1}–{:.1}), a second without {:.1} KiB ({:.1}–{:.1}): {:.1} KiB per answer",
                kib(b),
                kib(b_lo),
                kib(b_hi),
                kib(i),
                kib(i_lo),
                kib(i_hi),
                kib(b.saturating_sub(i)),
            );
        }
        // Then many answers to the day's known cells, flushed twenty at a time: what the store's
        // file grows by, and what was written for them.
        const MORE: u64 = 30_000;
        let (size, start) = (dir_bytes(dir.path()), written());
        for n in 0..MORE {
            let micros = day + cells + 60_000_000 * ROUNDS + n;
            let s = at_place(cells + ROUNDS + n, spread(n) % cells.max(1), micros);
            store.put_at(&s, &s.to_json(), micros).expect("stored");
            if n % 20 == 19 {
                store.flush().expect("flushed");
            }
        }
        store.flush().expect("flushed");
        let end = written();
        let mib = |b: u64| b as f64 / 1_048_576.0;
        println!(
            "{cells} cells on the day, then {MORE} answers to known cells: {:.1} MiB handed to the kernel, {:.1} MiB of page cache dirtied; the store grew from {:.1} to {:.1} MiB",
            mib(end.0 - start.0),
            mib(end.1 - start.1),
            mib(size),
            mib(dir_bytes(dir.path())),
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("render") => render(
            args.get(1)
                .map_or_else(|| PathBuf::from("target/bench/cardinality"), PathBuf::from),
        ),
        Some("disk") => disk(args.get(1).and_then(|c| c.parse().ok()).unwrap_or(40_000)),
        _ => eprintln!("usage: cardinality render [DIR] | disk [CELLS]"),
    }
}
