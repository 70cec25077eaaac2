//! The on-disk compile cache.
//!
//! Compiling a Python or JavaScript component takes seconds; loading the
//! compiled artifact takes milliseconds. Entries are keyed by the
//! component's sha256 and the engine's compatibility hash (wasmtime version
//! and compilation settings), and each carries a keyed BLAKE3 MAC made with
//! a per-cache secret key, so modelgate deserializes only files it wrote
//! itself: a corrupt, truncated, foreign or stale entry is recompiled and
//! replaced, never trusted. (BLAKE3 rather than HMAC-SHA256 because the
//! MAC covers the whole compiled artifact — tens of MB for a Python or
//! JavaScript component — on every load.)
//!
//! Location: `$MODELGATE_CACHE_DIR`, else the user cache directory
//! (`~/.cache/modelgate`). `MODELGATE_CACHE_DIR=off` disables the cache.

use std::hash::{Hash as _, Hasher as _};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use wasmtime::Engine;
use wasmtime::component::Component;

const MAGIC: &[u8; 8] = b"MGCWASM2";
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
    ///
    /// An entry is two files: `KEY.cwasm`, the artifact exactly as
    /// `Component::serialize` wrote it (so it can be memory-mapped rather
    /// than read and copied: a Python component's artifact is ~37 MB, of
    /// which a run touches a fraction), and `KEY.cwasm.mac`, a magic number
    /// and the MAC of the artifact under this cache's key.
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
        if path.exists() {
            match self.verify(sha256, &path) {
                Ok(()) => match deserialize_file(engine, &path) {
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

    fn hasher(&self, sha256: &str) -> blake3::Hasher {
        let mut h = blake3::Hasher::new_keyed(&self.key);
        h.update(sha256.as_bytes());
        h.update(&self.compat.to_le_bytes());
        h
    }

    fn mac_path(path: &Path) -> PathBuf {
        let mut p = path.as_os_str().to_owned();
        p.push(".mac");
        PathBuf::from(p)
    }

    fn verify(&self, sha256: &str, path: &Path) -> Result<(), &'static str> {
        let tag = std::fs::read(Self::mac_path(path)).map_err(|_| "no checksum beside it")?;
        if tag.len() != MAGIC.len() + 32 || &tag[..MAGIC.len()] != MAGIC {
            return Err("not a modelgate cache entry");
        }
        let expected =
            <[u8; 32]>::try_from(&tag[MAGIC.len()..]).map_err(|_| "truncated checksum")?;
        let mut h = self.hasher(sha256);
        let size = std::fs::metadata(path).map_err(|_| "unreadable")?.len();
        // Threads pay off for big artifacts only; starting them costs more
        // than hashing a small one.
        if size > 8 << 20 {
            h.update_mmap_rayon(path).map_err(|_| "unreadable")?;
        } else {
            h.update_mmap(path).map_err(|_| "unreadable")?;
        }
        // `Hash` compares in constant time.
        if h.finalize() != blake3::Hash::from(expected) {
            return Err("checksum mismatch (corrupt or not written by this cache)");
        }
        Ok(())
    }

    fn store(&self, path: &Path, sha256: &str, payload: &[u8]) -> std::io::Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut h = self.hasher(sha256);
        if payload.len() > 8 << 20 {
            h.update_rayon(payload);
        } else {
            h.update(payload);
        }
        let mut tag = MAGIC.to_vec();
        tag.extend_from_slice(h.finalize().as_bytes());
        // Artifact first, checksum last: a crash in between leaves an entry
        // without a valid checksum, which is rejected and rewritten.
        for (dest, data) in [
            (path.to_path_buf(), payload),
            (Self::mac_path(path), &tag[..]),
        ] {
            let (tmp, mut file) = tempfile_in(dir)?;
            file.write_all(data)?;
            file.sync_all()?;
            std::fs::rename(&tmp, &dest)?;
        }
        Ok(())
    }
}

#[allow(unsafe_code)]
fn deserialize_file(engine: &Engine, path: &Path) -> wasmtime::Result<Component> {
    // SAFETY: the file is exactly what `Component::serialize` produced in
    // this cache: `verify` has just checked its MAC under this cache's
    // secret key, so the bytes were written by modelgate and not altered
    // since (short of someone with write access to the user's own cache
    // racing this call). Wasmtime itself rejects artifacts from another
    // version or configuration.
    unsafe { Component::deserialize_file(engine, path) }
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

/// Lower-case hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_verified_under_the_key() {
        let engine = Engine::default();
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = CompileCache::at(&engine, Some(dir.path().to_path_buf()));
        let entry = dir.path().join("entry.cwasm");
        cache.store(&entry, "abc", b"payload").expect("store");
        assert_eq!(cache.verify("abc", &entry), Ok(()));
        assert!(
            cache.verify("abd", &entry).is_err(),
            "bound to the component's sha256"
        );
        std::fs::write(&entry, b"payloaD").expect("corrupt");
        assert!(cache.verify("abc", &entry).is_err());
        cache.store(&entry, "abc", b"payload").expect("store");
        let other_dir = tempfile::tempdir().expect("tempdir");
        let other = CompileCache::at(&engine, Some(other_dir.path().to_path_buf()));
        assert!(other.verify("abc", &entry).is_err(), "another cache's key");
        std::fs::remove_file(CompileCache::mac_path(&entry)).expect("rm");
        assert!(cache.verify("abc", &entry).is_err(), "no checksum");
    }
}
