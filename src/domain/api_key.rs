//! API keys: `ery_live_…` or `ery_test_…` followed by random base62. Only a SHA-256 hash and a
//! short random lookup prefix are ever stored; the full key is shown once, at creation.

use rand::distributions::{Distribution, Uniform};
use rand::rngs::OsRng;
use std::fmt;

use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Random base62 characters after the mode marker (≈ 238 bits).
pub const SECRET_CHARS: usize = 40;
/// Random characters of the secret used to find the key's row.
pub const LOOKUP_CHARS: usize = 12;

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Live keys see live data only, test keys test data only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Live,
    Test,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Live => "live",
            Mode::Test => "test",
        }
    }

    pub fn parse(text: &str) -> Option<Mode> {
        match text {
            "live" => Some(Mode::Live),
            "test" => Some(Mode::Test),
            _ => None,
        }
    }

    fn marker(self) -> &'static str {
        match self {
            Mode::Live => "ery_live_",
            Mode::Test => "ery_test_",
        }
    }
}

/// A newly made key. `secret` is printed once and then forgotten.
pub struct IssuedKey {
    pub secret: String,
    pub lookup: String,
    pub hash: String,
    pub mode: Mode,
}

impl IssuedKey {
    pub fn generate(mode: Mode) -> IssuedKey {
        let chars = Uniform::from(0..BASE62.len());
        let random: String = chars
            .sample_iter(OsRng)
            .take(SECRET_CHARS)
            .map(|i| BASE62[i] as char)
            .collect();
        let secret = format!("{}{random}", mode.marker());
        IssuedKey {
            lookup: random[..LOOKUP_CHARS].to_owned(),
            hash: hash_hex(&secret),
            secret,
            mode,
        }
    }
}

/// How a key is shown in listings and logs: its mode marker and lookup prefix.
pub fn display_prefix(mode: Mode, lookup: &str) -> String {
    format!("{}{lookup}", mode.marker())
}

/// A key as presented in a request, parsed but not yet checked against the store.
#[derive(Debug)]
pub struct PresentedKey {
    pub mode: Mode,
    pub lookup: String,
    hash: [u8; 32],
}

impl PresentedKey {
    /// Parses an `Authorization` header value: `Bearer <key>`.
    pub fn from_header(value: &str) -> Result<PresentedKey, &'static str> {
        let (scheme, key) = value
            .trim()
            .split_once(' ')
            .ok_or("expected `Authorization: Bearer <api key>`")?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err("expected `Authorization: Bearer <api key>`");
        }
        PresentedKey::parse(key.trim())
    }

    pub fn parse(key: &str) -> Result<PresentedKey, &'static str> {
        let (mode, random) = [Mode::Live, Mode::Test]
            .into_iter()
            .find_map(|mode| key.strip_prefix(mode.marker()).map(|rest| (mode, rest)))
            .ok_or("API keys start with ery_live_ or ery_test_")?;
        let well_formed =
            random.len() == SECRET_CHARS && random.bytes().all(|b| b.is_ascii_alphanumeric());
        if !well_formed {
            return Err("malformed API key");
        }
        Ok(PresentedKey {
            mode,
            lookup: random[..LOOKUP_CHARS].to_owned(),
            hash: Sha256::digest(key.as_bytes()).into(),
        })
    }

    /// Compares with a stored hash in constant time, so timing reveals nothing of the secret.
    pub fn matches(&self, stored_hash_hex: &str) -> bool {
        match hex::decode(stored_hash_hex) {
            Ok(stored) => stored.ct_eq(&self.hash).into(),
            Err(_) => false,
        }
    }
}

fn hash_hex(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A tenant's short name: lowercase letters, digits and dashes, 1 to 63 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantSlug(String);

impl TenantSlug {
    pub fn parse(text: &str) -> Result<TenantSlug, String> {
        let valid = (1..=63).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !text.starts_with('-');
        if valid {
            Ok(TenantSlug(text.to_owned()))
        } else {
            Err(format!(
                "tenant {text:?} must be 1-63 lowercase letters, digits or dashes, not starting with a dash"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One thing a key may do. A key holds a set of them ([`KeyScopes`]); each route needs one
/// ([`needed_scope`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyScope {
    /// Write records: `PUT …/sync`, `POST …/bulk-sync`, `DELETE` of a record.
    Sync,
    /// The shop floor's actions: lifecycle routes and reported quantities.
    Floor,
    /// Every `GET`.
    Read,
    /// Managing webhooks (`/api-webhooks*`, and the console's webhooks page).
    Webhooks,
}

impl KeyScope {
    pub const ALL: [KeyScope; 4] = [
        KeyScope::Sync,
        KeyScope::Floor,
        KeyScope::Read,
        KeyScope::Webhooks,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            KeyScope::Sync => "sync",
            KeyScope::Floor => "floor",
            KeyScope::Read => "read",
            KeyScope::Webhooks => "webhooks",
        }
    }

    pub fn parse(text: &str) -> Option<KeyScope> {
        KeyScope::ALL.into_iter().find(|s| s.as_str() == text)
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

impl fmt::Display for KeyScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The scopes a key holds; written `sync,floor,read,webhooks`, always in that order.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyScopes(u8);

impl KeyScopes {
    /// What a key gets when none are named, and what keys made before scopes have.
    pub const ALL: KeyScopes = KeyScopes(0b1111);

    pub fn contains(self, scope: KeyScope) -> bool {
        self.0 & scope.bit() != 0
    }

    pub fn is_all(self) -> bool {
        self == KeyScopes::ALL
    }

    pub fn iter(self) -> impl Iterator<Item = KeyScope> {
        KeyScope::ALL.into_iter().filter(move |s| self.contains(*s))
    }

    /// A comma-separated list such as `floor,read`; unknown names are refused with the valid
    /// ones, and at least one is needed.
    pub fn parse(text: &str) -> Result<KeyScopes, String> {
        let mut bits = 0;
        for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let scope = KeyScope::parse(name).ok_or_else(|| {
                format!("unknown scope {name:?}; the scopes are {}", KeyScopes::ALL)
            })?;
            bits |= scope.bit();
        }
        if bits == 0 {
            return Err(format!("name at least one scope of {}", KeyScopes::ALL));
        }
        Ok(KeyScopes(bits))
    }
}

impl FromIterator<KeyScope> for KeyScopes {
    fn from_iter<I: IntoIterator<Item = KeyScope>>(scopes: I) -> KeyScopes {
        KeyScopes(scopes.into_iter().fold(0, |bits, s| bits | s.bit()))
    }
}

impl fmt::Display for KeyScopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(KeyScope::as_str).collect();
        f.write_str(&names.join(","))
    }
}

impl fmt::Debug for KeyScopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyScopes({self})")
    }
}

impl std::str::FromStr for KeyScopes {
    type Err = String;

    fn from_str(text: &str) -> Result<KeyScopes, String> {
        KeyScopes::parse(text)
    }
}

/// Listed as `["floor", "read"]`.
impl Serialize for KeyScopes {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter().map(KeyScope::as_str))
    }
}

/// The scope a request needs, from its method and route template (`/api-jobs/{id}`, without
/// the `/functions/v1` prefix). `None` for a method and route no scope covers, which only a
/// key holding every scope passes (the router then answers it, usually 405).
pub fn needed_scope(method: &str, route: &str) -> Option<KeyScope> {
    let under = |prefix: &str| {
        route
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    };
    let floor_action = under("/api-operation-lifecycle")
        || under("/api-job-lifecycle")
        || under("/api-operation-quantities")
        || (route.contains("/by-external/") && route.ends_with("/{action}"));
    if under("/api-webhooks") || under("/api-webhook-logs") {
        Some(KeyScope::Webhooks)
    } else if matches!(method, "GET" | "HEAD") {
        Some(KeyScope::Read)
    } else if method == "POST" && floor_action {
        Some(KeyScope::Floor)
    } else if (method == "PUT" && route.ends_with("/sync"))
        || (method == "POST" && route.ends_with("/bulk-sync"))
        || (method == "DELETE" && !floor_action)
    {
        Some(KeyScope::Sync)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issued_key_parses_and_matches_its_hash() {
        let issued = IssuedKey::generate(Mode::Test);
        assert!(issued.secret.starts_with("ery_test_"));
        assert_eq!(issued.secret.len(), "ery_test_".len() + SECRET_CHARS);
        let presented = PresentedKey::from_header(&format!("Bearer {}", issued.secret)).unwrap();
        assert_eq!(presented.mode, Mode::Test);
        assert_eq!(presented.lookup, issued.lookup);
        assert!(presented.matches(&issued.hash));
        assert!(!presented.matches(&IssuedKey::generate(Mode::Test).hash));
    }

    #[test]
    fn keys_are_random() {
        assert_ne!(
            IssuedKey::generate(Mode::Live).secret,
            IssuedKey::generate(Mode::Live).secret
        );
    }

    #[test]
    fn malformed_headers_are_refused() {
        let key = IssuedKey::generate(Mode::Live).secret;
        assert!(PresentedKey::from_header(&format!("Basic {key}")).is_err());
        assert!(PresentedKey::from_header(&key).is_err());
        assert!(PresentedKey::from_header("Bearer ery_live_short").is_err());
        assert!(PresentedKey::from_header(&format!("Bearer {key}!")).is_err());
        assert!(PresentedKey::from_header(&format!("Bearer {}", &key[4..])).is_err());
        assert!(PresentedKey::from_header(&format!("bearer {key}")).is_ok());
    }

    #[test]
    fn scopes_parse_and_print_in_one_order() {
        let scopes = KeyScopes::parse(" read, floor ,read").unwrap();
        assert_eq!(scopes.to_string(), "floor,read");
        assert!(scopes.contains(KeyScope::Floor) && !scopes.contains(KeyScope::Sync));
        assert_eq!(KeyScopes::ALL.to_string(), "sync,floor,read,webhooks");
        assert_eq!(
            KeyScopes::parse("sync,floor,read,webhooks"),
            Ok(KeyScopes::ALL)
        );
        assert!(KeyScopes::ALL.is_all() && !scopes.is_all());
        assert_eq!(
            serde_json::to_value(scopes).unwrap(),
            serde_json::json!(["floor", "read"])
        );
    }

    #[test]
    fn unknown_or_no_scopes_are_refused_naming_the_valid_ones() {
        let error = KeyScopes::parse("floor,bogus").unwrap_err();
        assert!(error.contains("\"bogus\""), "{error}");
        assert!(error.contains("sync,floor,read,webhooks"), "{error}");
        assert!(KeyScopes::parse("").is_err());
        assert!(KeyScopes::parse(" , ").is_err());
        assert!(KeyScopes::parse("Read").is_err());
    }

    #[test]
    fn each_route_needs_its_scope() {
        use KeyScope::*;
        for (method, route, scope) in [
            ("GET", "/api-jobs", Some(Read)),
            ("GET", "/api-jobs/{id}", Some(Read)),
            ("HEAD", "/api-cells", Some(Read)),
            ("GET", "/api-events", Some(Read)),
            ("GET", "/api-events/{id}", Some(Read)),
            ("GET", "/api-sync/imports", Some(Read)),
            ("GET", "/api-time-entries", Some(Read)),
            ("GET", "/api-operation-quantities", Some(Read)),
            ("PUT", "/api-jobs/sync", Some(Sync)),
            ("POST", "/api-parts/bulk-sync", Some(Sync)),
            ("DELETE", "/api-jobs/{id}", Some(Sync)),
            (
                "DELETE",
                "/api-cells/by-external/{external_source}/{external_id}",
                Some(Sync),
            ),
            ("POST", "/api-operation-lifecycle/{action}", Some(Floor)),
            ("POST", "/api-job-lifecycle/{action}", Some(Floor)),
            (
                "POST",
                "/api-operations/by-external/{external_source}/{external_id}/{action}",
                Some(Floor),
            ),
            ("POST", "/api-operation-quantities", Some(Floor)),
            ("GET", "/api-webhooks", Some(Webhooks)),
            ("POST", "/api-webhooks", Some(Webhooks)),
            ("DELETE", "/api-webhooks/{id}", Some(Webhooks)),
            ("GET", "/api-webhook-logs", Some(Webhooks)),
            ("POST", "/api-jobs/sync", None),
            ("PATCH", "/api-jobs/{id}", None),
            ("PUT", "/api-job-lifecycle/{action}", None),
            ("POST", "/api-operation-lifecyclex/{action}", None),
        ] {
            assert_eq!(needed_scope(method, route), scope, "{method} {route}");
        }
    }

    #[test]
    fn tenant_slugs_are_checked() {
        assert!(TenantSlug::parse("acme-2").is_ok());
        assert!(TenantSlug::parse("Acme").is_err());
        assert!(TenantSlug::parse("").is_err());
        assert!(TenantSlug::parse("-x").is_err());
    }
}
