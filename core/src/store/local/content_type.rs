//! Where the local store keeps an object's content type: an extended attribute of the object's own file.
//!
//! The attribute is set on the temporary file before it is synced and renamed, so the type lands with the
//! bytes, atomically and durably, and costs no second file. A sidecar file per object (what every object had
//! before) doubled the inodes the pipeline creates per item; on ext4 without a journal each new inode walks
//! past the recently deleted ones, which made inode creation most of the embedded pipeline's own CPU.
//! Where the attribute cannot be set — file systems without user attributes (some FUSE and older overlay or
//! tmpfs mounts) or that refuse them to this user — the object still gets the sidecar, and objects stored
//! with one stay readable. A write never fails for want of attributes: if the sidecar cannot be written
//! either, that error is the disk's, and it is reported.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use xattr::FileExt;

/// The extended attribute holding the content type.
const ATTR: &str = "user.mediamill.content_type";
/// The sidecar file's suffix, where attributes are not supported (and on objects stored before them).
pub const SIDECAR_SUFFIX: &str = ".mm-content-type";
/// What an object with no recorded type is served as.
const UNKNOWN: &str = "application/octet-stream";

/// Records `content_type` for the object being written in `file`, which will be renamed to `dest`.
pub fn record(file: &File, dest: &Path, content_type: &str) -> io::Result<()> {
    match file.set_xattr(ATTR, content_type.as_bytes()) {
        Ok(()) => Ok(()),
        Err(_) => std::fs::write(sidecar(dest), content_type.as_bytes()),
    }
}

/// The content type recorded for the object at `path`: its attribute, else its sidecar, else [`UNKNOWN`].
///
/// The attribute wins over a sidecar, since an object rewritten after an upgrade may still have a stale
/// sidecar beside it.
pub fn read(file: &File, path: &Path) -> String {
    let attr = file.get_xattr(ATTR).ok().flatten().and_then(|v| String::from_utf8(v).ok());
    attr.or_else(|| std::fs::read_to_string(sidecar(path)).ok()).unwrap_or_else(|| UNKNOWN.to_string())
}

/// The sidecar file of the object at `path`.
pub fn sidecar(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(SIDECAR_SUFFIX);
    PathBuf::from(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_type_travels_with_the_file_through_a_rename() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (tmp, dest) = (dir.path().join("tmp"), dir.path().join("object"));
        let f = File::create(&tmp).expect("create");
        record(&f, &dest, "image/webp").expect("record");
        std::fs::rename(&tmp, &dest).expect("rename");
        let f = File::open(&dest).expect("open");
        assert_eq!(read(&f, &dest), "image/webp");
        // One place or the other, never both: where attributes are kept no second file is made.
        match xattr::get(&dest, ATTR) {
            Ok(Some(v)) => {
                assert_eq!(v, b"image/webp");
                assert!(!sidecar(&dest).exists());
            }
            _ => assert!(sidecar(&dest).exists()),
        }
    }

    #[test]
    fn a_sidecar_from_before_is_read_and_an_attribute_wins_over_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("object");
        std::fs::write(&path, b"bytes").expect("write");
        std::fs::write(sidecar(&path), "image/jpeg").expect("sidecar");
        let f = File::open(&path).expect("open");
        assert_eq!(read(&f, &path), "image/jpeg");
        record(&File::options().write(true).open(&path).expect("open"), &path, "image/png").expect("record");
        assert_eq!(read(&f, &path), "image/png");
    }

    #[test]
    fn where_attributes_are_refused_a_sidecar_holds_the_type() {
        let dir = tempfile::tempdir().expect("tempdir");
        let dest = dir.path().join("object");
        std::fs::write(&dest, b"bytes").expect("write");
        // Linux keeps user attributes on regular files and folders only: a device file refuses them.
        let refusing = File::options().write(true).open("/dev/null").expect("open /dev/null");
        assert!(refusing.set_xattr(ATTR, b"x").is_err());
        record(&refusing, &dest, "video/mp4").expect("the sidecar instead");
        assert_eq!(std::fs::read_to_string(sidecar(&dest)).expect("sidecar"), "video/mp4");
        assert_eq!(read(&File::open(&dest).expect("open"), &dest), "video/mp4");
    }

    #[test]
    fn nothing_recorded_reads_as_octet_stream() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("object");
        std::fs::write(&path, b"bytes").expect("write");
        assert_eq!(read(&File::open(&path).expect("open"), &path), UNKNOWN);
    }
}
