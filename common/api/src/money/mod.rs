//! Exact money: one currency per deployment, amounts held as integers of its minor unit.
//!
//! An amount is an `i64` of minor units (cents for USD, yen for JPY, fils for KWD) everywhere in
//! the services and in MongoDB, never a binary float; sums are checked integer sums. JSON keeps
//! amounts as numbers (the contract's compatibility with clients that read `price` as a number),
//! written exactly from the integer ([`Amount`]: `1299.99`, `0.3`, `10.0`; with no decimals for a
//! currency that has none), and a number read from a request is read from its text as a
//! [`Decimal`], never through a binary float, and converts exactly or is refused: it may have no
//! more decimals than the currency ([`Currency::minor_exact`]).
//!
//! Documents written before amounts were exact hold a binary float of major units; they read
//! through [`StoredAmount`], which converts such a float by rounding its decimal form half to
//! even at the currency's exponent ([`Currency::minor_half_even`]).

use std::{fmt, str::FromStr};

mod decimal;

pub use self::decimal::{Decimal, NotADecimal, json_decimal, json_decimal_opt};
use self::decimal::{Inexact, Rounding};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::{
    PartialSchema, ToSchema,
    openapi::{ObjectBuilder, RefOr, Schema, Type},
};

/// A deployment's currency: its ISO 4217 code and the exponent of its minor unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Currency {
    code: &'static str,
    exponent: u32,
}

/// Why a number is not an amount of the currency.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// More decimals than the currency has (`19.999` in USD, `1.5` in JPY).
    #[error("has more decimals than the currency has ({0})")]
    TooPrecise(u32),
    /// Not a finite number, or too large for the integer it is kept in.
    #[error("is out of range")]
    OutOfRange,
}

impl Currency {
    /// US dollars, the default.
    pub const USD: Self = Self {
        code: "USD",
        exponent: 2,
    };

    /// The currency of ISO 4217 code `code` (`USD`, `JPY`, `KWD`, upper case), if it is one with
    /// a minor unit (not a precious metal or a fund).
    pub fn from_code(code: &str) -> Option<Self> {
        let currency = iso_currency::Currency::from_code(code)?;
        Some(Self {
            code: currency.code(),
            exponent: u32::from(currency.exponent()?),
        })
    }

    /// The ISO 4217 code, such as `USD`.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// How many decimals the currency has: 2 for USD, 0 for JPY, 3 for KWD.
    pub fn exponent(&self) -> u32 {
        self.exponent
    }

    /// `minor` units of this currency, as JSON shows them.
    pub fn amount(&self, minor: i64) -> Amount {
        Amount {
            minor,
            exponent: self.exponent,
        }
    }

    /// The minor units of `major`, exactly: refused when it has more decimals than the currency,
    /// or is out of range.
    pub fn minor_exact(&self, major: &Decimal) -> Result<i64, AmountError> {
        major
            .scaled(self.exponent, Rounding::Exact)
            .map_err(|err| match err {
                Inexact::TooPrecise => AmountError::TooPrecise(self.exponent),
                Inexact::OutOfRange => AmountError::OutOfRange,
            })
    }

    /// The minor units of `major` rounded half to even at the currency's exponent (`1.005` →
    /// 100, `1.115` → 112, `2.675` → 268 in USD): for amounts stored as floats before money was
    /// exact, read in their shortest round-trip decimal form. `None` when it is not finite or out
    /// of range.
    pub fn minor_half_even(&self, major: f64) -> Option<i64> {
        Decimal::of_float(major)?
            .scaled(self.exponent, Rounding::HalfEven)
            .ok()
    }

    /// The least number of minor units at or above `major`: a lower bound of a filter, so that
    /// `min_price=19.991` keeps nothing priced 19.99. Saturates at the ends of `i64`.
    pub fn minor_ceil(&self, major: &Decimal) -> i64 {
        self.bound(major, Rounding::Ceil)
    }

    /// The greatest number of minor units at or below `major`: an upper bound of a filter.
    /// Saturates at the ends of `i64`.
    pub fn minor_floor(&self, major: &Decimal) -> i64 {
        self.bound(major, Rounding::Floor)
    }

    fn bound(&self, major: &Decimal, rounding: Rounding) -> i64 {
        major
            .scaled(self.exponent, rounding)
            .unwrap_or(if major.is_negative() {
                i64::MIN
            } else {
                i64::MAX
            })
    }

    /// `minor` units written as the currency's decimal number: `1299.99`, `0.3`, `10.0`, and
    /// `1500` in a currency without decimals.
    pub fn render(&self, minor: i64) -> String {
        render(minor, self.exponent)
    }
}

/// US dollars, as `CURRENCY` defaults to.
impl Default for Currency {
    fn default() -> Self {
        Self::USD
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code)
    }
}

impl FromStr for Currency {
    type Err = String;

    fn from_str(code: &str) -> Result<Self, Self::Err> {
        Self::from_code(code).ok_or_else(|| {
            "not an ISO 4217 currency code with a minor unit, such as USD, EUR or JPY".to_owned()
        })
    }
}

fn render(minor: i64, exponent: u32) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let magnitude = minor.unsigned_abs();
    if exponent == 0 {
        return format!("{sign}{magnitude}");
    }
    let scale = 10_u64.pow(exponent);
    let fraction = format!("{:0width$}", magnitude % scale, width = exponent as usize);
    let fraction = fraction.trim_end_matches('0');
    let fraction = if fraction.is_empty() { "0" } else { fraction };
    format!("{sign}{}.{fraction}", magnitude / scale)
}

/// An amount as JSON shows it: a number with at most the currency's decimals, written exactly
/// from its minor units (never through a binary float).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Amount {
    minor: i64,
    exponent: u32,
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&render(self.minor, self.exponent))
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let number = serde_json::value::RawValue::from_string(self.to_string())
            .map_err(serde::ser::Error::custom)?;
        number.serialize(serializer)
    }
}

impl PartialSchema for Amount {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Number)
            .description(Some(
                "An exact amount of the deployment's currency, with at most its decimals",
            ))
            .into()
    }
}

impl ToSchema for Amount {}

/// An amount as MongoDB holds it: minor units (`Int64`), or, in a document written before
/// amounts were exact, a float of major units, which [`StoredAmount::minor`] converts. It is
/// always written as minor units.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum StoredAmount {
    /// Minor units.
    Minor(i64),
    /// A float of major units, from before amounts were exact.
    Legacy(f64),
}

impl StoredAmount {
    /// The minor units, converting a legacy float by rounding half to even (`None` for a float
    /// that no amount can be: not finite, or out of range).
    pub fn minor(self, currency: Currency) -> Option<i64> {
        match self {
            Self::Minor(minor) => Some(minor),
            Self::Legacy(major) => currency.minor_half_even(major),
        }
    }
}

impl From<i64> for StoredAmount {
    fn from(minor: i64) -> Self {
        Self::Minor(minor)
    }
}

impl Serialize for StoredAmount {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Minor(minor) => serializer.serialize_i64(*minor),
            Self::Legacy(major) => serializer.serialize_f64(*major),
        }
    }
}

impl<'de> Deserialize<'de> for StoredAmount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;

        impl serde::de::Visitor<'_> for Visitor {
            type Value = StoredAmount;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer of minor units, or a float of major units")
            }

            fn visit_i64<E: serde::de::Error>(self, minor: i64) -> Result<Self::Value, E> {
                Ok(StoredAmount::Minor(minor))
            }

            fn visit_u64<E: serde::de::Error>(self, minor: u64) -> Result<Self::Value, E> {
                i64::try_from(minor)
                    .map(StoredAmount::Minor)
                    .map_err(|_| E::custom("an amount beyond i64"))
            }

            fn visit_f64<E: serde::de::Error>(self, major: f64) -> Result<Self::Value, E> {
                Ok(StoredAmount::Legacy(major))
            }
        }

        deserializer.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests;
