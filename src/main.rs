//! The `antwort` command: parsing, output and the index's freshness; the pipeline is the
//! library's.

mod cli;

fn main() -> std::process::ExitCode {
    match cli::run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // `antwort ask ... | head` closes the pipe early: the reader has what it wanted.
        Err(error) if cli::is_broken_pipe(&error) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("antwort: error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
