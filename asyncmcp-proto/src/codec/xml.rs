//! The characters an SQS body may hold: XML 1.0's `Char` production.

/// Checks that every character of `text` is allowed in an SQS body.
///
/// SQS accepts only XML 1.0 characters: `#x9 | #xA | #xD | [#x20-#xD7FF] |
/// [#xE000-#xFFFD] | [#x10000-#x10FFFF]`. A Rust `str` cannot hold surrogates, so
/// only ASCII control characters and the non-characters U+FFFE and U+FFFF (UTF-8
/// `EF BF BE` and `EF BF BF`) can be illegal; the scan looks at bytes, skipping whole
/// blocks that hold neither a byte below `0x20` nor `0xEF`.
///
/// ```
/// use asyncmcp_proto::codec::check_xml_chars;
/// assert_eq!(check_xml_chars("tab\tand é ok"), Ok(()));
/// assert_eq!(check_xml_chars("nul\u{0}"), Err(0));
/// assert_eq!(check_xml_chars("\u{FFFE}"), Err(0xFFFE));
/// ```
///
/// # Errors
/// The code point of the first character that is not allowed.
pub fn check_xml_chars(text: &str) -> Result<(), u32> {
    const BLOCK: usize = 32;
    let bytes = text.as_bytes();
    let mut blocks = bytes.chunks_exact(BLOCK);
    let mut offset = 0;
    for block in &mut blocks {
        // Branch-free so the compiler vectorizes it; most blocks are clean.
        let suspicious = block.iter().fold(false, |acc, &b| acc | (b < 0x20) | (b == 0xEF));
        if suspicious {
            scan(bytes, offset, offset + BLOCK)?;
        }
        offset += BLOCK;
    }
    scan(bytes, offset, bytes.len())
}

/// Checks the characters starting in `bytes[from..to]` (a 3-byte sequence may reach
/// past `to`).
fn scan(bytes: &[u8], from: usize, to: usize) -> Result<(), u32> {
    let block = bytes.get(from..to).unwrap_or_default();
    for (i, &b) in block.iter().enumerate() {
        match b {
            b'\t' | b'\n' | b'\r' => {}
            0..0x20 => return Err(u32::from(b)),
            0xEF => match bytes.get(from + i + 1..from + i + 3) {
                Some([0xBF, 0xBE]) => return Err(0xFFFE),
                Some([0xBF, 0xBF]) => return Err(0xFFFF),
                _ => {}
            },
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_xml_char(c: char) -> bool {
        matches!(u32::from(c), 0x9 | 0xA | 0xD | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)
    }

    #[test]
    fn accepts_legal_text() {
        assert_eq!(check_xml_chars(""), Ok(()));
        assert_eq!(check_xml_chars("{\"a\":\"\t\r\n é 中 😀 \u{FFFD} \u{E000} \u{D7FF}\"}"), Ok(()));
        assert_eq!(check_xml_chars(&"x".repeat(1000)), Ok(()));
        // EF-led characters other than U+FFFE/U+FFFF are fine.
        assert_eq!(check_xml_chars("\u{FEFF}\u{FFFD}\u{F000}"), Ok(()));
    }

    #[test]
    fn rejects_first_illegal_char() {
        assert_eq!(check_xml_chars("a\u{1}b\u{0}"), Err(1));
        assert_eq!(check_xml_chars("\u{1F}"), Err(0x1F));
        assert_eq!(check_xml_chars("ok \u{FFFF}"), Err(0xFFFF));
        assert_eq!(check_xml_chars("ok \u{FFFE}"), Err(0xFFFE));
    }

    #[test]
    fn finds_illegal_chars_at_every_block_position() {
        for prefix in 0..70 {
            for bad in ['\u{0}', '\u{B}', '\u{FFFE}', '\u{FFFF}'] {
                let text = format!("{}{bad}{}", "a".repeat(prefix), "b".repeat(40));
                assert_eq!(check_xml_chars(&text), Err(u32::from(bad)), "prefix {prefix}");
            }
        }
    }

    #[test]
    fn agrees_with_char_by_char_check() {
        let samples: Vec<char> = (0u32..0x80)
            .chain([0xD7FF, 0xE000, 0xFFFD, 0xFFFE, 0xFFFF, 0x10000, 0x10FFFF, 0xFEFF, 0xEFFF])
            .filter_map(char::from_u32)
            .collect();
        for &c in &samples {
            let text = format!("{}{c}", "é".repeat(20));
            let expected = if is_xml_char(c) { Ok(()) } else { Err(u32::from(c)) };
            assert_eq!(check_xml_chars(&text), expected, "U+{:04X}", u32::from(c));
        }
    }
}
