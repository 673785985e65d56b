//! CMSIS-SVD: the test file `fake_mcu.svd` parsed by `svd-parser`, and its registers read and
//! written by name through OpenOCD's TCL server against the fake CPU's memory.

mod common;

use std::path::Path;

use common::{require_openocd, runtime, watchdog};
use syncportal_openocd::{Error, Session, SvdDevice, SyncSession};

fn device() -> SvdDevice {
    SvdDevice::from_file(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fake_mcu.svd"))
        .expect("parse tests/fake_mcu.svd")
}

#[test]
fn the_test_file_parses_with_arrays_and_derived_parts_expanded() {
    watchdog(10, || {
        let device = device();
        assert_eq!(device.name(), "FAKEMCU");
        assert_eq!(device.peripherals(), ["GPIOA", "GPIOB", "TIM2"]);
        assert_eq!(
            device.registers("TIM2").unwrap(),
            ["CNT", "CH0_CCR", "CH1_CCR"]
        );

        let mode_reg = device.register("GPIOB", "MODER").unwrap();
        assert_eq!((mode_reg.address, mode_reg.size), (0x2000_8400, 32));
        assert_eq!(mode_reg.reset_value, Some(0xA800_0000));
        let names: Vec<&str> = mode_reg.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["MODE0", "MODE1", "MODE15"]);
        let mode1 = mode_reg.field("MODE1").unwrap();
        assert_eq!((mode1.bit_offset, mode1.bit_width), (2, 2));
        // Its enumerated values come from MODE0's, by derivedFrom.
        let decoded = mode_reg.decode(0xA800_0009);
        let meanings: Vec<Option<&str>> = decoded
            .fields
            .iter()
            .map(|f| f.meaning.as_deref())
            .collect();
        assert_eq!(meanings, [Some("Output"), Some("Alternate"), None]);
        assert_eq!(decoded.field("MODE15").unwrap().value, 2);

        let ccr = device.register("TIM2", "CH1_CCR").unwrap();
        assert_eq!(ccr.address, 0x2000_9000 + 0x40 + 0x8 + 0x4);
        assert_eq!(device.register("TIM2", "CNT").unwrap().size, 16);

        let err = device.register("GPIOC", "MODER").unwrap_err();
        assert!(
            matches!(&err, Error::Svd(m) if m.contains("no peripheral GPIOC") && m.contains("GPIOA, GPIOB, TIM2")),
            "{err:?}"
        );
        let err = device.register("GPIOA", "BSRR").unwrap_err();
        assert!(
            matches!(&err, Error::Svd(m) if m.contains("MODER, ODR")),
            "{err:?}"
        );
        let err = SvdDevice::parse("<device><name>broken").unwrap_err();
        assert!(matches!(err, Error::Svd(_)), "{err:?}");
    });
}

#[test]
fn registers_by_name_through_the_sync_twin() {
    require_openocd!();
    watchdog(30, || {
        let device = device();
        let ocd = SyncSession::start(common::fake_cpu()).expect("start openocd");
        ocd.memory().write_u32(0x2000_8000, &[0xA800_0009]).unwrap();
        let svd = ocd.svd(&device);
        assert_eq!(svd.device().name(), "FAKEMCU");
        let mode_reg = svd.read("GPIOA", "MODER").unwrap();
        assert_eq!(
            (mode_reg.address, mode_reg.value),
            (0x2000_8000, 0xA800_0009)
        );
        let mode0 = mode_reg.field("MODE0").unwrap();
        assert_eq!((mode0.value, mode0.meaning.as_deref()), (1, Some("Output")));
        assert_eq!(
            mode_reg.to_string().lines().next(),
            Some("GPIOA.MODER @ 0x20008000 = 0xa8000009")
        );
        assert_eq!(svd.read_field("GPIOA", "MODER", "MODE1").unwrap(), 2);

        // Read, modify, write: only the field's bits change.
        ocd.memory().write_u32(0x2000_8014, &[0x8000_0001]).unwrap();
        let odr = svd.write_field("GPIOA", "ODR", "ODR5", 1).unwrap();
        assert_eq!(odr.value, 0x8000_0021);
        assert_eq!(
            ocd.memory().read_u32(0x2000_8014, 1).unwrap(),
            [0x8000_0021]
        );
        let err = svd.write_field("GPIOA", "ODR", "ODR5", 2).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
        let err = svd.read_field("GPIOA", "ODR", "ODR9").unwrap_err();
        assert!(
            matches!(&err, Error::Svd(m) if m.contains("ODR0, ODR5")),
            "{err:?}"
        );

        // A 16-bit register is read 16 bits wide: the bytes after it do not leak in.
        ocd.memory()
            .write_u16(0x2000_9024, &[0x1234, 0xffff])
            .unwrap();
        assert_eq!(svd.read("TIM2", "CNT").unwrap().value, 0x1234);
        // A register inside an expanded cluster array.
        svd.write_field("TIM2", "CH1_CCR", "EN", 1).unwrap();
        assert_eq!(
            ocd.memory().read_u32(0x2000_904c, 1).unwrap(),
            [0x8000_0000]
        );
        ocd.close().unwrap();
    });
}

#[test]
fn registers_by_name_through_the_async_api() {
    require_openocd!();
    watchdog(30, || {
        runtime().block_on(async {
            let device = device();
            let ocd = Session::start(common::fake_cpu())
                .await
                .expect("start openocd");
            ocd.memory()
                .write_u32(0x2000_8400, &[0b1100])
                .await
                .unwrap();
            let svd = ocd.svd(&device);
            let mode_reg = svd.read("GPIOB", "MODER").await.unwrap();
            let mode1 = mode_reg.field("MODE1").unwrap();
            assert_eq!((mode1.value, mode1.meaning.as_deref()), (3, Some("Analog")));
            // Outside the fake RAM: OpenOCD's error, typed.
            let far = SvdDevice::parse(
                &std::fs::read_to_string(
                    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fake_mcu.svd"),
                )
                .unwrap()
                .replace("0x20008000", "0x40000000"),
            )
            .unwrap();
            let err = ocd.svd(&far).read("GPIOA", "MODER").await.unwrap_err();
            assert!(err.is_command(), "{err:?}");
            ocd.close().await.unwrap();
        });
    });
}
