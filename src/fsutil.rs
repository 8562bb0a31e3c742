//! The files xenflux keeps, written and locked safely. Every file is replaced atomically: a
//! temporary file beside it (a unique name, created exclusively), written, synced, renamed over
//! the target, the directory synced; a crash at any point leaves the old content or the new,
//! never a torn or empty file. Locks are `flock`s on an open file: the kernel releases them when
//! the holder dies, so no stale lock outlives its process, and lock files are never deleted
//! (deleting races with the next opener). This module decides nothing about what it writes.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Replaces `path` with `data` atomically (mode 0666 less the umask, as a new file gets).
pub fn write_atomic(path: &Path, data: impl AsRef<[u8]>) -> io::Result<()> {
    write_atomic_inner(path, data.as_ref(), None, &mut || Ok(()))
}

/// Replaces `path` with `data` atomically; the file has exactly `mode` from its first byte on
/// (0600 for a secret, 0755 for a script).
pub fn write_atomic_mode(path: &Path, data: impl AsRef<[u8]>, mode: u32) -> io::Result<()> {
    write_atomic_inner(path, data.as_ref(), Some(mode), &mut || Ok(()))
}

/// Opens `path` for reading only if it is a regular file (after symlinks): a FIFO, a device
/// or a directory put where xenflux keeps a file is refused at once — never waited on (the open
/// does not block) and never read without end.
pub fn open_regular(path: &Path) -> io::Result<File> {
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    if !f.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not a regular file",
        ));
    }
    Ok(f)
}

/// The text of a regular file of at most `max` bytes ([`open_regular`]); Ok(None) when it does
/// not exist, an error when it is something else or larger (never read past `max` + 1 bytes).
pub fn read_small(path: &Path, max: u64) -> io::Result<Option<String>> {
    let f = match open_regular(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut text = String::new();
    f.take(max + 1).read_to_string(&mut text)?;
    if text.len() as u64 > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {max} bytes"),
        ));
    }
    Ok(Some(text))
}

/// Temporary names tried before giving up (another writer holding each is next to impossible).
const TEMP_ATTEMPTS: u32 = 16;

fn write_atomic_inner(
    path: &Path,
    data: &[u8],
    mode: Option<u32>,
    before_rename: &mut dyn FnMut() -> io::Result<()>,
) -> io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}: not a file name", path.display()),
        )
    })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let (tmp, mut file) = {
        let mut attempt = 0;
        loop {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let mut tmp_name = std::ffi::OsString::from(".");
            tmp_name.push(name);
            tmp_name.push(format!(".tmp.{}.{n}", std::process::id()));
            let tmp = dir.join(tmp_name);
            let opened = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(mode.unwrap_or(0o666))
                .open(&tmp);
            match opened {
                Ok(f) => break (tmp, f),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < TEMP_ATTEMPTS => {
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    };
    let written = (|| {
        if let Some(m) = mode {
            // The umask may have taken bits the caller asked for.
            file.set_permissions(std::fs::Permissions::from_mode(m))?;
        }
        file.write_all(data)?;
        file.sync_all()?;
        drop(file);
        before_rename()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    // The rename itself survives a power loss only once the directory is synced.
    File::open(&dir)?.sync_all()
}

/// An exclusive `flock` on a file, held until dropped (or the process dies).
#[derive(Debug)]
pub struct FileLock {
    file: File,
    path: PathBuf,
}

/// Why a lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{path}: {error}")]
    Io { path: PathBuf, error: io::Error },
    #[error("{path} is held by {holder} (waited {waited:?})")]
    TimedOut {
        path: PathBuf,
        holder: String,
        waited: Duration,
    },
}

impl FileLock {
    /// Takes the lock if nobody holds it; `Ok(None)` if someone does. The file is created
    /// (mode 0644) if missing and never removed.
    pub fn try_acquire(path: &Path) -> Result<Option<FileLock>, LockError> {
        let io = |error| LockError::Io {
            path: path.to_path_buf(),
            error,
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .open(path)
            .map_err(io)?;
        loop {
            // SAFETY: flock on a descriptor owned by `file`; no memory is passed.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if rc == 0 {
                return Ok(Some(FileLock {
                    file,
                    path: path.to_path_buf(),
                }));
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EWOULDBLOCK) => return Ok(None),
                _ => return Err(io(e)),
            }
        }
    }

    /// Takes the lock, waiting up to `limit` for its holder; `on_wait` runs once, when the
    /// lock is found held (to say that this waits).
    pub fn acquire(
        path: &Path,
        limit: Duration,
        on_wait: impl FnOnce(&str),
    ) -> Result<FileLock, LockError> {
        if let Some(l) = FileLock::try_acquire(path)? {
            return Ok(l);
        }
        on_wait(&holder(path));
        let started = Instant::now();
        let mut pause = Duration::from_millis(1);
        loop {
            if let Some(l) = FileLock::try_acquire(path)? {
                return Ok(l);
            }
            let waited = started.elapsed();
            if waited >= limit {
                return Err(LockError::TimedOut {
                    path: path.to_path_buf(),
                    holder: holder(path),
                    waited,
                });
            }
            std::thread::sleep(pause.min(limit - waited));
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }

    /// Records this process's id in the lock file, for the message another process shows.
    pub fn write_pid(&mut self) -> io::Result<()> {
        self.file.set_len(0)?;
        self.file.rewind()?;
        writeln!(self.file, "{}", std::process::id())?;
        self.file.flush()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Who holds the lock at `path`, as its file says: `pid N`, or `another process` when the
/// holder has not written its id within [`HOLDER_WRITES_WITHIN`] (a holder writes it right
/// after it takes the lock; a racer that lost may read the file in between).
pub fn holder(path: &Path) -> String {
    let deadline = Instant::now() + HOLDER_WRITES_WITHIN;
    loop {
        let mut text = String::new();
        let _ = open_regular(path).and_then(|f| f.take(32).read_to_string(&mut text));
        if let Ok(pid) = text.trim().parse::<u32>() {
            return format!("pid {pid}");
        }
        if Instant::now() >= deadline {
            return "another process".to_string();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// How long [`holder`] waits for a holder that has just taken the lock to write its id.
const HOLDER_WRITES_WITHIN: Duration = Duration::from_millis(500);

/// `FILE.lock` beside `file`: the lock every change of `file` takes.
pub fn lock_path(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {

    #[test]
    #[allow(clippy::disallowed_methods)]
    fn only_small_regular_files_are_read_and_a_fifo_is_never_waited_on() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        assert!(read_small(&p, 10).unwrap().is_none());
        std::fs::write(&p, "0123456789").unwrap();
        assert_eq!(read_small(&p, 10).unwrap().as_deref(), Some("0123456789"));
        assert!(read_small(&p, 9)
            .unwrap_err()
            .to_string()
            .contains("larger than 9"));
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let started = Instant::now();
        let e = read_small(&fifo, 10).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        assert!(read_small(dir.path(), 10).is_err(), "a directory");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    use super::*;

    fn entries(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_write_replaces_the_file_and_leaves_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sim.json");
        write_atomic(&p, "one").unwrap();
        write_atomic(&p, "two").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "two");
        assert_eq!(entries(dir.path()), vec!["sim.json"]);
    }

    #[test]
    fn a_write_failing_before_the_rename_keeps_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sim.json");
        write_atomic(&p, "old content").unwrap();
        let err = write_atomic_inner(&p, b"new", None, &mut || {
            Err(io::Error::other("disk pulled"))
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "disk pulled");
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "old content");
        assert_eq!(entries(dir.path()), vec!["sim.json"]);
    }

    #[test]
    fn a_write_into_a_missing_directory_fails_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("nope").join("x");
        assert!(write_atomic(&p, "x").is_err());
        assert!(entries(dir.path()).is_empty());
    }

    #[test]
    fn modes_are_exact() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("token");
        write_atomic_mode(&p, "s", 0o600).unwrap();
        let m = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(m, 0o600);
        write_atomic_mode(&p, "s", 0o755).unwrap();
        let m = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(m, 0o755);
    }

    #[test]
    fn one_holder_at_a_time_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.lock");
        let mut a = FileLock::try_acquire(&p).unwrap().expect("free");
        a.write_pid().unwrap();
        // A second open file description is a second locker, even in this process.
        assert!(FileLock::try_acquire(&p).unwrap().is_none());
        assert_eq!(holder(&p), format!("pid {}", std::process::id()));
        let e = FileLock::acquire(&p, Duration::from_millis(30), |_| {}).unwrap_err();
        assert!(e.to_string().contains("held by pid"), "{e}");
        drop(a);
        assert!(p.exists(), "lock files are never removed");
        // Waiting briefly: a process another test forks at this moment holds a copy of the
        // descriptor until its exec closes it.
        assert!(FileLock::acquire(&p, Duration::from_secs(5), |_| {}).is_ok());
    }

    #[test]
    fn a_waiter_gets_the_lock_when_the_holder_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.lock");
        let a = FileLock::try_acquire(&p).unwrap().unwrap();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            drop(a);
        });
        let mut waited = false;
        let b = FileLock::acquire(&p, Duration::from_secs(10), |_| waited = true);
        assert!(b.is_ok());
        assert!(waited);
        t.join().unwrap();
    }
}
