#include "taskleak/runtime/internal/gzip.h"

#include <algorithm>

namespace taskleak {
namespace internal {
namespace {

void AppendLittleEndian(uint32_t value, int bytes, std::string* out) {
  for (int i = 0; i < bytes; ++i)
    out->push_back(static_cast<char>(value >> (8 * i)));
}

}  // namespace

uint32_t Crc32(absl::string_view data) {
  // Bitwise: profiles are small, and a table would be 1 KiB of statics.
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char c : data) {
    crc ^= c;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & -(crc & 1));
  }
  return ~crc;
}

std::string GzipStored(absl::string_view data) {
  constexpr size_t kMaxBlock = 65535;  // LEN is 16 bits
  std::string out;
  out.reserve(data.size() + data.size() / kMaxBlock * 5 + 32);
  // ID1 ID2, CM=8 (deflate), FLG=0, MTIME=0, XFL=0, OS=3 (Unix).
  out.append("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03", 10);
  size_t pos = 0;
  do {
    const size_t len = std::min(kMaxBlock, data.size() - pos);
    const bool last = pos + len == data.size();
    // BFINAL, BTYPE=00 (stored), padded to the byte; then LEN and ~LEN.
    out.push_back(last ? 1 : 0);
    AppendLittleEndian(len, 2, &out);
    AppendLittleEndian(~len & 0xFFFF, 2, &out);
    out.append(data.data() + pos, len);
    pos += len;
  } while (pos < data.size());
  AppendLittleEndian(Crc32(data), 4, &out);
  AppendLittleEndian(static_cast<uint32_t>(data.size()), 4, &out);
  return out;
}

}  // namespace internal
}  // namespace taskleak
