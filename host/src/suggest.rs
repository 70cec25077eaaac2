//! "Did you mean …?": the one place a mistyped name gets its suggestion,
//! whether it is a key of the project file, a task, a model or a built-in
//! gate.

/// Names longer than this get no "did you mean": a typo suggestion costs
/// the product of the two lengths, and no one mistypes a 200-character name.
const MAX_SUGGESTED_LEN: usize = 128;

/// The hint for a near miss: ``did you mean `NEAR`?``.
pub fn did_you_mean(near: &str) -> String {
    format!("did you mean `{near}`?")
}

/// A hint for `word`, which is not among `choices`: `did you mean `X`?`
/// for the nearest one, else `otherwise` followed by up to ten of the
/// choices (`…` for the rest).
pub fn hint(word: &str, choices: &[&str], otherwise: &str) -> String {
    if let Some(n) = nearest(word, choices) {
        return did_you_mean(n);
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
