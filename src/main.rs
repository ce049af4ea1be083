use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = eryxon::cli::Cli::parse();
    if let Err(message) = eryxon::cli::logs::init(cli.default_log_filter()) {
        return refuse(&message);
    }
    match eryxon::cli::run(cli).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {}", eryxon::cli::describe(&error));
            std::process::ExitCode::FAILURE
        }
    }
}

/// A setting that cannot be used: said once, and the exit status of a bad flag (2).
fn refuse(message: &str) -> std::process::ExitCode {
    eprintln!("error: {message}");
    std::process::ExitCode::from(2)
}
