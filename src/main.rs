use std::io::IsTerminal;

use clap::Parser;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = eryxon::cli::Cli::parse();
    let filter = EnvFilter::try_from_env("ERYXON_LOG")
        .unwrap_or_else(|_| EnvFilter::new(cli.default_log_filter()));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    if std::env::var("ERYXON_LOG_FORMAT").as_deref() == Ok("json") {
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
