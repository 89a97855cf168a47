#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the binary seeds of the model-file harnesses into fuzz/corpus:
a one-layer Llama (hidden 16, ffn 32, 2 heads, 1 KV head, vocab 16, tied
embeddings) as GGUF v3 (F32, F16, Q8_0 and Q4_0 tensors) and as
safetensors (F16, BF16, F32), plus a GGUF with metadata only. The shape is
the config.json fuzz_safetensors.c writes; the formats are written from
their published descriptions. Deterministic: running it again gives the
same bytes.

    python3 fuzz/seeds.py
"""
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
L, H, F, NH, NKV, V, CTX = 1, 16, 32, 2, 1, 16, 64
HD = H // NH

# (HF name, GGUF name, shape in row-major [rows, cols])
TENSORS = [("model.embed_tokens.weight", "token_embd.weight", [V, H])]
for i in range(L):
    p, g = f"model.layers.{i}.", f"blk.{i}."
    TENSORS += [
        (p + "input_layernorm.weight", g + "attn_norm.weight", [H]),
        (p + "self_attn.q_proj.weight", g + "attn_q.weight", [NH * HD, H]),
        (p + "self_attn.k_proj.weight", g + "attn_k.weight", [NKV * HD, H]),
        (p + "self_attn.v_proj.weight", g + "attn_v.weight", [NKV * HD, H]),
        (p + "self_attn.o_proj.weight", g + "attn_output.weight", [H, NH * HD]),
        (p + "post_attention_layernorm.weight", g + "ffn_norm.weight", [H]),
        (p + "mlp.gate_proj.weight", g + "ffn_gate.weight", [F, H]),
        (p + "mlp.up_proj.weight", g + "ffn_up.weight", [F, H]),
        (p + "mlp.down_proj.weight", g + "ffn_down.weight", [H, F]),
    ]
TENSORS.append(("model.norm.weight", "output_norm.weight", [H]))


def count(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def values(n, seed):
    x = seed * 2654435761 % 2**32
    out = []
    for _ in range(n):
        x = (1103515245 * x + 12345) % 2**31
        out.append((x / 2**31 - 0.5) * 0.25)
    return out


def f16(v):
    return struct.pack("<e", v)


def bf16(v):
    return struct.pack("<f", v)[2:]


# ---- GGUF v3 ----------------------------------------------------------
GGUF_U32, GGUF_F32, GGUF_STR, GGUF_ARR = 4, 6, 8, 9
GGML = {"F32": 0, "F16": 1, "Q4_0": 2, "Q8_0": 8}


def gstr(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def kv(key, typ, payload):
    return gstr(key) + struct.pack("<I", typ) + payload


def llama_kv():
    out = [
        kv("general.architecture", GGUF_STR, gstr("llama")),
        kv("llama.block_count", GGUF_U32, struct.pack("<I", L)),
        kv("llama.embedding_length", GGUF_U32, struct.pack("<I", H)),
        kv("llama.feed_forward_length", GGUF_U32, struct.pack("<I", F)),
        kv("llama.attention.head_count", GGUF_U32, struct.pack("<I", NH)),
        kv("llama.attention.head_count_kv", GGUF_U32, struct.pack("<I", NKV)),
        kv("llama.context_length", GGUF_U32, struct.pack("<I", CTX)),
        kv("llama.attention.layer_norm_rms_epsilon", GGUF_F32, struct.pack("<f", 1e-5)),
        kv("llama.rope.freq_base", GGUF_F32, struct.pack("<f", 10000.0)),
    ]
    toks = [f"t{i}" for i in range(V)]
    arr = struct.pack("<IQ", GGUF_STR, len(toks)) + b"".join(gstr(t) for t in toks)
    out.append(kv("tokenizer.ggml.tokens", GGUF_ARR, arr))
    return out


def q8_0(vals):
    out = b""
    for i in range(0, len(vals), 32):
        blk = vals[i:i + 32]
        d = max(abs(v) for v in blk) / 127 or 1.0
        out += f16(d) + bytes((round(v / d) & 0xff) for v in blk)
    return out


def q4_0(vals):
    out = b""
    for i in range(0, len(vals), 32):
        blk = vals[i:i + 32]
        d = max(abs(v) for v in blk) / 8 or 1.0
        q = [min(15, max(0, round(v / d) + 8)) for v in blk]
        out += f16(d) + bytes(q[j] | q[j + 16] << 4 for j in range(16))
    return out


def encode(typ, vals):
    if typ == "F32":
        return b"".join(struct.pack("<f", v) for v in vals)
    if typ == "F16":
        return b"".join(f16(v) for v in vals)
    if typ == "Q8_0":
        return q8_0(vals)
    return q4_0(vals)


def gguf(typ, with_tensors=True, align=32):
    kvs = llama_kv()
    infos, blobs, off = [], [], 0
    if with_tensors:
        for k, (_, name, shape) in enumerate(TENSORS):
            # 1-D norms stay F32, as llama.cpp writes them; a row that
            # is not whole blocks of a quantized type is F16.
            t = typ if len(shape) == 2 else "F32"
            if t.startswith("Q") and shape[-1] % 32:
                t = "F16"
            data = encode(t, values(count(shape), k + 1))
            ne = list(reversed(shape))
            infos.append(gstr(name) + struct.pack("<I", len(ne)) +
                         b"".join(struct.pack("<Q", d) for d in ne) +
                         struct.pack("<IQ", GGML[t], off))
            pad = (-len(data)) % align
            blobs.append(data + b"\0" * pad)
            off += len(data) + pad
    head = b"GGUF" + struct.pack("<IQQ", 3, len(infos), len(kvs))
    head += b"".join(kvs) + b"".join(infos)
    head += b"\0" * ((-len(head)) % align)
    return head + b"".join(blobs)


# ---- safetensors --------------------------------------------------------
def safetensors(typ):
    header, blobs, off = {}, [], 0
    size = {"F32": 4, "F16": 2, "BF16": 2}[typ]
    for k, (name, _, shape) in enumerate(TENSORS):
        vals = values(count(shape), k + 1)
        if typ == "F32":
            data = b"".join(struct.pack("<f", v) for v in vals)
        elif typ == "F16":
            data = b"".join(f16(v) for v in vals)
        else:
            data = b"".join(bf16(v) for v in vals)
        assert len(data) == count(shape) * size
        header[name] = {"dtype": typ, "shape": shape,
                        "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((-len(h)) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def write(folder, name, data):
    d = os.path.join(HERE, "corpus", folder)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    for t in ("F32", "F16", "Q8_0", "Q4_0"):
        write("gguf", "llama1-" + t.lower() + ".gguf", gguf(t))
    write("gguf", "metadata-only.gguf", gguf("F32", with_tensors=False))
    for t in ("F16", "BF16", "F32"):
        write("safetensors", "llama1-" + t.lower() + ".safetensors", safetensors(t))


if __name__ == "__main__":
    main()
