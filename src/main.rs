fn main() -> std::process::ExitCode {
    match antwort::cli::run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("antwort: error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
