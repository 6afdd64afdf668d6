/**
 * imagegate's server API, the package's main entry (`import … from 'imagegate'`): load and
 * validate a config, build the app, run it as a Node server or as a Lambda handler. The
 * browser-safe URL client is a separate entry, `imagegate/client`.
 *
 * Importing this module applies the measured sharp settings (`configureSharp()`: libvips
 * operation cache off, one libvips thread per image), as the Lambda entry does at start.
 */
export { createApp, type AppOptions, type ImagegateApp } from './http/app.ts';
export { startServer, type RunningServer } from './server.ts';
export { handler, createLambdaHandler, type RestApiEvent, type HttpApiEvent, type LambdaResult } from './lambda.ts';
export { loadConfigFile, parseConfig, ConfigError } from './config/load.ts';
export { devConfig } from './config/defaults.ts';
export { configSchema, type Config, type ConfigInput, type SourceConfig, type RouteConfig, type KeyConfig } from './config/schema.ts';
export { configureSharp, type SharpSettings } from './runtime.ts';
export { ServiceError } from './errors.ts';
export { createLogger, type Logger } from './log.ts';
export type { Storage, StoredObject, ObjectMeta, OpenedObject } from './storage/types.ts';
