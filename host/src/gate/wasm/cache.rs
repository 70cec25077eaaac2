//! The on-disk compile cache.
//!
//! Compiling a Python or JavaScript component takes seconds; loading the
//! compiled artifact takes milliseconds. Entries are keyed by the
//! component's sha256 and the engine's compatibility hash (wasmtime version
//! and compilation settings), and each carries a keyed BLAKE3 MAC made with
//! a secret key, so modelgate deserializes only files it wrote itself: a
//! corrupt, truncated, foreign or stale entry is recompiled and replaced,
//! never trusted. (BLAKE3 rather than HMAC-SHA256 because the MAC covers
//! the whole compiled artifact — tens of MB for a Python or JavaScript
//! component — on every load.)
//!
//! # Trust model
//!
//! A compiled entry is native code: whoever can forge one runs code in
//! modelgate and can turn any verdict into a pass. So:
//! - the **key lives outside the cache directory**
//!   (`$MODELGATE_CACHE_KEY`, default `~/.local/share/modelgate/cache-key`),
//!   so a cache directory restored from elsewhere (a CI cache written by an
//!   untrusted branch, a shared volume) carries no key that makes its
//!   entries valid — they are recompiled. A key file inside the cache
//!   directory is refused;
//! - the key must be a regular file owned by the user and readable by no
//!   one else (mode `0600`), or the cache is not used at all;
//! - an entry (artifact and MAC) must be a regular file, owned by the user
//!   and writable by no one else, opened without following symbolic links
//!   and without blocking (a FIFO or device is never read); it is verified
//!   and deserialized through the same open file, so it cannot be swapped
//!   in between.
//!
//! Whoever can write the key file or act as the user can forge entries;
//! that is the user's own trust boundary, as for `~/.cargo/bin`.
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
/// Largest compiled entry read: 1 GiB (a Python component compiles to
/// ~40 MB).
const MAX_ENTRY: u64 = 1 << 30;

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
#[derive(Clone)]
pub struct CompileCache {
    dir: Option<PathBuf>,
    key: [u8; 32],
    compat: u64,
    /// Why the configured cache is not used, if it is not.
    pub disabled: Option<String>,
}

impl CompileCache {
    /// Opens the cache for `engine` in the configured directory, with the
    /// configured key. A key that cannot be trusted disables the cache
    /// (with a warning on stderr): compiling is slow, never wrong.
    pub fn open(engine: &Engine) -> CompileCache {
        let dir = match std::env::var_os("MODELGATE_CACHE_DIR") {
            Some(d) if d == "off" => None,
            Some(d) if !d.is_empty() => Some(PathBuf::from(d)),
            _ => dirs::cache_dir().map(|d| d.join("modelgate")),
        };
        let key = match std::env::var_os("MODELGATE_CACHE_KEY") {
            Some(k) if !k.is_empty() => Some(PathBuf::from(k)),
            _ => dirs::data_local_dir().map(|d| d.join("modelgate").join("cache-key")),
        };
        let cache = match key {
            Some(key) => CompileCache::at(engine, dir, &key),
            None => CompileCache::at(engine, None, Path::new("")),
        };
        if let Some(why) = &cache.disabled {
            crate::output::stderr(&format!(
                "modelgate: warning: the compile cache is off: {why}\n"
            ));
        }
        cache
    }

    /// Opens the cache in `dir` (`None`: no cache) with the key in `key`,
    /// which is created (mode 0600) when missing.
    pub fn at(engine: &Engine, dir: Option<PathBuf>, key: &Path) -> CompileCache {
        let compat = compat_hash(engine);
        let mut cache = CompileCache {
            dir: None,
            key: [0; 32],
            compat,
            disabled: None,
        };
        let Some(dir) = dir else { return cache };
        let components = dir.join("components");
        let opened = (|| -> Result<[u8; 32], String> {
            let inside = || {
                format!(
                    "its key `{}` is inside the cache directory `{}`, where whoever restores or shares the cache could replace it; point MODELGATE_CACHE_KEY elsewhere",
                    key.display(),
                    dir.display()
                )
            };
            // As written first (`..` or a symlink may hide it), then where
            // both really are, once the cache directory exists.
            let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
            if absolute(key).starts_with(absolute(&dir)) {
                return Err(inside());
            }
            create_private_dir(&components)
                .map_err(|e| format!("cannot create `{}`: {e}", components.display()))?;
            if key_within(key, &dir)
                .map_err(|e| format!("cannot resolve `{}`: {e}", key.display()))?
            {
                return Err(inside());
            }
            load_or_create_key(key)
        })();
        match opened {
            Ok(k) => {
                cache.key = k;
                cache.dir = Some(components);
            }
            Err(why) => cache.disabled = Some(why),
        }
        cache
    }

    /// The same cache (directory, key) for the builds of another engine
    /// (another compiler tier): its entries are keyed by that engine's
    /// compatibility hash, so the tiers' builds of one component never
    /// stand for each other.
    pub fn for_engine(&self, engine: &Engine) -> CompileCache {
        CompileCache {
            dir: self.dir.clone(),
            key: self.key,
            compat: compat_hash(engine),
            disabled: self.disabled.clone(),
        }
    }

    /// The entry file for a component.
    pub fn entry_path(&self, sha256: &str) -> Option<PathBuf> {
        self.dir
            .as_ref()
            .map(|d| d.join(format!("{sha256}-{:016x}.cwasm", self.compat)))
    }

    /// The entry of the component `sha256` when the cache holds one it
    /// would load (present, private, its MAC valid under this key); else
    /// why not.
    pub fn holds(&self, sha256: &str) -> Result<PathBuf, String> {
        let path = self
            .entry_path(sha256)
            .ok_or_else(|| "the compile cache is off".to_string())?;
        self.verify(sha256, &path)
            .map(|_| path.clone())
            .map_err(|why| format!("`{}`: {why}", path.display()))
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
        let outcome = match self.lookup(engine, sha256) {
            Ok(Some(c)) => return Ok((c, CacheOutcome::Hit)),
            Ok(None) => CacheOutcome::Miss,
            Err(why) => CacheOutcome::Rejected(why),
        };
        let component = Component::new(engine, bytes)?;
        if let Ok(serialized) = component.serialize() {
            // Best effort: a read-only cache only costs speed.
            let _ = self.store(&path, sha256, &serialized);
        }
        Ok((component, outcome))
    }

    /// The component `sha256` from its entry, compiling nothing: `None`
    /// when the cache is off or holds no entry for it, why not when it
    /// holds one that cannot be trusted or loaded (the next
    /// [`load`](Self::load) of this engine replaces it).
    pub fn lookup(&self, engine: &Engine, sha256: &str) -> Result<Option<Component>, String> {
        let Some(path) = self.entry_path(sha256) else {
            return Ok(None);
        };
        if std::fs::symlink_metadata(&path).is_err() {
            return Ok(None);
        }
        let file = self.verify(sha256, &path).map_err(String::from)?;
        deserialize_open(engine, &file)
            .map(Some)
            .map_err(|e| format!("incompatible: {e}"))
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

    /// Opens the entry at `path` and checks that it can be trusted: a
    /// private regular file, with a MAC file beside it that is one too, and
    /// a MAC that matches the artifact's bytes under this cache's key. The
    /// artifact is returned open, to be deserialized through that handle.
    fn verify(&self, sha256: &str, path: &Path) -> Result<std::fs::File, &'static str> {
        let (tag_file, tag_meta) = open_private(&Self::mac_path(path))?;
        let tag = crate::files::read_open(tag_file, tag_meta.len(), 64)
            .map_err(|_| "unreadable checksum")?;
        if tag.len() != MAGIC.len() + 32 || &tag[..MAGIC.len()] != MAGIC {
            return Err("not a modelgate cache entry");
        }
        let expected =
            <[u8; 32]>::try_from(&tag[MAGIC.len()..]).map_err(|_| "truncated checksum")?;
        let (file, meta) = open_private(path)?;
        if meta.len() > MAX_ENTRY {
            return Err("larger than any compiled component");
        }
        let mut h = self.hasher(sha256);
        let through = fd_path(&file);
        // Threads pay off for big artifacts only; starting them costs more
        // than hashing a small one.
        if meta.len() > 8 << 20 {
            h.update_mmap_rayon(&through).map_err(|_| "unreadable")?;
        } else {
            h.update_mmap(&through).map_err(|_| "unreadable")?;
        }
        // `Hash` compares in constant time.
        if h.finalize() != blake3::Hash::from(expected) {
            return Err("checksum mismatch (corrupt or not written with this cache's key)");
        }
        Ok(file)
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
        // Artifact first, checksum last, each renamed into place whole. No
        // fsync: a cache needs no durability, and whatever a crash leaves
        // (an artifact cut short or never written, a checksum without its
        // artifact) fails the MAC on the next load, which recompiles and
        // rewrites it. Syncing tens of MB would cost a first run more than
        // the baseline compiler saves.
        for (dest, data) in [
            (path.to_path_buf(), payload),
            (Self::mac_path(path), &tag[..]),
        ] {
            let (tmp, mut file) = tempfile_in(dir)?;
            file.write_all(data)?;
            std::fs::rename(&tmp, &dest)?;
        }
        Ok(())
    }
}

/// The key of `engine`'s builds: its wasmtime version and every setting
/// that changes compiled code (the compiler among them).
fn compat_hash(engine: &Engine) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hasher.finish()
}

/// `/proc/self/fd/N` for an open file: opening it reaches the same inode,
/// whatever has happened to the file's name since.
fn fd_path(file: &std::fs::File) -> PathBuf {
    use std::os::fd::AsRawFd as _;
    PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()))
}

#[allow(unsafe_code)]
fn deserialize_open(engine: &Engine, file: &std::fs::File) -> wasmtime::Result<Component> {
    // SAFETY: the file is exactly what `Component::serialize` produced in
    // this cache: `verify` has just checked, on this open file, that it is
    // a regular file that only this user can write and that its MAC under
    // this cache's secret key matches, so the bytes were written by
    // modelgate and not altered since. It is mapped through the same open
    // file (`/proc/self/fd`), so renaming another file over the entry's
    // name cannot substitute it. Wasmtime itself rejects artifacts from
    // another version or configuration.
    unsafe { Component::deserialize_file(engine, fd_path(file)) }
}

/// Opens `path` as a file only this user can change: regular (no symlink
/// followed, no FIFO or device opened for real), owned by the user, not
/// writable by group or others.
fn open_private(path: &Path) -> Result<(std::fs::File, std::fs::Metadata), &'static str> {
    use std::os::unix::fs::MetadataExt as _;
    let (file, meta) = crate::files::open_regular(path, true).map_err(|e| match e {
        crate::files::ReadError::NotRegular(_) => "not a regular file",
        _ => "unreadable",
    })?;
    if meta.uid() != rustix::process::geteuid().as_raw() {
        return Err("not owned by this user");
    }
    if meta.mode() & 0o022 != 0 {
        return Err("writable by group or others");
    }
    Ok((file, meta))
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

fn tempfile_in(dir: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let path = dir.join(format!(".tmp-{}-{nanos}", std::process::id()));
    use std::os::unix::fs::OpenOptionsExt as _;
    // Private whatever the umask: an entry others could write is refused.
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)?;
    Ok((path, file))
}

/// Reads the key at `path`, creating it (mode 0600, in a 0700 directory)
/// when missing. A key that someone else could read or write is refused.
/// True when `key` is in `dir` (which exists) where it really is: its
/// nearest existing ancestor resolved (`..`, symlinks) and the rest of its
/// path appended is under `dir` resolved, or the key or one of its
/// existing ancestors is `dir` itself by device and inode (a bind mount,
/// or a path the text does not show).
fn key_within(key: &Path, dir: &Path) -> std::io::Result<bool> {
    use std::os::unix::fs::MetadataExt as _;
    let dir_real = std::fs::canonicalize(dir)?;
    let dir_meta = std::fs::metadata(&dir_real)?;
    let same_as_dir =
        |m: &std::fs::Metadata| m.dev() == dir_meta.dev() && m.ino() == dir_meta.ino();
    let key = std::path::absolute(key)?;
    // The nearest ancestor (or the key itself) that exists, and what follows.
    let mut existing = key.as_path();
    let mut rest: Vec<&std::ffi::OsStr> = Vec::new();
    while std::fs::symlink_metadata(existing).is_err() {
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name);
                existing = parent;
            }
            // `..` at the end, or the root: resolve what there is.
            _ => break,
        }
    }
    let mut real = std::fs::canonicalize(existing)?;
    for name in rest.iter().rev() {
        real.push(name);
    }
    if real.starts_with(&dir_real) {
        return Ok(true);
    }
    let mut at = Some(std::fs::canonicalize(existing)?);
    while let Some(p) = at {
        if std::fs::metadata(&p).is_ok_and(|m| same_as_dir(&m)) {
            return Ok(true);
        }
        at = p.parent().map(Path::to_path_buf);
    }
    Ok(false)
}

fn load_or_create_key(path: &Path) -> Result<[u8; 32], String> {
    use std::os::unix::fs::MetadataExt as _;
    let shown = path.display();
    let read = |path: &Path| -> Result<[u8; 32], String> {
        let (file, meta) =
            open_private(path).map_err(|why| format!("its key `{shown}` is {why}"))?;
        if meta.mode() & 0o077 != 0 {
            return Err(format!(
                "its key `{shown}` can be read by group or others; `chmod 600` it (or delete it to make a new one)"
            ));
        }
        let bytes = crate::files::read_open(file, meta.len(), 32)
            .map_err(|e| format!("its key `{shown}` is unreadable: {e}"))?;
        <[u8; 32]>::try_from(bytes.as_slice())
            .map_err(|_| format!("its key `{shown}` is not 32 bytes; delete it to make a new one"))
    };
    if std::fs::symlink_metadata(path).is_ok() {
        return read(path);
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    create_private_dir(dir).map_err(|e| format!("cannot create `{}`: {e}", dir.display()))?;
    let mut key = [0u8; 32];
    let fail = |e: std::io::Error| format!("cannot create its key `{shown}`: {e}");
    let mut urandom = std::fs::File::open("/dev/urandom").map_err(fail)?;
    std::io::Read::read_exact(&mut urandom, &mut key).map_err(fail)?;
    // `tempfile_in` creates it with mode 0600.
    let (tmp, mut file) = tempfile_in(dir).map_err(fail)?;
    file.write_all(&key).map_err(fail)?;
    file.sync_all().map_err(fail)?;
    // Another process may have won the race; use whichever key is on disk.
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(key),
        Err(_) => read(path),
    }
}

/// Lower-case hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    struct Setup {
        _root: tempfile::TempDir,
        dir: PathBuf,
        key: PathBuf,
    }

    fn setup() -> Setup {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join("cache");
        let key = root.path().join("keys").join("cache-key");
        Setup {
            dir,
            key,
            _root: root,
        }
    }

    #[test]
    fn entries_are_verified_under_the_key() {
        let engine = Engine::default();
        let s = setup();
        let cache = CompileCache::at(&engine, Some(s.dir.clone()), &s.key);
        assert_eq!(cache.disabled, None);
        let mode = std::fs::metadata(&s.key).expect("key").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let entry = s.dir.join("entry.cwasm");
        cache.store(&entry, "abc", b"payload").expect("store");
        assert!(cache.verify("abc", &entry).is_ok());
        assert!(
            cache.verify("abd", &entry).is_err(),
            "bound to the component's sha256"
        );
        std::fs::write(&entry, b"payloaD").expect("corrupt");
        assert!(cache.verify("abc", &entry).is_err());
        cache.store(&entry, "abc", b"payload").expect("store");
        let other = setup();
        let other = CompileCache::at(&engine, Some(other.dir.clone()), &other.key);
        assert!(other.verify("abc", &entry).is_err(), "another cache's key");
        std::fs::remove_file(CompileCache::mac_path(&entry)).expect("rm");
        assert!(cache.verify("abc", &entry).is_err(), "no checksum");
    }

    #[test]
    fn a_restored_cache_brings_no_key() {
        // An attacker's cache directory, with entries MAC'd under a key the
        // attacker chose and left beside them (where keys used to live).
        let engine = Engine::default();
        let attacker = setup();
        let forged = CompileCache::at(&engine, Some(attacker.dir.clone()), &attacker.key);
        let entry = forged.entry_path("abc").expect("on");
        forged.store(&entry, "abc", b"native code").expect("store");
        std::fs::copy(&attacker.key, attacker.dir.join("cache-key")).expect("copy");
        // The victim restores that directory; its own key is elsewhere.
        let victim_key = setup().key;
        let victim = CompileCache::at(&engine, Some(attacker.dir.clone()), &victim_key);
        assert_eq!(victim.disabled, None);
        assert!(
            victim.verify("abc", &entry).is_err(),
            "forged entry trusted"
        );
        // A key configured inside the cache directory is refused outright.
        let inside = CompileCache::at(
            &engine,
            Some(attacker.dir.clone()),
            &attacker.dir.join("cache-key"),
        );
        assert!(
            inside
                .disabled
                .as_deref()
                .is_some_and(|w| w.contains("inside the cache directory"))
        );
        assert!(inside.entry_path("abc").is_none(), "cache must be off");
    }

    #[test]
    fn a_key_inside_the_cache_by_dots_or_a_symlink_is_refused() {
        let engine = Engine::default();
        let s = setup();
        let root = s.dir.parent().expect("root").to_path_buf();
        std::fs::create_dir_all(root.join("keys")).expect("keys");
        let refused = |key: &Path, dir: &Path| {
            let c = CompileCache::at(&engine, Some(dir.to_path_buf()), key);
            assert!(
                c.disabled
                    .as_deref()
                    .is_some_and(|w| w.contains("inside the cache directory")),
                "{}: {:?}",
                key.display(),
                c.disabled
            );
            assert!(c.entry_path("abc").is_none(), "cache must be off");
        };
        // `keys/../cache/cache-key` is `cache/cache-key`.
        refused(&root.join("keys/../cache/cache-key"), &s.dir);
        // A symlink into the cache directory, as the key's directory.
        std::os::unix::fs::symlink(&s.dir, root.join("link")).expect("symlink");
        refused(&root.join("link/cache-key"), &s.dir);
        // The cache directory named through a symlink, the key plainly.
        refused(&s.dir.join("k"), &root.join("link"));
        // A key file that is a symlink into the cache.
        std::fs::write(s.dir.join("planted"), [7u8; 32]).expect("plant");
        std::os::unix::fs::symlink(s.dir.join("planted"), root.join("keys/cache-key"))
            .expect("symlink");
        refused(&root.join("keys/cache-key"), &s.dir);
        // And a key elsewhere is fine.
        let ok = CompileCache::at(
            &engine,
            Some(s.dir.clone()),
            &root.join("elsewhere/cache-key"),
        );
        assert_eq!(ok.disabled, None);
    }

    #[test]
    fn shared_keys_and_entries_and_special_files_are_refused() {
        let engine = Engine::default();
        let s = setup();
        let cache = CompileCache::at(&engine, Some(s.dir.clone()), &s.key);
        let entry = cache.entry_path("abc").expect("on");
        cache.store(&entry, "abc", b"payload").expect("store");
        assert!(cache.verify("abc", &entry).is_ok());
        // Writable by others: someone else could have put it there.
        std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(0o666)).expect("chmod");
        assert_eq!(
            cache.verify("abc", &entry).err(),
            Some("writable by group or others")
        );
        std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let mac = CompileCache::mac_path(&entry);
        std::fs::set_permissions(&mac, std::fs::Permissions::from_mode(0o620)).expect("chmod");
        assert!(cache.verify("abc", &entry).is_err());
        std::fs::set_permissions(&mac, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        // A symlink to a valid entry is not followed.
        let link = s.dir.join("link.cwasm");
        std::os::unix::fs::symlink(&entry, &link).expect("symlink");
        std::os::unix::fs::symlink(&mac, CompileCache::mac_path(&link)).expect("symlink");
        assert_eq!(cache.verify("abc", &link).err(), Some("not a regular file"));
        // A FIFO in an entry's place is never opened for reading (that
        // would hang), and loading replaces it with a real entry.
        std::fs::remove_file(&entry).expect("rm");
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            &entry,
            rustix::fs::Mode::from_raw_mode(0o600),
        )
        .expect("mkfifo");
        assert_eq!(
            cache.verify("abc", &entry).err(),
            Some("not a regular file")
        );
        // A key readable by others is not used: the cache turns itself off.
        std::fs::set_permissions(&s.key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let shared = CompileCache::at(&engine, Some(s.dir.clone()), &s.key);
        assert!(
            shared
                .disabled
                .as_deref()
                .is_some_and(|w| w.contains("read by group or others")),
            "{:?}",
            shared.disabled
        );
        assert!(shared.entry_path("abc").is_none());
    }
}
