//! FHIRPath N1 §6 (operators): equality and equivalence, comparison, three-valued Boolean logic,
//! exact decimal arithmetic, date/time precision, quantities with UCUM conversion.

mod common;

use common::{err, lit, truth};
use serde_json::json;

#[test]
fn three_valued_logic_truth_tables() {
    // (left, right, and, or, xor, implies); None = {}
    let vals = [("true", Some(true)), ("false", Some(false)), ("{}", None)];
    for (ls, l) in vals {
        for (rs, r) in vals {
            let and = match (l, r) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            };
            let or = match (l, r) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            };
            let xor = l.zip(r).map(|(a, b)| a != b);
            let implies = match (l, r) {
                (Some(false), _) | (_, Some(true)) => Some(true),
                (Some(true), Some(false)) => Some(false),
                _ => None,
            };
            assert_eq!(truth(&format!("{ls} and {rs}")), and, "{ls} and {rs}");
            assert_eq!(truth(&format!("{ls} or {rs}")), or, "{ls} or {rs}");
            assert_eq!(truth(&format!("{ls} xor {rs}")), xor, "{ls} xor {rs}");
            assert_eq!(
                truth(&format!("{ls} implies {rs}")),
                implies,
                "{ls} implies {rs}"
            );
        }
    }
    // Singleton evaluation: a single non-Boolean item counts as true; several is an error.
    assert_eq!(truth("true and 'foo'"), Some(true));
    assert_eq!(err("(true | false) and true", &json!({})), "FP-SINGLETON");
    assert_eq!(truth("(0).not()"), Some(false));
    assert_eq!(truth("{}.not()"), None);
}

#[test]
fn decimals_are_exact() {
    assert_eq!(truth("0.1 + 0.2 = 0.3"), Some(true));
    assert_eq!(truth("1.0 = 1.00"), Some(true));
    assert_eq!(lit("1.10 + 0.20"), ["1.30"]);
    assert_eq!(lit("1.2 * 1.8"), ["2.16"]);
    assert_eq!(truth("1.2 / 1.8 ~ 0.67"), Some(true));
    assert_eq!(truth("1.2 / 1.8 ~ 0.6"), Some(false));
    assert_eq!(truth("1.10 ~ 1.1"), Some(true));
    assert_eq!(lit("1234567890987654321.0 + 1"), ["1234567890987654322.0"]);
    assert_eq!(lit("7 div 2"), ["3"]);
    assert_eq!(lit("-7 mod 3"), ["-1"]);
    assert_eq!(lit("2.2 mod 1.8"), ["0.4"]);
    assert_eq!(lit("1 / 2"), ["0.5"]);
    assert!(lit("1 / 0").is_empty());
    assert!(lit("5 div 0").is_empty());
    assert!(lit("5 mod 0").is_empty());
    assert!(
        lit("9223372036854775807 + 1").is_empty(),
        "integer overflow is empty"
    );
}

#[test]
fn strings_and_type_errors() {
    assert_eq!(lit("'a' + 'b'"), ["ab"]);
    assert_eq!(lit("'a' & {}"), ["a"]);
    assert_eq!(err("'a' + 1", &json!({})), "FP-TYPE");
    assert_eq!(err("'a' - 'b'", &json!({})), "FP-TYPE");
    assert_eq!(err("1 < 'a'", &json!({})), "FP-TYPE");
    assert_eq!(err("(1 | 2) + 1", &json!({})), "FP-SINGLETON");
    assert_eq!(err("-'a'", &json!({})), "FP-TYPE");
    assert_eq!(truth("'A' < 'a'"), Some(true));
    assert_eq!(truth("'a b' ~ 'A   B'"), Some(true));
    assert_eq!(truth("'a' = 'A'"), Some(false));
}

#[test]
fn collections_equality_membership_union() {
    assert_eq!(truth("(1 | 2) = (1 | 2)"), Some(true));
    assert_eq!(truth("(1 | 2) = (2 | 1)"), Some(false));
    assert_eq!(truth("(1 | 2) ~ (2 | 1)"), Some(true));
    assert_eq!(truth("{} = {}"), None);
    assert_eq!(truth("{} ~ {}"), Some(true));
    assert_eq!(truth("1 in (1 | 2)"), Some(true));
    assert_eq!(truth("(1 | 2) contains 3"), Some(false));
    assert_eq!(truth("{} in (1 | 2)"), None);
    assert_eq!(lit("(1 | 1 | 2.0 | 2)"), ["1", "2.0"]);
    assert_eq!(lit("1.combine(1).count()"), ["2"]);
}

#[test]
fn date_time_precision() {
    assert_eq!(truth("@2012-04-15 = @2012-04-15"), Some(true));
    assert_eq!(truth("@2012-04-15 = @2012-04-15T10:00:00"), None);
    assert_eq!(truth("@2012-04-15 ~ @2012-04-15T10:00:00"), Some(false));
    assert_eq!(truth("@2018-03 < @2018-03-01"), None);
    assert_eq!(truth("@2018-02 < @2018-03-01"), Some(true));
    assert_eq!(
        truth("@2012-04-15T15:30:31 = @2012-04-15T15:30:31.0"),
        Some(true)
    );
    assert_eq!(
        truth("@2017-11-05T01:30:00.0-04:00 = @2017-11-05T00:30:00.0-05:00"),
        Some(true)
    );
    assert_eq!(truth("@2012-04-15T15:00:00Z = @2012-04-15T10:00:00"), None);
    assert_eq!(truth("@T10:30 < @T10:30:00"), None);
    assert_eq!(truth("@T10:29 < @T10:30:00"), Some(true));
    assert_eq!(lit("@1973-12-25 + 7 days"), ["1974-01-01"]);
    assert_eq!(lit("@2020-01-31 + 1 month"), ["2020-02-29"]);
    assert_eq!(lit("@1974-12-25 - 1 'month'"), ["1974-11-25"]);
    assert_eq!(
        lit("@1973-12-25T00:00:00.000+10:00 + 10 'ms'"),
        ["1973-12-25T00:00:00.010+10:00"]
    );
    assert_eq!(lit("@T23:30 + 1 hour"), ["00:30"]);
    assert_eq!(err("@1973-12-25 + 1 'mo'", &json!({})), "FP-TYPE");
    assert_eq!(err("@1973-12-25 + 7", &json!({})), "FP-TYPE");
    assert_eq!(lit("today()"), ["2026-11-25"]);
    assert_eq!(lit("now()"), ["2026-11-25T10:30:00.000Z"]);
    assert_eq!(truth("now() > today()"), None);
}

#[test]
fn quantities_convert_across_units() {
    for (expr, want) in [
        ("4.0000 'g' = 4000.0 'mg'", Some(true)),
        ("1 'kg' = 1000000 'mg'", Some(true)),
        ("1000 'ug' = 1 'mg'", Some(true)),
        ("1 'm' = 100 'cm'", Some(true)),
        ("1 '[in_i]' = 2.54 'cm'", Some(true)),
        ("1 '[ft_i]' = 12 '[in_i]'", Some(true)),
        ("1 'km' > 999 'm'", Some(true)),
        ("1 'L' = 10 'dL'", Some(true)),
        ("1 'dL' = 100 'mL'", Some(true)),
        ("7 days = 1 week", Some(true)),
        ("7 days = 1 'wk'", Some(true)),
        ("1 'h' = 60 'min'", Some(true)),
        ("1 'd' = 24 'h'", Some(true)),
        ("1 second = 1000 milliseconds", Some(true)),
        ("1 year = 1 'a'", None),
        ("1 year ~ 1 'a'", Some(true)),
        ("1 'cm' = 1 's'", None),
        ("4 'g' ~ 4040 'mg'", Some(true)),
        ("4 'g' != 4040 'mg'", Some(true)),
        ("2.0 'cm' * 2.0 'm' = 0.040 'm2'", Some(true)),
        ("4.0 'g' / 2.0 'm' = 2 'g/m'", Some(true)),
        ("1 'mg' + 1 'g' = 1001 'mg'", Some(true)),
    ] {
        assert_eq!(truth(expr), want, "{expr}");
    }
    assert_eq!(err("1 'cm' < 'x'", &json!({})), "FP-TYPE");
    assert_eq!(err("1 'cm' + 1 's'", &json!({})), "FP-TYPE");
    assert_eq!(lit("(-5.5 'mg').abs()"), ["5.5 'mg'"]);
}

#[test]
fn precedence_and_polarity() {
    assert_eq!(lit("1 + 2 * 3 + 4"), ["11"]);
    assert_eq!(err("-1.convertsToInteger()", &json!({})), "FP-TYPE");
    assert_eq!(lit("(-1).convertsToInteger()"), ["true"]);
    assert_eq!(err("1 > 2 is Boolean", &json!({})), "FP-TYPE");
    assert_eq!(lit("(1 | 1 is Integer).count()"), ["2"]);
}

#[test]
fn fuzz_regressions() {
    // A multi-byte unit once split inside a UTF-8 character.
    assert!(
        lit("(1 '\u{518}') > 2 'g'").is_empty(),
        "incomparable units give empty"
    );
    // Overflowing durations and precisions are refused, not panics.
    assert_eq!(
        err("@T10:00 + 9223372036854775807 'ms'", &json!({})),
        "FP-TYPE"
    );
    assert!(lit("@2020-01-01 - 9223372036854775807 days").is_empty());
    assert_eq!(
        err("@2020-01-01 - (-9223372036854775808 days)", &json!({})),
        "FP-TYPE"
    );
    assert!(lit("@T10:30.lowBoundary(9223372036854775807)").is_empty());
}
