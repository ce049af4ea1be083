//! API keys, written once for both engines over [`Statements`]: stored as a lookup prefix and
//! a hash, listed and revoked by operators, found and touched by the server at each request.

use serde::Serialize;
use uuid::Uuid;

use super::tx::{Row, Statements};
use super::{timestamp, Access, Store, StoreError};
use crate::domain::api_key::{display_prefix, IssuedKey, KeyScopes, TenantSlug, LOOKUP_CHARS};
use crate::domain::Mode;

/// An API key as listed to an operator; never the secret.
#[derive(Debug, Clone, Serialize)]
pub struct ApiKeyInfo {
    pub id: Uuid,
    pub tenant: String,
    pub name: Option<String>,
    pub mode: Mode,
    pub prefix: String,
    pub scopes: KeyScopes,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

/// What the server needs to check a presented key.
#[derive(Debug, Clone)]
pub struct StoredKey {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub mode: Mode,
    pub hash: String,
    pub revoked: bool,
    pub scopes: KeyScopes,
}

fn decode_scopes(text: &str) -> Result<KeyScopes, StoreError> {
    KeyScopes::parse(text).map_err(|e| StoreError::Database(sqlx::Error::Decode(e.into())))
}

fn decode_mode(text: &str) -> Result<Mode, StoreError> {
    Mode::parse(text).ok_or_else(|| {
        StoreError::Database(sqlx::Error::Decode(
            format!("unknown key mode {text:?}").into(),
        ))
    })
}

/// The lookup characters named by a key prefix an operator typed (`ery_live_AbCd1234…`).
fn lookup_of(prefix: &str) -> Option<&str> {
    let random = prefix
        .strip_prefix("ery_live_")
        .or_else(|| prefix.strip_prefix("ery_test_"))
        .unwrap_or(prefix);
    let random = &random[..random.len().min(LOOKUP_CHARS)];
    (random.len() >= 8 && random.bytes().all(|b| b.is_ascii_alphanumeric())).then_some(random)
}

/// The statement listing keys, to be completed by a `WHERE`; read by [`key_info`].
fn key_columns(tx: &dyn Statements) -> String {
    let dialect = tx.dialect();
    format!(
        "SELECT k.id, t.slug, k.name, k.mode, k.lookup, k.scopes, {}, {}, {} \
         FROM api_keys AS k JOIN tenants AS t ON t.id = k.tenant_id",
        dialect.time("k.created_at"),
        dialect.time("k.last_used_at"),
        dialect.time("k.revoked_at"),
    )
}

fn key_info(row: &Row) -> Result<ApiKeyInfo, StoreError> {
    let mode = decode_mode(&row.text(3)?)?;
    Ok(ApiKeyInfo {
        id: row.id(0)?,
        tenant: row.text(1)?,
        name: row.opt_text(2)?,
        mode,
        prefix: display_prefix(mode, &row.text(4)?),
        scopes: decode_scopes(&row.text(5)?)?,
        created_at: row.text(6)?,
        last_used_at: row.opt_text(7)?,
        revoked_at: row.opt_text(8)?,
    })
}

async fn by_id(tx: &mut dyn Statements, id: Uuid) -> Result<Option<ApiKeyInfo>, StoreError> {
    let sql = format!("{} WHERE k.id = $1::uuid", key_columns(tx));
    tx.row(&sql, vec![id.into()])
        .await?
        .as_ref()
        .map(key_info)
        .transpose()
}

/// Stores a new key for a tenant, creating the tenant on first use.
pub(crate) async fn create<S: Store + ?Sized>(
    store: &S,
    tenant: &TenantSlug,
    name: Option<&str>,
    key: &IssuedKey,
    scopes: KeyScopes,
) -> Result<ApiKeyInfo, StoreError> {
    let now = timestamp();
    let mut tx = store.begin(Access::Bookkeeping).await?;
    // PostgreSQL: a tenant created concurrently makes this wait, then skip; the next statement
    // of this READ COMMITTED transaction sees it.
    tx.run(
        "INSERT INTO tenants (id, slug, created_at) VALUES ($1::uuid, $2, $3::timestamptz) \
         ON CONFLICT (slug) DO NOTHING",
        vec![
            Uuid::now_v7().into(),
            tenant.as_str().into(),
            now.clone().into(),
        ],
    )
    .await?;
    let key_id = Uuid::now_v7();
    tx.run(
        "INSERT INTO api_keys (id, tenant_id, name, mode, lookup, hash, created_at, scopes) \
         SELECT $1::uuid, id, $3, $4, $5, $6, $7::timestamptz, $8 FROM tenants WHERE slug = $2",
        vec![
            key_id.into(),
            tenant.as_str().into(),
            name.map(str::to_owned).into(),
            key.mode.as_str().into(),
            key.lookup.clone().into(),
            key.hash.clone().into(),
            now.into(),
            scopes.to_string().into(),
        ],
    )
    .await?;
    tx.commit().await?;
    by_id(&mut *store.autocommit(Access::Read), key_id)
        .await?
        .ok_or(StoreError::Database(sqlx::Error::RowNotFound))
}

/// The keys of a tenant, or of all.
pub(crate) async fn list(
    tx: &mut dyn Statements,
    tenant: Option<&TenantSlug>,
) -> Result<Vec<ApiKeyInfo>, StoreError> {
    let sql = format!(
        "{} WHERE $1::text IS NULL OR t.slug = $1::text ORDER BY k.id",
        key_columns(tx)
    );
    let tenant = tenant.map(|t| t.as_str().to_owned());
    tx.rows(&sql, vec![tenant.into()])
        .await?
        .iter()
        .map(key_info)
        .collect()
}

/// Revokes a key named by its id or its display prefix (`ery_live_AbC…`).
pub(crate) async fn revoke<S: Store + ?Sized>(
    store: &S,
    id_or_prefix: &str,
) -> Result<ApiKeyInfo, StoreError> {
    let not_found = || StoreError::KeyNotFound(id_or_prefix.to_owned());
    let id = match Uuid::parse_str(id_or_prefix) {
        Ok(id) => id,
        Err(_) => {
            let lookup = lookup_of(id_or_prefix).ok_or_else(not_found)?;
            let ids = store
                .autocommit(Access::Read)
                .rows(
                    "SELECT id FROM api_keys WHERE substr(lookup, 1, $2::integer) = $1",
                    vec![lookup.into(), (lookup.len() as i64).into()],
                )
                .await?;
            match ids.as_slice() {
                [row] => row.id(0)?,
                [] => return Err(not_found()),
                _ => return Err(StoreError::KeyAmbiguous(id_or_prefix.to_owned())),
            }
        }
    };
    let revoked = store
        .autocommit(Access::Bookkeeping)
        .run(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2::timestamptz) \
             WHERE id = $1::uuid",
            vec![id.into(), timestamp().into()],
        )
        .await?;
    if revoked == 0 {
        return Err(not_found());
    }
    by_id(&mut *store.autocommit(Access::Read), id)
        .await?
        .ok_or_else(not_found)
}

/// The key with this lookup prefix, to check a presented key against.
pub(crate) async fn find(
    tx: &mut dyn Statements,
    lookup: &str,
) -> Result<Option<StoredKey>, StoreError> {
    let row = tx
        .row(
            "SELECT id, tenant_id, mode, hash, revoked_at IS NOT NULL, scopes \
             FROM api_keys WHERE lookup = $1",
            vec![lookup.into()],
        )
        .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(StoredKey {
        id: row.id(0)?,
        tenant_id: row.id(1)?,
        mode: decode_mode(&row.text(2)?)?,
        hash: row.text(3)?,
        revoked: row.int(4)? != 0,
        scopes: decode_scopes(&row.text(5)?)?,
    }))
}

/// Notes that a key was used now.
pub(crate) async fn touch(tx: &mut dyn Statements, id: Uuid) -> Result<(), StoreError> {
    tx.run(
        "UPDATE api_keys SET last_used_at = $2::timestamptz WHERE id = $1::uuid",
        vec![id.into(), timestamp().into()],
    )
    .await?;
    Ok(())
}
