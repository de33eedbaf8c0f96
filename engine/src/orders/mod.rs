//! Orders (ORD-1…6): the cart, checkout, payment and every step of an
//! order's life after it, each step allowed only to the right role, audited,
//! timestamped on the order's timeline and announced in the outbox in the
//! same transaction.
//!
//! One service, its steps spread over modules named after them: `cart`,
//! `delivery`, `checkout`, `payments`, `lifecycle`, `refunds`,
//! `verification`. This file holds what they share: loading an order with
//! everything on it, who may see or move it, and recording a step.

mod cart;
mod checkout;
mod clock;
mod delivery;
mod lifecycle;
mod payments;
mod queues;
mod refunds;
mod verification;

use serde_json::{Value, json};

pub use cart::{Cart, CartLine};
pub use checkout::{CheckoutInput, CheckoutOutcome, Recipient};
pub use delivery::DeliveryMode;
pub use payments::{PaymentChoice, ProviderKind, TestOutcome};
pub use queues::OrderPage;
pub use refunds::{RefundKind, RefundRequest};

use crate::audit::AuditEvent;
use crate::authz::Authz;
use crate::caller::Caller;
use crate::config::OrdersConfig;
use crate::i18n::{Locale, Text};
use crate::markets::Markets;
use crate::plugins::PluginHost;
use crate::service_error::ServiceError;
use crate::store::audit::{self as audit_rows, AuditRecord};
use crate::store::batch::{Insert, Statement, run_all};
use crate::store::merchants as merchant_rows;
use crate::store::orders::{
    self as rows, AdjustmentRow, EventRow, LineRow, OrderRow, PartRow, PaymentRow, RefundRow,
};
use crate::store::outbox::{self, OutboxRow};
use crate::store::{Store, Tx};

/// Order states, as stored in `orders.status` (S 8.2.2–8.2.4).
pub mod status {
    pub const PLACED: &str = "placed";
    pub const PAID: &str = "paid";
    pub const ACCEPTED: &str = "accepted";
    pub const PICKING: &str = "picking";
    pub const PACKED: &str = "packed";
    pub const OUT_FOR_DELIVERY: &str = "out_for_delivery";
    pub const DELIVERED: &str = "delivered";
    pub const COMPLETED: &str = "completed";
    pub const CANCELLED: &str = "cancelled";
    pub const REFUNDED: &str = "refunded";
}

#[derive(Clone)]
pub struct Orders {
    store: Store,
    authz: Authz,
    plugins: PluginHost,
    markets: Markets,
    config: OrdersConfig,
}

/// An order with everything on it, as its viewer may see it.
#[derive(Debug, Clone)]
pub struct Order {
    pub row: OrderRow,
    pub parts: Vec<PartRow>,
    pub lines: Vec<LineRow>,
    pub adjustments: Vec<AdjustmentRow>,
    pub timeline: Vec<EventRow>,
    pub payments: Vec<PaymentRow>,
    pub refunds: Vec<RefundRow>,
    /// The customer and station staff see the recipient's phone whole.
    pub reveal_contact: bool,
}

impl Order {
    /// The merchant a line's part belongs to.
    pub fn merchant_of(&self, line: &LineRow) -> &str {
        self.parts
            .iter()
            .find(|p| p.id == line.part_id)
            .map(|p| p.merchant_id.as_str())
            .unwrap_or_default()
    }
}

/// A refusal in the caller's language.
pub(crate) fn reject(
    code: &'static str,
    field: &[&str],
    text: Text,
    locale: Locale,
) -> ServiceError {
    ServiceError::reject(code, field, text, locale)
}

/// A refusal whose message carries figures.
pub(crate) fn reject_with(
    code: &'static str,
    field: &[&str],
    en: String,
    zh_cn: String,
    locale: Locale,
) -> ServiceError {
    ServiceError::Rejected(vec![crate::api::UserError {
        code,
        field: field.iter().map(|s| s.to_string()).collect(),
        message: match locale {
            Locale::En => en,
            Locale::ZhCn => zh_cn,
        },
    }])
}

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

impl Orders {
    pub fn new(
        store: Store,
        authz: Authz,
        plugins: PluginHost,
        markets: Markets,
        config: OrdersConfig,
    ) -> Self {
        Self {
            store,
            authz,
            plugins,
            markets,
            config,
        }
    }

    /// Whether the caller holds (`object`, `action`) in the market.
    async fn may(&self, caller: &Caller, market: &str, object: &str, action: &str) -> bool {
        match caller.actor.subject() {
            Some(subject) => {
                self.authz
                    .check_fresh(&subject, market, object, action)
                    .await
            }
            None => false,
        }
    }

    /// Refuses unless the caller holds (`object`, `action`) in the order's market.
    async fn require(
        &self,
        caller: &Caller,
        order: &OrderRow,
        object: &str,
        action: &str,
    ) -> Result<(), ServiceError> {
        if caller.actor.subject().is_none() {
            return Err(ServiceError::Unauthenticated(caller.credential_problem));
        }
        if self.may(caller, &order.market_code, object, action).await {
            Ok(())
        } else {
            AuditEvent::new(caller, "order.denied", "order", Some(&order.id))
                .market(Some(&order.market_code))
                .after(&json!({ "needs": format!("{object}:{action}") }))
                .outcome(crate::audit::Outcome::Denied)
                .append_alone(&self.store)
                .await;
            Err(ServiceError::Forbidden)
        }
    }

    fn is_customer(caller: &Caller, order: &OrderRow) -> bool {
        caller.actor.account_id() == Some(order.account_id.as_str())
    }

    /// The order, if the caller may see it: its customer, staff who see
    /// every order in its market (`order read_all`), or a member of a shop
    /// with a part in it. Anyone else learns nothing, not even that it exists.
    pub async fn order(&self, caller: &Caller, id: &str) -> Result<Order, ServiceError> {
        if caller.actor.subject().is_none() {
            return Err(ServiceError::Unauthenticated(caller.credential_problem));
        }
        let row = rows::find_order(&self.store, id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        let customer = Self::is_customer(caller, &row);
        let market = row.market_code.clone();
        // A customer sees their own order whole; asking the policy about
        // them would only cost denials (each checks the policy is current).
        let station = !customer
            && (self.may(caller, &market, "order", "verify").await
                || self.may(caller, &market, "order", "pick").await
                || self.may(caller, &market, "shipment", "write").await);
        let mut visible =
            customer || station || self.may(caller, &market, "order", "read_all").await;
        if !visible && let Some(account) = caller.actor.account_id() {
            for part in rows::parts_of(&self.store, &row.id).await? {
                if merchant_rows::member_role(&self.store, &part.merchant_id, account)
                    .await?
                    .is_some()
                {
                    visible = true;
                    break;
                }
            }
        }
        if !visible {
            return Err(ServiceError::NotFound);
        }
        self.load(row, customer || station).await
    }

    /// Everything on an order.
    async fn load(&self, row: OrderRow, reveal_contact: bool) -> Result<Order, ServiceError> {
        let id = row.id.clone();
        Ok(Order {
            parts: rows::parts_of(&self.store, &id).await?,
            lines: rows::lines_of(&self.store, &id).await?,
            adjustments: rows::adjustments_of(&self.store, &id).await?,
            timeline: rows::events_of(&self.store, &id).await?,
            payments: rows::payments_of(&self.store, &id).await?,
            refunds: rows::refunds_of(&self.store, &id).await?,
            reveal_contact,
            row,
        })
    }

    /// Reloads an order for a caller who just changed it.
    async fn reload(&self, caller: &Caller, id: &str) -> Result<Order, ServiceError> {
        self.order(caller, id).await
    }

    /// Records that an order reached `status`: the timeline entry the
    /// customer sees, the audit record, and the domain event, all in `tx`.
    #[allow(clippy::too_many_arguments)]
    async fn record(
        &self,
        tx: &mut Tx,
        caller: &Caller,
        order: &OrderRow,
        status: &str,
        note: &str,
        detail: Value,
        now: i64,
    ) -> Result<(), ServiceError> {
        let mut journal = Journal::default();
        journal.step(caller, order, &order.status, status, note, detail, now);
        journal.write(tx).await
    }
}

/// What a change writes beside itself: the timeline entries the customer
/// sees, the audit records and the outbox events. A change that records
/// several things gathers them here and writes each table once.
#[derive(Debug, Default)]
pub(crate) struct Journal {
    pub events: Vec<EventRow>,
    audit: Vec<AuditRecord>,
    outbox: Vec<OutboxRow>,
}

impl Journal {
    /// The order moved from `before` to `status`.
    #[allow(clippy::too_many_arguments)]
    pub fn step(
        &mut self,
        caller: &Caller,
        order: &OrderRow,
        before: &str,
        status: &str,
        note: &str,
        detail: Value,
        now: i64,
    ) {
        self.events.push(EventRow {
            id: new_id(),
            order_id: order.id.clone(),
            status: status.to_string(),
            actor: caller.actor.audit_name(),
            note: note.to_string(),
            at: now,
        });
        self.audit(
            AuditEvent::new(caller, &format!("order.{status}"), "order", Some(&order.id))
                .market(Some(&order.market_code))
                .before(&json!({ "status": before }))
                .after(&json!({ "status": status, "detail": detail })),
        );
        self.emit(
            &order.market_code,
            &format!("order.{status}"),
            &order.id,
            json!({
                "orderId": order.id,
                "number": order.number,
                "status": status,
                "totalFen": order.total_fen,
                "detail": detail,
            }),
            now,
        );
    }

    pub fn audit(&mut self, event: AuditEvent) {
        self.audit.push(event.into_record());
    }

    /// A domain event for the outbox.
    pub fn emit(&mut self, market: &str, kind: &str, subject_id: &str, payload: Value, now: i64) {
        self.outbox.push(OutboxRow {
            id: new_id(),
            market_code: market.to_string(),
            kind: kind.to_string(),
            subject_id: subject_id.to_string(),
            payload: payload.to_string(),
            created_at: now,
            attempts: 0,
            claimed_until: 0,
            dispatched_at: None,
        });
    }

    /// Everything gathered, as statements for the change's transaction:
    /// one per table.
    pub fn statements(&self) -> Vec<Statement> {
        [
            rows::insert_events(&self.events),
            audit_rows::insert_all(&self.audit),
            outbox::insert(&self.outbox),
        ]
        .into_iter()
        .filter_map(Insert::statement)
        .collect()
    }

    /// Writes everything gathered in `tx`.
    pub async fn write(&self, tx: &mut Tx) -> Result<(), ServiceError> {
        run_all(tx, self.statements()).await?;
        Ok(())
    }
}

/// Writes a domain event to the outbox in the caller's transaction.
pub(crate) async fn emit(
    tx: &mut Tx,
    market: &str,
    kind: &str,
    subject_id: &str,
    payload: Value,
    now: i64,
) -> Result<(), ServiceError> {
    let mut journal = Journal::default();
    journal.emit(market, kind, subject_id, payload, now);
    journal.write(tx).await
}
