#!/usr/bin/python3
"""Weight-free ONNX fixture shaped like sherpa-onnx's online CNN-BiLSTM punctuation model
(online-punct-en-2024-08-06): NOT a trained model.

    /usr/bin/python3 test/pipeline/data/make-punct-fixture.py OUT_DIR     (needs Debian's python3-onnx)

Writes OUT_DIR/model.onnx and OUT_DIR/bpe.vocab with the real model's interface, as sherpa-onnx's
OnlineCNNBiLSTMModel reads it:
  inputs   token_ids (N, 200) int32, valid_ids (N, 200) int32, label_lens (N) int32
           (sherpa-onnx wraps each sentence as <s>=1 ... </s>=2, pads to 200 with 0, and marks the
           first BPE piece of every word valid)
  outputs  case_logits (T', 4) float, punct_logits (T', 4) float, one row per word (T' = number of
           words over the batch); the second dimension must be static: sherpa reads num_cases and
           num_punctuations from it
  metadata COMMA=1 PERIOD=2 QUESTION=3, UPPER=1 CAP=2 MIX_CASE=3 (sherpa asserts these ids)
The graph selects the valid, non-<s>/</s> positions (NonZero + Gather) and looks the word's first
piece up in two constant one-hot tables: a lexicon, so the test can predict the output exactly:
  "hello" → Hello,   "you", "name" → ?   "fine" → .   "i" → I   "john", "what" → capitalized.
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
W = '\u2581'
words = ['hello', 'how', 'are', 'you', 'i', 'am', 'fine', 'john', 'what', 'is', 'your', 'name']
chars = list("abcdefghijklmnopqrstuvwxyz'")
vocab = [('<unk>', 0.0), ('<s>', 0.0), ('</s>', 0.0)] + [(W + w, 0.0) for w in words] + [(W, -10.0)] + [(c, -10.0) for c in chars]
with open(os.path.join(out, 'bpe.vocab'), 'w', encoding='utf-8') as f:
    for piece, score in vocab:
        f.write(f'{piece} {score}\n')
V = len(vocab)
ids = {p: i for i, (p, _) in enumerate(vocab)}
case = np.zeros((V, 4), np.float32)
punct = np.zeros((V, 4), np.float32)
case[:, 0] = 1
punct[:, 0] = 1
for w, c in {'i': 1, 'hello': 2, 'john': 2, 'what': 2}.items():
    case[ids[W + w]] = np.eye(4)[c]
for w, p in {'hello': 1, 'fine': 2, 'you': 3, 'name': 3}.items():
    punct[ids[W + w]] = np.eye(4)[p]


def const(name, arr):
    return helper.make_node('Constant', [], [name], value=numpy_helper.from_array(np.asarray(arr), name + '_v'))


nodes = [
    const('minus1', np.array([-1], np.int64)),
    const('one', np.array(1, np.int32)),
    const('two', np.array(2, np.int32)),
    const('ax0', np.array([0], np.int64)),
    const('case_table', case),
    const('punct_table', punct),
    helper.make_node('Reshape', ['token_ids', 'minus1'], ['flat_t']),
    helper.make_node('Reshape', ['valid_ids', 'minus1'], ['flat_v']),
    helper.make_node('Equal', ['flat_v', 'one'], ['is_valid']),
    helper.make_node('Equal', ['flat_t', 'one'], ['is_bos']),
    helper.make_node('Equal', ['flat_t', 'two'], ['is_eos']),
    helper.make_node('Or', ['is_bos', 'is_eos'], ['is_marker']),
    helper.make_node('Not', ['is_marker'], ['not_marker']),
    helper.make_node('And', ['is_valid', 'not_marker'], ['mask']),
    helper.make_node('NonZero', ['mask'], ['nz']),
    helper.make_node('Squeeze', ['nz', 'ax0'], ['pos']),
    helper.make_node('Gather', ['flat_t', 'pos'], ['word_tok'], axis=0),
    helper.make_node('Gather', ['case_table', 'word_tok'], ['case_logits'], axis=0),
    helper.make_node('Gather', ['punct_table', 'word_tok'], ['punct_logits'], axis=0),
    # label_lens is part of the interface; the lookup does not need it
    helper.make_node('Identity', ['label_lens'], ['unused_label_lens']),
]
graph = helper.make_graph(
    nodes, 'cnn_bilstm_punct_fixture',
    [helper.make_tensor_value_info('token_ids', TensorProto.INT32, ['N', 200]),
     helper.make_tensor_value_info('valid_ids', TensorProto.INT32, ['N', 200]),
     helper.make_tensor_value_info('label_lens', TensorProto.INT32, ['N'])],
    [helper.make_tensor_value_info('case_logits', TensorProto.FLOAT, ['T', 4]),
     helper.make_tensor_value_info('punct_logits', TensorProto.FLOAT, ['T', 4])])
m = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 13)], producer_name='cochlea-fixture')
m.ir_version = 7
for k, v in {'COMMA': 1, 'PERIOD': 2, 'QUESTION': 3, 'UPPER': 1, 'CAP': 2, 'MIX_CASE': 3,
             'comment': 'SYNTHETIC weight-free fixture (cochlea test/pipeline/data/make-punct-fixture.py); NOT a trained model'}.items():
    p = m.metadata_props.add()
    p.key = k
    p.value = str(v)
onnx.checker.check_model(m)
onnx.save(m, os.path.join(out, 'model.onnx'))
print(out)
