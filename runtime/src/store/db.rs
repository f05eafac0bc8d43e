//! Opening the database file: creation, schema check, integrity check, and the
//! transaction helpers every other file of the store uses.
//!
//! A new file is created atomically (initialised under a temporary name, then
//! linked into place), so an existing file at the store's path is always a
//! complete database and an empty or short file is reported as truncated,
//! never silently re-initialised. Every write transaction is durable
//! (`Durability::Immediate`) with two-phase commit: a commit that returned is
//! on disk, a crash keeps either the old or the new state, and a damaged last
//! commit is reported as corruption instead of being rolled back in silence.
//! Quick repair is off: it saves redb's allocator state on every commit,
//! which was the largest single cost of inserting a gossiped op (about 15% of
//! a node's CPU with 8 nodes); the price is that opening a file after a crash
//! runs redb's full repair, which reads the whole file once.

use std::any::Any;
use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use redb::{
    Builder, Database, Durability, ReadTransaction, ReadableDatabase, StorageBackend, TableError,
    WriteTransaction, backends::InMemoryBackend,
};

use super::error::{SCHEMA_VERSION, StoreError, from_redb};
use super::ops::OpIndex;
use super::tables::{self, SCHEMA, SCHEMA_KEY};
use crate::op::{Limits, PartnershipId};

/// The label used in errors for a store that has no file.
const IN_MEMORY: &str = "<in-memory>";

/// How to open a [`Store`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreOptions {
    /// Walk the whole file at open and check every page's checksum, so a
    /// damaged file is refused at open. It costs one full read of the file,
    /// so start-up grows with history. Without it, every record is still
    /// checked when read: ops against their id, code against its hash, the
    /// store's own records against their checksums (`checksum.rs`). What
    /// the store cannot check alone is the final state, whose root is the
    /// ledger's: on by default here, off by default in a node, whose
    /// ledgers check each final state they load against its root.
    pub verify_on_open: bool,
    /// Bytes of memory redb may use to cache pages
    /// ([`DEFAULT_CACHE_MIB`] MiB by default).
    pub cache_bytes: usize,
}

/// The store's page cache by default, in MiB: small, because redb keeps
/// every page it writes in the cache until the cache is full, so a larger
/// bound fills with history and the node's memory grows with the file up
/// to it. Reads it misses come from the operating system's file cache,
/// which does not count against the node; ingest and sync measure the
/// same at 8 MiB as at 128 (BENCHMARKS.md, "Memory").
pub const DEFAULT_CACHE_MIB: usize = 8;

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions { verify_on_open: true, cache_bytes: DEFAULT_CACHE_MIB << 20 }
    }
}

/// The node's persistent store: ops, the final-state snapshot, module code.
///
/// One `Store` owns one redb file (or an in-memory database in tests). It is
/// `Send + Sync`; writes are serialised by redb and every write method is one
/// durable transaction, so when it returns `Ok` the data survives a crash or
/// a power loss, and when it returns `Err` nothing of it was written.
pub struct Store {
    /// `None` only while dropping (see `Drop`).
    db: Option<Database>,
    path: Option<PathBuf>,
    label: PathBuf,
    /// Per partnership, the in-memory op index (the ops above the archive
    /// horizon) and the archive's summary, built on first use (see
    /// `ops.rs`); the lock also serialises appends and archives with their
    /// index updates.
    pub(crate) indexes: Mutex<BTreeMap<PartnershipId, OpIndex>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.label).finish_non_exhaustive()
    }
}

impl Store {
    /// Opens the store at `path`, creating it if the file does not exist,
    /// with the default [`StoreOptions`] (which verify the whole file).
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Self::open_with(path, &StoreOptions::default())
    }

    /// Opens the store at `path` with `options`, creating it if missing.
    ///
    /// Errors name the file: [`StoreError::Corrupt`] for a truncated, damaged
    /// or foreign file, [`StoreError::Schema`] for one of another polypact
    /// version, [`StoreError::AlreadyOpen`] if another process holds it.
    pub fn open_with(path: &Path, options: &StoreOptions) -> Result<Store, StoreError> {
        let label = path.to_path_buf();
        if path.is_dir() {
            return Err(StoreError::Open { path: label, detail: "it is a directory, not a file".into() });
        }
        if !path.exists() {
            create_file_atomically(path, options)?;
        } else {
            let len = std::fs::metadata(path)
                .map_err(|e| StoreError::Open { path: label.clone(), detail: e.to_string() })?
                .len();
            if len == 0 {
                return Err(StoreError::Corrupt {
                    path: label,
                    detail: "the file is empty (0 bytes): it was truncated".into(),
                });
            }
        }
        let db = guard(path, "opening", || builder(options).open(path))?
            .map_err(|e| open_error(path, "opening", e))?;
        let store = Store { db: Some(db), path: Some(label.clone()), label, indexes: Mutex::default() };
        store.finish_open(options, false)
    }

    /// A fresh store in memory, for tests and tools. Nothing survives drop.
    pub fn open_in_memory() -> Result<Store, StoreError> {
        Self::open_backend(InMemoryBackend::new(), Path::new(IN_MEMORY))
    }

    /// Opens (or initialises, if empty) a store on any redb storage backend,
    /// for embedding and fault-injection tests. `label` names it in errors.
    pub fn open_backend(backend: impl StorageBackend, label: &Path) -> Result<Store, StoreError> {
        let options = StoreOptions::default();
        let db = guard(label, "opening", || builder(&options).create_with_backend(backend))?
            .map_err(|e| open_error(label, "opening", e))?;
        let store = Store { db: Some(db), path: None, label: label.to_path_buf(), indexes: Mutex::default() };
        store.finish_open(&options, true)
    }

    /// The database file, or `None` for a store without a file.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Checks the integrity (when asked) and the schema record; initialises
    /// the schema of an empty database when `may_init`.
    fn finish_open(mut self, options: &StoreOptions, may_init: bool) -> Result<Store, StoreError> {
        if options.verify_on_open {
            let label = self.label.clone();
            let db = self.db.as_mut().ok_or_else(|| closed(&label))?;
            let clean = guard(&label, "verifying", || db.check_integrity())?
                .map_err(|e| from_redb(&label, "verifying the file", e))?;
            if !clean {
                tracing::warn!(path = %label.display(), "store was not closed cleanly; recovered the last commit");
            }
        }
        match self.read_schema()? {
            Some(found) if found == SCHEMA_VERSION => Ok(self),
            Some(found @ (1..SCHEMA_VERSION)) => {
                self.upgrade_from(found)?;
                Ok(self)
            }
            Some(found) => {
                Err(StoreError::Schema { path: self.label.clone(), found, supported: SCHEMA_VERSION })
            }
            None if may_init => {
                self.init_schema()?;
                Ok(self)
            }
            None => Err(StoreError::NotAStore { path: self.label.clone() }),
        }
    }

    /// The schema version in the file; `None` for a database with no tables
    /// at all (a fresh one). A database with other tables but no schema
    /// record is not a polypact store.
    fn read_schema(&self) -> Result<Option<u64>, StoreError> {
        let txn = self.read_txn()?;
        let table = match txn.open_table(SCHEMA) {
            Ok(table) => table,
            Err(TableError::TableDoesNotExist(_)) => {
                let any = txn.list_tables().map_err(|e| self.err("listing tables", e))?.next().is_some();
                return if any { Err(StoreError::NotAStore { path: self.label.clone() }) } else { Ok(None) };
            }
            Err(e) => return Err(self.err("opening the schema table", e)),
        };
        let version = table.get(SCHEMA_KEY).map_err(|e| self.err("reading the schema version", e))?;
        match version {
            Some(v) => Ok(Some(v.value())),
            None => Err(self.corrupt("the schema table has no version record")),
        }
    }

    /// Writes the schema record and creates every table, in one durable commit.
    fn init_schema(&self) -> Result<(), StoreError> {
        let txn = self.write_txn()?;
        {
            let mut schema = txn.open_table(SCHEMA).map_err(|e| self.err("creating tables", e))?;
            schema.insert(SCHEMA_KEY, SCHEMA_VERSION).map_err(|e| self.err("writing the schema", e))?;
            txn.open_table(tables::OPS).map_err(self.ctx("creating tables"))?;
            txn.open_table(tables::PARTNERSHIPS).map_err(self.ctx("creating tables"))?;
            txn.open_table(tables::FINAL_STATE).map_err(self.ctx("creating tables"))?;
            txn.open_table(tables::FINAL_META).map_err(self.ctx("creating tables"))?;
            txn.open_table(tables::CODE).map_err(self.ctx("creating tables"))?;
            self.create_archive_tables(&txn, "creating tables")?;
        }
        self.commit(txn, "writing the schema")
    }

    /// Creates the (empty) tables of the archived op index, so reads can
    /// open them in any file of the current schema.
    pub(super) fn create_archive_tables(&self, txn: &WriteTransaction, what: &str) -> Result<(), StoreError> {
        txn.open_table(tables::ARCHIVE_META).map_err(self.ctx(what))?;
        txn.open_table(tables::ARCHIVED_AUTHOR_BLOCKS).map_err(self.ctx(what))?;
        txn.open_table(tables::ARCHIVED_ID_BLOCKS).map_err(self.ctx(what))?;
        txn.open_table(tables::ARCHIVED_RUNS).map_err(self.ctx(what))?;
        txn.open_table(tables::LATE_OPS).map_err(self.ctx(what))?;
        txn.open_table(tables::COMPACTED).map_err(self.ctx(what))?;
        txn.open_table(tables::RESTING).map_err(self.ctx(what))?;
        txn.open_table(tables::FINAL_ROOTS).map_err(self.ctx(what))?;
        Ok(())
    }

    /// A durable write transaction: `Durability::Immediate` and two-phase
    /// commit (no quick repair; see the module doc).
    pub(crate) fn write_txn(&self) -> Result<WriteTransaction, StoreError> {
        let mut txn = self.db()?.begin_write().map_err(|e| self.err("starting a write", e))?;
        txn.set_durability(Durability::Immediate)
            .map_err(|e| StoreError::Io { path: self.label.clone(), detail: e.to_string() })?;
        txn.set_two_phase_commit(true);
        txn.set_quick_repair(false);
        Ok(txn)
    }

    pub(crate) fn commit(&self, txn: WriteTransaction, what: &str) -> Result<(), StoreError> {
        txn.commit().map_err(|e| self.err(what, e))
    }

    pub(crate) fn read_txn(&self) -> Result<ReadTransaction, StoreError> {
        self.db()?.begin_read().map_err(|e| self.err("starting a read", e))
    }

    /// The redb database (for the store's own files and tests).
    pub(crate) fn db(&self) -> Result<&Database, StoreError> {
        self.db.as_ref().ok_or_else(|| closed(&self.label))
    }

    /// A redb error, with the file named.
    pub(crate) fn err(&self, what: &str, e: impl Into<redb::Error>) -> StoreError {
        from_redb(&self.label, what, e)
    }

    /// [`Store::err`] as a closure for `map_err`, for any redb error type.
    pub(crate) fn ctx<'a, E: Into<redb::Error>>(&'a self, what: &'a str) -> impl Fn(E) -> StoreError + 'a {
        move |e| self.err(what, e)
    }

    /// A corruption found by the store itself (a record that does not decode).
    pub(crate) fn corrupt(&self, detail: impl Into<String>) -> StoreError {
        StoreError::Corrupt { path: self.label.clone(), detail: detail.into() }
    }

    /// The name of the file in errors (`<in-memory>` without a file).
    pub(crate) fn label(&self) -> &Path {
        &self.label
    }

    /// Runs `f`, turning a panic inside redb (which a damaged file can cause
    /// when it was not verified at open) into [`StoreError::Corrupt`].
    pub(crate) fn guarded<T>(
        &self,
        what: &str,
        f: impl FnOnce() -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        guard(&self.label, what, f)?
    }
}

impl Drop for Store {
    /// Closes the database. redb may assert while closing a file it found
    /// damaged; that must not turn an error already reported into a panic.
    fn drop(&mut self) {
        if let Some(db) = self.db.take() {
            let _ = guard(&self.label, "closing", move || drop(db));
        }
    }
}

fn closed(path: &Path) -> StoreError {
    StoreError::Io { path: path.to_path_buf(), detail: "the store is closed".into() }
}

/// Limits for decoding ops already accepted: the size limit in force when an
/// op was accepted may since have been lowered, which must not make stored
/// ops unreadable.
pub(crate) const STORED_OP_LIMITS: Limits = Limits { max_op_bytes: usize::MAX, max_parents: usize::MAX };

fn builder(options: &StoreOptions) -> Builder {
    let mut builder = Builder::new();
    builder.set_cache_size(options.cache_bytes);
    builder
}

/// Creates a new, complete store file at `path`: initialises it under a
/// temporary name, then links it into place (never replacing a file that
/// appeared meanwhile) and syncs the directory.
fn create_file_atomically(path: &Path, options: &StoreOptions) -> Result<(), StoreError> {
    let open_err = |detail: String| StoreError::Open { path: path.to_path_buf(), detail };
    let file_name = path.file_name().ok_or_else(|| open_err("the path has no file name".into()))?;
    let mut tmp_name = file_name.to_os_string();
    tmp_name.push(format!(".init-{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let _ = std::fs::remove_file(&tmp);
    {
        let db = guard(&tmp, "creating", || builder(options).create(&tmp))?
            .map_err(|e| open_error(&tmp, "creating", e))?;
        let store =
            Store { db: Some(db), path: Some(tmp.clone()), label: tmp.clone(), indexes: Mutex::default() };
        store.init_schema()?;
    }
    let linked = match std::fs::hard_link(&tmp, path) {
        Ok(()) => Ok(()),
        // Another process created it meanwhile: open theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        // A file system without hard links: a rename is atomic too.
        Err(_) => std::fs::rename(&tmp, path),
    };
    let _ = std::fs::remove_file(&tmp);
    linked.map_err(|e| open_err(format!("cannot move the new store into place: {e}")))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(dir) = std::fs::File::open(dir)
    {
        // Best effort: make the new directory entry durable.
        let _ = dir.sync_all();
    }
    Ok(())
}

/// An error from opening, naming the file: OS-level failures to open the file
/// are [`StoreError::Open`], the rest as [`from_redb`] classifies them.
fn open_error(path: &Path, what: &str, e: redb::DatabaseError) -> StoreError {
    use std::io::ErrorKind;
    if let redb::DatabaseError::Storage(redb::StorageError::Io(io)) = &e
        && matches!(
            io.kind(),
            ErrorKind::NotFound | ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem
        )
    {
        return StoreError::Open { path: path.to_path_buf(), detail: io.to_string() };
    }
    if let redb::DatabaseError::Storage(redb::StorageError::Io(io)) = &e
        && io.kind() == ErrorKind::InvalidData
    {
        return StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: "it does not start with a redb header: not a store, or its header was overwritten".into(),
        };
    }
    from_redb(path, what, e)
}

/// Runs `f`, turning a panic into [`StoreError::Corrupt`] naming `path`.
fn guard<T>(path: &Path, what: &str, f: impl FnOnce() -> T) -> Result<T, StoreError> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|panic| {
        let message = panic_message(panic.as_ref());
        let detail = if message.contains("raw_file_len") {
            format!("the file is shorter than its header records, it was truncated ({message})")
        } else {
            format!("redb found an inconsistency while {what} ({message})")
        };
        StoreError::Corrupt { path: path.to_path_buf(), detail }
    })
}

fn panic_message(panic: &(dyn Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".into()
    }
}
