/**
 * The end-to-end scenarios (issue 6), in the order run.ts runs them, each asserting on what the
 * workbench shows. A scenario records every contract item it finds broken (`problem`) and goes on
 * where it can, so one run names all of them; it fails when it has any.
 */
import type { Scenario } from './scenarioKit';
import { badInputScenarios } from './scenarios/badInput';
import { comparePromptsScenarios } from './scenarios/comparePrompts';
import { downloadScenarios } from './scenarios/download';
import { keyboardScenarios } from './scenarios/keyboard';
import { liveLensScenarios } from './scenarios/liveLens';
import { themesScenarios } from './scenarios/themes';
import { traceScenarios } from './scenarios/trace';
import { viewsScenarios } from './scenarios/views';
import { featuresScenarios } from './scenarios/features';
import { executionProviderScenarios } from './scenarios/executionProvider';

export { EVENT_LOOP_LIMIT_MS, loopFigures, TRACE_TITLE, writeGeneratedFixtures, type DemoModel, type ExtensionManifest, type ScenarioContext } from './scenarioKit';

export const scenarios: readonly Scenario[] = [...traceScenarios, ...viewsScenarios, ...badInputScenarios, ...downloadScenarios, ...themesScenarios, ...keyboardScenarios, ...comparePromptsScenarios, ...liveLensScenarios, ...featuresScenarios, ...executionProviderScenarios].sort((a, b) => a.id - b.id);
