//! `modelgate plugin …`: tools for WebAssembly gate plugins.

use std::fmt::Write as _;

use crate::cli::{CompileArgs, InspectArgs, NewArgs};
use crate::exit::ExitStatus;
use crate::gate::wasm::cache::CacheOutcome;
use crate::gate::wasm::{Tier, WORLD, WasmHost};
use crate::templates::Lang;
use crate::text::human_bytes;

/// Runs `modelgate plugin inspect`: exit 0 when this modelgate can run the
/// component, 2 when it cannot.
pub async fn inspect(args: InspectArgs) -> anyhow::Result<ExitStatus> {
    let source = WasmHost::read_plugin(&args.plugin, std::path::Path::new("."))?;
    let host = WasmHost::shared()?;
    let i = host.inspect(&source, &args.plugin, None)?;
    let by = i.tier.compiler();
    let cache = match &i.cache {
        CacheOutcome::Hit => format!("loaded from the compile cache ({by} build)"),
        CacheOutcome::Miss => format!("compiled by {by}"),
        CacheOutcome::Rejected(why) => {
            format!("compiled by {by} (cache entry rejected: {why})")
        }
    };
    let world = match i.analysis.world_version() {
        Some(v) => Some(format!("modelgate:validator/validator@{v}")),
        None if i.analysis.wit_versions.is_empty() => None,
        None => {
            let versions: Vec<&str> = i.analysis.wit_versions.iter().map(String::as_str).collect();
            Some(format!(
                "modelgate:validator/validator@{}",
                versions.join(", @")
            ))
        }
    };
    if args.json {
        let v = serde_json::json!({
            "plugin": args.plugin,
            "size": i.size,
            "sha256": i.sha256,
            "world": world,
            "expected_world": WORLD,
            "runnable": i.runnable.is_ok(),
            "problem": i.runnable.as_ref().err(),
            "load_ms": i.load_time.as_secs_f64() * 1e3,
            "cache": cache,
            "compiler": by,
            "imports": i.analysis.imports.iter().map(|(n, k)| serde_json::json!({"name": n, "kind": k})).collect::<Vec<_>>(),
            "exports": i.analysis.exports.iter().map(|(n, k)| serde_json::json!({"name": n, "kind": k})).collect::<Vec<_>>(),
        });
        crate::output::stdout(&format!("{}\n", serde_json::to_string_pretty(&v)?))?;
    } else {
        crate::output::stdout(&inspected_text(&args.plugin, &i, world.as_deref(), &cache))?;
    }
    Ok(if i.runnable.is_ok() {
        ExitStatus::Pass
    } else {
        ExitStatus::Error
    })
}

/// Runs `modelgate plugin compile`: each component compiled into the
/// compile cache, or found there already; exit 0 when every one is in the
/// cache and can run here. A cache that is off, an entry that could not be
/// written, or a component that cannot run is an error (exit 2): nothing
/// here is best effort, since the point is the next run's speed.
pub async fn compile(args: CompileArgs) -> anyhow::Result<ExitStatus> {
    let host = WasmHost::shared()?;
    host.cache_ready()?;
    for plugin in &args.plugins {
        let source = WasmHost::read_plugin(plugin, std::path::Path::new("."))?;
        // A built-in may run as its lean build (no registry access), which
        // is a component of its own: both go into the cache.
        let lean = crate::builtins::PluginRef::parse(plugin)
            .builtin()
            .and_then(crate::gate::wasm::builtin_lean);
        for source in std::iter::once(source).chain(lean) {
            // The optimized build: what `plugin compile` is for.
            let i = host.inspect(&source, plugin, Some(Tier::Optimizing))?;
            if let Err(problem) = i.runnable {
                return Err(crate::error::with_hint(
                    anyhow::anyhow!("{problem}"),
                    "only a component this modelgate can run is worth compiling; `modelgate plugin inspect` says why",
                ));
            }
            let entry = host.cached(&source.sha256).map_err(|why| {
                crate::error::with_hint(
                    anyhow::anyhow!(
                        "`{plugin}` was compiled but is not in the compile cache: {why}"
                    ),
                    "MODELGATE_CACHE_DIR must be a directory this user can write",
                )
            })?;
            let ms = i.load_time.as_secs_f64() * 1e3;
            let did = match &i.cache {
                CacheOutcome::Hit => format!("in the cache already (loaded in {ms:.0} ms)"),
                CacheOutcome::Miss => format!("compiled in {ms:.0} ms"),
                CacheOutcome::Rejected(why) => {
                    format!("recompiled in {ms:.0} ms (the entry there was rejected: {why})")
                }
            };
            crate::output::stdout(&format!(
                "{plugin} (sha256 {}): {did}\n  {}\n",
                source.sha256,
                entry.display()
            ))?;
        }
    }
    Ok(ExitStatus::Pass)
}

/// Runs `modelgate plugin new`: writes the template and says what to do next.
pub fn new(args: NewArgs) -> anyhow::Result<ExitStatus> {
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| std::path::PathBuf::from(&args.name));
    let files = crate::templates::write(args.lang.into(), &args.name, &dir)?;
    let d = dir.display();
    let crate_name = args.name.replace('-', "_");
    let (lang, steps) = match Lang::from(args.lang) {
        Lang::Rust => (
            "Rust",
            format!(
                "  cd {d}\n  cargo build --target wasm32-wasip2 --release\n  modelgate plugin inspect target/wasm32-wasip2/release/{crate_name}.wasm"
            ),
        ),
        Lang::Python => (
            "Python",
            format!(
                "  cd {d}\n  python -m pip install -r requirements.txt\n  ./build.sh\n  modelgate plugin inspect {}.wasm",
                args.name
            ),
        ),
        Lang::Js => (
            "JavaScript",
            format!(
                "  cd {d}\n  npm install\n  npm run build\n  modelgate plugin inspect {}.wasm",
                args.name
            ),
        ),
    };
    crate::output::stderr(&format!(
        "created {lang} gate `{}` in {d} ({} files)\nnext:\n{steps}\n  modelgate validate --project . --tracking-uri sqlite:///path/to/mlflow.db -v\n",
        args.name,
        files.len()
    ));
    Ok(ExitStatus::Pass)
}

/// `plugin inspect`'s text for people.
fn inspected_text(
    plugin: &str,
    i: &crate::gate::wasm::Inspection,
    world: Option<&str>,
    cache: &str,
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "plugin    {}", plugin);
    let _ = writeln!(
        out,
        "size      {} bytes ({})",
        i.size,
        human_bytes(i.size as u64)
    );
    let _ = writeln!(out, "sha256    {}", i.sha256);
    let _ = writeln!(
        out,
        "world     {}",
        world.unwrap_or("unknown (imports no modelgate:validator interface)")
    );
    match &i.runnable {
        Ok(()) => {
            let _ = writeln!(
                out,
                "runnable  yes, by this modelgate (it runs {})",
                crate::text::and_list(
                    &crate::gate::wasm::WIT_VERSIONS
                        .iter()
                        .map(|v| format!("@{v}"))
                        .collect::<Vec<_>>()
                )
            );
        }
        Err(why) => {
            let _ = writeln!(out, "runnable  no: {why}");
        }
    }
    let _ = writeln!(
        out,
        "load      {} ({cache})",
        crate::text::format_duration(i.load_time)
    );
    let _ = writeln!(out, "exports");
    for (n, k) in &i.analysis.exports {
        let _ = writeln!(out, "  {n}  ({k})");
    }
    let _ = writeln!(out, "imports");
    for (n, k) in &i.analysis.imports {
        let _ = writeln!(out, "  {n}  ({k})");
    }
    out
}
