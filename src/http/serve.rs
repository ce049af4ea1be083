//! The accept loop: HTTP/1.1 connections served by hyper, each with a deadline for its request
//! headers, and a graceful stop.
//!
//! `axum::serve` gives hyper no timer, so a client that stalled inside its request headers was
//! never answered nor disconnected (slowloris: each such client holds a socket for as long as it
//! likes), and the request timeout only starts once the headers are complete. Here a connection
//! has the request timeout to send each request's headers, idle keep-alive time included; past
//! it, hyper closes the connection (`hostile::stalled_headers_are_cut_off`).

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::time::Duration;

use axum::body::Body;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceExt;

/// Serves `app` on `listener` until `shutdown` resolves; then takes no more connections, closes
/// idle ones, and returns once the requests in flight have been answered, or `timeout` (the
/// request timeout) has passed.
pub(super) async fn serve(
    listener: TcpListener,
    app: Router,
    timeout: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(timeout);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    accept_failed(error).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = app
            .clone()
            .map_request(|request: hyper::Request<Incoming>| request.map(Body::new));
        let connection = builder.serve_connection(
            TokioIo::new(stream),
            TowerToHyperService::new(service.map_err(|never: Infallible| never)),
        );
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A connection's end (a client gone, headers cut off) is the client's business; a
            // request hyper could not parse, which it answered with a bare status, is logged so
            // an operator can see, say, a proxy that sends oversized headers.
            match connection.await {
                Err(error) if error.is_parse() || error.is_parse_too_large() => {
                    tracing::info!(%error, "could not parse a request")
                }
                Err(error) => tracing::debug!(%error, "connection ended"),
                Ok(()) => {}
            }
        });
    }
    drop(listener);
    // Every request still in flight is answered within the timeout, so a connection open past
    // it holds nothing that is owed an answer: the stop does not wait for it any longer.
    if tokio::time::timeout(timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open a request timeout after the stop began are closed");
    }
    Ok(())
}

/// A failed accept: a client that left before it was accepted costs nothing; anything else
/// (out of file descriptors) is logged and the loop pauses a second instead of spinning, as
/// hyper's own server did.
async fn accept_failed(error: io::Error) {
    use io::ErrorKind::*;
    if matches!(
        error.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    ) {
        return;
    }
    tracing::error!(%error, "could not accept a connection");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
