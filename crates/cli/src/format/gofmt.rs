//! Go's float formatting (`strconv.FormatFloat`), which Docker's output depends on: sizes are
//! printed with `%.3g`/`%.4g`, which gives "4.26MB" but also Go's quirky "1e+03MB".

/// Decimal digits of a finite, non-negative float: `0.d1d2d3… × 10^dp`, no trailing zeros.
struct Digits {
    digits: Vec<u8>,
    dp: i32,
}

/// Rounds `f` (finite, >= 0) to `prec` significant digits; `None` means shortest round-trip.
fn decimal_digits(f: f64, prec: Option<usize>) -> Digits {
    if f == 0.0 {
        return Digits {
            digits: Vec::new(),
            dp: 0,
        };
    }
    let s = match prec {
        Some(p) => format!("{:.*e}", p.saturating_sub(1), f),
        None => format!("{f:e}"),
    };
    let (mantissa, exp) = s.split_once('e').unwrap_or((s.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    while digits.last() == Some(&b'0') {
        digits.pop();
    }
    Digits {
        digits,
        dp: exp + 1,
    }
}

fn fmt_e(d: &Digits, prec: usize, out: &mut String) {
    let first = d.digits.first().copied().unwrap_or(b'0');
    out.push(first as char);
    if prec > 0 {
        out.push('.');
        for i in 1..=prec {
            out.push(d.digits.get(i).copied().unwrap_or(b'0') as char);
        }
    }
    out.push('e');
    let exp = if d.digits.is_empty() { 0 } else { d.dp - 1 };
    out.push(if exp < 0 { '-' } else { '+' });
    let exp = exp.unsigned_abs();
    if exp < 10 {
        out.push('0');
    }
    out.push_str(&exp.to_string());
}

fn fmt_f(d: &Digits, prec: usize, out: &mut String) {
    if d.dp > 0 {
        for i in 0..d.dp as usize {
            out.push(d.digits.get(i).copied().unwrap_or(b'0') as char);
        }
    } else {
        out.push('0');
    }
    if prec > 0 {
        out.push('.');
        for i in 0..prec as i32 {
            let j = d.dp + i;
            let c = if j >= 0 {
                d.digits.get(j as usize).copied().unwrap_or(b'0')
            } else {
                b'0'
            };
            out.push(c as char);
        }
    }
}

fn special(f: f64) -> Option<String> {
    if f.is_nan() {
        Some("NaN".to_string())
    } else if f.is_infinite() {
        Some(if f > 0.0 { "+Inf" } else { "-Inf" }.to_string())
    } else {
        None
    }
}

/// Go's `%.{prec}g` (`strconv.FormatFloat(f, 'g', prec, 64)`); `prec = None` is `%v`.
pub fn format_float_g(f: f64, prec: Option<usize>) -> String {
    if let Some(s) = special(f) {
        return s;
    }
    let mut out = String::new();
    if f.is_sign_negative() && f != 0.0 {
        out.push('-');
    }
    let prec = prec.map(|p| p.max(1));
    let d = decimal_digits(f.abs(), prec);
    let nd = d.digits.len() as i32;
    let shortest = prec.is_none();
    let mut p = match prec {
        Some(p) => p as i32,
        None => nd,
    };
    let mut eprec = p;
    if eprec > nd && nd >= d.dp {
        eprec = nd;
    }
    if shortest {
        eprec = 6;
    }
    let exp = d.dp - 1;
    if exp < -4 || exp >= eprec {
        if p > nd {
            p = nd;
        }
        fmt_e(&d, (p - 1).max(0) as usize, &mut out);
        return out;
    }
    if p > d.dp {
        p = nd;
    }
    fmt_f(&d, (p - d.dp).max(0) as usize, &mut out);
    out
}

/// Go's `%v` for a float64.
pub fn format_float_v(f: f64) -> String {
    format_float_g(f, None)
}

/// Go's `%.{prec}f`.
pub fn format_float_f(f: f64, prec: usize) -> String {
    if let Some(s) = special(f) {
        return s;
    }
    format!("{f:.prec$}")
}

/// Go's `%.{prec}e`.
pub fn format_float_e(f: f64, prec: usize) -> String {
    if let Some(s) = special(f) {
        return s;
    }
    let mut out = String::new();
    if f.is_sign_negative() && f != 0.0 {
        out.push('-');
    }
    let d = decimal_digits(f.abs(), Some(prec + 1));
    fmt_e(&d, prec, &mut out);
    out
}

/// Go's encoding/json float encoding.
pub fn format_float_json(f: f64) -> String {
    if f.is_finite() {
        let abs = f.abs();
        if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
            // Go: 'e' format with the exponent's leading zero removed ("1e-07" → "1e-7").
            let s = format_float_e_shortest(f);
            return s.replace("e-0", "e-").replace("e+0", "e+");
        }
        format!("{f}")
    } else {
        "null".to_string()
    }
}

fn format_float_e_shortest(f: f64) -> String {
    let mut out = String::new();
    if f.is_sign_negative() {
        out.push('-');
    }
    let d = decimal_digits(f.abs(), None);
    let prec = d.digits.len().saturating_sub(1);
    fmt_e(&d, prec, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g_with_precision_matches_go() {
        assert_eq!(format_float_g(0.0, Some(3)), "0");
        assert_eq!(format_float_g(999.0, Some(3)), "999");
        assert_eq!(format_float_g(4.26, Some(3)), "4.26");
        assert_eq!(format_float_g(77.8, Some(3)), "77.8");
        assert_eq!(format_float_g(1.2, Some(3)), "1.2");
        assert_eq!(format_float_g(10.0, Some(3)), "10");
        assert_eq!(format_float_g(100.0, Some(3)), "100");
        assert_eq!(format_float_g(999.9, Some(3)), "1e+03");
        assert_eq!(format_float_g(1.953125, Some(4)), "1.953");
        assert_eq!(format_float_g(0.000012, Some(3)), "1.2e-05");
    }

    #[test]
    fn v_matches_go() {
        assert_eq!(format_float_v(4260000.0), "4.26e+06");
        assert_eq!(format_float_v(123456.0), "123456");
        assert_eq!(format_float_v(0.5), "0.5");
        assert_eq!(format_float_v(0.0), "0");
        assert_eq!(format_float_v(-2.25), "-2.25");
    }

    #[test]
    fn e_and_f() {
        assert_eq!(format_float_e(1234.5678, 2), "1.23e+03");
        assert_eq!(format_float_f(1.23456, 2), "1.23");
    }

    #[test]
    fn json_floats() {
        assert_eq!(format_float_json(2.5), "2.5");
        assert_eq!(format_float_json(1e-7), "1e-7");
        assert_eq!(format_float_json(1e21), "1e+21");
    }
}
