import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { countPerRead, describeCommands, parseMonitorLine, type MonitorEntry } from '../src/harness/monitor-line.js';

describe('parseMonitorLine', () => {
  it('parseMonitorLine — a command a client sent, upper-cased, with its first argument', () => {
    assert.deepEqual(parseMonitorLine('+1700000000.123456 [0 127.0.0.1:50312] "get" "kcbench:abc"'), {
      command: 'GET',
      inScript: false,
      firstArgument: 'kcbench:abc',
    });
  });
  it('parseMonitorLine — a command run by a Lua script is marked as such', () => {
    assert.deepEqual(parseMonitorLine('+1700000000.123456 [0 lua] "HGETALL" "k:s:x"'), {
      command: 'HGETALL',
      inScript: true,
      firstArgument: 'k:s:x',
    });
  });
  it('parseMonitorLine — escaped quotes in arguments and commands without arguments', () => {
    assert.equal(parseMonitorLine('+1.5 [0 127.0.0.1:1] "SET" "a\\"b" "c"')?.firstArgument, 'a\\"b');
    assert.equal(parseMonitorLine('+1.5 [0 127.0.0.1:1] "PING"')?.firstArgument, undefined);
  });
  it('parseMonitorLine — ignores replies that are not commands', () => {
    assert.equal(parseMonitorLine('+OK'), undefined);
  });
});

const sent = (command: string): MonitorEntry => ({ command, inScript: false, firstArgument: undefined });
const scripted = (command: string): MonitorEntry => ({ command, inScript: true, firstArgument: undefined });

describe('countPerRead', () => {
  it('countPerRead — sent commands make the per-read figure; script commands are listed apart', () => {
    const count = countPerRead([sent('EVALSHA'), scripted('HGETALL'), sent('EVALSHA'), scripted('HGETALL')], 2);
    assert.equal(count.perRead, 1);
    assert.deepEqual(count.commands, { EVALSHA: 1 });
    assert.deepEqual(count.scriptCommands, { HGETALL: 1 });
  });
});

describe('describeCommands', () => {
  it('describeCommands — most frequent first, then by name', () => {
    assert.equal(describeCommands(countPerRead([sent('GET'), sent('EXPIRE')], 1)), 'EXPIRE ×1 + GET ×1');
  });
  it('describeCommands — script commands in brackets, fractions when not every read runs them', () => {
    const count = countPerRead([sent('EVALSHA'), sent('EVALSHA'), scripted('HGETALL'), scripted('HGETALL'), scripted('HSET')], 2);
    assert.equal(describeCommands(count), 'EVALSHA ×1 (script runs HGETALL ×1 + HSET ×0.500)');
  });
  it('describeCommands — says none when the read sent nothing', () => {
    assert.equal(describeCommands(countPerRead([], 5)), 'none');
  });
});
