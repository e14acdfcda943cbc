//! The `cascade` command line's library: each subcommand as a function, so that tests and
//! benchmarks drive exactly what users run.

pub mod bench;
pub mod ci;
pub mod expand;
pub mod inputs;
pub mod run;
pub mod schedule;
pub mod schema;
pub mod terminal;
pub mod validate;

/// Output format of commands that print decisions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Table,
    Json,
}

/// Exit codes: 0 all good, 1 an expectation failed, 2 bad input or usage.
pub const EXIT_EXPECTATION_FAILED: u8 = 1;
pub const EXIT_BAD_INPUT: u8 = 2;
