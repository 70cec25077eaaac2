//! `modelgate replay REPORT.json`: decide again from a report's evidence and
//! say whether every WebAssembly gate reproduces (see [`crate::replay`]).

use std::fmt::Write as _;

use crate::cli::{ReplayArgs, ReplayFormat};
use crate::error::with_hint;
use crate::exit::ExitStatus;
use crate::replay::{self, Replayed};
use crate::report::html::{self, esc};
use crate::text::clean_line;

/// Runs `modelgate replay`, all of it within `--timeout`.
pub async fn run(args: ReplayArgs) -> anyhow::Result<ExitStatus> {
    let limit = args.timeout;
    match tokio::time::timeout(limit, replay(args)).await {
        Ok(outcome) => outcome,
        Err(_) => Err(with_hint(
            anyhow::anyhow!(
                "the replay did not finish within --timeout {}",
                crate::text::format_duration(limit)
            ),
            "raise `--timeout` (a sweep's report replays every gate of every version)",
        )),
    }
}

async fn replay(args: ReplayArgs) -> anyhow::Result<ExitStatus> {
    let file = &args.report;
    let (replays, digest) = replay::replay_report(&args.report, args.project.as_deref()).await?;
    let mut out = lines(&replays);
    let count = |f: fn(&Replayed) -> bool| replays.iter().filter(|r| f(&r.replayed)).count();
    let reproduced = count(|r| matches!(r, Replayed::Reproduced(_)));
    let differs = count(|r| matches!(r, Replayed::Differs(_)));
    let skipped = count(|r| matches!(r, Replayed::NotReplayable(_)));
    let replayable = reproduced + differs;
    let skipped_note = if skipped > 0 {
        format!(" ({skipped} not replayable)")
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "report {digest} (the `{}` tag of a recorded verdict)",
        crate::record::REPORT
    );
    let first_difference = replays
        .iter()
        .find(|r| matches!(r.replayed, Replayed::Differs(_)));
    let html = args.format == ReplayFormat::Html;
    let status = if let Some(r) = first_difference {
        let headline = format!(
            "DIFFERS: gate `{}` of {} version {} does not reproduce; {reproduced} of {replayable} gates do{skipped_note}",
            clean_line(&r.gate),
            clean_line(&r.model),
            r.version
        );
        if html {
            out = html_page(&replays, &headline, false, &digest);
        } else {
            let _ = writeln!(out, "{headline}");
        }
        ExitStatus::Fail
    } else if replayable == 0 {
        if html {
            // Nothing decided: no page, the error says why.
            out.clear();
        }
        crate::output::stdout(&out)?;
        return Err(with_hint(
            anyhow::anyhow!(
                "nothing in `{}` can be replayed{skipped_note}",
                file.display()
            ),
            "only WebAssembly gates are replayable; process gates run outside the sandbox",
        ));
    } else {
        let headline = format!(
            "REPRODUCED: {reproduced} of {replayable} gates decide as recorded{skipped_note}"
        );
        if html {
            out = html_page(&replays, &headline, true, &digest);
        } else {
            let _ = writeln!(out, "{headline}");
        }
        ExitStatus::Pass
    };
    crate::output::stdout(&out)?;
    Ok(status)
}

/// A line per replayed gate, under a line per judged version.
fn lines(replays: &[replay::GateReplay]) -> String {
    let mut out = String::new();
    let mut last = None;
    let width = replays
        .iter()
        .map(|r| clean_line(&r.gate).chars().count())
        .max()
        .unwrap_or(0);
    for r in replays {
        if last != Some((&r.model, r.version)) {
            let _ = writeln!(out, "{} version {}", clean_line(&r.model), r.version);
            last = Some((&r.model, r.version));
        }
        let (mark, text) = match &r.replayed {
            Replayed::Reproduced(o) => ("✔", format!("reproduced: {}", o.as_str())),
            Replayed::Differs(why) => ("✘", format!("differs: {why}")),
            Replayed::NotReplayable(why) => ("–", format!("not replayable: {why}")),
        };
        let _ = writeln!(
            out,
            "  {mark} {:width$}  {:7}  {}",
            clean_line(&r.gate),
            r.kind,
            clean_line(&text)
        );
    }
    out
}

/// `modelgate replay --format html`: the replay's verdict, the recorded
/// checks' charts, and per gate what replaying it showed with its
/// recorded checks.
fn html_page(
    replays: &[crate::replay::GateReplay],
    headline: &str,
    reproduced: bool,
    digest: &str,
) -> String {
    let status = if reproduced { "pass" } else { "fail" };
    let mut body = String::new();
    let _ = writeln!(
        body,
        "<header class=\"verdict {status}\" id=\"verdict\" data-status=\"{status}\"><h1>{} {}</h1>\
         <p class=\"muted\">report <code>{}</code> (the <code>{}</code> tag of a recorded verdict) · modelgate {}</p></header>",
        if reproduced { "✔" } else { "✘" },
        esc(headline),
        esc(digest),
        crate::record::REPORT,
        env!("CARGO_PKG_VERSION"),
    );
    let series = html::series_of(replays.iter().map(|r| {
        (
            r.model.as_str(),
            r.version,
            r.gate.as_str(),
            r.checks.as_slice(),
        )
    }));
    if !series.is_empty() {
        body.push_str(
            "<section id=\"charts\"><h2>Metrics, as recorded</h2>\n<div class=\"charts\">",
        );
        for s in &series {
            body.push_str(&html::figure(s));
        }
        body.push_str("</div></section>\n");
    }
    body.push_str("<section id=\"replays\"><h2>Gates replayed</h2>\n");
    for r in replays.iter().take(html::MAX_ROWS) {
        let (class, word, why) = match &r.replayed {
            Replayed::Reproduced(o) => (
                "pass",
                "reproduced",
                format!("decides {} as recorded", o.as_str()),
            ),
            Replayed::Differs(why) => ("fail", "differs", why.clone()),
            Replayed::NotReplayable(why) => ("none", "not replayable", why.clone()),
        };
        let _ = write!(
            body,
            "<div class=\"gate replay {class}\" data-model=\"{}\" data-version=\"{}\" data-gate=\"{}\" data-replayed=\"{word}\">\
             <h4><span class=\"badge {class}\">{word}</span> {} version {} · gate <span class=\"gate-name\">{}</span> \
             <span class=\"muted\">{} · recorded {}</span></h4><p class=\"muted\">{}</p>",
            esc(&r.model),
            r.version,
            esc(&r.gate),
            esc(&r.model),
            r.version,
            esc(&r.gate),
            r.kind.as_str(),
            html::outcome_badge(r.outcome),
            esc(&why),
        );
        html::checks_table(
            &mut body,
            &r.checks,
            r.outcome == crate::gate::Outcome::Pass,
        );
        body.push_str("</div>\n");
    }
    if replays.len() > html::MAX_ROWS {
        let _ = write!(
            body,
            "<p class=\"muted\">{} more gates not listed.</p>",
            replays.len() - html::MAX_ROWS
        );
    }
    body.push_str("</section>\n");
    html::page(&format!("modelgate replay: {headline}"), &body, None, None)
}
