//! The actor on real SQLite: the notes store of `examples/shared/notes.rs`, used from async
//! tasks and, through its generated twin `SyncNotes`, from plain threads, on a file in a
//! temporary directory.

mod common;

#[path = "../examples/shared/notes.rs"]
#[allow(
    dead_code,
    reason = "each user of the shared store calls only some of it"
)]
mod notes;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

use common::watchdog;
use notes::{Notes, NotesError, SyncNotes};
use syncportal::Portal;

/// A fresh database path in its own directory, removed when dropped.
struct TempDb {
    dir: PathBuf,
}

impl TempDb {
    fn new(name: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "syncportal-{name}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Self { dir }
    }

    fn path(&self) -> PathBuf {
        self.dir.join("notes.db")
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const WRITERS: usize = 4;
const NOTES_EACH: usize = 150;

#[test]
fn writers_and_readers_from_tasks_and_threads_lose_nothing() {
    watchdog(120, || {
        let db = TempDb::new("concurrent");
        let portal = Portal::global();
        let store = portal.call(Notes::open(db.path())).unwrap().unwrap();

        // Async writers on the portal's runtime.
        let tasks: Vec<_> = (0..WRITERS)
            .map(|writer| {
                let store = store.clone();
                portal
                    .spawn(async move {
                        for n in 0..NOTES_EACH {
                            store.add(&format!("task-{writer}"), &n.to_string()).await?;
                        }
                        Ok::<_, NotesError>(())
                    })
                    .unwrap()
            })
            .collect();

        // Sync writers on plain threads, through the generated twin, started together.
        let start = Arc::new(Barrier::new(WRITERS + 1));
        let threads: Vec<_> = (0..WRITERS)
            .map(|writer| {
                let twin = SyncNotes::from_async(store.clone());
                let start = Arc::clone(&start);
                thread::spawn(move || {
                    start.wait();
                    for n in 0..NOTES_EACH {
                        twin.add(&format!("thread-{writer}"), &n.to_string())?;
                    }
                    Ok::<_, NotesError>(())
                })
            })
            .collect();

        // A reader sees the count only grow while the writers run.
        let reader = SyncNotes::from_async(store.clone());
        start.wait();
        let mut last = 0;
        for _ in 0..50 {
            let now = reader.count().unwrap();
            assert!(now >= last, "the count went back from {last} to {now}");
            last = now;
        }

        for task in tasks {
            task.wait().unwrap().unwrap();
        }
        for thread in threads {
            thread.join().unwrap().unwrap();
        }
        let total = u64::try_from(2 * WRITERS * NOTES_EACH).unwrap();
        assert_eq!(reader.count().unwrap(), total);
        let expected: Vec<String> = (0..NOTES_EACH).map(|n| n.to_string()).collect();
        for writer in 0..WRITERS {
            // Each writer's notes are all there, once each, in the order written.
            assert_eq!(
                reader.by_author(&format!("task-{writer}")).unwrap(),
                expected
            );
            assert_eq!(
                reader.by_author(&format!("thread-{writer}")).unwrap(),
                expected
            );
        }
        reader.close().unwrap();
    });
}

#[test]
fn a_panic_mid_transaction_rolls_back_and_the_store_goes_on() {
    watchdog(60, || {
        let db = TempDb::new("crash");
        let portal = Portal::global();
        let store = portal.call(Notes::open(db.path())).unwrap().unwrap();
        let twin = SyncNotes::from_async(store.clone());
        twin.add_all("setup", vec!["a".into(), "b".into()]).unwrap();
        assert_eq!(twin.count().unwrap(), 2);

        let crashed = portal
            .call(store.transaction(|tx| {
                for n in 0..10 {
                    tx.execute("INSERT INTO notes (author, body) VALUES ('crash', ?1)", [n])?;
                }
                // resume_unwind: a panic without the panic hook's output in the test log.
                std::panic::resume_unwind(Box::new("disk controller fell over"));
                #[allow(unreachable_code, reason = "names the closure's output type")]
                Ok(())
            }))
            .unwrap();
        match crashed {
            Err(NotesError::Crashed(message)) => assert_eq!(message, "disk controller fell over"),
            other => panic!("expected a crash, got {other:?}"),
        }

        // Nothing of the crashed transaction is visible, and the store still works.
        assert_eq!(twin.count().unwrap(), 2);
        assert!(twin.by_author("crash").unwrap().is_empty());
        twin.add("after", "still works").unwrap();
        twin.close().unwrap();

        // The file on disk is consistent when opened afresh.
        let reopened = rusqlite::Connection::open(db.path()).unwrap();
        let check: String = reopened
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))
            .unwrap();
        assert_eq!(check, "ok");
        let count: u64 = reopened
            .query_row("SELECT COUNT(*) FROM notes", [], |row| row.get(0))
            .unwrap();
        assert_eq!(count, 3);
    });
}

#[test]
fn an_error_in_a_transaction_adds_nothing() {
    watchdog(60, || {
        let db = TempDb::new("rollback");
        let twin = SyncNotes::open(db.path()).unwrap();
        let failed = Portal::global()
            .call(twin.as_async().transaction(|tx| {
                tx.execute("INSERT INTO notes (author, body) VALUES ('x', 'y')", [])?;
                tx.execute("INSERT INTO no_such_table VALUES (1)", [])
            }))
            .unwrap();
        assert!(matches!(failed, Err(NotesError::Sqlite(_))), "{failed:?}");
        assert_eq!(twin.count().unwrap(), 0);
    });
}

#[test]
fn opening_a_bad_path_is_a_typed_error() {
    watchdog(60, || {
        let db = TempDb::new("bad-path");
        // A directory where the file should be.
        let err = SyncNotes::open(db.dir.clone()).unwrap_err();
        assert!(matches!(err, NotesError::Sqlite(_)), "{err:?}");
    });
}

#[test]
fn the_twin_refuses_to_block_inside_async_code() {
    watchdog(60, || {
        let db = TempDb::new("guard");
        let twin = SyncNotes::open(db.path()).unwrap();
        let inside = Portal::global()
            .call(async { twin.add("async", "must not block") })
            .unwrap();
        assert!(
            matches!(
                inside,
                Err(NotesError::Portal(syncportal::Error::InAsyncContext))
            ),
            "{inside:?}"
        );
        assert_eq!(twin.count().unwrap(), 0, "the refused call did nothing");
    });
}
