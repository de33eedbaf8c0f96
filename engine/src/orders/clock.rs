//! Market-local time for order-taking hours and delivery windows (ORD-2).
//!
//! Windows are `HH:MM` in the market's time zone. The markets this engine
//! serves keep one offset all year (China has no daylight saving), so a
//! zone is its fixed UTC offset; a zone not in the table is treated as
//! China Standard Time, which every market so far uses.

use crate::markets::TimeWindow;

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 86_400_000;

/// The zone's offset from UTC, in minutes.
pub fn offset_minutes(time_zone: &str) -> i64 {
    match time_zone {
        "UTC" | "Etc/UTC" | "GMT" => 0,
        "Asia/Urumqi" | "Asia/Kashgar" => 6 * 60,
        _ => 8 * 60,
    }
}

/// Minutes since local midnight of `HH:MM`; `24:00` is the end of the day.
fn minutes(hhmm: &str) -> Option<i64> {
    let (h, m) = hhmm.split_once(':')?;
    let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
    ((0..=24).contains(&h) && (0..60).contains(&m) && h * 60 + m <= 1440).then_some(h * 60 + m)
}

/// A market's clock: converts between instants and local days and minutes.
#[derive(Debug, Clone, Copy)]
pub struct MarketClock {
    offset_ms: i64,
}

impl MarketClock {
    pub fn new(time_zone: &str) -> Self {
        Self {
            offset_ms: offset_minutes(time_zone) * MINUTE_MS,
        }
    }

    /// The instant local midnight began on the day of `at`.
    pub fn midnight(&self, at: i64) -> i64 {
        (at + self.offset_ms).div_euclid(DAY_MS) * DAY_MS - self.offset_ms
    }

    /// Minutes since local midnight at `at`.
    fn minute_of_day(&self, at: i64) -> i64 {
        (at + self.offset_ms).rem_euclid(DAY_MS) / MINUTE_MS
    }

    /// Whether `at` falls inside one of `windows`. No windows means always.
    pub fn within(&self, windows: &[TimeWindow], at: i64) -> bool {
        if windows.is_empty() {
            return true;
        }
        let now = self.minute_of_day(at);
        windows
            .iter()
            .any(|w| match (minutes(&w.opens), minutes(&w.closes)) {
                (Some(o), Some(c)) if o <= c => (o..c).contains(&now),
                // A window past midnight, e.g. 22:00–02:00.
                (Some(o), Some(c)) => now >= o || now < c,
                _ => false,
            })
    }

    /// The windows of the local day starting at `midnight`, as instants, in order.
    pub fn windows_on(&self, windows: &[TimeWindow], midnight: i64) -> Vec<(i64, i64)> {
        let mut out: Vec<(i64, i64)> = windows
            .iter()
            .filter_map(|w| {
                let (o, c) = (minutes(&w.opens)?, minutes(&w.closes)?);
                let c = if c <= o { c + 1440 } else { c };
                Some((midnight + o * MINUTE_MS, midnight + c * MINUTE_MS))
            })
            .collect();
        out.sort_unstable();
        out
    }

    /// The first of `windows` that opens at or after `from` (today or on the
    /// following days); the whole next day when there are no windows.
    pub fn next_window(&self, windows: &[TimeWindow], from: i64) -> (i64, i64) {
        let today = self.midnight(from);
        for day in 0..8 {
            let midnight = today + day * DAY_MS;
            if let Some(w) = self
                .windows_on(windows, midnight)
                .into_iter()
                .find(|(start, _)| *start >= from)
            {
                return w;
            }
        }
        let tomorrow = today + DAY_MS;
        (tomorrow, tomorrow + DAY_MS)
    }

    /// The first delivery window of the day after `at`.
    pub fn next_day_window(&self, windows: &[TimeWindow], at: i64) -> (i64, i64) {
        self.next_window(windows, self.midnight(at) + DAY_MS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(opens: &str, closes: &str) -> TimeWindow {
        TimeWindow {
            opens: opens.into(),
            closes: closes.into(),
        }
    }

    // 2026-11-25T00:00:00Z, which is 08:00 in Shanghai.
    const T0: i64 = 1_795_564_800_000;

    #[test]
    fn windows_are_read_in_the_markets_zone() {
        let clock = MarketClock::new("Asia/Shanghai");
        let hours = [w("07:00", "20:00")];
        assert!(clock.within(&hours, T0), "08:00 local is open");
        assert!(
            !clock.within(&hours, T0 + 12 * 3_600_000),
            "20:00 local is closed"
        );
        assert!(
            clock.within(&[w("22:00", "02:00")], T0 + 17 * 3_600_000),
            "01:00 local"
        );
        assert!(clock.within(&[], T0), "no hours means always open");
        assert_eq!(clock.midnight(T0), T0 - 8 * 3_600_000);
    }

    #[test]
    fn the_next_window_may_be_tomorrow() {
        let clock = MarketClock::new("Asia/Shanghai");
        let windows = [w("09:00", "11:00"), w("16:00", "18:00")];
        let midnight = clock.midnight(T0);
        let hour = 3_600_000;
        assert_eq!(
            clock.next_window(&windows, T0),
            (midnight + 9 * hour, midnight + 11 * hour)
        );
        assert_eq!(
            clock.next_window(&windows, midnight + 17 * hour),
            (midnight + 33 * hour, midnight + 35 * hour)
        );
        assert_eq!(
            clock.next_day_window(&windows, T0),
            (midnight + 33 * hour, midnight + 35 * hour)
        );
    }
}
