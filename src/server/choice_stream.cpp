#include "server/choice_stream.h"

#include <algorithm>

#include "chat/special_tokens.h"

namespace hearth::server {

ChoiceStream::ChoiceStream(const Tokenizer& tok, ChoiceSetup setup)
    : setup_(std::move(setup)), decoder_(tok, /*skip_special=*/true), stops_(setup_.stop) {
  if (setup_.force_tool_call) route_ = Route::kToolCall;
}

void ChoiceStream::emit(const std::string& text, ChoiceUpdate& out) {
  out.text += text;
  content_ += text;
}

void ChoiceStream::route(const std::string& text, ChoiceUpdate& out) {
  if (text.empty()) return;
  if (!setup_.parse_tool_calls) return emit(text, out);
  switch (route_) {
    case Route::kContent:
      return emit(text, out);
    case Route::kToolCall:
      tool_text_ += text;
      return;
    case Route::kUndecided: {
      // Llama 3.1 writes a custom tool call as bare JSON: hold it until it can be parsed whole.
      undecided_ += text;
      const size_t i = undecided_.find_first_not_of(" \t\r\n");
      if (i == std::string::npos) return;
      if (undecided_[i] == '{' || undecided_[i] == '[') {
        route_ = Route::kToolCall;
        tool_text_ += undecided_;
      } else {
        route_ = Route::kContent;
        emit(undecided_, out);
      }
      undecided_.clear();
      return;
    }
  }
}

void ChoiceStream::release_tokens(ChoiceUpdate& out) {
  const size_t released = stops_.released();
  size_t k = 0;
  while (k < pending_tokens_.size() && pending_tokens_[k].text_end <= released) ++k;
  for (size_t i = 0; i < k; ++i) out.tokens.push_back(std::move(pending_tokens_[i]));
  pending_tokens_.erase(pending_tokens_.begin(), pending_tokens_.begin() + static_cast<long>(k));
}

bool ChoiceStream::on_event(const TokenEvent& ev, ChoiceUpdate& out) {
  if (finished_) return false;
  const bool is_end =
      std::find(setup_.end_ids.begin(), setup_.end_ids.end(), ev.token) != setup_.end_ids.end();
  if (ev.token >= 0 && ev.token == setup_.eom) ended_with_eom_ = true;
  if (ev.token >= 0 && !is_end && !stops_.stopped()) {
    if (setup_.parse_tool_calls && ev.token == setup_.python_tag) {
      // Whatever was held for stop matching precedes the tag; the tag opens a built-in call.
      route(stops_.flush(), out);
      route_ = Route::kToolCall;
      tool_text_ += std::string(llama31::kPythonTag);
    } else {
      std::string piece = decoder_.push(ev.token);
      if (setup_.logprobs)
        pending_tokens_.push_back(
            {ev.token, ev.logprob, ev.top, decoded_bytes_, decoded_bytes_ + piece.size()});
      decoded_bytes_ += piece.size();
      auto r = stops_.push(piece);
      route(r.text, out);
    }
    release_tokens(out);
  }
  if (ev.finish != FinishReason::None) finish(ev, out);
  return !stops_.stopped();
}

void ChoiceStream::finish(const TokenEvent& ev, ChoiceUpdate& out) {
  finished_ = true;
  out.finished = true;
  out.raw_finish = ev.finish;
  out.prompt_tokens = ev.prompt_tokens;
  out.completion_tokens = ev.completion_tokens;
  out.cached_tokens = setup_.reports_cached_tokens ? ev.cached_tokens : 0;
  if (ev.finish == FinishReason::Cancelled || ev.finish == FinishReason::Error) {
    out.error = ev.error.empty() ? "the request was cancelled" : ev.error;
    out.finish_reason = ev.finish == FinishReason::Cancelled ? "cancelled" : "error";
    return;
  }
  if (!stops_.stopped()) {
    std::string tail = decoder_.flush();
    decoded_bytes_ += tail.size();
    auto r = stops_.push(tail);
    route(r.text, out);
    if (!r.stopped) route(stops_.flush(), out);
  }
  release_tokens(out);
  if (route_ == Route::kUndecided) emit(undecided_, out);  // only whitespace came
  out.finish_reason = ev.finish == FinishReason::Length && !stops_.stopped() ? "length" : "stop";
  if (stops_.stopped()) out.stop_sequence = stops_.matched();
  if (route_ == Route::kToolCall) {
    ParsedAssistant parsed = parse_llama31_output(tool_text_, ended_with_eom_);
    if (!parsed.tool_calls.empty()) {
      emit(parsed.content, out);
      out.tool_calls = std::move(parsed.tool_calls);
      out.finish_reason = "tool_calls";
    } else {
      // Not a call after all: it is content (minus the tag, a special token never shown).
      std::string text = tool_text_;
      const std::string tag(llama31::kPythonTag);
      for (size_t p; (p = text.find(tag)) != std::string::npos;) text.erase(p, tag.size());
      emit(text, out);
    }
  }
}

}  // namespace hearth::server
