//! Breakpoints and watchpoints: `bp`, `rbp`, `wp`, `rwp`.

use crate::connection::Connection;
use crate::parse::u64_number;
use crate::{Error, Result};

/// What kind of breakpoint a [`Breakpoint`] is.
///
/// # Examples
///
/// See [`Breakpoints::list`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BreakpointKind {
    /// A software breakpoint; OpenOCD keeps the instruction it replaced.
    Software {
        /// The instruction the breakpoint replaced.
        original_instruction: u64,
    },
    /// A hardware breakpoint in comparator `number`.
    Hardware {
        /// The comparator used.
        number: u32,
    },
}

/// One breakpoint, as `bp` lists it.
///
/// # Examples
///
/// See [`Breakpoints::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Breakpoint {
    /// Its address.
    pub address: u64,
    /// The length of the instruction it covers, in bytes.
    pub length: u32,
    /// Software or hardware.
    pub kind: BreakpointKind,
}

/// Which accesses a watchpoint catches.
///
/// # Examples
///
/// ```
/// assert_eq!(syncportal_openocd::Access::Write.as_str(), "w");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Access {
    /// Reads.
    Read,
    /// Writes.
    Write,
    /// Reads and writes.
    #[default]
    Any,
}

impl Access {
    /// The letter `wp` takes.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(syncportal_openocd::Access::Any.as_str(), "a");
    /// ```
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "r",
            Self::Write => "w",
            Self::Any => "a",
        }
    }
}

/// One watchpoint, as `wp` lists it.
///
/// # Examples
///
/// See [`Breakpoints::watchpoints`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Watchpoint {
    /// Its address.
    pub address: u64,
    /// How many bytes it watches.
    pub length: u32,
    /// Which accesses it catches.
    pub access: Access,
    /// The value it compares against (when the mask says so).
    pub value: u64,
    /// The mask applied to `value`.
    pub mask: u64,
}

/// Breakpoints and watchpoints on the current target, from
/// [`Session::breakpoints`](crate::Session::breakpoints).
///
/// # Examples
///
/// ```no_run
/// use syncportal_openocd::Access;
///
/// let ocd = syncportal_openocd::SyncSession::connect("localhost:6666")?;
/// let bps = ocd.breakpoints();
/// bps.add_hardware(0x0800_0200, 2)?;
/// bps.add_watchpoint(0x2000_0000, 4, Access::Write)?;
/// println!("{:?}", bps.list()?);
/// bps.remove_all()?;
/// # Ok::<(), syncportal_openocd::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Breakpoints {
    conn: Connection,
}

impl Breakpoints {
    pub(crate) fn new(conn: Connection) -> Self {
        Self { conn }
    }
}

#[syncportal::facade]
impl Breakpoints {
    /// Every breakpoint (`bp`).
    ///
    /// # Examples
    ///
    /// See [`Breakpoints`].
    ///
    /// # Errors
    ///
    /// As any command; [`Error::Parse`] for a line of an unknown form.
    pub async fn list(&self) -> Result<Vec<Breakpoint>> {
        parse_breakpoints(&self.conn.command("bp").await?)
    }

    /// Sets a software breakpoint covering `length` bytes at `address`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # let ocd = syncportal_openocd::SyncSession::connect("localhost:6666")?;
    /// ocd.breakpoints().add(0x0800_0300, 2)?;
    /// # Ok::<(), syncportal_openocd::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Command`] when the target refuses it (no room, address in use).
    pub async fn add(&self, address: u64, length: u32) -> Result<()> {
        self.conn
            .command(&format!("bp {address:#x} {length}"))
            .await
            .map(drop)
    }

    /// Sets a hardware breakpoint covering `length` bytes at `address`.
    ///
    /// # Examples
    ///
    /// See [`Breakpoints`].
    ///
    /// # Errors
    ///
    /// As [`add`](Self::add).
    pub async fn add_hardware(&self, address: u64, length: u32) -> Result<()> {
        self.conn
            .command(&format!("bp {address:#x} {length} hw"))
            .await
            .map(drop)
    }

    /// Removes the breakpoint at `address`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # let ocd = syncportal_openocd::SyncSession::connect("localhost:6666")?;
    /// ocd.breakpoints().remove(0x0800_0300)?;
    /// # Ok::<(), syncportal_openocd::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Command`] when there is none there.
    pub async fn remove(&self, address: u64) -> Result<()> {
        self.conn
            .command(&format!("rbp {address:#x}"))
            .await
            .map(drop)
    }

    /// Removes every breakpoint.
    ///
    /// # Examples
    ///
    /// See [`Breakpoints`].
    ///
    /// # Errors
    ///
    /// As any command.
    pub async fn remove_all(&self) -> Result<()> {
        self.conn.command("rbp all").await.map(drop)
    }

    /// Every watchpoint (`wp`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # let ocd = syncportal_openocd::SyncSession::connect("localhost:6666")?;
    /// for wp in ocd.breakpoints().watchpoints()? {
    ///     println!("{:#x} ({} bytes, {:?})", wp.address, wp.length, wp.access);
    /// }
    /// # Ok::<(), syncportal_openocd::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As any command; [`Error::Parse`] for a line of an unknown form.
    pub async fn watchpoints(&self) -> Result<Vec<Watchpoint>> {
        parse_watchpoints(&self.conn.command("wp").await?)
    }

    /// Sets a watchpoint on `length` bytes at `address` for `access`.
    ///
    /// # Examples
    ///
    /// See [`Breakpoints`].
    ///
    /// # Errors
    ///
    /// [`Error::Command`] when the target refuses it.
    pub async fn add_watchpoint(&self, address: u64, length: u32, access: Access) -> Result<()> {
        self.conn
            .command(&format!("wp {address:#x} {length} {}", access.as_str()))
            .await
            .map(drop)
    }

    /// Removes the watchpoint at `address`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # let ocd = syncportal_openocd::SyncSession::connect("localhost:6666")?;
    /// ocd.breakpoints().remove_watchpoint(0x2000_0000)?;
    /// # Ok::<(), syncportal_openocd::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Command`] when there is none there.
    pub async fn remove_watchpoint(&self, address: u64) -> Result<()> {
        self.conn
            .command(&format!("rwp {address:#x}"))
            .await
            .map(drop)
    }
}

/// Splits `a, b, c` after `prefix` into numbers.
fn fields<'a>(line: &'a str, prefix: &str) -> Option<Vec<&'a str>> {
    Some(
        line.strip_prefix(prefix)?
            .split(", ")
            .map(str::trim)
            .collect(),
    )
}

/// Parses `bp`'s listing, in OpenOCD 0.12's words (`IVA breakpoint: addr, len, instr` and
/// `Breakpoint(IVA): addr, len, num`) and in later releases' (`Software breakpoint(IVA):
/// addr=.., len=.., orig_instr=..`, `Hardware breakpoint(IVA): addr=.., len=.., num=..`).
fn parse_breakpoints(text: &str) -> Result<Vec<Breakpoint>> {
    let mut out = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let bad = || Error::parse("a breakpoint line", line);
        let value = |field: &str| -> Result<u64> {
            let number = field.split_once('=').map_or(field, |(_, v)| v);
            u64_number("a breakpoint field", number).map_err(|_| bad())
        };
        let (software, parts) = if let Some(parts) =
            fields(line, "IVA breakpoint: ").or_else(|| fields(line, "Software breakpoint(IVA): "))
        {
            (true, parts)
        } else if let Some(parts) =
            fields(line, "Breakpoint(IVA): ").or_else(|| fields(line, "Hardware breakpoint(IVA): "))
        {
            (false, parts)
        } else {
            return Err(bad());
        };
        let [address, length, last] = parts[..] else {
            return Err(bad());
        };
        let kind = if software {
            BreakpointKind::Software {
                original_instruction: value(last)?,
            }
        } else {
            BreakpointKind::Hardware {
                number: u32::try_from(value(last)?).map_err(|_| bad())?,
            }
        };
        out.push(Breakpoint {
            address: value(address)?,
            length: u32::try_from(value(length)?).map_err(|_| bad())?,
            kind,
        });
    }
    Ok(out)
}

/// Parses `wp`'s listing: `address: 0x.., len: 0x.., r/w/a: N, value: 0x.., mask: 0x..`.
fn parse_watchpoints(text: &str) -> Result<Vec<Watchpoint>> {
    let mut out = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let bad = || Error::parse("a watchpoint line", line);
        let parts: Vec<(&str, &str)> = line
            .split(", ")
            .map(|part| part.split_once(": ").ok_or_else(bad))
            .collect::<Result<_>>()?;
        let [
            ("address", address),
            ("len", length),
            ("r/w/a", access),
            ("value", value),
            ("mask", mask),
        ] = parts[..]
        else {
            return Err(bad());
        };
        out.push(Watchpoint {
            address: u64_number("a watchpoint address", address)?,
            length: u32::try_from(u64_number("a watchpoint length", length)?).map_err(|_| bad())?,
            access: match access {
                "0" => Access::Read,
                "1" => Access::Write,
                "2" => Access::Any,
                _ => return Err(bad()),
            },
            value: u64_number("a watchpoint value", value)?,
            mask: u64_number("a watchpoint mask", mask)?,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breakpoint_lines_old_and_new() {
        let list = parse_breakpoints(
            "Breakpoint(IVA): 0x08000200, 0x2, 0\n\
             IVA breakpoint: 0x08000300, 0x4, 0xbe00\n\
             Hardware breakpoint(IVA): addr=0x00001010, len=0x4, num=1\n\
             Software breakpoint(IVA): addr=0x00001000, len=0x8, orig_instr=0xabcd1234\n",
        )
        .unwrap();
        assert_eq!(list.len(), 4);
        assert_eq!(list[0].kind, BreakpointKind::Hardware { number: 0 });
        assert_eq!((list[1].address, list[1].length), (0x0800_0300, 4));
        assert_eq!(list[2].kind, BreakpointKind::Hardware { number: 1 });
        assert_eq!(
            list[3].kind,
            BreakpointKind::Software {
                original_instruction: 0xabcd_1234
            }
        );
        assert!(parse_breakpoints("Context breakpoint: 0x10, 0x4, 0").is_err());
    }

    #[test]
    fn watchpoint_lines() {
        let list = parse_watchpoints(
            "address: 0x20000000, len: 0x00000004, r/w/a: 1, value: 0x00000000, mask: 0xffffffff",
        )
        .unwrap();
        assert_eq!(list[0].access, Access::Write);
        assert_eq!((list[0].length, list[0].mask), (4, 0xffff_ffff));
        assert!(parse_watchpoints("address: 1").is_err());
    }
}
