//! `cargo xtask bench themes`: the comment themes' figures in the README, release build, loopback.
//!
//! - a store of `--count` answers (default 1,000,000) over a year, 30 % of them with a comment in
//!   one of five languages, made from fragments and a long tail of made-up names so that themes
//!   and one-off phrases both occur, restored from a generated backup once and reused;
//! - `GET /v1/themes` timed for one touchpoint (a month and a year), one touchpoint in one locale,
//!   one department and everything, `--queries` each (default 200) over one kept-alive
//!   connection: median, p99 and range;
//! - the phrase table's size (`/metrics`: phrases seen, each kept once, and their memory);
//! - the collector's resident memory after opening that store and after the queries, how long
//!   it took to open and listen, and again after a SIGKILL;
//! - ingest with a comment (its phrases read before the writer lock) against the same answer
//!   without one, rounds alternating on one collector: the cost of theme extraction at ingest.

use std::{
    io::{BufWriter, Write},
    net::TcpStream,
    path::{Path, PathBuf},
    process::Command,
    time::Instant,
};

use crate::{
    server::{count_rows, exchange, free_addr, log_field, release, rss_kib, serve_command, Server},
    tools,
    wrk::{median, wrk_script, WrkRun, LUA},
};

const TOKEN: &str = "bench-token-0123456789abcdefghijk";
const TOUCHPOINTS: u64 = 30;
const DAY_SECONDS: u64 = 86_400;

/// A small deterministic generator (xorshift64*): the same corpus on every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

/// Per locale: what a comment is about, what went wrong or right, and how it ends.
type Fragments = (
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
    &'static [&'static str],
);

const FRAGMENTS: [Fragments; 5] = [
    (
        "en",
        &[
            "The activation code",
            "The mobile app",
            "The login page",
            "The branch queue",
            "The call centre",
            "My address change",
            "The statement",
            "The card payment",
            "The password reset",
            "The loan application",
            "The engineer visit",
            "The transfer limit",
        ],
        &[
            "never arrived",
            "was far too slow",
            "kept failing",
            "was confusing",
            "took three attempts",
            "was very helpful",
            "crashed twice",
            "timed out",
            "asked for the same details again",
            "worked first time",
        ],
        &[
            "after I called",
            "on my phone",
            "this week",
            "and nobody explained why",
            "thanks to",
            "so I spoke to",
        ],
    ),
    (
        "es",
        &[
            "El código de activación",
            "La aplicación móvil",
            "La página de acceso",
            "La cola de la sucursal",
            "El centro de llamadas",
            "El cambio de dirección",
            "El extracto",
        ],
        &[
            "nunca llegó",
            "fue demasiado lento",
            "fallaba una y otra vez",
            "era confuso",
            "fue muy útil",
            "se cerró dos veces",
        ],
        &[
            "después de llamar",
            "en mi teléfono",
            "esta semana",
            "gracias a",
        ],
    ),
    (
        "fr",
        &[
            "Le code d'activation",
            "L'application mobile",
            "La page de connexion",
            "La file d'attente en agence",
            "Le centre d'appels",
            "Le changement d'adresse",
            "Le relevé",
        ],
        &[
            "n'est jamais arrivé",
            "était beaucoup trop lent",
            "échouait sans cesse",
            "était confus",
            "était très utile",
            "a planté deux fois",
        ],
        &[
            "après mon appel",
            "sur mon téléphone",
            "cette semaine",
            "grâce à",
        ],
    ),
    (
        "de",
        &[
            "Der Aktivierungscode",
            "Die App",
            "Die Anmeldeseite",
            "Die Warteschlange in der Filiale",
            "Das Callcenter",
            "Die Adressänderung",
            "Der Kontoauszug",
        ],
        &[
            "kam nie an",
            "war viel zu langsam",
            "schlug immer wieder fehl",
            "war verwirrend",
            "war sehr hilfreich",
            "stürzte zweimal ab",
        ],
        &[
            "nach meinem Anruf",
            "auf meinem Handy",
            "diese Woche",
            "dank",
        ],
    ),
    (
        "ar",
        &[
            "رمز التفعيل",
            "تطبيق الهاتف",
            "صفحة الدخول",
            "طابور الفرع",
            "مركز الاتصال",
            "تغيير العنوان",
            "كشف الحساب",
        ],
        &[
            "لم يصل أبداً",
            "كان بطيئاً جداً",
            "فشل مراراً",
            "كان مربكاً",
            "كان مفيداً جداً",
            "توقف مرتين",
        ],
        &["بعد اتصالي", "على هاتفي", "هذا الأسبوع", "بفضل"],
    ),
];

/// Made-up names (a thousand of them): the long tail of words that real comments carry.
fn name(rng: &mut Rng) -> String {
    const SYLLABLES: [&str; 10] = [
        "ka", "lo", "mi", "ren", "tas", "vo", "du", "pel", "ri", "son",
    ];
    let mut out = String::new();
    for _ in 0..3 {
        out.push_str(SYLLABLES[rng.below(10) as usize]);
    }
    out
}

fn comment(rng: &mut Rng, locale: usize) -> String {
    let (_, subjects, problems, tails) = FRAGMENTS[locale];
    let mut text = format!("{} {}", rng.pick(subjects), rng.pick(problems));
    if rng.below(2) == 0 {
        text.push(' ');
        text.push_str(rng.pick(tails));
        text.push(' ');
        text.push_str(&name(rng));
    }
    text.push('.');
    if rng.below(3) == 0 {
        text = format!("{text} {} {}.", rng.pick(subjects), rng.pick(problems));
    }
    text
}

/// RFC 3339 of Unix seconds, as the protocol writes times.
fn rfc3339(unix: u64) -> String {
    protocol::Timestamp::from_unix_millis(unix as i64 * 1000)
        .as_str()
        .to_owned()
}

/// The generated store of `count` answers ending at `end` (Unix seconds), restored once.
fn seeded(dir: &Path, count: u64, end: u64) -> Result<PathBuf, String> {
    let data = dir.join(format!("themes-data-{count}"));
    if count_rows(&data).ok() == Some(count) {
        return Ok(data);
    }
    let _ = std::fs::remove_dir_all(&data);
    let backup = dir.join(format!("themes-{count}.ndjson"));
    let mut out = BufWriter::new(std::fs::File::create(&backup).map_err(|e| e.to_string())?);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let start = end - 365 * DAY_SECONDS;
    let step = (365 * DAY_SECONDS * 1000 / count).max(1);
    for n in 0..count {
        let at = start + n * step / 1000;
        let touchpoint = rng.below(TOUCHPOINTS);
        let locale = [0, 0, 0, 1, 2, 3, 4][rng.below(7) as usize];
        let effort = 1 + rng.below(7);
        let emotion =
            ["angry", "frustrated", "neutral", "pleased", "delighted"][rng.below(5) as usize];
        let confidence = 1 + rng.below(5);
        let comment = if rng.below(10) < 3 {
            // The fragments hold no quote or backslash: a JSON string as they are.
            format!(r#","comment":"{}""#, comment(&mut rng, locale))
        } else {
            String::new()
        };
        let line = format!(
            r#"{{"id":"bench-themes-{n:012}","survey":{{"id":"core-cx","version":1}},"channel":"{}","touchpoint":"tp-{touchpoint:02}","answers":{{"effort":{effort},"confidence":{confidence},"emotion":"{emotion}"}}{comment},"locale":"{}","context":{{}},"submitted_at":"{}","received_at":"{}"}}"#,
            if touchpoint % 3 == 0 { "kiosk" } else { "web" },
            FRAGMENTS[locale].0,
            rfc3339(at),
            rfc3339(at),
        );
        writeln!(out, "{line}").map_err(|e| e.to_string())?;
    }
    out.flush().map_err(|e| e.to_string())?;
    drop(out);
    let started = Instant::now();
    crate::run(
        Command::new(release("touchpoint-collector"))
            .args(["restore", "--from"])
            .arg(&backup)
            .arg("--data")
            .arg(&data),
    )?;
    eprintln!(
        "restored {count} generated answers in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let _ = std::fs::remove_file(&backup);
    Ok(data)
}

/// Median, p99 and range of `times` (milliseconds).
fn figures(mut times: Vec<f64>) -> String {
    times.sort_by(f64::total_cmp);
    let p99 = times[(times.len() * 99 / 100).min(times.len() - 1)];
    format!(
        "{:.1} ms | {p99:.1} ms | {:.1}–{:.1} ms",
        median(times.clone()),
        times[0],
        times[times.len() - 1]
    )
}

fn queries(dir: &Path, count: u64, end: u64, n: usize) -> Result<Vec<String>, String> {
    let data = seeded(dir, count, end)?;
    let serve = |log: &str| -> Result<(Server, String, f64), String> {
        let addr = free_addr()?;
        let started = Instant::now();
        let server = Server::start(
            serve_command(&addr, &data)
                .env("TOUCHPOINT_ADMIN_TOKEN", TOKEN)
                .env("RUST_LOG", "info"),
            dir.join(log),
            &addr,
        )?;
        Ok((server, addr, started.elapsed().as_secs_f64()))
    };
    let (server, addr, open_seconds) = serve("themes-server.log")?;
    let opened = rss_kib(server.pid(), "VmRSS:");
    let stream = TcpStream::connect(&addr).map_err(|e| e.to_string())?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let mut stream = std::io::BufReader::new(stream);
    // The queries are timed once the collector has read in, on a thread of its own, what the
    // business view needs (a few seconds of both cores at a million answers): until then every
    // query shares the machine with it.
    let started = Instant::now();
    loop {
        let (status, _) = exchange(
            &mut stream,
            &format!(
                "GET /v1/impact HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
            ),
        )?;
        if status != 503 {
            break;
        }
        if started.elapsed().as_secs() > 120 {
            return Err("the business view was not ready after 120 s".into());
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let ready_seconds = open_seconds + started.elapsed().as_secs_f64();
    let year = rfc3339(end - 365 * DAY_SECONDS);
    let mut lines = vec![format!(
        "## `GET /v1/themes` over {count} stored answers, 30 % with a comment ({n} queries each, one kept-alive connection)\n\
         | query | themes | median | p99 | range |\n|---|---|---|---|---|"
    )];
    for query in [
        "?touchpoint=tp-01".to_owned(),
        format!(
            "?touchpoint=tp-01&from={}&to={}",
            &year[..10],
            &rfc3339(end + DAY_SECONDS)[..10]
        ),
        "?touchpoint=tp-02&locale=es".to_owned(),
        "?department=digital".to_owned(),
        "".to_owned(),
    ] {
        let path = format!("/v1/themes{query}");
        let mut times = Vec::with_capacity(n);
        let mut themes = 0;
        for _ in 0..n {
            let request = format!(
                "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
            );
            let started = Instant::now();
            let (status, body) = exchange(&mut stream, &request)?;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            if status != 200 {
                return Err(format!(
                    "{path}: {status} {}",
                    String::from_utf8_lossy(&body)
                ));
            }
            themes = String::from_utf8_lossy(&body).matches("\"key\":").count();
        }
        lines.push(format!("| `{path}` | {themes} | {} |", figures(times)));
    }
    let after = rss_kib(server.pid(), "VmRSS:");
    let (_, metrics) = exchange(
        &mut stream,
        &format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"),
    )?;
    let metrics = String::from_utf8_lossy(&metrics);
    let sample = |name: &str| {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    lines.push(format!(
        "\nThe phrase table holds {} phrases, about {:.1} MiB.",
        sample("touchpoint_theme_phrases"),
        sample("touchpoint_theme_phrase_bytes") / 1_048_576.0
    ));
    drop(stream);
    drop(server); // SIGKILL
    let (again, _, reopen_seconds) = serve("themes-server-after-kill.log")?;
    let log = again.stop();
    let recovery = match (
        log_field(&log, "replayed"),
        log_field(&log, "rebuild_seconds"),
    ) {
        (_, Some(seconds)) => {
            format!("rebuilt the stats and themes from every record in {seconds} s")
        }
        (Some(records), None) => {
            format!("counted again the {records} records written after the last save")
        }
        (None, None) => "found the stats and themes saved, nothing to count again".to_owned(),
    };
    lines.push(format!(
        "\nThe collector opened the store and listened after {open_seconds:.2} s (the business \
         view ready after {ready_seconds:.2} s, when the queries began); resident memory \
         {:.1} MiB once open, {:.1} MiB after the queries. After a SIGKILL it listened again after \
         {reopen_seconds:.2} s and {recovery}.\n",
        opened as f64 / 1024.0,
        after as f64 / 1024.0
    ));
    Ok(lines)
}

/// Ingest of the widget's request with its comment against the same request without one.
fn ingest(dir: &Path, seconds: u64, rounds: usize) -> Result<Vec<String>, String> {
    tools::ensure_apt(&[("wrk", "wrk")])?;
    let data = dir.join("themes-ingest-data");
    let _ = std::fs::remove_dir_all(&data);
    let addr = free_addr()?;
    let collector = Server::start(
        serve_command(&addr, &data).env("RUST_LOG", "info"),
        dir.join("themes-ingest.log"),
        &addr,
    )?;
    let url = format!("http://{addr}/v1/responses");
    let with = LUA.to_owned();
    let without = LUA.replace(
        r#""comment":"The page kept asking me to log in again.","#,
        "",
    );
    if with == without {
        return Err("the wrk script carries no comment to leave out".into());
    }
    wrk_script(dir, &url, "themes-warm", 2, 32, &with)?;
    let (mut commented, mut plain): (Vec<WrkRun>, Vec<WrkRun>) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        for (runs, script, name) in [
            (&mut commented, &with, "with"),
            (&mut plain, &without, "without"),
        ] {
            let run = wrk_script(
                dir,
                &url,
                &format!("themes-{name}{round}"),
                seconds,
                32,
                script,
            )?;
            eprintln!(
                "round {round} {name} a comment: {:.0} req/s p99 {:.2} ms",
                run.requests_per_sec, run.p99_ms
            );
            if run.non_2xx > 0 {
                return Err(format!("{} non-2xx answers", run.non_2xx));
            }
            runs.push(run);
        }
    }
    drop(collector);
    let row = |name: &str, runs: &[WrkRun]| {
        let rps: Vec<f64> = runs.iter().map(|r| r.requests_per_sec).collect();
        let p99: Vec<f64> = runs.iter().map(|r| r.p99_ms).collect();
        let (lo, hi) = rps
            .iter()
            .fold((f64::MAX, f64::MIN), |(l, h), v| (l.min(*v), h.max(*v)));
        format!(
            "| {name} | {:.0} ({lo:.0}–{hi:.0}) | {:.2} ms |",
            median(rps),
            median(p99)
        )
    };
    let ratio = median(commented.iter().map(|r| r.requests_per_sec).collect())
        / median(plain.iter().map(|r| r.requests_per_sec).collect());
    Ok(vec![
        format!(
            "## Ingest with and without a comment (wrk -t1 -c32, {seconds} s x {rounds} rounds alternating, medians and ranges)\n\
             | request | requests/s | p99 latency |\n|---|---|---|"
        ),
        row("with a comment (themes extracted)", &commented),
        row("the same without a comment", &plain),
        format!(
            "\nWith its comment's themes extracted an answer is stored at {:.1} % of the rate without one.\n",
            ratio * 100.0
        ),
    ])
}

pub fn run(
    dir: &Path,
    seconds: u64,
    rounds: usize,
    count: u64,
    n: usize,
) -> Result<String, String> {
    let end = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs()
        / DAY_SECONDS
        * DAY_SECONDS;
    let mut lines = queries(dir, count, end, n)?;
    lines.extend(ingest(dir, seconds, rounds)?);
    Ok(lines.join("\n"))
}
