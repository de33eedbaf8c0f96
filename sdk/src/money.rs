//! Money in fen (1/100 yuan), the only unit the contract knows.
//!
//! Amounts are whole fen in an `i64`; negative amounts are discounts. There is
//! no floating point anywhere: a price computed in `f64` drifts by a fen now
//! and then, and a customer notices.

/// An amount of money in fen. Negative: a discount.
pub type Fen = crate::types::Fen;

/// `yuan` whole yuan in fen, saturating at the ends of `i64`.
///
/// ```
/// assert_eq!(shiji_sdk::yuan(12), 1200);
/// ```
pub const fn yuan(yuan: i64) -> Fen {
    yuan.saturating_mul(100)
}

/// `percent` % of `amount`, rounded toward zero (so a discount computed from
/// a positive subtotal is rounded down: the customer never gets more off than
/// the percentage says).
///
/// The product is computed in `i128`, so no amount or percentage overflows;
/// a result beyond `i64` (only possible for percentages over 100) saturates.
///
/// ```
/// use shiji_sdk::percent_of;
/// assert_eq!(percent_of(999, 10), 99);
/// assert_eq!(percent_of(-999, 10), -99);
/// ```
pub fn percent_of(amount: Fen, percent: i64) -> Fen {
    // Real prices take the first branch: 128-bit division is a library call
    // in WebAssembly, ten times the fuel of a 64-bit one.
    if let Some(product) = amount.checked_mul(percent) {
        return product / 100;
    }
    let exact = i128::from(amount) * i128::from(percent) / 100;
    i64::try_from(exact).unwrap_or(if exact < 0 { i64::MIN } else { i64::MAX })
}

/// The amount as a customer reads it: `¥12.34`, `-¥0.05`.
///
/// ```
/// assert_eq!(shiji_sdk::format_yuan(1234), "¥12.34");
/// ```
pub fn format_yuan(amount: Fen) -> String {
    let sign = if amount < 0 { "-" } else { "" };
    let magnitude = amount.unsigned_abs();
    format!("{sign}¥{}.{:02}", magnitude / 100, magnitude % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_is_a_hundred_fen() {
        assert_eq!(yuan(0), 0);
        assert_eq!(yuan(12), 1200);
        assert_eq!(yuan(-3), -300);
        assert_eq!(yuan(i64::MAX), i64::MAX);
        assert_eq!(yuan(i64::MIN), i64::MIN);
    }

    #[test]
    fn percent_of_rounds_toward_zero() {
        assert_eq!(percent_of(999, 10), 99);
        assert_eq!(percent_of(1000, 10), 100);
        assert_eq!(percent_of(5, 10), 0);
        assert_eq!(percent_of(999, 0), 0);
        assert_eq!(percent_of(999, 100), 999);
        assert_eq!(percent_of(999, 15), 149);
        // Negative amounts and percentages round toward zero too.
        assert_eq!(percent_of(-999, 10), -99);
        assert_eq!(percent_of(999, -10), -99);
        assert_eq!(percent_of(-5, 10), 0);
    }

    #[test]
    fn percent_of_huge_values_does_not_overflow() {
        // i64::MAX * 90 overflows i64; the result fits again after / 100.
        assert_eq!(percent_of(i64::MAX, 90), 8_301_034_833_169_298_226);
        assert_eq!(percent_of(i64::MIN, 90), -8_301_034_833_169_298_227);
        assert_eq!(percent_of(i64::MAX, 100), i64::MAX);
        assert_eq!(percent_of(i64::MIN, 100), i64::MIN);
        // Past i64: saturates.
        assert_eq!(percent_of(i64::MAX, 200), i64::MAX);
        assert_eq!(percent_of(i64::MAX, i64::MAX), i64::MAX);
        assert_eq!(percent_of(i64::MIN, i64::MAX), i64::MIN);
        assert_eq!(percent_of(i64::MIN, i64::MIN), i64::MAX);
    }

    #[test]
    fn format_yuan_reads_as_a_price() {
        assert_eq!(format_yuan(0), "¥0.00");
        assert_eq!(format_yuan(5), "¥0.05");
        assert_eq!(format_yuan(1234), "¥12.34");
        assert_eq!(format_yuan(120_000), "¥1200.00");
        assert_eq!(format_yuan(-5), "-¥0.05");
        assert_eq!(format_yuan(-1234), "-¥12.34");
        assert_eq!(format_yuan(i64::MAX), "¥92233720368547758.07");
        assert_eq!(format_yuan(i64::MIN), "-¥92233720368547758.08");
    }
}
