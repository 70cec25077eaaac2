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

/// Problems after which no more suggestions are computed: each one compares
/// a name against every defined one, and a file with thousands of broken
/// references must still be checked in linear time.
pub const MAX_SUGGESTIONS: usize = 100;

/// A hint for `word`, which is not among `choices` ([`crate::suggest::hint`]).
/// Once `diags` holds [`MAX_SUGGESTIONS`] problems, only `otherwise`.
pub fn did_you_mean(word: &str, choices: &[&str], otherwise: &str, diags: &Diagnostics) -> String {
    if diags.items.len() >= MAX_SUGGESTIONS {
        return otherwise.to_string();
    }
    crate::suggest::hint(word, choices, otherwise)
}
