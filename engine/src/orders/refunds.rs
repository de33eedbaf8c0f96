//! Refunds (ORD-5): full, partial, weight difference and compensation. Each
//! is idempotent per key, and the total refunded never exceeds what was
//! paid: the store refuses it with a conditional UPDATE, so two refunds
//! racing each other cannot both pass.

use serde_json::json;

use super::payments::{ProviderKind, provider};
use super::{Order, Orders, emit, new_id, reject, reject_with, status};
use crate::audit::AuditEvent;
use crate::caller::Caller;
use crate::i18n::Text;
use crate::service_error::ServiceError;
use crate::store::orders::{self as rows, RefundRow};
use crate::store::{Tx, now_ms};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundKind {
    Full,
    Partial,
    WeightDifference,
    Compensation,
}

impl RefundKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RefundKind::Full => "full",
            RefundKind::Partial => "partial",
            RefundKind::WeightDifference => "weight_difference",
            RefundKind::Compensation => "compensation",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "FULL" | "full" => Some(RefundKind::Full),
            "PARTIAL" | "partial" => Some(RefundKind::Partial),
            "WEIGHT_DIFFERENCE" | "weight_difference" => Some(RefundKind::WeightDifference),
            "COMPENSATION" | "compensation" => Some(RefundKind::Compensation),
            _ => None,
        }
    }
}

/// A refund to make inside a transaction that is changing the order anyway.
pub struct RefundRequest<'a> {
    pub kind: RefundKind,
    pub amount: i64,
    pub reason: &'a str,
    pub key: &'a str,
}

impl Orders {
    /// Staff refund part or all of what was paid.
    pub async fn refund(
        &self,
        caller: &Caller,
        order_id: &str,
        request: RefundRequest<'_>,
    ) -> Result<Order, ServiceError> {
        let locale = caller.locale;
        let order = self.order(caller, order_id).await?;
        self.require(caller, &order.row, "order", "refund").await?;
        if request.reason.trim().is_empty() {
            return Err(reject(
                "REASON_REQUIRED",
                &["input", "reason"],
                Text::new("Say why the money is refunded.", "请填写退款原因。"),
                locale,
            ));
        }
        let now = now_ms();
        let mut tx = self.store.begin_write().await?;
        let done = self
            .refund_in(&mut tx, caller, &order, &request, now)
            .await?;
        if done {
            // Everything paid is back after delivery: the order ends refunded.
            let fresh = order.row.refunded_fen + request.amount;
            if fresh == order.row.paid_fen
                && [status::DELIVERED, status::COMPLETED].contains(&order.row.status.as_str())
                && rows::set_status(
                    &mut tx,
                    &order.row.id,
                    &[status::DELIVERED, status::COMPLETED],
                    status::REFUNDED,
                    now,
                )
                .await?
            {
                self.record(
                    &mut tx,
                    caller,
                    &order.row,
                    status::REFUNDED,
                    request.reason,
                    json!({ "refundedFen": fresh }),
                    now,
                )
                .await?;
            }
        }
        tx.commit().await?;
        self.reload(caller, order_id).await
    }

    /// Refunds inside `tx`: `false` when this key was already used (the
    /// first refund stands); refused when it would exceed what was paid.
    pub(super) async fn refund_in(
        &self,
        tx: &mut Tx,
        caller: &Caller,
        whole: &Order,
        request: &RefundRequest<'_>,
        now: i64,
    ) -> Result<bool, ServiceError> {
        let locale = caller.locale;
        let order = &whole.row;
        let Some(payment) = whole.payments.iter().find(|p| p.status == "succeeded") else {
            return Err(reject(
                "NOTHING_PAID",
                &["orderId"],
                Text::new("Nothing has been paid for this order.", "该订单尚未付款。"),
                locale,
            ));
        };
        let refundable = order.paid_fen - order.refunded_fen;
        if request.amount <= 0 || request.amount > refundable {
            return Err(reject_with(
                "REFUND_EXCEEDS_PAID",
                &["input", "amountFen"],
                format!(
                    "A refund must be between ¥0.01 and ¥{:.2}, what is paid and not yet refunded.",
                    refundable as f64 / 100.0
                ),
                format!(
                    "退款金额须在 ¥0.01 至 ¥{:.2}（已付未退金额）之间。",
                    refundable as f64 / 100.0
                ),
                locale,
            ));
        }
        let refund = RefundRow {
            id: new_id(),
            order_id: order.id.clone(),
            payment_id: payment.id.clone(),
            kind: request.kind.as_str().to_string(),
            amount_fen: request.amount,
            reason: request.reason.trim().to_string(),
            idempotency_key: request.key.to_string(),
            created_by: caller.actor.audit_name(),
            created_at: now,
        };
        if !rows::insert_refund(tx, &refund).await? {
            return Ok(false);
        }
        if !rows::add_refunded(tx, &order.id, request.amount, now).await? {
            return Err(reject(
                "REFUND_EXCEEDS_PAID",
                &["input", "amountFen"],
                Text::new(
                    "Refunds cannot exceed what was paid.",
                    "退款总额不能超过实付金额。",
                ),
                locale,
            ));
        }
        let kind = ProviderKind::parse(&payment.provider).unwrap_or(ProviderKind::Cash);
        let reference = provider(kind)
            .refund(payment, request.amount, request.key)
            .await
            .map_err(|e| ServiceError::Internal(format!("provider refused a refund: {e}")))?;
        AuditEvent::new(caller, "order.refund", "order", Some(&order.id))
            .market(Some(&order.market_code))
            .after(&json!({
                "kind": refund.kind,
                "amountFen": refund.amount_fen,
                "reason": refund.reason,
                "reference": reference,
            }))
            .append(tx)
            .await?;
        emit(
            tx,
            &order.market_code,
            "order.refunded",
            &order.id,
            json!({
                "orderId": order.id,
                "refundId": refund.id,
                "kind": refund.kind,
                "amountFen": refund.amount_fen,
            }),
            now,
        )
        .await?;
        Ok(true)
    }
}
