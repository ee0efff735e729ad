//! The small TOML subset of /etc/pealet/config.toml: `key = "string" | integer | true |
//! false | ["string", ...]`, `[section]` headers (dotted, each part bare or a quoted
//! string: `[registries."127.0.0.1:5000"]`), `#` comments and blank lines.
//!
//! Keys come out flat, as `section.key` (a quoted part as written, dots included: the
//! key after the last dot is always bare). Anything else (inline tables, multi-line
//! strings, dates, floats, dotted keys) is refused with its line number: a config file
//! that is misread is worse than one that is refused. No TOML crate: this is ~150 lines.

use std::collections::BTreeMap;

/// A value of the subset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Str(String),
    Int(i64),
    Bool(bool),
    Array(Vec<String>),
}

/// A line that is not in the subset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {what}")]
pub struct TomlError {
    pub line: usize,
    pub what: String,
}

/// Parses `text` into `section.key -> value` (keys before any section have no dot).
pub fn parse(text: &str) -> Result<BTreeMap<String, Value>, TomlError> {
    let mut out = BTreeMap::new();
    let mut section = String::new();
    for (i, raw) in text.lines().enumerate() {
        let err = |what: &str| TomlError {
            line: i + 1,
            what: what.to_owned(),
        };
        let line = strip_comment(raw).trim();
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let name = rest
                .strip_suffix(']')
                .ok_or_else(|| err("a section header ends with ']'"))?
                .trim();
            section = table_name(name).map_err(|what| err(&what))?;
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| err("expected key = value"))?;
        let key = key.trim();
        if !is_bare_key(key) {
            return Err(err("a key is letters, digits, '_' and '-'"));
        }
        let value = parse_value(value.trim()).map_err(|what| err(&what))?;
        let full = if section.is_empty() {
            key.to_owned()
        } else {
            format!("{section}.{key}")
        };
        if out.insert(full.clone(), value).is_some() {
            return Err(err(&format!("{full} is set twice")));
        }
    }
    Ok(out)
}

/// A section name: parts joined by '.', each bare or a basic string.
fn table_name(mut s: &str) -> Result<String, String> {
    let bad = || {
        "a section name is parts of letters, digits, '_' and '-' or quoted strings, \
         joined by '.'"
            .to_string()
    };
    let mut parts = Vec::new();
    loop {
        s = s.trim_start();
        let (part, rest) = if s.starts_with('"') {
            parse_string(s)?
        } else {
            let end = s.find(['.', ' ', '\t']).unwrap_or(s.len());
            if !is_bare_key(&s[..end]) {
                return Err(bad());
            }
            (s[..end].to_owned(), &s[end..])
        };
        if part.is_empty() {
            return Err(bad());
        }
        parts.push(part);
        let rest = rest.trim_start();
        match rest.strip_prefix('.') {
            Some(r) => s = r,
            None if rest.is_empty() => return Ok(parts.join(".")),
            None => return Err(bad()),
        }
    }
}

fn is_bare_key(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The line up to a `#` that is not inside a string.
fn strip_comment(line: &str) -> &str {
    let mut in_str = false;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_str => escaped = true,
            '"' => in_str = !in_str,
            '#' if !in_str => return &line[..i],
            _ => {}
        }
    }
    line
}

fn parse_value(s: &str) -> Result<Value, String> {
    match s {
        "true" => return Ok(Value::Bool(true)),
        "false" => return Ok(Value::Bool(false)),
        _ => {}
    }
    if s.starts_with('"') {
        let (string, rest) = parse_string(s)?;
        if !rest.trim().is_empty() {
            return Err("text after the string".into());
        }
        return Ok(Value::Str(string));
    }
    if let Some(inner) = s.strip_prefix('[') {
        return parse_array(inner).map(Value::Array);
    }
    let digits = s.replace('_', "");
    digits.parse::<i64>().map(Value::Int).map_err(|_| {
        format!("unsupported value {s:?}: use \"text\", an integer, true, false or [\"a\", \"b\"]")
    })
}

/// A basic string at the start of `s`; returns it and what follows.
fn parse_string(s: &str) -> Result<(String, &str), String> {
    let mut out = String::new();
    let mut chars = s.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, &s[i + 1..])),
            '\\' => match chars.next().map(|(_, c)| c) {
                Some('"') => out.push('"'),
                Some('\\') => out.push('\\'),
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                _ => return Err("unsupported escape in a string".into()),
            },
            c => out.push(c),
        }
    }
    Err("a string ends with '\"' on the same line".into())
}

fn parse_array(mut s: &str) -> Result<Vec<String>, String> {
    let mut items = Vec::new();
    loop {
        s = s.trim_start();
        if let Some(rest) = s.strip_prefix(']') {
            if !rest.trim().is_empty() {
                return Err("text after the array".into());
            }
            return Ok(items);
        }
        if !s.starts_with('"') {
            return Err("an array holds strings and ends with ']' on the same line".into());
        }
        let (item, rest) = parse_string(s)?;
        items.push(item);
        s = rest.trim_start();
        if let Some(rest) = s.strip_prefix(',') {
            s = rest;
        } else if !s.starts_with(']') {
            return Err("array items are separated by ','".into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_subset_parses() {
        let text = r#"
# pealet settings
broker = "mqtts://broker.example:8883"  # trailing comment
keep_alive = 30
big = 1_000
debug = false
hosts = ["a", "b#c", "d\"e"]
empty = []

[tls]
ca_file = "/etc/pealet/ca.pem"

[registries."127.0.0.1:5000"]
insecure = true
[ registries . "docker.io" ]
mirrors = ["http://127.0.0.1:5001"]
"#;
        let m = parse(text).unwrap();
        assert_eq!(m["registries.127.0.0.1:5000.insecure"], Value::Bool(true));
        assert!(m.contains_key("registries.docker.io.mirrors"));
        assert_eq!(
            m["broker"],
            Value::Str("mqtts://broker.example:8883".into())
        );
        assert_eq!(m["keep_alive"], Value::Int(30));
        assert_eq!(m["big"], Value::Int(1000));
        assert_eq!(m["debug"], Value::Bool(false));
        assert_eq!(
            m["hosts"],
            Value::Array(vec!["a".into(), "b#c".into(), "d\"e".into()])
        );
        assert_eq!(m["empty"], Value::Array(vec![]));
        assert_eq!(m["tls.ca_file"], Value::Str("/etc/pealet/ca.pem".into()));
    }

    #[test]
    fn anything_else_is_refused_with_its_line() {
        for (text, line, what) in [
            ("a = 1.5", 1, "unsupported value"),
            ("\n[tls\n", 2, "section header"),
            ("[a b]", 1, "section name"),
            ("[a.\"x]", 1, "ends with"),
            ("[a.]", 1, "section name"),
            ("[\"\"]", 1, "section name"),
            ("[a.\"x\" y]", 1, "section name"),
            ("a = \"open", 1, "ends with"),
            ("a = {x = 1}", 1, "unsupported value"),
            ("a.b = 1", 1, "a key is"),
            ("a = 1\na = 2", 2, "set twice"),
            ("a = [1, 2]", 1, "holds strings"),
            ("just words", 1, "expected key = value"),
            ("a = \"x\" y", 1, "after the string"),
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}");
            assert!(e.what.contains(what), "{text:?}: {e}");
        }
    }
}
