#pragma once
// One request written byte for byte on a fresh loopback connection, for the tests that need what
// an HTTP client library hides (malformed requests, the raw stream, a server that dies mid-way).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <string>

namespace hearth::testing {

// 127.0.0.1:port, for connect().
inline sockaddr_in loopback(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

// Sends `request` as it is and returns everything received, until the server closes the
// connection, `silence_s` seconds pass with nothing received, or `stop(received)` returns true
// (called after each read). A refused connection returns "".
inline std::string raw_exchange(int port, const std::string& request, int silence_s,
                                const std::function<bool(const std::string&)>& stop = {}) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  const sockaddr_in addr = loopback(port);
  std::string got;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0 &&
      ::send(fd, request.data(), request.size(), 0) == static_cast<ssize_t>(request.size())) {
    timeval tv{silence_s, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[4096];
    for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) {
      got.append(buf, static_cast<size_t>(n));
      if (stop && stop(got)) break;
    }
  }
  ::close(fd);
  return got;
}

}  // namespace hearth::testing
