"""ONNX external data shared by every graph of a bundle: one weights file, each tensor stored once (deduplicated
by content), so e.g. the transformer and transformerStep graphs point at the same bytes."""
import hashlib
import os
from typing import Dict, Optional, Tuple

import numpy as np
import onnx
from onnx import external_data_helper, numpy_helper

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
    def as_float16(t: onnx.TensorProto, min_bytes: int) -> Optional[onnx.NodeProto]:
        """A float32 initializer whose values float16 holds exactly becomes float16 (in place); returns the Cast back
        to float32 that the graph then needs, else None.

        Only exact ones: the exporter rounds the weights to float16 before tracing, so weights (and their
        transposes) convert losslessly while folded sums or interpolation matrices stay float32."""
        if t.data_type != onnx.TensorProto.FLOAT:
            return None
        arr = numpy_helper.to_array(t)
        if arr.nbytes < min_bytes:
            return None
        half = arr.astype(np.float16)
        if not np.array_equal(half.astype(np.float32), arr):
            return None
        name = t.name
        t.CopyFrom(numpy_helper.from_array(half, name + '.fp16'))
        return onnx.helper.make_node('Cast', [name + '.fp16'], [name], to=onnx.TensorProto.FLOAT, name=f'CastToFloat/{name}')

    def externalize(self, model: onnx.ModelProto, base_dir: Optional[str] = None) -> None:
        """Move every initializer of at least min_bytes into the shared file (in place).

        base_dir: where the tensors that torch.onnx wrote outside the protobuf (a graph over 2 GB) lie; each is read
        when its turn comes, so the graph's weights are never all in memory twice."""
        self.constants_to_initializers(model, self.min_bytes)
        casts = []
        for t in model.graph.initializer:
            if t.data_location == onnx.TensorProto.EXTERNAL:
                if base_dir is None:
                    raise RuntimeError(f'initializer {t.name} is stored outside the graph and no folder was given')
                external_data_helper.load_external_data_for_tensor(t, base_dir)
                t.data_location = onnx.TensorProto.DEFAULT
                del t.external_data[:]
            cast = self.as_float16(t, self.min_bytes) if self.fp16 else None
            if cast is not None:
                casts.append(cast)
            arr = numpy_helper.to_array(t)
            raw = np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder('<'), copy=False).tobytes()
            del arr
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
        if casts:
            nodes = casts + list(model.graph.node)
            del model.graph.node[:]
            model.graph.node.extend(nodes)
