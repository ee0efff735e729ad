//! Tests of the printers: exact layout, and tricky strings read back by a YAML 1.2
//! parser (saphyr) into the same tree.

use saphyr_parser::{Event, Parser, ScalarStyle};

use super::*;

fn s(v: &str) -> Node {
    Node::new(Value::Str(v.to_owned()))
}

fn map(entries: Vec<(&str, Node)>) -> Node {
    Node::new(Value::Map(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
    ))
}

fn seq(items: Vec<Node>) -> Node {
    Node::new(Value::Seq(items))
}

/// Reads YAML (or JSON) text back into a tree, resolving plain scalars by the core schema.
fn parse(text: &str) -> Node {
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<(Node, Option<String>)> = Vec::new();
    let mut root = None;
    while let Some(ev) = parser.next_event() {
        let (ev, _) = ev.unwrap_or_else(|e| panic!("{e}\n{text}"));
        let node = match ev {
            Event::Scalar(v, style, ..) => Some(scalar(&v, style)),
            Event::SequenceStart(..) => {
                stack.push((seq(vec![]), None));
                None
            }
            Event::MappingStart(..) => {
                stack.push((map(vec![]), None));
                None
            }
            Event::SequenceEnd | Event::MappingEnd => stack.pop().map(|(n, _)| n),
            _ => None,
        };
        let Some(node) = node else { continue };
        match stack.last_mut() {
            None => root = Some(node),
            Some((
                Node {
                    value: Value::Seq(items),
                    ..
                },
                _,
            )) => items.push(node),
            Some((
                Node {
                    value: Value::Map(entries),
                    ..
                },
                key,
            )) => match key.take() {
                Some(k) => entries.push((k, node)),
                None => match node.value {
                    Value::Str(k) => *key = Some(k),
                    other => panic!("non-string key {other:?}"),
                },
            },
            Some(_) => unreachable!(),
        }
    }
    root.expect("a document")
}

fn scalar(v: &str, style: ScalarStyle) -> Node {
    if style != ScalarStyle::Plain {
        return s(v);
    }
    let value = match v {
        "" | "~" | "null" | "Null" | "NULL" => Value::Null,
        "true" | "True" | "TRUE" => Value::Bool(true),
        "false" | "False" | "FALSE" => Value::Bool(false),
        _ if v.parse::<i64>().is_ok() => Value::Int(v.parse().unwrap_or_default()),
        _ if is_core_float(v) => Value::Float(v.to_owned()),
        _ => Value::Str(v.to_owned()),
    };
    Node::new(value)
}

fn round_trips(node: &Node) {
    let yaml = to_yaml(node);
    assert_eq!(&parse(&yaml), node, "yaml:\n{yaml}");
    let json = to_json(node);
    assert_eq!(&parse(&json), node, "json:\n{json}");
}

const TRICKY: [&str; 56] = [
    "80",
    "0b101",
    "1e+3",
    "-.5",
    "2001-12-14 21:59:43.10 -5",
    "0",
    "-1",
    "+1",
    "1.5",
    ".5",
    "1e3",
    "0x1F",
    "0o17",
    "1_000",
    "12:30",
    "2026-11-22T02:04:09Z",
    "true",
    "True",
    "false",
    "yes",
    "no",
    "on",
    "off",
    "y",
    "N",
    "null",
    "Null",
    "~",
    "",
    " ",
    " a",
    "a ",
    "a: b",
    "a:",
    "a #b",
    "#a",
    "- a",
    "-",
    "?",
    ": x",
    "---",
    "...",
    "*x",
    "&a",
    "!t",
    "|",
    ">",
    "'q'",
    "\"q\"",
    "%x",
    "@x",
    "`x",
    "{a}",
    "[a]",
    ".inf",
    "-.Inf",
];

const TRICKY_TEXT: [&str; 12] = [
    "line1\nline2",
    "line1\nline2\n",
    "a\n\nb",
    "trailing\n\n",
    "\nleading",
    " indented\nx",
    "tab\there",
    "cr\r\n",
    "nul\0",
    "bell\u{7}",
    "nel\u{85}x",
    "bom\u{feff}",
];

const PLAIN: [&str; 16] = [
    "é ✓ 🐧",
    "back\\slash \"quoted\"",
    "500m",
    "64Mi",
    "6.6.51+rpt-rpi-v8",
    "alpine:latest",
    "echo",
    "Hello World!",
    "-c",
    "app.kubernetes.io/name",
    "metadata.labels['k']",
    "/dev/termination-log",
    "sh -c 'x'",
    "a:b",
    "a#b",
    "80/tcp",
];

#[test]
fn tricky_strings_read_back_as_the_same_strings() {
    for t in TRICKY.iter().chain(&TRICKY_TEXT).chain(&PLAIN) {
        round_trips(&s(t));
        round_trips(&map(vec![(t, s(t)), ("k", seq(vec![s(t), s(t)]))]));
        round_trips(&seq(vec![map(vec![
            ("a", s(t)),
            (t, map(vec![(t, s(t))])),
        ])]));
    }
}

#[test]
fn only_ambiguous_strings_are_quoted() {
    for t in TRICKY.iter().chain(&TRICKY_TEXT) {
        assert_ne!(to_yaml(&s(t)), format!("{t}\n"), "{t:?} must not be plain");
    }
    for t in PLAIN {
        assert_eq!(to_yaml(&s(t)), format!("{t}\n"));
    }
    assert_eq!(to_yaml(&s("80")), "\"80\"\n");
    assert_eq!(to_yaml(&s("")), "\"\"\n");
    assert_eq!(to_yaml(&map(vec![("a", s("x\ny\n"))])), "a: |\n  x\n  y\n");
    assert_eq!(
        to_yaml(&map(vec![("a", s("x\n\ny"))])),
        "a: |-\n  x\n\n  y\n"
    );
}

#[test]
fn yaml_layout_is_kubectl_block_style() {
    let node = map(vec![
        ("apiVersion", s("v1")),
        (
            "metadata",
            map(vec![("name", s("test")), ("labels", map(vec![]))]),
        ),
        (
            "containers",
            seq(vec![
                map(vec![
                    ("name", s("a")),
                    ("args", seq(vec![s("x"), seq(vec![s("p"), s("z")])])),
                    ("e", seq(vec![])),
                ]),
                Node::new(Value::Int(-3)),
            ]),
        ),
        (
            "flags",
            seq(vec![
                Node::new(Value::Bool(true)),
                Node::new(Value::Null),
                Node::new(Value::Float("0.5".into())),
            ]),
        ),
    ]);
    let want = "\
apiVersion: v1
metadata:
  name: test
  labels: {}
containers:
- name: a
  args:
  - x
  - - p
    - z
  e: []
- -3
flags:
- true
- null
- 0.5
";
    assert_eq!(to_yaml(&node), want);
    round_trips(&node);
    let json = to_json(&map(vec![
        ("a", seq(vec![s("x"), map(vec![])])),
        ("b", Node::new(Value::Float(".5".into()))),
    ]));
    assert_eq!(
        json,
        "{\n    \"a\": [\n        \"x\",\n        {}\n    ],\n    \"b\": 0.5\n}\n"
    );
    assert_eq!(to_json(&map(vec![])), "{}\n");
    assert_eq!(to_yaml(&seq(vec![])), "[]\n");
    let tree = map(vec![("a", seq(vec![s("x"), map(vec![])])), ("b", s("c d"))]);
    assert_eq!(to_json_compact(&tree), r#"{"a":["x",{}],"b":"c d"}"#);
}

#[test]
fn json_escapes_strings() {
    assert_eq!(
        to_json(&s("a\"b\\c\n\t\u{1}\u{2028}é")),
        "\"a\\\"b\\\\c\\n\\t\\u0001\\u2028é\"\n"
    );
    assert_eq!(json_number("+1."), Some("1.0".into()));
    assert_eq!(json_number("-007.25e-3"), Some("-7.25e-3".into()));
    assert_eq!(json_number(".nan"), None);
}

#[test]
fn deep_trees_print_without_recursion() {
    let mut node = s("leaf");
    for i in 0..3000 {
        node = if i % 2 == 0 {
            seq(vec![node])
        } else {
            map(vec![("k", node)])
        };
    }
    assert!(to_yaml(&node).ends_with("leaf\n"));
    assert!(to_json(&node).contains("\"leaf\""));
    // Tear the tree down without the recursive drop overflowing the stack.
    let mut stack = vec![node];
    while let Some(n) = stack.pop() {
        match n.value {
            Value::Seq(items) => stack.extend(items),
            Value::Map(entries) => stack.extend(entries.into_iter().map(|(_, v)| v)),
            _ => {}
        }
    }
}

#[test]
fn random_strings_round_trip() {
    const ALPHABET: [&str; 24] = [
        "a", "Z", "0", "9", " ", ":", "#", "-", "?", "'", "\"", "\\", "\n", "\t", "\r", ".", "e",
        "x", "!", "[", "{", "é", "\u{2028}", "\u{0}",
    ];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..3000 {
        let len = next() % 8;
        let t: String = (0..len).map(|_| ALPHABET[(next() % 24) as usize]).collect();
        round_trips(&map(vec![(&t, seq(vec![s(&t)]))]));
    }
}
