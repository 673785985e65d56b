//! Peripheral registers by name: a CMSIS-SVD file read with `svd-parser`, registers read
//! through target memory and decoded into their fields.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use svd_parser::svd::{self, RegisterCluster};

use crate::{Error, Memory, Result};

/// A device described by a CMSIS-SVD file: its peripherals, registers and fields.
///
/// Parsed by `svd-parser` with arrays expanded, `derivedFrom` resolved and register
/// properties (size, reset value) inherited from peripherals and the device. Cheap to clone.
///
/// # Examples
///
/// ```
/// use syncportal_openocd::SvdDevice;
///
/// let xml = r#"<device schemaVersion="1.3"><name>TINY</name><version>1</version>
///   <description>tiny</description><addressUnitBits>8</addressUnitBits><width>32</width>
///   <size>32</size><resetValue>0</resetValue><resetMask>0xffffffff</resetMask>
///   <peripherals><peripheral><name>GPIO</name><baseAddress>0x40000000</baseAddress>
///     <registers><register><name>ODR</name><addressOffset>0x14</addressOffset><fields>
///       <field><name>PIN3</name><bitOffset>3</bitOffset><bitWidth>1</bitWidth></field>
///     </fields></register></registers>
///   </peripheral></peripherals></device>"#;
/// let device = SvdDevice::parse(xml)?;
/// let odr = device.register("GPIO", "ODR")?;
/// assert_eq!((odr.address, odr.size), (0x4000_0014, 32));
/// let decoded = odr.decode(0b1000);
/// assert_eq!(decoded.field("PIN3").map(|f| f.value), Some(1));
/// # Ok::<(), syncportal_openocd::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct SvdDevice {
    device: Arc<svd::Device>,
}

impl SvdDevice {
    /// Parses SVD text.
    ///
    /// # Examples
    ///
    /// See [`SvdDevice`].
    ///
    /// # Errors
    ///
    /// [`Error::Svd`] with the parser's message when the text is not a valid SVD file.
    pub fn parse(xml: &str) -> Result<Self> {
        let config = svd_parser::Config::default()
            .expand(true)
            .expand_properties(true);
        let device = svd_parser::parse_with_config(xml, &config)
            .map_err(|err| Error::Svd(format!("could not parse the SVD file: {err:#}")))?;
        Ok(Self {
            device: Arc::new(device),
        })
    }

    /// Reads and parses an SVD file.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let device = syncportal_openocd::SvdDevice::from_file("STM32F407.svd")?;
    /// println!("{} has {} peripherals", device.name(), device.peripherals().len());
    /// # Ok::<(), syncportal_openocd::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the file cannot be read, [`Error::Svd`] when it cannot be parsed.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        Self::parse(&std::fs::read_to_string(path)?)
    }

    /// The device's name.
    ///
    /// # Examples
    ///
    /// See [`from_file`](Self::from_file).
    #[must_use]
    pub fn name(&self) -> &str {
        &self.device.name
    }

    /// The names of its peripherals, in file order.
    ///
    /// # Examples
    ///
    /// See [`from_file`](Self::from_file).
    #[must_use]
    pub fn peripherals(&self) -> Vec<&str> {
        self.device
            .peripherals
            .iter()
            .map(|p| p.name.as_str())
            .collect()
    }

    /// The names of a peripheral's registers, in file order. Registers of a cluster array are
    /// named as `svd-parser` expands them (`CH0_CCR` for `CCR` in `CH[%s]`); those of a
    /// cluster it keeps are named `CLUSTER.REGISTER`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # let device = syncportal_openocd::SvdDevice::from_file("STM32F407.svd")?;
    /// for name in device.registers("GPIOA")? {
    ///     println!("GPIOA.{name}");
    /// }
    /// # Ok::<(), syncportal_openocd::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Svd`] when there is no such peripheral.
    pub fn registers(&self, peripheral: &str) -> Result<Vec<String>> {
        let p = self.peripheral(peripheral)?;
        let mut out = Vec::new();
        walk(
            p.registers.as_deref().unwrap_or_default(),
            "",
            0,
            &mut |path, _, _| out.push(path),
        );
        Ok(out)
    }

    /// One register's layout: address, size, reset value and fields.
    ///
    /// # Examples
    ///
    /// See [`SvdDevice`].
    ///
    /// # Errors
    ///
    /// [`Error::Svd`] when there is no such peripheral or register, naming the ones there are.
    pub fn register(&self, peripheral: &str, register: &str) -> Result<SvdRegister> {
        let p = self.peripheral(peripheral)?;
        let mut found = None;
        let mut names = Vec::new();
        walk(
            p.registers.as_deref().unwrap_or_default(),
            "",
            0,
            &mut |path, offset, reg| {
                if found.is_none() && path == register {
                    found = Some((offset, reg.clone()));
                }
                names.push(path);
            },
        );
        let Some((offset, reg)) = found else {
            return Err(Error::Svd(format!(
                "{peripheral} has no register {register}; it has {}",
                names.join(", ")
            )));
        };
        let size = reg
            .properties
            .size
            .or(p.default_register_properties.size)
            .or(self.device.default_register_properties.size)
            .unwrap_or(32);
        let mut fields: Vec<SvdField> = reg
            .fields
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|f| SvdField {
                name: f.name.clone(),
                description: f.description.clone(),
                bit_offset: f.bit_offset(),
                bit_width: f.bit_width(),
                values: f
                    .enumerated_values
                    .iter()
                    .flat_map(|set| &set.values)
                    .filter_map(|v| {
                        Some(SvdValue {
                            name: v.name.clone(),
                            value: v.value?,
                            description: v.description.clone(),
                        })
                    })
                    .collect(),
            })
            .collect();
        fields.sort_by_key(|f| f.bit_offset);
        Ok(SvdRegister {
            peripheral: p.name.clone(),
            name: register.to_owned(),
            address: p.base_address + offset,
            size,
            reset_value: reg.properties.reset_value,
            description: reg.description.clone(),
            fields,
        })
    }

    fn peripheral(&self, name: &str) -> Result<&svd::PeripheralInfo> {
        self.device
            .peripherals
            .iter()
            .map(|p| &**p)
            .find(|p| p.name == name)
            .ok_or_else(|| {
                Error::Svd(format!(
                    "{} has no peripheral {name}; it has {}",
                    self.device.name,
                    self.peripherals().join(", ")
                ))
            })
    }
}

/// Calls `visit(path, offset, register)` for every register under `items`, clusters included.
fn walk(
    items: &[RegisterCluster],
    prefix: &str,
    base: u64,
    visit: &mut dyn FnMut(String, u64, &svd::RegisterInfo),
) {
    for item in items {
        match item {
            RegisterCluster::Register(reg) => visit(
                format!("{prefix}{}", reg.name),
                base + u64::from(reg.address_offset),
                reg,
            ),
            RegisterCluster::Cluster(cluster) => walk(
                &cluster.children,
                &format!("{prefix}{}.", cluster.name),
                base + u64::from(cluster.address_offset),
                visit,
            ),
        }
    }
}

/// A register's layout, from [`SvdDevice::register`].
///
/// # Examples
///
/// See [`SvdDevice`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SvdRegister {
    /// The peripheral's name.
    pub peripheral: String,
    /// The register's name, as [`SvdDevice::registers`] lists it.
    pub name: String,
    /// Its absolute address.
    pub address: u64,
    /// Its size in bits.
    pub size: u32,
    /// Its value after reset, when the file says.
    pub reset_value: Option<u64>,
    /// What the file says it is.
    pub description: Option<String>,
    /// Its fields, by bit offset.
    pub fields: Vec<SvdField>,
}

impl SvdRegister {
    /// Splits `value` into this register's fields.
    ///
    /// # Examples
    ///
    /// See [`SvdDevice`].
    #[must_use]
    pub fn decode(&self, value: u64) -> DecodedRegister {
        DecodedRegister {
            peripheral: self.peripheral.clone(),
            name: self.name.clone(),
            address: self.address,
            value,
            fields: self
                .fields
                .iter()
                .map(|field| {
                    let bits = field.extract(value);
                    FieldValue {
                        name: field.name.clone(),
                        bit_offset: field.bit_offset,
                        bit_width: field.bit_width,
                        value: bits,
                        meaning: field
                            .values
                            .iter()
                            .find(|v| v.value == bits)
                            .map(|v| v.name.clone()),
                    }
                })
                .collect(),
        }
    }

    /// One field by name.
    ///
    /// # Examples
    ///
    /// ```
    /// # use syncportal_openocd::SvdDevice;
    /// # let device = SvdDevice::from_file(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fake_mcu.svd"))?;
    /// let moder = device.register("GPIOA", "MODER")?;
    /// assert_eq!(moder.field("MODE1").map(|f| f.bit_offset), Some(2));
    /// # Ok::<(), syncportal_openocd::Error>(())
    /// ```
    #[must_use]
    pub fn field(&self, name: &str) -> Option<&SvdField> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// One field of a register's layout.
///
/// # Examples
///
/// See [`SvdRegister::field`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SvdField {
    /// Its name.
    pub name: String,
    /// What the file says it is.
    pub description: Option<String>,
    /// Its lowest bit.
    pub bit_offset: u32,
    /// How many bits it has.
    pub bit_width: u32,
    /// Its named values (`enumeratedValues`).
    pub values: Vec<SvdValue>,
}

impl SvdField {
    /// The mask of this field's bits, in place.
    ///
    /// # Examples
    ///
    /// ```
    /// # use syncportal_openocd::SvdDevice;
    /// # let device = SvdDevice::from_file(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fake_mcu.svd"))?;
    /// let field = device.register("GPIOA", "MODER")?.field("MODE1").cloned().unwrap();
    /// assert_eq!(field.mask(), 0b1100);
    /// # Ok::<(), syncportal_openocd::Error>(())
    /// ```
    #[must_use]
    pub fn mask(&self) -> u64 {
        let ones = if self.bit_width >= 64 {
            u64::MAX
        } else {
            (1u64 << self.bit_width) - 1
        };
        ones.checked_shl(self.bit_offset).unwrap_or(0)
    }

    /// This field's bits of `register`, shifted down.
    ///
    /// # Examples
    ///
    /// ```
    /// # use syncportal_openocd::SvdDevice;
    /// # let device = SvdDevice::from_file(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fake_mcu.svd"))?;
    /// let field = device.register("GPIOA", "MODER")?.field("MODE1").cloned().unwrap();
    /// assert_eq!(field.extract(0b1000), 0b10);
    /// # Ok::<(), syncportal_openocd::Error>(())
    /// ```
    #[must_use]
    pub fn extract(&self, register: u64) -> u64 {
        (register & self.mask())
            .checked_shr(self.bit_offset)
            .unwrap_or(0)
    }
}

/// A named value of a field.
///
/// # Examples
///
/// See [`FieldValue::meaning`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SvdValue {
    /// Its name, such as `Output`.
    pub name: String,
    /// The field's bits for it.
    pub value: u64,
    /// What the file says it means.
    pub description: Option<String>,
}

/// A register's value split into its fields, from [`Svd::read`] or [`SvdRegister::decode`].
///
/// # Examples
///
/// See [`Svd`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DecodedRegister {
    /// The peripheral's name.
    pub peripheral: String,
    /// The register's name.
    pub name: String,
    /// Its address.
    pub address: u64,
    /// Its whole value.
    pub value: u64,
    /// Its fields, by bit offset.
    pub fields: Vec<FieldValue>,
}

impl DecodedRegister {
    /// One field by name.
    ///
    /// # Examples
    ///
    /// See [`SvdDevice`].
    #[must_use]
    pub fn field(&self, name: &str) -> Option<&FieldValue> {
        self.fields.iter().find(|f| f.name == name)
    }
}

impl fmt::Display for DecodedRegister {
    /// `GPIOA.MODER @ 0x20008000 = 0x00000009` and a line per field.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{} @ {:#010x} = {:#010x}",
            self.peripheral, self.name, self.address, self.value
        )?;
        for field in &self.fields {
            let bits = if field.bit_width == 1 {
                format!("[{}]", field.bit_offset)
            } else {
                format!(
                    "[{}:{}]",
                    field.bit_offset + field.bit_width - 1,
                    field.bit_offset
                )
            };
            write!(f, "\n  {:<12} {bits:<8} = {:#x}", field.name, field.value)?;
            if let Some(meaning) = &field.meaning {
                write!(f, " ({meaning})")?;
            }
        }
        Ok(())
    }
}

/// One field of a [`DecodedRegister`].
///
/// # Examples
///
/// See [`Svd`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FieldValue {
    /// The field's name.
    pub name: String,
    /// Its lowest bit.
    pub bit_offset: u32,
    /// How many bits it has.
    pub bit_width: u32,
    /// Its bits, shifted down.
    pub value: u64,
    /// The name of its value, when the file names it (`enumeratedValues`).
    pub meaning: Option<String>,
}

/// Peripheral registers by name, read through target memory, from
/// [`Session::svd`](crate::Session::svd).
///
/// # Examples
///
/// ```no_run
/// use syncportal_openocd::{SvdDevice, SyncSession};
///
/// let device = SvdDevice::from_file("STM32F407.svd")?;
/// let ocd = SyncSession::connect("localhost:6666")?;
/// let svd = ocd.svd(&device);
/// let moder = svd.read("GPIOA", "MODER")?;
/// println!("{moder}");
/// let mode5 = moder.field("MODER5").expect("in the file");
/// println!("pin 5 is {}", mode5.meaning.as_deref().unwrap_or("?"));
/// svd.write_field("GPIOA", "ODR", "ODR5", 1)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Svd {
    memory: Memory,
    device: SvdDevice,
}

impl Svd {
    pub(crate) fn new(memory: Memory, device: SvdDevice) -> Self {
        Self { memory, device }
    }

    async fn read_value(&self, register: &SvdRegister) -> Result<u64> {
        let at = register.address;
        let value = match register.size {
            8 => self
                .memory
                .read_u8(at, 1)
                .await?
                .first()
                .map(|&v| u64::from(v)),
            16 => self
                .memory
                .read_u16(at, 1)
                .await?
                .first()
                .map(|&v| u64::from(v)),
            32 => self
                .memory
                .read_u32(at, 1)
                .await?
                .first()
                .map(|&v| u64::from(v)),
            64 => self.memory.read_u64(at, 1).await?.first().copied(),
            other => return Err(unsupported(register, other)),
        };
        value.ok_or_else(|| Error::parse("a register value", ""))
    }

    async fn write_value(&self, register: &SvdRegister, value: u64) -> Result<()> {
        let at = register.address;
        let narrow = |v: u64| -> Result<_> {
            Err(Error::InvalidArgument(format!(
                "{v:#x} does not fit in the {}-bit register {}.{}",
                register.size, register.peripheral, register.name
            )))
        };
        match register.size {
            8 => match u8::try_from(value) {
                Ok(v) => self.memory.write_u8(at, &[v]).await,
                Err(_) => narrow(value),
            },
            16 => match u16::try_from(value) {
                Ok(v) => self.memory.write_u16(at, &[v]).await,
                Err(_) => narrow(value),
            },
            32 => match u32::try_from(value) {
                Ok(v) => self.memory.write_u32(at, &[v]).await,
                Err(_) => narrow(value),
            },
            64 => self.memory.write_u64(at, &[value]).await,
            other => Err(unsupported(register, other)),
        }
    }
}

fn unsupported(register: &SvdRegister, size: u32) -> Error {
    Error::Svd(format!(
        "{}.{} is {size} bits wide; only 8, 16, 32 and 64 bits can be read",
        register.peripheral, register.name
    ))
}

#[syncportal::facade]
impl Svd {
    /// The device description this subsystem reads registers of.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # let device = syncportal_openocd::SvdDevice::from_file("STM32F407.svd")?;
    /// # let ocd = syncportal_openocd::SyncSession::connect("localhost:6666")?;
    /// assert_eq!(ocd.svd(&device).device().name(), device.name());
    /// # Ok::<(), syncportal_openocd::Error>(())
    /// ```
    #[must_use]
    pub fn device(&self) -> &SvdDevice {
        &self.device
    }

    /// Reads a register by name through target memory, at its width, and decodes its fields.
    ///
    /// # Examples
    ///
    /// See [`Svd`].
    ///
    /// # Errors
    ///
    /// [`Error::Svd`] for a peripheral or register the file does not have, or a width other
    /// than 8, 16, 32 or 64 bits; otherwise as [`Memory::read_u32`].
    pub async fn read(&self, peripheral: &str, register: &str) -> Result<DecodedRegister> {
        let layout = self.device.register(peripheral, register)?;
        let value = self.read_value(&layout).await?;
        Ok(layout.decode(value))
    }

    /// Reads one field of a register, shifted down.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # let device = syncportal_openocd::SvdDevice::from_file("STM32F407.svd")?;
    /// # let ocd = syncportal_openocd::SyncSession::connect("localhost:6666")?;
    /// let pin5 = ocd.svd(&device).read_field("GPIOA", "IDR", "IDR5")?;
    /// # Ok::<(), syncportal_openocd::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`read`](Self::read); [`Error::Svd`] when the register has no such field.
    pub async fn read_field(&self, peripheral: &str, register: &str, field: &str) -> Result<u64> {
        let layout = self.device.register(peripheral, register)?;
        let field = find_field(&layout, field)?.clone();
        Ok(field.extract(self.read_value(&layout).await?))
    }

    /// Sets one field of a register (read, modify, write) and returns the register as read
    /// back afterwards.
    ///
    /// # Examples
    ///
    /// See [`Svd`].
    ///
    /// # Errors
    ///
    /// As [`read_field`](Self::read_field); [`Error::InvalidArgument`] when `value` does not fit
    /// in the field.
    pub async fn write_field(
        &self,
        peripheral: &str,
        register: &str,
        field: &str,
        value: u64,
    ) -> Result<DecodedRegister> {
        let layout = self.device.register(peripheral, register)?;
        let field = find_field(&layout, field)?.clone();
        let shifted = value.checked_shl(field.bit_offset).unwrap_or(0);
        if shifted & !field.mask() != 0 || shifted >> field.bit_offset != value {
            return Err(Error::InvalidArgument(format!(
                "{value:#x} does not fit in the {}-bit field {}",
                field.bit_width, field.name
            )));
        }
        let old = self.read_value(&layout).await?;
        self.write_value(&layout, (old & !field.mask()) | shifted)
            .await?;
        let now = self.read_value(&layout).await?;
        Ok(layout.decode(now))
    }
}

fn find_field<'a>(register: &'a SvdRegister, name: &str) -> Result<&'a SvdField> {
    register.field(name).ok_or_else(|| {
        let names: Vec<&str> = register.fields.iter().map(|f| f.name.as_str()).collect();
        Error::Svd(format!(
            "{}.{} has no field {name}; it has {}",
            register.peripheral,
            register.name,
            names.join(", ")
        ))
    })
}
