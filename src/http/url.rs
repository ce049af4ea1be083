//! URLs whose path or query decodes to something no record can hold: refused before routing,
//! in the API's error envelope, on every route alike. Without this, a `%00` reached
//! PostgreSQL (which stores no NUL in text) as a 500, while SQLite answered 404 or 200, and a
//! path that was not UTF-8 got axum's plain-text 400 (`errors_store::urls_that_decode_to_no_text_are_refused`).

use std::borrow::Cow;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;

use super::error::ApiError;
use crate::domain::decode::FieldError;

/// Why a percent-decoded piece of a URL is refused, if it is.
fn refusal(decoded: &[u8]) -> Option<&'static str> {
    if std::str::from_utf8(decoded).is_err() {
        Some("must be UTF-8 text once percent-decoded")
    } else if decoded.contains(&0) {
        Some("must not contain NUL characters (%00)")
    } else {
        None
    }
}

/// The first refused piece of `uri`: the field it names (`path`, or a query parameter) and why.
fn first_refused(path: &str, query: Option<&str>) -> Option<(String, &'static str)> {
    let decoded: Cow<[u8]> = percent_decode_str(path).into();
    if let Some(why) = refusal(&decoded) {
        return Some(("path".to_owned(), why));
    }
    for pair in query.unwrap_or_default().split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name_bytes: Cow<[u8]> = percent_decode_str(name).into();
        let value_bytes: Cow<[u8]> = percent_decode_str(value).into();
        if let Some(why) = refusal(&name_bytes).or_else(|| refusal(&value_bytes)) {
            let field = String::from_utf8_lossy(&name_bytes).replace('\0', "");
            return Some((field, why));
        }
    }
    None
}

/// Answers `400 VALIDATION_ERROR` naming the part of the URL that decodes to no text.
pub async fn refuse_undecodable(request: Request, next: Next) -> Response {
    let uri = request.uri();
    match first_refused(uri.path(), uri.query()) {
        Some((field, why)) => ApiError::invalid(FieldError::new(field, why)).into_response(),
        None => next.run(request).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_piece_that_decodes_to_no_text() {
        let refused = |path, query| first_refused(path, query).map(|(field, _)| field);
        assert_eq!(
            refused("/api-cells/by-external/SAP/a%00b", None).as_deref(),
            Some("path")
        );
        assert_eq!(refused("/api-cells/%FF", None).as_deref(), Some("path"));
        assert_eq!(
            refused("/api-cells", Some("limit=5&search=%00")).as_deref(),
            Some("search")
        );
        assert_eq!(
            refused("/api-cells", Some("a%FF=1")).as_deref(),
            Some("a\u{fffd}")
        );
        assert_eq!(
            refused(
                "/api-cells/by-external/SAP/%C3%A9%2F",
                Some("search=m%C3%BCller&x")
            ),
            None
        );
    }
}
