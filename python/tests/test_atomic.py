"""Whole-or-absent writes (varscope.atomic) and the exporter's --out rule: a failed or killed write keeps the old
file, a bundle folder is swapped in whole, and --out never replaces a folder holding a user's files."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest

from varscope.atomic import replace_dir, write_atomic
from varscope.bundle.export import ExportError, check_out

from .fixtures import PACKAGE_DIR


# Writes 4 MiB through write_atomic under a 64 KiB file size limit. With SIGXFSZ ignored the write fails with EFBIG
# (as on a full disk); with its default action the process is killed in the middle of the write.
CHILD = '''
import resource, signal, sys
from varscope.atomic import write_atomic
signal.signal(signal.SIGXFSZ, signal.SIG_IGN if sys.argv[2] == 'error' else signal.SIG_DFL)
resource.setrlimit(resource.RLIMIT_FSIZE, (64 << 10, 64 << 10))
try:
    write_atomic(sys.argv[1], b'x' * (4 << 20))
except OSError as e:
    print(e.errno)
    sys.exit(3)
'''


class AtomicWriteTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='varscope-atomic-')
        self.target = os.path.join(self.tmp, 'out.json')
        with open(self.target, 'w') as f:
            f.write('{"previous": true}')

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def child(self, mode):
        return subprocess.run(
            [sys.executable, '-c', CHILD, self.target, mode],
            capture_output=True,
            text=True,
            env=dict(os.environ, PYTHONPATH=PACKAGE_DIR),
        )

    def previous(self):
        with open(self.target) as f:
            return f.read()

    def test_a_write_error_keeps_the_old_file_and_leaves_no_temporary(self):
        r = self.child('error')
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertEqual(r.stdout.strip(), '27')  # EFBIG
        self.assertEqual(self.previous(), '{"previous": true}')
        self.assertEqual(os.listdir(self.tmp), ['out.json'])

    def test_a_process_killed_mid_write_keeps_the_old_file(self):
        r = self.child('kill')
        self.assertEqual(r.returncode, -signal.SIGXFSZ, r.stderr)
        self.assertEqual(self.previous(), '{"previous": true}')

    def test_a_finished_write_replaces_the_file_and_keeps_its_mode(self):
        os.chmod(self.target, 0o640)
        write_atomic(self.target, '{"new": 1}')
        self.assertEqual(self.previous(), '{"new": 1}')
        self.assertEqual(os.stat(self.target).st_mode & 0o777, 0o640)
        self.assertEqual(os.listdir(self.tmp), ['out.json'])

    def test_replace_dir_swaps_the_whole_folder(self):
        out, stage = os.path.join(self.tmp, 'bundle'), os.path.join(self.tmp, '.bundle.partial-1')
        for folder, names in ((out, ('a.onnx', 'old.bin')), (stage, ('a.onnx', 'new.bin'))):
            os.makedirs(folder)
            for n in names:
                write_atomic(os.path.join(folder, n), folder)
        replace_dir(stage, out)
        self.assertEqual(sorted(os.listdir(out)), ['a.onnx', 'new.bin'])
        with open(os.path.join(out, 'a.onnx')) as f:
            self.assertEqual(f.read(), stage)
        self.assertEqual(sorted(os.listdir(self.tmp)), ['bundle', 'out.json'])


class ExportOutRuleTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='varscope-out-')

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def bundle(self, name, extra=()):
        d = os.path.join(self.tmp, name)
        os.makedirs(d)
        manifest = {
            'graphs': {'encoder': {'file': 'encoder.onnx'}},
            'codebook': {'file': 'codebook.bin'},
            'trainingHits': {'file': '../base/trainingHits.bin'},
        }
        write_atomic(os.path.join(d, 'varscope.json'), json.dumps(manifest))
        for n in ('encoder.onnx', 'codebook.bin', 'weights.bin') + tuple(extra):
            write_atomic(os.path.join(d, n), b'')
        return d

    def test_absent_empty_and_bundle_folders_may_be_replaced(self):
        check_out(os.path.join(self.tmp, 'new'))
        os.makedirs(os.path.join(self.tmp, 'empty'))
        check_out(os.path.join(self.tmp, 'empty'))
        check_out(self.bundle('b'))

    def test_a_file_a_user_folder_or_a_bundle_with_other_files_is_refused(self):
        f = os.path.join(self.tmp, 'file')
        write_atomic(f, 'keep')
        user = os.path.join(self.tmp, 'user')
        os.makedirs(os.path.join(user, 'sub'))
        write_atomic(os.path.join(user, 'notes.txt'), 'mine')
        mixed = self.bundle('mixed', extra=('vae.pth',))
        os.makedirs(os.path.join(mixed, 'runs'))
        for path, message in (
            (f, 'is not a folder'),
            (user, 'not a VARScope bundle'),
            (mixed, r'not part of it \(runs/, vae\.pth\)'),
        ):
            with self.assertRaisesRegex(ExportError, message):
                check_out(path)


if __name__ == '__main__':
    unittest.main()
