pub struct Client;

#[syncportal::facade]
impl Client {
    #[facade(sub)]
    pub async fn pair(&self) -> (Admin, Admin) {
        (Admin, Admin)
    }
}

pub struct Admin;

#[syncportal::facade]
impl Admin {
    pub async fn reset(&self) {}
}

fn main() {}
