//! Target control: the target list, state, halt, resume, step, reset.

use std::fmt;
use std::time::Duration;

use crate::connection::Connection;
use crate::registers::parse_single;
use crate::{Error, Result, tcl};

/// The execution state of a target, as `<target> curstate` names it.
///
/// # Examples
///
/// ```
/// use syncportal_openocd::RunState;
///
/// assert_eq!(RunState::from_name("halted"), RunState::Halted);
/// assert_eq!(RunState::Halted.to_string(), "halted");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RunState {
    /// OpenOCD does not know (not examined yet, or no contact).
    Unknown,
    /// Running.
    Running,
    /// Halted in debug state.
    Halted,
    /// Held in reset.
    Reset,
    /// Running code on behalf of the debugger (an algorithm).
    DebugRunning,
    /// A state this SDK does not know by name.
    Other(String),
}

impl RunState {
    /// The state OpenOCD names `name`.
    ///
    /// # Examples
    ///
    /// ```
    /// use syncportal_openocd::RunState;
    /// assert_eq!(RunState::from_name("debug-running"), RunState::DebugRunning);
    /// ```
    #[must_use]
    pub fn from_name(name: &str) -> Self {
        match name.trim() {
            "unknown" => Self::Unknown,
            "running" => Self::Running,
            "halted" => Self::Halted,
            "reset" => Self::Reset,
            "debug-running" => Self::DebugRunning,
            other => Self::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for RunState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Unknown => "unknown",
            Self::Running => "running",
            Self::Halted => "halted",
            Self::Reset => "reset",
            Self::DebugRunning => "debug-running",
            Self::Other(name) => name,
        })
    }
}

/// One row of OpenOCD's `targets` table.
///
/// # Examples
///
/// See [`Target::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TargetInfo {
    /// The target's position in the list.
    pub index: usize,
    /// Whether it is the current target (the one commands apply to).
    pub current: bool,
    /// Its name, such as `stm32f4x.cpu`.
    pub name: String,
    /// Its type, such as `cortex_m`.
    pub kind: String,
    /// `little` or `big`.
    pub endian: String,
    /// The TAP it sits behind.
    pub tap: String,
    /// Its state.
    pub state: RunState,
}

/// The current target's name and state, and its program counter when halted.
///
/// # Examples
///
/// See [`Target::state`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TargetState {
    /// The target's name.
    pub name: String,
    /// Its state.
    pub state: RunState,
    /// The program counter, when the target is halted.
    pub current_pc: Option<u64>,
}

/// How [`Target::reset`] leaves the target.
///
/// # Examples
///
/// ```
/// assert_eq!(syncportal_openocd::ResetMode::Halt.as_str(), "halt");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ResetMode {
    /// Let it run after reset.
    #[default]
    Run,
    /// Halt it at the reset vector.
    Halt,
    /// Halt it, then run the board's `reset-init` handlers.
    Init,
}

impl ResetMode {
    /// The word OpenOCD's `reset` command takes.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(syncportal_openocd::ResetMode::Init.as_str(), "init");
    /// ```
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Run => "run",
            Self::Halt => "halt",
            Self::Init => "init",
        }
    }
}

/// Target control, from [`Session::target`](crate::Session::target). Commands apply to the
/// current target.
///
/// # Examples
///
/// ```no_run
/// use syncportal_openocd::{RunState, SyncSession};
///
/// let ocd = SyncSession::connect("localhost:6666")?;
/// let target = ocd.target();
/// let state = target.halt()?;
/// assert_eq!(state.state, RunState::Halted);
/// println!("halted at {:#x}", state.current_pc.unwrap_or_default());
/// target.resume()?;
/// # Ok::<(), syncportal_openocd::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Target {
    conn: Connection,
}

impl Target {
    pub(crate) fn new(conn: Connection) -> Self {
        Self { conn }
    }
}

#[syncportal::facade]
impl Target {
    /// Every target OpenOCD knows, from its `targets` table.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # let ocd = syncportal_openocd::SyncSession::connect("localhost:6666")?;
    /// for target in ocd.target().list()? {
    ///     println!("{} ({}) is {}", target.name, target.kind, target.state);
    /// }
    /// # Ok::<(), syncportal_openocd::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As any command; [`Error::Parse`] when the table has an unexpected form.
    pub async fn list(&self) -> Result<Vec<TargetInfo>> {
        parse_targets(&self.conn.command("targets").await?)
    }

    /// The name of the current target.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # let ocd = syncportal_openocd::SyncSession::connect("localhost:6666")?;
    /// println!("commands go to {}", ocd.target().current()?);
    /// # Ok::<(), syncportal_openocd::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As any command; [`Error::Command`] when no target is configured.
    pub async fn current(&self) -> Result<String> {
        Ok(self.conn.command("target current").await?.trim().to_owned())
    }

    /// The current target's name and state, with its program counter when halted.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # let ocd = syncportal_openocd::SyncSession::connect("localhost:6666")?;
    /// let state = ocd.target().state()?;
    /// println!("{} is {} (pc {:?})", state.name, state.state, state.current_pc);
    /// # Ok::<(), syncportal_openocd::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As any command.
    pub async fn state(&self) -> Result<TargetState> {
        let name = self.current().await?;
        let state = RunState::from_name(
            &self
                .conn
                .command(&format!("{} curstate", tcl::quote(&name)))
                .await?,
        );
        let current_pc = if state == RunState::Halted {
            let reply = self.conn.command("reg pc").await?;
            let (_, _, value) = parse_single(&reply)?;
            Some(u64::try_from(value).map_err(|_| Error::parse("the pc", &reply))?)
        } else {
            None
        };
        Ok(TargetState {
            name,
            state,
            current_pc,
        })
    }

    /// Halts the target (`halt`, which waits up to 5 s) and returns its state.
    ///
    /// # Examples
    ///
    /// See [`Target`].
    ///
    /// # Errors
    ///
    /// [`Error::Command`] when OpenOCD cannot halt it; otherwise as any command.
    pub async fn halt(&self) -> Result<TargetState> {
        self.conn.command("halt").await?;
        self.state().await
    }

    /// Resumes execution from the current program counter.
    ///
    /// # Examples
    ///
    /// See [`Target`].
    ///
    /// # Errors
    ///
    /// [`Error::Command`] when the target is not halted or cannot resume.
    pub async fn resume(&self) -> Result<()> {
        self.conn.command("resume").await.map(drop)
    }

    /// Resumes execution at `address`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # let ocd = syncportal_openocd::SyncSession::connect("localhost:6666")?;
    /// ocd.target().resume_at(0x0800_0000)?;
    /// # Ok::<(), syncportal_openocd::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`resume`](Self::resume).
    pub async fn resume_at(&self, address: u64) -> Result<()> {
        self.conn
            .command(&format!("resume {address:#x}"))
            .await
            .map(drop)
    }

    /// Executes one instruction and returns the state afterwards.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # let ocd = syncportal_openocd::SyncSession::connect("localhost:6666")?;
    /// let after = ocd.target().step()?;
    /// println!("now at {:#x}", after.current_pc.unwrap_or_default());
    /// # Ok::<(), syncportal_openocd::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Command`] when the target is not halted or cannot step.
    pub async fn step(&self) -> Result<TargetState> {
        self.conn.command("step").await?;
        self.state().await
    }

    /// Resets every target into `mode`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use syncportal_openocd::ResetMode;
    /// # let ocd = syncportal_openocd::SyncSession::connect("localhost:6666")?;
    /// ocd.target().reset(ResetMode::Halt)?;
    /// # Ok::<(), syncportal_openocd::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Command`] when the reset fails.
    pub async fn reset(&self, mode: ResetMode) -> Result<()> {
        self.conn
            .command(&format!("reset {}", mode.as_str()))
            .await
            .map(drop)
    }

    /// Waits up to `timeout` (whole milliseconds) for the target to halt, and returns its state.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// # let ocd = syncportal_openocd::SyncSession::connect("localhost:6666")?;
    /// let stopped = ocd.target().wait_halt(Duration::from_secs(1))?;
    /// # Ok::<(), syncportal_openocd::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Command`] when it does not halt in time.
    pub async fn wait_halt(&self, timeout: Duration) -> Result<TargetState> {
        self.conn
            .command(&format!("wait_halt {}", timeout.as_millis()))
            .await?;
        self.state().await
    }
}

/// Parses the table `targets` prints.
pub(crate) fn parse_targets(text: &str) -> Result<Vec<TargetInfo>> {
    let mut targets = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.is_empty() || fields[0] == "TargetName" || fields[0].starts_with("--") {
            continue;
        }
        let [index, name, kind, endian, tap, state] = fields[..] else {
            return Err(Error::parse("a row of the targets table", line));
        };
        let current = index.ends_with('*');
        let index = index
            .trim_end_matches('*')
            .parse()
            .map_err(|_| Error::parse("a row of the targets table", line))?;
        targets.push(TargetInfo {
            index,
            current,
            name: name.to_owned(),
            kind: kind.to_owned(),
            endian: endian.to_owned(),
            tap: tap.to_owned(),
            state: RunState::from_name(state),
        });
    }
    Ok(targets)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `targets` from OpenOCD 0.12 with the dummy adapter and a `testee` target.
    const TARGETS: &str = "    TargetName         Type       Endian TapName            State       \n\
        --  ------------------ ---------- ------ ------------------ ------------\n \
        0* chip.cpu           testee     little chip.cpu           unknown\n";

    #[test]
    fn targets_table() {
        let targets = parse_targets(TARGETS).unwrap();
        assert_eq!(targets.len(), 1);
        let t = &targets[0];
        assert_eq!((t.index, t.current), (0, true));
        assert_eq!((t.name.as_str(), t.kind.as_str()), ("chip.cpu", "testee"));
        assert_eq!((t.endian.as_str(), t.tap.as_str()), ("little", "chip.cpu"));
        assert_eq!(t.state, RunState::Unknown);
        assert!(parse_targets(" 0* a b").is_err());
    }
}
