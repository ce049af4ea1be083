use std::io::IsTerminal;

use clap::Parser;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = eryxon::cli::Cli::parse();
    // A log setting that cannot be read stops the start, as a bad flag does: ignored, it left
    // an operator without the logs they asked for and no word why
    // (`startup::bad_settings_are_refused_at_start`).
    let filter = match std::env::var("ERYXON_LOG") {
        Ok(text) if text.trim().is_empty() => EnvFilter::new(cli.default_log_filter()),
        Err(_) => EnvFilter::new(cli.default_log_filter()),
        Ok(text) => match EnvFilter::try_new(&text) {
            Ok(filter) => filter,
            Err(error) => {
                return refuse(&format!("ERYXON_LOG={text:?} is not a log filter: {error}"))
            }
        },
    };
    let json = match std::env::var("ERYXON_LOG_FORMAT").as_deref() {
        Err(_) | Ok("text") => false,
        Ok("json") => true,
        Ok(other) => return refuse(&format!("ERYXON_LOG_FORMAT={other:?}: use text or json")),
    };
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    if json {
        logs.json().init();
    } else {
        logs.init();
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
