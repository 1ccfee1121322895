//! NumPy's `.npy` format: the header, and the element types the loaders
//! convert to `f32`.
//!
//! Read: versions 1.0, 2.0 and 3.0; C order (`fortran_order: False`); any
//! shape. Element types and their conversion to `f32`:
//!
//! | `descr` | conversion |
//! |---|---|
//! | `f4` (`<`, `>`) | none |
//! | `f8` | rounded to the nearest `f32`; beyond its range, ±infinity |
//! | `f2` | exact |
//! | `i1 i2 u1 u2` | exact |
//! | `i4 i8 u4 u8` | rounded to the nearest `f32` (exact up to 2²⁴ in magnitude) |
//! | `b1` (bool) | 0 or 1 |
//!
//! Anything else (complex, strings, objects, datetimes) is an error that
//! names the type. Written: `<f4`, C order, version 1.0 (2.0 where the
//! header needs a 32-bit length).

use std::fmt;

/// The magic string every `.npy` file starts with.
const MAGIC: &[u8] = b"\x93NUMPY";

/// An element type the loaders read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dtype {
    F16,
    F32,
    F64,
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    U64,
    Bool,
}

impl Dtype {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Dtype::I8 | Dtype::U8 | Dtype::Bool => 1,
            Dtype::F16 | Dtype::I16 | Dtype::U16 => 2,
            Dtype::F32 | Dtype::I32 | Dtype::U32 => 4,
            Dtype::F64 | Dtype::I64 | Dtype::U64 => 8,
        }
    }
}

/// A parsed header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub dtype: Dtype,
    pub big_endian: bool,
    pub shape: Vec<usize>,
    /// Bytes before the data: magic, version, length field and header text.
    pub data_offset: usize,
}

/// Why a header could not be read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum HeaderError {
    /// More bytes are needed: at least this many in all.
    NeedBytes(usize),
    /// The header is malformed or describes data we do not read.
    Invalid(String),
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderError::NeedBytes(n) => write!(f, "truncated header (needs {n} bytes)"),
            HeaderError::Invalid(why) => f.write_str(why),
        }
    }
}

/// Parses the header at the start of `bytes`.
pub(crate) fn parse_header(bytes: &[u8]) -> Result<Header, HeaderError> {
    let invalid = |why: String| HeaderError::Invalid(why);
    if bytes.len() < MAGIC.len() + 2 {
        if !MAGIC.starts_with(&bytes[..bytes.len().min(MAGIC.len())]) {
            return Err(invalid("not a .npy file (no \\x93NUMPY magic)".into()));
        }
        return Err(HeaderError::NeedBytes(MAGIC.len() + 4));
    }
    if &bytes[..MAGIC.len()] != MAGIC {
        return Err(invalid("not a .npy file (no \\x93NUMPY magic)".into()));
    }
    let major = bytes[6];
    let (len_bytes, text_len) = match major {
        1 => {
            if bytes.len() < 10 {
                return Err(HeaderError::NeedBytes(10));
            }
            (2, u16::from_le_bytes([bytes[8], bytes[9]]) as usize)
        }
        2 | 3 => {
            if bytes.len() < 12 {
                return Err(HeaderError::NeedBytes(12));
            }
            (
                4,
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            )
        }
        v => {
            return Err(invalid(format!(
                "unsupported .npy version {v}.{}",
                bytes[7]
            )))
        }
    };
    let start = 8 + len_bytes;
    let data_offset = start + text_len;
    if bytes.len() < data_offset {
        return Err(HeaderError::NeedBytes(data_offset));
    }
    let text = std::str::from_utf8(&bytes[start..data_offset])
        .map_err(|_| invalid("the header is not text".into()))?;
    let descr = dict_value(text, "descr")
        .ok_or_else(|| invalid(format!("no 'descr' in header {:?}", text.trim())))?;
    let descr = descr.trim().trim_matches(|c| c == '\'' || c == '"');
    let (dtype, big_endian) = parse_descr(descr)?;
    let fortran = dict_value(text, "fortran_order")
        .ok_or_else(|| invalid(format!("no 'fortran_order' in header {:?}", text.trim())))?;
    if fortran.trim() != "False" {
        return Err(invalid(
            "Fortran-order arrays are not supported (save with C order)".into(),
        ));
    }
    let shape = dict_value(text, "shape")
        .ok_or_else(|| invalid(format!("no 'shape' in header {:?}", text.trim())))?;
    let shape = parse_shape(shape)
        .ok_or_else(|| invalid(format!("unreadable shape {:?}", shape.trim())))?;
    Ok(Header {
        dtype,
        big_endian,
        shape,
        data_offset,
    })
}

/// The text after `'key':` up to the next top-level comma or closing brace.
fn dict_value<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let quoted = [format!("'{key}'"), format!("\"{key}\"")];
    let at = quoted
        .iter()
        .find_map(|q| text.find(q.as_str()).map(|i| i + q.len()))?;
    let rest = text[at..].trim_start().strip_prefix(':')?;
    let mut depth = 0;
    for (i, c) in rest.char_indices() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            ',' | '}' if depth == 0 => return Some(&rest[..i]),
            _ => {}
        }
    }
    None
}

fn parse_descr(descr: &str) -> Result<(Dtype, bool), HeaderError> {
    let unsupported = || {
        HeaderError::Invalid(format!(
            "unsupported dtype {descr:?}: floats, integers and bools are read (as f32)"
        ))
    };
    let (order, code) = match descr.chars().next() {
        Some(c @ ('<' | '>' | '|' | '=')) => (c, &descr[1..]),
        _ => ('=', descr),
    };
    let big_endian = order == '>' || (order == '=' && cfg!(target_endian = "big"));
    let dtype = match code {
        "f2" | "e" => Dtype::F16,
        "f4" | "f" => Dtype::F32,
        "f8" | "d" => Dtype::F64,
        "i1" | "b" => Dtype::I8,
        "i2" | "h" => Dtype::I16,
        "i4" | "i" => Dtype::I32,
        "i8" | "q" | "l" => Dtype::I64,
        "u1" | "B" => Dtype::U8,
        "u2" | "H" => Dtype::U16,
        "u4" | "I" => Dtype::U32,
        "u8" | "Q" | "L" => Dtype::U64,
        "b1" | "?" => Dtype::Bool,
        _ => return Err(unsupported()),
    };
    Ok((dtype, big_endian))
}

fn parse_shape(text: &str) -> Option<Vec<usize>> {
    let inner = text.trim().strip_prefix('(')?.strip_suffix(')')?;
    inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('L').parse().ok())
        .collect()
}

/// Converts whole elements of `bytes` (a multiple of the element size) to
/// `f32`, appending to `out`.
pub(crate) fn convert(dtype: Dtype, big_endian: bool, bytes: &[u8], out: &mut Vec<f32>) {
    macro_rules! each {
        ($n:literal, |$b:ident| $e:expr) => {
            out.extend(bytes.chunks_exact($n).map(|c| {
                let mut $b: [u8; $n] = c.try_into().expect("whole elements");
                if big_endian {
                    $b.reverse();
                }
                $e
            }))
        };
    }
    match dtype {
        Dtype::F32 if !big_endian => {
            out.extend(
                bytes
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))),
            );
        }
        Dtype::F32 => each!(4, |b| f32::from_le_bytes(b)),
        Dtype::F64 => each!(8, |b| f64::from_le_bytes(b) as f32),
        Dtype::F16 => each!(2, |b| f16_to_f32(u16::from_le_bytes(b))),
        Dtype::I8 => out.extend(bytes.iter().map(|&b| b as i8 as f32)),
        Dtype::U8 => out.extend(bytes.iter().map(|&b| b as f32)),
        Dtype::Bool => out.extend(bytes.iter().map(|&b| (b != 0) as u8 as f32)),
        Dtype::I16 => each!(2, |b| i16::from_le_bytes(b) as f32),
        Dtype::U16 => each!(2, |b| u16::from_le_bytes(b) as f32),
        Dtype::I32 => each!(4, |b| i32::from_le_bytes(b) as f32),
        Dtype::U32 => each!(4, |b| u32::from_le_bytes(b) as f32),
        Dtype::I64 => each!(8, |b| i64::from_le_bytes(b) as f32),
        Dtype::U64 => each!(8, |b| u64::from_le_bytes(b) as f32),
    }
}

/// IEEE half precision to single (exact).
fn f16_to_f32(h: u16) -> f32 {
    let sign = if h & 0x8000 != 0 { -1.0f32 } else { 1.0 };
    let exponent = (h >> 10) & 0x1f;
    let mantissa = (h & 0x3ff) as f32;
    match exponent {
        0 => sign * mantissa * 2f32.powi(-24),
        31 if mantissa == 0.0 => sign * f32::INFINITY,
        31 => f32::NAN,
        e => sign * (1.0 + mantissa / 1024.0) * 2f32.powi(e as i32 - 15),
    }
}

/// A `.npy` file of `values` (`<f4`, C order) with `shape`, whose product
/// is `values.len()`; `&[values.len()]` for a flat array. Version 1.0, or
/// 2.0 (a 32-bit header length) when the header text is longer than a
/// 16-bit length can hold (tens of thousands of dimensions), as numpy's
/// writer does. (`np.load` reads headers over 10 000 bytes only when given
/// a larger `max_header_size`.)
pub fn encode_f32(values: &[f32], shape: &[usize]) -> Vec<u8> {
    debug_assert_eq!(shape.iter().product::<usize>(), values.len());
    let dims = match shape {
        [one] => format!("({one},)"),
        dims => format!(
            "({})",
            dims.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let text = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {dims}, }}");
    let header = |length_bytes: usize| {
        // Magic, version, length field and text, padded to 64 bytes with a newline.
        let unpadded = MAGIC.len() + 2 + length_bytes + text.len() + 1;
        format!(
            "{text}{}\n",
            " ".repeat(unpadded.next_multiple_of(64) - unpadded)
        )
    };
    let short = header(2);
    let mut out = Vec::with_capacity(MAGIC.len() + 6 + short.len() + values.len() * 4);
    out.extend_from_slice(MAGIC);
    match u16::try_from(short.len()) {
        Ok(length) => {
            out.extend_from_slice(&[1, 0]);
            out.extend_from_slice(&length.to_le_bytes());
            out.extend_from_slice(short.as_bytes());
        }
        Err(_) => {
            let long = header(4);
            out.extend_from_slice(&[2, 0]);
            out.extend_from_slice(&(long.len() as u32).to_le_bytes());
            out.extend_from_slice(long.as_bytes());
        }
    }
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_too_long_for_version_1_is_written_as_version_2() {
        let shape = vec![1usize; 30_000];
        let bytes = encode_f32(&[7.0], &shape);
        assert_eq!(&bytes[6..8], &[2, 0]);
        let h = parse_header(&bytes).unwrap();
        assert!(h.data_offset > usize::from(u16::MAX));
        assert_eq!(h.data_offset % 64, 0);
        assert_eq!(h.shape, shape);
        assert_eq!(bytes[h.data_offset..], 7.0f32.to_le_bytes());
    }

    #[test]
    fn written_files_read_back() {
        let values = [1.5f32, -2.0, f32::INFINITY];
        let bytes = encode_f32(&values, &[3]);
        let h = parse_header(&bytes).unwrap();
        assert_eq!(h.data_offset % 64, 0);
        assert_eq!(
            (h.dtype, h.big_endian, h.shape.clone()),
            (Dtype::F32, false, vec![3])
        );
        let mut out = Vec::new();
        convert(h.dtype, h.big_endian, &bytes[h.data_offset..], &mut out);
        assert_eq!(out, values);
    }

    #[test]
    fn headers_numpy_writes() {
        let text = "{'descr': '>f8', 'fortran_order': False, 'shape': (2, 3), }";
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend_from_slice(&(text.len() as u16).to_le_bytes());
        bytes.extend_from_slice(text.as_bytes());
        let h = parse_header(&bytes).unwrap();
        assert_eq!(
            (h.dtype, h.big_endian, h.shape.clone()),
            (Dtype::F64, true, vec![2, 3])
        );
        assert_eq!(
            parse_header(&bytes[..12]),
            Err(HeaderError::NeedBytes(bytes.len()))
        );
        assert_eq!(parse_shape("()"), Some(vec![]));
        let mut out = Vec::new();
        convert(
            Dtype::F16,
            false,
            &[0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00],
            &mut out,
        );
        assert_eq!(out, [1.0, -2.0, 2f32.powi(-24)]);
        let complex = text.replace(">f8", "<c8");
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend_from_slice(&(complex.len() as u16).to_le_bytes());
        bytes.extend_from_slice(complex.as_bytes());
        let err = parse_header(&bytes).unwrap_err().to_string();
        assert!(err.contains("<c8"), "{err}");
    }
}
