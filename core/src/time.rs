//! Time stamps as the custody log writes them: RFC 3339, UTC, with the
//! precision the source has.

use exhibit_plugin_sdk::Time;
use std::time::SystemTime;

/// `2024-03-01T10:00:00.123456789Z` for a local file time.
pub fn rfc3339(t: SystemTime) -> String {
    match exhibit_plugin_sdk::system_time(t) {
        Some(t) => time(t),
        None => format!("{t:?}"),
    }
}

/// RFC 3339 for an entry time; out-of-range values are written as raw
/// seconds so nothing the dump said is lost.
pub fn time(t: Time) -> String {
    let nanos = i32::try_from(t.nanos).unwrap_or(0);
    match jiff::Timestamp::new(t.secs, nanos) {
        Ok(ts) => ts.to_string(),
        Err(_) => format!("@{}.{:09}", t.secs, t.nanos),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_with_source_precision() {
        assert_eq!(time(Time::from_secs(1_343_088_000)), "2012-07-24T00:00:00Z");
        assert_eq!(
            time(Time { secs: 0, nanos: 5 }),
            "1970-01-01T00:00:00.000000005Z"
        );
        assert_eq!(
            time(Time::from_secs(i64::MAX)),
            format!("@{}.000000000", i64::MAX)
        );
    }
}
