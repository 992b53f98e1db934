/** Step-through: one tab, two modes (the store's stepMode): generate a new image scale by scale, or teacher-forced on the open image. */
import type { InspectorState } from '../store';
import { segmented } from '../ui/controls';
import { createGenerateView } from './generateView';
import { createTeacherForcedView } from './teacherForcedView';
import type { View, ViewContext } from './view';

/** Create the step-through view: the mode switch above whichever half the mode shows. */
export function createStepThroughView(ctx: ViewContext): View {
  const { doc, store } = ctx;
  const root = doc.createElement('section');
  root.className = 'view view-step';
  const modeSel = segmented(
    doc,
    'Mode',
    [
      { value: 'generate', label: 'Generate' },
      { value: 'teacher', label: 'Teacher-forced on this image' },
    ],
    (v) => store.update({ stepMode: v as InspectorState['stepMode'] }),
  );
  const modes = { generate: createGenerateView(ctx), teacher: createTeacherForcedView(ctx) };
  root.append(modeSel.root, modes.generate.root, modes.teacher.root);
  const active = (st: InspectorState): View => modes[st.stepMode];

  return {
    root,
    update(st, prev) {
      modeSel.set(st.stepMode);
      modes.generate.root.hidden = st.stepMode !== 'generate';
      modes.teacher.root.hidden = st.stepMode !== 'teacher';
      active(st).update(st, prev);
    },
    resize(width) {
      active(store.state).resize(width);
    },
    dispose() {
      modes.generate.dispose();
      modes.teacher.dispose();
      root.remove();
    },
    exportData: () => active(store.state).exportData(),
  };
}
