// The umbrella header is enough to go from chat messages to generated text.
#include <gtest/gtest.h>
#include <hearth/hearth.h>

namespace {

TEST(PublicApi, ChatToTextThroughTheUmbrellaHeader) {
  const std::string model = std::string(HEARTH_TEST_DATA) + "/devB";
  hearth::EngineOptions opts;
  opts.context = 128;
  hearth::Engine engine(model, opts);
  hearth::Tokenizer tok = hearth::load_tokenizer(model);
  nlohmann::ordered_json messages =
      nlohmann::ordered_json::array({{{"role", "user"}, {"content", "Hi!"}}});
  auto ids = tok.encode(hearth::render_llama31_chat(messages, {}), false, true);
  hearth::Scheduler sched(engine.model(), engine.cache(), engine.context());
  hearth::GenerationParams params;
  params.sampling.temperature = 0;
  params.max_tokens = 5;
  params.stop_tokens = tok.eos_ids();
  auto r = hearth::generate_blocking(sched, ids, params);
  EXPECT_EQ(r.tokens.size(), 5u);
  EXPECT_FALSE(tok.decode(r.tokens, true).empty());
}

}  // namespace
