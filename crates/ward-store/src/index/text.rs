//! Text normalisation for string search: Unicode NFD, combining marks removed, lower case.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// The form string parameters are matched in: accents removed (`Jörg` → `jorg`), lower case.
pub fn normalize(s: &str) -> String {
    // ASCII is its own NFD form and holds no combining mark, and an ASCII letter lowers to
    // one ASCII letter: the same result without the decomposition (most indexed strings, and
    // every audit record's addresses and type display, are ASCII).
    if s.is_ascii() {
        return s.to_ascii_lowercase();
    }
    by_decomposition(s)
}

/// The full path: Unicode NFD, combining marks dropped, Unicode lower case.
fn by_decomposition(s: &str) -> String {
    s.nfd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The smallest string greater than every string starting with `prefix` (for index range
/// scans: `col >= prefix AND col < upper`). Text compares bytewise (UTF-8), and U+10FFFF
/// encodes as the largest possible sequence.
pub fn prefix_upper(prefix: &str) -> String {
    let mut s = String::with_capacity(prefix.len() + 4);
    s.push_str(prefix);
    s.push(char::MAX);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accents_and_case() {
        assert_eq!(normalize("Jörg Müller"), "jorg muller");
        assert_eq!(normalize("ÉLODIE"), "elodie");
        assert_eq!(normalize("Åsa"), "asa");
        assert_eq!(normalize("smith"), "smith");
        assert!("smithson" < prefix_upper("smith").as_str());
        assert!("smiti" > prefix_upper("smith").as_str());
    }

    #[test]
    fn the_ascii_shortcut_gives_what_decomposition_gives() {
        let every: String = (0u8..=127).map(char::from).collect();
        assert_eq!(normalize(&every), by_decomposition(&every));
        for s in [
            "RESTful Operation",
            "127.0.0.1",
            "Smith-O'BRIEN 42",
            "",
            "\u{7f}A\t",
        ] {
            assert_eq!(normalize(s), by_decomposition(s), "{s:?}");
        }
        // one non-ASCII character anywhere takes the full path
        assert_eq!(normalize("MÜLLER a"), "muller a");
    }
}
