//! Lists of orders: a customer's own, and the station's work queues
//! (FUL-1: to verify with the 30-minute clock, to pick, to pack, to
//! dispatch), plus the delivery slots and the market's alerts. Pages run
//! newest first on (placed_at, id), so a deep page costs what the first does.

use serde_json::json;

use super::{Order, Orders, new_id, reject};
use crate::audit::AuditEvent;
use crate::caller::Caller;
use crate::i18n::{Locale, Text};
use crate::service_error::ServiceError;
use crate::store::now_ms;
use crate::store::orders::{self as rows, AlertRow, OrderQuery, SlotRow};

/// Which orders a page holds.
#[derive(Debug, Clone, Default)]
pub struct OrderPage {
    pub first: usize,
    /// The cursor key of the last order seen: `placed_at,id`.
    pub after: Option<String>,
}

fn decode(key: &str, locale: Locale) -> Result<(i64, String), ServiceError> {
    key.split_once(',')
        .and_then(|(at, id)| Some((at.parse().ok()?, id.to_string())))
        .ok_or_else(|| {
            reject(
                "INVALID_CURSOR",
                &["after"],
                Text::new("The cursor is not valid.", "分页游标无效。"),
                locale,
            )
        })
}

impl Orders {
    async fn page(
        &self,
        caller: &Caller,
        mut query: OrderQuery,
        page: &OrderPage,
        reveal_contact: bool,
    ) -> Result<Vec<(String, Order)>, ServiceError> {
        query.before = page
            .after
            .as_deref()
            .map(|k| decode(k, caller.locale))
            .transpose()?;
        query.limit = page.first as i64 + 1;
        let mut out = Vec::new();
        for row in rows::list_orders(&self.store, &query).await? {
            let key = format!("{},{}", row.placed_at, row.id);
            out.push((key, self.load(row, reveal_contact).await?));
        }
        Ok(out)
    }

    /// The caller's own orders in a market, newest first.
    pub async fn my_orders(
        &self,
        caller: &Caller,
        market: &str,
        page: &OrderPage,
    ) -> Result<Vec<(String, Order)>, ServiceError> {
        let Some(account) = caller.actor.account_id() else {
            return Err(ServiceError::Unauthenticated(caller.credential_problem));
        };
        let query = OrderQuery {
            market: market.to_string(),
            account_id: Some(account.to_string()),
            ..OrderQuery::default()
        };
        self.page(caller, query, page, true).await
    }

    /// A market's orders for its staff (the resolver has checked
    /// `order read_all` in the market).
    pub async fn market_orders(
        &self,
        caller: &Caller,
        market: &str,
        statuses: Vec<String>,
        late_only: bool,
        page: &OrderPage,
    ) -> Result<Vec<(String, Order)>, ServiceError> {
        let station = self.may(caller, market, "order", "verify").await
            || self.may(caller, market, "order", "pick").await
            || self.may(caller, market, "shipment", "write").await;
        let query = OrderQuery {
            market: market.to_string(),
            statuses,
            late_only,
            ..OrderQuery::default()
        };
        self.page(caller, query, page, station).await
    }

    /// Slots still to come, soonest first.
    pub async fn slots(&self, market: &str, first: usize) -> Result<Vec<SlotRow>, ServiceError> {
        Ok(rows::slots_after(&self.store, market, now_ms(), first as i64).await?)
    }

    /// A new delivery slot (the resolver has checked `shipment write`).
    pub async fn create_slot(
        &self,
        caller: &Caller,
        market: &str,
        starts_at: i64,
        ends_at: i64,
        capacity: i64,
    ) -> Result<SlotRow, ServiceError> {
        let locale = caller.locale;
        self.markets
            .find(market)
            .await?
            .ok_or(ServiceError::NotFound)?;
        if ends_at <= starts_at || starts_at <= now_ms() {
            return Err(reject(
                "INVALID_SLOT",
                &["startsAt"],
                Text::new(
                    "A slot starts in the future and ends after it starts.",
                    "配送时段须在将来开始，且结束时间晚于开始时间。",
                ),
                locale,
            ));
        }
        if !(1..=10_000).contains(&capacity) {
            return Err(reject(
                "INVALID_CAPACITY",
                &["capacity"],
                Text::new(
                    "Capacity runs from 1 to 10,000 orders.",
                    "容量须在 1 至 10000 单之间。",
                ),
                locale,
            ));
        }
        let slot = SlotRow {
            id: new_id(),
            market_code: market.to_string(),
            starts_at,
            ends_at,
            capacity,
            booked: 0,
            created_by: caller.actor.audit_name(),
            created_at: now_ms(),
        };
        let mut tx = self.store.begin_write().await?;
        rows::insert_slot(&mut tx, &slot)
            .await
            .map_err(|e| match e {
                e if e.is_unique_violation() => reject(
                    "SLOT_EXISTS",
                    &["startsAt"],
                    Text::new(
                        "A slot already starts at that time.",
                        "该时间已有配送时段。",
                    ),
                    locale,
                ),
                e => e.into(),
            })?;
        AuditEvent::new(
            caller,
            "delivery_slot.create",
            "delivery_slot",
            Some(&slot.id),
        )
        .market(Some(market))
        .after(&json!({ "startsAt": starts_at, "endsAt": ends_at, "capacity": capacity }))
        .append(&mut tx)
        .await?;
        tx.commit().await?;
        Ok(slot)
    }

    /// The market's alerts, newest first (the resolver has checked `order read_all`).
    pub async fn alerts(&self, market: &str, first: usize) -> Result<Vec<AlertRow>, ServiceError> {
        Ok(rows::alerts_of(&self.store, market, first as i64).await?)
    }
}
