//! A caller's own `X-Request-Id`, kept when it is an id and replaced when it is not.
//!
//! An ERP that sends its own request id finds the server's log lines and history entry by it.
//! Taken as sent, it went into every log line of the request: a value with spaces and `=`
//! wrote fields of its own into text logs (`key_id=…` beside the real one), and one of
//! thousands of characters was logged and echoed whole
//! (`security::a_callers_request_id_is_kept_only_when_it_is_an_id`).

use axum::extract::Request;
use axum::http::HeaderValue;

/// The longest caller's id kept: a UUID is 36 characters, a W3C trace id 32.
const LONGEST: usize = 128;

/// Whether `id` is kept as the request's id: 1 to 128 letters, digits and `-_.:/+=`, the
/// characters of UUIDs, ULIDs, trace ids and base64.
pub fn acceptable(id: &HeaderValue) -> bool {
    let bytes = id.as_bytes();
    (1..=LONGEST).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:/+=".contains(b))
}

/// Drops a caller's `X-Request-Id` that is not an id, so that the server makes one.
pub async fn keep_only_ids(mut request: Request) -> Request {
    let headers = request.headers_mut();
    if headers
        .get_all("x-request-id")
        .iter()
        .any(|id| !acceptable(id))
        || headers.get_all("x-request-id").iter().count() > 1
    {
        headers.remove("x-request-id");
    }
    request
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_kept_and_the_rest_is_not() {
        for kept in [
            "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
            "SAP:4711",
            "a",
            "x/y+z=",
        ] {
            assert!(acceptable(&HeaderValue::from_static(kept)), "{kept}");
        }
        let long = "a".repeat(129);
        for refused in ["", "abc key_id=0", "a\"b", long.as_str()] {
            let value = HeaderValue::from_str(refused).unwrap();
            assert!(!acceptable(&value), "{refused}");
        }
    }
}
