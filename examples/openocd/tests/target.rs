//! Target control, memory and registers: against the fake CPU (OpenOCD's commands redefined in
//! Tcl, see `configs/fake_cpu.cfg`) through both APIs, and against the dummy adapter's real
//! `testee` target for its real failures.

mod common;

use std::time::Duration;

use common::{require_openocd, runtime, watchdog};
use syncportal_openocd::{Error, ResetMode, RunState, Session, SyncSession};

const RAM: u64 = 0x2000_0000;

#[test]
fn target_control_through_the_sync_twin() {
    require_openocd!();
    watchdog(30, || {
        let ocd = SyncSession::start(common::fake_cpu()).expect("start openocd");
        let target = ocd.target();
        let list = target.list().unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].name, "chip.cpu");
        assert_eq!(list[0].kind, "testee");
        assert!(list[0].current);
        assert_eq!(target.current().unwrap(), "chip.cpu");

        let state = target.state().unwrap();
        assert_eq!(state.name, "chip.cpu");
        assert_eq!(state.state, RunState::Halted);
        assert_eq!(state.current_pc, Some(0x0800_0100));

        let stepped = target.step().unwrap();
        assert_eq!(stepped.current_pc, Some(0x0800_0102));

        target.resume().unwrap();
        let running = target.state().unwrap();
        assert_eq!(
            (running.state, running.current_pc),
            (RunState::Running, None)
        );
        // Resuming a running CPU is OpenOCD's error, typed.
        let again = target.resume();
        assert!(
            matches!(&again, Err(Error::Command { message, .. }) if message == "Target not halted"),
            "{again:?}"
        );
        let timed_out = target.wait_halt(Duration::from_millis(10));
        assert!(
            timed_out.as_ref().is_err_and(Error::is_command),
            "{timed_out:?}"
        );

        let halted = target.halt().unwrap();
        assert_eq!(halted.state, RunState::Halted);
        target.resume_at(0x0800_0400).unwrap();
        target.halt().unwrap();
        assert_eq!(ocd.registers().pc().unwrap(), 0x0800_0400);

        target.reset(ResetMode::Run).unwrap();
        assert_eq!(target.state().unwrap().state, RunState::Running);
        target.reset(ResetMode::Halt).unwrap();
        assert_eq!(target.state().unwrap().current_pc, Some(0x0800_0100));
        target.reset(ResetMode::Init).unwrap();
        ocd.close().unwrap();
    });
}

#[test]
fn memory_and_registers_through_the_async_api() {
    require_openocd!();
    watchdog(30, || {
        runtime().block_on(async {
            let ocd = Session::start(common::fake_cpu()).await.expect("start openocd");
            let memory = ocd.memory();
            memory.write_u8(RAM, b"Hello, OpenOCD!\0").await.unwrap();
            assert_eq!(memory.read_bytes(RAM, 16).await.unwrap(), b"Hello, OpenOCD!\0");
            assert_eq!(
                memory.read_u32(RAM, 2).await.unwrap(),
                [0x6c6c_6548, 0x4f20_2c6f]
            );
            memory.write_u16(RAM + 0x100, &[0xbeef, 0x1234]).await.unwrap();
            assert_eq!(memory.read_u16(RAM + 0x100, 2).await.unwrap(), [0xbeef, 0x1234]);
            assert_eq!(memory.read_u8(RAM + 0x100, 2).await.unwrap(), [0xef, 0xbe]);
            memory.write_u32(RAM + 0x200, &[0xdead_beef]).await.unwrap();
            assert_eq!(memory.read_u32(RAM + 0x200, 1).await.unwrap(), [0xdead_beef]);
            memory.write_u64(RAM + 0x300, &[u64::MAX, 0x1122_3344_5566_7788]).await.unwrap();
            assert_eq!(
                memory.read_u64(RAM + 0x300, 2).await.unwrap(),
                [u64::MAX, 0x1122_3344_5566_7788]
            );
            // More values than one command carries: split and joined back in order.
            let many: Vec<u32> = (0..3000).collect();
            memory.write_u32(RAM + 0x1000, &many).await.unwrap();
            assert_eq!(memory.read_u32(RAM + 0x1000, 3000).await.unwrap(), many);

            let dump = memory.hexdump(RAM, 20).await.unwrap();
            let lines: Vec<&str> = dump.lines().collect();
            assert_eq!(
                lines[0],
                "0x20000000: 48 65 6c 6c 6f 2c 20 4f  70 65 6e 4f 43 44 21 00  |Hello, OpenOCD!.|"
            );
            assert_eq!(lines.len(), 2);

            // Outside the fake RAM, OpenOCD's own message.
            let err = memory.read_u32(0x1000, 1).await.unwrap_err();
            assert!(
                matches!(&err, Error::Command { message, .. } if message == "read_memory: failed to read memory"),
                "{err:?}"
            );

            let regs = ocd.registers();
            let all = regs.read_all().await.unwrap();
            let names: Vec<&str> = all.iter().map(|r| r.name.as_str()).collect();
            assert_eq!(names, ["r0", "r1", "r2", "r3", "sp", "lr", "pc", "xpsr"]);
            assert_eq!(all[4].value, Some(0x2000_1000));
            assert_eq!(all[4].bits, 32);
            assert!(!all[0].dirty);
            assert_eq!(regs.write("r0", 0x55).await.unwrap(), 0x55);
            assert_eq!(regs.read("r0").await.unwrap(), 0x55);
            assert!(regs.read_all().await.unwrap()[0].dirty);
            assert_eq!(regs.pc().await.unwrap(), 0x0800_0100);
            let missing = regs.read("r99").await.unwrap_err();
            assert!(
                matches!(&missing, Error::Command { message, .. } if message.contains("r99 not found")),
                "{missing:?}"
            );
            ocd.close().await.unwrap();
        });
    });
}

#[test]
fn the_real_dummy_target_reports_its_own_failures() {
    require_openocd!();
    watchdog(30, || {
        let ocd = SyncSession::start(common::dummy()).expect("start openocd");
        let target = ocd.target();
        let list = target.list().unwrap();
        assert_eq!(list[0].state, RunState::Unknown);
        assert_eq!(target.state().unwrap().current_pc, None);
        // The testee target cannot read memory: OpenOCD's real error reply.
        let err = ocd.memory().read_u32(0, 4).unwrap_err();
        assert!(
            matches!(&err, Error::Command { command, message }
                if command == "read_memory 0x0 32 4" && message == "read_memory: failed to read memory"),
            "{err:?}"
        );
        let err = ocd.memory().write_u32(0, &[1]).unwrap_err();
        assert!(err.is_command(), "{err:?}");
        // It has no registers.
        assert!(ocd.registers().read_all().unwrap().is_empty());
        let err = ocd.registers().pc().unwrap_err();
        assert!(err.is_command(), "{err:?}");
        ocd.close().unwrap();
    });
}
