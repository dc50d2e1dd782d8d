/**
 * The feature browser of a trained run: statistics of every feature over a
 * dataset (density, top activations), the browser's documents, and a local
 * server or a static site that shows them (`deno task features`).
 *
 * @module
 */
export {
  createFeatureStats,
  featureDensities,
  type FeatureStats,
  type FeatureStatsOptions,
  type FeatureSummary,
  observeWindows,
  summarizeFeature,
  type TopActivation,
  type WindowBlock,
} from "./stats.ts";
export {
  collectFeatureStats,
  type CollectOptions,
  heldOutFirst,
  type IndexedWindow,
  loadRunSaes,
  type RunSaes,
  tokenPieces,
  trainingWindows,
  type WindowPlan,
} from "./collect.ts";
export {
  type BrowserSummary,
  type ComponentSummary,
  type ContextDocument,
  createFeatureBrowser,
  type FeatureBrowser,
  type FeatureBrowserOptions,
  type FeatureDocument,
  type SearchDocument,
  type TokenLogit,
} from "./browser.ts";
export {
  type FeatureServer,
  handleFeatureRequest,
  MAX_HEAD_BYTES,
  MAX_URL_BYTES,
  serveFeatureBrowser,
  type ServeFeatureOptions,
  type StaticFeatureOptions,
  writeStaticFeatures,
} from "./server.ts";
export { featurePageHtml } from "./page.ts";
export {
  type FeaturesCommandIO,
  type PreparedFeatures,
  prepareFeatureBrowser,
  type PrepareFeaturesOptions,
  runFeaturesCommand,
} from "./cli.ts";
