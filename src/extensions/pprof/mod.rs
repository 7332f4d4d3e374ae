//! `pprof` — CPU profiles of sloop over HTTP, in the format of Go's `net/http/pprof`,
//! as the Collector's pprof extension serves them: `go tool pprof` and Google's
//! `pprof` read them as they are.
//!
#![doc = concat!("```yaml\n", include_str!("example.yaml"), "```")]
//!
//! List it in `service.extensions` to run it. Keys: `endpoint` (`host:port`, default
//! `localhost:1777`); `save_to_file` (a path: a CPU profile of the whole run, from
//! start to shutdown, written there at shutdown); `block_profile_fraction` and
//! `mutex_profile_fraction`, Go runtime settings accepted only as 0 (their default).
//!
//! - `GET /debug/pprof/profile?seconds=N` records the whole process's CPU for N
//!   seconds (default 30, at most 300; anything else is a 400) at 100 samples a
//!   second and answers with the profile, a gzip'd `perftools.profiles.Profile`
//!   protobuf: `pprof -top http://localhost:1777/debug/pprof/profile?seconds=10`.
//!   One profile at a time in the process: while one is recorded (or `save_to_file`
//!   records the whole run) another request gets 409 Conflict.
//! - `GET /debug/pprof/` lists what is served; `GET /debug/pprof/cmdline` gives the
//!   command line, NUL-separated, as Go's does.
//!
//! Differences from the Collector: only the CPU profile exists. Go's other profiles
//! (`heap`, `allocs`, `goroutine`, `block`, `mutex`, `threadcreate`, `trace`)
//! describe the Go runtime and answer 404 here. Go answers a bad `seconds` with a
//! 30-second profile; sloop with a 400. `save_to_file` is written at shutdown, not
//! as the run goes, so a process that is killed leaves the file empty. The
//! Collector's HTTP server settings (`tls`, `auth`, ...) are refused as unknown keys.

mod config;
mod profile;
#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use config::PprofConfig;
pub use profile::{requested_duration, Recording, DEFAULT_SECONDS, MAX_SECONDS};

use crate::component::registry::ExtensionFactory;
use crate::component::{
    BoxFuture, BuildError, ComponentId, Extension, ExtensionConfig, ExtensionContext, Lifecycle, StartError,
};
use crate::confmap::{parse_block, ConfigError, RawValue};
use crate::extensions::zpages::server::ExtensionServer;

/// Registry entry.
pub const FACTORY: ExtensionFactory = ExtensionFactory {
    type_name: "pprof",
    aliases: &[],
    signals: &[],
    parse,
    example: include_str!("example.yaml"),
};

fn parse(value: &RawValue) -> Result<Box<dyn ExtensionConfig>, Vec<ConfigError>> {
    Ok(Box::new(parse_block::<PprofConfig>(value)?))
}

impl ExtensionConfig for PprofConfig {
    fn build(&self, id: &ComponentId, _ctx: &ExtensionContext) -> Result<Arc<dyn Extension>, BuildError> {
        Ok(Arc::new(Pprof {
            id: id.clone(),
            config: self.clone(),
            server: ExtensionServer::default(),
            profiles_stop: Mutex::new(CancellationToken::new()),
            whole_run: Mutex::new(None),
        }))
    }
}

/// The running extension.
pub struct Pprof {
    id: ComponentId,
    config: PprofConfig,
    server: ExtensionServer,
    /// Cancelled at shutdown: ends the profiles being recorded for clients, so that
    /// shutdown does not wait out their `seconds`. Replaced at each start.
    profiles_stop: Mutex<CancellationToken>,
    /// The `save_to_file` recording, while it runs.
    whole_run: Mutex<Option<WholeRun>>,
}

/// The profile of the whole run that `save_to_file` asks for.
struct WholeRun {
    path: String,
    /// Ends the recording when sent to (or dropped).
    stop: std::sync::mpsc::Sender<()>,
    recording: JoinHandle<Result<Vec<u8>, String>>,
}

/// The pprof routes; `stop` ends the profiles being recorded.
pub fn router(stop: CancellationToken) -> Router {
    Router::new()
        .route("/debug/pprof", get(|| async { Redirect::permanent("/debug/pprof/") }))
        .route("/debug/pprof/", get(index))
        .route("/debug/pprof/cmdline", get(cmdline))
        .route("/debug/pprof/profile", get(profile))
        .route("/debug/pprof/{name}", get(unknown_profile))
        .with_state(stop)
}

async fn index() -> Html<&'static str> {
    Html(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>/debug/pprof/</title></head><body>\n\
         <h1>/debug/pprof/</h1>\n<table>\n\
         <tr><td><a href=\"profile?seconds=30\">profile</a></td>\
         <td>CPU profile of the whole process. Set <code>seconds</code> (1 to 300, default 30). \
         Read it with <code>go tool pprof</code> or <code>pprof</code>.</td></tr>\n\
         <tr><td><a href=\"cmdline\">cmdline</a></td><td>The command line of this process.</td></tr>\n\
         </table>\n</body></html>\n",
    )
}

async fn cmdline() -> Response {
    let line = std::env::args().collect::<Vec<_>>().join("\0");
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], line).into_response()
}

async fn unknown_profile(Path(name): Path<String>) -> Response {
    (
        StatusCode::NOT_FOUND,
        format!("Unknown profile {name:?}: sloop serves the CPU profile (/debug/pprof/profile) only; Go's other profiles describe the Go runtime, which sloop does not have\n"),
    )
        .into_response()
}

/// The query of `/debug/pprof/profile`.
#[derive(Deserialize)]
struct ProfileQuery {
    seconds: Option<String>,
}

async fn profile(State(stop): State<CancellationToken>, Query(query): Query<ProfileQuery>) -> Response {
    let limit = match requested_duration(query.seconds.as_deref()) {
        Ok(limit) => limit,
        Err(message) => return (StatusCode::BAD_REQUEST, message + "\n").into_response(),
    };
    let Some(recording) = Recording::try_begin() else {
        return (
            StatusCode::CONFLICT,
            "a CPU profile is already being recorded in this process; ask again when it is done\n",
        )
            .into_response();
    };
    // Dropping `end` (the client went away and this future with it) ends the
    // recording too.
    let (end, ended) = std::sync::mpsc::channel();
    let mut work = tokio::task::spawn_blocking(move || recording.record(&ended, limit));
    let result = tokio::select! {
        result = &mut work => result,
        () = stop.cancelled() => {
            let _ = end.send(());
            work.await
        }
    };
    match result {
        Ok(Ok(profile)) => (
            [
                (header::CONTENT_TYPE, "application/octet-stream"),
                (header::CONTENT_DISPOSITION, "attachment; filename=\"profile\""),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            profile,
        )
            .into_response(),
        Ok(Err(message)) => (StatusCode::INTERNAL_SERVER_ERROR, message + "\n").into_response(),
        Err(error) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the CPU profiler failed: {error}\n"),
        )
            .into_response(),
    }
}

impl Pprof {
    /// Starts recording the whole run for `save_to_file`. The file is created now,
    /// so a path that cannot be written fails the start, not the shutdown.
    async fn start_whole_run(&self, path: &str) -> Result<(), StartError> {
        tokio::fs::File::create(path)
            .await
            .map_err(|e| StartError::new(&self.id, format!("save_to_file: cannot create {path}: {e}")))?;
        let recording = Recording::try_begin().ok_or_else(|| {
            StartError::new(
                &self.id,
                "save_to_file: another CPU profile is being recorded in this process",
            )
        })?;
        let (stop, stopped) = std::sync::mpsc::channel();
        let recording = tokio::task::spawn_blocking(move || recording.record(&stopped, Duration::MAX));
        let previous = self
            .whole_run
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .replace(WholeRun {
                path: path.to_string(),
                stop,
                recording,
            });
        drop(previous);
        Ok(())
    }

    /// Ends the whole-run recording and writes it to its file.
    async fn save_whole_run(&self) {
        let Some(run) = self.whole_run.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            return;
        };
        let _ = run.stop.send(());
        let written = match run.recording.await {
            Ok(Ok(profile)) => tokio::fs::write(&run.path, profile)
                .await
                .map_err(|e| format!("cannot write {}: {e}", run.path)),
            Ok(Err(message)) => Err(message),
            Err(error) => Err(format!("the CPU profiler failed: {error}")),
        };
        match written {
            Ok(()) => tracing::info!(message = "CPU profile of the run saved.", extension = %self.id, path = %run.path),
            Err(error) => tracing::error!(message = "CPU profile of the run not saved.", extension = %self.id, %error),
        }
    }
}

impl Extension for Pprof {}

impl Lifecycle for Pprof {
    fn start(&self) -> BoxFuture<'_, Result<(), StartError>> {
        Box::pin(async move {
            let stop = CancellationToken::new();
            *self.profiles_stop.lock().unwrap_or_else(|p| p.into_inner()) = stop.clone();
            let address = self.server.start(&self.id, &self.config.endpoint, router(stop)).await?;
            if let Some(path) = &self.config.save_to_file {
                if let Err(error) = self.start_whole_run(path).await {
                    self.server.shutdown().await;
                    return Err(error);
                }
            }
            tracing::info!(message = "pprof serving.", extension = %self.id, endpoint = %address);
            Ok(())
        })
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.profiles_stop.lock().unwrap_or_else(|p| p.into_inner()).cancel();
            self.server.shutdown().await;
            self.save_whole_run().await;
        })
    }
}
