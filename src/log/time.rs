//! UTC calendar formatting for log lines, syslog headers and `--stats`
//! (no time-zone database: everything is UTC and says so).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Broken-down UTC time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utc {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub millis: u32,
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

impl Utc {
    /// Convert a duration since the Unix epoch.
    pub fn from_unix(since_epoch: Duration) -> Utc {
        let secs = since_epoch.as_secs();
        let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
        let (year, month, day) = civil_from_days(days);
        Utc {
            year,
            month,
            day,
            hour: (rem / 3600) as u32,
            minute: (rem / 60 % 60) as u32,
            second: (rem % 60) as u32,
            millis: since_epoch.subsec_millis(),
        }
    }

    /// Convert a wall-clock time (times before 1970 clamp to the epoch).
    pub fn from_system(t: SystemTime) -> Utc {
        Utc::from_unix(t.duration_since(UNIX_EPOCH).unwrap_or_default())
    }

    /// `2025-03-01T12:00:05.123Z`.
    pub fn rfc3339(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second, self.millis
        )
    }

    /// `Mar  1 12:00:05` (RFC 3164 §4.1.2 TIMESTAMP).
    pub fn rfc3164(&self) -> String {
        let mon = MONTHS[(self.month.clamp(1, 12) - 1) as usize];
        format!(
            "{mon} {:>2} {:02}:{:02}:{:02}",
            self.day, self.hour, self.minute, self.second
        )
    }

    /// `2025-03-01 12:00:05 UTC` (used for `--stats` and certificates).
    pub fn human(&self) -> String {
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (H. Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        let t = Utc::from_unix(Duration::from_millis(0));
        assert_eq!(t.rfc3339(), "1970-01-01T00:00:00.000Z");
        // 2024-02-29T23:59:58.5Z, a leap day.
        let t = Utc::from_unix(Duration::from_millis(1_709_251_198_500));
        assert_eq!(t.rfc3339(), "2024-02-29T23:59:58.500Z");
        assert_eq!(t.rfc3164(), "Feb 29 23:59:58");
        assert_eq!(t.human(), "2024-02-29 23:59:58 UTC");
        let t = Utc::from_unix(Duration::from_secs(1_735_779_845));
        assert_eq!(t.rfc3164(), "Jan  2 01:04:05");
    }
}
