use super::*;

fn d(text: &str) -> Decimal {
    text.parse().unwrap()
}

fn currency(code: &str) -> Currency {
    Currency::from_code(code).unwrap()
}

/// A small deterministic generator (xorshift64*), so a failure names a reproducible case.
struct Numbers(u64);

impl Numbers {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Spread over every order of magnitude up to `max`, not only the largest ones.
    fn up_to(&mut self, max: i64) -> i64 {
        let digits = self.next() % 19;
        let bound = 10_u64.saturating_pow(digits as u32).min(max as u64 + 1);
        (self.next() % bound) as i64
    }
}

#[test]
fn exponents_come_from_the_iso_table() {
    assert_eq!(currency("USD").exponent(), 2);
    assert_eq!(currency("EUR").exponent(), 2);
    assert_eq!(currency("JPY").exponent(), 0);
    assert_eq!(currency("KWD").exponent(), 3);
    assert_eq!(currency("BHD").exponent(), 3);
    assert_eq!(Currency::USD, currency("USD"));
    for unknown in ["XYZ", "usd", "", "US", "XAU"] {
        assert!(unknown.parse::<Currency>().is_err(), "{unknown}");
    }
}

#[test]
fn amounts_render_exactly() {
    let usd = Currency::USD;
    assert_eq!(usd.render(129_999), "1299.99");
    assert_eq!(usd.render(5_997), "59.97");
    assert_eq!(usd.render(30), "0.3");
    assert_eq!(usd.render(1_000), "10.0");
    assert_eq!(usd.render(5), "0.05");
    assert_eq!(usd.render(0), "0.0");
    assert_eq!(usd.render(-150), "-1.5");
    assert_eq!(currency("JPY").render(1_500), "1500");
    assert_eq!(currency("KWD").render(1_005), "1.005");
    // Beyond what a double holds exactly: every digit is kept.
    assert_eq!(usd.render(100_000_000_000_000_001), "1000000000000000.01");
    let json = serde_json::to_string(&usd.amount(100_000_000_000_000_001)).unwrap();
    assert_eq!(json, "1000000000000000.01");
}

#[test]
fn a_number_converts_only_when_the_currency_has_its_decimals() {
    let usd = Currency::USD;
    assert_eq!(usd.minor_exact(&d("1299.99")), Ok(129_999));
    assert_eq!(usd.minor_exact(&d("0.3")), Ok(30));
    assert_eq!(usd.minor_exact(&d("19.99")), Ok(1_999));
    assert_eq!(usd.minor_exact(&d("1e9")), Ok(100_000_000_000));
    assert_eq!(usd.minor_exact(&d("999999999.99")), Ok(99_999_999_999));
    assert_eq!(usd.minor_exact(&d("-2.5")), Ok(-250));
    assert_eq!(
        usd.minor_exact(&d("19.999")),
        Err(AmountError::TooPrecise(2))
    );
    assert_eq!(
        usd.minor_exact(&d("0.001")),
        Err(AmountError::TooPrecise(2))
    );
    assert_eq!(
        currency("JPY").minor_exact(&d("1.5")),
        Err(AmountError::TooPrecise(0))
    );
    assert_eq!(currency("JPY").minor_exact(&d("1500.0")), Ok(1_500));
    assert_eq!(currency("KWD").minor_exact(&d("1.005")), Ok(1_005));
    assert_eq!(usd.minor_exact(&d("1e300")), Err(AmountError::OutOfRange));
}

#[test]
fn decimals_are_read_from_their_text_with_every_digit() {
    let usd = Currency::USD;
    assert_eq!(
        usd.minor_exact(&d("0.30000000000000004")),
        Err(AmountError::TooPrecise(2))
    );
    assert_eq!(
        usd.minor_exact(&d("1000000000.0000001")),
        Err(AmountError::TooPrecise(2))
    );
    assert_eq!(usd.minor_exact(&d("1.50")), Ok(150));
    assert_eq!(usd.minor_exact(&d("1.5e2")), Ok(15_000));
    assert_eq!(usd.minor_exact(&d("1E-2")), Ok(1));
    assert_eq!(
        usd.minor_exact(&d("12345e-4")),
        Err(AmountError::TooPrecise(2))
    );
    assert_eq!(usd.minor_exact(&d("-0")), Ok(0));
    assert_eq!(usd.minor_exact(&d(".5")), Ok(50));
    assert_eq!(usd.minor_exact(&d("1e99999")), Err(AmountError::OutOfRange));
    assert_eq!(
        usd.minor_exact(&d("1e-99999")),
        Err(AmountError::TooPrecise(2))
    );
    for not_a_number in [
        "", "-", ".", "1..2", "1e", "e5", "1e+-2", "abc", "NaN", "inf", "0x10",
    ] {
        assert!(not_a_number.parse::<Decimal>().is_err(), "{not_a_number}");
    }
    assert!(d("19.991") > d("19.99") && d("1.50") == d("1.5") && d("-2") < d("-1.5"));
    assert!(d("0.05") < d("0.5") && d("1e3") > d("999.99") && d("-0") == d("0"));
    assert!(d("1000000000").within(0, 1_000_000_000));
    assert!(!d("1000000000.0000001").within(0, 1_000_000_000));
    assert!(!d("-0.01").within(0, 1_000_000_000));
    assert!(d("-0").within(0, 1_000_000_000));
    let read = |json: &str| json_decimal(&mut serde_json::Deserializer::from_str(json));
    assert_eq!(read("19.99").unwrap(), d("19.99"));
    assert!(
        read(r#""19.99""#)
            .unwrap_err()
            .to_string()
            .contains("expected a number")
    );
    assert!(read("true").is_err());
}

#[test]
fn legacy_floats_round_half_to_even() {
    let usd = Currency::USD;
    assert_eq!(usd.minor_half_even(1.005), Some(100));
    assert_eq!(usd.minor_half_even(1.015), Some(102));
    assert_eq!(usd.minor_half_even(1.115), Some(112));
    assert_eq!(usd.minor_half_even(2.675), Some(268));
    assert_eq!(usd.minor_half_even(19.999), Some(2_000));
    assert_eq!(usd.minor_half_even(0.0051), Some(1));
    assert_eq!(usd.minor_half_even(19.99), Some(1_999));
    assert_eq!(usd.minor_half_even(-1.005), Some(-100));
    assert_eq!(currency("JPY").minor_half_even(2.5), Some(2));
    assert_eq!(currency("JPY").minor_half_even(3.5), Some(4));
    assert_eq!(usd.minor_half_even(f64::NAN), None);
}

#[test]
fn filter_bounds_round_inwards() {
    let usd = Currency::USD;
    assert_eq!(usd.minor_ceil(&d("19.99")), 1_999);
    assert_eq!(usd.minor_floor(&d("19.99")), 1_999);
    assert_eq!(usd.minor_ceil(&d("19.991")), 2_000);
    assert_eq!(usd.minor_floor(&d("19.999")), 1_999);
    assert_eq!(usd.minor_ceil(&d("-19.991")), -1_999);
    assert_eq!(usd.minor_floor(&d("-19.991")), -2_000);
    assert_eq!(usd.minor_ceil(&d("1e300")), i64::MAX);
    assert_eq!(usd.minor_floor(&d("-1e300")), i64::MIN);
}

#[test]
fn stored_amounts_read_both_forms_and_write_minor_units() {
    use mongodb::bson::{Bson, doc, from_document, to_document};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Priced {
        price: StoredAmount,
    }

    let minor: Priced = from_document(doc! { "price": 1_999_i64 }).unwrap();
    let small: Priced = from_document(doc! { "price": 1_999_i32 }).unwrap();
    let legacy: Priced = from_document(doc! { "price": 19.99 }).unwrap();
    assert_eq!(minor.price.minor(Currency::USD), Some(1_999));
    assert_eq!(small.price.minor(Currency::USD), Some(1_999));
    assert_eq!(legacy.price, StoredAmount::Legacy(19.99));
    assert_eq!(legacy.price.minor(Currency::USD), Some(1_999));
    let written = to_document(&Priced {
        price: StoredAmount::Minor(1_999),
    })
    .unwrap();
    assert_eq!(written.get("price"), Some(&Bson::Int64(1_999)));
    assert!(from_document::<Priced>(doc! { "price": "19.99" }).is_err());
}

/// Random minor amounts of each exponent go to JSON, back through the extractor's path (a JSON
/// number read as f64, converted exactly), into a stored document and out to JSON unchanged; a
/// total is the exact integer sum of its lines.
#[test]
fn money_round_trips_for_exponents_0_2_and_3() {
    use mongodb::bson::{from_document, to_document};

    #[derive(Serialize, Deserialize)]
    struct Priced {
        price: StoredAmount,
    }

    let mut numbers = Numbers(0x9E37_79B9_7F4A_7C15);
    for code in ["JPY", "USD", "KWD"] {
        let currency = currency(code);
        // The services' limit: a price of at most 1e9 major units.
        let max = 1_000_000_000 * 10_i64.pow(currency.exponent());
        for _ in 0..20_000 {
            let minor = numbers.up_to(max);
            let json = serde_json::to_string(&currency.amount(minor)).unwrap();
            let read: Decimal =
                json_decimal(&mut serde_json::Deserializer::from_str(&json)).unwrap();
            assert_eq!(currency.minor_exact(&read), Ok(minor), "{code} {json}");

            let stored = to_document(&Priced {
                price: StoredAmount::Minor(minor),
            })
            .unwrap();
            let back: Priced = from_document(stored).unwrap();
            let again = currency.amount(back.price.minor(currency).unwrap());
            assert_eq!(serde_json::to_string(&again).unwrap(), json);
        }

        let lines: Vec<(i64, i64)> = (0..100)
            .map(|_| (numbers.up_to(max), numbers.up_to(10_000).max(1)))
            .collect();
        let total = lines
            .iter()
            .try_fold(0_i64, |sum, (price, qty)| {
                sum.checked_add(price.checked_mul(*qty)?)
            })
            .unwrap();
        let exact: i128 = lines
            .iter()
            .map(|(p, q)| i128::from(*p) * i128::from(*q))
            .sum();
        assert_eq!(i128::from(total), exact);
    }
}
