//! `cargo xtask bench ingest --before BINARY`: durable ingest of two collector builds side by
//! side, for a change whose effect is smaller than what the shared machine moves between runs.
//! The bare endpoint, the `BINARY` collector and the current release collector take turns in
//! every round (wrk `-t1 -c32`, each on a store of its own, each round once both are idle);
//! besides requests per second and the p99, each collector's CPU time and context switches per
//! request are read from `/proc` before and after its round: figures the machine's load moves
//! far less than the throughput.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use crate::{
    server::{free_addr, release, serve_command_of, start_bare, Server},
    tools,
    wrk::{median, spread, wrk, WrkRun},
};

/// CPU ticks (user + system) and context switches (voluntary + involuntary, every thread) of a
/// process so far.
#[derive(Debug, Clone, Copy, Default)]
struct Usage {
    ticks: u64,
    switches: u64,
}

fn usage(pid: u32) -> Usage {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command's closing parenthesis; utime and stime are the 12th and 13th.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let mut switches = 0;
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for task in tasks.flatten() {
            let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
            switches += status
                .lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum::<u64>();
        }
    }
    Usage {
        ticks: tick(11) + tick(12),
        switches,
    }
}

/// The kernel's clock ticks per second, for reading `/proc/PID/stat`.
fn ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// One collector build under measurement.
struct Build {
    name: &'static str,
    server: Server,
    url: String,
    runs: Vec<WrkRun>,
    micros_per_request: Vec<f64>,
    switches_per_request: Vec<f64>,
}

impl Build {
    fn start(name: &'static str, binary: &Path, dir: &Path) -> Result<Self, String> {
        let data = dir.join(format!("side-{name}-data"));
        let _ = std::fs::remove_dir_all(&data);
        let addr = free_addr()?;
        let server = Server::start(
            &mut serve_command_of(binary, &addr, &data),
            dir.join(format!("side-{name}.log")),
            &addr,
        )?;
        let url = format!("http://{addr}/v1/responses");
        wrk(dir, &url, &format!("warm-{name}"), 2)?;
        Ok(Self {
            name,
            server,
            url,
            runs: Vec::new(),
            micros_per_request: Vec::new(),
            switches_per_request: Vec::new(),
        })
    }

    fn round(&mut self, dir: &Path, round: usize, seconds: u64, tck: f64) -> Result<(), String> {
        let before = usage(self.server.pid());
        let run = wrk(dir, &self.url, &format!("{}{round}", self.name), seconds)?;
        let after = usage(self.server.pid());
        if run.non_2xx > 0 {
            return Err(format!("{}: {} non-2xx answers", self.name, run.non_2xx));
        }
        let requests = run.requests.max(1) as f64;
        let micros = (after.ticks - before.ticks) as f64 / tck * 1e6 / requests;
        let switches = (after.switches - before.switches) as f64 / requests;
        eprintln!(
            "round {round}: {} {:.0} req/s p99 {:.2} ms, {micros:.1} µs CPU and {switches:.2} switches per request",
            self.name, run.requests_per_sec, run.p99_ms
        );
        self.runs.push(run);
        self.micros_per_request.push(micros);
        self.switches_per_request.push(switches);
        Ok(())
    }
}

/// Waits until the collectors `pids` are idle (together under a tenth of a core over a quarter of
/// a second), at most 30 s: a collector still sealing what its round stored took the cores from
/// the next round, so the build that went second in a round was the slower, whichever it was.
fn settle(pids: &[u32], tck: f64) {
    let busy = || pids.iter().map(|pid| usage(*pid).ticks).sum::<u64>();
    let (interval, deadline) = (
        std::time::Duration::from_millis(250),
        std::time::Instant::now() + std::time::Duration::from_secs(30),
    );
    let mut before = busy();
    while std::time::Instant::now() < deadline {
        std::thread::sleep(interval);
        let now = busy();
        if ((now - before) as f64 / tck) < 0.1 * interval.as_secs_f64() {
            return;
        }
        before = now;
    }
    eprintln!("the collectors were still busy after 30 s; measuring anyway");
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_default()
}

pub fn run(dir: &Path, before: PathBuf, seconds: u64, rounds: usize) -> Result<String, String> {
    tools::ensure_apt(&[("wrk", "wrk")])?;
    if !before.is_file() {
        return Err(format!("no collector binary at {}", before.display()));
    }
    let tck = ticks_per_second();
    let (bare, bare_url) = start_bare(dir)?;
    wrk(dir, &bare_url, "warm-bare", 2)?;
    let mut builds = [
        Build::start("before", &before, dir)?,
        Build::start("after", &release("touchpoint-collector"), dir)?,
    ];
    let mut bare_runs = Vec::new();
    let mut loads = vec![load_average()];
    for round in 0..rounds {
        let b = wrk(dir, &bare_url, &format!("bare{round}"), seconds)?;
        eprintln!(
            "round {round}: bare {:.0} req/s p99 {:.2} ms",
            b.requests_per_sec, b.p99_ms
        );
        bare_runs.push(b);
        // Which build goes first alternates, so neither always follows the bare endpoint.
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            let pids: Vec<u32> = builds.iter().map(|b| b.server.pid()).collect();
            settle(&pids, tck);
            builds[i].round(dir, round, seconds, tck)?;
        }
        loads.push(load_average());
    }
    drop(bare);
    let bare_rps: Vec<f64> = bare_runs.iter().map(|r| r.requests_per_sec).collect();
    let bare_p99: Vec<f64> = bare_runs.iter().map(|r| r.p99_ms).collect();
    let mut lines = vec![
        format!(
            "## Durable ingest side by side (wrk -t1 -c32, {seconds} s x {rounds} rounds, medians, range in brackets; load average {})\n\
             | endpoint | requests/s | % of bare | p99 latency | CPU per request | switches per request |\n\
             |---|---|---|---|---|---|\n\
             | bare actix-web | {} | – | {} ms | – | – |",
            loads.join(" → "),
            spread(&bare_rps, 0),
            spread(&bare_p99, 1),
        ),
    ];
    let bare_median = median(bare_rps);
    for build in builds {
        let rps: Vec<f64> = build.runs.iter().map(|r| r.requests_per_sec).collect();
        let p99: Vec<f64> = build.runs.iter().map(|r| r.p99_ms).collect();
        lines.push(format!(
            "| collector {} | {} | {:.1} % | {} ms | {} µs | {} |",
            build.name,
            spread(&rps, 0),
            100.0 * median(rps.clone()) / bare_median,
            spread(&p99, 1),
            spread(&build.micros_per_request, 1),
            spread(&build.switches_per_request, 2),
        ));
        drop(build.server.stop());
    }
    Ok(lines.join("\n") + "\n")
}
