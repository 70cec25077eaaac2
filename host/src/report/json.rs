//! `--format json`: the `modelgate.report/v1` document (its schema is in
//! [`super`]), written one candidate at a time so that a sweep never holds
//! it whole.

use super::{SCHEMA, Summary};
use anyhow::Context as _;

use crate::judge::{Judgement, Sink};

/// The JSON report written one candidate at a time, so that a sweep never
/// holds it whole: the same bytes as [`super::Report::render`] with
/// [`super::Format::Json`] (which is built on it).
pub struct JsonStream<W: std::io::Write> {
    out: W,
    summary: Summary,
}

impl<W: std::io::Write> JsonStream<W> {
    /// Writes the report's head, up to the opening of `models`.
    pub fn begin(mut out: W, tracking_uri: &str, project: &str) -> std::io::Result<Self> {
        let head = format!(
            "{{\n  \"schema\": {},\n  \"modelgate\": {},\n  \"tracking_uri\": {},\n  \"project\": {},\n  \"models\": [",
            json_string(SCHEMA),
            json_string(env!("CARGO_PKG_VERSION")),
            json_string(tracking_uri),
            json_string(project),
        );
        out.write_all(head.as_bytes())?;
        Ok(JsonStream {
            out,
            summary: Summary::default(),
        })
    }

    /// Writes one candidate's verdict.
    pub fn push(&mut self, m: &Judgement) -> std::io::Result<()> {
        self.push_rendered(&RenderedModel::new(m)?)
    }

    /// Writes one candidate's verdict, rendered beforehand (on the thread
    /// that judged it: the writer then only writes).
    pub fn push_rendered(&mut self, m: &RenderedModel) -> std::io::Result<()> {
        let separator = if self.summary.models == 0 {
            "\n"
        } else {
            ",\n"
        };
        self.out.write_all(separator.as_bytes())?;
        self.out.write_all(m.text.as_bytes())?;
        self.summary.merge(&m.summary);
        Ok(())
    }

    /// Writes the tail (`status` and `summary`) and returns the summary.
    pub fn finish(self) -> std::io::Result<Summary> {
        self.finish_into().map(|(_, summary)| summary)
    }

    /// Writes the tail and returns the writer with the summary.
    pub fn finish_into(mut self) -> std::io::Result<(W, Summary)> {
        let summary = serde_json::to_string_pretty(&self.summary).map_err(std::io::Error::other)?;
        let close = if self.summary.models == 0 {
            "]"
        } else {
            "\n  ]"
        };
        let tail = format!(
            "{close},\n  \"status\": {},\n  \"summary\": {}\n}}\n",
            json_string(self.summary.status().as_str()),
            summary.replace('\n', "\n  "),
        );
        self.out.write_all(tail.as_bytes())?;
        self.out.flush()?;
        Ok((self.out, self.summary))
    }
}

/// The JSON report as a sink: each judgement rendered on the thread that
/// made it, written here in order.
impl<W: std::io::Write + Send> Sink for JsonStream<W> {
    type Item = RenderedModel;

    fn prepare(judgement: Judgement) -> anyhow::Result<RenderedModel> {
        RenderedModel::new(&judgement).context("failed to render the report")
    }

    fn take(&mut self, item: RenderedModel) -> anyhow::Result<()> {
        self.push_rendered(&item)
            .context("failed to write the report to stdout")
    }
}

/// One candidate's verdict as an element of the JSON report's `models`,
/// with what it adds to the summary.
#[derive(Debug, Clone)]
pub struct RenderedModel {
    text: String,
    summary: Summary,
}

impl RenderedModel {
    /// Renders `m`.
    pub fn new(m: &Judgement) -> std::io::Result<RenderedModel> {
        let item = serde_json::to_string_pretty(m).map_err(std::io::Error::other)?;
        let mut text = String::with_capacity(item.len() + item.len() / 8);
        // An element of `models` sits two levels deep. Strings are escaped
        // (no raw newline), so every line of the item is the item's own.
        for (i, line) in item.lines().enumerate() {
            if i > 0 {
                text.push('\n');
            }
            text.push_str("    ");
            text.push_str(line);
        }
        let mut summary = Summary::default();
        summary.add(m);
        Ok(RenderedModel { text, summary })
    }
}

fn json_string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}
