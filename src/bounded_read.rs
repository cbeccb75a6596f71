//! Reading a whole file that someone else may have put in place: only a regular file, opened
//! without blocking (opening a named pipe waits for a writer), and no more than a limit (a
//! device reads without end, a file may grow while it is read).

use std::io::Read;
use std::path::Path;

/// Why a file was not read.
#[derive(Debug)]
pub enum Refused {
    /// It could not be opened or read (`NotFound` among them).
    Io(std::io::Error),
    /// A named pipe, a device, a socket or a folder.
    NotRegular,
    /// Larger than the limit (its size when known, else the limit plus one).
    TooLarge(u64),
}

/// The bytes of the regular file at `path`, if it holds at most `max`.
pub fn read(path: &Path, max: u64) -> Result<Vec<u8>, Refused> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(Refused::Io)?;
    let meta = f.metadata().map_err(Refused::Io)?;
    if !meta.is_file() {
        return Err(Refused::NotRegular);
    }
    if meta.len() > max {
        return Err(Refused::TooLarge(meta.len()));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    f.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(Refused::Io)?;
    if bytes.len() as u64 > max {
        return Err(Refused::TooLarge(max + 1));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_file_up_to_the_limit_and_refuses_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"12345").unwrap();
        assert_eq!(read(&p, 5).unwrap(), b"12345");
        assert!(matches!(read(&p, 4), Err(Refused::TooLarge(5))));
        assert!(matches!(read(dir.path(), 5), Err(Refused::NotRegular)));
        assert!(matches!(
            read(Path::new("/dev/zero"), 5),
            Err(Refused::NotRegular)
        ));
        assert!(matches!(
            read(&dir.path().join("none"), 5),
            Err(Refused::Io(e)) if e.kind() == std::io::ErrorKind::NotFound
        ));
    }
}
