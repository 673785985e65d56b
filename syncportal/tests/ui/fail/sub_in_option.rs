// `sub` maps `Target` and `Result<Target, E>`; an `Option<Target>` is not one of those.
pub struct Client;

#[syncportal::facade]
impl Client {
    #[facade(sub)]
    pub async fn admin(&self) -> Option<Admin> {
        Some(Admin)
    }
}

pub struct Admin;

#[syncportal::facade]
impl Admin {
    pub async fn reset(&self) {}
}

fn main() {}
