//! Reading a `taggable_id` from JSON exactly: from the number's text, never through an `f64`.
//!
//! JSON has one number type, so `123.0` is the integer 123. But a float is rounded to 53
//! bits before a visitor sees it (`9007199254740993.0` arrives as `9007199254740992`), so
//! the value is read from the raw text: a whole number within 2^53 in magnitude is that
//! integer; a fraction, or anything past 2^53 (integer or float), is a 422 on `taggable_id`.

use chat_core::TAGGABLE_ID_MAX_MAGNITUDE;
use serde::Deserialize;
use serde::de::{self, Deserializer};
use serde_json::value::RawValue;

use crate::resources::TaggableIdValue;

const NOT_WHOLE: &str = "must be an integer or a string, not a fraction";
const TOO_LARGE: &str = "must be at most 2^53 (9007199254740992) in magnitude; send larger ids as strings";
const WRONG_TYPE: &str = "must be an integer or a string";

impl<'de> Deserialize<'de> for TaggableIdValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = <Box<RawValue>>::deserialize(deserializer)?;
        from_json_text(raw.get()).map_err(de::Error::custom)
    }
}

/// The id a JSON value's text names: a string, or a number that is exactly a whole number
/// within [`TAGGABLE_ID_MAX_MAGNITUDE`].
fn from_json_text(text: &str) -> Result<TaggableIdValue, &'static str> {
    let text = text.trim();
    if text.starts_with('"') {
        return serde_json::from_str::<String>(text)
            .map(TaggableIdValue::Str)
            .map_err(|_| WRONG_TYPE);
    }
    if !text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
        return Err(WRONG_TYPE);
    }
    exact_whole_number(text).map(TaggableIdValue::Int)
}

/// The integer a JSON number's text (`-?int(.frac)?([eE][+-]?exp)?`) denotes exactly, or
/// why it is not one within [`TAGGABLE_ID_MAX_MAGNITUDE`].
fn exact_whole_number(text: &str) -> Result<i64, &'static str> {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => (mantissa, Some(exponent)),
        None => (unsigned, None),
    };
    let (int_part, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int_part.is_empty() || !(int_part.bytes().chain(fraction.bytes()).all(|b| b.is_ascii_digit())) {
        return Err(WRONG_TYPE);
    }
    let digits = format!("{int_part}{fraction}");
    let significant = digits.trim_start_matches('0');
    if significant.is_empty() {
        return Ok(0);
    }
    let exponent: i64 = match exponent {
        None => 0,
        // An exponent too long for an i64 makes a non-zero value huge or a fraction.
        Some(exponent) => match exponent.parse::<i64>() {
            Ok(exponent) => exponent,
            Err(_) if exponent.starts_with('-') => return Err(NOT_WHOLE),
            Err(_) => return Err(TOO_LARGE),
        },
    };
    let kept = significant.trim_end_matches('0');
    let trailing_zeros = (significant.len() - kept.len()) as i64;
    // The value is kept × 10^scale.
    let scale = exponent
        .saturating_sub(fraction.len() as i64)
        .saturating_add(trailing_zeros);
    if scale < 0 {
        return Err(NOT_WHOLE);
    }
    // 2^53 has 16 digits: more cannot fit.
    if kept.len() as i64 + scale > 16 {
        return Err(TOO_LARGE);
    }
    let mut magnitude: u64 = kept.parse().map_err(|_| TOO_LARGE)?;
    for _ in 0..scale {
        magnitude = magnitude.checked_mul(10).ok_or(TOO_LARGE)?;
    }
    if magnitude > TAGGABLE_ID_MAX_MAGNITUDE {
        return Err(TOO_LARGE);
    }
    let magnitude = i64::try_from(magnitude).map_err(|_| TOO_LARGE)?;
    Ok(if negative { -magnitude } else { magnitude })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<TaggableIdValue, String> {
        serde_json::from_str::<TaggableIdValue>(json).map_err(|error| error.to_string())
    }

    #[test]
    fn whole_numbers_within_2_pow_53_are_integers() {
        assert_eq!(parse("123"), Ok(TaggableIdValue::Int(123)));
        assert_eq!(parse("123.0"), Ok(TaggableIdValue::Int(123)));
        assert_eq!(parse("1.5e1"), Ok(TaggableIdValue::Int(15)));
        assert_eq!(parse("1E3"), Ok(TaggableIdValue::Int(1000)));
        assert_eq!(parse("-7.000"), Ok(TaggableIdValue::Int(-7)));
        assert_eq!(parse("0.0e-5"), Ok(TaggableIdValue::Int(0)));
        assert_eq!(parse("9007199254740992"), Ok(TaggableIdValue::Int(1 << 53)));
        assert_eq!(parse("9007199254740992.0"), Ok(TaggableIdValue::Int(1 << 53)));
        assert_eq!(parse("-9007199254740992.0"), Ok(TaggableIdValue::Int(-(1 << 53))));
        assert_eq!(
            parse("\"9007199254740993\""),
            Ok(TaggableIdValue::Str("9007199254740993".into()))
        );
    }

    #[test]
    fn past_2_pow_53_or_fractions_are_refused() {
        for json in [
            "9007199254740993.0",
            "9007199254740993",
            "-9007199254740993",
            "9007199254740994.0",
            "1e16",
            "1e400",
            "9223372036854775807",
            "1e99999999999999999999",
        ] {
            let error = parse(json).expect_err(json);
            assert!(error.contains("2^53"), "{json}: {error}");
        }
        for json in [
            "1.5",
            "4503599627370497.5",
            "1e-1",
            "4.0000000000000001",
            "1e-99999999999999999999",
        ] {
            let error = parse(json).expect_err(json);
            assert!(error.contains("fraction"), "{json}: {error}");
        }
        for json in ["[]", "{}", "true"] {
            assert!(parse(json).is_err(), "{json}");
        }
    }
}
