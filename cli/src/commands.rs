//! The five subcommands: each calls the core and renders its result, as
//! text for people or as JSON Lines under `--json`.

use crate::args::{Args, ExtractArgs};
use crate::config::{self, Config};
use crate::outln;
use crate::output::{Exit, emit, emit_begin, term, term_path};
use crate::password::CliPassword;
use crate::progress::Progress;
use anyhow::{Context, Result};
use exhibit_core::custody::{LOG_FILE, read_log};
use exhibit_core::extract::PROBE_BYTES;
use exhibit_core::{Evidence, ExtractOptions, Outcome, PluginHost, extract, verify};
use exhibit_plugin_sdk::Probe;
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

fn load_plugins(cfg: &Config) -> PluginHost {
    PluginHost::discover(&cfg.plugin_dirs)
}

/// `exhibit plugins`
pub fn plugins(args: &Args, cfg: &Config) -> Result<Exit> {
    let host = load_plugins(cfg);
    if args.json {
        emit_begin("plugins")?;
        for p in host.plugins() {
            emit("plugin", p.info())?;
        }
        for r in host.refused() {
            emit(
                "refused",
                &json!({"path": r.path, "sha256": r.sha256, "reason": r.reason.to_string()}),
            )?;
        }
    } else {
        let dirs: Vec<String> = host.searched().iter().map(|d| term_path(d)).collect();
        outln!("plugin folders: {}", dirs.join(", "))?;
        if host.plugins().is_empty() {
            outln!("no plugins loaded")?;
        }
        for p in host.plugins() {
            let i = p.info();
            let kind = match i.kind {
                exhibit_core::plugin::PluginKind::Format => "format",
                exhibit_core::plugin::PluginKind::Artifact => "artifact",
            };
            outln!(
                "{:<15} {:<8} {:<9} {}",
                i.name,
                i.version,
                kind,
                i.description
            )?;
            outln!("{:<15} {} sha256 {}", "", term_path(&i.path), i.sha256)?;
            if !i.paths.is_empty() {
                outln!(
                    "{:<15} decodes {} into {}",
                    "",
                    i.paths.join(" "),
                    i.kinds.join(", ")
                )?;
            }
        }
        for r in host.refused() {
            eprintln!("exhibit: {}", term(&r.to_string()));
        }
    }
    Ok(if host.refused().is_empty() {
        Exit::Success
    } else {
        Exit::CompletedWithErrors
    })
}

/// `exhibit identify EVIDENCE`
pub fn identify(args: &Args, cfg: &Config, evidence: &Path) -> Result<Exit> {
    let host = load_plugins(cfg);
    let ev = Evidence::open(evidence)
        .with_context(|| format!("cannot open evidence {}", evidence.display()))?;
    let head = ev.head(PROBE_BYTES)?;
    let probe = Probe {
        head: &head,
        name: ev.path().as_os_str().as_encoded_bytes(),
        size: ev.size(),
        is_dir: ev.kind() == exhibit_core::evidence::EvidenceKind::Folder,
    };
    let scores = host.probe(&probe);
    let best = scores
        .first()
        .filter(|(_, c)| *c > 0)
        .map(|(p, _)| p.info().name.clone());
    if args.json {
        emit_begin("identify")?;
        for (p, c) in &scores {
            emit(
                "candidate",
                &json!({"plugin": p.info().name, "confidence": c}),
            )?;
        }
        let segments: Vec<_> = ev
            .segments()
            .map(|(path, size)| json!({"path": path, "size": size}))
            .collect();
        emit(
            "end",
            &json!({"evidence": ev.path(), "format": best, "segments": segments}),
        )?;
    } else {
        for (p, c) in &scores {
            outln!("{:>3}  {}", c, p.info().name)?;
        }
        let segments = ev.segments().count();
        if segments > 0 {
            outln!(
                "a split image of {segments} segments, {} bytes in all, read as one",
                ev.size()
            )?;
        }
        match &best {
            Some(name) => outln!("{}: {name}", term(&ev.path().to_string_lossy()))?,
            None => outln!(
                "{}: no format plugin recognises it",
                term(&ev.path().to_string_lossy())
            )?,
        }
    }
    Ok(if best.is_some() {
        Exit::Success
    } else {
        Exit::Failure
    })
}

/// `exhibit extract EVIDENCE --case DIR …`
pub fn extract_cmd(args: &Args, cfg: &Config, x: &ExtractArgs) -> Result<Exit> {
    // With --resume, what the run does comes from the case's log, not from flags.
    let plan = match &x.resume {
        Some(case) => Some(exhibit_core::resume::plan(case)?),
        None => None,
    };
    let (evidence, case_dir) = match (&plan, &x.evidence, &x.case) {
        (Some(p), _, _) => (p.evidence.clone(), p.case_dir.clone()),
        (None, Some(evidence), Some(case)) => (evidence.clone(), case.clone()),
        _ => anyhow::bail!("extract needs EVIDENCE and --case DIR, or --resume CASE"),
    };
    if let Some(receipt) = &x.receipt {
        exhibit_core::receipt::check_location(receipt, &case_dir)?;
    }
    let hashes = match &plan {
        Some(p) => p.hashes.clone(),
        None => cfg.hashes(x)?,
    };
    let cancel = Arc::new(AtomicBool::new(false));
    {
        let cancel = cancel.clone();
        let _ = ctrlc::set_handler(move || stop_or_exit(&cancel));
    }
    let progress = Progress::new(args.quiet, args.json);
    let password = CliPassword::new(x.password.clone(), progress.bar());
    let opts = ExtractOptions {
        evidence,
        case_dir,
        examiner: x.examiner.clone().or_else(|| cfg.settings.examiner.clone()),
        agency: match &plan {
            Some(p) => p.agency.clone(),
            None => x.agency.clone().or_else(|| cfg.settings.agency.clone()),
        },
        case_number: match &plan {
            Some(p) => p.case_number.clone(),
            None => x.case_number.clone(),
        },
        format: match &plan {
            Some(p) => Some(p.plugin.clone()),
            None => x.format.clone(),
        },
        hashes: hashes.clone(),
        evidence_sha256: match &plan {
            Some(p) => p.acquisition_sha256.clone(),
            None => config::acquisition_hash(x.evidence_sha256.as_deref())?,
        },
        rehash_evidence: plan
            .as_ref()
            .map_or(x.rehash_evidence, |p| p.rehash_evidence),
        command_line: config::command_line(),
        settings: match &plan {
            Some(p) => p.settings.clone(),
            None => cfg.in_force(x, &hashes),
        },
        cancel,
        threads: plan.as_ref().map_or(x.threads.unwrap_or(0), |p| p.threads),
        min_free: plan
            .as_ref()
            .and_then(|p| p.min_free)
            .or(x.min_free)
            .unwrap_or(exhibit_core::extract::DEFAULT_MIN_FREE),
        password: Some(Arc::new(password)),
        decode: plan.as_ref().map_or(!x.no_decode, |p| p.decode),
        isolation: cfg.isolation(&x.isolation)?,
    };
    let host = load_plugins(cfg);
    let summary = match &plan {
        Some(p) => exhibit_core::resume::resume(&host, &opts, p, &progress),
        None => extract(&host, &opts, &progress),
    };
    progress.finish();
    let summary = summary?;
    if !summary.evidence_changes.is_empty() {
        // Loud even under --quiet: the extraction cannot be relied on.
        eprintln!(
            "exhibit: THE EVIDENCE {} CHANGED DURING THE RUN: {}; the extraction cannot be relied on (see `exhibit log`)",
            term(&opts.evidence.to_string_lossy()),
            term(&summary.evidence_changes.join("; "))
        );
    }
    let receipt = match &x.receipt {
        Some(path) => {
            exhibit_core::receipt::Receipt::of(&summary, &opts.evidence)
                .write(path, &summary.case_dir)?;
            Some(path)
        }
        None => None,
    };
    let exit = match summary.outcome {
        Outcome::Clean => Exit::Success,
        Outcome::CompletedWithErrors => Exit::CompletedWithErrors,
        Outcome::Failed => Exit::Failure,
        Outcome::Interrupted => Exit::Interrupted,
    };
    if args.json {
        emit_begin("extract")?;
        emit("summary", &summary)?;
        if let Some(path) = receipt {
            emit("receipt", &json!({"path": path}))?;
        }
    } else {
        let outcome = match summary.outcome {
            Outcome::Clean => "complete",
            Outcome::CompletedWithErrors => "complete, with warnings or errors (see `exhibit log`)",
            Outcome::Failed => "FAILED (see `exhibit log`)",
            Outcome::Interrupted => "INTERRUPTED",
        };
        let resumed = if summary.resumed { " (resumed)" } else { "" };
        outln!("extraction{resumed} {outcome}")?;
        outln!("  case        {}", term_path(&summary.case_dir))?;
        outln!(
            "  plugin      {}",
            summary.plugin.as_deref().unwrap_or("none")
        )?;
        outln!("  files       {} ({} bytes)", summary.files, summary.bytes)?;
        if summary.resumed {
            outln!(
                "  confirmed   {} files of the earlier run delivered again and identical, not rewritten",
                summary.files_confirmed
            )?;
        }
        outln!(
            "  other       {} directories, links and special entries recorded",
            summary.entries_recorded
        )?;
        outln!("  warnings    {}", summary.warnings)?;
        outln!("  errors      {}", summary.errors)?;
        if let Some(sha) = &summary.evidence_sha256 {
            outln!("  evidence    sha256 {sha}")?;
        }
        if !summary.evidence_changes.is_empty() {
            outln!(
                "  evidence    CHANGED during the run: {}",
                term(&summary.evidence_changes.join("; "))
            )?;
        }
        if let Some(decoded) = &summary.decoded {
            outln!("  records     {}", records_line(decoded))?;
        }
        outln!("  time        {:.2} s", summary.duration.as_secs_f64())?;
        outln!("  chain hash  {}", summary.chain_hash)?;
        if let Some(path) = receipt {
            outln!("  receipt     {} (written)", term_path(path))?;
        }
        outln!(
            "keep the chain hash: `exhibit verify {} --expect <chain hash>` proves the log unchanged",
            term_path(&summary.case_dir)
        )?;
        if summary.outcome == Outcome::Interrupted {
            outln!(
                "continue it with: exhibit extract --resume {}",
                term_path(&summary.case_dir)
            )?;
        }
    }
    Ok(exit)
}

/// The Ctrl-C / SIGTERM handler: the first asks the run to stop cleanly; a
/// second, for a plugin that does not stop, ends the process at once. The
/// custody log is then a valid prefix, as after `kill -9`, which
/// `exhibit extract --resume` continues.
fn stop_or_exit(cancel: &AtomicBool) {
    if cancel.swap(true, Ordering::SeqCst) {
        eprintln!("exhibit: stopped at once by a second interrupt; the custody log ends here");
        std::process::exit(Exit::Interrupted as i32);
    }
}

fn records_line(d: &exhibit_core::DecodeTally) -> String {
    let kinds: Vec<String> = d.records.iter().map(|(k, n)| format!("{n} {k}")).collect();
    let kinds = if kinds.is_empty() {
        "none".to_owned()
    } else {
        kinds.join(", ")
    };
    let failed = if d.failed > 0 {
        format!(", {} failed", d.failed)
    } else {
        String::new()
    };
    format!("{kinds} (from {} decoder runs{failed})", d.jobs)
}

/// `exhibit decode CASE`
pub fn decode_cmd(
    args: &Args,
    cfg: &Config,
    case: &Path,
    examiner: Option<&str>,
    password: Option<String>,
    isolation: &crate::args::IsolationArgs,
) -> Result<Exit> {
    let cancel = Arc::new(AtomicBool::new(false));
    {
        let cancel = cancel.clone();
        let _ = ctrlc::set_handler(move || stop_or_exit(&cancel));
    }
    let progress = Progress::new(args.quiet, args.json);
    let opts = exhibit_core::DecodeOptions {
        hashes: vec![exhibit_core::HashAlgorithm::Sha256],
        cancel,
        password: Some(Arc::new(CliPassword::new(password, progress.bar()))),
        isolation: cfg.isolation(isolation)?,
    };
    let host = load_plugins(cfg);
    let examiner = examiner.or(cfg.settings.examiner.as_deref());
    let summary = exhibit_core::decode_existing(
        &host,
        case,
        &opts,
        &config::command_line(),
        examiner,
        &progress,
    );
    progress.finish();
    let summary = summary?;
    let exit = match summary.outcome {
        Outcome::Clean => Exit::Success,
        Outcome::CompletedWithErrors => Exit::CompletedWithErrors,
        Outcome::Failed => Exit::Failure,
        Outcome::Interrupted => Exit::Interrupted,
    };
    if args.json {
        emit_begin("decode")?;
        emit("summary", &summary)?;
    } else {
        outln!(
            "decoding {}",
            match summary.outcome {
                Outcome::Clean => "complete",
                Outcome::CompletedWithErrors =>
                    "complete, with warnings or errors (see `exhibit log`)",
                Outcome::Failed => "FAILED (see `exhibit log`)",
                Outcome::Interrupted => "INTERRUPTED",
            }
        )?;
        outln!("  case        {}", term_path(&summary.case_dir))?;
        outln!("  records     {}", records_line(&summary.decoded))?;
        outln!("  warnings    {}", summary.warnings)?;
        outln!("  errors      {}", summary.errors)?;
        outln!("  chain hash  {}", summary.chain_hash)?;
    }
    Ok(exit)
}

/// `exhibit verify CASE`
pub fn verify_cmd(args: &Args, case: &Path, expect: Option<&str>) -> Result<Exit> {
    let report =
        verify(case, expect).with_context(|| format!("cannot verify {}", case.display()))?;
    if args.json {
        emit_begin("verify")?;
        for p in &report.problems {
            emit("problem", &json!({"message": p.to_string(), "detail": p}))?;
        }
        emit(
            "summary",
            &json!({
                "ok": report.ok(),
                "case_dir": report.case_dir,
                "entries": report.entries,
                "files_checked": report.files_checked,
                "files_intact": report.files_intact,
                "complete": report.complete,
                "interrupted": report.interrupted,
                "only_incomplete": report.only_incomplete(),
                "intact_files": report.intact_files,
                "partial_files": report.partial_files,
                "chain_hash": report.chain_hash,
                "anchored_at": report.anchored_at,
                "problems": report.problems.len(),
            }),
        )?;
    } else {
        for p in &report.problems {
            outln!("FAIL  {}", term(&p.to_string()))?;
        }
        if !report.complete || report.interrupted {
            // What an unfinished run did get right, file by file.
            outln!(
                "INCOMPLETE RUN: {} files extracted whole and intact, {} partial",
                report.intact_files.len(),
                report.partial_files.len()
            )?;
            for path in &report.intact_files {
                outln!("  intact   {}", term(path))?;
            }
            for path in &report.partial_files {
                outln!("  partial  {}", term(path))?;
            }
        }
        outln!(
            "{} log entries, {} of {} files intact, chain hash {}",
            report.entries,
            report.files_intact,
            report.files_checked,
            report.chain_hash.as_deref().unwrap_or("none")
        )?;
        if let Some(at) = report.anchored_at {
            outln!(
                "the expected hash is that of entry {}; {} entries were appended after it by later runs (see `exhibit log`)",
                at.entry,
                at.appended
            )?;
        }
        if report.ok() {
            outln!("verified: every file and every log entry is as recorded")?;
        } else if report.only_incomplete() {
            // An interrupted decoding is finished by decoding again.
            let decoding = report.problems.iter().any(|p| {
                matches!(p, exhibit_core::Problem::Interrupted { during, .. } if during == "decoding")
            });
            let next = if decoding {
                "exhibit decode"
            } else {
                "exhibit extract --resume"
            };
            outln!(
                "NOT VERIFIED: the run is incomplete, and everything it recorded is intact; continue it with `{next} {}`",
                term_path(case)
            )?;
        } else {
            outln!("NOT VERIFIED: {} problems", report.problems.len())?;
        }
    }
    Ok(if report.ok() {
        Exit::Success
    } else if report.only_incomplete() {
        Exit::Incomplete
    } else {
        Exit::Failure
    })
}

/// `exhibit log CASE`
pub fn log_cmd(args: &Args, case: &Path) -> Result<Exit> {
    let path = case.join(LOG_FILE);
    let lines = read_log(&path).with_context(|| format!("cannot read {}", path.display()))?;
    if args.json {
        emit_begin("log")?;
    }
    let mut last_hash = None;
    for line in lines {
        let line = line?;
        last_hash = Some(line.hash.clone());
        match &line.entry {
            Ok(entry) if args.json => {
                emit("entry", &json!({"entry": entry, "line_sha256": line.hash}))?
            }
            Ok(entry) => outln!(
                "{:>6}  {}  {}",
                entry.seq,
                entry.time,
                term(&describe(&entry.action, &entry.details))
            )?,
            Err(e) if args.json => emit("unreadable", &json!({"line": line.line_no, "error": e}))?,
            Err(e) => outln!("line {}: unreadable entry: {e}", line.line_no)?,
        }
    }
    if !args.json {
        outln!("chain hash {}", last_hash.as_deref().unwrap_or("none"))?;
        outln!("re-check with: exhibit verify {}", term_path(case))?;
    }
    Ok(Exit::Success)
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("-")
}

/// One line of human text for a custody entry.
fn describe(action: &str, d: &Value) -> String {
    use exhibit_core::custody::action as a;
    let name = |v: &Value| match &v["name"] {
        Value::String(s) => s.clone(),
        Value::Object(o) => format!(
            "<hex {}>",
            o.get("hex").and_then(Value::as_str).unwrap_or("")
        ),
        _ => "-".to_owned(),
    };
    match action {
        a::CASE_OPENED => format!(
            "case opened by {} ({}), case number {}, exhibit {} on {}",
            s(d, "examiner"),
            s(d, "agency"),
            s(d, "case_number"),
            s(d, "tool_version"),
            s(d, "host")
        ),
        a::PLUGIN_LOADED => format!(
            "plugin {} {} loaded from {} (sha256 {})",
            s(d, "name"),
            s(d, "version"),
            s(d, "path"),
            s(d, "sha256")
        ),
        a::PLUGIN_REFUSED => format!("plugin {} refused: {}", s(d, "path"), s(d, "reason")),
        a::EVIDENCE_OPENED => format!(
            "evidence {} opened read-only: {} {} bytes, modified {}",
            s(d, "path"),
            s(d, "kind"),
            d["size"],
            s(d, "mtime")
        ),
        a::PLUGIN_SELECTED => format!(
            "format plugin {} {} chosen (confidence {}{})",
            s(d, "plugin"),
            s(d, "version"),
            d["confidence"],
            if d["forced"] == json!(true) {
                ", forced by --format"
            } else {
                ""
            }
        ),
        a::FILE_EXTRACTED => {
            let original = name(d);
            let path = s(d, "path");
            let renamed = path.strip_prefix("files/") != Some(original.trim_start_matches('/'));
            format!(
                "file {path} ({} bytes) sha256 {}{}{}",
                d["size"],
                s(&d["hashes"], "sha256"),
                if renamed {
                    format!(", original name {original}")
                } else {
                    String::new()
                },
                if d["complete"] == json!(false) {
                    " INCOMPLETE"
                } else {
                    ""
                }
            )
        }
        a::ENTRY_RECORDED => {
            let target = d["meta"]["link_target"]
                .as_str()
                .map(|t| format!(" -> {t}"))
                .unwrap_or_default();
            format!("{} {}{target}", s(d, "kind"), name(d))
        }
        a::ARTIFACT_WRITTEN => format!(
            "records {} ({} records) sha256 {}",
            s(d, "path"),
            d["records"],
            s(&d["hashes"], "sha256")
        ),
        a::WARNING | a::ERROR => {
            let offset = d["offset"]
                .as_u64()
                .map(|o| format!(" (offset {o:#x})"))
                .unwrap_or_default();
            format!("{}: {}{offset}", action.to_uppercase(), s(d, "message"))
        }
        a::PLUGIN_FINISHED => format!("plugin {} finished: {}", s(d, "plugin"), s(d, "status")),
        a::EVIDENCE_DESCRIBED => format!("{} ({}): {}", s(d, "what"), s(d, "plugin"), d["details"]),
        a::PASSWORD_REQUESTED => format!(
            "plugin {} asked for the password of {}: {}",
            s(d, "plugin"),
            s(d, "for"),
            d["source"]
                .as_str()
                .map_or("none was given".to_owned(), |from| format!(
                    "given by {from}"
                ))
        ),
        a::CASE_REOPENED => format!(
            "case reopened to {} by {} with exhibit {} on {}",
            s(d, "purpose"),
            s(d, "examiner"),
            s(d, "tool_version"),
            s(d, "host")
        ),
        a::DECODING_STARTED => format!(
            "decoding started: {} decoders, {} matching files",
            d["decoders"].as_array().map_or(0, Vec::len),
            d["matches"].as_array().map_or(0, Vec::len)
        ),
        a::FILE_DECODED => format!(
            "decoder {} read {} (sha256 {}): {}, records {}",
            s(d, "decoder"),
            s(d, "file"),
            s(d, "sha256"),
            s(d, "status"),
            d["records"]
        ),
        a::EVIDENCE_HASHED => format!(
            "evidence hashed: sha256 {} over {} bytes",
            s(&d["hashes"], "sha256"),
            d["bytes"]
        ),
        a::EVIDENCE_CHECKED => {
            if d["unchanged"] == json!(true) {
                "evidence re-checked: unchanged".to_owned()
            } else {
                format!("evidence CHANGED: {}", d["changes"])
            }
        }
        a::RUN_FINISHED => format!(
            "run finished: {}, {} files, {} bytes, {} warnings, {} errors",
            s(d, "outcome"),
            d["files"],
            d["bytes"],
            d["warnings"],
            d["errors"]
        ),
        a::RUN_INTERRUPTED => format!(
            "run INTERRUPTED during {}: {} entries in progress, evidence read to byte {} of {}",
            s(d, "during"),
            d["in_progress"].as_array().map_or(0, Vec::len),
            d["evidence_read"]["bytes"],
            d["evidence_read"]["size"]
        ),
        a::RUN_RESUMED => format!(
            "run resumed by {} with exhibit {} on {}: {} files logged ({} complete){}",
            s(d, "examiner"),
            s(d, "tool_version"),
            s(d, "host"),
            d["files_logged"],
            d["files_logged_complete"],
            if d["torn_line"].is_object() {
                format!(", torn log line {} removed", d["torn_line"]["line"])
            } else {
                String::new()
            }
        ),
        a::FILE_CONFIRMED => format!(
            "file {} ({} bytes) delivered again, identical: sha256 {}",
            s(d, "path"),
            d["size"],
            s(&d["hashes"], "sha256")
        ),
        other => format!("{other} {d}"),
    }
}
