//! `cargo xtask bench memory [--count N]`: the collector's resident memory over the store of N
//! generated answers that `cargo xtask bench export` seeds (one million by default; seeded once
//! and reused): when it listens, once the business view has read in what the store held (`GET
//! /v1/impact` asked every 100 ms until it answers `200`), after a full export over HTTP, and
//! after the queries of `cargo xtask bench stats` (ten of each); with the part of it in
//! transparent huge pages (`AnonHugePages` in `/proc/PID/smaps_rollup`).

use std::{io::BufReader, net::TcpStream, path::Path, time::Duration, time::Instant};

use crate::server::{
    admin_get, admin_server, proc_kib, rss_kib, seeded, stream_export, STATS_QUERIES,
};

/// `AnonHugePages` of process `pid`, in KiB (0 when it cannot be read).
fn huge_kib(pid: u32) -> u64 {
    proc_kib(pid, "smaps_rollup", "AnonHugePages:")
}

pub fn run(dir: &Path, count: u64) -> Result<String, String> {
    let data = seeded(dir, count)?;
    let started = Instant::now();
    let (server, addr) = admin_server(&data, "info", dir.join("memory-server.log"))?;
    let pid = server.pid();
    let mib = |kib: u64| kib as f64 / 1024.0;
    let figure = |what: &str, seconds: Option<f64>| {
        let at = seconds.map_or(String::new(), |s| format!(" ({s:.2} s from the start)"));
        format!(
            "| {what}{at} | {:.1} MiB | {:.1} MiB |",
            mib(rss_kib(pid, "VmRSS:")),
            mib(huge_kib(pid))
        )
    };
    let mut lines = vec![
        format!(
            "## The collector's resident memory over {count} stored answers\n\
             | when | resident | of it in huge pages |\n|---|---|---|"
        ),
        figure("listening", Some(started.elapsed().as_secs_f64())),
    ];
    let mut stream = BufReader::new(TcpStream::connect(&addr).map_err(|e| e.to_string())?);
    let mut highest = 0;
    loop {
        highest = highest.max(rss_kib(pid, "VmRSS:"));
        match admin_get(&mut stream, &addr, "/v1/impact")?.0 {
            200 => break,
            503 => std::thread::sleep(Duration::from_millis(100)),
            status => return Err(format!("/v1/impact: {status}")),
        }
    }
    lines.push(figure(
        "the business view ready",
        Some(started.elapsed().as_secs_f64()),
    ));
    let streamed = stream_export(&addr, pid)?;
    lines.push(figure(
        &format!(
            "after the export over HTTP ({:.1} MB in {:.2} s)",
            streamed.bytes as f64 / 1e6,
            streamed.seconds
        ),
        None,
    ));
    for query in STATS_QUERIES {
        for _ in 0..10 {
            let (status, _) = admin_get(&mut stream, &addr, &format!("/v1/stats{query}"))?;
            if status != 200 {
                return Err(format!("/v1/stats{query}: {status}"));
            }
        }
    }
    lines.push(figure("after the stats queries", None));
    lines.push(format!(
        "\nHighest while the business view read in: {:.1} MiB; highest overall (`VmHWM`): {:.1} MiB.\n",
        mib(highest),
        mib(rss_kib(pid, "VmHWM:"))
    ));
    drop(stream);
    server.stop();
    Ok(lines.join("\n"))
}
