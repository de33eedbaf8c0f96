//! Merchant onboarding rows: applications, steps, qualification documents,
//! category rules, agreements, shop pages, credit events and listing
//! suspensions. Agreements and credit events are only ever inserted.

use super::{Store, StoreError, Tx};
use crate::{on_pool, on_tx};

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ApplicationRow {
    pub merchant_id: String,
    pub applicant_id: String,
    pub shop_name: String,
    pub contact_name: String,
    pub contact_phone: String,
    pub categories: String,
    pub review_reason: Option<String>,
    pub reviewed_by: Option<String>,
    pub reviewed_at: Option<i64>,
    pub submitted_at: i64,
    pub updated_at: i64,
}

const APPLICATION: &str = "merchant_id, applicant_id, shop_name, contact_name, contact_phone, \
     categories, review_reason, reviewed_by, reviewed_at, submitted_at, updated_at";

/// Inserts an application, or replaces it (resubmission, review).
pub async fn save_application(tx: &mut Tx, a: &ApplicationRow) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO merchant_applications ({APPLICATION}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (merchant_id) DO UPDATE SET shop_name = $3, contact_name = $4, contact_phone = $5, \
         categories = $6, review_reason = $7, reviewed_by = $8, reviewed_at = $9, submitted_at = $10, updated_at = $11"
    );
    on_tx!(tx, conn => {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&a.merchant_id)
            .bind(&a.applicant_id)
            .bind(&a.shop_name)
            .bind(&a.contact_name)
            .bind(&a.contact_phone)
            .bind(&a.categories)
            .bind(&a.review_reason)
            .bind(&a.reviewed_by)
            .bind(a.reviewed_at)
            .bind(a.submitted_at)
            .bind(a.updated_at)
            .execute(&mut *conn)
            .await?;
    });
    Ok(())
}

pub async fn find_application(
    store: &Store,
    merchant_id: &str,
) -> Result<Option<ApplicationRow>, StoreError> {
    store
        .row_by_key(
            format!("SELECT {APPLICATION} FROM merchant_applications WHERE merchant_id = $1"),
            merchant_id,
        )
        .await
}

/// Merchant ids of a market, optionally in one status, keyset-paged by id.
pub async fn merchants_in_market(
    store: &Store,
    market: &str,
    status: Option<&str>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<String>, StoreError> {
    let rows: Vec<(String,)> = on_pool!(store, pool => {
        sqlx::query_as(
            "SELECT id FROM merchants WHERE market_code = $1 AND ($2 IS NULL OR status = $2) \
             AND ($3 IS NULL OR id > $3) ORDER BY id LIMIT $4",
        )
        .bind(market)
        .bind(status)
        .bind(after)
        .bind(limit)
        .fetch_all(pool)
        .await?
    });
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// Merchant ids an account is a member of, keyset-paged by id.
pub async fn merchants_of_account(
    store: &Store,
    account: &str,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<String>, StoreError> {
    let rows: Vec<(String,)> = on_pool!(store, pool => {
        sqlx::query_as(
            "SELECT merchant_id FROM merchant_members WHERE account_id = $1 \
             AND ($2 IS NULL OR merchant_id > $2) ORDER BY merchant_id LIMIT $3",
        )
        .bind(account)
        .bind(after)
        .bind(limit)
        .fetch_all(pool)
        .await?
    });
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// Every merchant id of a market (the expiry sweep), or of all markets.
pub async fn merchant_ids(store: &Store, market: Option<&str>) -> Result<Vec<String>, StoreError> {
    let rows: Vec<(String,)> = on_pool!(store, pool => {
        sqlx::query_as("SELECT id FROM merchants WHERE ($1 IS NULL OR market_code = $1) ORDER BY id")
            .bind(market)
            .fetch_all(pool)
            .await?
    });
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct StepRow {
    pub id: String,
    pub merchant_id: String,
    pub action: String,
    pub status: String,
    pub reason: Option<String>,
    pub at: i64,
}

pub async fn add_step(tx: &mut Tx, s: &StepRow) -> Result<(), StoreError> {
    on_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO merchant_onboarding_steps (id, merchant_id, action, status, reason, at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&s.id)
        .bind(&s.merchant_id)
        .bind(&s.action)
        .bind(&s.status)
        .bind(&s.reason)
        .bind(s.at)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

pub async fn steps(store: &Store, merchant_id: &str) -> Result<Vec<StepRow>, StoreError> {
    Ok(on_pool!(store, pool => {
        sqlx::query_as(
            "SELECT id, merchant_id, action, status, reason, at FROM merchant_onboarding_steps \
             WHERE merchant_id = $1 ORDER BY at, id",
        )
        .bind(merchant_id)
        .fetch_all(pool)
        .await?
    }))
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct DocumentRow {
    pub id: String,
    pub merchant_id: String,
    pub doc_type: String,
    pub number: String,
    pub issuer: String,
    pub valid_from: String,
    pub valid_to: String,
    pub image_id: String,
    pub added_by: String,
    pub created_at: i64,
    pub flag: String,
}

const DOCUMENT: &str = "id, merchant_id, doc_type, number, issuer, valid_from, valid_to, image_id, \
     added_by, created_at, flag";

pub async fn add_document(tx: &mut Tx, d: &DocumentRow) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO qualification_documents ({DOCUMENT}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    );
    on_tx!(tx, conn => {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&d.id)
            .bind(&d.merchant_id)
            .bind(&d.doc_type)
            .bind(&d.number)
            .bind(&d.issuer)
            .bind(&d.valid_from)
            .bind(&d.valid_to)
            .bind(&d.image_id)
            .bind(&d.added_by)
            .bind(d.created_at)
            .bind(&d.flag)
            .execute(&mut *conn)
            .await?;
    });
    Ok(())
}

/// Sets a document's expiry flag (the sweep).
pub async fn set_document_flag(tx: &mut Tx, id: &str, flag: &str) -> Result<(), StoreError> {
    on_tx!(tx, conn => {
        sqlx::query("UPDATE qualification_documents SET flag = $2 WHERE id = $1")
            .bind(id)
            .bind(flag)
            .execute(&mut *conn)
            .await?;
    });
    Ok(())
}

/// Documents of a market flagged expiring or expired, keyset-paged by id.
pub async fn flagged_documents(
    store: &Store,
    market: &str,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<DocumentRow>, StoreError> {
    let sql = format!(
        "SELECT {} FROM qualification_documents d JOIN merchants m ON m.id = d.merchant_id \
         WHERE m.market_code = $1 AND d.flag <> 'valid' AND ($2 IS NULL OR d.id > $2) ORDER BY d.id LIMIT $3",
        DOCUMENT
            .split(", ")
            .map(|c| format!("d.{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(on_pool!(store, pool => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(market).bind(after).bind(limit).fetch_all(pool).await?
    }))
}

/// A merchant's documents, oldest first.
pub async fn documents(store: &Store, merchant_id: &str) -> Result<Vec<DocumentRow>, StoreError> {
    let sql = format!(
        "SELECT {DOCUMENT} FROM qualification_documents WHERE merchant_id = $1 ORDER BY created_at, id"
    );
    Ok(on_pool!(store, pool => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(merchant_id).fetch_all(pool).await?
    }))
}

/// `(kinds JSON, required_groups JSON)` of a category in a market, if set.
pub async fn category_rule(
    store: &Store,
    market: &str,
    category: &str,
) -> Result<Option<(String, String)>, StoreError> {
    Ok(on_pool!(store, pool => {
        sqlx::query_as(
            "SELECT kinds, required_groups FROM market_category_rules \
             WHERE market_code = $1 AND category_code = $2",
        )
        .bind(market)
        .bind(category)
        .fetch_optional(pool)
        .await?
    }))
}

pub async fn save_category_rule(
    tx: &mut Tx,
    market: &str,
    category: &str,
    kinds: &str,
    groups: &str,
    now: i64,
) -> Result<(), StoreError> {
    on_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO market_category_rules (market_code, category_code, kinds, required_groups, updated_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (market_code, category_code) \
             DO UPDATE SET kinds = $3, required_groups = $4, updated_at = $5",
        )
        .bind(market)
        .bind(category)
        .bind(kinds)
        .bind(groups)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AgreementRow {
    pub id: String,
    pub merchant_id: String,
    pub subject: String,
    pub term_start: String,
    pub term_end: String,
    pub products_and_prices: String,
    pub delivery_time_and_quality: String,
    pub liability: String,
    pub settlement_cycle: String,
    pub settlement_days: Option<i64>,
    pub settlement_method: String,
    pub signed_file_id: String,
    pub signed_by: String,
    pub signed_at: i64,
}

const AGREEMENT: &str = "id, merchant_id, subject, term_start, term_end, products_and_prices, \
     delivery_time_and_quality, liability, settlement_cycle, settlement_days, settlement_method, \
     signed_file_id, signed_by, signed_at";

pub async fn add_agreement(tx: &mut Tx, a: &AgreementRow) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO merchant_agreements ({AGREEMENT}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
    );
    on_tx!(tx, conn => {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&a.id)
            .bind(&a.merchant_id)
            .bind(&a.subject)
            .bind(&a.term_start)
            .bind(&a.term_end)
            .bind(&a.products_and_prices)
            .bind(&a.delivery_time_and_quality)
            .bind(&a.liability)
            .bind(&a.settlement_cycle)
            .bind(a.settlement_days)
            .bind(&a.settlement_method)
            .bind(&a.signed_file_id)
            .bind(&a.signed_by)
            .bind(a.signed_at)
            .execute(&mut *conn)
            .await?;
    });
    Ok(())
}

/// A merchant's agreements, oldest first.
pub async fn agreements(store: &Store, merchant_id: &str) -> Result<Vec<AgreementRow>, StoreError> {
    let sql = format!(
        "SELECT {AGREEMENT} FROM merchant_agreements WHERE merchant_id = $1 ORDER BY signed_at, id"
    );
    Ok(on_pool!(store, pool => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(merchant_id).fetch_all(pool).await?
    }))
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ShopRow {
    pub merchant_id: String,
    pub name: String,
    pub image_id: String,
    pub specialities: String,
    pub public_welfare: String,
    pub description: String,
    pub updated_at: i64,
}

const SHOP: &str =
    "merchant_id, name, image_id, specialities, public_welfare, description, updated_at";

pub async fn save_shop(tx: &mut Tx, s: &ShopRow) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO merchant_shops ({SHOP}) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (merchant_id) DO UPDATE SET name = $2, image_id = $3, specialities = $4, \
         public_welfare = $5, description = $6, updated_at = $7"
    );
    on_tx!(tx, conn => {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&s.merchant_id)
            .bind(&s.name)
            .bind(&s.image_id)
            .bind(&s.specialities)
            .bind(&s.public_welfare)
            .bind(&s.description)
            .bind(s.updated_at)
            .execute(&mut *conn)
            .await?;
    });
    Ok(())
}

pub async fn find_shop(store: &Store, merchant_id: &str) -> Result<Option<ShopRow>, StoreError> {
    store
        .row_by_key(
            format!("SELECT {SHOP} FROM merchant_shops WHERE merchant_id = $1"),
            merchant_id,
        )
        .await
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct CreditEventRow {
    pub id: String,
    pub merchant_id: String,
    pub kind: String,
    pub points: i64,
    pub note: String,
    pub recorded_by: String,
    pub at: i64,
}

pub async fn add_credit_event(tx: &mut Tx, e: &CreditEventRow) -> Result<(), StoreError> {
    on_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO merchant_credit_events (id, merchant_id, kind, points, note, recorded_by, at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&e.id)
        .bind(&e.merchant_id)
        .bind(&e.kind)
        .bind(e.points)
        .bind(&e.note)
        .bind(&e.recorded_by)
        .bind(e.at)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

/// A merchant's credit events, oldest first.
pub async fn credit_events(
    store: &Store,
    merchant_id: &str,
) -> Result<Vec<CreditEventRow>, StoreError> {
    Ok(on_pool!(store, pool => {
        sqlx::query_as(
            "SELECT id, merchant_id, kind, points, note, recorded_by, at FROM merchant_credit_events \
             WHERE merchant_id = $1 ORDER BY at, id",
        )
        .bind(merchant_id)
        .fetch_all(pool)
        .await?
    }))
}

/// `(category_code, doc_type)` pairs held back for a merchant.
pub async fn suspensions(
    store: &Store,
    merchant_id: &str,
) -> Result<Vec<(String, String)>, StoreError> {
    Ok(on_pool!(store, pool => {
        sqlx::query_as(
            "SELECT category_code, doc_type FROM merchant_listing_suspensions \
             WHERE merchant_id = $1 ORDER BY category_code, doc_type",
        )
        .bind(merchant_id)
        .fetch_all(pool)
        .await?
    }))
}

pub async fn add_suspension(
    tx: &mut Tx,
    merchant_id: &str,
    category: &str,
    doc_type: &str,
    now: i64,
) -> Result<(), StoreError> {
    on_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO merchant_listing_suspensions (merchant_id, category_code, doc_type, since) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (merchant_id, category_code, doc_type) DO NOTHING",
        )
        .bind(merchant_id)
        .bind(category)
        .bind(doc_type)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

pub async fn remove_suspension(
    tx: &mut Tx,
    merchant_id: &str,
    category: &str,
    doc_type: &str,
) -> Result<(), StoreError> {
    on_tx!(tx, conn => {
        sqlx::query(
            "DELETE FROM merchant_listing_suspensions \
             WHERE merchant_id = $1 AND category_code = $2 AND doc_type = $3",
        )
        .bind(merchant_id)
        .bind(category)
        .bind(doc_type)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}
