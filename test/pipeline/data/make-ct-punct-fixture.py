#!/usr/bin/python3
"""Weight-free ONNX fixture shaped like sherpa-onnx's CT-Transformer punctuation model
(punct-ct-transformer-zh-en-2024-04-12): NOT a trained model.

    /usr/bin/python3 test/pipeline/data/make-ct-punct-fixture.py OUT_DIR     (needs Debian's python3-onnx)

Interface as sherpa-onnx's OfflineCtTransformerModel reads it:
  inputs   text (N, T) int32 token ids, text_lengths (N) int32
  outputs  logits (N, T, 6) float (last dimension static: num_punctuations)
  metadata tokens ("|"-joined vocabulary, lowercase English words and CJK characters), vocab_size,
           punctuations "<unk>|_|，|。|？|、" (sherpa looks up 。，？、_ by name), unk_symbol
The graph is one Gather: each token id picks a row of a constant one-hot table (a lexicon), so the
test can predict the output: "hello" → "，", "you"/"name" → "？", "fine" → "。", "好" → "，", "吗" → "？".
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
tokens = ['<unk>', 'hello', 'how', 'are', 'you', 'i', 'am', 'fine', 'what', 'is', 'your', 'name', '你', '好', '吗']
puncts = ['<unk>', '_', '，', '。', '？', '、']
table = np.zeros((len(tokens), len(puncts)), np.float32)
table[:, 1] = 1
for t, p in {'hello': '，', 'you': '？', 'name': '？', 'fine': '。', '好': '，', '吗': '？'}.items():
    table[tokens.index(t)] = np.eye(len(puncts))[puncts.index(p)]
nodes = [
    helper.make_node('Constant', [], ['table'], value=numpy_helper.from_array(table, 'table_v')),
    helper.make_node('Gather', ['table', 'text'], ['logits'], axis=0),
    helper.make_node('Identity', ['text_lengths'], ['unused_lengths']),
]
graph = helper.make_graph(
    nodes, 'ct_transformer_punct_fixture',
    [helper.make_tensor_value_info('text', TensorProto.INT32, ['N', 'T']),
     helper.make_tensor_value_info('text_lengths', TensorProto.INT32, ['N'])],
    [helper.make_tensor_value_info('logits', TensorProto.FLOAT, ['N', 'T', len(puncts)])])
m = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 13)], producer_name='cochlea-fixture')
m.ir_version = 7
for k, v in {'tokens': '|'.join(tokens), 'vocab_size': len(tokens), 'punctuations': '|'.join(puncts), 'unk_symbol': '<unk>',
             'comment': 'SYNTHETIC weight-free fixture (cochlea test/pipeline/data/make-ct-punct-fixture.py); NOT a trained model'}.items():
    p = m.metadata_props.add()
    p.key = k
    p.value = str(v)
onnx.checker.check_model(m)
onnx.save(m, os.path.join(out, 'model.onnx'))
print(out)
