//! Flash banks: listing, info, erase, and writes reported chunk by chunk as a stream.
//!
//! OpenOCD writes flash from files (`flash write_bank BANK FILE OFFSET`), and says nothing over
//! TCL while it works. [`Flash::write`] therefore splits the data into chunks, writes each from
//! a temporary file, checks OpenOCD's `wrote N bytes` for it, and yields a [`FlashProgress`]
//! after each: the stream is the progress report.

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use futures_core::Stream;

use crate::connection::Connection;
use crate::parse::u64_number;
use crate::{Error, Result, tcl};

/// The default size of one chunk of a write: 4 KiB.
const DEFAULT_CHUNK: usize = 4096;

/// One flash bank, as `flash banks` lists it.
///
/// # Examples
///
/// See [`Flash::banks`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FlashBank {
    /// The bank's number, which the other flash commands take.
    pub index: u32,
    /// Its name, such as `stm32f4x.flash`.
    pub name: String,
    /// The flash driver, such as `stm32f2x`.
    pub driver: String,
    /// Its address in the target's memory map.
    pub base: u64,
    /// Its size in bytes.
    pub size: u64,
    /// The bus width in bytes (0 when the driver does not use it).
    pub bus_width: u32,
    /// The chip width in bytes (0 when the driver does not use it).
    pub chip_width: u32,
}

/// One sector (or protection block) of a bank, as `flash info` lists it.
///
/// # Examples
///
/// See [`Flash::info`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct FlashSector {
    /// Its number in the bank.
    pub index: u32,
    /// Its offset from the bank's base.
    pub offset: u64,
    /// Its size in bytes.
    pub size: u64,
    /// Whether it is write-protected; `None` when OpenOCD does not know.
    pub protected: Option<bool>,
}

/// What `flash info` says about one bank.
///
/// # Examples
///
/// See [`Flash::info`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FlashInfo {
    /// The bank's number.
    pub index: u32,
    /// The flash driver.
    pub driver: String,
    /// The bank's address.
    pub base: u64,
    /// Its size in bytes.
    pub size: u64,
    /// The bus width in bytes.
    pub bus_width: u32,
    /// The chip width in bytes.
    pub chip_width: u32,
    /// Its sectors (empty when the driver has not probed the chip yet).
    pub sectors: Vec<FlashSector>,
    /// What the driver says about the chip, as it says it.
    pub driver_info: String,
}

/// Progress of a [`Flash::write`], after one chunk.
///
/// # Examples
///
/// See [`Flash::write`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct FlashProgress {
    /// The bank written.
    pub bank: u32,
    /// The offset in the bank where this chunk was written.
    pub offset: u64,
    /// The bytes of this chunk, as OpenOCD confirmed them.
    pub written: usize,
    /// The bytes written so far, this chunk included.
    pub done: usize,
    /// The bytes of the whole write.
    pub total: usize,
}

impl FlashProgress {
    /// Whether this is the last chunk's report.
    ///
    /// # Examples
    ///
    /// See [`Flash::write`].
    #[must_use]
    pub fn is_complete(&self) -> bool {
        self.done == self.total
    }
}

/// The flash banks of the target, from [`Session::flash`](crate::Session::flash).
///
/// # Examples
///
/// ```no_run
/// let ocd = syncportal_openocd::SyncSession::connect("localhost:6666")?;
/// let flash = ocd.flash();
/// for bank in flash.banks()? {
///     println!("#{} {} at {:#x}, {} bytes", bank.index, bank.driver, bank.base, bank.size);
/// }
/// flash.erase(0)?;
/// for progress in flash.write(0, 0, b"firmware".to_vec()) {
///     let progress = progress??;
///     println!("{}/{} bytes", progress.done, progress.total);
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Flash {
    conn: Connection,
    chunk: usize,
}

impl Flash {
    pub(crate) fn new(conn: Connection) -> Self {
        Self {
            conn,
            chunk: DEFAULT_CHUNK,
        }
    }
}

#[syncportal::facade]
impl Flash {
    /// This subsystem, writing in chunks of `bytes` (4 KiB by default; at least 1). Smaller
    /// chunks report progress more often, at the cost of one command each.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # let ocd = syncportal_openocd::SyncSession::connect("localhost:6666")?;
    /// let flash = ocd.flash().with_chunk_size(64 * 1024);
    /// assert_eq!(flash.chunk_size(), 64 * 1024);
    /// # Ok::<(), syncportal_openocd::Error>(())
    /// ```
    #[must_use]
    pub fn with_chunk_size(&self, bytes: usize) -> Self {
        Self {
            conn: self.conn.clone(),
            chunk: bytes.max(1),
        }
    }

    /// The size of the chunks [`write`](Self::write) reports.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # let ocd = syncportal_openocd::SyncSession::connect("localhost:6666")?;
    /// assert_eq!(ocd.flash().chunk_size(), 4096);
    /// # Ok::<(), syncportal_openocd::Error>(())
    /// ```
    #[must_use]
    pub fn chunk_size(&self) -> usize {
        self.chunk
    }

    /// Every flash bank (`flash banks`).
    ///
    /// # Examples
    ///
    /// See [`Flash`].
    ///
    /// # Errors
    ///
    /// As any command; [`Error::Parse`] when a line has an unexpected form.
    pub async fn banks(&self) -> Result<Vec<FlashBank>> {
        parse_banks(&self.conn.command("flash banks").await?)
    }

    /// One bank's layout, sectors and protection (`flash info BANK`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # let ocd = syncportal_openocd::SyncSession::connect("localhost:6666")?;
    /// let info = ocd.flash().info(0)?;
    /// for sector in &info.sectors {
    ///     println!("#{} at +{:#x}: {} bytes", sector.index, sector.offset, sector.size);
    /// }
    /// # Ok::<(), syncportal_openocd::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Command`] when there is no such bank; [`Error::Parse`] for an unexpected form.
    pub async fn info(&self, bank: u32) -> Result<FlashInfo> {
        parse_info(&self.conn.command(&format!("flash info {bank}")).await?)
    }

    /// Erases sectors `first` to `last` (inclusive) of `bank` (`flash erase_sector`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # let ocd = syncportal_openocd::SyncSession::connect("localhost:6666")?;
    /// ocd.flash().erase_sectors(0, 1, 2)?;
    /// # Ok::<(), syncportal_openocd::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Command`] with OpenOCD's message for a sector or bank that does not exist, or
    /// a failed erase.
    pub async fn erase_sectors(&self, bank: u32, first: u32, last: u32) -> Result<()> {
        let command = format!("flash erase_sector {bank} {first} {last}");
        self.conn.command(&command).await.map(drop)
    }

    /// Erases every sector of `bank`.
    ///
    /// # Examples
    ///
    /// See [`Flash`].
    ///
    /// # Errors
    ///
    /// As [`erase_sectors`](Self::erase_sectors).
    pub async fn erase(&self, bank: u32) -> Result<()> {
        let command = format!("flash erase_sector {bank} 0 last");
        self.conn.command(&command).await.map(drop)
    }

    /// Writes `data` to `bank` at `offset`, one chunk at a time, as a stream of progress
    /// reports: one [`FlashProgress`] per chunk, in order, the last with `done == total`.
    ///
    /// Nothing is written until the stream is polled, and each chunk only when the previous
    /// one is done; dropping the stream stops the write after the chunk in flight. After an
    /// error the stream yields nothing more. Erase the sectors first: like `flash write_bank`,
    /// this does not erase. The blocking twin returns a blocking iterator, whose items are
    /// `Result<Result<FlashProgress, Error>, syncportal::Error>`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use syncportal_openocd::Session;
    ///
    /// # #[tokio::main] async fn main() -> Result<(), syncportal_openocd::Error> {
    /// let ocd = Session::connect("localhost:6666").await?;
    /// let image = std::fs::read("firmware.bin")?;
    /// let mut write = ocd.flash().write(0, 0, image);
    /// while let Some(progress) =
    ///     std::future::poll_fn(|cx| futures_core::Stream::poll_next(std::pin::Pin::new(&mut write), cx)).await
    /// {
    ///     let progress = progress?;
    ///     println!("{:3}%", progress.done * 100 / progress.total);
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// Each item: [`Error::Io`] when the chunk's temporary file cannot be written;
    /// [`Error::Command`] when OpenOCD refuses the chunk, or writes less of it than asked (the
    /// data runs past the end of the bank); [`Error::Disconnected`] when OpenOCD goes away.
    ///
    /// # Caveats
    ///
    /// OpenOCD reads each chunk from a file in the system's temporary directory, so it must run
    /// on this machine (as it does after [`Session::start`](crate::Session::start)) or share
    /// that directory.
    #[facade(iter)]
    pub fn write(&self, bank: u32, offset: u64, data: impl Into<Arc<[u8]>>) -> FlashWrite {
        FlashWrite {
            conn: self.conn.clone(),
            bank,
            offset,
            data: data.into(),
            chunk: self.chunk,
            done: 0,
            pending: None,
            finished: false,
        }
    }

    /// Writes `data` to `bank` at `offset` like [`write`](Self::write), without progress
    /// reports, and returns the bytes written.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # let ocd = syncportal_openocd::SyncSession::connect("localhost:6666")?;
    /// let flash = ocd.flash();
    /// flash.erase(0)?;
    /// assert_eq!(flash.write_all(0, 0, vec![0xa5; 1024])?, 1024);
    /// # Ok::<(), syncportal_openocd::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The first error of [`write`](Self::write).
    pub async fn write_all(
        &self,
        bank: u32,
        offset: u64,
        data: impl Into<Arc<[u8]>>,
    ) -> Result<usize> {
        let mut write = self.write(bank, offset, data);
        let mut done = 0;
        while let Some(progress) =
            std::future::poll_fn(|cx| Pin::new(&mut write).poll_next(cx)).await
        {
            done = progress?.done;
        }
        Ok(done)
    }
}

type ChunkFuture = Pin<Box<dyn Future<Output = Result<usize>> + Send>>;

/// A write in progress, from [`Flash::write`]: a [`Stream`] of [`FlashProgress`], one per
/// chunk.
///
/// # Examples
///
/// See [`Flash::write`].
pub struct FlashWrite {
    conn: Connection,
    bank: u32,
    offset: u64,
    data: Arc<[u8]>,
    chunk: usize,
    done: usize,
    pending: Option<ChunkFuture>,
    finished: bool,
}

impl fmt::Debug for FlashWrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlashWrite")
            .field("bank", &self.bank)
            .field("offset", &self.offset)
            .field("done", &self.done)
            .field("total", &self.data.len())
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl Stream for FlashWrite {
    type Item = Result<FlashProgress>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.finished {
            return Poll::Ready(None);
        }
        let at = this.offset.saturating_add(this.done as u64);
        if this.pending.is_none() {
            if this.done == this.data.len() {
                this.finished = true;
                return Poll::Ready(None);
            }
            let end = this.data.len().min(this.done + this.chunk);
            this.pending = Some(Box::pin(write_chunk(
                this.conn.clone(),
                this.bank,
                at,
                Arc::clone(&this.data),
                this.done,
                end,
            )));
        }
        let Some(pending) = this.pending.as_mut() else {
            return Poll::Ready(None);
        };
        let result = match pending.as_mut().poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(result) => result,
        };
        this.pending = None;
        Poll::Ready(Some(match result {
            Ok(written) => {
                this.done += written;
                Ok(FlashProgress {
                    bank: this.bank,
                    offset: at,
                    written,
                    done: this.done,
                    total: this.data.len(),
                })
            }
            Err(err) => {
                this.finished = true;
                Err(err)
            }
        }))
    }
}

/// A temporary file that is removed when dropped, however the write ends.
struct TempFile(PathBuf);

impl TempFile {
    fn new() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("syncportal-openocd-{}-{n}.bin", std::process::id());
        Self(std::env::temp_dir().join(name))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Writes `data[start..end]` at `at` in `bank` through a temporary file; returns its length
/// once OpenOCD confirms every byte.
async fn write_chunk(
    conn: Connection,
    bank: u32,
    at: u64,
    data: Arc<[u8]>,
    start: usize,
    end: usize,
) -> Result<usize> {
    let file = TempFile::new();
    let path = file.0.to_str().ok_or_else(|| {
        Error::InvalidArgument(format!(
            "the temporary directory {} is not valid UTF-8, so OpenOCD cannot be told its name",
            file.0.display()
        ))
    })?;
    tokio::fs::write(&file.0, &data[start..end]).await?;
    let command = format!("flash write_bank {bank} {} {at:#x}", tcl::quote(path));
    let reply = conn.command(&command).await?;
    let wrote = parse_wrote(&reply)?;
    let asked = end - start;
    if wrote != asked {
        return Err(Error::Command {
            command,
            message: format!(
                "OpenOCD wrote {wrote} of {asked} bytes at offset {at:#x}: the data runs past \
                 the end of bank {bank}"
            ),
        });
    }
    Ok(wrote)
}

/// The byte count of `wrote N bytes from file ...`; 0 for OpenOCD's empty reply when there
/// was nothing to write (at the very end of the bank).
fn parse_wrote(reply: &str) -> Result<usize> {
    let Some(rest) = reply.trim_start().strip_prefix("wrote ") else {
        return if reply.trim().is_empty() {
            Ok(0)
        } else {
            Err(Error::parse("the bytes written", reply))
        };
    };
    let count = rest.split_whitespace().next().unwrap_or_default();
    count
        .parse()
        .map_err(|_| Error::parse("the bytes written", reply))
}

/// The fields after ` at ` in `flash banks` and `flash info` headers:
/// `0xBASE, size 0xSIZE, buswidth B, chipwidth C`.
fn parse_geometry(text: &str, line: &str) -> Result<(u64, u64, u32, u32)> {
    let bad = || Error::parse("a flash bank's geometry", line);
    let mut parts = text.split(", ");
    let base = u64_number("a flash bank's base", parts.next().ok_or_else(bad)?)?;
    let mut field = |prefix: &str| -> Result<u64> {
        let part = parts.next().ok_or_else(bad)?;
        u64_number(
            "a flash bank's geometry",
            part.strip_prefix(prefix).ok_or_else(bad)?,
        )
    };
    let size = field("size ")?;
    let bus = u32::try_from(field("buswidth ")?).map_err(|_| bad())?;
    let chip = u32::try_from(field("chipwidth ")?).map_err(|_| bad())?;
    Ok((base, size, bus, chip))
}

/// Parses `#N : NAME (DRIVER) at 0xBASE, size 0xSIZE, buswidth B, chipwidth C` lines.
pub(crate) fn parse_banks(text: &str) -> Result<Vec<FlashBank>> {
    let mut banks = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let bad = || Error::parse("a line of `flash banks`", line);
        let rest = line.strip_prefix('#').ok_or_else(bad)?;
        let (index, rest) = rest.split_once(" : ").ok_or_else(bad)?;
        let (head, geometry) = rest.rsplit_once(") at ").ok_or_else(bad)?;
        let (name, driver) = head.rsplit_once(" (").ok_or_else(bad)?;
        let (base, size, bus_width, chip_width) = parse_geometry(geometry, line)?;
        banks.push(FlashBank {
            index: index.trim().parse().map_err(|_| bad())?,
            name: name.to_owned(),
            driver: driver.to_owned(),
            base,
            size,
            bus_width,
            chip_width,
        });
    }
    Ok(banks)
}

/// Parses `flash info`: a header like a `flash banks` line without the name, a line per sector
/// `\t#  0: 0x00000000 (0x10000 64kB) not protected`, then the driver's own text.
pub(crate) fn parse_info(text: &str) -> Result<FlashInfo> {
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default().trim();
    let bad = || Error::parse("the header of `flash info`", header);
    let rest = header.strip_prefix('#').ok_or_else(bad)?;
    let (index, rest) = rest.split_once(" : ").ok_or_else(bad)?;
    let (driver, geometry) = rest.split_once(" at ").ok_or_else(bad)?;
    let (base, size, bus_width, chip_width) = parse_geometry(geometry, header)?;
    let mut sectors = Vec::new();
    let mut driver_info = Vec::new();
    for line in lines {
        match parse_sector(line)? {
            Some(sector) if driver_info.is_empty() => sectors.push(sector),
            _ => driver_info.push(line),
        }
    }
    Ok(FlashInfo {
        index: index.trim().parse().map_err(|_| bad())?,
        driver: driver.to_owned(),
        base,
        size,
        bus_width,
        chip_width,
        sectors,
        driver_info: driver_info.join("\n").trim().to_owned(),
    })
}

/// One sector line of `flash info`, or `None` for a line of another form.
fn parse_sector(line: &str) -> Result<Option<FlashSector>> {
    let Some(rest) = line.strip_prefix("\t#") else {
        return Ok(None);
    };
    let bad = || Error::parse("a sector line of `flash info`", line);
    let (index, rest) = rest.split_once(": ").ok_or_else(bad)?;
    let (offset, rest) = rest.split_once(" (").ok_or_else(bad)?;
    let (sizes, state) = rest.split_once(") ").ok_or_else(bad)?;
    let size = sizes.split_whitespace().next().ok_or_else(bad)?;
    let protected = match state.trim() {
        "not protected" => Some(false),
        "protected" => Some(true),
        _ => None,
    };
    Ok(Some(FlashSector {
        index: index.trim().parse().map_err(|_| bad())?,
        offset: u64_number("a sector offset", offset)?,
        size: u64_number("a sector size", size)?,
        protected,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// OpenOCD 0.12's `flash banks` and `flash info 0` for two `faux` banks.
    const BANKS: &str = "#0 : chip.flash (faux) at 0x08000000, size 0x00040000, buswidth 4, \
        chipwidth 4\n#1 : chip.boot (faux) at 0x1fff0000, size 0x00008000, buswidth 2, chipwidth 2\n";
    const INFO: &str = "#0 : faux at 0x08000000, size 0x00040000, buswidth 4, chipwidth 4\n\
        \t#  0: 0x00000000 (0x10000 64kB) not protected\n\
        \t#  1: 0x00010000 (0x10000 64kB) protected\n\
        \t#  2: 0x00020000 (0x10000 64kB) protection state unknown\n\
        faux flash driver\n";

    #[test]
    fn banks() {
        let banks = parse_banks(BANKS).unwrap();
        assert_eq!(banks.len(), 2);
        assert_eq!(banks[1].name, "chip.boot");
        assert_eq!(banks[1].driver, "faux");
        assert_eq!((banks[1].base, banks[1].size), (0x1fff_0000, 0x8000));
        assert_eq!((banks[1].bus_width, banks[1].chip_width), (2, 2));
        assert!(parse_banks("#0 junk").is_err());
    }

    #[test]
    fn info() {
        let info = parse_info(INFO).unwrap();
        assert_eq!((info.index, info.driver.as_str()), (0, "faux"));
        let states: Vec<_> = info.sectors.iter().map(|s| s.protected).collect();
        assert_eq!(states, [Some(false), Some(true), None]);
        assert_eq!(
            (info.sectors[1].offset, info.sectors[1].size),
            (0x10000, 0x10000)
        );
        assert_eq!(info.driver_info, "faux flash driver");
        assert!(parse_info("nonsense").is_err());
    }

    #[test]
    fn wrote() {
        let reply = "wrote 16 bytes from file /tmp/x to flash bank 0 at offset 0x0003fff0 in \
            0.000045s (347.222 KiB/s)\n";
        assert_eq!(parse_wrote(reply).unwrap(), 16);
        assert_eq!(parse_wrote("").unwrap(), 0);
        assert!(parse_wrote("what").is_err());
    }
}
