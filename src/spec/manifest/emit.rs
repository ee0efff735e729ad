//! Prints a [`Node`] tree as JSON (like `kubectl get -o json`) or block-style YAML (like
//! `kubectl get -o yaml`), without recursion: any depth of tree prints, nothing panics.
//!
//! Strings that YAML would read as something else (`"80"`, `"true"`, `""`, `"a: b"`) are
//! quoted, so the text reads back as the same tree. Key order is the tree's order.

use std::fmt::Write as _;

use super::node::{Node, Value};

/// Pretty JSON with a 4-space indent and a final newline.
pub fn to_json(node: &Node) -> String {
    let mut out = json(node, true);
    out.push('\n');
    out
}

/// JSON without any whitespace, as sent over the wire by Kubernetes API servers.
pub fn to_json_compact(node: &Node) -> String {
    json(node, false)
}

fn json(node: &Node, pretty: bool) -> String {
    enum Frame<'a> {
        Map(std::slice::Iter<'a, (String, Node)>, usize, bool),
        Seq(std::slice::Iter<'a, Node>, usize, bool),
    }
    let mut out = String::new();
    let mut stack: Vec<Frame<'_>> = Vec::new();
    let mut next = Some(node);
    loop {
        if let Some(node) = next.take() {
            let depth = stack.len();
            match &node.value {
                Value::Map(m) if !m.is_empty() => {
                    out.push('{');
                    stack.push(Frame::Map(m.iter(), depth + 1, true));
                }
                Value::Seq(s) if !s.is_empty() => {
                    out.push('[');
                    stack.push(Frame::Seq(s.iter(), depth + 1, true));
                }
                value => json_scalar(&mut out, value),
            }
        }
        let Some(frame) = stack.last_mut() else { break };
        let (item, indent, first, close) = match frame {
            Frame::Map(it, indent, first) => (
                it.next().map(|(k, v)| (Some(k), v)),
                *indent,
                std::mem::take(first),
                '}',
            ),
            Frame::Seq(it, indent, first) => (
                it.next().map(|v| (None, v)),
                *indent,
                std::mem::take(first),
                ']',
            ),
        };
        match item {
            Some((key, value)) => {
                if !first {
                    out.push(',');
                }
                if pretty {
                    out.push('\n');
                    push_indent(&mut out, indent * 4);
                }
                if let Some(key) = key {
                    json_string(&mut out, key);
                    out.push_str(if pretty { ": " } else { ":" });
                }
                next = Some(value);
            }
            None => {
                stack.pop();
                if pretty {
                    out.push('\n');
                    push_indent(&mut out, (indent - 1) * 4);
                }
                out.push(close);
            }
        }
    }
    out
}

fn json_scalar(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) => match json_number(f) {
            Some(n) => out.push_str(&n),
            // `.inf` and `.nan` have no JSON form: keep the text rather than lose it.
            None => json_string(out, f),
        },
        Value::Str(s) => json_string(out, s),
        Value::Map(_) => out.push_str("{}"),
        Value::Seq(_) => out.push_str("[]"),
    }
}

/// A YAML core-schema float as a JSON number: `.5` is `0.5`, `+1.` is `1.0`.
fn json_number(f: &str) -> Option<String> {
    if !is_core_float(f) || f.contains(['i', 'I', 'n', 'N']) {
        return None;
    }
    let (sign, rest) = match f.as_bytes().first() {
        Some(b'-') => ("-", &f[1..]),
        Some(b'+') => ("", &f[1..]),
        _ => ("", f),
    };
    let (mantissa, exp) = rest
        .split_once(['e', 'E'])
        .map_or((rest, ""), |(m, e)| (m, e));
    let (int, frac) = mantissa
        .split_once('.')
        .map_or((mantissa, None), |(i, f)| (i, Some(f)));
    let int = int.trim_start_matches('0');
    let mut n = format!("{sign}{}", if int.is_empty() { "0" } else { int });
    match frac {
        Some("") => n.push_str(".0"),
        Some(frac) => n = format!("{n}.{frac}"),
        None => {}
    }
    if !exp.is_empty() {
        n = format!("{n}e{exp}");
    }
    Some(n)
}

fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if u32::from(c) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn push_indent(out: &mut String, mut n: usize) {
    const SPACES: &str = "                                                                ";
    while n > 0 {
        let k = n.min(SPACES.len());
        out.push_str(&SPACES[..k]);
        n -= k;
    }
}

/// Block-style YAML with a 2-space indent, lists at their key's indent (as kubectl).
pub fn to_yaml(node: &Node) -> String {
    /// A mapping or list being printed: its items, the indent of its items, and
    /// whether the next item goes on the current line (right after a `- `).
    enum Frame<'a> {
        Map(std::slice::Iter<'a, (String, Node)>, usize, bool),
        Seq(std::slice::Iter<'a, Node>, usize, bool),
    }
    let mut out = String::new();
    let mut stack: Vec<Frame<'_>> = Vec::new();
    // The next value to print: the node, the indent of its line, and whether it follows
    // a `key:` (else a `- ` or nothing at all).
    let mut next = Some((node, 0usize, false));
    loop {
        if let Some((node, indent, after_key)) = next.take() {
            match &node.value {
                Value::Map(m) if !m.is_empty() => {
                    let inline = !after_key && !out.is_empty();
                    if after_key {
                        out.push('\n');
                    }
                    let inner = if after_key || inline {
                        indent + 2
                    } else {
                        indent
                    };
                    stack.push(Frame::Map(m.iter(), inner, inline));
                }
                Value::Seq(s) if !s.is_empty() => {
                    let inline = !after_key && !out.is_empty();
                    if after_key {
                        out.push('\n');
                    }
                    let inner = if inline { indent + 2 } else { indent };
                    stack.push(Frame::Seq(s.iter(), inner, inline));
                }
                value => {
                    if after_key {
                        out.push(' ');
                    }
                    yaml_scalar(&mut out, value, indent + 2);
                    out.push('\n');
                }
            }
        }
        let Some(frame) = stack.last_mut() else { break };
        let (indent, inline) = match frame {
            Frame::Map(_, indent, inline) | Frame::Seq(_, indent, inline) => (*indent, inline),
        };
        if !std::mem::take(inline) {
            // The first item of a frame opened after `- ` stays on that line.
            match frame {
                Frame::Map(it, ..) if it.len() > 0 => push_indent(&mut out, indent),
                Frame::Seq(it, ..) if it.len() > 0 => push_indent(&mut out, indent),
                _ => {}
            }
        }
        let item = match frame {
            Frame::Map(it, ..) => it.next().map(|(k, v)| {
                yaml_key(&mut out, k);
                out.push(':');
                (v, true)
            }),
            Frame::Seq(it, ..) => it.next().map(|v| {
                out.push_str("- ");
                (v, false)
            }),
        };
        match item {
            Some((value, after_key)) => next = Some((value, indent, after_key)),
            None => {
                stack.pop();
            }
        }
    }
    out
}

fn yaml_scalar(out: &mut String, value: &Value, indent: usize) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) if is_core_float(f) => out.push_str(f),
        Value::Float(f) | Value::Str(f) => yaml_string(out, f, indent),
        Value::Map(_) => out.push_str("{}"),
        Value::Seq(_) => out.push_str("[]"),
    }
}

/// A string as a plain scalar when that reads back as the same string, else as a
/// literal block (multi-line text) or double-quoted.
fn yaml_string(out: &mut String, s: &str, indent: usize) {
    if is_plain_safe(s) {
        out.push_str(s);
    } else if is_literal_safe(s) {
        out.push_str(if s.ends_with('\n') { "|" } else { "|-" });
        for line in s.strip_suffix('\n').unwrap_or(s).split('\n') {
            out.push('\n');
            if !line.is_empty() {
                push_indent(out, indent);
                out.push_str(line);
            }
        }
    } else {
        yaml_double_quoted(out, s);
    }
}

/// A mapping key: plain or double-quoted, never a block.
fn yaml_key(out: &mut String, s: &str) {
    if is_plain_safe(s) {
        out.push_str(s);
    } else {
        yaml_double_quoted(out, s);
    }
}

fn yaml_double_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            c if is_printable(c) && !is_special_break(c) => out.push(c),
            c if u32::from(c) <= 0xff => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c if u32::from(c) <= 0xffff => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => {
                let _ = write!(out, "\\U{:08x}", u32::from(c));
            }
        }
    }
    out.push('"');
}

/// YAML's printable set, less the tab (quoted for clarity).
fn is_printable(c: char) -> bool {
    matches!(c, ' '..='~' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
        && c != '\u{feff}'
}

/// Line breaks in YAML 1.1 (NEL, LS, PS): always escaped.
fn is_special_break(c: char) -> bool {
    matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// True when `s` printed plain reads back as the string `s` in YAML 1.2 (core schema)
/// and in YAML 1.1 readers (`yes`, `on`, `0o7`, timestamps, sexagesimals are quoted).
fn is_plain_safe(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    let last = s.chars().next_back().unwrap_or(first);
    if first == ' ' || last == ' ' || last == ':' {
        return false;
    }
    if s.chars().any(|c| !is_printable(c) || is_special_break(c)) {
        return false;
    }
    if s.contains(": ") || s.contains(" #") {
        return false;
    }
    let second = s[first.len_utf8()..].chars().next();
    match first {
        '-' | '?' | ':' if second.is_none_or(|c| c == ' ') => return false,
        ',' | '[' | ']' | '{' | '}' | '#' | '&' | '*' | '!' | '|' | '>' | '\'' | '"' | '%'
        | '@' | '`' => return false,
        _ => {}
    }
    if s.starts_with("---") || s.starts_with("...") || matches!(s, "<<" | "=" | "~") {
        return false;
    }
    if is_reserved_word(s) {
        return false;
    }
    !looks_numeric(s)
}

/// Null and boolean words of YAML 1.2 core and YAML 1.1.
fn is_reserved_word(s: &str) -> bool {
    const WORDS: [&str; 11] = [
        "null", "true", "false", "yes", "no", "on", "off", "y", "n", "nan", "inf",
    ];
    if s.len() > 7 {
        return false;
    }
    let lower = s.to_ascii_lowercase();
    let lower = lower.trim_start_matches(['.', '+', '-']);
    WORDS.contains(&lower)
}

/// Anything a YAML reader could take for a number, date or time: a digit (or a sign or
/// dot and a digit) first, then only digits, spaces, `.:_+-` and the letters of hex,
/// octal, binary, exponent and timestamp forms. `500m` and `64Mi` stay plain.
fn looks_numeric(s: &str) -> bool {
    let b = s.as_bytes();
    let digit_at = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
    let starts = digit_at(0)
        || (matches!(b[0], b'+' | b'-' | b'.')
            && (digit_at(1) || (b.get(1) == Some(&b'.') && digit_at(2))));
    starts
        && b.iter()
            .all(|c| c.is_ascii_hexdigit() || b".:_+- xXoObBtTzZ".contains(c))
}

/// Core-schema float syntax (`1.5`, `.5`, `-1e3`, `.inf`, `.NaN`).
fn is_core_float(s: &str) -> bool {
    let unsigned = s.strip_prefix(['-', '+']).unwrap_or(s);
    if matches!(unsigned, ".inf" | ".Inf" | ".INF") || matches!(s, ".nan" | ".NaN" | ".NAN") {
        return true;
    }
    let (mantissa, exp) = unsigned
        .split_once(['e', 'E'])
        .map_or((unsigned, None), |(m, e)| (m, Some(e)));
    let digits = |t: &str| t.bytes().all(|c| c.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some(("", frac)) => !frac.is_empty() && digits(frac),
        Some((int, frac)) => digits(int) && digits(frac),
        None => !mantissa.is_empty() && digits(mantissa),
    };
    let exp_ok = exp.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    mantissa_ok && exp_ok
}

/// Multi-line text that a literal block keeps exactly: printable, no leading blank,
/// at most one final newline, no carriage return.
fn is_literal_safe(s: &str) -> bool {
    s.contains('\n')
        && !s.starts_with([' ', '\t', '\n'])
        && !s.ends_with("\n\n")
        && s.chars()
            .all(|c| c == '\n' || c == '\t' || (is_printable(c) && !is_special_break(c)))
        && s.split('\n').all(|line| !line.ends_with([' ', '\t']))
}

#[cfg(test)]
mod tests;
