//! `exhibit`, the command-line front end: parses arguments, turns them into
//! a validated configuration, calls exhibit-core and renders the result.
#![forbid(unsafe_code)]

mod args;
mod commands;
mod config;
mod output;
mod password;
mod progress;
mod records;
mod reports;

use args::{Args, Command, LogFormat};
use clap::Parser;
use output::Exit;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(e) => {
            let exit = if e.use_stderr() {
                Exit::Usage
            } else {
                Exit::Success
            };
            let _ = e.print();
            return exit.into();
        }
    };
    if let Command::PluginHost {
        library,
        sha256,
        memory,
    } = &args.command
    {
        // A child of an extraction: no settings file, no terminal output of
        // its own; its exit code means something only to the parent.
        let code = exhibit_core::isolate::serve_child(library, sha256, *memory);
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    init_tracing(args.verbose, args.quiet);
    match run(&args) {
        Ok(exit) => exit.into(),
        Err(err) => {
            if is_broken_pipe(&err) {
                return Exit::Success.into();
            }
            eprintln!("exhibit: {}", output::term(&format!("{err:#}")));
            Exit::Failure.into()
        }
    }
}

fn run(args: &Args) -> anyhow::Result<Exit> {
    let cfg = config::Config::new(args)?;
    match &args.command {
        Command::Plugins => commands::plugins(args, &cfg),
        Command::Identify { evidence } => commands::identify(args, &cfg, evidence),
        Command::Extract(x) => commands::extract_cmd(args, &cfg, x),
        Command::Verify { case, expect } => commands::verify_cmd(args, case, expect.as_deref()),
        Command::Log {
            case,
            format: LogFormat::Text,
            ..
        } => commands::log_cmd(args, case),
        Command::Log {
            case,
            format: LogFormat::Html,
            out,
        } => reports::custody_cmd(args, case, out),
        Command::Report { case, out } => reports::report_cmd(args, case, out),
        Command::Export { case, format, out } => reports::export_cmd(args, case, *format, out),
        Command::Decode {
            case,
            examiner,
            password,
            isolation,
        } => commands::decode_cmd(
            args,
            &cfg,
            case,
            examiner.as_deref(),
            password.clone(),
            isolation,
        ),
        Command::PluginHost { .. } => unreachable!("handled before the configuration is read"),
        Command::Artifacts { case, kind } => records::artifacts_cmd(args, case, *kind),
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn init_tracing(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "off",
        (false, 0) => "off",
        (false, 1) => "info",
        (false, 2) => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("EXHIBIT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
