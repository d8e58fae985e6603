//! The embedded store under `data_dir`: what the server keeps across restarts and crashes.
//!
//! redb, a copy-on-write B-tree in one file: a commit is atomic, and with
//! `Durability::Immediate` on disk (fsync) when `commit` returns, so a crash leaves the last
//! committed state, never a torn one. A second process cannot open the file (redb locks it),
//! and a damaged file is refused at open with its path named.
//!
//! What it keeps, per site: retained messages with their expiry, and persistent sessions with
//! their subscriptions, wills and queued and in-flight messages. The broker marks what
//! changed; the hub's committer takes those changes every `commit_interval_ms` and writes them
//! in one transaction (group commit), so a crash loses at most that window.

mod record;

use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, TableDefinition};

pub(crate) use record::{DeliveryRecord, RetainedRecord, SessionRecord, WallClock, WillRecord};

/// Retained messages: `site \0 topic` to a [`RetainedRecord`].
const RETAINED: TableDefinition<&str, &[u8]> = TableDefinition::new("retained");
/// Persistent sessions: `site \0 client id` to a [`SessionRecord`].
const SESSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("sessions");

/// What a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Retained,
    Session,
}

impl Kind {
    fn table(self) -> TableDefinition<'static, &'static str, &'static [u8]> {
        match self {
            Kind::Retained => RETAINED,
            Kind::Session => SESSIONS,
        }
    }
}

/// The file under `data_dir`.
pub const STORE_FILE: &str = "pubzub.redb";

/// Why the store cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Another process (a second server) has the store open.
    #[error("{path} is in use by another process (a second server on the same data_dir?)")]
    InUse { path: PathBuf },
    /// The file is damaged or not a store; `--move-damaged-store` moves it aside.
    #[error(
        "{path} is damaged ({why}); start with --move-damaged-store to move it aside and start empty"
    )]
    Damaged { path: PathBuf, why: String },
    /// Reading or writing failed (a full disk, say).
    #[error("store {path}: {why}")]
    Io { path: PathBuf, why: String },
}

/// One change to write: a record's kind, key and new value, or `None` to delete it.
pub(crate) type Change = (Kind, String, Option<Vec<u8>>);

/// The open store.
pub(crate) struct Store {
    /// `None` after a failed write: redb refuses everything after an I/O error until the file
    /// is opened again, which the next write does.
    db: std::sync::Mutex<Option<Database>>,
    path: PathBuf,
}

impl Store {
    /// Opens (or creates) the store in `dir`. With `move_damaged`, a damaged file is renamed
    /// to `pubzub.redb.damaged-<unix seconds>` and an empty store takes its place.
    pub(crate) fn open(dir: &Path, move_damaged: bool) -> Result<Store, StoreError> {
        let path = dir.join(STORE_FILE);
        let io = |why: &dyn std::fmt::Display| StoreError::Io {
            path: path.clone(),
            why: why.to_string(),
        };
        std::fs::create_dir_all(dir).map_err(|e| io(&e))?;
        let db = match open_file(&path) {
            Ok(db) => db,
            Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
                return Err(StoreError::InUse { path });
            }
            Err(e) if move_damaged => {
                let aside =
                    path.with_extension(format!("redb.damaged-{}", WallClock::now().0 / 1000));
                std::fs::rename(&path, &aside).map_err(|r| io(&r))?;
                tracing::warn!(
                    "{} was damaged ({e}): moved to {}",
                    path.display(),
                    aside.display()
                );
                Database::create(&path).map_err(|e| io(&e))?
            }
            Err(e) => {
                return Err(StoreError::Damaged {
                    path,
                    why: e.to_string(),
                });
            }
        };
        let store = Store {
            db: std::sync::Mutex::new(Some(db)),
            path,
        };
        // The tables exist from the first open on, so that reads never miss them.
        store.write(Vec::new())?;
        Ok(store)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The records of one kind in `site` (retained messages by topic, sessions by client id).
    pub(crate) fn records(
        &self,
        kind: Kind,
        site: &str,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let err = |e: &dyn std::fmt::Display| self.damaged(e);
        let db = self.db.lock().unwrap_or_else(|e| e.into_inner());
        let Some(db) = db.as_ref() else {
            return Err(err(&"closed after a failed write"));
        };
        let read = db.begin_read().map_err(|e| err(&e))?;
        let table = read.open_table(kind.table()).map_err(|e| err(&e))?;
        let prefix = format!("{site}\0");
        let mut out = Vec::new();
        for entry in table.range(prefix.as_str()..).map_err(|e| err(&e))? {
            let (key, value) = entry.map_err(|e| err(&e))?;
            let Some(topic) = key.value().strip_prefix(&prefix) else {
                break;
            };
            out.push((topic.to_owned(), value.value().to_vec()));
        }
        Ok(out)
    }

    /// Writes `changes` in one transaction, on disk when it returns. After a failure the
    /// file is closed, and opened again by the next write.
    pub(crate) fn write(&self, changes: Vec<Change>) -> Result<(), StoreError> {
        let mut db = self.db.lock().unwrap_or_else(|e| e.into_inner());
        if db.is_none() {
            *db = Some(Database::create(&self.path).map_err(|e| self.io(&e))?);
        }
        let result = db.as_ref().map_or(Ok(()), |db| self.write_in(db, &changes));
        if result.is_err() {
            *db = None;
        }
        result
    }

    fn io(&self, why: &dyn std::fmt::Display) -> StoreError {
        StoreError::Io {
            path: self.path.clone(),
            why: why.to_string(),
        }
    }

    fn write_in(&self, db: &Database, changes: &[Change]) -> Result<(), StoreError> {
        let io = |e: &dyn std::fmt::Display| self.io(e);
        let tx = db.begin_write().map_err(|e| io(&e))?;
        {
            let mut retained = tx.open_table(RETAINED).map_err(|e| io(&e))?;
            let mut sessions = tx.open_table(SESSIONS).map_err(|e| io(&e))?;
            for (kind, key, value) in changes {
                let table = match kind {
                    Kind::Retained => &mut retained,
                    Kind::Session => &mut sessions,
                };
                match value {
                    Some(v) => table.insert(key.as_str(), v.as_slice()).map(drop),
                    None => table.remove(key.as_str()).map(drop),
                }
                .map_err(|e| io(&e))?;
            }
        }
        tx.commit().map_err(|e| io(&e))
    }

    fn damaged(&self, why: &dyn std::fmt::Display) -> StoreError {
        StoreError::Damaged {
            path: self.path.clone(),
            why: why.to_string(),
        }
    }
}

/// Opens or creates the file. redb 3 asserts (panics) on some damaged files, a truncated one
/// for instance, instead of returning an error: such a panic is a damaged store too.
fn open_file(path: &Path) -> Result<Database, redb::DatabaseError> {
    let open = std::panic::AssertUnwindSafe(|| Database::create(path));
    std::panic::catch_unwind(open).unwrap_or_else(|panic| {
        let why = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unreadable".into());
        Err(redb::DatabaseError::Storage(redb::StorageError::Corrupted(
            format!("the store library gave up on it: {why}"),
        )))
    })
}

/// The key of a record in `site`: a retained message's topic, a session's client id.
pub(crate) fn key(site: &str, name: &str) -> String {
    format!("{site}\0{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_read_back_by_site_and_a_second_open_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), false).unwrap();
        let r = Kind::Retained;
        store
            .write(vec![
                (r, key("a", "x/1"), Some(b"one".to_vec())),
                (r, key("a", "x/2"), Some(b"two".to_vec())),
                (r, key("b", "x/1"), Some(b"other site".to_vec())),
                (Kind::Session, key("a", "client"), Some(b"session".to_vec())),
            ])
            .unwrap();
        store.write(vec![(r, key("a", "x/1"), None)]).unwrap();
        assert_eq!(
            store.records(r, "a").unwrap(),
            [("x/2".to_string(), b"two".to_vec())]
        );
        assert_eq!(store.records(Kind::Session, "a").unwrap().len(), 1);
        assert!(matches!(
            Store::open(dir.path(), false),
            Err(StoreError::InUse { .. })
        ));
        drop(store);
        let again = Store::open(dir.path(), false).unwrap();
        assert_eq!(again.records(r, "b").unwrap().len(), 1, "kept on disk");
    }

    #[test]
    fn the_file_does_not_grow_under_churn_of_100000_short_lived_sessions() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), false).unwrap();
        let record = vec![0x5A; 300];
        let size = || {
            std::fs::metadata(dir.path().join(STORE_FILE))
                .unwrap()
                .len()
        };
        let mut after_first = 0;
        for round in 0..10 {
            let names: Vec<String> = (0..10_000)
                .map(|i| key("default", &format!("client-{round}-{i}")))
                .collect();
            let born = names
                .iter()
                .map(|k| (Kind::Session, k.clone(), Some(record.clone())));
            store.write(born.collect()).unwrap();
            // The sessions expire: their records are deleted.
            store
                .write(
                    names
                        .into_iter()
                        .map(|k| (Kind::Session, k, None))
                        .collect(),
                )
                .unwrap();
            if round == 0 {
                after_first = size();
            }
        }
        assert!(store.records(Kind::Session, "default").unwrap().is_empty());
        let last = size();
        assert!(
            last <= after_first * 2,
            "freed pages are reused: {after_first} bytes after 10,000 sessions, {last} after 100,000"
        );
    }

    #[test]
    fn a_truncated_file_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), false).unwrap();
        let many = (0..2_000).map(|i| {
            let name = key("default", &format!("t/{i}"));
            (Kind::Retained, name, Some(vec![1u8; 500]))
        });
        store.write(many.collect()).unwrap();
        drop(store);
        let file = dir.path().join(STORE_FILE);
        let len = std::fs::metadata(&file).unwrap().len();
        let f = std::fs::OpenOptions::new().write(true).open(&file).unwrap();
        f.set_len(len / 3).unwrap();
        drop(f);
        let err = Store::open(dir.path(), false).err().expect("refused");
        assert!(err.to_string().contains("pubzub.redb"), "{err}");
    }

    #[test]
    fn a_damaged_file_is_refused_by_name_and_moved_aside_on_request() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(STORE_FILE), vec![0x5A; 10_000]).unwrap();
        let err = Store::open(dir.path(), false).err().expect("refused");
        assert!(
            matches!(&err, StoreError::Damaged { path, .. } if path.ends_with(STORE_FILE)),
            "{err}"
        );
        assert!(err.to_string().contains("pubzub.redb"), "{err}");
        let store = Store::open(dir.path(), true).unwrap();
        assert!(store.records(Kind::Retained, "default").unwrap().is_empty());
        let moved = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .any(|e| e.file_name().to_string_lossy().contains("damaged"));
        assert!(moved, "the damaged file is kept aside");
    }
}
