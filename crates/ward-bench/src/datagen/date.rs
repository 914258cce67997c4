//! Calendar arithmetic for generated dates: days since 1970-01-01 ⇄ proleptic Gregorian
//! (Y, M, D), after Howard Hinnant's `days_from_civil` / `civil_from_days`.

/// The civil date of day `z` (days since 1970-01-01).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Days since 1970-01-01 of a civil date.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DD` of day `days`.
pub fn date(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// A FHIR `dateTime` in UTC: `YYYY-MM-DDThh:mm:ssZ`.
pub fn date_time(days: i64, second_of_day: i64) -> String {
    let s = second_of_day.rem_euclid(86_400);
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        date(days + second_of_day.div_euclid(86_400)),
        s / 3600,
        (s / 60) % 60,
        s % 60
    )
}

/// The year of day `days`.
pub fn year(days: i64) -> i64 {
    civil_from_days(days).0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_known_dates() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(days_from_civil(2000, 2, 29)), "2000-02-29");
        assert_eq!(
            days_from_civil(2024, 3, 1) - days_from_civil(2024, 2, 28),
            2
        );
        assert_eq!(date(-1), "1969-12-31");
        for d in (-40_000..40_000).step_by(97) {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
        assert_eq!(date_time(0, 3_661), "1970-01-01T01:01:01Z");
        assert_eq!(date_time(0, 86_400 + 60), "1970-01-02T00:01:00Z");
    }
}
