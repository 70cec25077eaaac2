//! The plugin templates `modelgate plugin new` writes: a Rust crate on the
//! SDK, a componentize-py project, a componentize-js project. Python and
//! JavaScript gates import modelgate's helper module (written beside them,
//! the same file as `plugins/python/` and `plugins/js/`), never a pasted
//! copy of its functions. A Rust gate created inside a checkout of modelgate
//! depends on the checkout's SDK by path; elsewhere the SDK is written with
//! it. Each carries the WIT it is built against, so it builds with no
//! checkout of modelgate around.

use std::path::Path;

use anyhow::Context as _;

use crate::error::with_hint;

/// The componentize-js version templates pin (as `tests/env/package.json`).
pub const COMPONENTIZE_JS: &str = "0.23.0";

/// The preview2-shim version templates pin: componentize-js imports it at
/// run time but declares it only as a development dependency.
pub const PREVIEW2_SHIM: &str = "0.25.0";

/// The plugin contract, embedded.
pub const WIT: &str = include_str!("../../wit/validator.wit");
/// The 0.1.0 package the contract uses (log, run, key-value).
pub const WIT_0_1_0: &str = include_str!("../../wit/deps/validator-0.1.0/validator.wit");
/// The 0.2.0 package the contract uses (check, verdict).
pub const WIT_0_2_0: &str = include_str!("../../wit/deps/validator-0.2.0/validator.wit");
/// The 0.3.0 package the contract uses (registry, candidate, LoggedModel).
pub const WIT_0_3_0: &str = include_str!("../../wit/deps/validator-0.3.0/validator.wit");
/// Where the 0.1.0 package goes, beside `wit/validator.wit`.
const WIT_DEP_0_1_0: &str = "wit/deps/validator-0.1.0/validator.wit";
/// Where the 0.2.0 package goes.
const WIT_DEP_0_2_0: &str = "wit/deps/validator-0.2.0/validator.wit";
/// Where the 0.3.0 package goes.
const WIT_DEP_0_3_0: &str = "wit/deps/validator-0.3.0/validator.wit";

/// A template language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// A Rust crate on the `modelgate-plugin` SDK (cargo, wasm32-wasip2).
    Rust,
    /// A Python module built with componentize-py.
    Python,
    /// A JavaScript module built with componentize-js.
    Js,
}

/// (path in the new project, contents, executable).
type File = (&'static str, &'static str, bool);

const RUST: &[File] = &[
    (
        "Cargo.toml",
        include_str!("../../templates/rust/Cargo.toml.tmpl"),
        false,
    ),
    (
        "src/lib.rs",
        include_str!("../../templates/rust/src/lib.rs.tmpl"),
        false,
    ),
    (
        "ame.yaml",
        include_str!("../../templates/rust/ame.yaml.tmpl"),
        false,
    ),
    (
        "README.md",
        include_str!("../../templates/rust/README.md.tmpl"),
        false,
    ),
    (
        ".gitignore",
        include_str!("../../templates/rust/gitignore.tmpl"),
        false,
    ),
    (
        "modelgate-plugin/Cargo.toml",
        include_str!("../../templates/rust/sdk-Cargo.toml.tmpl"),
        false,
    ),
    (
        "modelgate-plugin/src/lib.rs",
        include_str!("../../plugins/sdk/src/lib.rs"),
        false,
    ),
    (
        "modelgate-plugin/src/arena.rs",
        include_str!("../../plugins/sdk/src/arena.rs"),
        false,
    ),
    ("modelgate-plugin/wit/validator.wit", WIT, false),
    (
        "modelgate-plugin/wit/deps/validator-0.1.0/validator.wit",
        WIT_0_1_0,
        false,
    ),
    (
        "modelgate-plugin/wit/deps/validator-0.2.0/validator.wit",
        WIT_0_2_0,
        false,
    ),
    (
        "modelgate-plugin/wit/deps/validator-0.3.0/validator.wit",
        WIT_0_3_0,
        false,
    ),
];

/// Where the Rust template's SDK copy lives, and the prefix of its files.
const SDK_COPY: &str = "modelgate-plugin";

const PYTHON: &[File] = &[
    (
        "app.py",
        include_str!("../../templates/python/app.py.tmpl"),
        false,
    ),
    (
        "build.sh",
        include_str!("../../templates/python/build.sh.tmpl"),
        true,
    ),
    (
        "requirements.txt",
        include_str!("../../templates/python/requirements.txt.tmpl"),
        false,
    ),
    (
        "ame.yaml",
        include_str!("../../templates/python/ame.yaml.tmpl"),
        false,
    ),
    (
        "README.md",
        include_str!("../../templates/python/README.md.tmpl"),
        false,
    ),
    (
        ".gitignore",
        include_str!("../../templates/python/gitignore.tmpl"),
        false,
    ),
    (
        "modelgate_plugin.py",
        include_str!("../../plugins/python/modelgate_plugin.py"),
        false,
    ),
    ("wit/validator.wit", WIT, false),
    (WIT_DEP_0_1_0, WIT_0_1_0, false),
    (WIT_DEP_0_2_0, WIT_0_2_0, false),
    (WIT_DEP_0_3_0, WIT_0_3_0, false),
];

const JS: &[File] = &[
    (
        "gate.js",
        include_str!("../../templates/js/gate.js.tmpl"),
        false,
    ),
    (
        "build.mjs",
        include_str!("../../templates/js/build.mjs.tmpl"),
        false,
    ),
    (
        "package.json",
        include_str!("../../templates/js/package.json.tmpl"),
        false,
    ),
    (
        "ame.yaml",
        include_str!("../../templates/js/ame.yaml.tmpl"),
        false,
    ),
    (
        "README.md",
        include_str!("../../templates/js/README.md.tmpl"),
        false,
    ),
    (
        ".gitignore",
        include_str!("../../templates/js/gitignore.tmpl"),
        false,
    ),
    (
        "modelgate-plugin.js",
        include_str!("../../plugins/js/modelgate-plugin.js"),
        false,
    ),
    ("wit/validator.wit", WIT, false),
    (WIT_DEP_0_1_0, WIT_0_1_0, false),
    (WIT_DEP_0_2_0, WIT_0_2_0, false),
    (WIT_DEP_0_3_0, WIT_0_3_0, false),
];

/// Checks a plugin name: lower-case letters, digits and `-`, starting with a letter.
pub fn check_name(name: &str) -> anyhow::Result<()> {
    let ok = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(with_hint(
            anyhow::anyhow!("`{name}` is not a valid plugin name"),
            "use lower-case letters, digits and `-`, starting with a letter (e.g. `min-score`)",
        ))
    }
}

fn camel(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut c = part.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

/// The SDK of the modelgate checkout `dir` is inside (`plugins/sdk`, the
/// `modelgate-plugin` crate), as a path relative to `dir`; `None` outside
/// any checkout.
fn checkout_sdk(dir: &Path) -> Option<String> {
    let dir = std::path::absolute(dir).ok()?;
    let sdk = dir.ancestors().skip(1).find_map(|a| {
        let manifest = a.join("plugins/sdk/Cargo.toml");
        let text = std::fs::read_to_string(&manifest).ok()?;
        text.lines()
            .any(|l| l.trim() == "name = \"modelgate-plugin\"")
            .then(|| a.join("plugins/sdk"))
    })?;
    // `dir` is below the checkout's root: up to the root, then down.
    let root = sdk.parent()?.parent()?;
    let ups = dir.strip_prefix(root).ok()?.components().count();
    let mut rel = "../".repeat(ups);
    rel.push_str("plugins/sdk");
    Some(rel)
}

fn render(body: &str, name: &str, path: &str, sdk_path: &str) -> String {
    let body = if path == "modelgate-plugin/src/lib.rs" {
        // The SDK finds the WIT beside it in a template, two levels up in
        // modelgate's own tree.
        body.replace("path: \"../../wit\"", "path: \"wit\"")
    } else {
        body.to_string()
    };
    body.replace("{{name}}", name)
        .replace("{{crate}}", &name.replace('-', "_"))
        .replace("{{type}}", &camel(name))
        .replace("{{wit_version}}", crate::gate::wasm::WIT_VERSION)
        .replace("{{sdk_version}}", env!("CARGO_PKG_VERSION"))
        .replace("{{componentize_js}}", COMPONENTIZE_JS)
        .replace("{{preview2_shim}}", PREVIEW2_SHIM)
        .replace("{{sdk_path}}", sdk_path)
}

/// Writes the `lang` template for plugin `name` into `dir`, which must not
/// exist or be empty. Returns the files written.
pub fn write(lang: Lang, name: &str, dir: &Path) -> anyhow::Result<Vec<String>> {
    check_name(name)?;
    if dir.exists() {
        let empty = std::fs::read_dir(dir)
            .with_context(|| format!("failed to read `{}`", dir.display()))?
            .next()
            .is_none();
        if !empty {
            return Err(with_hint(
                anyhow::anyhow!("`{}` already exists and is not empty", dir.display()),
                "pick another name or pass `--dir` with a new directory",
            ));
        }
    }
    let files = match lang {
        Lang::Rust => RUST,
        Lang::Python => PYTHON,
        Lang::Js => JS,
    };
    // Inside a checkout, a Rust gate uses the checkout's SDK rather than a
    // copy that would never see its fixes.
    let sdk = match lang {
        Lang::Rust => checkout_sdk(dir),
        _ => None,
    };
    let sdk_path = sdk.as_deref().unwrap_or(SDK_COPY);
    let mut written = Vec::new();
    for (path, body, executable) in files {
        if sdk.is_some() && path.starts_with(&format!("{SDK_COPY}/")) {
            continue;
        }
        let dest = dir.join(path);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("failed to create `{}`", parent.display()))?;
        }
        std::fs::write(&dest, render(body, name, path, sdk_path))
            .with_context(|| format!("failed to write `{}`", dest.display()))?;
        if *executable {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o755))
                .with_context(|| format!("failed to make `{}` executable", dest.display()))?;
        }
        written.push((*path).to_string());
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check_name("min-score").is_ok());
        assert!(check_name("gate2").is_ok());
        for bad in ["", "Min", "2gate", "a_b", "a-", "a b"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        assert_eq!(camel("min-score-gate"), "MinScoreGate");
    }

    #[test]
    fn templates_render_without_placeholders() {
        for lang in [Lang::Rust, Lang::Python, Lang::Js] {
            let dir = tempfile::tempdir().expect("tempdir");
            let target = dir.path().join("my-gate");
            let files = write(lang, "my-gate", &target).expect("writes");
            for f in files {
                let text = std::fs::read_to_string(target.join(&f)).expect("read");
                assert!(!text.contains("{{"), "{f} keeps a placeholder");
            }
            assert!(
                write(lang, "my-gate", &target).is_err(),
                "refuses a non-empty dir"
            );
        }
        let dir = tempfile::tempdir().expect("tempdir");
        write(Lang::Rust, "my-gate", dir.path()).expect("writes");
        let sdk =
            std::fs::read_to_string(dir.path().join("modelgate-plugin/src/lib.rs")).expect("sdk");
        assert!(sdk.contains("path: \"wit\""));
        // Every module of the SDK's copy comes with it.
        for line in sdk.lines() {
            if let Some(m) = line.trim().strip_prefix("mod ")
                && let Some(m) = m.strip_suffix(';')
            {
                let file = dir.path().join(format!("modelgate-plugin/src/{m}.rs"));
                assert!(file.is_file(), "the SDK's copy lacks {}", file.display());
            }
        }
        let lib = std::fs::read_to_string(dir.path().join("src/lib.rs")).expect("lib");
        assert!(lib.contains("export_gate!(MyGate);"));
        let manifest = std::fs::read_to_string(dir.path().join("Cargo.toml")).expect("toml");
        assert!(manifest.contains("modelgate-plugin = { path = \"modelgate-plugin\" }"));
    }

    /// Inside a checkout, the Rust template depends on the checkout's SDK
    /// by a relative path and carries no copy of it.
    #[test]
    fn inside_a_checkout_the_sdk_is_a_path_dependency() {
        let root = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(root.path().join("plugins/sdk")).expect("mkdir");
        std::fs::write(
            root.path().join("plugins/sdk/Cargo.toml"),
            "[package]\nname = \"modelgate-plugin\"\n",
        )
        .expect("write");
        let gate = root.path().join("gates/mine");
        write(Lang::Rust, "mine", &gate).expect("writes");
        let manifest = std::fs::read_to_string(gate.join("Cargo.toml")).expect("toml");
        assert!(
            manifest.contains("modelgate-plugin = { path = \"../../plugins/sdk\" }"),
            "{manifest}"
        );
        assert!(!gate.join("modelgate-plugin").exists());
        assert_eq!(checkout_sdk(Path::new("/")), None);
    }
}
