//! The request timeout, and the writes that outlive it.
//!
//! A request has the request timeout to be answered; past it the client gets `408`
//! ([`time_limit`]). A write runs to its end in a task of its own ([`run_to_end`]), so neither
//! the timeout nor a client that goes away cuts a transaction in half. What outlives a `408` is
//! bounded twice:
//! - the body must have arrived by the same deadline ([`Deadline`]). A body still coming then is
//!   cut off: the write runs nothing, and the connection is closed. A client stalled inside its
//!   body held its connection, and a stop, for good before
//!   (`hostile::a_body_stalled_past_the_timeout_is_cut_off`);
//! - a stop waits for the writes still running ([`WritesInFlight`]) instead of rolling them
//!   back (`shutdown::a_stop_waits_for_a_write_answered_408`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body::{Frame, SizeHint};
use tokio::sync::RwLock;
use tokio::time::{Instant, Sleep};
use tracing::Instrument;

use super::error::ApiError;

/// The writes running in tasks of their own, for a stop to wait for: each holds a read guard.
#[derive(Clone, Default)]
pub struct WritesInFlight(Arc<RwLock<()>>);

impl WritesInFlight {
    /// Waits until every write running has ended, up to `bound`; answers whether they all did.
    /// Called once no connection is left to start another.
    pub async fn wait(&self, bound: Duration) -> bool {
        tokio::time::timeout(bound, self.0.write()).await.is_ok()
    }
}

/// Answers `408` once the request timeout has passed, and holds the body to the same deadline.
pub async fn time_limit(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    let deadline = Instant::now() + limit;
    let request = request.map(|body| {
        Body::new(Deadline {
            body,
            timer: Box::pin(tokio::time::sleep_until(deadline)),
        })
    });
    match tokio::time::timeout_at(deadline, next.run(request)).await {
        // An answer made at the deadline itself is late too: as often as not it is the body's
        // own refusal, cut off by the same deadline
        // (`hostile::slow_truncated_and_pipelined_requests`).
        Ok(response) if Instant::now() < deadline => response,
        _ => {
            let mut response = ApiError::Timeout.into_response();
            // What the client sends after this is not read: the connection is not reused.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            response
        }
    }
}

/// Runs a request that may write to its end in a task of its own: a client that goes away, or
/// the request timeout, drops the future that waits for the answer, never the work. Dropped
/// mid-way, a SQLite write transaction was left open on the one writer connection (every later
/// write failed until a restart), and an idempotent sync lost the answer it was to store, so
/// its key was "in progress" for minutes (`concurrency::a_client_that_goes_away_loses_nothing`).
pub async fn run_to_end(
    State(writes): State<WritesInFlight>,
    request: Request,
    next: Next,
) -> Response {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return next.run(request).await;
    }
    let running = writes.0.read_owned().await;
    let work = next.run(request).instrument(tracing::Span::current());
    tokio::spawn(async move {
        let response = work.await;
        drop(running);
        response
    })
    .await
    .unwrap_or_else(|_| ApiError::Panic.into_response())
}

/// A request body that fails once the request's deadline has passed before it ended.
struct Deadline {
    body: Body,
    timer: Pin<Box<Sleep>>,
}

/// Why a body stopped: the request timeout passed while it was still coming.
#[derive(Debug, thiserror::Error)]
#[error("it had not arrived within the request timeout")]
struct Late;

impl HttpBody for Deadline {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.body).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        match this.timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(axum::Error::new(Late)))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
