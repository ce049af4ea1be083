//! Bearer API-key authentication, rate limiting and key scopes for every `/api-*` route. The
//! middleware authenticates once (401), counts the call (429), checks that the key's scopes
//! cover the route (403), and stamps the rate-limit headers on whatever is answered; the
//! `Principal` extractor hands the tenant and key to handlers.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use super::error::ApiError;
use super::AppState;
use crate::domain::api_key::{needed_scope, KeyScopes, PresentedKey};
use crate::domain::Scope;

/// How often a key's `last_used_at` is written at most.
const TOUCH_INTERVAL: Duration = Duration::from_secs(60);

/// The caller: which key, and whose data in which mode it may touch.
#[derive(Debug, Clone, Copy)]
pub struct Principal {
    pub key_id: Uuid,
    pub scope: Scope,
    /// What the key may do; checked by the middleware before any handler runs.
    pub scopes: KeyScopes,
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Principal>()
            .copied()
            .ok_or_else(|| ApiError::Unauthorized("authentication required".to_owned()))
    }
}

/// Remembers when each key's use was last written, so busy keys do not write on every request.
#[derive(Default)]
pub struct KeyTouches(Mutex<HashMap<Uuid, Instant>>);

impl KeyTouches {
    fn due(&self, key: Uuid) -> bool {
        let mut touched = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        match touched.get(&key) {
            Some(at) if now.duration_since(*at) < TOUCH_INTERVAL => false,
            _ => {
                touched.insert(key, now);
                true
            }
        }
    }
}

const UNKNOWN_KEY: &str = "unknown API key";

/// The API key a request presents in its `Authorization` header, parsed but not yet looked up.
pub(super) fn presented_key(headers: &HeaderMap) -> Result<PresentedKey, ApiError> {
    // Two keys are one too many to guess between (`security::two_authorization_headers_are_refused`).
    if headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .nth(1)
        .is_some()
    {
        return Err(ApiError::Unauthorized(
            "more than one Authorization header; send one".to_owned(),
        ));
    }
    let header = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| {
            ApiError::Unauthorized(
                "missing Authorization header; send `Authorization: Bearer <api key>`".to_owned(),
            )
        })?
        .to_str()
        .map_err(|_| ApiError::Unauthorized("malformed Authorization header".to_owned()))?;
    PresentedKey::from_header(header).map_err(|e| ApiError::Unauthorized(e.to_owned()))
}

async fn principal_of(state: &AppState, headers: &HeaderMap) -> Result<Principal, ApiError> {
    principal_for(state, presented_key(headers)?).await
}

/// Looks a presented key up: the caller it names, or why it names none. The API's middleware
/// and the console's sign-in both check keys here.
pub(super) async fn principal_for(
    state: &AppState,
    presented: PresentedKey,
) -> Result<Principal, ApiError> {
    let stored = state
        .store
        .find_api_key(&presented.lookup)
        .await?
        .filter(|stored| stored.mode == presented.mode && presented.matches(&stored.hash))
        .ok_or_else(|| ApiError::Unauthorized(UNKNOWN_KEY.to_owned()))?;
    if stored.revoked {
        return Err(ApiError::Unauthorized(
            "this API key has been revoked".to_owned(),
        ));
    }
    Ok(Principal {
        key_id: stored.id,
        scope: Scope {
            tenant_id: stored.tenant_id,
            mode: stored.mode,
        },
        scopes: stored.scopes,
    })
}

/// Refuses a call the key's scopes do not cover, naming the scope it needs. A route no scope
/// covers (one added without saying which it needs) is left to keys holding every scope. A
/// method the route does not serve never gets here: the router answers 405 without the key.
fn check_scope(scopes: KeyScopes, request: &Request) -> Result<(), ApiError> {
    let method = request.method().as_str();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(request.uri().path(), MatchedPath::as_str);
    let route = route.strip_prefix("/functions/v1").unwrap_or(route);
    match needed_scope(method, route) {
        Some(scope) if scopes.contains(scope) => Ok(()),
        Some(scope) => Err(ApiError::Forbidden(format!(
            "this API key lacks the `{scope}` scope, which {method} {route} needs; \
             create a key with --scopes {scope}"
        ))),
        None if scopes.is_all() => Ok(()),
        None => Err(ApiError::Forbidden(format!(
            "{method} {route} is open only to keys with every scope ({}); this key has {scopes}",
            KeyScopes::ALL
        ))),
    }
}

pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let principal = match principal_of(&state, request.headers()).await {
        Ok(principal) => principal,
        Err(error) => return error.into_response(),
    };
    // Named on the request's log line whatever the answer, a 403 or a 429 included: those are
    // the lines an operator reads to find which key is misconfigured or too busy.
    tracing::Span::current().record("key_id", tracing::field::display(principal.key_id));
    // A key's last use counts every call it authenticated, also those refused for its rate or
    // its scopes: an operator reads "last used" to tell whether a key is still in use
    // (`scopes::a_refused_call_still_marks_the_key_used`).
    if state.key_touches.due(principal.key_id) {
        let store = state.store.clone();
        tokio::spawn(async move {
            if let Err(error) = store.touch_api_key(principal.key_id).await {
                tracing::warn!(%error, "could not record the key's last use");
            }
        });
    }
    let decision = match state.limiter.check(&*state.store, principal.key_id).await {
        Ok(decision) => decision,
        Err(error) => return ApiError::from(error).into_response(),
    };
    if !decision.allowed {
        metrics::counter!("eryxon_rate_limited_total").increment(1);
        let mut response = ApiError::RateLimited {
            retry_after: decision.retry_after(),
        }
        .into_response();
        decision.write_headers(response.headers_mut());
        return response;
    }
    if let Err(refused) = check_scope(principal.scopes, &request) {
        let mut response = refused.into_response();
        decision.write_headers(response.headers_mut());
        return response;
    }
    request.extensions_mut().insert(principal);
    let mut response = next.run(request).await;
    decision.write_headers(response.headers_mut());
    response
}

#[cfg(test)]
mod tests {
    use axum::body::Body;

    use super::*;

    /// A request as the middleware sees it without a matched route: its path stands in.
    fn request(method: &str, path: &str) -> Request {
        Request::builder()
            .method(method)
            .uri(path)
            .body(Body::empty())
            .unwrap()
    }

    #[test]
    fn the_refusal_names_the_scope_and_the_call() {
        let floor = KeyScopes::parse("floor,read").unwrap();
        assert!(check_scope(floor, &request("GET", "/functions/v1/api-jobs")).is_ok());
        let refused = check_scope(floor, &request("PUT", "/functions/v1/api-jobs/sync"));
        let refused = refused.unwrap_err();
        assert_eq!(refused.status_and_code().1, "FORBIDDEN");
        assert_eq!(
            refused.to_string(),
            "this API key lacks the `sync` scope, which PUT /api-jobs/sync needs; \
             create a key with --scopes sync"
        );
    }

    #[test]
    fn a_route_no_scope_covers_is_left_to_keys_with_every_scope() {
        let uncovered = request("PATCH", "/api-something-new");
        assert!(check_scope(KeyScopes::ALL, &uncovered).is_ok());
        let most = KeyScopes::parse("sync,floor,read").unwrap();
        assert!(matches!(
            check_scope(most, &uncovered),
            Err(ApiError::Forbidden(_))
        ));
    }
}
