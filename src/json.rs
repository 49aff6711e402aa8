//! A small JSON value with a pretty printer, for `--json` output. Writing JSON is all
//! hivebt needs here; the keys each command prints are documented in the README.
//!
//! Depends on nothing.

use std::fmt::{self, Write};

/// A JSON value. Objects keep their keys in insertion order.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// An integer (sizes, counts, timestamps).
    Int(i128),
    /// A measured quantity (rates, percentages); a non-finite value prints as `null`,
    /// which JSON has no number for.
    Float(f64),
    /// A string.
    Str(String),
    /// An array.
    Arr(Vec<Json>),
    /// An object.
    Obj(Vec<(&'static str, Json)>),
}

impl Json {
    /// A string value.
    pub fn str(s: impl Into<String>) -> Json {
        Json::Str(s.into())
    }

    /// An optional string: `null` when absent.
    pub fn opt_str(s: Option<impl Into<String>>) -> Json {
        s.map_or(Json::Null, |s| Json::Str(s.into()))
    }

    /// An integer.
    pub fn int(n: impl Into<i128>) -> Json {
        Json::Int(n.into())
    }

    fn write(&self, out: &mut String, indent: usize) -> fmt::Result {
        match self {
            Json::Null => out.write_str("null"),
            Json::Bool(b) => write!(out, "{b}"),
            Json::Int(n) => write!(out, "{n}"),
            Json::Float(x) if x.is_finite() => write!(out, "{x}"),
            Json::Float(_) => out.write_str("null"),
            Json::Str(s) => write_str(out, s),
            Json::Arr(items) if items.is_empty() => out.write_str("[]"),
            Json::Obj(items) if items.is_empty() => out.write_str("{}"),
            Json::Arr(items) => {
                out.write_str("[\n")?;
                for (i, item) in items.iter().enumerate() {
                    pad(out, indent + 1);
                    item.write(out, indent + 1)?;
                    out.write_str(if i + 1 < items.len() { ",\n" } else { "\n" })?;
                }
                pad(out, indent);
                out.write_char(']')
            }
            Json::Obj(items) => {
                out.write_str("{\n")?;
                for (i, (k, v)) in items.iter().enumerate() {
                    pad(out, indent + 1);
                    write_str(out, k)?;
                    out.write_str(": ")?;
                    v.write(out, indent + 1)?;
                    out.write_str(if i + 1 < items.len() { ",\n" } else { "\n" })?;
                }
                pad(out, indent);
                out.write_char('}')
            }
        }
    }
}

impl fmt::Display for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        self.write(&mut s, 0)?;
        f.write_str(&s)
    }
}

fn pad(out: &mut String, indent: usize) {
    for _ in 0..indent {
        out.push_str("  ");
    }
}

fn write_str(out: &mut String, s: &str) -> fmt::Result {
    out.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => out.write_str("\\\"")?,
            '\\' => out.write_str("\\\\")?,
            '\n' => out.write_str("\\n")?,
            '\r' => out.write_str("\\r")?,
            '\t' => out.write_str("\\t")?,
            c if (c as u32) < 0x20 => write!(out, "\\u{:04x}", c as u32)?,
            c => out.write_char(c)?,
        }
    }
    out.write_char('"')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_valid_json() {
        let v = Json::Obj(vec![
            ("s", Json::str("a\"b\\c\n\u{1}é")),
            ("n", Json::int(-5)),
            ("x", Json::Float(1.5)),
            ("whole", Json::Float(3.0)),
            ("nan", Json::Float(f64::NAN)),
            ("arr", Json::Arr(vec![Json::Null, Json::Bool(true)])),
            ("empty", Json::Arr(vec![])),
        ]);
        let text = v.to_string();
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back["s"], "a\"b\\c\n\u{1}é");
        assert_eq!(back["n"], -5);
        assert_eq!(back["x"], 1.5);
        assert_eq!(back["whole"], 3.0);
        assert!(back["nan"].is_null());
        assert_eq!(back["arr"][1], true);
        assert!(back["empty"].as_array().unwrap().is_empty());
    }
}
