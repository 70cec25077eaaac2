//! `builtin:signature`: the candidate keeps the contract of its baseline.
//! It reads the `MLmodel` of both versions' models (WIT 0.4.0's artifact
//! reads) and compares their MLflow signatures.
//!
//! ```yaml
//! executor: !wasm
//!   plugin: builtin:signature
//!   config:
//!     baseline: champion            # an alias or `previous` (required)
//!     if_no_baseline: fail          # or `pass` (first model ever: passes with a warning)
//!     require_signature: true       # the candidate must have one (default)
//!     require_input_example: true   # the candidate must have logged an input example
//!     max_model_size: 500MB         # MLmodel's model_size_bytes; bytes or B/KB/MB/GB/KiB/MiB/GiB
//!     flavors: [sklearn]            # flavors the candidate must have
//! ```
//!
//! The compatibility rule — clients that call the baseline must be able to
//! call the candidate unchanged:
//! - every input of the baseline is an input of the candidate (by name, or
//!   by position for unnamed inputs), of a type that accepts everything the
//!   baseline's accepted. Column types follow MLflow's enforcement at
//!   predict time (`mlflow.models.utils._enforce_mlflow_datatype`): a type
//!   accepts itself, and `integer` is widened by `long` and `double`,
//!   `float` by `double` (not `long` by `double`: MLflow refuses int64
//!   data for a `double` column). `any` accepts everything. Arrays, maps
//!   and objects compare their items, values and properties the same way.
//!   A tensor keeps its dtype (MLflow checks it exactly) and its shape's
//!   rank; a fixed dimension may become variable (`-1`), not the reverse;
//! - an input the baseline had optional (`required: false`) stays optional;
//!   an input the candidate adds is optional;
//! - every output of the baseline is kept with the same name and type
//!   (a tensor: dtype and shape);
//! - every inference parameter of the baseline is kept with the same type
//!   and shape.
//!
//! Each difference is one failed check naming it (`input age: long →
//! string`). A baseline without a signature has no contract to keep (a
//! passed check with a warning); a candidate without one fails when the
//! baseline has one, or when `require_signature` is set.

#![cfg_attr(target_arch = "wasm32", no_main)]

use modelgate_plugin::artifacts::{self, Artifact};
use modelgate_plugin::prelude::*;
use serde::Deserialize;
use serde_json::Value as Json;
use yaml_rust2::{Yaml, YamlLoader};

/// The most of an `MLmodel` the gate reads; a larger one fails.
const MAX_MLMODEL: u64 = 1 << 20;

/// The gate.
pub struct Signature;

/// What a missing baseline version means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum IfNoBaseline {
    /// A failed check (the default).
    #[default]
    Fail,
    /// A passed check with a warning.
    Pass,
}

/// The gate's `config:`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The baseline: an alias or `previous`.
    pub baseline: String,
    /// What a missing baseline means.
    #[serde(default)]
    pub if_no_baseline: IfNoBaseline,
    /// The candidate must have a signature.
    #[serde(default = "yes")]
    pub require_signature: bool,
    /// The candidate must have logged an input example.
    #[serde(default)]
    pub require_input_example: bool,
    /// The largest model size allowed (`model_size_bytes` of `MLmodel`).
    #[serde(default)]
    pub max_model_size: Option<Size>,
    /// Flavors the candidate must have.
    #[serde(default)]
    pub flavors: Vec<String>,
}

fn yes() -> bool {
    true
}

/// A size in bytes, written as a number or with a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size(pub u64);

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        match Json::deserialize(d)? {
            Json::Number(n) => n
                .as_u64()
                .map(Size)
                .ok_or_else(|| D::Error::custom("a size is a whole number of bytes")),
            Json::String(s) => parse_size(&s).map(Size).map_err(D::Error::custom),
            _ => Err(D::Error::custom(
                "a size is a number of bytes or a string such as `500MB`",
            )),
        }
    }
}

/// `500MB`, `1.5 GiB`, `1024`: bytes (KB/MB/GB are powers of 1000,
/// KiB/MiB/GiB of 1024).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let factor: u64 = match unit.trim() {
        "" | "B" => 1,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        other => {
            return Err(format!(
                "size `{text}`: unknown unit `{other}` (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)"
            ));
        }
    };
    let n: f64 = num
        .parse()
        .map_err(|_| format!("size `{text}` is not a number with a unit, e.g. `500MB`"))?;
    let bytes = n * factor as f64;
    if !bytes.is_finite() || bytes < 0.0 || bytes >= u64::MAX as f64 {
        return Err(format!("size `{text}` is out of range"));
    }
    Ok(bytes as u64)
}

/// `2.3 KiB`, `50 MB`-ish: bytes in the largest binary unit that keeps
/// them above 1, with the exact count for small ones.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

impl Settings {
    fn read(config: &Config) -> Result<Settings, String> {
        let s: Settings = config.deserialize()?;
        if s.baseline.trim().is_empty() || s.baseline.chars().any(char::is_whitespace) {
            return Err("`baseline` must name an alias or `previous`".into());
        }
        if s.flavors.iter().any(|f| f.trim().is_empty()) {
            return Err("`flavors` lists an empty name".into());
        }
        Ok(s)
    }
}

// ---------------------------------------------------------------------------
// MLmodel

/// What the gate reads of an `MLmodel`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MlModel {
    /// Its flavors' names.
    pub flavors: Vec<String>,
    /// Its signature, if it has one.
    pub signature: Option<Sig>,
    /// The input example's file, when one was saved.
    pub input_example: Option<String>,
    /// `model_size_bytes`.
    pub size: Option<u64>,
}

/// An MLflow signature.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sig {
    /// Its inputs.
    pub inputs: Vec<Spec>,
    /// Its outputs.
    pub outputs: Vec<Spec>,
    /// Its inference parameters: name → (type, shape).
    pub params: Vec<(String, String, Option<Json>)>,
}

/// One input or output.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// Its name, when the schema names them.
    pub name: Option<String>,
    /// Its type.
    pub ty: Ty,
    /// False when it may be left out.
    pub required: bool,
}

/// A schema type.
#[derive(Debug, Clone, PartialEq)]
pub enum Ty {
    /// `boolean`, `integer`, `long`, `float`, `double`, `string`,
    /// `binary`, `datetime`.
    Base(String),
    /// A tensor: dtype and shape (`-1`: any size).
    Tensor(String, Vec<i64>),
    /// `array` of items.
    Array(Box<Ty>),
    /// `map` of string to values.
    Map(Box<Ty>),
    /// `object` with properties (name, type, required).
    Object(Vec<(String, Ty, bool)>),
    /// `any`.
    Any,
    /// Anything else (e.g. `sparkml_vector`), compared as written.
    Other(String),
}

impl core::fmt::Display for Ty {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Ty::Base(t) | Ty::Other(t) => f.write_str(t),
            Ty::Tensor(dtype, shape) => {
                let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
                write!(f, "tensor {dtype} ({})", dims.join(", "))
            }
            Ty::Array(t) => write!(f, "array<{t}>"),
            Ty::Map(t) => write!(f, "map<{t}>"),
            Ty::Object(props) => {
                f.write_str("object{")?;
                for (i, (n, t, req)) in props.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{n}{}: {t}", if *req { "" } else { "?" })?;
                }
                f.write_str("}")
            }
            Ty::Any => f.write_str("any"),
        }
    }
}

fn parse_ty(v: &Json, depth: usize) -> Result<Ty, String> {
    if depth > 32 {
        return Err("a type is nested more than 32 levels deep".into());
    }
    let kind = v
        .get("type")
        .and_then(Json::as_str)
        .ok_or_else(|| format!("a schema entry has no `type`: {v}"))?;
    Ok(match kind {
        "tensor" => {
            let spec = v
                .get("tensor-spec")
                .ok_or("a tensor has no `tensor-spec`")?;
            let dtype = spec
                .get("dtype")
                .and_then(Json::as_str)
                .ok_or("a tensor spec has no `dtype`")?;
            let shape = spec
                .get("shape")
                .and_then(Json::as_array)
                .ok_or("a tensor spec has no `shape`")?
                .iter()
                .map(|d| d.as_i64().ok_or("a tensor dimension is not an integer"))
                .collect::<Result<Vec<_>, _>>()?;
            Ty::Tensor(dtype.to_string(), shape)
        }
        "boolean" | "integer" | "long" | "float" | "double" | "string" | "binary" | "datetime" => {
            Ty::Base(kind.to_string())
        }
        "array" => Ty::Array(Box::new(parse_ty(
            v.get("items").ok_or("an array has no `items`")?,
            depth + 1,
        )?)),
        "map" => Ty::Map(Box::new(parse_ty(
            v.get("values").ok_or("a map has no `values`")?,
            depth + 1,
        )?)),
        "object" => {
            let props = v
                .get("properties")
                .and_then(Json::as_object)
                .ok_or("an object has no `properties`")?;
            let mut out = Vec::with_capacity(props.len());
            for (name, p) in props {
                out.push((name.clone(), parse_ty(p, depth + 1)?, required(p)?));
            }
            out.sort_by(|a, b| a.0.cmp(&b.0));
            Ty::Object(out)
        }
        "any" => Ty::Any,
        other => Ty::Other(other.to_string()),
    })
}

/// `required` (MLflow's default: true); anything but a boolean is refused.
fn required(v: &Json) -> Result<bool, String> {
    match v.get("required") {
        None | Some(Json::Null) => Ok(true),
        Some(Json::Bool(b)) => Ok(*b),
        Some(other) => Err(format!("`required` is {other}, not a boolean")),
    }
}

/// A schema's inputs or outputs, as MLflow's `Schema` accepts them: all
/// named or all unnamed, no name twice.
fn parse_specs(text: &str, what: &str) -> Result<Vec<Spec>, String> {
    let list: Json =
        serde_json::from_str(text).map_err(|e| format!("signature {what} is not JSON: {e}"))?;
    let list = list
        .as_array()
        .ok_or_else(|| format!("signature {what} is not a list"))?;
    let specs = list
        .iter()
        .map(|v| {
            let name = match v.get("name") {
                None | Some(Json::Null) => None,
                Some(Json::String(n)) => Some(n.clone()),
                Some(other) => {
                    return Err(format!("signature {what}: a name is {other}, not a string"));
                }
            };
            Ok(Spec {
                name,
                ty: parse_ty(v, 0).map_err(|e| format!("signature {what}: {e}"))?,
                required: required(v).map_err(|e| format!("signature {what}: {e}"))?,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let named = specs.iter().filter(|s| s.name.is_some()).count();
    if named != 0 && named != specs.len() {
        return Err(format!("signature {what} mixes named and unnamed entries"));
    }
    let mut names: Vec<&str> = specs.iter().filter_map(|s| s.name.as_deref()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(format!("signature {what} names `{}` twice", w[0]));
    }
    Ok(specs)
}

fn parse_params(text: &str) -> Result<Vec<(String, String, Option<Json>)>, String> {
    let list: Json =
        serde_json::from_str(text).map_err(|e| format!("signature params are not JSON: {e}"))?;
    let list = list.as_array().ok_or("signature params are not a list")?;
    list.iter()
        .map(|p| {
            let name = p
                .get("name")
                .and_then(Json::as_str)
                .ok_or("a signature param has no name")?;
            let ty = p
                .get("type")
                .and_then(Json::as_str)
                .ok_or("a signature param has no type")?;
            let shape = p.get("shape").filter(|s| !s.is_null()).cloned();
            Ok((name.to_string(), ty.to_string(), shape))
        })
        .collect::<Result<Vec<_>, String>>()
        .and_then(|params| {
            let mut names: Vec<&str> = params.iter().map(|(n, ..)| n.as_str()).collect();
            names.sort_unstable();
            match names.windows(2).find(|w| w[0] == w[1]) {
                Some(w) => Err(format!("signature params name `{}` twice", w[0])),
                None => Ok(params),
            }
        })
}

/// Reads an `MLmodel` file.
pub fn parse_mlmodel(text: &str) -> Result<MlModel, String> {
    let docs = YamlLoader::load_from_str(text).map_err(|e| format!("MLmodel is not YAML: {e}"))?;
    let doc = match docs.as_slice() {
        [one] => one,
        _ => return Err("MLmodel is not one YAML document".into()),
    };
    let Yaml::Hash(top) = doc else {
        return Err("MLmodel is not a mapping".into());
    };
    let get = |k: &str| top.get(&Yaml::String(k.to_string()));
    let flavors = match get("flavors") {
        Some(Yaml::Hash(h)) => h
            .keys()
            .filter_map(Yaml::as_str)
            .map(str::to_string)
            .collect(),
        None | Some(Yaml::Null) => Vec::new(),
        Some(_) => return Err("MLmodel's `flavors` is not a mapping".into()),
    };
    let text_of = |sig: &yaml_rust2::yaml::Hash, k: &str| -> Result<Option<String>, String> {
        match sig.get(&Yaml::String(k.to_string())) {
            None | Some(Yaml::Null) => Ok(None),
            Some(Yaml::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!("MLmodel's `signature.{k}` is not a JSON string")),
        }
    };
    let signature = match get("signature") {
        None | Some(Yaml::Null) => None,
        // A signature without inputs or outputs is no contract at all.
        Some(Yaml::Hash(sig))
            if text_of(sig, "inputs")?.is_none() && text_of(sig, "outputs")?.is_none() =>
        {
            None
        }
        Some(Yaml::Hash(sig)) => Some(Sig {
            inputs: match text_of(sig, "inputs")? {
                Some(t) => parse_specs(&t, "inputs")?,
                None => Vec::new(),
            },
            outputs: match text_of(sig, "outputs")? {
                Some(t) => parse_specs(&t, "outputs")?,
                None => Vec::new(),
            },
            params: match text_of(sig, "params")? {
                Some(t) => parse_params(&t)?,
                None => Vec::new(),
            },
        }),
        Some(_) => return Err("MLmodel's `signature` is not a mapping".into()),
    };
    let input_example = match get("saved_input_example_info") {
        Some(Yaml::Hash(info)) => info
            .get(&Yaml::String("artifact_path".into()))
            .and_then(Yaml::as_str)
            .map(str::to_string),
        _ => None,
    };
    let size = match get("model_size_bytes") {
        Some(Yaml::Integer(n)) => u64::try_from(*n).ok(),
        _ => None,
    };
    Ok(MlModel {
        flavors,
        signature,
        input_example,
        size,
    })
}

// ---------------------------------------------------------------------------
// Compatibility

/// Why `cand` does not accept everything `base` accepted, if it does not.
pub fn accepts(cand: &Ty, base: &Ty) -> Result<(), String> {
    let no = || Err(format!("{base} → {cand}"));
    match (base, cand) {
        (_, Ty::Any) => Ok(()),
        (Ty::Base(b), Ty::Base(c)) => {
            let widened = matches!(
                (b.as_str(), c.as_str()),
                ("integer", "long") | ("integer", "double") | ("float", "double")
            );
            if b == c || widened { Ok(()) } else { no() }
        }
        (Ty::Tensor(bd, bs), Ty::Tensor(cd, cs)) => {
            let dims_ok =
                bs.len() == cs.len() && bs.iter().zip(cs).all(|(b, c)| *c == -1 || b == c);
            if bd == cd && dims_ok { Ok(()) } else { no() }
        }
        (Ty::Array(b), Ty::Array(c)) | (Ty::Map(b), Ty::Map(c)) => accepts(c, b).or_else(|_| no()),
        (Ty::Object(bp), Ty::Object(cp)) => {
            for (name, bt, breq) in bp {
                match cp.iter().find(|(n, ..)| n == name) {
                    None => return no(),
                    Some((_, ct, creq)) => {
                        if accepts(ct, bt).is_err() || (*creq && !*breq) {
                            return no();
                        }
                    }
                }
            }
            // A property the candidate adds must be optional.
            if cp
                .iter()
                .any(|(n, _, req)| *req && !bp.iter().any(|(m, ..)| m == n))
            {
                return no();
            }
            Ok(())
        }
        (Ty::Other(b), Ty::Other(c)) if b == c => Ok(()),
        _ => no(),
    }
}

fn key(spec: &Spec, i: usize) -> String {
    spec.name.clone().unwrap_or_else(|| format!("#{i}"))
}

fn find<'a>(list: &'a [Spec], spec: &Spec, i: usize) -> Option<&'a Spec> {
    match &spec.name {
        Some(n) => list.iter().find(|s| s.name.as_deref() == Some(n)),
        None => list.get(i).filter(|s| s.name.is_none()),
    }
}

/// The differences that break a caller of `base`, one check each
/// (failed); empty when the candidate keeps the contract.
pub fn differences(base: &Sig, cand: &Sig) -> Vec<Check> {
    let mut out = Vec::new();
    let named = |l: &[Spec]| l.first().is_some_and(|s| s.name.is_some());
    if !base.inputs.is_empty()
        && !cand.inputs.is_empty()
        && named(&base.inputs) != named(&cand.inputs)
    {
        let says = |n: bool| if n { "named columns" } else { "unnamed inputs" };
        out.push(
            Check::new("inputs", false)
                .observed(says(named(&cand.inputs)))
                .expected(says(named(&base.inputs))),
        );
        return out;
    }
    for (i, b) in base.inputs.iter().enumerate() {
        let name = format!("input {}", key(b, i));
        match find(&cand.inputs, b, i) {
            None => out.push(
                Check::new(format!("{name}: removed"), false)
                    .observed("absent")
                    .expected(&b.ty)
                    .detail("callers that send it are no longer served"),
            ),
            Some(c) => {
                if let Err(change) = accepts(&c.ty, &b.ty) {
                    out.push(
                        Check::new(format!("{name}: {change}"), false)
                            .observed(&c.ty)
                            .expected(format!("{} or wider", b.ty)),
                    );
                }
                if c.required && !b.required {
                    out.push(
                        Check::new(format!("{name}: optional → required"), false)
                            .observed("required")
                            .expected("optional")
                            .detail("callers that leave it out are refused"),
                    );
                }
            }
        }
    }
    for (i, c) in cand.inputs.iter().enumerate() {
        let new = match &c.name {
            Some(n) => !base.inputs.iter().any(|b| b.name.as_deref() == Some(n)),
            None => i >= base.inputs.len(),
        };
        if new && c.required {
            out.push(
                Check::new(format!("input {}: added as required", key(c, i)), false)
                    .observed(format!("required {}", c.ty))
                    .expected("absent or optional")
                    .detail("callers of the baseline do not send it"),
            );
        }
    }
    for (i, b) in base.outputs.iter().enumerate() {
        let name = match &b.name {
            Some(n) => format!("output {n}"),
            None if base.outputs.len() == 1 => "output".to_string(),
            None => format!("output #{i}"),
        };
        match find(&cand.outputs, b, i) {
            None => out.push(
                Check::new(format!("{name}: removed"), false)
                    .observed("absent")
                    .expected(&b.ty),
            ),
            Some(c) if c.ty != b.ty => out.push(
                Check::new(format!("{name}: {} → {}", b.ty, c.ty), false)
                    .observed(&c.ty)
                    .expected(&b.ty),
            ),
            Some(_) => {}
        }
    }
    for (name, ty, shape) in &base.params {
        match cand.params.iter().find(|(n, ..)| n == name) {
            None => out.push(
                Check::new(format!("param {name}: removed"), false)
                    .observed("absent")
                    .expected(ty),
            ),
            Some((_, cty, cshape)) if cty != ty || cshape != shape => out.push(
                Check::new(format!("param {name}: {ty} → {cty}"), false)
                    .observed(cty)
                    .expected(ty),
            ),
            Some(_) => {}
        }
    }
    out
}

// ---------------------------------------------------------------------------
// The gate

/// The baseline version named `which` (an alias or `previous`), or why
/// there is none.
fn baseline_of(candidate: &Candidate, which: &str) -> Result<Result<ModelVersion, String>, String> {
    let failed =
        |e: RegistryError| format!("failed to read baseline `{which}`: {}", String::from(e));
    if which == "previous" {
        let versions = registry::model_versions(candidate.name()).map_err(failed)?;
        return Ok(versions
            .into_iter()
            .filter(|v| v.version < candidate.number() && v.status == "READY")
            .max_by_key(|v| v.version)
            .ok_or_else(|| format!("no version older than {}", candidate.number())));
    }
    match registry::model_version_by_alias(candidate.name(), which) {
        Ok(v) => Ok(Ok(v)),
        Err(RegistryError::NotFound(_)) => Ok(Err(format!(
            "model `{}` has no alias `{which}`",
            candidate.name()
        ))),
        Err(e) => Err(failed(e)),
    }
}

/// `version`'s `MLmodel`, read and parsed; `Ok(Err(why))` when it has
/// none or it cannot be used (a failed check, not an undecided gate).
fn mlmodel_of(version: &ModelVersion, who: &str) -> Result<Result<MlModel, String>, String> {
    let Some((owner, _)) = artifacts::model_files(version) else {
        return Ok(Err(format!(
            "{who}'s model files cannot be located: it names no LoggedModel and its source `{}` is not `runs:/…`",
            version.source.as_deref().unwrap_or("")
        )));
    };
    let read = artifacts::read_model_file(version, "MLmodel", MAX_MLMODEL)
        .map_err(|e| format!("failed to read {who}'s MLmodel: {}", String::from(e)))?;
    let Some(Artifact {
        data, truncated, ..
    }) = read
    else {
        return Ok(Err(format!("{who} has no MLmodel ({})", describe(&owner))));
    };
    if truncated {
        return Ok(Err(format!(
            "{who}'s MLmodel is larger than {MAX_MLMODEL} bytes"
        )));
    }
    let text = match String::from_utf8(data) {
        Ok(t) => t,
        Err(_) => return Ok(Err(format!("{who}'s MLmodel is not UTF-8"))),
    };
    Ok(parse_mlmodel(&text).map_err(|e| format!("{who}: {e}")))
}

fn describe(owner: &artifacts::ArtifactOwner) -> String {
    match owner {
        artifacts::ArtifactOwner::LoggedModel(id) => format!("LoggedModel {id}"),
        artifacts::ArtifactOwner::Run(id) => format!("run {id}"),
    }
}

impl Gate for Signature {
    fn check_config(config: &Config) -> Result<(), String> {
        Settings::read(config).map(drop)
    }

    fn validate(candidate: &Candidate, config: &Config) -> Result<Verdict, String> {
        let settings = Settings::read(config)?;
        let who = format!("v{}", candidate.number());
        let mut checks = Vec::new();
        let cand = match mlmodel_of(&candidate.version, &who)? {
            Ok(m) => m,
            Err(why) => {
                checks.push(Check::new("MLmodel", false).detail(why));
                return Ok(Verdict::from_checks(checks));
            }
        };
        if settings.require_signature || cand.signature.is_none() {
            let has = cand.signature.is_some();
            if settings.require_signature || !has {
                checks.push(
                    Check::new("signature", has || !settings.require_signature)
                        .observed(if has { "present" } else { "absent" })
                        .expected("present"),
                );
            }
        }
        if settings.require_input_example {
            let found = match &cand.input_example {
                Some(path) => {
                    let (owner, prefix) = artifacts::model_files(&candidate.version)
                        .ok_or("the candidate's model files cannot be located")?;
                    match artifacts::read(&owner, &[prefix.as_str(), path].concat(), 1) {
                        Ok(_) => Some(path.clone()),
                        Err(RegistryError::NotFound(_)) => None,
                        Err(e) => {
                            return Err(format!(
                                "failed to read the candidate's input example: {}",
                                String::from(e)
                            ));
                        }
                    }
                }
                None => None,
            };
            checks.push(
                Check::new("input example", found.is_some())
                    .observed(found.as_deref().unwrap_or("absent"))
                    .expected("logged with the model"),
            );
        }
        if let Some(Size(max)) = settings.max_model_size {
            let check = match cand.size {
                Some(size) => Check::new("model size", size <= max)
                    .observed(human(size))
                    .expected(format!("≤ {}", human(max))),
                None => Check::new("model size", false)
                    .observed("unknown")
                    .expected(format!("≤ {}", human(max)))
                    .detail("MLmodel has no `model_size_bytes`"),
            };
            checks.push(check);
        }
        for flavor in &settings.flavors {
            let has = cand.flavors.iter().any(|f| f == flavor);
            checks.push(
                Check::new(format!("flavor {flavor}"), has)
                    .observed(if has {
                        "present".to_string()
                    } else {
                        cand.flavors.join(", ")
                    })
                    .expected("present"),
            );
        }

        let which = settings.baseline.as_str();
        let base_version = match baseline_of(candidate, which)? {
            Ok(v) => v,
            Err(why) => {
                let pass = settings.if_no_baseline == IfNoBaseline::Pass;
                let mut c = Check::new(format!("signature vs {which}"), pass)
                    .observed("no baseline")
                    .detail(why);
                if pass {
                    c = c.warn("no baseline to compare with (if_no_baseline: pass)");
                }
                checks.push(c);
                return Ok(Verdict::from_checks(checks));
            }
        };
        let label = format!("{which} v{}", base_version.version);
        let base = match mlmodel_of(&base_version, &label)? {
            Ok(m) => m,
            Err(why) => {
                checks.push(Check::new(format!("signature vs {label}"), false).detail(why));
                return Ok(Verdict::from_checks(checks));
            }
        };
        // Re-judging the baseline itself: it keeps its own contract, which
        // says nothing about a change.
        let same = base_version.version == candidate.number();
        let itself = format!("{label} is the candidate itself: nothing to compare");
        match (&base.signature, &cand.signature) {
            (None, _) => checks.push(
                Check::new(format!("signature vs {label}"), true)
                    .observed(if cand.signature.is_some() {
                        "present"
                    } else {
                        "absent"
                    })
                    .warn(format!("{label} has no signature: no contract to keep")),
            ),
            (Some(_), None) => checks.push(
                Check::new(format!("signature vs {label}"), false)
                    .observed("absent")
                    .expected(format!("{label}'s signature"))
                    .detail("the candidate dropped its signature"),
            ),
            (Some(b), Some(c)) => {
                let diffs = differences(b, c);
                if diffs.is_empty() {
                    let mut c = Check::new(format!("signature vs {label}"), true)
                        .observed(format!(
                            "{} inputs, {} outputs",
                            c.inputs.len(),
                            c.outputs.len()
                        ))
                        .expected(format!(
                            "{}'s {} inputs and {} outputs kept",
                            label,
                            b.inputs.len(),
                            b.outputs.len()
                        ));
                    if same {
                        c = c.warn(&itself);
                    }
                    checks.push(c);
                } else {
                    checks.extend(diffs.into_iter().map(|mut d| {
                        let against = format!("against {label}");
                        d.detail = Some(match d.detail.take() {
                            Some(why) => format!("{why}; {against}"),
                            None => against,
                        });
                        d
                    }));
                }
            }
        }
        Ok(Verdict::from_checks(checks))
    }
}

export_gate!(Signature);

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(inputs: &str, outputs: &str) -> Sig {
        Sig {
            inputs: parse_specs(inputs, "inputs").unwrap(),
            outputs: parse_specs(outputs, "outputs").unwrap(),
            params: Vec::new(),
        }
    }

    fn names(checks: &[Check]) -> Vec<&str> {
        checks.iter().map(|c| c.name.as_str()).collect()
    }

    const BASE: &str = r#"[{"type": "double", "name": "age", "required": true},
        {"type": "long", "name": "n", "required": true},
        {"type": "string", "name": "city", "required": false}]"#;
    const OUT: &str = r#"[{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1]}}]"#;

    #[test]
    fn the_same_signature_is_compatible() {
        assert!(differences(&sig(BASE, OUT), &sig(BASE, OUT)).is_empty());
    }

    #[test]
    fn each_break_is_named() {
        let cand = r#"[{"type": "long", "name": "age", "required": true},
            {"type": "string", "name": "city", "required": true},
            {"type": "double", "name": "extra", "required": true},
            {"type": "double", "name": "opt", "required": false}]"#;
        let out = r#"[{"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}}]"#;
        let d = differences(&sig(BASE, OUT), &sig(cand, out));
        assert_eq!(
            names(&d),
            [
                "input age: double → long",
                "input n: removed",
                "input city: optional → required",
                "input extra: added as required",
                "output: tensor float64 (-1) → tensor int64 (-1)",
            ]
        );
        assert!(d.iter().all(|c| !c.passed));
    }

    #[test]
    fn widening_follows_mlflow_enforcement() {
        let t = |s: &str| Ty::Base(s.into());
        assert!(accepts(&t("long"), &t("integer")).is_ok());
        assert!(accepts(&t("double"), &t("integer")).is_ok());
        assert!(accepts(&t("double"), &t("float")).is_ok());
        assert!(accepts(&t("double"), &t("long")).is_err());
        assert!(accepts(&t("float"), &t("integer")).is_err());
        assert!(accepts(&t("long"), &t("double")).is_err());
        assert!(accepts(&t("string"), &t("long")).is_err());
        assert!(accepts(&Ty::Any, &t("long")).is_ok());
        assert!(accepts(&t("long"), &Ty::Any).is_err());
        let tensor = |d: &str, s: &[i64]| Ty::Tensor(d.into(), s.to_vec());
        assert!(accepts(&tensor("float32", &[-1, -1]), &tensor("float32", &[-1, 4])).is_ok());
        assert!(accepts(&tensor("float32", &[-1, 4]), &tensor("float32", &[-1, -1])).is_err());
        assert!(accepts(&tensor("float64", &[-1, 4]), &tensor("float32", &[-1, 4])).is_err());
        assert!(
            accepts(
                &tensor("float32", &[-1, 4, 1]),
                &tensor("float32", &[-1, 4])
            )
            .is_err()
        );
        let arr = |t: Ty| Ty::Array(Box::new(t));
        assert!(accepts(&arr(t("long")), &arr(t("integer"))).is_ok());
        assert!(accepts(&arr(t("integer")), &arr(t("long"))).is_err());
        let obj = |p: &[(&str, &str, bool)]| {
            Ty::Object(
                p.iter()
                    .map(|(n, ty, r)| (n.to_string(), t(ty), *r))
                    .collect(),
            )
        };
        let base = obj(&[("a", "long", true), ("b", "string", false)]);
        assert!(
            accepts(
                &obj(&[
                    ("a", "long", true),
                    ("b", "string", false),
                    ("c", "long", false)
                ]),
                &base
            )
            .is_ok()
        );
        assert!(accepts(&obj(&[("a", "long", true), ("b", "string", true)]), &base).is_err());
        assert!(accepts(&obj(&[("a", "long", true)]), &base).is_err());
        assert!(
            accepts(
                &obj(&[
                    ("a", "long", true),
                    ("b", "string", false),
                    ("c", "long", true)
                ]),
                &base
            )
            .is_err()
        );
    }

    #[test]
    fn unnamed_inputs_compare_by_position() {
        let base = r#"[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 4]}}]"#;
        let same =
            r#"[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, -1]}}]"#;
        let named = r#"[{"type": "double", "name": "x"}]"#;
        assert!(differences(&sig(base, OUT), &sig(same, OUT)).is_empty());
        assert_eq!(
            names(&differences(&sig(base, OUT), &sig(named, OUT))),
            ["inputs"]
        );
        let narrower =
            r#"[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 3]}}]"#;
        assert_eq!(
            names(&differences(&sig(base, OUT), &sig(narrower, OUT))),
            ["input #0: tensor float32 (-1, 4) → tensor float32 (-1, 3)"]
        );
    }

    #[test]
    fn mlmodel_as_mlflow_writes_it() {
        let text = "artifact_path: /tmp/x/artifacts\nflavors:\n  python_function:\n    env:\n      conda: conda.yaml\n    loader_module: mlflow.sklearn\n  sklearn:\n    pickled_model: model.skops\nmlflow_version: 3.17.2\nmodel_size_bytes: 7362\nsaved_input_example_info:\n  artifact_path: input_example.json\n  type: dataframe\nsignature:\n  inputs: '[{\"type\": \"double\", \"name\": \"a\", \"required\": true}, {\"type\":\n    \"long\", \"name\": \"b\", \"required\": false}]'\n  outputs: '[{\"type\": \"tensor\", \"tensor-spec\": {\"dtype\": \"float64\", \"shape\": [-1]}}]'\n  params: '[{\"name\": \"k\", \"type\": \"long\", \"default\": 1, \"shape\": null}]'\n";
        let m = parse_mlmodel(text).unwrap();
        assert_eq!(m.flavors, ["python_function", "sklearn"]);
        assert_eq!(m.size, Some(7362));
        assert_eq!(m.input_example.as_deref(), Some("input_example.json"));
        let s = m.signature.unwrap();
        assert_eq!(s.inputs.len(), 2);
        assert!(!s.inputs[1].required);
        assert_eq!(s.params, [("k".to_string(), "long".to_string(), None)]);
        let none = parse_mlmodel("flavors:\n  sklearn: {}\nsignature: null\n").unwrap();
        assert!(none.signature.is_none() && none.input_example.is_none());
        for bad in [
            "- a\n- b\n",
            "signature: 3\n",
            "signature:\n  inputs: '[{\"name\": 1}]'\n",
            "a: b\n---\nc: d\n",
        ] {
            assert!(parse_mlmodel(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn schemas_mlflow_refuses_are_refused() {
        for bad in [
            r#"[{"type": "long", "name": "b"}, {"type": "string", "name": "b"}]"#,
            r#"[{"type": "long", "name": "a"}, {"type": "long"}]"#,
            r#"[{"type": "long", "name": 3}]"#,
            r#"[{"type": "long", "name": "a", "required": "no"}]"#,
            r#"[{"type": "object", "properties": {"p": {"type": "long", "required": 1}}}]"#,
            r#"[{"name": "a"}]"#,
        ] {
            assert!(parse_specs(bad, "inputs").is_err(), "{bad}");
        }
        assert!(
            parse_params(r#"[{"name": "k", "type": "long"}, {"name": "k", "type": "double"}]"#)
                .is_err()
        );
        let empty = parse_mlmodel("signature:\n  inputs: null\n  outputs: null\n").expect("parsed");
        assert!(empty.signature.is_none());
    }

    #[test]
    fn sizes() {
        assert_eq!(human(1000), "1000 bytes");
        assert_eq!(human(2387), "2.3 KiB");
        assert_eq!(human(50_000_000), "47.7 MiB");
        assert_eq!(parse_size("500MB"), Ok(500_000_000));
        assert_eq!(parse_size("1.5 GiB"), Ok(1_610_612_736));
        assert_eq!(parse_size("1024"), Ok(1024));
        assert!(parse_size("5 parsecs").is_err());
        assert!(parse_size("-1MB").is_err());
        assert!(parse_size("").is_err());
    }

    #[test]
    fn config_cases() {
        let cases: Json = serde_json::from_str(include_str!("../config-cases.json")).unwrap();
        for c in cases["valid"].as_array().unwrap() {
            let config = Config::parse(&c.to_string()).unwrap();
            assert!(Settings::read(&config).is_ok(), "{c}");
        }
        for c in cases["invalid"].as_array().unwrap() {
            let config = Config::parse(&c.to_string()).unwrap();
            assert!(Settings::read(&config).is_err(), "{c}");
        }
    }
}
