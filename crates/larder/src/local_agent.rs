//! How `larder server` finds the agent of its host: it joins the one already
//! running on its data dir, or starts one as a separate, detached process (its own
//! session, so neither a Ctrl-C nor the server's exit reaches it).

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use larder_agent_link::RemoteAgent;

use crate::agent_daemon::connect;
use crate::agent_files::AgentFiles;

/// How long a freshly started agent may take to announce itself.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// The agent of `data_dir`: the running one, or a new one started now.
pub async fn join_or_start(data_dir: &Path, log: Option<&Path>) -> Result<RemoteAgent, String> {
    if let Some(agent) = connect(data_dir).await? {
        tracing::info!(agent = %agent.addr(), "joined the running agent");
        return Ok(agent);
    }
    let files = AgentFiles::new(data_dir);
    std::fs::create_dir_all(files.dir()).map_err(|e| format!("{}: {e}", files.dir().display()))?;
    let log_path = log.map(Path::to_path_buf).unwrap_or_else(|| files.log());
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| format!("{}: {e}", log_path.display()))?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut command = Command::new(exe);
    command
        .args(["agent", "run", "--data-dir"])
        .arg(data_dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log);
    // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot start the agent: {e}"))?;
    let pid = child.id();
    tracing::info!(pid, log = %log_path.display(), "started the local agent");
    // Reap it if it ever exits while this server runs.
    std::thread::spawn(move || {
        let _ = child.wait();
    });
    let started = Instant::now();
    while started.elapsed() < START_TIMEOUT {
        if files.announced().is_some_and(|a| a.pid == pid) {
            if let Some(agent) = connect(data_dir).await? {
                return Ok(agent);
            }
        }
        if !larder_agent::process_is_alive(pid) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(format!(
        "the agent did not start; see {}",
        log_path.display()
    ))
}

/// How long the local agent may be silent before the server looks at its process.
const SILENCE: Duration = Duration::from_secs(3);

/// Keeps the host's agent running while the server runs. When the agent the server
/// speaks to has not answered for a while and the announced agent process is gone
/// (a crash, a kill; not a frozen or slow one), it starts a new one (or joins one
/// somebody else started) and hands it to the controller, which sends it every
/// route and policy again. The new agent adopts the nodes that kept running and
/// serves the endpoints again from its state file.
pub async fn watch(
    data_dir: std::path::PathBuf,
    log: Option<std::path::PathBuf>,
    controller: larder_controller::Controller,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let files = AgentFiles::new(&data_dir);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => return,
        }
        if controller.local_agent_silence().is_none_or(|s| s < SILENCE) {
            continue;
        }
        if files
            .announced()
            .is_some_and(|a| larder_agent::process_is_alive(a.pid))
        {
            continue;
        }
        match join_or_start(&data_dir, log.as_deref()).await {
            Ok(agent) => {
                tracing::warn!(agent = %agent.addr(), "the local agent had exited; a new one serves this host");
                controller.replace_local_agent(std::sync::Arc::new(agent));
            }
            Err(e) => {
                tracing::error!(error = %e, "the local agent is gone and cannot be started again")
            }
        }
    }
}
