//! float32 `.npy` arrays, the batch format of the command line. Depends only on the public
//! `ebm` API, so tests (and fuzz/) can include it with `#[path]` to write and read inputs.
//!
//! The reader parses the format itself (a preamble, then a header that is a Python dict
//! literal, then the values) from any [`Read`]: the header's numbers never size an
//! allocation, so a header that claims a huge shape gets an error once the data runs out,
//! not a huge buffer first. The functions that take a path are thin wrappers whose errors
//! name the file.

use std::fmt;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use ebm::{Error, Result};

fn io(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads a float32 array `[n, dim]` (or `[n]` when `dim` is 1) of at least one row, with
/// finite values; errors name the file.
pub fn read_batch(path: &Path, dim: usize) -> Result<(usize, Vec<f32>)> {
    let file = File::open(path).map_err(|e| io(path, e))?;
    read_batch_from(BufReader::new(file), &path.display().to_string(), dim)
}

/// [`read_batch`] of a `.npy` file's bytes from `reader`; errors name `name`.
pub fn read_batch_from(mut reader: impl Read, name: &str, dim: usize) -> Result<(usize, Vec<f32>)> {
    let bad = bad_in(name);
    let header = read_header(&mut reader, name)?;
    let shape = &header.shape;
    let n = match shape[..] {
        [n, d] if d == dim => n,
        [n] if dim == 1 => n,
        _ => {
            return Err(bad(format!(
                "has shape {shape:?}; expected [batch, {dim}] to match the model"
            )))
        }
    };
    if n == 0 {
        return Err(bad("empty batch: at least one row is needed".into()));
    }
    Ok((n, read_finite(reader, &header, name)?))
}

/// Reads a float32 2-D array `[rows, columns]` of at least one row and one column, with
/// finite values: `(rows, columns, values)`. Errors name the file.
#[allow(dead_code)]
pub fn read_matrix(path: &Path) -> Result<(usize, usize, Vec<f32>)> {
    let file = File::open(path).map_err(|e| io(path, e))?;
    read_matrix_from(BufReader::new(file), &path.display().to_string())
}

/// [`read_matrix`] of a `.npy` file's bytes from `reader`; errors name `name`.
#[allow(dead_code)]
pub fn read_matrix_from(mut reader: impl Read, name: &str) -> Result<(usize, usize, Vec<f32>)> {
    let bad = bad_in(name);
    let header = read_header(&mut reader, name)?;
    let shape = &header.shape;
    let [rows, columns] = shape[..] else {
        return Err(bad(format!(
            "has shape {shape:?}; expected a 2-D array [rows, columns]"
        )));
    };
    if rows == 0 {
        return Err(bad("has no rows: at least one is needed".into()));
    }
    if columns == 0 {
        return Err(bad("has no columns: at least one is needed".into()));
    }
    Ok((rows, columns, read_finite(reader, &header, name)?))
}

/// An `Error::Input` naming `name`.
fn bad_in(name: &str) -> impl Fn(String) -> Error + '_ {
    move |m| Error::input(name, m)
}

/// The longest header read: numpy writes a float32 array's in 128 bytes or a few more
/// (`np.load` itself refuses headers over 10000 bytes unless told otherwise).
const MAX_HEADER: usize = 65_535;
/// Nesting of the header's Python literal beyond which it is refused (a float32 array's
/// is 2 deep: a dict holding a tuple).
const MAX_DEPTH: usize = 16;

/// A float32 array's header: its shape, in C order.
struct Header {
    shape: Vec<usize>,
    /// The values are stored big-endian (`'>f4'`).
    big_endian: bool,
}

/// Reads the preamble and header of a float32 array in C order.
fn read_header(reader: &mut impl Read, name: &str) -> Result<Header> {
    let bad = bad_in(name);
    let unreadable = |why: String| bad(format!("not a readable .npy file ({why})"));
    let mut preamble = [0u8; 8];
    reader
        .read_exact(&mut preamble)
        .map_err(|e| unreadable(format!("its preamble: {e}")))?;
    if &preamble[..6] != b"\x93NUMPY" {
        return Err(unreadable("it does not start with \\x93NUMPY".into()));
    }
    let (major, minor) = (preamble[6], preamble[7]);
    let len_bytes = match major {
        1 => 2,
        2 | 3 => 4,
        _ => {
            return Err(unreadable(format!(
                "format version {major}.{minor}; this reads 1.0, 2.0 and 3.0"
            )))
        }
    };
    let mut len = [0u8; 4];
    reader
        .read_exact(&mut len[..len_bytes])
        .map_err(|e| unreadable(format!("its header length: {e}")))?;
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_HEADER {
        return Err(unreadable(format!(
            "its header claims {len} bytes; a float32 array's needs a few hundred"
        )));
    }
    let mut text = Vec::new();
    reader
        .take(len as u64)
        .read_to_end(&mut text)
        .map_err(|e| unreadable(format!("its header: {e}")))?;
    if text.len() < len {
        return Err(unreadable(format!(
            "its header claims {len} bytes, the file holds {}",
            text.len()
        )));
    }
    // Versions 1 and 2 are latin-1, 3 is UTF-8.
    let text: String = if major == 3 {
        String::from_utf8(text).map_err(|_| unreadable("its header is not UTF-8".into()))?
    } else {
        text.iter().map(|&b| char::from(b)).collect()
    };
    let dict = match Literal::parse(&text).map_err(|e| unreadable(format!("its header: {e}")))? {
        Literal::Dict(entries) => entries,
        _ => return Err(unreadable("its header is not a Python dict".into())),
    };
    let key = |k: &str| {
        dict.iter()
            .rev()
            .find(|(key, _)| matches!(key, Literal::Str(s) if s == k))
            .map(|(_, v)| v)
            .ok_or_else(|| unreadable(format!("its header lacks the key '{k}'")))
    };
    let big_endian = match key("descr")? {
        Literal::Str(s) if s == "<f4" => false,
        Literal::Str(s) if s == ">f4" => true,
        Literal::Str(s) if s == "=f4" => cfg!(target_endian = "big"),
        other => {
            return Err(bad(format!(
                "has dtype {other}; expected float32 (save with .astype(np.float32))"
            )))
        }
    };
    match key("fortran_order")? {
        Literal::Bool(false) => {}
        Literal::Bool(true) => {
            return Err(bad(
                "is stored in Fortran order; save np.ascontiguousarray(a) instead".into(),
            ))
        }
        other => {
            return Err(unreadable(format!(
                "its header's fortran_order is {other}, not True or False"
            )))
        }
    }
    let shape = match key("shape")? {
        Literal::Tuple(items) | Literal::List(items) => items
            .iter()
            .map(|d| match d {
                Literal::Int(d) => usize::try_from(*d).ok(),
                _ => None,
            })
            .collect::<Option<Vec<usize>>>(),
        _ => None,
    }
    .ok_or_else(|| {
        unreadable(format!(
            "its header's shape {} is not a tuple of whole numbers",
            key("shape").map_or_else(|_| String::new(), |s| s.to_string())
        ))
    })?;
    Ok(Header { shape, big_endian })
}

/// The array's values, every one finite, read from what follows the header: no more than
/// its shape needs, and never allocated ahead of the bytes that hold them.
fn read_finite(reader: impl Read, header: &Header, name: &str) -> Result<Vec<f32>> {
    let bad = bad_in(name);
    let shape = &header.shape;
    let bytes = shape
        .iter()
        .try_fold(4usize, |n, &d| n.checked_mul(d))
        .ok_or_else(|| {
            bad(format!(
                "has shape {shape:?}: more values than memory can hold"
            ))
        })?;
    let mut raw = Vec::new();
    reader
        .take(bytes as u64)
        .read_to_end(&mut raw)
        .map_err(|e| bad(format!("could not read its data, is it truncated? ({e})")))?;
    if raw.len() < bytes {
        return Err(bad(format!(
            "could not read its data, is it truncated? (shape {shape:?} needs {bytes} bytes of values, the file holds {})",
            raw.len()
        )));
    }
    let word = |b: &[u8]| -> [u8; 4] { [b[0], b[1], b[2], b[3]] };
    let data: Vec<f32> = if header.big_endian {
        raw.chunks_exact(4)
            .map(|b| f32::from_be_bytes(word(b)))
            .collect()
    } else {
        raw.chunks_exact(4)
            .map(|b| f32::from_le_bytes(word(b)))
            .collect()
    };
    if let Some(i) = data.iter().position(|v| !v.is_finite()) {
        return Err(bad(format!(
            "the array holds a non-finite value ({}) at flat index {i}",
            data[i]
        )));
    }
    Ok(data)
}

/// A Python literal, as far as `.npy` headers use them.
#[derive(Debug, PartialEq)]
enum Literal {
    Str(String),
    Int(u64),
    /// A negative whole number (never a valid dimension): its magnitude.
    Negative(u64),
    Bool(bool),
    None,
    Tuple(Vec<Literal>),
    List(Vec<Literal>),
    Dict(Vec<(Literal, Literal)>),
}

impl Literal {
    /// The one literal of `text`, surrounded by whitespace at most.
    fn parse(text: &str) -> std::result::Result<Literal, String> {
        let mut p = Parser {
            chars: text.chars().collect(),
            at: 0,
        };
        let value = p.value(0)?;
        p.space();
        match p.peek() {
            None => Ok(value),
            Some(c) => Err(format!("unexpected {c:?} after the dict")),
        }
    }
}

/// Written as Python would (for messages).
impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seq = |f: &mut fmt::Formatter<'_>, items: &[Literal]| -> fmt::Result {
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    write!(f, ", ")?;
                }
                write!(f, "{v}")?;
            }
            Ok(())
        };
        match self {
            Literal::Str(s) => write!(f, "'{s}'"),
            Literal::Int(n) => write!(f, "{n}"),
            Literal::Negative(n) => write!(f, "-{n}"),
            Literal::Bool(true) => write!(f, "True"),
            Literal::Bool(false) => write!(f, "False"),
            Literal::None => write!(f, "None"),
            Literal::Tuple(items) => {
                write!(f, "(")?;
                seq(f, items)?;
                write!(f, "{})", if items.len() == 1 { "," } else { "" })
            }
            Literal::List(items) => {
                write!(f, "[")?;
                seq(f, items)?;
                write!(f, "]")
            }
            Literal::Dict(entries) => {
                write!(f, "{{")?;
                for (i, (k, v)) in entries.iter().enumerate() {
                    write!(f, "{}{k}: {v}", if i > 0 { ", " } else { "" })?;
                }
                write!(f, "}}")
            }
        }
    }
}

/// The items between brackets: values, or keys with their values.
type Items = Vec<(Literal, Option<Literal>)>;

/// A recursive-descent reader of [`Literal`]s, nesting at most [`MAX_DEPTH`] deep.
struct Parser {
    chars: Vec<char>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn space(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.at += 1;
        }
    }

    fn value(&mut self, depth: usize) -> std::result::Result<Literal, String> {
        if depth > MAX_DEPTH {
            return Err(format!("nested more than {MAX_DEPTH} deep"));
        }
        self.space();
        let Some(c) = self.peek() else {
            return Err("it ends where a value should be".into());
        };
        match c {
            '{' => {
                let mut entries = Vec::new();
                for item in self.items('}', depth)?.0 {
                    match item {
                        (k, Some(v)) => entries.push((k, v)),
                        (k, None) => return Err(format!("the dict's key {k} has no value")),
                    }
                }
                Ok(Literal::Dict(entries))
            }
            '(' | '[' => {
                let close = if c == '(' { ')' } else { ']' };
                let (items, trailing_comma) = self.items(close, depth)?;
                let mut values = Vec::new();
                for item in items {
                    match item {
                        (v, None) => values.push(v),
                        (_, Some(_)) => return Err(format!("a ':' inside {c}{close}")),
                    }
                }
                Ok(match c {
                    // `(3)` is the number 3 in Python, `(3,)` a tuple.
                    '(' if values.len() == 1 && !trailing_comma => values.remove(0),
                    '(' => Literal::Tuple(values),
                    _ => Literal::List(values),
                })
            }
            '\'' | '"' => self.string(c),
            '-' | '0'..='9' => self.number(),
            _ => {
                let start = self.at;
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
                {
                    self.at += 1;
                }
                let word: String = self.chars[start..self.at].iter().collect();
                match word.as_str() {
                    "True" => Ok(Literal::Bool(true)),
                    "False" => Ok(Literal::Bool(false)),
                    "None" => Ok(Literal::None),
                    "" => Err(format!("unexpected {c:?}")),
                    other => Err(format!("unexpected name {other:?}")),
                }
            }
        }
    }

    /// The comma-separated items after an opening bracket, up to `close`, each a value or
    /// a key and its value after a ':'; and whether a comma follows the last.
    fn items(&mut self, close: char, depth: usize) -> std::result::Result<(Items, bool), String> {
        self.at += 1;
        let mut items = Vec::new();
        let mut comma = false;
        loop {
            self.space();
            if self.peek() == Some(close) {
                self.at += 1;
                return Ok((items, comma));
            }
            let first = self.value(depth + 1)?;
            self.space();
            let second = if self.peek() == Some(':') {
                self.at += 1;
                Some(self.value(depth + 1)?)
            } else {
                None
            };
            items.push((first, second));
            self.space();
            comma = self.peek() == Some(',');
            match self.peek() {
                Some(',') => self.at += 1,
                Some(c) if c == close => {}
                Some(c) => {
                    return Err(format!("unexpected {c:?} where ',' or {close:?} should be"))
                }
                None => return Err(format!("it ends before the closing {close:?}")),
            }
        }
    }

    fn string(&mut self, quote: char) -> std::result::Result<Literal, String> {
        self.at += 1;
        let mut s = String::new();
        loop {
            match self.peek() {
                None => return Err("a string is not closed".into()),
                Some(c) if c == quote => {
                    self.at += 1;
                    return Ok(Literal::Str(s));
                }
                Some('\\') => {
                    self.at += 1;
                    let Some(c) = self.peek() else {
                        return Err("a string is not closed".into());
                    };
                    s.push(c);
                    self.at += 1;
                }
                Some(c) => {
                    s.push(c);
                    self.at += 1;
                }
            }
        }
    }

    /// A whole number, with Python 2's `L` suffix allowed (numpy wrote `(3L, 4L)` there).
    fn number(&mut self) -> std::result::Result<Literal, String> {
        let negative = self.peek() == Some('-');
        if negative {
            self.at += 1;
            self.space();
        }
        let mut n: u64 = 0;
        let mut digits = 0;
        while let Some(d) = self.peek().and_then(|c| c.to_digit(10)) {
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(d)))
                .ok_or("a number larger than 2^64")?;
            digits += 1;
            self.at += 1;
        }
        if digits == 0 {
            return Err("a '-' without a number".into());
        }
        if matches!(self.peek(), Some('L' | 'l')) {
            self.at += 1;
        }
        if self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
        {
            return Err("a number that is not a whole number".into());
        }
        Ok(if negative {
            Literal::Negative(n)
        } else {
            Literal::Int(n)
        })
    }
}

/// Writes a float32 array of the given shape (for the tests that include this file: the
/// command line itself reads .npy files only).
#[allow(dead_code)]
pub fn write_f32(path: &Path, shape: &[usize], data: &[f32]) -> Result<()> {
    use npyz::WriterBuilder;
    let shape: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
    let file = File::create(path).map_err(|e| io(path, e))?;
    let mut writer = npyz::WriteOptions::new()
        .default_dtype()
        .shape(&shape)
        .writer(std::io::BufWriter::new(file))
        .begin_nd()
        .map_err(|e| io(path, e))?;
    writer
        .extend(data.iter().copied())
        .map_err(|e| io(path, e))?;
    writer.finish().map_err(|e| io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_bad_values_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.npy");
        write_f32(&p, &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        assert_eq!(
            read_batch(&p, 3).unwrap(),
            (2, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
        );
        assert_eq!(
            read_matrix(&p).unwrap(),
            (2, 3, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
        );
        let err = read_batch(&p, 2).unwrap_err().to_string();
        assert!(
            err.contains("a.npy") && err.contains("expected [batch, 2]"),
            "{err}"
        );
        write_f32(&p, &[2], &[1.0, f32::NAN]).unwrap();
        let err = read_matrix(&p).unwrap_err().to_string();
        assert!(err.contains("expected a 2-D array"), "{err}");
        let err = read_batch(&p, 1).unwrap_err().to_string();
        assert!(
            err.contains("non-finite value (NaN) at flat index 1"),
            "{err}"
        );
        let err = read_batch(&dir.path().join("none.npy"), 1).unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{err}");
    }

    /// A `.npy` file of format `version` with `header` (padded as numpy pads it) and
    /// `data` after it.
    fn npy(version: u8, header: &str, data: &[u8]) -> Vec<u8> {
        let mut text = header.to_string();
        let fixed = if version == 1 { 10 } else { 12 };
        while (fixed + text.len() + 1) % 64 != 0 {
            text.push(' ');
        }
        text.push('\n');
        let mut out = b"\x93NUMPY".to_vec();
        out.extend([version, 0]);
        if version == 1 {
            out.extend((text.len() as u16).to_le_bytes());
        } else {
            out.extend((text.len() as u32).to_le_bytes());
        }
        out.extend(text.as_bytes());
        out.extend(data);
        out
    }

    fn le(values: &[f32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    fn matrix(bytes: &[u8]) -> Result<(usize, usize, Vec<f32>)> {
        read_matrix_from(bytes, "m.npy")
    }

    fn matrix_err(bytes: &[u8]) -> String {
        matrix(bytes).unwrap_err().to_string()
    }

    #[test]
    fn headers_as_numpy_and_others_write_them() {
        let values = le(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let want = (2, 3, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let numpy = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
        for version in [1, 2, 3] {
            assert_eq!(matrix(&npy(version, numpy, &values)).unwrap(), want);
        }
        let others = [
            // Python 2's numpy, double quotes, a list, no trailing comma, keys reordered.
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3L), }",
            r#"{"shape": [2, 3], "fortran_order": False, "descr": "<f4"}"#,
        ];
        for header in others {
            assert_eq!(matrix(&npy(1, header, &values)).unwrap(), want, "{header}");
        }
        let big: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect();
        let header = "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }";
        assert_eq!(matrix(&npy(1, header, &big)).unwrap(), want);
        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }";
        let (n, data) = read_batch_from(&npy(1, header, &values)[..], "b.npy", 1).unwrap();
        assert_eq!(
            (n, data.len()),
            (4, 4),
            "the values after the shape's are ignored"
        );
    }

    #[test]
    fn huge_shapes_and_short_files_are_errors_not_allocations() {
        let values = le(&[1.0, 2.0]);
        let cases = [
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4611686018427387904), }",
                "more values than memory can hold",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 1024), }",
                "is it truncated? (shape [1099511627776, 1024] needs 4503599627370496 bytes of values, the file holds 8)",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (36893488147419103232, 1), }",
                "a number larger than 2^64",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 2), }",
                "its header's shape (-1, 2) is not a tuple of whole numbers",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (2), }",
                "its header's shape 2 is not a tuple",
            ),
            (
                "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1), }",
                "has dtype '<f8'; expected float32",
            ),
            (
                "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1, 1), }",
                "has dtype [('a', '<f4')]; expected float32",
            ),
            (
                "{'descr': '<f4', 'fortran_order': True, 'shape': (1, 2), }",
                "Fortran order",
            ),
            (
                "{'descr': '<f4', 'shape': (1, 2), }",
                "lacks the key 'fortran_order'",
            ),
            ("[1, 2]", "its header is not a Python dict"),
            ("{'descr': '<f4'", "it ends before the closing '}'"),
        ];
        for (header, want) in cases {
            let err = matrix_err(&npy(1, header, &values));
            assert!(
                err.starts_with("m.npy: ") && err.contains(want),
                "{err}\n  expected: {want}"
            );
        }
        let deep = format!("{}{}", "[".repeat(30_000), "]".repeat(30_000));
        let err = matrix_err(&npy(2, &deep, &values));
        assert!(err.contains("nested more than 16 deep"), "{err}");
        for (bytes, want) in [
            (
                &b"\x93NUMPY\x01\x00\xff\xff{"[..],
                "its header claims 65535 bytes, the file holds 1",
            ),
            (
                &b"\x93NUMPY\x02\x00\xff\xff\xff\xff{"[..],
                "its header claims 4294967295 bytes",
            ),
            (&b"\x93NUMPY\x04\x00"[..], "format version 4.0"),
            (&b"this is not numpy"[..], "does not start with \\x93NUMPY"),
            (&b"\x93NUM"[..], "not a readable .npy file (its preamble"),
        ] {
            let err = matrix_err(bytes);
            assert!(err.contains(want), "{err}\n  expected: {want}");
        }
    }
}
