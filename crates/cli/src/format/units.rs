//! Human-readable sizes and durations, as Docker's go-units library prints them.

use crate::format::gofmt::format_float_g;

const DECIMAL_UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
const BINARY_UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];

fn size_and_unit(mut size: f64, base: f64, units: &[&'static str]) -> (f64, &'static str) {
    let mut i = 0;
    while size >= base && i < units.len() - 1 {
        size /= base;
        i += 1;
    }
    (size, units[i])
}

/// go-units `HumanSizeWithPrecision`: decimal units, `precision` significant digits
/// (`images` uses 3: "4.26MB", "77.8MB", "1.2GB", "0B").
pub fn human_size_with_precision(size: f64, precision: usize) -> String {
    let (size, unit) = size_and_unit(size, 1000.0, &DECIMAL_UNITS);
    format!("{}{}", format_float_g(size, Some(precision)), unit)
}

/// go-units `HumanSize`: like [`human_size_with_precision`] with 4 digits (`system df`, prune).
pub fn human_size(size: f64) -> String {
    human_size_with_precision(size, 4)
}

/// go-units `BytesSize`: binary units, 4 digits ("1.953GiB"; `info`'s Total Memory).
pub fn bytes_size(size: f64) -> String {
    let (size, unit) = size_and_unit(size, 1024.0, &BINARY_UNITS);
    format!("{}{}", format_float_g(size, Some(4)), unit)
}

/// go-units `HumanDuration` of a duration in nanoseconds ("Less than a second", "About a minute",
/// "3 weeks", ...).
pub fn human_duration_nanos(nanos: i128) -> String {
    let secs_f = nanos as f64 / 1e9;
    let seconds = secs_f.trunc() as i64;
    if seconds < 1 {
        return "Less than a second".to_string();
    }
    if seconds == 1 {
        return "1 second".to_string();
    }
    if seconds < 60 {
        return format!("{seconds} seconds");
    }
    let minutes = (secs_f / 60.0).trunc() as i64;
    if minutes == 1 {
        return "About a minute".to_string();
    }
    if minutes < 60 {
        return format!("{minutes} minutes");
    }
    let hours_f = secs_f / 3600.0;
    let hours = (hours_f + 0.5).trunc() as i64;
    if hours == 1 {
        return "About an hour".to_string();
    }
    if hours < 48 {
        return format!("{hours} hours");
    }
    if hours < 24 * 7 * 2 {
        return format!("{} days", hours / 24);
    }
    if hours < 24 * 30 * 2 {
        return format!("{} weeks", hours / 24 / 7);
    }
    if hours < 24 * 365 * 2 {
        return format!("{} months", hours / 24 / 30);
    }
    format!("{} years", (hours_f.trunc() as i64) / 24 / 365)
}

/// [`human_duration_nanos`] for whole seconds.
pub fn human_duration_secs(secs: i64) -> String {
    human_duration_nanos(i128::from(secs) * 1_000_000_000)
}

/// "<duration> ago" between a unix timestamp and `now` (both in seconds), as Docker's
/// `CreatedSince` columns print it.
pub fn since(created_unix: i64, now_unix: i64) -> String {
    format!("{} ago", human_duration_secs(now_unix - created_unix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes_like_go_units() {
        assert_eq!(human_size_with_precision(0.0, 3), "0B");
        assert_eq!(human_size_with_precision(999.0, 3), "999B");
        assert_eq!(human_size_with_precision(1000.0, 3), "1kB");
        assert_eq!(human_size_with_precision(4_261_000.0, 3), "4.26MB");
        assert_eq!(human_size_with_precision(77_812_345.0, 3), "77.8MB");
        assert_eq!(human_size_with_precision(1_200_000_000.0, 3), "1.2GB");
        assert_eq!(human_size_with_precision(999_999.0, 3), "1e+03kB");
        assert_eq!(human_size(1_234_567.0), "1.235MB");
        assert_eq!(human_size(0.0), "0B");
        assert_eq!(human_size(2_000_000_000.0), "2GB");
    }

    #[test]
    fn bytes_sizes_binary() {
        assert_eq!(bytes_size(2_097_152_000.0), "1.953GiB");
        assert_eq!(bytes_size(1024.0), "1KiB");
        assert_eq!(bytes_size(512.0), "512B");
    }

    #[test]
    fn human_durations_like_go_units() {
        let s = human_duration_secs;
        assert_eq!(human_duration_nanos(500_000_000), "Less than a second");
        assert_eq!(s(0), "Less than a second");
        assert_eq!(s(-5), "Less than a second");
        assert_eq!(s(1), "1 second");
        assert_eq!(s(59), "59 seconds");
        assert_eq!(s(60), "About a minute");
        assert_eq!(s(119), "About a minute");
        assert_eq!(s(120), "2 minutes");
        assert_eq!(s(59 * 60), "59 minutes");
        assert_eq!(s(60 * 60), "About an hour");
        assert_eq!(s(89 * 60), "About an hour");
        assert_eq!(s(2 * 3600), "2 hours");
        assert_eq!(s(47 * 3600), "47 hours");
        assert_eq!(s(2 * 86400), "2 days");
        assert_eq!(s(13 * 86400), "13 days");
        assert_eq!(s(14 * 86400), "2 weeks");
        assert_eq!(s(21 * 86400), "3 weeks");
        assert_eq!(s(90 * 86400), "3 months");
        assert_eq!(s(2 * 365 * 86400), "2 years");
    }

    #[test]
    fn since_appends_ago() {
        assert_eq!(since(1000, 1000 + 7200), "2 hours ago");
    }
}
