//! `modelgate replay REPORT.json`: decide again from a report's evidence and
//! say whether every WebAssembly gate reproduces (see [`crate::replay`]).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::cli::ReplayArgs;
use crate::error::with_hint;
use crate::exit::ExitStatus;
use crate::files::{ReadError, read_bounded};
use crate::replay::{self, MAX_REPORT_FILE, Replayed};
use crate::text::{clean_line, human_bytes};

/// Runs `modelgate replay`.
pub async fn run(args: ReplayArgs) -> anyhow::Result<ExitStatus> {
    let file = &args.report;
    let bytes = read_bounded(file, MAX_REPORT_FILE).map_err(|e| {
        let hint = match e {
            ReadError::Io(_) => {
                "pass the file `modelgate validate --format json` wrote".to_string()
            }
            _ => format!(
                "a report is a regular file of at most {}",
                human_bytes(MAX_REPORT_FILE)
            ),
        };
        with_hint(
            anyhow::anyhow!("failed to read report `{}`: {e}", file.display()),
            hint,
        )
    })?;
    let report = replay::parse(&bytes, file)?;
    let dir = match &args.project {
        Some(p) => project_dir(p),
        None => project_dir(Path::new(&report.project)),
    };
    let replays = replay::replay(&report, &dir).await?;

    let mut out = String::new();
    let mut last = None;
    let width = replays
        .iter()
        .map(|r| clean_line(&r.gate).chars().count())
        .max()
        .unwrap_or(0);
    for r in &replays {
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
    let digest = crate::record::sha256_tag(&bytes);
    let _ = writeln!(
        out,
        "report {digest} (the `{}` tag of a recorded verdict)",
        crate::record::REPORT
    );
    let first_difference = replays
        .iter()
        .find(|r| matches!(r.replayed, Replayed::Differs(_)));
    let status = if let Some(r) = first_difference {
        let _ = writeln!(
            out,
            "DIFFERS: gate `{}` of {} version {} does not reproduce; {reproduced} of {replayable} gates do{skipped_note}",
            clean_line(&r.gate),
            clean_line(&r.model),
            r.version
        );
        ExitStatus::Fail
    } else if replayable == 0 {
        crate::output::stdout(&out)?;
        return Err(with_hint(
            anyhow::anyhow!(
                "nothing in `{}` can be replayed{skipped_note}",
                file.display()
            ),
            "only WebAssembly gates are replayable; process gates run outside the sandbox",
        ));
    } else {
        let _ = writeln!(
            out,
            "REPRODUCED: {reproduced} of {replayable} gates decide as recorded{skipped_note}"
        );
        ExitStatus::Pass
    };
    crate::output::stdout(&out)?;
    Ok(status)
}

/// The directory plugin paths are relative to: `p` itself when it is a
/// directory, else the directory of the file.
fn project_dir(p: &Path) -> PathBuf {
    if p.is_dir() {
        return p.to_path_buf();
    }
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}
