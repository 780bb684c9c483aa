//! Timestamps printed the way Go's `time` package prints them in the local time zone, since
//! Docker's output (`CreatedAt`, `events`, `history --human=false`) is Go's.

use chrono::{DateTime, Datelike, Timelike};

/// A fixed zone at one instant: its UTC offset and abbreviation ("UTC", "CET", "+01").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    pub offset_secs: i32,
    pub abbrev: String,
}

impl Zone {
    pub fn utc() -> Zone {
        Zone {
            offset_secs: 0,
            abbrev: "UTC".to_string(),
        }
    }
}

/// The local zone in effect at `unix` seconds, from the C library (TZ, /etc/localtime), which
/// reads the same tz database Go's `time.Local` does.
pub fn local_zone(unix: i64) -> Zone {
    let t = unix as libc::time_t;
    // SAFETY: `localtime_r` only writes into the zeroed `tm` we own and reads `t`; `tm_zone`, when
    // non-null, points to a NUL-terminated string owned by the C library that stays valid at least
    // until the next tz call, and we copy it out immediately.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return Zone::utc();
        }
        let abbrev = if tm.tm_zone.is_null() {
            String::new()
        } else {
            std::ffi::CStr::from_ptr(tm.tm_zone)
                .to_string_lossy()
                .into_owned()
        };
        let offset_secs = tm.tm_gmtoff as i32;
        let abbrev = if abbrev.is_empty() {
            numeric_abbrev(offset_secs)
        } else {
            abbrev
        };
        Zone {
            offset_secs,
            abbrev,
        }
    }
}

/// Go's name for a zone without an abbreviation: "+01", "-0330".
fn numeric_abbrev(offset: i32) -> String {
    let sign = if offset < 0 { '-' } else { '+' };
    let off = offset.unsigned_abs();
    let (h, m) = (off / 3600, (off % 3600) / 60);
    if m == 0 {
        format!("{sign}{h:02}")
    } else {
        format!("{sign}{h:02}{m:02}")
    }
}

fn civil(unix: i64, nanos: u32, zone: &Zone) -> Option<DateTime<chrono::Utc>> {
    DateTime::from_timestamp(unix + i64::from(zone.offset_secs), nanos)
}

fn offset_hhmm(offset: i32, colon: bool) -> String {
    let sign = if offset < 0 { '-' } else { '+' };
    let off = offset.unsigned_abs();
    let (h, m) = (off / 3600, (off % 3600) / 60);
    if colon {
        format!("{sign}{h:02}:{m:02}")
    } else {
        format!("{sign}{h:02}{m:02}")
    }
}

/// Go's `time.Unix(unix, 0).String()`: "2026-11-24 12:00:00 +0000 UTC".
pub fn go_time_string(unix: i64, zone: &Zone) -> String {
    match civil(unix, 0, zone) {
        Some(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} {} {}",
            t.year(),
            t.month(),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            offset_hhmm(zone.offset_secs, false),
            zone.abbrev
        ),
        None => unix.to_string(),
    }
}

fn rfc3339_zone(zone: &Zone) -> String {
    if zone.offset_secs == 0 {
        "Z".to_string()
    } else {
        offset_hhmm(zone.offset_secs, true)
    }
}

/// Go's `time.RFC3339`: "2026-11-24T12:00:00Z" or "2026-11-24T13:00:00+01:00".
pub fn rfc3339(unix: i64, zone: &Zone) -> String {
    match civil(unix, 0, zone) {
        Some(t) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{}",
            t.year(),
            t.month(),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            rfc3339_zone(zone)
        ),
        None => unix.to_string(),
    }
}

/// Docker's `RFC3339NanoFixed`: "2026-11-24T12:00:00.000000000Z".
pub fn rfc3339_nano_fixed(unix_nanos: i128, zone: &Zone) -> String {
    let secs = unix_nanos.div_euclid(1_000_000_000) as i64;
    let nanos = unix_nanos.rem_euclid(1_000_000_000) as u32;
    match civil(secs, nanos, zone) {
        Some(t) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}{}",
            t.year(),
            t.month(),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            nanos,
            rfc3339_zone(zone)
        ),
        None => secs.to_string(),
    }
}

/// Parses an RFC 3339 timestamp (as the API returns for build cache and volume dates) to unix
/// seconds.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.timestamp())
}

/// Go's `time.ParseDuration`, in nanoseconds.
pub fn parse_go_duration(s: &str) -> Result<i64, String> {
    let bad = || {
        format!(
            "time: invalid duration {}",
            crate::format::template::go_quote(s)
        )
    };
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num = &rest[..num_end];
        if num.is_empty() || num == "." {
            return Err(bad());
        }
        let value: f64 = num.parse().map_err(|_| bad())?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_end];
        rest = &rest[unit_end..];
        let mul = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => {
                return Err(format!(
                    "time: missing unit in duration {}",
                    crate::format::template::go_quote(s)
                ))
            }
            other => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    crate::format::template::go_quote(other),
                    crate::format::template::go_quote(s)
                ))
            }
        };
        total += value * mul;
    }
    let total = total as i64;
    Ok(if neg { -total } else { total })
}

/// Docker's `GetTimestamp` for `--since`/`--until`: a Go duration before `now`, an RFC 3339
/// date or time (local when it has no zone), or a unix timestamp passed through; returned as
/// the API wants it (`seconds` or `seconds.nanoseconds`).
pub fn api_timestamp(value: &str, now_nanos: i128) -> Result<String, String> {
    if value != "0" {
        if let Ok(d) = parse_go_duration(value) {
            let t = now_nanos - i128::from(d);
            return Ok(t.div_euclid(1_000_000_000).to_string());
        }
    }
    let in_location = !(value.contains(['z', 'Z', '+']) || value.matches('-').count() == 3);
    let parsed = parse_api_time(value, in_location, now_nanos);
    match parsed {
        Some((secs, nanos)) => Ok(format!("{secs}.{nanos:09}")),
        None if value.contains('-') => Err(format!(
            "parsing time {}: cannot parse",
            crate::format::template::go_quote(value)
        )),
        None => {
            let (s, n) = value.split_once('.').unwrap_or((value, "0"));
            if s.parse::<i64>().is_ok() && n.parse::<i64>().is_ok() {
                Ok(value.to_string())
            } else {
                Err(format!(
                    "failed to parse value as time or duration: {}",
                    crate::format::template::go_quote(value)
                ))
            }
        }
    }
}

/// The time forms `GetTimestamp` accepts, as (unix seconds, nanoseconds).
fn parse_api_time(value: &str, in_location: bool, now_nanos: i128) -> Option<(i64, u32)> {
    use chrono::{NaiveDate, NaiveDateTime};
    // Split off a zone suffix: "Z" or "±hh:mm".
    let (body, offset) = if in_location {
        let now_secs = now_nanos.div_euclid(1_000_000_000) as i64;
        (value, local_zone(now_secs).offset_secs)
    } else if let Some(b) = value.strip_suffix(['Z', 'z']) {
        (b, 0)
    } else {
        let i = value.rfind(['+', '-'])?;
        let (b, z) = value.split_at(i);
        let sign = if z.starts_with('-') { -1 } else { 1 };
        let (h, m) = z[1..].split_once(':')?;
        let off = h.parse::<i32>().ok()? * 3600 + m.parse::<i32>().ok()? * 60;
        (b, sign * off)
    };
    let naive = if let Some((date, time)) = body.split_once('T') {
        let (time, frac) = match time.split_once('.') {
            Some((t, f)) => (t, Some(f)),
            None => (time, None),
        };
        let time = match time.matches(':').count() {
            0 => format!("{time}:00:00"),
            1 => format!("{time}:00"),
            _ => time.to_string(),
        };
        let mut dt =
            NaiveDateTime::parse_from_str(&format!("{date}T{time}"), "%Y-%m-%dT%H:%M:%S").ok()?;
        if let Some(f) = frac {
            if f.is_empty() || f.len() > 9 || !f.chars().all(|c| c.is_ascii_digit()) {
                return None;
            }
            let nanos: u32 = format!("{f:0<9}").parse().ok()?;
            dt = dt.with_nanosecond(nanos)?;
        }
        dt
    } else {
        NaiveDate::parse_from_str(body, "%Y-%m-%d")
            .ok()?
            .and_hms_opt(0, 0, 0)?
    };
    let utc = naive.and_utc().timestamp() - i64::from(offset);
    Some((utc, naive.and_utc().timestamp_subsec_nanos()))
}

/// The current time in unix seconds.
pub fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_795_521_600; // 2026-11-24T12:00:00Z

    #[test]
    fn go_string_in_utc_and_offset_zones() {
        assert_eq!(
            go_time_string(T, &Zone::utc()),
            "2026-11-24 12:00:00 +0000 UTC"
        );
        let cet = Zone {
            offset_secs: 3600,
            abbrev: "CET".into(),
        };
        assert_eq!(go_time_string(T, &cet), "2026-11-24 13:00:00 +0100 CET");
    }

    #[test]
    fn rfc3339_forms() {
        assert_eq!(rfc3339(T, &Zone::utc()), "2026-11-24T12:00:00Z");
        let z = Zone {
            offset_secs: -(3 * 3600 + 1800),
            abbrev: "-0330".into(),
        };
        assert_eq!(rfc3339(T, &z), "2026-11-24T08:30:00-03:30");
        assert_eq!(
            rfc3339_nano_fixed(i128::from(T) * 1_000_000_000 + 5, &Zone::utc()),
            "2026-11-24T12:00:00.000000005Z"
        );
    }

    #[test]
    fn numeric_abbrevs() {
        assert_eq!(numeric_abbrev(3600), "+01");
        assert_eq!(numeric_abbrev(-12600), "-0330");
    }

    #[test]
    fn parses_api_dates() {
        assert_eq!(parse_rfc3339("2026-11-24T12:00:00Z"), Some(T));
        assert_eq!(parse_rfc3339("2026-11-24T12:00:00.123456789Z"), Some(T));
    }

    #[test]
    fn api_timestamps() {
        let now = i128::from(T) * 1_000_000_000;
        assert_eq!(api_timestamp("10m", now), Ok((T - 600).to_string()));
        assert_eq!(
            api_timestamp("2026-11-24T12:00:00Z", now),
            Ok(format!("{T}.000000000"))
        );
        assert_eq!(
            api_timestamp("2026-11-24T13:00:00.5+01:00", now),
            Ok(format!("{T}.500000000"))
        );
        assert_eq!(
            api_timestamp("1795521600.25", now),
            Ok("1795521600.25".into())
        );
        assert_eq!(
            api_timestamp("bogus", now),
            Err("failed to parse value as time or duration: \"bogus\"".into())
        );
    }

    #[test]
    fn local_zone_is_sane() {
        let z = local_zone(T);
        assert!(z.offset_secs.abs() <= 14 * 3600);
        assert!(!z.abbrev.is_empty());
    }
}
