//! Order rows: carts, delivery slots, orders with their parts, lines,
//! adjustments and timeline, payments, refunds and market alerts. Every
//! change of state is a conditional UPDATE on the state it expects, so two
//! staff pressing the same button, or a retry racing the first attempt,
//! change an order once.

use super::batch::{Insert, Statement, opt_text, text};
use super::catalogue::{Arg, Args, OFFER_COLUMNS, OFFER_JOINS, OfferRow, fetch_all};
use super::{Store, StoreError, Tx};
use crate::{on_pool, on_tx};

// ---- carts ----

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct CartLineRow {
    pub variant_id: String,
    pub quantity: i64,
    pub added_at: i64,
}

/// A new cart; it touches no row when the customer already has one in
/// the market.
pub(crate) fn insert_cart(id: &str, account_id: &str, market: &str, now: i64) -> Statement {
    let mut args = Args::default();
    let now = args.int(now);
    let sql = format!(
        "INSERT INTO carts (id, account_id, market_code, created_at, updated_at) \
         VALUES ({}, {}, {}, {now}, {now})",
        args.text(id),
        args.text(account_id),
        args.text(market)
    );
    Statement::new(sql, args).or_skip()
}

/// The customer's cart in a market, if made yet: its id and its lines,
/// oldest first.
pub async fn find_cart(
    store: &Store,
    account_id: &str,
    market: &str,
) -> Result<Option<(String, Vec<CartLineRow>)>, StoreError> {
    type Row = (String, Option<String>, Option<i64>, Option<i64>);
    let found: Vec<Row> = on_pool!(store, pool => {
        sqlx::query_as(
            "SELECT k.id, l.variant_id, l.quantity, l.added_at FROM carts k \
             LEFT JOIN cart_lines l ON l.cart_id = k.id \
             WHERE k.account_id = $1 AND k.market_code = $2 \
             ORDER BY l.added_at, l.variant_id",
        )
        .bind(account_id)
        .bind(market)
        .fetch_all(pool)
        .await?
    });
    let Some(id) = found.first().map(|r| r.0.clone()) else {
        return Ok(None);
    };
    let lines = found
        .into_iter()
        .filter_map(|(_, variant, quantity, added)| {
            Some(CartLineRow {
                variant_id: variant?,
                quantity: quantity?,
                added_at: added?,
            })
        })
        .collect();
    Ok(Some((id, lines)))
}

/// What putting a variant in a cart needs to know, read together: the
/// variant's offer, and the customer's cart in the market if there is one.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct CartChangeRow {
    pub cart_id: Option<String>,
    /// Lines in the cart now.
    pub lines: i64,
    /// The variant's quantity in the cart now, if it has a line.
    pub in_cart: Option<i64>,
    #[sqlx(flatten)]
    pub offer: OfferRow,
}

/// The variant's offer with the customer's cart in the market, in one
/// query; `None` if there is no such variant.
pub async fn cart_change(
    store: &Store,
    account_id: &str,
    market: &str,
    variant_id: &str,
) -> Result<Option<CartChangeRow>, StoreError> {
    let sql = format!(
        "SELECT k.id AS cart_id, \
         (SELECT COUNT(*) FROM cart_lines l WHERE l.cart_id = k.id) AS lines, \
         (SELECT l.quantity FROM cart_lines l WHERE l.cart_id = k.id AND l.variant_id = v.id) AS in_cart, \
         {OFFER_COLUMNS} FROM product_variants v {OFFER_JOINS} \
         LEFT JOIN carts k ON k.account_id = $1 AND k.market_code = $2 \
         WHERE v.id = $3"
    );
    Ok(on_pool!(store, pool => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(account_id)
            .bind(market)
            .bind(variant_id)
            .fetch_optional(pool)
            .await?
    }))
}

/// Marks a cart changed; touches its row, or none if there is no such cart.
pub(crate) fn touch_cart(cart_id: &str, now: i64) -> Statement {
    let mut args = Args::default();
    let sql = format!(
        "UPDATE carts SET updated_at = {} WHERE id = {}",
        args.int(now),
        args.text(cart_id)
    );
    Statement::new(sql, args)
}

/// A cart line with what the catalogue says of its variant now.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct CartOfferRow {
    pub quantity: i64,
    #[sqlx(flatten)]
    pub offer: OfferRow,
}

/// The customer's cart in a market with every line's offer, oldest line
/// first: one query for what pricing needs. (A line's variant and product
/// always exist: the keys refuse deleting them.)
pub async fn cart_offers(
    store: &Store,
    account_id: &str,
    market: &str,
) -> Result<Vec<CartOfferRow>, StoreError> {
    let sql = format!(
        "SELECT l.quantity, {OFFER_COLUMNS} FROM cart_lines l \
         JOIN carts k ON k.id = l.cart_id JOIN product_variants v ON v.id = l.variant_id \
         {OFFER_JOINS} WHERE k.account_id = $1 AND k.market_code = $2 \
         ORDER BY l.added_at, l.variant_id"
    );
    Ok(on_pool!(store, pool => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(account_id)
            .bind(market)
            .fetch_all(pool)
            .await?
    }))
}

/// Sets a line's quantity to `quantity` (0 removes it) if it still holds
/// `was` (`None`: no line yet). Touches one row when it does and none when a
/// concurrent change came first, so two quick adds never lose one.
pub(crate) fn change_cart_line(
    cart_id: &str,
    variant_id: &str,
    was: Option<i64>,
    quantity: i64,
    now: i64,
) -> Statement {
    let mut args = Args::default();
    let (cart, variant) = (args.text(cart_id), args.text(variant_id));
    match was {
        None => {
            let quantity = args.int(quantity);
            let sql = format!(
                "INSERT INTO cart_lines (cart_id, variant_id, quantity, added_at) \
                 VALUES ({cart}, {variant}, {quantity}, {})",
                args.int(now)
            );
            Statement::new(sql, args).or_skip()
        }
        Some(was) if quantity <= 0 => {
            let sql = format!(
                "DELETE FROM cart_lines WHERE cart_id = {cart} AND variant_id = {variant} \
                 AND quantity = {}",
                args.int(was)
            );
            Statement::new(sql, args)
        }
        Some(was) => {
            let sql = format!(
                "UPDATE cart_lines SET quantity = {} WHERE cart_id = {cart} \
                 AND variant_id = {variant} AND quantity = {}",
                args.int(quantity),
                args.int(was)
            );
            Statement::new(sql, args)
        }
    }
}

/// Empties the customer's cart in a market (after a checkout).
pub(crate) fn clear_cart(account_id: &str, market: &str) -> Statement {
    let mut args = Args::default();
    let sql = format!(
        "DELETE FROM cart_lines WHERE cart_id IN \
         (SELECT id FROM carts WHERE account_id = {} AND market_code = {})",
        args.text(account_id),
        args.text(market)
    );
    Statement::new(sql, args)
}

// ---- delivery slots ----

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct SlotRow {
    pub id: String,
    pub market_code: String,
    pub starts_at: i64,
    pub ends_at: i64,
    pub capacity: i64,
    pub booked: i64,
    pub created_by: String,
    pub created_at: i64,
}

const SLOT_COLUMNS: &str =
    "id, market_code, starts_at, ends_at, capacity, booked, created_by, created_at";

pub async fn insert_slot(tx: &mut Tx, s: &SlotRow) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO delivery_slots ({SLOT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    );
    on_tx!(tx, conn => {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&s.id)
            .bind(&s.market_code)
            .bind(s.starts_at)
            .bind(s.ends_at)
            .bind(s.capacity)
            .bind(s.booked)
            .bind(&s.created_by)
            .bind(s.created_at)
            .execute(&mut *conn)
            .await?;
    });
    Ok(())
}

pub async fn find_slot(store: &Store, id: &str) -> Result<Option<SlotRow>, StoreError> {
    store
        .row_by_key(
            format!("SELECT {SLOT_COLUMNS} FROM delivery_slots WHERE id = $1"),
            id,
        )
        .await
}

/// A market's slots that start after `from`, soonest first.
pub async fn slots_after(
    store: &Store,
    market: &str,
    from: i64,
    limit: i64,
) -> Result<Vec<SlotRow>, StoreError> {
    let mut args = Args::default();
    let sql = format!(
        "SELECT {SLOT_COLUMNS} FROM delivery_slots WHERE market_code = {} AND starts_at > {} \
         ORDER BY starts_at LIMIT {}",
        args.text(market),
        args.int(from),
        args.int(limit)
    );
    fetch_all(store, sql, &args).await
}

/// Takes one place in a slot if it has room.
/// Takes a place in a slot if one is free: touches one row, or none.
pub(crate) fn book_slot(id: &str) -> Statement {
    let mut args = Args::default();
    let sql = format!(
        "UPDATE delivery_slots SET booked = booked + 1 WHERE id = {} AND booked < capacity",
        args.text(id)
    );
    Statement::new(sql, args)
}

/// Gives a place back (a cancelled order).
pub async fn release_slot(tx: &mut Tx, id: &str) -> Result<(), StoreError> {
    on_tx!(tx, conn => {
        sqlx::query("UPDATE delivery_slots SET booked = booked - 1 WHERE id = $1 AND booked > 0")
            .bind(id)
            .execute(&mut *conn)
            .await?;
    });
    Ok(())
}

// ---- orders ----

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct OrderRow {
    pub id: String,
    pub number: String,
    pub market_code: String,
    pub account_id: String,
    pub idempotency_key: String,
    pub status: String,
    pub delivery_mode: String,
    pub slot_id: Option<String>,
    pub deliver_from: i64,
    pub deliver_until: i64,
    pub moved_reason: Option<String>,
    pub recipient_name: String,
    pub recipient_phone: String,
    pub address: String,
    pub latitude: f64,
    pub longitude: f64,
    pub distance_m: i64,
    pub delivery_quoted_by: String,
    pub subtotal_fen: i64,
    pub adjustment_fen: i64,
    pub delivery_fee_fen: i64,
    pub total_fen: i64,
    pub paid_fen: i64,
    pub refunded_fen: i64,
    pub payment_provider: String,
    pub placed_at: i64,
    pub paid_at: Option<i64>,
    pub verify_by: Option<i64>,
    pub accepted_at: Option<i64>,
    pub late_flagged_at: Option<i64>,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    /// JSON list of media ids: photos proving delivery.
    pub proof_media_ids: String,
    pub updated_at: i64,
}

const ORDER_COLUMNS: &str = "id, number, market_code, account_id, idempotency_key, status, \
     delivery_mode, slot_id, deliver_from, deliver_until, moved_reason, recipient_name, \
     recipient_phone, address, latitude, longitude, distance_m, delivery_quoted_by, subtotal_fen, \
     adjustment_fen, delivery_fee_fen, total_fen, paid_fen, refunded_fen, payment_provider, \
     placed_at, paid_at, verify_by, accepted_at, late_flagged_at, carrier, tracking_number, \
     proof_media_ids, updated_at";

/// A new order. It touches no row when it clashes with an existing one:
/// the customer's idempotency key (a retried or concurrent checkout) or,
/// rarely, the random order number. The caller tells which.
pub(crate) fn insert_order(o: &OrderRow) -> Statement {
    let mut insert = Insert::into("orders", ORDER_COLUMNS);
    insert.row(vec![
        text(&o.id),
        text(&o.number),
        text(&o.market_code),
        text(&o.account_id),
        text(&o.idempotency_key),
        text(&o.status),
        text(&o.delivery_mode),
        opt_text(&o.slot_id),
        Arg::Int(o.deliver_from),
        Arg::Int(o.deliver_until),
        opt_text(&o.moved_reason),
        text(&o.recipient_name),
        text(&o.recipient_phone),
        text(&o.address),
        Arg::Real(o.latitude),
        Arg::Real(o.longitude),
        Arg::Int(o.distance_m),
        text(&o.delivery_quoted_by),
        Arg::Int(o.subtotal_fen),
        Arg::Int(o.adjustment_fen),
        Arg::Int(o.delivery_fee_fen),
        Arg::Int(o.total_fen),
        Arg::Int(o.paid_fen),
        Arg::Int(o.refunded_fen),
        text(&o.payment_provider),
        Arg::Int(o.placed_at),
        Arg::OptInt(o.paid_at),
        Arg::OptInt(o.verify_by),
        Arg::OptInt(o.accepted_at),
        Arg::OptInt(o.late_flagged_at),
        opt_text(&o.carrier),
        opt_text(&o.tracking_number),
        text(&o.proof_media_ids),
        Arg::Int(o.updated_at),
    ]);
    let statement = insert.statement().expect("one row");
    statement.or_skip()
}

pub async fn find_order(store: &Store, id: &str) -> Result<Option<OrderRow>, StoreError> {
    store
        .row_by_key(
            format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1"),
            id,
        )
        .await
}

/// The order a customer placed with an idempotency key, if any.
pub async fn order_by_key(
    store: &Store,
    account_id: &str,
    key: &str,
) -> Result<Option<OrderRow>, StoreError> {
    let sql = format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE account_id = $1 AND idempotency_key = $2"
    );
    Ok(on_pool!(store, pool => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(account_id)
            .bind(key)
            .fetch_optional(pool)
            .await?
    }))
}

/// What narrows a list of orders; pages run newest first by (placed_at, id).
#[derive(Debug, Clone, Default)]
pub struct OrderQuery {
    pub market: String,
    pub account_id: Option<String>,
    pub statuses: Vec<String>,
    /// Paid orders past their verification deadline only.
    pub late_only: bool,
    pub before: Option<(i64, String)>,
    pub limit: i64,
}

pub async fn list_orders(store: &Store, q: &OrderQuery) -> Result<Vec<OrderRow>, StoreError> {
    let mut args = Args::default();
    let mut conds = vec![format!("market_code = {}", args.text(&q.market))];
    if let Some(a) = &q.account_id {
        conds.push(format!("account_id = {}", args.text(a)));
    }
    if !q.statuses.is_empty() {
        conds.push(format!("status IN ({})", args.texts(&q.statuses)));
    }
    if q.late_only {
        conds.push("late_flagged_at IS NOT NULL AND status = 'paid'".into());
    }
    if let Some((at, id)) = &q.before {
        conds.push(format!(
            "(placed_at, id) < ({}, {})",
            args.int(*at),
            args.text(id)
        ));
    }
    let sql = format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE {} ORDER BY placed_at DESC, id DESC LIMIT {}",
        conds.join(" AND "),
        args.int(q.limit)
    );
    fetch_all(store, sql, &args).await
}

/// Moves an order from one of `from` to `to`; `false` when it was not in
/// one of them (someone else moved it first).
pub async fn set_status(
    tx: &mut Tx,
    id: &str,
    from: &[&str],
    to: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let mut args = Args::default();
    let status = args.text(to);
    let at = args.int(now);
    // Acceptance starts nothing new but ends the verification clock.
    let accepted = if to == "accepted" {
        format!(", accepted_at = {at}")
    } else {
        String::new()
    };
    let sql = format!(
        "UPDATE orders SET status = {status}, updated_at = {at}{accepted} \
         WHERE id = {} AND status IN ({})",
        args.text(id),
        args.texts(&from.iter().map(|s| s.to_string()).collect::<Vec<_>>()),
    );
    Ok(super::catalogue::execute(tx, sql, &args).await? == 1)
}

/// Records a payment on a placed order: it becomes paid, and the
/// verification clock starts.
pub async fn mark_paid(
    tx: &mut Tx,
    id: &str,
    amount: i64,
    now: i64,
    verify_by: i64,
) -> Result<bool, StoreError> {
    Ok(on_tx!(tx, conn => {
        sqlx::query(
            "UPDATE orders SET status = 'paid', paid_fen = $2, paid_at = $3, verify_by = $4, \
             updated_at = $3 WHERE id = $1 AND status = 'placed'",
        )
        .bind(id)
        .bind(amount)
        .bind(now)
        .bind(verify_by)
        .execute(&mut *conn)
        .await?
        .rows_affected() == 1
    }))
}

/// Adds to what was refunded, unless that would exceed what was paid.
pub async fn add_refunded(
    tx: &mut Tx,
    id: &str,
    amount: i64,
    now: i64,
) -> Result<bool, StoreError> {
    Ok(on_tx!(tx, conn => {
        sqlx::query(
            "UPDATE orders SET refunded_fen = refunded_fen + $2, updated_at = $3 \
             WHERE id = $1 AND $2 > 0 AND refunded_fen + $2 <= paid_fen",
        )
        .bind(id)
        .bind(amount)
        .bind(now)
        .execute(&mut *conn)
        .await?
        .rows_affected() == 1
    }))
}

/// Paid orders not accepted by `now` and not yet flagged (S 8.2.2.2).
pub async fn late_to_verify(store: &Store, now: i64) -> Result<Vec<OrderRow>, StoreError> {
    let sql = format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE status = 'paid' AND verify_by < $1 \
         AND late_flagged_at IS NULL ORDER BY verify_by"
    );
    Ok(on_pool!(store, pool => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(now).fetch_all(pool).await?
    }))
}

pub async fn flag_late(tx: &mut Tx, id: &str, now: i64) -> Result<bool, StoreError> {
    Ok(on_tx!(tx, conn => {
        sqlx::query(
            "UPDATE orders SET late_flagged_at = $2 WHERE id = $1 AND late_flagged_at IS NULL \
             AND status = 'paid'",
        )
        .bind(id)
        .bind(now)
        .execute(&mut *conn)
        .await?
        .rows_affected() == 1
    }))
}

/// Hands an order to a carrier (own courier or a third party).
pub async fn set_carrier(
    tx: &mut Tx,
    id: &str,
    carrier: &str,
    tracking_number: Option<&str>,
) -> Result<(), StoreError> {
    on_tx!(tx, conn => {
        sqlx::query("UPDATE orders SET carrier = $2, tracking_number = $3 WHERE id = $1")
            .bind(id)
            .bind(carrier)
            .bind(tracking_number)
            .execute(&mut *conn)
            .await?;
    });
    Ok(())
}

/// Keeps the photos that prove delivery.
pub async fn set_proof(tx: &mut Tx, id: &str, media_ids_json: &str) -> Result<(), StoreError> {
    on_tx!(tx, conn => {
        sqlx::query("UPDATE orders SET proof_media_ids = $2 WHERE id = $1")
            .bind(id)
            .bind(media_ids_json)
            .execute(&mut *conn)
            .await?;
    });
    Ok(())
}

// ---- parts, lines, adjustments, timeline ----

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct PartRow {
    pub id: String,
    pub order_id: String,
    pub merchant_id: String,
    pub subtotal_fen: i64,
}

/// An order's parts, in one statement.
pub(crate) fn insert_parts(parts: &[PartRow]) -> Insert {
    let mut insert = Insert::into("order_parts", "id, order_id, merchant_id, subtotal_fen");
    for p in parts {
        insert.row(vec![
            text(&p.id),
            text(&p.order_id),
            text(&p.merchant_id),
            Arg::Int(p.subtotal_fen),
        ]);
    }
    insert
}

pub async fn parts_of(store: &Store, order_id: &str) -> Result<Vec<PartRow>, StoreError> {
    store
        .rows_by_key(
            "SELECT id, order_id, merchant_id, subtotal_fen FROM order_parts WHERE order_id = $1 \
             ORDER BY id"
                .into(),
            order_id,
        )
        .await
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct LineRow {
    pub id: String,
    pub order_id: String,
    pub part_id: String,
    pub product_id: String,
    pub variant_id: String,
    pub product_name: String,
    pub variant_name: String,
    pub sku_code: String,
    pub sold_by_weight: bool,
    pub unit_price_fen: i64,
    pub quantity: i64,
    pub estimated_weight_g: Option<i64>,
    pub subtotal_fen: i64,
    pub adjustment_fen: i64,
    pub total_fen: i64,
    pub picked_weight_g: Option<i64>,
    pub picked_at: Option<i64>,
    pub picked_by: Option<String>,
    pub final_fen: Option<i64>,
    pub position: i64,
}

const LINE_COLUMNS: &str = "id, order_id, part_id, product_id, variant_id, product_name, \
     variant_name, sku_code, sold_by_weight, unit_price_fen, quantity, estimated_weight_g, \
     subtotal_fen, adjustment_fen, total_fen, picked_weight_g, picked_at, picked_by, final_fen, \
     position";

/// An order's lines, in one statement.
pub(crate) fn insert_lines(lines: &[LineRow]) -> Insert {
    let mut insert = Insert::into("order_lines", LINE_COLUMNS);
    for l in lines {
        insert.row(vec![
            text(&l.id),
            text(&l.order_id),
            text(&l.part_id),
            text(&l.product_id),
            text(&l.variant_id),
            text(&l.product_name),
            text(&l.variant_name),
            text(&l.sku_code),
            Arg::Bool(l.sold_by_weight),
            Arg::Int(l.unit_price_fen),
            Arg::Int(l.quantity),
            Arg::OptInt(l.estimated_weight_g),
            Arg::Int(l.subtotal_fen),
            Arg::Int(l.adjustment_fen),
            Arg::Int(l.total_fen),
            Arg::OptInt(l.picked_weight_g),
            Arg::OptInt(l.picked_at),
            opt_text(&l.picked_by),
            Arg::OptInt(l.final_fen),
            Arg::Int(l.position),
        ]);
    }
    insert
}

pub async fn lines_of(store: &Store, order_id: &str) -> Result<Vec<LineRow>, StoreError> {
    store
        .rows_by_key(
            format!("SELECT {LINE_COLUMNS} FROM order_lines WHERE order_id = $1 ORDER BY position"),
            order_id,
        )
        .await
}

/// Records what picking found for a line: its weight (goods sold by weight)
/// and what it finally costs. Only once per line.
pub async fn record_pick(
    tx: &mut Tx,
    line_id: &str,
    weight_g: Option<i64>,
    final_fen: i64,
    by: &str,
    now: i64,
) -> Result<bool, StoreError> {
    Ok(on_tx!(tx, conn => {
        sqlx::query(
            "UPDATE order_lines SET picked_weight_g = $2, final_fen = $3, picked_by = $4, \
             picked_at = $5 WHERE id = $1 AND picked_at IS NULL",
        )
        .bind(line_id)
        .bind(weight_g)
        .bind(final_fen)
        .bind(by)
        .bind(now)
        .execute(&mut *conn)
        .await?
        .rows_affected() == 1
    }))
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AdjustmentRow {
    pub id: String,
    pub order_id: String,
    pub line_id: Option<String>,
    pub plugin: String,
    pub code: String,
    pub reason_zh: String,
    pub reason_en: String,
    pub amount_fen: i64,
}

/// An order's price adjustments, in one statement.
pub(crate) fn insert_adjustments(adjustments: &[AdjustmentRow]) -> Insert {
    let mut insert = Insert::into(
        "order_adjustments",
        "id, order_id, line_id, plugin, code, reason_zh, reason_en, amount_fen",
    );
    for a in adjustments {
        insert.row(vec![
            text(&a.id),
            text(&a.order_id),
            opt_text(&a.line_id),
            text(&a.plugin),
            text(&a.code),
            text(&a.reason_zh),
            text(&a.reason_en),
            Arg::Int(a.amount_fen),
        ]);
    }
    insert
}

pub async fn adjustments_of(
    store: &Store,
    order_id: &str,
) -> Result<Vec<AdjustmentRow>, StoreError> {
    store
        .rows_by_key(
            "SELECT id, order_id, line_id, plugin, code, reason_zh, reason_en, amount_fen \
             FROM order_adjustments WHERE order_id = $1 ORDER BY id"
                .into(),
            order_id,
        )
        .await
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct EventRow {
    pub id: String,
    pub order_id: String,
    pub status: String,
    pub actor: String,
    pub note: String,
    pub at: i64,
}

/// Timeline entries, in one statement.
pub(crate) fn insert_events(events: &[EventRow]) -> Insert {
    let mut insert = Insert::into("order_events", "id, order_id, status, actor, note, at");
    for e in events {
        insert.row(vec![
            text(&e.id),
            text(&e.order_id),
            text(&e.status),
            text(&e.actor),
            text(&e.note),
            Arg::Int(e.at),
        ]);
    }
    insert
}

pub async fn events_of(store: &Store, order_id: &str) -> Result<Vec<EventRow>, StoreError> {
    store
        .rows_by_key(
            "SELECT id, order_id, status, actor, note, at FROM order_events WHERE order_id = $1 \
             ORDER BY at, id"
                .into(),
            order_id,
        )
        .await
}

/// Counts units toward a product's sales (the `SALES` sort).
pub(crate) fn add_sales(product_id: &str, units: i64) -> Statement {
    let mut args = Args::default();
    let sql = format!(
        "UPDATE products SET sales_count = sales_count + {} WHERE id = {}",
        args.int(units),
        args.text(product_id)
    );
    Statement::new(sql, args)
}

// ---- payments and refunds ----

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct PaymentRow {
    pub id: String,
    pub order_id: String,
    pub provider: String,
    pub status: String,
    pub amount_fen: i64,
    pub provider_ref: Option<String>,
    pub failure: Option<String>,
    pub idempotency_key: String,
    pub created_at: i64,
    pub updated_at: i64,
}

const PAYMENT_COLUMNS: &str = "id, order_id, provider, status, amount_fen, provider_ref, failure, \
     idempotency_key, created_at, updated_at";

/// A new order's payment, in the order's own write.
pub(crate) fn payment_statement(p: &PaymentRow) -> Statement {
    let mut insert = Insert::into("payments", PAYMENT_COLUMNS);
    insert.row(vec![
        text(&p.id),
        text(&p.order_id),
        text(&p.provider),
        text(&p.status),
        Arg::Int(p.amount_fen),
        opt_text(&p.provider_ref),
        opt_text(&p.failure),
        text(&p.idempotency_key),
        Arg::Int(p.created_at),
        Arg::Int(p.updated_at),
    ]);
    insert.statement().expect("one row")
}

/// Opens a payment intent; `false` when this key already opened one.
pub async fn insert_payment(tx: &mut Tx, p: &PaymentRow) -> Result<bool, StoreError> {
    Ok(payment_statement(p).or_skip().execute(tx).await? == 1)
}

/// Settles a pending intent with the provider's answer; `false` if it was
/// no longer pending.
pub async fn settle_payment(
    tx: &mut Tx,
    id: &str,
    status: &str,
    provider_ref: Option<&str>,
    failure: Option<&str>,
    now: i64,
) -> Result<bool, StoreError> {
    Ok(on_tx!(tx, conn => {
        sqlx::query(
            "UPDATE payments SET status = $2, provider_ref = $3, failure = $4, updated_at = $5 \
             WHERE id = $1 AND status = 'pending'",
        )
        .bind(id)
        .bind(status)
        .bind(provider_ref)
        .bind(failure)
        .bind(now)
        .execute(&mut *conn)
        .await?
        .rows_affected() == 1
    }))
}

pub async fn payments_of(store: &Store, order_id: &str) -> Result<Vec<PaymentRow>, StoreError> {
    store
        .rows_by_key(
            format!(
                "SELECT {PAYMENT_COLUMNS} FROM payments WHERE order_id = $1 ORDER BY created_at, id"
            ),
            order_id,
        )
        .await
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct RefundRow {
    pub id: String,
    pub order_id: String,
    pub payment_id: String,
    pub kind: String,
    pub amount_fen: i64,
    pub reason: String,
    pub idempotency_key: String,
    pub created_by: String,
    pub created_at: i64,
}

const REFUND_COLUMNS: &str =
    "id, order_id, payment_id, kind, amount_fen, reason, idempotency_key, created_by, created_at";

/// Records a refund; `false` when this key already made one.
pub async fn insert_refund(tx: &mut Tx, r: &RefundRow) -> Result<bool, StoreError> {
    let sql = format!(
        "INSERT INTO refunds ({REFUND_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (order_id, idempotency_key) DO NOTHING"
    );
    Ok(on_tx!(tx, conn => {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&r.id)
            .bind(&r.order_id)
            .bind(&r.payment_id)
            .bind(&r.kind)
            .bind(r.amount_fen)
            .bind(&r.reason)
            .bind(&r.idempotency_key)
            .bind(&r.created_by)
            .bind(r.created_at)
            .execute(&mut *conn)
            .await?
            .rows_affected() == 1
    }))
}

pub async fn refunds_of(store: &Store, order_id: &str) -> Result<Vec<RefundRow>, StoreError> {
    store
        .rows_by_key(
            format!(
                "SELECT {REFUND_COLUMNS} FROM refunds WHERE order_id = $1 ORDER BY created_at, id"
            ),
            order_id,
        )
        .await
}

// ---- market alerts ----

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AlertRow {
    pub id: String,
    pub market_code: String,
    pub kind: String,
    pub subject_id: String,
    pub message_zh: String,
    pub message_en: String,
    pub created_at: i64,
    pub read_at: Option<i64>,
    pub read_by: Option<String>,
}

const ALERT_COLUMNS: &str =
    "id, market_code, kind, subject_id, message_zh, message_en, created_at, read_at, read_by";

/// Raises an alert once per kind and subject.
pub async fn raise_alert(tx: &mut Tx, a: &AlertRow) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO market_alerts ({ALERT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, NULL) \
         ON CONFLICT (kind, subject_id) DO NOTHING"
    );
    on_tx!(tx, conn => {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&a.id)
            .bind(&a.market_code)
            .bind(&a.kind)
            .bind(&a.subject_id)
            .bind(&a.message_zh)
            .bind(&a.message_en)
            .bind(a.created_at)
            .execute(&mut *conn)
            .await?;
    });
    Ok(())
}

/// A market's alerts, newest first.
pub async fn alerts_of(
    store: &Store,
    market: &str,
    limit: i64,
) -> Result<Vec<AlertRow>, StoreError> {
    let mut args = Args::default();
    let sql = format!(
        "SELECT {ALERT_COLUMNS} FROM market_alerts WHERE market_code = {} \
         ORDER BY created_at DESC, id DESC LIMIT {}",
        args.text(market),
        args.int(limit)
    );
    fetch_all(store, sql, &args).await
}
