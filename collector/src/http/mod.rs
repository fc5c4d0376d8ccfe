//! HTTP: the route table, grouped by who calls, and the state every handler shares. A handler
//! lives in the file of its route family — [`ingest`] (public posts), [`widget`] (the widget's
//! files and public pages), [`agent`] (invitations and their links), [`admin`] (export, stats,
//! report, metrics, all behind [`guards::admin_only`]), [`outcomes`] (outcome imports and the
//! business view), [`themes`] (comment themes), both admin too, and [`dashboard`] — reads its request,
//! hands it on and answers. [`guards`] holds the checks, [`error`] the one error map, [`pages`]
//! the one page builder, [`session`] the dashboard's sessions.

pub mod admin;
pub mod agent;
pub mod connections;
pub mod dashboard;
pub mod error;
pub mod guards;
pub mod hooks;
pub mod ingest;
pub mod outcomes;
pub mod pages;
pub mod session;
pub mod themes;
pub mod widget;

use std::{
    net::{IpAddr, SocketAddr, TcpListener},
    sync::Arc,
};

use actix_web::{
    dev::{HttpServiceFactory, Server, ServerHandle},
    http::header,
    middleware::{from_fn, Compress, Condition, DefaultHeaders},
    web::{self, Bytes},
    App, HttpServer, ResponseError as _, Route,
};
use anyhow::Context as _;

pub use self::error::ApiError;
use crate::{
    channel::{
        agent::{configured_secret, made_secret, Invitations},
        Rules,
    },
    config::{self, Config, Secret},
    ingest::Ingest,
    limits::{Limiter, Rate},
    read::dashboard::Params as DashboardParams,
    stats::{BadQuery, Params as StatsParams},
    store::{SledStore, Store},
    webhooks::{self, Webhooks},
};

/// What every handler shares.
pub struct AppState {
    pub ingest: Ingest,
    per_address: Limiter,
    /// Wrong admin tokens and agent keys, per client address.
    auth_failures: Limiter,
    /// Dashboard sign-ins, per client address.
    sign_ins: Limiter,
    trusted_proxies: Vec<IpAddr>,
    allow_origins: Vec<String>,
    /// `--public-url`: the collector's own origin, whatever a request says.
    public_url: Option<String>,
    /// `http` or `https`, as this collector serves.
    scheme: &'static str,
    /// The organisation in force.
    pub org: Arc<crate::org::Current>,
    /// The `/embed` page's policy: framable by the allowed origins only.
    embed_csp: String,
    admin_token: Option<Secret>,
    survey: Bytes,
    sessions: session::Sessions,
    invitations: Arc<Invitations>,
    /// The delivery thread's figures.
    pub webhooks: Arc<Webhooks>,
    /// The business view's index (`GET /v1/impact`, the dashboard, the report).
    pub impact: Arc<crate::impact::Impact>,
}

/// A started collector: its address, the server future to await, and handles to stop it.
pub struct Running {
    pub addr: SocketAddr,
    pub server: Server,
    pub ingest: Ingest,
    /// The organisation in force, to reload (SIGHUP).
    pub org: Arc<crate::org::Current>,
    /// The webhook delivery thread: stop it before the store is dropped.
    pub webhooks: Arc<Webhooks>,
}

impl Running {
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }
}

/// Opens the store (PostgreSQL with `config.store`, else sled under `config.data`), binds `config.listen` and builds the server. Must be called
/// inside an actix/tokio runtime; await `Running::server`, then call `Ingest::shutdown`.
pub fn start(config: Config) -> anyhow::Result<Running> {
    std::fs::create_dir_all(&config.data)
        .with_context(|| format!("creating the data directory {}", config.data.display()))?;
    config::keep_private(&config.data)
        .with_context(|| format!("making {} private", config.data.display()))?;
    if let Some(url) = &config.store {
        let instance = instance_name(&config.data)?;
        let store = crate::store::PgStore::open_as(url.expose(), &instance)
            .context("opening the PostgreSQL store (--store)")?;
        return start_with_store(config, Arc::new(store));
    }
    let store = SledStore::open_with_cache(&config.data, config.cache_mib)
        .with_context(|| format!("opening the store in {}", config.data.display()))?;
    start_with_store(config, Arc::new(store))
}

/// The name a collector on PostgreSQL goes by, kept in its data directory (made the first time):
/// started again over the same directory, it takes back at once the events it claimed and the
/// deliveries it owned.
fn instance_name(data: &std::path::Path) -> anyhow::Result<String> {
    let path = data.join("collector.id");
    match std::fs::read_to_string(&path) {
        Ok(name) if !name.trim().is_empty() => Ok(name.trim().to_owned()),
        _ => {
            let name = Secret::generate()?.expose()[..24].to_owned();
            std::fs::write(&path, &name).with_context(|| format!("writing {}", path.display()))?;
            Ok(name)
        }
    }
}

/// [`start`] over a store the caller opened (tests wrap the sled store to inject failures).
pub fn start_with_store(config: Config, store: Arc<dyn Store>) -> anyhow::Result<Running> {
    config.check().map_err(anyhow::Error::msg)?;
    let org = Arc::new(crate::org::Current::open(config.org.clone())?);
    let secret = match config.invitation_secret.clone() {
        Some(configured) => configured_secret(configured)?,
        None => Secret::new(
            store
                .secret("invitation", &mut || made_secret(&config.data))
                .context("loading the invitation secret")?,
        ),
    };
    let invitations = Arc::new(
        Invitations::new(secret, config.invitation_ttl_secs, config.agent_keys())
            .requiring(config.require_invitation),
    );
    let rules = Rules::default()
        .with_device_limit(config.limit_per_device)
        .with_invitations(Arc::clone(&invitations));
    let sessions = session::Sessions::new(Arc::clone(&store));
    let webhooks = Arc::new(Webhooks::start(
        Arc::clone(&store),
        Arc::clone(&org),
        webhooks::Settings {
            allow_private: config.allow_private_webhooks,
            schedule: if config.webhook_retries.is_empty() {
                webhooks::schedule::Schedule::default()
            } else {
                webhooks::schedule::Schedule(config.webhook_retries.clone())
            },
        },
    ));
    let impact = Arc::new(crate::impact::Impact::new(Arc::clone(&store)));
    let ingest = Ingest::new(store)
        .with_rules(rules)
        .with_bounds(config.bounds)
        .with_arrival_clock(config.arrival_clock);
    let listener = TcpListener::bind(config.listen)
        .with_context(|| format!("listening on {}", config.listen))?;
    let addr = listener.local_addr()?;
    if config.admin_token.is_none() {
        tracing::warn!(
            "TOUCHPOINT_ADMIN_TOKEN is not set: export and the other admin routes are disabled"
        );
    }
    let state = web::Data::new(AppState {
        ingest: ingest.clone(),
        per_address: Limiter::new(config.limit_per_address),
        auth_failures: Limiter::new(config.limit_wrong_credentials),
        sign_ins: Limiter::new(Rate::parse(config::SIGN_INS).map_err(anyhow::Error::msg)?),
        trusted_proxies: config.trusted_proxies.clone(),
        allow_origins: config.allow_origins.clone(),
        public_url: config.public_url.clone(),
        scheme: if config.tls.is_some() {
            "https"
        } else {
            "http"
        },
        embed_csp: crate::assets::embed_csp(&config.allow_origins),
        org: Arc::clone(&org),
        admin_token: config.admin_token.clone(),
        survey: Bytes::from(widget::survey_document().to_string()),
        sessions,
        invitations,
        webhooks: Arc::clone(&webhooks),
        impact,
    });
    let hsts = config.tls.is_some();
    let guard =
        connections::Connections::new(config.max_connections_per_address, config::IDLE_TIMEOUT);
    let demo = config.demo;
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(query_rule(BadQuery("the query string could not be read")))
            .app_data(
                web::FormConfig::default().error_handler(|_, _| ApiError::UnreadableBody.into()),
            )
            .wrap(Compress::default())
            // Outside `Compress`, which must not see a single answer's Accept-Encoding.
            .wrap(from_fn(ingest::as_it_is))
            .wrap(Condition::new(
                hsts,
                DefaultHeaders::new().add((header::STRICT_TRANSPORT_SECURITY, config::HSTS)),
            ))
            .wrap(from_fn(connections::in_request))
            .configure(routes)
            .configure(|app| {
                if demo {
                    demo_routes(app);
                }
            })
            .default_service(web::to(|| async { ApiError::NotFound.error_response() }))
    })
    .on_connect(move |io, data| guard.on_connect(io, data))
    .client_request_timeout(config::REQUEST_HEAD_TIMEOUT)
    .keep_alive(config::IDLE_TIMEOUT)
    .shutdown_timeout(10);
    server = match &config.tls {
        Some(tls) => server.listen_rustls_0_23(listener, tls_config(tls)?)?,
        None => server.listen(listener)?,
    };
    if let Some(workers) = config.workers {
        server = server.workers(workers);
    }
    Ok(Running {
        addr,
        server: server.run(),
        ingest,
        org,
        webhooks,
    })
}

/// The HTTPS settings from the PEM files `tls` names.
fn tls_config(tls: &config::Tls) -> anyhow::Result<rustls::ServerConfig> {
    use rustls::pki_types::{pem::PemObject as _, CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_file_iter(&tls.cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("reading the certificate chain {}", tls.cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(&tls.key)
        .with_context(|| format!("reading the private key {}", tls.key.display()))?;
    rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .context("choosing the TLS versions")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("the certificate and the key do not form a pair")
}

/// Every route, grouped by who calls it. Each path is a resource of its own, so a method it does
/// not take is answered 405 with `Allow` (`App::route` would make the method part of the path's
/// match, and the answer a 404).
fn routes(app: &mut web::ServiceConfig) {
    // Public ingest, from the widget on any allowed origin.
    app.service(cross_origin(
        ingest::ONE_ANSWER,
        web::post().to(ingest::post_response),
    ))
    .service(cross_origin(
        "/v1/responses/batch",
        web::post().to(ingest::post_batch),
    ));
    // The widget's files and the public pages.
    app.service(web::resource("/healthz").route(web::get().to(widget::healthz)))
        .service(web::resource("/v1/survey").route(web::get().to(widget::survey)))
        .service(web::resource("/v1/openapi.json").route(web::get().to(widget::openapi)))
        .service(
            web::resource("/{file:(widget\\.js|tp-[0-9a-f]+\\.(js|wasm))}")
                .route(get_or_head().to(widget::widget_file)),
        )
        .service(web::resource("/embed").route(get_or_head().to(widget::embed_page)))
        .service(web::resource("/embed.js").route(get_or_head().to(widget::embed_js)))
        // The stylesheet of the embed page and of the post-call links, not only of the demo.
        .service(web::resource("/demo/site.css").route(get_or_head().to(widget::demo_css)))
        .service(web::resource("/favicon.ico").route(get_or_head().to(widget::favicon)));
    // The agent channel: consoles ask for invitations; customers open their links.
    app.service(cross_origin(
        "/v1/invitations",
        web::post().to(agent::post_invitation),
    ))
    .service(web::resource("/s/{token}").route(get_or_head().to(agent::survey_link)))
    .service(web::resource("/s/{token}/qr.svg").route(get_or_head().to(agent::survey_link_qr)));
    // The admin API: one guard, the admin token.
    app.service(admin(
        "/v1/export",
        admin::ExportParams::UNKNOWN,
        web::get().to(admin::export_route),
    ))
    .service(admin(
        "/v1/stats",
        StatsParams::UNKNOWN,
        web::get().to(admin::stats_route),
    ))
    .service(admin(
        "/v1/report",
        admin::ReportParams::UNKNOWN,
        web::get().to(admin::report_route),
    ))
    .service(admin(
        "/v1/themes",
        themes::ThemeParams::UNKNOWN,
        web::get().to(themes::themes_route),
    ))
    .service(admin(
        "/v1/journeys",
        admin::JourneyParams::UNKNOWN,
        web::get().to(admin::journeys_route),
    ))
    .service(admin(
        "/v1/outcomes",
        BadQuery("/v1/outcomes takes no parameters"),
        web::post().to(outcomes::post_outcomes),
    ))
    .service(admin(
        "/v1/impact",
        outcomes::ImpactParams::UNKNOWN,
        web::get().to(outcomes::impact_route),
    ))
    .service(admin(
        "/v1/org/reload",
        BadQuery("/v1/org/reload takes no parameters"),
        web::post().to(admin::org_reload),
    ))
    .service(admin(
        "/v1/endpoints",
        BadQuery("/v1/endpoints takes no parameters"),
        web::get().to(hooks::endpoints_route),
    ))
    .service(admin(
        "/v1/endpoints/{id}/replay",
        hooks::ReplayParams::UNKNOWN,
        web::post().to(hooks::replay_route),
    ))
    .service(admin(
        "/v1/alerts",
        BadQuery("/v1/alerts takes no parameters"),
        web::get().to(hooks::alerts_route),
    ))
    .service(admin(
        // An alert's id holds its scope, whose value may hold a '/'.
        "/v1/alerts/{id:.+}/acknowledge",
        BadQuery("/v1/alerts/{id}/acknowledge takes no parameters"),
        web::post().to(hooks::acknowledge_route),
    ))
    .service(admin(
        "/metrics",
        BadQuery("/metrics takes no parameters"),
        web::get().to(admin::metrics_route),
    ));
    // The dashboard, behind a session.
    app.service(
        web::resource("/dashboard")
            .app_data(page_query_rule(DashboardParams::UNKNOWN))
            .route(get_or_head().to(dashboard::dashboard_page)),
    )
    .service(web::resource("/dashboard/session").route(web::post().to(dashboard::sign_in)))
    .service(web::resource("/dashboard/sign-out").route(web::post().to(dashboard::sign_out)))
    .service(web::resource("/dashboard/actions").route(web::post().to(dashboard::record_action)))
    .service(
        web::resource("/dashboard/actions/{id}/close")
            .route(web::post().to(dashboard::close_action)),
    )
    .service(
        web::resource("/dashboard/alerts/acknowledge")
            .route(web::post().to(dashboard::acknowledge_alert)),
    )
    .service(
        web::resource("/dashboard/report")
            .app_data(page_query_rule(admin::ReportParams::UNKNOWN))
            .route(web::get().to(dashboard::report)),
    )
    .service(web::resource("/dashboard/style.css").route(get_or_head().to(dashboard::stylesheet)));
}

/// The demo site, only with `--demo`: without it these paths answer 404 like any unknown one.
fn demo_routes(app: &mut web::ServiceConfig) {
    app.service(web::resource("/").route(get_or_head().to(widget::demo_page)))
        .service(web::resource("/demo/agent.js").route(get_or_head().to(widget::demo_js)))
        .service(web::resource("/demo/{page}").route(get_or_head().to(widget::demo_page)));
}

/// A route that pages on other origins call: CORS headers for allowed origins, and preflights.
fn cross_origin(path: &str, route: Route) -> impl HttpServiceFactory {
    web::resource(path)
        .route(route)
        .route(web::method(actix_web::http::Method::OPTIONS).to(guards::preflight))
        .wrap(from_fn(guards::cors))
}

/// An admin route, whose query string follows `rule`: nothing is served without the admin token.
fn admin(path: &str, rule: BadQuery, route: Route) -> impl HttpServiceFactory {
    web::resource(path)
        .app_data(query_rule(rule))
        .route(route)
        .wrap(from_fn(guards::admin_only))
}

/// A query string that does not fit the route's parameters breaks `rule`.
fn query_rule(rule: BadQuery) -> web::QueryConfig {
    web::QueryConfig::default().error_handler(move |_, _| ApiError::BadQuery(rule).into())
}

/// As [`query_rule`], answered as a dashboard page.
fn page_query_rule(rule: BadQuery) -> web::QueryConfig {
    web::QueryConfig::default()
        .error_handler(move |_, _| dashboard::PageError::from(ApiError::BadQuery(rule)).into())
}

/// Static files answer HEAD too (caches and monitors ask it); actix strips the body.
fn get_or_head() -> actix_web::Route {
    web::route().guard(actix_web::guard::Any(actix_web::guard::Get()).or(actix_web::guard::Head()))
}
