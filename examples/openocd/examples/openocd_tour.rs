//! A tour of syncportal-openocd against a real OpenOCD, through the async API and then through
//! its blocking twin, printing each step.
//!
//! It needs no hardware: OpenOCD runs with the dummy adapter and the test configs of this
//! crate (`tests/configs/`): a fake CPU written in Tcl and two banks of OpenOCD's `faux` flash
//! driver. Without `openocd` installed it prints a skip line and exits successfully.
//!
//! ```sh
//! cargo run --release -p syncportal-openocd --example openocd_tour
//! ```

use std::error::Error;
use std::future::poll_fn;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Command;
use std::time::Duration;

use futures_core::Stream;
use syncportal::RecordOptions;
use syncportal_openocd::{ResetMode, Session, StartConfig, SvdDevice, SyncSession};

fn main() -> Result<(), Box<dyn Error>> {
    if Command::new("openocd").arg("--version").output().is_err() {
        println!("skipping: openocd not installed");
        return Ok(());
    }
    let device = SvdDevice::from_file(here().join("tests/fake_mcu.svd"))?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async_tour(&device))?;
    // The blocking twin refuses to run inside async code, so this part runs after the
    // runtime, on a plain thread.
    drop(runtime);
    sync_tour(&device)?;
    println!("\ndone");
    Ok(())
}

fn hex(value: Option<u64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:#x}"))
}

fn here() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// OpenOCD with the dummy adapter, two `faux` flash banks and, when `cpu`, the Tcl fake CPU.
fn config(cpu: bool) -> StartConfig {
    let configs = here().join("tests/configs");
    let config = StartConfig::new()
        .file(configs.join("dummy.cfg"))
        .file(configs.join("fake_flash.cfg"));
    if cpu {
        config.file(configs.join("fake_cpu.cfg"))
    } else {
        config
    }
}

async fn async_tour(device: &SvdDevice) -> Result<(), Box<dyn Error>> {
    println!("== async API ==");
    let ocd = Session::start(config(true)).await?;
    println!(
        "started {} (pid {:?}) on {}",
        ocd.version().await?,
        ocd.pid(),
        ocd.addr()
    );

    let target = ocd.target();
    let state = target.state().await?;
    println!(
        "target {} is {} at pc {}",
        state.name,
        state.state,
        hex(state.current_pc)
    );
    let stepped = target.step().await?;
    println!("step -> pc {}", hex(stepped.current_pc));

    let memory = ocd.memory();
    memory.write_u8(0x2000_0000, b"Hello from Rust!").await?;
    let registers = ocd.registers();
    registers.write("r0", 0x2000_0000).await?;
    // Two callers at once, one connection: each gets its own reply.
    let (dump, r0) = tokio::join!(memory.hexdump(0x2000_0000, 16), registers.read("r0"));
    print!("hexdump:\n{}", dump?);
    println!("r0 = {:#x}", r0?);

    let flash = ocd.flash().with_chunk_size(8 * 1024);
    for bank in flash.banks().await? {
        println!(
            "flash #{} {} ({}) at {:#x}, {} KiB",
            bank.index,
            bank.name,
            bank.driver,
            bank.base,
            bank.size / 1024
        );
    }
    flash.erase(0).await?;
    let image: Vec<u8> = (0..40_000u32).map(|i| i.to_le_bytes()[0]).collect();
    let mut write = flash.write(0, 0, image);
    while let Some(progress) = poll_fn(|cx| Pin::new(&mut write).poll_next(cx)).await {
        let progress = progress?;
        println!(
            "flash write: {:>6}/{} bytes ({:>3}%)",
            progress.done,
            progress.total,
            progress.done * 100 / progress.total
        );
    }

    memory.write_u32(0x2000_8000, &[0xA800_0009]).await?;
    let svd = ocd.svd(device);
    println!("svd: {}", svd.read("GPIOA", "MODER").await?);

    ocd.close().await?;
    println!("closed: OpenOCD shut down and reaped");
    Ok(())
}

fn sync_tour(device: &SvdDevice) -> Result<(), Box<dyn Error>> {
    println!("\n== blocking twin ==");
    // Without the fake CPU, the dummy target's real `reset` makes OpenOCD send notifications.
    let ocd = SyncSession::start(config(false))?;
    println!("started {}", ocd.version()?);

    let mut events = ocd.events()?;
    for mode in [ResetMode::Halt, ResetMode::Run] {
        ocd.target().reset(mode)?;
        println!(
            "reset {} -> event {:?}",
            mode.as_str(),
            events.next().transpose()?
        );
    }

    let options = RecordOptions::new().capacity(16);
    let recording = ocd.record_events(options)?.into_sync();
    let live = recording.live_summary();
    for mode in [ResetMode::Init, ResetMode::Halt, ResetMode::Run] {
        ocd.target().reset(mode)?;
    }

    let flash = ocd.flash();
    let info = flash.info(1)?;
    println!(
        "flash #1: {} at {:#x}, {} sectors",
        info.driver,
        info.base,
        info.sectors.len()
    );
    for progress in flash.with_chunk_size(4096).write(1, 0, vec![0x5a; 10_000]) {
        let progress = progress??;
        println!("flash write: {:>5}/{} bytes", progress.done, progress.total);
    }
    let quick = ocd.with_timeout(Duration::from_secs(1)).version()?;
    println!("with a 1 s timeout: {quick}");

    let layout = device.register("TIM2", "CNT")?;
    println!(
        "svd layout: TIM2.CNT is {} bits at {:#x}",
        layout.size, layout.address
    );

    ocd.close()?;
    let seen: Vec<_> = recording.collect::<Result<_, _>>()?;
    println!("recorded after close: {seen:?}");
    let summary = live.get();
    println!(
        "recording summary: emitted {}, delivered {}, dropped {}, balances: {}",
        summary.emitted,
        summary.delivered,
        summary.dropped,
        summary.balances()
    );
    drop(events);
    Ok(())
}
