//! `exhibit report`, `exhibit log --format html` and `exhibit export`: open
//! the case (its chain must be whole), write one output through
//! `exhibit_report::output` (hashed as written), record it in the custody
//! log when it went into the case, and say where it is.

use crate::args::{Args, ExportFormat, ReportOut};
use crate::config;
use crate::outln;
use crate::output::{Exit, emit, emit_begin, term_path};
use anyhow::{Context, Result};
use exhibit_report::output::{self, Target};
use exhibit_report::{Case, RenderOptions, Zone, markup};
use serde_json::json;
use std::io::Write;
use std::path::Path;

/// `exhibit report CASE`
pub fn report_cmd(args: &Args, case: &Path, out: &ReportOut) -> Result<Exit> {
    write_one(args, case, out, "html", "report.html", |case, opts, w| {
        exhibit_report::html::write(case, opts, w)
    })
}

/// `exhibit log CASE --format html`
pub fn custody_cmd(args: &Args, case: &Path, out: &ReportOut) -> Result<Exit> {
    write_one(
        args,
        case,
        out,
        "custody-html",
        "custody.html",
        |case, opts, w| exhibit_report::custody_html::write(case, opts, w),
    )
}

/// `exhibit export CASE --format F`
pub fn export_cmd(args: &Args, case: &Path, format: ExportFormat, out: &ReportOut) -> Result<Exit> {
    let (name, file) = format.names();
    write_one(args, case, out, name, file, |case, _, w| match format {
        ExportFormat::CaseUco => exhibit_report::uco::write(case, w),
        ExportFormat::Dfxml => exhibit_report::dfxml::write(case, w),
        ExportFormat::Timeline => exhibit_report::timeline::write(case, w),
    })
}

/// The prefix of links from the output to case paths: relative when the
/// output is inside the case (the case folder can move), else a `file:`
/// URL of the case folder.
fn case_href(case: &Case, target: &Target) -> Result<String> {
    match target {
        Target::Case(rel) => Ok("../".repeat(rel.matches('/').count())),
        Target::File(_) | Target::Stdout => {
            let root = std::fs::canonicalize(case.root())
                .with_context(|| format!("cannot resolve {}", case.root().display()))?;
            let root = root.to_string_lossy();
            Ok(markup::href("file://", &format!("{root}/")))
        }
    }
}

fn write_one(
    args: &Args,
    case_dir: &Path,
    out: &ReportOut,
    format: &str,
    default_name: &str,
    produce: impl FnOnce(&Case, &RenderOptions, &mut dyn Write) -> Result<()>,
) -> Result<Exit> {
    let zone = Zone::parse(&out.tz)?;
    let case = Case::open(case_dir)?;
    let target = output::resolve(&case, out.out.as_deref(), default_name)?;
    let opts = RenderOptions {
        zone,
        case_href: case_href(&case, &target)?,
    };
    let written = output::write(&case, &target, |w| produce(&case, &opts, w))
        .with_context(|| format!("cannot make the {format} output of {}", case_dir.display()))?;
    let chain = output::record(
        &case,
        format,
        std::slice::from_ref(&written),
        &config::command_line(),
        out.examiner.as_deref(),
    )?;
    let shown = match (&written.target, &written.path) {
        (Target::Stdout, _) => "standard output".to_owned(),
        (_, Some(path)) => term_path(path),
        (_, None) => String::new(),
    };
    if args.json {
        emit_begin(format)?;
        emit(
            "written",
            &json!({
                "format": format,
                "path": written.path,
                "size": written.size,
                "hashes": written.hashes,
                "made_from_chain_sha256": case.summary().chain_sha256,
                "chain_hash": chain,
            }),
        )?;
    } else if written.target != Target::Stdout {
        outln!("wrote       {shown} ({} bytes)", written.size)?;
        outln!("sha256      {}", written.sha256())?;
        outln!(
            "made from   the custody log of {} entries ending in {}",
            case.summary().entries,
            case.summary().chain_sha256
        )?;
        match &chain {
            Some(chain) => {
                outln!("recorded    in the custody log (report_written); chain hash now {chain}")?
            }
            None => outln!("the case is unchanged (the output is outside it)")?,
        }
    } else {
        // The output itself is on stdout; its digest goes where it cannot mix in.
        eprintln!(
            "exhibit: {format} sha256 {} ({} bytes), made from the log ending in {}",
            written.sha256(),
            written.size,
            case.summary().chain_sha256
        );
    }
    Ok(Exit::Success)
}
