//! A YAML document tree that remembers where every node came from.
//!
//! The project file must report *every* mistake with its line and column, not
//! only the first one a deserializer trips over; that needs positions on each
//! node, which serde-based YAML readers do not keep. This module builds such a
//! tree from the parser's marked events; `schema.rs` then walks it.

use std::collections::HashMap;
use std::fmt;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A 1-based line and column in the project file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, serde::Serialize)]
pub struct Pos {
    /// Line, starting at 1.
    pub line: usize,
    /// Column, starting at 1.
    pub col: usize,
}

impl Pos {
    fn from_marker(m: &Marker) -> Self {
        Pos {
            line: m.line(),
            col: m.col() + 1,
        }
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// What a node holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// An explicit or implicit null (`~`, `null`, or nothing at all).
    Null,
    /// A scalar with its source text; `plain` is false for quoted and block
    /// scalars, which are always strings.
    Scalar {
        /// The scalar's text, unescaped.
        text: String,
        /// Whether the scalar was written without quotes.
        plain: bool,
    },
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in source order.
    Map(Vec<(Node, Node)>),
}

/// A YAML node with its position and optional tag (`!pipEnv` → `pipEnv`).
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The node's content.
    pub kind: Kind,
    /// The local tag without its `!`, if any.
    pub tag: Option<String>,
    /// Where the node starts.
    pub pos: Pos,
}

impl Node {
    /// The scalar text, if this is a scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// A short name for the node's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match &self.kind {
            Kind::Null => "nothing",
            Kind::Scalar { .. } => "a scalar",
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a mapping",
        }
    }

    /// Converts the node into JSON following YAML 1.2's core schema for plain
    /// scalars (null, booleans, integers, floats); quoted scalars stay strings.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.kind {
            Kind::Null => Value::Null,
            Kind::Scalar { text, plain: false } => Value::String(text.clone()),
            Kind::Scalar { text, plain: true } => plain_scalar_to_json(text),
            Kind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            Kind::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.as_str().unwrap_or_default().to_string(), v.to_json()))
                    .collect(),
            ),
        }
    }
}

fn plain_scalar_to_json(text: &str) -> serde_json::Value {
    use serde_json::Value;
    match text {
        "~" | "null" | "Null" | "NULL" | "" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if let Ok(i) = text.parse::<i64>() {
        return Value::from(i);
    }
    if let Some(f) = parse_yaml_float(text) {
        // JSON has no NaN or infinity; keep those as their YAML spelling so a
        // plugin sees what the user wrote rather than a silent null.
        if f.is_finite() {
            return Value::from(f);
        }
    }
    Value::String(text.to_string())
}

/// Parses a YAML 1.2 core-schema float (`1.5`, `-2e3`, `.inf`, `.nan`).
pub fn parse_yaml_float(text: &str) -> Option<f64> {
    match text {
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Some(f64::NAN),
        _ => {}
    }
    let looks_numeric = text
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'))
        && text.chars().any(|c| c.is_ascii_digit());
    if looks_numeric {
        text.parse::<f64>().ok()
    } else {
        None
    }
}

/// A YAML syntax error with its position.
#[derive(Debug, Clone)]
pub struct SyntaxError {
    /// Where the parser gave up.
    pub pos: Pos,
    /// What it found wrong.
    pub message: String,
}

/// Parses one YAML document into a [`Node`] tree. An empty document is `Null`.
pub fn parse(source: &str) -> Result<Node, SyntaxError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(source);
    parser.load(&mut builder, false).map_err(|e| SyntaxError {
        pos: Pos::from_marker(e.marker()),
        message: e.info().to_string(),
    })?;
    if let Some(err) = builder.error {
        return Err(err);
    }
    Ok(builder.root.unwrap_or(Node {
        kind: Kind::Null,
        tag: None,
        pos: Pos { line: 1, col: 1 },
    }))
}

enum Frame {
    Seq(Node, usize),
    Map(Node, usize, Option<Node>),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    root: Option<Node>,
    anchors: HashMap<usize, Node>,
    error: Option<SyntaxError>,
}

fn local_tag(tag: Option<Tag>) -> Option<String> {
    tag.map(|t| {
        if t.handle == "!" {
            t.suffix
        } else {
            format!("{}{}", t.handle, t.suffix)
        }
    })
}

impl Builder {
    fn push_value(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some(Frame::Seq(seq, _)) => {
                if let Kind::Seq(items) = &mut seq.kind {
                    items.push(node);
                }
            }
            Some(Frame::Map(map, _, pending)) => match pending.take() {
                None => *pending = Some(node),
                Some(key) => {
                    if let Kind::Map(entries) = &mut map.kind {
                        entries.push((key, node));
                    }
                }
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let pos = Pos::from_marker(&mark);
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                let plain = matches!(style, TScalarStyle::Plain);
                let kind = if plain && matches!(text.as_str(), "~" | "null" | "Null" | "NULL" | "")
                {
                    Kind::Null
                } else {
                    Kind::Scalar { text, plain }
                };
                let tag = local_tag(tag);
                self.push_value(Node { kind, tag, pos }, anchor);
            }
            Event::SequenceStart(anchor, tag) => {
                let node = Node {
                    kind: Kind::Seq(Vec::new()),
                    tag: local_tag(tag),
                    pos,
                };
                self.stack.push(Frame::Seq(node, anchor));
            }
            Event::MappingStart(anchor, tag) => {
                let node = Node {
                    kind: Kind::Map(Vec::new()),
                    tag: local_tag(tag),
                    pos,
                };
                self.stack.push(Frame::Map(node, anchor, None));
            }
            Event::SequenceEnd | Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Seq(node, anchor)) | Some(Frame::Map(node, anchor, _)) => {
                    self.push_value(node, anchor)
                }
                None => {}
            },
            Event::Alias(id) => match self.anchors.get(&id).cloned() {
                Some(mut node) => {
                    node.pos = pos;
                    self.push_value(node, 0);
                }
                None => {
                    if self.error.is_none() {
                        self.error = Some(SyntaxError {
                            pos,
                            message: "alias refers to an unknown anchor".into(),
                        });
                    }
                }
            },
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_tags_and_nulls() {
        let doc = "a: 1\nb:\n  - !pipEnv\n    command: x\nc:\n";
        let root = parse(doc).expect("parses");
        let Kind::Map(entries) = &root.kind else {
            panic!("not a map")
        };
        assert_eq!(entries[0].0.pos, Pos { line: 1, col: 1 });
        assert_eq!(entries[1].0.as_str(), Some("b"));
        let Kind::Seq(items) = &entries[1].1.kind else {
            panic!("not a seq")
        };
        assert_eq!(items[0].tag.as_deref(), Some("pipEnv"));
        // A block mapping starts at its first key.
        assert_eq!(items[0].pos.line, 4);
        assert_eq!(entries[2].1.kind, Kind::Null);
    }

    #[test]
    fn json_follows_core_schema() {
        let root = parse("a: 1\nb: '1'\nc: 0.5\nd: true\ne: [x, ~]\nf: 3.10\n").expect("parses");
        let json = root.to_json();
        assert_eq!(
            json,
            serde_json::json!({"a": 1, "b": "1", "c": 0.5, "d": true, "e": ["x", null], "f": 3.1})
        );
    }

    #[test]
    fn syntax_error_has_position() {
        let err = parse("a: [1, 2\nb: 3\n").expect_err("must fail");
        assert!(err.pos.line >= 1);
        assert!(!err.message.is_empty());
    }

    #[test]
    fn anchors_are_resolved() {
        let root = parse("a: &x {k: v}\nb: *x\n").expect("parses");
        let json = root.to_json();
        assert_eq!(json["b"]["k"], "v");
    }
}
