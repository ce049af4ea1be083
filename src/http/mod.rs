//! The HTTP API: routes, extractors, authentication, rate limits and error mapping.

mod auth;
mod console;
mod deadline;
mod error;
mod events;
mod floor;
#[cfg(feature = "fuzzing")]
pub mod fuzz;
mod history;
mod idempotency;
mod json;
mod metrics;
mod openapi;
mod quantities;
mod rate_limit;
mod read;
mod refusals;
mod request_id;
mod serve;
mod sync;
mod url;
mod webhook_sends;
mod webhooks;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Extension, Json, Router};
use serde::Serialize;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};

pub use self::error::ApiError;
use self::json::BodyLimit;
use self::rate_limit::RateLimiter;
use crate::config::ServerConfig;
use crate::domain::floor::Machine;
use crate::domain::network::AllowedNetworks;
use crate::domain::record::{
    CellPayload, JobPayload, OperationPayload, PartPayload, Payload, ResourcePayload,
};
use crate::store::Store;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    store: Arc<dyn Store>,
    limiter: Arc<RateLimiter>,
    key_touches: Arc<auth::KeyTouches>,
    /// The console's signed-in sessions (in memory: a restart signs everyone out).
    console: Arc<console::session::Sessions>,
    /// Days the event log keeps events, for the expired cursor's message.
    retention_days: u32,
    /// Networks webhooks may reach beside public addresses, for the check when one is saved.
    allowed_networks: Arc<AllowedNetworks>,
    /// The writes running to their end, for a stop to wait for.
    writes: deadline::WritesInFlight,
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, config: &ServerConfig) -> AppState {
        AppState {
            store,
            limiter: Arc::new(RateLimiter::per_minute(config.rate_limit_per_minute)),
            key_touches: Arc::default(),
            console: Arc::default(),
            retention_days: config.event_retention_days,
            allowed_networks: Arc::new(config.webhook_allowed_networks.clone()),
            writes: deadline::WritesInFlight::default(),
        }
    }
}

/// `{"success": true, "data": …}`.
#[derive(Serialize)]
pub struct Success<T> {
    success: bool,
    data: T,
}

pub fn success<T>(data: T) -> Success<T> {
    Success {
        success: true,
        data,
    }
}

fn entity_routes<P: Payload>(router: Router<AppState>) -> Router<AppState> {
    let base = format!("/api-{}", P::ENTITY.plural());
    router
        .route(&format!("{base}/sync"), put(sync::sync_one::<P>))
        .route(&format!("{base}/bulk-sync"), post(sync::sync_bulk::<P>))
        .route(&base, get(read::list::<P>))
        .route(
            &format!("{base}/{{id}}"),
            get(read::get_one::<P>).delete(read::delete_one::<P>),
        )
        .route(
            &format!("{base}/by-external/{{external_source}}/{{external_id}}"),
            get(read::get_by_external::<P>).delete(read::delete_by_external::<P>),
        )
}

/// Health check
///
/// 200 when the store answers; no key needed.
#[utoipa::path(get, path = "/healthz", operation_id = "getHealth", tag = "Service")]
async fn health(State(state): State<AppState>) -> Result<Json<Success<&'static str>>, ApiError> {
    // Within a second, whatever the acquire timeout: a load balancer's probe (often 2 s) must
    // read `503` from a database that does not answer, not time out.
    match tokio::time::timeout(HEALTH_WITHIN, state.store.health()).await {
        Ok(answer) => answer?,
        Err(_) => {
            let waited = crate::store::StoreError::Unavailable(sqlx::Error::PoolTimedOut);
            return Err(ApiError::Store(waited));
        }
    }
    Ok(Json(success("ok")))
}

/// How long `/healthz` waits for the database.
const HEALTH_WITHIN: Duration = Duration::from_secs(1);

async fn not_found() -> ApiError {
    ApiError::NotFound("no such endpoint".to_owned())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    ApiError::Panic.into_response()
}

pub fn router(state: AppState, config: &ServerConfig) -> Router {
    let mut api = Router::new()
        .route("/api-sync/imports", get(history::list))
        .route("/api-sync/imports/{id}", get(history::get_one))
        .route("/api-events", get(events::list))
        .route("/api-events/{id}", get(events::get_one))
        .route("/api-time-entries", get(floor::time_entries))
        .route(
            "/api-operation-quantities",
            post(quantities::report).get(quantities::list),
        )
        .route(
            "/api-webhooks",
            post(webhooks::create)
                .get(webhooks::list)
                .patch(webhooks::patch_by_query)
                .delete(webhooks::delete_by_query),
        )
        .route(
            "/api-webhooks/{id}",
            get(webhooks::get_one)
                .patch(webhooks::patch_one)
                .delete(webhooks::delete_one),
        )
        .route("/api-webhooks/{id}/rotate-secret", post(webhooks::rotate))
        .route("/api-webhooks/{id}/test", post(webhook_sends::test))
        .route("/api-webhooks/{id}/replay", post(webhook_sends::replay))
        .route(
            "/api-webhooks/{id}/deliveries",
            get(webhooks::deliveries_of),
        )
        .route(
            "/api-webhooks/{id}/deliveries/{delivery_id}/retry",
            post(webhook_sends::retry),
        )
        .route("/api-webhook-logs", get(webhooks::logs));
    for (machine, lifecycle, plural) in [
        (Machine::Operation, "/api-operation-lifecycle", "operations"),
        (Machine::Job, "/api-job-lifecycle", "jobs"),
    ] {
        let machine = Extension(floor::MachineOf(machine));
        api = api
            .route(
                &format!("{lifecycle}/{{action}}"),
                post(floor::by_id).layer(machine),
            )
            .route(
                &format!(
                    "/api-{plural}/by-external/{{external_source}}/{{external_id}}/{{action}}"
                ),
                post(floor::by_external).layer(machine),
            );
    }
    api = entity_routes::<JobPayload>(api);
    api = entity_routes::<PartPayload>(api);
    api = entity_routes::<OperationPayload>(api);
    api = entity_routes::<CellPayload>(api);
    api = entity_routes::<ResourcePayload>(api);
    // Every write takes an `Idempotency-Key`; the key is checked first, so a refused call
    // keeps none (`idempotency::guard`).
    let api = api
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            idempotency::guard,
        ))
        // Outside the key check, so a sync refused for its Idempotency-Key is in the history
        // too.
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            refusals::record,
        ))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ));
    // Connectors written for Eryxon's hosted API call the same routes under this prefix;
    // changing the host is all they need.
    let api = api.clone().merge(Router::new().nest("/functions/v1", api));

    let request_id = HeaderName::from_static("x-request-id");
    let timeout = Duration::from_secs(config.request_timeout_secs);
    let layers = ServiceBuilder::new()
        .layer(middleware::map_request(request_id::keep_only_ids))
        .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request| {
                let id = request
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                // One request's lines, down to the store's (debug) spans, share this span:
                // its request id, the route template (named by `metrics::track`) and the key.
                tracing::info_span!("request", request_id = %id, method = %request.method(), route = tracing::field::Empty, path = %request.uri().path(), key_id = tracing::field::Empty)
            })
            // One line per answered request, with the span's request and key ids.
            .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(PropagateRequestIdLayer::new(request_id))
        .layer(middleware::from_fn_with_state(
            metrics::Counting(config.metrics),
            metrics::count,
        ))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(middleware::from_fn_with_state(timeout, deadline::time_limit))
        .layer(middleware::from_fn_with_state(
            state.writes.clone(),
            deadline::run_to_end,
        ))
        .layer(Extension(BodyLimit(config.max_body_bytes)))
        .layer(DefaultBodyLimit::max(config.max_body_bytes));

    let mut router = Router::new()
        .route("/healthz", get(health))
        .route("/openapi.json", get(openapi::openapi_json))
        .route("/docs", get(openapi::docs))
        .route(openapi::DOCS_SCRIPT_PATH, get(openapi::docs_script))
        .merge(api)
        .merge(console::router());
    if config.metrics {
        metrics::handle();
        // Unauthenticated, as Prometheus scrapes; the README tells operators who expose the
        // port beyond their network to turn it off or firewall it.
        router = router.route("/metrics", get(metrics::scrape));
    }
    // After the fallbacks, so unmatched paths are named too; `Router::layer` wraps each
    // route, where the matched template is known.
    let router = router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(metrics::track))
        .layer(middleware::from_fn(url::refuse_undecodable))
        .with_state(state)
        .layer(layers);
    match cors(&config.cors_origins) {
        Some(cors) => router.layer(cors),
        None => router,
    }
}

/// Lets the configured browser origins call the API: preflights are answered, the headers a
/// sync client reads are exposed. `None` when no origin is configured.
fn cors(origins: &[String]) -> Option<CorsLayer> {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter(|o| !o.is_empty())
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    if origins.is_empty() {
        return None;
    }
    let exposed = [
        "x-request-id",
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
        "retry-after",
        "idempotent-replayed",
    ];
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            // Every method a route answers (`compat::cors_allows_only_configured_origins`
            // checks them against the API document): without PATCH a browser page could not
            // change a webhook endpoint.
            .allow_methods([
                Method::GET,
                Method::PUT,
                Method::POST,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static("idempotency-key"),
            ])
            .expose_headers(exposed.map(HeaderName::from_static))
            .max_age(Duration::from_secs(3600)),
    )
}

/// Serves the API on an already-bound listener until `shutdown` resolves, then lets in-flight
/// requests finish.
pub async fn serve(
    listener: TcpListener,
    store: Arc<dyn Store>,
    config: &ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    release_unanswered_keys(store.as_ref()).await;
    let pruner = tokio::spawn(prune_past_retention(
        store.clone(),
        config.event_retention_days,
    ));
    let worker = crate::webhooks::Worker::new(
        store.clone(),
        config.webhook_retry_schedule.clone(),
        config.webhook_allowed_networks.clone(),
    );
    let deliverer = tokio::spawn(worker.clone().run());
    let state = AppState::new(store, config);
    let writes = state.writes.clone();
    let app = router(state, config);
    let timeout = Duration::from_secs(config.request_timeout_secs);
    let _stop_pruning = AbortOnDrop(pruner);
    let _stop_delivering = AbortOnDrop(deliverer);
    // A stop claims no more deliveries from its first moment, and ends once the requests and
    // the sends in flight have (`crate::webhooks::Worker::stop`).
    let claims = worker.clone();
    let shutdown = async move {
        shutdown.await;
        claims.stop_claiming();
    };
    let served = serve::serve(listener, app, timeout, shutdown).await;
    // Writes answered `408` may still run: a stop lets them end rather than roll them back.
    if !writes.wait(timeout.max(WRITES_GRACE)).await {
        tracing::warn!("stopped while writes were still running: they are rolled back");
    }
    worker.stop().await;
    served
}

/// A request cut off by its server's stop never stored its answer: its `Idempotency-Key` is
/// freed before this server takes requests, so the client's retry runs
/// (`store::idempotency::release_unanswered`). A failure is logged; those keys then go stale
/// on their own.
async fn release_unanswered_keys(store: &dyn Store) {
    match store
        .release_unanswered_idempotency_keys(&crate::store::timestamp())
        .await
    {
        Ok(0) => {}
        Ok(released) => {
            tracing::info!(
                released,
                "freed idempotency keys of requests cut off by a stop"
            )
        }
        Err(error) => tracing::warn!(%error, "could not free idempotency keys of cut-off requests"),
    }
}

/// Aborts a background task when the server stops.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How long a stop waits for writes still running after their `408`, at least.
const WRITES_GRACE: Duration = Duration::from_secs(30);

/// How often what is past its retention is deleted.
const PRUNE_INTERVAL: Duration = Duration::from_secs(3600);

/// Deletes events, finished deliveries and sync history older than the retention
/// (`store::retention`), at start and then hourly. A failure is logged and
/// tried again at the next round; the feed keeps serving meanwhile.
async fn prune_past_retention(store: Arc<dyn Store>, days: u32) {
    let mut ticks = tokio::time::interval(PRUNE_INTERVAL);
    loop {
        ticks.tick().await;
        let before = crate::store::timestamp_of(
            time::OffsetDateTime::now_utc() - time::Duration::days(days.into()),
        );
        match crate::store::retention::prune(&*store, &before).await {
            Ok(pruned) if pruned.is_empty() => {}
            Ok(pruned) => tracing::info!(
                events = pruned.events,
                deliveries = pruned.deliveries,
                history = pruned.history,
                idempotency_keys = pruned.idempotency_keys,
                "pruned what is past its retention"
            ),
            Err(error) => tracing::warn!(%error, "could not prune what is past its retention"),
        }
    }
}
