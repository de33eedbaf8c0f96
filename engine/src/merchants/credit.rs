//! The credit file (MER-3, S 8.1.5): contract performance and breaches roll
//! into a score and a grade; a D grade stops the agreement being renewed.

use serde_json::json;

use super::service::{Merchants, reject, text_field};
use crate::caller::Caller;
use crate::i18n::Text;
use crate::service_error::ServiceError;
use crate::store::now_ms;
use crate::store::onboarding::{self as rows, CreditEventRow};

/// The score every shop starts with, and its ceiling.
pub const START: i64 = 100;

pub const KINDS: [&str; 3] = ["CONTRACT_PERFORMED", "CONTRACT_BREACH", "STAFF_NOTE"];

/// A shop's score, grade, and the events behind them.
#[derive(Debug, Clone, PartialEq)]
pub struct Credit {
    pub score: i64,
    pub grade: &'static str,
    pub reasons: Vec<CreditEventRow>,
}

impl Credit {
    /// Rolls events up in order, clamping at each step so a long good record
    /// cannot bank points beyond 100.
    pub fn from_events(reasons: Vec<CreditEventRow>) -> Self {
        let score = reasons
            .iter()
            .fold(START, |s, e| (s + e.points).clamp(0, 100));
        Self {
            score,
            grade: grade(score),
            reasons,
        }
    }
}

pub fn grade(score: i64) -> &'static str {
    match score {
        90.. => "A",
        75..=89 => "B",
        60..=74 => "C",
        _ => "D",
    }
}

impl Merchants {
    pub async fn credit(&self, merchant_id: &str) -> Result<Credit, ServiceError> {
        Ok(Credit::from_events(
            rows::credit_events(&self.store, merchant_id).await?,
        ))
    }

    /// Records a credit event (the market's staff, never the shop itself).
    pub async fn record_credit_event(
        &self,
        caller: &Caller,
        merchant_id: &str,
        kind: &str,
        points: i64,
        note: &str,
    ) -> Result<Credit, ServiceError> {
        let locale = caller.locale;
        let merchant = self.merchant(merchant_id).await?;
        self.require_market_staff(caller, &merchant).await?;
        let sign_ok = match kind {
            "CONTRACT_PERFORMED" => points >= 0,
            "CONTRACT_BREACH" => points <= 0,
            "STAFF_NOTE" => true,
            _ => false,
        };
        if !sign_ok || !(-100..=100).contains(&points) {
            return Err(reject(
                "INVALID_POINTS",
                &["points"],
                Text::new(
                    "Points are −100…100: a breach takes points away, a performed contract adds them.",
                    "分值须在 −100…100 之间：违约扣分，履约加分。",
                ),
                locale,
            ));
        }
        let note = text_field(note, 500, &["note"], locale)?;
        let now = now_ms();
        let event = CreditEventRow {
            id: uuid::Uuid::now_v7().to_string(),
            merchant_id: merchant_id.to_string(),
            kind: kind.to_string(),
            points,
            note,
            recorded_by: caller.actor.audit_name(),
            at: now,
        };
        let mut tx = self.store.begin().await?;
        rows::add_credit_event(&mut tx, &event).await?;
        self.record_step(
            &mut tx,
            caller,
            &merchant,
            "merchant.credit.record",
            None,
            None,
            json!({ "kind": kind, "points": points, "note": event.note }),
            now,
        )
        .await?;
        tx.commit().await?;
        self.credit(merchant_id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(points: i64) -> CreditEventRow {
        CreditEventRow {
            id: String::new(),
            merchant_id: String::new(),
            kind: "STAFF_NOTE".into(),
            points,
            note: String::new(),
            recorded_by: String::new(),
            at: 0,
        }
    }

    #[test]
    fn scores_clamp_and_grade() {
        assert_eq!(Credit::from_events(vec![]).grade, "A");
        let c = Credit::from_events(vec![event(10), event(-30)]);
        assert_eq!((c.score, c.grade), (70, "C"));
        assert_eq!(Credit::from_events(vec![event(-50)]).grade, "D");
        assert_eq!(Credit::from_events(vec![event(-120), event(75)]).score, 75);
        assert_eq!(grade(90), "A");
        assert_eq!(grade(75), "B");
        assert_eq!(grade(59), "D");
    }
}
