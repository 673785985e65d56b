// `vis = "pub(super)"` keeps the twin out of reach of other modules, like any `pub(super)` item.
mod outer {
    pub mod sdk {
        pub struct Client;

        #[syncportal::facade(vis = "pub(super)")]
        impl Client {
            pub async fn get(&self) -> u8 {
                1
            }
        }
    }

    pub fn inside() -> u8 {
        sdk::SyncClient::from_async(sdk::Client).get().unwrap_or(0)
    }
}

fn main() {
    let _ = outer::inside();
    let _ = outer::sdk::SyncClient::from_async(outer::sdk::Client);
}
