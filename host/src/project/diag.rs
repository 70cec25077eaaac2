//! Diagnostics for the project file: every problem, with file, line, column
//! and a hint, collected rather than thrown so `modelgate check` can show all
//! of them at once.

use std::fmt;
use std::path::{Path, PathBuf};

use super::yaml::Pos;

/// One problem found in a project file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    /// Where it is.
    pub pos: Pos,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

/// All problems found in one project file.
#[derive(Debug, Clone)]
pub struct Diagnostics {
    /// The project file.
    pub file: PathBuf,
    /// The problems, in source order.
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// An empty set for `file`.
    pub fn new(file: &Path) -> Self {
        Diagnostics {
            file: file.to_path_buf(),
            items: Vec::new(),
        }
    }

    /// Records a problem.
    pub fn error(&mut self, pos: Pos, message: impl Into<String>, hint: Option<String>) {
        self.items.push(Diagnostic {
            pos,
            message: message.into(),
            hint,
        });
    }

    /// Sorts the problems by position and drops repeats.
    pub fn sort(&mut self) {
        self.items.sort_by_key(|d| d.pos);
        self.items.dedup();
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    fn sorted(&self) -> Vec<&Diagnostic> {
        let mut items: Vec<&Diagnostic> = self.items.iter().collect();
        items.sort_by_key(|d| d.pos);
        items.dedup();
        items
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let items = self.sorted();
        let count = items.len();
        write!(
            f,
            "`{}` has {} problem{}",
            self.file.display(),
            count,
            if count == 1 { "" } else { "s" }
        )?;
        for d in items {
            write!(
                f,
                "\n  {}:{}:{}: {}",
                self.file.display(),
                d.pos.line,
                d.pos.col,
                d.message
            )?;
            if let Some(hint) = &d.hint {
                write!(f, "\n    hint: {hint}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// Names longer than this get no "did you mean": a typo suggestion costs
/// the product of the two lengths, and no one mistypes a 200-character name.
const MAX_SUGGESTED_LEN: usize = 128;

/// Problems after which no more suggestions are computed: each one compares
/// a name against every defined one, and a file with thousands of broken
/// references must still be checked in linear time.
pub const MAX_SUGGESTIONS: usize = 100;

/// A hint for `word`, which is not among `choices`: the nearest one, else
/// `otherwise` followed by up to ten of the choices (`…` for the rest).
/// Once `diags` holds [`MAX_SUGGESTIONS`] problems, only `otherwise`.
pub fn did_you_mean(word: &str, choices: &[&str], otherwise: &str, diags: &Diagnostics) -> String {
    if diags.items.len() >= MAX_SUGGESTIONS {
        return otherwise.to_string();
    }
    if let Some(n) = nearest(word, choices) {
        return format!("did you mean `{n}`?");
    }
    if choices.is_empty() {
        return otherwise.to_string();
    }
    let mut list: Vec<&str> = choices.iter().take(10).copied().collect();
    if choices.len() > 10 {
        list.push("…");
    }
    format!("{otherwise}; defined: {}", list.join(", "))
}

/// The candidate in `choices` closest to `word`, if it is close enough to be
/// a plausible typo (case and `_`/`-` differences count as near-misses).
pub fn nearest<'a>(word: &str, choices: &[&'a str]) -> Option<&'a str> {
    if word.len() > MAX_SUGGESTED_LEN {
        return None;
    }
    let norm = |s: &str| s.to_ascii_lowercase().replace(['_', '-'], "");
    let w = norm(word);
    let limit = (word.chars().count() / 3).max(2);
    let mut best: Option<(usize, &'a str)> = None;
    for &c in choices {
        // The distance is at least the difference in length: skip the
        // quadratic comparison when that alone rules a choice out.
        if c.len() > MAX_SUGGESTED_LEN || c.len().abs_diff(word.len()) > 2 * limit + 2 {
            continue;
        }
        let d = levenshtein(&w, &norm(c));
        if best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    let (d, c) = best?;
    (d <= limit).then_some(c)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_finds_typos_and_case() {
        let keys = [
            "validationTask",
            "validationTasks",
            "training",
            "deployment",
        ];
        assert_eq!(nearest("validationTsk", &keys), Some("validationTask"));
        assert_eq!(nearest("validation_task", &keys), Some("validationTask"));
        assert_eq!(nearest("trainin", &keys), Some("training"));
        assert_eq!(nearest("zzz", &keys), None);
    }
}
