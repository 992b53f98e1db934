"""ONNX external data shared by every graph of a bundle: one weights file, each tensor stored once (deduplicated
by content), so e.g. the transformer and transformerStep graphs point at the same bytes."""
import hashlib
import os
from typing import Dict, Tuple

import numpy as np
import onnx
from onnx import numpy_helper

ALIGN = 64


class WeightStore:
    """Appends tensors to `<dir>/<filename>` and rewrites initializers to point at them."""

    def __init__(self, directory: str, filename: str = 'weights.bin', min_bytes: int = 1024, fp16: bool = False):
        self.path, self.filename, self.min_bytes = os.path.join(directory, filename), filename, min_bytes
        self.fp16 = fp16
        self.index: Dict[Tuple[int, str], Tuple[int, int]] = {}
        self.size = 0
        self.referenced = 0   # bytes the graphs reference (counting shared tensors once per use)
        open(self.path, 'wb').close()

    def _put(self, data_type: int, raw: bytes) -> Tuple[int, int]:
        key = (data_type, hashlib.sha256(raw).hexdigest())
        if key not in self.index:
            offset = (self.size + ALIGN - 1) // ALIGN * ALIGN
            with open(self.path, 'ab') as f:
                f.write(b'\0' * (offset - self.size))
                f.write(raw)
            self.size = offset + len(raw)
            self.index[key] = (offset, len(raw))
        self.referenced += len(raw)
        return self.index[key]

    @staticmethod
    def constants_to_initializers(model: onnx.ModelProto, min_bytes: int) -> None:
        """Large Constant nodes become initializers so they can be shared and stored outside the protobuf."""
        graph = model.graph
        keep = []
        for node in graph.node:
            value = [a for a in node.attribute if a.name == 'value'] if node.op_type == 'Constant' else []
            if value and value[0].t.ByteSize() >= min_bytes:
                t = onnx.TensorProto()
                t.CopyFrom(value[0].t)
                t.name = node.output[0]
                graph.initializer.append(t)
            else:
                keep.append(node)
        if len(keep) != len(graph.node):
            del graph.node[:]
            graph.node.extend(keep)

    @staticmethod
    def store_as_float16(model: onnx.ModelProto, min_bytes: int) -> None:
        """float32 initializers whose values float16 holds exactly become float16 + a Cast back to float32.

        Only exact ones: the exporter rounds the weights to float16 before tracing, so weights (and their
        transposes) convert losslessly while folded sums or interpolation matrices stay float32."""
        casts = []
        for t in model.graph.initializer:
            if t.data_type != onnx.TensorProto.FLOAT:
                continue
            arr = numpy_helper.to_array(t)
            if arr.nbytes < min_bytes:
                continue
            half = arr.astype(np.float16)
            if not np.array_equal(half.astype(np.float32), arr):
                continue
            name = t.name
            t.CopyFrom(numpy_helper.from_array(half, name + '.fp16'))
            casts.append(onnx.helper.make_node('Cast', [name + '.fp16'], [name], to=onnx.TensorProto.FLOAT,
                                               name=f'CastToFloat/{name}'))
        nodes = casts + list(model.graph.node)
        del model.graph.node[:]
        model.graph.node.extend(nodes)

    def externalize(self, model: onnx.ModelProto) -> None:
        """Move every initializer of at least min_bytes into the shared file (in place)."""
        self.constants_to_initializers(model, self.min_bytes)
        if self.fp16:
            self.store_as_float16(model, self.min_bytes)
        for t in model.graph.initializer:
            arr = numpy_helper.to_array(t)
            raw = np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder('<'), copy=False).tobytes()
            if len(raw) < self.min_bytes:
                continue
            offset, length = self._put(t.data_type, raw)
            for field in ('raw_data', 'float_data', 'int32_data', 'int64_data', 'double_data', 'uint64_data', 'string_data'):
                t.ClearField(field)
            t.data_location = onnx.TensorProto.EXTERNAL
            del t.external_data[:]
            for k, v in (('location', self.filename), ('offset', str(offset)), ('length', str(length))):
                entry = t.external_data.add()
                entry.key, entry.value = k, v
