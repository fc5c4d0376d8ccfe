//! Where a sled store's disk and memory go (issue 18), measured on a stopped store (for example
//! the million answers `cargo xtask bench export` seeds in `target/bench/export-data-1000000`):
//!
//! - `cargo run --release -p touchpoint-collector --example footprint -- trees DIR [CACHE_MIB]`:
//!   the store's files by kind (sled's log `db`, its blobs, its snapshots), then every tree read
//!   through with sled configured as the collector configures it (a cache of CACHE_MIB given to
//!   sled, default 128): entries, bytes of keys and of values, the time it took and the process's
//!   resident memory after reading each; the saved cells split by the first byte of their key.
//! - `… -- open DIR [CACHE_MIB]`: the store opened as the collector opens it (with `--cache-mib`
//!   CACHE_MIB, default 128), timed, with the time of each step of the open (logged by the store)
//!   and the resident memory after it; then after counting its records and after reading every
//!   record once, as an export does.

use std::{path::Path, time::Instant};

use collector::store::{SledStore, Store};

/// The process's resident memory, in MiB.
fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// Bytes of the files under `path`, recursively.
fn bytes_under(path: &Path) -> u64 {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => std::fs::read_dir(path)
            .map(|entries| entries.flatten().map(|e| bytes_under(&e.path())).sum())
            .unwrap_or(0),
        Ok(m) => m.len(),
        Err(_) => 0,
    }
}

fn trees(dir: &Path, cache_mib: u64) {
    let mut files: Vec<(String, u64)> = std::fs::read_dir(dir)
        .expect("the store's folder")
        .flatten()
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                bytes_under(&e.path()),
            )
        })
        .collect();
    files.sort();
    let total: u64 = files.iter().map(|(_, b)| b).sum();
    println!("| file | bytes |\n|---|---|");
    for (name, bytes) in &files {
        println!("| {name} | {bytes} |");
    }
    println!("| all | {total} |\n");
    let started = Instant::now();
    // As `SledStore` opens it: its cache, and no flusher thread (which would clean segments).
    let db = sled::Config::new()
        .path(dir)
        .cache_capacity(cache_mib << 20)
        .flush_every_ms(None)
        .open()
        .expect("sled opens");
    println!(
        "sled opened in {:.2} s; resident {:.1} MiB\n",
        started.elapsed().as_secs_f64(),
        rss_mib()
    );
    println!("| tree | entries | key bytes | value bytes | read in | resident after reading it |\n|---|---|---|---|---|---|");
    let (mut all_entries, mut all_bytes) = (0u64, 0u64);
    for name in db.tree_names() {
        let tree = db.open_tree(&name).expect("tree");
        let (mut entries, mut keys, mut values) = (0u64, 0u64, 0u64);
        let mut by_first_byte = std::collections::BTreeMap::<u8, (u64, u64)>::new();
        let started = Instant::now();
        for entry in tree.iter() {
            let (k, v) = entry.expect("entry");
            entries += 1;
            keys += k.len() as u64;
            values += v.len() as u64;
            if &*name == b"aggregates" {
                let kind = by_first_byte
                    .entry(k.first().copied().unwrap_or(0))
                    .or_default();
                kind.0 += 1;
                kind.1 += (k.len() + v.len()) as u64;
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        all_entries += entries;
        all_bytes += keys + values;
        println!(
            "| {} | {entries} | {keys} | {values} | {seconds:.2} s | {:.1} MiB |",
            String::from_utf8_lossy(&name),
            rss_mib()
        );
        for (first, (entries, bytes)) in by_first_byte {
            println!("|   key byte {first} | {entries} | {bytes} (keys and values) | | | |");
        }
    }
    println!(
        "| all | {all_entries} | {all_bytes} (keys and values) | | |\n\nsled's own count: size_on_disk {} bytes",
        db.size_on_disk().unwrap_or(0)
    );
}

fn open(dir: &Path, cache_mib: u64) {
    println!("resident before opening {:.1} MiB", rss_mib());
    let started = Instant::now();
    let store = SledStore::open_with_cache(dir, cache_mib).expect("the store opens");
    println!(
        "opened in {:.2} s; resident {:.1} MiB",
        started.elapsed().as_secs_f64(),
        rss_mib()
    );
    let started = Instant::now();
    let len = store.len();
    println!(
        "len() = {len} in {:.2} s; resident {:.1} MiB",
        started.elapsed().as_secs_f64(),
        rss_mib()
    );
    let started = Instant::now();
    let (mut records, mut bytes) = (0u64, 0u64);
    store
        .scan(0, u64::MAX, &mut |record| {
            records += 1;
            bytes += record.json.len() as u64;
            true
        })
        .expect("scan");
    println!(
        "read {records} records ({bytes} bytes of JSON) in {:.2} s; resident {:.1} MiB",
        started.elapsed().as_secs_f64(),
        rss_mib()
    );
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = Path::new(
        args.get(1)
            .map_or("target/bench/export-data-1000000", String::as_str),
    );
    let cache_mib = args.get(2).and_then(|c| c.parse().ok()).unwrap_or(128);
    match args.first().map(String::as_str) {
        Some("trees") => trees(dir, cache_mib),
        Some("open") => open(dir, cache_mib),
        _ => eprintln!("usage: footprint trees|open DIR"),
    }
}
