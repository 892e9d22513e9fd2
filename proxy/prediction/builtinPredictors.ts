// builtinPredictors owns the list of models that ship with Prescient, registered in the Predictor registry on import.
import { forestFactory } from './ForestPredictor.js';
import { markov1Factory } from './Markov1.js';
import { mostFrequentFactory } from './MostFrequent.js';
import { registerPredictor, type PredictorFactory } from './Predictor.js';
import { repeatLastFactory } from './RepeatLast.js';


/** In report order: the baselines first, the forest last. */
export const builtinPredictors: readonly PredictorFactory[] = [repeatLastFactory, mostFrequentFactory, markov1Factory, forestFactory];

for (const f of builtinPredictors) registerPredictor(f);
