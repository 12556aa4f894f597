//! The timeline chart: events per day (or week, month, years when the case
//! spans longer) stacked by kind, drawn as inline SVG in Rust so the page
//! needs no charting script. Buckets are chosen from the span so the chart
//! never has more than about a hundred bars, whatever the number of events;
//! days are the examiner's zone's days, and the caption says which.

use crate::markup::escape;
use crate::tz::Zone;
use jiff::civil::Date;
use std::fmt::Write as _;

/// The kinds of event, in stacking order: `(key, legend, colour)`.
pub const KINDS: [(&str, &str, &str); 5] = [
    ("received", "messages received", "#2f6fb0"),
    ("sent", "messages sent", "#3d9a50"),
    ("other", "messages, drafts and unknown direction", "#9a9a9a"),
    ("calls", "calls", "#d9822b"),
    ("files", "files modified", "#8a5cb8"),
];
pub const RECEIVED: usize = 0;
pub const SENT: usize = 1;
pub const OTHER: usize = 2;
pub const CALLS: usize = 3;
pub const FILES: usize = 4;

/// Most bars of a daily, weekly chart; monthly charts go to 120 and runs of
/// years are grouped so there are at most 100.
const MAX_DAYS: i64 = 92;
const MAX_WEEKS: i64 = 92;
const MAX_MONTHS: i64 = 120;
const MAX_YEAR_BARS: i64 = 100;

/// How events are grouped into bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    Day,
    /// ISO weeks, Monday to Sunday.
    Week,
    Month,
    /// Runs of this many calendar years.
    Years(i64),
}

/// Counts per bucket, dense from the first to the last bucket with events.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    pub bucket: Bucket,
    /// Bucket number of `counts[0]`.
    pub first: i64,
    pub counts: Vec<[u64; KINDS.len()]>,
}

fn date(day: i64) -> Date {
    jiff::Timestamp::from_second(day.saturating_mul(86_400))
        .map(|ts| jiff::tz::Offset::UTC.to_datetime(ts).date())
        .unwrap_or(Date::MIN)
}

fn month_number(day: i64) -> i64 {
    let d = date(day);
    i64::from(d.year()) * 12 + i64::from(d.month()) - 1
}

impl Bucket {
    /// The grouping that keeps the span from `first` to `last` (days since
    /// 1970-01-01) within the bar limits.
    pub fn for_span(first: i64, last: i64) -> Bucket {
        if last - first < MAX_DAYS {
            return Bucket::Day;
        }
        if Bucket::Week.number(last) - Bucket::Week.number(first) < MAX_WEEKS {
            return Bucket::Week;
        }
        if month_number(last) - month_number(first) < MAX_MONTHS {
            return Bucket::Month;
        }
        let years = i64::from(date(last).year()) - i64::from(date(first).year()) + 1;
        Bucket::Years((years + MAX_YEAR_BARS - 1) / MAX_YEAR_BARS)
    }

    /// The bucket a day falls in.
    pub fn number(self, day: i64) -> i64 {
        match self {
            Bucket::Day => day,
            // 1970-01-01 was a Thursday: day -3 is the Monday of its week.
            Bucket::Week => (day + 3).div_euclid(7),
            Bucket::Month => month_number(day),
            Bucket::Years(n) => i64::from(date(day).year()).div_euclid(n),
        }
    }

    /// The bucket's name: `2024-03-01`, `week of 2024-02-26`, `2024-03`,
    /// `2024`, `2020–2024`.
    pub fn label(self, number: i64) -> String {
        match self {
            Bucket::Day => date(number).to_string(),
            Bucket::Week => format!("week of {}", date(number * 7 - 3)),
            Bucket::Month => format!("{}-{:02}", number.div_euclid(12), number.rem_euclid(12) + 1),
            Bucket::Years(1) => number.to_string(),
            Bucket::Years(n) => format!("{}–{}", number * n, number * n + n - 1),
        }
    }

    /// The axis's short form of [`Bucket::label`].
    fn tick(self, number: i64) -> String {
        match self {
            Bucket::Week => date(number * 7 - 3).to_string(),
            other => other.label(number),
        }
    }

    fn name(self) -> String {
        match self {
            Bucket::Day => "day".into(),
            Bucket::Week => "week (Monday to Sunday)".into(),
            Bucket::Month => "month".into(),
            Bucket::Years(1) => "year".into(),
            Bucket::Years(n) => format!("{n} years"),
        }
    }
}

impl Timeline {
    /// An empty chart for events from day `first` to day `last`.
    pub fn new(first: i64, last: i64) -> Timeline {
        let bucket = Bucket::for_span(first, last);
        let a = bucket.number(first);
        let b = bucket.number(last);
        let len = usize::try_from(b - a + 1).unwrap_or(1);
        Timeline {
            bucket,
            first: a,
            counts: vec![[0; KINDS.len()]; len],
        }
    }

    /// Adds `n` events of `kind` on `day` (inside the span given to `new`).
    pub fn add(&mut self, day: i64, kind: usize, n: u64) {
        let i = usize::try_from(self.bucket.number(day) - self.first).ok();
        if let Some(slot) = i.and_then(|i| self.counts.get_mut(i))
            && let Some(c) = slot.get_mut(kind)
        {
            *c += n;
        }
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().flatten().sum()
    }

    /// The chart as a `<figure>`: the SVG, a caption saying what a bar is
    /// and in which zone days are counted, and the counts as a table for
    /// screen readers and for copying.
    pub fn figure(&self, zone: &Zone) -> String {
        let mut s = String::new();
        let first = self.bucket.label(self.first);
        let last = self.bucket.label(self.first + self.counts.len() as i64 - 1);
        let _ = write!(
            s,
            r#"<figure class="timeline"><svg id="timeline-svg" role="img" aria-labelledby="timeline-caption" viewBox="0 0 {W} {H}" width="100%" xmlns="http://www.w3.org/2000/svg" font-size="11">"#
        );
        self.draw(&mut s);
        let _ = write!(
            s,
            r#"</svg><figcaption id="timeline-caption">{} events, one bar per {} from {} to {}; days are counted in {}. Messages are placed at their time (received or sent), calls at their start, files at their modification time.</figcaption>"#,
            crate::html::num(self.total()),
            escape(&self.bucket.name()),
            escape(&first),
            escape(&last),
            escape(zone.name()),
        );
        s.push_str(r#"<details><summary>The counts as a table</summary><table class="counts"><thead><tr><th scope="col">"#);
        s.push_str(&escape(&self.bucket.name()));
        s.push_str("</th>");
        for (_, legend, _) in KINDS {
            let _ = write!(s, r#"<th scope="col" class="n">{legend}</th>"#);
        }
        s.push_str(r#"<th scope="col" class="n">total</th></tr></thead><tbody>"#);
        for (i, counts) in self.counts.iter().enumerate() {
            let total: u64 = counts.iter().sum();
            if total == 0 {
                continue;
            }
            let _ = write!(
                s,
                "<tr><td>{}</td>",
                escape(&self.bucket.label(self.first + i as i64))
            );
            for n in counts {
                let _ = write!(s, r#"<td class="n">{}</td>"#, crate::html::num(*n));
            }
            let _ = write!(s, r#"<td class="n">{}</td></tr>"#, crate::html::num(total));
        }
        s.push_str("</tbody></table></details></figure>");
        s
    }

    fn draw(&self, s: &mut String) {
        let n = self.counts.len().max(1);
        let top = nice_top(
            self.counts
                .iter()
                .map(|c| c.iter().sum())
                .max()
                .unwrap_or(0),
        );
        let plot_w = RIGHT - LEFT;
        let plot_h = BOTTOM - TOP;
        let slot = plot_w / n as f64;
        // A few buckets would make slabs as wide as the page: bars are
        // capped and centred in their slot.
        let bar_w = (slot - if slot > 4.0 { 1.0 } else { 0.0 }).min(MAX_BAR);
        let pad = (slot - bar_w) / 2.0;
        // Horizontal grid lines and the count axis.
        let step = top / 4;
        for t in 0..=4u64 {
            let v = step * t;
            let y = BOTTOM - plot_h * v as f64 / top as f64;
            let _ = write!(
                s,
                r##"<line class="grid" x1="{LEFT}" x2="{RIGHT}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
                LEFT - 6.0,
                y + 4.0,
                crate::html::num(v)
            );
        }
        for (i, counts) in self.counts.iter().enumerate() {
            let label = self.bucket.label(self.first + i as i64);
            let x = LEFT + slot * i as f64 + pad;
            let mut base = 0u64;
            for (kind, &count) in counts.iter().enumerate() {
                if count == 0 {
                    continue;
                }
                let (key, legend, colour) = KINDS[kind];
                let y0 = BOTTOM - plot_h * base as f64 / top as f64;
                base += count;
                let y1 = BOTTOM - plot_h * base as f64 / top as f64;
                let _ = write!(
                    s,
                    r#"<rect class="bar" data-bucket="{lab}" data-kind="{key}" data-n="{count}" x="{x:.2}" y="{y1:.2}" width="{w:.2}" height="{h:.2}" fill="{colour}"><title>{lab}: {n} {legend}</title></rect>"#,
                    lab = escape(&label),
                    w = bar_w.max(0.5),
                    h = y0 - y1,
                    n = crate::html::num(count),
                );
            }
        }
        // At most about a dozen bucket names under the bars.
        let every = n.div_ceil(12);
        for i in (0..n).step_by(every) {
            let x = LEFT + slot * (i as f64 + 0.5);
            let _ = write!(
                s,
                r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                BOTTOM + 16.0,
                escape(&self.bucket.tick(self.first + i as i64))
            );
        }
        let _ = write!(
            s,
            r##"<line x1="{LEFT}" x2="{RIGHT}" y1="{BOTTOM}" y2="{BOTTOM}" stroke="#555"/>"##
        );
        let mut x = LEFT;
        for (key, legend, colour) in KINDS {
            let _ = write!(
                s,
                r#"<g class="legend" data-kind="{key}"><rect x="{x:.1}" y="{:.1}" width="12" height="12" fill="{colour}"/><text x="{:.1}" y="{:.1}">{legend}</text></g>"#,
                LEGEND_Y - 10.0,
                x + 16.0,
                LEGEND_Y,
            );
            x += 24.0 + 6.0 * legend.chars().count() as f64;
        }
    }
}

const W: f64 = 960.0;
const H: f64 = 290.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = W - 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 220.0;
const LEGEND_Y: f64 = 272.0;
const MAX_BAR: f64 = 48.0;

/// The count axis's top: the smallest of 4, 8, 20, 40, 80, 200, … (four
/// steps of 1, 2 or 5 × 10ⁿ) at or above `max`.
fn nice_top(max: u64) -> u64 {
    let mut unit = 1u64;
    loop {
        for m in [1, 2, 5] {
            let step = unit.saturating_mul(m);
            if step.saturating_mul(4) >= max {
                return step.saturating_mul(4);
            }
        }
        unit = unit.saturating_mul(10);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Days since 1970-01-01 of a date, by jiff's own arithmetic.
    fn day(y: i16, m: i8, d: i8) -> i64 {
        let span = Date::constant(1970, 1, 1)
            .until(Date::constant(y, m, d))
            .expect("span");
        i64::from(span.get_days())
    }

    #[test]
    fn buckets_grow_with_the_span() {
        let d = day(2024, 3, 1);
        assert_eq!(Bucket::for_span(d, d + 91), Bucket::Day);
        assert_eq!(Bucket::for_span(d, d + 92), Bucket::Week);
        assert_eq!(Bucket::for_span(d, d + 600), Bucket::Week);
        assert_eq!(Bucket::for_span(d, d + 3000), Bucket::Month);
        assert_eq!(Bucket::for_span(day(1970, 1, 1), d), Bucket::Years(1));
        assert_eq!(Bucket::for_span(day(1800, 1, 1), d), Bucket::Years(3));
        // 2024-03-01 was a Friday: its week began on Monday 26 February.
        assert_eq!(
            Bucket::Week.label(Bucket::Week.number(d)),
            "week of 2024-02-26"
        );
        assert_eq!(
            Bucket::Week.number(day(2024, 2, 26)),
            Bucket::Week.number(day(2024, 3, 3))
        );
        assert_ne!(
            Bucket::Week.number(day(2024, 3, 3)),
            Bucket::Week.number(day(2024, 3, 4))
        );
        assert_eq!(Bucket::Month.label(Bucket::Month.number(d)), "2024-03");
        assert_eq!(
            Bucket::Years(3).label(Bucket::Years(3).number(d)),
            "2022–2024"
        );
    }

    #[test]
    fn one_bar_segment_per_day_and_kind_with_events() {
        let d = day(2024, 3, 1);
        let mut t = Timeline::new(d, d + 2);
        t.add(d, RECEIVED, 3);
        t.add(d, CALLS, 2);
        t.add(d + 2, FILES, 7);
        let svg = t.figure(&Zone::default());
        assert_eq!(svg.matches(r#"<rect class="bar""#).count(), 3);
        assert!(svg.contains(r#"data-bucket="2024-03-01" data-kind="received" data-n="3""#));
        assert!(svg.contains(r#"data-bucket="2024-03-03" data-kind="files" data-n="7""#));
        assert!(!svg.contains(r#"data-bucket="2024-03-02""#));
        assert!(svg.contains("12 events, one bar per day from 2024-03-01 to 2024-03-03"));
        // The tallest bar (7) reaches the axis top of 8: 7/8 of the plot.
        assert!(svg.contains(&format!("height=\"{:.2}\"", (BOTTOM - TOP) * 7.0 / 8.0)));
    }

    #[test]
    fn axis_tops_are_round() {
        assert_eq!(nice_top(0), 4);
        assert_eq!(nice_top(7), 8);
        assert_eq!(nice_top(9), 20);
        assert_eq!(nice_top(41), 80);
        assert_eq!(nice_top(1_000_001), 2_000_000);
    }
}
