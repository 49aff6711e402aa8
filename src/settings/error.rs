//! What can be wrong with a configuration file, and finding where in the file it is.
//!
//! toml's errors carry a byte span but not always the key; the key is found again by
//! walking the spanned document ([`toml::de::DeTable`]) for the entry whose key or
//! value covers that span. Keys are named by their dotted path (`limits.upload_slots`),
//! the way [`super::keys`] lists them.

use std::fmt;
use std::io;
use std::ops::Range;
use std::path::PathBuf;

use toml::de::{DeTable, DeValue};

use super::keys::KEYS;

/// Why a configuration could not be used. Displays as `FILE:LINE: what`, the line
/// 1-based, so an editor can jump to it.
#[derive(Debug)]
pub enum SettingsError {
    /// The file could not be read (missing, unreadable, not UTF-8).
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        error: io::Error,
    },
    /// The text is not valid TOML.
    Syntax {
        /// The file.
        origin: PathBuf,
        /// The line of the error, when toml knows it.
        line: Option<usize>,
        /// toml's description.
        message: String,
    },
    /// A key this version of hivebt does not know (a typo, or a key in the wrong table).
    UnknownKey {
        /// The file.
        origin: PathBuf,
        /// The line of the key, when known.
        line: Option<usize>,
        /// Its dotted path, `limits.max_uplod_rate`.
        key: String,
        /// What was expected there, and where the key belongs if it exists elsewhere.
        hint: String,
    },
    /// A known key with a value of the wrong type, form or range.
    BadValue {
        /// The file, or `None` when the value came from elsewhere (command-line flags).
        origin: Option<PathBuf>,
        /// The line of the key, when known.
        line: Option<usize>,
        /// Its dotted path.
        key: String,
        /// What is wrong with it.
        message: String,
    },
    /// A path left unset has a default that needs an environment variable that is not
    /// set.
    NoDefault {
        /// The setting (`paths.state_dir`).
        key: &'static str,
        /// What was missing.
        message: &'static str,
    },
}

impl SettingsError {
    /// The dotted key the error is about, if it is about one.
    pub fn key(&self) -> Option<&str> {
        match self {
            SettingsError::UnknownKey { key, .. } | SettingsError::BadValue { key, .. } => {
                Some(key)
            }
            SettingsError::NoDefault { key, .. } => Some(key),
            SettingsError::Read { .. } | SettingsError::Syntax { .. } => None,
        }
    }

    /// The 1-based line the error is on, if known.
    pub fn line(&self) -> Option<usize> {
        match self {
            SettingsError::Syntax { line, .. }
            | SettingsError::UnknownKey { line, .. }
            | SettingsError::BadValue { line, .. } => *line,
            SettingsError::Read { .. } | SettingsError::NoDefault { .. } => None,
        }
    }
}

struct Place<'a>(Option<&'a PathBuf>, Option<usize>);

impl fmt::Display for Place<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place(Some(origin), Some(line)) => write!(f, "{}:{line}: ", origin.display()),
            Place(Some(origin), None) => write!(f, "{}: ", origin.display()),
            Place(None, _) => Ok(()),
        }
    }
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SettingsError::Read { path, error } => {
                write!(f, "cannot read {}: {error}", path.display())
            }
            SettingsError::Syntax {
                origin,
                line,
                message,
            } => write!(f, "{}{message}", Place(Some(origin), *line)),
            SettingsError::UnknownKey {
                origin,
                line,
                key,
                hint,
            } => write!(
                f,
                "{}unknown key \"{key}\"; {hint}",
                Place(Some(origin), *line)
            ),
            SettingsError::BadValue {
                origin,
                line,
                key,
                message,
            } => write!(f, "{}{key}: {message}", Place(origin.as_ref(), *line)),
            SettingsError::NoDefault { key, message } => write!(f, "{key}: {message}"),
        }
    }
}

impl std::error::Error for SettingsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SettingsError::Read { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// The 1-based line holding byte `offset` of `text`.
pub(super) fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    1 + text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
}

/// Turns toml's syntax error into ours.
pub(super) fn syntax_error(text: &str, origin: PathBuf, error: &toml::de::Error) -> SettingsError {
    let span = error.span();
    let mut message = error.message().to_owned();
    // "duplicate key" alone does not say which.
    if let Some(key) = span.clone().and_then(|s| text.get(s))
        && message == "duplicate key"
    {
        message = format!("duplicate key \"{key}\"");
    }
    SettingsError::Syntax {
        origin,
        line: span.map(|s| line_of(text, s.start)),
        message,
    }
}

/// Turns toml's error from deserializing into [`super::Settings`] into ours, naming the
/// key the span falls on in `doc`.
pub(super) fn value_error(
    text: &str,
    doc: &DeTable<'_>,
    origin: PathBuf,
    error: &toml::de::Error,
) -> SettingsError {
    let span = error.span();
    let line = span.as_ref().map(|s| line_of(text, s.start));
    let path = span
        .and_then(|s| key_at(doc, &s))
        .unwrap_or_default()
        .join(".");
    let message = error.message();
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (name, expected) = rest.split_once("`, ").unwrap_or((rest, ""));
        return SettingsError::UnknownKey {
            origin,
            line,
            key: path,
            hint: unknown_key_hint(name, expected),
        };
    }
    // serde names Rust types: a table's struct ("expected struct LimitSettings") and
    // the integer type of a count.
    let message = match message.split_once(", expected struct ") {
        Some((head, _)) => format!("{head}, expected a table"),
        None => message.replace(
            "expected u32",
            "expected a whole number from 0 to 4294967295",
        ),
    };
    SettingsError::BadValue {
        origin: Some(origin),
        line,
        key: path,
        message,
    }
}

/// serde's list of the expected keys, and where a key of that name does belong.
fn unknown_key_hint(name: &str, expected: &str) -> String {
    let home = KEYS.iter().find(|k| {
        k.name
            .rsplit_once('.')
            .is_some_and(|(_, last)| last == name)
    });
    match home {
        Some(key) => {
            let table = key.name.split('.').next().unwrap_or_default();
            format!("\"{name}\" belongs in the [{table}] table ({expected})")
        }
        None if expected.is_empty() => "this table has no keys".to_owned(),
        None => expected.to_owned(),
    }
}

/// The dotted path of the entry whose key or value covers `span`, the deepest one.
fn key_at(table: &DeTable<'_>, span: &Range<usize>) -> Option<Vec<String>> {
    for (key, value) in table {
        if let Some(mut inner) = key_in_value(value.get_ref(), span) {
            inner.insert(0, key.get_ref().to_string());
            return Some(inner);
        }
        if covers(&key.span(), span) || covers(&value.span(), span) {
            return Some(vec![key.get_ref().to_string()]);
        }
    }
    None
}

fn key_in_value(value: &DeValue<'_>, span: &Range<usize>) -> Option<Vec<String>> {
    match value {
        DeValue::Table(table) => key_at(table, span),
        DeValue::Array(items) => items
            .iter()
            .find_map(|item| key_in_value(item.get_ref(), span)),
        _ => None,
    }
}

fn covers(outer: &Range<usize>, inner: &Range<usize>) -> bool {
    outer.start <= inner.start && inner.end <= outer.end && outer.start < outer.end
}

/// The 1-based line of the key at dotted `path` in `doc`, if the file sets it.
pub(super) fn line_of_key(text: &str, doc: &DeTable<'_>, path: &str) -> Option<usize> {
    let mut table = doc;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        let (key, value) = table.get_key_value(part)?;
        if parts.peek().is_none() {
            return Some(line_of(text, key.span().start));
        }
        table = value.get_ref().as_table()?;
    }
    None
}
