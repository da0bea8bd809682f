//! The cell deserializer: a CSV record decoded into `T` as a map from column name to cell, each
//! cell read according to the type asked for (the table in the [module docs](super#file-conventions)).
//!
//! A CSV cell is only text; the type asked for says how to read it. Numbers and `bool` use their
//! JSON spelling, nested values (`Vec`, maps, structs) are JSON text, as Mangrove writes them in
//! its CSV exports. Cells are borrowed from the batch while they are decoded: a text cell is
//! copied once, into `T`.

use std::fmt;

use serde::de::{self, DeserializeOwned, DeserializeSeed, Deserializer as _, IgnoredAny, Visitor};
use serde_json::de::StrRead;

use super::pipeline::Batch;
use super::RecordError;

/// A `serde` error while decoding one CSV record.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct CellError(String);

impl de::Error for CellError {
    fn custom<M: fmt::Display>(msg: M) -> Self {
        CellError(msg.to_string())
    }

    fn missing_field(field: &'static str) -> Self {
        CellError(format!(
            "the file has no column `{field}`; if it may be absent, make the field an `Option` \
             or give it `#[serde(default)]`"
        ))
    }
}

/// Decodes CSV record `i` of `batch` into `T`, as a map from column name to cell.
pub(super) fn decode<T: DeserializeOwned>(batch: &Batch, i: usize) -> Result<T, RecordError> {
    let (ends, start) = batch.record(i);
    let data = &batch.data[start..ends.last().copied().unwrap_or(start)];
    let record = RecordMap {
        headers: batch.headers.iter(),
        ends: ends.iter(),
        base: start,
        at: 0,
        data,
        // One UTF-8 check for the whole record; if it fails, each cell is checked alone.
        text: std::str::from_utf8(data).ok(),
        column: "",
    };
    T::deserialize(de::value::MapAccessDeserializer::new(record)).map_err(|e| RecordError::Row {
        row: batch.first_row + i as u64,
        message: e.0,
    })
}

/// The (column name, cell) pairs of one record.
struct RecordMap<'de> {
    headers: std::slice::Iter<'de, Box<str>>,
    ends: std::slice::Iter<'de, usize>,
    /// Offset of `data` in the batch.
    base: usize,
    /// Start of the next cell in `data`.
    at: usize,
    data: &'de [u8],
    text: Option<&'de str>,
    column: &'de str,
}

impl<'de> de::MapAccess<'de> for RecordMap<'de> {
    type Error = CellError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, CellError> {
        let Some(column) = self.headers.next() else {
            return Ok(None);
        };
        self.column = column;
        seed.deserialize(de::value::BorrowedStrDeserializer::new(column))
            .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, CellError> {
        let end = self.ends.next().map_or(self.at, |end| end - self.base);
        let from = std::mem::replace(&mut self.at, end);
        let cell = Cell {
            bytes: &self.data[from..end],
            text: self.text.and_then(|text| text.get(from..end)),
        };
        seed.deserialize(cell)
            .map_err(|e| CellError(format!("column `{}`: {}", self.column, e.0)))
    }
}

/// One CSV cell, and the same as text if the record was checked to be UTF-8.
struct Cell<'de> {
    bytes: &'de [u8],
    text: Option<&'de str>,
}

impl<'de> Cell<'de> {
    fn text(&self) -> Result<&'de str, CellError> {
        match self.text {
            Some(text) => Ok(text),
            None => std::str::from_utf8(self.bytes)
                .map_err(|_| CellError("the cell is not UTF-8 text".to_owned())),
        }
    }

    fn parse<N: std::str::FromStr>(&self, what: &str) -> Result<N, CellError> {
        let text = self.text()?;
        if text.is_empty() {
            return Err(CellError(format!(
                "the cell is empty but {what} is expected; use an `Option` field to accept empty cells"
            )));
        }
        text.parse()
            .map_err(|_| CellError(format!("expected {what}, found `{text}`")))
    }

    /// Decodes the cell's JSON text, which must open with `open`; empty is `[]` or `{}`.
    fn json<V: Visitor<'de>>(self, open: char, visitor: V) -> Result<V::Value, CellError> {
        let text = match self.bytes {
            [] if open == '[' => "[]",
            [] => "{}",
            _ => self.text()?,
        };
        if !text.trim_start().starts_with(open) {
            return Err(CellError(format!(
                "expected JSON text opening with `{open}`, found `{text}`"
            )));
        }
        from_json(text, |de| de.deserialize_any(visitor))
    }
}

/// Decodes a cell's JSON text with `serde_json`, by `read`.
fn from_json<'de, T>(
    text: &'de str,
    read: impl FnOnce(&mut serde_json::Deserializer<StrRead<'de>>) -> serde_json::Result<T>,
) -> Result<T, CellError> {
    let mut de = serde_json::Deserializer::from_str(text);
    read(&mut de)
        .and_then(|value| de.end().map(|()| value))
        .map_err(|e| CellError(format!("{e} in the cell's JSON text")))
}

type Out<'de, V> = Result<<V as Visitor<'de>>::Value, CellError>;
type Fields = &'static [&'static str];

/// Methods that read the cell as another method does.
macro_rules! forward {
    ($($method:ident($($arg:ty),*) => $target:ident;)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, $(_: $arg,)* v: V) -> Out<'de, V> {
                self.$target(v)
            }
        )*
    };
}

macro_rules! cell_values {
    ($($method:ident $visit:ident $ty:ty, $what:literal;)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, v: V) -> Out<'de, V> {
                v.$visit(self.parse::<$ty>($what)?)
            }
        )*
    };
}

impl<'de> de::Deserializer<'de> for Cell<'de> {
    type Error = CellError;

    /// Guesses the type from the text (`serde_json::Value`, untagged enums, flattened fields).
    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Out<'de, V> {
        let bytes = self.bytes;
        let json = matches!(
            bytes.first(),
            Some(b'[' | b'{' | b'-' | b'0'..=b'9' | b't' | b'f')
        ) && !bytes.last().is_some_and(u8::is_ascii_whitespace)
            && serde_json::from_slice::<IgnoredAny>(bytes).is_ok();
        match bytes {
            [] => v.visit_none(),
            _ if json => from_json(self.text()?, |de| de.deserialize_any(v)),
            _ => v.visit_borrowed_str(self.text()?),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Out<'de, V> {
        match self.bytes {
            [] => v.visit_none(),
            _ => v.visit_some(self),
        }
    }

    cell_values! {
        deserialize_bool visit_bool bool, "`true` or `false`";
        deserialize_char visit_char char, "a single character";
        deserialize_i8 visit_i8 i8, "an integer (i8)";
        deserialize_i16 visit_i16 i16, "an integer (i16)";
        deserialize_i32 visit_i32 i32, "an integer (i32)";
        deserialize_i64 visit_i64 i64, "an integer (i64)";
        deserialize_i128 visit_i128 i128, "an integer (i128)";
        deserialize_u8 visit_u8 u8, "a non-negative integer (u8)";
        deserialize_u16 visit_u16 u16, "a non-negative integer (u16)";
        deserialize_u32 visit_u32 u32, "a non-negative integer (u32)";
        deserialize_u64 visit_u64 u64, "a non-negative integer (u64)";
        deserialize_u128 visit_u128 u128, "a non-negative integer (u128)";
        deserialize_f32 visit_f32 f32, "a number (f32)";
        deserialize_f64 visit_f64 f64, "a number (f64)";
    }

    forward! {
        deserialize_string() => deserialize_str;
        deserialize_identifier() => deserialize_str;
        deserialize_byte_buf() => deserialize_bytes;
        deserialize_unit_struct(&'static str) => deserialize_unit;
        deserialize_tuple(usize) => deserialize_seq;
        deserialize_tuple_struct(&'static str, usize) => deserialize_seq;
        deserialize_struct(&'static str, Fields) => deserialize_map;
    }

    fn deserialize_str<V: Visitor<'de>>(self, v: V) -> Out<'de, V> {
        v.visit_borrowed_str(self.text()?)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, v: V) -> Out<'de, V> {
        v.visit_borrowed_bytes(self.bytes)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, v: V) -> Out<'de, V> {
        match self.bytes {
            [] => v.visit_unit(),
            bytes => Err(CellError(format!(
                "expected an empty cell, found `{}`",
                String::from_utf8_lossy(bytes)
            ))),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _: &str, v: V) -> Out<'de, V> {
        v.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Out<'de, V> {
        self.json('[', v)
    }

    fn deserialize_map<V: Visitor<'de>>(self, v: V) -> Out<'de, V> {
        self.json('{', v)
    }

    /// A unit variant by name, others as JSON text.
    fn deserialize_enum<V>(self, name: &'static str, variants: Fields, v: V) -> Out<'de, V>
    where
        V: Visitor<'de>,
    {
        match self.bytes.first() {
            Some(b'{') => from_json(self.text()?, |de| de.deserialize_enum(name, variants, v)),
            _ => v.visit_enum(de::value::BorrowedStrDeserializer::new(self.text()?)),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> Out<'de, V> {
        v.visit_unit()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use serde::Deserialize;
    use serde_json::{json, Value};

    use super::*;

    /// A batch of one record: `cells` under `columns`.
    fn record(columns: &[&str], cells: &[&[u8]]) -> Batch {
        let headers: Vec<Box<str>> = columns.iter().map(|&c| c.into()).collect();
        let mut batch = Batch {
            headers: Arc::from(headers),
            ..Batch::default()
        };
        let mut ends = Vec::new();
        let data: Vec<u8> = cells.concat();
        for cell in cells {
            ends.push(ends.last().unwrap_or(&0) + cell.len());
        }
        batch.push(4, &data, &ends);
        batch
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "lowercase")]
    enum Kind {
        Removal,
        Other(u8),
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Typed {
        id: i64,
        share: f32,
        ok: bool,
        name: String,
        note: Option<String>,
        tags: Vec<String>,
        extra: BTreeMap<String, u8>,
        kind: Kind,
        other: Kind,
    }

    #[test]
    fn cells_are_read_as_the_type_asked_for() {
        let batch = record(
            &[
                "id", "share", "ok", "name", "note", "tags", "extra", "kind", "other", "ignored",
            ],
            &[
                b"-42",
                b"0.5",
                b"true",
                b"",
                b"",
                b"[\"a\",\"b\"]",
                b"",
                b"removal",
                b"{\"other\":7}",
                b"x",
            ],
        );
        let typed: Typed = decode(&batch, 0).expect("decodes");
        assert_eq!(
            typed,
            Typed {
                id: -42,
                share: 0.5,
                ok: true,
                name: String::new(),
                note: None,
                tags: vec!["a".into(), "b".into()],
                extra: BTreeMap::new(),
                kind: Kind::Removal,
                other: Kind::Other(7),
            }
        );
    }

    #[test]
    fn cells_read_as_json_values_are_guessed() {
        let batch = record(
            &["a", "b", "c", "d", "e", "f", "g"],
            &[
                b"",
                b"12",
                b"true",
                b"[1]",
                b"{\"k\":null}",
                b"12 ",
                b"trueish",
            ],
        );
        let values: BTreeMap<String, Value> = decode(&batch, 0).expect("decodes");
        let values: Vec<&Value> = values.values().collect();
        let want = [
            json!(null),
            json!(12),
            json!(true),
            json!([1]),
            json!({"k": null}),
            json!("12 "),
            json!("trueish"),
        ];
        assert_eq!(values, want.iter().collect::<Vec<_>>());
    }

    #[test]
    fn errors_name_the_column_and_the_record() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Id {
            id: u8,
        }
        let error = |cells: &[&[u8]]| {
            let message = decode::<Id>(&record(&["id"], cells), 0).expect_err("fails");
            assert_eq!(message.row(), Some(4));
            assert!(!message.is_fatal());
            message.to_string()
        };
        assert!(error(&[b"300"])
            .contains("column `id`: expected a non-negative integer (u8), found `300`"));
        assert!(error(&[b""]).contains("column `id`: the cell is empty but"));
        assert!(error(&[b"\xFF"]).contains("not UTF-8"));
        let missing = decode::<Id>(&record(&["name"], &[b"x"]), 0).expect_err("no column");
        assert!(
            missing.to_string().contains("the file has no column `id`"),
            "{missing}"
        );
    }

    #[test]
    fn json_cells_must_open_with_the_right_bracket() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Tags {
            tags: Vec<u8>,
        }
        let error = decode::<Tags>(&record(&["tags"], &[b"{}"]), 0).expect_err("not a list");
        assert!(
            error
                .to_string()
                .contains("expected JSON text opening with `[`"),
            "{error}"
        );
        let error = decode::<Tags>(&record(&["tags"], &[b"[1] x"]), 0).expect_err("trailing");
        assert!(
            error.to_string().contains("in the cell's JSON text"),
            "{error}"
        );
    }
}
