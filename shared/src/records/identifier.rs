//! A patient's identifiers (MRNs, national ids, a feed's own keys): `{system, value}`,
//! as REST `identifiers` and FHIR `identifier`. Within one organization, or among one
//! user's personal patients, a system|value pair names one patient (migrations/0013).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::validate::Parser;

/// At most this many per patient: a chart has an MRN or a few, not a list to page.
pub const MAX_IDENTIFIERS: usize = 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatientIdentifier {
    pub system: String,
    pub value: String,
}

impl PatientIdentifier {
    /// `system`: an absolute URI (RFC 3986: a scheme, `:`, then its characters - ASCII
    /// letters, digits, `-._~:/?#@!$&'()*+,;=` and `%XX` escapes; so no spaces, `|` or
    /// `[]`; at most 200); `value`: 1-100 characters on one line, trimmed.
    pub fn new(system: &str, value: &str) -> Result<Self, (&'static str, String)> {
        if !is_absolute_uri(system) || system.len() > 200 {
            return Err((
                "system",
                "must be an absolute URI (such as urn:oid:… or https://…) of at most 200 characters: ASCII \
                 letters, digits, -._~:/?#@!$&'()*+,;= and %XX escapes"
                    .into(),
            ));
        }
        let value = value.trim();
        if value.is_empty() || value.chars().count() > 100 || value.chars().any(char::is_control) {
            return Err(("value", "must be 1-100 characters on one line".into()));
        }
        Ok(Self { system: system.to_owned(), value: value.to_owned() })
    }
}

/// The list as the `identifiers` column holds it.
pub fn to_json(identifiers: &[PatientIdentifier]) -> Value {
    let pair = |i: &PatientIdentifier| serde_json::json!({"system": i.system, "value": i.value});
    Value::Array(identifiers.iter().map(pair).collect())
}

fn is_absolute_uri(text: &str) -> bool {
    let Some((scheme, rest)) = text.split_once(':') else { return false };
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c));
    let mut bytes = rest.bytes();
    let mut any = false;
    while let Some(b) = bytes.next() {
        any = true;
        let ok = match b {
            b'%' => {
                bytes.next().is_some_and(|h| h.is_ascii_hexdigit())
                    && bytes.next().is_some_and(|h| h.is_ascii_hexdigit())
            }
            _ => b.is_ascii_alphanumeric() || b"-._~:/?#@!$&'()*+,;=".contains(&b),
        };
        if !ok {
            return false;
        }
    }
    scheme_ok && any
}

/// A list's duplicate pair, if any (`system|value`).
pub fn repeated(identifiers: &[PatientIdentifier]) -> Option<String> {
    identifiers
        .iter()
        .enumerate()
        .find_map(|(i, a)| identifiers[..i].contains(a).then(|| format!("{}|{}", a.system, a.value)))
}

/// The REST field: a list of `{system, value}` objects, each pair once.
pub fn identifiers() -> Parser<Vec<PatientIdentifier>> {
    Box::new(|value| {
        let Value::Array(items) = value else { return Err("must be a list of {system, value}".into()) };
        if items.len() > MAX_IDENTIFIERS {
            return Err(format!("must list at most {MAX_IDENTIFIERS}"));
        }
        let mut list = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            let Value::Object(mut fields) = item else {
                return Err(format!("[{i}] must be an object {{system, value}}"));
            };
            let (system, value) = (fields.remove("system"), fields.remove("value"));
            if let Some(extra) = fields.keys().next() {
                return Err(format!("[{i}].{extra} is not a field of an identifier (system, value)"));
            }
            let (Some(Value::String(system)), Some(Value::String(value))) = (system, value) else {
                return Err(format!("[{i}] needs system and value, both strings"));
            };
            list.push(
                PatientIdentifier::new(&system, &value)
                    .map_err(|(field, problem)| format!("[{i}].{field} {problem}"))?,
            );
        }
        match repeated(&list) {
            Some(pair) => Err(format!("lists {pair} twice")),
            None => Ok(list),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systems_are_absolute_uris_and_values_bounded() {
        for good in ["urn:oid:1.2.36.146.595.217.0.1", "https://hospital.example/mrn?a=b#c", "urn:uuid:x", "urn:a%2Fb"]
        {
            assert!(PatientIdentifier::new(good, "123").is_ok(), "{good}");
        }
        for bad in ["", "mrn", ":x", "1http://x", "http:", "http://a b", "urn:a|b", &format!("urn:{}", "x".repeat(200))]
        {
            assert_eq!(PatientIdentifier::new(bad, "1").unwrap_err().0, "system", "{bad}");
        }
        for bad in ["", "  ", &"9".repeat(101), "a\nb"] {
            assert_eq!(PatientIdentifier::new("urn:x", bad).unwrap_err().0, "value", "{bad:?}");
        }
        assert_eq!(PatientIdentifier::new("urn:x", " 42 ").unwrap().value, "42");
    }

    #[test]
    fn the_rest_field_refuses_repeats_extras_and_shapes() {
        let parse = |v: Value| identifiers()(v);
        let one = serde_json::json!({"system": "urn:x", "value": "1"});
        assert_eq!(parse(serde_json::json!([one.clone()])).unwrap().len(), 1);
        assert!(parse(serde_json::json!([one.clone(), one])).unwrap_err().contains("twice"));
        assert!(
            parse(serde_json::json!([{"system": "urn:x", "value": "1", "use": "usual"}])).unwrap_err().contains("use")
        );
        assert!(parse(serde_json::json!({"system": "urn:x"})).is_err());
        assert!(parse(serde_json::json!([{"system": "urn:x"}])).is_err());
    }
}
