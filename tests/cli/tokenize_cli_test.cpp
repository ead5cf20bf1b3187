// `hearth tokenize` and `hearth detokenize` as a user runs them.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace {

namespace fs = std::filesystem;

struct Result {
  int code = -1;
  std::string out, err;
};

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class TokenizeCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("hearth_tokcli_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  Result run(const std::string& args) {
    fs::path err = dir_ / "stderr.txt";
    std::string cmd = std::string(HEARTH_BIN) + " " + args + " 2>" + quote(err.string());
    Result r;
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) return r;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
    int status = pclose(p);
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.err = slurp(err);
    return r;
  }

  std::string data(const std::string& rel) {
    return quote(std::string(HEARTH_TEST_DATA) + "/" + rel);
  }

  fs::path dir_;
};

TEST_F(TokenizeCli, TokenizeTextWithAndWithoutBos) {
  // Ids from llama.cpp's test vectors ("Hello world" -> 9906 1917).
  Result r = run("tokenize " + data("devB") + " 'Hello world'");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "[128000,9906,1917]\n");
  r = run("tokenize " + data("devB/devB-bf16.gguf") + " --no-bos 'Hello world'");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "[9906,1917]\n");
}

TEST_F(TokenizeCli, SpecialTokensOnlyWithFlag) {
  Result r = run("tokenize " + data("devB") + " --no-bos --special 'Hi<|eot_id|>'");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "[13347,128009]\n");
  r = run("tokenize " + data("devB") + " --no-bos 'Hi<|eot_id|>'");
  EXPECT_EQ(r.code, 0) << r.err;
  auto ids = nlohmann::json::parse(r.out).get<std::vector<int>>();
  EXPECT_GT(ids.size(), 2u);
  for (int id : ids) EXPECT_LT(id, 128000);
}

TEST_F(TokenizeCli, TokenizeFileMatchesReference) {
  auto ref = nlohmann::json::parse(slurp(std::string(HEARTH_TEST_DATA) + "/devB/reference.json"));
  fs::path f = dir_ / "prompt.txt";
  std::ofstream(f, std::ios::binary) << ref["chat_prompt"].get<std::string>();
  Result r = run("tokenize " + data("devB") + " --no-bos --special --file " + quote(f.string()));
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out), ref["chat_ids"]);
}

TEST_F(TokenizeCli, Detokenize) {
  Result r = run("detokenize " + data("devB") + " --tokens 128000,9906,1917");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "<|begin_of_text|>Hello world\n");
  r = run("detokenize " + data("devB/devB-bf16.gguf") +
          " --skip-special -n --tokens '[128000, 9906, 1917, 128009]'");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "Hello world");
}

TEST_F(TokenizeCli, ErrorsAreOneLineWithExitCodes) {
  std::string missing = (dir_ / "no-such-model").string();
  Result r = run("tokenize " + quote(missing) + " hello");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(r.out.empty());
  EXPECT_NE(r.err.find(missing), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;

  r = run("detokenize " + data("devB") + " --tokens 128256");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("128256"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;

  r = run("tokenize " + data("devB"));  // neither TEXT nor --file
  EXPECT_EQ(r.code, 2);
}

}  // namespace
