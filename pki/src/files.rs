//! File handling shared by the tool and the daemon: reading credentials,
//! spotting private keys that others can read, and writing key files 0600
//! without clobbering (swanctl's `private/` convention, ecosystem §3 item 6).

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Mode bits that let group or others read a file.
const GROUP_OTHER_READ: u32 = 0o044;

/// If `path` is readable by group or others, its mode (for a warning).
pub fn exposed_key_mode(path: &Path) -> io::Result<Option<u32>> {
    let mode = fs::metadata(path)?.permissions().mode() & 0o7777;
    Ok((mode & GROUP_OTHER_READ != 0).then_some(mode))
}

/// Write `data` to `path` with `mode` (0o600 for keys). Without `force` the
/// file must not exist (O_EXCL); with it an existing file is replaced and
/// its mode reset.
pub fn write_new(path: &Path, data: &[u8], mode: u32, force: bool) -> io::Result<()> {
    let mut opts = OpenOptions::new();
    opts.write(true).mode(mode);
    if force {
        opts.create(true).truncate(true);
    } else {
        opts.create_new(true);
    }
    let mut f = opts.open(path)?;
    // An existing file keeps its old mode under O_TRUNC: reset it.
    f.set_permissions(fs::Permissions::from_mode(mode))?;
    f.write_all(data)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_0600_and_not_clobbered() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k.pem");
        write_new(&p, b"one", 0o600, false).unwrap();
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(exposed_key_mode(&p).unwrap(), None);
        let err = write_new(&p, b"two", 0o600, false).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(exposed_key_mode(&p).unwrap(), Some(0o644));
        write_new(&p, b"two", 0o600, true).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(exposed_key_mode(&p).unwrap(), None);
    }
}
