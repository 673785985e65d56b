//! Running `openocd` as a child process: start it on a free TCL port, wait until the port
//! answers, keep the tail of its output, and shut it down cleanly.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;
use tokio::sync::oneshot;

use crate::connection::{DEFAULT_MAX_REPLY, TERMINATOR};
use crate::{Error, Result};

/// How many lines of OpenOCD's output a start failure reports.
const TAIL_LINES: usize = 40;

/// How many fresh ports `start` tries when another program takes its port first.
const PORT_ATTEMPTS: usize = 3;

/// How to run `openocd` for [`Session::start`](crate::Session::start).
///
/// Config files and commands are passed in the order they are added, after the SDK's own
/// `tcl_port N`, `gdb_port disabled` and `telnet_port disabled`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use syncportal_openocd::StartConfig;
///
/// let config = StartConfig::new()
///     .command("adapter driver dummy")
///     .command("jtag newtap chip cpu -irlen 4")
///     .file("target/my-board.cfg")
///     .startup_timeout(Duration::from_secs(5));
/// assert_eq!(config.args().len(), 6); // three -c/-f pairs
/// ```
#[derive(Debug, Clone)]
pub struct StartConfig {
    program: PathBuf,
    args: Vec<OsString>,
    startup_timeout: Duration,
    shutdown_grace: Duration,
    max_reply: usize,
}

impl Default for StartConfig {
    fn default() -> Self {
        Self {
            program: PathBuf::from("openocd"),
            args: Vec::new(),
            startup_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(2),
            max_reply: DEFAULT_MAX_REPLY,
        }
    }
}

impl StartConfig {
    /// Runs `openocd` from `PATH`, with no config yet, a 10 s startup timeout and a 2 s shutdown
    /// grace period.
    ///
    /// # Examples
    ///
    /// ```
    /// let config = syncportal_openocd::StartConfig::new();
    /// assert!(config.args().is_empty());
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs this program instead of `openocd` from `PATH`.
    ///
    /// # Examples
    ///
    /// ```
    /// let config = syncportal_openocd::StartConfig::new().program("/opt/openocd/bin/openocd");
    /// # let _ = config;
    /// ```
    #[must_use]
    pub fn program(mut self, program: impl Into<PathBuf>) -> Self {
        self.program = program.into();
        self
    }

    /// Adds a config file (`-f file`).
    ///
    /// # Examples
    ///
    /// ```
    /// let config = syncportal_openocd::StartConfig::new().file("board/st_nucleo_f4.cfg");
    /// assert_eq!(config.args(), ["-f", "board/st_nucleo_f4.cfg"]);
    /// ```
    #[must_use]
    pub fn file(mut self, path: impl Into<PathBuf>) -> Self {
        self.args.push("-f".into());
        self.args.push(path.into().into_os_string());
        self
    }

    /// Adds a config command (`-c command`).
    ///
    /// # Examples
    ///
    /// ```
    /// let config = syncportal_openocd::StartConfig::new().command("adapter driver dummy");
    /// assert_eq!(config.args(), ["-c", "adapter driver dummy"]);
    /// ```
    #[must_use]
    pub fn command(mut self, command: impl Into<String>) -> Self {
        self.args.push("-c".into());
        self.args.push(command.into().into());
        self
    }

    /// Adds a directory to search for config files (`-s dir`).
    ///
    /// # Examples
    ///
    /// ```
    /// let config = syncportal_openocd::StartConfig::new().search_dir("/usr/share/openocd/scripts");
    /// assert_eq!(config.args(), ["-s", "/usr/share/openocd/scripts"]);
    /// ```
    #[must_use]
    pub fn search_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.args.push("-s".into());
        self.args.push(dir.into().into_os_string());
        self
    }

    /// How long to wait for the TCL port to answer before giving up (10 s by default).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = syncportal_openocd::StartConfig::new().startup_timeout(Duration::from_secs(3));
    /// # let _ = config;
    /// ```
    #[must_use]
    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = timeout;
        self
    }

    /// How long OpenOCD may take to exit after `shutdown` before it is killed (2 s by default).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = syncportal_openocd::StartConfig::new().shutdown_grace(Duration::from_millis(500));
    /// # let _ = config;
    /// ```
    #[must_use]
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// The largest reply accepted, in bytes (64 MiB by default); see
    /// [`ConnectOptions::max_reply`](crate::ConnectOptions::max_reply).
    ///
    /// # Examples
    ///
    /// ```
    /// let config = syncportal_openocd::StartConfig::new().max_reply(1 << 20);
    /// # let _ = config;
    /// ```
    #[must_use]
    pub fn max_reply(mut self, bytes: usize) -> Self {
        self.max_reply = bytes;
        self
    }

    /// The config arguments added so far, in order.
    ///
    /// # Examples
    ///
    /// ```
    /// let config = syncportal_openocd::StartConfig::new().command("init");
    /// assert_eq!(config.args(), ["-c", "init"]);
    /// ```
    #[must_use]
    pub fn args(&self) -> &[OsString] {
        &self.args
    }

    pub(crate) fn reply_limit(&self) -> usize {
        self.max_reply
    }
}

/// The last lines a process wrote, kept by the threads that drain its pipes.
#[derive(Debug, Default)]
struct Tail(Mutex<VecDeque<String>>);

impl Tail {
    fn push(&self, line: String) {
        let mut lines = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if lines.len() == TAIL_LINES {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    fn text(&self) -> String {
        let lines = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        lines
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Drains `pipe` into `tail` on a thread of its own until EOF, then signals `done`.
fn drain(pipe: impl Read + Send + 'static, tail: Arc<Tail>, done: oneshot::Sender<()>) {
    let spawned = thread::Builder::new()
        .name("syncportal-openocd-output".to_owned())
        .spawn(move || {
            let mut reader = BufReader::new(pipe);
            let mut line = Vec::new();
            loop {
                line.clear();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let text = String::from_utf8_lossy(&line);
                        tail.push(text.trim_end().to_owned());
                    }
                }
            }
            let _ = done.send(());
        });
    // Without the thread the pipe is dropped, and OpenOCD's writes fail instead of blocking.
    drop(spawned);
}

/// A running `openocd`. Dropping it shuts OpenOCD down on a thread of its own.
#[derive(Debug)]
pub(crate) struct Process {
    child: Option<Child>,
    port: u16,
    grace: Duration,
    tail: Arc<Tail>,
}

impl Process {
    /// Starts `openocd` and waits until its TCL port answers; returns the process and the
    /// connected socket.
    pub(crate) async fn start(config: &StartConfig) -> Result<(Self, TcpStream)> {
        let mut last = None;
        for _ in 0..PORT_ATTEMPTS {
            match Self::try_start(config).await {
                Err(Retry::PortTaken(err)) => last = Some(err),
                Err(Retry::No(err)) => return Err(err),
                Ok(started) => return Ok(started),
            }
        }
        Err(last.unwrap_or(Error::Disconnected))
    }

    async fn try_start(config: &StartConfig) -> Result<(Self, TcpStream), Retry> {
        let port = free_port().map_err(|err| Retry::No(err.into()))?;
        let mut child = Command::new(&config.program)
            .arg("-c")
            .arg(format!("tcl_port {port}"))
            .args(["-c", "gdb_port disabled", "-c", "telnet_port disabled"])
            .args(&config.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|err| {
                Retry::No(Error::StartFailed {
                    reason: format!("could not run {}: {err}", config.program.display()),
                    stderr: String::new(),
                })
            })?;
        let tail = Arc::new(Tail::default());
        let (out_done, out_rx) = oneshot::channel();
        let (err_done, err_rx) = oneshot::channel();
        if let Some(stdout) = child.stdout.take() {
            drain(stdout, Arc::clone(&tail), out_done);
        }
        if let Some(stderr) = child.stderr.take() {
            drain(stderr, Arc::clone(&tail), err_done);
        }
        let mut process = Process {
            child: Some(child),
            port,
            grace: config.shutdown_grace,
            tail,
        };
        let deadline = Instant::now() + config.startup_timeout;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        loop {
            if let Some(status) = process.try_wait() {
                // Exited: its pipes close, so the drain threads finish with the last words.
                let _ = tokio::time::timeout(Duration::from_secs(1), out_rx).await;
                let _ = tokio::time::timeout(Duration::from_secs(1), err_rx).await;
                let stderr = process.tail.text();
                let err = Error::StartFailed {
                    reason: format!("openocd exited ({status}) before its TCL port answered"),
                    stderr: stderr.clone(),
                };
                return Err(if stderr.contains("Address already in use") {
                    Retry::PortTaken(err)
                } else {
                    Retry::No(err)
                });
            }
            if let Ok(stream) = TcpStream::connect(addr).await {
                return Ok((process, stream));
            }
            if Instant::now() >= deadline {
                let stderr = process.tail.text();
                // Dropping the process kills and reaps it on a thread of its own.
                drop(process);
                return Err(Retry::No(Error::StartFailed {
                    reason: format!(
                        "its TCL port did not answer within {:?}",
                        config.startup_timeout
                    ),
                    stderr,
                }));
            }
            // Polling a port has no event to wait on; 10 ms keeps startup prompt and cheap.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The process id.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The last lines OpenOCD wrote to stdout and stderr.
    pub(crate) fn output_tail(&self) -> String {
        self.tail.text()
    }

    fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.as_mut()?.try_wait().ok().flatten()
    }

    /// Shuts OpenOCD down on a thread of its own: `shutdown` over a fresh connection, up to the
    /// grace period to exit, then kill. The receiver gets the exit status once it is reaped.
    pub(crate) fn shut_down(mut self) -> oneshot::Receiver<Option<ExitStatus>> {
        let (tx, rx) = oneshot::channel();
        if let Some(child) = self.child.take() {
            reap(child, self.port, self.grace, Some(tx));
        } else {
            let _ = tx.send(None);
        }
        rx
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if tokio::runtime::Handle::try_current().is_err() {
            // A plain thread may block, and must: a script that drops its session and exits
            // would end a reaper thread before it stopped OpenOCD, leaving it running.
            stop(&mut child, self.port, self.grace);
        } else {
            reap(child, self.port, self.grace, None);
        }
    }
}

/// Stops and reaps `child` on a plain thread, so that no async runtime ever blocks on it.
fn reap(
    mut child: Child,
    port: u16,
    grace: Duration,
    done: Option<oneshot::Sender<Option<ExitStatus>>>,
) {
    let work = move || {
        let status = stop(&mut child, port, grace);
        if let Some(done) = done {
            let _ = done.send(status);
        }
    };
    if let Err(err) = thread::Builder::new()
        .name("syncportal-openocd-reaper".to_owned())
        .spawn(work)
    {
        // No thread to spare: the process is left to exit on its own when its stdin closes.
        drop(err);
    }
}

fn stop(child: &mut Child, port: u16, grace: Duration) -> Option<ExitStatus> {
    if let Ok(Some(status)) = child.try_wait() {
        return Some(status);
    }
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    if let Ok(mut stream) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500))
    {
        let _ = stream.write_all(&[b"shutdown".as_slice(), &[TERMINATOR]].concat());
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        // A child's exit cannot be awaited with a deadline in std; poll it.
        thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill();
    child.wait().ok()
}

enum Retry {
    /// Another program took the port between choosing and binding it: try another.
    PortTaken(Error),
    No(Error),
}

/// A TCP port that was free a moment ago.
fn free_port() -> std::io::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}
