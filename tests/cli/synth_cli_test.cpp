// hearth synth: a random-weight model of a released shape, with the Llama 3.1 tokenizer built
// into the binary, so it works from any directory on any machine.
#include <gtest/gtest.h>

#include <string>

#include "support/run_command.h"
#include "support/tiny_models.h"

namespace hearth {
namespace {

using namespace hearth::testing;

const std::string kData = HEARTH_TEST_DATA;

TEST(SynthCli, WritesTheBuiltInTokenizerFromAnyDirectory) {
  TempDir d;
  auto r = run_command("cd " + d.str() + " && " +
                       hearth_cmd("synth --shape llama-3.2-1b --layers 1 --type q4_0 -q m.gguf"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string text = "'Hello, llamas! <|eot_id|>' --special";
  auto ours = run_command(hearth_cmd("tokenize " + d.file("m.gguf") + " " + text));
  auto ref = run_command(hearth_cmd("tokenize " + kData + "/llama31/tokenizer.json " + text));
  ASSERT_EQ(ours.exit_code, 0) << ours.err;
  ASSERT_EQ(ref.exit_code, 0) << ref.err;
  EXPECT_EQ(ours.out, ref.out);
  EXPECT_NE(ours.out.find("128009"), std::string::npos) << ours.out;
  // The binary names no file of the source tree it was built from.
  EXPECT_EQ(slurp(HEARTH_BIN).find(kData), std::string::npos);
}

}  // namespace
}  // namespace hearth
