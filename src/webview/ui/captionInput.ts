/**
 * The caption an Infinity view is conditioned on (the store's `panel.caption`, one for every view): a prompt, when
 * the bundle has a text encoder, or a T5 features file chosen in the host's open dialog; the features beside the
 * image (`cat.npy` for `cat.png`) are the default. The line under the controls says which caption is in use.
 */
import { select } from 'd3';
import { TEXT_FEATURE_EXTENSIONS, type TextCondition } from '../../shared/textCondition';
import { chooseCaptionFile, setCaption } from '../actions';
import type { InspectorState } from '../store';
import type { ViewContext } from '../views/view';
import { button, field } from './controls';

/** The mounted control: a root to place in a view's head, its row of controls (a view adds its own buttons there), an update from the store. */
export interface CaptionInput {
  root: HTMLElement;
  controls: HTMLElement;
  update(st: InspectorState): void;
}

/** The last path segment of a file path (either separator). */
const fileName = (file: string): string => file.split(/[\\/]/).pop() ?? file;

/** One line saying which caption is in use and where it came from. */
export function captionStatus(caption: TextCondition | undefined, besideImage: string | null, featureWidth: number): string {
  if (!caption) {
    const kinds = TEXT_FEATURE_EXTENSIONS.join(' / ');
    return `No caption yet: choose its T5 features (${kinds}, [N, ${featureWidth}] floats); a file named as the image, beside it, is used by itself.`;
  }
  if ('prompt' in caption) return `Caption: the prompt “${caption.prompt}”.`;
  const found = caption.featuresFile === besideImage ? ' (found beside the image)' : '';
  return `Caption: T5 features from ${fileName(caption.featuresFile)}${found}.`;
}

/** Build the caption control. */
export function makeCaptionInput({ doc, store, host }: Pick<ViewContext, 'doc' | 'store' | 'host'>): CaptionInput {
  const root = doc.createElement('div');
  root.className = 'caption-input';
  const controls = select(root).append('div').attr('class', 'controls');
  const prompt = doc.createElement('input');
  prompt.type = 'text';
  prompt.className = 'caption-prompt';
  prompt.placeholder = 'a prompt';
  prompt.maxLength = 2000;
  // Enter (or leaving the field) makes the prompt the caption; an emptied field leaves the caption as it was.
  prompt.addEventListener('change', () => {
    const text = prompt.value.trim();
    if (text) setCaption(store, { prompt: text });
  });
  const chooseFile = button(doc, 'Features file…', () => void chooseCaptionFile(store, host), 'Choose the caption’s T5 features file');
  chooseFile.classList.add('caption-file');
  controls.node()!.append(field(doc, 'Prompt', prompt), chooseFile);
  const status = select(root).append('p').attr('class', 'hint caption-status').attr('aria-live', 'polite');
  const note = select(root).append('p').attr('class', 'hint caption-note');

  return {
    root,
    controls: controls.node()!,
    update(st) {
      const m = st.bitsModel;
      const caption = st.panel.caption;
      const encoder = m?.textEncoder ?? false;
      prompt.disabled = !encoder;
      if (caption && 'prompt' in caption && doc.activeElement !== prompt) prompt.value = caption.prompt;
      status.text(captionStatus(caption, st.captionBesideImage, m?.textFeatureWidth ?? 0));
      note
        .attr('hidden', encoder ? '' : null)
        .text(encoder ? '' : 'This bundle has no text encoder, so a prompt cannot be encoded here: give the caption as T5 features.');
    },
  };
}
