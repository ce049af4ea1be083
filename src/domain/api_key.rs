//! API keys: `ery_live_…` or `ery_test_…` followed by random base62. Only a SHA-256 hash and a
//! short random lookup prefix are ever stored; the full key is shown once, at creation.

use rand::distributions::{Distribution, Uniform};
use rand::rngs::OsRng;
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
    fn tenant_slugs_are_checked() {
        assert!(TenantSlug::parse("acme-2").is_ok());
        assert!(TenantSlug::parse("Acme").is_err());
        assert!(TenantSlug::parse("").is_err());
        assert!(TenantSlug::parse("-x").is_err());
    }
}
