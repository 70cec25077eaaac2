//! The built-in gates compiled into the binary (`plugins/dist/`, embedded by
//! the build script) and [`PluginRef`], what a project file's `plugin:`
//! names: a built-in or a file. Every part of modelgate that needs either
//! asks here, so the `builtin:` prefix is parsed in one place.

mod table {
    include!(concat!(env!("OUT_DIR"), "/builtins.rs"));
}

/// The prefix naming a built-in gate in `plugin:`.
pub const PREFIX: &str = "builtin:";

/// The built-in gates' names (without [`PREFIX`]).
pub fn names() -> Vec<&'static str> {
    table::BUILTINS.iter().map(|(n, ..)| *n).collect()
}

/// The JSON Schema of `builtin:NAME`'s config (`plugins/NAME/config.schema.json`).
pub fn config_schema(name: &str) -> Option<&'static str> {
    table::CONFIG_SCHEMAS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| *s)
}

/// The component of `builtin:NAME` with the lower-case hex sha256 of its
/// bytes (computed at build time).
pub fn component(name: &str) -> Option<(&'static [u8], &'static str)> {
    find(table::BUILTINS, name)
}

/// The lean build of `builtin:NAME`, if it has one: the same gate built to
/// import nothing (`plugins/dist/NAME-lean.wasm`).
pub fn lean(name: &str) -> Option<(&'static [u8], &'static str)> {
    find(table::LEAN, name)
}

fn find(
    table: &[(&str, &'static [u8], &'static str)],
    name: &str,
) -> Option<(&'static [u8], &'static str)> {
    table
        .iter()
        .find(|(n, ..)| *n == name)
        .map(|(_, bytes, sha)| (*bytes, *sha))
}

/// What `plugin:` names, parsed once: a built-in gate or a component file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PluginRef<'a> {
    /// `builtin:NAME` (the name, which may not exist).
    Builtin(&'a str),
    /// A path, relative to the project directory unless absolute.
    File(&'a str),
}

impl<'a> PluginRef<'a> {
    /// Reads `plugin` as the project file writes it.
    pub fn parse(plugin: &'a str) -> PluginRef<'a> {
        match plugin.strip_prefix(PREFIX) {
            Some(name) => PluginRef::Builtin(name),
            None => PluginRef::File(plugin),
        }
    }

    /// The built-in's name, when it is one.
    pub fn builtin(self) -> Option<&'a str> {
        match self {
            PluginRef::Builtin(name) => Some(name),
            PluginRef::File(_) => None,
        }
    }

    /// True for `builtin:NAME`.
    pub fn is_builtin(self, name: &str) -> bool {
        self.builtin() == Some(name)
    }
}

impl std::fmt::Display for PluginRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PluginRef::Builtin(name) => write!(f, "{PREFIX}{name}"),
            PluginRef::File(path) => f.write_str(path),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_refs_parse_and_print_back() {
        for text in [
            "builtin:threshold",
            "plugins/gate.wasm",
            "builtin:",
            "/abs.wasm",
        ] {
            assert_eq!(PluginRef::parse(text).to_string(), text);
        }
        assert_eq!(PluginRef::parse("builtin:tags"), PluginRef::Builtin("tags"));
        assert!(PluginRef::parse("builtin:tags").is_builtin("tags"));
        assert_eq!(PluginRef::parse("gates/builtin:x.wasm").builtin(), None);
        assert!(names().contains(&"threshold") && component("threshold").is_some());
        assert!(config_schema("tags").is_some() && config_schema("nope").is_none());
    }
}
