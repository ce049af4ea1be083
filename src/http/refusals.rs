//! Sync calls refused whole — for their query string, a header, the content type, the body's
//! size or shape — are kept in the sync history like every other call: an engineer looking
//! for last night's failed call finds it, with the reason it was answered
//! (`history::a_call_refused_whole_is_in_the_history`). Calls the handler recorded itself
//! (written, or a record refused) are not recorded twice.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;

use super::auth::Principal;
use super::sync::draft;
use super::AppState;
use crate::domain::history::Answer;
use crate::domain::Entity;
use crate::store::Finish;

/// Why a call was refused, as its error envelope says: put on every `4xx` answer built from
/// an `ApiError`, for this layer to read without parsing the body.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
}

/// Set by a sync handler once the call is in the history.
#[derive(Debug, Clone, Default)]
pub struct Recorded(Arc<AtomicBool>);

impl Recorded {
    pub fn mark(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// The entity and answer of a sync route's path (`/api-jobs/bulk-sync`, also under
/// `/functions/v1`); `None` for every other route.
fn sync_route(path: &str) -> Option<(Entity, Answer)> {
    let path = path.strip_prefix("/functions/v1").unwrap_or(path);
    let (plural, action) = path.strip_prefix("/api-")?.split_once('/')?;
    let entity = Entity::ALL.into_iter().find(|e| e.plural() == plural)?;
    match action {
        "sync" => Some((entity, Answer::Single)),
        "bulk-sync" => Some((entity, Answer::Bulk)),
        _ => None,
    }
}

/// Whether a refusal belongs in the history: the caller's mistakes do; a rate limit or a
/// retry told to wait (`IDEMPOTENCY_IN_PROGRESS`) is not a call of its own.
fn worth_recording(status: StatusCode) -> bool {
    status.is_client_error()
        && status != StatusCode::TOO_MANY_REQUESTS
        && status != StatusCode::CONFLICT
        && status != StatusCode::UNAUTHORIZED
}

pub async fn record(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let Some((entity, answer)) = sync_route(request.uri().path()) else {
        return next.run(request).await;
    };
    let Some(principal) = request.extensions().get::<Principal>().copied() else {
        return next.run(request).await;
    };
    // Taken before the call runs, so that its duration counts from the start.
    let dry_run = request
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|pair| pair == "dry_run=true"));
    let finish = if dry_run {
        Finish::DryRun
    } else {
        Finish::Commit
    };
    let draft = draft(&principal, request.headers(), entity, answer, finish);
    let recorded = Recorded::default();
    request.extensions_mut().insert(recorded.clone());
    let response = next.run(request).await;
    let Some(refusal) = response.extensions().get::<Refusal>() else {
        return response;
    };
    if recorded.0.load(Ordering::Relaxed) || !worth_recording(response.status()) {
        return response;
    }
    let entry = draft.refused_whole(
        response.status().as_u16(),
        refusal.code,
        refusal.field.as_deref(),
        &refusal.message,
    );
    // A failure to record is logged, not answered: the client's error is the refusal.
    if let Err(error) = state
        .store
        .record_refused_call(principal.scope, &entry)
        .await
    {
        tracing::error!(%error, "could not record the refused sync in the history");
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_routes_are_told_by_their_path() {
        assert_eq!(
            sync_route("/api-jobs/bulk-sync"),
            Some((Entity::Jobs, Answer::Bulk))
        );
        assert_eq!(
            sync_route("/functions/v1/api-cells/sync"),
            Some((Entity::Cells, Answer::Single))
        );
        assert_eq!(sync_route("/api-jobs/by-external/SAP/J1"), None);
        assert_eq!(sync_route("/api-events"), None);
        assert_eq!(sync_route("/api-widgets/sync"), None);
    }
}
