//! A decimal number read exactly from its text, never through a binary float: what a client
//! wrote (`19.99`, `1e9`, `0.30000000000000004`), with its every digit.

use std::str::FromStr;

use serde::{Deserialize, Deserializer};

/// A decimal number: `±digits × 10^-scale`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decimal {
    negative: bool,
    /// The significant digits, most significant first, without leading zeros (empty for zero).
    digits: Vec<u8>,
    /// How many of `digits` stand after the decimal point (negative: zeros to append).
    scale: i64,
}

/// How a decimal with more decimals than asked for is brought to them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Rounding {
    /// Not at all: more decimals are an error.
    Exact,
    /// To the nearest, a tie to the even neighbour.
    HalfEven,
    /// Down, towards negative infinity.
    Floor,
    /// Up, towards positive infinity.
    Ceil,
}

/// Why a decimal could not be brought to the decimals asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Inexact {
    /// It has more decimals, and [`Rounding::Exact`] was asked for.
    TooPrecise,
    /// It does not fit an `i64` at that many decimals.
    OutOfRange,
}

/// Text that is not a decimal number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a decimal number")]
pub struct NotADecimal;

impl FromStr for Decimal {
    type Err = NotADecimal;

    /// `[+-]digits[.digits][e[+-]digits]`, at least one digit before the exponent (`.5` and
    /// `5.` are numbers too, as a query string may write them).
    fn from_str(text: &str) -> Result<Self, NotADecimal> {
        let (negative, rest) = match text.as_bytes().first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => (false, text),
        };
        let (mantissa, exponent) = match rest.find(['e', 'E']) {
            Some(at) => (&rest[..at], Some(&rest[at + 1..])),
            None => (rest, None),
        };
        let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let all_digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
        if whole.len() + fraction.len() == 0 || !all_digits(whole) || !all_digits(fraction) {
            return Err(NotADecimal);
        }
        let exponent: i64 = match exponent {
            None => 0,
            Some(exponent) => {
                let digits = exponent.trim_start_matches(['+', '-']);
                if digits.is_empty() || !all_digits(digits) || exponent.len() - digits.len() > 1 {
                    return Err(NotADecimal);
                }
                // Far beyond any amount: saturate instead of failing, so `1e99999` is out of range.
                exponent.parse().unwrap_or(if exponent.starts_with('-') {
                    -1_000_000
                } else {
                    1_000_000
                })
            }
        };
        let mut digits: Vec<u8> = whole
            .bytes()
            .chain(fraction.bytes())
            .map(|b| b - b'0')
            .collect();
        let leading = digits.iter().take_while(|d| **d == 0).count();
        digits.drain(..leading);
        let mut scale = fraction.len() as i64 - exponent.clamp(-1_000_000, 1_000_000);
        // Trailing zeros carry no value: drop them, so `1.50` and `1.5` are one number.
        while digits.last() == Some(&0) {
            digits.pop();
            scale -= 1;
        }
        Ok(Self {
            negative: negative && !digits.is_empty(),
            digits,
            scale,
        })
    }
}

impl Decimal {
    /// The decimal a binary float stands for in its shortest round-trip form (`Display`), which
    /// is what was written for any amount within the services' limits: for floats stored before
    /// money was exact. `None` when it is not finite.
    pub(super) fn of_float(value: f64) -> Option<Self> {
        value
            .is_finite()
            .then(|| value.to_string().parse().ok())
            .flatten()
    }

    /// Whether it is below zero.
    pub fn is_negative(&self) -> bool {
        self.negative
    }

    /// The value in units of `10^-decimals`, brought there by `rounding`.
    pub(super) fn scaled(&self, decimals: u32, rounding: Rounding) -> Result<i64, Inexact> {
        let shift = i64::from(decimals) - self.scale;
        let (kept, dropped): (&[u8], &[u8]) = if shift >= 0 {
            (&self.digits, &[])
        } else {
            let cut = self
                .digits
                .len()
                .saturating_sub(shift.unsigned_abs() as usize);
            self.digits.split_at(cut)
        };
        // Digits dropped past the ones shown (`shift` further than `digits`) are zeros.
        let zeros_before_dropped = if shift < 0 {
            (shift.unsigned_abs() as usize).saturating_sub(self.digits.len())
        } else {
            0
        };
        let appended = if shift > 0 { shift as u64 } else { 0 };
        if kept.len() as u64 + appended > 38 {
            return Err(Inexact::OutOfRange);
        }
        let mut magnitude: i128 = 0;
        for digit in kept {
            magnitude = magnitude * 10 + i128::from(*digit);
        }
        for _ in 0..appended {
            magnitude *= 10;
        }
        let any_dropped = dropped.iter().any(|d| *d != 0);
        let up = match rounding {
            Rounding::Exact if any_dropped => return Err(Inexact::TooPrecise),
            Rounding::Exact => false,
            Rounding::Floor => any_dropped && self.negative,
            Rounding::Ceil => any_dropped && !self.negative,
            Rounding::HalfEven => {
                // The first dropped digit, counting the zeros before the written ones.
                let first = if zeros_before_dropped > 0 {
                    0
                } else {
                    dropped.first().copied().unwrap_or(0)
                };
                let after = if zeros_before_dropped > 0 {
                    dropped
                } else {
                    dropped.get(1..).unwrap_or(&[])
                };
                first > 5 || (first == 5 && (after.iter().any(|d| *d != 0) || magnitude % 2 == 1))
            }
        };
        let magnitude = magnitude + i128::from(up);
        let value = if self.negative { -magnitude } else { magnitude };
        i64::try_from(value).map_err(|_| Inexact::OutOfRange)
    }

    /// The position of its leading digit: 1 for `1.5`, 0 for `0.5`, -1 for `0.05`.
    fn magnitude(&self) -> i64 {
        self.digits.len() as i64 - self.scale
    }

    /// Whether it lies from `low` to `high`, inclusive, compared exactly.
    pub fn within(&self, low: i64, high: i64) -> bool {
        let floor = self.scaled(0, Rounding::Floor);
        let ceil = self.scaled(0, Rounding::Ceil);
        matches!((floor, ceil), (Ok(floor), Ok(ceil)) if floor >= low && ceil <= high)
    }
}

/// Deserializes a JSON number into a [`Decimal`] from its text, never through a binary float
/// (`#[serde(deserialize_with = "common_api::money::json_decimal")]`).
pub fn json_decimal<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Decimal, D::Error> {
    let raw = Box::<serde_json::value::RawValue>::deserialize(deserializer)?;
    number_text(raw.get())
}

/// [`json_decimal`] for an optional field, `null` counting as absent.
pub fn json_decimal_opt<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Decimal>, D::Error> {
    let raw = Option::<Box<serde_json::value::RawValue>>::deserialize(deserializer)?;
    raw.map(|raw| number_text(raw.get())).transpose()
}

fn number_text<E: serde::de::Error>(text: &str) -> Result<Decimal, E> {
    let text = text.trim();
    // A JSON string, object, array, boolean or null: the type is wrong.
    let kind = match text.as_bytes().first() {
        Some(b'"') => Some("string"),
        Some(b'{') => Some("map"),
        Some(b'[') => Some("sequence"),
        Some(b't' | b'f') => Some("boolean"),
        Some(b'n') => Some("null"),
        _ => None,
    };
    if let Some(kind) = kind {
        return Err(E::custom(format!(
            "invalid type: {kind}, expected a number"
        )));
    }
    text.parse()
        .map_err(|_| E::custom(format!("invalid number: {text}")))
}

impl Ord for Decimal {
    /// Compares the values exactly (`1.50` equals `1.5`).
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        let sign = |d: &Self| match (d.digits.is_empty(), d.negative) {
            (true, _) => 0,
            (false, true) => -1,
            (false, false) => 1,
        };
        let by_sign = sign(self).cmp(&sign(other));
        if by_sign != Ordering::Equal || sign(self) == 0 {
            return by_sign;
        }
        let by_magnitude = self.magnitude().cmp(&other.magnitude()).then_with(|| {
            let longest = self.digits.len().max(other.digits.len());
            let digit = |d: &Self, i: usize| d.digits.get(i).copied().unwrap_or(0);
            (0..longest)
                .map(|i| digit(self, i).cmp(&digit(other, i)))
                .find(|order| *order != Ordering::Equal)
                .unwrap_or(Ordering::Equal)
        });
        if self.negative {
            by_magnitude.reverse()
        } else {
            by_magnitude
        }
    }
}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
