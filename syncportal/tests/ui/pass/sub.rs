//! `#[facade(sub)]` returns the twin of another facade type, on the same portal and timeout;
//! `#[facade(sub = "BlockingUsers")]` names a renamed twin.

#![deny(warnings)]

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum SdkError {
    #[error("no admin rights")]
    Forbidden,
    #[error(transparent)]
    Portal(#[from] syncportal::Error),
}

#[derive(Clone, Debug)]
pub struct Client {
    admin: bool,
}

#[syncportal::facade(timeout = "2s")]
impl Client {
    #[facade(sub)]
    pub async fn storage(&self) -> Storage {
        Storage { used: 7 }
    }

    #[facade(sub)]
    pub async fn admin(&self) -> Result<Admin, SdkError> {
        if self.admin {
            Ok(Admin)
        } else {
            Err(SdkError::Forbidden)
        }
    }

    #[facade(sub = "BlockingUsers")]
    pub async fn users(&self) -> Users {
        Users
    }

    #[facade(sub)]
    pub fn storage_now(&self) -> Storage {
        Storage { used: 1 }
    }
}

#[derive(Debug)]
pub struct Storage {
    used: u64,
}

#[syncportal::facade]
impl Storage {
    pub async fn used(&self) -> u64 {
        self.used
    }

    pub async fn stall(&self) -> u64 {
        std::future::pending().await
    }
}

#[derive(Debug)]
pub struct Admin;

#[syncportal::facade(timeout = "3s")]
impl Admin {
    pub async fn reset(&self) -> Result<(), SdkError> {
        Ok(())
    }
}

#[derive(Debug)]
pub struct Users;

#[syncportal::facade(name = "BlockingUsers")]
impl Users {
    pub async fn count(&self) -> usize {
        2
    }
}

/// Fails loudly instead of hanging if a timeout does not fire.
fn watchdog() {
    std::thread::spawn(|| {
        std::thread::sleep(std::time::Duration::from_secs(30));
        eprintln!("watchdog: still running after 30 s, so a timeout did not fire");
        std::process::exit(101);
    });
}

fn main() -> Result<(), SdkError> {
    watchdog();
    let client = SyncClient::from_async(Client { admin: true });
    let storage: SyncStorage = client.storage()?;
    assert_eq!(storage.used()?, 7);
    // The subsystem inherits the parent's timeout...
    assert_eq!(storage.timeout(), Some(Duration::from_secs(2)));
    let admin: SyncAdmin = client.admin()?;
    admin.reset()?;
    // The parent's timeout wins over the subsystem's own `timeout = "3s"`, which applies only
    // when the parent has none.
    assert_eq!(admin.timeout(), Some(Duration::from_secs(2)));
    let mut unlimited = client.clone();
    unlimited.set_timeout(None);
    assert_eq!(unlimited.admin()?.timeout(), Some(Duration::from_secs(3)));
    let users: BlockingUsers = client.users()?;
    assert_eq!(users.count()?, 2);
    let now: SyncStorage = client.storage_now();
    assert_eq!(now.used()?, 1);

    // ...including a view's.
    let quick = client.with_timeout(Duration::from_millis(5)).storage()?;
    assert_eq!(quick.timeout(), Some(Duration::from_millis(5)));
    assert_eq!(quick.stall(), Err(syncportal::Error::Timeout));

    let portal = syncportal::Portal::builder()
        .worker_threads(1)
        .build()
        .expect("a small portal");
    let client = SyncClient::with_portal(Client { admin: false }, portal.clone());
    assert!(matches!(client.admin(), Err(SdkError::Forbidden)));
    let storage = client.storage()?;
    // ...and the parent's portal.
    portal.shutdown(Duration::from_secs(1))?;
    assert!(storage.used().is_err_and(|e| e.is_closed()));
    Ok(())
}
