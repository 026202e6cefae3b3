//! Reading a file the proxy is about to trust (a plugin, its sidecar, a compiled
//! artifact) so that what is checked is what is read: the checks run on the open file,
//! never on the path again, and the read stops at a size cap.

use std::fs::Metadata;
use std::io::Read;
use std::path::Path;

/// How [`read_checked`] opens a file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Opening {
    /// Refuse a symlink as the last component (`O_NOFOLLOW`); the caller has checked
    /// where a followed one leads otherwise.
    pub follow_links: bool,
    /// The most bytes read: past it the read is refused, however large the file says it is
    /// (a sparse file, `/dev/zero`).
    pub max_bytes: u64,
}

/// The bytes of `path`, opened as `opening` says and without waiting for a writer (a
/// named pipe opens at once, and `accept` then refuses it as no regular file). `accept`
/// sees the open file's metadata first; its error is the read's.
pub(crate) fn read_checked(
    path: &Path,
    opening: Opening,
    accept: impl FnOnce(&Metadata) -> std::io::Result<()>,
) -> std::io::Result<Vec<u8>> {
    let mut options = std::fs::File::options();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        let no_follow = if opening.follow_links { 0 } else { libc::O_NOFOLLOW };
        options.custom_flags(libc::O_NONBLOCK | no_follow);
    }
    let file = options.open(path)?;
    let meta = file.metadata()?;
    accept(&meta)?;
    let max_bytes = opening.max_bytes;
    let too_large =
        || std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("over the {max_bytes} bytes it may have"));
    if meta.len() > max_bytes {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(max_bytes.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max_bytes {
        return Err(too_large());
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_past_its_cap_or_refused_by_its_check_is_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"12345").unwrap();
        let opening = |max_bytes| Opening { follow_links: true, max_bytes };
        assert_eq!(read_checked(&path, opening(5), |_| Ok(())).unwrap(), b"12345");
        let error = read_checked(&path, opening(4), |_| Ok(())).unwrap_err();
        assert!(error.to_string().contains("over the 4 bytes"), "{error}");
        let refused = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "no");
        let error = read_checked(&path, opening(5), |_| Err(refused)).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::PermissionDenied);
        #[cfg(unix)]
        {
            let link = dir.path().join("link");
            std::os::unix::fs::symlink(&path, &link).unwrap();
            assert!(read_checked(&link, Opening { follow_links: false, max_bytes: 5 }, |_| Ok(())).is_err());
            assert_eq!(read_checked(&link, opening(5), |_| Ok(())).unwrap(), b"12345");
        }
    }
}
