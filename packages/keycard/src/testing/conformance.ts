import { describe } from 'node:test';
import type { SessionStore } from '../core/store.js';
import { freshStores } from './fixtures.js';
import { suiteContext, type ConformanceOptions } from './conformance/context.js';
import { describeCreate } from './conformance/create.js';
import { describeDestroy } from './conformance/destroy.js';
import { describeFind } from './conformance/find.js';
import { describePerUser } from './conformance/per-user.js';
import { describePing } from './conformance/ping.js';
import { describeRevocations } from './conformance/revocations.js';
import { describeRotate } from './conformance/rotate.js';
import { describeUpdate } from './conformance/update.js';

export type { ConformanceOptions, StoreCapability } from './conformance/context.js';
export { sampleRecord, samplePrincipal } from './conformance/samples.js';

/**
 * The behaviour every `SessionStore` must have, as one suite each store runs
 * unchanged: `describeSessionStore('redis', () => makeStore())`. Each test gets
 * a fresh store from `makeStore` and closes it afterwards. One group per
 * contract method (conformance/<method>.ts); test names read
 * "<method> — <behaviour>".
 */
export function describeSessionStore(
  name: string,
  makeStore: () => SessionStore | Promise<SessionStore>,
  options: ConformanceOptions = {},
): void {
  describe(`${name} store conformance`, { skip: options.skip || false }, () => {
    const context = suiteContext(freshStores(makeStore, options.teardown), new Set(options.lacks ?? []));
    describe('create', () => describeCreate(context));
    describe('find', () => describeFind(context));
    describe('update', () => describeUpdate(context));
    describe('rotate', () => describeRotate(context));
    describe('destroy', () => describeDestroy(context));
    describe('per-user index', () => describePerUser(context));
    describe('onRevoked', () => describeRevocations(context));
    describe('ping', () => describePing(context));
  });
}
