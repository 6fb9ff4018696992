//! Field validation for JSON bodies. A handler opens a `Form` over the body naming the
//! fields it accepts, takes each field through a parser, and calls `finish`, which
//! answers with every problem at once:
//! - any field unknown, read-only, mistyped or failing a rule: 400 `invalid`, listing
//!   all faults (missing required fields included, so one round of fixes suffices);
//! - otherwise, any required field absent or null: 400 `missing`, listing them.
//!
//! Nothing is silently dropped: a field the handler did not declare is an error.

use std::ops::RangeInclusive;

use serde_json::{Map, Value};

use crate::ApiError;
use crate::body::JsonObject;
use crate::error::FieldError;

pub struct Form {
    map: Map<String, Value>,
    missing: Vec<FieldError>,
    invalid: Vec<FieldError>,
}

/// An optional field in a partial update: left alone, cleared with `null`, or set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Patch<T> {
    #[default]
    Absent,
    Clear,
    Set(T),
}

impl<T> Patch<T> {
    /// For a create, where clearing and omitting mean the same.
    pub fn into_option(self) -> Option<T> {
        match self {
            Patch::Set(v) => Some(v),
            Patch::Absent | Patch::Clear => None,
        }
    }
    /// The field was in the body (set or cleared).
    pub fn is_sent(&self) -> bool {
        !matches!(self, Patch::Absent)
    }
    /// As SQL parameters: whether the field was sent, and its new value (NULL to clear).
    pub fn into_params(self) -> (bool, Option<T>) {
        match self {
            Patch::Absent => (false, None),
            Patch::Clear => (true, None),
            Patch::Set(v) => (true, Some(v)),
        }
    }
}

impl Patch<String> {
    /// An empty string clears an optional text field rather than storing "".
    pub fn empty_clears(self) -> Self {
        match self {
            Patch::Set(s) if s.is_empty() => Patch::Clear,
            other => other,
        }
    }
}

pub type Parser<T> = Box<dyn FnOnce(Value) -> Result<T, String>>;

impl Form {
    /// `writable` are the fields this request may set; `read_only` are fields of the
    /// resource a client might echo back, refused with a clearer message.
    pub fn new(JsonObject(map): JsonObject, writable: &[&str], read_only: &[&str]) -> Self {
        let mut invalid = Vec::new();
        for key in map.keys() {
            if read_only.contains(&key.as_str()) {
                invalid.push(FieldError::new(key, "is read-only and cannot be set"));
            } else if !writable.contains(&key.as_str()) {
                invalid.push(FieldError::new(key, "is not a known field"));
            }
        }
        Self { map, missing: Vec::new(), invalid }
    }

    /// True when the body set none of the writable fields (a partial update needs one).
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// A field that must be present and non-null.
    pub fn required<T>(&mut self, field: &str, parse: Parser<T>) -> Option<T> {
        match self.map.remove(field) {
            None | Some(Value::Null) => {
                self.missing.push(FieldError::new(field, "is required"));
                None
            }
            Some(value) => self.check(field, parse(value)),
        }
    }

    /// A field that may be absent or null.
    pub fn optional<T>(&mut self, field: &str, parse: Parser<T>) -> Patch<T> {
        match self.map.remove(field) {
            None => Patch::Absent,
            Some(Value::Null) => Patch::Clear,
            Some(value) => self.check(field, parse(value)).map_or(Patch::Absent, Patch::Set),
        }
    }

    /// In a partial update, a field the record cannot be without: absent leaves it
    /// alone, `null` is refused.
    pub fn replacement<T>(&mut self, field: &str, parse: Parser<T>) -> Option<T> {
        match self.map.remove(field) {
            None => None,
            Some(Value::Null) => {
                self.invalid.push(FieldError::new(field, "cannot be null"));
                None
            }
            Some(value) => self.check(field, parse(value)),
        }
    }

    fn check<T>(&mut self, field: &str, result: Result<T, String>) -> Option<T> {
        result.map_err(|message| self.invalid.push(FieldError::new(field, message))).ok()
    }

    pub fn finish(self) -> Result<(), ApiError> {
        if !self.invalid.is_empty() {
            let mut errors = self.invalid;
            errors.extend(self.missing);
            return Err(ApiError::Invalid { message: "Some fields are invalid.".into(), errors });
        }
        if !self.missing.is_empty() {
            return Err(ApiError::Missing(self.missing));
        }
        Ok(())
    }

    /// `finish`, then the required fields' values: once `finish` passed, each of them
    /// is present, so a handler need not unwrap them one by one.
    pub fn finish_with<R: Required>(self, required: R) -> Result<R::Values, ApiError> {
        self.finish()?;
        required.values().ok_or_else(|| ApiError::internal("a required field passed validation but has no value"))
    }
}

/// The results of `Form::required` calls, one or a tuple of them.
pub trait Required {
    type Values;
    fn values(self) -> Option<Self::Values>;
}

impl<A> Required for Option<A> {
    type Values = A;
    fn values(self) -> Option<A> {
        self
    }
}

impl<A, B> Required for (Option<A>, Option<B>) {
    type Values = (A, B);
    fn values(self) -> Option<(A, B)> {
        Some((self.0?, self.1?))
    }
}

impl<A, B, C> Required for (Option<A>, Option<B>, Option<C>) {
    type Values = (A, B, C);
    fn values(self) -> Option<(A, B, C)> {
        Some((self.0?, self.1?, self.2?))
    }
}

/// Whether a text field may span lines.
#[derive(Clone, Copy)]
pub enum Lines {
    /// Names, emails, codes: no control characters at all.
    Single,
    /// Addresses and notes: newlines and tabs allowed, other control characters not.
    Multi,
}

/// Text, trimmed, whose length in characters lies in `len`.
pub fn text(len: RangeInclusive<usize>, lines: Lines) -> Parser<String> {
    Box::new(move |value| {
        let raw = as_str(value)?;
        let trimmed = raw.trim();
        let allowed = |c: char| match lines {
            Lines::Single => !c.is_control(),
            Lines::Multi => !c.is_control() || matches!(c, '\n' | '\r' | '\t'),
        };
        if !trimmed.chars().all(allowed) {
            return Err("must not contain control characters".into());
        }
        let n = trimmed.chars().count();
        if !len.contains(&n) {
            return Err(length_message(&len));
        }
        Ok(trimmed.to_owned())
    })
}

/// An email address, trimmed and lower-cased; at most 254 characters.
pub fn email() -> Parser<String> {
    Box::new(|value| {
        let address = as_str(value)?.trim().to_lowercase();
        if address.chars().count() > 254 || !is_email(&address) {
            return Err("must be a valid email address".into());
        }
        Ok(address)
    })
}

/// A new password: 8 to 128 characters, taken exactly as sent.
pub fn new_password() -> Parser<String> {
    Box::new(|value| {
        let password = as_str(value)?;
        let n = password.chars().count();
        if !(8..=128).contains(&n) {
            return Err("must be between 8 and 128 characters".into());
        }
        Ok(password)
    })
}

/// Any string, as sent, up to `max` bytes (credentials checked elsewhere).
pub fn any_string(max: usize) -> Parser<String> {
    Box::new(move |value| {
        let s = as_str(value)?;
        if s.is_empty() || s.len() > max {
            return Err(format!("must be between 1 and {max} bytes"));
        }
        Ok(s)
    })
}

/// One of a fixed set of lower-case words.
pub fn one_of(allowed: &'static [&'static str]) -> Parser<String> {
    Box::new(move |value| {
        let s = as_str(value)?;
        if allowed.contains(&s.as_str()) { Ok(s) } else { Err(format!("must be one of: {}", allowed.join(", "))) }
    })
}

/// A phone number: 7 to 20 characters of digits, spaces and `+ - ( )`, with at least
/// five digits (so "(((((((" is not a phone number).
pub fn phone() -> Parser<String> {
    Box::new(|value| {
        let phone = as_str(value)?.trim().to_owned();
        let n = phone.chars().count();
        let allowed = phone.chars().all(|c| c.is_ascii_digit() || " +-()".contains(c));
        let digits = phone.chars().filter(char::is_ascii_digit).count();
        if !(7..=20).contains(&n) || !allowed || digits < 5 {
            return Err("must be 7 to 20 characters of digits, spaces and + - ( ), with at least 5 digits".into());
        }
        Ok(phone)
    })
}

/// A date of birth, `YYYY-MM-DD`: a real calendar date from 1900-01-01 to today (UTC).
pub fn date_of_birth() -> Parser<time::Date> {
    Box::new(|value| {
        let raw = as_str(value)?;
        let format = time::macros::format_description!("[year]-[month]-[day]");
        let date = time::Date::parse(&raw, format).map_err(|_| "must be a date written YYYY-MM-DD".to_string())?;
        if date < time::macros::date!(1900 - 01 - 01) {
            return Err("must not be before 1900-01-01".into());
        }
        if date > time::OffsetDateTime::now_utc().date() {
            return Err("must not be in the future".into());
        }
        Ok(date)
    })
}

/// `true` or `false`.
pub fn boolean() -> Parser<bool> {
    Box::new(|value| match value {
        Value::Bool(b) => Ok(b),
        other => Err(format!("must be true or false, not {}", json_kind(&other))),
    })
}

/// A whole number in `range`.
pub fn integer(range: RangeInclusive<i64>) -> Parser<i64> {
    Box::new(move |value| match value.as_i64() {
        Some(n) if range.contains(&n) => Ok(n),
        _ => Err(format!("must be a whole number from {} to {}", range.start(), range.end())),
    })
}

/// A UUID, as in the other records' `id`s.
pub fn uuid() -> Parser<uuid::Uuid> {
    Box::new(|value| as_str(value)?.parse().map_err(|_| "must be a UUID".into()))
}

fn as_str(value: Value) -> Result<String, String> {
    match value {
        Value::String(s) => Ok(s),
        other => Err(format!("must be a string, not {}", json_kind(&other))),
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn length_message(len: &RangeInclusive<usize>) -> String {
    if *len.start() == 0 {
        format!("must be at most {} characters", len.end())
    } else {
        format!("must be between {} and {} characters", len.start(), len.end())
    }
}

/// The practical subset of RFC 5321 addresses that mail actually reaches: a dot-atom
/// local part of at most 64 characters and a DNS domain with at least two labels and an
/// alphabetic top-level label. Quoted local parts and IP-literal domains are refused.
fn is_email(address: &str) -> bool {
    let Some((local, domain)) = address.split_once('@') else { return false };
    let local_ok = (1..=64).contains(&local.len())
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local.chars().all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = domain.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            (1..=63).contains(&l.len())
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        && labels.last().is_some_and(|tld| tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic()));
    local_ok && domain_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn form(body: Value, writable: &[&str], read_only: &[&str]) -> Form {
        let Value::Object(map) = body else { panic!("test body must be an object") };
        Form::new(JsonObject(map), writable, read_only)
    }

    fn errors(result: Result<(), ApiError>) -> (&'static str, Vec<(String, String)>) {
        match result {
            Err(ApiError::Missing(e)) => ("missing", e.into_iter().map(|e| (e.field, e.message)).collect()),
            Err(ApiError::Invalid { errors, .. }) => {
                ("invalid", errors.into_iter().map(|e| (e.field, e.message)).collect())
            }
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn emails() {
        for good in ["a@b.co", "first.last+tag@sub.example.org", "x_y@a-b.io"] {
            assert!(is_email(good), "{good}");
        }
        for bad in [
            "",
            "a",
            "a@",
            "@b.co",
            "a@b",
            "a@@b.co",
            "a b@c.de",
            ".a@b.co",
            "a..b@c.de",
            "a@-b.co",
            "a@b.c0",
            "a@b..co",
        ] {
            assert!(!is_email(bad), "{bad}");
        }
    }

    #[test]
    fn unknown_and_read_only_fields_are_named() {
        let mut f = form(json!({"name": "A", "id": "x", "colour": "red"}), &["name"], &["id"]);
        assert_eq!(f.required("name", text(1..=100, Lines::Single)), Some("A".into()));
        let (kind, errs) = errors(f.finish());
        assert_eq!(kind, "invalid");
        assert!(errs.contains(&("id".into(), "is read-only and cannot be set".into())));
        assert!(errs.contains(&("colour".into(), "is not a known field".into())));
    }

    #[test]
    fn only_missing_fields_give_missing_listing_each() {
        let mut f = form(json!({"name": null}), &["name", "email"], &[]);
        assert!(f.required("name", text(1..=100, Lines::Single)).is_none());
        assert!(f.required("email", email()).is_none());
        let (kind, errs) = errors(f.finish());
        assert_eq!(kind, "missing");
        assert_eq!(errs.len(), 2);
    }

    #[test]
    fn invalid_wins_over_missing_and_lists_both() {
        let mut f = form(json!({"name": 5}), &["name", "email"], &[]);
        f.required("name", text(1..=100, Lines::Single));
        f.required("email", email());
        let (kind, errs) = errors(f.finish());
        assert_eq!(kind, "invalid");
        assert_eq!(errs[0], ("name".into(), "must be a string, not a number".into()));
        assert_eq!(errs[1], ("email".into(), "is required".into()));
    }

    #[test]
    fn text_is_trimmed_and_bounded_in_characters() {
        let parse = |v: Value| text(1..=3, Lines::Single)(v);
        assert_eq!(parse(json!("  ab ")), Ok("ab".into()));
        assert_eq!(parse(json!("äöü")), Ok("äöü".into()));
        assert!(parse(json!("   ")).is_err());
        assert!(parse(json!("abcd")).is_err());
        assert!(parse(json!("a\u{0}b")).is_err());
        assert!(parse(json!("a\nb")).is_err());
        assert_eq!(text(0..=10, Lines::Multi)(json!("a\nb")), Ok("a\nb".into()));
    }

    #[test]
    fn patch_distinguishes_absent_null_and_set() {
        let mut f = form(json!({"a": null, "b": "x"}), &["a", "b", "c"], &[]);
        assert_eq!(f.optional("a", text(0..=5, Lines::Single)), Patch::Clear);
        assert_eq!(f.optional("b", text(0..=5, Lines::Single)), Patch::Set("x".into()));
        assert_eq!(f.optional("c", text(0..=5, Lines::Single)), Patch::Absent);
        f.finish().unwrap();
    }

    #[test]
    fn replacement_refuses_null() {
        let mut f = form(json!({"name": null}), &["name"], &[]);
        assert_eq!(f.replacement("name", text(1..=5, Lines::Single)), None);
        assert_eq!(errors(f.finish()).1, vec![("name".into(), "cannot be null".into())]);
    }

    #[test]
    fn phones() {
        for good in ["+44 20 7946 0958", "(555) 123-4567", "0123456"] {
            assert!(phone()(json!(good)).is_ok(), "{good}");
        }
        for bad in ["123456", "(((((((", "555-CALL-NOW", "+1 555 123 4567 890 12 3"] {
            assert!(phone()(json!(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn dates_of_birth() {
        assert_eq!(date_of_birth()(json!("1990-02-28")), Ok(time::macros::date!(1990 - 02 - 28)));
        assert!(date_of_birth()(json!("1900-01-01")).is_ok());
        let today = time::OffsetDateTime::now_utc().date();
        assert!(date_of_birth()(json!(today.to_string())).is_ok());
        let tomorrow = today.next_day().unwrap().to_string();
        for bad in ["1899-12-31", "1990-02-30", "1990-2-3", "02/03/1990", "1990-02-28T00:00:00Z", "", tomorrow.as_str()]
        {
            assert!(date_of_birth()(json!(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_count_characters_and_are_not_trimmed() {
        assert_eq!(new_password()(json!(" 1234567")), Ok(" 1234567".into()));
        assert!(new_password()(json!("1234567")).is_err());
        assert!(new_password()(json!("x".repeat(129))).is_err());
        assert!(new_password()(json!("é".repeat(128))).is_ok());
    }
}
