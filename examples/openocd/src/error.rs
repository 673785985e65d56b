//! The one error type of the SDK.

use std::io;

/// Why a call to OpenOCD failed.
///
/// # Examples
///
/// ```
/// use syncportal_openocd::Error;
///
/// let err = Error::Command {
///     command: "reg nosuch".into(),
///     message: "register nosuch not found in current target".into(),
/// };
/// assert!(err.is_command());
/// assert_eq!(
///     err.to_string(),
///     "OpenOCD refused `reg nosuch`: register nosuch not found in current target"
/// );
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading from or writing to OpenOCD's socket, or running its process, failed.
    #[error("i/o error talking to OpenOCD: {0}; check that OpenOCD is still running")]
    Io(#[from] io::Error),
    /// The connection to OpenOCD is gone (OpenOCD exited, was killed, or the session was
    /// closed). Every pending and later call on the connection fails this way.
    #[error("the connection to OpenOCD was lost; start or connect a new session")]
    Disconnected,
    /// OpenOCD ran the command and answered with an error.
    #[error("OpenOCD refused `{command}`: {message}")]
    Command {
        /// The Tcl command as sent.
        command: String,
        /// OpenOCD's error message.
        message: String,
    },
    /// A reply was larger than the connection's limit. It was read and discarded without
    /// being kept in memory, and the connection stays usable.
    #[error(
        "OpenOCD's reply was larger than the limit of {limit} bytes and was discarded; ask for \
         less or raise the limit with ConnectOptions::max_reply"
    )]
    ReplyTooLarge {
        /// The limit in force, in bytes.
        limit: usize,
    },
    /// `openocd` could not be started, or exited or stayed silent before its TCL port answered.
    #[error("openocd did not start: {reason}; the end of its output was:\n{stderr}")]
    StartFailed {
        /// What went wrong.
        reason: String,
        /// The last lines OpenOCD wrote to stderr.
        stderr: String,
    },
    /// Nothing listens on the address given to `connect`.
    #[error(
        "nothing is listening on {addr}; check OpenOCD's tcl_port setting, or let \
         Session::start run OpenOCD for you"
    )]
    PortNotOpen {
        /// The address that refused the connection.
        addr: String,
    },
    /// OpenOCD's reply did not have the expected form.
    #[error("could not read {what} from OpenOCD's reply {text:?}; is this OpenOCD 0.12?")]
    Parse {
        /// What was being read.
        what: &'static str,
        /// The offending text.
        text: String,
    },
    /// An argument cannot be expressed as an OpenOCD command.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A blocking call could not run: it was made from async code, it timed out, or the portal
    /// was shut down.
    #[error(transparent)]
    Portal(#[from] syncportal::Error),
    /// A recording (of events, say) could not start: a zero capacity, or a shut-down portal.
    #[error(transparent)]
    Record(#[from] syncportal::RecordError),
    /// A CMSIS-SVD file could not be read or parsed, or names no such peripheral, register or
    /// field.
    #[error("SVD: {0}")]
    Svd(String),
}

impl Error {
    /// Whether the connection to OpenOCD is gone.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(syncportal_openocd::Error::Disconnected.is_disconnected());
    /// ```
    #[must_use]
    pub fn is_disconnected(&self) -> bool {
        matches!(self, Self::Disconnected)
    }

    /// Whether OpenOCD answered the command with an error.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = syncportal_openocd::Error::Command { command: "x".into(), message: "y".into() };
    /// assert!(err.is_command());
    /// ```
    #[must_use]
    pub fn is_command(&self) -> bool {
        matches!(self, Self::Command { .. })
    }

    /// Whether a blocking call ran out of time (`with_timeout` on a sync twin).
    ///
    /// # Examples
    ///
    /// ```
    /// let err = syncportal_openocd::Error::from(syncportal::Error::Timeout);
    /// assert!(err.is_timeout());
    /// ```
    #[must_use]
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Portal(e) if e.is_timeout())
    }

    pub(crate) fn parse(what: &'static str, text: &str) -> Self {
        Self::Parse {
            what,
            text: text.to_owned(),
        }
    }
}

/// The result type of the SDK.
pub type Result<T, E = Error> = std::result::Result<T, E>;
