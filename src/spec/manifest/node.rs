//! A parsed YAML/JSON document: a small tree of values, each with the line it starts on.

/// A value and where it was found (1-based line; 0 for trees built in memory).
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub line: u32,
}

/// Scalars are resolved by the YAML 1.2 core schema: `80` is an integer, `"80"` a string.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    /// Kept as written, so that quantities like `0.5` are parsed exactly.
    Float(String),
    Str(String),
    Seq(Vec<Node>),
    /// In document order; duplicate keys are reported by the parser.
    Map(Vec<(String, Node)>),
}

impl Node {
    pub fn new(value: Value) -> Node {
        Node { value, line: 0 }
    }

    /// The value of `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// A name for the kind of value, for error messages: `a string`, `a list`.
    pub fn kind_name(&self) -> &'static str {
        match &self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}
