// Fuzz target: encode and decode with the built-in Llama 3.1 tokenizer, checking properties:
//  - text mode (first byte even): decode(encode(x)) is x with ill-formed UTF-8 replaced, so x
//    itself for valid UTF-8, with special-token parsing on or off (bit 1);
//  - ids mode (first byte odd): every 3 bytes are one token id; the streaming decoder emits
//    only well-formed UTF-8 at each push, and its outputs plus flush() equal decode(), with
//    special tokens kept or skipped (bit 1).
#include "fuzz_support.h"
#include "tokenizer/builtin_llama31.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace {

const hearth::Tokenizer& tokenizer() {
  static const hearth::Tokenizer tok(hearth::builtin_llama31_tokenizer_spec());
  return tok;
}

void text_roundtrip(std::string_view text, bool parse_special) {
  const auto& tok = tokenizer();
  const auto ids = tok.encode(text, /*add_bos=*/false, parse_special);
  if (tok.decode(ids) != hearth::utf8::sanitize(text))
    hearth::fuzz::violated("decode(encode(x)) != x (after U+FFFD replacement)");
}

void stream_decode(const uint8_t* p, size_t n, bool skip_special) {
  const auto& tok = tokenizer();
  std::vector<int32_t> ids;
  for (size_t i = 0; i + 3 <= n; i += 3) {
    const uint32_t v = p[i] | (uint32_t(p[i + 1]) << 8) | (uint32_t(p[i + 2]) << 16);
    ids.push_back(static_cast<int32_t>(v % static_cast<uint32_t>(tok.vocab_size())));
  }
  hearth::StreamDecoder sd(tok, skip_special);
  std::string streamed;
  for (int32_t id : ids) {
    const std::string piece = sd.push(id);
    if (!hearth::utf8::is_valid(piece)) hearth::fuzz::violated("stream emitted a broken character");
    streamed += piece;
  }
  const std::string tail = sd.flush();
  if (!hearth::utf8::is_valid(tail)) hearth::fuzz::violated("flush emitted a broken character");
  streamed += tail;
  if (streamed != tok.decode(ids, skip_special))
    hearth::fuzz::violated("streamed decode differs from decode");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0 || size > 4096) return 0;  // BPE cost grows with length; long inputs add nothing
  const bool flag = data[0] & 2;
  if (data[0] & 1)
    stream_decode(data + 1, size - 1, flag);
  else
    text_roundtrip(std::string_view(reinterpret_cast<const char*>(data + 1), size - 1), flag);
  return 0;
}
