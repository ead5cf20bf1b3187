#pragma once
// Bounds-checked little-endian reads from an untrusted buffer. Every failure names the file and
// says what was being read, so a truncated file gives "truncated while reading X".
#include <cstdint>
#include <cstring>
#include <string>

#include "util/error.h"

namespace hearth {

class ByteReader {
 public:
  ByteReader(const uint8_t* data, size_t size, std::string file)
      : data_(data), size_(size), file_(std::move(file)) {}

  size_t pos() const { return pos_; }
  size_t remaining() const { return size_ - pos_; }
  const std::string& file() const { return file_; }

  void need(size_t n, const char* what) const {
    if (n > size_ - pos_)
      throw Error(file_, std::string("truncated while reading ") + what + " at byte " +
                             std::to_string(pos_));
  }

  template <typename T>
  T read(const char* what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  std::string read_string(const char* what, uint64_t len) {
    need(len, what);
    std::string s(reinterpret_cast<const char*>(data_ + pos_), static_cast<size_t>(len));
    pos_ += static_cast<size_t>(len);
    return s;
  }

  void skip(size_t n, const char* what) {
    need(n, what);
    pos_ += n;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  std::string file_;
};

}  // namespace hearth
