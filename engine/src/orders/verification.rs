//! The verification clock (S 8.2.2.2): station staff accept a paid order
//! within 30 minutes. A periodic sweep flags the late ones, raises an alert
//! for the market's administrators and announces `order.verification_late`,
//! once per order. Flagging is a conditional UPDATE, so several nodes
//! sweeping at once still flag and alert once.

use std::time::Duration;

use serde_json::json;

use super::{Orders, emit, new_id};
use crate::caller::Caller;
use crate::service_error::ServiceError;
use crate::store::now_ms;
use crate::store::orders::{self as rows, AlertRow};

impl Orders {
    /// Flags every paid order past its deadline (in `market`, or everywhere);
    /// how many were flagged.
    pub async fn sweep_late(&self, market: Option<&str>) -> Result<usize, ServiceError> {
        let now = now_ms();
        let late = rows::late_to_verify(&self.store, now).await?;
        let mut flagged = 0;
        for order in late
            .iter()
            .filter(|o| market.is_none_or(|m| m == o.market_code))
        {
            let mut tx = self.store.begin_write().await?;
            if !rows::flag_late(&mut tx, &order.id, now).await? {
                continue;
            }
            let minutes = (now - order.paid_at.unwrap_or(now)) / 60_000;
            rows::raise_alert(
                &mut tx,
                &AlertRow {
                    id: new_id(),
                    market_code: order.market_code.clone(),
                    kind: "order.verification_late".into(),
                    subject_id: order.id.clone(),
                    message_zh: format!("订单 {} 付款已 {minutes} 分钟仍未核验。", order.number),
                    message_en: format!(
                        "Order {} was paid {minutes} minutes ago and is not verified yet.",
                        order.number
                    ),
                    created_at: now,
                    read_at: None,
                    read_by: None,
                },
            )
            .await?;
            crate::audit::AuditEvent::new(
                &Caller::system(),
                "order.verification_late",
                "order",
                Some(&order.id),
            )
            .market(Some(&order.market_code))
            .after(&json!({ "verifyBy": order.verify_by }))
            .append(&mut tx)
            .await?;
            emit(
                &mut tx,
                &order.market_code,
                "order.verification_late",
                &order.id,
                json!({ "orderId": order.id, "number": order.number, "verifyBy": order.verify_by }),
                now,
            )
            .await?;
            tx.commit().await?;
            tracing::warn!(order = %order.id, market = %order.market_code, "order not verified in time");
            flagged += 1;
        }
        Ok(flagged)
    }

    /// Runs the sweep every `verification_sweep_secs` until the process ends.
    pub fn spawn_verification_clock(&self) -> tokio::task::JoinHandle<()> {
        let orders = self.clone();
        let every = Duration::from_secs(self.config.verification_sweep_secs.max(1));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = orders.sweep_late(None).await {
                    tracing::warn!(error = %e, "verification sweep failed; retrying next tick");
                }
            }
        })
    }
}
