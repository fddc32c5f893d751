fn main() -> std::process::ExitCode {
    match antwort::cli::run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // `antwort ask ... | head` closes the pipe early: the reader has what it wanted.
        Err(error) if antwort::cli::is_broken_pipe(&error) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("antwort: error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
