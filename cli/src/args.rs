//! Command-line arguments as the user types them (clap derive). These names
//! and flags are the contract scripts and later features build on.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// exhibit: forensic extraction of mobile handset dumps with a hash-chained
/// custody log.
#[derive(Debug, Parser)]
#[command(name = "exhibit", version, about, long_about = None, after_help = EXIT_CODES)]
pub struct Args {
    /// Settings file (default: the user's exhibit/exhibit.toml).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Folder to load plugins from (repeatable; default: $EXHIBIT_PLUGIN_PATH,
    /// the settings file, else the folder of the exhibit executable).
    #[arg(long = "plugins", global = true, value_name = "DIR")]
    pub plugins: Vec<PathBuf>,
    /// Print machine-readable JSON Lines on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    /// No progress bar and no warnings on stderr (the custody log keeps them).
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// More detail on stderr (-v, -vv).
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
// Parsed once per process: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the plugins found, and the libraries refused with the reason.
    Plugins,
    /// Ask every format plugin how sure it is that EVIDENCE is its format.
    Identify {
        /// A dump file or folder.
        evidence: PathBuf,
    },
    /// Extract every file of EVIDENCE into a new case folder, hashing each
    /// and recording every step in case/custody.jsonl.
    Extract(ExtractArgs),
    /// Re-check a case: every file hash and the whole custody chain.
    Verify {
        /// The case folder.
        case: PathBuf,
        /// The chain hash `extract` printed; fail unless the log ends in it or
        /// passes through it (later runs appended after it).
        #[arg(long, value_name = "SHA256")]
        expect: Option<String>,
    },
    /// Show the custody log of a case for a person to read, or write it as
    /// the custody report for court (`--format html`).
    Log {
        /// The case folder.
        case: PathBuf,
        /// `text` on the terminal, or `html`: the printable custody report
        /// (written to CASE/reports/custody.html unless --out says otherwise).
        #[arg(long, value_enum, default_value = "text")]
        format: LogFormat,
        #[command(flatten)]
        out: ReportOut,
    },
    /// Write the examiner's report: one self-contained HTML file (summary,
    /// device, conversations, contacts, calls, timeline, files), to
    /// CASE/reports/report.html unless --out says otherwise.
    Report {
        /// The case folder.
        case: PathBuf,
        #[command(flatten)]
        out: ReportOut,
    },
    /// Export a case in an exchange format: CASE/UCO JSON-LD, DFXML, or a
    /// timeline CSV for Timesketch (to CASE/reports/ unless --out says
    /// otherwise).
    Export {
        /// The case folder.
        case: PathBuf,
        /// The format.
        #[arg(long, value_enum)]
        format: ExportFormat,
        #[command(flatten)]
        out: ReportOut,
    },
    /// Run the artifact decoders again over an existing case, appending to
    /// its custody log and rewriting case/artifacts/.
    Decode {
        /// The case folder.
        case: PathBuf,
        /// Examiner's name, for the custody log.
        #[arg(long, value_name = "NAME")]
        examiner: Option<String>,
        /// Password for an encrypted database (else $EXHIBIT_PASSWORD, else a prompt).
        #[arg(long, value_name = "PASSWORD")]
        password: Option<String>,
        #[command(flatten)]
        isolation: IsolationArgs,
    },
    /// Internal: the child process that runs one isolated plugin.
    #[command(name = "plugin-host", hide = true)]
    PluginHost {
        /// The plugin library.
        #[arg(long, value_name = "FILE")]
        library: PathBuf,
        /// Its SHA-256 as the parent loaded it.
        #[arg(long, value_name = "HEX")]
        sha256: String,
        /// Address-space limit in bytes.
        #[arg(long, value_name = "BYTES")]
        memory: Option<u64>,
    },
    /// Print a case's decoded records (messages, contacts, calls), newest first.
    Artifacts {
        /// The case folder.
        case: PathBuf,
        /// Only this kind of record.
        #[arg(long, value_name = "KIND")]
        kind: Option<RecordKind>,
    },
}

/// Where a report goes and how it shows times.
#[derive(Debug, Clone, clap::Args)]
pub struct ReportOut {
    /// Write here instead of CASE/reports/ (`-` for standard output). A
    /// report written into the case is recorded in its custody log; one
    /// written elsewhere leaves the case untouched.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Show times in this zone beside UTC: an IANA name (`Europe/Berlin`)
    /// or an offset (`+05:30`). Exports are always UTC.
    #[arg(long, value_name = "ZONE", default_value = "UTC")]
    pub tz: String,
    /// Examiner making the report, for the custody log.
    #[arg(long, value_name = "NAME")]
    pub examiner: Option<String>,
}

/// How `exhibit log` shows the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One line per entry on the terminal.
    Text,
    /// The custody report for court: every entry with its chain hash,
    /// printable.
    Html,
}

/// The exchange formats of `exhibit export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// CASE/UCO 1.4 JSON-LD (caseontology.org).
    CaseUco,
    /// Digital Forensics XML.
    Dfxml,
    /// CSV with message, datetime and timestamp_desc, as Timesketch imports it.
    Timeline,
}

impl ExportFormat {
    /// The name in the custody log and the default file name.
    pub fn names(self) -> (&'static str, &'static str) {
        match self {
            ExportFormat::CaseUco => ("case-uco", "case-uco.jsonld"),
            ExportFormat::Dfxml => ("dfxml", "dfxml.xml"),
            ExportFormat::Timeline => ("timeline", "timeline.csv"),
        }
    }
}

/// The record kinds `exhibit artifacts` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RecordKind {
    /// SMS, MMS, iMessage and chat messages.
    Messages,
    /// Address-book contacts.
    Contacts,
    /// Call-log entries.
    Calls,
}

impl RecordKind {
    /// Every kind, in display order.
    pub const ALL: [RecordKind; 3] = [
        RecordKind::Messages,
        RecordKind::Contacts,
        RecordKind::Calls,
    ];

    /// The record file's name without `.jsonl`.
    pub fn name(self) -> &'static str {
        match self {
            RecordKind::Messages => "messages",
            RecordKind::Contacts => "contacts",
            RecordKind::Calls => "calls",
        }
    }
}

/// Arguments of `exhibit extract`.
#[derive(Debug, clap::Args)]
pub struct ExtractArgs {
    /// The dump: a file (tar, …) or a folder (an unpacked extraction).
    #[arg(required_unless_present = "resume")]
    pub evidence: Option<PathBuf>,
    /// Case folder to create; must not exist or be empty.
    #[arg(long, value_name = "DIR", required_unless_present = "resume")]
    pub case: Option<PathBuf>,
    /// Continue the unfinished (interrupted or killed) extraction in CASE:
    /// the evidence, plugin, digests and settings come from its custody
    /// log; files already extracted intact are checked, not rewritten.
    #[arg(
        long,
        value_name = "CASE",
        conflicts_with_all = [
            "evidence", "case", "agency", "case_number", "format", "hash",
            "evidence_sha256", "rehash_evidence", "threads", "min_free", "no_decode",
        ]
    )]
    pub resume: Option<PathBuf>,
    /// After the run, write the final chain hash (with the case, the
    /// evidence and the time) to FILE, which must be outside the case
    /// folder and not exist yet.
    #[arg(long, value_name = "FILE")]
    pub receipt: Option<PathBuf>,
    /// Examiner's name, for the custody log.
    #[arg(long, value_name = "NAME")]
    pub examiner: Option<String>,
    /// Examiner's organisation, for the custody log.
    #[arg(long, value_name = "NAME")]
    pub agency: Option<String>,
    /// Case or exhibit reference, for the custody log.
    #[arg(long = "case-number", value_name = "ID")]
    pub case_number: Option<String>,
    /// Use this format plugin instead of the one that probes best.
    #[arg(long, value_name = "NAME")]
    pub format: Option<String>,
    /// Digests for each file, comma-separated: md5, sha1, sha256 (always).
    #[arg(long, value_name = "LIST")]
    pub hash: Option<String>,
    /// The evidence's acquisition SHA-256; a mismatch is an error.
    #[arg(long = "evidence-sha256", value_name = "HEX")]
    pub evidence_sha256: Option<String>,
    /// Hash the evidence again at the end to prove it is unchanged.
    #[arg(long = "rehash-evidence")]
    pub rehash_evidence: bool,
    /// Threads a plugin may deliver entries from (default: one per CPU).
    #[arg(long, value_name = "N")]
    pub threads: Option<u32>,
    /// Space to leave free on the case disk, e.g. 512M or 2G (default 256M);
    /// extraction stops with an error rather than go below it.
    #[arg(long = "min-free", value_name = "SIZE", value_parser = parse_size)]
    pub min_free: Option<u64>,
    /// Password of an encrypted dump (else $EXHIBIT_PASSWORD, else a prompt
    /// on the terminal). Asked only if the dump is encrypted; never logged.
    /// On a shared machine prefer the prompt: other users can see arguments.
    #[arg(long, value_name = "PASSWORD")]
    pub password: Option<String>,
    /// Do not run the artifact decoders after extracting (`exhibit decode` runs them later).
    #[arg(long = "no-decode")]
    pub no_decode: bool,
    #[command(flatten)]
    pub isolation: IsolationArgs,
}

/// How plugins are kept apart from the run: by default each artifact decoder
/// runs in a child process of its own, the format plugin in this one.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct IsolationArgs {
    /// Run the format plugin in a child process too, so a crash, hang or
    /// runaway memory ends only that process (setting `isolate = true`).
    #[arg(long, conflicts_with = "no_isolate")]
    pub isolate: bool,
    /// Run every plugin inside this process (to debug a plugin; a crashing
    /// plugin then ends the run).
    #[arg(long = "no-isolate")]
    pub no_isolate: bool,
    /// Address-space limit of each plugin process, e.g. 2G.
    #[arg(long = "plugin-memory", value_name = "SIZE", value_parser = parse_size, conflicts_with = "no_isolate")]
    pub plugin_memory: Option<u64>,
    /// Seconds one plugin run may take (a format plugin over the evidence,
    /// a decoder over one file) before it is stopped.
    #[arg(
        long = "plugin-timeout",
        value_name = "SECONDS",
        conflicts_with = "no_isolate"
    )]
    pub plugin_timeout: Option<u64>,
}

/// Parses `1234`, `512K`, `256M`, `2G`, `1T` (binary multiples).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (digits, shift) = match text.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let shift = match c.to_ascii_uppercase() {
                'K' => 10,
                'M' => 20,
                'G' => 30,
                'T' => 40,
                _ => return Err(format!("unknown size suffix `{c}` (use K, M, G or T)")),
            };
            (&text[..i], shift)
        }
        _ => (text, 0),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a size like 512M"))?;
    n.checked_mul(1u64 << shift)
        .ok_or_else(|| format!("`{text}` is too large"))
}

/// Shown at the end of `--help`.
pub const EXIT_CODES: &str = "\
Exit codes:
  0    success: everything extracted / verified, no warnings or errors
  1    failure: the command could not do its job (the evidence changed during
       the run, among others), or verify found a problem
  2    completed with errors: extraction finished but recorded warnings or errors
  3    verify: the run is incomplete (interrupted or killed) and everything it
       recorded is intact; `exhibit extract --resume CASE` continues it
  64   usage error
  130  interrupted (Ctrl-C, SIGTERM): the custody log says so";

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn verify_cli() {
        Args::command().debug_assert();
    }

    #[test]
    fn sizes_parse_with_binary_suffixes() {
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert_eq!(parse_size("1234"), Ok(1234));
        assert!(parse_size("12X").is_err());
        assert!(parse_size("99999999999T").is_err());
    }

    #[test]
    fn resume_takes_its_settings_from_the_case_not_from_flags() {
        let ok = Args::try_parse_from(["exhibit", "extract", "--resume", "c", "--receipt", "r"]);
        let Command::Extract(x) = ok.unwrap().command else {
            panic!("not extract")
        };
        assert_eq!(
            (x.resume, x.receipt, x.evidence),
            (Some(PathBuf::from("c")), Some(PathBuf::from("r")), None)
        );
        for flag in [["--hash", "md5"], ["--format", "tar"], ["--case", "d"]] {
            let mut argv = vec!["exhibit", "extract", "--resume", "c"];
            argv.extend(flag);
            assert!(Args::try_parse_from(argv).is_err(), "{flag:?}");
        }
        assert!(Args::try_parse_from(["exhibit", "extract", "e.tar"]).is_err());
    }

    #[test]
    fn extract_contract_flags_parse() {
        let args = Args::try_parse_from([
            "exhibit",
            "extract",
            "e.tar",
            "--case",
            "c",
            "--examiner",
            "A",
            "--case-number",
            "42",
            "--format",
            "tar",
            "--hash",
            "md5,sha1",
            "--plugins",
            "p",
        ])
        .unwrap();
        let Command::Extract(x) = args.command else {
            panic!("not extract")
        };
        assert_eq!(x.case, Some(PathBuf::from("c")));
        assert_eq!(x.hash.as_deref(), Some("md5,sha1"));
        assert_eq!(args.plugins, vec![PathBuf::from("p")]);
    }
}
