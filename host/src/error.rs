//! Errors that tell the user what to do next.
//!
//! Any error can carry a `hint:` line. [`HintExt::hint`] attaches one without
//! changing the error's message or chain; [`render`] prints `error: …`, the
//! causes, and the innermost hint last, so a reader of the last line knows
//! what to do.

use std::fmt;

/// An error with a hint attached. Displays as the wrapped error.
#[derive(Debug)]
pub struct Hinted {
    inner: anyhow::Error,
    hint: String,
}

impl fmt::Display for Hinted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner, f)
    }
}

impl std::error::Error for Hinted {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner.source()
    }
}

/// Attaches hints to results and errors.
pub trait HintExt<T> {
    /// Attaches `hint` to the error, if any.
    fn hint(self, hint: impl Into<String>) -> anyhow::Result<T>;
}

impl<T, E: Into<anyhow::Error>> HintExt<T> for Result<T, E> {
    fn hint(self, hint: impl Into<String>) -> anyhow::Result<T> {
        self.map_err(|e| {
            anyhow::Error::new(Hinted {
                inner: e.into(),
                hint: hint.into(),
            })
        })
    }
}

/// Wraps `err` with `hint`.
pub fn with_hint(err: anyhow::Error, hint: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Hinted {
        inner: err,
        hint: hint.into(),
    })
}

/// The most specific hint in the error's chain, if any.
pub fn find_hint(err: &anyhow::Error) -> Option<&str> {
    let mut found = None;
    for cause in err.chain() {
        if let Some(h) = cause.downcast_ref::<Hinted>() {
            found = Some(h.hint.as_str());
            // Look inside: a hint attached closer to the cause wins.
            if let Some(inner) = find_hint(&h.inner) {
                found = Some(inner);
            }
        }
    }
    found
}

/// Renders an error as `error: …`, `  caused by: …` lines and a final `hint: …`.
pub fn render(err: &anyhow::Error) -> String {
    let mut out = String::new();
    let mut lines: Vec<String> = Vec::new();
    for cause in err.chain() {
        // Causes can quote a plugin's or the registry's words: escape what
        // would act on a terminal, keep the lines.
        let text = crate::text::clean(&cause.to_string()).into_owned();
        // A hinted wrapper displays as its inner error; skip the repeat.
        if lines.last() != Some(&text) {
            lines.push(text);
        }
    }
    for (i, line) in lines.iter().enumerate() {
        if i == 0 {
            out.push_str(&format!("error: {line}\n"));
        } else {
            out.push_str(&format!("  caused by: {line}\n"));
        }
    }
    if let Some(h) = find_hint(err) {
        out.push_str(&format!("hint: {}\n", crate::text::clean_line(h)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context as _;

    #[test]
    fn hint_survives_context() {
        let r: anyhow::Result<()> = Err(anyhow::anyhow!("connection refused"))
            .hint("start the server")
            .context("failed to reach the registry");
        let err = r.expect_err("is an error");
        let text = render(&err);
        assert_eq!(
            text,
            "error: failed to reach the registry\n  caused by: connection refused\nhint: start the server\n"
        );
    }
}
