//! What a component is: a first look at the bytes (is it a component at
//! all?), and its imports and exports compared with the world this host
//! runs, so a mismatch is reported as "expected X, found Y" rather than as a
//! linker error.

use std::collections::BTreeSet;

use wasmtime::Engine;
use wasmtime::component::Component;
use wasmtime::component::types::ComponentItem;

use super::{WIT_VERSIONS, WORLD};
use crate::error::with_hint;

const PACKAGE: &str = "modelgate:validator";

/// Checks that `bytes` are a WebAssembly component, naming what they are
/// otherwise.
pub fn check_header(bytes: &[u8], what: &str) -> anyhow::Result<()> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(with_hint(
            anyhow::anyhow!("`{what}` is not a WebAssembly file"),
            "point `plugin:` at a `.wasm` component (for Rust: `cargo build --target wasm32-wasip2 --release`)",
        ));
    }
    // Version 1 / layer 0 is a core module; components have layer 1.
    let layer = u16::from_le_bytes([bytes[6], bytes[7]]);
    if layer == 0 {
        return Err(with_hint(
            anyhow::anyhow!(
                "`{what}` is a core WebAssembly module, but a component of world `{WORLD}` was expected"
            ),
            "build for `wasm32-wasip2` (Rust), or wrap the module with `wasm-tools component new`",
        ));
    }
    Ok(())
}

/// A component's imports and exports.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Analysis {
    /// Import names with their kinds (`instance`, `func`, …).
    pub imports: Vec<(String, &'static str)>,
    /// Export names with their kinds.
    pub exports: Vec<(String, &'static str)>,
    /// Versions of `modelgate:validator` the imports name.
    pub wit_versions: BTreeSet<String>,
}

fn kind(item: &ComponentItem) -> &'static str {
    match item {
        ComponentItem::ComponentFunc(_) => "func",
        ComponentItem::CoreFunc(_) => "core func",
        ComponentItem::Module(_) => "module",
        ComponentItem::Component(_) => "component",
        ComponentItem::ComponentInstance(_) => "instance",
        ComponentItem::Type(_) => "type",
        ComponentItem::Resource(_) => "resource",
    }
}

/// Lists a component's imports and exports.
pub fn analyze(engine: &Engine, component: &Component) -> Analysis {
    let ty = component.component_type();
    let imports: Vec<(String, &'static str)> = ty
        .imports(engine)
        .map(|(n, i)| (n.to_string(), kind(&i.ty)))
        .collect();
    let exports: Vec<(String, &'static str)> = ty
        .exports(engine)
        .map(|(n, i)| (n.to_string(), kind(&i.ty)))
        .collect();
    let wit_versions = imports
        .iter()
        .filter_map(|(n, _)| n.strip_prefix(&format!("{PACKAGE}/")))
        .map(|rest| {
            rest.split_once('@')
                .map(|(_, v)| v.to_string())
                .unwrap_or_default()
        })
        .collect();
    Analysis {
        imports,
        exports,
        wit_versions,
    }
}

fn parse_version(v: &str) -> Option<(u64, u64, u64)> {
    let core = v.split(['-', '+']).next()?;
    let mut it = core.split('.').map(|p| p.parse::<u64>().ok());
    Some((it.next()??, it.next()??, it.next()??))
}

/// The host's WIT version that `version` is semver-compatible with (for
/// 0.x: the same minor version), if any.
pub fn compatible(version: &str) -> Option<&'static str> {
    let v = parse_version(version)?;
    WIT_VERSIONS
        .iter()
        .copied()
        .find(|host| match (v, parse_version(host)) {
            ((0, minor, _), Some((0, host_minor, _))) => minor == host_minor,
            ((major, ..), Some((host_major, ..))) => major == host_major && major != 0,
            _ => false,
        })
}

/// `` `modelgate:validator@0.1.0`, `@0.2.0`, `@0.3.0` and `@0.4.0` ``, for messages.
fn host_versions() -> String {
    let named: Vec<String> = WIT_VERSIONS
        .iter()
        .enumerate()
        .map(|(i, v)| {
            if i == 0 {
                format!("`{PACKAGE}@{v}`")
            } else {
                format!("`@{v}`")
            }
        })
        .collect();
    crate::text::and_list(&named)
}

impl Analysis {
    /// The host's version of the world the component was built against:
    /// the newest compatible version its imports name (a 0.2.0 gate also
    /// imports 0.1.0's registry and log), if any.
    pub fn world_version(&self) -> Option<String> {
        self.wit_versions
            .iter()
            .filter_map(|v| compatible(v))
            .max_by_key(|v| parse_version(v))
            .map(str::to_string)
    }

    /// Why this host cannot run the component, if it cannot.
    pub fn incompatibility(&self) -> Option<String> {
        for v in &self.wit_versions {
            if v.is_empty() {
                return Some(format!(
                    "it imports an unversioned `{PACKAGE}` interface; expected {}",
                    host_versions()
                ));
            }
            if compatible(v).is_none() {
                return Some(format!(
                    "it was built against `{PACKAGE}@{v}`, but this modelgate runs {}",
                    host_versions()
                ));
            }
        }
        let foreign: Vec<&str> = self
            .imports
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|n| !n.starts_with("wasi:") && !n.starts_with(&format!("{PACKAGE}/")))
            .collect();
        if !foreign.is_empty() {
            return Some(format!(
                "it imports {}, which modelgate does not provide (a gate may import only `wasi:*` and `{PACKAGE}/*`)",
                foreign
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let has = |name: &str| self.exports.iter().any(|(n, k)| n == name && *k == "func");
        if !has("check-config") || !has("validate") {
            let found = if self.exports.is_empty() {
                "nothing".to_string()
            } else {
                self.exports
                    .iter()
                    .map(|(n, k)| format!("`{n}` ({k})"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            return Some(format!(
                "it exports {found}; expected functions `check-config` and `validate` (world `{WORLD}`)"
            ));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_constant_per_wit_version_and_the_world_is_the_newest() {
        assert_eq!(
            WORLD,
            format!(
                "modelgate:validator/validator@{}",
                super::super::WIT_VERSION
            )
        );
        for v in WIT_VERSIONS {
            assert_eq!(super::super::World::of(v).map(|w| w.version()), Some(*v));
        }
        assert_eq!(WIT_VERSIONS.last(), Some(&super::super::WIT_VERSION));
    }

    #[test]
    fn semver_rules() {
        assert_eq!(compatible("0.1.0"), Some("0.1.0"));
        assert_eq!(compatible("0.1.7"), Some("0.1.0"));
        assert_eq!(compatible("0.2.0"), Some("0.2.0"));
        assert_eq!(compatible("0.2.3"), Some("0.2.0"));
        assert_eq!(compatible("0.3.0"), Some("0.3.0"));
        assert_eq!(compatible("0.4.0"), Some("0.4.0"));
        assert_eq!(compatible("0.5.0"), None);
        assert_eq!(compatible("1.0.0"), None);
        assert_eq!(compatible("garbage"), None);
        let mut a = Analysis {
            imports: vec![],
            exports: vec![],
            wit_versions: ["0.1.0".to_string(), "0.2.0".to_string()].into(),
        };
        assert_eq!(a.world_version().as_deref(), Some("0.2.0"));
        a.wit_versions = ["0.1.0", "0.2.0", "0.3.0"].map(String::from).into();
        assert_eq!(a.world_version().as_deref(), Some("0.3.0"));
        a.wit_versions = ["0.1.0", "0.2.0", "0.3.0", "0.4.0"]
            .map(String::from)
            .into();
        assert_eq!(a.world_version().as_deref(), Some("0.4.0"));
        a.wit_versions = ["0.1.0".to_string()].into();
        assert_eq!(a.world_version().as_deref(), Some("0.1.0"));
    }

    #[test]
    fn headers() {
        assert!(check_header(b"hello world", "x").is_err());
        let core = b"\0asm\x01\0\0\0";
        let err = check_header(core, "x").expect_err("core module");
        assert!(err.to_string().contains("core WebAssembly module"));
        let component = b"\0asm\x0d\0\x01\0";
        assert!(check_header(component, "x").is_ok());
    }
}
