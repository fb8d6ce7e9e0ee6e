//! Reads of outside files with a size that fits their purpose: a path that is `/dev/zero`, a
//! FIFO or a huge file must fail with one line, not fill the memory or hang.

use std::io::{BufRead, Read};
use std::path::Path;

/// A request body: the API takes at most 1 MiB.
pub const BODY: u64 = 1 << 20;
/// A config file, the credentials file, a CA bundle.
pub const SMALL_FILE: u64 = 4 << 20;

/// A line typed or pasted at a prompt (a secret, a redirect URL).
pub const LINE: u64 = 64 << 10;

/// One line of at most `limit` bytes, without its line ending (`\n` or `\r\n`); None at the
/// end of the input; an error for a longer line or one that is not UTF-8.
pub fn read_line(input: &mut impl BufRead, limit: u64) -> std::io::Result<Option<String>> {
    let mut bytes = Vec::new();
    let n = input
        .take(limit.saturating_add(1))
        .read_until(b'\n', &mut bytes)?;
    if n == 0 {
        return Ok(None);
    }
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
    } else if bytes.len() as u64 > limit {
        return Err(std::io::Error::other("line too long"));
    }
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text"))
}

/// Read a regular file of at most `limit` bytes. Anything else (a device, a FIFO, a
/// directory) is refused before a byte is read, so `/dev/zero` cannot fill the memory and a
/// FIFO nobody writes to cannot hang.
pub fn read_file(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let file = std::fs::File::open(path)?;
    read_capped(file, limit)
}

/// Like `read_file`, as UTF-8 text.
pub fn read_text(path: &Path, limit: u64) -> std::io::Result<String> {
    String::from_utf8(read_file(path, limit)?)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text"))
}

/// Read at most `limit` bytes from `input` (stdin, say); more is an error.
pub fn read_capped(input: impl Read, limit: u64) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    input
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(std::io::Error::other(format!(
            "larger than {} KiB",
            limit / 1024
        )));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_and_refuses_what_is_not_a_regular_file() {
        assert_eq!(read_capped(&b"abc"[..], 3).unwrap(), b"abc");
        let mut lines = &b"ab\r\ncd\nlonger line\nef"[..];
        assert_eq!(read_line(&mut lines, 4).unwrap().as_deref(), Some("ab"));
        assert_eq!(read_line(&mut lines, 4).unwrap().as_deref(), Some("cd"));
        assert!(read_line(&mut lines, 4).is_err());
        assert!(read_capped(&b"abcd"[..], 3).is_err());
        #[cfg(unix)]
        {
            assert!(read_file(Path::new("/dev/zero"), 10).is_err());
            assert!(read_file(Path::new("/"), 10).is_err());
        }
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_and_limit_read_as_lines(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512), limit in 0u64..64) {
            let mut input = &bytes[..];
            for _ in 0..600 {
                match read_line(&mut input, limit) {
                    Ok(Some(line)) => proptest::prop_assert!(line.len() as u64 <= limit),
                    Ok(None) | Err(_) => break,
                }
            }
        }
    }
}
