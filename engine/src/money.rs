//! Money arithmetic shared by pricing, carts and picking: integer fen,
//! rounded once, never through floating point.

/// A line's subtotal: pieces × price, or grams × price per kilogram, rounded
/// to the nearest fen.
pub fn line_subtotal(quantity: u32, unit_price: i64, sold_by_weight: bool) -> i64 {
    let quantity = i128::from(quantity);
    let price = i128::from(unit_price);
    let total = if sold_by_weight {
        (quantity * price + 500) / 1000
    } else {
        quantity * price
    };
    total.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

#[cfg(test)]
mod tests {
    use super::line_subtotal;

    #[test]
    fn weight_lines_are_priced_per_kilogram_to_the_nearest_fen() {
        assert_eq!(line_subtotal(3, 1_250, false), 3_750);
        // 1.234 kg at ¥38.00/kg is ¥46.892 → ¥46.89.
        assert_eq!(line_subtotal(1_234, 3_800, true), 4_689);
        assert_eq!(line_subtotal(1, 499, true), 0);
        assert_eq!(line_subtotal(1, 500, true), 1);
        assert_eq!(line_subtotal(u32::MAX, i64::MAX, false), i64::MAX);
    }
}
