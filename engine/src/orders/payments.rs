//! Payments behind a provider interface (ORD-5). Two providers are built
//! in: cash or offline payment collected on delivery, and a test gateway
//! that succeeds, fails or never answers as it is told, so every branch of
//! checkout can be exercised against the real flow.
//!
//! A payment is an intent row written before the provider is asked, keyed
//! by an idempotency key; the provider's answer settles it in a second
//! transaction. A provider that does not answer in time leaves the order
//! placed and the intent `timed_out`; the customer may pay again with a new
//! key. Nothing here holds a database transaction open across the call.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;

use super::{Journal, Orders, new_id, reject, status};
use crate::audit::AuditEvent;
use crate::caller::Caller;
use crate::i18n::Text;
use crate::service_error::ServiceError;
use crate::store::now_ms;
use crate::store::orders::{self as rows, OrderRow, PaymentRow};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    Cash,
    TestGateway,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Cash => "cash",
            ProviderKind::TestGateway => "test_gateway",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "CASH" | "cash" => Some(ProviderKind::Cash),
            "TEST_GATEWAY" | "test_gateway" => Some(ProviderKind::TestGateway),
            _ => None,
        }
    }
}

/// What the test gateway is told to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestOutcome {
    Succeed,
    Fail,
    TimeOut,
}

impl TestOutcome {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "SUCCEED" => Some(TestOutcome::Succeed),
            "FAIL" => Some(TestOutcome::Fail),
            "TIME_OUT" => Some(TestOutcome::TimeOut),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaymentChoice {
    pub provider: ProviderKind,
    pub test_outcome: Option<TestOutcome>,
}

/// A provider's answer to a payment intent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Succeeded { reference: String },
    Failed { reason: String },
}

/// A payment provider. Calls carry the intent's id, which providers use as
/// their own idempotency key, so a retried call never charges twice.
#[async_trait]
pub trait PaymentProvider: Send + Sync {
    /// Answers without leaving the process (no network, no waiting), so
    /// checkout may settle it inside the order's own transaction instead
    /// of committing an intent first.
    fn answers_locally(&self) -> bool {
        false
    }
    async fn authorise(&self, intent: &PaymentRow, choice: &PaymentChoice) -> Answer;
    /// Gives back `amount` of a payment; the provider's reference.
    async fn refund(&self, payment: &PaymentRow, amount: i64, key: &str) -> Result<String, String>;
}

/// Cash or offline payment: accepted at once, collected by the courier.
struct Cash;

#[async_trait]
impl PaymentProvider for Cash {
    fn answers_locally(&self) -> bool {
        true
    }

    async fn authorise(&self, intent: &PaymentRow, _: &PaymentChoice) -> Answer {
        Answer::Succeeded {
            reference: format!("cash-on-delivery:{}", intent.id),
        }
    }

    async fn refund(&self, payment: &PaymentRow, amount: i64, key: &str) -> Result<String, String> {
        // Nothing was taken yet or it is paid back in cash: the record is the refund.
        Ok(format!("cash-refund:{}:{amount}:{key}", payment.id))
    }
}

/// The built-in test gateway.
struct TestGateway;

#[async_trait]
impl PaymentProvider for TestGateway {
    async fn authorise(&self, intent: &PaymentRow, choice: &PaymentChoice) -> Answer {
        match choice.test_outcome.unwrap_or(TestOutcome::Succeed) {
            TestOutcome::Succeed => Answer::Succeeded {
                reference: format!("test:{}", intent.id),
            },
            TestOutcome::Fail => Answer::Failed {
                reason: "card_declined".into(),
            },
            TestOutcome::TimeOut => {
                // Never answers; the engine's timeout decides.
                std::future::pending::<()>().await;
                unreachable!("pending never completes")
            }
        }
    }

    async fn refund(&self, payment: &PaymentRow, amount: i64, key: &str) -> Result<String, String> {
        Ok(format!("test-refund:{}:{amount}:{key}", payment.id))
    }
}

pub(super) fn provider(kind: ProviderKind) -> &'static dyn PaymentProvider {
    match kind {
        ProviderKind::Cash => &Cash,
        ProviderKind::TestGateway => &TestGateway,
    }
}

impl Orders {
    /// Pays a placed order again, after a payment failed or timed out.
    pub async fn pay_order(
        &self,
        caller: &Caller,
        order_id: &str,
        key: &str,
        choice: PaymentChoice,
    ) -> Result<super::Order, ServiceError> {
        let order = self.order(caller, order_id).await?;
        if !Self::is_customer(caller, &order.row) {
            return Err(ServiceError::Forbidden);
        }
        self.take_payment(caller, &order.row, key, choice).await?;
        self.reload(caller, order_id).await
    }

    /// Opens an intent for what the order still owes and asks the provider.
    /// Replaying a key returns without asking again.
    pub(super) async fn take_payment(
        &self,
        caller: &Caller,
        order: &OrderRow,
        key: &str,
        choice: PaymentChoice,
    ) -> Result<(), ServiceError> {
        let locale = caller.locale;
        if order.status != status::PLACED {
            return Err(reject(
                "ORDER_ALREADY_PAID",
                &["orderId"],
                Text::new(
                    "This order is not waiting for payment.",
                    "该订单不在待支付状态。",
                ),
                locale,
            ));
        }
        let key = key.trim();
        if key.is_empty() || key.len() > 200 {
            return Err(reject(
                "INVALID_IDEMPOTENCY_KEY",
                &["idempotencyKey"],
                Text::new(
                    "Give an idempotency key of 1 to 200 characters.",
                    "幂等键须为 1 至 200 个字符。",
                ),
                locale,
            ));
        }
        let intent = intent(order, key, choice.provider, now_ms());
        let mut tx = self.store.begin_write().await?;
        if !rows::insert_payment(&mut tx, &intent).await? {
            // This key already opened an intent: its outcome stands.
            return Ok(());
        }
        let mut journal = Journal::default();
        journal.audit(intent_audit(caller, order, &intent));
        journal.write(&mut tx).await?;
        tx.commit().await?;
        self.ask_and_settle(caller, order, &intent, choice).await
    }

    /// Asks the provider about an intent already committed, never with a
    /// transaction open, and settles it with the answer.
    pub(super) async fn ask_and_settle(
        &self,
        caller: &Caller,
        order: &OrderRow,
        intent: &PaymentRow,
        choice: PaymentChoice,
    ) -> Result<(), ServiceError> {
        let answer = self.ask(intent, choice).await;
        let now = now_ms();
        let mut tx = self.store.begin_write().await?;
        if !rows::settle_payment(
            &mut tx,
            &intent.id,
            answer.status,
            answer.reference.as_deref(),
            answer.failure.as_deref(),
            now,
        )
        .await?
        {
            return Ok(());
        }
        let mut journal = Journal::default();
        settled(&mut journal, caller, order, intent, &answer, now);
        // An order cancelled meanwhile stays cancelled; the payment stands
        // for a refund.
        if answer.status == "succeeded"
            && rows::mark_paid(
                &mut tx,
                &order.id,
                intent.amount_fen,
                now,
                self.verify_by(now),
            )
            .await?
        {
            paid(&mut journal, caller, order, intent, now);
        }
        journal.write(&mut tx).await?;
        tx.commit().await?;
        if answer.status != "succeeded" {
            tracing::info!(order = %order.id, outcome = answer.status, "payment not taken");
        }
        Ok(())
    }

    /// The provider's answer, or `timed_out` after `orders.payment_timeout_ms`.
    pub(super) async fn ask(&self, intent: &PaymentRow, choice: PaymentChoice) -> Settlement {
        let timeout = Duration::from_millis(self.config.payment_timeout_ms);
        let answer = tokio::time::timeout(
            timeout,
            provider(choice.provider).authorise(intent, &choice),
        )
        .await;
        match answer {
            Ok(Answer::Succeeded { reference }) => Settlement {
                status: "succeeded",
                reference: Some(reference),
                failure: None,
            },
            Ok(Answer::Failed { reason }) => Settlement {
                status: "failed",
                reference: None,
                failure: Some(reason),
            },
            Err(_) => Settlement {
                status: "timed_out",
                reference: None,
                failure: Some("provider did not answer in time".into()),
            },
        }
    }

    /// When station staff must have accepted an order paid at `now`.
    pub(super) fn verify_by(&self, now: i64) -> i64 {
        now + self.config.verify_within_secs as i64 * 1000
    }
}

/// Records a settlement: its audit record, and a failure announced.
pub(super) fn settled(
    journal: &mut Journal,
    caller: &Caller,
    order: &OrderRow,
    intent: &PaymentRow,
    answer: &Settlement,
    now: i64,
) {
    let settled = answer.status;
    journal.audit(
        AuditEvent::new(
            caller,
            &format!("payment.{settled}"),
            "payment",
            Some(&intent.id),
        )
        .market(Some(&order.market_code))
        .after(&json!({ "orderId": order.id, "failure": answer.failure })),
    );
    if settled != "succeeded" {
        journal.emit(
            &order.market_code,
            &format!("payment.{settled}"),
            &order.id,
            json!({ "orderId": order.id, "paymentId": intent.id, "failure": answer.failure }),
            now,
        );
    }
}

/// Records that a placed order was paid by `intent`.
pub(super) fn paid(
    journal: &mut Journal,
    caller: &Caller,
    order: &OrderRow,
    intent: &PaymentRow,
    now: i64,
) {
    journal.step(
        caller,
        order,
        status::PLACED,
        status::PAID,
        "",
        json!({ "provider": intent.provider, "paidFen": intent.amount_fen }),
        now,
    );
}

/// What a provider's answer settles an intent as.
#[derive(Debug, Clone)]
pub(super) struct Settlement {
    pub status: &'static str,
    pub reference: Option<String>,
    pub failure: Option<String>,
}

/// A pending intent for what `order` owes.
pub(super) fn intent(order: &OrderRow, key: &str, provider: ProviderKind, now: i64) -> PaymentRow {
    PaymentRow {
        id: new_id(),
        order_id: order.id.clone(),
        provider: provider.as_str().to_string(),
        status: "pending".into(),
        amount_fen: order.total_fen,
        provider_ref: None,
        failure: None,
        idempotency_key: key.to_string(),
        created_at: now,
        updated_at: now,
    }
}

/// The audit record of an opened intent.
pub(super) fn intent_audit(caller: &Caller, order: &OrderRow, intent: &PaymentRow) -> AuditEvent {
    AuditEvent::new(caller, "payment.intent", "payment", Some(&intent.id))
        .market(Some(&order.market_code))
        .after(&json!({
            "orderId": order.id,
            "provider": intent.provider,
            "amountFen": intent.amount_fen,
        }))
}
