//! Flash against OpenOCD's real `faux` driver (see `configs/fake_flash.cfg`): banks, info,
//! erase, and writes whose progress arrives chunk by chunk, in order, with errors mid-write.

mod common;

use std::future::poll_fn;
use std::pin::Pin;

use common::{kill, require_openocd, runtime, watchdog};
use futures_core::Stream;
use syncportal_openocd::{Error, FlashProgress, FlashWrite, Session, SyncSession};

async fn next(write: &mut FlashWrite) -> Option<Result<FlashProgress, Error>> {
    poll_fn(|cx| Pin::new(&mut *write).poll_next(cx)).await
}

#[test]
fn banks_info_erase_and_write_through_the_sync_twin() {
    require_openocd!();
    watchdog(30, || {
        let ocd = SyncSession::start(common::fake_flash()).expect("start openocd");
        let flash = ocd.flash();
        let banks = flash.banks().unwrap();
        assert_eq!(banks.len(), 2);
        assert_eq!((banks[0].index, banks[0].name.as_str()), (0, "chip.flash"));
        assert_eq!(banks[0].driver, "faux");
        assert_eq!((banks[0].base, banks[0].size), (0x0800_0000, 0x4_0000));
        assert_eq!((banks[1].bus_width, banks[1].chip_width), (2, 2));

        let info = flash.info(0).unwrap();
        assert_eq!((info.base, info.size), (0x0800_0000, 0x4_0000));
        let offsets: Vec<u64> = info.sectors.iter().map(|s| s.offset).collect();
        assert_eq!(offsets, [0, 0x1_0000, 0x2_0000, 0x3_0000]);
        assert!(
            info.sectors
                .iter()
                .all(|s| s.size == 0x1_0000 && s.protected == Some(false))
        );
        assert_eq!(info.driver_info, "faux flash driver");
        let missing = flash.info(7).unwrap_err();
        assert!(missing.is_command(), "{missing:?}");

        flash.erase_sectors(0, 1, 2).unwrap();
        flash.erase(1).unwrap();
        let err = flash.erase_sectors(0, 9, 9).unwrap_err();
        assert!(
            matches!(&err, Error::Command { message, .. } if message == "ERROR: last sector must be <= 3"),
            "{err:?}"
        );

        // 10 KiB in 4 KiB chunks: three reports, in order, adding up to the total.
        let image: Vec<u8> = (0..10_240u32).map(|i| (i % 251) as u8).collect();
        let reports: Vec<FlashProgress> = flash
            .write(0, 0x100, image.clone())
            .map(|item| item.unwrap().unwrap())
            .collect();
        let dones: Vec<usize> = reports.iter().map(|p| p.done).collect();
        assert_eq!(dones, [4096, 8192, 10_240]);
        let at: Vec<u64> = reports.iter().map(|p| p.offset).collect();
        assert_eq!(at, [0x100, 0x1100, 0x2100]);
        let written: Vec<usize> = reports.iter().map(|p| p.written).collect();
        assert_eq!(written, [4096, 4096, 2048]);
        assert!(reports.iter().all(|p| p.total == 10_240 && p.bank == 0));
        assert!(reports[2].is_complete() && !reports[1].is_complete());

        let small = flash.with_chunk_size(1000);
        assert_eq!(small.chunk_size(), 1000);
        assert_eq!(small.write(0, 0, image.clone()).count(), 11);
        assert_eq!(small.write_all(0, 0, &image[..2500]).unwrap(), 2500);
        assert_eq!(flash.write(0, 0, Vec::new()).count(), 0);

        // Past the end of bank 1 (32 KiB): the first chunk fits, OpenOCD writes only part of
        // the second, and the stream stops there.
        let mut write = flash.write(1, 0x8000 - 5000, vec![0x5a; 9000]);
        let first = write.next().unwrap().unwrap().unwrap();
        assert_eq!((first.done, first.total), (4096, 9000));
        let err = write.next().unwrap().unwrap().unwrap_err();
        assert!(
            matches!(&err, Error::Command { message, .. } if message.starts_with("OpenOCD wrote 904 of 4096 bytes")),
            "{err:?}"
        );
        assert!(write.next().is_none());
        // The session is still in step.
        assert_eq!(flash.banks().unwrap().len(), 2);
        ocd.close().unwrap();
    });
}

#[test]
fn a_write_through_the_async_api_stops_when_openocd_dies() {
    require_openocd!();
    watchdog(30, || {
        runtime().block_on(async {
            let ocd = Session::start(common::fake_flash())
                .await
                .expect("start openocd");
            let flash = ocd.flash().with_chunk_size(1024);
            let mut write = flash.write(0, 0, vec![0xa5; 4096]);
            let mut dones = Vec::new();
            while let Some(progress) = next(&mut write).await {
                dones.push(progress.unwrap().done);
            }
            assert_eq!(dones, [1024, 2048, 3072, 4096]);

            // Nothing is sent before the stream is polled, and each chunk only after the one
            // before: killed after the first report, the write fails at the second.
            let mut write = flash.write(0, 0, vec![0xa5; 4096]);
            assert_eq!(next(&mut write).await.unwrap().unwrap().done, 1024);
            let pid = ocd.pid().unwrap();
            kill(pid);
            let err = next(&mut write).await.unwrap().unwrap_err();
            assert!(err.is_disconnected(), "{err:?}");
            assert!(next(&mut write).await.is_none());
            // Reaps the killed OpenOCD before the test ends.
            ocd.close().await.unwrap();
            assert!(!common::process_exists(pid));
        });
    });
}
