//! The `sloop` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use sloop::config::Config;

/// An OpenTelemetry-Collector-style telemetry pipeline with SLOs at its heart.
#[derive(Parser)]
#[command(name = "sloop", version, about)]
struct Cli {
    /// Config file (YAML, Collector shape). Repeat to merge several, later ones win.
    #[arg(long = "config", short = 'c', global = true, value_name = "FILE")]
    config: Vec<PathBuf>,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the pipelines (the default).
    Run,
    /// Check the config and print every problem with its path; exit non-zero if any.
    Validate,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Run) {
        Command::Validate => validate(&cli.config),
        Command::Run => run(&cli.config),
    }
}

fn validate(paths: &[PathBuf]) -> ExitCode {
    match Config::from_files(paths) {
        Ok(config) => {
            println!(
                "configuration is valid: {} pipeline(s), {} receiver(s), {} processor(s), {} exporter(s)",
                config.pipelines.len(),
                config.receivers.len(),
                config.processors.len(),
                config.exporters.len()
            );
            ExitCode::SUCCESS
        }
        Err(errors) => {
            eprint!("{errors}");
            ExitCode::FAILURE
        }
    }
}

fn run(paths: &[PathBuf]) -> ExitCode {
    // The same check as `validate`, before any port opens.
    let config = match Config::from_files(paths) {
        Ok(config) => config,
        Err(errors) => {
            eprint!("{errors}");
            return ExitCode::FAILURE;
        }
    };
    sloop::telemetry::init_logs(&config.telemetry.logs);
    let metrics = match sloop::telemetry::install_metrics_recorder() {
        Ok(handle) => Some(handle),
        Err(error) => {
            tracing::warn!(message = "Self-metrics disabled.", %error);
            None
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(message = "Cannot start the async runtime.", %error);
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(sloop::service::run(
        config,
        metrics,
        sloop::service::termination_signal(),
    )) {
        Ok(_) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(message = "sloop could not start.", %error);
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
