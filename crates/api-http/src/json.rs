//! JSON in and out, the way Coder's Go server does it.
//!
//! Out: Go's `encoding/json` with HTML escaping (`<`, `>`, `&`, U+2028 and
//! U+2029 become `\u003c`-style escapes), a trailing newline, and
//! `Content-Type: application/json; charset=utf-8`.
//!
//! In: Go's `json.Decoder.Decode` into a struct: only the first JSON value is
//! read (trailing bytes are ignored), unknown fields are ignored, object keys
//! match field names case-insensitively, and `null` (for the whole body or a
//! field) leaves the zero value.

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
    let mut values = serde_json::Deserializer::from_slice(body).into_iter::<Value>();
    let value = match values.next() {
        None => return Err(DecodeError("EOF".into())),
        Some(Err(error)) => return Err(DecodeError(error.to_string())),
        Some(Ok(value)) => value,
    };
    match value {
        Value::Null => Ok(T::default()),
        Value::Object(object) => {
            let mut folded = serde_json::Map::with_capacity(object.len());
            for (key, value) in object {
                let canonical = fields
                    .iter()
                    .find(|field| field.eq_ignore_ascii_case(&key))
                    .map_or(key.clone(), |field| (*field).to_owned());
                // An exact match beats a case-insensitive one.
                if canonical != key && folded.contains_key(&canonical) {
                    continue;
                }
                folded.insert(canonical, value);
            }
            serde_json::from_value(Value::Object(folded)).map_err(|e| DecodeError(e.to_string()))
        }
        other => Err(DecodeError(format!(
            "cannot unmarshal {} into an object",
            kind(&other)
        ))),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
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
            decode_request(r#"{"command":"exact","Command":"folded"}"#)
                .expect("ok")
                .command,
            "exact"
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
