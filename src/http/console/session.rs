//! Signing in to the console: an API key, checked by the same code the API's middleware uses,
//! is traded for a random session token kept here, in this process's memory. The browser holds
//! only that token, in a cookie scripts cannot read (`HttpOnly`), sent to `/console` only and
//! never from another site (`SameSite=Strict`). The key itself is never stored, never put in a
//! URL and never kept in the browser.
//!
//! Sessions live in memory per server instance: a restart signs everyone out, and behind a load
//! balancer a session is known to the instance that made it only (sticky sessions, or sign in
//! again). A session ends on sign-out, after [`IDLE`] without a request, or as soon as its key is
//! revoked (every request checks the key again).
//!
//! Cross-site request forgery: the cookie is `SameSite=Strict`, so a browser does not send it
//! with a request another site starts; on top of that every form that changes something (sign
//! in, sign out, the webhooks page's) is refused when its `Origin` names another origin than
//! the server's own (`console_webhooks::the_webhooks_page_is_scoped_and_guarded`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::html;
use rand::rngs::OsRng;
use rand::RngCore;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::super::auth::{principal_for, Principal};
use super::super::AppState;
use super::{bare_page, ConsoleError};
use crate::domain::api_key::{KeyScope, PresentedKey};

/// A session unused this long is forgotten.
pub const IDLE: Duration = Duration::from_secs(8 * 3600);
const COOKIE: &str = "eryxon_console";

struct Session {
    principal: Principal,
    /// The key's lookup prefix (not secret), to check on every request that it still stands.
    lookup: String,
    last_seen: Instant,
}

/// The signed-in sessions of this process, by the SHA-256 of their token.
#[derive(Default)]
pub struct Sessions(Mutex<HashMap<[u8; 32], Session>>);

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Sessions {
    fn create(&self, principal: Principal, lookup: String) -> String {
        let mut random = [0u8; 32];
        OsRng.fill_bytes(&mut random);
        let token = hex::encode(random);
        let now = Instant::now();
        let mut sessions = self.0.lock().unwrap_or_else(|e| e.into_inner());
        sessions.retain(|_, s| now.duration_since(s.last_seen) < IDLE);
        sessions.insert(
            digest(&token),
            Session {
                principal,
                lookup,
                last_seen: now,
            },
        );
        token
    }

    /// The session's caller and key lookup, touching it; `None` once expired or unknown.
    fn find(&self, token: &str) -> Option<(Principal, String)> {
        let mut sessions = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let id = digest(token);
        let now = Instant::now();
        match sessions.get_mut(&id) {
            Some(s) if now.duration_since(s.last_seen) < IDLE => {
                s.last_seen = now;
                Some((s.principal, s.lookup.clone()))
            }
            Some(_) => {
                sessions.remove(&id);
                None
            }
            None => None,
        }
    }

    fn remove(&self, token: &str) {
        let mut sessions = self.0.lock().unwrap_or_else(|e| e.into_inner());
        sessions.remove(&digest(token));
    }
}

fn token_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
        .filter(|token| token.len() == 64)
}

/// Whether the request reached us over HTTPS (directly or through a proxy that says so).
fn over_https(headers: &HeaderMap) -> bool {
    let says = |name: &str, prefix: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().starts_with(prefix))
    };
    says("x-forwarded-proto", "https") || says(header::ORIGIN.as_str(), "https://")
}

/// The CSRF guard of the console's forms: a browser names the page's origin in `Origin` on
/// every POST; one from another origin is refused. (With the `SameSite=Strict` cookie, a
/// cross-site form arrives without a session anyway; this also stops forged sign-ins.)
pub(super) fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        // Browsers always send it on POST; a request without it is no browser's, so no forgery.
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .is_some_and(|rest| !host.is_empty() && rest.eq_ignore_ascii_case(host))
}

/// The session cookie, or with `max_age` the one that ends it. A session's cookie has no
/// `Max-Age`: the browser keeps it while it runs, and the server forgets the session after
/// [`IDLE`] without a request. With `Max-Age` set at sign-in, the browser dropped a session in
/// use 8 hours after it began (`console::the_session_is_a_guarded_cookie_and_a_test_key_sees_test_data`).
fn cookie(value: &str, max_age: Option<u64>, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let max_age = max_age.map_or(String::new(), |s| format!("; Max-Age={s}"));
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/console{max_age}{secure}"
    ))
    .expect("a cookie of hex and ASCII")
}

/// A signed-in console user: the caller its key names. Pages take it as an argument; without a
/// live session the browser is sent to the sign-in form.
pub struct Signed(pub Principal);

impl FromRequestParts<AppState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let to_sign_in = || Redirect::to("/console/sign-in").into_response();
        let token = token_of(&parts.headers).ok_or_else(to_sign_in)?;
        let (principal, lookup) = state.console.find(&token).ok_or_else(to_sign_in)?;
        let stands = state
            .store
            .find_api_key(&lookup)
            .await
            .map_err(|e| ConsoleError::from(e).into_response())?
            .is_some_and(|key| key.id == principal.key_id && !key.revoked);
        if !stands {
            state.console.remove(&token);
            return Err(to_sign_in());
        }
        Ok(Signed(principal))
    }
}

fn sign_in_page(status: StatusCode, problem: Option<&str>) -> Response {
    let body = html! {
        h1 { "Eryxon Sync console" }
        p { "Sign in with one of your tenant's API keys. A live key shows live data, a test key test data. The key needs the " code { "read" } " scope, and the " code { "webhooks" } " scope for the webhooks page." }
        @if let Some(problem) = problem {
            p.problem role="alert" id="sign-in-problem" { (problem) }
        }
        form method="post" action="/console/sign-in" {
            label for="key" { "API key" }
            input #key type="password" name="key" required autocomplete="off" spellcheck="false"
                placeholder="ery_live_…" aria-describedby=[problem.map(|_| "sign-in-problem")];
            button type="submit" { "Sign in" }
        }
        p.hint { "The key is checked once and not kept: the browser gets a session cookie, which sign-out, 8 hours without use, a revoked key or a server restart ends." }
    };
    (status, bare_page("Sign in", body)).into_response()
}

/// `GET /console/sign-in`.
pub async fn form() -> Response {
    sign_in_page(StatusCode::OK, None)
}

#[derive(Deserialize)]
pub struct SignIn {
    key: String,
}

/// `POST /console/sign-in`: checks the key, starts a session, goes to the overview.
pub async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<SignIn>,
) -> Result<Response, ConsoleError> {
    if !same_origin(&headers) {
        return Err(ConsoleError::CrossOrigin);
    }
    let refused = |message: &str| Ok(sign_in_page(StatusCode::UNAUTHORIZED, Some(message)));
    let presented = match PresentedKey::parse(form.key.trim()) {
        Ok(presented) => presented,
        Err(message) => return refused(message),
    };
    let lookup = presented.lookup.clone();
    let principal = match principal_for(&state, presented).await {
        Ok(principal) => principal,
        Err(super::super::ApiError::Unauthorized(message)) => return refused(&message),
        Err(other) => return Err(ConsoleError::Api(other)),
    };
    if !principal.scopes.contains(KeyScope::Read) {
        return refused("this API key lacks the `read` scope the console needs");
    }
    let token = state.console.create(principal, lookup);
    let mut response = Redirect::to("/console").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        cookie(&token, None, over_https(&headers)),
    );
    Ok(response)
}

/// `POST /console/sign-out`: forgets the session and the cookie.
pub async fn sign_out(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if !same_origin(&headers) {
        return ConsoleError::CrossOrigin.into_response();
    }
    if let Some(token) = token_of(&headers) {
        state.console.remove(&token);
    }
    let mut response = Redirect::to("/console/sign-in").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        cookie("", Some(0), over_https(&headers)),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn forms_from_another_origin_are_refused() {
        let own = headers(&[
            ("host", "mes.local:8080"),
            ("origin", "http://mes.local:8080"),
        ]);
        assert!(same_origin(&own));
        let other = headers(&[
            ("host", "mes.local:8080"),
            ("origin", "https://evil.example"),
        ]);
        assert!(!same_origin(&other));
        assert!(!same_origin(&headers(&[("origin", "null")])));
        assert!(same_origin(&headers(&[("host", "mes.local")])));
    }

    #[test]
    fn the_token_is_read_from_its_cookie_only() {
        let token = "a".repeat(64);
        let mut map = HeaderMap::new();
        let cookies = format!("other=1; {COOKIE}={token}");
        map.insert(header::COOKIE, HeaderValue::from_str(&cookies).unwrap());
        assert_eq!(token_of(&map).as_deref(), Some(token.as_str()));
        assert_eq!(token_of(&headers(&[("cookie", "other=1")])), None);
    }
}
