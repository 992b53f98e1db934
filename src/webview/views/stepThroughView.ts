/**
 * Step-through: one tab, two modes (the store's stepMode): generate a new image scale by scale, or teacher-forced on
 * the open image. A family without a generation view yet shows its teacher-forced view alone.
 */
import type { InspectorState } from '../store';
import { segmented } from '../ui/controls';
import { createBitsTeacherForcedView } from './bitsTeacherForcedView';
import { createGenerateView } from './generateView';
import { createTeacherForcedView } from './teacherForcedView';
import type { View, ViewFactory } from './view';

/** The two halves of a step-through tab: `generate` optional (without it the mode switch is hidden). */
export interface StepThroughModes {
  generate?: ViewFactory;
  teacher: ViewFactory;
}

/** A step-through view of `modes`: the mode switch above whichever half the mode shows. */
export function stepThroughViewOf(factories: StepThroughModes): ViewFactory {
  return (ctx) => {
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
    const teacher = factories.teacher(ctx);
    const generate = factories.generate?.(ctx);
    modeSel.root.hidden = !generate;
    root.append(modeSel.root, ...(generate ? [generate.root] : []), teacher.root);
    const mode = (st: InspectorState): InspectorState['stepMode'] => (generate ? st.stepMode : 'teacher');
    const active = (st: InspectorState): View => (mode(st) === 'generate' ? generate! : teacher);

    return {
      root,
      update(st, prev) {
        modeSel.set(mode(st));
        if (generate) generate.root.hidden = mode(st) !== 'generate';
        teacher.root.hidden = mode(st) !== 'teacher';
        active(st).update(st, prev);
      },
      resize(width) {
        active(store.state).resize(width);
      },
      dispose() {
        generate?.dispose();
        teacher.dispose();
        root.remove();
      },
      exportData: () => active(store.state).exportData(),
    };
  };
}

/** The step-through view of a VAR model. */
export const createStepThroughView = stepThroughViewOf({ generate: createGenerateView, teacher: createTeacherForcedView });

/** The step-through view of an Infinity model: teacher-forced bits for the caption (its generation comes with the Infinity sampler). */
export const createBitsStepThroughView = stepThroughViewOf({ teacher: createBitsTeacherForcedView });
