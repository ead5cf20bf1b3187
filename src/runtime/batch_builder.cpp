#include "runtime/batch_builder.h"

namespace hearth {

BatchBuilder::BatchBuilder(int block_size) {
  b_.block_size = block_size;
  reset();
}

void BatchBuilder::reset() {
  b_.tokens.clear();
  b_.pos.clear();
  b_.seq.clear();
  b_.slot.clear();
  b_.block_tables.clear();
  b_.table_offset.assign(1, 0);
  b_.logits_rows.clear();
  b_.argmax_rows.clear();
}

ResultRef BatchBuilder::add(const SequenceKv& kv, std::span<const int32_t> tokens, RowOutput last,
                            bool all_logits) {
  const int32_t s = n_seqs();
  const int first_row = b_.n_tokens();
  for (size_t k = 0; k < tokens.size(); ++k) {
    const int32_t p = kv.length + static_cast<int32_t>(k);
    b_.tokens.push_back(tokens[k]);
    b_.pos.push_back(p);
    b_.seq.push_back(s);
    b_.slot.push_back(kv.slot(p, b_.block_size));
  }
  b_.block_tables.insert(b_.block_tables.end(), kv.blocks.begin(), kv.blocks.end());
  b_.table_offset.push_back(static_cast<int32_t>(b_.block_tables.size()));

  ResultRef ref;
  if (tokens.empty()) return ref;
  if (all_logits) {
    ref = {RowOutput::Logits, static_cast<int>(b_.logits_rows.size())};
    for (size_t k = 0; k < tokens.size(); ++k)
      b_.logits_rows.push_back(first_row + static_cast<int32_t>(k));
    return ref;
  }
  const int32_t row = b_.n_tokens() - 1;
  if (last == RowOutput::Argmax) {
    ref = {RowOutput::Argmax, static_cast<int>(b_.argmax_rows.size())};
    b_.argmax_rows.push_back(row);
  } else if (last == RowOutput::Logits) {
    ref = {RowOutput::Logits, static_cast<int>(b_.logits_rows.size())};
    b_.logits_rows.push_back(row);
  }
  return ref;
}

}  // namespace hearth
