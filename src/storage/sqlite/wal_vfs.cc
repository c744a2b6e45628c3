#include "storage/sqlite/wal_vfs.h"

#include <sqlite3.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace vigie::sql {
namespace {

sqlite3_vfs* g_real = nullptr;  // the default VFS, set once
sqlite3_vfs g_vfs;

// A WAL file's bytes not yet written: one run, appended at its end.
struct Pending {
  char* data = nullptr;  // kWalBufferBytes, allocated at the first write
  std::size_t size = 0;
  sqlite3_int64 start = 0;    // the file offset of data[0]
  bool commit_frame = false;  // the last write was a commit frame's header
  int error = SQLITE_OK;      // a flush that could not report its failure
};

// What SQLite allocates for each open file (g_vfs.szOsFile bytes): this,
// then the default VFS's own file object.
struct File {
  sqlite3_file base;
  sqlite3_file* real;
  File* wal;         // a database file: its connection's open WAL file, or null
  File* db;          // a WAL file: its connection's database file, or null
  Pending* pending;  // a WAL file: what is not written yet; null otherwise
};
constexpr std::size_t kFileBytes = (sizeof(File) + 7) / 8 * 8;

File* Of(sqlite3_file* f) { return reinterpret_cast<File*>(f); }
const sqlite3_io_methods& Real(const File* f) { return *f->real->pMethods; }

int Flush(File* f) {
  Pending* p = f->pending;
  if (!p || p->size == 0) return SQLITE_OK;
  const int rc = Real(f).xWrite(f->real, p->data, static_cast<int>(p->size), p->start);
  p->size = 0;
  p->commit_frame = false;
  return rc;
}

// Flushes a WAL file before an operation other than an append. Once a flush
// failed where it could not say so, every later operation fails with it.
int FlushWal(File* f) {
  if (!f->pending) return SQLITE_OK;
  if (f->pending->error != SQLITE_OK) return f->pending->error;
  return Flush(f);
}

int Close(sqlite3_file* file) {
  File* f = Of(file);
  int rc = FlushWal(f);
  if (f->db && f->db->wal == f) f->db->wal = nullptr;
  if (f->wal && f->wal->db == f) f->wal->db = nullptr;
  if (f->pending) {
    std::free(f->pending->data);
    delete f->pending;
    f->pending = nullptr;
  }
  const int close_rc = Real(f).xClose(f->real);
  return rc != SQLITE_OK ? rc : close_rc;
}

int Read(sqlite3_file* file, void* buf, int n, sqlite3_int64 off) {
  File* f = Of(file);
  if (int rc = FlushWal(f); rc != SQLITE_OK) return rc;
  return Real(f).xRead(f->real, buf, n, off);
}

int Write(sqlite3_file* file, const void* buf, int n, sqlite3_int64 off) {
  File* f = Of(file);
  Pending* p = f->pending;
  if (!p) return Real(f).xWrite(f->real, buf, n, off);
  if (p->error != SQLITE_OK) return p->error;
  const auto amount = static_cast<std::size_t>(n);
  if (p->size > 0 && (off != p->start + static_cast<sqlite3_int64>(p->size) ||
                      p->size + amount > kWalBufferBytes)) {
    if (int rc = Flush(f); rc != SQLITE_OK) return rc;
  }
  if (amount > kWalBufferBytes) return Real(f).xWrite(f->real, buf, n, off);
  if (!p->data) {
    p->data = static_cast<char*>(std::malloc(kWalBufferBytes));
    if (!p->data) return SQLITE_IOERR_NOMEM;
  }
  if (p->size == 0) p->start = off;
  std::memcpy(p->data + p->size, buf, amount);
  p->size += amount;
  // A frame is written as its 24-byte header, then its page. A commit
  // frame's header holds the database's size in pages after the commit
  // (bytes 4 to 7), other frames' hold 0: once the commit frame's page is
  // in, the commit is written out here, where an error can still fail it.
  if (p->commit_frame) return Flush(f);
  if (n == 24) {
    const auto* b = static_cast<const unsigned char*>(buf);
    p->commit_frame = (b[4] | b[5] | b[6] | b[7]) != 0;
  }
  return SQLITE_OK;
}

int Truncate(sqlite3_file* file, sqlite3_int64 size) {
  File* f = Of(file);
  if (int rc = FlushWal(f); rc != SQLITE_OK) return rc;
  return Real(f).xTruncate(f->real, size);
}

int Sync(sqlite3_file* file, int flags) {
  File* f = Of(file);
  if (int rc = FlushWal(f); rc != SQLITE_OK) return rc;
  return Real(f).xSync(f->real, flags);
}

int FileSize(sqlite3_file* file, sqlite3_int64* size) {
  File* f = Of(file);
  if (int rc = FlushWal(f); rc != SQLITE_OK) return rc;
  return Real(f).xFileSize(f->real, size);
}

int Lock(sqlite3_file* file, int level) { return Real(Of(file)).xLock(Of(file)->real, level); }
int Unlock(sqlite3_file* file, int level) { return Real(Of(file)).xUnlock(Of(file)->real, level); }
int CheckReservedLock(sqlite3_file* file, int* out) {
  return Real(Of(file)).xCheckReservedLock(Of(file)->real, out);
}

int FileControl(sqlite3_file* file, int op, void* arg) {
  File* f = Of(file);
  if (int rc = FlushWal(f); rc != SQLITE_OK) return rc;
  return Real(f).xFileControl(f->real, op, arg);
}

int SectorSize(sqlite3_file* file) { return Real(Of(file)).xSectorSize(Of(file)->real); }
int DeviceCharacteristics(sqlite3_file* file) {
  return Real(Of(file)).xDeviceCharacteristics(Of(file)->real);
}

int ShmMap(sqlite3_file* file, int page, int size, int extend, void volatile** out) {
  return Real(Of(file)).xShmMap(Of(file)->real, page, size, extend, out);
}

// Called on the database file: before a shared-memory lock changes, the
// connection's WAL holds everything it was given.
int ShmLock(sqlite3_file* file, int offset, int n, int flags) {
  File* f = Of(file);
  if (f->wal) {
    if (int rc = FlushWal(f->wal); rc != SQLITE_OK) return rc;
  }
  return Real(f).xShmLock(f->real, offset, n, flags);
}

// Called on the database file between writing the two copies of the
// wal-index header, which publish a commit. The commit frame already
// flushed the commit (Write); this is the backstop for anything else, and
// cannot report an error.
void ShmBarrier(sqlite3_file* file) {
  File* f = Of(file);
  if (f->wal) {
    if (int rc = Flush(f->wal); rc != SQLITE_OK) f->wal->pending->error = rc;
  }
  Real(f).xShmBarrier(f->real);
}

int ShmUnmap(sqlite3_file* file, int delete_flag) {
  return Real(Of(file)).xShmUnmap(Of(file)->real, delete_flag);
}

int Fetch(sqlite3_file* file, sqlite3_int64 off, int n, void** out) {
  return Real(Of(file)).xFetch(Of(file)->real, off, n, out);
}

int Unfetch(sqlite3_file* file, sqlite3_int64 off, void* p) {
  return Real(Of(file)).xUnfetch(Of(file)->real, off, p);
}

const sqlite3_io_methods kMethods = {
    3,
    Close,
    Read,
    Write,
    Truncate,
    Sync,
    FileSize,
    Lock,
    Unlock,
    CheckReservedLock,
    FileControl,
    SectorSize,
    DeviceCharacteristics,
    ShmMap,
    ShmLock,
    ShmBarrier,
    ShmUnmap,
    Fetch,
    Unfetch,
};

int Open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* file, int flags, int* out_flags) {
  File* f = Of(file);
  f->base.pMethods = nullptr;
  f->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(file) + kFileBytes);
  f->wal = nullptr;
  f->db = nullptr;
  f->pending = nullptr;
  f->real->pMethods = nullptr;
  const int rc = g_real->xOpen(g_real, name, f->real, flags, out_flags);
  if (rc != SQLITE_OK) {
    if (f->real->pMethods) f->real->pMethods->xClose(f->real);
    return rc;
  }
  if (f->real->pMethods->iVersion < 3) {
    f->real->pMethods->xClose(f->real);
    return SQLITE_CANTOPEN;
  }
  if ((flags & SQLITE_OPEN_WAL) && name) {
    f->pending = new Pending;
    sqlite3_file* db = sqlite3_database_file_object(name);
    if (db && db->pMethods == &kMethods) {
      f->db = Of(db);
      Of(db)->wal = f;
    }
  }
  f->base.pMethods = &kMethods;
  return SQLITE_OK;
}

// The rest of the VFS is the default one's.
int Delete(sqlite3_vfs*, const char* name, int sync_dir) {
  return g_real->xDelete(g_real, name, sync_dir);
}
int Access(sqlite3_vfs*, const char* name, int flags, int* out) {
  return g_real->xAccess(g_real, name, flags, out);
}
int FullPathname(sqlite3_vfs*, const char* name, int n, char* out) {
  return g_real->xFullPathname(g_real, name, n, out);
}
void* DlOpen(sqlite3_vfs*, const char* name) { return g_real->xDlOpen(g_real, name); }
void DlError(sqlite3_vfs*, int n, char* out) { g_real->xDlError(g_real, n, out); }
void (*DlSym(sqlite3_vfs*, void* handle, const char* symbol))(void) {
  return g_real->xDlSym(g_real, handle, symbol);
}
void DlClose(sqlite3_vfs*, void* handle) { g_real->xDlClose(g_real, handle); }
int Randomness(sqlite3_vfs*, int n, char* out) { return g_real->xRandomness(g_real, n, out); }
int Sleep(sqlite3_vfs*, int us) { return g_real->xSleep(g_real, us); }
int CurrentTime(sqlite3_vfs*, double* out) { return g_real->xCurrentTime(g_real, out); }
int GetLastError(sqlite3_vfs*, int n, char* out) { return g_real->xGetLastError(g_real, n, out); }
int CurrentTimeInt64(sqlite3_vfs*, sqlite3_int64* out) {
  return g_real->xCurrentTimeInt64(g_real, out);
}
int SetSystemCall(sqlite3_vfs*, const char* name, sqlite3_syscall_ptr p) {
  return g_real->xSetSystemCall(g_real, name, p);
}
sqlite3_syscall_ptr GetSystemCall(sqlite3_vfs*, const char* name) {
  return g_real->xGetSystemCall(g_real, name);
}
const char* NextSystemCall(sqlite3_vfs*, const char* name) {
  return g_real->xNextSystemCall(g_real, name);
}

}  // namespace

const char* WalCoalescingVfs() {
  static std::once_flag once;
  std::call_once(once, [] {
    g_real = sqlite3_vfs_find(nullptr);
    g_vfs = sqlite3_vfs{};
    g_vfs.iVersion = 3;
    g_vfs.szOsFile = static_cast<int>(kFileBytes) + g_real->szOsFile;
    g_vfs.mxPathname = g_real->mxPathname;
    g_vfs.zName = "vigie-wal";
    g_vfs.xOpen = Open;
    g_vfs.xDelete = Delete;
    g_vfs.xAccess = Access;
    g_vfs.xFullPathname = FullPathname;
    g_vfs.xDlOpen = DlOpen;
    g_vfs.xDlError = DlError;
    g_vfs.xDlSym = DlSym;
    g_vfs.xDlClose = DlClose;
    g_vfs.xRandomness = Randomness;
    g_vfs.xSleep = Sleep;
    g_vfs.xCurrentTime = CurrentTime;
    g_vfs.xGetLastError = GetLastError;
    g_vfs.xCurrentTimeInt64 = CurrentTimeInt64;
    g_vfs.xSetSystemCall = SetSystemCall;
    g_vfs.xGetSystemCall = GetSystemCall;
    g_vfs.xNextSystemCall = NextSystemCall;
    sqlite3_vfs_register(&g_vfs, 0);
  });
  return g_vfs.zName;
}

}  // namespace vigie::sql
