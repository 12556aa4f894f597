//! Reports and exchange formats made from a case folder, never from the
//! evidence: everything here reads `custody.jsonl` (whose chain must be
//! whole), `artifacts/` and `files/`, streaming, so memory stays bounded
//! whatever the size of the case.
//!
//! - [`html`]: the examiner's self-contained HTML report (`exhibit report`).
//! - [`custody_html`]: the custody log for court (`exhibit log --format html`).
//! - [`uco`]: CASE/UCO 1.4 JSON-LD (`exhibit export --format case-uco`).
//! - [`dfxml`]: Digital Forensics XML (`exhibit export --format dfxml`).
//! - [`timeline`]: a CSV Timesketch imports (`exhibit export --format timeline`).
//!
//! Every output is deterministic: made twice from the same case, under any
//! host time zone, it is the same bytes.

pub mod case;
pub mod custody_html;
pub mod dfxml;
pub mod html;
pub mod markup;
pub mod output;
pub mod timeline;
pub mod tz;
pub mod uco;

pub use case::Case;
pub use output::{Target, Written};
pub use tz::Zone;

/// How the HTML outputs present a case.
#[derive(Debug, Clone, Default)]
pub struct RenderOptions {
    /// The zone times are shown in beside UTC (`--tz`).
    pub zone: Zone,
    /// What links to case paths start with: `../` for a report in
    /// `case/reports/`, `file:///…/case/` for one written elsewhere
    /// (see [`markup::href`]).
    pub case_href: String,
}
