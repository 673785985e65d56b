//! The JTAG scan chain and adapter speed, against the real dummy adapter.

mod common;

use common::{require_openocd, runtime, watchdog};
use syncportal_openocd::{Session, SyncSession};

#[test]
fn scan_chain_and_speed_through_the_sync_twin() {
    require_openocd!();
    watchdog(30, || {
        let ocd = SyncSession::start(common::dummy()).expect("start openocd");
        let jtag = ocd.jtag();
        let chain = jtag.scan_chain().unwrap();
        let cpu = &chain[0];
        assert_eq!((cpu.index, cpu.name.as_str()), (0, "chip.cpu"));
        assert!(cpu.enabled);
        // The dummy adapter reads no IDCODE.
        assert_eq!((cpu.idcode, cpu.expected), (0, 0x1234_5678));
        assert_eq!((cpu.irlen, cpu.ircap, cpu.irmask), (4, 0x01, 0x03));
        // The dummy adapter's all-ones chain makes OpenOCD add auto-named TAPs.
        assert!(chain.len() > 1 && chain[1].name.starts_with("auto"));

        let names = jtag.names().unwrap();
        let chain_names: Vec<&str> = chain.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, chain_names);
        assert!(jtag.is_enabled("chip.cpu").unwrap());
        assert_eq!(jtag.idcode("chip.cpu").unwrap(), 0);
        assert!(jtag.is_enabled("no.such").unwrap_err().is_command());

        assert_eq!(jtag.speed().unwrap(), 1000);
        assert_eq!(jtag.set_speed(250).unwrap(), 250);
        assert_eq!(jtag.speed().unwrap(), 250);
        ocd.close().unwrap();
    });
}

#[test]
fn scan_chain_through_the_async_api() {
    require_openocd!();
    watchdog(30, || {
        runtime().block_on(async {
            let ocd = Session::start(common::dummy())
                .await
                .expect("start openocd");
            let chain = ocd.jtag().scan_chain().await.unwrap();
            assert_eq!(chain[0].name, "chip.cpu");
            assert_eq!(ocd.jtag().speed().await.unwrap(), 1000);
            ocd.close().await.unwrap();
        });
    });
}
