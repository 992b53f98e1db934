/** The caption of an Infinity request, in the one form the engine, the host and the panel share. */

/**
 * The caption an Infinity model is conditioned on: its T5 features from a file (a `.npy` or `.safetensors` of
 * [N, featureWidth] floats, the encoder's last_hidden_state), or a prompt that the bundle's text encoder encodes.
 */
export type TextCondition = { featuresFile: string } | { prompt: string };

/** The file types a caption's features may come in (a TextCondition's featuresFile). */
export const TEXT_FEATURE_EXTENSIONS = ['.npy', '.safetensors'] as const;
