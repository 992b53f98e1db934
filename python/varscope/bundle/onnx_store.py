"""ONNX external data shared by every graph of a bundle: one weights file, each tensor stored once, so e.g. the
transformer and transformerStep graphs point at the same bytes. A checkpoint's tensor is stored once per view of it
(never merged with another by equal values, so that the layout does not depend on the weights: see weight_map.py);
constants of the architecture once per content."""
import hashlib
import json
import os
from typing import Dict, List, Optional, Tuple

import numpy as np
import onnx
from onnx import numpy_helper

from .weight_map import region

ALIGN = 64
DATA_FIELDS = ('raw_data', 'float_data', 'int32_data', 'int64_data', 'double_data', 'uint64_data', 'string_data')


def numpy_dtype(data_type: int) -> np.dtype:
    """The numpy dtype of an ONNX tensor type (onnx >= 1.13 has a helper; 1.12, Debian 12's, only the mapping table)."""
    fn = getattr(onnx.helper, 'tensor_dtype_to_np_dtype', None)
    return np.dtype(fn(data_type) if fn else onnx.mapping.TENSOR_TYPE_TO_NP_TYPE[data_type])


class WeightStore:
    """Appends tensors to `<dir>/<filename>` and rewrites initializers to point at them."""

    def __init__(self, directory: str, filename: str = 'weights.bin', min_bytes: int = 1024, fp16: bool = False):
        self.path, self.filename, self.min_bytes = os.path.join(directory, filename), filename, min_bytes
        self.fp16 = fp16
        self.index: Dict[tuple, Tuple[int, int]] = {}
        self.size = 0
        self.referenced = 0  # bytes the graphs reference (counting shared tensors once per use)
        self.regions: List[dict] = []  # weight_map.region of each stored tensor, in file order
        open(self.path, 'wb').close()

    def _put(self, dtype: np.dtype, shape: List[int], raw: bytes, source: Optional[dict]) -> Tuple[int, int]:
        """Store raw (values of dtype and shape) once per source (a view of a checkpoint tensor), or once per content
        for a constant of the architecture."""
        if source is None:
            key = ('constant', dtype.str, hashlib.sha256(raw).hexdigest())
        else:
            key = ('source', dtype.str, tuple(shape), json.dumps(source, sort_keys=True))
        if key not in self.index:
            offset = (self.size + ALIGN - 1) // ALIGN * ALIGN
            with open(self.path, 'ab') as f:
                f.write(b'\0' * (offset - self.size))
                f.write(raw)
            self.size = offset + len(raw)
            self.index[key] = (offset, len(raw))
            self.regions.append(region(offset, len(raw), dtype, shape, source))
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
    def as_float16(t: onnx.TensorProto, arr: np.ndarray, min_bytes: int) -> Tuple[np.ndarray, Optional[onnx.NodeProto]]:
        """A float32 initializer whose values float16 holds exactly becomes float16 (t renamed and retyped in place):
        returns its values to store and the Cast back to float32 that the graph then needs (None when unchanged).

        Only exact ones: the exporter rounds the weights to float16 before tracing, so weights (and their
        transposes) convert losslessly while folded sums or interpolation matrices stay float32."""
        if t.data_type != onnx.TensorProto.FLOAT or arr.nbytes < min_bytes:
            return arr, None
        half = arr.astype(np.float16)
        if not np.array_equal(half.astype(np.float32), arr):
            return arr, None
        name = t.name
        t.name, t.data_type = name + '.fp16', onnx.TensorProto.FLOAT16
        return half, onnx.helper.make_node(
            'Cast', [name + '.fp16'], [name], to=onnx.TensorProto.FLOAT, name=f'CastToFloat/{name}'
        )

    @staticmethod
    def values(
        t: onnx.TensorProto, base_dir: Optional[str], given: Optional[Dict[str, np.ndarray]] = None
    ) -> np.ndarray:
        """An initializer's values: from `given` (by name), else read from its file in base_dir when stored outside the
        graph, else from the graph itself.

        NOTE: read straight from the file, never through the TensorProto: protobuf keeps the buffer of a cleared
        string field, so loading raw_data and clearing it again would hold every weight twice (official d20: +3 GB)."""
        if given is not None and t.name in given:
            return given[t.name]
        if t.data_location != onnx.TensorProto.EXTERNAL:
            return numpy_helper.to_array(t)
        if base_dir is None:
            raise RuntimeError(f'initializer {t.name} is stored outside the graph and no folder was given')
        info = {e.key: e.value for e in t.external_data}
        dtype = numpy_dtype(t.data_type).newbyteorder('<')
        count = int(np.prod(t.dims, dtype=np.int64))
        arr = np.fromfile(
            os.path.join(base_dir, info['location']), dtype=dtype, count=count, offset=int(info.get('offset', 0))
        )
        if arr.size != count:
            raise RuntimeError(f'initializer {t.name}: {info["location"]} holds {arr.size} of its {count} values')
        return arr.reshape(tuple(t.dims))

    def externalize(
        self,
        model: onnx.ModelProto,
        base_dir: Optional[str] = None,
        given: Optional[Dict[str, np.ndarray]] = None,
        sources: Optional[Dict[str, dict]] = None,
    ) -> None:
        """Move every initializer of at least min_bytes, and every one that `sources` names, into the shared file
        (in place).

        base_dir: where the tensors that torch.onnx wrote outside the protobuf (a graph over 2 GB) lie; each is read
        when its turn comes, so the graph's weights are never all in memory twice. given: the values of initializers
        marked EXTERNAL that have no data anywhere yet, by name (arrays of any strides, e.g. views of the model's
        weights); each is copied when its turn comes. sources: the checkpoint tensor each weight copies (initializer
        name -> weight_map source entry): these are stored outside the graph whatever their size, so that the graph
        holds no weight of the checkpoint, and are recorded in `regions` with their source."""
        self.constants_to_initializers(model, self.min_bytes)
        casts = []
        for t in model.graph.initializer:
            name = t.name
            source = (sources or {}).get(name)
            arr = self.values(t, base_dir, given)
            changed = t.data_location == onnx.TensorProto.EXTERNAL
            if self.fp16:
                arr, cast = self.as_float16(t, arr, self.min_bytes)
                if cast is not None:
                    casts.append(cast)
                    changed = True
                elif source is not None and arr.dtype == np.float32 and arr.nbytes >= self.min_bytes:
                    # the layout must not depend on the values: the export rounds every parameter first
                    raise RuntimeError(f'initializer {name} ({source["key"]}) is not rounded to float16 values')
            raw = np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder('<'), copy=False).tobytes()
            dtype, shape = arr.dtype, list(arr.shape)
            del arr
            outside = len(raw) >= self.min_bytes or source is not None
            for field in DATA_FIELDS if changed or outside else ():
                t.ClearField(field)
            del t.external_data[:]
            t.data_location = onnx.TensorProto.DEFAULT
            if not outside:
                if changed:  # stays in the graph, as its new values
                    t.raw_data = raw
                continue
            if source is not None:
                rounded = source.get('rounded') and dtype == np.float32  # kept float32 (small), float16 values
                source = dict(
                    {k: v for k, v in source.items() if k != 'rounded'}, **({'via': 'float16'} if rounded else {})
                )
            offset, length = self._put(dtype, shape, raw, source)
            t.data_location = onnx.TensorProto.EXTERNAL
            del t.external_data[:]
            for k, v in (('location', self.filename), ('offset', str(offset)), ('length', str(length))):
                entry = t.external_data.add()
                entry.key, entry.value = k, v
        if casts:
            nodes = casts + list(model.graph.node)
            del model.graph.node[:]
            model.graph.node.extend(nodes)
