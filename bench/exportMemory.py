"""Peak memory of each stage of `varscope export`: runs the exporter in this process and reports, per stage, the
process's own peak resident memory (VmHWM, reset at every stage boundary through /proc/self/clear_refs, so a short
spike is not missed) and the sampled peak of its whole process tree (the onnxruntime-node verifier is a child).

    PYTHONPATH=python /usr/bin/python3 bench/exportMemory.py [--json FILE] -- --vae VAE.pth --var VAR.pth --out DIR ...

Stages: loading the checkpoints, each graph's torch.onnx.export / onnx.load / WeightStore.externalize / onnx.save,
the PyTorch reference outputs, the verifier, the file hashes. Linux only. Not a test: numbers for this machine.
"""
import argparse
import json
import os
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GB = 1e9


def status(pid='self') -> dict:
    """VmRSS and VmHWM (bytes) of a process."""
    out = {}
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            if line.startswith(('VmRSS:', 'VmHWM:')):
                out[line.split(':')[0]] = int(line.split()[1]) * 1024
    return out


def tree_rss(pid: int) -> int:
    """Summed VmRSS of a process and all its descendants."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            total += status(p).get('VmRSS', 0)
            with open(f'/proc/{p}/task/{p}/children') as f:
                todo += [int(c) for c in f.read().split()]
        except (OSError, ValueError):
            pass
    return total


class Stages:
    """Splits the run into segments named by the innermost running stage; each keeps its peaks."""

    def __init__(self):
        self.stack, self.rows, self.lock = ['other (imports, between stages)'], {}, threading.Lock()
        self.tree_peak, self.t0 = 0, time.time()
        self.done = False
        self._reset()

    def _reset(self):
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')  # VmHWM := VmRSS
        self.tree_peak = tree_rss(os.getpid())
        self.started = time.time()

    def _close(self):
        s = status()
        name = self.stack[-1]
        row = self.rows.setdefault(
            name, {'selfPeak': 0, 'treePeak': 0, 'rssAfter': 0, 'seconds': 0.0, 'order': len(self.rows)}
        )
        row['selfPeak'] = max(row['selfPeak'], s['VmHWM'])
        row['treePeak'] = max(row['treePeak'], self.tree_peak, s['VmHWM'])
        row['rssAfter'] = s['VmRSS']
        row['seconds'] += time.time() - self.started

    def push(self, name: str):
        with self.lock:
            self._close()
            self.stack.append(name)
            self._reset()
        print(f'[memory] {time.time() - self.t0:7.1f} s  {status()["VmRSS"] / GB:5.2f} GB  > {name}', file=sys.stderr)

    def pop(self):
        with self.lock:
            self._close()
            self.stack.pop()
            self._reset()

    def sample(self):
        while not self.done:
            rss = tree_rss(os.getpid())
            with self.lock:
                self.tree_peak = max(self.tree_peak, rss)
            time.sleep(0.02)

    def wrap(self, owner, attr: str, label):
        """Replace owner.attr by a wrapper that runs it as the stage label(*args)."""
        fn = getattr(owner, attr)

        def staged(*args, **kwargs):
            self.push(label(*args, **kwargs))
            try:
                return fn(*args, **kwargs)
            finally:
                self.pop()

        setattr(owner, attr, staged)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--json', help='write the stage table here too')
    p.add_argument('export_args', nargs=argparse.REMAINDER, help='-- then the arguments of varscope.export')
    a = p.parse_args()
    args = a.export_args[1:] if a.export_args[:1] == ['--'] else a.export_args
    sys.path.insert(0, os.path.join(ROOT, 'python'))
    import onnx
    import torch
    from varscope.bundle import export, onnx_export, onnx_store

    st = Stages()
    role = {'name': ''}

    def graph_label(module, ex_args, io, path, *rest, **kw):
        role['name'] = os.path.basename(path).replace('.onnx', '')
        return f'{role["name"]}'

    st.wrap(export, 'load_models', lambda *a, **k: 'load checkpoints + build models')
    st.wrap(onnx_export, 'export_graph', graph_label)
    st.wrap(torch.onnx, 'export', lambda *a, **k: f'{role["name"]}: torch.onnx.export')
    in_graph = lambda: len(st.stack) > 1 and st.stack[-1].startswith(role['name'])
    st.wrap(onnx, 'load', lambda *a, **k: f'{role["name"] if in_graph() else st.stack[-1]}: onnx.load')
    st.wrap(onnx_store.WeightStore, 'externalize', lambda *a, **k: f'{role["name"]}: externalize')
    st.wrap(onnx, 'save', lambda *a, **k: f'{role["name"]}: onnx.save')
    st.wrap(export, 'write_cases', lambda *a, **k: 'PyTorch reference outputs')
    st.wrap(export, 'run_verifier', lambda *a, **k: 'verify (onnxruntime-node child)')
    st.wrap(export, 'file_hashes', lambda *a, **k: 'file hashes')
    torch.set_num_threads(min(2, torch.get_num_threads()))
    sampler = threading.Thread(target=st.sample, daemon=True)
    sampler.start()
    rc = export.main(args)
    st.done = True
    sampler.join()
    st.pop() if len(st.stack) > 1 else st._close()
    rows = sorted(st.rows.items(), key=lambda kv: kv[1]['order'])
    print('| stage | s | process peak GB | tree peak GB | RSS after GB |')
    print('|---|---:|---:|---:|---:|')
    for name, r in rows:
        print(
            f'| {name} | {r["seconds"]:.1f} | {r["selfPeak"] / GB:.2f} | {r["treePeak"] / GB:.2f} '
            f'| {r["rssAfter"] / GB:.2f} |'
        )
    if a.json:
        with open(a.json, 'w') as f:
            json.dump({'rc': rc, 'stages': dict(rows)}, f, indent=1)
    return rc


if __name__ == '__main__':
    sys.exit(main())
