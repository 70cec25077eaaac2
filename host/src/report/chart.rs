//! Small server-rendered SVG charts of a metric over model versions, with
//! the threshold a gate held it to, for the HTML report and `serve`'s page.
//!
//! Ours rather than a crate's: a chart here is one series of at most a few
//! thousand points, a threshold step line and two axes; the crates that
//! draw SVG bring a layout engine, fonts or a JavaScript runtime for far
//! more than that, and every string in the output must go through our own
//! escaping ([`super::html::esc`]).
//!
//! What a point is comes from a gate's checks ([`series`]): a check whose
//! `observed` is a finite number is charted; its `expected`, in the words
//! `builtin:threshold` writes them (`>= 0.6`, `+5% vs champion v3
//! (0.833)`, `>= 0.9 (previous v2 0.85 + 0.05)`, joined by ` and `), gives
//! the bound the value had to meet and the baseline it was compared with.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::html::esc;

/// At most this many points are drawn as marks in one chart; past it the
/// series is one line and only failed versions are marked (a 10,000-version
/// sweep stays a few hundred KiB and quick to open).
pub const MAX_MARKS: usize = 2_000;

/// At most this many points in one series (one metric of one gate of one
/// model); later versions are left out and the chart says how many.
pub const MAX_POINTS: usize = 100_000;

/// One judged version's value of a metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// The version.
    pub version: u64,
    /// The observed value.
    pub value: f64,
    /// Whether the check passed.
    pub passed: bool,
    /// The bound the value had to meet (the strictest one), if the check
    /// says one.
    pub bound: Option<f64>,
    /// The absolute threshold among the bounds (`>= 0.6`), if any.
    pub threshold: Option<f64>,
}

/// A metric over versions, with what it was held to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    /// The model.
    pub model: String,
    /// The gate.
    pub gate: String,
    /// The metric (the check's name).
    pub metric: String,
    /// True when greater is better (the bounds are `>=`): from the first
    /// point whose check says.
    pub greater_is_better: bool,
    /// Whether a point said yet.
    pub direction_known: bool,
    /// The judged versions, in version order.
    pub points: Vec<Point>,
    /// Baseline versions the values were compared with, and their values.
    pub baselines: BTreeMap<u64, f64>,
    /// Points left out past [`MAX_POINTS`].
    pub dropped: usize,
}

/// What a check's `expected` text says: bounds and baselines.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expected {
    /// `Some(true)` for `>=`/`>` bounds, `Some(false)` for `<=`/`<`.
    pub greater_is_better: Option<bool>,
    /// The values the observed one had to meet.
    pub bounds: Vec<f64>,
    /// Those of them that are absolute thresholds (no baseline involved).
    pub thresholds: Vec<f64>,
    /// `(version, value)` of the baselines named.
    pub baselines: Vec<(u64, f64)>,
}

impl Expected {
    /// The strictest bound: the largest for `>=`, the smallest for `<=`.
    pub fn strictest(&self) -> Option<f64> {
        self.strictest_of(&self.bounds)
    }

    /// The strictest absolute threshold.
    pub fn threshold(&self) -> Option<f64> {
        self.strictest_of(&self.thresholds)
    }

    fn strictest_of(&self, values: &[f64]) -> Option<f64> {
        let it = values.iter().copied();
        if self.greater_is_better.unwrap_or(true) {
            it.reduce(f64::max)
        } else {
            it.reduce(f64::min)
        }
    }
}

/// Reads an `expected` text; parts it does not understand are skipped.
pub fn parse_expected(text: &str) -> Expected {
    let mut out = Expected::default();
    for part in text.split(" and ") {
        let part = part.trim();
        if let Some((op, rest)) = ["<=", ">=", "<", ">"]
            .iter()
            .find_map(|op| part.strip_prefix(op).map(|r| (*op, r.trim_start())))
        {
            let (num, tail) = rest.split_once(' ').unwrap_or((rest, ""));
            let Some(v) = number(num) else { continue };
            out.greater_is_better.get_or_insert(op.starts_with('>'));
            out.bounds.push(v);
            if tail.is_empty() {
                out.thresholds.push(v);
            }
            // `>= 0.9 (previous v2 0.85 + 0.05)`
            if let Some(inner) = tail.strip_prefix('(').and_then(|t| t.strip_suffix(')')) {
                let words: Vec<&str> = inner.split(' ').collect();
                if let Some(i) = words.iter().position(|w| version_word(w).is_some())
                    && let (Some(ver), Some(val)) = (
                        version_word(words[i]),
                        words.get(i + 1).and_then(|w| number(w)),
                    )
                {
                    out.baselines.push((ver, val));
                }
            }
        } else if let Some((sign, rest)) = part
            .strip_prefix('+')
            .map(|r| ('+', r))
            .or_else(|| part.strip_prefix('-').map(|r| ('-', r)))
        {
            // `+5% vs champion v3 (0.833333)`
            let Some((pct, rest)) = rest.split_once("% vs ") else {
                continue;
            };
            let (Some(r), Some(open)) = (number(pct), rest.rfind(" (")) else {
                continue;
            };
            let label = &rest[..open];
            let Some(b) = rest[open + 2..].strip_suffix(')').and_then(number) else {
                continue;
            };
            let gib = sign == '+';
            out.greater_is_better.get_or_insert(gib);
            let d = b.abs() * r / 100.0;
            let bound = if gib { b + d } else { b - d };
            if bound.is_finite() {
                out.bounds.push(bound);
            }
            if let Some(ver) = label.rsplit(' ').next().and_then(version_word) {
                out.baselines.push((ver, b));
            }
        } else if let Some(rest) = part.strip_prefix("strictly better than ") {
            // `strictly better than champion v3 (0)`: a baseline of 0.
            if let Some((label, value)) = rest.rsplit_once(" (")
                && let Some(b) = value.strip_suffix(')').and_then(number)
                && let Some(ver) = label.rsplit(' ').next().and_then(version_word)
            {
                out.baselines.push((ver, b));
            }
        }
    }
    out
}

/// `v3` → 3.
fn version_word(w: &str) -> Option<u64> {
    w.strip_prefix('v')?.parse().ok()
}

/// A finite number.
fn number(s: &str) -> Option<f64> {
    s.parse::<f64>().ok().filter(|v| v.is_finite())
}

impl Series {
    /// Adds a judged version's check.
    pub fn add(&mut self, version: u64, value: f64, passed: bool, expected: &Expected) {
        if let Some(g) = expected.greater_is_better
            && !self.direction_known
        {
            self.greater_is_better = g;
            self.direction_known = true;
        }
        for (v, b) in &expected.baselines {
            if self.baselines.len() < MAX_MARKS || self.baselines.contains_key(v) {
                self.baselines.insert(*v, *b);
            }
        }
        if self.points.len() >= MAX_POINTS {
            self.dropped += 1;
            return;
        }
        self.points.push(Point {
            version,
            value,
            passed,
            bound: expected.strictest(),
            threshold: expected.threshold(),
        });
    }

    /// The series' one absolute threshold, when every point has the same.
    pub fn constant_threshold(&self) -> Option<f64> {
        let first = self.points.first()?.threshold?;
        self.points
            .iter()
            .all(|p| p.threshold == Some(first))
            .then_some(first)
    }

    /// True when some point had to meet more than its absolute threshold
    /// (a change over a baseline).
    pub fn has_relative_bounds(&self) -> bool {
        self.points.iter().any(|p| p.bound != p.threshold)
    }
}

/// Width and height of a chart's drawing (SVG user units).
const W: f64 = 640.0;
const H: f64 = 200.0;
/// Margins: left for the value labels, bottom for the versions.
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;

/// The series as an inline `<svg>`: the values (a mark per version, green
/// passed, red failed; a line through them), the bound they were held to
/// (a dashed step line, `class="threshold"`), baselines as hollow marks,
/// and the value and version ranges on the axes. Every mark carries its
/// version and value in `data-` attributes and a `<title>` for a tooltip.
pub fn svg(s: &Series) -> String {
    let mut xs: Vec<u64> = s.points.iter().map(|p| p.version).collect();
    xs.extend(s.baselines.keys());
    xs.sort_unstable();
    xs.dedup();
    let (Some(&x0), Some(&x1)) = (xs.first(), xs.last()) else {
        return String::new();
    };
    let mut values = s
        .points
        .iter()
        .flat_map(|p| [Some(p.value), p.bound, p.threshold].into_iter().flatten())
        .chain(s.baselines.values().copied());
    let first = values.next().unwrap_or(0.0);
    let (mut lo, mut hi) = values.fold((first, first), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let pad = if hi > lo {
        (hi - lo) * 0.08
    } else {
        (lo.abs() * 0.1).max(0.5)
    };
    lo -= pad;
    hi += pad;
    // Values near the ends of f64 have no drawable range: no chart.
    if !(hi - lo).is_finite() || hi <= lo {
        return String::new();
    }
    // Few versions are spread out evenly, many on a linear axis.
    let ordinal = xs.len() <= 24;
    let x = |v: u64| -> f64 {
        let span = W - LEFT - RIGHT;
        if x0 == x1 {
            return LEFT + span / 2.0;
        }
        let f = if ordinal {
            xs.binary_search(&v).unwrap_or(0) as f64 / (xs.len() - 1) as f64
        } else {
            (v - x0) as f64 / (x1 - x0) as f64
        };
        LEFT + 8.0 + f * (span - 16.0)
    };
    let y = |v: f64| TOP + (hi - v) / (hi - lo) * (H - TOP - BOTTOM);
    let mut out = String::with_capacity(256 + s.points.len() * 96);
    let _ = write!(
        out,
        "<svg class=\"chart\" viewBox=\"0 0 {W} {H}\" role=\"img\" preserveAspectRatio=\"xMidYMid meet\" \
         data-y-low=\"{lo}\" data-y-high=\"{hi}\" aria-label=\"{} of {} over versions {x0} to {x1}\">",
        esc(&s.metric),
        esc(&s.model)
    );
    // Axes and their labels.
    let (ybot, xr) = (H - BOTTOM, W - RIGHT);
    let _ = write!(
        out,
        "<path class=\"axis\" d=\"M{LEFT} {TOP}V{ybot}H{xr}\" fill=\"none\" stroke=\"#8a8f98\" stroke-width=\"1\"/>"
    );
    for v in [hi - pad, lo + pad] {
        let _ = write!(
            out,
            "<text class=\"tick\" x=\"{}\" y=\"{:.1}\" text-anchor=\"end\" font-size=\"11\" fill=\"#555\">{}</text>",
            LEFT - 6.0,
            y(v) + 4.0,
            short(v)
        );
    }
    let mut labels = vec![x0];
    if x1 != x0 {
        labels.push(x1);
    }
    if ordinal {
        labels = xs.clone();
    }
    for v in labels {
        let _ = write!(
            out,
            "<text class=\"tick\" x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\" font-size=\"11\" fill=\"#555\">v{v}</text>",
            x(v),
            H - 10.0
        );
    }
    // The absolute threshold: a horizontal line when it is one value, else
    // a step line through each version's own; the bound over a baseline
    // (where stricter) as a dotted line with a tick per version.
    let step = |f: &dyn Fn(&Point) -> Option<f64>| -> String {
        let mut d = String::new();
        for p in &s.points {
            if let Some(b) = f(p) {
                let cmd = if d.is_empty() { 'M' } else { 'L' };
                let _ = write!(d, "{cmd}{:.2} {:.2}", x(p.version), y(b));
            }
        }
        d
    };
    let word = if s.greater_is_better {
        "at least"
    } else {
        "at most"
    };
    if let Some(b) = s.constant_threshold() {
        let _ = write!(
            out,
            "<path class=\"threshold\" data-value=\"{b}\" d=\"M{LEFT} {y:.2}H{xr}\" stroke=\"#b35900\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\" fill=\"none\"><title>threshold: {word} {}</title></path>\
             <text class=\"tick threshold-label\" x=\"{}\" y=\"{:.1}\" text-anchor=\"end\" font-size=\"11\" fill=\"#b35900\">{}</text>",
            short(b),
            LEFT - 6.0,
            y(b) + 4.0,
            short(b),
            y = y(b),
        );
    } else {
        let d = step(&|p| p.threshold);
        if !d.is_empty() {
            let _ = write!(
                out,
                "<path class=\"threshold\" d=\"{d}\" stroke=\"#b35900\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\" fill=\"none\"><title>each version's threshold</title></path>"
            );
        }
    }
    if s.has_relative_bounds() {
        let d = step(&|p| p.bound.filter(|b| Some(*b) != p.threshold));
        if !d.is_empty() {
            let _ = write!(
                out,
                "<path class=\"bound\" d=\"{d}\" stroke=\"#8250df\" stroke-width=\"1.2\" stroke-dasharray=\"2 3\" fill=\"none\"><title>{word} this, against the baseline</title></path>"
            );
        }
        for p in s.points.iter().take(MAX_MARKS) {
            if let Some(b) = p.bound.filter(|b| Some(*b) != p.threshold) {
                let _ = write!(
                    out,
                    "<path class=\"bound-tick\" data-version=\"{}\" data-value=\"{b}\" d=\"M{:.2} {:.2}h12\" stroke=\"#8250df\" stroke-width=\"2\"><title>v{}: {word} {} against the baseline</title></path>",
                    p.version,
                    x(p.version) - 6.0,
                    y(b),
                    p.version,
                    short(b)
                );
            }
        }
    }
    // The values: a line, then marks.
    if s.points.len() > 1 {
        let mut d = String::with_capacity(s.points.len() * 16);
        for (i, p) in s.points.iter().enumerate() {
            let _ = write!(
                d,
                "{}{:.1} {:.1}",
                if i == 0 { 'M' } else { 'L' },
                x(p.version),
                y(p.value)
            );
        }
        let _ = write!(
            out,
            "<path class=\"values\" d=\"{d}\" stroke=\"#4a6fa5\" stroke-width=\"1\" fill=\"none\"/>"
        );
    }
    for (v, b) in &s.baselines {
        let _ = write!(
            out,
            "<circle class=\"baseline\" data-version=\"{v}\" data-value=\"{b}\" cx=\"{:.2}\" cy=\"{:.2}\" r=\"7\" fill=\"none\" stroke=\"#4a6fa5\" stroke-width=\"1.5\"><title>baseline v{v}: {}</title></circle>",
            x(*v),
            y(*b),
            short(*b)
        );
    }
    let all = s.points.len() <= MAX_MARKS;
    let mut marked = 0;
    for p in &s.points {
        if marked >= MAX_MARKS || (!all && p.passed) {
            continue;
        }
        marked += 1;
        let (class, fill) = if p.passed {
            ("point pass", "#1a7f37")
        } else {
            ("point fail", "#cf222e")
        };
        let _ = write!(
            out,
            "<circle class=\"{class}\" data-version=\"{}\" data-value=\"{}\" cx=\"{:.2}\" cy=\"{:.2}\" r=\"4\" fill=\"{fill}\"><title>v{}: {} ({})</title></circle>",
            p.version,
            p.value,
            x(p.version),
            y(p.value),
            p.version,
            short(p.value),
            if p.passed { "passed" } else { "failed" }
        );
    }
    out.push_str("</svg>");
    out
}

/// A value as a label: up to 6 decimals, at most 10 characters.
pub fn short(v: f64) -> String {
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.len() > 10 {
        format!("{v:.3e}")
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_threshold_plugins_words_are_read() {
        let e = parse_expected(">= 0.6 and +5% vs champion v3 (0.8)");
        assert_eq!(e.greater_is_better, Some(true));
        assert_eq!(e.bounds.len(), 2);
        assert_eq!(e.bounds[0], 0.6);
        assert!((e.bounds[1] - 0.84).abs() < 1e-12);
        assert_eq!(e.baselines, vec![(3, 0.8)]);
        assert!((e.strictest().expect("a bound") - 0.84).abs() < 1e-12);
        assert_eq!(e.threshold(), Some(0.6));

        let e = parse_expected("<= 0.5 and <= 0.45 (previous v2 0.5 - 0.05)");
        assert_eq!(e.greater_is_better, Some(false));
        assert_eq!(e.strictest(), Some(0.45));
        assert_eq!(e.threshold(), Some(0.5));
        assert_eq!(e.baselines, vec![(2, 0.5)]);

        let e = parse_expected("-10% vs previous v7 (2)");
        assert_eq!(e.greater_is_better, Some(false));
        assert_eq!(e.strictest(), Some(1.8));
        assert_eq!(e.baselines, vec![(7, 2.0)]);

        // A baseline that was not there: no value, no bound from it.
        let e = parse_expected(">= 0.6 and +5% vs baseline");
        assert_eq!(e.bounds, vec![0.6]);
        assert!(e.baselines.is_empty());
        // Words of another plugin: nothing.
        assert_eq!(parse_expected("approved by a human"), Expected::default());
        assert_eq!(parse_expected(">= NaN"), Expected::default());
        let e = parse_expected("strictly better than previous v4 (0)");
        assert_eq!((e.bounds.len(), e.baselines.clone()), (0, vec![(4, 0.0)]));
        // A bound past f64 is no bound.
        assert!(parse_expected("+1e308% vs x v1 (1e308)").bounds.is_empty());
    }

    #[test]
    fn points_sit_on_their_side_of_the_threshold() {
        let mut s = Series {
            metric: "score".into(),
            ..Series::default()
        };
        let e = parse_expected(">= 0.6");
        s.add(1, 0.5, false, &e);
        s.add(2, 0.7, true, &e);
        s.add(3, 0.9, true, &e);
        assert_eq!(s.constant_threshold(), Some(0.6));
        assert!(!s.has_relative_bounds());
        let svg = svg(&s);
        let cy = |version: &str| -> f64 {
            let at = svg
                .find(&format!("data-version=\"{version}\""))
                .expect("in the svg");
            let tail = &svg[at..];
            let v = tail.split("cy=\"").nth(1).expect("in the svg");
            v[..v.find('"').expect("in the svg")]
                .parse()
                .expect("in the svg")
        };
        let line: f64 = {
            let at = svg.find("class=\"threshold\"").expect("in the svg");
            let tail = &svg[at..];
            let d = tail.split(" d=\"M").nth(1).expect("in the svg");
            d.split(['H', ' '])
                .nth(1)
                .expect("in the svg")
                .parse()
                .expect("in the svg")
        };
        // Larger values are drawn higher (a smaller y).
        assert!(cy("1") > line, "{svg}");
        assert!(cy("2") < line && cy("3") < cy("2"), "{svg}");
        assert!(svg.contains("class=\"point fail\" data-version=\"1\""));
        assert_eq!(svg.matches("<circle").count(), 3);
    }

    #[test]
    fn the_direction_comes_from_the_first_check_that_says() {
        let mut s = Series::default();
        // A first model's check: no baseline yet, no bound to read.
        s.add(1, 0.3, true, &parse_expected("-5% vs baseline"));
        s.add(2, 0.2, true, &parse_expected("-5% vs previous v1 (0.3)"));
        assert!(s.direction_known && !s.greater_is_better);
    }

    #[test]
    fn values_with_no_drawable_range_draw_nothing() {
        let mut s = Series::default();
        s.add(1, f64::MAX, true, &Expected::default());
        s.add(2, -f64::MAX, true, &Expected::default());
        assert_eq!(svg(&s), "");
    }

    #[test]
    fn many_points_are_a_line_with_failures_marked() {
        let mut s = Series::default();
        let e = parse_expected(">= 0.5");
        for v in 1..=(MAX_MARKS as u64 + 10) {
            s.add(v, (v % 10) as f64 / 10.0, v % 10 >= 5, &e);
        }
        let svg = svg(&s);
        let failed = s.points.iter().filter(|p| !p.passed).count();
        assert_eq!(svg.matches("<circle").count(), failed.min(MAX_MARKS));
        assert!(svg.contains("class=\"values\""));
    }

    #[test]
    fn hostile_names_are_escaped() {
        let s = Series {
            metric: "\"><script>x</script>".into(),
            model: "m".into(),
            points: vec![Point {
                version: 1,
                value: 1.0,
                passed: true,
                bound: None,
                threshold: None,
            }],
            ..Series::default()
        };
        let svg = svg(&s);
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(
            svg.contains("&quot;&gt;&lt;script&gt;x&lt;/script&gt; of m"),
            "{svg}"
        );
    }
}
