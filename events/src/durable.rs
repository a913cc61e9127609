//! Files we write ourselves beside the log (the acknowledged-head marker, the projection
//! checkpoint and snapshot), replaced atomically **and durably**.
//!
//! A rename alone is atomic but not durable: after a power cut the directory may still name
//! the old file, or name the new one with its data not yet on disk. So the temporary file is
//! synced before the rename, and the directory after it; only then does the new file count.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use crate::error::{io_err, StoreError};

/// Replaces `dir/name` with `bytes`: written to `name.tmp`, synced, renamed into place, and the
/// directory synced.
///
/// # Errors
/// [`StoreError::Io`] naming the file that could not be written, synced or renamed. On an
/// error the old file (if any) is still in place.
pub fn replace(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
    let tmp = dir.join(format!("{name}.tmp"));
    let mut file = File::create(&tmp).map_err(io_err("cannot write", &tmp))?;
    file.write_all(bytes)
        .map_err(io_err("cannot write", &tmp))?;
    file.sync_all().map_err(io_err("cannot sync", &tmp))?;
    drop(file);
    let path = dir.join(name);
    std::fs::rename(&tmp, &path).map_err(io_err("cannot replace", &path))?;
    sync_dir(dir)
}

/// Syncs a directory, so the names it holds (a rename, a new file) survive a power cut.
///
/// # Errors
/// [`StoreError::Io`] naming the directory.
pub fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("cannot sync directory", dir))
}
