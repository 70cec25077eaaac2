//! The files of LoggedModels and runs (WIT 0.4.0's `artifacts`): their
//! types, the path rules every backend applies before it reads anything,
//! and the reader of a local artifact root (the embedded store's, as MLflow
//! 3 writes it: `…/<experiment>/models/<model_id>/artifacts`).
//!
//! Bounds: a listing holds at most [`MAX_ENTRIES`] entries, a read returns
//! at most [`MAX_READ`] bytes (the gate's `max-bytes`, capped), a path is at
//! most the sandbox's argument bound. A path is relative, `/`-separated,
//! without `.`, `..` or empty segments, backslashes or control characters;
//! a local read follows no symbolic link out of the artifact root and opens
//! regular files only (a FIFO or device would block or never end).

use std::io::Read as _;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use super::{RegistryError, Result};

/// The most entries a listing returns; a larger directory is an error.
pub const MAX_ENTRIES: usize = 10_000;
/// The most bytes one read returns, whatever the gate asks for.
pub const MAX_READ: u64 = 16 << 20;

/// Whose files.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArtifactOwner {
    /// A LoggedModel, by id (`m-…`).
    LoggedModel(String),
    /// A run, by id.
    Run(String),
}

impl ArtifactOwner {
    /// `logged-model:m-…` or `run:ID`: the owner as one call argument.
    pub fn key(&self) -> String {
        match self {
            ArtifactOwner::LoggedModel(id) => format!("logged-model:{id}"),
            ArtifactOwner::Run(id) => format!("run:{id}"),
        }
    }

    /// The id, whichever kind.
    pub fn id(&self) -> &str {
        match self {
            ArtifactOwner::LoggedModel(id) | ArtifactOwner::Run(id) => id,
        }
    }

    /// `LoggedModel m-…` or `run ID`, for messages.
    pub fn describe(&self) -> String {
        match self {
            ArtifactOwner::LoggedModel(id) => format!("LoggedModel {id}"),
            ArtifactOwner::Run(id) => format!("run {id}"),
        }
    }
}

/// One entry of a listing.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ArtifactEntry {
    /// Its path from the artifact root.
    pub path: String,
    /// True for a directory.
    pub is_dir: bool,
    /// A file's size, when the store says it.
    #[serde(default)]
    pub size: Option<u64>,
}

/// A file read, or its beginning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactData {
    /// Its path from the artifact root.
    pub path: String,
    /// The whole file's size, when the store says it.
    pub size: Option<u64>,
    /// True when the file is longer than the bytes asked for.
    pub truncated: bool,
    /// The bytes.
    pub data: Vec<u8>,
}

impl super::HeapSize for ArtifactEntry {
    fn heap_size(&self) -> u64 {
        self.path.heap_size() + 16
    }
}

impl super::HeapSize for ArtifactData {
    fn heap_size(&self) -> u64 {
        self.path.heap_size() + self.data.len() as u64 + 48
    }
}

/// Checks an artifact path as a gate gives it: `""` (the root) when
/// `root_ok`, else relative `/`-separated segments, none of them empty,
/// `.` or `..`, no backslash or control character.
pub fn check_path(path: &str, root_ok: bool) -> Result<()> {
    let refuse = |why: &str| {
        Err(RegistryError::Denied(format!(
            "artifact path `{}` {why}: paths are relative to the artifact root, `/`-separated, without `.` or `..` segments",
            path.escape_debug()
        )))
    };
    if path.is_empty() {
        return if root_ok { Ok(()) } else { refuse("is empty") };
    }
    if path.starts_with('/') {
        return refuse("is absolute");
    }
    if path.contains('\\') {
        return refuse("contains a backslash");
    }
    if path.chars().any(char::is_control) {
        return refuse("contains a control character");
    }
    for segment in path.split('/') {
        match segment {
            "" => return refuse("has an empty segment"),
            "." | ".." => return refuse("has a `.` or `..` segment"),
            _ => {}
        }
    }
    Ok(())
}

/// The bytes a gate may be given for `max_bytes`: at most [`MAX_READ`].
pub fn capped(max_bytes: u64) -> u64 {
    max_bytes.min(MAX_READ)
}

/// Where an artifact URI points, for a reader on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A local directory.
    Local(PathBuf),
    /// A relative path (no scheme): local, relative to where the store is
    /// (the embedded store resolves it against its database's directory).
    Relative(PathBuf),
    /// Served by an MLflow server (`mlflow-artifacts:`), at this path of its
    /// artifact root.
    Proxied(String),
}

/// Resolves artifact URI `uri` (a LoggedModel's `artifact_location`, a
/// run's `artifact_uri`) of `owner`: a `file:` URI or a plain path is local
/// (a relative one relative to the store), `mlflow-artifacts:` is the
/// server's; an object store is `unavailable` with what to do.
pub fn locate(uri: &str, owner: &ArtifactOwner) -> Result<Location> {
    if let Some(rest) = uri.strip_prefix("mlflow-artifacts:") {
        // `mlflow-artifacts:/path` or `mlflow-artifacts://host:port/path`.
        let path = match rest.strip_prefix("//") {
            Some(hosted) => hosted.split_once('/').map_or("", |(_, p)| p),
            None => rest.trim_start_matches('/'),
        };
        return Ok(Location::Proxied(path.to_string()));
    }
    if uri.starts_with("file:") {
        // `file:///abs`, `file:/abs` or `file://localhost/abs`, escapes
        // decoded; another host's file is not this machine's.
        return reqwest::Url::parse(uri)
            .ok()
            .and_then(|u| u.to_file_path().ok())
            .map(Location::Local)
            .ok_or_else(|| unreachable_store(uri, owner));
    }
    if uri.starts_with('/') {
        return Ok(Location::Local(PathBuf::from(uri)));
    }
    // `scheme:` before any `/` is a URI; anything else is a relative path.
    let scheme = uri.split('/').next().unwrap_or("").contains(':');
    if !scheme && !uri.is_empty() {
        return Ok(Location::Relative(PathBuf::from(uri)));
    }
    Err(unreachable_store(uri, owner))
}

fn unreachable_store(uri: &str, owner: &ArtifactOwner) -> RegistryError {
    let scheme = uri.split_once(':').map_or("no location", |(s, _)| s);
    RegistryError::Unavailable(format!(
        "the artifacts of {} are at `{uri}` ({scheme}), which modelgate does not read: it reads local artifact roots and an MLflow server's (`mlflow-artifacts:`); hint: serve the artifacts through `mlflow server` (its default `--serve-artifacts`) and point --tracking-uri at it",
        owner.describe()
    ))
}

/// Directories no artifact root may be in: the kernel's views of this
/// process and machine (`/proc/self/environ` is a regular file).
const SYSTEM_ROOTS: [&str; 3] = ["/proc", "/sys", "/dev"];

/// The artifact root `root` of `owner`, opened as a directory: refused
/// when it resolves into a system directory; a root that does not exist
/// (a model logged without files) is `not-found`.
fn open_root(root: &Path, owner: &ArtifactOwner) -> Result<OwnedFd> {
    let unreadable = |e: &dyn std::fmt::Display| {
        RegistryError::Unavailable(format!(
            "the artifact root `{}` of {} cannot be read: {e}",
            root.display(),
            owner.describe()
        ))
    };
    let resolved = match root.canonicalize() {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(RegistryError::NotFound(format!(
                "{} has no artifacts (`{}` does not exist)",
                owner.describe(),
                root.display()
            )));
        }
        Err(e) => return Err(unreadable(&e)),
    };
    if SYSTEM_ROOTS.iter().any(|sys| resolved.starts_with(sys)) {
        return Err(RegistryError::Denied(format!(
            "the artifact root of {} is `{}`, a system directory: refused",
            owner.describe(),
            resolved.display()
        )));
    }
    rustix::fs::open(
        &resolved,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| unreadable(&e))
}

/// Opens `path` (checked; `""`: the root itself) beneath the root `dir`,
/// resolving every component inside it (`openat2` with
/// `RESOLVE_BENEATH`): a symbolic link may lead elsewhere in the root,
/// never out of it, and nothing can be swapped in between a check and the
/// open.
fn open_beneath(
    dir: &OwnedFd,
    path: &str,
    flags: OFlags,
    owner: &ArtifactOwner,
) -> Result<OwnedFd> {
    let target = if path.is_empty() { "." } else { path };
    // `openat2` refuses flags `O_PATH` ignores.
    let flags = if flags.contains(OFlags::PATH) {
        flags | OFlags::CLOEXEC
    } else {
        flags | OFlags::CLOEXEC | OFlags::NOCTTY
    };
    rustix::fs::openat2(
        dir,
        target,
        flags,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS,
    )
    .map_err(|e| match e {
        Errno::NOENT | Errno::NOTDIR | Errno::LOOP => RegistryError::NotFound(format!(
            "{} has no artifact `{path}`",
            owner.describe()
        )),
        Errno::XDEV => RegistryError::Denied(format!(
            "artifact `{path}` of {} is a symbolic link out of its artifact root",
            owner.describe()
        )),
        Errno::NOSYS => RegistryError::Unavailable(format!(
            "artifact `{path}` of {} cannot be read safely: this kernel lacks openat2 (Linux 5.6 or newer is needed)",
            owner.describe()
        )),
        other => RegistryError::Unavailable(format!(
            "artifact `{path}` of {} cannot be read: {other}",
            owner.describe()
        )),
    })
}

/// Lists directory `path` of the local artifact root `root`: its
/// directories and regular files; a symbolic link is listed as what it
/// leads to inside the root, and left out when it leads out of it (or
/// nowhere), as are FIFOs, sockets and devices.
pub fn list_local(root: &Path, owner: &ArtifactOwner, path: &str) -> Result<Vec<ArtifactEntry>> {
    check_path(path, true)?;
    let root_fd = match open_root(root, owner) {
        // A missing root or directory lists as empty, as MLflow's server
        // lists it.
        Err(RegistryError::NotFound(_)) => return Ok(Vec::new()),
        other => other?,
    };
    let dir = match open_beneath(&root_fd, path, OFlags::RDONLY | OFlags::DIRECTORY, owner) {
        Err(RegistryError::NotFound(_)) => return Ok(Vec::new()),
        other => other?,
    };
    let io = |e: Errno| {
        RegistryError::Unavailable(format!(
            "directory `{path}` of {} cannot be listed: {e}",
            owner.describe()
        ))
    };
    let mut out = Vec::new();
    for entry in rustix::fs::Dir::read_from(&dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let Ok(name) = entry.file_name().to_str() else {
            continue; // Not UTF-8: no gate can name it.
        };
        if name == "." || name == ".." {
            continue;
        }
        if out.len() >= MAX_ENTRIES {
            return Err(RegistryError::Unavailable(format!(
                "directory `{path}` of {} has more than {MAX_ENTRIES} entries",
                owner.describe()
            )));
        }
        let rel = if path.is_empty() {
            name.to_string()
        } else {
            format!("{path}/{name}")
        };
        // What the entry is, resolved inside the root only.
        let Ok(fd) = open_beneath(&root_fd, &rel, OFlags::PATH, owner) else {
            continue;
        };
        let Ok(stat) = rustix::fs::fstat(&fd) else {
            continue;
        };
        let kind = FileType::from_raw_mode(stat.st_mode);
        let entry = match kind {
            FileType::Directory => ArtifactEntry {
                path: rel,
                is_dir: true,
                size: None,
            },
            FileType::RegularFile => ArtifactEntry {
                path: rel,
                is_dir: false,
                size: u64::try_from(stat.st_size).ok(),
            },
            _ => continue,
        };
        out.push(entry);
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Reads at most `max_bytes` of file `path` of the local artifact root
/// `root`.
pub fn read_local(
    root: &Path,
    owner: &ArtifactOwner,
    path: &str,
    max_bytes: u64,
) -> Result<ArtifactData> {
    check_path(path, false)?;
    let root_fd = match open_root(root, owner) {
        Err(RegistryError::NotFound(_)) => {
            return Err(RegistryError::NotFound(format!(
                "{} has no artifact `{path}`",
                owner.describe()
            )));
        }
        other => other?,
    };
    let io = |e: &dyn std::fmt::Display| {
        RegistryError::Unavailable(format!(
            "artifact `{path}` of {} cannot be read: {e}",
            owner.describe()
        ))
    };
    // Non-blocking, so that opening a FIFO planted in the root does not
    // wait for a writer; the type is checked on the open file.
    let fd = open_beneath(&root_fd, path, OFlags::RDONLY | OFlags::NONBLOCK, owner)?;
    let file = std::fs::File::from(fd);
    let meta = file.metadata().map_err(|e| io(&e))?;
    if !meta.is_file() {
        return Err(RegistryError::NotFound(format!(
            "artifact `{path}` of {} is not a file",
            owner.describe()
        )));
    }
    let max = capped(max_bytes);
    let mut data = Vec::with_capacity(meta.len().min(max) as usize);
    file.take(max.saturating_add(1))
        .read_to_end(&mut data)
        .map_err(|e| io(&e))?;
    let truncated = data.len() as u64 > max;
    data.truncate(max as usize);
    Ok(ArtifactData {
        path: path.to_string(),
        size: Some(meta.len().max(data.len() as u64)),
        truncated,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner() -> ArtifactOwner {
        ArtifactOwner::LoggedModel("m-1".into())
    }

    #[test]
    fn paths_are_checked() {
        for ok in ["MLmodel", "metadata/requirements.txt", "a b/c.json"] {
            assert!(check_path(ok, false).is_ok(), "{ok}");
        }
        assert!(check_path("", true).is_ok());
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../b",
            "./a",
            "a//b",
            "a/",
            "a\\b",
            "a\0b",
            "a\nb",
            "..",
        ] {
            assert!(
                matches!(check_path(bad, false), Err(RegistryError::Denied(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn uris_are_located() {
        let o = owner();
        assert_eq!(
            locate("file:///tmp/a%20b/artifacts", &o),
            Ok(Location::Local("/tmp/a b/artifacts".into()))
        );
        assert_eq!(
            locate("file://localhost/tmp/x%20", &o),
            Ok(Location::Local("/tmp/x ".into()))
        );
        assert!(matches!(
            locate("file://elsewhere/tmp/x", &o),
            Err(RegistryError::Unavailable(_))
        ));
        assert_eq!(locate("/tmp/x", &o), Ok(Location::Local("/tmp/x".into())));
        assert_eq!(
            locate("mlflow-artifacts:/1/models/m-1/artifacts", &o),
            Ok(Location::Proxied("1/models/m-1/artifacts".into()))
        );
        assert_eq!(
            locate("mlflow-artifacts://h:5000/1/r/artifacts", &o),
            Ok(Location::Proxied("1/r/artifacts".into()))
        );
        assert_eq!(
            locate("mlruns/1/models/m-1/artifacts", &o),
            Ok(Location::Relative("mlruns/1/models/m-1/artifacts".into()))
        );
        for store in ["s3://bucket/x", "gs://b/x", "dbfs:/x", "wasbs://c@a/x", ""] {
            let e = locate(store, &o).expect_err("refused");
            assert!(
                matches!(&e, RegistryError::Unavailable(m) if m.contains("hint:")),
                "{store}: {e:?}"
            );
        }
    }

    #[test]
    fn local_reads_stay_in_the_root_and_are_bounded() {
        let dir = tempfile::tempdir().expect("ok");
        let root = dir.path().join("artifacts");
        std::fs::create_dir_all(root.join("sub")).expect("ok");
        std::fs::write(root.join("MLmodel"), b"flavors: {}\n").expect("ok");
        std::fs::write(root.join("sub/big"), vec![7u8; 100]).expect("ok");
        std::fs::write(dir.path().join("secret"), b"s").expect("ok");
        std::os::unix::fs::symlink(dir.path().join("secret"), root.join("out")).expect("ok");
        std::os::unix::fs::symlink("MLmodel", root.join("alias")).expect("ok");
        let o = owner();

        let listed = list_local(&root, &o, "").expect("ok");
        let names: Vec<_> = listed.iter().map(|e| e.path.as_str()).collect();
        // `out` leads out of the root: not listed.
        assert_eq!(names, ["MLmodel", "alias", "sub"]);
        assert!(listed[2].is_dir && listed[2].size.is_none());
        assert_eq!(listed[1].size, Some(12));
        assert_eq!(listed[0].size, Some(12));

        let whole = read_local(&root, &o, "MLmodel", 1 << 20).expect("ok");
        assert_eq!(
            (whole.data.as_slice(), whole.truncated),
            (&b"flavors: {}\n"[..], false)
        );
        let part = read_local(&root, &o, "sub/big", 10).expect("ok");
        assert_eq!(
            (part.data.len(), part.truncated, part.size),
            (10, true, Some(100))
        );
        let exact = read_local(&root, &o, "sub/big", 100).expect("ok");
        assert!(!exact.truncated);
        // A link inside the root is read; one out of it is refused.
        assert!(read_local(&root, &o, "alias", 100).is_ok());
        assert!(matches!(
            read_local(&root, &o, "out", 100),
            Err(RegistryError::Denied(_))
        ));
        assert!(matches!(
            read_local(&root, &o, "sub", 100),
            Err(RegistryError::NotFound(_))
        ));
        assert!(matches!(
            read_local(&root, &o, "nope", 100),
            Err(RegistryError::NotFound(_))
        ));
        assert_eq!(list_local(&root, &o, "MLmodel"), Ok(Vec::new()));
        assert_eq!(list_local(&root, &o, "nope"), Ok(Vec::new()));
        // Nor through a directory link that leads out.
        std::os::unix::fs::symlink(dir.path(), root.join("up")).expect("ok");
        assert!(matches!(
            read_local(&root, &o, "up/secret", 100),
            Err(RegistryError::Denied(_))
        ));
        // A root in a system directory is refused.
        assert!(matches!(
            read_local(Path::new("/proc/self"), &o, "environ", 100),
            Err(RegistryError::Denied(_))
        ));
        // A FIFO is not waited on.
        let fifo = root.join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .expect("ok");
        assert!(matches!(
            read_local(&root, &o, "fifo", 100),
            Err(RegistryError::NotFound(_))
        ));
    }
}
