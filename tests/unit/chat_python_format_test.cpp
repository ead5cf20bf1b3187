// Python's spellings in tests/data/chat/python_format.json were written by Python itself
// (scripts/render_chat_template.py): float repr, str repr/strip and json.dumps.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "chat/python_format.h"

namespace hearth::pyfmt {
namespace {

using ojson = nlohmann::ordered_json;

const ojson& cases() {
  static const ojson data = [] {
    std::ifstream in(std::string(HEARTH_TEST_DATA) + "/chat/python_format.json", std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ojson::parse(ss.str());
  }();
  return data;
}

TEST(PythonFormat, FloatReprMatchesPython) {
  const ojson& floats = cases()["floats"];
  ASSERT_GE(floats.size(), 500u);
  for (const ojson& c : floats) {
    const std::string hex = c["hex"];
    double v = std::strtod(hex.c_str(), nullptr);
    EXPECT_EQ(float_repr(v), c["repr"].get<std::string>()) << hex;
    EXPECT_EQ(dumps(ojson(v)), c["dumps"].get<std::string>()) << hex;
  }
}

TEST(PythonFormat, FloatReprCornerCases) {
  EXPECT_EQ(float_repr(1e16), "1e+16");
  EXPECT_EQ(float_repr(1e15), "1000000000000000.0");
  EXPECT_EQ(float_repr(0.0001), "0.0001");
  EXPECT_EQ(float_repr(0.00001), "1e-05");
  EXPECT_EQ(float_repr(-0.0), "-0.0");
  EXPECT_EQ(float_repr(1.5e300), "1.5e+300");
  EXPECT_EQ(float_repr(123.0), "123.0");
}

TEST(PythonFormat, StringReprStripAndDumpsMatchPython) {
  const ojson& strings = cases()["strings"];
  ASSERT_GE(strings.size(), 80u);
  for (const ojson& c : strings) {
    const std::string s = c["s"];
    const std::string shown = ojson(s).dump(-1, ' ', true);
    EXPECT_EQ(repr(c["s"]), c["repr"].get<std::string>()) << shown;
    EXPECT_EQ(str(c["s"]), s);
    EXPECT_EQ(std::string(strip(s)), c["strip"].get<std::string>()) << shown;
    EXPECT_EQ(dumps(c["s"]), c["dumps"].get<std::string>()) << shown;
  }
}

TEST(PythonFormat, ValueReprAndDumpsMatchPython) {
  for (const ojson& c : cases()["values"]) {
    SCOPED_TRACE(c["v"].dump());
    EXPECT_EQ(repr(c["v"]), c["repr"].get<std::string>());
    EXPECT_EQ(dumps(c["v"]), c["dumps"].get<std::string>());
    EXPECT_EQ(dumps(c["v"], 2), c["dumps2"].get<std::string>());
  }
}

TEST(PythonFormat, DumpsKeepsKeyOrderAndEscapesOnlyWhatPythonEscapes) {
  ojson v = ojson::parse(R"({"z": "\u0000\u001f\u007f\u00e9\u2028\"\\/", "a": [], "m": {}})");
  EXPECT_EQ(dumps(v),
            "{\"z\": \"\\u0000\\u001f\x7f\xc3\xa9\xe2\x80\xa8\\\"\\\\/\", \"a\": [], \"m\": {}}");
}

TEST(PythonFormat, StripLeavesInvalidUtf8Alone) {
  EXPECT_EQ(std::string(strip(" \xff ")), "\xff");
  EXPECT_EQ(std::string(strip("\xe3\x80")), "\xe3\x80");  // a truncated U+3000 is not a space
  EXPECT_EQ(std::string(strip("\xe3\x80\x80x\xe3\x80\x80")), "x");
  EXPECT_EQ(std::string(strip("")), "");
}

}  // namespace
}  // namespace hearth::pyfmt
