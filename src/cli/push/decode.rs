//! An export file's bytes to text. A file is read as UTF-8 unless a byte order mark or
//! `--encoding` says otherwise, and a file that does not decode is refused whole: guessing
//! would store wrong letters, and refusing rows one by one would load half a file.

use encoding_rs::{DecoderResult, Encoding, UTF_16BE, UTF_16LE, WINDOWS_1252};

/// The encodings `--encoding` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextEncoding {
    Utf8,
    /// Also what `latin1` means: Windows-1252 gives the same letter as ISO-8859-1 for every
    /// printable byte, and the bytes where they differ are control codes in ISO-8859-1,
    /// never found in text (the Encoding Standard browsers follow reads Latin-1 so too).
    Windows1252,
    /// Byte order from the file's BOM; without one little-endian, as Windows writes it.
    Utf16,
    Utf16Le,
    Utf16Be,
}

pub const ENCODING_NAMES: &str = "utf-8, windows-1252 (cp1252), latin1 (iso-8859-1), \
                                  utf-16, utf-16le or utf-16be";

/// The `--encoding` value parser; case, `-` and `_` do not matter (`UTF8`, `cp_1252`).
pub fn parse_encoding(name: &str) -> Result<TextEncoding, String> {
    let key: String = name
        .chars()
        .filter(|c| !matches!(c, '-' | '_'))
        .collect::<String>()
        .to_ascii_lowercase();
    match key.as_str() {
        "utf8" => Ok(TextEncoding::Utf8),
        "windows1252" | "cp1252" | "latin1" | "iso88591" => Ok(TextEncoding::Windows1252),
        "utf16" => Ok(TextEncoding::Utf16),
        "utf16le" => Ok(TextEncoding::Utf16Le),
        "utf16be" => Ok(TextEncoding::Utf16Be),
        _ => Err(format!("unknown encoding {name:?}: use {ENCODING_NAMES}")),
    }
}

/// The file's text, without a byte order mark. A BOM names its encoding unmistakably, so it
/// wins over `encoding` (a UTF-16 file read as Windows-1252 would be every other letter NUL).
/// A UTF-8 file without one, the usual case, becomes the text without a copy.
pub fn decode(bytes: Vec<u8>, encoding: Option<TextEncoding>) -> Result<String, String> {
    if let Some((by_bom, bom)) = Encoding::for_bom(&bytes) {
        return decode_strictly(by_bom, &bytes[bom..]);
    }
    match encoding.unwrap_or(TextEncoding::Utf8) {
        TextEncoding::Utf8 => {
            refuse_nul(&bytes)?;
            String::from_utf8(bytes)
                .map_err(|error| not_utf8(error.as_bytes(), error.utf8_error().valid_up_to()))
        }
        TextEncoding::Windows1252 => {
            refuse_nul(&bytes)?;
            Ok(WINDOWS_1252
                .decode_without_bom_handling(&bytes)
                .0
                .into_owned())
        }
        TextEncoding::Utf16 | TextEncoding::Utf16Le => decode_strictly(UTF_16LE, &bytes),
        TextEncoding::Utf16Be => decode_strictly(UTF_16BE, &bytes),
    }
}

/// Decodes without replacing anything: a byte sequence the encoding cannot mean is refused
/// with its line rather than stored as `�`.
fn decode_strictly(encoding: &'static Encoding, bytes: &[u8]) -> Result<String, String> {
    if encoding == encoding_rs::UTF_8 {
        return match std::str::from_utf8(bytes) {
            Ok(text) => Ok(text.to_owned()),
            Err(error) => Err(not_utf8(bytes, error.valid_up_to())),
        };
    }
    let mut decoder = encoding.new_decoder_without_bom_handling();
    let capacity = decoder
        .max_utf8_buffer_length_without_replacement(bytes.len())
        .ok_or("is too large to decode")?;
    let mut text = String::with_capacity(capacity);
    let (result, _read) = decoder.decode_to_string_without_replacement(bytes, &mut text, true);
    match result {
        DecoderResult::InputEmpty => Ok(text),
        DecoderResult::Malformed(..) => {
            let line = text.matches('\n').count() + 1;
            Err(format!(
                "line {line} is not valid {}: the file is cut short or not in that encoding",
                encoding.name()
            ))
        }
        DecoderResult::OutputFull => unreachable!("the capacity is the decoder's own maximum"),
    }
}

/// The message for a file that is not UTF-8, with what the first bad line would say as
/// Windows-1252 so that the user can tell at a glance whether that is the encoding.
fn not_utf8(bytes: &[u8], valid_up_to: usize) -> String {
    let line_start = bytes[..valid_up_to]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let line_end = bytes[valid_up_to..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(bytes.len(), |i| valid_up_to + i);
    let line = bytes[..valid_up_to].iter().filter(|&&b| b == b'\n').count() + 1;
    let as_1252 = WINDOWS_1252
        .decode_without_bom_handling(&bytes[line_start..line_end])
        .0;
    let as_1252 = as_1252.trim_end_matches('\r');
    let shown: String = as_1252.chars().take(60).collect();
    let more = if shown.len() < as_1252.len() {
        "…"
    } else {
        ""
    };
    format!(
        "line {line} is not UTF-8 (byte 0x{:02X}): the file is in another encoding. Read as \
         Windows-1252 the line says {shown:?}{more}; if that is right, push it with \
         --encoding windows-1252 (older ERPs, Latin-1); for Excel's \"Unicode text\" use \
         --encoding utf-16",
        bytes[valid_up_to]
    )
}

/// NUL is never part of CSV or JSON text, but UTF-16 without a byte order mark puts one
/// beside every ASCII letter, and with ASCII alone still passes as UTF-8: it would be read as
/// one unknown column or invalid JSON, so it is named for what it is.
fn refuse_nul(bytes: &[u8]) -> Result<(), String> {
    match bytes.iter().position(|&b| b == 0) {
        None => Ok(()),
        Some(at) => {
            let line = bytes[..at].iter().filter(|&&b| b == b'\n').count() + 1;
            Err(format!(
                "line {line} holds NUL bytes: the file looks like UTF-16 without a byte order \
                 mark; try --encoding utf-16le (or utf-16be)"
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_are_named_as_people_write_them() {
        for (name, expected) in [
            ("utf-8", TextEncoding::Utf8),
            ("UTF8", TextEncoding::Utf8),
            ("windows-1252", TextEncoding::Windows1252),
            ("cp1252", TextEncoding::Windows1252),
            ("latin1", TextEncoding::Windows1252),
            ("ISO-8859-1", TextEncoding::Windows1252),
            ("utf-16", TextEncoding::Utf16),
            ("utf-16le", TextEncoding::Utf16Le),
            ("UTF-16BE", TextEncoding::Utf16Be),
        ] {
            assert_eq!(parse_encoding(name), Ok(expected), "{name}");
        }
        let error = parse_encoding("ebcdic").unwrap_err();
        assert!(error.contains("\"ebcdic\"") && error.contains("windows-1252"));
    }

    #[test]
    fn utf8_is_read_as_it_is_and_its_bom_is_dropped() {
        let text = decode("\u{feff}name\nMüller\n".into(), None).unwrap();
        assert_eq!(text, "name\nMüller\n");
        let text = decode("name\nMüller\n".into(), Some(TextEncoding::Utf8)).unwrap();
        assert_eq!(text, "name\nMüller\n");
    }

    #[test]
    fn windows_1252_is_refused_as_utf8_naming_the_line_and_read_when_told() {
        let bytes = b"name\nplain\nM\xfcller GmbH\nCaf\xe9\n";
        let error = decode(bytes.to_vec(), None).unwrap_err();
        assert!(
            error.starts_with("line 3 is not UTF-8 (byte 0xFC)"),
            "{error}"
        );
        assert!(error.contains("\"Müller GmbH\""), "{error}");
        assert!(error.contains("--encoding windows-1252"), "{error}");
        let text = decode(bytes.to_vec(), Some(TextEncoding::Windows1252)).unwrap();
        assert_eq!(text, "name\nplain\nMüller GmbH\nCafé\n");
        let euro = decode(b"\x80 5".to_vec(), Some(TextEncoding::Windows1252)).unwrap();
        assert_eq!(euro, "€ 5", "Windows-1252, not ISO-8859-1's control code");
    }

    fn utf16(text: &str, little: bool, bom: bool) -> Vec<u8> {
        let mut bytes = Vec::new();
        let units = bom.then_some(0xfeff).into_iter().chain(text.encode_utf16());
        for unit in units {
            bytes.extend(if little {
                unit.to_le_bytes()
            } else {
                unit.to_be_bytes()
            });
        }
        bytes
    }

    #[test]
    fn utf16_with_a_bom_is_recognised_by_itself_in_either_byte_order() {
        let text = "external_id\tname\r\nC1\tMüller\r\n";
        assert_eq!(decode(utf16(text, true, true), None).unwrap(), text);
        assert_eq!(decode(utf16(text, false, true), None).unwrap(), text);
        assert_eq!(
            decode(utf16(text, true, true), Some(TextEncoding::Windows1252)).unwrap(),
            text,
            "the BOM wins"
        );
    }

    #[test]
    fn utf16_without_a_bom_needs_naming_and_is_then_read() {
        let bytes = utf16("name\nZoë\n", true, false);
        for ascii_too in [&bytes[..], &bytes[..10]] {
            let error = decode(ascii_too.to_vec(), None).unwrap_err();
            assert!(error.contains("line 1 holds NUL bytes"), "{error}");
            assert!(error.contains("--encoding utf-16le"), "{error}");
        }
        for encoding in [TextEncoding::Utf16, TextEncoding::Utf16Le] {
            assert_eq!(
                decode(bytes.clone(), Some(encoding)).unwrap(),
                "name\nZoë\n"
            );
        }
        let big = utf16("name\nZoë\n", false, false);
        assert_eq!(
            decode(big, Some(TextEncoding::Utf16Be)).unwrap(),
            "name\nZoë\n"
        );
    }

    #[test]
    fn broken_utf16_is_refused_with_its_line_not_replaced() {
        let mut bytes = utf16("a\nb\n", true, true);
        bytes.extend([0x00, 0xd8]); // a lone high surrogate
        bytes.extend(utf16("c\n", true, false));
        let error = decode(bytes, None).unwrap_err();
        assert!(error.starts_with("line 3 is not valid UTF-16LE"), "{error}");
        let odd = [0xff, 0xfe, b'a', 0, b'b'];
        assert!(decode(odd.to_vec(), None).unwrap_err().contains("line 1"));
    }
}
