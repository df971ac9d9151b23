// The Go module protocol layer's public surface: request-path parsing, case encoding, version rules and
// cache classes. Re-exports only; it must never add behaviour of its own.

export { ProtocolError } from './protocol-error.js';
export {
  MAX_VERSION_LENGTH,
  checkImportPath,
  checkModulePath,
  checkPathMajor,
  checkVersion,
  decodeCase,
  escapePath,
  escapeVersion,
  isCanonicalVersion,
  splitPathVersion,
  unescapePath,
  unescapeVersion,
} from './module-path.js';
export type { CaseDecoding } from './module-path.js';
export {
  canonicalSemver,
  compareSemver,
  isPseudoVersion,
  isValidSemver,
  semverBuild,
  semverMajor,
  semverPrerelease,
} from './semver.js';
export { formatTilePath, parseTilePath } from './tile-path.js';
export type { TileCoordinates, TileParse } from './tile-path.js';
export { checkSumdbName, parseProxyPath, parseSumdbDirectPath } from './request-path.js';
export type { ModuleRequest, ModuleRequestKind, ParseOptions, ParseResult } from './request-path.js';
export { IMMUTABLE_MAX_AGE_SECONDS, cacheControl, classify, contentType } from './cache-class.js';
export type { CacheClass } from './cache-class.js';
