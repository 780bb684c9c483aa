//! The metadata database: one SQLite file (`berth.db`) in WAL mode with foreign keys on.
//!
//! Schema changes are named migrations recorded in `schema_migrations`; each runs once, inside
//! the transaction that records it. The store's own migrations are applied by `Db::open`; the
//! engine adds its tables (containers, volumes, networks, ...) through `migrate_extra`.
//!
//! The connection lives behind a mutex: every statement is short, and one writer at a time is
//! what SQLite does anyway. Every state change runs in one `BEGIN IMMEDIATE` transaction.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior};

use crate::{Error, Result};

/// The store's own schema, in order. Never edit an applied entry; append a new one.
const STORE_MIGRATIONS: &[(&str, &str)] = &[(
    "store-0001-initial",
    r#"
    -- One row per committed layer snapshot (layers/<chain-hex>/diff).
    -- refcount = number of images whose layer chain contains this layer.
    -- parent is not a foreign key: layers of one image are unpacked in parallel, so a child
    -- may be recorded before its parent; create_image checks the whole chain.
    CREATE TABLE layers (
        chain_id   TEXT PRIMARY KEY,
        parent     TEXT,
        diff_id    TEXT NOT NULL,
        blob       TEXT NOT NULL,
        blob_size  INTEGER NOT NULL,
        media_type TEXT NOT NULL,
        size       INTEGER NOT NULL,
        refcount   INTEGER NOT NULL DEFAULT 0 CHECK (refcount >= 0),
        added      TEXT NOT NULL
    );
    CREATE INDEX layers_blob ON layers(blob);
    CREATE INDEX layers_refcount ON layers(refcount);

    -- id = digest of the config blob; the layer list is the chain below top_layer.
    CREATE TABLE images (
        id        TEXT PRIMARY KEY,
        manifest  TEXT,
        top_layer TEXT REFERENCES layers(chain_id),
        size      INTEGER NOT NULL,
        added     TEXT NOT NULL
    );
    CREATE INDEX images_manifest ON images(manifest);

    -- reference in familiar form with a tag: `busybox:latest`.
    CREATE TABLE tags (
        reference TEXT PRIMARY KEY,
        image_id  TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE
    );
    CREATE INDEX tags_image ON tags(image_id);

    -- reference in familiar form with a digest: `busybox@sha256:...`.
    CREATE TABLE repo_digests (
        reference TEXT PRIMARY KEY,
        image_id  TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE
    );
    CREATE INDEX repo_digests_image ON repo_digests(image_id);

    -- Extra owners of blobs (e.g. an index or a build cache entry) that gc must keep.
    CREATE TABLE blob_refs (
        blob  TEXT NOT NULL,
        owner TEXT NOT NULL,
        PRIMARY KEY (blob, owner)
    );
    "#,
)];

pub struct Db {
    conn: Mutex<Connection>,
}

impl Db {
    /// Open (or create) the database at `path`, configure it and apply the store's migrations.
    pub fn open(path: &Path) -> Result<Db> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        // journal_mode returns a row, so it is a query rather than pragma_update.
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(path = %path.display(), mode, "SQLite refused WAL mode");
        }
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 name    TEXT PRIMARY KEY,
                 applied TEXT NOT NULL
             );",
        )?;
        let db = Db {
            conn: Mutex::new(conn),
        };
        for (name, sql) in STORE_MIGRATIONS {
            db.migrate_extra(name, sql)?;
        }
        Ok(db)
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves no transaction open (Transaction rolls back on
        // drop), so the connection is still usable.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Run read-only or single-statement work on the connection.
    pub fn with_conn<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        let conn = self.lock();
        Ok(f(&conn)?)
    }

    /// Run `f` in one immediate transaction; commit when it returns Ok, roll back otherwise.
    pub fn with_tx<T>(&self, f: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>) -> Result<T> {
        self.tx(|tx| f(tx).map_err(store_error))
    }

    /// Like `with_tx`, for closures that fail with the store's own errors.
    pub(crate) fn tx<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// Apply the migration `name` once: runs `sql` and records `name` in one transaction.
    /// Calling it again with the same name does nothing (the SQL is not compared).
    pub fn migrate_extra(&self, name: &str, sql: &str) -> Result<()> {
        self.tx(|tx| {
            let done = tx
                .query_row(
                    "SELECT 1 FROM schema_migrations WHERE name = ?1",
                    [name],
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
            if !done {
                tx.execute_batch(sql)?;
                tx.execute(
                    "INSERT INTO schema_migrations (name, applied) VALUES (?1, ?2)",
                    rusqlite::params![name, now_rfc3339()],
                )?;
            }
            Ok(())
        })
    }

    /// Names of the applied migrations, in the order they were applied.
    pub fn applied_migrations(&self) -> Result<Vec<String>> {
        self.with_conn(|c| {
            let mut st = c.prepare("SELECT name FROM schema_migrations ORDER BY rowid")?;
            let rows = st.query_map([], |r| r.get(0))?;
            rows.collect()
        })
    }
}

/// RFC 3339 with nanoseconds, as Docker reports times.
pub(crate) fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// Undo the wrapping below, so a store error raised inside an engine transaction comes back out
/// as itself.
fn store_error(e: rusqlite::Error) -> Error {
    match e {
        rusqlite::Error::ToSqlConversionFailure(inner) if inner.is::<Error>() => {
            match inner.downcast::<Error>() {
                Ok(store) => *store,
                Err(other) => Error::Db(rusqlite::Error::ToSqlConversionFailure(other)),
            }
        }
        other => Error::Db(other),
    }
}

impl From<Error> for rusqlite::Error {
    /// Lets engine closures given to `with_tx` use store helpers that return our errors.
    fn from(e: Error) -> rusqlite::Error {
        match e {
            Error::Db(inner) => inner,
            other => rusqlite::Error::ToSqlConversionFailure(Box::new(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_applies_schema_once_and_extra_migrations_run_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("berth.db");
        let db = Db::open(&path).unwrap();
        assert_eq!(db.applied_migrations().unwrap(), ["store-0001-initial"]);

        db.migrate_extra(
            "engine-0001",
            "CREATE TABLE containers (id TEXT PRIMARY KEY);",
        )
        .unwrap();
        // Same name again: not re-run (re-running CREATE TABLE would fail).
        db.migrate_extra(
            "engine-0001",
            "CREATE TABLE containers (id TEXT PRIMARY KEY);",
        )
        .unwrap();
        drop(db);

        let db = Db::open(&path).unwrap();
        assert_eq!(
            db.applied_migrations().unwrap(),
            ["store-0001-initial", "engine-0001"]
        );
        let mode: String = db
            .with_conn(|c| c.query_row("PRAGMA journal_mode", [], |r| r.get(0)))
            .unwrap();
        assert_eq!(mode, "wal");
        let fk: i64 = db
            .with_conn(|c| c.query_row("PRAGMA foreign_keys", [], |r| r.get(0)))
            .unwrap();
        assert_eq!(fk, 1);
    }

    #[test]
    fn failed_migration_is_not_recorded_and_rolls_back() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("berth.db")).unwrap();
        let err = db.migrate_extra("bad", "CREATE TABLE t (x); SELECT * FROM missing;");
        assert!(err.is_err());
        assert_eq!(db.applied_migrations().unwrap(), ["store-0001-initial"]);
        let t: Option<String> = db
            .with_conn(|c| {
                c.query_row("SELECT name FROM sqlite_master WHERE name = 't'", [], |r| {
                    r.get(0)
                })
                .optional()
            })
            .unwrap();
        assert_eq!(t, None, "the half-applied migration must be rolled back");
    }

    #[test]
    fn with_tx_rolls_back_on_error() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("berth.db")).unwrap();
        let r: Result<()> = db.with_tx(|tx| {
            tx.execute("INSERT INTO blob_refs (blob, owner) VALUES ('x', 'y')", [])?;
            Err(rusqlite::Error::QueryReturnedNoRows)
        });
        assert!(r.is_err());
        let n: i64 = db
            .with_conn(|c| c.query_row("SELECT COUNT(*) FROM blob_refs", [], |r| r.get(0)))
            .unwrap();
        assert_eq!(n, 0);
    }
}
