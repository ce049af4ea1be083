//! `/console`: pages for the tenant's integration engineer, served by the binary itself and
//! rendered on the server (maud escapes every value). Nothing is loaded from elsewhere: the
//! style sheet and the one small script (following new events live) come from `assets/`.
//!
//! Each page is one file that adds its routes in [`router`] and its entry in [`PAGES`]; a new
//! page is one more file and two lines here. Pages read through the
//! store's typed reads, with the signed-in key's tenant and mode ([`session::Signed`]).

mod events;
mod history;
mod overview;
mod records;
pub mod session;
mod webhooks;

use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use maud::{html, Markup, DOCTYPE};

use super::auth::Principal;
use super::{ApiError, AppState};
use crate::domain::view::{real_text, FieldValue, RecordView};
use crate::domain::Mode;
use crate::store::StoreError;

/// The pages of the navigation, in order: (path, label).
const PAGES: &[(&str, &str)] = &[
    ("/console", "Overview"),
    ("/console/syncs", "Sync history"),
    ("/console/jobs", "Records"),
    ("/console/events", "Events"),
    ("/console/webhooks", "Webhooks"),
];

const CSS: &str = include_str!("assets/console.css");
const JS: &str = include_str!("assets/console.js");

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/console/sign-in",
            get(session::form).post(session::sign_in),
        )
        .route("/console/sign-out", axum::routing::post(session::sign_out))
        .route("/console/assets/console.css", get(css))
        .route("/console/assets/console.js", get(js))
        .merge(overview::routes())
        .merge(history::routes())
        .merge(records::routes())
        .merge(events::routes())
        .merge(webhooks::routes())
        .route("/console/{*rest}", get(no_page))
        .layer(middleware::from_fn(protect))
}

/// A console address that is no page: the console's own error page, not the API's JSON 404
/// (`console_pages::the_pages_read_each_engine`).
async fn no_page() -> ConsoleError {
    ConsoleError::NotFound("there is no console page at this address".to_owned())
}

/// Headers every console answer carries: no script, style or frame from elsewhere, no caching
/// of tenant data, no sniffing.
async fn protect(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; \
             form-action 'self'; base-uri 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

async fn css() -> Response {
    asset("text/css; charset=utf-8", CSS)
}

async fn js() -> Response {
    asset("text/javascript; charset=utf-8", JS)
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · Eryxon Sync console" }
            // No icon: browsers otherwise ask for /favicon.ico on every page, each a 404 in
            // the server's logs.
            link rel="icon" href="data:,";
            link rel="stylesheet" href="/console/assets/console.css";
            script src="/console/assets/console.js" defer {}
        }
    }
}

/// A page without navigation (sign-in, errors).
pub(super) fn bare_page(title: &str, body: Markup) -> Html<String> {
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                (head(title))
                body { main #main .narrow { (body) } }
            }
        }
        .into_string(),
    )
}

/// A page of the signed-in console: navigation, the data's mode, sign-out, then `body`.
pub(super) fn page(title: &str, current: &str, principal: &Principal, body: Markup) -> Response {
    let mode = principal.scope.mode;
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                (head(title))
                body {
                    a.skip href="#main" { "Skip to content" }
                    header.top {
                        span.brand { "Eryxon Sync" }
                        nav aria-label="Console" {
                            ul {
                                @for (path, label) in PAGES {
                                    li { a href=(path) aria-current=[(*path == current).then_some("page")] { (label) } }
                                }
                            }
                        }
                        span class={ "mode mode-" (mode.as_str()) } title="Which data this key sees" {
                            @match mode { Mode::Live => "Live data", Mode::Test => "Test data" }
                        }
                        form method="post" action="/console/sign-out" {
                            button type="submit" #sign-out { "Sign out" }
                        }
                    }
                    main #main { h1 { (title) } (body) }
                }
            }
        }
        .into_string(),
    )
    .into_response()
}

/// Why a console page could not be shown, as a page.
#[derive(Debug)]
pub enum ConsoleError {
    NotFound(String),
    BadRequest(String),
    CrossOrigin,
    Api(ApiError),
}

/// A page's query string, decoded as the API decodes one: a bad value is the console's error
/// page naming the parameter, not axum's plain-text refusal
/// (`console::a_bad_query_shows_the_error_page`).
pub struct PageQuery<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> axum::extract::FromRequestParts<S>
    for PageQuery<T>
{
    type Rejection = ConsoleError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ConsoleError> {
        let super::json::ApiQuery(query) =
            super::json::ApiQuery::<T>::from_request_parts(parts, state)
                .await
                .map_err(ConsoleError::Api)?;
        Ok(PageQuery(query))
    }
}

impl From<StoreError> for ConsoleError {
    fn from(error: StoreError) -> Self {
        ConsoleError::Api(ApiError::from(error))
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            ConsoleError::NotFound(message) => (StatusCode::NOT_FOUND, message),
            ConsoleError::BadRequest(message) => (StatusCode::BAD_REQUEST, message),
            ConsoleError::CrossOrigin => (
                StatusCode::FORBIDDEN,
                "this form was sent from another site; open the console and try again".to_owned(),
            ),
            // As the API: a fault is logged as an error, a refusal as information, and the
            // page says only what the API would answer (no SQL, no internals).
            ConsoleError::Api(error) => (error.log().0, error.public_message()),
        };
        let body = html! {
            h1 { "Could not show this page" }
            p role="alert" { (message) }
            p { a href="/console" { "Back to the overview" } }
        };
        (status, bare_page("Error", body)).into_response()
    }
}

/// A stored timestamp as a `<time>`: `2026-12-05 12:47:31 UTC`.
pub(super) fn when(stored: &str) -> Markup {
    let shown = stored.get(..19).unwrap_or(stored).replace('T', " ");
    html! { time datetime=(stored) { (shown) " UTC" } }
}

/// How long ago a stored timestamp was, in words: `42 s`, `7 min`, `3 h 5 min`, `2 d 4 h`.
pub(super) fn age(stored: &str) -> String {
    let rfc3339 = &time::format_description::well_known::Rfc3339;
    let Ok(at) = time::OffsetDateTime::parse(stored, rfc3339) else {
        return String::new();
    };
    let s = (time::OffsetDateTime::now_utc() - at)
        .whole_seconds()
        .max(0);
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86_400 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        _ => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
    }
}

/// A value as text, as a table cell shows it.
pub(super) fn text(value: &FieldValue) -> String {
    match value {
        FieldValue::Null => String::new(),
        FieldValue::Text(text) => text.clone(),
        FieldValue::Int(n) => n.to_string(),
        FieldValue::Real(x) => real_text(*x),
        FieldValue::Bool(b) => if *b { "yes" } else { "no" }.to_owned(),
        FieldValue::Json(json) => json.get().to_owned(),
        FieldValue::Reference { label, .. } => label.clone().unwrap_or_default(),
    }
}

/// A record's column by name (a reference column shows its parent's label).
pub(super) fn field(record: &RecordView, name: &str) -> String {
    record
        .entity
        .read_columns()
        .zip(&record.values)
        .find(|(column, _)| column.name == name)
        .map(|(_, value)| text(value))
        .unwrap_or_default()
}

/// Rows per page unless the address asks for another number (at most [`MAX_ROWS`]).
pub(super) const DEFAULT_ROWS: u32 = 100;
pub(super) const MAX_ROWS: u32 = 1000;

pub(super) fn rows(limit: Option<u32>) -> u32 {
    limit.unwrap_or(DEFAULT_ROWS).clamp(1, MAX_ROWS)
}

/// "Rows a–b of n" with links to the pages before and after; `link(offset)` builds an address.
pub(super) fn pager(
    offset: u32,
    limit: u32,
    shown: usize,
    total: u64,
    link: impl Fn(u32) -> String,
) -> Markup {
    let first = u64::from(offset) + u64::from(shown > 0);
    let last = u64::from(offset) + shown as u64;
    // An offset past the end (an old link, a hand-edited address) shows no rows and leads
    // back to the last page; it read "Rows 99999999–99999999 of 10000".
    let past_end = shown == 0 && offset > 0;
    let previous = if past_end {
        u32::try_from(total.saturating_sub(1) / u64::from(limit) * u64::from(limit)).unwrap_or(0)
    } else {
        offset.saturating_sub(limit)
    };
    html! {
        nav.pager aria-label="Pages" {
            @if past_end {
                span { "No rows from row " (u64::from(offset) + 1) " on; there are " (total) }
            } @else {
                span { "Rows " (first) "–" (last) " of " (total) }
            }
            @if offset > 0 {
                a href=(link(previous)) rel="prev" { "← Previous page" }
            }
            @if last < total {
                a href=(link(offset + limit)) rel="next" { "Next page →" }
            }
        }
    }
}

/// Encodes a query-string value.
pub(super) fn encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// Text cut to `max` characters, with an ellipsis when cut.
pub(super) fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}
