//! Breakpoints and watchpoints against the fake CPU (`configs/fake_cpu.cfg`), which answers
//! `bp`, `rbp`, `wp` and `rwp` in OpenOCD 0.12's words. The dummy adapter's real `testee`
//! target cannot be used here: OpenOCD 0.12 crashes when asked to set a breakpoint on it.

mod common;

use std::time::Duration;

use common::{require_openocd, runtime, watchdog};
use syncportal_openocd::{Access, BreakpointKind, RunState, Session, SyncSession};

#[test]
fn breakpoints_and_watchpoints_through_the_sync_twin() {
    require_openocd!();
    watchdog(30, || {
        let ocd = SyncSession::start(common::fake_cpu()).expect("start openocd");
        let bps = ocd.breakpoints();
        assert!(bps.list().unwrap().is_empty());
        bps.add_hardware(0x0800_0200, 2).unwrap();
        bps.add(0x0800_0300, 4).unwrap();
        let list = bps.list().unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].address, 0x0800_0200);
        assert_eq!(list[0].kind, BreakpointKind::Hardware { number: 0 });
        assert_eq!((list[1].address, list[1].length), (0x0800_0300, 4));
        assert!(matches!(list[1].kind, BreakpointKind::Software { .. }));
        // OpenOCD's refusal, typed.
        assert!(bps.add(0x0800_0200, 2).unwrap_err().is_command());

        // The fake CPU halts at its lowest breakpoint.
        ocd.target().resume().unwrap();
        let hit = ocd.target().wait_halt(Duration::from_secs(1)).unwrap();
        assert_eq!(
            (hit.state, hit.current_pc),
            (RunState::Halted, Some(0x0800_0200))
        );

        bps.remove(0x0800_0200).unwrap();
        assert_eq!(bps.list().unwrap().len(), 1);
        assert!(bps.remove(0x0800_0200).unwrap_err().is_command());
        bps.remove_all().unwrap();
        assert!(bps.list().unwrap().is_empty());

        bps.add_watchpoint(0x2000_0000, 4, Access::Write).unwrap();
        bps.add_watchpoint(0x2000_0010, 2, Access::Read).unwrap();
        let wps = bps.watchpoints().unwrap();
        assert_eq!(wps.len(), 2);
        assert_eq!((wps[0].address, wps[0].length), (0x2000_0000, 4));
        assert_eq!(wps[0].access, Access::Write);
        assert_eq!(wps[1].access, Access::Read);
        assert_eq!(wps[0].mask, 0xffff_ffff);
        bps.remove_watchpoint(0x2000_0000).unwrap();
        assert_eq!(bps.watchpoints().unwrap().len(), 1);
        assert!(bps.remove_watchpoint(0x2000_0000).unwrap_err().is_command());
        ocd.close().unwrap();
    });
}

#[test]
fn breakpoints_through_the_async_api() {
    require_openocd!();
    watchdog(30, || {
        runtime().block_on(async {
            let ocd = Session::start(common::fake_cpu())
                .await
                .expect("start openocd");
            let bps = ocd.breakpoints();
            bps.add(0x0800_0400, 2).await.unwrap();
            assert_eq!(bps.list().await.unwrap()[0].address, 0x0800_0400);
            bps.add_watchpoint(0x2000_0100, 4, Access::Any)
                .await
                .unwrap();
            assert_eq!(bps.watchpoints().await.unwrap()[0].access, Access::Any);
            ocd.close().await.unwrap();
        });
    });
}
