//! The on-disk compile cache.
//!
//! Compiling a Python or JavaScript component takes seconds; loading the
//! compiled artifact takes milliseconds. Entries are keyed by the
//! component's sha256 and the engine's compatibility hash (wasmtime version
//! and compilation settings), and each carries an HMAC-SHA256 made with a
//! per-cache secret key, so modelgate deserializes only files it wrote
//! itself: a corrupt, truncated, foreign or stale entry is recompiled and
//! replaced, never trusted.
//!
//! Location: `$MODELGATE_CACHE_DIR`, else the user cache directory
//! (`~/.cache/modelgate`). `MODELGATE_CACHE_DIR=off` disables the cache.

use std::hash::{Hash as _, Hasher as _};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

const MAGIC: &[u8; 8] = b"MGCWASM1";
const KEY_FILE: &str = "cache-key";

/// What the cache did for one load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Loaded a compiled entry.
    Hit,
    /// Compiled; the entry was written (or the cache is off).
    Miss,
    /// An entry existed but was rejected and replaced.
    Rejected(String),
}

/// The compile cache of one engine.
pub struct CompileCache {
    dir: Option<PathBuf>,
    key: [u8; 32],
    compat: u64,
}

impl CompileCache {
    /// Opens the cache for `engine` in the configured directory.
    pub fn open(engine: &Engine) -> CompileCache {
        let dir = match std::env::var_os("MODELGATE_CACHE_DIR") {
            Some(d) if d == "off" => None,
            Some(d) if !d.is_empty() => Some(PathBuf::from(d)),
            _ => dirs::cache_dir().map(|d| d.join("modelgate")),
        };
        CompileCache::at(engine, dir)
    }

    /// Opens the cache in `dir` (`None`: no cache).
    pub fn at(engine: &Engine, dir: Option<PathBuf>) -> CompileCache {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let compat = hasher.finish();
        let mut cache = CompileCache {
            dir: None,
            key: [0; 32],
            compat,
        };
        if let Some(dir) = dir {
            let components = dir.join("components");
            if std::fs::create_dir_all(&components).is_ok()
                && let Some(key) = load_or_create_key(&dir)
            {
                cache.key = key;
                cache.dir = Some(components);
            }
        }
        cache
    }

    /// The entry file for a component.
    pub fn entry_path(&self, sha256: &str) -> Option<PathBuf> {
        self.dir
            .as_ref()
            .map(|d| d.join(format!("{sha256}-{:016x}.cwasm", self.compat)))
    }

    /// Loads the compiled component for `bytes` (whose sha256 is `sha256`),
    /// compiling and storing it when there is no trustworthy entry.
    pub fn load(
        &self,
        engine: &Engine,
        sha256: &str,
        bytes: &[u8],
    ) -> wasmtime::Result<(Component, CacheOutcome)> {
        let Some(path) = self.entry_path(sha256) else {
            return Ok((Component::new(engine, bytes)?, CacheOutcome::Miss));
        };
        let mut outcome = CacheOutcome::Miss;
        if let Ok(data) = std::fs::read(&path) {
            match self.verify(sha256, &data) {
                Ok(payload) => match deserialize(engine, payload) {
                    Ok(c) => return Ok((c, CacheOutcome::Hit)),
                    Err(e) => outcome = CacheOutcome::Rejected(format!("incompatible: {e}")),
                },
                Err(why) => outcome = CacheOutcome::Rejected(why.into()),
            }
        }
        let component = Component::new(engine, bytes)?;
        if let Ok(serialized) = component.serialize() {
            // Best effort: a read-only cache only costs speed.
            let _ = self.store(&path, sha256, &serialized);
        }
        Ok((component, outcome))
    }

    fn mac(&self, sha256: &str, payload: &[u8]) -> [u8; 32] {
        hmac(
            &self.key,
            &[sha256.as_bytes(), &self.compat.to_le_bytes(), payload],
        )
    }

    fn verify<'a>(&self, sha256: &str, data: &'a [u8]) -> Result<&'a [u8], &'static str> {
        if data.len() < MAGIC.len() + 32 || &data[..MAGIC.len()] != MAGIC {
            return Err("not a modelgate cache entry");
        }
        let (mac, payload) = data[MAGIC.len()..].split_at(32);
        if mac != self.mac(sha256, payload) {
            return Err("checksum mismatch (corrupt or not written by this cache)");
        }
        Ok(payload)
    }

    fn store(&self, path: &Path, sha256: &str, payload: &[u8]) -> std::io::Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut tmp = tempfile_in(dir)?;
        tmp.1.write_all(MAGIC)?;
        tmp.1.write_all(&self.mac(sha256, payload))?;
        tmp.1.write_all(payload)?;
        tmp.1.sync_all()?;
        std::fs::rename(&tmp.0, path)
    }
}

#[allow(unsafe_code)]
fn deserialize(engine: &Engine, payload: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: `payload` is exactly what `Component::serialize` produced in
    // this cache: `verify` checked its HMAC under this cache's secret key,
    // so the bytes were written by modelgate and not altered since. Wasmtime
    // itself rejects artifacts from another version or configuration.
    unsafe { Component::deserialize(engine, payload) }
}

fn tempfile_in(dir: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let path = dir.join(format!(".tmp-{}-{nanos}", std::process::id()));
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)?;
    Ok((path, file))
}

fn load_or_create_key(dir: &Path) -> Option<[u8; 32]> {
    let path = dir.join(KEY_FILE);
    if let Ok(bytes) = std::fs::read(&path)
        && let Ok(key) = <[u8; 32]>::try_from(bytes.as_slice())
    {
        return Some(key);
    }
    let mut key = [0u8; 32];
    let mut urandom = std::fs::File::open("/dev/urandom").ok()?;
    std::io::Read::read_exact(&mut urandom, &mut key).ok()?;
    let (tmp, mut file) = tempfile_in(dir).ok()?;
    use std::os::unix::fs::PermissionsExt as _;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .ok()?;
    file.write_all(&key).ok()?;
    file.sync_all().ok()?;
    // Another process may have won the race; use whichever key is on disk.
    if std::fs::hard_link(&tmp, &path).is_err() {
        let _ = std::fs::remove_file(&tmp);
        let bytes = std::fs::read(&path).ok()?;
        return <[u8; 32]>::try_from(bytes.as_slice()).ok();
    }
    let _ = std::fs::remove_file(&tmp);
    Some(key)
}

/// HMAC-SHA256 (RFC 2104) of the concatenated `parts`.
fn hmac(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
    let mut ipad = [0x36u8; 64];
    let mut opad = [0x5cu8; 64];
    for (i, k) in key.iter().enumerate() {
        ipad[i] ^= k;
        opad[i] ^= k;
    }
    let mut inner = Sha256::new();
    inner.update(ipad);
    for p in parts {
        inner.update(p);
    }
    let inner = inner.finalize();
    let mut outer = Sha256::new();
    outer.update(opad);
    outer.update(inner);
    outer.finalize().into()
}

/// Lower-case hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc4231_shape() {
        // RFC 4231 test case 2 uses a short key; ours are always 32 bytes,
        // so check determinism and key sensitivity instead.
        let a = hmac(&[1; 32], &[b"abc"]);
        assert_eq!(a, hmac(&[1; 32], &[b"a", b"bc"]));
        assert_ne!(a, hmac(&[2; 32], &[b"abc"]));
    }
}
