//! Target memory through OpenOCD's `read_memory` and `write_memory`, which take and return
//! Tcl lists of numbers.

use std::fmt::Write as _;

use crate::connection::Connection;
use crate::parse::u64_number;
use crate::{Error, Result};

/// How many values one `read_memory` or `write_memory` command carries; longer transfers are
/// split.
const CHUNK: usize = 1024;

/// Target memory of the current target, from [`Session::memory`](crate::Session::memory).
///
/// Reads and writes use the target's own word order; values are numbers, not bytes.
///
/// # Examples
///
/// ```no_run
/// let ocd = syncportal_openocd::SyncSession::connect("localhost:6666")?;
/// let memory = ocd.memory();
/// memory.write_u32(0x2000_0000, &[0xdead_beef, 1])?;
/// assert_eq!(memory.read_u32(0x2000_0000, 2)?, [0xdead_beef, 1]);
/// print!("{}", memory.hexdump(0x2000_0000, 8)?);
/// # Ok::<(), syncportal_openocd::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Memory {
    conn: Connection,
}

impl Memory {
    pub(crate) fn new(conn: Connection) -> Self {
        Self { conn }
    }

    async fn read(&self, address: u64, width: u32, count: usize) -> Result<Vec<u64>> {
        let step = u64::from(width / 8);
        let mut values = Vec::with_capacity(count);
        let mut done = 0;
        while done < count {
            let n = CHUNK.min(count - done);
            let at = offset(address, done, step)?;
            let command = format!("read_memory {at:#x} {width} {n}");
            let reply = self.conn.command(&command).await?;
            let before = values.len();
            for word in reply.split_whitespace() {
                values.push(u64_number("a memory value", word)?);
            }
            if values.len() - before != n {
                return Err(Error::parse("as many values as asked for", &reply));
            }
            done += n;
        }
        Ok(values)
    }

    async fn write(&self, address: u64, width: u32, values: &[u64]) -> Result<()> {
        let step = u64::from(width / 8);
        for (i, chunk) in values.chunks(CHUNK).enumerate() {
            let at = offset(address, i * CHUNK, step)?;
            let mut command = format!("write_memory {at:#x} {width} {{");
            for (j, value) in chunk.iter().enumerate() {
                if j > 0 {
                    command.push(' ');
                }
                let _ = write!(command, "{value:#x}");
            }
            command.push('}');
            self.conn.command(&command).await?;
        }
        Ok(())
    }
}

/// `address + index * step`, or an error when that leaves the 64-bit address space.
fn offset(address: u64, index: usize, step: u64) -> Result<u64> {
    u64::try_from(index)
        .ok()
        .and_then(|i| i.checked_mul(step))
        .and_then(|delta| address.checked_add(delta))
        .ok_or_else(|| Error::InvalidArgument("the range runs past the end of memory".to_owned()))
}

/// Narrows values read at a width to their Rust type; OpenOCD never returns wider ones.
fn narrow<T: TryFrom<u64>>(values: Vec<u64>) -> Result<Vec<T>> {
    values
        .into_iter()
        .map(|v| {
            T::try_from(v).map_err(|_| Error::parse("a value of the width read", &v.to_string()))
        })
        .collect()
}

#[syncportal::facade]
impl Memory {
    /// Reads `count` bytes at `address`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # let ocd = syncportal_openocd::SyncSession::connect("localhost:6666")?;
    /// let bytes = ocd.memory().read_u8(0x0800_0000, 16)?;
    /// # Ok::<(), syncportal_openocd::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Command`] when the target cannot read that memory (OpenOCD says
    /// `read_memory: failed to read memory`).
    pub async fn read_u8(&self, address: u64, count: usize) -> Result<Vec<u8>> {
        narrow(self.read(address, 8, count).await?)
    }

    /// Reads `count` 16-bit values at `address`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # let ocd = syncportal_openocd::SyncSession::connect("localhost:6666")?;
    /// let halves = ocd.memory().read_u16(0x0800_0000, 4)?;
    /// # Ok::<(), syncportal_openocd::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`read_u8`](Self::read_u8).
    pub async fn read_u16(&self, address: u64, count: usize) -> Result<Vec<u16>> {
        narrow(self.read(address, 16, count).await?)
    }

    /// Reads `count` 32-bit values at `address`.
    ///
    /// # Examples
    ///
    /// See [`Memory`].
    ///
    /// # Errors
    ///
    /// As [`read_u8`](Self::read_u8).
    pub async fn read_u32(&self, address: u64, count: usize) -> Result<Vec<u32>> {
        narrow(self.read(address, 32, count).await?)
    }

    /// Reads `count` 64-bit values at `address`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # let ocd = syncportal_openocd::SyncSession::connect("localhost:6666")?;
    /// let words = ocd.memory().read_u64(0x2000_0000, 2)?;
    /// # Ok::<(), syncportal_openocd::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`read_u8`](Self::read_u8).
    pub async fn read_u64(&self, address: u64, count: usize) -> Result<Vec<u64>> {
        self.read(address, 64, count).await
    }

    /// Reads `len` bytes at `address`; the same as [`read_u8`](Self::read_u8).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # let ocd = syncportal_openocd::SyncSession::connect("localhost:6666")?;
    /// let header = ocd.memory().read_bytes(0x0800_0000, 8)?;
    /// # Ok::<(), syncportal_openocd::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`read_u8`](Self::read_u8).
    pub async fn read_bytes(&self, address: u64, len: usize) -> Result<Vec<u8>> {
        narrow(self.read(address, 8, len).await?)
    }

    /// Writes bytes at `address`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # let ocd = syncportal_openocd::SyncSession::connect("localhost:6666")?;
    /// ocd.memory().write_u8(0x2000_0000, b"hello")?;
    /// # Ok::<(), syncportal_openocd::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Command`] when the target cannot write that memory.
    pub async fn write_u8(&self, address: u64, values: &[u8]) -> Result<()> {
        let wide: Vec<u64> = values.iter().map(|&v| u64::from(v)).collect();
        self.write(address, 8, &wide).await
    }

    /// Writes 16-bit values at `address`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # let ocd = syncportal_openocd::SyncSession::connect("localhost:6666")?;
    /// ocd.memory().write_u16(0x2000_0000, &[0xbeef])?;
    /// # Ok::<(), syncportal_openocd::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`write_u8`](Self::write_u8).
    pub async fn write_u16(&self, address: u64, values: &[u16]) -> Result<()> {
        let wide: Vec<u64> = values.iter().map(|&v| u64::from(v)).collect();
        self.write(address, 16, &wide).await
    }

    /// Writes 32-bit values at `address`.
    ///
    /// # Examples
    ///
    /// See [`Memory`].
    ///
    /// # Errors
    ///
    /// As [`write_u8`](Self::write_u8).
    pub async fn write_u32(&self, address: u64, values: &[u32]) -> Result<()> {
        let wide: Vec<u64> = values.iter().map(|&v| u64::from(v)).collect();
        self.write(address, 32, &wide).await
    }

    /// Writes 64-bit values at `address`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # let ocd = syncportal_openocd::SyncSession::connect("localhost:6666")?;
    /// ocd.memory().write_u64(0x2000_0000, &[u64::MAX])?;
    /// # Ok::<(), syncportal_openocd::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`write_u8`](Self::write_u8).
    pub async fn write_u64(&self, address: u64, values: &[u64]) -> Result<()> {
        self.write(address, 64, values).await
    }

    /// Reads `len` bytes at `address` and formats them as a hex dump: 16 bytes a line, each
    /// line the address, the bytes in hex, and the printable ones as text.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # let ocd = syncportal_openocd::SyncSession::connect("localhost:6666")?;
    /// print!("{}", ocd.memory().hexdump(0x0800_0000, 64)?);
    /// // 0x08000000: 00 50 00 20 c1 01 00 08  ...  |.P. ....|
    /// # Ok::<(), syncportal_openocd::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`read_u8`](Self::read_u8).
    pub async fn hexdump(&self, address: u64, len: usize) -> Result<String> {
        let bytes = self.read_bytes(address, len).await?;
        Ok(hexdump(address, &bytes))
    }
}

/// Formats `bytes`, read at `address`, as a hex dump.
pub(crate) fn hexdump(address: u64, bytes: &[u8]) -> String {
    let mut out = String::new();
    let mut at = address;
    for line in bytes.chunks(16) {
        let _ = write!(out, "{at:#010x}:");
        for (i, b) in line.iter().enumerate() {
            let gap = if i == 8 { "  " } else { " " };
            let _ = write!(out, "{gap}{b:02x}");
        }
        for i in line.len()..16 {
            out.push_str(if i == 8 { "    " } else { "   " });
        }
        out.push_str("  |");
        out.extend(line.iter().map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                char::from(b)
            } else {
                '.'
            }
        }));
        out.push_str("|\n");
        at = at.wrapping_add(16);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dump_lines() {
        let dump = hexdump(0x2000_0000, b"Hello, OpenOCD!\x00\x01");
        let lines: Vec<&str> = dump.lines().collect();
        assert_eq!(
            lines[0],
            "0x20000000: 48 65 6c 6c 6f 2c 20 4f  70 65 6e 4f 43 44 21 00  |Hello, OpenOCD!.|"
        );
        assert_eq!(
            lines[1],
            "0x20000010: 01                                                |.|"
        );
    }

    #[test]
    fn offsets() {
        assert_eq!(offset(0x10, 2, 4).unwrap(), 0x18);
        assert!(offset(u64::MAX, 1, 1).is_err());
    }
}
