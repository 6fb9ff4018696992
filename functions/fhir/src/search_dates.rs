//! FHIR's date search (`birthdate`, `_lastUpdated`): a value with a prefix (`eq`, `ne`,
//! `lt`, `le`, `gt`, `ge`; none is `eq`) at the precision it is written, so `1990` is
//! the whole year and `1990-06-15T10:00Z` one minute. A value is the half-open range
//! `[start, end)` of its precision; a stored value `v` matches `eq` when it falls in it,
//! `lt` when `v < start`, `le` when `v < end`, `gt` when `v >= end`, `ge` when
//! `v >= start` (FHIR's "ranges intersect", for values that are points or days).
//! Repeated parameters are ANDed, so they fold into one range and the ranges `ne`
//! excludes.

use shared::query::Query;
use time::{Date, Duration, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// What every value of one parameter leaves: `[from, before)`, minus each of `not`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bounds<T> {
    pub from: Option<T>,
    pub before: Option<T>,
    pub not: Vec<(T, T)>,
}

impl<T> Default for Bounds<T> {
    fn default() -> Self {
        Self { from: None, before: None, not: Vec::new() }
    }
}

impl<T: Copy + Ord> Bounds<T> {
    pub fn is_open(&self) -> bool {
        self.from.is_none() && self.before.is_none() && self.not.is_empty()
    }

    fn from(&mut self, value: T) {
        self.from = Some(self.from.map_or(value, |f| f.max(value)));
    }

    fn before(&mut self, value: T) {
        self.before = Some(self.before.map_or(value, |b| b.min(value)));
    }

    /// `ne` excludes `[start, end)`: the pair, for the statement's `unnest`.
    pub fn not_columns(&self) -> (Vec<T>, Vec<T>) {
        self.not.iter().copied().unzip()
    }
}

/// A range end past the calendar (the year 9999's end) stays open.
fn add(prefix: &str, start: Date, end: Option<Date>, bounds: &mut Bounds<Date>) -> Result<(), String> {
    match (prefix, end) {
        ("eq", end) => {
            bounds.from(start);
            end.into_iter().for_each(|e| bounds.before(e));
        }
        ("ne", Some(end)) => bounds.not.push((start, end)),
        ("ne", None) => bounds.not.push((start, Date::MAX)),
        ("lt", _) => bounds.before(start),
        ("le", end) => end.into_iter().for_each(|e| bounds.before(e)),
        ("gt", Some(end)) => bounds.from(end),
        // Nothing lies after the calendar's end.
        ("gt", None) => bounds.before(Date::MIN),
        ("ge", _) => bounds.from(start),
        _ => return Err(PREFIXES.into()),
    }
    Ok(())
}

const PREFIXES: &str = "takes the prefixes eq, ne, lt, le, gt and ge only";

/// The prefix (two lowercase letters before a digit) and the rest.
fn split_prefix(raw: &str) -> (&str, &str) {
    match raw.as_bytes() {
        [a, b, c, ..] if a.is_ascii_lowercase() && b.is_ascii_lowercase() && c.is_ascii_digit() => raw.split_at(2),
        _ => ("eq", raw),
    }
}

/// `YYYY`, `YYYY-MM` or `YYYY-MM-DD` as the days it covers: `[start, end)`, `end` `None`
/// past the calendar.
fn date_range(text: &str) -> Option<(Date, Option<Date>)> {
    let parts: Vec<&str> = text.split('-').collect();
    let number = |s: &str, len: usize| {
        (s.len() == len && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse::<i32>().ok()).flatten()
    };
    let year = number(parts.first()?, 4)?;
    match parts[..] {
        [_] => Some((
            Date::from_calendar_date(year, Month::January, 1).ok()?,
            Date::from_calendar_date(year + 1, Month::January, 1).ok(),
        )),
        [_, m] => {
            let month = Month::try_from(u8::try_from(number(m, 2)?).ok()?).ok()?;
            let start = Date::from_calendar_date(year, month, 1).ok()?;
            let next = if month == Month::December {
                Date::from_calendar_date(year + 1, Month::January, 1).ok()
            } else {
                Date::from_calendar_date(year, month.next(), 1).ok()
            };
            Some((start, next))
        }
        [_, m, d] => {
            let month = Month::try_from(u8::try_from(number(m, 2)?).ok()?).ok()?;
            let start = Date::from_calendar_date(year, month, u8::try_from(number(d, 2)?).ok()?).ok()?;
            Some((start, start.next_day()))
        }
        _ => None,
    }
}

/// `birthdate`: days.
pub fn dates(query: &mut Query, name: &str) -> Bounds<Date> {
    let mut bounds = Bounds::default();
    for raw in query.take_all(name) {
        let (prefix, text) = split_prefix(&raw);
        let added = match date_range(text) {
            Some((start, end)) => add(prefix, start, end, &mut bounds),
            None => Err("is not a date".into()),
        };
        if let Err(problem) = added {
            query.reject(
                name,
                format!("{problem}: YYYY, YYYY-MM or YYYY-MM-DD, after an optional prefix (eq, ne, lt, le, gt, ge)"),
            );
        }
    }
    bounds
}

/// `_lastUpdated`: instants. A date is its UTC days; a time needs its zone (`Z` or
/// `±hh:mm`) and is as precise as written (minutes, seconds, or a fraction).
pub fn instants(query: &mut Query, name: &str) -> Bounds<OffsetDateTime> {
    let mut bounds = Bounds::default();
    for raw in query.take_all(name) {
        let (prefix, text) = split_prefix(&raw);
        let range = match text.split_once('T') {
            None => date_range(text).map(|(s, e)| (midnight(s), e.map(midnight).unwrap_or(far_future()))),
            Some((day, time)) => instant_range(day, time),
        };
        let problem = match range {
            None => Some("is not a date or a date and time with its zone".to_owned()),
            Some((start, end)) => fold_instant(prefix, start, end, &mut bounds).err(),
        };
        if let Some(problem) = problem {
            query.reject(name, format!("{problem}: YYYY[-MM[-DD]] or YYYY-MM-DDThh:mm[:ss[.fff]](Z|±hh:mm), after an optional prefix (eq, ne, lt, le, gt, ge)"));
        }
    }
    bounds
}

fn midnight(date: Date) -> OffsetDateTime {
    date.midnight().assume_utc()
}

fn far_future() -> OffsetDateTime {
    Date::MAX.midnight().assume_utc()
}

fn fold_instant(
    prefix: &str,
    start: OffsetDateTime,
    end: OffsetDateTime,
    bounds: &mut Bounds<OffsetDateTime>,
) -> Result<(), String> {
    match prefix {
        "eq" => {
            bounds.from(start);
            bounds.before(end);
        }
        "ne" => bounds.not.push((start, end)),
        "lt" => bounds.before(start),
        "le" => bounds.before(end),
        "gt" => bounds.from(end),
        "ge" => bounds.from(start),
        _ => return Err(PREFIXES.into()),
    }
    Ok(())
}

/// `hh:mm[:ss[.f…]]` and a zone, on `day`, as the span its precision covers.
fn instant_range(day: &str, time: &str) -> Option<(OffsetDateTime, OffsetDateTime)> {
    // A time is on a whole date, `YYYY-MM-DD`.
    let (date, _) = date_range(day).filter(|_| day.len() == 10)?;
    let (clock, offset) = split_zone(time)?;
    let pieces: Vec<&str> = clock.split(':').collect();
    let two = |s: &str| (s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse::<u8>().ok()).flatten();
    let (hour, minute) = (two(pieces.first()?)?, two(pieces.get(1)?)?);
    let (second, nanos, span) = match pieces.get(2) {
        None if pieces.len() == 2 => (0, 0, Duration::minutes(1)),
        Some(sec) if pieces.len() == 3 => match sec.split_once('.') {
            None => (two(sec)?, 0, Duration::seconds(1)),
            Some((whole, fraction))
                if (1..=9).contains(&fraction.len()) && fraction.bytes().all(|b| b.is_ascii_digit()) =>
            {
                let digits = fraction.len() as u32;
                let nanos = fraction.parse::<u32>().ok()? * 10u32.pow(9 - digits);
                (two(whole)?, nanos, Duration::nanoseconds(10i64.pow(9 - digits)))
            }
            _ => return None,
        },
        _ => return None,
    };
    let start =
        PrimitiveDateTime::new(date, Time::from_hms_nano(hour, minute, second, nanos).ok()?).assume_offset(offset);
    Some((start, start + span))
}

fn split_zone(time: &str) -> Option<(&str, UtcOffset)> {
    if let Some(clock) = time.strip_suffix('Z') {
        return Some((clock, UtcOffset::UTC));
    }
    let at = time.rfind(['+', '-'])?;
    let (clock, zone) = time.split_at(at);
    let (sign, hm) = zone.split_at(1);
    let (h, m) = hm.split_once(':')?;
    let (h, m) = (h.parse::<i8>().ok()?, m.parse::<i8>().ok()?);
    if h.to_string().len() > 2 || hm.len() != 5 {
        return None;
    }
    let sign = if sign == "-" { -1 } else { 1 };
    Some((clock, UtcOffset::from_hms(sign * h, sign * m, 0).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    fn days(q: &str) -> Result<Bounds<Date>, ()> {
        let mut query = Query::parse(q);
        let bounds = dates(&mut query, "birthdate");
        query.finish().map(|_| bounds).map_err(drop)
    }

    fn times(q: &str) -> Result<Bounds<OffsetDateTime>, ()> {
        let mut query = Query::parse(q);
        let bounds = instants(&mut query, "_lastUpdated");
        query.finish().map(|_| bounds).map_err(drop)
    }

    #[test]
    fn dates_cover_their_precision_and_prefixes_fold() {
        let year = days("birthdate=1990").unwrap();
        assert_eq!((year.from, year.before), (Some(date!(1990 - 01 - 01)), Some(date!(1991 - 01 - 01))));
        let dec = days("birthdate=eq1990-12").unwrap();
        assert_eq!((dec.from, dec.before), (Some(date!(1990 - 12 - 01)), Some(date!(1991 - 01 - 01))));
        let span = days("birthdate=ge1980-01-01&birthdate=lt1990-06-15&birthdate=le1995").unwrap();
        assert_eq!((span.from, span.before), (Some(date!(1980 - 01 - 01)), Some(date!(1990 - 06 - 15))));
        let after = days("birthdate=gt1990-02").unwrap();
        assert_eq!(after.from, Some(date!(1990 - 03 - 01)));
        let not = days("birthdate=ne1990-02-28").unwrap();
        assert_eq!(not.not, vec![(date!(1990 - 02 - 28), date!(1990 - 03 - 01))]);
        for bad in ["1990-2-01", "sa1990", "1990-02-30", "19900", "1990-01-01T10:00Z", "", "eq"] {
            assert!(days(&format!("birthdate={bad}")).is_err(), "{bad}");
        }
    }

    #[test]
    fn instants_need_a_zone_and_cover_their_precision() {
        let minute = times("_lastUpdated=2026-12-01T10:30Z").unwrap();
        assert_eq!(
            (minute.from, minute.before),
            (Some(datetime!(2026-12-01 10:30 UTC)), Some(datetime!(2026-12-01 10:31 UTC)))
        );
        let millis = times("_lastUpdated=gt2026-12-01T10:30:05.250%2B01:00").unwrap();
        assert_eq!(minute.from.unwrap().offset(), UtcOffset::UTC);
        assert_eq!(millis.from, Some(datetime!(2026-12-01 10:30:05.251 +01:00)));
        let day = times("_lastUpdated=lt2026-12-01").unwrap();
        assert_eq!(day.before, Some(datetime!(2026-12-01 00:00 UTC)));
        for bad in ["2026-12-01T10:30", "2026-12-01T10Z", "2026-12-01T25:00Z", "2026-12-01T10:30:05.Z", "ap2026"] {
            assert!(times(&format!("_lastUpdated={bad}")).is_err(), "{bad}");
        }
    }
}
