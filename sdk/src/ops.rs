//! Builders for what hooks return: bilingual text and the declarative
//! operations (adjustments, delivery options, violations) the engine checks
//! before applying.
//!
//! They are plain constructors; the records in [`crate::types`] can be built
//! directly too. The engine's checks are listed in the author's guide
//! (`sdk/README.md`); the builders do not repeat them.

use crate::money::Fen;
use crate::types::{Adjustment, AdjustmentTarget, DeliveryOption, Text, Violation};

/// A message in both languages Shiji ships: Simplified Chinese and English.
/// The engine refuses an empty reason in either language.
pub fn text(zh_cn: impl Into<String>, en: impl Into<String>) -> Text {
    Text {
        zh_cn: zh_cn.into(),
        en: en.into(),
    }
}

/// Changes one cart line's price by `amount` fen (negative: a discount).
///
/// `code` is a stable identifier reports group by (1–64 characters, e.g.
/// `spring-special`); `reason` is shown to the customer next to the price.
pub fn line_adjustment(
    line_id: impl Into<String>,
    amount: Fen,
    code: impl Into<String>,
    reason: Text,
) -> Adjustment {
    Adjustment {
        target: AdjustmentTarget::Line(line_id.into()),
        amount,
        code: code.into(),
        reason,
    }
}

/// Changes the whole order's price by `amount` fen (negative: a discount).
pub fn order_adjustment(amount: Fen, code: impl Into<String>, reason: Text) -> Adjustment {
    Adjustment {
        target: AdjustmentTarget::Order,
        amount,
        code: code.into(),
        reason,
    }
}

/// A delivery option: `mode` is `instant`, `next-day`, `slot` or the
/// plugin's own; `slot` is `YYYY-MM-DDTHH:MM/HH:MM` when the option is for a
/// slot.
pub fn delivery_option(
    mode: impl Into<String>,
    slot: Option<String>,
    fee: Fen,
    reason: Text,
) -> DeliveryOption {
    DeliveryOption {
        mode: mode.into(),
        slot,
        fee,
        reason,
    }
}

/// A reason to refuse what `validate` was given: a stable `code`, the
/// dot-separated path of the `field` at fault (if one is), and a message in
/// both languages.
pub fn violation(
    code: impl Into<String>,
    field: Option<&str>,
    zh_cn: impl Into<String>,
    en: impl Into<String>,
) -> Violation {
    Violation {
        code: code.into(),
        field: field.map(str::to_owned),
        message: text(zh_cn, en),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders_fill_every_field() {
        let reason = text("今日特价", "Special of the day");
        assert_eq!(reason.zh_cn, "今日特价");
        assert_eq!(reason.en, "Special of the day");

        let line = line_adjustment("l1", -99, "special", reason.clone());
        assert_eq!(line.target, AdjustmentTarget::Line("l1".into()));
        assert_eq!((line.amount, line.code.as_str()), (-99, "special"));
        assert_eq!(line.reason, reason);

        let order = order_adjustment(-500, "welcome", reason.clone());
        assert_eq!(order.target, AdjustmentTarget::Order);
        assert_eq!(order.amount, -500);

        let option = delivery_option("next-day", None, 800, reason.clone());
        assert_eq!((option.mode.as_str(), option.fee), ("next-day", 800));
        assert_eq!(option.slot, None);

        let refused = violation(
            "licence-missing",
            Some("documents.licence"),
            "缺少营业执照",
            "No licence",
        );
        assert_eq!(refused.field.as_deref(), Some("documents.licence"));
        assert_eq!(refused.message.en, "No licence");
        assert_eq!(violation("x", None, "甲", "a").field, None);
    }
}
