//! PNG text chunk rules (PNG §11.3.4.3–4), checked before encoding so that a bad keyword is
//! reported by name rather than written as a chunk readers reject.

use crate::RenderError;

/// How a text goes into the PNG.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TextChunk {
    /// `tEXt`: Latin-1, read by every PNG reader.
    Latin1,
    /// `iTXt`: UTF-8, for a text with characters beyond Latin-1 (a file name, an arrow).
    Utf8,
}

/// Checks that `keyword` and `text` can form a text chunk, and says which.
pub(crate) fn check_text_chunk(keyword: &str, text: &str) -> Result<TextChunk, RenderError> {
    let bad = |reason| {
        Err(RenderError::BadTextChunk {
            keyword: keyword.to_string(),
            reason,
        })
    };
    let printable_latin1 = |c: char| matches!(c as u32, 0x20..=0x7E | 0xA1..=0xFF);
    if keyword.is_empty() || keyword.chars().count() > 79 {
        return bad("a keyword has 1 to 79 characters");
    }
    if !keyword.chars().all(printable_latin1) {
        return bad("a keyword has only printable Latin-1 characters");
    }
    if keyword.starts_with(' ') || keyword.ends_with(' ') || keyword.contains("  ") {
        return bad("a keyword has no leading, trailing or consecutive spaces");
    }
    if text.contains('\0') {
        return bad("the text holds no NUL");
    }
    if text.chars().all(|c| (c as u32) <= 0xFF) {
        Ok(TextChunk::Latin1)
    } else {
        Ok(TextChunk::Utf8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_and_texts_follow_the_png_rules() {
        assert_eq!(
            check_text_chunk("Source", "ct-slice.dcm, caf\u{e9}").unwrap(),
            TextChunk::Latin1
        );
        assert_eq!(
            check_text_chunk("Comment", "x 64\u{2013}199 \u{2192}").unwrap(),
            TextChunk::Utf8
        );
        for (keyword, text) in [
            ("", "x"),
            (" Source", "x"),
            ("Two  spaces", "x"),
            ("Tab\there", "x"),
            ("Source", "nul\0inside"),
        ] {
            assert!(
                matches!(
                    check_text_chunk(keyword, text),
                    Err(RenderError::BadTextChunk { .. })
                ),
                "{keyword:?} {text:?}"
            );
        }
        assert!(check_text_chunk(&"k".repeat(80), "x").is_err());
        assert!(check_text_chunk(&"k".repeat(79), "x").is_ok());
    }
}
