//! Account, session, API-token, captcha and password-reset rows.

use super::{Store, StoreError, Tx};
use crate::{on_pool, on_tx};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AccountRow {
    pub id: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub password_hash: String,
    pub password_changed_at: i64,
    pub display_name: String,
    pub locale: String,
    pub failed_logins: i64,
    pub locked_until: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

const ACCOUNT_COLUMNS: &str = "id, email, phone, password_hash, password_changed_at, display_name, \
     locale, failed_logins, locked_until, created_at, updated_at";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRow {
    pub id: String,
    pub account_id: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub revoked_at: Option<i64>,
    pub source_address: Option<String>,
    pub user_agent: Option<String>,
}

const SESSION_COLUMNS: &str =
    "id, account_id, created_at, last_seen_at, revoked_at, source_address, user_agent";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiTokenRow {
    pub id: String,
    pub name: String,
    pub role: String,
    pub market_code: String,
    pub created_by: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

const TOKEN_COLUMNS: &str =
    "id, name, role, market_code, created_by, created_at, last_used_at, revoked_at";

pub async fn insert_account(tx: &mut Tx, a: &AccountRow) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO accounts ({ACCOUNT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    );
    on_tx!(tx, conn => {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&a.id)
            .bind(&a.email)
            .bind(&a.phone)
            .bind(&a.password_hash)
            .bind(a.password_changed_at)
            .bind(&a.display_name)
            .bind(&a.locale)
            .bind(a.failed_logins)
            .bind(a.locked_until)
            .bind(a.created_at)
            .bind(a.updated_at)
            .execute(&mut *conn)
            .await?;
    });
    Ok(())
}

/// Whether an email or phone is already registered.
pub async fn login_taken(
    store: &Store,
    email: Option<&str>,
    phone: Option<&str>,
) -> Result<bool, StoreError> {
    let sql = "SELECT COUNT(*) FROM accounts WHERE email = $1 OR phone = $2";
    let (n,): (i64,) = on_pool!(store, pool => {
        sqlx::query_as(sql).bind(email).bind(phone).fetch_one(pool).await?
    });
    Ok(n > 0)
}

/// The account whose email or phone is `login`.
pub async fn account_by_login(
    store: &Store,
    login: &str,
) -> Result<Option<AccountRow>, StoreError> {
    store
        .row_by_key(
            format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE email = $1 OR phone = $1"),
            login,
        )
        .await
}

pub async fn account(store: &Store, id: &str) -> Result<Option<AccountRow>, StoreError> {
    store
        .row_by_key(
            format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1"),
            id,
        )
        .await
}

/// Counts one more failed login; returns the new count. Atomic, so concurrent
/// guesses cannot slip under the lockout threshold.
pub async fn count_login_failure(tx: &mut Tx, id: &str) -> Result<i64, StoreError> {
    let (n,): (i64,) = on_tx!(tx, conn => {
        sqlx::query_as(
            "UPDATE accounts SET failed_logins = failed_logins + 1 WHERE id = $1 RETURNING failed_logins",
        )
        .bind(id)
        .fetch_one(&mut *conn)
        .await?
    });
    Ok(n)
}

/// Locks (`Some(until)`) or clears the lock and the failure count (`None`).
pub async fn set_lock(tx: &mut Tx, id: &str, locked_until: Option<i64>) -> Result<(), StoreError> {
    on_tx!(tx, conn => {
        sqlx::query("UPDATE accounts SET failed_logins = 0, locked_until = $2 WHERE id = $1")
            .bind(id)
            .bind(locked_until)
            .execute(&mut *conn)
            .await?;
    });
    Ok(())
}

/// Marks an API token used now (at most once a minute, to keep writes off the hot path).
pub async fn touch_api_token(store: &Store, id: &str, now: i64) -> Result<(), StoreError> {
    on_pool!(store, pool => {
        sqlx::query(
            "UPDATE api_tokens SET last_used_at = $2 WHERE id = $1 \
             AND (last_used_at IS NULL OR last_used_at < $2 - 60000)",
        )
        .bind(id)
        .bind(now)
        .execute(pool)
        .await?;
    });
    Ok(())
}

pub async fn set_password(tx: &mut Tx, id: &str, hash: &str, now: i64) -> Result<(), StoreError> {
    on_tx!(tx, conn => {
        sqlx::query(
            "UPDATE accounts SET password_hash = $2, password_changed_at = $3, updated_at = $3, \
             failed_logins = 0, locked_until = NULL WHERE id = $1",
        )
        .bind(id)
        .bind(hash)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

pub async fn set_profile(
    tx: &mut Tx,
    id: &str,
    display_name: &str,
    locale: &str,
    now: i64,
) -> Result<(), StoreError> {
    on_tx!(tx, conn => {
        sqlx::query("UPDATE accounts SET display_name = $2, locale = $3, updated_at = $4 WHERE id = $1")
            .bind(id)
            .bind(display_name)
            .bind(locale)
            .bind(now)
            .execute(&mut *conn)
            .await?;
    });
    Ok(())
}

pub async fn insert_session(
    tx: &mut Tx,
    s: &SessionRow,
    token_hash: &str,
) -> Result<(), StoreError> {
    on_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO sessions (id, token_hash, account_id, created_at, last_seen_at, source_address, user_agent) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&s.id)
        .bind(token_hash)
        .bind(&s.account_id)
        .bind(s.created_at)
        .bind(s.last_seen_at)
        .bind(&s.source_address)
        .bind(&s.user_agent)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

pub async fn session_by_token_hash(
    store: &Store,
    hash: &str,
) -> Result<Option<SessionRow>, StoreError> {
    store
        .row_by_key(
            format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE token_hash = $1"),
            hash,
        )
        .await
}

pub async fn session(store: &Store, id: &str) -> Result<Option<SessionRow>, StoreError> {
    store
        .row_by_key(
            format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1"),
            id,
        )
        .await
}

/// Marks a session used now; only moves forward, so concurrent requests cannot rewind it.
pub async fn touch_session(store: &Store, id: &str, now: i64) -> Result<(), StoreError> {
    on_pool!(store, pool => {
        sqlx::query("UPDATE sessions SET last_seen_at = $2 WHERE id = $1 AND last_seen_at < $2")
            .bind(id)
            .bind(now)
            .execute(pool)
            .await?;
    });
    Ok(())
}

pub async fn revoke_session(tx: &mut Tx, id: &str, now: i64) -> Result<bool, StoreError> {
    let done = on_tx!(tx, conn => {
        sqlx::query("UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(id)
            .bind(now)
            .execute(&mut *conn)
            .await?
            .rows_affected()
    });
    Ok(done > 0)
}

/// Ends every live session of an account (after a password change or reset).
pub async fn revoke_sessions_of(
    tx: &mut Tx,
    account_id: &str,
    except: Option<&str>,
    now: i64,
) -> Result<u64, StoreError> {
    Ok(on_tx!(tx, conn => {
        sqlx::query(
            "UPDATE sessions SET revoked_at = $2 WHERE account_id = $1 AND revoked_at IS NULL \
             AND ($3 IS NULL OR id <> $3)",
        )
        .bind(account_id)
        .bind(now)
        .bind(except)
        .execute(&mut *conn)
        .await?
        .rows_affected()
    }))
}

/// Live sessions of an account, newest first, keyset-paged by (created_at, id).
pub async fn sessions_of(
    store: &Store,
    account_id: &str,
    live_since: i64,
    before: Option<(i64, String)>,
    limit: i64,
) -> Result<Vec<SessionRow>, StoreError> {
    let (before_at, before_id) = before.map_or((None, None), |(a, i)| (Some(a), Some(i)));
    let sql = format!(
        "SELECT {SESSION_COLUMNS} FROM sessions WHERE account_id = $1 AND revoked_at IS NULL \
         AND last_seen_at >= $2 AND ($3 IS NULL OR created_at < $3 OR (created_at = $3 AND id < $4)) \
         ORDER BY created_at DESC, id DESC LIMIT $5"
    );
    Ok(on_pool!(store, pool => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(account_id)
            .bind(live_since)
            .bind(before_at)
            .bind(before_id)
            .bind(limit)
            .fetch_all(pool)
            .await?
    }))
}

pub async fn insert_api_token(
    tx: &mut Tx,
    t: &ApiTokenRow,
    token_hash: &str,
) -> Result<(), StoreError> {
    on_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO api_tokens (id, token_hash, name, role, market_code, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&t.id)
        .bind(token_hash)
        .bind(&t.name)
        .bind(&t.role)
        .bind(&t.market_code)
        .bind(&t.created_by)
        .bind(t.created_at)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

pub async fn api_token_by_hash(
    store: &Store,
    hash: &str,
) -> Result<Option<ApiTokenRow>, StoreError> {
    store
        .row_by_key(
            format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = $1"),
            hash,
        )
        .await
}

pub async fn api_token(store: &Store, id: &str) -> Result<Option<ApiTokenRow>, StoreError> {
    store
        .row_by_key(
            format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = $1"),
            id,
        )
        .await
}

pub async fn revoke_api_token(tx: &mut Tx, id: &str, now: i64) -> Result<bool, StoreError> {
    let done = on_tx!(tx, conn => {
        sqlx::query("UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(id)
            .bind(now)
            .execute(&mut *conn)
            .await?
            .rows_affected()
    });
    Ok(done > 0)
}

pub async fn insert_captcha(
    store: &Store,
    id: &str,
    answer: &str,
    expires_at: i64,
) -> Result<(), StoreError> {
    on_pool!(store, pool => {
        sqlx::query("INSERT INTO captchas (id, answer, expires_at) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(answer)
            .bind(expires_at)
            .execute(pool)
            .await?;
    });
    Ok(())
}

/// Uses up a captcha: returns its answer once, if it exists and has not expired.
/// One statement, so two concurrent logins cannot both use it.
pub async fn take_captcha(store: &Store, id: &str, now: i64) -> Result<Option<String>, StoreError> {
    let sql = "UPDATE captchas SET used_at = $2 WHERE id = $1 AND used_at IS NULL AND expires_at > $2 \
               RETURNING answer";
    let row: Option<(String,)> = on_pool!(store, pool => {
        sqlx::query_as(sql).bind(id).bind(now).fetch_optional(pool).await?
    });
    Ok(row.map(|(a,)| a))
}

/// Forgets captchas that can no longer be used.
pub async fn purge_captchas(store: &Store, now: i64) -> Result<(), StoreError> {
    on_pool!(store, pool => {
        sqlx::query("DELETE FROM captchas WHERE expires_at < $1 OR used_at IS NOT NULL")
            .bind(now - 60_000)
            .execute(pool)
            .await?;
    });
    Ok(())
}

pub async fn insert_password_reset(
    tx: &mut Tx,
    id: &str,
    account_id: &str,
    code_hash: &str,
    issued_by: &str,
    expires_at: i64,
) -> Result<(), StoreError> {
    on_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO password_resets (id, account_id, code_hash, issued_by, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(account_id)
        .bind(code_hash)
        .bind(issued_by)
        .bind(expires_at)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

/// Uses up a reset code for `account_id`; true when it was valid.
pub async fn take_password_reset(
    tx: &mut Tx,
    account_id: &str,
    code_hash: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let done = on_tx!(tx, conn => {
        sqlx::query(
            "UPDATE password_resets SET used_at = $3 WHERE account_id = $1 AND code_hash = $2 \
             AND used_at IS NULL AND expires_at > $3",
        )
        .bind(account_id)
        .bind(code_hash)
        .bind(now)
        .execute(&mut *conn)
        .await?
        .rows_affected()
    });
    Ok(done > 0)
}
