#!/usr/bin/python3
"""One-off generator of tests/data/chat/expected.json from tests/data/chat/conversations.json.

Renders each conversation with the official Llama 3.1 chat template through Jinja2, set up the way
Hugging Face transformers sets it up for chat templates. The C++ tests compare against the output
and never run this script. Run from the repository root:
    /usr/bin/python3 scripts/render_chat_template.py
"""
import json
import math
import os
import random
import struct
import sys
import unicodedata

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEMPLATE = os.path.join(ROOT, "tests/data/llama31/chat_template.jinja")
CONVERSATIONS = os.path.join(ROOT, "tests/data/chat/conversations.json")
EXPECTED = os.path.join(ROOT, "tests/data/chat/expected.json")
PYTHON_FORMAT = os.path.join(ROOT, "tests/data/chat/python_format.json")


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(value, ensure_ascii=False, indent=None):
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent)


def make_template():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    with open(TEMPLATE, encoding="utf-8") as f:
        return env.from_string(f.read())


def render(template, conv):
    kwargs = {
        "messages": conv["messages"],
        "tools": conv.get("tools"),
        "add_generation_prompt": conv.get("add_generation_prompt", True),
        "bos_token": "<|begin_of_text|>",
    }
    # Only what a caller gives reaches the template, so its "is defined" defaults apply.
    for key in ("builtin_tools", "tools_in_user_message", "date_string"):
        if key in conv:
            kwargs[key] = conv[key]
    return template.render(**kwargs)


def python_format_cases():
    """Python's own spellings of floats (repr, carried as float.hex), strings (repr, strip) and
    values (json.dumps), for the C++ helpers that imitate them."""
    rng = random.Random(31)
    floats = [0.0, -0.0, 1.0, -1.5, 0.1, 0.2 + 0.1, 1 / 3, 2 / 3, 1e-4, 9.999e-5, 1e-5, 1e15,
              1e16, 9999999999999998.0, 1e16 + 2, 123456789012345678.0, 5e-324,
              2.2250738585072014e-308,
              1.7976931348623157e308, 2.0 ** 53, 2.0 ** 63, 2.0 ** 64, 100.0, 1234.5, 0.5e-3,
              float("inf"), float("-inf"), float("nan")]
    for _ in range(300):
        bits = rng.getrandbits(64)
        x = struct.unpack("<d", struct.pack("<Q", bits))[0]
        if math.isfinite(x):
            floats.append(x)
    for _ in range(200):  # numbers of everyday size, where the fixed/exponent switch happens
        floats.append(round(rng.uniform(-1, 1) * 10 ** rng.randint(-8, 18), rng.randint(0, 12)))
    float_cases = [{"hex": x.hex(), "repr": repr(x), "dumps": json.dumps(x)} for x in floats]

    # Boundaries of the ranges repr() escapes and strip() removes, and a few ordinary code points.
    points = {0x00, 0x07, 0x1F, 0x20, 0x7E, 0x7F, 0xA1, 0xE9, 0x378, 0x3000, 0xFFFD, 0x1F999}
    for lo, hi in [(0x80, 0xA0), (0xAD, 0xAD), (0x600, 0x605), (0x61C, 0x61C), (0x6DD, 0x6DD),
                   (0x70F, 0x70F), (0x890, 0x891), (0x8E2, 0x8E2), (0x1680, 0x1680),
                   (0x180E, 0x180E), (0x2000, 0x200F), (0x2028, 0x202F), (0x205F, 0x2064),
                   (0x2066, 0x206F), (0xE000, 0xF8FF), (0xFEFF, 0xFEFF), (0xFFF9, 0xFFFB),
                   (0x110BD, 0x110BD), (0x110CD, 0x110CD), (0x13430, 0x13438),
                   (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0001, 0xE0001),
                   (0xE0020, 0xE007F), (0xF0000, 0xFFFFD), (0x100000, 0x10FFFD),
                   (0x1C, 0x1F), (0x85, 0x85), (0x09, 0x0D), (0x2000, 0x200A)]:
        points.update({lo - 1, lo, hi, hi + 1})
    points = sorted(p for p in points if 0 <= p <= 0x10FFFF and not 0xD800 <= p <= 0xDFFF)
    # Unassigned code points are escaped by Python but not by the C++ table: leave them out.
    points = [p for p in points if unicodedata.category(chr(p)) != "Cn"]
    strings = [chr(p) for p in points]
    strings += ["", "plain", "it's", 'say "hi"', "both ' and \"", "back\\slash", "tab\tnl\ncr\r",
                "  \t padded \n ", "\u00a0\u3000 wide \u2003\x1c", "\u200b not space \ufeff",
                "caf\u00e9 \U0001f999 \u65e5\u672c"]
    string_cases = [{"s": s, "repr": repr(s), "strip": s.strip(),
                     "dumps": json.dumps(s, ensure_ascii=False)} for s in strings]
    values = [None, True, False, 0, -7, 2 ** 63 - 1, -(2 ** 63), 2 ** 64 - 1, 2.5, "s",
              [], {}, [1, [2, []], {}], {"b": 1, "a": [True, None, "x'y"], "c": {"d": {}}},
              [{"type": "text", "text": "hi"}]]
    value_cases = [{"v": v, "repr": repr(v), "dumps": json.dumps(v, ensure_ascii=False),
                    "dumps2": json.dumps(v, ensure_ascii=False, indent=2)} for v in values]
    return {"floats": float_cases, "strings": string_cases, "values": value_cases}


def main():
    template = make_template()
    with open(CONVERSATIONS, encoding="utf-8") as f:
        conversations = json.load(f)
    expected = {}
    for conv in conversations:
        name = conv["name"]
        if name in expected:
            sys.exit(f"duplicate conversation name {name}")
        try:
            expected[name] = {"error": False, "prompt": render(template, conv)}
        except Exception as e:  # the template raising is an expected outcome
            expected[name] = {"error": True, "message": f"{type(e).__name__}: {e}"}
    with open(EXPECTED, "w", encoding="utf-8") as f:
        json.dump(expected, f, ensure_ascii=False, indent=1)
        f.write("\n")
    with open(PYTHON_FORMAT, "w", encoding="utf-8") as f:
        groups = python_format_cases()
        f.write("{\n")
        for gi, (key, cases) in enumerate(groups.items()):
            lines = ",\n".join(" " + json.dumps(c, ensure_ascii=False) for c in cases)
            f.write(f' "{key}": [\n{lines}\n ]' + (",\n" if gi + 1 < len(groups) else "\n"))
        f.write("}\n")
    errors = sum(1 for v in expected.values() if v["error"])
    print(f"{len(expected)} conversations, {errors} raise; jinja2 {jinja2.__version__}")


if __name__ == "__main__":
    main()
