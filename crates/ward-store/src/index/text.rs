//! Text normalisation for string search: Unicode NFD, combining marks removed, lower case.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// The form string parameters are matched in: accents removed (`Jörg` → `jorg`), lower case.
pub fn normalize(s: &str) -> String {
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
}
