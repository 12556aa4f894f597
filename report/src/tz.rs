//! The time zone an examiner chooses for a report (`--tz`). Every time is
//! stored and exported in UTC; the HTML report shows each one in UTC and,
//! beside it, in this zone. Zone rules come from the tz database bundled in
//! the binary, never from the host, so a report reads the same wherever it
//! is made.

use anyhow::{Result, bail};
use jiff::Timestamp;
use jiff::tz::{Offset, TimeZone};

/// A zone: UTC, a fixed offset (`+05:30`) or an IANA name (`Europe/Berlin`).
#[derive(Debug, Clone)]
pub struct Zone {
    name: String,
    tz: TimeZone,
}

impl Default for Zone {
    fn default() -> Zone {
        Zone {
            name: "UTC".into(),
            tz: TimeZone::UTC,
        }
    }
}

impl Zone {
    /// Parses `UTC`, `Z`, `+HH:MM`, `-HH`, `UTC+HH:MM` or an IANA zone name.
    pub fn parse(text: &str) -> Result<Zone> {
        let t = text.trim();
        if t.eq_ignore_ascii_case("utc") || t == "Z" {
            return Ok(Zone::default());
        }
        let offset_text = t
            .strip_prefix("UTC")
            .or_else(|| t.strip_prefix("utc"))
            .unwrap_or(t);
        if let Some(sign) = offset_text
            .chars()
            .next()
            .filter(|c| *c == '+' || *c == '-')
        {
            let rest = &offset_text[1..];
            let (h, m) = rest.split_once(':').unwrap_or((rest, "0"));
            let (Ok(h), Ok(m)) = (h.parse::<i32>(), m.parse::<i32>()) else {
                bail!("--tz {text}: not an offset like +05:30");
            };
            if h > 14 || m > 59 {
                bail!("--tz {text}: offsets run from -14:00 to +14:00");
            }
            let seconds = (h * 3600 + m * 60) * if sign == '-' { -1 } else { 1 };
            let offset =
                Offset::from_seconds(seconds).map_err(|e| anyhow::anyhow!("--tz {text}: {e}"))?;
            return Ok(Zone {
                name: format!("UTC{sign}{h:02}:{m:02}"),
                tz: TimeZone::fixed(offset),
            });
        }
        match jiff::tz::db().get(t) {
            Ok(tz) => Ok(Zone {
                name: t.to_owned(),
                tz,
            }),
            Err(_) => bail!("--tz {text}: not a time zone name (Europe/Berlin) or offset (+05:30)"),
        }
    }

    /// The name as the report shows it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// True for UTC itself, when showing a second time would only repeat it.
    pub fn is_utc(&self) -> bool {
        self.name == "UTC"
    }

    /// `2024-03-01 09:00:00 +01:00` for an RFC 3339 UTC time; `None` when
    /// `utc` is not one (the caller shows it as recorded).
    pub fn local(&self, utc: &str) -> Option<String> {
        let ts: Timestamp = utc.parse().ok()?;
        let zoned = ts.to_zoned_datetime(self.tz.clone());
        Some(zoned.strftime("%Y-%m-%d %H:%M:%S %:z").to_string())
    }

    /// The offset from UTC at `utc`, in seconds (for grouping by local day).
    pub fn offset_seconds(&self, utc: &str) -> Option<i32> {
        let ts: Timestamp = utc.parse().ok()?;
        Some(self.tz.to_offset(ts).seconds())
    }
}

/// `2024-03-01 08:00:00Z` for people: an RFC 3339 UTC time without the `T`
/// and without sub-second digits; anything else as recorded.
pub fn utc_display(utc: &str) -> String {
    match utc.parse::<Timestamp>() {
        Ok(ts) => ts.strftime("%Y-%m-%d %H:%M:%SZ").to_string(),
        Err(_) => utc.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_and_names() {
        let z = Zone::parse("+05:30").expect("offset");
        assert_eq!(z.name(), "UTC+05:30");
        assert_eq!(
            z.local("2024-03-01T08:00:00.000Z").as_deref(),
            Some("2024-03-01 13:30:00 +05:30")
        );
        let berlin = Zone::parse("Europe/Berlin").expect("iana");
        assert_eq!(
            berlin.local("2024-07-01T08:00:00Z").as_deref(),
            Some("2024-07-01 10:00:00 +02:00")
        );
        assert_eq!(berlin.offset_seconds("2024-01-01T00:00:00Z"), Some(3600));
        assert!(Zone::parse("Mars/Olympus").is_err());
        assert!(Zone::parse("+25:00").is_err());
        assert!(Zone::parse("utc").expect("utc").is_utc());
        assert_eq!(
            utc_display("2024-03-01T08:00:00.123Z"),
            "2024-03-01 08:00:00Z"
        );
        assert_eq!(utc_display("@-99"), "@-99");
    }
}
