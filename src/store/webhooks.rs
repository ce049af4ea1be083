//! Webhook endpoints, written once for both engines: registering, listing, changing, rotating
//! secrets, and disabling one with its `webhook.endpoint_disabled` event.

use uuid::Uuid;

use super::events::append;
use super::tx::{Arg, Row, Statements};
use super::{timestamp, timestamp_of, Access, Store, StoreError};
use crate::domain::delivery::Endpoint;
use crate::domain::event::NewEvent;
use crate::domain::patch::Patch;
use crate::domain::webhook::{new_secret, Change, Settings};
use crate::domain::{Mode, Scope};

/// Hours the secret before a rotation keeps signing beside the new one.
pub const ROTATION_GRACE_HOURS: i64 = 24;

fn columns(tx: &dyn Statements) -> String {
    let d = tx.dialect();
    format!(
        "id, url, events, active, description, disabled_reason, {}, {}",
        d.time("created_at"),
        d.time("updated_at")
    )
}

fn endpoint_of(row: &Row) -> Result<Endpoint, StoreError> {
    Ok(Endpoint {
        id: row.id(0)?,
        url: row.text(1)?,
        events: row.text(2)?.split(',').map(str::to_owned).collect(),
        active: row.int(3)? != 0,
        description: row.opt_text(4)?,
        disabled_reason: row.opt_text(5)?,
        created_at: row.text(6)?,
        updated_at: row.text(7)?,
        secret: None,
    })
}

fn scoped(scope: Scope, id: Uuid) -> Vec<Arg> {
    vec![
        scope.tenant_id.into(),
        scope.mode.as_str().into(),
        id.into(),
    ]
}

/// Registers an endpoint; it is sent the events committed from now on. The answer holds the
/// secret, the only time it is shown.
pub async fn create(
    store: &dyn Store,
    scope: Scope,
    settings: &Settings,
) -> Result<Endpoint, StoreError> {
    let mut tx = store.begin(Access::Write).await?;
    let id = Uuid::now_v7();
    let secret = new_secret();
    let now = timestamp();
    tx.run(
        "INSERT INTO webhook_endpoints (id, tenant_id, mode, url, events, description, active, \
           secret, fanned_out_through, created_at, updated_at) \
         VALUES ($1, $2::uuid, $3::text, $4, $5, $6, $7, $8, \
           COALESCE((SELECT last FROM event_positions WHERE tenant_id = $2::uuid AND mode = $3::text), 0), \
           $9::timestamptz, $9::timestamptz)",
        vec![
            id.into(),
            scope.tenant_id.into(),
            scope.mode.as_str().into(),
            settings.url.as_str().into(),
            settings.events.as_str().into(),
            settings.description.clone().into(),
            i64::from(settings.active).into(),
            secret.as_str().into(),
            now.into(),
        ],
    )
    .await?;
    let mut endpoint = one(&mut *tx, scope, id)
        .await?
        .ok_or_else(|| StoreError::Database(sqlx::Error::RowNotFound))?;
    tx.commit().await?;
    endpoint.secret = Some(secret);
    Ok(endpoint)
}

/// One endpoint of the tenant.
pub async fn one(
    tx: &mut dyn Statements,
    scope: Scope,
    id: Uuid,
) -> Result<Option<Endpoint>, StoreError> {
    let sql = format!(
        "SELECT {} FROM webhook_endpoints WHERE tenant_id = $1::uuid AND mode = $2::text AND id = $3",
        columns(tx)
    );
    tx.row(&sql, scoped(scope, id))
        .await?
        .as_ref()
        .map(endpoint_of)
        .transpose()
}

/// One endpoint, in a read transaction of its own.
pub async fn get(
    store: &dyn Store,
    scope: Scope,
    id: Uuid,
) -> Result<Option<Endpoint>, StoreError> {
    let mut tx = store.begin(Access::Read).await?;
    let found = one(&mut *tx, scope, id).await?;
    tx.rollback().await?;
    Ok(found)
}

/// Every endpoint of the tenant, oldest first (a tenant has a handful).
pub async fn list(store: &dyn Store, scope: Scope) -> Result<Vec<Endpoint>, StoreError> {
    let mut tx = store.begin(Access::Read).await?;
    let sql = format!(
        "SELECT {} FROM webhook_endpoints WHERE tenant_id = $1::uuid AND mode = $2::text ORDER BY id",
        columns(&*tx)
    );
    let rows = tx
        .rows(
            &sql,
            vec![scope.tenant_id.into(), scope.mode.as_str().into()],
        )
        .await?;
    tx.rollback().await?;
    rows.iter().map(endpoint_of).collect()
}

/// Applies a change; switching an endpoint on clears why it was disabled, and it is sent
/// what it missed meanwhile (its cursor stayed where it stopped).
pub async fn update(
    store: &dyn Store,
    scope: Scope,
    id: Uuid,
    change: &Change,
) -> Result<Option<Endpoint>, StoreError> {
    let mut tx = store.begin(Access::Write).await?;
    let mut sets = vec!["updated_at = $4::timestamptz".to_owned()];
    let mut args = scoped(scope, id);
    args.push(timestamp().into());
    let mut set = |column: &str, value: Arg, args: &mut Vec<Arg>| {
        args.push(value);
        sets.push(format!("{column} = ${}", args.len()));
    };
    if let Some(url) = &change.url {
        set("url", url.as_str().into(), &mut args);
    }
    if let Some(events) = &change.events {
        set("events", events.as_str().into(), &mut args);
    }
    match &change.description {
        Patch::Absent => {}
        Patch::Null => set("description", Arg::Text(None), &mut args),
        Patch::Value(text) => set("description", text.as_str().into(), &mut args),
    }
    if let Some(active) = change.active {
        set("active", i64::from(active).into(), &mut args);
        if active {
            sets.push("disabled_reason = NULL, failing_since = NULL".to_owned());
        }
    }
    let changed = tx
        .run(
            &format!(
                "UPDATE webhook_endpoints SET {} WHERE tenant_id = $1::uuid AND mode = $2::text AND id = $3",
                sets.join(", ")
            ),
            args,
        )
        .await?;
    let endpoint = if changed == 0 {
        None
    } else {
        one(&mut *tx, scope, id).await?
    };
    tx.commit().await?;
    Ok(endpoint)
}

/// Deletes an endpoint with its deliveries and their attempts.
pub async fn delete(store: &dyn Store, scope: Scope, id: Uuid) -> Result<bool, StoreError> {
    let mut tx = store.begin(Access::Write).await?;
    let owned = tx
        .row(
            "SELECT id FROM webhook_endpoints WHERE tenant_id = $1::uuid AND mode = $2::text AND id = $3",
            scoped(scope, id),
        )
        .await?
        .is_some();
    if owned {
        let id: Arg = id.into();
        tx.run(
            "DELETE FROM webhook_attempts WHERE delivery_id IN \
             (SELECT id FROM webhook_deliveries WHERE endpoint_id = $1)",
            vec![id.clone()],
        )
        .await?;
        tx.run(
            "DELETE FROM webhook_deliveries WHERE endpoint_id = $1",
            vec![id.clone()],
        )
        .await?;
        tx.run("DELETE FROM webhook_endpoints WHERE id = $1", vec![id])
            .await?;
    }
    tx.commit().await?;
    Ok(owned)
}

/// Gives the endpoint a new secret (in the answer, shown once); the old one signs beside it
/// for [`ROTATION_GRACE_HOURS`] (`webhooks::rotation_signs_with_both_secrets`).
pub async fn rotate(
    store: &dyn Store,
    scope: Scope,
    id: Uuid,
) -> Result<Option<Endpoint>, StoreError> {
    let mut tx = store.begin(Access::Write).await?;
    let secret = new_secret();
    let now = time::OffsetDateTime::now_utc();
    let mut args = scoped(scope, id);
    args.extend([
        secret.as_str().into(),
        timestamp_of(now + time::Duration::hours(ROTATION_GRACE_HOURS)).into(),
        timestamp_of(now).into(),
    ]);
    let changed = tx
        .run(
            "UPDATE webhook_endpoints SET previous_secret = secret, secret = $4, \
               previous_until = $5::timestamptz, updated_at = $6::timestamptz \
             WHERE tenant_id = $1::uuid AND mode = $2::text AND id = $3",
            args,
        )
        .await?;
    let endpoint = if changed == 0 {
        None
    } else {
        one(&mut *tx, scope, id).await?
    };
    tx.commit().await?;
    Ok(endpoint.map(|e| Endpoint {
        secret: Some(secret),
        ..e
    }))
}

/// Stops sending to an endpoint, in the caller's transaction, and writes
/// `webhook.endpoint_disabled` into its tenant's log (`webhooks::gone_disables_the_endpoint`).
/// Nothing when it was already off.
pub(crate) async fn disable(
    tx: &mut dyn Statements,
    id: Uuid,
    reason: &str,
) -> Result<(), StoreError> {
    let now = timestamp();
    let Some(row) = tx
        .row(
            "UPDATE webhook_endpoints SET active = 0, disabled_reason = $2, updated_at = $3::timestamptz \
             WHERE id = $1 AND active = 1 RETURNING CAST(tenant_id AS TEXT), mode, url",
            vec![id.into(), reason.into(), now.as_str().into()],
        )
        .await?
    else {
        return Ok(());
    };
    let scope = Scope {
        tenant_id: row.id(0)?,
        mode: Mode::parse(&row.text(1)?).unwrap_or(Mode::Live),
    };
    let event = NewEvent {
        event_type: "webhook.endpoint_disabled".to_owned(),
        entity: None,
        record_id: None,
        external_source: None,
        external_id: None,
        data: serde_json::json!({"webhook_id": id, "url": row.text(2)?, "reason": reason})
            .to_string(),
    };
    let appended = append(tx, scope, &[event], &now).await?;
    tx.after_commit(appended);
    Ok(())
}
