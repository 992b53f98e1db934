"""varscope.infinity.text_encoder without transformers (both torches): where a --t5 path leads (a folder, a Hugging Face
cache entry by refs/main or by its only snapshot) and the one-line refusals of a wrong folder or bundle. The export
itself, against transformers on a tiny T5, is test/unit/engine/model/textEncoder.test.ts (the torch 2 venv)."""
import json
import os
import tempfile
import unittest

from varscope.infinity.text_encoder import TextEncoderError, read_manifest, t5_folder


def touch(path: str, text: str = '{}') -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w', encoding='utf-8') as f:
        f.write(text)


class T5FolderTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def test_a_folder_with_config_json_is_itself(self):
        touch(os.path.join(self.root, 't5', 'config.json'))
        self.assertEqual(t5_folder(os.path.join(self.root, 't5')), os.path.join(self.root, 't5'))

    def test_a_cache_entry_is_the_snapshot_refs_main_names_else_its_only_one(self):
        entry = os.path.join(self.root, 'models--google--flan-t5-xl')
        for snapshot in ('aaa', 'bbb'):
            touch(os.path.join(entry, 'snapshots', snapshot, 'config.json'))
        touch(os.path.join(entry, 'refs', 'main'), 'bbb\n')
        self.assertEqual(t5_folder(entry), os.path.join(entry, 'snapshots', 'bbb'))
        os.remove(os.path.join(entry, 'refs', 'main'))
        with self.assertRaisesRegex(
            TextEncoderError, r'^--t5 .*: 2 snapshots and no refs/main; give one snapshot folder$'
        ):
            t5_folder(entry)
        os.remove(os.path.join(entry, 'snapshots', 'aaa', 'config.json'))
        os.rmdir(os.path.join(entry, 'snapshots', 'aaa'))
        self.assertEqual(t5_folder(entry), os.path.join(entry, 'snapshots', 'bbb'))

    def test_a_folder_that_is_neither_is_refused_in_one_line(self):
        os.makedirs(os.path.join(self.root, 'empty'))
        with self.assertRaises(TextEncoderError) as e:
            t5_folder(os.path.join(self.root, 'empty'))
        self.assertEqual(
            str(e.exception),
            f'--t5 {self.root}/empty: no config.json, and not a Hugging Face cache entry (models--org--name)',
        )

    def test_only_an_infinity_bundle_takes_a_text_encoder(self):
        touch(os.path.join(self.root, 'var', 'varscope.json'), json.dumps({'format': 'varscope-bundle'}))
        with self.assertRaisesRegex(TextEncoderError, r"^--bundle .*/var: not an Infinity bundle \(family 'var'\)$"):
            read_manifest(os.path.join(self.root, 'var'))
        with self.assertRaisesRegex(TextEncoderError, r'^--bundle .*/none: cannot read varscope\.json'):
            read_manifest(os.path.join(self.root, 'none'))
        touch(os.path.join(self.root, 'inf', 'varscope.json'), json.dumps({'family': 'infinity', 'text': {}}))
        self.assertEqual(read_manifest(os.path.join(self.root, 'inf'))['family'], 'infinity')


if __name__ == '__main__':
    unittest.main()
