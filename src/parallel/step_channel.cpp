#include "parallel/step_channel.h"

#include <array>
#include <cstring>

#include "util/error.h"

namespace hearth {
namespace {

enum : int32_t { kStep = 1, kStop = 2 };

// The header says what follows and how long each of the batch's arrays is, so the payload is one
// second broadcast of exactly that many ints.
constexpr size_t kArrays = 8;
using Header = std::array<int32_t, 3 + kArrays>;  // command, code or block size, total, sizes

std::array<std::vector<int32_t>*, kArrays> arrays(BatchInputs& b) {
  return {&b.tokens,       &b.pos,          &b.seq,         &b.slot,
          &b.block_tables, &b.table_offset, &b.logits_rows, &b.argmax_rows};
}

}  // namespace

void send_step(Communicator& comm, const BatchInputs& batch) {
  auto& b = const_cast<BatchInputs&>(batch);  // read only: arrays() just lists the members
  Header h{};
  h[0] = kStep;
  h[1] = b.block_size;
  size_t total = 0;
  auto a = arrays(b);
  for (size_t i = 0; i < kArrays; ++i) {
    h[3 + i] = static_cast<int32_t>(a[i]->size());
    total += a[i]->size();
  }
  h[2] = static_cast<int32_t>(total);
  comm.broadcast(h.data(), sizeof h);
  std::vector<int32_t> payload;
  payload.reserve(total);
  for (auto* v : a) payload.insert(payload.end(), v->begin(), v->end());
  comm.broadcast(payload.data(), payload.size() * sizeof(int32_t));
}

void send_stop(Communicator& comm, int code) {
  Header h{};
  h[0] = kStop;
  h[1] = code;
  comm.broadcast(h.data(), sizeof h);
}

bool receive_step(Communicator& comm, BatchInputs& batch, int& code) {
  Header h{};
  comm.broadcast(h.data(), sizeof h);
  if (h[0] == kStop) {
    code = h[1];
    return false;
  }
  if (h[0] != kStep || h[2] < 0) throw Error("tensor parallel", "internal: malformed step header");
  std::vector<int32_t> payload(static_cast<size_t>(h[2]));
  comm.broadcast(payload.data(), payload.size() * sizeof(int32_t));
  batch.block_size = h[1];
  size_t at = 0;
  auto a = arrays(batch);
  for (size_t i = 0; i < kArrays; ++i) {
    const auto n = static_cast<size_t>(h[3 + i]);
    if (at + n > payload.size()) throw Error("tensor parallel", "internal: malformed step");
    a[i]->assign(payload.begin() + static_cast<long>(at),
                 payload.begin() + static_cast<long>(at + n));
    at += n;
  }
  return true;
}

}  // namespace hearth
