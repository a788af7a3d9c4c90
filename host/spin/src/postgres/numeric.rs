//! PostgreSQL's `numeric` in its binary form, to and from the decimal
//! strings the interface carries, at any precision the server stores (a
//! fixed-size decimal type would lose digits beyond its range).
//!
//! The binary form is a header of four 16-bit fields (digit count, weight,
//! sign, display scale) and base-10000 digits, most significant first; the
//! value is the sum of `digit[i] × 10000^(weight − i)`, and the display
//! scale is the number of decimal places shown.

use std::error::Error;
use std::fmt;
use std::str::FromStr;

use bytes::{Buf, BufMut, BytesMut};
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};

const POSITIVE: u16 = 0x0000;
const NEGATIVE: u16 = 0x4000;
const NAN: u16 = 0xC000;
const INFINITY: u16 = 0xD000;
const NEGATIVE_INFINITY: u16 = 0xF000;
/// The largest display scale the server accepts.
const MAX_SCALE: usize = 0x3FFF;
const DIGITS_PER_GROUP: usize = 4;

/// A `numeric` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Numeric {
    Finite {
        negative: bool,
        /// The power of 10000 of the first group.
        weight: i16,
        /// Decimal places shown.
        scale: u16,
        /// Base-10000 digits without leading or trailing zero groups.
        groups: Vec<i16>,
    },
    NaN,
    Infinity,
    NegativeInfinity,
}

/// Why a string is not a decimal number.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct NotADecimal(String);

impl fmt::Display for NotADecimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not a decimal number (digits with an optional sign and decimal point, NaN or Infinity)",
            self.0
        )
    }
}

impl FromStr for Numeric {
    type Err = NotADecimal;

    /// Parses `[+-]digits[.digits]`, `NaN`, `Infinity` or `-Infinity`
    /// (the last three in any case).
    fn from_str(text: &str) -> Result<Self, NotADecimal> {
        let invalid = || NotADecimal(text.to_owned());
        let (negative, unsigned) = match text.as_bytes().first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => (false, text),
        };
        if unsigned.eq_ignore_ascii_case("infinity") {
            return Ok(if negative {
                Self::NegativeInfinity
            } else {
                Self::Infinity
            });
        }
        if text.eq_ignore_ascii_case("nan") {
            return Ok(Self::NaN);
        }
        let (integer, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if integer.len() + fraction.len() == 0 || !all_digits(integer) || !all_digits(fraction) {
            return Err(invalid());
        }
        if fraction.len() > MAX_SCALE {
            return Err(invalid());
        }
        let integer = integer.trim_start_matches('0');
        // Align on group boundaries: zeros before the integer digits and
        // after the fraction digits.
        let lead = (DIGITS_PER_GROUP - integer.len() % DIGITS_PER_GROUP) % DIGITS_PER_GROUP;
        let trail = (DIGITS_PER_GROUP - fraction.len() % DIGITS_PER_GROUP) % DIGITS_PER_GROUP;
        let aligned: Vec<u8> = std::iter::repeat_n(b'0', lead)
            .chain(integer.bytes())
            .chain(fraction.bytes())
            .chain(std::iter::repeat_n(b'0', trail))
            .collect();
        let mut groups: Vec<i16> = aligned
            .chunks(DIGITS_PER_GROUP)
            .map(|chunk| {
                chunk
                    .iter()
                    .fold(0, |group, digit| group * 10 + i16::from(digit - b'0'))
            })
            .collect();
        let integer_groups = (lead + integer.len()) / DIGITS_PER_GROUP;
        let mut weight = i16::try_from(integer_groups).map_err(|_| invalid())? - 1;
        let leading_zeros = groups.iter().take_while(|&&group| group == 0).count();
        groups.drain(..leading_zeros);
        // At most 4096 fraction groups, so this stays within i16.
        weight -= leading_zeros as i16;
        while groups.last() == Some(&0) {
            groups.pop();
        }
        let scale = fraction.len() as u16;
        Ok(if groups.is_empty() {
            Self::Finite {
                negative: false,
                weight: 0,
                scale,
                groups,
            }
        } else {
            Self::Finite {
                negative,
                weight,
                scale,
                groups,
            }
        })
    }
}

impl fmt::Display for Numeric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (negative, weight, scale, groups) = match self {
            Self::NaN => return f.write_str("NaN"),
            Self::Infinity => return f.write_str("Infinity"),
            Self::NegativeInfinity => return f.write_str("-Infinity"),
            Self::Finite {
                negative,
                weight,
                scale,
                groups,
            } => (*negative, i32::from(*weight), usize::from(*scale), groups),
        };
        let group = |index: i32| {
            usize::try_from(index)
                .ok()
                .and_then(|index| groups.get(index))
                .copied()
                .unwrap_or(0)
        };
        if negative {
            f.write_str("-")?;
        }
        if weight < 0 {
            f.write_str("0")?;
        } else {
            write!(f, "{}", group(0))?;
            for index in 1..=weight {
                write!(f, "{:04}", group(index))?;
            }
        }
        if scale > 0 {
            let mut fraction = String::with_capacity(scale + DIGITS_PER_GROUP);
            let mut index = weight + 1;
            while fraction.len() < scale {
                fraction.push_str(&format!("{:04}", group(index)));
                index += 1;
            }
            fraction.truncate(scale);
            write!(f, ".{fraction}")?;
        }
        Ok(())
    }
}

impl ToSql for Numeric {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        let (sign, weight, scale, groups) = match self {
            Self::NaN => (NAN, 0, 0, &[][..]),
            Self::Infinity => (INFINITY, 0, 0, &[][..]),
            Self::NegativeInfinity => (NEGATIVE_INFINITY, 0, 0, &[][..]),
            Self::Finite {
                negative,
                weight,
                scale,
                groups,
            } => (
                if *negative { NEGATIVE } else { POSITIVE },
                *weight,
                *scale,
                &groups[..],
            ),
        };
        out.put_i16(i16::try_from(groups.len()).map_err(|_| "numeric value out of range")?);
        out.put_i16(weight);
        out.put_u16(sign);
        out.put_u16(scale);
        for group in groups {
            out.put_i16(*group);
        }
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }

    to_sql_checked!();
}

impl FromSql<'_> for Numeric {
    fn from_sql(_: &Type, mut raw: &[u8]) -> Result<Self, Box<dyn Error + Sync + Send>> {
        if raw.len() < 8 {
            return Err("a numeric value is shorter than its header".into());
        }
        let count = raw.get_i16();
        let weight = raw.get_i16();
        let sign = raw.get_u16();
        let scale = raw.get_u16();
        if usize::try_from(count).ok().map(|count| count * 2) != Some(raw.len()) {
            return Err("a numeric value's length does not match its digit count".into());
        }
        let groups: Vec<i16> = (0..count).map(|_| raw.get_i16()).collect();
        if groups.iter().any(|group| !(0..10000).contains(group)) {
            return Err("a numeric value has a digit outside 0..9999".into());
        }
        match sign {
            POSITIVE | NEGATIVE => Ok(Self::Finite {
                negative: sign == NEGATIVE,
                weight,
                scale,
                groups,
            }),
            NAN => Ok(Self::NaN),
            INFINITY => Ok(Self::Infinity),
            NEGATIVE_INFINITY => Ok(Self::NegativeInfinity),
            _ => Err(format!("a numeric value has an unknown sign {sign:#x}").into()),
        }
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_strings_round_trip() {
        for text in [
            "0",
            "0.000",
            "1",
            "-1",
            "10000",
            "123456789.123456789",
            "0.123456789",
            "0.0001",
            "0.00001",
            "-0.5",
            "1.50",
            "99999999999999999999999999999999999999.000000000000000000000001",
            "NaN",
            "Infinity",
            "-Infinity",
        ] {
            let numeric: Numeric = text.parse().unwrap();
            assert_eq!(numeric.to_string(), text);
        }
    }

    #[test]
    fn normalises_like_postgres() {
        let cases = [
            ("+7", "7"),
            ("007.10", "7.10"),
            ("-0.00", "0.00"),
            (".5", "0.5"),
            ("5.", "5"),
            ("nan", "NaN"),
            ("+infinity", "Infinity"),
        ];
        for (text, shown) in cases {
            assert_eq!(
                text.parse::<Numeric>().unwrap().to_string(),
                shown,
                "{text}"
            );
        }
        assert_eq!(
            "10000.0001".parse::<Numeric>(),
            Ok(Numeric::Finite {
                negative: false,
                weight: 1,
                scale: 4,
                groups: vec![1, 0, 1],
            })
        );
    }

    #[test]
    fn rejects_what_is_not_a_decimal() {
        for text in [
            "", "-", ".", "1e5", "1.2.3", "12a", " 1", "0x10", "--1", "-nan",
        ] {
            assert!(text.parse::<Numeric>().is_err(), "{text:?}");
        }
    }

    #[test]
    fn binary_form_round_trips() {
        for text in [
            "-1234.5678",
            "0.00",
            "NaN",
            "123456789012345678901234567890.5",
        ] {
            let numeric: Numeric = text.parse().unwrap();
            let mut out = BytesMut::new();
            numeric.to_sql(&Type::NUMERIC, &mut out).unwrap();
            assert_eq!(Numeric::from_sql(&Type::NUMERIC, &out).unwrap(), numeric);
        }
        assert!(Numeric::from_sql(&Type::NUMERIC, &[0, 1, 0, 0, 0, 0, 0, 0]).is_err());
    }
}
