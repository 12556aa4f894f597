//! (being written)

use crate::{Case, RenderOptions};
use std::io::Write;

/// Writes the report.
pub fn write(_case: &Case, _opts: &RenderOptions, _out: &mut dyn Write) -> anyhow::Result<()> {
    anyhow::bail!("not built yet")
}
