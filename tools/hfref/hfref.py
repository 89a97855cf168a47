#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Known answer for the engine's forward pass from Hugging Face transformers.

Loads the same GGUF file twice over: with transformers
(AutoModelForCausalLM.from_pretrained(dir, gguf_file=...), which
dequantizes the GGUF tensors to fp32 and undoes llama.cpp's Q/K
permutation with its own code) and with the engine
(bench/engine/engine_logits, a program over the engine's forward pass on
a host pool). For a fixed set of prompts, chat-rendered with the model's
template and plain, both run the same input ids (HF's tokenizer makes
them; the engine reads them from a file) and decode 32 tokens greedily,
each the argmax of the logits before it, EOS or not. The script then
compares, per prompt:

  ids       whether the engine's own chat renderer and tokenizer give the
            same ids as HF's apply_chat_template and tokenizer
  greedy    whether the 32 greedy tokens are identical; if not, the first
            step that differs and HF's logit gap there between its own
            pick and the engine's (a near tie, or not)
  max|dl|   the largest absolute logit difference over the steps whose
            context is identical on both sides (all 32 steps when the
            tokens agree, steps up to the first divergence otherwise),
            and the largest |logit| for scale

and writes a Markdown table (with the command, date, machine, versions).
Both sides compute in fp32 on the CPU; HF runs with eager attention.

Rerun (any Python 3.10+, about 5 GB for torch's wheels):
  python3 -m venv /tmp/hfref-venv
  /tmp/hfref-venv/bin/pip install torch transformers gguf accelerate numpy
  scripts/fetch-model.sh
  meson setup build-e4 -Dcuda=disabled && ninja -C build-e4 bench/engine/engine_logits
  /tmp/hfref-venv/bin/python tools/hfref/hfref.py \\
      --model models/SmolLM2-135M-Instruct.Q4_1.gguf \\
      --engine build-e4/bench/engine/engine_logits \\
      --work /tmp/hfref --out bench/results/engine_hf_reference.md
The work folder keeps the inputs and raw outputs of both sides
(prompts.jsonl, hf.jsonl, hf_logits.f32, engine.jsonl, engine_logits.f32).
"""

import argparse
import datetime
import importlib.metadata as metadata
import json
import os
import platform
import shlex
import subprocess
import sys

import numpy as np

N_GEN = 32

# name, chat messages or plain text. Plain prompts get no BOS (SmolLM2's
# tokenizer adds none); chat prompts are rendered with the model's
# template, default system prompt included, and a generation prompt.
PROMPTS = [
    ("chat_capital", [{"role": "user",
                       "content": "What is the capital of France?"}]),
    ("chat_haiku", [{"role": "user",
                     "content": "Write a haiku about the sea."}]),
    ("chat_kvcache", [{"role": "user",
                       "content": "Explain in two sentences what a KV cache "
                                  "is in LLM inference."}]),
    ("chat_system", [{"role": "system",
                      "content": "You are a terse assistant. Answer in a "
                                 "list."},
                     {"role": "user",
                      "content": "Name three primary colors and 2 + 40."}]),
    # A long context: RoPE far from position 0, attention over 20 blocks.
    ("chat_long", [{"role": "user", "content": (
        "Read this note and then summarise it in one sentence.\n\n"
        "The harbour town kept its old lighthouse long after ships "
        "stopped needing it. Every evening at six the keeper, a retired "
        "schoolteacher called Marta, climbed the ninety-one steps, wound "
        "the clockwork that turned the lens, and wrote the weather in a "
        "ledger that went back to 1874. Visitors asked why she bothered, "
        "since the ships all carried satellite receivers now and the "
        "light was marked on no modern chart. She told them that the "
        "fishermen's children still looked for it from the beach, that "
        "the ledger was the longest unbroken weather record on the coast, "
        "and that a town which stops doing small things for no reward "
        "soon stops doing large ones. In the winter of the great storm "
        "the satellite link failed for two days, the harbour radio was "
        "flooded, and a trawler with six people aboard found its way "
        "home by the beam of the lamp she had lit as on any other night. "
        "The council, which had twice voted to sell the tower, voted the "
        "next spring to pay for new windows, a new door and an "
        "apprentice keeper, who began by learning to wind the clock.")}]),
    ("plain_fox", "The quick brown fox"),
    ("plain_code", "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci "
                   "number.\"\"\"\n"),
    ("plain_history", "In 1969, Neil Armstrong became the first person to"),
]


def hf_load(model_path, attn):
    """The HF model and tokenizer of @model_path, fp32, eval mode."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    d, f = os.path.split(os.path.abspath(model_path))
    tok = AutoTokenizer.from_pretrained(d, gguf_file=f)
    model = AutoModelForCausalLM.from_pretrained(
        d, gguf_file=f, dtype=torch.float32, attn_implementation=attn)
    model.eval()
    return model, tok


def hf_ids(tok, prompt):
    """Input ids of one prompt (chat messages or plain text), as HF has it."""
    if isinstance(prompt, list):
        text = tok.apply_chat_template(prompt, add_generation_prompt=True,
                                       tokenize=False)
    else:
        text = prompt
    return text, tok(text, add_special_tokens=False)["input_ids"]


def hf_greedy(model, ids, n_gen):
    """n_gen greedy tokens after @ids and the logits before each, fp32."""
    import torch

    toks, logits = [], np.empty((n_gen, model.config.vocab_size),
                                dtype=np.float32)
    with torch.no_grad():
        out = model(torch.tensor([ids]), use_cache=True)
        for i in range(n_gen):
            lg = out.logits[0, -1].float()
            logits[i] = lg.numpy()
            t = int(torch.argmax(lg))
            toks.append(t)
            if i + 1 < n_gen:
                out = model(torch.tensor([[t]]),
                            past_key_values=out.past_key_values,
                            use_cache=True)
    return toks, logits


def machine():
    name = "?"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True,
                             check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                name = line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return f"{name}, {os.cpu_count()} CPUs, {platform.system()} " \
           f"{platform.release()}"


def compare(prompts, hf, eng, hf_logits, eng_logits):
    """One result row per prompt."""
    rows = []
    for p, h, e in zip(prompts, hf, eng):
        assert p["name"] == h["name"] == e["name"], (p, h, e)
        ht, et = h["tokens"], e["tokens"]
        diverge = next((i for i in range(len(ht)) if ht[i] != et[i]), None)
        last = len(ht) - 1 if diverge is None else diverge
        hl = hf_logits[h["logits_row"]:h["logits_row"] + len(ht)]
        el = eng_logits[e["logits_row"]:e["logits_row"] + len(et)]
        d = np.abs(hl[:last + 1].astype(np.float64) - el[:last + 1])
        row = {
            "name": p["name"],
            "prompt_len": len(p["ids"]),
            "ids": e["tok_check"],
            "same": diverge is None,
            "diverge": diverge,
            "max_abs": float(d.max()),
            "max_abs_step0": float(d[0].max()),
            "mean_abs": float(d.mean()),
            "scale": float(np.abs(hl[:last + 1]).max()),
            "hf_text": h["text"],
            "eng_text": e["text"],
        }
        if diverge is not None:
            lg = hl[diverge]
            row["gap"] = float(lg[ht[diverge]] - lg[et[diverge]])
            row["hf_tok"], row["eng_tok"] = ht[diverge], et[diverge]
        rows.append(row)
    return rows


def markdown(rows, args, versions, cmd, started):
    out = []
    w = out.append
    w("<!-- SPDX-License-Identifier: MIT -->")
    w("# The engine against Hugging Face transformers: known answer")
    w("")
    w("SmolLM2-135M-Instruct, the Q4_1 GGUF of `scripts/fetch-model.sh`, "
      "dequantized to fp32 by each side's own loader; "
      f"{N_GEN} greedy tokens per prompt, EOS or not; both sides on the "
      "CPU in fp32 on the same input ids (HF's tokenizer makes them). "
      "Generated by `tools/hfref/hfref.py` (its header says how to "
      "rerun).")
    w("")
    w(f"- command: `{cmd}`")
    w(f"- date: {started}")
    w(f"- machine: {machine()}")
    w("- versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    w(f"- engine built from: {args.engine_tree}")
    w("- engine: `bench/engine/engine_logits`, fp32 weights and host pool, "
      "OpenBLAS sgemm, MSA CPU kernels, block size 16, one prefill pass "
      "then one decode pass per token")
    w("- HF: `AutoModelForCausalLM.from_pretrained(dir, gguf_file=...)`, "
      "fp32, `attn_implementation=\"eager\"`, a prefill then one forward "
      "per token with its KV cache")
    w("")
    w("| prompt | prompt ids | engine tokenizer ids | greedy tokens identical "
      "| first divergence | max abs logit diff | at prefill | mean abs diff "
      "| max abs logit |")
    w("| --- | ---: | --- | --- | --- | ---: | ---: | ---: | ---: |")
    for r in rows:
        div = "-" if r["same"] else \
            (f"step {r['diverge']}: HF {r['hf_tok']}, engine {r['eng_tok']} "
             f"(HF gap {r['gap']:.3g})")
        w(f"| {r['name']} | {r['prompt_len']} | {r['ids']} | "
          f"{'yes' if r['same'] else 'no'} | {div} | {r['max_abs']:.3g} | "
          f"{r['max_abs_step0']:.3g} | {r['mean_abs']:.2g} | "
          f"{r['scale']:.3g} |")
    w("")
    w("Max and mean abs logit diff cover every step whose context is "
      "identical on both sides (all steps when the tokens agree). "
      "\"engine tokenizer ids\": whether the engine's own ChatML renderer "
      "and BPE tokenizer give HF's ids for the prompt.")
    w("")
    same = sum(r["same"] for r in rows)
    worst = max(rows, key=lambda r: r["max_abs"] / r["scale"])
    w(f"Summary: greedy tokens identical on {same} of {len(rows)} prompts; "
      f"engine tokenizer ids equal HF's on "
      f"{sum(r['ids'] == 'same' for r in rows)} of {len(rows)}; the largest "
      f"logit difference relative to the largest logit is "
      f"{worst['max_abs'] / worst['scale']:.2g} ({worst['name']}).")
    w("")
    w("## Continuations (HF)")
    w("")
    for r in rows:
        w(f"- {r['name']}: {json.dumps(r['hf_text'], ensure_ascii=False)}")
        if not r["same"]:
            w(f"  - engine: "
              f"{json.dumps(r['eng_text'], ensure_ascii=False)}")
    w("")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="the .gguf file")
    ap.add_argument("--engine", required=True,
                    help="bench/engine/engine_logits in a build folder")
    ap.add_argument("--work", required=True,
                    help="folder for the inputs and raw outputs")
    ap.add_argument("--out", required=True, help="the Markdown table")
    ap.add_argument("--engine-tree", default="the working tree",
                    help="what the engine was built from, for the record")
    args = ap.parse_args()
    started = datetime.datetime.now(datetime.timezone.utc).strftime(
        "%Y-%m-%d %H:%M UTC")
    cmd = " ".join(shlex.quote(a) for a in ["tools/hfref/hfref.py"] +
                   sys.argv[1:])

    import torch
    import transformers

    torch.set_num_threads(os.cpu_count() or 1)
    versions = {"transformers": transformers.__version__,
                "torch": torch.__version__,
                "gguf": metadata.version("gguf"),
                "numpy": np.__version__,
                "python": platform.python_version()}
    os.makedirs(args.work, exist_ok=True)
    model, tok = hf_load(args.model, "eager")

    prompts, hf, row = [], [], 0
    hf_logits_path = os.path.join(args.work, "hf_logits.f32")
    with open(hf_logits_path, "wb") as lf:
        for name, prompt in PROMPTS:
            text, ids = hf_ids(tok, prompt)
            rec = {"name": name, "ids": ids, "n_gen": N_GEN}
            if isinstance(prompt, list):
                rec["messages"] = prompt
            else:
                rec["text"] = text
            prompts.append(rec)
            toks, logits = hf_greedy(model, ids, N_GEN)
            logits.tofile(lf)
            hf.append({"name": name, "tokens": toks, "logits_row": row,
                       "text": tok.decode(toks)})
            row += N_GEN
            print(f"hfref: {name}: {len(ids)} ids, HF done", file=sys.stderr)
    prompts_path = os.path.join(args.work, "prompts.jsonl")
    with open(prompts_path, "w") as f:
        for p in prompts:
            f.write(json.dumps(p) + "\n")
    with open(os.path.join(args.work, "hf.jsonl"), "w") as f:
        for h in hf:
            f.write(json.dumps(h) + "\n")

    eng_jsonl = os.path.join(args.work, "engine.jsonl")
    eng_logits_path = os.path.join(args.work, "engine_logits.f32")
    subprocess.run([args.engine, "-m", args.model, "-i", prompts_path,
                    "-o", eng_jsonl, "-l", eng_logits_path], check=True)
    with open(eng_jsonl) as f:
        eng = [json.loads(line) for line in f]
    vocab = model.config.vocab_size
    hf_logits = np.fromfile(hf_logits_path, dtype=np.float32)
    eng_logits = np.fromfile(eng_logits_path, dtype=np.float32)
    if hf_logits.size != eng_logits.size or hf_logits.size % vocab:
        sys.exit(f"hfref: {eng_logits_path} has {eng_logits.size} logits, "
                 f"{hf_logits_path} {hf_logits.size} (vocab {vocab})")
    rows = compare(prompts, hf, eng, hf_logits.reshape(-1, vocab),
                   eng_logits.reshape(-1, vocab))
    md = markdown(rows, args, versions, cmd, started)
    with open(args.out, "w") as f:
        f.write(md)
    print(md)
    return 0 if all(r["same"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
