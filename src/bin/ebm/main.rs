//! `ebm`: the command line over the library. Every subcommand is a thin layer: read files,
//! check them against the model, call the library, write the result.
//!
//! Exit codes: 0 success; 1 the run failed (no adapter, a GPU error, a lost device, out of
//! memory, chains that became non-finite, training that diverged); 2 bad input (a flag, a
//! file, a value: nothing ran); 130 interrupted by Ctrl-C (the output was still written).

mod args;
mod bench;
mod eval;
mod files;
mod flags;
mod info;
mod inputs;
mod interrupt;
mod npy;
mod out_file;
mod peak;
mod refine;
mod summary;
mod trace_file;
mod train;
mod workloads;

use std::process::ExitCode;

use clap::Parser;
use ebm::{Error, Result};

use args::{Cli, Command};
use flags::InputFiles;

/// What a run ended with, short of an error printed as it is.
pub enum Outcome {
    Done,
    /// Ctrl-C stopped it; the output was written (a refinement's marked cancelled).
    Interrupted,
    /// Training diverged: the error, then a note on which files remain (exit 1).
    Diverged {
        error: Error,
        note: String,
    },
}

fn main() -> ExitCode {
    // Mesa's Vulkan drivers warn on stderr when XDG_RUNTIME_DIR is unset, in words that
    // read like ebm's own errors. A temporary folder silences them. This runs first, while
    // the process has one thread and before any wgpu instance exists, so no other code
    // reads the environment as it changes (edition 2021: set_var is a safe function).
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        std::env::set_var("XDG_RUNTIME_DIR", std::env::temp_dir());
    }
    env_logger::init();
    let cli = Cli::parse();
    let files = input_files(&cli.command);
    match run(&cli) {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::Interrupted) => ExitCode::from(130),
        Ok(Outcome::Diverged { error, note }) => {
            eprintln!("error: {}", flags::describe(&error, &files));
            eprintln!("{note}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("error: {}", flags::describe(&e, &files));
            ExitCode::from(if bad_input(&e) { 2 } else { 1 })
        }
    }
}

/// The files behind the library's input names, for error messages.
fn input_files(command: &Command) -> InputFiles<'_> {
    match command {
        Command::Eval(a) => InputFiles {
            x: a.x.as_deref(),
            y: Some(("--y", &a.y)),
            fixed: None,
            renamed: &[],
        },
        Command::Refine(a) => InputFiles {
            x: a.x.as_deref(),
            y: Some(("--y0", &a.y0)),
            fixed: a.fixed.as_deref(),
            renamed: &[],
        },
        Command::Train(a) => InputFiles {
            x: a.x.as_deref(),
            y: Some(("--data", &a.data)),
            fixed: None,
            renamed: flags::NEGATIVES_FLAGS,
        },
        Command::Info(_) | Command::Bench(_) => InputFiles::default(),
    }
}

/// Whether an error is the input's fault (exit 2) rather than the run's (exit 1).
fn bad_input(e: &Error) -> bool {
    matches!(
        e,
        Error::Io { .. }
            | Error::ModelFile { .. }
            | Error::Model(_)
            | Error::Input { .. }
            | Error::Config { .. }
    )
}

fn run(cli: &Cli) -> Result<Outcome> {
    match &cli.command {
        Command::Info(args) => info::info(args).map(|()| Outcome::Done),
        Command::Eval(args) => eval::eval(args, cli.quiet).map(|()| Outcome::Done),
        Command::Refine(args) => refine::refine(args, cli.quiet),
        Command::Train(args) => train::train(args, cli.quiet),
        Command::Bench(args) => bench::bench(args).map(|()| Outcome::Done),
    }
}
