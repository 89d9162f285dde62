import 'reflect-metadata';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SetMetadata, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { RouteMetadata } from '../src/nest/metadata.js';

const KEY = Symbol('test:key');

/** Counts the Reflector's lookups, so a test can see the cache at work. */
class CountingReflector extends Reflector {
  lookups = 0;
  override getAllAndOverride<T>(...args: Parameters<Reflector['getAllAndOverride']>): T {
    this.lookups++;
    return super.getAllAndOverride<T>(...args);
  }
}

function contextFor(type: new () => object, handler: (...args: never[]) => unknown): ExecutionContext {
  return { getHandler: () => handler, getClass: () => type } as unknown as ExecutionContext;
}

class Base {
  inherited(): void {}
}

@SetMetadata(KEY, 'from-class')
class Marked extends Base {
  @SetMetadata(KEY, 'from-method')
  own(): void {}
}

class Plain extends Base {}

describe('RouteMetadata', () => {
  it('get — the method’s value over the class’s, read through the Reflector once per route', () => {
    const reflector = new CountingReflector();
    const metadata = new RouteMetadata<string>(reflector, KEY);
    const own = contextFor(Marked, Marked.prototype.own);
    for (let i = 0; i < 3; i++) assert.equal(metadata.get(own), 'from-method');
    assert.equal(reflector.lookups, 1);
  });

  it('get — an inherited handler answers per class (same function, different class metadata)', () => {
    const metadata = new RouteMetadata<string>(new CountingReflector(), KEY);
    assert.equal(metadata.get(contextFor(Marked, Base.prototype.inherited)), 'from-class');
    assert.equal(metadata.get(contextFor(Plain, Base.prototype.inherited)), undefined);
    assert.equal(metadata.get(contextFor(Marked, Base.prototype.inherited)), 'from-class');
  });

  it('get — an absent value is remembered too', () => {
    const reflector = new CountingReflector();
    const metadata = new RouteMetadata<string>(reflector, KEY);
    const plain = contextFor(Plain, Base.prototype.inherited);
    assert.equal(metadata.get(plain), undefined);
    assert.equal(metadata.get(plain), undefined);
    assert.equal(reflector.lookups, 1);
  });
});
