//! The release collector as the benchmarks and the soak run it: started on a free port and waited
//! for, stopped, spoken to over one kept-alive connection, its store seeded and counted and its
//! memory read.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use crate::target_dir;

/// A binary of the release build (`touchpoint-collector`, `examples/bare_endpoint`).
pub fn release(name: &str) -> PathBuf {
    target_dir().join("release").join(name)
}

/// A server process that is stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Server {
    child: Child,
    log: PathBuf,
}

impl Server {
    /// Spawns `command` with its stderr in `log` and waits (up to 20 s) until `addr` accepts.
    pub fn start(command: &mut Command, log: PathBuf, addr: &str) -> Result<Self, String> {
        let file = std::fs::File::create(&log).map_err(|e| e.to_string())?;
        let child = command
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .map_err(|e| format!("{}: {e}", crate::describe(command)))?;
        let server = Self { child, log };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(addr).is_err() {
            if Instant::now() > deadline {
                return Err(format!(
                    "nothing listens on {addr}; see {}",
                    server.log.display()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(server)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM and wait; returns the log.
    pub fn stop(mut self) -> String {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The bare actix-web endpoint (two workers, stores nothing) the ingest benchmarks compare the
/// collector with, started on a free port; returns it and the URL to post to.
pub fn start_bare(dir: &Path) -> Result<(Server, String), String> {
    let addr = free_addr()?;
    let bare = Server::start(
        Command::new(release("examples/bare_endpoint")).args([addr.as_str(), "2"]),
        dir.join("bare.log"),
        &addr,
    )?;
    Ok((bare, format!("http://{addr}/v1/responses")))
}

/// The collector serving `data` on `addr` as the benchmarks run it: two workers, no rate limit
/// (the load comes from one address).
pub fn serve_command(addr: &str, data: &Path) -> Command {
    serve_command_of(&release("touchpoint-collector"), addr, data)
}

/// [`serve_command`] for the collector `binary` (another build, side by side).
pub fn serve_command_of(binary: &Path, addr: &str, data: &Path) -> Command {
    let mut command = Command::new(binary);
    command
        .args([
            "serve",
            "--listen",
            addr,
            "--workers",
            "2",
            "--limit-per-address",
            "off",
            "--data",
        ])
        .arg(data);
    command
}

/// The release collector serving `data` on a free address with the benchmarks' admin token and
/// `rust_log`, its log in `log`; returns it and its address.
pub fn admin_server(data: &Path, rust_log: &str, log: PathBuf) -> Result<(Server, String), String> {
    let addr = free_addr()?;
    let server = Server::start(
        serve_command(&addr, data)
            .env("TOUCHPOINT_ADMIN_TOKEN", BENCH_TOKEN)
            .env("RUST_LOG", rust_log),
        log,
        &addr,
    )?;
    Ok((server, addr))
}

/// The admin token the benchmarks give the collectors they start.
pub const BENCH_TOKEN: &str = "bench-token-0123456789abcdefghijk";

/// One admin GET on a kept-alive connection; returns the status and the body.
pub fn admin_get(
    stream: &mut BufReader<TcpStream>,
    addr: &str,
    path: &str,
) -> Result<(u16, Vec<u8>), String> {
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {BENCH_TOKEN}\r\n\r\n"
    );
    exchange(stream, &request)
}

/// What streaming a whole export read.
pub struct Streamed {
    pub bytes: u64,
    pub lines: u64,
    pub seconds: f64,
    /// The server's highest resident memory seen while streaming (KiB, read every 8 MB).
    pub peak_during_kib: u64,
}

/// `GET /v1/export?format=csv` from the collector on `addr` (process `pid`), read to the end;
/// the lines counted are those of the export (the body, its chunked framing taken off).
pub fn stream_export(addr: &str, pid: u32) -> Result<Streamed, String> {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    write!(
        stream,
        "GET /v1/export?format=csv HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {BENCH_TOKEN}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut body = Unchunk::default();
    let mut buf = vec![0u8; 256 * 1024];
    let mut streamed = Streamed {
        bytes: 0,
        lines: 0,
        seconds: 0.0,
        peak_during_kib: 0,
    };
    loop {
        let n = stream.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        streamed.bytes += n as u64;
        for byte in &buf[..n] {
            streamed.lines += u64::from(body.take(*byte) == Some(b'\n'));
        }
        if streamed.bytes % (8 << 20) < n as u64 {
            streamed.peak_during_kib = streamed.peak_during_kib.max(rss_kib(pid, "VmRSS:"));
        }
    }
    streamed.seconds = started.elapsed().as_secs_f64();
    Ok(streamed)
}

/// Reads an HTTP/1.1 response with a chunked body byte by byte, handing on the body's bytes.
#[derive(Default)]
struct Unchunk {
    /// Bytes of the head's closing `\r\n\r\n` seen in a row, until all four are.
    head: u8,
    /// The size line being read (`None` inside a chunk's data).
    size: Option<String>,
    /// Data bytes left in the chunk, then the two of its closing `\r\n`.
    left: u64,
}

impl Unchunk {
    fn take(&mut self, byte: u8) -> Option<u8> {
        if self.head < 4 {
            self.head = match (self.head, byte) {
                (0 | 2, b'\r') | (1 | 3, b'\n') => self.head + 1,
                (_, b'\r') => 1,
                _ => 0,
            };
            if self.head == 4 {
                self.size = Some(String::new());
            }
            return None;
        }
        if let Some(line) = &mut self.size {
            if byte == b'\n' {
                let digits = line.trim().split(';').next().unwrap_or_default();
                self.left = u64::from_str_radix(digits, 16).unwrap_or(0) + 2;
                self.size = None;
            } else {
                line.push(char::from(byte));
            }
            return None;
        }
        self.left -= 1;
        match self.left {
            0 => {
                self.size = Some(String::new());
                None
            }
            1 => None,
            _ => Some(byte),
        }
    }
}

/// A loopback address nothing listens on yet.
pub fn free_addr() -> Result<String, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener
        .local_addr()
        .map_err(|e| e.to_string())?
        .to_string())
}

/// The last `name=value` the collector logged, without a trailing comma.
pub fn log_field(log: &str, name: &str) -> Option<String> {
    let start = log.rfind(&format!("{name}="))? + name.len() + 1;
    Some(
        log[start..]
            .split_whitespace()
            .next()?
            .trim_end_matches(',')
            .to_owned(),
    )
}

/// The store of `count` generated answers over a year in `data`, seeded when it holds another
/// number of answers.
pub fn seeded_in(data: PathBuf, count: u64) -> Result<PathBuf, String> {
    let binary = release("touchpoint-collector");
    if count_rows(&data).ok() != Some(count) {
        let _ = std::fs::remove_dir_all(&data);
        let started = Instant::now();
        crate::run(
            Command::new(&binary)
                .args([
                    "seed-demo",
                    "--count",
                    &count.to_string(),
                    "--days",
                    "365",
                    "--data",
                ])
                .arg(&data),
        )?;
        eprintln!(
            "seeded {count} answers in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    Ok(data)
}

/// The store of `count` generated answers over a year, seeded once and reused.
pub fn seeded(dir: &Path, count: u64) -> Result<PathBuf, String> {
    seeded_in(dir.join(format!("export-data-{count}")), count)
}

/// The queries of `cargo xtask bench stats` (and `bench memory`).
pub const STATS_QUERIES: [&str; 8] = [
    "",
    "?group_by=channel",
    "?group_by=channel,touchpoint",
    "?group_by=site,segment",
    "?group_by=agent&channel=agent",
    "?group_by=week,channel",
    "?group_by=day&from=2026-10-01&to=2026-11-01",
    "?group_by=touchpoint&include_bursts=true",
];

/// Rows in a stopped store, counted by the offline export.
pub fn count_rows(data: &Path) -> Result<u64, String> {
    let output = Command::new(release("touchpoint-collector"))
        .args([
            "export",
            "--format",
            "ndjson",
            "--out",
            "/dev/null",
            "--data",
        ])
        .arg(data)
        .env("RUST_LOG", "info")
        .output()
        .map_err(|e| e.to_string())?;
    let log = String::from_utf8_lossy(&output.stderr);
    log_field(&log, "rows")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("export failed: {log}"))
}

/// A memory figure of process `pid` in KiB (`field`: `VmRSS:` now, `VmHWM:` at its peak); 0 when
/// it cannot be read.
pub fn rss_kib(pid: u32, field: &str) -> u64 {
    proc_kib(pid, "status", field)
}

/// The figure after `field` (such as `AnonHugePages:`) in `/proc/PID/<file>`, in KiB; 0 when it
/// cannot be read.
pub fn proc_kib(pid: u32, file: &str, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/{file}"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// Sends one HTTP/1.1 `request` (written whole, so no Nagle delay) on a kept-alive connection and
/// reads the response, whose body has a `Content-Length`; returns the status and the body.
pub fn exchange(
    stream: &mut BufReader<TcpStream>,
    request: &str,
) -> Result<(u16, Vec<u8>), String> {
    stream
        .get_mut()
        .write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut line = String::new();
    if stream.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
        return Err("the connection closed".into());
    }
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("not an HTTP status line: {line:?}"))?;
    let mut length = None;
    loop {
        line.clear();
        if stream.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
            return Err("the connection closed".into());
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = Some(value.trim().parse().map_err(|_| "a bad content-length")?);
            }
        }
    }
    let mut body = vec![0u8; length.ok_or("no content-length")?];
    stream.read_exact(&mut body).map_err(|e| e.to_string())?;
    Ok((status, body))
}

/// When this run started, as its answers' `submitted_at`: the collector refuses answers given more
/// than 14 days before they arrive, and an answer sent again must carry the same bytes.
pub fn run_started_at() -> &'static str {
    static AT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    AT.get_or_init(|| {
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        protocol::Timestamp::from_unix_millis(millis)
            .as_str()
            .to_owned()
    })
}
