#include "chat/prompt_tokens.h"

#include <string_view>

#include "util/error.h"

namespace hearth {

std::vector<int32_t> encode_chat_prompt(const Tokenizer& tok, const RenderedChat& chat,
                                        MessageSpecials mode) {
  if (mode == MessageSpecials::kParse)
    return tok.encode(chat.text, /*add_bos=*/false, /*parse_special=*/true);
  const std::string_view text = chat.text;
  std::vector<int32_t> ids;
  size_t at = 0;
  auto plain = [&](size_t end) {
    if (end <= at) return;
    auto part = tok.encode(text.substr(at, end - at), /*add_bos=*/false, /*parse_special=*/false);
    ids.insert(ids.end(), part.begin(), part.end());
  };
  for (const auto& [begin, end] : chat.specials) {
    plain(begin);
    const std::string_view token = text.substr(begin, end - begin);
    auto id = tok.special_id(token);
    if (!id) throw Error("chat template", "'" + std::string(token) + "' is not in the vocabulary");
    ids.push_back(*id);
    at = end;
  }
  plain(text.size());
  return ids;
}

}  // namespace hearth
