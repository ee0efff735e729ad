//! The `pealet` binary: every command lives in [`pealet::cli`].

fn main() -> std::process::ExitCode {
    pealet::cli::main()
}
