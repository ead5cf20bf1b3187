// Fuzz target: the tokenizer loaders. The first byte picks the source: even, a tokenizer.json
// and tokenizer_config.json pair (split at the separator line); odd, a GGUF file's tokenizer.*
// metadata. A tokenizer that loads must then encode and decode its own test text without
// failing: the loader's validation is what makes the vocabulary safe to use.
#include "format/gguf.h"
#include "fuzz_support.h"
#include "tokenizer/load.h"
#include "tokenizer/utf8.h"
#include "util/error.h"

namespace {

constexpr std::string_view kSep = "\n--hearth-fuzz-file--\n";

void exercise(const hearth::Tokenizer& tok, std::string_view text) {
  const auto ids = tok.encode(text, tok.add_bos_default(), /*parse_special=*/true);
  for (int32_t id : ids)
    if (id < 0 || id >= tok.vocab_size()) hearth::fuzz::violated("encode gave an id out of range");
  const std::string back = tok.decode(ids);
  if (!hearth::utf8::is_valid(back)) hearth::fuzz::violated("decode gave ill-formed UTF-8");
  hearth::StreamDecoder sd(tok);
  std::string streamed;
  for (int32_t id : ids) streamed += sd.push(id);
  streamed += sd.flush();
  if (streamed != back) hearth::fuzz::violated("streamed decode differs from decode");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool gguf = data[0] & 1;
  try {
    if (gguf) {
      const hearth::fuzz::MemFile file(
          std::string_view(reinterpret_cast<const char*>(data + 1), size - 1));
      const hearth::GgufFile g(file.path());
      exercise(hearth::tokenizer_from_gguf(g), "Hello, world! 123 \xC3\xA9t\xC3\xA9 <|eot_id|>");
    } else {
      const auto parts = hearth::fuzz::split(data + 1, size - 1, kSep, 2);
      exercise(hearth::tokenizer_from_hf_json_text(parts[0], "tokenizer.json", parts[1],
                                                   "tokenizer_config.json"),
               "Hello, world! 123 \xC3\xA9t\xC3\xA9 <|eot_id|>");
    }
  } catch (const hearth::Error&) {
  }
  return 0;
}
