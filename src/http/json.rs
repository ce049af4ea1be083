//! The one JSON body extractor of the API: checks the content type, reads the body under the
//! configured limit and decodes it with field paths, answering every failure in the envelope.

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::domain::decode::{decode_object, FieldError};

/// A request body decoded into `T`.
pub struct ApiJson<T>(pub T);

fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// A body declared in a charset other than UTF-8 (or its subset ASCII): JSON is UTF-8
/// (RFC 8259 §8.1), and such a body was refused as "invalid unicode code point" without a
/// word of why (`errors::a_compressed_body_is_refused_as_such`).
fn declared_charset(headers: &HeaderMap) -> Option<ApiError> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let charset = value.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| value.trim().trim_matches('"').to_ascii_lowercase())
    })?;
    if ["utf-8", "utf8", "us-ascii"].contains(&charset.as_str()) {
        return None;
    }
    Some(ApiError::UnsupportedMediaType(format!(
        "the body is declared `charset={charset}`; JSON is sent as UTF-8: convert it and send \
         `Content-Type: application/json` (or `charset=utf-8`)"
    )))
}

/// The body limit in force, for the 413 message.
#[derive(Clone, Copy)]
pub struct BodyLimit(pub usize);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, _: &S) -> Result<Self, ApiError> {
        if !is_json(request.headers()) {
            return Err(ApiError::UnsupportedMediaType(
                "send the body as JSON with `Content-Type: application/json`".to_owned(),
            ));
        }
        if let Some(refused) = declared_charset(request.headers()) {
            return Err(refused);
        }
        // A compressed body read as JSON failed at "line 1 column 1", which says nothing of
        // why (`errors::a_compressed_body_is_refused_as_such`).
        if let Some(encoding) = request
            .headers()
            .get(header::CONTENT_ENCODING)
            .filter(|e| !e.is_empty() && !e.as_bytes().eq_ignore_ascii_case(b"identity"))
        {
            let encoding = String::from_utf8_lossy(encoding.as_bytes());
            return Err(ApiError::UnsupportedMediaType(format!(
                "the body is sent with `Content-Encoding: {encoding}`; send it uncompressed \
                 (no Content-Encoding)"
            )));
        }
        let (parts, body) = request.into_parts();
        let bytes = read_body(&parts, body).await?;
        decode_body(&bytes).map(ApiJson)
    }
}

/// Reads a request body up to the limit in force. A `Content-Length` over it is refused before
/// a byte is read, so a client that asked `Expect: 100-continue` is not told to upload it in
/// vain; a body cut off (the client went away, or the request timeout passed) is unreadable,
/// not too large (`hostile::a_body_cut_off_is_not_too_large`).
pub(super) async fn read_body(request: &Parts, body: Body) -> Result<Bytes, ApiError> {
    let limit = request.extensions.get::<BodyLimit>().map_or(0, |l| l.0);
    let declared = request
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|length| length.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    axum::body::to_bytes(body, limit).await.map_err(|error| {
        if over_the_limit(&error) {
            ApiError::PayloadTooLarge { limit }
        } else {
            ApiError::BodyUnreadable(error.to_string())
        }
    })
}

fn over_the_limit(error: &axum::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = cause {
        if error.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cause = error.source();
    }
    false
}

/// Decodes a request body as the extractor does, failures as the client sees them.
/// A UTF-8 byte order mark, which .NET and Windows tools write before JSON, is skipped: it
/// says nothing but "UTF-8", which JSON is anyway (RFC 8259 §8.1 lets a parser ignore it).
pub(super) fn decode_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    decode_object(bytes).map_err(ApiError::invalid)
}

/// Query-string parameters decoded into `T`, with failures in the envelope naming the
/// parameter and what it must be, in the API's words (`errors::bad_query_parameters_are_named`).
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        decode_query(parts.uri.query().unwrap_or_default()).map(ApiQuery)
    }
}

/// A route that takes no query parameters: one sent is refused, named, as the routes that take
/// some refuse those they do not know. Taken in silence, `DELETE …?dry_run=true` deleted the
/// record (`errors::writes_refuse_query_parameters_they_do_not_take`).
pub struct NoQuery;

impl<S: Send + Sync> FromRequestParts<S> for NoQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let Some((name, _)) = form_urlencoded::parse(query.as_bytes()).next() else {
            return Ok(NoQuery);
        };
        let mut message = "is not a parameter of this route, which takes none".to_owned();
        if name == "dry_run" {
            message.push_str("; dry runs are for sync and bulk-sync calls");
        }
        Err(ApiError::invalid(FieldError {
            field: Some(name.into_owned()),
            message,
        }))
    }
}

fn decode_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let pairs = form_urlencoded::parse(query.as_bytes());
    serde_path_to_error::deserialize(serde_urlencoded::Deserializer::new(pairs)).map_err(|error| {
        let field = error.path().to_string();
        let sent = form_urlencoded::parse(query.as_bytes())
            .find(|(name, _)| *name == field)
            .map(|(_, value)| value.into_owned());
        let cause = error.into_inner().to_string();
        // A parameter sent twice: serde names it only in its message.
        if let Some(name) = cause
            .strip_prefix("duplicate field `")
            .and_then(|rest| rest.strip_suffix('`'))
        {
            return ApiError::invalid(FieldError::new(
                name,
                "was sent more than once; send it once",
            ));
        }
        // The standard library's words for a bad integer or boolean, said as the API says them.
        let integer = ["digit", "number too", "parse integer"];
        let message = match sent {
            Some(value) if cause.contains("number too large") => {
                format!("is too large (got {value:?})")
            }
            Some(value) if cause.contains("number too small") => {
                format!("is too small (got {value:?})")
            }
            Some(value) if cause.contains("`true` or `false`") => {
                format!("must be true or false (got {value:?})")
            }
            Some(value) if integer.iter().any(|words| cause.contains(words)) => {
                format!("must be a whole number written in digits (got {value:?})")
            }
            _ => cause,
        };
        ApiError::invalid(FieldError {
            field: (field != ".").then_some(field),
            message,
        })
    })
}

/// An optional JSON body: none at all decodes as `T::default()`; one that is sent must be JSON
/// and decode into `T` (lifecycle actions take an optional report).
pub struct MaybeJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for MaybeJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let has_body = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .is_some_and(|length| length != "0")
            || request.headers().contains_key(header::TRANSFER_ENCODING);
        if !has_body {
            return Ok(MaybeJson(T::default()));
        }
        ApiJson::from_request(request, state)
            .await
            .map(|ApiJson(value)| MaybeJson(value))
    }
}
