//! `larder server`: opens the store, joins (or starts) the host's agent, starts the
//! controller and serves the API until SIGINT or SIGTERM. The nodes and endpoints
//! belong to the agent and keep serving after the server stops, unless asked
//! (`--stop-agent-on-exit`).

use larder_controller::{Controller, EngineCatalog};

use crate::config::ServerConfig;

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutdown requested");
}

/// Runs the daemon until a shutdown signal.
pub async fn run(config: ServerConfig) -> Result<(), String> {
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| format!("{}: {e}", config.data_dir.display()))?;
    let data_dir = std::path::absolute(&config.data_dir).map_err(|e| e.to_string())?;
    let store = larder_store::open_embedded(&data_dir.join("larder.redb"))
        .map_err(|e| format!("cannot open the store in {}: {e}", data_dir.display()))?;
    let remote = crate::local_agent::join_or_start(&data_dir, config.agent_log.as_deref()).await?;
    let agent: std::sync::Arc<dyn larder_agent::NodeAgent> = std::sync::Arc::new(remote);
    let engines = EngineCatalog::from_agent(agent.as_ref()).await;
    for v in &engines.versions {
        tracing::info!(engine = %v.engine, version = %v.version, family = %v.family, "engine found");
    }
    if engines.versions.is_empty() {
        tracing::warn!(
            "no redis-server, valkey-server or memcached on PATH; clusters cannot start"
        );
    }
    let controller = Controller::new(store, config.settings, engines, agent);
    let secret = larder_agent_link::LinkSecret::load_or_create(
        &crate::agent_files::AgentFiles::new(&data_dir).secret(),
    )
    .map_err(|e| format!("cannot read the link secret: {e}"))?;
    controller
        .set_connector(crate::hosts_route::connector(secret.clone()))
        .map_err(|e| format!("cannot read the known hosts: {e}"))?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let loop_controller = controller.clone();
    let health_controller = controller.clone();
    let health_rx = stop_rx.clone();
    let watcher = tokio::spawn(crate::local_agent::watch(
        data_dir.clone(),
        config.agent_log.clone(),
        controller.clone(),
        stop_rx.clone(),
    ));
    let reconciler = tokio::spawn(async move { loop_controller.run(stop_rx).await });
    let health = tokio::spawn(async move { health_controller.health_loop(health_rx).await });

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    tracing::info!(listen = %config.listen, data_dir = %data_dir.display(), "larder API listening");
    let app = larder_api::router(larder_api::ApiState::new(
        controller.clone(),
        config.credentials,
        config.api_limits,
    ))
    .merge(crate::hosts_route::router(controller.clone(), secret));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| e.to_string())?;
    let _ = stop_tx.send(true);
    let _ = reconciler.await;
    let _ = health.await;
    let _ = watcher.await;
    if config.stop_agent_on_exit {
        tracing::info!("stopping the agent and its nodes, as asked");
        crate::agent_daemon::stop(&data_dir).await?;
    }
    tracing::info!("larder stopped");
    Ok(())
}
