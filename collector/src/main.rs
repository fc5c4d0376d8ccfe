//! `touchpoint-collector`: serve the API and the widget, or export the store offline.

use std::{io::Write as _, net::SocketAddr, path::PathBuf};

use anyhow::Context as _;
use clap::{builder::TypedValueParser as _, Parser, Subcommand};
use collector::{
    config::{self, parse_origin, Secret},
    limits::Rate,
    read::{
        export::{self, Filter, Format},
        report,
    },
    store::SledStore,
    Config,
};

/// mimalloc rather than the system's malloc: durable ingest allocates and frees many small
/// buffers per answer (the parsed submission, sled's nodes and log entries), on several threads.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "touchpoint-collector",
    version,
    about = "Collects Touchpoint survey answers from every channel and stores each exactly once."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
// Parsed once at start: the size of the serve variant costs nothing.
#[allow(clippy::large_enum_variant)]
enum Command {
    /// Serve the API (and the widget) on the embedded store. The admin token comes from
    /// TOUCHPOINT_ADMIN_TOKEN; without it the admin routes (export) are disabled.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "TOUCHPOINT_LISTEN", default_value = config::DEFAULT_LISTEN)]
        listen: SocketAddr,
        /// Directory of the embedded sled database (created when missing).
        #[arg(long, env = "TOUCHPOINT_DATA", default_value = "./data")]
        data: PathBuf,
        /// Keep everything in this PostgreSQL database instead of sled under --data, so any
        /// number of collectors can serve behind a balancer: a libpq URL, several hosts allowed
        /// (postgres://user:pw@db1,db2/touchpoint?target_session_attrs=read-write). The schema is
        /// created and migrated at start.
        #[arg(long, env = "TOUCHPOINT_STORE", hide_env_values = true)]
        store: Option<String>,
        /// An origin (scheme://host[:port]) whose pages may post answers. Repeatable; the
        /// environment variable takes a comma-separated list.
        #[arg(
            long = "allow-origin",
            env = "TOUCHPOINT_ALLOW_ORIGIN",
            value_delimiter = ','
        )]
        allow_origins: Vec<String>,
        /// The collector's own origin as its users reach it (scheme://host[:port]): the links it
        /// issues use it, and only its pages' posts count as its own. Without it, each request's
        /// Host (or what a --trust-proxy forwarded) is taken.
        #[arg(long, env = "TOUCHPOINT_PUBLIC_URL")]
        public_url: Option<String>,
        /// The organisation file (TOML): departments, the touchpoints each owns, journeys. Read
        /// at start (a mistake refuses the start, with its line) and again on SIGHUP or
        /// POST /v1/org/reload. Without it, departments are the channels.
        #[arg(long, env = "TOUCHPOINT_ORG")]
        org: Option<PathBuf>,
        /// Serve HTTPS with this certificate chain (PEM); needs --tls-key. Browsers are then told
        /// to use HTTPS only (HSTS). Without it, serve plain HTTP behind a proxy that terminates TLS.
        #[arg(long, env = "TOUCHPOINT_TLS_CERT", requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The private key of --tls-cert (PEM).
        #[arg(long, env = "TOUCHPOINT_TLS_KEY", requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// HTTP worker threads (default: one per core).
        #[arg(long, env = "TOUCHPOINT_WORKERS")]
        workers: Option<usize>,
        /// The store's page cache in MiB: most of the collector's memory.
        #[arg(long, env = "TOUCHPOINT_CACHE_MIB", default_value_t = config::DEFAULT_CACHE_MIB)]
        cache_mib: u64,
        /// Posts per client address, RATE/BURST a second (or off). Generous: a branch's kiosks
        /// share one address.
        #[arg(long, env = "TOUCHPOINT_LIMIT_PER_ADDRESS", default_value = config::DEFAULT_LIMIT_PER_ADDRESS)]
        limit_per_address: String,
        /// Submissions per device (context.site_id + context.device_id), RATE/BURST a second (or off).
        #[arg(long, env = "TOUCHPOINT_LIMIT_PER_DEVICE", default_value = config::DEFAULT_LIMIT_PER_DEVICE)]
        limit_per_device: String,
        /// Wrong admin tokens and agent keys per client address, RATE/BURST a second (or off):
        /// past the burst, the address's attempts are answered 429 without being checked.
        #[arg(long, env = "TOUCHPOINT_LIMIT_WRONG_CREDENTIALS", default_value = config::AUTH_FAILURES)]
        limit_wrong_credentials: String,
        /// A proxy whose X-Forwarded-For is believed (repeatable; comma-separated in the
        /// environment). From any other peer the header is ignored.
        #[arg(
            long = "trust-proxy",
            env = "TOUCHPOINT_TRUST_PROXY",
            value_delimiter = ','
        )]
        trusted_proxies: Vec<std::net::IpAddr>,
        /// Connections one client address may hold at once; past it, new ones are closed.
        #[arg(long, env = "TOUCHPOINT_MAX_CONNECTIONS_PER_ADDRESS", default_value_t = config::DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
              value_parser = clap::value_parser!(u64).range(1..).map(|n| n as usize))]
        max_connections_per_address: usize,
        /// How long a post-call invitation link stays valid, in seconds (default 7 days, at most
        /// 10 years). The
        /// agents' keys come from TOUCHPOINT_AGENT_KEYS (comma-separated), the signing secret from
        /// TOUCHPOINT_INVITATION_SECRET or else one made once and kept in the store.
        #[arg(long, env = "TOUCHPOINT_INVITATION_TTL", default_value_t = config::DEFAULT_TTL_SECS,
              value_parser = clap::value_parser!(u64).range(1..=config::MAX_TTL_SECS))]
        invitation_ttl: u64,
        /// Accept agent-channel answers that carry no invitation (context.invitation), for
        /// integrations that post post-call answers themselves. By default they are refused, so
        /// nobody can answer for a call, or name its agent, without the link the collector issued.
        #[arg(long, env = "TOUCHPOINT_ALLOW_UNINVITED_AGENT_ANSWERS")]
        allow_uninvited_agent_answers: bool,
        /// Let webhooks reach endpoints on loopback, private or link-local addresses (a receiver
        /// inside the organisation's network, or tests). Refused by default, so an organisation
        /// file cannot make the collector post into the network it runs in.
        #[arg(long, env = "TOUCHPOINT_ALLOW_PRIVATE_WEBHOOKS")]
        allow_private_webhooks: bool,
        /// The delays between a webhook's attempts, like 5s,5m,30m (units s, m, h); after the
        /// last the event is given up and its endpoint disabled. Default: the Standard Webhooks
        /// schedule, 5s,5m,30m,2h,5h,10h,14h,20h,24h (ten attempts over about three days).
        #[arg(long, env = "TOUCHPOINT_WEBHOOK_RETRIES")]
        webhook_retries: Option<String>,
        /// Serve the demo site (/, /demo/web, /demo/kiosk, /demo/agent) and accept the demo agent
        /// console's public key. Off by default: a production collector serves neither.
        #[arg(long, env = "TOUCHPOINT_DEMO")]
        demo: bool,
        #[command(flatten)]
        bounds: config::Bounds,
    },
    /// Create or migrate the PostgreSQL store's schema and exit (`serve --store` also does it at
    /// start), for operators who run migrations apart.
    Migrate {
        #[arg(long, env = "TOUCHPOINT_STORE", hide_env_values = true)]
        store: String,
    },
    /// Move a stopped sled store into a PostgreSQL database, exactly once: run it again after an
    /// interruption and it goes on where it stopped. Move before any collector serves on the
    /// database.
    MigrateStore {
        /// The sled store's directory.
        #[arg(long)]
        from_data: PathBuf,
        /// The PostgreSQL database (a libpq URL, as --store takes).
        #[arg(long, env = "TOUCHPOINT_STORE", hide_env_values = true)]
        to: String,
        /// Records per transaction.
        #[arg(long, default_value_t = 1000, hide = true)]
        batch: usize,
    },
    /// Write every stored answer, in arrival order, to standard output (or --out). Needs the
    /// collector stopped; while it runs, use GET /v1/export.
    Export {
        #[arg(long, env = "TOUCHPOINT_DATA", default_value = "./data")]
        data: PathBuf,
        #[arg(long, default_value = "csv", value_parser = ["csv", "ndjson"])]
        format: String,
        /// Receive time from (inclusive): RFC 3339 or YYYY-MM-DD.
        #[arg(long)]
        from: Option<String>,
        /// Receive time to (exclusive): RFC 3339 or YYYY-MM-DD.
        #[arg(long)]
        to: Option<String>,
        #[arg(long)]
        channel: Option<String>,
        #[arg(long)]
        touchpoint: Option<String>,
        /// File to write instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Write a backup (the NDJSON export, received_at included) of a stopped store. While the
    /// collector runs, `GET /v1/export?format=ndjson` gives the same backup, consistently.
    Backup {
        #[arg(long, env = "TOUCHPOINT_DATA", default_value = "./data")]
        data: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Restore a backup into a store (empty, or holding some of the records: every submission
    /// stays exactly once). Fails on lines that are not records or conflict with the store, after
    /// restoring all the others.
    Restore {
        #[arg(long, env = "TOUCHPOINT_DATA", default_value = "./data")]
        data: PathBuf,
        #[arg(long = "from")]
        from: PathBuf,
    },
    /// Write the council report of a period — an ISO week (2026-W47) or a month (2026-11) — from a
    /// stopped store. While the collector runs, use GET /v1/report.
    Report {
        #[arg(long, env = "TOUCHPOINT_DATA", default_value = "./data")]
        data: PathBuf,
        #[arg(long)]
        period: String,
        #[arg(long, default_value = "md", value_parser = ["md", "html", "json"])]
        format: String,
        /// The organisation file: departments and journeys (without it, the channels').
        #[arg(long, env = "TOUCHPOINT_ORG")]
        org: Option<PathBuf>,
        /// File to write instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Fill an empty data directory with generated demo answers from every channel.
    SeedDemo {
        #[arg(long, env = "TOUCHPOINT_DATA", default_value = "./data")]
        data: PathBuf,
        /// How many answers.
        #[arg(long, default_value_t = 5000)]
        count: u64,
        /// Spread over this many days up to now.
        #[arg(long, default_value_t = 56)]
        days: u64,
    },
}

/// The process's peak resident memory in KiB (Linux), for the export figures.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .init();
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_tracing();
    match cli.command {
        Command::Serve {
            listen,
            data,
            store,
            allow_origins,
            public_url,
            org,
            tls_cert,
            tls_key,
            workers,
            cache_mib,
            limit_per_address,
            limit_per_device,
            limit_wrong_credentials,
            trusted_proxies,
            max_connections_per_address,
            invitation_ttl,
            allow_uninvited_agent_answers,
            allow_private_webhooks,
            webhook_retries,
            demo,
            bounds,
        } => {
            let allow_origins = allow_origins
                .iter()
                .filter(|o| !o.trim().is_empty())
                .map(|o| parse_origin(o).map_err(anyhow::Error::msg))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let admin_token = std::env::var("TOUCHPOINT_ADMIN_TOKEN")
                .ok()
                .filter(|t| !t.trim().is_empty())
                .map(Secret::new);
            let public_url = public_url
                .filter(|u| !u.trim().is_empty())
                .map(|u| parse_origin(&u).map_err(anyhow::Error::msg))
                .transpose()?;
            let config = Config {
                listen,
                data,
                store: store.filter(|url| !url.trim().is_empty()).map(Secret::new),
                allow_origins,
                public_url,
                org,
                tls: tls_cert
                    .zip(tls_key)
                    .map(|(cert, key)| config::Tls { cert, key }),
                admin_token,
                workers,
                cache_mib,
                limit_per_address: Rate::parse(&limit_per_address).map_err(anyhow::Error::msg)?,
                limit_per_device: Rate::parse(&limit_per_device).map_err(anyhow::Error::msg)?,
                limit_wrong_credentials: Rate::parse(&limit_wrong_credentials)
                    .map_err(anyhow::Error::msg)?,
                trusted_proxies,
                max_connections_per_address,
                agent_keys: std::env::var("TOUCHPOINT_AGENT_KEYS")
                    .unwrap_or_default()
                    .split(',')
                    .map(str::trim)
                    .filter(|k| !k.is_empty())
                    .map(|k| Secret::new(k.to_owned()))
                    .collect(),
                invitation_secret: std::env::var("TOUCHPOINT_INVITATION_SECRET")
                    .ok()
                    .filter(|s| !s.trim().is_empty())
                    .map(Secret::new),
                invitation_ttl_secs: invitation_ttl,
                require_invitation: !allow_uninvited_agent_answers,
                allow_private_webhooks,
                webhook_retries: webhook_retries
                    .map(|text| collector::webhooks::schedule::Schedule::parse(&text))
                    .transpose()
                    .map_err(anyhow::Error::msg)?
                    .map(|schedule| schedule.0)
                    .unwrap_or_default(),
                demo,
                arrival_clock: collector::clock::Clock::System,
                bounds,
            };
            serve(config)
        }
        Command::Migrate { store } => {
            let version = collector::store::PgStore::migrate(&store)
                .context("migrating the PostgreSQL store")?;
            tracing::info!(version, "the store's schema is up to date");
            Ok(())
        }
        Command::MigrateStore {
            from_data,
            to,
            batch,
        } => {
            let source = SledStore::open_with_cache(&from_data, 64)
                .with_context(|| format!("opening the store in {}", from_data.display()))?;
            let name = std::fs::canonicalize(&from_data)
                .unwrap_or(from_data.clone())
                .display()
                .to_string();
            let target = collector::store::PgStore::open(&to)
                .context("opening the PostgreSQL store (--to)")?;
            let started = std::time::Instant::now();
            let moved = target.import(&source, &name, batch.max(1))?;
            tracing::info!(
                moved = moved.records,
                moved_before = moved.already,
                conflicts = moved.conflicts.len(),
                seconds = started.elapsed().as_secs_f64(),
                "store moved"
            );
            if !moved.conflicts.is_empty() {
                anyhow::bail!(
                    "not moved: the database already holds ids {:?} (or their interactions) with other content; everything else was moved",
                    moved.conflicts
                );
            }
            Ok(())
        }
        Command::Export {
            data,
            format,
            from,
            to,
            channel,
            touchpoint,
            out,
        } => {
            let format = Format::parse(&format).context("format must be csv or ndjson")?;
            let filter = Filter::parse(
                from.as_deref(),
                to.as_deref(),
                channel.as_deref(),
                touchpoint.as_deref(),
            )?;
            let store = SledStore::open_with_cache(&data, 64)
                .with_context(|| format!("opening the store in {}", data.display()))?;
            let started = std::time::Instant::now();
            let rows = match out {
                Some(path) => {
                    let file = std::fs::File::create(&path)
                        .with_context(|| format!("creating {}", path.display()))?;
                    export::write(&store, &filter, format, &mut std::io::BufWriter::new(file))?
                }
                None => {
                    let stdout = std::io::stdout();
                    let mut lock = stdout.lock();
                    let rows = export::write(&store, &filter, format, &mut lock)?;
                    lock.flush()?;
                    rows
                }
            };
            tracing::info!(
                rows,
                seconds = started.elapsed().as_secs_f64(),
                peak_rss_kib = peak_rss_kib().unwrap_or(0),
                "export written"
            );
            Ok(())
        }
        Command::Backup { data, out } => {
            let store = SledStore::open_with_cache(&data, 64).with_context(|| {
                format!(
                    "opening the store in {} (while the collector runs, back up with GET /v1/export?format=ndjson)",
                    data.display()
                )
            })?;
            let file = std::fs::File::create(&out)
                .with_context(|| format!("creating {}", out.display()))?;
            let rows = export::write(
                &store,
                &Filter::default(),
                Format::Ndjson,
                &mut std::io::BufWriter::new(file),
            )?;
            tracing::info!(rows, out = %out.display(), "backup written");
            Ok(())
        }
        Command::Restore { data, from } => {
            std::fs::create_dir_all(&data)
                .with_context(|| format!("creating {}", data.display()))?;
            let store = SledStore::open_with_cache(&data, 64)
                .with_context(|| format!("opening the store in {}", data.display()))?;
            let file = std::fs::File::open(&from)
                .with_context(|| format!("opening {}", from.display()))?;
            let report = collector::backup::restore(&store, std::io::BufReader::new(file))?;
            tracing::info!(
                restored = report.restored,
                duplicates = report.duplicates,
                conflicts = report.conflicts.len(),
                invalid = report.invalid.len(),
                "restore finished"
            );
            if !report.invalid.is_empty() || !report.conflicts.is_empty() {
                anyhow::bail!(
                    "not restored: lines {:?} are not records, lines {:?} conflict with the store (everything else was restored)",
                    report.invalid,
                    report.conflicts
                );
            }
            Ok(())
        }
        Command::Report {
            data,
            period,
            format,
            org,
            out,
        } => {
            let period = report::Period::parse(&period)?;
            let org = org
                .as_deref()
                .map(collector::org::Organisation::load)
                .transpose()?
                .map(std::sync::Arc::new);
            let store = SledStore::open_with_cache(&data, 64)
                .with_context(|| format!("opening the store in {}", data.display()))?;
            let report = report::build(&store, &period, org, collector::clock::today())?;
            let text = match format.as_str() {
                "html" => report.to_html(report::Stylesheet::Inline),
                "json" => report.to_json().to_string(),
                _ => report.to_markdown(),
            };
            match out {
                Some(path) => std::fs::write(&path, text)
                    .with_context(|| format!("writing {}", path.display()))?,
                None => std::io::stdout().write_all(text.as_bytes())?,
            }
            Ok(())
        }
        Command::SeedDemo { data, count, days } => {
            std::fs::create_dir_all(&data)
                .with_context(|| format!("creating {}", data.display()))?;
            let store = SledStore::open(&data)
                .with_context(|| format!("opening the store in {}", data.display()))?;
            let now = collector::clock::now_micros();
            let started = std::time::Instant::now();
            let seeded = collector::demo::seed(&store, count, days, now)?;
            tracing::info!(seeded, seconds = started.elapsed().as_secs_f64(), data = %data.display(), "demo data written");
            Ok(())
        }
    }
}

/// What the process itself needs before it serves: the allocator's settings
/// (`collector::allocator::configure`), everything it writes is its owner's alone
/// (umask 077), and as many connections as the system allows (the open-file limit raised to its
/// hard limit), so held connections cannot exhaust it before the connection guard closes them.
fn prepare_process() {
    use rustix::{fs::Mode, process};
    collector::allocator::configure();
    process::umask(Mode::from_raw_mode(0o077));
    let limit = process::getrlimit(process::Resource::Nofile);
    if let Some(hard) = limit.maximum {
        let raised = process::Rlimit {
            current: Some(hard),
            maximum: Some(hard),
        };
        if let Err(error) = process::setrlimit(process::Resource::Nofile, raised) {
            tracing::warn!(%error, "the open-file limit could not be raised");
        }
    }
}

/// Reads the organisation file again on each SIGHUP; a bad one is refused in the log and the
/// one in force stays. Requests are served throughout.
fn reload_on_hangup(org: std::sync::Arc<collector::org::Current>) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hangups) = signal(SignalKind::hangup()) else {
        tracing::warn!("SIGHUP cannot be listened for; reload with POST /v1/org/reload");
        return;
    };
    actix_web::rt::spawn(async move {
        while hangups.recv().await.is_some() {
            let org = std::sync::Arc::clone(&org);
            match actix_web::rt::task::spawn_blocking(move || org.reload()).await {
                Ok(Ok(org)) => tracing::info!(
                    departments = org.departments.len(),
                    touchpoints = org.touchpoints.len(),
                    journeys = org.journeys.len(),
                    "organisation file reloaded (SIGHUP)"
                ),
                Ok(Err(error)) => tracing::warn!(
                    %error,
                    "the organisation file was not reloaded; the one in force stays"
                ),
                Err(_) => tracing::warn!("reloading the organisation file stopped"),
            }
        }
    });
}

fn serve(config: Config) -> anyhow::Result<()> {
    prepare_process();
    actix_web::rt::System::new().block_on(async move {
        let store = match &config.store {
            Some(_) => "postgres".to_owned(),
            None => config.data.display().to_string(),
        };
        let origins = config.allow_origins.clone();
        let running = collector::start(config)?;
        // Listen for SIGHUP before saying so: a hangup that comes as soon as the address is known
        // reloads the file instead of ending the process.
        reload_on_hangup(std::sync::Arc::clone(&running.org));
        tracing::info!(addr = %running.addr, store, allow_origins = ?origins, "touchpoint collector listening");
        let ingest = running.ingest.clone();
        let webhooks = std::sync::Arc::clone(&running.webhooks);
        running.server.await?;
        // Undelivered events stay in the store and go out after the next start.
        webhooks.stop();
        ingest.shutdown();
        if !ingest.commit().accepting() {
            // Dropping the store would flush, and sled's flush never returns after some I/O
            // errors: leave now. Everything acknowledged was flushed before it was answered.
            tracing::error!(
                outcomes = ?ingest.outcomes.snapshot(),
                "stopped with storage failing; every acknowledged answer is on disk, later ones were refused (503)"
            );
            std::process::exit(1);
        }
        let stats = &ingest.commit().stats;
        let load = |v: &std::sync::atomic::AtomicU64| v.load(std::sync::atomic::Ordering::Relaxed);
        tracing::info!(
            flushes = load(&stats.flushes),
            writes_flushed = load(&stats.writes_covered),
            flush_micros_total = load(&stats.micros_total),
            outcomes = ?ingest.outcomes.snapshot(),
            "stopped; everything acknowledged is on disk"
        );
        Ok(())
    })
}
