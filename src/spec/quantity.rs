//! Kubernetes resource quantities ("250m", "0.5", "64Mi", "1G", "1e3") as exact integers.
//!
//! CPU becomes millicores and everything else bytes, rounded up as Kubernetes does
//! (`MilliValue`, `Value`). No floating point: the digits are kept as an integer with a
//! decimal scale, and the suffix is applied with integer arithmetic.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    #[error("quantity is empty")]
    Empty,
    #[error(
        "quantity {0:?} must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    )]
    Syntax(String),
    #[error("quantity {0:?} must not be negative")]
    Negative(String),
    #[error("quantity {0:?} is too large")]
    TooLarge(String),
}

/// A parsed quantity: `digits * 10^scale * 1024^binary`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Parsed {
    digits: u128,
    scale: i32,
    binary: u32,
}

/// Parses a CPU quantity into millicores, rounding up ("0.1m" is 1m).
pub fn parse_cpu(s: &str) -> Result<u64, QuantityError> {
    parse(s)?
        .scaled(3)
        .ok_or_else(|| QuantityError::TooLarge(s.to_owned()))
}

/// Parses a memory or storage quantity into bytes, rounding up.
pub fn parse_bytes(s: &str) -> Result<u64, QuantityError> {
    parse(s)?
        .scaled(0)
        .ok_or_else(|| QuantityError::TooLarge(s.to_owned()))
}

/// Millicores in canonical form: "2", "250m".
pub fn format_cpu(millis: u64) -> String {
    if millis % 1000 == 0 {
        format!("{}", millis / 1000)
    } else {
        format!("{millis}m")
    }
}

/// Bytes in the shortest exact form: "64Mi", "1G", "1500".
pub fn format_bytes(bytes: u64) -> String {
    if bytes == 0 {
        return "0".to_owned();
    }
    const BINARY: [&str; 6] = ["Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
    const DECIMAL: [&str; 6] = ["k", "M", "G", "T", "P", "E"];
    let pick = |base: u64, names: &[&'static str; 6]| {
        let mut best = None;
        let mut unit = 1u64;
        for name in names {
            unit = match unit.checked_mul(base) {
                Some(u) => u,
                None => break,
            };
            if bytes % unit == 0 {
                best = Some(format!("{}{name}", bytes / unit));
            }
        }
        best
    };
    pick(1024, &BINARY)
        .or_else(|| pick(1000, &DECIMAL))
        .unwrap_or_else(|| bytes.to_string())
}

fn parse(s: &str) -> Result<Parsed, QuantityError> {
    let syntax = || QuantityError::Syntax(s.to_owned());
    if s.is_empty() {
        return Err(QuantityError::Empty);
    }
    let (negative, rest) = match s.as_bytes()[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let number_len = rest
        .bytes()
        .take_while(|b| b.is_ascii_digit() || *b == b'.')
        .count();
    let (number, suffix) = rest.split_at(number_len);
    let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
    if (int_part.is_empty() && frac_part.is_empty()) || frac_part.contains('.') {
        return Err(syntax());
    }
    let mut digits: u128 = 0;
    let mut significant = 0;
    for b in int_part.bytes().chain(frac_part.bytes()) {
        digits = digits * 10 + u128::from(b - b'0');
        if digits > 0 {
            significant += 1;
        }
        if significant > 30 {
            return Err(QuantityError::TooLarge(s.to_owned()));
        }
    }
    let mut scale = -(frac_part.len() as i32);
    let mut binary = 0;
    match suffix {
        "" => {}
        "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" => {
            binary = 1 + "KMGTPE".find(&suffix[..1]).unwrap_or(0) as u32;
        }
        "n" => scale -= 9,
        "u" => scale -= 6,
        "m" => scale -= 3,
        "k" => scale += 3,
        "M" => scale += 6,
        "G" => scale += 9,
        "T" => scale += 12,
        "P" => scale += 15,
        "E" => scale += 18,
        _ => {
            let exp = suffix.strip_prefix(['e', 'E']).ok_or_else(syntax)?;
            let digits_only = exp.strip_prefix(['+', '-']).unwrap_or(exp);
            if digits_only.is_empty() || !digits_only.bytes().all(|b| b.is_ascii_digit()) {
                return Err(syntax());
            }
            let e: i32 = exp
                .parse()
                .map_err(|_| QuantityError::TooLarge(s.to_owned()))?;
            if e.abs() > 40 {
                return Err(QuantityError::TooLarge(s.to_owned()));
            }
            scale += e;
        }
    }
    if negative && digits != 0 {
        return Err(QuantityError::Negative(s.to_owned()));
    }
    Ok(Parsed {
        digits,
        scale,
        binary,
    })
}

impl Parsed {
    /// The value times `10^extra`, rounded up; `None` when it does not fit in a u64.
    fn scaled(self, extra: i32) -> Option<u64> {
        let mut v = self.digits;
        for _ in 0..self.binary {
            v = v.checked_mul(1024)?;
        }
        let scale = self.scale + extra;
        if scale >= 0 {
            for _ in 0..scale {
                v = v.checked_mul(10)?;
            }
        } else {
            let div = 10u128.checked_pow(scale.unsigned_abs())?;
            v = v.div_ceil(div);
        }
        u64::try_from(v).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_in_millicores() {
        let cases = [
            ("250m", 250),
            ("0.5", 500),
            ("1", 1000),
            ("2.5", 2500),
            (".1", 100),
            ("1e3", 1_000_000),
            ("100u", 1), // rounds up like MilliValue
            ("0.0001", 1),
            ("0", 0),
            ("+1", 1000),
            ("1k", 1_000_000),
        ];
        for (s, want) in cases {
            assert_eq!(parse_cpu(s), Ok(want), "{s}");
        }
    }

    #[test]
    fn memory_in_bytes() {
        let cases = [
            ("64Mi", 64 << 20),
            ("1G", 1_000_000_000),
            ("128974848", 128_974_848),
            ("129e6", 129_000_000),
            ("129M", 129_000_000),
            ("123Mi", 123 << 20),
            ("1.5Gi", 3 << 29),
            ("1E", 1_000_000_000_000_000_000),
            ("1Ki", 1024),
            ("0.5", 1), // rounds up like Value
            ("1500m", 2),
        ];
        for (s, want) in cases {
            assert_eq!(parse_bytes(s), Ok(want), "{s}");
        }
    }

    #[test]
    fn rejects_bad_syntax_negative_and_overflow() {
        for s in [
            "", "Mi", "1.2.3", "1x", "1e", "1e+", "abc", "1 Mi", "1mi", "0x10", "1KiB",
        ] {
            assert!(parse_bytes(s).is_err(), "{s:?} accepted");
        }
        assert_eq!(parse_cpu("-1"), Err(QuantityError::Negative("-1".into())));
        assert!(matches!(
            parse_bytes("100Ei"),
            Err(QuantityError::TooLarge(_))
        ));
        assert!(matches!(
            parse_bytes("1e300"),
            Err(QuantityError::TooLarge(_))
        ));
        assert!(matches!(
            parse_cpu("99999999999999999999"),
            Err(QuantityError::TooLarge(_))
        ));
    }

    #[test]
    fn formats_canonically() {
        assert_eq!(format_cpu(250), "250m");
        assert_eq!(format_cpu(2000), "2");
        assert_eq!(format_bytes(64 << 20), "64Mi");
        assert_eq!(format_bytes(1_000_000_000), "1G");
        assert_eq!(format_bytes(1500), "1500");
        assert_eq!(format_bytes(0), "0");
        for b in [1u64, 1024, 1000, 12345, 3 << 29, u64::MAX] {
            assert_eq!(parse_bytes(&format_bytes(b)), Ok(b), "{b}");
        }
    }
}
