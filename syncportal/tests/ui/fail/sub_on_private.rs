pub struct Client;

#[syncportal::facade]
impl Client {
    #[facade(sub)]
    async fn admin(&self) -> Admin {
        Admin
    }
}

pub struct Admin;

#[syncportal::facade]
impl Admin {
    pub async fn reset(&self) {}
}

fn main() {
    let _ = Client.admin();
}
