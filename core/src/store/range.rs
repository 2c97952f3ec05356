//! HTTP byte ranges (`Range: bytes=…`), so players can seek in stored videos.

/// One byte range as a client asked for it; resolved against the object's size by [`ByteRange::resolve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// `bytes=a-b`, both inclusive.
    FromTo(u64, u64),
    /// `bytes=a-`
    From(u64),
    /// `bytes=-n`: the last n bytes.
    Suffix(u64),
}

impl ByteRange {
    /// Parses a `Range` header with a single range; `None` for anything else (callers then send the whole object,
    /// as RFC 9110 allows).
    pub fn parse(header: &str) -> Option<ByteRange> {
        let spec = header.trim().strip_prefix("bytes=")?;
        if spec.contains(',') {
            return None;
        }
        let (a, b) = spec.split_once('-')?;
        let (a, b) = (a.trim(), b.trim());
        match (a.is_empty(), b.is_empty()) {
            (true, false) => Some(ByteRange::Suffix(b.parse().ok()?)),
            (false, true) => Some(ByteRange::From(a.parse().ok()?)),
            (false, false) => {
                let (s, e) = (a.parse().ok()?, b.parse().ok()?);
                (s <= e).then_some(ByteRange::FromTo(s, e))
            }
            (true, true) => None,
        }
    }

    /// The inclusive range within an object of `size` bytes, or `None` when it is not satisfiable.
    pub fn resolve(self, size: u64) -> Option<(u64, u64)> {
        if size == 0 {
            return None;
        }
        let last = size - 1;
        match self {
            ByteRange::FromTo(s, e) if s <= last => Some((s, e.min(last))),
            ByteRange::From(s) if s <= last => Some((s, last)),
            ByteRange::Suffix(n) if n > 0 => Some((size - n.min(size), last)),
            _ => None,
        }
    }

    /// The header form, for backends that take it as is.
    pub fn to_header(self) -> String {
        match self {
            ByteRange::FromTo(s, e) => format!("bytes={s}-{e}"),
            ByteRange::From(s) => format!("bytes={s}-"),
            ByteRange::Suffix(n) => format!("bytes=-{n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ByteRange::*;
    use super::*;

    #[test]
    fn parses_and_resolves() {
        assert_eq!(ByteRange::parse("bytes=0-99"), Some(FromTo(0, 99)));
        assert_eq!(ByteRange::parse("bytes=5-"), Some(From(5)));
        assert_eq!(ByteRange::parse("bytes=-10"), Some(Suffix(10)));
        assert_eq!(FromTo(0, 999).resolve(100), Some((0, 99)));
        assert_eq!(Suffix(10).resolve(100), Some((90, 99)));
        assert_eq!(Suffix(1000).resolve(100), Some((0, 99)));
        assert_eq!(From(100).resolve(100), None);
    }

    #[test]
    fn hostile_headers_are_ignored() {
        for h in [
            "",
            "bytes=",
            "bytes=-",
            "bytes=9-1",
            "bytes=0-1,3-4",
            "items=0-1",
            "bytes=a-b",
            "bytes=99999999999999999999999-",
        ] {
            assert_eq!(ByteRange::parse(h), None, "{h:?}");
        }
    }
}
