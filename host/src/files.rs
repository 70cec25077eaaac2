//! Bounded reads of regular files.
//!
//! Every file modelgate reads on a user's or an attacker's say-so — the
//! project file, a plugin, a compile-cache entry — goes through here, so
//! none of them can be a FIFO that hangs the read, a device such as
//! `/dev/zero` that never ends, or a file so large it exhausts memory. The
//! file is opened without blocking (a FIFO with no writer would otherwise
//! block `open` itself), checked to be a regular file on the opened handle
//! (no window between check and use), and read to at most its limit.

use std::fmt;
use std::fs::File;
use std::io::Read as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

/// Largest project file read: 2 MiB. An AME project with a thousand models
/// is ~300 KB; anything far larger is a mistake or an attack.
pub const MAX_PROJECT_FILE: u64 = 2 << 20;

/// Largest plugin component read: 256 MiB. A Python component built by
/// componentize-py (a whole CPython) is ~40 MB.
pub const MAX_PLUGIN_FILE: u64 = 256 << 20;

/// Why a bounded read failed.
#[derive(Debug)]
pub enum ReadError {
    /// The path is not a regular file (a directory, FIFO, device, socket).
    NotRegular(&'static str),
    /// The file is larger than the limit.
    TooLarge {
        /// Its size (or a lower bound, for a file that grew while read).
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// Opening or reading failed.
    Io(std::io::Error),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::NotRegular(kind) => write!(f, "it is {kind}, not a regular file"),
            ReadError::TooLarge { size, limit } => write!(
                f,
                "it is {} bytes, more than the limit of {}",
                size,
                crate::text::human_bytes(*limit)
            ),
            ReadError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ReadError {}

/// Opens `path` for reading without blocking on FIFOs, following symlinks
/// unless `nofollow`, and returns it only if it is a regular file.
pub fn open_regular(path: &Path, nofollow: bool) -> Result<(File, std::fs::Metadata), ReadError> {
    let mut flags = rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::CLOEXEC;
    if nofollow {
        flags |= rustix::fs::OFlags::NOFOLLOW;
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits() as i32)
        .open(path)
        .map_err(|e| {
            // O_NOFOLLOW on a symlink fails with ELOOP.
            if nofollow && e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
                ReadError::NotRegular("a symbolic link")
            } else {
                ReadError::Io(e)
            }
        })?;
    let meta = file.metadata().map_err(ReadError::Io)?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular(kind_of(&meta)));
    }
    Ok((file, meta))
}

/// Reads the regular file at `path`, at most `limit` bytes.
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let (file, meta) = open_regular(path, false)?;
    read_open(file, meta.len(), limit)
}

/// Reads an already opened regular file of (stated) size `size`, at most
/// `limit` bytes: a file that grows while being read is cut off and refused.
pub fn read_open(file: File, size: u64, limit: u64) -> Result<Vec<u8>, ReadError> {
    if size > limit {
        return Err(ReadError::TooLarge { size, limit });
    }
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge {
            size: bytes.len() as u64,
            limit,
        });
    }
    Ok(bytes)
}

fn kind_of(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt as _;
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "a special file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_devices_fifos_directories_and_large_files() {
        assert!(matches!(
            read_bounded(Path::new("/dev/zero"), 1 << 20),
            Err(ReadError::NotRegular("a character device"))
        ));
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(matches!(
            read_bounded(dir.path(), 1 << 20),
            Err(ReadError::NotRegular("a directory"))
        ));
        let fifo = dir.path().join("fifo");
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
        )
        .expect("mkfifo");
        // Would block forever in a plain `open`.
        assert!(matches!(
            read_bounded(&fifo, 1 << 20),
            Err(ReadError::NotRegular("a FIFO"))
        ));
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'x'; 1001]).expect("write");
        assert!(matches!(
            read_bounded(&big, 1000),
            Err(ReadError::TooLarge {
                size: 1001,
                limit: 1000
            })
        ));
        assert_eq!(read_bounded(&big, 1001).expect("fits").len(), 1001);
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&big, &link).expect("symlink");
        assert!(open_regular(&link, false).is_ok());
        assert!(matches!(
            open_regular(&link, true),
            Err(ReadError::NotRegular("a symbolic link"))
        ));
    }
}
