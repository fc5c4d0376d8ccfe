//! The connection to PostgreSQL: a pool (`deadpool-postgres`) of `tokio-postgres` connections
//! driven by the store's own runtime on its own thread, so the store's blocking methods can be
//! called from any thread, the HTTP workers' included, without nesting runtimes.
//!
//! The URL is libpq's (`postgres://user@host1:5432,host2:5432/db?target_session_attrs=read-write`):
//! with several hosts, a connection goes to the first one that takes writes, so after a standby
//! is promoted new connections find it by themselves. Every session commits synchronously
//! (`synchronous_commit=on`), and one left idle in a transaction is ended by the server.

use std::{
    future::Future,
    str::FromStr as _,
    sync::{Arc, Mutex},
    thread,
    time::Duration,
};

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use tokio::sync::oneshot;

use crate::store::StoreError;

/// How long one call to the database may take before it is given up (its connection is then
/// dropped, and what it did is lost unless it had committed).
const CALL_DEADLINE: Duration = Duration::from_secs(10);
/// How long connecting, or waiting for a free pooled connection, may take.
const CONNECT_DEADLINE: Duration = Duration::from_secs(3);
/// Connections per collector: the open ingest transaction, the stats tail, and the others'.
const POOL_SIZE: usize = 8;

/// The pool and the runtime that drives it.
pub(super) struct Db {
    pub(super) pool: Pool,
    runtime: tokio::runtime::Handle,
    stop: Option<oneshot::Sender<()>>,
    driver: Option<thread::JoinHandle<()>>,
    /// The last failure to reach the database, until a call succeeds again.
    unreachable: Arc<Mutex<Option<String>>>,
    /// The hosts of the URL, for saying which database is waited for.
    pub(super) hosts: String,
}

impl Db {
    /// Parses `url` and starts the runtime; connects lazily, on the first call.
    pub(super) fn open(url: &str) -> Result<Self, StoreError> {
        let mut config = tokio_postgres::Config::from_str(url)
            .map_err(|e| StoreError::Database(format!("the store URL is not valid: {e}")))?;
        let options = format!(
            "{} -c synchronous_commit=on -c idle_in_transaction_session_timeout=15000",
            config.get_options().unwrap_or_default()
        );
        config
            .options(options.trim())
            .application_name("touchpoint-collector")
            .keepalives_idle(Duration::from_secs(10));
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_DEADLINE);
        }
        let hosts = describe_hosts(&config);
        let manager = Manager::from_config(
            config,
            tokio_postgres::NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::Database(format!("starting the store's runtime: {e}")))?;
        let handle = runtime.handle().clone();
        let pool = {
            let _entered = handle.enter();
            Pool::builder(manager)
                .max_size(POOL_SIZE)
                .runtime(Runtime::Tokio1)
                .wait_timeout(Some(CONNECT_DEADLINE))
                .create_timeout(Some(CONNECT_DEADLINE))
                .build()
                .map_err(|e| StoreError::Database(e.to_string()))?
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let driver = thread::Builder::new()
            .name("touchpoint-postgres".into())
            .spawn(move || {
                let _ = runtime.block_on(stopped);
            })
            .map_err(|e| StoreError::Database(format!("starting the store's thread: {e}")))?;
        Ok(Self {
            pool,
            runtime: handle,
            stop: Some(stop),
            driver: Some(driver),
            unreachable: Arc::default(),
            hosts,
        })
    }

    /// Runs `work` on the store's runtime and waits for it (at most [`CALL_DEADLINE`]).
    pub(super) fn run<T: Send + 'static>(
        &self,
        work: impl Future<Output = Result<T, StoreError>> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.runtime.spawn(async move {
            let done = tokio::time::timeout(CALL_DEADLINE, work).await;
            let _ = tx.send(done);
        });
        let result = match rx.recv() {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(StoreError::Database(format!(
                "the database at {} did not answer within {} s",
                self.hosts,
                CALL_DEADLINE.as_secs()
            ))),
            Err(_) => Err(StoreError::Interrupted),
        };
        let mut unreachable = self.unreachable.lock().unwrap_or_else(|p| p.into_inner());
        match &result {
            Err(StoreError::Database(why)) => {
                if unreachable.is_none() {
                    tracing::warn!(hosts = self.hosts, error = why, "the database failed");
                }
                *unreachable = Some(why.clone());
            }
            Ok(_) => {
                if unreachable.take().is_some() {
                    tracing::info!(hosts = self.hosts, "the database answers again");
                }
            }
            Err(_) => {}
        }
        result
    }

    /// The last failure, while no call has succeeded since.
    pub(super) fn unreachable(&self) -> Option<String> {
        self.unreachable
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        self.pool.close();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(driver) = self.driver.take() {
            let _ = driver.join();
        }
    }
}

/// A pooled connection.
pub(super) async fn connect(pool: &Pool) -> Result<Object, StoreError> {
    pool.get().await.map_err(|e| {
        StoreError::Database(match e {
            deadpool_postgres::PoolError::Backend(e) => describe(&e),
            other => other.to_string(),
        })
    })
}

/// A failed statement as the store reports it.
pub(super) fn failed(error: tokio_postgres::Error) -> StoreError {
    StoreError::Database(describe(&error))
}

fn describe(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => match std::error::Error::source(error) {
            Some(source) => format!("{error}: {source}"),
            None => error.to_string(),
        },
    }
}

fn describe_hosts(config: &tokio_postgres::Config) -> String {
    let ports = config.get_ports();
    config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            match host {
                tokio_postgres::config::Host::Tcp(name) => format!("{name}:{port}"),
                tokio_postgres::config::Host::Unix(path) => format!("{}:{port}", path.display()),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}
