//! MLflow webhook deliveries: signature, freshness, replay protection and
//! the events `serve` acts on.
//!
//! MLflow (3.x, `mlflow/webhooks/delivery.py`) signs each delivery with
//! HMAC-SHA256 over `DELIVERY_ID.TIMESTAMP.BODY` under the webhook's
//! secret and sends `X-MLflow-Signature: v1,BASE64`, `X-MLflow-Timestamp`
//! (Unix seconds) and `X-MLflow-Delivery-Id` (a UUID). A delivery is
//! accepted only when the signature verifies (in constant time), the
//! timestamp is within [`MAX_SKEW`] of now and not before this `serve`
//! started, and its id has not been seen. What needs no body is checked
//! first ([`precheck`]), before the body is read.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, Mac as _};
use sha2::Sha256;

/// The signature header.
pub const SIGNATURE_HEADER: &str = "x-mlflow-signature";
/// The timestamp header.
pub const TIMESTAMP_HEADER: &str = "x-mlflow-timestamp";
/// The delivery id header.
pub const DELIVERY_ID_HEADER: &str = "x-mlflow-delivery-id";
/// How far a delivery's timestamp may be from now, either way: 5 minutes.
pub const MAX_SKEW: Duration = Duration::from_secs(300);
/// Largest delivery body accepted: 1 MiB (MLflow's payloads are a few
/// hundred bytes; a model version's tags are at most ~100 KB each).
pub const MAX_BODY: usize = 1 << 20;
/// Delivery ids remembered at once. Ids older than [`MAX_SKEW`] are
/// forgotten (their deliveries are refused as stale anyway); past this
/// many fresh ones, deliveries are refused until some age out.
pub const MAX_REMEMBERED: usize = 100_000;
/// Longest delivery id accepted.
const MAX_ID_LEN: usize = 128;

/// Why a delivery was refused; the label is the `reason` of the refusal
/// metric, the status what the sender gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No signature, timestamp or delivery id.
    Unsigned,
    /// The signature does not verify.
    BadSignature,
    /// The timestamp is not a number, or too far from now.
    Stale,
    /// The delivery id was seen before.
    Repeated,
    /// Too many recent delivery ids to remember another.
    Overloaded,
    /// The body is not a delivery modelgate understands.
    Malformed,
    /// The body is larger than [`MAX_BODY`].
    TooLarge,
    /// The body is not declared `application/json`.
    NotJson,
    /// The body's length is not declared (`Content-Length`).
    NoLength,
    /// As many delivery bodies as allowed are being read already.
    Busy,
    /// The body did not arrive in time.
    SlowBody,
}

impl Refusal {
    /// The metric label.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::Unsigned => "unsigned",
            Refusal::BadSignature => "bad_signature",
            Refusal::Stale => "stale",
            Refusal::Repeated => "repeated",
            Refusal::Overloaded => "overloaded",
            Refusal::Malformed => "malformed",
            Refusal::TooLarge => "too_large",
            Refusal::NotJson => "not_json",
            Refusal::NoLength => "no_length",
            Refusal::Busy => "busy",
            Refusal::SlowBody => "slow_body",
        }
    }

    /// The HTTP status answered.
    pub fn status(self) -> u16 {
        match self {
            Refusal::Unsigned | Refusal::BadSignature | Refusal::Stale => 401,
            Refusal::Repeated => 409,
            Refusal::Overloaded => 503,
            Refusal::Malformed => 400,
            Refusal::TooLarge => 413,
            Refusal::NotJson => 415,
            Refusal::NoLength => 411,
            Refusal::Busy => 503,
            Refusal::SlowBody => 408,
        }
    }

    /// All of them, for the metrics.
    pub const ALL: [Refusal; 11] = [
        Refusal::Unsigned,
        Refusal::BadSignature,
        Refusal::Stale,
        Refusal::Repeated,
        Refusal::Overloaded,
        Refusal::Malformed,
        Refusal::TooLarge,
        Refusal::NotJson,
        Refusal::NoLength,
        Refusal::Busy,
        Refusal::SlowBody,
    ];
}

/// MLflow's signature of a delivery: `v1,` and the base64 of
/// HMAC-SHA256(secret, `id.timestamp.body`).
pub fn sign(secret: &[u8], id: &str, timestamp: &str, body: &[u8]) -> String {
    let tag = mac(secret, id, timestamp, body).finalize().into_bytes();
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(tag)
    )
}

/// The MAC over `id.timestamp.body`, ready to finalize or verify.
fn mac(secret: &[u8], id: &str, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length; this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts any key length"),
    };
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// Checks `signature` (`v1,BASE64`) in constant time.
pub fn verify(secret: &[u8], id: &str, timestamp: &str, body: &[u8], signature: &str) -> bool {
    let Some(b64) = signature.strip_prefix("v1,") else {
        return false;
    };
    let Ok(given) = base64::engine::general_purpose::STANDARD.decode(b64.trim()) else {
        return false;
    };
    mac(secret, id, timestamp, body)
        .verify_slice(&given)
        .is_ok()
}

/// Delivery ids seen within the last [`MAX_SKEW`] (and a little).
#[derive(Debug, Default)]
pub struct SeenIds {
    ids: HashMap<String, i64>,
}

impl SeenIds {
    /// Remembers `id` delivered at `timestamp` (Unix seconds); refuses a
    /// repeat, or a new id when [`MAX_REMEMBERED`] fresh ones are held.
    pub fn admit(&mut self, id: &str, timestamp: i64, now: i64) -> Result<(), Refusal> {
        if self.ids.contains_key(id) {
            return Err(Refusal::Repeated);
        }
        if self.ids.len() >= MAX_REMEMBERED {
            let horizon = now - 2 * MAX_SKEW.as_secs() as i64;
            self.ids.retain(|_, t| *t >= horizon);
            if self.ids.len() >= MAX_REMEMBERED {
                return Err(Refusal::Overloaded);
            }
        }
        self.ids.insert(id.to_string(), timestamp);
        Ok(())
    }
}

/// A delivery's signature headers, checked for all that needs no body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    signature: String,
    timestamp: String,
    id: String,
    /// The timestamp, Unix seconds.
    at: i64,
}

/// Checks what a delivery's headers alone can tell: the signature,
/// timestamp and id are there, the id is of a sane length, and the
/// timestamp is within [`MAX_SKEW`] of `now` and not before `started`
/// (Unix seconds): a delivery signed before this `serve` started was made
/// for another one, and whatever it announced the catch-up poll at start
/// has found. Deliveries are remembered in memory only; this is what keeps
/// a captured one from being replayed to a restarted `serve`.
pub fn precheck(
    headers: &axum::http::HeaderMap,
    now: i64,
    started: i64,
) -> Result<Signed, Refusal> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(signature), Some(timestamp), Some(id)) = (
        header(SIGNATURE_HEADER),
        header(TIMESTAMP_HEADER),
        header(DELIVERY_ID_HEADER),
    ) else {
        return Err(Refusal::Unsigned);
    };
    if id.is_empty() || id.len() > MAX_ID_LEN {
        return Err(Refusal::Unsigned);
    }
    let at: i64 = timestamp.trim().parse().map_err(|_| Refusal::Stale)?;
    if at.abs_diff(now) > MAX_SKEW.as_secs() || at < started {
        return Err(Refusal::Stale);
    }
    Ok(Signed {
        signature: signature.to_string(),
        timestamp: timestamp.to_string(),
        id: id.to_string(),
        at,
    })
}

/// Checks a delivery's signature over its body, and that its id is new.
/// `now` is Unix seconds.
pub fn authenticate(
    secret: &[u8],
    signed: &Signed,
    body: &[u8],
    now: i64,
    seen: &std::sync::Mutex<SeenIds>,
) -> Result<(), Refusal> {
    if !verify(
        secret,
        &signed.id,
        &signed.timestamp,
        body,
        &signed.signature,
    ) {
        return Err(Refusal::BadSignature);
    }
    seen.lock()
        .map_err(|_| Refusal::Overloaded)?
        .admit(&signed.id, signed.at, now)
}

/// An event `serve` acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `model_version.created`: judge the new version.
    Created {
        /// The model.
        model: String,
        /// The version.
        version: u64,
    },
    /// `model_version_tag.set` (a tag set or changed on a version) or
    /// `model_version_tag.deleted`.
    TagSet {
        /// The model.
        model: String,
        /// The version.
        version: u64,
        /// The tag's key.
        key: String,
        /// Its new value, when the delivery says.
        value: Option<String>,
        /// The tag was deleted (`model_version_tag.deleted`).
        deleted: bool,
    },
    /// Another event (MLflow's test ping, aliases, prompts …): nothing to do.
    Other(String),
}

/// Reads a delivery's body.
pub fn parse(body: &[u8]) -> Result<Event, Refusal> {
    #[derive(serde::Deserialize)]
    struct Delivery {
        entity: String,
        action: String,
        #[serde(default)]
        data: serde_json::Map<String, serde_json::Value>,
    }
    let d: Delivery = serde_json::from_slice(body).map_err(|_| Refusal::Malformed)?;
    let text = |key: &str| d.data.get(key).and_then(|v| v.as_str()).map(str::to_string);
    let version = || -> Result<u64, Refusal> {
        // MLflow sends the version as a string; accept a number too.
        match d.data.get("version") {
            Some(serde_json::Value::String(s)) => s.parse().map_err(|_| Refusal::Malformed),
            Some(serde_json::Value::Number(n)) => n.as_u64().ok_or(Refusal::Malformed),
            _ => Err(Refusal::Malformed),
        }
    };
    match (d.entity.as_str(), d.action.as_str()) {
        ("model_version", "created") => Ok(Event::Created {
            model: text("name").ok_or(Refusal::Malformed)?,
            version: version()?,
        }),
        ("model_version_tag", action @ ("set" | "deleted")) => Ok(Event::TagSet {
            model: text("name").ok_or(Refusal::Malformed)?,
            version: version()?,
            key: text("key").ok_or(Refusal::Malformed)?,
            value: if action == "set" { text("value") } else { None },
            deleted: action == "deleted",
        }),
        (entity, action) => Ok(Event::Other(format!("{entity}.{action}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_mlflows_scheme() {
        // Computed with MLflow's own `_generate_hmac_signature("s3cret",
        // "d-1", "1700000000", '{"a": 1}')`.
        let sig = sign(b"s3cret", "d-1", "1700000000", br#"{"a": 1}"#);
        assert_eq!(sig, "v1,cXba7k2h2S9JgnqN7BcpWvnFMfMoFMqAonfzn9WFZBg=");
        assert!(verify(b"s3cret", "d-1", "1700000000", br#"{"a": 1}"#, &sig));
        assert!(!verify(
            b"s3cret",
            "d-1",
            "1700000000",
            br#"{"a": 2}"#,
            &sig
        ));
        assert!(!verify(b"other", "d-1", "1700000000", br#"{"a": 1}"#, &sig));
        assert!(!verify(
            b"s3cret",
            "d-2",
            "1700000000",
            br#"{"a": 1}"#,
            &sig
        ));
        assert!(!verify(
            b"s3cret",
            "d-1",
            "1700000000",
            br#"{"a": 1}"#,
            "v2,xyz"
        ));
        assert!(!verify(
            b"s3cret",
            "d-1",
            "1700000000",
            br#"{"a": 1}"#,
            "v1,@@@"
        ));
    }

    fn headers(sig: &str, ts: &str, id: &str) -> axum::http::HeaderMap {
        let mut h = axum::http::HeaderMap::new();
        for (k, v) in [
            (SIGNATURE_HEADER, sig),
            (TIMESTAMP_HEADER, ts),
            (DELIVERY_ID_HEADER, id),
        ] {
            h.insert(k, v.parse().expect("header"));
        }
        h
    }

    #[test]
    fn stale_repeated_and_unsigned_deliveries_are_refused() {
        let seen = std::sync::Mutex::new(SeenIds::default());
        let body = b"{}";
        let now = 1_700_000_000;
        let started = now - 3600;
        let check = |h: &axum::http::HeaderMap, started: i64| {
            precheck(h, now, started).and_then(|s| authenticate(b"k", &s, body, now, &seen))
        };
        let ok = |ts: i64, id: &str| {
            let t = ts.to_string();
            check(&headers(&sign(b"k", id, &t, body), &t, id), started)
        };
        assert_eq!(ok(now, "a"), Ok(()));
        assert_eq!(ok(now, "a"), Err(Refusal::Repeated));
        assert_eq!(ok(now - 301, "b"), Err(Refusal::Stale));
        assert_eq!(ok(now + 301, "c"), Err(Refusal::Stale));
        assert_eq!(ok(now - 299, "d"), Ok(()));
        let unsigned = check(&axum::http::HeaderMap::new(), started);
        assert_eq!(unsigned, Err(Refusal::Unsigned));
        let forged = headers("v1,AAAA", &now.to_string(), "e");
        assert_eq!(check(&forged, started), Err(Refusal::BadSignature));
        // Signed before this serve started: a replay, refused before its
        // signature is even looked at.
        let t = (now - 10).to_string();
        let before = headers(&sign(b"k", "f", &t, body), &t, "f");
        assert_eq!(check(&before, now - 5), Err(Refusal::Stale));
        assert_eq!(check(&before, now - 20), Ok(()));
    }

    #[test]
    fn events_are_read_as_mlflow_sends_them() {
        let created = br#"{"entity": "model_version", "action": "created", "timestamp": "2026-11-28T10:00:00+00:00", "data": {"name": "m", "version": "3", "source": "s", "run_id": null, "tags": {}, "description": null}}"#;
        assert_eq!(
            parse(created),
            Ok(Event::Created {
                model: "m".into(),
                version: 3
            })
        );
        let tag = br#"{"entity": "model_version_tag", "action": "set", "data": {"name": "m", "version": "3", "key": "approval", "value": "approved"}}"#;
        assert_eq!(
            parse(tag),
            Ok(Event::TagSet {
                model: "m".into(),
                version: 3,
                key: "approval".into(),
                value: Some("approved".into()),
                deleted: false,
            })
        );
        let gone = br#"{"entity": "model_version_tag", "action": "deleted", "data": {"name": "m", "version": "3", "key": "approval"}}"#;
        assert_eq!(
            parse(gone),
            Ok(Event::TagSet {
                model: "m".into(),
                version: 3,
                key: "approval".into(),
                value: None,
                deleted: true,
            })
        );
        assert_eq!(
            parse(br#"{"entity": "registered_model", "action": "created", "data": {}}"#),
            Ok(Event::Other("registered_model.created".into()))
        );
        for bad in [
            &b"not json"[..],
            br#"{"entity": "model_version", "action": "created", "data": {"name": "m"}}"#,
            br#"{"entity": "model_version", "action": "created", "data": {"name": "m", "version": "x"}}"#,
        ] {
            assert_eq!(parse(bad), Err(Refusal::Malformed));
        }
    }
}
