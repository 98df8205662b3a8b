export { canonicalJson } from './canonical-json.ts';
export { createManifest, definitionHash, describeProcedure } from './create-manifest.ts';
export type { JsonSchema, Manifest, ManifestProcedure } from './create-manifest.ts';
