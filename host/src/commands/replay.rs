//! `modelgate replay REPORT.json`: decide again from a report's evidence and
//! say whether every WebAssembly gate reproduces (see [`crate::replay`]).

use std::fmt::Write as _;

use crate::cli::{ReplayArgs, ReplayFormat};
use crate::error::with_hint;
use crate::exit::ExitStatus;
use crate::replay::{self, Replayed};
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
            out = crate::report::html::render_replay(&replays, &headline, false, &digest);
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
            out = crate::report::html::render_replay(&replays, &headline, true, &digest);
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
