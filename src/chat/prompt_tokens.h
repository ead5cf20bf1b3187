#pragma once
// A rendered chat prompt turned into token ids without letting message text become control
// tokens: only the special tokens the template wrote itself are encoded as specials; everything
// between them is encoded as plain text, so "<|eot_id|>" typed by a user stays ten ordinary
// tokens and cannot end the user's turn.
#include <cstdint>
#include <vector>

#include "chat/llama31_template.h"
#include "tokenizer/tokenizer.h"

namespace hearth {

enum class MessageSpecials {
  kPlainText,  // message text never becomes special tokens (the server's default)
  kParse,      // special-token text anywhere is parsed, as transformers' apply_chat_template does
};

// Throws hearth::Error when a template-written special is not in the tokenizer's vocabulary.
std::vector<int32_t> encode_chat_prompt(const Tokenizer& tok, const RenderedChat& chat,
                                        MessageSpecials mode);

}  // namespace hearth
