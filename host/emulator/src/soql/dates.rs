//! SOQL date literals (`TODAY`, `LAST_N_DAYS:30`, `THIS_QUARTER`, …) as
//! ranges of days. The emulated org's time zone is UTC, its weeks start on
//! Sunday (the en_US locale) and its fiscal year is the calendar year.

use chrono::{Datelike, Duration, NaiveDate};

/// Literals without a number.
const PLAIN: &[&str] = &[
    "YESTERDAY",
    "TODAY",
    "TOMORROW",
    "LAST_WEEK",
    "THIS_WEEK",
    "NEXT_WEEK",
    "LAST_MONTH",
    "THIS_MONTH",
    "NEXT_MONTH",
    "LAST_90_DAYS",
    "NEXT_90_DAYS",
    "THIS_QUARTER",
    "LAST_QUARTER",
    "NEXT_QUARTER",
    "THIS_YEAR",
    "LAST_YEAR",
    "NEXT_YEAR",
    "THIS_FISCAL_QUARTER",
    "LAST_FISCAL_QUARTER",
    "NEXT_FISCAL_QUARTER",
    "THIS_FISCAL_YEAR",
    "LAST_FISCAL_YEAR",
    "NEXT_FISCAL_YEAR",
];

/// Literals written `NAME:n`.
const WITH_N: &[&str] = &[
    "LAST_N_DAYS",
    "NEXT_N_DAYS",
    "N_DAYS_AGO",
    "LAST_N_WEEKS",
    "NEXT_N_WEEKS",
    "N_WEEKS_AGO",
    "LAST_N_MONTHS",
    "NEXT_N_MONTHS",
    "N_MONTHS_AGO",
    "LAST_N_QUARTERS",
    "NEXT_N_QUARTERS",
    "N_QUARTERS_AGO",
    "LAST_N_YEARS",
    "NEXT_N_YEARS",
    "N_YEARS_AGO",
    "LAST_N_FISCAL_QUARTERS",
    "NEXT_N_FISCAL_QUARTERS",
    "N_FISCAL_QUARTERS_AGO",
    "LAST_N_FISCAL_YEARS",
    "NEXT_N_FISCAL_YEARS",
    "N_FISCAL_YEARS_AGO",
];

/// Whether an upper-cased word is a date literal.
pub fn is_date_literal(upper: &str) -> bool {
    PLAIN.contains(&upper) || WITH_N.contains(&upper)
}

/// Whether the literal needs `:n`.
pub fn takes_n(upper: &str) -> bool {
    WITH_N.contains(&upper)
}

/// The days a literal covers, `[start, end)`, relative to `today`; `None`
/// for an unknown literal or a range outside the calendar.
pub fn range(name: &str, n: Option<i64>, today: NaiveDate) -> Option<(NaiveDate, NaiveDate)> {
    let name = name.replace("FISCAL_", "");
    let n = n.unwrap_or(0);
    if n < 0 {
        return None;
    }
    let day = |k: i64| today.checked_add_signed(Duration::try_days(k)?);
    let week_start = today.checked_sub_signed(Duration::days(i64::from(today.weekday().num_days_from_sunday())))?;
    let week = |k: i64| week_start.checked_add_signed(Duration::try_days(k.checked_mul(7)?)?);
    let month_index = i64::from(today.year()) * 12 + i64::from(today.month0());
    let month = |k: i64| month_start(month_index.checked_add(k)?);
    let quarter = |k: i64| month_start((month_index - month_index % 3).checked_add(k.checked_mul(3)?)?);
    let year = |k: i64| NaiveDate::from_ymd_opt(i32::try_from(i64::from(today.year()).checked_add(k)?).ok()?, 1, 1);
    Some(match name.as_str() {
        "YESTERDAY" => (day(-1)?, today),
        "TODAY" => (today, day(1)?),
        "TOMORROW" => (day(1)?, day(2)?),
        "LAST_WEEK" => (week(-1)?, week(0)?),
        "THIS_WEEK" => (week(0)?, week(1)?),
        "NEXT_WEEK" => (week(1)?, week(2)?),
        "LAST_MONTH" => (month(-1)?, month(0)?),
        "THIS_MONTH" => (month(0)?, month(1)?),
        "NEXT_MONTH" => (month(1)?, month(2)?),
        "LAST_90_DAYS" => (day(-90)?, day(1)?),
        "NEXT_90_DAYS" => (day(1)?, day(91)?),
        "THIS_QUARTER" => (quarter(0)?, quarter(1)?),
        "LAST_QUARTER" => (quarter(-1)?, quarter(0)?),
        "NEXT_QUARTER" => (quarter(1)?, quarter(2)?),
        "THIS_YEAR" => (year(0)?, year(1)?),
        "LAST_YEAR" => (year(-1)?, year(0)?),
        "NEXT_YEAR" => (year(1)?, year(2)?),
        // "Starts with the current day and continues for the past n days":
        // today is included, so LAST_N_DAYS:1 is yesterday and today.
        "LAST_N_DAYS" => (day(-n)?, day(1)?),
        // Starts tomorrow and continues for n days.
        "NEXT_N_DAYS" => (day(1)?, day(n.checked_add(1)?)?),
        "N_DAYS_AGO" => (day(-n)?, day(1 - n)?),
        "LAST_N_WEEKS" => (week(-n)?, week(0)?),
        "NEXT_N_WEEKS" => (week(1)?, week(n.checked_add(1)?)?),
        "N_WEEKS_AGO" => (week(-n)?, week(1 - n)?),
        "LAST_N_MONTHS" => (month(-n)?, month(0)?),
        "NEXT_N_MONTHS" => (month(1)?, month(n.checked_add(1)?)?),
        "N_MONTHS_AGO" => (month(-n)?, month(1 - n)?),
        "LAST_N_QUARTERS" => (quarter(-n)?, quarter(0)?),
        "NEXT_N_QUARTERS" => (quarter(1)?, quarter(n.checked_add(1)?)?),
        "N_QUARTERS_AGO" => (quarter(-n)?, quarter(1 - n)?),
        "LAST_N_YEARS" => (year(-n)?, year(0)?),
        "NEXT_N_YEARS" => (year(1)?, year(n.checked_add(1)?)?),
        "N_YEARS_AGO" => (year(-n)?, year(1 - n)?),
        _ => return None,
    })
}

/// The first day of the month `index` months after January of year 0.
fn month_start(index: i64) -> Option<NaiveDate> {
    let year = i32::try_from(index.div_euclid(12)).ok()?;
    NaiveDate::from_ymd_opt(year, u32::try_from(index.rem_euclid(12)).ok()? + 1, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_match_the_documented_definitions() {
        // Wednesday 2024-05-15.
        let today = d("2024-05-15");
        let r = |name: &str, n: Option<i64>| range(name, n, today).unwrap();
        assert_eq!(r("TODAY", None), (d("2024-05-15"), d("2024-05-16")));
        assert_eq!(r("YESTERDAY", None), (d("2024-05-14"), d("2024-05-15")));
        assert_eq!(r("LAST_N_DAYS", Some(1)), (d("2024-05-14"), d("2024-05-16")));
        assert_eq!(r("NEXT_N_DAYS", Some(2)), (d("2024-05-16"), d("2024-05-18")));
        assert_eq!(r("THIS_WEEK", None), (d("2024-05-12"), d("2024-05-19")));
        assert_eq!(r("LAST_MONTH", None), (d("2024-04-01"), d("2024-05-01")));
        assert_eq!(r("THIS_QUARTER", None), (d("2024-04-01"), d("2024-07-01")));
        assert_eq!(r("LAST_FISCAL_YEAR", None), (d("2023-01-01"), d("2024-01-01")));
        assert_eq!(r("N_DAYS_AGO", Some(3)), (d("2024-05-12"), d("2024-05-13")));
        assert_eq!(r("LAST_N_MONTHS", Some(13)), (d("2023-04-01"), d("2024-05-01")));
        let jan = d("2024-01-10");
        assert_eq!(range("LAST_MONTH", None, jan), Some((d("2023-12-01"), d("2024-01-01"))));
    }

    #[test]
    fn absurd_numbers_give_none_instead_of_panicking() {
        let today = d("2024-05-15");
        for name in WITH_N {
            assert_eq!(range(name, Some(i64::MAX), today), None, "{name}");
            assert_eq!(range(name, Some(-1), today), None, "{name}");
        }
    }
}
