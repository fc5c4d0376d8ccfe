//! The figures of bounded cardinality (issue 13), measured in-process on a release build:
//!
//! - `cargo run --release -p touchpoint-collector --example cardinality -- render [DIR]`: a store
//!   of 1,000,000 answers over a year, spread over the default bounds (2,000 touchpoints, 5,000
//!   sites, 1,000 segments, 10,000 agents, 10,000 devices; nearly every answer its own cell), made
//!   in DIR (default `target/bench/cardinality`) when missing; then the dashboard's default view
//!   and the council report of the last week and month, rendered 9 times each: median and range.
//! - `… --example cardinality -- disk [CELLS]`: the disk bytes the process writes per answer
//!   (`/proc/self/io` `write_bytes`) on a store whose day already holds CELLS distinct cells and
//!   devices (default 40,000), one answer a second so that each is saved on its own, against the
//!   seconds without one in between; then the same on an empty store.

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

fn timed(runs: usize, mut work: impl FnMut() -> usize) -> String {
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            std::hint::black_box(work());
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    format!(
        "median {:.1} ms (range {:.1}–{:.1} ms)",
        times[runs / 2],
        times[0],
        times[runs - 1]
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

fn written_bytes() -> u64 {
    let io = std::fs::read_to_string("/proc/self/io").expect("/proc/self/io");
    io.lines()
        .find_map(|l| l.strip_prefix("write_bytes: "))
        .and_then(|v| v.trim().parse().ok())
        .expect("write_bytes")
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
        // sled's own flusher thread rewrites pages of fragmented segments (its segment
        // cleaning) whether answers come or not, a second at a time: so each round is a second
        // with one answer and a second without, and an answer's cost is the difference.
        const ROUNDS: u64 = 30;
        let (mut idle, mut busy) = (Vec::new(), Vec::new());
        for n in 0..ROUNDS {
            let before = written_bytes();
            store.flush().expect("flushed");
            std::thread::sleep(std::time::Duration::from_millis(1_100));
            let between = written_bytes();
            // A known cell and device: what one more answer on a busy day changes.
            let micros = day + cells + n + 60_000_000 * n;
            let s = at_place(cells + n, 7, micros);
            store.put_at(&s, &s.to_json(), micros).expect("stored");
            store.flush().expect("flushed");
            std::thread::sleep(std::time::Duration::from_millis(1_100));
            idle.push(between - before);
            busy.push(written_bytes() - between);
        }
        idle.sort_unstable();
        busy.sort_unstable();
        let median = |v: &[u64]| v[v.len() / 2];
        let kib = |b: u64| b as f64 / 1024.0;
        println!(
            "{cells} cells on the day: a second with one answer wrote {:.1} KiB (median; range {:.1}–{:.1}), a second without {:.1} KiB ({:.1}–{:.1}): {:.1} KiB per answer",
            kib(median(&busy)),
            kib(busy[0]),
            kib(busy[busy.len() - 1]),
            kib(median(&idle)),
            kib(idle[0]),
            kib(idle[idle.len() - 1]),
            kib(median(&busy).saturating_sub(median(&idle))),
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
