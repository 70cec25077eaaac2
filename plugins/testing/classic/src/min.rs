//! The `min` of a config such as `{"min": 0.6}`, read without serde (the
//! guests built against a released WIT alone, `classic` and `second`,
//! share it).

/// The number after `"min":`, or why there is none.
pub fn min(config: &str) -> Result<f64, String> {
    let key = "\"min\":";
    let start = config
        .find(key)
        .ok_or_else(|| "config needs `min`".to_string())?
        + key.len();
    let rest = config[start..].trim_start();
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
        .unwrap_or(rest.len());
    rest[..end]
        .parse()
        .map_err(|_| format!("`min` is not a number: {}", &rest[..end]))
}
