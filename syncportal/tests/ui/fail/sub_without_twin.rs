// `Admin` has no `#[syncportal::facade]`, so there is no `SyncAdmin` to return.
pub struct Client;

#[syncportal::facade]
impl Client {
    #[facade(sub)]
    pub async fn admin(&self) -> Admin {
        Admin
    }
}

pub struct Admin;

impl Admin {
    pub async fn reset(&self) {}
}

fn main() {}
