//! The `polypact` binary: a thin entry point; the commands live in
//! [`cli`] (`runtime/src/cli/`).

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
