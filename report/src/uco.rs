//! (being written)

use crate::Case;
use std::io::Write;

/// Writes the export.
pub fn write(_case: &Case, _out: &mut dyn Write) -> anyhow::Result<()> {
    anyhow::bail!("not built yet")
}
