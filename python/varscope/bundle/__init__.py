"""Checkpoints in, bundles out and back: strict checkpoint loading, the ONNX graphs, the bundle manifest (the graph
table in src/shared/graphSpec.json), verification in onnxruntime-node, shared VAE graphs, and recovery of checkpoints."""
