//! Text (YAML 1.2 or JSON) to one [`Node`] tree per document, with line numbers.
//!
//! Built from `saphyr-parser` events with an explicit stack, never by recursion, and
//! within limits ([`MAX_INPUT`], [`MAX_DEPTH`], [`MAX_NODES`]) so that hostile input
//! ends in an error, not in a crash or a memory blow-up. Plain scalars are resolved by
//! the YAML 1.2 core schema; quoted and block scalars are always strings. Anchors,
//! aliases, merge keys and non-core tags are refused: a manifest never needs them.
//! This module knows nothing about pods; `read` gives the tree its meaning.

use std::collections::HashSet;

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Tag};

use super::node::{Node, Value};

/// Largest input accepted, in bytes.
pub const MAX_INPUT: usize = 1024 * 1024;
/// Deepest nesting of lists and mappings.
pub const MAX_DEPTH: usize = 64;
/// Most values (scalars, lists, mappings) in one input, all documents together.
pub const MAX_NODES: usize = 100_000;

/// Why a text could not be parsed. Lines are 1-based.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum YamlError {
    #[error("input is {0} bytes, more than the maximum of {MAX_INPUT}")]
    TooLarge(usize),
    #[error("line {line}: {message}")]
    Syntax { line: u32, message: String },
    #[error("line {0}: nested more than {MAX_DEPTH} levels deep")]
    TooDeep(u32),
    #[error("line {0}: more than {MAX_NODES} values")]
    TooManyNodes(u32),
    #[error("line {line}: duplicate key {key:?}")]
    DuplicateKey { line: u32, key: String },
    #[error("line {line}: mapping keys must be strings, got {kind}")]
    NonStringKey { line: u32, kind: &'static str },
    #[error("line {0}: anchors and aliases are not supported")]
    Alias(u32),
    #[error("line {0}: merge keys (<<) are not supported")]
    MergeKey(u32),
    #[error("line {line}: tag {tag} is not supported")]
    Tag { line: u32, tag: String },
    #[error("line {line}: {value:?} is not a valid {tag}")]
    TagMismatch {
        line: u32,
        tag: &'static str,
        value: String,
    },
}

/// A list or mapping under construction.
enum Frame {
    Seq {
        line: u32,
        items: Vec<Node>,
    },
    Map {
        line: u32,
        entries: Vec<(String, Node)>,
        keys: HashSet<String>,
        key: Option<String>,
    },
}

/// Parses every document of `text`; an empty document gives a `Null` node.
pub fn parse(text: &str) -> Result<Vec<Node>, YamlError> {
    if text.len() > MAX_INPUT {
        return Err(YamlError::TooLarge(text.len()));
    }
    let mut docs = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut nodes = 0usize;
    for item in Parser::new_from_str(text) {
        let (event, span) = item.map_err(syntax)?;
        let line = u32::try_from(span.start.line()).unwrap_or(u32::MAX);
        let done = match event {
            Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart(_)
            | Event::DocumentEnd
            | Event::Nothing => continue,
            Event::Alias(_) => return Err(YamlError::Alias(line)),
            Event::Scalar(_, _, anchor, _)
            | Event::SequenceStart(anchor, _)
            | Event::MappingStart(anchor, _)
                if anchor != 0 =>
            {
                return Err(YamlError::Alias(line));
            }
            Event::SequenceStart(_, tag) | Event::MappingStart(_, tag)
                if tag.as_deref().is_some_and(|t| !is_core(t, &["seq", "map"])) =>
            {
                let tag = tag.map(|t| t.to_string()).unwrap_or_default();
                return Err(YamlError::Tag { line, tag });
            }
            Event::Scalar(text, style, _, tag) => {
                count(&mut nodes, line)?;
                Node {
                    value: scalar(&text, style, tag.as_deref(), line)?,
                    line,
                }
            }
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                count(&mut nodes, line)?;
                if stack.len() >= MAX_DEPTH {
                    return Err(YamlError::TooDeep(line));
                }
                stack.push(match event {
                    Event::SequenceStart(..) => Frame::Seq {
                        line,
                        items: Vec::new(),
                    },
                    _ => Frame::Map {
                        line,
                        entries: Vec::new(),
                        keys: HashSet::new(),
                        key: None,
                    },
                });
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some(Frame::Seq { line, items }) => Node {
                    value: Value::Seq(items),
                    line,
                },
                Some(Frame::Map { line, entries, .. }) => Node {
                    value: Value::Map(entries),
                    line,
                },
                None => {
                    return Err(YamlError::Syntax {
                        line,
                        message: "unbalanced end".into(),
                    });
                }
            },
        };
        match stack.last_mut() {
            None => docs.push(done),
            Some(Frame::Seq { items, .. }) => items.push(done),
            Some(Frame::Map {
                entries, keys, key, ..
            }) => match key.take() {
                Some(k) => entries.push((k, done)),
                None => *key = Some(new_key(done, keys)?),
            },
        }
    }
    Ok(docs)
}

fn syntax(e: ScanError) -> YamlError {
    let line = u32::try_from(e.marker().line()).unwrap_or(u32::MAX);
    YamlError::Syntax {
        line,
        message: e.info().to_owned(),
    }
}

fn count(nodes: &mut usize, line: u32) -> Result<(), YamlError> {
    *nodes += 1;
    if *nodes > MAX_NODES {
        return Err(YamlError::TooManyNodes(line));
    }
    Ok(())
}

/// Checks that a finished node can be a key of the mapping whose `keys` are given.
fn new_key(node: Node, keys: &mut HashSet<String>) -> Result<String, YamlError> {
    let line = node.line;
    let key = match node.value {
        Value::Str(s) => s,
        _ => {
            return Err(YamlError::NonStringKey {
                line,
                kind: node.kind_name(),
            });
        }
    };
    if !keys.insert(key.clone()) {
        return Err(YamlError::DuplicateKey { line, key });
    }
    Ok(key)
}

fn is_core(tag: &Tag, suffixes: &[&str]) -> bool {
    tag.is_yaml_core_schema() && suffixes.contains(&tag.suffix.as_str())
}

/// Resolves a scalar: by its core tag if it has one, else by style and content.
fn scalar(
    text: &str,
    style: ScalarStyle,
    tag: Option<&Tag>,
    line: u32,
) -> Result<Value, YamlError> {
    let Some(tag) = tag else {
        if style == ScalarStyle::Plain {
            if text == "<<" {
                return Err(YamlError::MergeKey(line));
            }
            return Ok(resolve_plain(text));
        }
        return Ok(Value::Str(text.to_owned()));
    };
    if !tag.is_yaml_core_schema() {
        return Err(YamlError::Tag {
            line,
            tag: tag.to_string(),
        });
    }
    let value = resolve_plain(text);
    let (ok, name) = match tag.suffix.as_str() {
        "str" => return Ok(Value::Str(text.to_owned())),
        "null" => (matches!(value, Value::Null), "null"),
        "bool" => (matches!(value, Value::Bool(_)), "bool"),
        "int" => (matches!(value, Value::Int(_)), "int"),
        "float" => (matches!(value, Value::Int(_) | Value::Float(_)), "float"),
        _ => {
            return Err(YamlError::Tag {
                line,
                tag: tag.to_string(),
            });
        }
    };
    if !ok {
        return Err(YamlError::TagMismatch {
            line,
            tag: name,
            value: text.to_owned(),
        });
    }
    Ok(match value {
        Value::Int(_) if name == "float" => Value::Float(text.to_owned()),
        v => v,
    })
}

/// The YAML 1.2 core schema for plain scalars. An integer too large for `i64` is kept
/// as a `Float`, as written, so that nothing is lost.
pub fn resolve_plain(s: &str) -> Value {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if let Some(hex) = s.strip_prefix("0x") {
        if let Some(v) = radix(hex, 16) {
            return v;
        }
    }
    if let Some(oct) = s.strip_prefix("0o") {
        if let Some(v) = radix(oct, 8) {
            return v;
        }
    }
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return match s.parse::<i64>() {
            Ok(i) => Value::Int(i),
            Err(_) => Value::Float(s.to_owned()),
        };
    }
    if is_float(s) {
        return Value::Float(s.to_owned());
    }
    Value::Str(s.to_owned())
}

fn radix(digits: &str, radix: u32) -> Option<Value> {
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    Some(match i64::from_str_radix(digits, radix) {
        Ok(i) => Value::Int(i),
        Err(_) => Value::Float(format!("0{}{digits}", if radix == 16 { 'x' } else { 'o' })),
    })
}

/// `[-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?`, or inf/nan.
fn is_float(s: &str) -> bool {
    let unsigned = s.strip_prefix(['-', '+']).unwrap_or(s);
    if matches!(unsigned, ".inf" | ".Inf" | ".INF") || matches!(s, ".nan" | ".NaN" | ".NAN") {
        return true;
    }
    let (mantissa, exp) = match unsigned.find(['e', 'E']) {
        Some(i) => (&unsigned[..i], Some(&unsigned[i + 1..])),
        None => (unsigned, None),
    };
    let all_digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some((int, frac)) => {
            all_digits(int) && all_digits(frac) && !(int.is_empty() && frac.is_empty())
        }
        None => !mantissa.is_empty() && all_digits(mantissa),
    };
    let exp_ok = match exp {
        None => true,
        Some(e) => {
            let e = e.strip_prefix(['-', '+']).unwrap_or(e);
            !e.is_empty() && all_digits(e)
        }
    };
    mantissa_ok && exp_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Node {
        let mut docs = parse(text).unwrap();
        assert_eq!(docs.len(), 1, "{docs:?}");
        docs.remove(0)
    }

    fn str(s: &str) -> Value {
        Value::Str(s.to_owned())
    }

    /// The value with every line set to 0.
    fn unline(n: &Node) -> Value {
        let node = |n: &Node| Node::new(unline(n));
        match &n.value {
            Value::Seq(items) => Value::Seq(items.iter().map(node).collect()),
            Value::Map(entries) => {
                Value::Map(entries.iter().map(|(k, v)| (k.clone(), node(v))).collect())
            }
            v => v.clone(),
        }
    }

    #[test]
    fn plain_scalars_follow_the_core_schema() {
        let cases = [
            ("~", Value::Null),
            ("null", Value::Null),
            ("", Value::Null),
            ("true", Value::Bool(true)),
            ("FALSE", Value::Bool(false)),
            ("yes", str("yes")),
            ("on", str("on")),
            ("80", Value::Int(80)),
            ("-7", Value::Int(-7)),
            ("+7", Value::Int(7)),
            ("0x1F", Value::Int(31)),
            ("0o17", Value::Int(15)),
            ("017", Value::Int(17)),
            ("0.5", Value::Float("0.5".into())),
            (".5", Value::Float(".5".into())),
            ("1e3", Value::Float("1e3".into())),
            ("-.inf", Value::Float("-.inf".into())),
            (
                "99999999999999999999",
                Value::Float("99999999999999999999".into()),
            ),
            ("1.2.3", str("1.2.3")),
            ("64Mi", str("64Mi")),
            ("0x", str("0x")),
            ("1_000", str("1_000")),
            (".", str(".")),
        ];
        for (text, want) in cases {
            assert_eq!(resolve_plain(text), want, "{text:?}");
        }
    }

    #[test]
    fn quoted_scalars_are_strings_and_lines_are_kept() {
        let n = one("a: '80'\nb: \"true\"\nc: 80\nd: |\n  x\ne: !!str 80\nf: !!float 1\n");
        let Value::Map(entries) = &n.value else {
            panic!("{n:?}")
        };
        let got: Vec<(&str, &Value, u32)> = entries
            .iter()
            .map(|(k, v)| (k.as_str(), &v.value, v.line))
            .collect();
        assert_eq!(
            got,
            [
                ("a", &str("80"), 1),
                ("b", &str("true"), 2),
                ("c", &Value::Int(80), 3),
                ("d", &str("x\n"), 5),
                ("e", &str("80"), 6),
                ("f", &Value::Float("1".into()), 7),
            ]
        );
    }

    #[test]
    fn block_flow_and_json_give_the_same_tree() {
        let block = "a:\n- 1\n- {b: x, c: [true, null]}\n";
        let flow = "{a: [1, {b: x, c: [true, null]}]}";
        let json = r#"{"a": [1, {"b": "x", "c": [true, null]}]}"#;
        let want = unline(&one(block));
        assert_eq!(unline(&one(flow)), want);
        assert_eq!(unline(&one(json)), want);
    }

    #[test]
    fn documents_comments_and_no_trailing_newline() {
        let docs = parse("# head\na: 1 # one\n---\n---\nb: 2\n...\n--- c").unwrap();
        let values: Vec<Value> = docs.into_iter().map(|d| d.value).collect();
        assert_eq!(values.len(), 4);
        assert_eq!(
            values[0],
            Value::Map(vec![(
                "a".into(),
                Node {
                    value: Value::Int(1),
                    line: 2
                }
            )])
        );
        assert_eq!(values[1], Value::Null);
        assert_eq!(values[3], str("c"));
        assert_eq!(parse("").unwrap(), vec![]);
        assert_eq!(parse("# only a comment").unwrap(), vec![]);
    }

    #[test]
    fn bad_keys_and_syntax_are_errors_with_lines() {
        let cases = [
            (
                "a: 1\nb: 2\na: 3\n",
                YamlError::DuplicateKey {
                    line: 3,
                    key: "a".into(),
                },
            ),
            (
                "a: 1\n80: 2\n",
                YamlError::NonStringKey {
                    line: 2,
                    kind: "an integer",
                },
            ),
            (
                "? [a]\n: 1\n",
                YamlError::NonStringKey {
                    line: 1,
                    kind: "a list",
                },
            ),
            ("a: &x 1\nb: *x\n", YamlError::Alias(1)),
            ("<<: {a: 1}\n", YamlError::MergeKey(1)),
            (
                "a: !foo 1\n",
                YamlError::Tag {
                    line: 1,
                    tag: "!foo".into(),
                },
            ),
            (
                "a: !!int x\n",
                YamlError::TagMismatch {
                    line: 1,
                    tag: "int",
                    value: "x".into(),
                },
            ),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text), Err(want), "{text:?}");
        }
        let err = parse("a: *x\n").unwrap_err();
        assert!(matches!(err, YamlError::Syntax { line: 1, .. }), "{err:?}");
        let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(matches!(err, YamlError::Syntax { .. }), "{err:?}");
        assert!(err.to_string().starts_with("line "), "{err}");
    }

    #[test]
    fn hostile_inputs_end_in_errors() {
        assert_eq!(parse(&"[".repeat(100)), Err(YamlError::TooDeep(1)));
        // The scanner has its own limit of 255 flow levels, met first here.
        assert!(matches!(
            parse(&"[".repeat(100_000)),
            Err(YamlError::Syntax { .. })
        ));
        let deep_block: String = (0..200).map(|i| format!("{}a:\n", " ".repeat(i))).collect();
        assert!(matches!(parse(&deep_block), Err(YamlError::TooDeep(_))));
        let huge = "a".repeat(MAX_INPUT + 1);
        assert_eq!(parse(&huge), Err(YamlError::TooLarge(MAX_INPUT + 1)));
        let wide = format!("[{}]", "1,".repeat(MAX_NODES));
        assert!(matches!(parse(&wide), Err(YamlError::TooManyNodes(1))));
        let mut laughs = String::from("a: &a [x, x, x, x, x, x, x, x, x]\n");
        for i in 0..20 {
            laughs.push_str(&format!(
                "b{i}: &b{i} [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
            ));
        }
        assert_eq!(parse(&laughs), Err(YamlError::Alias(1)));
        for text in [
            "\t- a",
            "a: b: c",
            "[",
            "{a",
            "'",
            "- a\nb: c",
            "\u{feff}a: 1",
            ":::",
            "a:\n\t- b",
        ] {
            let _ = parse(text);
        }
    }
}
