//! wrk, the load generator of the benchmarks: one run posting the widget's request shape (a new
//! id each time), read back as requests per second and p99 latency, and the median of rounds.

use std::{path::Path, process::Command};

use crate::server::run_started_at;

/// The widget's request: text/plain JSON with a fresh id per request.
pub const LUA: &str = r#"
local counter = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "text/plain"
request = function()
  counter = counter + 1
  local body = string.format('{"id":"PREFIX-%012d","survey":{"id":"core-cx","version":1},"channel":"web","touchpoint":"checkout","answers":{"effort":6,"confidence":4,"emotion":"pleased"},"comment":"The page kept asking me to log in again.","locale":"en","context":{"segment":"premium","page":"/checkout"},"submitted_at":"SUBMITTED_AT"}', counter)
  return wrk.format(nil, nil, nil, body)
end
"#;

#[derive(Debug, Clone, Copy)]
pub struct WrkRun {
    pub requests_per_sec: f64,
    pub p99_ms: f64,
    pub requests: u64,
    pub non_2xx: u64,
}

fn millis(text: &str) -> Option<f64> {
    let (number, unit) = text.split_at(text.find(|c: char| c.is_ascii_alphabetic())?);
    let n: f64 = number.parse().ok()?;
    Some(match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        _ => return None,
    })
}

/// One wrk run of `seconds` posting the widget's request shape to `url`.
pub fn wrk(dir: &Path, url: &str, prefix: &str, seconds: u64) -> Result<WrkRun, String> {
    wrk_with(dir, url, prefix, seconds, 32)
}

/// wrk with `connections` connections on one thread.
pub fn wrk_with(
    dir: &Path,
    url: &str,
    prefix: &str,
    seconds: u64,
    connections: u32,
) -> Result<WrkRun, String> {
    wrk_script(dir, url, prefix, seconds, connections, LUA)
}

/// wrk with `connections` connections on one thread, posting what `lua` (a variant of [`LUA`])
/// makes.
pub fn wrk_script(
    dir: &Path,
    url: &str,
    prefix: &str,
    seconds: u64,
    connections: u32,
    lua: &str,
) -> Result<WrkRun, String> {
    let script = dir.join(format!("{prefix}.lua"));
    std::fs::write(
        &script,
        lua.replace("PREFIX", prefix)
            .replace("SUBMITTED_AT", run_started_at()),
    )
    .map_err(|e| e.to_string())?;
    let output = Command::new("wrk")
        .args([
            "-t1",
            &format!("-c{connections}"),
            &format!("-d{seconds}s"),
            "--latency",
            "-s",
        ])
        .arg(&script)
        .arg(url)
        .output()
        .map_err(|e| format!("wrk: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    let field = |prefix: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix).map(|r| r.trim().to_owned()))
    };
    let requests_per_sec = field("Requests/sec:").and_then(|v| v.parse().ok());
    let p99_ms = field("99%").and_then(|v| millis(&v));
    let requests = text
        .lines()
        .find(|l| l.contains("requests in"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok());
    let non_2xx = field("Non-2xx or 3xx responses:")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    match (requests_per_sec, p99_ms, requests) {
        (Some(requests_per_sec), Some(p99_ms), Some(requests)) => Ok(WrkRun {
            requests_per_sec,
            p99_ms,
            requests,
            non_2xx,
        }),
        _ => Err(format!("could not read wrk's output:\n{text}")),
    }
}

/// The median of `values` (the upper one of an even count).
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// "median (min–max)" of `values`, with `decimals` decimals.
pub fn spread(values: &[f64], decimals: usize) -> String {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!(
        "{:.decimals$} ({min:.decimals$}–{max:.decimals$})",
        median(values.to_vec())
    )
}
