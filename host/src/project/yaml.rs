//! A YAML document tree that remembers where every node came from.
//!
//! The project file must report *every* mistake with its line and column, not
//! only the first one a deserializer trips over; that needs positions on each
//! node, which serde-based YAML readers do not keep. This module builds such a
//! tree from the parser's marked events; `reader/` then walks it.

use std::collections::HashMap;
use std::fmt;

/// Most nodes one document may hold, counting every node an alias expands
/// to. An AME project file with a thousand models has ~20,000; the bound
/// stops "billion laughs" documents, whose few hundred bytes of aliases
/// expand to billions of nodes, long before they cost real memory (a node
/// is ~100 bytes, so the bound is ~50 MB at worst).
pub const MAX_NODES: usize = 500_000;

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
    /// What to do about it.
    pub hint: &'static str,
}

const SYNTAX_HINT: &str = "fix the YAML syntax; `yamllint` shows the same position";

/// Parses one YAML document into a [`Node`] tree. An empty document is `Null`.
///
/// Besides syntax errors, a key written twice in one mapping is an error
/// (naming both positions: a reviewer reads the first, a last-wins reader
/// applies the second), and so is a document that holds, or whose aliases
/// expand to, more than [`MAX_NODES`] nodes. Every duplicate is reported.
/// A second document (after `---`) is an error at its start: a reader that
/// takes the first would never run the gates of the second. A byte order
/// mark before the document is not part of it (YAML allows one there).
pub fn parse(source: &str) -> Result<Node, Vec<SyntaxError>> {
    let source = source.strip_prefix('\u{feff}').unwrap_or(source);
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(source);
    if let Err(e) = parser.load(&mut builder, true) {
        let mut errors = std::mem::take(&mut builder.errors);
        errors.push(SyntaxError {
            pos: Pos::from_marker(e.marker()),
            message: format!("invalid YAML: {}", e.info()),
            hint: SYNTAX_HINT,
        });
        return Err(errors);
    }
    if !builder.errors.is_empty() {
        return Err(builder.errors);
    }
    Ok(builder.root.unwrap_or(Node {
        kind: Kind::Null,
        tag: None,
        pos: Pos { line: 1, col: 1 },
    }))
}

/// A collection being built: the node, its anchor id, and the node count
/// when it started (its size is the count at its end minus that).
enum Frame {
    Seq(Node, usize, usize),
    Map(MapFrame),
}

struct MapFrame {
    node: Node,
    anchor: usize,
    start: usize,
    pending: Option<Node>,
    /// Scalar keys seen so far, with where each was first written.
    seen: HashMap<String, Pos>,
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    root: Option<Node>,
    /// Anchored nodes and how many nodes each holds.
    anchors: HashMap<usize, (Node, usize)>,
    /// Nodes produced so far, alias expansions included.
    nodes: usize,
    /// Set once [`MAX_NODES`] is passed, or a second document starts;
    /// nothing more is built.
    overflowed: bool,
    /// Documents started.
    documents: usize,
    errors: Vec<SyntaxError>,
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
    /// Counts `n` more nodes; false (and one error) once past [`MAX_NODES`].
    fn count(&mut self, n: usize, pos: Pos) -> bool {
        if self.overflowed {
            return false;
        }
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > MAX_NODES {
            self.overflowed = true;
            self.errors.push(SyntaxError {
                pos,
                message: format!(
                    "the document holds more than {MAX_NODES} nodes (counting what its aliases expand to); a project file is never that large"
                ),
                hint: "write the repeated parts out, or split the project; aliases that nest other aliases multiply",
            });
            return false;
        }
        true
    }

    fn push_value(&mut self, node: Node, anchor: usize, size: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, (node.clone(), size));
        }
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some(Frame::Seq(seq, ..)) => {
                if let Kind::Seq(items) = &mut seq.kind {
                    items.push(node);
                }
            }
            Some(Frame::Map(frame)) => match frame.pending.take() {
                None => {
                    if let Some(key) = node.as_str() {
                        match frame.seen.get(key) {
                            Some(first) => self.errors.push(SyntaxError {
                                pos: node.pos,
                                message: format!(
                                    "key `{key}` is written twice in this mapping (first at line {}, column {}); YAML readers disagree on which one counts",
                                    first.line, first.col
                                ),
                                hint: "keep one of them",
                            }),
                            None => {
                                frame.seen.insert(key.to_string(), node.pos);
                            }
                        }
                    }
                    frame.pending = Some(node);
                }
                Some(key) => {
                    if let Kind::Map(entries) = &mut frame.node.kind {
                        entries.push((key, node));
                    }
                }
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    // Over 80 lines: one match over the parser's events, clearer whole.
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let pos = Pos::from_marker(&mark);
        if self.overflowed {
            return;
        }
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                if !self.count(1, pos) {
                    return;
                }
                let plain = matches!(style, TScalarStyle::Plain);
                let kind = if plain && matches!(text.as_str(), "~" | "null" | "Null" | "NULL" | "")
                {
                    Kind::Null
                } else {
                    Kind::Scalar { text, plain }
                };
                let tag = local_tag(tag);
                self.push_value(Node { kind, tag, pos }, anchor, 1);
            }
            Event::SequenceStart(anchor, tag) => {
                if !self.count(1, pos) {
                    return;
                }
                let node = Node {
                    kind: Kind::Seq(Vec::new()),
                    tag: local_tag(tag),
                    pos,
                };
                self.stack.push(Frame::Seq(node, anchor, self.nodes));
            }
            Event::MappingStart(anchor, tag) => {
                if !self.count(1, pos) {
                    return;
                }
                let node = Node {
                    kind: Kind::Map(Vec::new()),
                    tag: local_tag(tag),
                    pos,
                };
                self.stack.push(Frame::Map(MapFrame {
                    node,
                    anchor,
                    start: self.nodes,
                    pending: None,
                    seen: HashMap::new(),
                }));
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor, start) = match self.stack.pop() {
                    Some(Frame::Seq(node, anchor, start)) => (node, anchor, start),
                    Some(Frame::Map(f)) => (f.node, f.anchor, f.start),
                    None => return,
                };
                let size = self.nodes - start + 1;
                self.push_value(node, anchor, size);
            }
            Event::Alias(id) => match self.anchors.get(&id).map(|(_, size)| *size) {
                Some(size) => {
                    // Counted before cloning: the clone is what costs.
                    if !self.count(size, pos) {
                        return;
                    }
                    let Some((node, _)) = self.anchors.get(&id) else {
                        return;
                    };
                    let mut node = node.clone();
                    node.pos = pos;
                    self.push_value(node, 0, size);
                }
                None => self.errors.push(SyntaxError {
                    pos,
                    message: "alias refers to an unknown anchor".into(),
                    hint: SYNTAX_HINT,
                }),
            },
            Event::DocumentStart => {
                self.documents += 1;
                if self.documents > 1 {
                    self.overflowed = true;
                    self.errors.push(SyntaxError {
                        pos,
                        message: "a second YAML document starts here; a project file is one document, and the gates of another would never run".into(),
                        hint: "merge it into the first document (remove the `---`), or give it a project file of its own",
                    });
                }
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_document_and_no_byte_order_mark() {
        let two = "a: 1\n---\nb: 2\n";
        let errors = parse(two).expect_err("two documents");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].pos.line, 2, "{errors:?}");
        assert!(errors[0].message.starts_with("a second YAML document"));
        // One document, whether or not it is marked.
        for one in [
            "---\na: 1\n",
            "a: 1\n...\n",
            "# only a comment\n",
            "--- a\n",
        ] {
            assert!(parse(one).is_ok(), "{one:?}");
        }
        let bom = parse("\u{feff}a: 1\n").expect("a BOM is not content");
        let Kind::Map(entries) = &bom.kind else {
            panic!("not a map")
        };
        assert_eq!(entries[0].0.as_str(), Some("a"));
        assert_eq!(entries[0].0.pos, Pos { line: 1, col: 1 });
    }

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
        assert!(err[0].pos.line >= 1);
        assert!(err[0].message.starts_with("invalid YAML: "));
    }

    #[test]
    fn duplicate_keys_name_both_positions() {
        let errs =
            parse("config:\n  threshold: 0.99\n  other: 1\n  threshold: 0.1\nb: [1]\nb: 2\n")
                .expect_err("duplicates are errors");
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert_eq!(errs[0].pos, Pos { line: 4, col: 3 });
        assert!(errs[0].message.contains("`threshold` is written twice"));
        assert!(errs[0].message.contains("first at line 2, column 3"));
        assert_eq!(errs[1].pos, Pos { line: 6, col: 1 });
        // The same key in different mappings is fine.
        parse("a: {k: 1}\nb: {k: 2}\n").expect("distinct mappings");
    }

    #[test]
    fn alias_expansion_is_bounded() {
        // Ten levels of ten aliases each: 10^10 nodes if expanded.
        let mut doc = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let p = i - 1;
            doc.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let errs = parse(&doc).expect_err("bounded");
        assert_eq!(errs.len(), 1);
        assert!(
            errs[0].message.contains("more than 500000 nodes"),
            "{errs:?}"
        );
        // Modest reuse still works.
        let root = parse("a: &x [1, 2]\nb: [*x, *x, *x]\n").expect("small");
        assert_eq!(root.to_json()["b"][2][1], 2);
    }

    #[test]
    fn anchors_are_resolved() {
        let root = parse("a: &x {k: v}\nb: *x\n").expect("parses");
        let json = root.to_json();
        assert_eq!(json["b"]["k"], "v");
    }
}
