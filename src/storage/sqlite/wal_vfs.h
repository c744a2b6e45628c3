// A SQLite VFS that gathers a commit's WAL frames into one write.
//
// SQLite writes each WAL frame with two pwrite calls (its 24-byte header,
// then the page), so a commit of 300 pages costs 600 system calls on the
// serial writer. This VFS is the default one ("unix") except that a WAL
// file's appended bytes are kept in a buffer and written in one call when
// they must be in the file:
//   - once the commit frame's page is in (the frame whose header holds the
//     database size), inside that write, where an error still fails the
//     commit;
//   - before anything else touches the WAL file (a read, a write elsewhere
//     than the end, a sync, a truncation, its size, a file control, closing);
//   - when the buffer holds kWalBufferBytes;
//   - as a backstop, before the connection publishes a commit to the others
//     (its wal-index header, behind xShmBarrier) and before any
//     shared-memory lock changes, both called on the database file. A
//     failure there cannot be reported; every later use of the WAL fails.
// A commit is therefore in the file (the OS's page cache) before SQLite
// returns from it, exactly as with the default VFS: an acknowledged event
// survives kill -9. Files other than WAL files are passed through.
#pragma once

#include <cstddef>

namespace vigie::sql {

// Below 128 KiB: SQLite's unix VFS writes at most that much per call (it
// masks the length with 0x1ffff and reports a short write as a full disk).
inline constexpr std::size_t kWalBufferBytes = 124 * 1024;

// Registers the VFS (once; thread-safe) and returns its name, for
// sqlite3_open_v2. It is not made the default.
const char* WalCoalescingVfs();

}  // namespace vigie::sql
