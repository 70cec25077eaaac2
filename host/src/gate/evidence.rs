//! Evidence: what a WebAssembly gate's decision was made from, recorded so
//! that it can be made again offline (`modelgate replay`).
//!
//! A gate's verdict depends on its plugin, its config, its limits, the
//! candidate it was handed, the answers of its registry calls, the time it
//! read and the random bytes it drew. The sandbox fixes the last two per
//! evaluation ([`Determinism`]: the wall clock frozen at the judgement
//! time, the monotonic clock advancing by a fixed step per reading, every
//! random source a ChaCha20 stream from a recorded seed) and the [`Tape`]
//! records the registry answers, so [`Evidence`] is everything there is.
//!
//! Recording is exact: within one evaluation a call that got a definite
//! answer (a value, or "not found") is answered from the tape when asked
//! again, so the gate sees one consistent registry and the tape holds each
//! distinct answer once, with how many times it was asked. Transient
//! errors are recorded one by one, in order, as the gate saw them.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use rand::SeedableRng as _;
use rand::rngs::ChaCha20Rng;
use serde::{Deserialize, Serialize};

use crate::registry as reg;

/// How the sandbox's clocks and random sources behave for one evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Determinism {
    /// What `wasi:clocks/wall-clock.now` answers, milliseconds since the
    /// Unix epoch: the judgement time, frozen.
    pub clock_ms: i64,
    /// The seed of every random source.
    pub seed: [u8; 32],
}

/// Nanoseconds the monotonic clock advances per reading: time "passes" for
/// a guest that measures it, the same way on every run.
pub const MONOTONIC_STEP_NS: u64 = 1_000;

impl Determinism {
    /// Frozen at `at` (to the millisecond), with a fresh random seed.
    pub fn fresh(at: SystemTime) -> Determinism {
        let clock_ms = at
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let mut seed = [0u8; 32];
        rand::fill(&mut seed[..]);
        Determinism { clock_ms, seed }
    }

    /// What `check-config` runs with: the epoch and a zero seed. A gate's
    /// configuration must not depend on when or where it is checked.
    pub fn config_check() -> Determinism {
        Determinism {
            clock_ms: 0,
            seed: [0; 32],
        }
    }

    /// The seed as 64 hex digits.
    pub fn seed_hex(&self) -> String {
        // Once per evaluation: straight into the string, not char by char
        // through an iterator as `hex::encode` does.
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut hex = String::with_capacity(64);
        for b in self.seed {
            hex.push(char::from(DIGITS[usize::from(b >> 4)]));
            hex.push(char::from(DIGITS[usize::from(b & 15)]));
        }
        hex
    }

    /// The frozen wall clock.
    pub fn wall_clock(&self) -> FrozenWallClock {
        FrozenWallClock(Duration::from_millis(self.clock_ms.max(0) as u64))
    }

    /// A stream for `purpose` (`random`, `insecure`, `insecure-seed`):
    /// independent streams from one seed.
    pub fn rng(&self, purpose: &str) -> ChaCha20Rng {
        let key = blake3::derive_key(&format!("modelgate sandbox {purpose} v1"), &self.seed);
        ChaCha20Rng::from_seed(key)
    }

    /// The stream for `purpose`, derived only when the gate first draws
    /// from it (most never do): the same numbers as [`rng`](Self::rng).
    pub fn lazy_rng(&self, purpose: &'static str) -> LazyStream {
        LazyStream {
            seed: self.seed,
            purpose,
            rng: None,
        }
    }

    /// What `wasi:random/insecure-seed` answers.
    pub fn insecure_seed(&self) -> u128 {
        use rand::Rng as _;
        let mut rng = self.rng("insecure-seed");
        (u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64())
    }
}

/// A [`Determinism::rng`] stream made on first use.
pub struct LazyStream {
    seed: [u8; 32],
    purpose: &'static str,
    rng: Option<ChaCha20Rng>,
}

impl LazyStream {
    fn stream(&mut self) -> &mut ChaCha20Rng {
        let (seed, purpose) = (self.seed, self.purpose);
        self.rng
            .get_or_insert_with(|| Determinism { clock_ms: 0, seed }.rng(purpose))
    }
}

impl rand::TryRng for LazyStream {
    type Error = std::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(rand::Rng::next_u32(self.stream()))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(rand::Rng::next_u64(self.stream()))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        rand::Rng::fill_bytes(self.stream(), dst);
        Ok(())
    }
}

/// A wall clock that always says the same time.
pub struct FrozenWallClock(Duration);

impl wasmtime_wasi::HostWallClock for FrozenWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_millis(1)
    }

    fn now(&self) -> Duration {
        self.0
    }
}

/// A monotonic clock that starts at zero and advances by
/// [`MONOTONIC_STEP_NS`] each time it is read.
#[derive(Default)]
pub struct SteppingClock(std::sync::atomic::AtomicU64);

impl wasmtime_wasi::HostMonotonicClock for SteppingClock {
    fn resolution(&self) -> u64 {
        MONOTONIC_STEP_NS
    }

    fn now(&self) -> u64 {
        self.0
            .fetch_add(MONOTONIC_STEP_NS, std::sync::atomic::Ordering::Relaxed)
    }
}

/// A registry answer a gate got, of the type its call returns.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Answer {
    /// `get-model-version`, `get-model-version-by-alias`.
    Version(reg::ModelVersion),
    /// `list-model-versions`.
    Versions(Vec<reg::ModelVersion>),
    /// `get-run`.
    Run(reg::Run),
    /// `get-metric-history`.
    History(Vec<reg::MetricPoint>),
    /// `get-logged-model` (0.3.0); boxed, the largest by far.
    LoggedModel(Box<reg::LoggedModel>),
    /// `list-artifacts` (0.4.0).
    Artifacts(Vec<reg::artifacts::ArtifactEntry>),
    /// `read-artifact` (0.4.0).
    Artifact(Box<RecordedArtifact>),
}

/// The most bytes of one artifact read the evidence keeps: a larger read
/// is recorded by its size and sha256 only, and its replay stops with
/// "not recorded" rather than guess.
pub const MAX_RECORDED_ARTIFACT: usize = 1 << 20;

/// A `read-artifact` answer as evidence holds it: the file's path, size and
/// the sha256 of the bytes the gate got, and those bytes when they were
/// recorded (always, live; up to [`MAX_RECORDED_ARTIFACT`] in a report).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedArtifact {
    /// Its path from the artifact root.
    pub path: String,
    /// The whole file's size, when the store said it.
    pub size: Option<u64>,
    /// True when the gate got only its beginning.
    pub truncated: bool,
    /// How many bytes the gate got.
    pub bytes: u64,
    /// The sha256 of those bytes, hex.
    pub sha256: String,
    /// The bytes, when recorded.
    pub data: Option<Vec<u8>>,
}

impl From<reg::artifacts::ArtifactData> for RecordedArtifact {
    fn from(a: reg::artifacts::ArtifactData) -> Self {
        RecordedArtifact {
            bytes: a.data.len() as u64,
            sha256: crate::gate::wasm::cache::sha256_hex(&a.data),
            path: a.path,
            size: a.size,
            truncated: a.truncated,
            data: Some(a.data),
        }
    }
}

/// The JSON form of a [`RecordedArtifact`].
#[derive(Serialize, Deserialize)]
struct ArtifactJson {
    path: String,
    #[serde(default)]
    size: Option<u64>,
    truncated: bool,
    bytes: u64,
    sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    content_base64: Option<String>,
}

impl Serialize for RecordedArtifact {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use base64::Engine as _;
        ArtifactJson {
            path: self.path.clone(),
            size: self.size,
            truncated: self.truncated,
            bytes: self.bytes,
            sha256: self.sha256.clone(),
            content_base64: self
                .data
                .as_ref()
                .filter(|d| d.len() <= MAX_RECORDED_ARTIFACT)
                .map(|d| base64::engine::general_purpose::STANDARD.encode(d)),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for RecordedArtifact {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use base64::Engine as _;
        use serde::de::Error as _;
        let j = ArtifactJson::deserialize(d)?;
        let data = match j.content_base64 {
            None => None,
            Some(b64) => {
                let data = base64::engine::general_purpose::STANDARD
                    .decode(b64.as_bytes())
                    .map_err(|e| {
                        D::Error::custom(format!(
                            "the recorded content of artifact `{}` is not base64: {e}",
                            j.path
                        ))
                    })?;
                let sha = crate::gate::wasm::cache::sha256_hex(&data);
                if data.len() as u64 != j.bytes || sha != j.sha256 {
                    return Err(D::Error::custom(format!(
                        "the recorded content of artifact `{}` does not match its recorded size and sha256 (the evidence was altered)",
                        j.path
                    )));
                }
                Some(data)
            }
        };
        Ok(RecordedArtifact {
            path: j.path,
            size: j.size,
            truncated: j.truncated,
            bytes: j.bytes,
            sha256: j.sha256,
            data,
        })
    }
}

impl reg::HeapSize for RecordedArtifact {
    fn heap_size(&self) -> u64 {
        self.path.heap_size() + self.sha256.heap_size() + self.bytes + 48
    }
}

impl Answer {
    /// Reads the answer of a `call` from its JSON text, straight into its
    /// type (no JSON tree in between: a recorded answer may be large).
    fn from_json(call: &str, json: &serde_json::value::RawValue) -> Result<Answer, String> {
        let text = json.get();
        let typed = match call {
            "get-model-version" | "get-model-version-by-alias" => {
                serde_json::from_str(text).map(Answer::Version)
            }
            "list-model-versions" => serde_json::from_str(text).map(Answer::Versions),
            "get-run" => serde_json::from_str(text).map(Answer::Run),
            "get-metric-history" => serde_json::from_str(text).map(Answer::History),
            "get-logged-model" => serde_json::from_str(text).map(Answer::LoggedModel),
            "list-artifacts" => serde_json::from_str(text).map(Answer::Artifacts),
            "read-artifact" => serde_json::from_str(text).map(Answer::Artifact),
            other => return Err(format!("`{other}` is not a registry call")),
        };
        typed.map_err(|e| format!("the answer of `{call}` is malformed: {e}"))
    }
}

impl reg::HeapSize for Answer {
    fn heap_size(&self) -> u64 {
        match self {
            Answer::Version(v) => v.heap_size(),
            Answer::Versions(v) => v.heap_size(),
            Answer::Run(r) => r.heap_size(),
            Answer::History(h) => h.heap_size(),
            Answer::LoggedModel(m) => m.heap_size(),
            Answer::Artifacts(a) => a.heap_size(),
            Answer::Artifact(a) => a.heap_size(),
        }
    }
}

/// Conversions between a registry call's answer type and [`Answer`].
pub trait Recordable: Sized {
    /// Wraps the answer.
    fn wrap(self) -> Answer;
    /// The answer, when `a` is of this type and whole; else why not.
    fn unwrap(a: &Answer) -> Result<Self, String>;
}

macro_rules! recordable {
    ($t:ty, $variant:ident) => {
        impl Recordable for $t {
            fn wrap(self) -> Answer {
                Answer::$variant(self)
            }
            fn unwrap(a: &Answer) -> Result<Self, String> {
                match a {
                    Answer::$variant(v) => Ok(v.clone()),
                    _ => Err(WRONG_TYPE.into()),
                }
            }
        }
    };
}

recordable!(reg::ModelVersion, Version);
recordable!(Vec<reg::ModelVersion>, Versions);
recordable!(reg::Run, Run);
recordable!(Vec<reg::MetricPoint>, History);
recordable!(Vec<reg::artifacts::ArtifactEntry>, Artifacts);

impl Recordable for reg::LoggedModel {
    fn wrap(self) -> Answer {
        Answer::LoggedModel(Box::new(self))
    }
    fn unwrap(a: &Answer) -> Result<Self, String> {
        match a {
            Answer::LoggedModel(m) => Ok((**m).clone()),
            _ => Err(WRONG_TYPE.into()),
        }
    }
}

impl Recordable for reg::artifacts::ArtifactData {
    fn wrap(self) -> Answer {
        Answer::Artifact(Box::new(self.into()))
    }
    fn unwrap(a: &Answer) -> Result<Self, String> {
        let Answer::Artifact(r) = a else {
            return Err(WRONG_TYPE.into());
        };
        let Some(data) = &r.data else {
            return Err(format!(
                "the evidence holds the size ({} bytes) and sha256 of artifact `{}` but not its content (more than {} bytes are not recorded)",
                r.bytes, r.path, MAX_RECORDED_ARTIFACT
            ));
        };
        Ok(reg::artifacts::ArtifactData {
            path: r.path.clone(),
            size: r.size,
            truncated: r.truncated,
            data: data.clone(),
        })
    }
}

/// Why [`Recordable::unwrap`] refused an answer of another type.
const WRONG_TYPE: &str = "the recorded answer has the wrong type";

/// A registry error as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedError {
    /// `not_found`, `denied`, `unavailable` or `invalid`.
    pub kind: String,
    /// The message.
    pub message: String,
}

impl From<&reg::RegistryError> for RecordedError {
    fn from(e: &reg::RegistryError) -> Self {
        let kind = match e {
            reg::RegistryError::NotFound(_) => "not_found",
            // The guest sees both as `denied`, and so does a replay.
            reg::RegistryError::Denied(_) | reg::RegistryError::Unauthenticated(_) => "denied",
            reg::RegistryError::Unavailable(_) | reg::RegistryError::Tls(_) => "unavailable",
            reg::RegistryError::Invalid(_) => "invalid",
        };
        RecordedError {
            kind: kind.to_string(),
            message: e.to_string(),
        }
    }
}

impl TryFrom<&RecordedError> for reg::RegistryError {
    type Error = String;

    fn try_from(e: &RecordedError) -> Result<Self, String> {
        let m = e.message.clone();
        Ok(match e.kind.as_str() {
            "not_found" => reg::RegistryError::NotFound(m),
            "denied" => reg::RegistryError::Denied(m),
            "unavailable" => reg::RegistryError::Unavailable(m),
            "invalid" => reg::RegistryError::Invalid(m),
            other => return Err(format!("`{other}` is not a registry error kind")),
        })
    }
}

/// One registry call as the gate made it, with the answer it got and how
/// many times in a row (for its arguments) it got that answer.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedCall {
    /// The WIT function, e.g. `get-run`.
    pub call: String,
    /// Its arguments, as text.
    pub args: Vec<String>,
    /// How many times this answer was given.
    pub times: u64,
    /// The answer.
    pub answer: Result<Answer, reg::RegistryError>,
}

impl RecordedCall {
    fn key(&self) -> String {
        call_key(
            &self.call,
            &self.args.iter().map(String::as_str).collect::<Vec<_>>(),
        )
    }

    /// A definite answer is kept for the rest of the evaluation; a transient
    /// error is not.
    fn is_definite(&self) -> bool {
        matches!(self.answer, Ok(_) | Err(reg::RegistryError::NotFound(_)))
    }
}

/// The JSON form of a [`RecordedCall`]: `{"call", "args", "times", "ok"}`
/// or `{…, "error": {"kind", "message"}}`. The answer is kept as its text
/// until `call` says its type.
#[derive(Deserialize)]
struct CallJson {
    call: String,
    args: Vec<String>,
    times: u64,
    #[serde(default)]
    ok: Option<Box<serde_json::value::RawValue>>,
    #[serde(default)]
    error: Option<RecordedError>,
}

impl Serialize for RecordedCall {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let mut st = s.serialize_struct("RecordedCall", 4)?;
        st.serialize_field("call", &self.call)?;
        st.serialize_field("args", &self.args)?;
        st.serialize_field("times", &self.times)?;
        match &self.answer {
            Ok(a) => st.serialize_field("ok", a)?,
            Err(e) => st.serialize_field("error", &RecordedError::from(e))?,
        }
        st.end()
    }
}

impl<'de> Deserialize<'de> for RecordedCall {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let raw = CallJson::deserialize(d)?;
        let answer = match (raw.ok, &raw.error) {
            (Some(v), None) => Ok(Answer::from_json(&raw.call, &v).map_err(D::Error::custom)?),
            (None, Some(e)) => Err(reg::RegistryError::try_from(e).map_err(D::Error::custom)?),
            _ => {
                return Err(D::Error::custom(format!(
                    "the recorded `{}` call needs exactly one of `ok` and `error`",
                    raw.call
                )));
            }
        };
        if raw.times == 0 {
            return Err(D::Error::custom(format!(
                "the recorded `{}` call has `times: 0`",
                raw.call
            )));
        }
        Ok(RecordedCall {
            call: raw.call,
            args: raw.args,
            times: raw.times,
            answer,
        })
    }
}

/// The key of a call: its function and arguments.
pub fn call_key(call: &str, args: &[&str]) -> String {
    format!("{call}\0{}", args.join("\0"))
}

/// The registry calls of one evaluation, being recorded (live) or played
/// back (replay).
#[derive(Debug, Default)]
pub struct Tape {
    /// The calls, in the order they were first made.
    pub calls: Vec<RecordedCall>,
    /// Key → indexes into `calls` of its entries, in order.
    index: HashMap<String, Vec<usize>>,
    /// Replay only: key → (entry, times served from it).
    cursor: HashMap<String, (usize, u64)>,
    /// True when playing back.
    replaying: bool,
}

impl Tape {
    /// A tape to play back.
    pub fn replaying(calls: Vec<RecordedCall>) -> Tape {
        let mut tape = Tape {
            replaying: true,
            ..Tape::default()
        };
        for (i, c) in calls.iter().enumerate() {
            tape.index.entry(c.key()).or_default().push(i);
        }
        tape.calls = calls;
        tape
    }

    /// Live: the definite answer already recorded for `key`, counted as
    /// asked once more.
    pub fn repeat(&mut self, key: &str) -> Option<&RecordedCall> {
        let &last = self.index.get(key)?.last()?;
        let call = &mut self.calls[last];
        if !call.is_definite() {
            return None;
        }
        call.times += 1;
        Some(call)
    }

    /// Live: records an answer just fetched.
    pub fn record(
        &mut self,
        call: &str,
        args: &[&str],
        answer: Result<Answer, reg::RegistryError>,
    ) {
        let key = call_key(call, args);
        let entries = self.index.entry(key).or_default();
        if let Some(&last) = entries.last()
            && self.calls[last].answer == answer
        {
            self.calls[last].times += 1;
            return;
        }
        entries.push(self.calls.len());
        self.calls.push(RecordedCall {
            call: call.to_string(),
            args: args.iter().map(|a| a.to_string()).collect(),
            times: 1,
            answer,
        });
    }

    /// Whether this evaluation already made the call with `key`.
    pub fn seen(&self, key: &str) -> bool {
        if self.replaying {
            self.cursor.contains_key(key)
        } else {
            self.index.contains_key(key)
        }
    }

    /// Replay: the recorded answer for the next call with `key`; past the
    /// recorded count the last answer is given again. `None` when the
    /// recording has no such call.
    pub fn play(&mut self, key: &str) -> Option<&RecordedCall> {
        let entries = self.index.get(key)?;
        let (entry, served) = self.cursor.entry(key.to_string()).or_insert((0, 0));
        if *served >= self.calls[entries[*entry]].times && *entry + 1 < entries.len() {
            *entry += 1;
            *served = 0;
        }
        *served += 1;
        Some(&self.calls[entries[*entry]])
    }
}

/// What the gate was handed: the candidate version, its run, its
/// LoggedModel, and how it was chosen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedCandidate {
    /// The version.
    pub version: reg::ModelVersion,
    /// Its run, when it has one that exists.
    pub run: Option<reg::Run>,
    /// Its LoggedModel, when it has one that exists and the gate's world
    /// has LoggedModels (0.3.0 on); absent from evidence made before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logged_model: Option<reg::LoggedModel>,
    /// `latest`, `version` or `alias:NAME`.
    pub selected_by: String,
}

/// The limits a gate ran under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedLimits {
    /// Time limit, in milliseconds.
    pub timeout_ms: u64,
    /// Memory cap, in bytes.
    pub memory: u64,
    /// Registry calls allowed.
    pub registry_calls: u64,
}

/// Everything one WebAssembly gate's decision was made from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// The modelgate version that judged.
    pub modelgate: String,
    /// The WIT package version the plugin was run against.
    pub wit: String,
    /// `builtin:NAME` or the plugin path as the project file has it.
    pub plugin: String,
    /// The plugin's sha256.
    pub sha256: String,
    /// When a built-in's lean build judged (the same gate built to import
    /// nothing, run for the configs it accepts): that build's sha256.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lean_sha256: Option<String>,
    /// The gate's config (shared with the gate's other evaluations); read
    /// back at most as large as a project file can be.
    #[serde(deserialize_with = "bounded_config")]
    pub config: std::sync::Arc<serde_json::Value>,
    /// Its limits.
    pub limits: RecordedLimits,
    /// The frozen wall clock, milliseconds since the Unix epoch.
    pub clock_ms: i64,
    /// The random seed, 64 hex digits.
    pub seed: String,
    /// What the gate was handed.
    pub candidate: RecordedCandidate,
    /// Every registry call it made, with the answers it got.
    pub calls: Vec<RecordedCall>,
}

/// A recorded config: no larger than the project file it came from could
/// be ([`crate::files::MAX_PROJECT_FILE`]), checked on its text before it
/// is built into a JSON tree.
fn bounded_config<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<std::sync::Arc<serde_json::Value>, D::Error> {
    use serde::de::Error as _;
    let raw = Box::<serde_json::value::RawValue>::deserialize(d)?;
    let limit = crate::files::MAX_PROJECT_FILE;
    if raw.get().len() as u64 > limit {
        return Err(D::Error::custom(format!(
            "the recorded config is {} bytes, more than a project file holds ({})",
            raw.get().len(),
            crate::text::human_bytes(limit)
        )));
    }
    serde_json::from_str(raw.get())
        .map(std::sync::Arc::new)
        .map_err(D::Error::custom)
}

impl Evidence {
    /// The sandbox settings the evidence was made with.
    pub fn determinism(&self) -> Result<Determinism, String> {
        let bytes = hex::decode(&self.seed).map_err(|_| "`seed` is not hex".to_string())?;
        let seed: [u8; 32] = bytes
            .try_into()
            .map_err(|_| "`seed` is not 64 hex digits".to_string())?;
        Ok(Determinism {
            clock_ms: self.clock_ms,
            seed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nf(m: &str) -> Result<Answer, reg::RegistryError> {
        Err(reg::RegistryError::NotFound(m.into()))
    }

    #[test]
    fn a_lazy_stream_draws_what_the_recorded_scheme_draws() {
        // Evidence recorded before streams were made lazily must replay to
        // the same numbers: the lazy stream is the same derivation.
        use rand::Rng as _;
        let fixed = Determinism {
            clock_ms: 1,
            seed: *b"0123456789abcdef0123456789abcdef",
        };
        for purpose in ["random", "insecure"] {
            let mut eager = fixed.rng(purpose);
            let mut lazy = fixed.lazy_rng(purpose);
            assert_eq!(lazy.next_u64(), eager.next_u64(), "{purpose}");
            assert_eq!(lazy.next_u32(), eager.next_u32(), "{purpose}");
            let (mut a, mut b) = ([0u8; 67], [0u8; 67]);
            lazy.fill_bytes(&mut a);
            eager.fill_bytes(&mut b);
            assert_eq!(a, b, "{purpose}");
        }
        // And the two purposes are different streams.
        assert_ne!(
            fixed.lazy_rng("random").next_u64(),
            fixed.lazy_rng("insecure").next_u64()
        );
    }

    #[test]
    fn repeats_of_a_definite_answer_are_counted_not_copied() {
        let mut t = Tape::default();
        t.record("get-run", &["r1"], nf("no run r1"));
        let key = call_key("get-run", &["r1"]);
        assert!(t.repeat(&key).is_some());
        assert!(t.repeat(&key).is_some());
        assert_eq!(t.calls.len(), 1);
        assert_eq!(t.calls[0].times, 3);
    }

    #[test]
    fn transient_errors_are_recorded_in_order_and_replayed_in_order() {
        let down = || Err(reg::RegistryError::Unavailable("down".into()));
        let mut t = Tape::default();
        let key = call_key("get-run", &["r1"]);
        t.record("get-run", &["r1"], down());
        assert!(t.repeat(&key).is_none(), "a transient error is asked again");
        t.record("get-run", &["r1"], down());
        t.record("get-run", &["r1"], nf("gone"));
        assert_eq!(t.calls.len(), 2);
        assert_eq!(t.calls[0].times, 2);

        let json = serde_json::to_string(&t.calls).expect("json");
        let back: Vec<RecordedCall> = serde_json::from_str(&json).expect("parse");
        let mut r = Tape::replaying(back);
        let kinds: Vec<bool> = (0..4)
            .map(|_| {
                matches!(
                    r.play(&key).expect("recorded").answer,
                    Err(reg::RegistryError::NotFound(_))
                )
            })
            .collect();
        assert_eq!(kinds, [false, false, true, true]);
        assert!(r.play(&call_key("get-run", &["r2"])).is_none());
    }

    #[test]
    fn answers_keep_their_type_and_special_floats() {
        let history = vec![
            reg::MetricPoint {
                value: f64::NAN,
                timestamp: 1,
                step: 0,
            },
            reg::MetricPoint {
                value: f64::NEG_INFINITY,
                timestamp: 2,
                step: 1,
            },
            reg::MetricPoint {
                value: 0.5,
                timestamp: 3,
                step: 2,
            },
        ];
        let mut t = Tape::default();
        t.record(
            "get-metric-history",
            &["r", "loss"],
            Ok(Answer::History(history)),
        );
        t.record("list-model-versions", &["m"], Ok(Answer::Versions(vec![])));
        let json = serde_json::to_string(&t.calls).expect("json");
        assert!(
            json.contains("\"NaN\"") && json.contains("\"-Infinity\""),
            "{json}"
        );
        let back: Vec<RecordedCall> = serde_json::from_str(&json).expect("parse");
        let Ok(Answer::History(h)) = &back[0].answer else {
            panic!("history lost its type: {back:?}")
        };
        assert!(h[0].value.is_nan() && h[1].value == f64::NEG_INFINITY && h[2].value == 0.5);
        assert_eq!(back[1].answer, Ok(Answer::Versions(vec![])));
    }

    #[test]
    fn malformed_calls_are_refused() {
        for bad in [
            r#"{"call":"get-run","args":["r"],"times":1}"#,
            r#"{"call":"get-run","args":["r"],"times":0,"error":{"kind":"denied","message":"x"}}"#,
            r#"{"call":"delete-everything","args":[],"times":1,"ok":{}}"#,
            r#"{"call":"get-run","args":["r"],"times":1,"ok":{"run_id":"r"}}"#,
            r#"{"call":"get-run","args":["r"],"times":1,"error":{"kind":"boom","message":"x"}}"#,
        ] {
            assert!(serde_json::from_str::<RecordedCall>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_seed_is_written_as_64_lowercase_hex_digits() {
        let mut seed = [0u8; 32];
        for (i, b) in seed.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(37) ^ 0xa5;
        }
        let d = Determinism { clock_ms: 0, seed };
        assert_eq!(d.seed_hex(), hex::encode(seed));
        assert_eq!(
            Determinism {
                clock_ms: 0,
                seed: [0xf0; 32]
            }
            .seed_hex(),
            "f0".repeat(32)
        );
    }

    #[test]
    fn streams_are_reproducible_and_independent() {
        use rand::Rng as _;
        let d = Determinism {
            clock_ms: 5,
            seed: [7; 32],
        };
        let a: Vec<u64> = (0..4)
            .map({
                let mut r = d.rng("random");
                move |_| r.next_u64()
            })
            .collect();
        let b: Vec<u64> = (0..4)
            .map({
                let mut r = d.rng("random");
                move |_| r.next_u64()
            })
            .collect();
        let c: Vec<u64> = (0..4)
            .map({
                let mut r = d.rng("insecure");
                move |_| r.next_u64()
            })
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        let e = Determinism { seed: [8; 32], ..d };
        assert_ne!(d.insecure_seed(), e.insecure_seed());
    }
}
