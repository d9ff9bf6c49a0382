//! JSON in and out, the way Coder's Go server does it.
//!
//! Out: Go's `encoding/json` with HTML escaping (`<`, `>`, `&`, U+2028 and
//! U+2029 become `\u003c`-style escapes), a trailing newline, and
//! `Content-Type: application/json; charset=utf-8`.
//!
//! In: Go's `json.Decoder.Decode` into a struct: only the first JSON value is
//! read (trailing bytes are ignored), unknown fields are ignored, object keys
//! match field names case-insensitively with the last matching key winning,
//! `null` (for the whole body or a field) changes nothing, and invalid UTF-8
//! inside strings becomes U+FFFD instead of an error.

use std::io;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// The content type of every response.
pub(crate) const CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// A response with a Go-encoded JSON body.
pub(crate) fn respond<T: Serialize>(status: StatusCode, value: &T) -> Response {
    let mut body = Vec::with_capacity(256);
    let mut serializer = serde_json::Serializer::with_formatter(&mut body, GoFormatter);
    if let Err(error) = value.serialize(&mut serializer) {
        // Our wire types always serialize; this is a bug, reported as such.
        tracing::error!(%error, "encoding a response failed");
        body.clear();
        body.extend_from_slice(br#"{"message":"Internal error encoding the response."}"#);
        return with_body(StatusCode::INTERNAL_SERVER_ERROR, body);
    }
    with_body(status, body)
}

/// One line of Go-encoded JSON (newlines inside strings are escaped), for
/// Server-Sent Events `data:` fields.
pub(crate) fn to_line<T: Serialize>(value: &T) -> String {
    let mut body = Vec::with_capacity(256);
    let mut serializer = serde_json::Serializer::with_formatter(&mut body, GoFormatter);
    if value.serialize(&mut serializer).is_err() {
        return r#"{"message":"Internal error encoding the event."}"#.to_owned();
    }
    String::from_utf8(body).unwrap_or_default()
}

fn with_body(status: StatusCode, mut body: Vec<u8>) -> Response {
    body.push(b'\n');
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    response
}

/// serde_json's compact output plus Go's HTML-safe escapes.
struct GoFormatter;

impl serde_json::ser::Formatter for GoFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (at, ch) in fragment.char_indices() {
            let escape = match ch {
                '<' => "\\u003c",
                '>' => "\\u003e",
                '&' => "\\u0026",
                '\u{2028}' => "\\u2028",
                '\u{2029}' => "\\u2029",
                _ => continue,
            };
            writer.write_all(&fragment.as_bytes()[start..at])?;
            writer.write_all(escape.as_bytes())?;
            start = at + ch.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
}

/// A request body that is not the JSON the route expects.
#[derive(Debug)]
pub(crate) struct DecodeError(pub(crate) String);

/// Decodes the first JSON value of `body` into `T`, as Go would. `fields`
/// are `T`'s JSON field names, for case-insensitive matching.
pub(crate) fn decode<T: DeserializeOwned + Default>(
    body: &[u8],
    fields: &[&str],
) -> Result<T, DecodeError> {
    let body = String::from_utf8_lossy(body);
    let mut values = serde_json::Deserializer::from_str(&body).into_iter::<Top>();
    let entries = match values.next() {
        None => return Err(DecodeError("EOF".into())),
        Some(Err(error)) => return Err(DecodeError(error.to_string())),
        Some(Ok(Top::Null)) => return Ok(T::default()),
        Some(Ok(Top::Other(kind))) => {
            return Err(DecodeError(format!(
                "cannot unmarshal {kind} into an object"
            )));
        }
        Some(Ok(Top::Object(entries))) => entries,
    };
    let mut folded = serde_json::Map::with_capacity(entries.len());
    // In document order: a later key for the same field wins, and a null
    // changes nothing (Go decodes into the struct in place).
    for (key, value) in entries {
        if value.is_null() {
            continue;
        }
        let canonical = fields
            .iter()
            .find(|field| field.eq_ignore_ascii_case(&key))
            .map_or(key, |field| (*field).to_owned());
        folded.insert(canonical, value);
    }
    serde_json::from_value(Value::Object(folded)).map_err(|e| DecodeError(e.to_string()))
}

/// The first value of a body: an object's entries in document order,
/// duplicates included.
enum Top {
    Null,
    Object(Vec<(String, Value)>),
    Other(&'static str),
}

impl<'de> Deserialize<'de> for Top {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TopVisitor)
    }
}

struct TopVisitor;

impl<'de> serde::de::Visitor<'de> for TopVisitor {
    type Value = Top;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Top, E> {
        Ok(Top::Null)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Top, E> {
        Ok(Top::Other("bool"))
    }

    fn visit_i64<E>(self, _: i64) -> Result<Top, E> {
        Ok(Top::Other("number"))
    }

    fn visit_u64<E>(self, _: u64) -> Result<Top, E> {
        Ok(Top::Other("number"))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Top, E> {
        Ok(Top::Other("number"))
    }

    fn visit_str<E>(self, _: &str) -> Result<Top, E> {
        Ok(Top::Other("string"))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Top, A::Error> {
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(Top::Other("array"))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Top, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(4));
        while let Some(entry) = map.next_entry::<String, Value>()? {
            entries.push(entry);
        }
        Ok(Top::Object(entries))
    }
}

/// A map of strings where a `null` value is the empty string, as in Go.
pub(crate) fn string_map<'de, D>(
    deserializer: D,
) -> Result<std::collections::BTreeMap<String, String>, D::Error>
where
    D: Deserializer<'de>,
{
    let map =
        Option::<std::collections::BTreeMap<String, Option<String>>>::deserialize(deserializer)?;
    Ok(map
        .unwrap_or_default()
        .into_iter()
        .map(|(key, value)| (key, value.unwrap_or_default()))
        .collect())
}

/// `#[serde(deserialize_with = "json::nullable")]`: `null` means the zero
/// value, as in Go.
pub(crate) fn nullable<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, Deserialize, PartialEq)]
    struct Request {
        #[serde(default, deserialize_with = "nullable")]
        command: String,
        #[serde(default, deserialize_with = "nullable")]
        background: bool,
    }

    const FIELDS: &[&str] = &["command", "background"];

    fn decode_request(body: &str) -> Result<Request, DecodeError> {
        decode(body.as_bytes(), FIELDS)
    }

    #[test]
    fn html_characters_are_escaped_like_go() {
        let response = respond(StatusCode::OK, &serde_json::json!({"s": "<a & b>\u{2028}"}));
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/json; charset=utf-8"
        );
        let mut body = Vec::new();
        let mut serializer = serde_json::Serializer::with_formatter(&mut body, GoFormatter);
        serde_json::json!({"s": "<a & b>\u{2028}\n\u{1}"})
            .serialize(&mut serializer)
            .expect("serialize");
        assert_eq!(
            String::from_utf8(body).expect("utf-8"),
            r#"{"s":"\u003ca \u0026 b\u003e\u2028\n\u0001"}"#
        );
    }

    #[test]
    fn decoding_follows_go() {
        assert_eq!(
            decode_request(r#"{"command":"ls","extra":1}"#)
                .expect("ok")
                .command,
            "ls"
        );
        assert_eq!(
            decode_request(r#"{"Command":"ls"}"#).expect("ok").command,
            "ls"
        );
        assert_eq!(
            decode_request(r#"{"COMMAND":"ls"}"#).expect("ok").command,
            "ls"
        );
        assert_eq!(
            decode_request(r#"{"command":"first","Command":"last"}"#)
                .expect("ok")
                .command,
            "last",
            "the last matching key wins, as in Go"
        );
        assert_eq!(
            decode_request(r#"{"command":"kept","command":null}"#)
                .expect("ok")
                .command,
            "kept",
            "a null changes nothing"
        );
        let raw: &[u8] = b"{\"command\":\"echo \xff\"}";
        assert_eq!(
            decode::<Request>(raw, FIELDS).expect("ok").command,
            "echo \u{FFFD}"
        );
        assert_eq!(decode_request("null").expect("ok"), Request::default());
        assert_eq!(
            decode_request(r#"{"command":null,"background":null}"#).expect("ok"),
            Request::default()
        );
        assert_eq!(
            decode_request(r#"{"command":"ls"} trailing garbage"#)
                .expect("ok")
                .command,
            "ls"
        );
        assert!(decode_request("").is_err());
        assert!(decode_request("{invalid json").is_err());
        assert!(decode_request(r#"["ls"]"#).is_err());
        assert!(decode_request(r#""ls""#).is_err());
        assert!(decode_request(r#"{"command":5}"#).is_err());
        assert!(decode_request(r#"{"background":"yes"}"#).is_err());
    }
}
