//! Target registers, through OpenOCD's `reg` command.

use crate::connection::Connection;
use crate::parse::number;
use crate::{Error, Result, tcl};

/// One register, as `reg` lists it.
///
/// # Examples
///
/// See [`Registers::read_all`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Register {
    /// Its number in OpenOCD's register list.
    pub number: u32,
    /// Its name, such as `pc` or `r0`.
    pub name: String,
    /// Its width in bits.
    pub bits: u32,
    /// Its cached value, when OpenOCD has one and it fits in 128 bits; see
    /// [`hex`](Self::hex) for wider registers.
    pub value: Option<u128>,
    /// The cached value's hex digits as OpenOCD printed them, without `0x`.
    pub hex: Option<String>,
    /// Whether the cached value was written and not yet flushed to the target.
    pub dirty: bool,
}

/// Register access for the current target, from
/// [`Session::registers`](crate::Session::registers).
///
/// # Examples
///
/// ```no_run
/// let ocd = syncportal_openocd::SyncSession::connect("localhost:6666")?;
/// let regs = ocd.registers();
/// println!("pc = {:#x}", regs.pc()?);
/// regs.write("r0", 42)?;
/// assert_eq!(regs.read("r0")?, 42);
/// # Ok::<(), syncportal_openocd::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Registers {
    conn: Connection,
}

impl Registers {
    pub(crate) fn new(conn: Connection) -> Self {
        Self { conn }
    }
}

#[syncportal::facade]
impl Registers {
    /// Every register with its cached value (`reg`). Values OpenOCD has not read yet are
    /// `None`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # let ocd = syncportal_openocd::SyncSession::connect("localhost:6666")?;
    /// for reg in ocd.registers().read_all()? {
    ///     println!("{:>6} = {:?}", reg.name, reg.value);
    /// }
    /// # Ok::<(), syncportal_openocd::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As any command; [`Error::Parse`] when a line has an unexpected form.
    pub async fn read_all(&self) -> Result<Vec<Register>> {
        parse_list(&self.conn.command("reg").await?)
    }

    /// Reads one register by name, from the target.
    ///
    /// # Examples
    ///
    /// See [`Registers`].
    ///
    /// # Errors
    ///
    /// [`Error::Command`] when there is no such register or the target cannot be read.
    pub async fn read(&self, name: &str) -> Result<u128> {
        let command = format!("reg {}", tcl::quote(name));
        let reply = self.conn.command(&command).await?;
        checked(&command, &reply)?;
        Ok(parse_single(&reply)?.2)
    }

    /// Writes one register by name and returns the value OpenOCD reports afterwards.
    ///
    /// # Examples
    ///
    /// See [`Registers`].
    ///
    /// # Errors
    ///
    /// [`Error::Command`] when there is no such register or it cannot be written.
    pub async fn write(&self, name: &str, value: u128) -> Result<u128> {
        let command = format!("reg {} {value:#x}", tcl::quote(name));
        let reply = self.conn.command(&command).await?;
        checked(&command, &reply)?;
        Ok(parse_single(&reply)?.2)
    }

    /// The program counter.
    ///
    /// # Examples
    ///
    /// See [`Registers`].
    ///
    /// # Errors
    ///
    /// As [`read`](Self::read); [`Error::Parse`] if it does not fit in 64 bits.
    pub async fn pc(&self) -> Result<u64> {
        let value = self.read("pc").await?;
        u64::try_from(value).map_err(|_| Error::parse("the pc", &format!("{value:#x}")))
    }
}

/// OpenOCD 0.12 reports an unknown register name as a result, not an error.
fn checked(command: &str, reply: &str) -> Result<()> {
    if reply.starts_with("register ") && reply.trim_end().ends_with("not found in current target") {
        return Err(Error::Command {
            command: command.to_owned(),
            message: reply.trim().to_owned(),
        });
    }
    Ok(())
}

/// Parses `name (/bits): 0xvalue`, as `reg NAME` prints it.
pub(crate) fn parse_single(text: &str) -> Result<(String, u32, u128)> {
    let line = text.trim();
    let bad = || Error::parse("a register value", line);
    let (head, value) = line.split_once("): ").ok_or_else(bad)?;
    let (name, bits) = head.split_once(" (/").ok_or_else(bad)?;
    let bits = bits.parse().map_err(|_| bad())?;
    Ok((name.to_owned(), bits, number("a register value", value)?))
}

/// Parses the listing `reg` prints: `===== group` headers, then
/// `(n) name (/bits): 0xvalue[ (dirty)]` or `(n) name (/bits)` per register.
pub(crate) fn parse_list(text: &str) -> Result<Vec<Register>> {
    let mut registers = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with("=====") {
            continue;
        }
        let bad = || Error::parse("a register line", line);
        let rest = line.strip_prefix('(').ok_or_else(bad)?;
        let (number_text, rest) = rest.split_once(") ").ok_or_else(bad)?;
        let (name, rest) = rest.split_once(" (/").ok_or_else(bad)?;
        let (bits, value) = rest.split_once(')').ok_or_else(bad)?;
        let (hex, dirty) = match value.strip_prefix(": 0x") {
            Some(value) => match value.strip_suffix(" (dirty)") {
                Some(value) => (Some(value.to_owned()), true),
                None => (Some(value.to_owned()), false),
            },
            None if value.is_empty() => (None, false),
            None => return Err(bad()),
        };
        registers.push(Register {
            number: number_text.parse().map_err(|_| bad())?,
            name: name.to_owned(),
            bits: bits.parse().map_err(|_| bad())?,
            value: hex
                .as_deref()
                .and_then(|hex| u128::from_str_radix(hex, 16).ok()),
            hex,
            dirty,
        });
    }
    Ok(registers)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The form of `reg` in OpenOCD 0.12 (`handle_reg_command`).
    const LISTING: &str = "===== arm v7m registers\n\
        (0) r0 (/32): 0x00000000\n\
        (1) r1 (/32): 0x20000400 (dirty)\n\
        (15) pc (/32)\n\
        (42) d0 (/64): 0x0000000000000001\n";

    #[test]
    fn listing() {
        let regs = parse_list(LISTING).unwrap();
        assert_eq!(regs.len(), 4);
        assert_eq!(regs[1].value, Some(0x2000_0400));
        assert!(regs[1].dirty);
        assert_eq!((regs[2].number, regs[2].value), (15, None));
        assert_eq!(regs[3].bits, 64);
        assert!(parse_list("junk").is_err());
    }

    #[test]
    fn single() {
        let (name, bits, value) = parse_single("pc (/32): 0x08000abc\n").unwrap();
        assert_eq!((name.as_str(), bits, value), ("pc", 32, 0x0800_0abc));
        assert!(checked("reg x", "register x not found in current target").is_err());
    }
}
