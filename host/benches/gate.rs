//! In-process costs of a WebAssembly gate: one evaluation of
//! `builtin:threshold` (a fresh `Store`, instantiation and `validate`) with
//! registry reads served from the per-run cache — by its lean build, which
//! judges a config of thresholds only, and by its full build on the same
//! config — and loading a component by compiling it versus from the
//! compile cache.
//!
//! `cargo bench --bench gate`; figures go to BENCHMARKS.md via `bench/run`.
//! It allocates with mimalloc, as the binary does.

// criterion_group! writes an undocumented function.
#![allow(missing_docs)]

/// The allocator the `modelgate` binary uses (`host/src/main.rs`): the
/// figures are the binary's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::Path;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use modelgate::candidate::{self, Selector};
use modelgate::gate::wasm::WasmHost;
use modelgate::gate::wasm::cache::{CompileCache, sha256_hex};
use modelgate::registry::cached::CachedRegistry;
use modelgate::registry::{self, uri};

fn gate(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let example = root.join("examples/logreg");
    let host = WasmHost::new(|engine| CompileCache::at(engine, None, std::path::Path::new("")))
        .expect("host");
    let config = serde_json::json!({"metrics": {"score": {"threshold": 0.6}}});
    let prepared = rt
        .block_on(host.prepare(
            "builtin:threshold",
            None,
            &config,
            Default::default(),
            &example,
        ))
        .expect("prepare");
    let db = uri::parse(&format!(
        "sqlite:///{}",
        example.join("mlflow.db").display()
    ))
    .expect("uri");
    let registry = Arc::new(CachedRegistry::new(registry::open(&db).expect("open")));
    let cand = rt
        .block_on(candidate::resolve(
            registry.as_ref(),
            "logreg",
            &Selector::Latest,
        ))
        .expect("candidate");
    let first = rt.block_on(host.evaluate(
        &prepared,
        "quality",
        &cand,
        registry.clone(),
        std::time::SystemTime::now(),
    ));
    assert!(first.passed, "{first:?}");

    // The same gate and config, run by the full build (three core modules:
    // the gate's, the shim and the fixup its registry imports need).
    assert!(prepared.lean_sha256.is_some(), "the lean build judges");
    let source = WasmHost::read_plugin("builtin:threshold", &example).expect("builtin");
    let full = modelgate::gate::wasm::PreparedGate {
        plugin: prepared.plugin.clone(),
        sha256: prepared.sha256.clone(),
        lean_sha256: None,
        component: rt
            .block_on(host.load(source, "builtin:threshold"))
            .expect("full build"),
        config: prepared.config.clone(),
        config_value: prepared.config_value.clone(),
        limits: prepared.limits,
    };
    for (name, gate) in [
        (
            "threshold: instantiate + validate (cached registry)",
            &prepared,
        ),
        (
            "threshold, full build: instantiate + validate (cached registry)",
            &full,
        ),
    ] {
        c.bench_function(name, |b| {
            b.iter(|| {
                let r = rt.block_on(host.evaluate(
                    gate,
                    "quality",
                    &cand,
                    registry.clone(),
                    std::time::SystemTime::now(),
                ));
                assert!(r.passed);
            })
        });
    }

    let source = WasmHost::read_plugin("builtin:threshold", &example).expect("builtin");
    let bytes = source.bytes.to_vec();
    let sha = sha256_hex(&bytes);
    assert_eq!(sha, source.sha256);
    let engine = host.engine().clone();
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = CompileCache::at(
        &engine,
        Some(dir.path().join("cache")),
        &dir.path().join("key"),
    );
    cache.load(&engine, &sha, &bytes).expect("fill cache");
    let mut group = c.benchmark_group("threshold component");
    group.sample_size(20);
    group.bench_function("compile", |b| {
        b.iter(|| wasmtime::component::Component::new(&engine, &bytes).expect("compile"))
    });
    group.bench_function("load from compile cache", |b| {
        b.iter(|| cache.load(&engine, &sha, &bytes).expect("load"))
    });
    group.finish();
}

criterion_group!(benches, gate);
criterion_main!(benches);
