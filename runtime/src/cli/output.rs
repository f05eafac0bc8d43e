//! Writing to stdout and stderr the way command line tools do: when the
//! reader of a pipe goes away (`polypact … | head -2`), the CLI ends quietly
//! with status 141 (128 + SIGPIPE), as `ls | head` does, instead of
//! panicking. Every print of the CLI goes through [`out`] and [`err`] (the
//! `outln!`, `out!`, `errln!` and `errout!` macros of `cli/mod.rs`).
//!
//! Rust ignores SIGPIPE, so a write to a closed pipe returns `EPIPE`, which
//! `println!` turns into a panic; restoring the signal's default action
//! would need `unsafe` (denied in this workspace).

use std::fmt;
use std::io::{ErrorKind, Write};

/// The exit status of a process that wrote to a closed pipe: 128 + SIGPIPE (13).
pub const BROKEN_PIPE_STATUS: i32 = 141;

/// Writes to stdout; a closed pipe ends the process with
/// [`BROKEN_PIPE_STATUS`], another write error with status 1.
pub fn out(args: fmt::Arguments<'_>) {
    let mut stdout = std::io::stdout().lock();
    if let Err(error) = stdout.write_fmt(args) {
        if error.kind() == ErrorKind::BrokenPipe {
            std::process::exit(BROKEN_PIPE_STATUS);
        }
        let _ = writeln!(std::io::stderr(), "error: cannot write the output: {error}");
        std::process::exit(1);
    }
}

/// Flushes stdout (for output that must be seen at once, such as events);
/// a closed pipe ends the process as in [`out`].
pub fn flush() {
    if let Err(error) = std::io::stdout().flush()
        && error.kind() == ErrorKind::BrokenPipe
    {
        std::process::exit(BROKEN_PIPE_STATUS);
    }
}

/// Writes to stderr; a closed pipe ends the process with
/// [`BROKEN_PIPE_STATUS`], another write error is ignored (there is nowhere
/// left to report it).
pub fn err(args: fmt::Arguments<'_>) {
    if let Err(error) = std::io::stderr().lock().write_fmt(args)
        && error.kind() == ErrorKind::BrokenPipe
    {
        std::process::exit(BROKEN_PIPE_STATUS);
    }
}
