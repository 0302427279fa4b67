// A gzip stream (RFC 1952) of uncompressed ("stored", RFC 1951 type 0)
// deflate blocks: what pprof and every gzip reader accept, written without
// a compression library in the user's test process.

#ifndef TASKLEAK_RUNTIME_INTERNAL_GZIP_H_
#define TASKLEAK_RUNTIME_INTERNAL_GZIP_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace taskleak {
namespace internal {

// CRC-32 (ISO 3309, the one gzip uses) of `data`.
uint32_t Crc32(absl::string_view data);

// `data` wrapped as a valid gzip file, about 5 bytes larger per 64 KiB.
std::string GzipStored(absl::string_view data);

}  // namespace internal
}  // namespace taskleak

#endif  // TASKLEAK_RUNTIME_INTERNAL_GZIP_H_
