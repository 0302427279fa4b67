// The descriptors taskleak itself keeps open (libdw's module and debug
// files, the kept /proc/self/task, LeakSanitizer's report file), so that the
// descriptor check never charges them to a test. Each is known by its number,
// the file it was when registered (st_dev, st_ino) and an owner mark on its
// open file description (F_SETOWN to our pid; harmless without O_ASYNC): a
// number that now names another file is not ours, nor one the program opened
// anew on the same file (no mark), and a user's descriptor of the same file
// usually has another number anyway. Lock-free and async-signal-safe: usable
// in a fork child and from the atfork handlers.

#ifndef TASKLEAK_RUNTIME_INTERNAL_OWN_FDS_H_
#define TASKLEAK_RUNTIME_INTERNAL_OWN_FDS_H_

namespace taskleak {
namespace internal {

// Records `fd` (ignored if negative, not open, or the table is full).
void RegisterOwnFd(int fd);

// Drops `fd`: call before closing it.
void ForgetOwnFd(int fd);

// Drops the descriptors that were closed behind our back (libdw closes
// a module's files when it drops the module) or now name another file.
// Call right after code that may have closed them.
void ForgetClosedOwnFds();

// Whether `fd` is registered and still names the file it did then.
bool IsOwnFd(int fd);

// Opens, once, what taskleak opens lazily and keeps for the life of the
// process without registering it (libunwind's pipe for checking addresses),
// so that a snapshot taken afterwards already lists it. Not
// async-signal-safe.
void OpenLongLivedDescriptors();

}  // namespace internal
}  // namespace taskleak

#endif  // TASKLEAK_RUNTIME_INTERNAL_OWN_FDS_H_
