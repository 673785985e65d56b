//! The JTAG scan chain and the adapter's speed.

use crate::connection::Connection;
use crate::parse::number;
use crate::{Error, Result, tcl};

/// One TAP of the scan chain, as `scan_chain` lists it.
///
/// # Examples
///
/// See [`Jtag::scan_chain`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Tap {
    /// Its position in the chain.
    pub index: usize,
    /// Its dotted name, such as `stm32f4x.cpu`.
    pub name: String,
    /// Whether it is enabled.
    pub enabled: bool,
    /// The IDCODE read from the chain (0 when none was read).
    pub idcode: u32,
    /// The first IDCODE the config expects (0 for any).
    pub expected: u32,
    /// Further IDCODEs the config accepts.
    pub also_expected: Vec<u32>,
    /// The instruction register's length in bits.
    pub irlen: u32,
    /// The value the instruction register captures.
    pub ircap: u32,
    /// The bits of `ircap` that are checked.
    pub irmask: u32,
}

/// The JTAG scan chain and the adapter, from [`Session::jtag`](crate::Session::jtag).
///
/// # Examples
///
/// ```no_run
/// let ocd = syncportal_openocd::SyncSession::connect("localhost:6666")?;
/// for tap in ocd.jtag().scan_chain()? {
///     println!("{} idcode {:#010x} (expected {:#010x})", tap.name, tap.idcode, tap.expected);
/// }
/// ocd.jtag().set_speed(4000)?;
/// # Ok::<(), syncportal_openocd::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Jtag {
    conn: Connection,
}

impl Jtag {
    pub(crate) fn new(conn: Connection) -> Self {
        Self { conn }
    }
}

#[syncportal::facade]
impl Jtag {
    /// Every TAP on the scan chain (`scan_chain`).
    ///
    /// # Examples
    ///
    /// See [`Jtag`].
    ///
    /// # Errors
    ///
    /// As any command; [`Error::Parse`] when the table has an unexpected form.
    pub async fn scan_chain(&self) -> Result<Vec<Tap>> {
        parse_scan_chain(&self.conn.command("scan_chain").await?)
    }

    /// The names of every TAP (`jtag names`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # let ocd = syncportal_openocd::SyncSession::connect("localhost:6666")?;
    /// let names = ocd.jtag().names()?;
    /// # Ok::<(), syncportal_openocd::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As any command.
    pub async fn names(&self) -> Result<Vec<String>> {
        let reply = self.conn.command("jtag names").await?;
        Ok(reply.split_whitespace().map(str::to_owned).collect())
    }

    /// Whether the TAP `name` is enabled (`jtag tapisenabled`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # let ocd = syncportal_openocd::SyncSession::connect("localhost:6666")?;
    /// assert!(ocd.jtag().is_enabled("stm32f4x.cpu")?);
    /// # Ok::<(), syncportal_openocd::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Command`] when there is no such TAP.
    pub async fn is_enabled(&self, name: &str) -> Result<bool> {
        let reply = self
            .conn
            .command(&tcl::command("jtag tapisenabled", &[name]))
            .await?;
        match reply.trim() {
            "1" => Ok(true),
            "0" => Ok(false),
            other => Err(Error::parse("a Tcl boolean", other)),
        }
    }

    /// The IDCODE read from the TAP `name` (`jtag cget NAME -idcode`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # let ocd = syncportal_openocd::SyncSession::connect("localhost:6666")?;
    /// let idcode = ocd.jtag().idcode("stm32f4x.cpu")?;
    /// # Ok::<(), syncportal_openocd::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Command`] when there is no such TAP.
    pub async fn idcode(&self, name: &str) -> Result<u32> {
        let reply = self
            .conn
            .command(&tcl::command("jtag cget", &[name, "-idcode"]))
            .await?;
        u32::try_from(number("an IDCODE", &reply)?).map_err(|_| Error::parse("an IDCODE", &reply))
    }

    /// The adapter's speed in kHz (`adapter speed`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # let ocd = syncportal_openocd::SyncSession::connect("localhost:6666")?;
    /// println!("{} kHz", ocd.jtag().speed()?);
    /// # Ok::<(), syncportal_openocd::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As any command; [`Error::Parse`] for an unexpected reply.
    pub async fn speed(&self) -> Result<u32> {
        parse_speed(&self.conn.command("adapter speed").await?)
    }

    /// Sets the adapter's speed in kHz and returns the speed now in force (0 means adaptive
    /// clocking).
    ///
    /// # Examples
    ///
    /// See [`Jtag`].
    ///
    /// # Errors
    ///
    /// [`Error::Command`] when the adapter refuses the speed.
    pub async fn set_speed(&self, khz: u32) -> Result<u32> {
        parse_speed(&self.conn.command(&format!("adapter speed {khz}")).await?)
    }
}

/// Parses `adapter speed: 1000 kHz`.
fn parse_speed(text: &str) -> Result<u32> {
    let line = text.trim();
    line.strip_prefix("adapter speed: ")
        .and_then(|rest| rest.strip_suffix(" kHz"))
        .and_then(|khz| khz.parse().ok())
        .ok_or_else(|| Error::parse("the adapter speed", line))
}

/// Parses the table `scan_chain` prints. A row holding only an IDCODE lists a further
/// expected IDCODE of the TAP above it.
fn parse_scan_chain(text: &str) -> Result<Vec<Tap>> {
    let mut taps: Vec<Tap> = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.is_empty() || fields[0] == "TapName" || fields[0].starts_with("--") {
            continue;
        }
        let row = || Error::parse("a row of the scan_chain table", line);
        let hex = |text: &str| -> Result<u32> {
            number("a scan_chain field", text)
                .ok()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(row)
        };
        if let [extra] = fields[..] {
            let tap = taps.last_mut().ok_or_else(row)?;
            tap.also_expected.push(hex(extra)?);
            continue;
        }
        let [index, name, enabled, idcode, expected, irlen, ircap, irmask] = fields[..] else {
            return Err(row());
        };
        taps.push(Tap {
            index: index.parse().map_err(|_| row())?,
            name: name.to_owned(),
            enabled: enabled == "Y",
            idcode: hex(idcode)?,
            expected: hex(expected)?,
            also_expected: Vec::new(),
            irlen: hex(irlen)?,
            ircap: hex(ircap)?,
            irmask: hex(irmask)?,
        });
    }
    Ok(taps)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `scan_chain` from OpenOCD 0.12 with the dummy adapter (first rows).
    const CHAIN: &str = "   TapName             Enabled  IdCode     Expected   IrLen IrCap IrMask\n\
        -- ------------------- -------- ---------- ---------- ----- ----- ------\n \
        0 chip.cpu               Y     0x00000000 0x12345678     4 0x01  0x03\n \
        1 auto0.tap              Y     0x00000000 0x00000000     0 0x00  0x00\n";

    #[test]
    fn chain_table() {
        let taps = parse_scan_chain(CHAIN).unwrap();
        assert_eq!(taps.len(), 2);
        assert_eq!(taps[0].name, "chip.cpu");
        assert!(taps[0].enabled);
        assert_eq!((taps[0].expected, taps[0].irlen), (0x1234_5678, 4));
        assert_eq!((taps[0].ircap, taps[0].irmask), (1, 3));
        let extra = format!("{CHAIN}                                    0x22222222\n");
        assert_eq!(
            parse_scan_chain(&extra).unwrap()[1].also_expected,
            [0x2222_2222]
        );
        assert!(parse_scan_chain(" 0 a b").is_err());
    }

    #[test]
    fn speed() {
        assert_eq!(parse_speed("adapter speed: 1000 kHz\n").unwrap(), 1000);
        assert!(parse_speed("adapter speed: RCLK").is_err());
    }
}
