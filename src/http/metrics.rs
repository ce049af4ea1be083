//! `GET /metrics`: the server's numbers in the Prometheus text format, through the `metrics`
//! facade and its Prometheus exporter. Counters are counted where things happen (requests here,
//! sync results in `sync.rs`, rate limits in `auth.rs`, events in `store/events.rs`); gauges
//! that describe the database are read when the page is scraped.
//!
//! The exporter is one recorder per process, so every server a process runs (the test suite
//! runs many) adds to the same counters; tests compare a counter before and after their own
//! traffic (`metrics::counters_move_with_the_traffic`).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use super::AppState;
use crate::store::webhook_health;

/// Seconds a request may take, as the duration histogram's buckets.
const DURATION_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// The process's exporter, installed on first use. One recorder serves the whole process: the
/// test suite starts many servers in one process, and each renders from this same handle
/// (installing a second recorder would fail), so their counters add up; tests compare deltas
/// (`metrics::counters_move_with_the_traffic`).
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("eryxon_http_request_duration_seconds".to_owned()),
                &DURATION_BUCKETS,
            )
            .expect("the buckets are not empty");
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        // A program embedding the server may have installed a recorder of its own; then the
        // page stays empty rather than the server failing to start.
        if let Err(error) = metrics::set_global_recorder(recorder) {
            tracing::warn!(%error, "another metrics recorder is installed; /metrics stays empty");
        }
        describe();
        zeroes();
        metrics::gauge!("eryxon_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
        handle
    })
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        "eryxon_http_requests_total",
        "HTTP requests answered, by method, route template and status."
    );
    describe_histogram!(
        "eryxon_http_request_duration_seconds",
        Unit::Seconds,
        "Time to answer a request, by method and route template."
    );
    describe_counter!(
        "eryxon_sync_records_total",
        "Records of sync and bulk-sync calls, by entity and outcome (created, updated, unchanged, error)."
    );
    describe_counter!(
        "eryxon_rate_limited_total",
        "Requests refused with 429 because their key was over its per-minute limit."
    );
    describe_counter!(
        "eryxon_write_retries_total",
        "Write transactions run again after the database rolled them back for a deadlock."
    );
    describe_counter!(
        "eryxon_events_total",
        "Events written to the event log, by type."
    );
    describe_counter!(
        "eryxon_webhook_deliveries_total",
        "Webhook delivery attempts on record, by result (delivered, retry, failed, disabled)."
    );
    describe_gauge!(
        "eryxon_webhook_oldest_pending_seconds",
        Unit::Seconds,
        "Age of the oldest webhook delivery still waiting to be sent; 0 when none waits."
    );
    describe_gauge!(
        "eryxon_webhook_endpoints",
        "Webhook endpoints across tenants, by state (active; paused by a user; disabled by the server after failures)."
    );
    describe_gauge!(
        "eryxon_db_up",
        "1 when the database answered this scrape's query (within a second), 0 when not."
    );
    describe_gauge!(
        "eryxon_db_pool_connections",
        "Database connections of this process, by state (idle, active)."
    );
    describe_gauge!(
        "eryxon_build_info",
        "Always 1; the version label names the running build."
    );
}

/// The actions `eryxon_sync_records_total` counts records under, in [`count_records`].
const RECORD_ACTIONS: [&str; 4] = ["created", "updated", "unchanged", "error"];

/// Puts the counters an alert watches on the page at 0 from the start: a counter first made
/// by its first increment has no series until then, so `rate(eryxon_rate_limited_total[5m])`
/// saw nothing rather than 0, and `increase(…)` missed the first increment
/// (`metrics::counters_are_on_the_page_from_the_start`).
fn zeroes() {
    metrics::counter!("eryxon_rate_limited_total").increment(0);
    metrics::counter!("eryxon_write_retries_total").increment(0);
    // The results `store::deliveries` records an attempt under.
    for result in ["delivered", "retry", "failed", "disabled"] {
        metrics::counter!("eryxon_webhook_deliveries_total", "result" => result).increment(0);
    }
    for entity in crate::domain::Entity::ALL {
        for action in RECORD_ACTIONS {
            metrics::counter!("eryxon_sync_records_total",
                "entity" => entity.singular(), "action" => action)
            .increment(0);
        }
    }
}

/// Whether `/metrics` is served, and so whether requests are counted.
#[derive(Clone, Copy)]
pub struct Counting(pub bool);

/// Where [`track`] leaves the route template for [`count`], which runs outside the router.
#[derive(Clone, Default)]
struct RouteSlot(std::sync::Arc<OnceLock<String>>);

/// Counts and times every answered request, outside the time limit and the panic catcher, so
/// that the status counted is the one the client read: a `408`, not what the handler answered
/// after it, and a caught panic's `500` (`metrics::a_408_is_counted_as_408`). The route is the
/// template [`track`] found (`/api-jobs/{id}`), never the raw path, so that ids do not make a
/// series each; a method outside HTTP's own counts as `other`, as a path no route matches
/// counts as `unmatched`, so that no request can add series of its own making
/// (`metrics::counters_move_with_the_traffic`).
pub async fn count(State(counting): State<Counting>, mut request: Request, next: Next) -> Response {
    if !counting.0 {
        return next.run(request).await;
    }
    let started = Instant::now();
    let method: &'static str = match request.method().as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        "CONNECT" => "CONNECT",
        "TRACE" => "TRACE",
        _ => "other",
    };
    let slot = RouteSlot::default();
    request.extensions_mut().insert(slot.clone());
    let response = next.run(request).await;
    let route = slot.0.get().map_or("unmatched", String::as_str).to_owned();
    let status = response.status().as_u16().to_string();
    metrics::counter!("eryxon_http_requests_total",
        "method" => method, "route" => route.clone(), "status" => status)
    .increment(1);
    metrics::histogram!("eryxon_http_request_duration_seconds",
        "method" => method, "route" => route)
    .record(started.elapsed().as_secs_f64());
    response
}

/// Names the request's route template in its `request` span (the trace layer wraps the
/// router, so it cannot know it) and for [`count`].
pub async fn track(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    tracing::Span::current().record("route", route.as_str());
    if let Some(slot) = request.extensions().get::<RouteSlot>() {
        let _ = slot.0.set(route);
    }
    next.run(request).await
}

/// The scrape: the gauges that describe state are sampled now, then everything is rendered
/// in the text format.
pub async fn scrape(State(state): State<AppState>) -> Response {
    sample(&state).await;
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle().render(),
    )
        .into_response()
}

/// Gauges read from the store when Prometheus scrapes, not kept up to date on every change:
/// the pool's connections, the age of the oldest undelivered webhook delivery (0 when none
/// waits) and the endpoints by state. A failed read sets them to NaN (unknown) rather than
/// failing the scrape.
async fn sample(state: &AppState) {
    let pool = state.store.pool_state();
    for (name, count) in [("idle", pool.idle), ("active", pool.active)] {
        metrics::gauge!("eryxon_db_pool_connections", "state" => name).set(f64::from(count));
    }
    // Bounded, so a scrape answers while the database does not; the age is then unknown, not
    // the last one read, which made an alert on its growth go quiet just when nothing could
    // be sent (`deploy::outage_answers_503_and_recovers_without_restart`).
    let read = tokio::time::timeout(Duration::from_secs(1), async {
        let oldest = crate::store::deliveries::oldest_pending(&*state.store).await?;
        let states = webhook_health::endpoint_states(&*state.store).await?;
        Ok::<_, crate::store::StoreError>((oldest, states))
    })
    .await;
    // The endpoints by state likewise: unknown, on every instance alike, not the counts one
    // instance read before the outage while another, which never read them, shows none.
    let endpoint_states = |counts: [f64; 3]| {
        for (state, n) in ["active", "paused", "disabled"].into_iter().zip(counts) {
            metrics::gauge!("eryxon_webhook_endpoints", "state" => state).set(n);
        }
    };
    let Ok(Ok((oldest, states))) = read else {
        metrics::gauge!("eryxon_db_up").set(0.0);
        metrics::gauge!("eryxon_webhook_oldest_pending_seconds").set(f64::NAN);
        endpoint_states([f64::NAN; 3]);
        return;
    };
    metrics::gauge!("eryxon_db_up").set(1.0);
    endpoint_states([states.active, states.paused, states.disabled].map(|n| n as f64));
    let age = oldest.and_then(|text| {
        let at = time::OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339)
            .ok()?;
        Some(
            (time::OffsetDateTime::now_utc() - at)
                .as_seconds_f64()
                .max(0.0),
        )
    });
    metrics::gauge!("eryxon_webhook_oldest_pending_seconds").set(age.unwrap_or(0.0));
}

/// Counts the records of a sync call that wrote (dry runs count nothing: they wrote nothing),
/// each record under one action: the answer's `updated` includes `unchanged`, the metric's
/// does not, so the actions add up to the records (`metrics::counters_move_with_the_traffic`).
pub fn count_records(entity: crate::domain::Entity, counts: &crate::domain::outcome::Counts) {
    let numbers = [
        counts.created,
        counts.updated - counts.unchanged,
        counts.unchanged,
        counts.errors,
    ];
    for (action, n) in RECORD_ACTIONS.into_iter().zip(numbers) {
        if n > 0 {
            metrics::counter!("eryxon_sync_records_total",
                "entity" => entity.singular(), "action" => action)
            .increment(n as u64);
        }
    }
}
