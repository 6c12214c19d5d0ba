//! `sonde-collector`: Sonde's collector as a service of its own. See `--help`; the README
//! shows several behind a load balancer on one PostgreSQL database.

mod serve;
mod settings;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use serde_json::Value;
use sonde_core::config::Destinations;
use sonde_core::http::{Api, FixedHost};
use sonde_core::Config;

use serve::Service;
use settings::Settings;

fn main() -> ExitCode {
    let settings = Settings::parse();
    match run(&settings) {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("sonde-collector: {why}");
            ExitCode::FAILURE
        }
    }
}

/// The client and API the settings describe, each bad option named.
fn service(settings: &Settings) -> Result<Service, String> {
    let mut options = settings.client_options()?;
    let destinations = Destinations::take_from(&mut options).map_err(|e| e.to_string())?;
    let config = Config::default()
        .for_binding(&options, ("sonde-collector", env!("CARGO_PKG_VERSION")))
        .map_err(|e| e.to_string())?;
    let (sonde, store) = destinations
        .build_client(
            config,
            Ok,
            "--store events.db (or postgresql://...) or --forward URL",
        )
        .map_err(|e| e.to_string())?;
    let api = Api::new(&settings.api_options()).map_err(|e| e.to_string())?;
    let mut shown = options;
    if let Some(store) = &store {
        shown.insert("store".into(), Value::String(store.location()));
    }
    Ok(Service {
        api,
        host: FixedHost {
            sonde,
            store,
            options: shown,
        },
        mount: settings.mount()?,
    })
}

fn run(settings: &Settings) -> Result<(), String> {
    let service = Arc::new(service(settings)?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the runtime: {e}"))?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(settings.listen)
            .await
            .map_err(|e| format!("listening on {}: {e}", settings.listen))?;
        let app = {
            let service = Arc::clone(&service);
            axum::Router::new()
                .fallback(move |request| serve::answer(Arc::clone(&service), request))
        };
        eprintln!(
            "sonde-collector: listening on http://{}{}",
            settings.listen, service.mount
        );
        // SIGTERM or Ctrl-C: stop accepting, let requests in progress finish.
        axum::serve(listener, app)
            .with_graceful_shutdown(stop_signal())
            .await
            .map_err(|e| format!("serving: {e}"))
    })?;
    // Then store and send what was accepted.
    let timeout = Duration::from_millis(settings.shutdown_timeout_ms);
    service
        .host
        .sonde
        .shutdown(timeout)
        .map_err(|e| format!("shutting down: {e}"))
}

async fn stop_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = terminate => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
