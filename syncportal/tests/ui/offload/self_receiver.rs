struct Device;

impl Device {
    #[syncportal::offload]
    fn read(&self) -> u8 {
        1
    }
}

fn main() {}
