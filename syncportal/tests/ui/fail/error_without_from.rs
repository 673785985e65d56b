// The twin reports timeouts and a closed portal through the method's own error type.
#[derive(Debug)]
pub struct PlainError;

pub struct Client;

#[syncportal::facade]
impl Client {
    pub async fn get(&self) -> Result<u8, PlainError> {
        Ok(1)
    }
}

fn main() {}
